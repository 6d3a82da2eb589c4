//! Everything that can be wrong with bytes on the wire.

use crate::tag::Tag;

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
    #[error("control payload is not a JSON object with a \"type\": {0}")]
    InvalidJson(#[source] serde_json::Error),
    /// The `"type"` is not one this side of the protocol knows.
    #[error("unknown message type {0:?}")]
    UnknownType(String),
    /// A known `"type"` whose fields are missing or of the wrong kind.
    #[error("malformed {kind:?} message: {source}")]
    InvalidMessage {
        /// The message's `"type"`.
        kind: String,
        /// What serde found wrong.
        #[source]
        source: serde_json::Error,
    },
    /// A message that is valid but that a conforming sender never sends
    /// (for example a `text` command over [`crate::MAX_TEXT_CHARS`]).
    #[error("invalid {kind:?} message: {reason}")]
    InvalidValue {
        /// The message's `"type"`.
        kind: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
}
