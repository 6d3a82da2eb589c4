//! Whether the screen can be captured, and the rules for an outage: when
//! viewers are told the display is gone, how often the agent tries to get
//! it back, and when a capturer is given up for a new one.
//!
//! ```text
//!   capture ok ──────────────────────────────────────────▶ Live
//!   capture fails ─┬─ shorter than one frame interval ───▶ (nothing said)
//!                  └─ longer ─▶ Unavailable (viewers told, one log line)
//!                                 │ reopen with backoff: 100 ms .. 2 s
//!                                 ▼
//!                  capture ok again ─▶ Live (viewers told, one log line
//!                                       with the outage's duration)
//! ```
//!
//! Time is passed in, so the rules are tested without waiting; only
//! [`gone_for`], which the agent awaits for `--exit-on-display-loss`, reads
//! the clock.

use std::time::{Duration, Instant};

use tokio::sync::watch;

/// Whether frames can flow, as every monitoring viewer is told (protocol
/// §2.3.2).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Availability {
    /// Capture works.
    #[default]
    Live,
    /// Capture has failed for longer than one frame interval.
    Unavailable {
        /// For people: what went wrong.
        reason: String,
        /// When capture first failed.
        since: Instant,
    },
}

/// The first wait before a new capturer is tried; doubled per failed try.
const FIRST_RETRY: Duration = Duration::from_millis(100);

/// The longest wait between two tries: a display that comes back is found
/// within this, and a display that stays away costs one connection
/// attempt per this much time.
pub(crate) const MAX_RETRY: Duration = Duration::from_secs(2);

/// A capturer whose captures have kept failing this long is replaced by a
/// new one, even when its errors do not say the connection broke (its
/// shared memory or damage tracking may be what is stuck).
pub(crate) const REPLACE_AFTER: Duration = Duration::from_secs(2);

/// What a change of health means for viewers and the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Change {
    /// The outage is long enough to tell viewers: now unavailable.
    Lost(Availability),
    /// Capture works again after an outage that viewers were told of; it
    /// lasted this long.
    Back(Duration),
}

/// The capture source's health, one outage at a time.
#[derive(Debug)]
pub(crate) struct Health {
    /// One frame interval: failures shorter than this are not an outage.
    grace: Duration,
    /// The current run of failures, if capture is failing.
    outage: Option<Outage>,
}

#[derive(Debug)]
struct Outage {
    since: Instant,
    /// Viewers were told.
    announced: bool,
    /// Failed tries of a new capturer in a row.
    tries: u32,
    /// When the next try is due.
    next_try: Instant,
}

impl Health {
    /// Healthy, with `grace` (one frame interval) before a failure counts.
    pub(crate) fn new(grace: Duration) -> Self {
        Self {
            grace,
            outage: None,
        }
    }

    /// Whether capture is failing now (announced or not).
    pub(crate) fn failing(&self) -> bool {
        self.outage.is_some()
    }

    /// Capture (or a new capturer) failed at `now`, for `reason`. Returns
    /// [`Change::Lost`] once per outage, when it has lasted longer than
    /// the grace.
    pub(crate) fn failed(&mut self, now: Instant, reason: &str) -> Option<Change> {
        let outage = self.outage.get_or_insert(Outage {
            since: now,
            announced: false,
            tries: 0,
            next_try: now + self.grace.max(FIRST_RETRY),
        });
        if outage.announced || now.duration_since(outage.since) < self.grace {
            return None;
        }
        outage.announced = true;
        Some(Change::Lost(Availability::Unavailable {
            reason: reason.to_owned(),
            since: outage.since,
        }))
    }

    /// Capture worked at `now`. Returns [`Change::Back`] when this ends an
    /// outage viewers were told of.
    pub(crate) fn succeeded(&mut self, now: Instant) -> Option<Change> {
        let outage = self.outage.take()?;
        outage
            .announced
            .then(|| Change::Back(now.duration_since(outage.since)))
    }

    /// Whether the failing capturer should be replaced by a new one: its
    /// connection is gone, or it has failed for [`REPLACE_AFTER`].
    pub(crate) fn replace(&self, now: Instant, disconnected: bool) -> bool {
        self.outage
            .as_ref()
            .is_some_and(|o| disconnected || now.duration_since(o.since) >= REPLACE_AFTER)
    }

    /// Whether a new capturer is due to be tried at `now`.
    pub(crate) fn try_due(&self, now: Instant) -> bool {
        self.outage.as_ref().is_none_or(|o| now >= o.next_try)
    }

    /// When the next try is due (`None` while healthy).
    pub(crate) fn next_try(&self) -> Option<Instant> {
        self.outage.as_ref().map(|o| o.next_try)
    }

