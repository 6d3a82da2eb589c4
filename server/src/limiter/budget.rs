//! What the limiter counts across addresses: the global failure budget and
//! the addresses viewers have authenticated from.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::KNOWN_FOR;

/// The window of the global budget.
const BUDGET_WINDOW: Duration = Duration::from_secs(60);

/// Failures from all addresses in the last minute, as a sliding window.
/// Never holds more than the budget: once it is spent, further failures
/// need not be told apart (nothing more is checked until one expires).
#[derive(Debug)]
pub(super) struct GlobalBudget {
    failures: VecDeque<Instant>,
    per_minute: usize,
}

impl GlobalBudget {
    pub(super) fn new(per_minute: usize) -> Self {
        Self {
            failures: VecDeque::with_capacity(per_minute),
            per_minute,
        }
    }

    fn expire(&mut self, now: Instant) {
        while self
            .failures
            .front()
            .is_some_and(|&t| now.saturating_duration_since(t) >= BUDGET_WINDOW)
        {
            self.failures.pop_front();
        }
    }

    /// How long until the next failure fits in the window, if the budget is
    /// spent.
    pub(super) fn exhausted(&mut self, now: Instant) -> Option<Duration> {
        self.expire(now);
        if self.failures.len() < self.per_minute {
            return None;
        }
        let oldest = *self.failures.front()?;
        Some((oldest + BUDGET_WINDOW).saturating_duration_since(now))
    }

    pub(super) fn record(&mut self, now: Instant) {
        self.expire(now);
        if self.failures.len() < self.per_minute {
            self.failures.push_back(now);
        }
    }
}

/// Addresses a viewer authenticated from, with the time of the last
/// success; at most `capacity`, the oldest success forgotten first. Only a
/// viewer that holds a token can add to it.
#[derive(Debug)]
pub(super) struct KnownViewers {
    last_success: HashMap<IpAddr, Instant>,
    capacity: usize,
}

impl KnownViewers {
    pub(super) fn new(capacity: usize) -> Self {
        Self {
            last_success: HashMap::new(),
            capacity,
        }
    }

    pub(super) fn contains(&self, ip: IpAddr, now: Instant) -> bool {
        self.last_success
            .get(&ip)
            .is_some_and(|&at| now.saturating_duration_since(at) < KNOWN_FOR)
    }

    pub(super) fn insert(&mut self, ip: IpAddr, now: Instant) {
        if !self.last_success.contains_key(&ip) && self.last_success.len() >= self.capacity {
            self.last_success
                .retain(|_, &mut at| now.saturating_duration_since(at) < KNOWN_FOR);
            if self.last_success.len() >= self.capacity {
                let oldest = self
                    .last_success
                    .iter()
                    .min_by_key(|(_, at)| **at)
                    .map(|(ip, _)| *ip);
                if let Some(oldest) = oldest {
                    self.last_success.remove(&oldest);
                }
            }
        }
        self.last_success.insert(ip, now);
    }
}
