//! The frame hub: what viewers subscribe to. One `tokio::sync::watch` slot
//! per monitor holds the newest encoded frame, and a count of who watches
//! which monitor tells the capture pipeline (`pipeline`) what to
//! capture.
//!
//! ```text
//!   encode thread ──publish──▶ slot per monitor (newest frame only)
//!                                 │      │      │
//!                    subscription per watching viewer (its writer task)
//!
//!   subscribe / drop ──▶ Demand ──▶ wakes and steers the capture thread
//! ```
//!
//! A viewer that is slow simply sees fewer frames, it never makes a queue
//! grow. A viewer that starts watching a monitor somebody already watches
//! gets the cached frame at once; a monitor nobody watches keeps no frame,
//! so a later viewer never gets a stale picture.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use lookout_protocol::MonitorInfo;
use tokio::sync::watch;

use crate::availability::Availability;
use crate::picture::Picture;
use crate::rendition::{Ask, Profile};

mod demand;

pub(crate) use demand::Demand;

/// The newest picture of one monitor, or `None` while nobody watches it.
pub type FrameSlot = watch::Receiver<Option<Arc<Picture>>>;

/// The slots of the monitors listed now, by id.
type Slots = HashMap<u32, watch::Sender<Option<Arc<Picture>>>>;

/// The monitors as viewers were last told them.
pub type MonitorList = Arc<[MonitorInfo]>;

/// Hands out frame slots to viewers and counts who is watching what.
/// Cheap to clone: every clone is the same hub.
#[derive(Debug, Clone)]
pub struct FrameHub {
    /// The monitors now; sessions watch it to tell their viewer of changes.
    monitors: Arc<watch::Sender<MonitorList>>,
    /// One slot per monitor listed now.
    slots: Arc<Mutex<Slots>>,
    /// Counts monitor list changes.
    layout: Arc<AtomicU64>,
    demand: Arc<Demand>,
    /// Whether the source lists an "all" entry with more than one monitor.
    all_monitors: bool,
    /// Whether capture works; sessions tell their viewer of changes.
    availability: Arc<watch::Sender<Availability>>,
    /// Whether the agent's user paused streaming (`lookout-server pause`):
    /// sessions drop their subscriptions, so nothing is captured.
    paused: Arc<watch::Sender<bool>>,
}

/// A viewer's subscription to one monitor; capture of that monitor goes on
/// while at least one subscription is alive.
#[derive(Debug)]
pub struct Subscription {
    /// The newest frame of the monitor.
    pub frames: FrameSlot,
    monitor: u32,
    regions: bool,
    /// What its viewer asked for.
    asked: Ask,
    /// What its viewer is given (the same, unless the monitor had as many
    /// renditions as it may).
    given: Ask,
    /// Its viewer's frame rate (0: the agent's).
    rate: Arc<AtomicU32>,
    /// The demand's generation when `given` was decided.
    generation: u64,
    demand: Arc<Demand>,
}

impl Subscription {
    /// The monitor this subscription watches.
    pub fn monitor(&self) -> u32 {
        self.monitor
    }

    /// Whether its viewer takes region updates.
    pub fn regions(&self) -> bool {
        self.regions
    }

    /// What its viewer asked for.
    pub fn asked(&self) -> Ask {
        self.asked
    }

    /// What its viewer is given: the rendition of each picture to send is
    /// `given().profile(picture.size())`.
    pub fn given(&self) -> Ask {
        self.given
    }

    /// Its viewer takes at most `fps` frames a second (`None`: all the
    /// agent makes); a monitor whose viewers all take fewer is captured
    /// less often.
    pub fn set_fps(&self, fps: Option<u32>) {
        self.rate.store(fps.unwrap_or(0), Ordering::Relaxed);
        self.demand.wake.notify_all();
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.demand
            .remove(self.monitor, self.regions, self.given, &self.rate);
    }
}

impl FrameHub {
    /// A hub for these monitors, with no frame yet and nobody watching.
    pub(crate) fn new(monitors: Vec<MonitorInfo>) -> Self {
        let slots = monitors
            .iter()
            .map(|m| (m.id, watch::Sender::new(None)))
            .collect();
        Self {
            monitors: Arc::new(watch::Sender::new(monitors.into())),
            slots: Arc::new(Mutex::new(slots)),
            layout: Arc::default(),
            demand: Arc::default(),
            all_monitors: false,
            availability: Arc::new(watch::Sender::new(Availability::Live)),
            paused: Arc::new(watch::Sender::new(false)),
        }
    }

