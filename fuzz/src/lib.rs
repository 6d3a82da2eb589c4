//! The invariants the fuzz targets check, one function per target.
//!
//! Each function takes one fuzz input and panics when an invariant breaks;
//! inputs the decoders refuse are fine, as long as they are refused cleanly.
//! The same functions replay the seed corpus and every saved crash in
//! `protocol/tests/fuzz_regressions.rs` (which includes this file by path),
//! so keep this file free of anything but `lookout-protocol`, `bytes` and
//! `tokio-util`.
//!
//! `frame_decoder` and `handshake` read their input as
//!
//! ```text
//! config (1 byte) | chunk sizes (n bytes) | the byte stream
//! ```
//!
//! where the low three bits of `config` are `n` (0: the stream arrives in one
//! read), each size byte `s` stands for a read of `s + 1` bytes (the sizes
//! repeat until the stream is used up), and bit 3 selects the agent's limits
//! instead of the viewer's (`frame_decoder` only). `client_message` and
//! `server_message` take their input as one `HC` payload.
//!
//! The new parts of protocol 2 are reached through these same targets:
//! `start_monitor` settings (`client_message`, `handshake`), `frame.quality`
//! and `rects` (`server_message`, `handshake`), and the pairing of `frame`
//! messages with their images, region updates included (`handshake`, on
//! the viewer's side). `discovery` takes its input as one UDP datagram.

use std::fmt::Display;

use bytes::{Bytes, BytesMut};
use lookout_protocol::codec::{ServerCodec, ServerFrame, ViewerCodec};
use lookout_protocol::{
    Challenge, ChannelBinding, ClientMessage, DEFAULT_MAX_IMAGE_LEN, FrameDecoder, FramePairing,
    HEADER_LEN, Limits, MAX_DATAGRAM_LEN, MAX_TEXT_CHARS, MIN_PROBE_LEN, Paired, Probe,
    ProtocolError, RawFrame, Reply, ServerMessage, Tag, auth_response, check_frame, check_rects,
    encode_control, encode_image, verify_response,
};
use tokio_util::codec::Decoder;

/// A target's checks: panics when one fails on the input.
pub type Check = fn(&[u8]);

/// Every target by name, as `cargo fuzz` and the corpus directories call it.
pub const TARGETS: [(&str, Check); 5] = [
    ("frame_decoder", frame_decoder),
    ("client_message", client_message),
    ("server_message", server_message),
    ("handshake", handshake),
    ("discovery", discovery),
];

/// The decoder's read-ahead reservation (`RESERVE_CHUNK` in `frame.rs`,
/// which is private).
const RESERVE_CHUNK: usize = 256 * 1024;

/// `config` bit that selects [`Limits::server`] for `frame_decoder`.
const SERVER_LIMITS: u8 = 0x08;

/// The bound on a region update's images in the `handshake` target's
/// pairing: small, so that inputs of a few KiB reach it.
const FUZZ_UPDATE_LEN: u64 = 256;

/// The agent's token and challenge in the `handshake` target.
const TOKEN: &str = "fuzz-token";
const CHALLENGE: Challenge = Challenge::from_bytes([0x5a; 32]);
/// The connection's binding in the `handshake` target (a TLS exporter).
const BINDING: ChannelBinding = ChannelBinding::TlsExporter([0xa5; 32]);

