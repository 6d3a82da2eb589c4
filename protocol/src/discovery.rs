//! LAN discovery (contract §4): the UDP probe a viewer broadcasts and the
//! reply an agent sends back, one JSON object per datagram.
//!
//! ```text
//! viewer -> broadcast:6868   {"type":"discover","protocol":2,"nonce":"<32 hex>","pad":"    ...    "}
//!                            (padded with spaces to exactly PROBE_LEN = 512 bytes)
//! agent  -> the probe's source, unicast, never longer than the probe:
//!   {"type":"agent","protocol":2,"nonce":"<the probe's>","name":"kiosk-3","port":6868,
//!    "fingerprint":"sha256:<64 hex>","auth":"token","monitors":2}
//! ```
//!
//! Why the padding: UDP has no handshake, so whoever can forge a source
//! address can aim an agent's replies at a victim. A reply no longer than
//! the probe that caused it means the agent never amplifies: an attacker
//! spends at least as many bytes as the victim receives. That is also why
//! a probe shorter than [`MIN_PROBE_LEN`] gets no answer at all.
//!
//! The rules, checked here before anything else is looked at:
//!
//! | what | rule |
//! |---|---|
//! | a probe | [`MIN_PROBE_LEN`] to [`MAX_DATAGRAM_LEN`] bytes; `pad` only spaces |
//! | a reply | at most [`MAX_DATAGRAM_LEN`] bytes (and never longer than its probe) |
//! | `nonce` | exactly 32 lowercase hex digits ([`Nonce`]) |
//! | `name` | 1 to [`MAX_AGENT_NAME_CHARS`] characters, no control characters |
//! | `fingerprint` | a [`Fingerprint`] as the agent prints it |
//!
//! Unknown fields are ignored, as everywhere in the protocol. A reply that
//! would not fit in its probe is made to fit by cutting the agent's name
//! ([`Reply::encode`]): the name is only for people, and the address and
//! fingerprint that identify the agent are never cut. A conforming agent's
//! name (at most 64 characters) always fits a 512-byte probe, so this only
//! guards a caller that passes a longer one.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::fingerprint::Fingerprint;
use crate::limits::PROTOCOL_VERSION;
use crate::message::AuthMode;

/// The shortest probe an agent answers, in bytes; [`Probe::encode`] makes
/// probes exactly this long.
pub const MIN_PROBE_LEN: usize = 512;

/// The longest datagram either side reads, in bytes. A receiver reads into
/// a buffer one byte longer, and a datagram that fills it (so may have been
/// cut by the kernel) is ignored.
pub const MAX_DATAGRAM_LEN: usize = 2048;

/// The longest agent name a reply carries, in characters: the same bound as
/// the name in `welcome`.
pub const MAX_AGENT_NAME_CHARS: usize = 64;

/// The probe's random nonce: 16 bytes, written as 32 lowercase hex digits.
/// A viewer keeps only replies that echo its own nonce, so a stale or
/// unsolicited reply is not taken for an answer.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Nonce([u8; 16]);

impl Nonce {
    /// 16 fresh bytes from the OS random number generator.
    pub fn random() -> Result<Self, getrandom::Error> {
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes)?;
        Ok(Self(bytes))
    }

    /// A nonce with these bytes (tests, fuzzing).
    pub const fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(bytes)
    }
}

impl fmt::Display for Nonce {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for Nonce {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Nonce({self})")
    }
}

impl FromStr for Nonce {
    type Err = DiscoveryError;

    /// Exactly 32 lowercase hex digits: one spelling per nonce, so echoing
    /// it back is a byte comparison.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() != 32 || !s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(DiscoveryError::BadNonce);
        }
        let mut bytes = [0u8; 16];
        hex::decode_to_slice(s, &mut bytes).map_err(|_| DiscoveryError::BadNonce)?;
        Ok(Self(bytes))
    }
}

