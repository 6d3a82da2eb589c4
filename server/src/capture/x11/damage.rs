//! The X server's damage reports (DAMAGE, raw rectangles: no state in the
//! server to repair): which parts of which monitors changed since their
//! last capture, so that a still screen costs no capture at all and a
//! small change costs a capture of that part only.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use x11rb::connection::{Connection as _, RequestConnection as _};
use x11rb::errors::ReplyOrIdError;
use x11rb::protocol::damage;
use x11rb::protocol::xproto;
use x11rb::rust_connection::RustConnection;

use super::monitors::{Monitors, Rect};
use crate::regions;

/// Damaged rectangles kept per monitor between two captures; one more and
/// they become the one rectangle around them all. Typing damages one or
/// two small rectangles a frame (the glyph, the cursor); a scrolling or
/// redrawn window sends hundreds of raw ones, and each rectangle kept costs
/// a round trip to the server at capture, so past a handful one larger
/// read is cheaper than many small ones.
pub(super) const MAX_RECTS: usize = 8;

/// How often a monitor that changes is read whole all the same. Damage is
/// trusted to say where a monitor changed, but a server may miss some
/// (some direct-rendering paths have): a part missed is repaired at the
/// next whole read. A still screen is never read; a changing one pays one
/// whole read in this long (a few milliseconds at 1920x1080).
pub(super) const WHOLE_READ_EVERY: Duration = Duration::from_secs(5);

/// Where each monitor changed since its last capture, by id.
#[derive(Debug)]
pub(super) struct DamageTracker {
    /// Per monitor id: the damage since its last capture. A monitor not in
    /// the map was never captured (or its damage was lost), which counts as
    /// changed everywhere.
    damaged: HashMap<u32, Damaged>,
}

/// One monitor's damage since its last capture.
#[derive(Debug)]
struct Damaged {
    /// In the monitor's own coordinates, at most [`MAX_RECTS`].
    rects: Vec<regions::Rect>,
    /// When the monitor was last read whole.
    read_whole: Instant,
}

impl DamageTracker {
    /// Subscribes to damage reports on the root window; `None` (and a debug
    /// line saying why) when the server cannot, and a still screen is then
    /// found by comparing images instead.
    pub(super) fn subscribe(conn: &RustConnection, root: xproto::Window) -> Option<Self> {
        let subscribed = (|| -> Result<bool, ReplyOrIdError> {
            if conn
                .extension_information(damage::X11_EXTENSION_NAME)?
                .is_none()
            {
                return Ok(false);
            }
            damage::query_version(conn, 1, 1)?.reply()?;
            let id = conn.generate_id()?;
            damage::create(conn, id, root, damage::ReportLevel::RAW_RECTANGLES)?.check()?;
            Ok(true)
        })();
        match subscribed {
            Ok(true) => Some(Self::new()),
            Ok(false) => {
                tracing::debug!("no DAMAGE extension: a still screen is found by comparing");
                None
            }
            Err(err) => {
                tracing::debug!(error = %err, "DAMAGE unavailable");
                None
            }
        }
    }

    fn new() -> Self {
        Self {
            damaged: HashMap::new(),
        }
    }

    /// Adds a damage report to the monitors it touches.
    pub(super) fn note(&mut self, notify: &damage::NotifyEvent, monitors: &Monitors) {
        let area = Rect {
            x: notify.area.x,
            y: notify.area.y,
            width: notify.area.width,
            height: notify.area.height,
        };
        self.add(area, monitors.rects());
    }

    /// Adds `area`, a rectangle of the root window, to each of `monitors`
    /// it touches, cut to the monitor and in its coordinates.
    fn add(&mut self, area: Rect, monitors: impl Iterator<Item = (u32, Rect)>) {
        for (id, monitor) in monitors {
            let Some(local) = local_part(area, monitor) else {
                continue;
            };
            if let Some(damaged) = self.damaged.get_mut(&id) {
                coalesce(&mut damaged.rects, local);
            }
        }
    }