/// Arbitrary bytes through [`FrameDecoder`], whole and in arbitrary reads.
///
/// * Splitting the stream into reads changes nothing: the same frames come
///   out, then the same error or none.
/// * The buffer's capacity follows the bytes that arrived, never the length a
///   header announces (up to 64 MiB with the viewer's limits).
/// * Every decoded frame is within the limits and re-encodes to exactly the
///   bytes it was decoded from.
/// * Without an error, what is left over is the start of one valid frame, not
///   a complete one.
pub fn frame_decoder(data: &[u8]) {
    let Some((&config, rest)) = data.split_first() else {
        return;
    };
    let limits = if config & SERVER_LIMITS == 0 {
        Limits::viewer()
    } else {
        Limits::server()
    };
    let (sizes, wire) = chunk_sizes(config, rest);
    let decode = |sizes: &[usize]| {
        let mut decoder = FrameDecoder::new(limits);
        decode_stream(wire, sizes, |buf| decoder.decode(buf))
    };
    let whole = decode(&[]);
    assert_eq!(
        whole,
        decode(&sizes),
        "the split into reads changed the result"
    );

    let mut again = BytesMut::new();
    for frame in &whole.items {
        match frame {
            RawFrame::Control(payload) => encode_control(payload, &limits, &mut again),
            RawFrame::Image(payload) => encode_image(payload, &limits, &mut again),
        }
        .unwrap_or_else(|err| panic!("a decoded frame does not re-encode: {err}"));
    }
    assert!(
        wire.starts_with(&again),
        "decoded frames do not re-encode to the bytes they came from"
    );

    let rest = wire.get(again.len()..).unwrap_or_default();
    if whole.error.is_some() {
        assert!(rest.len() >= 2, "an error before a whole tag arrived");
        return;
    }
    if let Some(&[t0, t1]) = rest.get(..2) {
        let tag = Tag::from_bytes([t0, t1])
            .unwrap_or_else(|err| panic!("an unknown tag was left undecoded: {err}"));
        if let Some(Ok(len)) = rest.get(2..HEADER_LEN).map(<[u8; 8]>::try_from) {
            let len = u64::from_le_bytes(len);
            assert!(
                len != 0 && len <= tag.limit(&limits),
                "a bad length was accepted"
            );
            assert!(
                len > (rest.len() - HEADER_LEN) as u64,
                "a complete frame was left undecoded"
            );
        }
    }
}

/// Arbitrary bytes as a viewer's `HC` payload, through
/// [`ClientMessage::parse`].
///
/// A message that parses encodes (unless it is a `text` over
/// [`MAX_TEXT_CHARS`], which parses so that the agent can answer
/// `bad_request`, but which a viewer never sends) into one `HC` frame that
/// parses back to the same message. A refusal is the right kind of error.
pub fn client_message(data: &[u8]) {
    match ClientMessage::parse(data) {
        Ok(msg) => client_round_trip(&msg),
        Err(err) => check_refusal(data, &err, ClientMessage::TYPES),
    }
}

/// Arbitrary bytes as a server's `HC` payload, through
/// [`ServerMessage::parse`].
///
/// A message that parses encodes into one `HC` frame that parses back to the
/// same message. A refusal is the right kind of error.
pub fn server_message(data: &[u8]) {
    match ServerMessage::parse(data) {
        Ok(msg) => server_round_trip(&msg),
        Err(err) => check_refusal(data, &err, ServerMessage::TYPES),
    }
}

/// Arbitrary bytes through both ends of a connection, whole and in arbitrary
/// reads.
///
/// * The agent's [`ServerCodec`], which reads the viewer's `auth` before
///   anything is authenticated: an `auth` verifies against the agent's token
///   and challenge exactly when its response is the right one, and every
///   message round-trips.
/// * The viewer's [`ViewerCodec`], which reads `hello` and everything after:
///   every control message round-trips and every image is within the limit.
/// * What the viewer read, through a [`FramePairing`] that accepts region
///   updates, bounded at [`FUZZ_UPDATE_LEN`] bytes: see [`check_pairing`].
///
/// For both, splitting the stream into reads changes nothing, and buffers
/// follow the bytes that arrived.
pub fn handshake(data: &[u8]) {
    let Some((&config, rest)) = data.split_first() else {
        return;
    };
    let (sizes, wire) = chunk_sizes(config, rest);

    let agent = |sizes: &[usize]| {
        let mut codec = ServerCodec::default();
        decode_stream(wire, sizes, |buf| codec.decode(buf))
    };
    let read = agent(&[]);
    assert_eq!(
        read,
        agent(&sizes),
        "the split into reads changed the result"
    );
    for msg in &read.items {
        if let ClientMessage::Auth { response, .. } = msg {
            check_response(response);
        }
        client_round_trip(msg);
    }

    let viewer = |sizes: &[usize]| {
        let mut codec = ViewerCodec::default();
        decode_stream(wire, sizes, |buf| codec.decode(buf))
    };
    let read = viewer(&[]);
    assert_eq!(
        read,
        viewer(&sizes),
        "the split into reads changed the result"
    );
    for frame in &read.items {
        match frame {
            ServerFrame::Control(msg) => server_round_trip(msg),
            ServerFrame::Image(jpeg) => assert!(
                !jpeg.is_empty() && jpeg.len() as u64 <= DEFAULT_MAX_IMAGE_LEN,
                "an image of {} bytes was accepted",
                jpeg.len()
            ),
        }
    }
    check_pairing(&read.items);
}

