//! The capture thread's loop: paced to a deadline, it captures the watched
//! monitors and hands each new image to the encode thread. A source that
//! says when a monitor changed (wlroots) is waited on between deadlines,
//! so its changes are taken as they arrive, within the fps cap (the
//! `pace` module). When capture fails, the [`Keeper`] decides what viewers
//! hear and when a new capturer is tried; the loop then sleeps until that
//! try, so a display that stays away costs no busy loop.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::CaptureSettings;
use super::handoff::{Handoff, Hint, Job};
use super::keeper::Keeper;
use super::last_images::LastImages;
use super::pace::Pace;
use crate::capture::{CaptureError, Capturer};
use crate::hub::FrameHub;

/// How long the thread waits for a source that says when its monitors
/// change ([`Capturer::wait_change`]) before it looks at the demand and
/// the monitors again (a new viewer's other monitor, stopping): longer
/// than a frame, so a still screen wakes the thread ten times a second,
/// not sixty, and a change is rarely just after a tick that found
/// nothing.
const CHANGE_WAIT: Duration = Duration::from_millis(100);

/// The longest one wait on the source lasts before the thread looks
/// whether it is to stop or a viewer came, left or switched monitors
/// ([`crate::hub::Demand::moved_since`]): those are noticed within it.
const WAIT_SLICE: Duration = Duration::from_millis(25);

/// How long the thread sleeps while nobody watches before it looks at the
/// monitors again, so a `welcome` lists them as they are.
const IDLE_CHECK: Duration = Duration::from_millis(250);

/// Runs until the hub's demand says stop.
pub(super) fn run(
    mut keeper: Keeper,
    settings: CaptureSettings,
    hub: &FrameHub,
    handoff: &Handoff,
) {
    let demand = hub.demand();
    let period = Duration::from_secs(1) / settings.fps.max(1);
    // The last image handed to the encoder per monitor: a capture identical
    // to it is neither encoded nor sent (a still screen costs a capture and
    // a compare, or nothing when the source reports damage).
    let mut previous = LastImages::default();
    let mut last_capture: HashMap<u32, Instant> = HashMap::new();
    let mut pace = Pace::new(period);
    // Whether this tick was woken by a change the source reported.
    let mut woken = false;
    let mut earliest = Instant::now();
    loop {
        let Some(watched) = demand.wait_for_watchers(Instant::now() + IDLE_CHECK) else {
            return;
        };
        let tick = Instant::now();
        let mark = demand.mark();
        if woken {
            earliest = pace.captured(tick);
        }
        let idle = watched.is_empty();
        let (watched, next_due) = due(&watched, hub, (period, woken), tick, &mut last_capture);
        if !tick_once(&mut keeper, hub, handoff, (&watched, idle), &mut previous) {
            return;
        }
        for id in hub.forget_unwatched() {
            previous.remove(id);
        }
        // Pace to a deadline; a failing source waits for its next try.
        let wake = match keeper.next_try() {
            Some(next) if keeper.failing() => next.min(tick + IDLE_CHECK).max(tick + period),
            _ => tick + period,
        };
        woken = false;
        let mut until = wake;
        if !(keeper.failing() || watched.is_empty()) {
            // A source that says when the monitors just captured change is
            // waited on (at once: a compositor's copy is armed only once
            // its description is answered) for up to CHANGE_WAIT; a change
            // is then taken at once or when the fps cap allows.
            // Not past the time another watched monitor (at a slower
            // rate) is due.
            let longest = wake.max(tick + CHANGE_WAIT);
            let deadline = next_due.map_or(longest, |at| longest.min(at.max(wake)));
            let moved = || demand.moved_since(mark);
            match keeper
                .current()
                .and_then(|c| wait_change(c, &watched, deadline, moved))
            {
                Some(Ok(changed)) => {
                    woken = changed;
                    until = if changed {
                        earliest
                    } else if moved() {
                        Instant::now()
                    } else {
                        deadline
                    };
                }
                Some(Err(err)) => keeper.failed(Instant::now(), &err, hub),
                None => {}
            }
        }
        if !demand.sleep_until(until) {
            return;
        }
    }
}

