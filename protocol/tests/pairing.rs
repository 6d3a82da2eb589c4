//! `FramePairing` behind the sans-IO decoder, fed the bytes of a stream in
//! every split: full frames and region updates come out whole and the same,
//! wherever the reads end.

use bytes::{Bytes, BytesMut};
use lookout_protocol::{
    EncodedFrame, FrameDecoder, FrameMeta, FramePairing, Limits, Paired, RawFrame, Rect,
    RegionUpdate, ServerFrame, ServerMessage, Tile, encode_image,
};

/// Decodes `wire` fed in reads of `sizes` (cycled) through a decoder,
/// `ServerMessage::parse` and a pairing that accepts regions; everything
/// paired, or the first error as text.
pub(crate) fn pair_in_reads(wire: &[u8], sizes: &[usize]) -> Result<Vec<Paired>, String> {
    let limits = Limits::viewer();
    let mut decoder = FrameDecoder::new(limits);
    let mut pairing = FramePairing::with_limits(&limits);
    pairing.set_regions(true);
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    let mut rest = wire;
    let mut sizes = sizes.iter().cycle();
    while !rest.is_empty() {
        let n = sizes.next().map_or(rest.len(), |&n| n.clamp(1, rest.len()));
        let (read, later) = rest.split_at(n);
        buf.extend_from_slice(read);
        rest = later;
        while let Some(raw) = decoder.decode(&mut buf).map_err(|e| e.to_string())? {
            let frame = match raw {
                RawFrame::Control(json) => {
                    ServerFrame::Control(ServerMessage::parse(&json).map_err(|e| e.to_string())?)
                }
                RawFrame::Image(jpeg) => ServerFrame::Image(jpeg),
            };
            if let Some(paired) = pairing.push(frame).map_err(|e| e.to_string())? {
                out.push(paired);
            }
        }
    }
    if !buf.is_empty() || pairing.pending().is_some() {
        return Err("the stream ended inside an update".into());
    }
    Ok(out)
}

fn frame(seq: u64, rects: Option<Vec<Rect>>) -> ServerMessage {
    ServerMessage::Frame {
        seq,
        width: 64,
        height: 32,
        captured_at_us: 7,
        quality: 80,
        rects,
    }
}

fn meta(seq: u64) -> FrameMeta {
    FrameMeta {
        seq,
        width: 64,
        height: 32,
        captured_at_us: 7,
        quality: 80,
    }
}

/// A full frame, a pong, a region update of three rects with a pong inside
/// it, and another full frame; and what pairing them must give.
fn stream() -> (Vec<u8>, Vec<Paired>) {
    let rects = vec![
        Rect::new(0, 0, 16, 16),
        Rect::new(16, 0, 48, 8),
        Rect::new(0, 16, 64, 16),
    ];
    let jpegs: [&[u8]; 5] = [b"full-1", b"tile-a", b"tile-bb", b"tile-ccc", b"full-3"];
    let pong = ServerMessage::Pong { id: 5 };
    let mut wire = BytesMut::new();
    let image = |wire: &mut BytesMut, jpeg: &[u8]| {
        encode_image(jpeg, &Limits::viewer(), wire).unwrap();
    };
    frame(1, None).encode(&mut wire).unwrap();
    image(&mut wire, jpegs[0]);
    pong.encode(&mut wire).unwrap();
    frame(2, Some(rects.clone())).encode(&mut wire).unwrap();
    image(&mut wire, jpegs[1]);
    pong.encode(&mut wire).unwrap();
    image(&mut wire, jpegs[2]);
    image(&mut wire, jpegs[3]);
    frame(3, None).encode(&mut wire).unwrap();
    image(&mut wire, jpegs[4]);

    let full = |seq, jpeg: &'static [u8]| {
        Paired::Frame(EncodedFrame {
            meta: meta(seq),
            jpeg: Bytes::from_static(jpeg),
        })
    };
    let tiles = rects
        .into_iter()
        .zip(&jpegs[1..4])
        .map(|(rect, jpeg)| Tile {
            rect,
            jpeg: Bytes::copy_from_slice(jpeg),
        })
        .collect();
    let expected = vec![
        full(1, jpegs[0]),
        Paired::Message(pong.clone()),
        Paired::Message(pong),
        Paired::Region(RegionUpdate {
            meta: meta(2),
            tiles,
        }),
        full(3, jpegs[4]),
    ];
    (wire.to_vec(), expected)
}

#[test]
fn updates_split_at_every_byte_pair_the_same() {
    let (wire, expected) = stream();
    assert_eq!(pair_in_reads(&wire, &[]), Ok(expected.clone()));
    // One byte a read.
    assert_eq!(pair_in_reads(&wire, &[1]), Ok(expected.clone()));
    // Two reads, split at every position.
    for split in 1..wire.len() {
        assert_eq!(
            pair_in_reads(&wire, &[split, wire.len()]),
            Ok(expected.clone()),
            "split at byte {split}"
        );
    }
}

#[test]
fn a_region_update_cut_short_by_a_frame_message_fails_in_every_split() {
    let mut wire = BytesMut::new();
    let rects = vec![Rect::new(0, 0, 1, 1), Rect::new(1, 0, 1, 1)];
    frame(1, Some(rects)).encode(&mut wire).unwrap();
    encode_image(b"a", &Limits::viewer(), &mut wire).unwrap();
    frame(2, None).encode(&mut wire).unwrap();
    encode_image(b"b", &Limits::viewer(), &mut wire).unwrap();
    let expected = "frame 2 came after 1 of the 2 images of region update 1";
    for split in 1..wire.len() {
        assert_eq!(
            pair_in_reads(&wire, &[split, wire.len()]),
            Err(expected.to_owned()),
            "split at byte {split}"
        );
    }
}