/// Pairs the viewer's frames as a viewer that asked for region updates.
///
/// Whatever comes out is whole: a full frame with a valid quality; a region
/// update with one tile per announced rect, in order, rects that pass
/// [`check_rects`], and images within the bound together. Every image is
/// accounted for: paired into an update, still awaited, or refused.
fn check_pairing(frames: &[ServerFrame]) {
    let limits = Limits::viewer().with_max_image_len(FUZZ_UPDATE_LEN);
    let mut pairing = FramePairing::with_limits(&limits);
    pairing.set_regions(true);
    let (mut images_in, mut images_out) = (0usize, 0usize);
    for frame in frames {
        if matches!(frame, ServerFrame::Image(_)) {
            images_in += 1;
        }
        let announced = match frame {
            ServerFrame::Control(ServerMessage::Frame { rects, .. }) => Some(rects.clone()),
            _ => None,
        };
        match pairing.push(frame.clone()) {
            Err(_) => return,
            Ok(None) => {}
            Ok(Some(Paired::Frame(full))) => {
                images_out += 1;
                assert!(check_frame(1, 1, full.meta.quality, None).is_ok());
            }
            Ok(Some(Paired::Region(update))) => {
                images_out += update.tiles.len();
                let rects: Vec<_> = update.tiles.iter().map(|t| t.rect).collect();
                assert!(
                    check_rects(&rects, update.meta.width, update.meta.height).is_ok(),
                    "a region update with bad rects came out: {rects:?}"
                );
                let len: usize = update.tiles.iter().map(|t| t.jpeg.len()).sum();
                assert!(
                    len as u64 <= FUZZ_UPDATE_LEN,
                    "a region update of {len} bytes came out"
                );
            }
            Ok(Some(Paired::Message(msg))) => {
                assert!(
                    announced.is_none(),
                    "a frame message passed through: {msg:?}"
                );
            }
            Ok(Some(Paired::Superseded(_))) => {
                assert!(
                    matches!(announced, Some(None)),
                    "only a full frame's message supersedes"
                );
            }
        }
    }
    let held = pairing.pending().is_some();
    assert!(
        images_out == images_in || (held && images_out < images_in),
        "{images_in} images in, {images_out} paired, an update held: {held}"
    );
}

/// Checks that `response` verifies against the agent's token and challenge
/// exactly when it is the correct response.
///
/// The fuzzer cannot guess 64 hex characters, so a shorter response is also
/// tried as an edit of the correct one: in place of its start, and in place
/// of its end. `""` then stands for the correct response, `"F"` for the
/// correct one with its first digit in upper case, and so on.
fn check_response(response: &str) {
    let expected = auth_response(TOKEN, &CHALLENGE, &BINDING);
    let mut candidates = vec![response.to_owned()];
    if let Some(tail) = expected.get(response.len()..) {
        candidates.push(format!("{response}{tail}"));
    }
    if let Some(head) = expected.get(..expected.len().saturating_sub(response.len())) {
        candidates.push(format!("{head}{response}"));
    }
    for candidate in candidates {
        assert_eq!(
            verify_response(TOKEN, &CHALLENGE, &BINDING, &candidate),
            candidate == expected,
            "verify_response is wrong about {candidate:?}"
        );
    }
}

