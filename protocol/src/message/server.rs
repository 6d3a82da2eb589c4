//! The server's control messages and what a viewer reads: `HC` or `HT`.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use serde::{Deserialize, Serialize};

use super::{AuthMode, ErrorCode, MonitorInfo, StreamState, encode_json, parse_json};
use crate::auth::{BindingMode, Challenge};
use crate::error::ProtocolError;
use crate::limits::MAX_ERROR_MESSAGE_CHARS;
use crate::region::{Rect, check_frame};

/// A control message from the server to a viewer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    /// First message of every connection.
    Hello {
        /// Protocol version, [`crate::PROTOCOL_VERSION`].
        protocol: u32,
        /// `"lookout-server <version>"`.
        server: String,
        /// Whether a token proof is required.
        auth: AuthMode,
        /// What the proof covers besides the challenge. Absent (a version 1
        /// server) reads as `none`, which a native viewer on TLS refuses.
        #[serde(default)]
        binding: BindingMode,
        /// 32 fresh random bytes to prove the token against.
        challenge: Challenge,
    },
    /// The handshake succeeded.
    Welcome {
        /// Protocol version, [`crate::PROTOCOL_VERSION`].
        protocol: u32,
        /// The agent's name for people (default: its host name).
        #[serde(default)]
        name: String,
        /// The id of the monitor this viewer will see.
        monitor: u32,
        /// Whether input commands are carried out.
        control: bool,
        /// The optional parts of the protocol this server supports
        /// (`profiles`, `regions`, `all-monitors`); names a viewer does not
        /// know are ignored.
        #[serde(default)]
        features: Vec<String>,
        /// Every monitor the viewer may select.
        monitors: Vec<MonitorInfo>,
    },
    /// The monitors changed (one plugged in or out, a resolution
    /// change): the new list, with the same fields as in `welcome`.
    Monitors {
        /// Every monitor the viewer may select now.
        monitors: Vec<MonitorInfo>,
    },
    /// Describes the `HT` frame that immediately follows (a full frame), or
    /// the `HT` frames of a region update, one per rect.
    Frame {
        /// Counts frames the server produced; a skipped viewer sees a gap.
        seq: u64,
        /// The JPEG's width in pixels.
        width: u32,
        /// The JPEG's height in pixels.
        height: u32,
        /// Capture time, microseconds since the Unix epoch.
        captured_at_us: u64,
        /// The JPEG quality the images were encoded at (1..=100).
        quality: u8,
        /// For a region update only (feature `regions`): where each of the
        /// images that follow goes, in order. Absent for a full frame.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rects: Option<Vec<Rect>>,
    },
    /// Frames stopped or resumed for a reason other than the viewer's own
    /// `stop_monitor` (§2.3.2): sent to each monitoring viewer.
    Stream {
        /// `live`, `paused` or `unavailable`.
        state: StreamState,
        /// Why, for people (escaped before it is shown). Absent reads as
        /// empty.
        #[serde(default)]
        reason: String,
    },
    /// Answer to `ping`.
    Pong {
        /// The `id` of the `ping`.
        id: u64,
    },
    /// Something went wrong; see [`ErrorCode`] for whether the connection
    /// closes.
    Error {
        /// For programs.
        code: ErrorCode,
        /// For people.
        message: String,
        /// An agent extension (unknown fields are ignored, §1): with
        /// `auth_failed` for a blocked address, how long until it may try
        /// again. On the wire `retry_after_ms`, whole milliseconds; absent
        /// otherwise.
        #[serde(
            rename = "retry_after_ms",
            default,
            skip_serializing_if = "Option::is_none",
            with = "millis"
        )]
        retry_after: Option<Duration>,
    },
}

/// `Option<Duration>` as whole milliseconds (rounded up, so that a peer
/// waiting that long is never early).
mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => {
                s.serialize_u64(u64::try_from(d.as_nanos().div_ceil(1_000_000)).unwrap_or(u64::MAX))
            }
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Duration>, D::Error> {
        Ok(Option::<u64>::deserialize(d)?.map(Duration::from_millis))
    }
}

/// What a server sends and a viewer receives, one frame at a time: a
/// control message or an image. [`crate::FramePairing`] turns a stream of
/// these into images with their `frame` announcements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerFrame {
    /// An `HC` message.
    Control(ServerMessage),
    /// An `HT` JPEG.
    Image(Bytes),
}

impl ServerMessage {
    /// Every `"type"` a server may send.
    pub const TYPES: &'static [&'static str] =
        &["hello", "welcome", "monitors", "frame", "pong", "error"];

    /// Parses one `HC` payload sent by a server.
    pub fn parse(payload: &[u8]) -> Result<Self, ProtocolError> {
        parse_json(payload, Self::TYPES)
    }

    /// The message's `"type"`.
    pub fn kind(&self) -> &'static str {
        match self {
            ServerMessage::Hello { .. } => "hello",
            ServerMessage::Welcome { .. } => "welcome",
            ServerMessage::Monitors { .. } => "monitors",
            ServerMessage::Frame { .. } => "frame",
            ServerMessage::Stream { .. } => "stream",
            ServerMessage::Pong { .. } => "pong",
            ServerMessage::Error { .. } => "error",
        }
    }

    /// An `error` message.
    ///
    /// The message is cut to [`MAX_ERROR_MESSAGE_CHARS`] (ending in `…`), so
    /// the error can always be sent: an echo of a huge bad value would
    /// otherwise exceed [`crate::MAX_CONTROL_LEN`] and leave the peer with
    /// no error at all.
    pub fn error(code: ErrorCode, message: impl Into<String>) -> Self {
        let mut message = message.into();
        if let Some((cut, _)) = message.char_indices().nth(MAX_ERROR_MESSAGE_CHARS) {
            message.truncate(cut);
            message.push('…');
        }
        ServerMessage::Error {
            code,
            message,
            retry_after: None,
        }
    }

    /// This `error` for an address that is now blocked for `left` more:
    /// the message says for how long (in whole seconds, rounded up), and
    /// `retry_after_ms` carries it for programs. Other messages are
    /// returned as they are.
    #[must_use]
    pub fn with_retry_after(self, left: Duration) -> Self {
        let ServerMessage::Error { code, message, .. } = self else {
            return self;
        };
        let secs = left.as_millis().div_ceil(1000);
        let mut error = ServerMessage::error(
            code,
            format!("{message}; this address is blocked for {secs} s"),
        );
        if let ServerMessage::Error { retry_after, .. } = &mut error {
            *retry_after = Some(left);
        }
        error
    }

    /// Appends this message as one `HC` frame to `dst`.
    ///
    /// Refuses a `frame` that a viewer must refuse
    /// ([`crate::check_frame`]: a quality outside 1..=100, bad rects).
    pub fn encode(&self, dst: &mut BytesMut) -> Result<(), ProtocolError> {
        if let ServerMessage::Frame {
            width,
            height,
            quality,
            rects,
            ..
        } = self
        {
            check_frame(*width, *height, *quality, rects.as_deref())?;
        }
        encode_json(self, self.kind(), dst)
    }
}
