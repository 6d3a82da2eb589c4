use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Mutex;

use super::table::FORGIVE_AFTER;
use super::*;

const A: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
const B: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
const S: Duration = Duration::from_secs(1);

fn fail_n(limiter: &mut AuthLimiter, ip: IpAddr, now: Instant, n: usize) -> Option<Duration> {
    (0..n).map(|_| limiter.failure(ip, now)).last().flatten()
}

/// The `i`th address of a spray.
fn sprayed(i: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(0x0b00_0000 + i))
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
fn a_blocked_address_has_no_proof_checked() {
    let mut l = AuthLimiter::default();
    let now = Instant::now();
    assert_eq!(l.check(A, now), Ok(()));
    fail_n(&mut l, A, now, MAX_FAILURES);
    assert_eq!(l.check(A, now + S), Err(Refused::Blocked(FIRST_BLOCK - S)));
    assert_eq!(l.check(B, now + S), Ok(()));
    assert_eq!(l.check(A, now + FIRST_BLOCK), Ok(()));
}

#[test]
fn a_burst_of_parallel_guesses_blocks_after_five() {
    // 64 proofs arrive at once: each takes its turn at the lock, and an
    // attempt that is not marked a success counts as a failure.
    let limiter = Mutex::new(AuthLimiter::default());
    let now = Instant::now();
    let checked = (0..64)
        .filter(|_| Attempt::begin(&limiter, A, now).is_ok())
        .count();
    assert_eq!(checked, MAX_FAILURES);
    // A right proof is not checked either while the block lasts...
    assert!(matches!(
        Attempt::begin(&limiter, A, now),
        Err(Refused::Blocked(_))
    ));
    // ...and after it, a success is not a failure.
    let later = now + FIRST_BLOCK;
    Attempt::begin(&limiter, A, later).unwrap().succeeded();
    Attempt::begin(&limiter, A, later).unwrap().succeeded();
    assert_eq!(limiter.lock().unwrap().check(A, later), Ok(()));
}

#[test]
fn many_addresses_share_a_global_failure_budget() {
    let mut l = AuthLimiter::default();
    let now = Instant::now();
    l.success(A, now);
    // One failure each from many addresses: no address is blocked...
    for i in 0..GLOBAL_FAILURES_PER_MINUTE as u32 {
        assert_eq!(l.check(sprayed(i), now), Ok(()));
        assert_eq!(l.failure(sprayed(i), now + S), None);
    }
    // ...but the next new address's proof is not checked,
    let fresh = sprayed(100_000);
    assert_eq!(l.check(fresh, now + S), Err(Refused::Budget(60 * S)));
    // while a viewer known from an earlier success still gets in.
    assert_eq!(l.check(A, now + S), Ok(()));
    // Further failures do not grow the window; it ends a minute after.
    for _ in 0..1000 {
        l.failure(A, now + 2 * S);
    }
    assert_eq!(l.check(fresh, now + 61 * S), Ok(()));
}

#[test]
fn a_nat_neighbour_cannot_lock_out_a_known_viewer_for_long() {
    let mut l = AuthLimiter::default();
    let mut now = Instant::now();
    l.success(A, now);
    // A neighbour behind the same address fails on purpose, again and
    // again: every block is the first block, never doubled.
    for round in 0..8 {
        assert_eq!(
            fail_n(&mut l, A, now, MAX_FAILURES),
            Some(FIRST_BLOCK),
            "round {round}"
        );
        assert_eq!(l.check(A, now + FIRST_BLOCK), Ok(()));
        now += FIRST_BLOCK;
    }
    // An address nobody authenticated from doubles as before.
    assert_eq!(fail_n(&mut l, B, now, MAX_FAILURES), Some(FIRST_BLOCK));
    assert_eq!(
        fail_n(&mut l, B, now + FIRST_BLOCK, MAX_FAILURES),
        Some(FIRST_BLOCK * 2)
    );
    // A success is remembered for KNOWN_FOR, then the address is a stranger.
    let forgotten = now + KNOWN_FOR + FORGIVE_AFTER;
    assert_eq!(
        fail_n(&mut l, A, forgotten, MAX_FAILURES),
        Some(FIRST_BLOCK)
    );
    assert_eq!(
        fail_n(&mut l, A, forgotten + FIRST_BLOCK, MAX_FAILURES),
        Some(FIRST_BLOCK * 2)
    );
}