/// Splits `rest` into the read sizes that `config` announces and the stream.
fn chunk_sizes(config: u8, rest: &[u8]) -> (Vec<usize>, &[u8]) {
    let (sizes, wire) = rest.split_at(usize::from(config & 0x07).min(rest.len()));
    (sizes.iter().map(|&s| usize::from(s) + 1).collect(), wire)
}

/// What a decoder made of a stream: its items, then the error that ended it
/// (as text: errors are not comparable).
#[derive(Debug, PartialEq)]
struct Decoded<T> {
    items: Vec<T>,
    error: Option<String>,
}

/// Feeds `wire` to `decode` in reads of `sizes` (cycled; empty: one read),
/// taking every item out after each read, until the stream ends or the first
/// error.
///
/// After every call the buffer's capacity is checked: at most one reserve
/// chunk past what arrived, doubled because `BytesMut` grows geometrically.
/// Fuzz inputs are a few KiB, so this fails if a decoder reserves for a
/// header's announced length instead.
fn decode_stream<T, E: Display>(
    wire: &[u8],
    sizes: &[usize],
    mut decode: impl FnMut(&mut BytesMut) -> Result<Option<T>, E>,
) -> Decoded<T> {
    let mut buf = BytesMut::new();
    let mut items = Vec::new();
    let mut reads = sizes.iter().copied().cycle();
    let mut fed = 0;
    while fed < wire.len() {
        let end = reads
            .next()
            .map_or(wire.len(), |n| (fed + n).min(wire.len()));
        buf.extend_from_slice(wire.get(fed..end).unwrap_or_default());
        fed = end;
        loop {
            let result = decode(&mut buf);
            assert!(
                buf.capacity() <= 2 * (fed + RESERVE_CHUNK),
                "buffer capacity {} after {fed} bytes arrived",
                buf.capacity()
            );
            match result {
                Ok(Some(item)) => items.push(item),
                Ok(None) => break,
                Err(err) => {
                    return Decoded {
                        items,
                        error: Some(err.to_string()),
                    };
                }
            }
        }
    }
    Decoded { items, error: None }
}

/// Encodes a parsed viewer message and parses it back.
///
/// Two kinds of message parse but are refused on encode, because a viewer
/// never sends them and the agent must still answer them with
/// `bad_request`: a `text` over [`MAX_TEXT_CHARS`], and a `start_monitor`
/// whose settings fail their range check.
fn client_round_trip(msg: &ClientMessage) {
    let mut wire = BytesMut::new();
    let out_of_range = match msg {
        ClientMessage::StartMonitor(settings) => settings.check().err(),
        _ => None,
    };
    if let Err(err) = msg.encode(&mut wire) {
        let long_text = matches!(
            msg,
            ClientMessage::Text { text } if text.chars().count() > MAX_TEXT_CHARS
        );
        let expected = match (&err, &out_of_range) {
            (ProtocolError::InvalidValue { .. }, _) => long_text,
            (ProtocolError::SettingOutOfRange(got), Some(checked)) => got == checked,
            _ => false,
        };
        assert!(expected, "{msg:?} parsed but does not encode: {err}");
        assert!(wire.is_empty(), "a refused message left bytes behind");
        return;
    }
    assert!(
        out_of_range.is_none(),
        "a setting out of range was encoded: {msg:?}"
    );
    let json = one_control_frame(&mut wire, Limits::server());
    match ClientMessage::parse(&json) {
        Ok(again) => assert_eq!(&again, msg, "the round trip changed the message"),
        Err(err) => panic!("{msg:?} encodes to something that does not parse: {err}"),
    }
}

