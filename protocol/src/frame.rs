//! Framing: `tag (2 bytes) | length (u64 LE) | payload`, decoded sans-IO.
//!
//! ```text
//! +---------+---------------------------+------------------------+
//! | tag     | length                    | payload                |
//! | 2 bytes | u64, little-endian        | `length` bytes         |
//! +---------+---------------------------+------------------------+
//! ```
//!
//! [`FrameDecoder`] keeps a `Head`/`Data(len)` state: once a header has been
//! read and checked, later calls only wait for the payload, so a large image
//! that arrives in many small reads costs one header parse.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::error::ProtocolError;
use crate::limits::Limits;
use crate::tag::Tag;

/// Size of a frame header: two tag bytes and a `u64` length.
pub const HEADER_LEN: usize = 10;

/// How much buffer the decoder reserves ahead for a payload it is waiting
/// for. Reserving the whole announced length at once would let a peer make us
/// allocate up to the limit with a ten-byte header; reserving in chunks means
/// memory follows the bytes that actually arrive.
const RESERVE_CHUNK: usize = 256 * 1024;

impl Tag {
    /// Recognises a tag, or reports the unknown bytes.
    pub fn from_bytes(bytes: [u8; 2]) -> Result<Self, ProtocolError> {
        match &bytes {
            b"HT" => Ok(Tag::Image),
            b"HC" => Ok(Tag::Control),
            _ => Err(ProtocolError::UnknownTag(bytes)),
        }
    }
}

/// One frame's payload, as it came off the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RawFrame {
    /// An `HC` payload: unparsed JSON bytes.
    Control(Bytes),
    /// An `HT` payload: the JPEG bytes, shared without copying.
    Image(Bytes),
}

/// Where the decoder is within the current frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Waiting for the ten header bytes.
    Head,
    /// Header read and checked; waiting for `len` payload bytes.
    Data { tag: Tag, len: usize },
}

/// A sans-IO frame decoder: push bytes into a `BytesMut`, pull frames out.
///
/// ```
/// use bytes::BytesMut;
/// use lookout_protocol::{FrameDecoder, Limits, RawFrame};
///
/// let mut decoder = FrameDecoder::new(Limits::viewer());
/// let mut buf = BytesMut::from(&b"HT\x03\0\0\0\0\0\0\0ab"[..]);
/// assert_eq!(decoder.decode(&mut buf).unwrap(), None); // one byte short
/// buf.extend_from_slice(b"c");
/// assert_eq!(
///     decoder.decode(&mut buf).unwrap(),
///     Some(RawFrame::Image("abc".into()))
/// );
/// ```
#[derive(Debug, Clone)]
pub struct FrameDecoder {
    limits: Limits,
    state: State,
}

impl FrameDecoder {
    /// A decoder that enforces `limits`.
    pub const fn new(limits: Limits) -> Self {
        Self {
            limits,
            state: State::Head,
        }
    }

    /// The limits this decoder enforces.
    pub const fn limits(&self) -> Limits {
        self.limits
    }

    /// Takes the next complete frame out of `buf`, if there is one.
    ///
    /// Returns `Ok(None)` when more bytes are needed. After an error the
    /// stream is unusable: the caller reports it and closes the connection.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<RawFrame>, ProtocolError> {
        let (tag, len) = match self.state {
            State::Data { tag, len } => (tag, len),
            State::Head => match self.decode_head(buf)? {
                Some(head) => head,
                None => return Ok(None),
            },
        };
        if buf.len() < len {
            // Reserve for what is still to come, a chunk at a time.
            buf.reserve((len - buf.len()).min(RESERVE_CHUNK));
            self.state = State::Data { tag, len };
            return Ok(None);
        }
        self.state = State::Head;
        let payload = buf.split_to(len).freeze();
        Ok(Some(match tag {
            Tag::Image => RawFrame::Image(payload),
            Tag::Control => RawFrame::Control(payload),
        }))
    }

    /// Reads and checks a header; consumes it only when it is complete.
    fn decode_head(&self, buf: &mut BytesMut) -> Result<Option<(Tag, usize)>, ProtocolError> {
        // The tag is checked as soon as its two bytes are in, so garbage is
        // refused without waiting for a full header.
        let Some(&[t0, t1]) = buf.get(..2) else {
            return Ok(None);
        };
        let tag = Tag::from_bytes([t0, t1])?;
        let Some(Ok(len_bytes)) = buf.get(2..HEADER_LEN).map(<[u8; 8]>::try_from) else {
            return Ok(None);
        };
        let len = check_len(tag, u64::from_le_bytes(len_bytes), &self.limits)?;
        buf.advance(HEADER_LEN);
        Ok(Some((tag, len)))
    }
}

/// Checks a payload length against the limits for its tag, before anything is
/// allocated for it.
fn check_len(tag: Tag, len: u64, limits: &Limits) -> Result<usize, ProtocolError> {
    let limit = tag.limit(limits);
    if tag == Tag::Image && limit == 0 {
        return Err(ProtocolError::UnexpectedImage);
    }
    if len == 0 {
        return Err(ProtocolError::ZeroLength(tag));
    }
    if len > limit {
        return Err(ProtocolError::TooLong { tag, len, limit });
    }
    usize::try_from(len).map_err(|_| ProtocolError::TooLong { tag, len, limit })
}

