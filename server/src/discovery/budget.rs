//! At most [`MAX_REPLIES`] replies in any [`WINDOW`], for all askers
//! together: the agent's whole discovery output is bounded, however many
//! addresses a flood of probes claims to come from.
//!
//! A sliding window rather than a token bucket: a bucket of 20 that refills
//! at 20 a second lets 40 through in the second after a quiet spell, and the
//! contract says 20 a second. The window remembers the times of the last
//! [`MAX_REPLIES`] replies (a fixed array, nothing grows) and allows a reply
//! when the oldest of them is at least [`WINDOW`] old, so no [`WINDOW`]
//! ever holds more than [`MAX_REPLIES`]. Time is passed in, so the rule is
//! tested without waiting.

use std::time::{Duration, Instant};

/// Replies allowed in any [`WINDOW`] (contract §4: 20 a second).
pub const MAX_REPLIES: usize = 20;

/// The window [`MAX_REPLIES`] is counted over.
pub const WINDOW: Duration = Duration::from_secs(1);

/// The times of the last [`MAX_REPLIES`] replies.
#[derive(Debug, Clone)]
pub struct ReplyBudget {
    sent: [Option<Instant>; MAX_REPLIES],
    /// The slot of the oldest reply, which the next one replaces.
    oldest: usize,
}

impl Default for ReplyBudget {
    fn default() -> Self {
        Self {
            sent: [None; MAX_REPLIES],
            oldest: 0,
        }
    }
}

impl ReplyBudget {
    /// Whether a reply may go out at `now`; if so, it is counted.
    pub fn take(&mut self, now: Instant) -> bool {
        let Some(slot) = self.sent.get_mut(self.oldest) else {
            return false;
        };
        if slot.is_some_and(|at| now.saturating_duration_since(at) < WINDOW) {
            return false;
        }
        *slot = Some(now);
        self.oldest = (self.oldest + 1) % MAX_REPLIES;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(budget: &mut ReplyBudget, now: Instant, tries: usize) -> usize {
        (0..tries).filter(|_| budget.take(now)).count()
    }

    #[test]
    fn a_burst_gets_twenty_replies_and_the_rest_are_dropped() {
        let (mut budget, t0) = (ReplyBudget::default(), Instant::now());
        assert_eq!(allowed(&mut budget, t0, 200), MAX_REPLIES);
        assert_eq!(allowed(&mut budget, t0 + WINDOW / 2, 200), 0);
        assert_eq!(
            allowed(&mut budget, t0 + WINDOW - Duration::from_millis(1), 1),
            0
        );
        assert_eq!(allowed(&mut budget, t0 + WINDOW, 200), MAX_REPLIES);
    }

    #[test]
    fn no_window_of_a_second_ever_holds_more_than_twenty() {
        // A steady probe every 10 ms for 5 s: a bucket of 20 refilling at
        // 20/s would let 40 through in the first second.
        let (mut budget, t0) = (ReplyBudget::default(), Instant::now());
        let sent: Vec<Duration> = (0..500)
            .map(|i| Duration::from_millis(10 * i))
            .filter(|&at| budget.take(t0 + at))
            .collect();
        for (i, &start) in sent.iter().enumerate() {
            let within = sent[i..]
                .iter()
                .take_while(|&&at| at < start + WINDOW)
                .count();
            assert!(
                within <= MAX_REPLIES,
                "{within} replies in the second from {start:?}"
            );
        }
        // And the budget is used: 20 a second over 5 s.
        assert!(
            sent.len() >= 5 * MAX_REPLIES - MAX_REPLIES,
            "{}",
            sent.len()
        );
    }

    #[test]
    fn replies_spread_over_time_are_all_allowed() {
        let (mut budget, t0) = (ReplyBudget::default(), Instant::now());
        for i in 0..100 {
            assert!(budget.take(t0 + Duration::from_millis(60 * i)), "reply {i}");
        }
    }
}
