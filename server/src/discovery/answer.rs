//! What the agent does with one datagram, without a socket: the probe
//! checked ([`Probe::parse`]: size first), the reply built to fit in it,
//! the [`ReplyBudget`] spent, and what was ignored counted for a summary
//! at most once a [`SUMMARY_EVERY`] (never a log line per datagram: a flood
//! must not become a flood of log lines). Time is passed in.

use std::time::{Duration, Instant};

use lookout_protocol::{AuthMode, Fingerprint, PROTOCOL_VERSION, Probe, Reply};

use super::budget::ReplyBudget;

/// How often, at most, the ignored datagrams are summed up in the log.
pub const SUMMARY_EVERY: Duration = Duration::from_secs(60);

/// What the agent says about itself in every reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advert {
    /// `--name`.
    pub name: String,
    /// The TCP port viewers connect to.
    pub port: u16,
    /// The TLS identity.
    pub fingerprint: Fingerprint,
    /// Whether a token is needed.
    pub auth: AuthMode,
}

/// Datagrams that got no reply since the last summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ignored {
    /// Not a probe: short, long, malformed.
    pub malformed: u64,
    /// Probes past the reply budget.
    pub over_budget: u64,
    /// Reads that failed (ICMP errors about earlier replies and the like).
    pub read_errors: u64,
}

/// Answers probes for one agent.
#[derive(Debug)]
pub struct Responder {
    advert: Advert,
    budget: ReplyBudget,
    ignored: Ignored,
    last_summary: Option<Instant>,
}

impl Responder {
    /// A responder with a full budget.
    pub fn new(advert: Advert) -> Self {
        Self {
            advert,
            budget: ReplyBudget::default(),
            ignored: Ignored::default(),
            last_summary: None,
        }
    }

    /// The reply to `datagram` received at `now`, when it is a probe and
    /// the budget allows; `monitors` is how many the agent lists now. The
    /// reply is never longer than the datagram.
    pub fn answer(&mut self, datagram: &[u8], monitors: u32, now: Instant) -> Option<Vec<u8>> {
        let Ok(probe) = Probe::parse(datagram) else {
            self.ignored.malformed += 1;
            return None;
        };
        let reply = Reply {
            protocol: PROTOCOL_VERSION,
            nonce: probe.nonce,
            name: self.advert.name.clone(),
            port: self.advert.port,
            fingerprint: self.advert.fingerprint,
            auth: self.advert.auth,
            monitors,
        };
        // A probe is at least 512 bytes, which every reply fits in.
        let bytes = reply.encode(datagram.len()).ok()?;
        if !self.budget.take(now) {
            self.ignored.over_budget += 1;
            return None;
        }
        Some(bytes)
    }

    /// Counts a failed read for the next summary.
    pub fn read_failed(&mut self) {
        self.ignored.read_errors += 1;
    }

    /// What was ignored since the last summary, when there is something
    /// and the last summary is at least [`SUMMARY_EVERY`] old; the counts
    /// start again from zero.
    pub fn summary(&mut self, now: Instant) -> Option<Ignored> {
        if self.ignored == Ignored::default() {
            return None;
        }
        let due = self
            .last_summary
            .is_none_or(|at| now.saturating_duration_since(at) >= SUMMARY_EVERY);
        if !due {
            return None;
        }
        self.last_summary = Some(now);
        Some(std::mem::take(&mut self.ignored))
    }
}

#[cfg(test)]
mod tests {
    use lookout_protocol::{MAX_DATAGRAM_LEN, MIN_PROBE_LEN, Nonce};

    use super::*;
    use crate::discovery::budget::MAX_REPLIES;

    fn responder(name: &str) -> Responder {
        Responder::new(Advert {
            name: name.into(),
            port: 7000,
            fingerprint: Fingerprint::of_certificate(b"cert"),
            auth: AuthMode::Token,
        })
    }

    fn probe(n: u8) -> Vec<u8> {
        Probe::new(Nonce::from_bytes([n; 16])).encode()
    }

    #[test]
    fn a_probe_gets_a_reply_with_its_nonce_and_the_agents_advert() {
        let mut r = responder("kiosk");
        let reply = r.answer(&probe(7), 3, Instant::now()).unwrap();
        let reply = Reply::parse(&reply).unwrap();
        assert_eq!(reply.nonce, Nonce::from_bytes([7; 16]));
        assert_eq!(
            (reply.name.as_str(), reply.port, reply.monitors),
            ("kiosk", 7000, 3)
        );
        assert_eq!(reply.fingerprint, Fingerprint::of_certificate(b"cert"));
        assert_eq!(reply.auth, AuthMode::Token);
    }

    #[test]
    fn short_long_and_malformed_datagrams_get_nothing_and_are_counted() {
        let mut r = responder("kiosk");
        let now = Instant::now();
        let full = probe(1);
        let mut long = full.clone();
        long.resize(MAX_DATAGRAM_LEN + 1, b' ');
        for bad in [
            &full[..100],
            &full[..MIN_PROBE_LEN - 1],
            &long[..],
            &[0u8; 600][..],
            b"",
        ] {
            assert_eq!(r.answer(bad, 1, now), None, "{} bytes", bad.len());
        }
        assert_eq!(
            r.summary(now),
            Some(Ignored {
                malformed: 5,
                ..Ignored::default()
            })
        );
    }

    #[test]
    fn a_reply_is_never_longer_than_its_probe_even_with_a_long_name() {
        let mut r = responder(&"ü".repeat(400));
        let now = Instant::now();
        let reply = r.answer(&probe(2), 1, now).unwrap();
        assert!(reply.len() <= MIN_PROBE_LEN, "{}", reply.len());
        assert!(
            Reply::parse(&reply).is_err(),
            "a name past 64 characters is cut, not made valid"
        );
        let mut r = responder(&"ü".repeat(64));
        let reply = r.answer(&probe(2), 1, now).unwrap();
        assert!(reply.len() <= MIN_PROBE_LEN);
        assert_eq!(Reply::parse(&reply).unwrap().name, "ü".repeat(64));
    }

    #[test]
    fn a_flood_gets_twenty_replies_a_second_and_one_summary_a_minute() {
        let mut r = responder("kiosk");
        let t0 = Instant::now();
        let replies = (0..200).filter_map(|_| r.answer(&probe(3), 1, t0)).count();
        assert_eq!(replies, MAX_REPLIES);
        assert_eq!(
            r.summary(t0),
            Some(Ignored {
                over_budget: 180,
                ..Ignored::default()
            })
        );
        assert_eq!(r.answer(b"junk", 1, t0), None);
        r.read_failed();
        assert_eq!(r.summary(t0 + Duration::from_secs(59)), None);
        assert_eq!(
            r.summary(t0 + SUMMARY_EVERY),
            Some(Ignored {
                malformed: 1,
                over_budget: 0,
                read_errors: 1,
            })
        );
        assert_eq!(
            r.summary(t0 + SUMMARY_EVERY * 3),
            None,
            "nothing new to say"
        );
    }
}
