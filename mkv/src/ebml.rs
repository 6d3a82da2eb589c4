//! EBML, the binary format under Matroska: element ids, variable-length
//! sizes, and elements built into a byte buffer. Pure: no I/O.

/// The size that means "unknown": the element runs until its parent ends
/// or an element that cannot be its child begins. A file cut at any byte
/// is still a valid prefix of one with unknown-size segment and clusters.
pub const UNKNOWN_SIZE: [u8; 8] = [0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF];

/// The largest size a variable-length int of 8 bytes holds (all ones is
/// reserved for "unknown").
pub const MAX_SIZE: u64 = (1 << 56) - 2;

/// Writes `id` as it is written in the specification: its marker bit is
/// part of the id, so the bytes are the id's big-endian bytes without the
/// leading zeros.
pub fn put_id(out: &mut Vec<u8>, id: u32) {
    let bytes = id.to_be_bytes();
    let skip = bytes.iter().take_while(|&&b| b == 0).count().min(3);
    out.extend_from_slice(&bytes[skip..]);
}

/// Writes `size` as an EBML variable-length int in the fewest bytes (1 to
/// 8), never as the all-ones value that means "unknown".
///
/// # Panics
/// When `size` exceeds [`MAX_SIZE`]: no element we write comes near it.
pub fn put_size(out: &mut Vec<u8>, size: u64) {
    assert!(size <= MAX_SIZE, "EBML size {size} too large");
    let len = (1..=8u32)
        .find(|&n| size < (1u64 << (7 * n)) - 1)
        .unwrap_or(8);
    put_size_in(out, size, len);
}

/// Writes `size` as a variable-length int of exactly `len` bytes (for a
/// size rewritten in place later, which must keep its length).
pub fn put_size_in(out: &mut Vec<u8>, size: u64, len: u32) {
    debug_assert!((1..=8).contains(&len) && size < (1u64 << (7 * len)) - 1);
    let marked = size | (1u64 << (7 * len));
    out.extend_from_slice(&marked.to_be_bytes()[(8 - len as usize)..]);
}

/// An element with `body` as its content.
pub fn element(out: &mut Vec<u8>, id: u32, body: &[u8]) {
    put_id(out, id);
    put_size(out, body.len() as u64);
    out.extend_from_slice(body);
}

/// An unsigned integer element in the fewest bytes (at least one).
pub fn uint(out: &mut Vec<u8>, id: u32, value: u64) {
    let bytes = value.to_be_bytes();
    let skip = bytes.iter().take_while(|&&b| b == 0).count().min(7);
    element(out, id, &bytes[skip..]);
}

/// A float element, 8 bytes.
pub fn float(out: &mut Vec<u8>, id: u32, value: f64) {
    element(out, id, &value.to_be_bytes());
}

/// A string element (ASCII or UTF-8).
pub fn string(out: &mut Vec<u8>, id: u32, value: &str) {
    element(out, id, value.as_bytes());
}

/// A master element whose children `fill` writes.
pub fn master(out: &mut Vec<u8>, id: u32, fill: impl FnOnce(&mut Vec<u8>)) {
    let mut body = Vec::new();
    fill(&mut body);
    element(out, id, &body);
}

/// A Void element of exactly `total` bytes (id, size and padding), to
/// reserve room rewritten later. `total` is at least 2 and at most
/// 2^14 + 1 (a 2-byte size for every total above 128).
pub fn void(out: &mut Vec<u8>, total: usize) {
    debug_assert!((2..=16_000).contains(&total));
    put_id(out, ids::VOID);
    if total - 2 < 127 {
        put_size_in(out, (total - 2) as u64, 1);
        out.resize(out.len() + total - 2, 0);
    } else {
        put_size_in(out, (total - 3) as u64, 2);
        out.resize(out.len() + total - 3, 0);
    }
}