    /// Counts every monitor as changed everywhere: the connection broke,
    /// the monitors moved, or a capture failed half way.
    pub(super) fn forget(&mut self) {
        self.damaged.clear();
    }

    /// Monitor `id` is about to be captured at `now`: returns its damage
    /// since its last capture, and starts collecting anew. `None` says
    /// "read it whole": the damage is unknown, or the monitor has not been
    /// read whole for [`WHOLE_READ_EVERY`]. Call after the pending events
    /// were read.
    pub(super) fn take(&mut self, id: u32, now: Instant) -> Option<Vec<regions::Rect>> {
        let Some(damaged) = self.damaged.get_mut(&id) else {
            let read_whole = now;
            let rects = Vec::new();
            self.damaged.insert(id, Damaged { rects, read_whole });
            return None;
        };
        let rects = std::mem::take(&mut damaged.rects);
        if now.saturating_duration_since(damaged.read_whole) >= WHOLE_READ_EVERY {
            damaged.read_whole = now;
            return None;
        }
        Some(rects)
    }

    /// Whether monitor `id` is known unchanged since its last capture.
    /// Call after the pending events were read.
    pub(super) fn unchanged(&self, id: u32) -> bool {
        self.damaged.get(&id).is_some_and(|d| d.rects.is_empty())
    }
}

/// The part of `area` inside `monitor`, in the monitor's coordinates.
fn local_part(area: Rect, monitor: Rect) -> Option<regions::Rect> {
    let x0 = i32::from(area.x).max(i32::from(monitor.x));
    let y0 = i32::from(area.y).max(i32::from(monitor.y));
    let x1 = (i32::from(area.x) + i32::from(area.width))
        .min(i32::from(monitor.x) + i32::from(monitor.width));
    let y1 = (i32::from(area.y) + i32::from(area.height))
        .min(i32::from(monitor.y) + i32::from(monitor.height));
    if x0 >= x1 || y0 >= y1 {
        return None;
    }
    let local = |v: i32, origin: i16| u32::try_from(v - i32::from(origin)).ok();
    Some(regions::Rect {
        x: local(x0, monitor.x)?,
        y: local(y0, monitor.y)?,
        width: u32::try_from(x1 - x0).ok()?,
        height: u32::try_from(y1 - y0).ok()?,
    })
}

