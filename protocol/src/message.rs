//! Typed `HC` control messages, both directions, and their JSON form.

use std::borrow::Cow;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};

use crate::auth::{BindingMode, Challenge};
use crate::error::ProtocolError;
use crate::frame::{HEADER_LEN, frame_header};
use crate::key::Key;
use crate::limits::{Limits, MAX_ERROR_MESSAGE_CHARS, MAX_TEXT_CHARS};
use crate::region::{Rect, check_frame};
use crate::settings::StreamSettings;
use crate::tag::Tag;

/// Whether the server asks for a token proof.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMode {
    /// The viewer must answer the challenge with the shared token.
    Token,
    /// Any response (even empty) is accepted.
    None,
}

/// One monitor the server can stream, as listed in `welcome` and `monitors`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonitorInfo {
    /// The id to use with `select_monitor`.
    pub id: u32,
    /// A human-readable name.
    pub name: String,
    /// Left edge in the server's desktop coordinates.
    pub x: i32,
    /// Top edge in the server's desktop coordinates.
    pub y: i32,
    /// Width in physical pixels.
    pub width: u32,
    /// Height in physical pixels.
    pub height: u32,
    /// Whether this is the primary monitor.
    pub primary: bool,
    /// Whether this entry is the whole desktop as one picture (feature
    /// `all-monitors`). Absent means `false`, and `false` is not sent.
    #[serde(default, skip_serializing_if = "is_false")]
    pub all: bool,
}

/// Serde's `skip_serializing_if` for [`MonitorInfo::all`].
fn is_false(value: &bool) -> bool {
    !*value
}

impl ProtocolError {
    /// The error code to report to the peer: always [`ErrorCode::Protocol`].
    pub fn code(&self) -> ErrorCode {
        ErrorCode::Protocol
    }
}

/// The `code` of an `error` message: for programs, where `message` is for
/// people.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The peer broke the protocol; the connection closes.
    Protocol,
    /// The token proof was wrong; the connection closes.
    AuthFailed,
    /// Too many viewers; the connection closes.
    Busy,
    /// An input command on a view-only session; the connection stays open.
    ControlDisabled,
    /// A well-formed command that cannot be carried out; the connection stays
    /// open.
    BadRequest,
    /// Something failed inside the server.
    Internal,
    /// A code this version does not know (received from a newer peer).
    /// Never sent.
    #[serde(other)]
    Unknown,
}

/// A mouse button of the `mouse_button` command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Button {
    /// The primary button.
    Left,
    /// The secondary button.
    Right,
    /// The wheel button.
    Middle,
}

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

/// Whether frames flow to a monitoring viewer (§2.3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StreamState {
    /// Frames flow (again).
    Live,
    /// The watched machine's user paused sharing.
    Paused,
    /// The server cannot capture: the display went away, or capture keeps
    /// failing.
    Unavailable,
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

/// A control message from a viewer to the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMessage {
    /// Answer to `hello`.
    Auth {
        /// Protocol version, [`crate::PROTOCOL_VERSION`].
        protocol: u32,
        /// The viewer's name and version.
        client: String,
        /// `hex(HMAC-SHA256(token, challenge ‖ binding))`, see
        /// [`crate::auth_response`]; may be empty when the server's `auth`
        /// is `none`.
        response: String,
    },
    /// Start streaming to this viewer, with these settings (feature
    /// `profiles`; all absent is `{"type":"start_monitor"}`). Sent while
    /// monitoring, it replaces the settings. A setting outside its range
    /// still parses: the server answers `bad_request` after
    /// [`StreamSettings::check`].
    StartMonitor(StreamSettings),
    /// Stop streaming to this viewer.
    StopMonitor,
    /// Move the pointer to a position in the pixel space of the frames this
    /// viewer receives. Fractional positions are accepted and rounded.
    MouseMove {
        /// Horizontal position in frame pixels.
        #[serde(deserialize_with = "coordinate")]
        x: i32,
        /// Vertical position in frame pixels.
        #[serde(deserialize_with = "coordinate")]
        y: i32,
    },
    /// Press or release a button at the current pointer position.
    MouseButton {
        /// Which button.
        button: Button,
        /// `true` to press, `false` to release.
        pressed: bool,
    },
    /// Wheel steps: positive `dy` scrolls down, positive `dx` right.
    Scroll {
        /// Horizontal steps.
        dx: i32,
        /// Vertical steps.
        dy: i32,
    },
    /// Press or release one key.
    Key {
        /// Which key.
        key: Key,
        /// `true` to press, `false` to release.
        pressed: bool,
    },
    /// Type a Unicode string of at most [`MAX_TEXT_CHARS`] characters.
    Text {
        /// What to type.
        text: String,
    },
    /// Stream another monitor from `welcome.monitors` to this viewer.
    SelectMonitor {
        /// The monitor's id.
        id: u32,
    },
    /// Ask for a `pong` with the same id.
    Ping {
        /// Echoed back.
        id: u64,
    },
}

