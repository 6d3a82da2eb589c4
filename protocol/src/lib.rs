//! The lookout wire protocol, version 1, and the TLS layer it runs in.
//!
//! This crate is the single Rust description of the contract between
//! `lookout-server` (the capture agent) and any viewer. It does no I/O: it
//! turns bytes into typed messages and typed messages into bytes, and it
//! enforces every limit before it allocates. The contract is the shared
//! protocol specification (version 2); the repository's `PROTOCOL.md`
//! describes, in the project's words, what of it this crate and the two
//! programs implement today and what they do not yet. Where this crate and
//! the contract disagree, this crate is wrong.
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
//! | `start_monitor` settings | [`STREAM_SIZE_RANGE`], [`STREAM_FPS_RANGE`], [`STREAM_QUALITY_RANGE`] (out of range: `bad_request`, not a protocol error) |
//! | `frame.rects` | 1 to [`MAX_RECTS`] = 1024, inside the frame, not overlapping |
//! | a region update's images | together at most the image limit |
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
//!   |  HC hello {challenge, binding}         |
//!   | -------------------------------------> |
//!   |                  HC auth {response}    |
//!   | <------------------------------------- |
//!   |  HC welcome {monitors, features, ...}  |   (or HC error auth_failed, close)
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
//!    random bytes as a 64-character lowercase hex [`Challenge`], and the
//!    [`BindingMode`]: `tls-exporter` on every TLS connection, `none` only
//!    without TLS.
//! 2. The viewer answers [`ClientMessage::Auth`] whose `response` is
//!    `hex(HMAC-SHA256(key = token bytes, message = challenge ‖ B))`
//!    ([`auth_response`]), where `B` ([`ChannelBinding`]) is empty for
//!    `none` and, for `tls-exporter`, the 32 bytes of the TLS 1.3 exporter
//!    with label [`EXPORTER_LABEL`] and an empty context, taken from the
//!    viewer's own connection: a proof relayed by a man in the middle, who
//!    runs two TLS connections, does not verify. A native viewer on TLS
//!    refuses a `hello` whose binding is `none`. With `"auth":"none"` the
//!    response may be empty.
//! 3. The server checks it in constant time ([`verify_response`]) and sends
//!    [`ServerMessage::Welcome`], or an `error` with code
//!    [`ErrorCode::AuthFailed`] and closes. A peer that has not finished the
//!    handshake within [`HANDSHAKE_TIMEOUT`] is dropped. Before `welcome` the
//!    server sends no image and runs no command.
//!
//! After `welcome` the viewer sends commands ([`ClientMessage`]): start and
//! stop monitoring, input (`mouse_move`, `mouse_button`, `scroll`, `key`,
//! `text`, only when `welcome.control` is true), `select_monitor` and `ping`.
//! `start_monitor` carries optional [`StreamSettings`] (feature `profiles`).
//! While the viewer is monitoring, every full frame is a
//! [`ServerMessage::Frame`] control message immediately followed by one `HT`
//! frame with the JPEG; a region update (feature `regions`, only to a viewer
//! that asked for it) is a `frame` message with `rects` followed by one `HT`
//! per [`Rect`], each painted over the viewer's picture.
//! A slow viewer is skipped to the newest image (it sees a gap in `seq`).
//!
//! # Transport: TLS 1.3, pinned
//!
//! Everything above runs inside TLS 1.3 on the same TCP port, unchanged:
//! the first bytes on the socket are the viewer's TLS ClientHello, and the
//! `hello` above is the first thing the server writes *inside* TLS. A peer
//! that does not speak TLS gets no `hello`, no image, nothing but the
//! failed handshake and a closed connection. (`lookout-server --no-tls`
//! serves the bare protocol for debugging, on a loopback address only.)
//!
//! * **Identity.** The server makes its own key and a self-signed
//!   certificate on first start and keeps them. Its identity is the
//!   certificate's [`Fingerprint`]: `sha256:` and the SHA-256 of the
//!   certificate's DER in 64 lowercase hex characters, which the server
//!   prints at every start (`fingerprint sha256:...`). The certificate's
//!   names and dates mean nothing.
//! * **Pinning.** A viewer accepts a server only if the certificate it
//!   presents has the expected fingerprint: one given by the user, or one
//!   recorded on the first connection to that `host:port` (trust on first
//!   use, as SSH does). A different fingerprint is refused before anything
//!   is sent inside TLS, so an impostor never even sees the token proof.
//! * **Signature.** Pinning replaces only the certificate-chain check. The
//!   viewer must still verify the TLS handshake signature against the pinned
//!   certificate's public key; otherwise anyone could replay the real
//!   certificate without holding its key.
//! * Only TLS 1.3 is offered and accepted; there is no client certificate
//!   (the token authenticates the viewer, and the proof is bound to the TLS
//!   connection by the exporter, see above).
//! * **ALPN.** Native viewers offer [`ALPN_LOOKOUT`] (`lookout/2`); the
//!   server treats it, and a ClientHello without ALPN, as this protocol, and
//!   never selects `h2`.
//!
//! # Roles
//!
//! A server may accept two tokens: one for full control, one for watching
//! only. The `auth` message is the same for both; the server tries each in
//! constant time, and `welcome.control` tells the viewer which it proved.
//! Input from a watch-only viewer is answered with `control_disabled`.
//!
//! # Heartbeats
//!
//! A viewer sends something at least every [`PING_INTERVAL`] (a `ping`
//! when it has nothing else to say). A server drops a viewer it has not
//! heard from for [`SILENCE_LIMIT`]; a viewer should consider a server dead
//! when it has heard nothing for the same [`SILENCE_LIMIT`] (three
//! unanswered pings: a live server answers each at once) and reconnect. Both
//! sides take these values from [`Timeouts`], which tests shorten. A server also drops a viewer that accepts no bytes for a
//! while (the lookout server's write deadline is 10 s), and may carry out
//! pointer moves at a bounded rate (the newest position wins).
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
//! * [`FramePairing`] pairs each `frame` message with the `HT` images after
//!   it ([`ServerFrame`]s in; [`EncodedFrame`]s, [`RegionUpdate`]s and other
//!   messages out), checking each `frame` message with [`check_frame`].
//! * [`StreamSettings::check`] is the range rule of `start_monitor`'s
//!   settings: a server answers its error with `bad_request`.
//! * [`Fingerprint`] computes, prints and parses a server's identity.
//! * [`Probe`] and [`Reply`] are LAN discovery's UDP datagrams (§4): sizes
//!   checked first, a reply never longer than its probe.
//! * [`untrusted::escaped`] writes text the peer chose (names, types, the
//!   bad value in a [`ProtocolError`]) escaped and cut, for logs, error
//!   messages and windows.
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
mod discovery;
mod error;
mod fingerprint;
mod frame;
mod key;
mod limits;
mod message;
mod pairing;
mod region;
mod settings;
mod tag;
pub mod untrusted;