/// Adds `rect` to `rects`, keeping the list short: a rectangle already
/// covered adds nothing, one that covers others replaces them, and past
/// [`MAX_RECTS`] the list becomes the one rectangle around them all (still
/// a cover of the damage, so nothing changed goes unread).
fn coalesce(rects: &mut Vec<regions::Rect>, rect: regions::Rect) {
    if rects.iter().any(|r| r.contains(&rect)) {
        return;
    }
    rects.retain(|r| !rect.contains(r));
    rects.push(rect);
    if rects.len() > MAX_RECTS {
        let around = rects.iter().fold(rect, |all, r| all.union(r));
        rects.clear();
        rects.push(around);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root(x: i16, y: i16, width: u16, height: u16) -> Rect {
        Rect {
            x,
            y,
            width,
            height,
        }
    }

    fn local(x: u32, y: u32, width: u32, height: u32) -> regions::Rect {
        regions::Rect {
            x,
            y,
            width,
            height,
        }
    }

    /// `ms` milliseconds after a fixed start.
    fn at(ms: u64) -> Instant {
        use std::sync::OnceLock;
        static START: OnceLock<Instant> = OnceLock::new();
        *START.get_or_init(Instant::now) + Duration::from_millis(ms)
    }

    /// Two monitors side by side, 100x50 each, the second at x = 100.
    fn two_monitors() -> [(u32, Rect); 2] {
        [(0, root(0, 0, 100, 50)), (1, root(100, 0, 100, 50))]
    }

    #[test]
    fn damage_is_cut_to_each_monitor_in_its_own_coordinates() {
        let mut tracker = DamageTracker::new();
        assert_eq!(tracker.take(0, at(0)), None, "never captured: unknown");
        assert_eq!(tracker.take(1, at(0)), None);
        // Across the boundary between the two.
        tracker.add(root(90, 10, 20, 5), two_monitors().into_iter());
        // Off every monitor.
        tracker.add(root(-30, 60, 10, 10), two_monitors().into_iter());
        assert!(!tracker.unchanged(0) && !tracker.unchanged(1));
        assert_eq!(tracker.take(0, at(0)), Some(vec![local(90, 10, 10, 5)]));
        assert_eq!(tracker.take(1, at(0)), Some(vec![local(0, 10, 10, 5)]));
        assert!(tracker.unchanged(0), "taken: nothing since");
        // Touching a monitor's edge is not inside it.
        tracker.add(root(100, 0, 10, 10), [two_monitors()[0]].into_iter());
        tracker.add(root(0, 50, 10, 10), [two_monitors()[0]].into_iter());
        assert!(tracker.unchanged(0));
    }

    #[test]
    fn damage_of_a_monitor_at_an_offset_is_in_its_coordinates() {
        let mut tracker = DamageTracker::new();
        tracker.take(7, at(0));
        let monitor = (7, root(1920, 0, 1280, 1024));
        tracker.add(root(3000, 1000, 500, 500), [monitor].into_iter());
        tracker.add(root(-5, -5, 1930, 10), [monitor].into_iter());
        assert_eq!(
            tracker.take(7, at(0)),
            Some(vec![local(1080, 1000, 200, 24), local(0, 0, 5, 5)])
        );
    }

    #[test]
    fn damage_of_a_monitor_never_captured_stays_unknown() {
        let mut tracker = DamageTracker::new();
        tracker.add(root(1, 1, 2, 2), two_monitors().into_iter());
        assert!(!tracker.unchanged(0));
        assert_eq!(tracker.take(0, at(0)), None);
        tracker.forget();
        assert_eq!(tracker.take(0, at(0)), None, "forgotten: unknown again");
    }

    #[test]
    fn a_changing_monitor_is_read_whole_once_in_a_while_all_the_same() {
        let mut tracker = DamageTracker::new();
        assert_eq!(tracker.take(0, at(0)), None, "first: whole");
        let every = WHOLE_READ_EVERY.as_millis() as u64;
        let mut whole = Vec::new();
        // A key typed every 100 ms for three periods.
        for ms in (100..=3 * every).step_by(100) {
            tracker.add(root(5, 5, 7, 13), two_monitors().into_iter());
            if tracker.take(0, at(ms)).is_none() {
                whole.push(ms);
            }
        }
        assert_eq!(whole, [every, 2 * every, 3 * every]);
    }

    #[test]
    fn covered_damage_adds_nothing_and_a_cover_replaces_what_it_covers() {
        let mut rects = Vec::new();
        coalesce(&mut rects, local(10, 10, 5, 5));
        coalesce(&mut rects, local(11, 11, 2, 2));
        assert_eq!(rects, [local(10, 10, 5, 5)]);
        coalesce(&mut rects, local(40, 0, 1, 1));
        coalesce(&mut rects, local(0, 0, 20, 20));
        assert_eq!(rects, [local(40, 0, 1, 1), local(0, 0, 20, 20)]);
    }

    #[test]
    fn a_flood_of_damage_becomes_one_rectangle_around_it() {
        let mut tracker = DamageTracker::new();
        tracker.take(0, at(0));
        // A thousand one-pixel reports along a diagonal: a bounded list.
        for i in 0..1000u16 {
            let v = (i % 50) as i16;
            tracker.add(root(v, v, 1, 1), two_monitors().into_iter());
            assert!(tracker.damaged[&0].rects.len() <= MAX_RECTS);
        }
        let rects = tracker.take(0, at(0)).unwrap();
        assert!(rects.len() <= MAX_RECTS);
        // Whatever the merging, every damaged pixel is covered.
        for v in 0..50 {
            assert!(
                rects.iter().any(|r| r.contains(&local(v, v, 1, 1))),
                "({v}, {v}) lost"
            );
        }
    }
}
