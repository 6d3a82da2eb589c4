//! Slows down token guessing, counted where guesses are checked.
//!
//! * **Per address.** An address (an IPv4 address, an IPv6 /64) that fails
//!   [`MAX_FAILURES`] times within [`FAILURE_WINDOW`] is blocked for a first
//!   block ([`Timeouts::auth_block`], 10 s by default), twice as long on each
//!   repeat (up to [`MAX_BLOCK`]). A failure is a wrong proof or a protocol
//!   error during the handshake (garbage, an unknown or unexpected message;
//!   [`AuthLimiter::misbehaviour`]).
//! * **No proof is checked while blocked**, in flight or new: the session
//!   asks the limiter right before it verifies each proof
//!   ([`Attempt::begin`]), not only at accept, so the connections an
//!   attacker opened before his block are worth nothing. The check, the
//!   verification and the record of its outcome happen under one lock, so
//!   64 proofs sent at once block after the fifth like 64 sent in turn.
//! * **A global budget**: at most [`GLOBAL_FAILURES_PER_MINUTE`] wrong
//!   proofs from all addresses together in any minute (protocol errors do
//!   not count here: they are not guesses, and would let one address spend
//!   the budget for everyone). Once it is spent, proofs
//!   from addresses without a recent success are refused unchecked
//!   (`auth_failed`, "too many failed authentications") until the window
//!   allows again: guessing from many addresses goes no faster than that.
//!   A viewer whose address authenticated within [`KNOWN_FOR`] is not
//!   affected; a new one waits at most a minute after the flood stops.
//! * **Known viewers and their NAT neighbours.** An address from which a
//!   viewer authenticated within [`KNOWN_FOR`] is remembered (at most
//!   [`MAX_KNOWN`] of them). Its blocks never grow past the first block: a
//!   neighbour behind the same NAT who fails on purpose can keep the real
//!   user out for 10 s at a time, never for an hour. (The price: that
//!   neighbour guesses at 5 per 10 s instead of a dwindling rate; a token of
//!   128 random bits makes that worthless.)
//! * **Bounded, without forgetting a block.** At most [`MAX_TRACKED`]
//!   addresses are tracked. When the table is full, entries with nothing to
//!   remember go first, then the quietest entries that are *not* blocked,
//!   those still at the first block before repeat offenders whose next block
//!   has doubled; a blocked entry is never evicted. If every entry is blocked, the agent
//!   fails closed: a new address's proofs are refused unchecked (unless the
//!   address is known) until a block ends.
//!
//! Time is passed in, so the rules are tested without waiting.

mod attempt;
mod budget;
mod table;

use std::net::IpAddr;
use std::time::{Duration, Instant};

use lookout_protocol::Timeouts;

pub use attempt::Attempt;
use budget::{GlobalBudget, KnownViewers};
use table::Table;

/// Failed authentications that trigger a block...
pub const MAX_FAILURES: usize = 5;
/// ...when they fall within this window.
pub const FAILURE_WINDOW: Duration = Duration::from_secs(60);
/// The first block unless configured otherwise.
pub const FIRST_BLOCK: Duration = Timeouts::DEFAULT.auth_block;
/// The longest block, however often an address repeats.
pub const MAX_BLOCK: Duration = Duration::from_secs(60 * 60);
/// Most addresses tracked at once.
pub const MAX_TRACKED: usize = 4096;
/// Failures from all addresses together, per minute, before proofs from
/// addresses without a recent success are refused unchecked: one a second
/// on average, far above what honest typos make, and at a 128-bit token
/// far below anything that could find it.
pub const GLOBAL_FAILURES_PER_MINUTE: usize = 60;
/// How long an address is remembered after a viewer authenticated from it.
pub const KNOWN_FOR: Duration = Duration::from_secs(24 * 60 * 60);
/// Most such addresses remembered (the oldest success is forgotten first).
pub const MAX_KNOWN: usize = 1024;

/// Why a proof was refused without being checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// The address failed too often; blocked for this much longer.
    #[error("too many failed authentications from this address (blocked for {0:?} more)")]
    Blocked(Duration),
    /// The global budget is spent; new addresses wait this much longer.
    #[error("too many failed authentications from everywhere (new addresses wait {0:?} more)")]
    Budget(Duration),
    /// Every tracked address is blocked and there is no room to track this
    /// one: it is refused rather than a block forgotten.
    #[error("too many blocked addresses to track another")]
    Full,
}

/// Failed and successful authentications, per address and overall.
#[derive(Debug)]
pub struct AuthLimiter {
    table: Table,
    budget: GlobalBudget,
    known: KnownViewers,
}

impl Default for AuthLimiter {
    fn default() -> Self {
        Self::new(FIRST_BLOCK)
    }
}

impl AuthLimiter {
    /// An empty limiter whose first block lasts `first_block`.
    pub fn new(first_block: Duration) -> Self {
        Self {
            table: Table::new(first_block, MAX_TRACKED),
            budget: GlobalBudget::new(GLOBAL_FAILURES_PER_MINUTE),
            known: KnownViewers::new(MAX_KNOWN),
        }
    }

    /// How much longer `ip` is refused, if it is (checked at accept, and
    /// again before each proof).
    pub fn blocked(&self, ip: IpAddr, now: Instant) -> Option<Duration> {
        self.table.blocked(key(ip), now)
    }

    /// Whether a proof from `ip` may be checked now.
    pub fn check(&mut self, ip: IpAddr, now: Instant) -> Result<(), Refused> {
        let ip = key(ip);
        if let Some(left) = self.table.blocked(ip, now) {
            return Err(Refused::Blocked(left));
        }
        if self.known.contains(ip, now) {
            return Ok(());
        }
        if let Some(left) = self.budget.exhausted(now) {
            return Err(Refused::Budget(left));
        }
        if !self.table.has_room_for(ip, now) {
            return Err(Refused::Full);
        }
        Ok(())
    }

    /// Records a protocol error during the handshake (garbage, an unknown
    /// or unexpected message): it counts against its address like a wrong
    /// proof, but not against the global budget, which bounds *guesses*
    /// (otherwise one address could spend it with garbage and keep every new
    /// viewer out); and nothing is recorded while the address is blocked
    /// (its older connections cannot lengthen or spread its block). Returns
    /// the block it starts, if any.
    pub fn misbehaviour(&mut self, ip: IpAddr, now: Instant) -> Option<Duration> {
        let ip = key(ip);
        if self.table.blocked(ip, now).is_some() {
            return None;
        }
        let known = self.known.contains(ip, now);
        self.table.failure(ip, now, known)
    }

    /// Records a wrong proof (a checked guess); returns the block it starts,
    /// if any.
    pub fn failure(&mut self, ip: IpAddr, now: Instant) -> Option<Duration> {
        let ip = key(ip);
        self.budget.record(now);
        let known = self.known.contains(ip, now);
        self.table.failure(ip, now, known)
    }

    /// Records a successful authentication: the address is known for
    /// [`KNOWN_FOR`].
    pub fn success(&mut self, ip: IpAddr, now: Instant) {
        self.known.insert(key(ip), now);
    }

    /// Addresses tracked for failures (for tests).
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// Whether no failure is tracked.
    pub fn is_empty(&self) -> bool {
        self.table.len() == 0
    }
}

/// What one "address" is: an IPv4 address, or an IPv6 /64 (one host
/// usually owns a whole /64, so counting single IPv6 addresses would let it
/// rotate through them).
pub(crate) fn key(ip: IpAddr) -> IpAddr {
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
mod tests;