#[test]
fn a_full_table_does_not_forget_a_blocked_address() {
    let mut l = AuthLimiter::default();
    let now = Instant::now();
    assert_eq!(fail_n(&mut l, A, now, MAX_FAILURES), Some(FIRST_BLOCK));
    for i in 0..(MAX_TRACKED as u32 * 2) {
        l.failure(sprayed(i), now + S);
        assert!(l.len() <= MAX_TRACKED);
    }
    // The quietest entries that were not blocked made room; A did not.
    assert_eq!(l.blocked(A, now + S), Some(FIRST_BLOCK - S));
    assert_eq!(l.len(), MAX_TRACKED);
    // The newest offenders are still tracked.
    let newest = sprayed(MAX_TRACKED as u32 * 2 - 1);
    assert_eq!(
        fail_n(&mut l, newest, now + S, MAX_FAILURES - 1),
        Some(FIRST_BLOCK)
    );
}

#[test]
fn a_table_full_of_blocked_addresses_fails_closed_for_new_ones() {
    // Blocks that outlast the global budget's minute, so that only the
    // full table can refuse.
    let block = Duration::from_secs(600);
    let mut l = AuthLimiter::new(block);
    let now = Instant::now();
    l.success(A, now);
    for i in 0..MAX_TRACKED as u32 {
        assert_eq!(fail_n(&mut l, sprayed(i), now, MAX_FAILURES), Some(block));
    }
    let later = now + 61 * S;
    let fresh = sprayed(100_000);
    assert_eq!(l.check(fresh, later), Err(Refused::Full));
    // Its failures cannot be tracked, and no block is dropped for them.
    assert_eq!(fail_n(&mut l, fresh, later, MAX_FAILURES), None);
    assert_eq!(l.len(), MAX_TRACKED);
    assert!(
        l.blocked(sprayed(0), later).is_some(),
        "a block was forgotten"
    );
    // A known viewer is still let in, and so is everyone once blocks end.
    assert_eq!(l.check(A, later + 60 * S), Ok(()));
    assert_eq!(l.check(fresh, now + block), Ok(()));
}

#[test]
fn an_ipv6_host_cannot_rotate_through_its_64() {
    let mut l = AuthLimiter::default();
    let now = Instant::now();
    for i in 0..MAX_FAILURES as u16 {
        let ip: IpAddr = Ipv6Addr::new(0x2001, 0xdb8, 1, 2, i, i, i, i + 1).into();
        l.failure(ip, now);
    }
    let other_in_64: IpAddr = Ipv6Addr::new(0x2001, 0xdb8, 1, 2, 9, 9, 9, 9).into();
    assert_eq!(l.blocked(other_in_64, now), Some(FIRST_BLOCK));
    let other_64: IpAddr = Ipv6Addr::new(0x2001, 0xdb8, 1, 3, 0, 0, 0, 1).into();
    assert_eq!(l.blocked(other_64, now), None);
    let mapped: IpAddr = Ipv4Addr::new(10, 0, 0, 1).to_ipv6_mapped().into();
    fail_n(&mut l, mapped, now, MAX_FAILURES);
    assert_eq!(l.blocked(A, now), Some(FIRST_BLOCK));
}

#[test]
fn garbage_cannot_spend_the_global_budget_for_everyone() {
    let mut l = AuthLimiter::default();
    let t0 = Instant::now();
    // One address sends garbage on 64 connections: it is blocked after
    // five, the rest count for nothing, and new viewers are not shut out.
    for _ in 0..64 {
        l.misbehaviour(A, t0);
    }
    assert_eq!(l.blocked(A, t0), Some(FIRST_BLOCK));
    assert_eq!(l.check(B, t0), Ok(()), "the budget is for guesses");
    // Garbage from the blocked address's older connections neither
    // lengthens its block nor counts as a repeat.
    assert_eq!(l.blocked(A, t0 + 5 * S), Some(5 * S));
    assert_eq!(l.check(A, t0 + FIRST_BLOCK), Ok(()));
}

#[test]
fn spraying_addresses_does_not_reset_a_repeat_offenders_block() {
    let mut l = AuthLimiter::default();
    let t0 = Instant::now();
    // A blocked twice: its next block is 40 s, and its block has ended.
    fail_n(&mut l, A, t0, MAX_FAILURES);
    let t1 = t0 + FIRST_BLOCK;
    assert_eq!(fail_n(&mut l, A, t1, MAX_FAILURES), Some(2 * FIRST_BLOCK));
    let t2 = t1 + 2 * FIRST_BLOCK;
    // The table fills with first-time failures from other addresses, none
    // blocked: the repeat offender is the last to be evicted.
    for i in 0..MAX_TRACKED as u32 {
        l.failure(sprayed(i), t2);
    }
    assert_eq!(
        fail_n(&mut l, A, t2, MAX_FAILURES),
        Some(4 * FIRST_BLOCK),
        "A's doubled block was forgotten to make room"
    );
}