impl ClientMessage {
    /// Every `"type"` a viewer may send.
    pub const TYPES: &'static [&'static str] = &[
        "auth",
        "start_monitor",
        "stop_monitor",
        "mouse_move",
        "mouse_button",
        "scroll",
        "key",
        "text",
        "select_monitor",
        "ping",
    ];

    /// Parses one `HC` payload sent by a viewer.
    pub fn parse(payload: &[u8]) -> Result<Self, ProtocolError> {
        parse_json(payload, Self::TYPES)
    }

    /// The message's `"type"`.
    pub fn kind(&self) -> &'static str {
        match self {
            ClientMessage::Auth { .. } => "auth",
            ClientMessage::StartMonitor(_) => "start_monitor",
            ClientMessage::StopMonitor => "stop_monitor",
            ClientMessage::MouseMove { .. } => "mouse_move",
            ClientMessage::MouseButton { .. } => "mouse_button",
            ClientMessage::Scroll { .. } => "scroll",
            ClientMessage::Key { .. } => "key",
            ClientMessage::Text { .. } => "text",
            ClientMessage::SelectMonitor { .. } => "select_monitor",
            ClientMessage::Ping { .. } => "ping",
        }
    }

    /// Whether this is an input command, run only for a session with
    /// `control` true.
    pub fn is_input(&self) -> bool {
        matches!(
            self,
            ClientMessage::MouseMove { .. }
                | ClientMessage::MouseButton { .. }
                | ClientMessage::Scroll { .. }
                | ClientMessage::Key { .. }
                | ClientMessage::Text { .. }
        )
    }

    /// Appends this message as one `HC` frame to `dst`.
    ///
    /// Refuses what a conforming viewer never sends: a `text` over
    /// [`MAX_TEXT_CHARS`], a stream setting outside its range, an invalid
    /// [`Key`], a frame over the control limit.
    pub fn encode(&self, dst: &mut BytesMut) -> Result<(), ProtocolError> {
        match self {
            ClientMessage::Text { text } if text.chars().count() > MAX_TEXT_CHARS => {
                return Err(ProtocolError::InvalidValue {
                    kind: "text",
                    reason: "longer than 1024 characters",
                });
            }
            ClientMessage::StartMonitor(settings) => settings.check()?,
            _ => {}
        }
        encode_json(self, self.kind(), dst)
    }

    /// `start_monitor` with no settings: the server's defaults.
    pub const fn start_monitor() -> Self {
        ClientMessage::StartMonitor(StreamSettings::DEFAULT)
    }
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

/// Serialises straight into `dst` behind a placeholder header, then fills in
/// the length: no intermediate buffer. On error `dst` is left as it was.
fn encode_json<M: Serialize>(
    msg: &M,
    kind: &'static str,
    dst: &mut BytesMut,
) -> Result<(), ProtocolError> {
    let start = dst.len();
    dst.put_slice(&[0; HEADER_LEN]);
    let written = serde_json::to_writer(dst.writer(), msg)
        .map_err(|source| ProtocolError::InvalidMessage {
            kind: kind.to_owned(),
            source,
        })
        .and_then(|()| {
            let len = dst.len() - start - HEADER_LEN;
            frame_header(Tag::Control, len, &Limits::viewer())
        });
    match written {
        Ok(header) => {
            if let Some(slot) = dst.get_mut(start..start + HEADER_LEN) {
                slot.copy_from_slice(&header);
            }
            Ok(())
        }
        Err(err) => {
            dst.truncate(start);
            Err(err)
        }
    }
}

/// Parses a JSON payload into `M`, telling bad JSON, an unknown `"type"` and a
/// malformed known message apart.
fn parse_json<M: DeserializeOwned>(payload: &[u8], known: &[&str]) -> Result<M, ProtocolError> {
    let text = std::str::from_utf8(payload)?;
    serde_json::from_str(text).map_err(|err| classify(text, err, known))
}

/// Only runs on the error path, so a second parse costs nothing in practice.
fn classify(text: &str, err: serde_json::Error, known: &[&str]) -> ProtocolError {
    #[derive(Deserialize)]
    struct Envelope<'a> {
        #[serde(rename = "type", borrow)]
        kind: Cow<'a, str>,
    }
    match serde_json::from_str::<Envelope<'_>>(text) {
        Err(_) => ProtocolError::InvalidJson(err),
        Ok(Envelope { kind }) => {
            // Echoed into logs and error messages: keep it short.
            let kind: String = kind.chars().take(64).collect();
            if known.contains(&kind.as_str()) {
                ProtocolError::InvalidMessage { kind, source: err }
            } else {
                ProtocolError::UnknownType(kind)
            }
        }
    }
}

/// Accepts any JSON number as a pixel coordinate: rounded, saturated to `i32`
/// (the server clamps to the monitor anyway).
fn coordinate<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i32, D::Error> {
    let value = f64::deserialize(deserializer)?;
    // `as` saturates and maps NaN to 0, which JSON cannot carry anyway.
    Ok(value.round() as i32)
}
