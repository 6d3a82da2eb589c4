//! Pointer moves, paced: at most one every [`MOVE_INTERVAL`] per viewer,
//! and the newest position always wins. A viewer's mouse can report far
//! more positions than a screen can show; replaying them all would only
//! queue work behind the input thread (and let one viewer flood it).
//!
//! Time is passed in, so the rules are tested without waiting.

use std::time::{Duration, Instant};

/// At most 120 moves per second per viewer.
pub const MOVE_INTERVAL: Duration = Duration::from_micros(1_000_000 / 120);

/// Holds back moves that come too fast; hands out the newest when due.
#[derive(Debug, Default)]
pub struct MoveCoalescer {
    /// The newest move not yet carried out.
    held: Option<(i32, i32)>,
    /// No move goes before this.
    next_at: Option<Instant>,
}

impl MoveCoalescer {
    /// A move arrived at `now`: returns it if it may go at once; otherwise
    /// holds it, replacing any move held before.
    pub fn offer(&mut self, pos: (i32, i32), now: Instant) -> Option<(i32, i32)> {
        if self.next_at.is_some_and(|at| now < at) {
            self.held = Some(pos);
            return None;
        }
        self.held = None;
        self.next_at = Some(now + MOVE_INTERVAL);
        Some(pos)
    }

    /// When the held move is due, if one is held.
    pub fn due(&self) -> Option<Instant> {
        self.held.and(self.next_at)
    }

    /// Takes the held move: when it is due, or early because another input
    /// must not overtake it.
    pub fn take(&mut self, now: Instant) -> Option<(i32, i32)> {
        let pos = self.held.take()?;
        self.next_at = Some(now + MOVE_INTERVAL);
        Some(pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_becomes_one_move_now_and_the_last_one_later() {
        let mut c = MoveCoalescer::default();
        let t0 = Instant::now();
        assert_eq!(c.offer((1, 1), t0), Some((1, 1)));
        assert_eq!(c.due(), None);
        for i in 2..=50 {
            assert_eq!(
                c.offer((i, i), t0 + Duration::from_micros(100 * i as u64)),
                None
            );
        }
        assert_eq!(c.due(), Some(t0 + MOVE_INTERVAL));
        assert_eq!(c.take(t0 + MOVE_INTERVAL), Some((50, 50)));
        assert_eq!(c.take(t0 + MOVE_INTERVAL), None);
        assert_eq!(c.due(), None);
    }

    #[test]
    fn slow_moves_all_pass() {
        let mut c = MoveCoalescer::default();
        let t0 = Instant::now();
        for i in 0..10 {
            let at = t0 + MOVE_INTERVAL * i;
            assert_eq!(c.offer((i as i32, 0), at), Some((i as i32, 0)));
        }
    }

    #[test]
    fn a_thousand_moves_in_a_second_are_paced_to_about_120() {
        let mut c = MoveCoalescer::default();
        let t0 = Instant::now();
        let mut carried = 0;
        for ms in 0..1000u64 {
            let now = t0 + Duration::from_millis(ms);
            if c.due().is_some_and(|due| due <= now) && c.take(now).is_some() {
                carried += 1;
            }
            if c.offer((ms as i32, 0), now).is_some() {
                carried += 1;
            }
        }
        assert!((100..=121).contains(&carried), "{carried}");
    }
}