/// [`Capturer::wait_change`] until `deadline`, in slices of
/// [`WAIT_SLICE`], ending early (with no change) once `moved` says the
/// demand changed or the thread is to stop.
fn wait_change(
    capturer: &mut dyn Capturer,
    ids: &[u32],
    deadline: Instant,
    moved: impl Fn() -> bool,
) -> Option<Result<bool, CaptureError>> {
    loop {
        let slice = deadline.min(Instant::now() + WAIT_SLICE);
        match capturer.wait_change(ids, slice)? {
            Ok(false) if Instant::now() < deadline && !moved() => {}
            answer => return Some(answer),
        }
    }
}

/// Of the `watched` monitors, those due for a capture at `tick`, and when
/// the first of the others will be: each is
/// captured as often as its fastest viewer takes frames (a monitor watched
/// only by a thumbnail at 2 frames a second is captured twice a second),
/// and never faster than the agent's `period`. On a tick `woken` by a
/// change the source reported, a monitor at the agent's rate is due: the
/// fps cap was kept by the wait ([`Pace`]), and the last tick may have
/// found nothing (which counts here, and would hold the change back).
fn due(
    watched: &[u32],
    hub: &FrameHub,
    (period, woken): (Duration, bool),
    tick: Instant,
    last_capture: &mut HashMap<u32, Instant>,
) -> (Vec<u32>, Option<Instant>) {
    last_capture.retain(|id, _| watched.contains(id));
    let mut next: Option<Instant> = None;
    let due = watched
        .iter()
        .copied()
        .filter(|id| {
            let own = hub.demand().max_fps(*id).map_or(period, |fps| {
                (Duration::from_secs(1) / fps.max(1)).max(period)
            });
            // Half a tick early is on time: ticks come every `period`.
            let due = (woken && own == period)
                || last_capture
                    .get(id)
                    .is_none_or(|at| tick + period / 2 >= *at + own);
            if due {
                last_capture.insert(*id, tick);
            } else if let Some(at) = last_capture.get(id) {
                let at = (*at + own).checked_sub(period / 2).unwrap_or(*at);
                next = Some(next.map_or(at, |n| n.min(at)));
            }
            due
        })
        .collect();
    (due, next)
}

/// One tick: follows the monitors, then captures each of `due` that may
/// have changed (`idle`: nobody watches anything). Returns `false` when the
/// pipeline is stopping.
fn tick_once(
    keeper: &mut Keeper,
    hub: &FrameHub,
    handoff: &Handoff,
    (due, idle): (&[u32], bool),
    previous: &mut LastImages,
) -> bool {
    let now = Instant::now();
    let mut fresh = false;
    let Some(capturer) = keeper.capturer(now, hub, &mut fresh) else {
        // The display is away; the keeper tries again when it is due.
        return true;
    };
    match follow_monitors(capturer, hub, false) {
        Ok(changed) => fresh |= changed,
        Err(err) => {
            keeper.failed(now, &err, hub);
            return true;
        }
    }
    if fresh {
        previous.clear();
    }
    if idle {
        // Nobody watches: reading the monitors is what says the display
        // works.
        keeper.succeeded(now, hub);
        return true;
    }
    // Watched monitors not due yet say nothing either way: only a capture
    // tells whether capture works.
    for &id in due {
        match capture_one(keeper, hub, handoff, id, previous) {
            Ok(true) => {}
            Ok(false) => return false,
            Err(err) => {
                keeper.failed(Instant::now(), &err, hub);
                // The other monitors share the display: they wait for the
                // next try too.
                return true;
            }
        }
    }
    true
}