pub use auth::{
    BindingMode, Challenge, ChannelBinding, EXPORTER_LABEL, EXPORTER_LEN, ParseChallengeError,
    auth_response, verify_response,
};
pub use discovery::{
    DiscoveryError, MAX_AGENT_NAME_CHARS, MAX_DATAGRAM_LEN, MIN_PROBE_LEN, Nonce, Probe, Reply,
};
pub use error::ProtocolError;
pub use fingerprint::{FINGERPRINT_PREFIX, Fingerprint, ParseFingerprintError};
pub use frame::{FrameDecoder, HEADER_LEN, RawFrame, encode_control, encode_image, frame_header};
pub use key::{Key, ParseKeyError};
pub use limits::{
    ALPN_LOOKOUT, DEFAULT_MAX_IMAGE_LEN, DEFAULT_PORT, HANDSHAKE_TIMEOUT, Limits, MAX_CONTROL_LEN,
    MAX_ERROR_MESSAGE_CHARS, MAX_TEXT_CHARS, PING_INTERVAL, PROTOCOL_VERSION, ParseTimeoutsError,
    SILENCE_LIMIT, Timeouts, WRITE_DEADLINE,
};
pub use message::{
    AuthMode, Button, ClientMessage, ErrorCode, MonitorInfo, ServerFrame, ServerMessage,
    StreamState,
};
pub use pairing::{
    EncodedFrame, FrameMeta, FramePairing, Paired, PairingError, RegionUpdate, Tile,
};
pub use region::{InvalidFrame, MAX_RECTS, Rect, check_frame, check_rects};
pub use settings::{
    STREAM_FPS_RANGE, STREAM_QUALITY_RANGE, STREAM_SIZE_RANGE, SettingOutOfRange, StreamSettings,
};
pub use tag::Tag;