    /// The same hub, saying whether its source lists an "all" entry.
    pub(crate) fn offering_all_monitors(mut self, offers: bool) -> Self {
        self.all_monitors = offers;
        self
    }

    /// Whether the source lists an "all" entry (`all: true`) whenever it
    /// has more than one monitor: the `all-monitors` feature.
    pub fn offers_all_monitors(&self) -> bool {
        self.all_monitors
    }

    fn slots(&self) -> MutexGuard<'_, Slots> {
        // A map of channels: still consistent after a panic elsewhere.
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The monitors the capture source offers now.
    pub fn monitors(&self) -> MonitorList {
        Arc::clone(&self.monitors.borrow())
    }

    /// Monitor `id` as listed now.
    pub fn monitor(&self, id: u32) -> Option<MonitorInfo> {
        self.monitors.borrow().iter().find(|m| m.id == id).cloned()
    }

    /// `preferred` while it is listed, else the primary monitor, else the
    /// first; `None` only when no monitor is listed at all.
    pub fn monitor_or_fallback(&self, preferred: u32) -> Option<u32> {
        fallback(&self.monitors.borrow(), preferred)
    }

    /// Follows the monitor list: marked changed whenever it changes.
    pub fn watch_monitors(&self) -> watch::Receiver<MonitorList> {
        self.monitors.subscribe()
    }

    /// Replaces the monitor list: a slot for each new monitor, none for a
    /// gone one (its subscribers see the end of their stream), and no
    /// cached frame for one whose geometry changed. Then every session is
    /// told.
    pub(crate) fn set_monitors(&self, monitors: Vec<MonitorInfo>) {
        let old = self.monitors();
        {
            let mut slots = self.slots();
            // Under the slots' lock, so no frame of the old layout is
            // published after this.
            self.layout.fetch_add(1, Ordering::AcqRel);
            slots.retain(|id, _| monitors.iter().any(|m| m.id == *id));
            for m in &monitors {
                let same = old.iter().any(|o| o == m);
                let slot = slots
                    .entry(m.id)
                    .or_insert_with(|| watch::Sender::new(None));
                if !same {
                    slot.send_replace(None);
                }
            }
        }
        self.monitors.send_replace(monitors.into());
    }

    /// Follows whether capture works: marked changed when it stops or
    /// starts again.
    pub fn watch_availability(&self) -> watch::Receiver<Availability> {
        self.availability.subscribe()
    }

    /// Follows whether the agent's user paused streaming.
    pub fn watch_paused(&self) -> watch::Receiver<bool> {
        self.paused.subscribe()
    }

    /// Pauses (`true`) or resumes streaming to every viewer; returns
    /// whether that changed anything.
    pub(crate) fn set_paused(&self, paused: bool) -> bool {
        self.paused
            .send_if_modified(|now| std::mem::replace(now, paused) != paused)
    }

    /// Whether streaming is paused now.
    pub(crate) fn paused(&self) -> bool {
        *self.paused.borrow()
    }

    /// Says whether capture works. When it stops, every cached frame is
    /// dropped, so that no viewer who starts watching during the outage
    /// is handed the last picture as if it were live.
    pub(crate) fn set_availability(&self, availability: Availability) {
        if availability != Availability::Live {
            for slot in self.slots().values() {
                slot.send_replace(None);
            }
        }
        self.availability.send_replace(availability);
    }

    /// Counts the changes of the monitor list: a frame captured under an
    /// older count shows a layout that is gone.
    pub(crate) fn layout(&self) -> u64 {
        self.layout.load(Ordering::Acquire)
    }

    /// Starts watching `monitor`, taking region updates or (`regions`
    /// false) full frames only, in the rendition `ask` selects (see
    /// [`Subscription::given`]). The slot already holds the newest frame if
    /// someone else is watching it, so a new viewer gets a frame at once.
    pub fn subscribe(&self, monitor: u32, regions: bool, ask: Ask) -> Option<Subscription> {
        let frames = self.slots().get(&monitor)?.subscribe();
        let source = self.source_size(monitor);
        let given = self.demand.add(monitor, regions, ask, source);
        let generation = self.demand.generation.load(Ordering::Acquire);
        let rate = self.demand.add_rate(monitor);
        Some(Subscription {
            frames,
            monitor,
            regions,
            asked: ask,
            given,
            rate,
            generation,
            demand: Arc::clone(&self.demand),
        })
    }