/// Encodes a parsed server message and parses it back.
///
/// A `frame` that [`check_frame`] refuses parses (the viewer's pairing
/// refuses it, as a protocol error) but is never encoded; everything else
/// encodes.
fn server_round_trip(msg: &ServerMessage) {
    let mut wire = BytesMut::new();
    let invalid_frame = match msg {
        ServerMessage::Frame {
            width,
            height,
            quality,
            rects,
            ..
        } => check_frame(*width, *height, *quality, rects.as_deref()).err(),
        _ => None,
    };
    if let Err(err) = msg.encode(&mut wire) {
        assert!(
            matches!((&err, &invalid_frame), (ProtocolError::InvalidFrame(got), Some(checked)) if got == checked),
            "{msg:?} parsed but does not encode: {err}"
        );
        assert!(wire.is_empty(), "a refused message left bytes behind");
        return;
    }
    assert!(
        invalid_frame.is_none(),
        "a frame a viewer must refuse was encoded: {msg:?}"
    );
    let json = one_control_frame(&mut wire, Limits::viewer());
    match ServerMessage::parse(&json) {
        Ok(again) => assert_eq!(&again, msg, "the round trip changed the message"),
        Err(err) => panic!("{msg:?} encodes to something that does not parse: {err}"),
    }
}

/// The payload of `wire`, which must be exactly one `HC` frame.
fn one_control_frame(wire: &mut BytesMut, limits: Limits) -> Bytes {
    match FrameDecoder::new(limits).decode(wire) {
        Ok(Some(RawFrame::Control(json))) if wire.is_empty() => json,
        other => panic!("an encoded message is not one control frame: {other:?}"),
    }
}

/// A payload was refused: check that the error says why correctly.
fn check_refusal(data: &[u8], err: &ProtocolError, known: &[&str]) {
    assert_eq!(
        matches!(err, ProtocolError::InvalidUtf8(_)),
        std::str::from_utf8(data).is_err(),
        "UTF-8 misjudged: {err}"
    );
    match err {
        ProtocolError::UnknownType(kind) => assert!(
            kind.chars().count() <= 64 && !known.contains(&kind.as_str()),
            "a bad unknown type: {kind:?}"
        ),
        ProtocolError::InvalidMessage { kind, .. } => assert!(
            known.contains(&kind.as_str()),
            "a malformed message of unknown type {kind:?}"
        ),
        ProtocolError::InvalidUtf8(_) | ProtocolError::InvalidJson(_) => {}
        other => panic!("parsing cannot fail with {other:?}"),
    }
}

/// Arbitrary bytes as one discovery datagram (§4), read as a probe (what
/// an agent reads from anyone) and as a reply (what a viewer reads from
/// anyone).
///
/// * Nothing outside [`MIN_PROBE_LEN`]..=[`MAX_DATAGRAM_LEN`] bytes is a
///   probe, and nothing past [`MAX_DATAGRAM_LEN`] is a reply.
/// * A probe that parses re-encodes to a probe that parses to the same
///   value, and the reply an agent makes to it, whatever its name, fits in
///   the datagram that asked.
/// * A reply that parses re-encodes to a reply that parses to the same
///   value.
pub fn discovery(data: &[u8]) {
    if let Ok(probe) = Probe::parse(data) {
        assert!((MIN_PROBE_LEN..=MAX_DATAGRAM_LEN).contains(&data.len()));
        assert_eq!(Probe::parse(&probe.encode()), Ok(probe));
        // The name: the input's text, however long (the encoder cuts it).
        let name = String::from_utf8_lossy(data).into_owned();
        let reply = Reply {
            protocol: 2,
            nonce: probe.nonce,
            name,
            port: 6868,
            fingerprint: lookout_protocol::Fingerprint::of_certificate(data),
            auth: lookout_protocol::AuthMode::Token,
            monitors: u32::try_from(data.len()).unwrap_or(u32::MAX),
        };
        let bytes = reply.encode(data.len()).expect("a reply fits any probe");
        assert!(bytes.len() <= data.len(), "a reply longer than its probe");
        let back = Reply::parse(&bytes);
        // The cut name may end up empty or hold control characters,
        // which a viewer refuses; anything that parses is the reply.
        if let Ok(back) = back {
            assert_eq!(back.nonce, probe.nonce);
            assert!(reply.name.starts_with(&back.name));
        }
    }
    if let Ok(reply) = Reply::parse(data) {
        assert!(data.len() <= MAX_DATAGRAM_LEN);
        let bytes = reply
            .encode(MAX_DATAGRAM_LEN)
            .expect("a parsed reply re-encodes");
        assert_eq!(Reply::parse(&bytes), Ok(reply));
    }
}
