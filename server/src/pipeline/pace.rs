//! The frame-rate cap for a source that says when its screen changed (a
//! wlroots compositor hands over a copy when it has one): the capture
//! thread wakes when a change arrives instead of at its next tick, so a
//! change that lands just after a tick does not wait a whole tick (when
//! the tick and the compositor's clock drift apart, that waiting lost
//! every other frame: 27 of 58 a second). The agent's `--fps` still caps
//! the rate, as a schedule of slots one period apart.
//!
//! A capture may come up to half a period before its slot (the same
//! leeway as a monitor's own rate in the capture thread): the frames of a
//! compositor at the cap's rate, a few milliseconds early or late each,
//! are each taken as they arrive, where a plain minimum interval would
//! hold back every frame after a late one (and the copy of the next is
//! asked for that much later). The slots never fall behind the captures
//! and bank no credit over a pause: N captures woken by changes span at
//! least (N-1) periods less half a period, the cap on average. (A capture
//! at a tick whose wait found nothing is not counted, so as not to hold
//! back the change after it: after a still spell, two captures may come
//! closer once.)
//!
//! Time is passed in, so the rule is tested without waiting.

use std::time::{Duration, Instant};

/// The schedule of capture slots.
#[derive(Debug)]
pub(super) struct Pace {
    period: Duration,
    /// The slot of the last capture.
    slot: Option<Instant>,
}

impl Pace {
    /// A cap of one capture per `period` on average.
    pub(super) fn new(period: Duration) -> Self {
        Self { period, slot: None }
    }

    /// A capture woken by a change happened `at`: returns the earliest time
    /// the next one may.
    pub(super) fn captured(&mut self, at: Instant) -> Instant {
        let slot = match self.slot {
            Some(slot) => (slot + self.period).max(at),
            None => at,
        };
        self.slot = Some(slot);
        slot + self.period / 2
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PERIOD: Duration = Duration::from_nanos(16_666_667);

    /// Captures of changes arriving at `arrivals`, each taken as soon as
    /// it arrives or at its earliest time, whichever is later, as the
    /// capture thread does.
    fn follow(arrivals: &[Instant]) -> Vec<Instant> {
        let mut pace = Pace::new(PERIOD);
        let mut earliest = arrivals[0];
        arrivals
            .iter()
            .map(|&arrived| {
                let at = arrived.max(earliest);
                earliest = pace.captured(at);
                at
            })
            .collect()
    }

    #[test]
    fn frames_of_a_compositor_at_the_cap_are_taken_as_they_arrive_despite_jitter() {
        // 60 Hz frames, each up to 4 ms early or late: a plain minimum
        // interval of one period would hold back every frame that follows
        // a late one.
        let start = Instant::now() + Duration::from_secs(1);
        let arrivals: Vec<Instant> = (0..3000u32)
            .map(|k| {
                let jitter = Duration::from_millis(u64::from(k * 7919 % 9));
                start + PERIOD * k + jitter - Duration::from_millis(4)
            })
            .collect();
        let taken = follow(&arrivals);
        for (k, (t, a)) in taken.iter().zip(&arrivals).enumerate() {
            assert_eq!(t, a, "frame {k} held back");
        }
    }

    #[test]
    fn changes_faster_than_the_cap_are_taken_at_the_cap_on_average() {
        // A 240 Hz source against the 60 fps cap: every change waits for
        // its slot.
        let start = Instant::now();
        let arrivals: Vec<Instant> = (0..2000u32)
            .map(|k| start + Duration::from_secs(1) / 240 * k)
            .collect();
        let at = follow(&arrivals);
        let span = at[at.len() - 1].duration_since(at[0]);
        let rate = (at.len() - 1) as f64 / span.as_secs_f64();
        assert!(rate <= 60.0 + 0.1, "{rate:.2} captures a second");
        assert!(rate >= 59.0, "{rate:.2} captures a second");
    }

    #[test]
    fn a_pause_banks_no_burst() {
        let start = Instant::now();
        let mut pace = Pace::new(PERIOD);
        pace.captured(start);
        // A second of nothing, then a change: taken at once; the next may
        // come half a period after it, not at once again.
        let after = start + Duration::from_secs(1);
        let earliest = pace.captured(after);
        assert_eq!(earliest, after + PERIOD / 2);
        let next = pace.captured(earliest);
        assert_eq!(next, after + PERIOD + PERIOD / 2);
    }
}
