//! The lookout wire protocol, version 1.
//!
//! This crate is the single Rust description of the contract between
//! `lookout-server` (the capture agent) and any viewer. It does no I/O: it
//! turns bytes into typed messages and typed messages into bytes, and it
//! enforces every limit before it allocates. The authoritative text is the
//! project's `PROTOCOL.md`; where this crate and that page disagree, this crate
//! is wrong.
//!
//! # Framing
//!
//! Both directions are a stream of frames. A frame is a two-byte ASCII tag, a
//! 64-bit little-endian payload length, then the payload:
//!
//! ```text
//!  0      2                              10                    10+len
//!  +------+------------------------------+---------------------+
//!  | tag  | len: u64, little-endian      | payload (len bytes) |
//!  +------+------------------------------+---------------------+
//!
//!  "HT" = 0x48 0x54   server -> viewer   one baseline JPEG image
//!  "HC" = 0x48 0x43   both directions    one UTF-8 JSON object with a "type"
//! ```
//!
//! For example, the control message `{"type":"ping","id":7}` (22 bytes) is
//! sent as
//!
//! ```text
//! 48 43  16 00 00 00 00 00 00 00  7b 22 74 79 70 65 22 3a ...
//! "HC"   len = 22                 {"type": ...
//! ```
//!
//! `HT` frames are byte-identical to the image frames of the Qt monitor the
//! project descends from, so a legacy client that scans for `"HT"` still
//! decodes them.
//!
//! # Limits
//!
//! A receiver checks the announced length against its limit *before* it
//! reserves memory for the payload, and senders check the same limits so that
//! we never put a frame on the wire that a conforming peer must reject:
//!
//! | what | limit |
//! |---|---|
//! | `HC` payload | [`MAX_CONTROL_LEN`] = 64 KiB |
//! | `HT` payload | [`DEFAULT_MAX_IMAGE_LEN`] = 64 MiB (a viewer may choose another via [`Limits`]) |
//! | any payload | length 0 is invalid |
//! | `text` command | [`MAX_TEXT_CHARS`] = 1024 characters |
//!
//! An unknown tag, an over-limit or zero length, invalid UTF-8 or JSON, or an
//! unknown `"type"` is a [`ProtocolError`]. The receiver answers (when it can)
//! with an `error` message of code [`ErrorCode::Protocol`] and closes that one
//! connection. Nothing in this crate panics on any input.
//!
//! # Session
//!
//! ```text
//! server                                   viewer
//!   |  HC hello {challenge}                  |
//!   | -------------------------------------> |
//!   |                  HC auth {response}    |
//!   | <------------------------------------- |
//!   |  HC welcome {monitors, control, ...}   |   (or HC error auth_failed, close)
//!   | -------------------------------------> |
//!   |                  HC start_monitor      |
//!   | <------------------------------------- |
//!   |  HC frame {seq, ...}  then  HT <jpeg>  |   repeated while monitoring
//!   | -------------------------------------> |
//!   |          HC mouse_move / key / ...     |   any time after welcome
//!   | <------------------------------------- |
//! ```
//!
//! 1. On accept the server sends [`ServerMessage::Hello`] carrying 32 fresh
//!    random bytes as a 64-character lowercase hex [`Challenge`].
//! 2. The viewer answers [`ClientMessage::Auth`] whose `response` is
//!    `hex(HMAC-SHA256(key = token bytes, message = the 32 raw challenge bytes))`
//!    ([`auth_response`]); with `"auth":"none"` it may be empty.
//! 3. The server checks it in constant time ([`verify_response`]) and sends
//!    [`ServerMessage::Welcome`], or an `error` with code
//!    [`ErrorCode::AuthFailed`] and closes. A peer that has not finished the
//!    handshake within [`HANDSHAKE_TIMEOUT`] is dropped. Before `welcome` the
//!    server sends no image and runs no command.
//!
//! After `welcome` the viewer sends commands ([`ClientMessage`]): start and
//! stop monitoring, input (`mouse_move`, `mouse_button`, `scroll`, `key`,
//! `text`, only when `welcome.control` is true), `select_monitor` and `ping`.
//! While the viewer is monitoring, every image is a [`ServerMessage::Frame`]
//! control message immediately followed by one `HT` frame with the JPEG.
//! A slow viewer is skipped to the newest image (it sees a gap in `seq`).
//!
//! # Using the crate
//!
//! * [`FrameDecoder`] is the sans-IO decoder: feed it a `BytesMut`, get
//!   [`RawFrame`]s. Its `Head`/`Data` state means a 2 MB image arriving in
//!   64 KiB reads is parsed once.
//! * [`ServerMessage::parse`] / [`ClientMessage::parse`] turn an `HC` payload
//!   into a typed message; [`encode_control`] and [`encode_image`] write
//!   frames; [`frame_header`] gives the ten header bytes for writers that
//!   send the payload without copying it.
//! * With the default `codec` feature, [`codec::ServerCodec`] and
//!   [`codec::ViewerCodec`] adapt all of this to `tokio_util::codec`.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

mod auth;
#[cfg(feature = "codec")]
pub mod codec;
mod error;
mod fingerprint;
mod frame;
mod key;
mod limits;
mod message;

pub use auth::{Challenge, ParseChallengeError, auth_response, verify_response};
pub use error::ProtocolError;
pub use fingerprint::{FINGERPRINT_PREFIX, Fingerprint, ParseFingerprintError};
pub use frame::{
    FrameDecoder, HEADER_LEN, RawFrame, Tag, encode_control, encode_image, frame_header,
};
pub use key::{Key, ParseKeyError};
pub use limits::{
    DEFAULT_MAX_IMAGE_LEN, DEFAULT_PORT, HANDSHAKE_TIMEOUT, Limits, MAX_CONTROL_LEN,
    MAX_TEXT_CHARS, PING_INTERVAL, PROTOCOL_VERSION, SILENCE_LIMIT,
};
pub use message::{AuthMode, Button, ClientMessage, ErrorCode, MonitorInfo, ServerMessage};
