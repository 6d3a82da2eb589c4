//! The window's size, told to the network thread once it has settled: a
//! user dragging a window edge makes dozens of sizes a second, and each
//! `start_monitor` with a new box costs a full frame. So a size is reported
//! only after it has been still for [`SETTLE_FOR`], and only when it is not
//! the one reported last. Since a report needs a change and then
//! [`SETTLE_FOR`] of stillness, reports are at least that far apart: at
//! most about three a second, however the window is handled.
//!
//! Time is passed in, so the rule is tested without waiting.

use std::time::{Duration, Instant};

use crate::stream::Size;

/// How long the window's size must stay the same before it is reported:
/// longer than the gaps between a drag's resize events, short enough that
/// the sharper picture follows the user's release without a noticeable wait.
pub(crate) const SETTLE_FOR: Duration = Duration::from_millis(300);

/// Debounces the window's size; see the [module](self) docs.
#[derive(Debug)]
pub(crate) struct SizeSettle {
    settle_for: Duration,
    /// The size seen last, and since when.
    seen: Option<(Size, Instant)>,
    /// The size reported last.
    reported: Option<Size>,
}

impl SizeSettle {
    /// Nothing seen or reported yet; sizes settle after `settle_for`.
    pub(crate) fn new(settle_for: Duration) -> Self {
        Self {
            settle_for,
            seen: None,
            reported: None,
        }
    }

    /// The window is `size` at `now`: `Some(size)` when it has been so for
    /// the settle time and was not reported yet.
    pub(crate) fn observe(&mut self, size: Size, now: Instant) -> Option<Size> {
        let since = match self.seen {
            Some((seen, since)) if seen == size => since,
            _ => {
                self.seen = Some((size, now));
                now
            }
        };
        let settled = now.saturating_duration_since(since) >= self.settle_for;
        if settled && self.reported != Some(size) {
            self.reported = Some(size);
            Some(size)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    /// Feeds `sizes` one per `every` from `start`; returns what was
    /// reported, with the time of each report since `start`.
    fn run(
        settle: &mut SizeSettle,
        start: Instant,
        every: Duration,
        sizes: &[Size],
    ) -> Vec<(Size, Duration)> {
        let mut reports = Vec::new();
        for (i, &size) in sizes.iter().enumerate() {
            let at = every * i as u32;
            if let Some(size) = settle.observe(size, start + at) {
                reports.push((size, at));
            }
        }
        reports
    }

    #[test]
    fn the_first_size_is_reported_once_it_has_been_still_for_the_settle_time() {
        let mut settle = SizeSettle::new(SETTLE_FOR);
        let start = Instant::now();
        let reports = run(&mut settle, start, 16 * MS, &[(800, 600); 60]);
        // 19 * 16 ms = 304 ms: the first look at or past 300 ms.
        assert_eq!(reports, vec![((800, 600), 304 * MS)]);
    }

    #[test]
    fn a_drag_through_many_sizes_is_one_report_of_the_last() {
        let mut settle = SizeSettle::new(SETTLE_FOR);
        let start = Instant::now();
        let mut sizes: Vec<Size> = vec![(800, 600); 30];
        // A drag: a new size every 16 ms for a second and a half.
        sizes.extend((0..90).map(|i| (800 - i * 2, 600 - i)));
        sizes.extend([(620, 510); 40]);
        let reports = run(&mut settle, start, 16 * MS, &sizes);
        let last_change = 16 * MS * 120;
        assert_eq!(
            reports,
            vec![((800, 600), 304 * MS), ((620, 510), last_change + 304 * MS)]
        );
    }

    #[test]
    fn a_size_is_not_reported_again_and_a_round_trip_to_it_is_nothing_new() {
        let mut settle = SizeSettle::new(SETTLE_FOR);
        let start = Instant::now();
        let mut sizes: Vec<Size> = vec![(800, 600); 40];
        // Away and back within the settle time: still the size reported.
        sizes.extend([(700, 500); 5]);
        sizes.extend([(800, 600); 100]);
        let reports = run(&mut settle, start, 16 * MS, &sizes);
        assert_eq!(reports, vec![((800, 600), 304 * MS)]);
    }

    #[test]
    fn reports_are_never_closer_than_the_settle_time_however_sizes_come() {
        let mut settle = SizeSettle::new(SETTLE_FOR);
        let start = Instant::now();
        // Sizes that hold for 0 to 630 ms in turn, looked at every 10 ms.
        let sizes: Vec<Size> = (0u32..400)
            .flat_map(|i| std::iter::repeat_n((100 + i, 100), (i % 64) as usize))
            .collect();
        let reports = run(&mut settle, start, 10 * MS, &sizes);
        assert!(reports.len() > 5, "{reports:?}");
        for pair in reports.windows(2) {
            assert!(pair[1].1 - pair[0].1 >= SETTLE_FOR, "{pair:?}");
        }
    }
}
