//! How long to wait before the next reconnect: doubling from 250 ms to at
//! most 5 s, with jitter so that many viewers of one restarted agent do not
//! all knock at the same instant.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The first retry delay.
pub const INITIAL_DELAY: Duration = Duration::from_millis(250);
/// The longest retry delay.
pub const MAX_DELAY: Duration = Duration::from_secs(5);

/// Reconnect delays: each attempt waits a random time in `[d/2, d]`, where
/// `d` doubles from [`INITIAL_DELAY`] to [`MAX_DELAY`].
#[derive(Debug, Clone)]
pub struct Backoff {
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new()
    }
}

impl Backoff {
    /// Starts at [`INITIAL_DELAY`].
    pub fn new() -> Self {
        Self {
            next: INITIAL_DELAY,
        }
    }

    /// The delay before the next attempt; `entropy` is any cheap random
    /// number (see [`entropy`]).
    pub fn next_delay(&mut self, entropy: u64) -> Duration {
        let ceiling = self.next;
        self.next = (self.next * 2).min(MAX_DELAY);
        let half = ceiling / 2;
        // `half` is at most 2.5 s, far below u64::MAX nanoseconds.
        let span = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX);
        half + Duration::from_nanos(entropy % span.saturating_add(1))
    }

    /// Back to [`INITIAL_DELAY`], after a connection that worked.
    pub fn reset(&mut self) {
        self.next = INITIAL_DELAY;
    }
}

/// A cheap random number: the clock's nanoseconds, mixed. Good enough to
/// spread reconnects, not for anything secret.
pub fn entropy() -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::from(d.subsec_nanos()));
    // SplitMix64 finaliser: neighbouring inputs give unrelated outputs.
    let mut z = nanos.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_cap_and_stay_within_jitter_bounds() {
        let mut backoff = Backoff::new();
        let mut ceiling = INITIAL_DELAY;
        for attempt in 0..20 {
            for entropy in [0, 1, u64::MAX, entropy()] {
                let delay = backoff.clone().next_delay(entropy);
                assert!(delay >= ceiling / 2, "attempt {attempt}: {delay:?}");
                assert!(delay <= ceiling, "attempt {attempt}: {delay:?}");
                assert!(delay <= MAX_DELAY);
            }
            backoff.next_delay(entropy());
            ceiling = (ceiling * 2).min(MAX_DELAY);
        }
        assert_eq!(ceiling, MAX_DELAY);
    }

    #[test]
    fn extreme_entropy_hits_the_ends_of_the_range() {
        let mut backoff = Backoff::new();
        assert_eq!(backoff.clone().next_delay(0), INITIAL_DELAY / 2);
        let half_nanos = (INITIAL_DELAY / 2).as_nanos() as u64;
        assert_eq!(backoff.next_delay(half_nanos), INITIAL_DELAY);
    }

    #[test]
    fn reset_starts_over() {
        let mut backoff = Backoff::new();
        for _ in 0..10 {
            backoff.next_delay(0);
        }
        assert_eq!(backoff.clone().next_delay(0), MAX_DELAY / 2);
        backoff.reset();
        assert_eq!(backoff.next_delay(0), INITIAL_DELAY / 2);
    }

    #[test]
    fn entropy_varies() {
        let samples: std::collections::HashSet<u64> = (0..50)
            .map(|_| {
                std::thread::sleep(Duration::from_micros(50));
                entropy()
            })
            .collect();
        assert!(samples.len() > 40);
    }
}