    /// Follows `monitor`'s pictures without watching it: the recorder
    /// takes what viewers are streamed, and never makes the agent capture
    /// a monitor nobody watches.
    pub(crate) fn observe(&self, monitor: u32) -> Option<FrameSlot> {
        Some(self.slots().get(&monitor)?.subscribe())
    }

    /// The size of `monitor`'s pictures as listed now.
    fn source_size(&self, monitor: u32) -> (u32, u32) {
        self.monitor(monitor)
            .map_or((u32::MAX, u32::MAX), |m| (m.width, m.height))
    }

    /// Decides again which rendition `sub`'s viewer is given, if who asks
    /// for what changed since it was decided: a viewer that shares another
    /// one's rendition (past the bound, or asking the same picture) moves
    /// when that one leaves or changes. Returns whether it changed.
    pub fn regive(&self, sub: &mut Subscription) -> bool {
        let now = self.demand.generation.load(Ordering::Acquire);
        if now == sub.generation {
            return false;
        }
        let source = self.source_size(sub.monitor);
        let given =
            self.demand
                .decide_again(sub.monitor, sub.regions, sub.given, sub.asked, source);
        let changed = std::mem::replace(&mut sub.given, given) != given;
        sub.generation = if changed {
            self.demand.generation.fetch_add(1, Ordering::AcqRel) + 1
        } else {
            now
        };
        changed
    }

    /// Who watches what: what the capture thread waits on.
    pub(crate) fn demand(&self) -> &Demand {
        &self.demand
    }

    /// Whether `monitor`'s slot holds a frame.
    pub(crate) fn has_frame(&self, monitor: u32) -> bool {
        self.slots()
            .get(&monitor)
            .is_some_and(|slot| slot.borrow().is_some())
    }

    /// Makes `frame` the newest of `monitor`, unless nobody watches it any
    /// more, or it was captured under another monitor `layout` (see
    /// [`FrameHub::layout`]): then it is dropped, so that no stale picture
    /// waits for a later viewer or follows a `monitors` message.
    ///
    /// Dropped because nobody watches, it takes the slot's older picture
    /// with it: the capture and encode threads count this picture as sent,
    /// and a viewer who subscribes before the next tick must not be handed
    /// the one before it (an empty slot makes them capture and publish
    /// again).
    pub(crate) fn publish(&self, monitor: u32, layout: u64, frame: Picture) {
        let slots = self.slots();
        if layout != self.layout() {
            return;
        }
        let Some(slot) = slots.get(&monitor) else {
            return;
        };
        if self.demand.is_watched(monitor) {
            slot.send_replace(Some(Arc::new(frame)));
        } else {
            slot.send_replace(None);
        }
    }

    /// Whether `monitor` has a viewer taking region updates of the
    /// `native` rendition.
    pub(crate) fn wants_regions(&self, monitor: u32, native: Profile) -> bool {
        self.demand.wants_regions(monitor, native)
    }

    /// Drops the cached frame of every monitor nobody watches any more, so
    /// that a viewer who starts later never gets a stale picture. Returns
    /// the monitors whose frame was dropped.
    pub(crate) fn forget_unwatched(&self) -> Vec<u32> {
        let mut forgotten = Vec::new();
        for (id, slot) in self.slots().iter() {
            if !self.demand.is_watched(*id) && slot.borrow().is_some() {
                slot.send_replace(None);
                forgotten.push(*id);
            }
        }
        forgotten
    }
}