/// The element ids we write (Matroska specification, RFC 9559).
pub mod ids {
    #![allow(missing_docs)]
    pub const EBML: u32 = 0x1A45_DFA3;
    pub const EBML_VERSION: u32 = 0x4286;
    pub const EBML_READ_VERSION: u32 = 0x42F7;
    pub const EBML_MAX_ID_LENGTH: u32 = 0x42F2;
    pub const EBML_MAX_SIZE_LENGTH: u32 = 0x42F3;
    pub const DOC_TYPE: u32 = 0x4282;
    pub const DOC_TYPE_VERSION: u32 = 0x4287;
    pub const DOC_TYPE_READ_VERSION: u32 = 0x4285;
    pub const VOID: u32 = 0xEC;
    pub const SEGMENT: u32 = 0x1853_8067;
    pub const SEEK_HEAD: u32 = 0x114D_9B74;
    pub const SEEK: u32 = 0x4DBB;
    pub const SEEK_ID: u32 = 0x53AB;
    pub const SEEK_POSITION: u32 = 0x53AC;
    pub const INFO: u32 = 0x1549_A966;
    pub const TIMESTAMP_SCALE: u32 = 0x2AD7B1;
    pub const DURATION: u32 = 0x4489;
    pub const MUXING_APP: u32 = 0x4D80;
    pub const WRITING_APP: u32 = 0x5741;
    pub const TRACKS: u32 = 0x1654_AE6B;
    pub const TRACK_ENTRY: u32 = 0xAE;
    pub const TRACK_NUMBER: u32 = 0xD7;
    pub const TRACK_UID: u32 = 0x73C5;
    pub const TRACK_TYPE: u32 = 0x83;
    pub const FLAG_LACING: u32 = 0x9C;
    pub const DEFAULT_DURATION: u32 = 0x23_E383;
    pub const CODEC_ID: u32 = 0x86;
    pub const VIDEO: u32 = 0xE0;
    pub const PIXEL_WIDTH: u32 = 0xB0;
    pub const PIXEL_HEIGHT: u32 = 0xBA;
    pub const CLUSTER: u32 = 0x1F43_B675;
    pub const TIMESTAMP: u32 = 0xE7;
    pub const SIMPLE_BLOCK: u32 = 0xA3;
    pub const CUES: u32 = 0x1C53_BB6B;
    pub const CUE_POINT: u32 = 0xBB;
    pub const CUE_TIME: u32 = 0xB3;
    pub const CUE_TRACK_POSITIONS: u32 = 0xB7;
    pub const CUE_TRACK: u32 = 0xF7;
    pub const CUE_CLUSTER_POSITION: u32 = 0xF1;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(f: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
        let mut out = Vec::new();
        f(&mut out);
        out
    }

    #[test]
    fn sizes_are_variable_length_ints_in_the_fewest_bytes() {
        assert_eq!(bytes(|o| put_size(o, 0)), [0x80]);
        assert_eq!(bytes(|o| put_size(o, 1)), [0x81]);
        // 127 in one byte would be all ones, "unknown": it takes two.
        assert_eq!(bytes(|o| put_size(o, 126)), [0xFE]);
        assert_eq!(bytes(|o| put_size(o, 127)), [0x40, 0x7F]);
        assert_eq!(bytes(|o| put_size(o, 300)), [0x41, 0x2C]);
        assert_eq!(bytes(|o| put_size(o, 16_382)), [0x7F, 0xFE]);
        assert_eq!(bytes(|o| put_size(o, 16_383)), [0x20, 0x3F, 0xFF]);
        assert_eq!(bytes(|o| put_size_in(o, 5, 8)), [1, 0, 0, 0, 0, 0, 0, 5]);
    }

    #[test]
    fn ids_keep_their_marker_bits() {
        assert_eq!(bytes(|o| put_id(o, ids::SIMPLE_BLOCK)), [0xA3]);
        assert_eq!(bytes(|o| put_id(o, ids::DOC_TYPE)), [0x42, 0x82]);
        assert_eq!(
            bytes(|o| put_id(o, ids::TIMESTAMP_SCALE)),
            [0x2A, 0xD7, 0xB1]
        );
        assert_eq!(bytes(|o| put_id(o, ids::SEGMENT)), [0x18, 0x53, 0x80, 0x67]);
    }

    #[test]
    fn elements_are_id_size_body() {
        assert_eq!(bytes(|o| uint(o, ids::TRACK_TYPE, 1)), [0x83, 0x81, 0x01]);
        assert_eq!(bytes(|o| uint(o, ids::FLAG_LACING, 0)), [0x9C, 0x81, 0x00]);
        assert_eq!(
            bytes(|o| uint(o, ids::TIMESTAMP_SCALE, 1_000_000)),
            [0x2A, 0xD7, 0xB1, 0x83, 0x0F, 0x42, 0x40]
        );
        assert_eq!(
            bytes(|o| string(o, ids::DOC_TYPE, "matroska")),
            [
                0x42, 0x82, 0x88, b'm', b'a', b't', b'r', b'o', b's', b'k', b'a'
            ]
        );
        assert_eq!(
            bytes(|o| float(o, ids::DURATION, 1.5)),
            [0x44, 0x89, 0x88, 0x3F, 0xF8, 0, 0, 0, 0, 0, 0]
        );
    }

    #[test]
    fn a_void_takes_exactly_the_room_asked_for() {
        for total in [2, 3, 128, 129, 130, 200, 4096] {
            let v = bytes(|o| void(o, total));
            assert_eq!(v.len(), total, "total {total}");
            assert_eq!(v[0], 0xEC);
        }
    }
}