/// A datagram that is not a probe or a reply this crate accepts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DiscoveryError {
    /// Shorter than [`MIN_PROBE_LEN`] (a probe) or empty.
    #[error("{0} bytes is too short")]
    TooShort(usize),
    /// Longer than [`MAX_DATAGRAM_LEN`] (or than the probe, for a reply).
    #[error("{0} bytes is too long")]
    TooLong(usize),
    /// Not one JSON object with the fields of its kind.
    #[error("not a discovery message: {0}")]
    Malformed(String),
    /// A `type` other than `discover` (probe) or `agent` (reply).
    #[error("wrong type")]
    WrongType,
    /// `nonce` is not 32 lowercase hex digits.
    #[error("the nonce is not 32 lowercase hex digits")]
    BadNonce,
    /// `pad` holds something other than spaces.
    #[error("the pad holds something other than spaces")]
    BadPad,
    /// `name` is empty, too long or holds control characters.
    #[error(
        "the name is empty, longer than {MAX_AGENT_NAME_CHARS} characters or holds control characters"
    )]
    BadName,
    /// `fingerprint` is not `sha256:` and 64 hex digits.
    #[error("the fingerprint is not sha256: and 64 hex digits")]
    BadFingerprint,
    /// `port` is 0.
    #[error("port 0")]
    BadPort,
    /// Even with an empty name the reply would not fit the limit.
    #[error("a reply does not fit in {0} bytes")]
    NoRoom(usize),
}

/// A viewer's probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probe {
    /// The `protocol` the viewer speaks.
    pub protocol: u32,
    /// Echoed in every reply.
    pub nonce: Nonce,
}

/// The JSON of a probe, as read.
#[derive(Deserialize)]
struct ProbeWire<'a> {
    #[serde(rename = "type", borrow)]
    kind: std::borrow::Cow<'a, str>,
    protocol: u32,
    #[serde(borrow)]
    nonce: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    pad: std::borrow::Cow<'a, str>,
}

impl Probe {
    /// A probe of this crate's protocol version.
    pub const fn new(nonce: Nonce) -> Self {
        Self {
            protocol: PROTOCOL_VERSION,
            nonce,
        }
    }

    /// The datagram: exactly [`MIN_PROBE_LEN`] bytes, the fields in the
    /// contract's order, padded with spaces.
    pub fn encode(&self) -> Vec<u8> {
        let head = format!(
            r#"{{"type":"discover","protocol":{},"nonce":"{}","pad":""#,
            self.protocol, self.nonce
        );
        let tail = "\"}";
        let pad = MIN_PROBE_LEN.saturating_sub(head.len() + tail.len());
        let mut out = Vec::with_capacity(MIN_PROBE_LEN);
        out.extend_from_slice(head.as_bytes());
        out.resize(head.len() + pad, b' ');
        out.extend_from_slice(tail.as_bytes());
        out
    }

    /// Reads a datagram: its length first ([`MIN_PROBE_LEN`] to
    /// [`MAX_DATAGRAM_LEN`]), then the JSON.
    pub fn parse(datagram: &[u8]) -> Result<Self, DiscoveryError> {
        if datagram.len() < MIN_PROBE_LEN {
            return Err(DiscoveryError::TooShort(datagram.len()));
        }
        if datagram.len() > MAX_DATAGRAM_LEN {
            return Err(DiscoveryError::TooLong(datagram.len()));
        }
        let wire: ProbeWire<'_> = serde_json::from_slice(datagram)
            .map_err(|err| DiscoveryError::Malformed(err.to_string()))?;
        if wire.kind != "discover" {
            return Err(DiscoveryError::WrongType);
        }
        if !wire.pad.bytes().all(|b| b == b' ') {
            return Err(DiscoveryError::BadPad);
        }
        Ok(Self {
            protocol: wire.protocol,
            nonce: wire.nonce.parse()?,
        })
    }
}

/// An agent's reply to a probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The `protocol` the agent speaks.
    pub protocol: u32,
    /// The probe's nonce.
    pub nonce: Nonce,
    /// The agent's name for people (`--name`, default its host name).
    pub name: String,
    /// The agent's TCP port (the reply comes from its UDP port, which is
    /// the same number, but a viewer takes this one).
    pub port: u16,
    /// The agent's identity.
    pub fingerprint: Fingerprint,
    /// Whether it wants a token.
    pub auth: AuthMode,
    /// How many monitors it lists now.
    pub monitors: u32,
}