/// The ten header bytes for a payload of `len` bytes, after checking `len`
/// against `limits` (zero and over-limit lengths are refused on encode too).
///
/// For writers that send a large payload without copying it into a buffer.
pub fn frame_header(
    tag: Tag,
    len: usize,
    limits: &Limits,
) -> Result<[u8; HEADER_LEN], ProtocolError> {
    let len = u64::try_from(len).unwrap_or(u64::MAX);
    check_len(tag, len, limits)?;
    let mut header = [0u8; HEADER_LEN];
    let (tag_bytes, len_bytes) = header.split_at_mut(2);
    tag_bytes.copy_from_slice(&tag.bytes());
    len_bytes.copy_from_slice(&len.to_le_bytes());
    Ok(header)
}

/// Appends one `HC` frame holding `json` to `dst`.
pub fn encode_control(
    json: &[u8],
    limits: &Limits,
    dst: &mut BytesMut,
) -> Result<(), ProtocolError> {
    encode(Tag::Control, json, limits, dst)
}

/// Appends one `HT` frame holding `jpeg` to `dst`.
pub fn encode_image(jpeg: &[u8], limits: &Limits, dst: &mut BytesMut) -> Result<(), ProtocolError> {
    encode(Tag::Image, jpeg, limits, dst)
}

