//! Slows down token guessing: an address that fails authentication
//! [`MAX_FAILURES`] times within [`FAILURE_WINDOW`] is refused new
//! connections for a first block ([`Timeouts::auth_block`], 10 s by
//! default), twice as long on each repeat (up to [`MAX_BLOCK`]). The table is bounded, so a spray of addresses cannot grow
//! it without limit.
//!
//! Time is passed in, so the rules are tested without waiting.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use lookout_protocol::Timeouts;

/// Failed authentications that trigger a block...
pub const MAX_FAILURES: usize = 5;
/// ...when they fall within this window.
pub const FAILURE_WINDOW: Duration = Duration::from_secs(60);
/// The first block unless configured otherwise.
pub const FIRST_BLOCK: Duration = Timeouts::DEFAULT.auth_block;
/// The longest block, however often an address repeats.
pub const MAX_BLOCK: Duration = Duration::from_secs(60 * 60);
/// An address that stays clean this long after its last failure and the end
/// of its last block starts over at the first block.
const FORGIVE_AFTER: Duration = Duration::from_secs(10 * 60);
/// Most addresses tracked at once.
pub const MAX_TRACKED: usize = 4096;

#[derive(Debug)]
struct Entry {
    /// Recent failures, oldest first; never more than [`MAX_FAILURES`].
    failures: VecDeque<Instant>,
    /// Refused until then.
    blocked_until: Option<Instant>,
    /// How long the next block lasts.
    next_block: Duration,
    /// Last failure, for eviction.
    last_seen: Instant,
}

impl Entry {
    fn new(now: Instant, first_block: Duration) -> Self {
        Self {
            failures: VecDeque::with_capacity(MAX_FAILURES),
            blocked_until: None,
            next_block: first_block,
            last_seen: now,
        }
    }

    /// Since when the address has behaved: its last failure or the end of
    /// its last block, whichever is later.
    fn clean_since(&self) -> Instant {
        self.blocked_until
            .map_or(self.last_seen, |until| until.max(self.last_seen))
    }

    fn forgiven(&self, now: Instant) -> bool {
        now >= self.clean_since() + FORGIVE_AFTER
    }

    /// Nothing left worth remembering: no failure in the window, not
    /// blocked, and no repeat to double.
    fn forgettable(&self, now: Instant, first_block: Duration) -> bool {
        let recent = now.saturating_duration_since(self.last_seen) < FAILURE_WINDOW;
        let blocked = self.blocked_until.is_some_and(|until| until > now);
        !recent && !blocked && (self.next_block == first_block || self.forgiven(now))
    }
}

/// Failed authentications per address.
#[derive(Debug)]
pub struct AuthLimiter {
    entries: HashMap<IpAddr, Entry>,
    first_block: Duration,
}

impl Default for AuthLimiter {
    fn default() -> Self {
        Self::new(FIRST_BLOCK)
    }
}

impl AuthLimiter {
    /// An empty table whose first block lasts `first_block`.
    pub fn new(first_block: Duration) -> Self {
        Self {
            entries: HashMap::new(),
            first_block,
        }
    }

    /// How much longer `ip` is refused, if it is.
    pub fn blocked(&self, ip: IpAddr, now: Instant) -> Option<Duration> {
        let until = self.entries.get(&key(ip))?.blocked_until?;
        (until > now).then(|| until - now)
    }

    /// Records a failed authentication; returns the block it starts, if any.
    pub fn failure(&mut self, ip: IpAddr, now: Instant) -> Option<Duration> {
        let ip = key(ip);
        if !self.entries.contains_key(&ip) && self.entries.len() >= MAX_TRACKED {
            self.make_room(now);
        }
        let first_block = self.first_block;
        let entry = self
            .entries
            .entry(ip)
            .or_insert_with(|| Entry::new(now, first_block));
        if entry.forgiven(now) {
            entry.next_block = first_block;
        }
        entry.last_seen = now;
        while entry
            .failures
            .front()
            .is_some_and(|&t| now.saturating_duration_since(t) >= FAILURE_WINDOW)
        {
            entry.failures.pop_front();
        }
        entry.failures.push_back(now);
        if entry.failures.len() < MAX_FAILURES {
            return None;
        }
        entry.failures.clear();
        let block = entry.next_block;
        entry.blocked_until = Some(now + block);
        entry.next_block = (block * 2).min(MAX_BLOCK);
        Some(block)
    }

    /// Drops entries with nothing to remember; if none can go, the one
    /// quiet the longest.
    fn make_room(&mut self, now: Instant) {
        let first_block = self.first_block;
        self.entries
            .retain(|_, entry| !entry.forgettable(now, first_block));
        if self.entries.len() < MAX_TRACKED {
            return;
        }
        let oldest = self
            .entries
            .iter()
            .min_by_key(|(_, entry)| entry.last_seen)
            .map(|(ip, _)| *ip);
        if let Some(ip) = oldest {
            self.entries.remove(&ip);
        }
    }