/// Captures monitor `id` if it may have changed and hands a new image to
/// the encoder. `Ok(false)` when the pipeline is stopping.
fn capture_one(
    keeper: &mut Keeper,
    hub: &FrameHub,
    handoff: &Handoff,
    id: u32,
    previous: &mut LastImages,
) -> Result<bool, CaptureError> {
    let mut fresh = false;
    let Some(capturer) = keeper.capturer(Instant::now(), hub, &mut fresh) else {
        return Ok(true);
    };
    // A monitor that is gone is not captured: its viewers are being moved
    // to another one.
    if !capturer.monitors().iter().any(|m| m.id == id) {
        return Ok(true);
    }
    let known = previous.get(id).is_some() && hub.has_frame(id);
    // A still screen the source can vouch for costs no capture.
    if known && capturer.unchanged(id) {
        return Ok(true);
    }
    // One frame ahead of the encoder at most.
    if !handoff.wait_taken(id) {
        return Ok(false);
    }
    let layout = hub.layout();
    let captured_at_us = unix_micros();
    // The image before is this source's last capture of `id` (or equal to
    // it: an identical capture is not kept), so its damage since holds
    // against it.
    let base = previous.get(id).filter(|_| known).cloned();
    let canvas = match base {
        Some(_) if capturer.reports_damage() => previous.canvas(id),
        _ => None,
    };
    let captured = match capturer.capture_changes(id, canvas) {
        Ok(captured) => captured,
        // The monitors changed under the capture (a smaller screen, say):
        // not a failure, the next tick follows.
        Err(err) => {
            return match follow_monitors(capturer, hub, true) {
                Ok(true) => {
                    previous.clear();
                    Ok(true)
                }
                Ok(false) | Err(_) => Err(err),
            };
        }
    };
    // Told before the frame is published: a viewer hears `live` first.
    keeper.succeeded(Instant::now(), hub);
    let image = captured.image;
    let same = base.as_ref().is_some_and(|p| match &captured.changed {
        Some(rects) => image.same_within(p, rects),
        None => **p == image,
    });
    if same {
        previous.keep_spare(id, image);
        return Ok(true);
    }
    let image = Arc::new(image);
    // Where it changed counts only against the image given as the base.
    let changed = captured.changed.filter(|_| base.is_some());
    previous.replace(id, Arc::clone(&image), changed.as_deref());
    let hint = base.zip(changed).map(|(base, rects)| Hint { base, rects });
    handoff.put(Job {
        monitor: id,
        image,
        captured_at_us,
        layout,
        hint,
    });
    Ok(true)
}

/// Re-reads the source's monitors when due; when they changed, the hub
/// gets the new list (and tells every session). Returns whether they did.
fn follow_monitors(
    capturer: &mut dyn Capturer,
    hub: &FrameHub,
    force: bool,
) -> Result<bool, CaptureError> {
    Ok(match capturer.refresh_monitors(force)? {
        Some(monitors) => {
            hub.set_monitors(monitors);
            true
        }
        None => false,
    })
}

