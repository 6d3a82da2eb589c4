//! The viewer's control messages.

use bytes::BytesMut;
use serde::{Deserialize, Serialize};

use super::{Button, coordinate, encode_json, parse_json};
use crate::error::ProtocolError;
use crate::key::Key;
use crate::limits::MAX_TEXT_CHARS;
use crate::settings::StreamSettings;

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