    /// A new capturer could not be made at `now`: the next try waits
    /// twice as long as the last, up to [`MAX_RETRY`].
    pub(crate) fn try_failed(&mut self, now: Instant) {
        if let Some(o) = &mut self.outage {
            let wait = FIRST_RETRY
                .saturating_mul(1 << o.tries.min(16))
                .min(MAX_RETRY);
            o.tries = o.tries.saturating_add(1);
            o.next_try = now + wait;
        }
    }
}

/// Resolves once capture has been unavailable for `limit` without a break,
/// with how long that was; never while it works, nor without a limit.
pub(crate) async fn gone_for(
    mut availability: watch::Receiver<Availability>,
    limit: Option<Duration>,
) -> Duration {
    let Some(limit) = limit else {
        return std::future::pending().await;
    };
    loop {
        let since = match &*availability.borrow_and_update() {
            Availability::Unavailable { since, .. } => Some(*since),
            Availability::Live => None,
        };
        let until = since.map(|since| tokio::time::Instant::from_std(since + limit));
        tokio::select! {
            () = async {
                match until {
                    Some(until) => tokio::time::sleep_until(until).await,
                    None => std::future::pending().await,
                }
            } => return since.map_or(limit, |since| tokio::time::Instant::from_std(since).elapsed()),
            changed = availability.changed() => {
                if changed.is_err() {
                    // The capture thread is gone: nothing will change.
                    return std::future::pending().await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FRAME: Duration = Duration::from_millis(33);

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_failure_shorter_than_a_frame_interval_is_not_an_outage() {
        let t0 = Instant::now();
        let mut health = Health::new(FRAME);
        assert_eq!(health.failed(t0, "x"), None);
        assert_eq!(health.failed(t0 + ms(10), "x"), None);
        assert!(health.failing());
        assert_eq!(
            health.succeeded(t0 + ms(20)),
            None,
            "viewers were never told"
        );
        assert!(!health.failing());
    }

    #[test]
    fn a_longer_outage_is_announced_once_and_its_end_says_how_long() {
        let t0 = Instant::now();
        let mut health = Health::new(FRAME);
        assert_eq!(health.failed(t0, "gone"), None);
        let lost = health.failed(t0 + ms(100), "the display went away");
        assert_eq!(
            lost,
            Some(Change::Lost(Availability::Unavailable {
                reason: "the display went away".into(),
                since: t0
            }))
        );
        assert_eq!(health.failed(t0 + ms(200), "gone"), None, "said once");
        assert_eq!(
            health.succeeded(t0 + ms(3100)),
            Some(Change::Back(ms(3100)))
        );
        assert_eq!(health.succeeded(t0 + ms(3200)), None);
    }

    #[test]
    fn tries_back_off_from_100_ms_to_2_s() {
        let t0 = Instant::now();
        let mut health = Health::new(FRAME);
        assert!(health.try_due(t0), "healthy: nothing to wait for");
        health.failed(t0, "x");
        assert!(!health.try_due(t0));
        assert_eq!(health.next_try(), Some(t0 + FIRST_RETRY));
        let mut now = t0;
        let mut waits = Vec::new();
        for _ in 0..8 {
            now = health.next_try().unwrap();
            assert!(health.try_due(now));
            health.try_failed(now);
            waits.push(health.next_try().unwrap() - now);
        }
        assert_eq!(
            waits,
            [100, 200, 400, 800, 1600, 2000, 2000, 2000].map(ms),
            "a display that stays away costs one try per 2 s"
        );
        health.succeeded(now);
        health.failed(now, "again");
        assert_eq!(
            health.next_try(),
            Some(now + FIRST_RETRY),
            "a new outage starts over"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn gone_for_counts_only_an_unbroken_outage() {
        let (tx, rx) = watch::channel(Availability::Live);
        let limit = Duration::from_secs(2);
        let waiter = tokio::spawn(gone_for(rx, Some(limit)));
        let outage = || Availability::Unavailable {
            reason: "gone".into(),
            since: tokio::time::Instant::now().into_std(),
        };
        tx.send_replace(outage());
        tokio::time::sleep(ms(1500)).await;
        tx.send_replace(Availability::Live);
        tokio::time::sleep(ms(1000)).await;
        assert!(!waiter.is_finished(), "the display came back in time");
        tx.send_replace(outage());
        tokio::time::sleep(ms(1900)).await;
        assert!(!waiter.is_finished());
        tokio::time::sleep(ms(200)).await;
        let lasted = waiter.await.unwrap();
        assert!(lasted >= limit, "{lasted:?}");
    }

    #[test]
    fn a_capturer_is_replaced_when_disconnected_or_stuck_for_long() {
        let t0 = Instant::now();
        let mut health = Health::new(FRAME);
        assert!(!health.replace(t0, true), "healthy: nothing to replace");
        health.failed(t0, "x");
        assert!(health.replace(t0, true));
        assert!(!health.replace(t0 + ms(1000), false));
        assert!(health.replace(t0 + REPLACE_AFTER, false));
    }
}
