//! Failures per address, in a bounded table that never forgets a block to
//! make room.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::{FAILURE_WINDOW, MAX_BLOCK, MAX_FAILURES};

/// An address that stays clean this long after its last failure and the end
/// of its last block starts over at the first block.
pub(super) const FORGIVE_AFTER: Duration = Duration::from_secs(10 * 60);

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

    fn is_blocked(&self, now: Instant) -> bool {
        self.blocked_until.is_some_and(|until| until > now)
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
        !recent && !self.is_blocked(now) && (self.next_block == first_block || self.forgiven(now))
    }
}

/// Failures per address, at most `capacity` addresses.
#[derive(Debug)]
pub(super) struct Table {
    entries: HashMap<IpAddr, Entry>,
    first_block: Duration,
    capacity: usize,
}

impl Table {
    pub(super) fn new(first_block: Duration, capacity: usize) -> Self {
        Self {
            entries: HashMap::new(),
            first_block,
            capacity,
        }
    }

    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(super) fn blocked(&self, ip: IpAddr, now: Instant) -> Option<Duration> {
        let until = self.entries.get(&ip)?.blocked_until?;
        (until > now).then(|| until - now)
    }

    /// Whether a failure of `ip` could be tracked: it is, or there is room,
    /// or room can be made without forgetting a block.
    pub(super) fn has_room_for(&self, ip: IpAddr, now: Instant) -> bool {
        self.entries.len() < self.capacity
            || self.entries.contains_key(&ip)
            || self.entries.values().any(|entry| !entry.is_blocked(now))
    }

    /// Records a failure of `ip`; returns the block it starts, if any. A
    /// `known` address (a viewer authenticated from it recently) is never
    /// blocked for longer than the first block. When the table is full of
    /// blocked addresses the failure is not tracked (the global budget
    /// still counts it, and [`Table::has_room_for`] refuses the address).
    pub(super) fn failure(&mut self, ip: IpAddr, now: Instant, known: bool) -> Option<Duration> {
        if !self.entries.contains_key(&ip) && !self.make_room(now) {
            return None;
        }
        let first_block = self.first_block;
        let entry = self
            .entries
            .entry(ip)
            .or_insert_with(|| Entry::new(now, first_block));
        if entry.forgiven(now) || known {
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
        entry.next_block = if known {
            first_block
        } else {
            (block * 2).min(MAX_BLOCK)
        };
        Some(block)
    }

    /// Makes room for one more entry, if it can: first drops entries with
    /// nothing to remember, then the one quiet the longest among those not
    /// blocked, preferring those whose next block has not doubled. A blocked entry is never dropped; `false` when every entry
    /// is blocked.
    fn make_room(&mut self, now: Instant) -> bool {
        if self.entries.len() < self.capacity {
            return true;
        }
        let first_block = self.first_block;
        self.entries
            .retain(|_, entry| !entry.forgettable(now, first_block));
        if self.entries.len() < self.capacity {
            return true;
        }
        // First-time offenders before repeat ones: spraying from many
        // addresses must not reset a doubled block to the first one.
        let oldest = self
            .entries
            .iter()
            .filter(|(_, entry)| !entry.is_blocked(now))
            .min_by_key(|(_, entry)| (entry.next_block > first_block, entry.last_seen))
            .map(|(ip, _)| *ip);
        match oldest {
            Some(ip) => {
                self.entries.remove(&ip);
                true
            }
            None => false,
        }
    }
}
