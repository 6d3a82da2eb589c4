//! One proof's turn at the limiter: the check, the verification and the
//! record of its outcome under one lock, so that proofs sent at once are
//! counted as if sent in turn.

use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use super::{AuthLimiter, Refused};

/// A proof that may be checked now. Holds the limiter's lock until it is
/// settled: verifying a proof takes two HMACs (microseconds), and no other
/// proof may be checked against a count that does not include this one.
///
/// It counts as a **failure unless [`Attempt::succeeded`] is called**, so
/// every way out of the check (a wrong proof, an early return, a panic) is
/// a failure.
#[derive(Debug)]
#[must_use = "an attempt dropped without `succeeded` counts as a failure"]
pub struct Attempt<'a> {
    limiter: MutexGuard<'a, AuthLimiter>,
    ip: IpAddr,
    now: Instant,
    settled: bool,
}

impl<'a> Attempt<'a> {
    /// Takes the limiter's lock and checks that a proof from `ip` may be
    /// verified; `Err` says why not (nothing is recorded then).
    pub fn begin(
        limiter: &'a Mutex<AuthLimiter>,
        ip: IpAddr,
        now: Instant,
    ) -> Result<Self, Refused> {
        // The table stays consistent whatever panicked while it was held:
        // every update is a few assignments.
        let mut limiter = limiter.lock().unwrap_or_else(PoisonError::into_inner);
        limiter.check(ip, now)?;
        Ok(Self {
            limiter,
            ip,
            now,
            settled: false,
        })
    }

    /// The proof was right: the address is remembered as a known viewer's.
    pub fn succeeded(mut self) {
        self.settled = true;
        self.limiter.success(self.ip, self.now);
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        if !self.settled {
            self.limiter.failure(self.ip, self.now);
        }
    }
}