    /// Addresses tracked (for tests).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is tracked.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// What one "address" is: an IPv4 address, or an IPv6 /64 (one host
/// usually owns a whole /64, so counting single IPv6 addresses would let it
/// rotate through them).
fn key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut segments = v6.segments();
                segments[4..].fill(0);
                IpAddr::V6(segments.into())
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 2));
    const S: Duration = Duration::from_secs(1);

    fn fail_n(limiter: &mut AuthLimiter, ip: IpAddr, now: Instant, n: usize) -> Option<Duration> {
        (0..n).map(|_| limiter.failure(ip, now)).last().flatten()
    }

    #[test]
    fn five_failures_in_a_minute_block_for_ten_seconds() {
        let mut l = AuthLimiter::default();
        let t0 = Instant::now();
        for i in 0..4 {
            assert_eq!(l.failure(A, t0 + i * 10 * S), None);
            assert_eq!(l.blocked(A, t0 + i * 10 * S), None);
        }
        assert_eq!(l.failure(A, t0 + 50 * S), Some(FIRST_BLOCK));
        assert_eq!(l.blocked(A, t0 + 50 * S), Some(FIRST_BLOCK));
        assert_eq!(l.blocked(A, t0 + 59 * S), Some(S));
        assert_eq!(l.blocked(A, t0 + 60 * S), None);
        // Another address is not affected.
        assert_eq!(l.blocked(B, t0 + 50 * S), None);
    }

    #[test]
    fn failures_spread_over_more_than_a_minute_do_not_block() {
        let mut l = AuthLimiter::default();
        let t0 = Instant::now();
        for i in 0..20 {
            assert_eq!(l.failure(A, t0 + i * 15 * S), None, "failure {i}");
        }
    }

    #[test]
    fn repeat_offenders_wait_twice_as_long_up_to_the_cap() {
        let mut l = AuthLimiter::default();
        let mut now = Instant::now();
        let mut expected = FIRST_BLOCK;
        for _ in 0..12 {
            assert_eq!(fail_n(&mut l, A, now, MAX_FAILURES), Some(expected));
            now += expected;
            expected = (expected * 2).min(MAX_BLOCK);
        }
        assert_eq!(expected, MAX_BLOCK);
        // Ten quiet minutes later the count starts over.
        now += FORGIVE_AFTER;
        assert_eq!(fail_n(&mut l, A, now, MAX_FAILURES), Some(FIRST_BLOCK));
    }

    #[test]
    fn the_table_stays_bounded_and_keeps_blocking_recent_offenders() {
        let mut l = AuthLimiter::default();
        let now = Instant::now();
        assert_eq!(fail_n(&mut l, A, now, MAX_FAILURES), Some(FIRST_BLOCK));
        for i in 0..(MAX_TRACKED as u32 * 2) {
            let ip = IpAddr::V4(std::net::Ipv4Addr::from(0x0b00_0000 + i));
            l.failure(ip, now + S);
            assert!(l.len() <= MAX_TRACKED);
        }
        assert!(!l.is_empty());
        // A was evicted as the quietest, which is the price of the bound;
        // the newest offenders are still tracked.
        let newest = IpAddr::V4(std::net::Ipv4Addr::from(
            0x0b00_0000 + MAX_TRACKED as u32 * 2 - 1,
        ));
        assert_eq!(
            fail_n(&mut l, newest, now + S, MAX_FAILURES - 1),
            Some(FIRST_BLOCK)
        );
    }

    #[test]
    fn an_ipv6_host_cannot_rotate_through_its_64() {
        let mut l = AuthLimiter::default();
        let now = Instant::now();
        for i in 0..MAX_FAILURES as u16 {
            let ip: IpAddr = std::net::Ipv6Addr::new(0x2001, 0xdb8, 1, 2, i, i, i, i + 1).into();
            l.failure(ip, now);
        }
        let other_in_64: IpAddr = std::net::Ipv6Addr::new(0x2001, 0xdb8, 1, 2, 9, 9, 9, 9).into();
        assert_eq!(l.blocked(other_in_64, now), Some(FIRST_BLOCK));
        let other_64: IpAddr = std::net::Ipv6Addr::new(0x2001, 0xdb8, 1, 3, 0, 0, 0, 1).into();
        assert_eq!(l.blocked(other_64, now), None);
        let mapped: IpAddr = std::net::Ipv4Addr::new(10, 0, 0, 1).to_ipv6_mapped().into();
        fail_n(&mut l, mapped, now, MAX_FAILURES);
        assert_eq!(l.blocked(A, now), Some(FIRST_BLOCK));
    }
}