fn encode(
    tag: Tag,
    payload: &[u8],
    limits: &Limits,
    dst: &mut BytesMut,
) -> Result<(), ProtocolError> {
    let header = frame_header(tag, payload.len(), limits)?;
    dst.reserve(HEADER_LEN + payload.len());
    dst.put_slice(&header);
    dst.put_slice(payload);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::{DEFAULT_MAX_IMAGE_LEN, MAX_CONTROL_LEN};

    fn frame(tag: &[u8; 2], payload: &[u8]) -> Vec<u8> {
        let mut v = tag.to_vec();
        v.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        v.extend_from_slice(payload);
        v
    }

    fn header(tag: &[u8; 2], len: u64) -> Vec<u8> {
        let mut v = tag.to_vec();
        v.extend_from_slice(&len.to_le_bytes());
        v
    }

    #[test]
    fn header_split_across_reads_is_reassembled() {
        let bytes = frame(b"HC", br#"{"type":"start_monitor"}"#);
        let mut dec = FrameDecoder::new(Limits::viewer());
        let mut buf = BytesMut::new();
        for (i, b) in bytes.iter().enumerate() {
            buf.extend_from_slice(&[*b]);
            let out = dec.decode(&mut buf).unwrap();
            if i + 1 < bytes.len() {
                assert_eq!(out, None, "complete too early at byte {i}");
            } else {
                assert_eq!(
                    out,
                    Some(RawFrame::Control(Bytes::from_static(
                        br#"{"type":"start_monitor"}"#
                    )))
                );
            }
        }
        assert!(buf.is_empty());
    }

    #[test]
    fn payload_split_in_64k_reads_parses_header_once() {
        let payload: Vec<u8> = (0..2_000_000u32).map(|i| (i % 251) as u8).collect();
        let bytes = frame(b"HT", &payload);
        let mut dec = FrameDecoder::new(Limits::viewer());
        let mut buf = BytesMut::new();
        let mut chunks = bytes.chunks(64 * 1024);
        buf.extend_from_slice(chunks.next().unwrap());
        assert_eq!(dec.decode(&mut buf).unwrap(), None);
        // The header is consumed and remembered: the buffer holds payload only.
        assert_eq!(buf.len(), 64 * 1024 - HEADER_LEN);
        assert_eq!(
            dec.state,
            State::Data {
                tag: Tag::Image,
                len: payload.len()
            }
        );
        let mut got = None;
        for chunk in chunks {
            assert!(got.is_none());
            buf.extend_from_slice(chunk);
            got = dec.decode(&mut buf).unwrap();
        }
        assert_eq!(got, Some(RawFrame::Image(Bytes::from(payload))));
    }

    #[test]
    fn several_frames_in_one_buffer_come_out_in_order() {
        let mut bytes = frame(b"HC", br#"{"type":"ping","id":1}"#);
        bytes.extend(frame(b"HT", b"\xff\xd8jpeg"));
        bytes.extend(frame(b"HC", br#"{"type":"ping","id":2}"#));
        let mut dec = FrameDecoder::new(Limits::viewer());
        let mut buf = BytesMut::from(&bytes[..]);
        assert_eq!(
            dec.decode(&mut buf).unwrap(),
            Some(RawFrame::Control(Bytes::from_static(
                br#"{"type":"ping","id":1}"#
            )))
        );
        assert_eq!(
            dec.decode(&mut buf).unwrap(),
            Some(RawFrame::Image(Bytes::from_static(b"\xff\xd8jpeg")))
        );
        assert_eq!(
            dec.decode(&mut buf).unwrap(),
            Some(RawFrame::Control(Bytes::from_static(
                br#"{"type":"ping","id":2}"#
            )))
        );
        assert_eq!(dec.decode(&mut buf).unwrap(), None);
    }

    #[test]
    fn unknown_tag_is_refused_after_two_bytes() {
        let mut dec = FrameDecoder::new(Limits::viewer());
        let mut buf = BytesMut::from(&b"GE"[..]);
        assert!(matches!(
            dec.decode(&mut buf),
            Err(ProtocolError::UnknownTag([b'G', b'E']))
        ));
    }

    #[test]
    fn length_of_two_to_the_62_is_refused_without_growing_the_buffer() {
        for tag in [b"HT", b"HC"] {
            let mut dec = FrameDecoder::new(Limits::viewer());
            let mut buf = BytesMut::with_capacity(64);
            buf.extend_from_slice(&header(tag, 1 << 62));
            let cap = buf.capacity();
            assert!(matches!(
                dec.decode(&mut buf),
                Err(ProtocolError::TooLong { len, .. }) if len == 1 << 62
            ));
            assert_eq!(buf.capacity(), cap);
        }
    }

    #[test]
    fn huge_allowed_length_reserves_a_chunk_not_the_whole_frame() {
        let mut dec = FrameDecoder::new(Limits::viewer());
        let mut buf = BytesMut::new();
        buf.extend_from_slice(&header(b"HT", DEFAULT_MAX_IMAGE_LEN));
        assert_eq!(dec.decode(&mut buf).unwrap(), None);
        assert!(
            buf.capacity() <= 2 * RESERVE_CHUNK,
            "capacity {}",
            buf.capacity()
        );
        // Calling again with no new bytes does not grow it further.
        assert_eq!(dec.decode(&mut buf).unwrap(), None);
        assert!(
            buf.capacity() <= 2 * RESERVE_CHUNK,
            "capacity {}",
            buf.capacity()
        );
    }

    #[test]
    fn control_over_64k_is_refused() {
        let mut dec = FrameDecoder::new(Limits::viewer());
        let mut buf = BytesMut::from(&header(b"HC", MAX_CONTROL_LEN + 1)[..]);
        assert!(matches!(
            dec.decode(&mut buf),
            Err(ProtocolError::TooLong {
                tag: Tag::Control,
                limit: MAX_CONTROL_LEN,
                ..
            })
        ));
        // Exactly the limit is fine.
        let mut dec = FrameDecoder::new(Limits::viewer());
        let mut buf = BytesMut::from(&header(b"HC", MAX_CONTROL_LEN)[..]);
        assert_eq!(dec.decode(&mut buf).unwrap(), None);
    }

    #[test]
    fn zero_length_is_refused_for_both_tags() {
        for (tag, expect) in [(b"HT", Tag::Image), (b"HC", Tag::Control)] {
            let mut dec = FrameDecoder::new(Limits::viewer());
            let mut buf = BytesMut::from(&header(tag, 0)[..]);
            assert!(
                matches!(dec.decode(&mut buf), Err(ProtocolError::ZeroLength(t)) if t == expect)
            );
        }
    }

    #[test]
    fn server_refuses_images_from_a_viewer() {
        let mut dec = FrameDecoder::new(Limits::server());
        let mut buf = BytesMut::from(&frame(b"HT", b"jpeg")[..]);
        assert!(matches!(
            dec.decode(&mut buf),
            Err(ProtocolError::UnexpectedImage)
        ));
    }

    #[test]
    fn lowered_image_limit_is_enforced() {
        let limits = Limits::viewer().with_max_image_len(3);
        let mut dec = FrameDecoder::new(limits);
        let mut buf = BytesMut::from(&frame(b"HT", b"abcd")[..]);
        assert!(matches!(
            dec.decode(&mut buf),
            Err(ProtocolError::TooLong {
                len: 4,
                limit: 3,
                ..
            })
        ));
    }

    #[test]
    fn encode_refuses_empty_and_over_limit_payloads() {
        let mut dst = BytesMut::new();
        assert!(matches!(
            encode_control(b"", &Limits::viewer(), &mut dst),
            Err(ProtocolError::ZeroLength(Tag::Control))
        ));
        let big = vec![b' '; MAX_CONTROL_LEN as usize + 1];
        assert!(matches!(
            encode_control(&big, &Limits::viewer(), &mut dst),
            Err(ProtocolError::TooLong { .. })
        ));
        let limits = Limits::viewer().with_max_image_len(2);
        assert!(encode_image(b"abc", &limits, &mut dst).is_err());
        assert!(dst.is_empty(), "nothing is written on error");
    }

    #[test]
    fn frame_header_matches_encoded_frame() {
        let mut dst = BytesMut::new();
        encode_image(b"xyz", &Limits::viewer(), &mut dst).unwrap();
        let header = frame_header(Tag::Image, 3, &Limits::viewer()).unwrap();
        assert_eq!(&dst[..HEADER_LEN], &header);
        assert_eq!(&dst[HEADER_LEN..], b"xyz");
    }
}