/// The JSON of a reply, both ways, fields in the contract's order.
#[derive(Serialize, Deserialize)]
struct ReplyWire<'a> {
    #[serde(rename = "type", borrow)]
    kind: std::borrow::Cow<'a, str>,
    protocol: u32,
    #[serde(borrow)]
    nonce: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    name: std::borrow::Cow<'a, str>,
    port: u16,
    #[serde(borrow)]
    fingerprint: std::borrow::Cow<'a, str>,
    auth: AuthMode,
    monitors: u32,
}

impl Reply {
    /// The datagram, at most `limit` bytes (the probe's length, itself at
    /// most [`MAX_DATAGRAM_LEN`]): when the whole name does not fit, it is
    /// cut, whole characters at a time, to the longest prefix that does.
    /// [`DiscoveryError::NoRoom`] when even an empty name does not fit.
    pub fn encode(&self, limit: usize) -> Result<Vec<u8>, DiscoveryError> {
        let limit = limit.min(MAX_DATAGRAM_LEN);
        let full = self.encode_with_name(&self.name);
        if full.len() <= limit {
            return Ok(full);
        }
        let empty = self.encode_with_name("");
        if empty.len() > limit {
            return Err(DiscoveryError::NoRoom(limit));
        }
        // Binary search over the name's character boundaries: the longest
        // prefix whose reply fits. `fits(0)` holds, as just checked.
        let ends: Vec<usize> = self.name.char_indices().map(|(i, _)| i).collect();
        let (mut fits, mut too_long) = (0, ends.len());
        while too_long - fits > 1 {
            let mid = fits + (too_long - fits) / 2;
            let prefix = ends.get(mid).map_or(self.name.as_str(), |&end| {
                self.name.get(..end).unwrap_or_default()
            });
            if self.encode_with_name(prefix).len() <= limit {
                fits = mid;
            } else {
                too_long = mid;
            }
        }
        let prefix = ends
            .get(fits)
            .and_then(|&end| self.name.get(..end))
            .unwrap_or_default();
        Ok(self.encode_with_name(prefix))
    }

    fn encode_with_name(&self, name: &str) -> Vec<u8> {
        let wire = ReplyWire {
            kind: "agent".into(),
            protocol: self.protocol,
            nonce: self.nonce.to_string().into(),
            name: name.into(),
            port: self.port,
            fingerprint: self.fingerprint.to_string().into(),
            auth: self.auth,
            monitors: self.monitors,
        };
        // Strings, integers and an enum: serialising cannot fail.
        serde_json::to_vec(&wire).unwrap_or_default()
    }

    /// Reads a datagram: at most [`MAX_DATAGRAM_LEN`] bytes, then every
    /// field checked (see the docs of the `discovery` part of this crate). A viewer also drops a
    /// reply longer than its probe and one whose nonce is not its own.
    pub fn parse(datagram: &[u8]) -> Result<Self, DiscoveryError> {
        if datagram.is_empty() {
            return Err(DiscoveryError::TooShort(0));
        }
        if datagram.len() > MAX_DATAGRAM_LEN {
            return Err(DiscoveryError::TooLong(datagram.len()));
        }
        let wire: ReplyWire<'_> = serde_json::from_slice(datagram)
            .map_err(|err| DiscoveryError::Malformed(err.to_string()))?;
        if wire.kind != "agent" {
            return Err(DiscoveryError::WrongType);
        }
        let chars = wire.name.chars().count();
        if chars == 0 || chars > MAX_AGENT_NAME_CHARS || wire.name.chars().any(char::is_control) {
            return Err(DiscoveryError::BadName);
        }
        if wire.port == 0 {
            return Err(DiscoveryError::BadPort);
        }
        // The parser trims and takes either case; a reply must say it
        // exactly as the agent prints it.
        let fingerprint: Fingerprint = wire
            .fingerprint
            .parse()
            .map_err(|_| DiscoveryError::BadFingerprint)?;
        if fingerprint.to_string() != wire.fingerprint {
            return Err(DiscoveryError::BadFingerprint);
        }
        Ok(Self {
            protocol: wire.protocol,
            nonce: wire.nonce.parse()?,
            name: wire.name.into_owned(),
            port: wire.port,
            fingerprint,
            auth: wire.auth,
            monitors: wire.monitors,
        })
    }
}

#[cfg(test)]
mod tests;