fn unix_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use lookout_protocol::MonitorInfo;

    use super::*;
    use crate::capture::CapturedImage;
    use crate::pipeline::{CaptureSettings, CaptureThread};
    use crate::rendition::Ask;

    /// A screen that changes at set times and says so when asked to wait,
    /// as a compositor hands over a copy: captures are recorded.
    struct Signalled {
        monitors: Vec<MonitorInfo>,
        changes: Vec<Instant>,
        /// How many changes were captured.
        taken: usize,
        captured: Arc<Mutex<Vec<Instant>>>,
    }

    impl Signalled {
        fn arrived(&self) -> usize {
            self.changes
                .iter()
                .filter(|&&t| t <= Instant::now())
                .count()
        }
    }

    impl Capturer for Signalled {
        fn monitors(&self) -> &[MonitorInfo] {
            &self.monitors
        }

        fn capture(&mut self, _id: u32) -> Result<CapturedImage, CaptureError> {
            self.taken = self.arrived();
            self.captured.lock().unwrap().push(Instant::now());
            let shade = u8::try_from(self.taken).unwrap_or(255);
            Ok(CapturedImage::rgba(16, 16, vec![shade; 16 * 16 * 4]))
        }

        fn unchanged(&mut self, _id: u32) -> bool {
            self.arrived() == self.taken
        }

        fn wait_change(
            &mut self,
            _ids: &[u32],
            until: Instant,
        ) -> Option<Result<bool, CaptureError>> {
            let next = self.changes.get(self.taken).copied().unwrap_or(until);
            std::thread::sleep(next.min(until).saturating_duration_since(Instant::now()));
            Some(Ok(!self.unchanged(0)))
        }
    }

    fn signalled(changes: Vec<Instant>, captured: &Arc<Mutex<Vec<Instant>>>) -> Signalled {
        Signalled {
            monitors: vec![MonitorInfo {
                id: 0,
                name: "signalled".into(),
                x: 0,
                y: 0,
                width: 16,
                height: 16,
                primary: true,
                all: false,
            }],
            changes,
            taken: 0,
            captured: Arc::clone(captured),
        }
    }

    /// A capture thread on `screen` at `fps`, and its hub.
    fn watched(screen: Signalled, fps: u32) -> (CaptureThread, FrameHub) {
        let screen = Mutex::new(Some(screen));
        let settings = CaptureSettings {
            fps,
            quality: 75,
            subsampling: Default::default(),
        };
        let factory = Box::new(move || {
            let screen = screen.lock().unwrap().take();
            screen
                .map(|s| Box::new(s) as Box<dyn Capturer>)
                .ok_or(CaptureError::NoMonitors)
        });
        CaptureThread::spawn(factory, settings).unwrap()
    }

    #[test]
    fn stopping_ends_a_wait_on_a_still_screen_at_once_not_at_its_deadline() {
        // 1 fps: the wait on a still screen lasts up to a second.
        let captured = Arc::new(Mutex::new(Vec::new()));
        let (thread, hub) = watched(signalled(Vec::new(), &captured), 1);
        let _watching = hub.subscribe(0, false, Ask::native(75)).unwrap();
        // Bounded: the first capture, then into the wait.
        let deadline = Instant::now() + Duration::from_secs(10);
        while captured.lock().unwrap().is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        std::thread::sleep(Duration::from_millis(100));
        let asked = Instant::now();
        thread.stop();
        let took = asked.elapsed();
        // Waiting out the deadline took 900 ms; a slice is 25 ms.
        assert!(took < Duration::from_millis(450), "stopping took {took:?}");
    }

    #[test]
    fn a_change_the_source_reports_is_taken_when_it_arrives_not_at_the_next_tick() {
        // 5 fps: a tick every 200 ms. Changes 330 ms apart land anywhere
        // between ticks; paced by its clock alone the thread took each
        // 0 to 200 ms late (100 on average).
        let start = Instant::now() + Duration::from_millis(300);
        let changes: Vec<Instant> = (0..8u32)
            .map(|k| start + Duration::from_millis(330) * k)
            .collect();
        let captured = Arc::new(Mutex::new(Vec::new()));
        let (thread, hub) = watched(signalled(changes.clone(), &captured), 5);
        let _watching = hub.subscribe(0, false, Ask::native(75)).unwrap();
        // Bounded: the last change plus slack.
        std::thread::sleep(changes[7].duration_since(Instant::now()) + Duration::from_millis(500));
        thread.stop();
        let captured = captured.lock().unwrap();
        for (k, change) in changes.iter().enumerate() {
            let taken = captured
                .iter()
                .find(|&&t| t >= *change)
                .unwrap_or_else(|| panic!("change {k} never captured"));
            let late = taken.duration_since(*change);
            // Generous for a loaded machine; half the tick.
            assert!(
                late < Duration::from_millis(100),
                "change {k} taken {late:?} late"
            );
        }
    }
}
