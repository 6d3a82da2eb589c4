//! The named limits and constants of protocol version 2.

use std::time::Duration;

/// The protocol version this crate speaks (`"protocol": 2`).
pub const PROTOCOL_VERSION: u32 = 2;

/// The ALPN protocol name native viewers offer and the agent selects for this
/// protocol (a ClientHello without ALPN gets this protocol too).
pub const ALPN_LOOKOUT: &[u8] = b"lookout/2";

/// The agent's default TCP port.
pub const DEFAULT_PORT: u16 = 6868;

/// Largest `HC` (control) payload any receiver accepts: 64 KiB.
pub const MAX_CONTROL_LEN: u64 = 64 * 1024;

/// Largest `HT` (image) payload a viewer accepts unless configured otherwise:
/// 64 MiB, which holds an 8K screen at any sane JPEG quality.
pub const DEFAULT_MAX_IMAGE_LEN: u64 = 64 * 1024 * 1024;

/// Longest string a `text` command may carry, in Unicode scalar values.
pub const MAX_TEXT_CHARS: usize = 1024;

/// Longest `message` of an `error` the agent sends, in characters; longer
/// text (a bad value echoed back, say) is cut, so that an error always fits
/// in one control frame, whatever JSON escaping does to it (at most six
/// bytes a character).
pub const MAX_ERROR_MESSAGE_CHARS: usize = 1024;

/// A peer that has not completed the handshake within this time is dropped.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A peer that sends nothing for this long is considered gone, by the agent
/// and by the viewer alike: heartbeats keep an idle session alive.
pub const SILENCE_LIMIT: Duration = Duration::from_secs(15);

/// How often a viewer pings the agent (well inside [`SILENCE_LIMIT`], so
/// one lost or late ping never ends a session). The agent answers each
/// `ping` with a `pong`, which is also the viewer's proof that the agent
/// is alive on a still screen.
pub const PING_INTERVAL: Duration = Duration::from_secs(5);

/// How long the agent waits for a viewer that accepts no bytes before it
/// drops it (one write of a frame or a reply may take this long at most).
pub const WRITE_DEADLINE: Duration = Duration::from_secs(10);

/// Every time limit of a session, in one value. Agent and viewer take theirs
/// from here: the defaults are the protocol's, and tests shorten them so that
/// they never wait in real time for a 15-second limit.
///
/// Only `handshake`, `silence` and `ping_interval` are part of the contract;
/// `write` and `auth_block` are the agent's own choices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// TLS plus the token exchange must finish within this
    /// ([`HANDSHAKE_TIMEOUT`]).
    pub handshake: Duration,
    /// A peer that sends nothing for this long is gone ([`SILENCE_LIMIT`]).
    pub silence: Duration,
    /// How often a viewer pings ([`PING_INTERVAL`]); well inside `silence`.
    pub ping_interval: Duration,
    /// How long one write to a viewer may take ([`WRITE_DEADLINE`]).
    pub write: Duration,
    /// The agent's first block of an address that failed authentication too
    /// often; it doubles on each repeat, up to an hour.
    pub auth_block: Duration,
}

impl Timeouts {
    /// The protocol's defaults.
    pub const DEFAULT: Self = Self {
        handshake: HANDSHAKE_TIMEOUT,
        silence: SILENCE_LIMIT,
        ping_interval: PING_INTERVAL,
        write: WRITE_DEADLINE,
        auth_block: Duration::from_secs(10),
    };
}

impl Default for Timeouts {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// A `--timeouts` value that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0} (expected NAME=DURATION,... with names handshake, silence, ping, write, auth-block and durations such as 1500ms or 3s)"
)]
pub struct ParseTimeoutsError(&'static str);

impl std::str::FromStr for Timeouts {
    type Err = ParseTimeoutsError;

    /// Reads `NAME=DURATION` pairs separated by commas, each overriding one
    /// default: `handshake=2s,silence=3s,write=1500ms`. Durations are whole
    /// milliseconds (`ms`) or seconds (`s`), above zero.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut timeouts = Self::DEFAULT;
        for pair in s.split(',').filter(|p| !p.trim().is_empty()) {
            let (name, value) = pair
                .split_once('=')
                .ok_or(ParseTimeoutsError("a pair without '='"))?;
            let value = value.trim();
            let (digits, unit) = match value.strip_suffix("ms") {
                Some(digits) => (digits, Duration::from_millis(1)),
                None => (
                    value
                        .strip_suffix('s')
                        .ok_or(ParseTimeoutsError("a duration without a unit"))?,
                    Duration::from_secs(1),
                ),
            };
            let n: u32 = digits
                .parse()
                .map_err(|_| ParseTimeoutsError("a duration that is not a whole number"))?;
            if n == 0 {
                return Err(ParseTimeoutsError("a zero duration"));
            }
            let field = match name.trim() {
                "handshake" => &mut timeouts.handshake,
                "silence" => &mut timeouts.silence,
                "ping" => &mut timeouts.ping_interval,
                "write" => &mut timeouts.write,
                "auth-block" => &mut timeouts.auth_block,
                _ => return Err(ParseTimeoutsError("an unknown name")),
            };
            *field = unit * n;
        }
        Ok(timeouts)
    }
}

/// What one receiver (or sender) accepts, checked before any allocation.
///
/// The defaults are the safe configuration: [`Limits::viewer`] accepts images
/// up to [`DEFAULT_MAX_IMAGE_LEN`]; [`Limits::server`] accepts no image at
/// all, because images only ever flow from the server to viewers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest accepted `HC` payload. Never above [`MAX_CONTROL_LEN`].
    pub max_control_len: u64,
    /// Largest accepted `HT` payload; `0` means image frames are refused.
    pub max_image_len: u64,
}

impl Limits {
    /// Limits for a viewer reading from a server: control and images.
    pub const fn viewer() -> Self {
        Self {
            max_control_len: MAX_CONTROL_LEN,
            max_image_len: DEFAULT_MAX_IMAGE_LEN,
        }
    }

    /// Limits for a server reading from a viewer: control only.
    pub const fn server() -> Self {
        Self {
            max_control_len: MAX_CONTROL_LEN,
            max_image_len: 0,
        }
    }

    /// Viewer limits with another image ceiling (a viewer option may lower or
    /// raise it). The control limit stays at [`MAX_CONTROL_LEN`].
    pub const fn with_max_image_len(self, max_image_len: u64) -> Self {
        Self {
            max_image_len,
            ..self
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self::viewer()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_read_overrides_over_the_defaults() {
        let t: Timeouts = "handshake=2s, silence=3s,write=1500ms".parse().unwrap();
        assert_eq!(t.handshake, Duration::from_secs(2));
        assert_eq!(t.silence, Duration::from_secs(3));
        assert_eq!(t.write, Duration::from_millis(1500));
        assert_eq!(t.ping_interval, PING_INTERVAL);
        assert_eq!(t.auth_block, Timeouts::DEFAULT.auth_block);
        assert_eq!("".parse::<Timeouts>().unwrap(), Timeouts::DEFAULT);
    }

    #[test]
    fn timeouts_refuse_what_they_cannot_read() {
        for bad in [
            "handshake",
            "handshake=2",
            "handshake=0s",
            "nap=2s",
            "write=-1s",
            "ping=1.5s",
        ] {
            assert!(bad.parse::<Timeouts>().is_err(), "{bad}");
        }
    }
}