/// `preferred` if `monitors` lists it, else the primary one, else the first.
pub(crate) fn fallback(monitors: &[MonitorInfo], preferred: u32) -> Option<u32> {
    monitors
        .iter()
        .find(|m| m.id == preferred)
        .or_else(|| monitors.iter().find(|m| m.primary))
        .or_else(|| monitors.first())
        .map(|m| m.id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn monitor(id: u32, width: u32, primary: bool) -> MonitorInfo {
        MonitorInfo {
            id,
            name: format!("m{id}"),
            x: 0,
            y: 0,
            width,
            height: 100,
            primary,
            all: false,
        }
    }

    fn frame() -> Picture {
        use crate::capture::CapturedImage;
        use crate::regions::{ChangeLog, TileGrid};
        let encoding = crate::frame::Encoding {
            quality: 75,
            subsampling: crate::encode::Subsampling::Half,
        };
        Picture::new(
            (1, 1, 0),
            encoding,
            Arc::new(CapturedImage::rgba(1, 1, vec![0; 4])),
            Arc::new(ChangeLog::new(TileGrid::new(1, 1))),
            None,
            None,
        )
    }

    #[test]
    fn fallback_is_the_monitor_itself_else_the_primary_else_the_first() {
        let list = [monitor(3, 10, false), monitor(5, 10, true)];
        assert_eq!(fallback(&list, 3), Some(3));
        assert_eq!(fallback(&list, 9), Some(5));
        assert_eq!(fallback(&list[..1], 9), Some(3));
        assert_eq!(fallback(&[], 9), None);
    }

    #[test]
    fn a_new_list_adds_and_removes_slots_and_tells_watchers() {
        let hub = FrameHub::new(vec![monitor(0, 10, true), monitor(1, 10, false)]);
        let mut layout = hub.watch_monitors();
        let gone = hub.subscribe(1, true, Ask::native(75)).unwrap();
        hub.set_monitors(vec![monitor(0, 10, true), monitor(2, 10, false)]);
        assert!(layout.has_changed().unwrap());
        let ids: Vec<u32> = layout.borrow_and_update().iter().map(|m| m.id).collect();
        assert_eq!(ids, [0, 2]);
        assert!(
            hub.subscribe(1, true, Ask::native(75)).is_none(),
            "a gone monitor has no slot"
        );
        assert!(
            hub.subscribe(2, true, Ask::native(75)).is_some(),
            "a new one has"
        );
        // The gone monitor's subscribers see their stream end.
        assert!(gone.frames.has_changed().is_err());
        assert_eq!(hub.monitor_or_fallback(1), Some(0));
    }

    #[test]
    fn a_monitor_is_captured_as_fast_as_its_fastest_viewer_takes_frames() {
        let hub = FrameHub::new(vec![monitor(0, 10, true)]);
        assert_eq!(hub.demand().max_fps(0), None, "nobody watches");
        let thumbnail = hub.subscribe(0, true, Ask::native(75)).unwrap();
        thumbnail.set_fps(Some(2));
        assert_eq!(hub.demand().max_fps(0), Some(2));
        let other = hub.subscribe(0, true, Ask::native(75)).unwrap();
        other.set_fps(Some(10));
        assert_eq!(hub.demand().max_fps(0), Some(10));
        other.set_fps(None);
        assert_eq!(hub.demand().max_fps(0), None, "one takes every frame");
        drop(other);
        assert_eq!(hub.demand().max_fps(0), Some(2));
        drop(thumbnail);
        assert_eq!(hub.demand().max_fps(0), None);
    }

    #[test]
    fn past_four_renditions_a_viewer_shares_one_and_gives_its_place_back() {
        let hub = FrameHub::new(vec![monitor(0, 1920, true)]);
        let ask = |w: u32| Ask {
            max_width: w,
            max_height: w,
            quality: 75,
        };
        let subs: Vec<_> = [100, 200, 300, 400]
            .into_iter()
            .map(|w| hub.subscribe(0, true, ask(w)).unwrap())
            .collect();
        assert!(subs.iter().all(|s| s.given() == s.asked()));
        let fifth = hub.subscribe(0, true, ask(350)).unwrap();
        assert_eq!(fifth.given(), ask(300), "the largest within its ask");
        // When the one it shares leaves, it is given its own.
        let mut fifth = fifth;
        let mut subs = subs;
        subs.remove(2);
        assert!(hub.regive(&mut fifth));
        assert_eq!(fifth.given(), ask(350));
        assert!(!hub.regive(&mut fifth), "nothing changed since");
        drop(fifth);
        drop(subs);
        let alone = hub.subscribe(0, true, ask(350)).unwrap();
        assert_eq!(alone.given(), ask(350), "places are given back");
    }

    #[test]
    fn frames_of_an_old_layout_are_not_published_and_resized_slots_are_emptied() {
        let hub = FrameHub::new(vec![monitor(0, 10, true)]);
        let _watch = hub.subscribe(0, true, Ask::native(75)).unwrap();
        let before = hub.layout();
        hub.publish(0, before, frame());
        assert!(hub.has_frame(0));
        hub.set_monitors(vec![monitor(0, 20, true)]);
        assert!(!hub.has_frame(0), "a resized monitor keeps no old frame");
        hub.publish(0, before, frame());
        assert!(!hub.has_frame(0), "captured under the old layout");
        hub.publish(0, hub.layout(), frame());
        assert!(hub.has_frame(0));
        // An unchanged list keeps the cached frame.
        hub.set_monitors(vec![monitor(0, 20, true)]);
        assert!(hub.has_frame(0));
    }
}
