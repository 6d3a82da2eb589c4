//! Everything that can be wrong with bytes on the wire.
//!
//! The peer chooses part of some of these errors' text (a message type, the
//! value serde found wrong), and the text is logged and echoed back in an
//! `error` message: every variant displays it through
//! [`escaped`], so that it cannot forge a log line or reach a terminal raw.

use crate::region::InvalidFrame;
use crate::settings::SettingOutOfRange;
use crate::tag::Tag;
use crate::untrusted::escaped;

/// A violation of the protocol by the peer (or, on encode, by the caller).
///
/// Every variant maps to the `protocol` error code: the receiver sends an
/// `error` message when it can and closes that one connection.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// The two tag bytes are neither `HT` nor `HC`.
    #[error("unknown frame tag {0:02x?}")]
    UnknownTag([u8; 2]),
    /// An announced (or supplied) payload length is above the limit.
    #[error("{tag} frame of {len} bytes exceeds the limit of {limit} bytes")]
    TooLong {
        /// The frame's tag.
        tag: Tag,
        /// The announced length.
        len: u64,
        /// The limit in force.
        limit: u64,
    },
    /// A frame announced a zero-length payload.
    #[error("{0} frame with zero length")]
    ZeroLength(Tag),
    /// An `HT` frame arrived where images are not accepted (at the server).
    #[error("image frames are not accepted in this direction")]
    UnexpectedImage,
    /// An `HC` payload is not valid UTF-8.
    #[error("control payload is not UTF-8: {0}")]
    InvalidUtf8(#[from] std::str::Utf8Error),
    /// An `HC` payload is not a JSON object with a string `"type"` field.
    #[error("control payload is not a JSON object with a \"type\": {}", escaped(&.0.to_string()))]
    InvalidJson(#[source] serde_json::Error),
    /// The `"type"` is not one this side of the protocol knows.
    #[error("unknown message type \"{}\"", escaped(.0))]
    UnknownType(String),
    /// A known `"type"` whose fields are missing or of the wrong kind.
    #[error("malformed \"{}\" message: {}", escaped(.kind), escaped(&.source.to_string()))]
    InvalidMessage {
        /// The message's `"type"`.
        kind: String,
        /// What serde found wrong.
        #[source]
        source: serde_json::Error,
    },
    /// A message that is valid but that a conforming sender never sends
    /// (for example a `text` command over [`crate::MAX_TEXT_CHARS`]).
    #[error("invalid \"{}\" message: {}", escaped(.kind), escaped(.reason))]
    InvalidValue {
        /// The message's `"type"`.
        kind: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// On encode: a `start_monitor` setting outside its range (a server
    /// receiving one answers `bad_request` instead, see
    /// [`crate::StreamSettings::check`]).
    #[error("invalid \"start_monitor\" message: {0}")]
    SettingOutOfRange(#[from] SettingOutOfRange),
    /// On encode: a `frame` message that a viewer must refuse.
    #[error("invalid \"frame\" message: {0}")]
    InvalidFrame(#[from] InvalidFrame),
}

#[cfg(test)]
mod tests {
    use crate::ClientMessage;

    /// What a peer sends before authenticating to forge an "accepted" line
    /// in the agent's one-line-per-connection log, and to clear the
    /// operator's terminal.
    const FORGED: &str = r#"{"type":"mouse_button","button":"left\nmonitor=0 outcome=\"accepted\"\u001b[2J","pressed":true}"#;

    #[test]
    fn a_forged_log_line_in_a_bad_message_is_escaped() {
        let err = ClientMessage::parse(FORGED.as_bytes()).unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("malformed \"mouse_button\" message: "),
            "{text}"
        );
        assert!(text.contains(r"left\nmonitor=0"), "{text}");
        assert!(text.contains(r"\u{1b}[2J"), "{text}");
        assert!(!text.contains(['\n', '\r', '\x1b']), "{text:?}");
    }

    #[test]
    fn a_hostile_message_type_is_escaped_and_cut() {
        let kind = format!("x\n{}", "y".repeat(5000));
        let payload = serde_json::json!({ "type": kind }).to_string();
        let text = ClientMessage::parse(payload.as_bytes())
            .unwrap_err()
            .to_string();
        assert!(text.starts_with(r#"unknown message type "x\ny"#), "{text}");
        assert!(text.len() < 300, "{} bytes", text.len());
    }
}
