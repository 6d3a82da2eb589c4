//! Property tests: round-trip, chunking invariance and totality, 10,000 cases
//! each.

use bytes::BytesMut;
use lookout_protocol::{
    AuthMode, BindingMode, Button, Challenge, ClientMessage, ErrorCode, FrameDecoder, Key, Limits,
    MonitorInfo, RawFrame, Rect, STREAM_FPS_RANGE, STREAM_QUALITY_RANGE, STREAM_SIZE_RANGE,
    ServerMessage, StreamSettings, check_rects, encode_image,
};
use lookout_protocol::{EncodedFrame, FrameMeta, Paired, RegionUpdate, Tile};
use proptest::prelude::*;

use crate::pairing::pair_in_reads;

const CASES: u32 = 10_000;

fn key() -> impl Strategy<Value = Key> {
    prop::sample::select(Key::all().collect::<Vec<_>>())
}

fn button() -> impl Strategy<Value = Button> {
    prop_oneof![
        Just(Button::Left),
        Just(Button::Right),
        Just(Button::Middle)
    ]
}

fn client_message() -> impl Strategy<Value = ClientMessage> {
    prop_oneof![
        (any::<u32>(), ".{0,40}", "[0-9a-f]{64}|").prop_map(|(protocol, client, response)| {
            ClientMessage::Auth {
                protocol,
                client,
                response,
            }
        }),
        stream_settings().prop_map(ClientMessage::StartMonitor),
        Just(ClientMessage::StopMonitor),
        (any::<i32>(), any::<i32>()).prop_map(|(x, y)| ClientMessage::MouseMove { x, y }),
        (button(), any::<bool>())
            .prop_map(|(button, pressed)| ClientMessage::MouseButton { button, pressed }),
        (any::<i32>(), any::<i32>()).prop_map(|(dx, dy)| ClientMessage::Scroll { dx, dy }),
        (key(), any::<bool>()).prop_map(|(key, pressed)| ClientMessage::Key { key, pressed }),
        ".{0,200}".prop_map(|text| ClientMessage::Text { text }),
        any::<u32>().prop_map(|id| ClientMessage::SelectMonitor { id }),
        any::<u64>().prop_map(|id| ClientMessage::Ping { id }),
    ]
}

/// Settings within their ranges (what a viewer may send), each present or not.
fn stream_settings() -> impl Strategy<Value = StreamSettings> {
    (
        prop::option::of(STREAM_SIZE_RANGE),
        prop::option::of(STREAM_SIZE_RANGE),
        prop::option::of(STREAM_FPS_RANGE),
        prop::option::of(STREAM_QUALITY_RANGE),
        any::<bool>(),
    )
        .prop_map(
            |(max_width, max_height, fps, quality, regions)| StreamSettings {
                max_width,
                max_height,
                fps,
                quality,
                regions,
            },
        )
}

/// Non-overlapping rects, as a server may announce them, and a frame size
/// that holds them; `None` (a full frame) when the draw left none.
fn frame_rects() -> impl Strategy<Value = (Option<Vec<Rect>>, u32, u32)> {
    (
        prop::collection::vec((0u32..4000, 0u32..3000, 1u32..300, 1u32..300), 0..12),
        0u32..100,
    )
        .prop_map(|(drawn, margin)| {
            let mut kept: Vec<Rect> = Vec::new();
            for (x, y, w, h) in drawn {
                let rect = Rect::new(x, y, w, h);
                if !kept.iter().any(|k| k.overlaps(&rect)) {
                    kept.push(rect);
                }
            }
            let width = kept.iter().map(|r| r.x + r.width).max().unwrap_or(1) + margin;
            let height = kept.iter().map(|r| r.y + r.height).max().unwrap_or(1) + margin;
            ((!kept.is_empty()).then_some(kept), width, height)
        })
}

fn monitor() -> impl Strategy<Value = MonitorInfo> {
    (
        any::<u32>(),
        ".{0,20}",
        any::<i32>(),
        any::<i32>(),
        any::<u32>(),
        any::<u32>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(id, name, x, y, width, height, primary, all)| MonitorInfo {
                id,
                name,
                x,
                y,
                width,
                height,
                primary,
                all,
            },
        )
}

fn error_code() -> impl Strategy<Value = ErrorCode> {
    prop::sample::select(vec![
        ErrorCode::Protocol,
        ErrorCode::AuthFailed,
        ErrorCode::Busy,
        ErrorCode::ControlDisabled,
        ErrorCode::BadRequest,
        ErrorCode::Internal,
    ])
}

fn server_message() -> impl Strategy<Value = ServerMessage> {
    prop_oneof![
        (
            any::<u32>(),
            ".{0,40}",
            any::<bool>(),
            any::<bool>(),
            any::<[u8; 32]>()
        )
            .prop_map(
                |(protocol, server, token, bound, bytes)| ServerMessage::Hello {
                    protocol,
                    server,
                    auth: if token {
                        AuthMode::Token
                    } else {
                        AuthMode::None
                    },
                    binding: if bound {
                        BindingMode::TlsExporter
                    } else {
                        BindingMode::None
                    },
                    challenge: Challenge::from_bytes(bytes),
                }
            ),
        (
            any::<u32>(),
            ".{0,40}",
            any::<u32>(),
            any::<bool>(),
            prop::collection::vec("[a-z-]{1,16}", 0..4),
            prop::collection::vec(monitor(), 0..4)
        )
            .prop_map(|(protocol, name, monitor, control, features, monitors)| {
                ServerMessage::Welcome {
                    protocol,
                    name,
                    monitor,
                    control,
                    features,
                    monitors,
                }
            }),
        prop::collection::vec(monitor(), 0..4)
            .prop_map(|monitors| ServerMessage::Monitors { monitors }),
        (
            any::<u64>(),
            any::<u32>(),
            any::<u32>(),
            any::<u64>(),
            1u8..=100
        )
            .prop_map(|(seq, width, height, captured_at_us, quality)| {
                ServerMessage::Frame {
                    seq,
                    width,
                    height,
                    captured_at_us,
                    quality,
                    rects: None,
                }
            }),
        (any::<u64>(), any::<u64>(), 1u8..=100, frame_rects()).prop_map(
            |(seq, captured_at_us, quality, (rects, width, height))| ServerMessage::Frame {
                seq,
                width,
                height,
                captured_at_us,
                quality,
                rects,
            }
        ),
        any::<u64>().prop_map(|id| ServerMessage::Pong { id }),
        (error_code(), ".{0,80}").prop_map(|(code, message)| ServerMessage::error(code, message)),
    ]
}

/// A valid server-to-viewer stream item: a control message or an image.
#[derive(Debug, Clone)]
enum Item {
    Control(ServerMessage),
    Image(Vec<u8>),
}

fn stream() -> impl Strategy<Value = Vec<Item>> {
    prop::collection::vec(
        prop_oneof![
            server_message().prop_map(Item::Control),
            prop::collection::vec(any::<u8>(), 1..300).prop_map(Item::Image),
        ],
        1..6,
    )
}

fn encode_stream(items: &[Item]) -> BytesMut {
    let mut wire = BytesMut::new();
    for item in items {
        match item {
            Item::Control(msg) => msg.encode(&mut wire).unwrap(),
            Item::Image(jpeg) => encode_image(jpeg, &Limits::viewer(), &mut wire).unwrap(),
        }
    }
    wire
}

/// Feeds `wire` to a fresh decoder in the given chunk sizes and returns what
/// came out, typed.
fn decode_in_chunks(wire: &[u8], chunk_sizes: &[usize]) -> Vec<Item> {
    let mut dec = FrameDecoder::new(Limits::viewer());
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    let mut rest = wire;
    let mut sizes = chunk_sizes.iter().cycle();
    while !rest.is_empty() {
        let n = (*sizes.next().unwrap()).clamp(1, rest.len());
        buf.extend_from_slice(&rest[..n]);
        rest = &rest[n..];
        while let Some(frame) = dec.decode(&mut buf).unwrap() {
            out.push(match frame {
                RawFrame::Control(json) => Item::Control(ServerMessage::parse(&json).unwrap()),
                RawFrame::Image(jpeg) => Item::Image(jpeg.to_vec()),
            });
        }
    }
    assert!(buf.is_empty(), "bytes left over");
    out
}

fn same(a: &[Item], b: &[Item]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|pair| match pair {
            (Item::Control(x), Item::Control(y)) => x == y,
            (Item::Image(x), Item::Image(y)) => x == y,
            _ => false,
        })
}

/// The rect rule worked out pixel by pixel: every rect non-empty and
/// inside, no pixel painted twice, one to [`lookout_protocol::MAX_RECTS`]
/// rects (small sets here, so only the lower bound matters).
fn rects_valid_by_pixels(rects: &[Rect], width: u32, height: u32) -> bool {
    if rects.is_empty() {
        return false;
    }
    let mut painted = vec![false; (width * height) as usize];
    for r in rects {
        if r.width == 0 || r.height == 0 || r.x + r.width > width || r.y + r.height > height {
            return false;
        }
        for y in r.y..r.y + r.height {
            for x in r.x..r.x + r.width {
                let pixel = &mut painted[(y * width + x) as usize];
                if *pixel {
                    return false;
                }
                *pixel = true;
            }
        }
    }
    true
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn the_rect_check_agrees_with_painting_pixels(
        rects in prop::collection::vec((0u32..12, 0u32..12, 0u32..6, 0u32..6), 0..6),
        width in 1u32..16,
        height in 1u32..16,
    ) {
        let rects: Vec<Rect> = rects.into_iter().map(|(x, y, w, h)| Rect::new(x, y, w, h)).collect();
        prop_assert_eq!(
            check_rects(&rects, width, height).is_ok(),
            rects_valid_by_pixels(&rects, width, height),
            "{:?} in {}x{}: {:?}", rects, width, height, check_rects(&rects, width, height)
        );
    }

    #[test]
    fn client_messages_round_trip(msg in client_message()) {
        let mut wire = BytesMut::new();
        msg.encode(&mut wire).unwrap();
        let mut dec = FrameDecoder::new(Limits::server());
        let Some(RawFrame::Control(json)) = dec.decode(&mut wire).unwrap() else {
            panic!("expected one control frame");
        };
        prop_assert_eq!(ClientMessage::parse(&json).unwrap(), msg);
        prop_assert!(wire.is_empty());
    }

    #[test]
    fn server_messages_round_trip(msg in server_message()) {
        let mut wire = BytesMut::new();
        msg.encode(&mut wire).unwrap();
        let mut dec = FrameDecoder::new(Limits::viewer());
        let Some(RawFrame::Control(json)) = dec.decode(&mut wire).unwrap() else {
            panic!("expected one control frame");
        };
        prop_assert_eq!(ServerMessage::parse(&json).unwrap(), msg);
        prop_assert!(wire.is_empty());
    }

    #[test]
    fn any_split_of_a_valid_stream_decodes_the_same(
        items in stream(),
        chunk_sizes in prop::collection::vec(1usize..64, 1..8),
    ) {
        let wire = encode_stream(&items);
        let whole = decode_in_chunks(&wire, &[wire.len()]);
        prop_assert!(same(&whole, &items));
        let chunked = decode_in_chunks(&wire, &chunk_sizes);
        prop_assert!(same(&chunked, &items));
    }

    #[test]
    fn arbitrary_bytes_never_panic_nor_allocate_past_the_limit(
        // Mostly valid tags so the length and payload paths are exercised,
        // not only the unknown-tag one.
        prefix in prop_oneof![Just(b"HT".to_vec()), Just(b"HC".to_vec()), Just(Vec::new())],
        noise in prop::collection::vec(any::<u8>(), 0..512),
        chunk in 1usize..40,
        server_side in any::<bool>(),
    ) {
        let limits = if server_side { Limits::server() } else { Limits::viewer().with_max_image_len(1 << 20) };
        let mut dec = FrameDecoder::new(limits);
        let mut buf = BytesMut::new();
        let input: Vec<u8> = prefix.into_iter().chain(noise).collect();
        for piece in input.chunks(chunk) {
            buf.extend_from_slice(piece);
            match dec.decode(&mut buf) {
                Ok(Some(RawFrame::Control(json))) => {
                    // Parsing either way round must not panic either.
                    let _ = ClientMessage::parse(&json);
                    let _ = ServerMessage::parse(&json);
                }
                Ok(Some(RawFrame::Image(_))) | Ok(None) => {}
                Err(_) => break,
            }
            // The buffer only ever holds what arrived plus one reserve chunk,
            // whatever length the garbage announced.
            prop_assert!(buf.capacity() <= input.len() + 512 * 1024, "capacity {}", buf.capacity());
        }
    }
}

/// One update a server may send: a full frame or a region update, each
/// image a few random bytes.
fn update() -> impl Strategy<Value = (ServerMessage, Vec<Vec<u8>>)> {
    (any::<u64>(), 1u8..=100, frame_rects()).prop_flat_map(
        |(seq, quality, (rects, width, height))| {
            let images = rects.as_ref().map_or(1, Vec::len);
            let msg = ServerMessage::Frame {
                seq,
                width,
                height,
                captured_at_us: seq / 2,
                quality,
                rects,
            };
            (
                Just(msg),
                prop::collection::vec(prop::collection::vec(any::<u8>(), 1..40), images),
            )
        },
    )
}

/// What pairing one update must give.
fn paired(msg: &ServerMessage, images: &[Vec<u8>]) -> Paired {
    let ServerMessage::Frame {
        seq,
        width,
        height,
        captured_at_us,
        quality,
        rects,
    } = msg.clone()
    else {
        unreachable!("updates are frame messages");
    };
    let meta = FrameMeta {
        seq,
        width,
        height,
        captured_at_us,
        quality,
    };
    match rects {
        None => Paired::Frame(EncodedFrame {
            meta,
            jpeg: images[0].clone().into(),
        }),
        Some(rects) => Paired::Region(RegionUpdate {
            meta,
            tiles: rects
                .into_iter()
                .zip(images)
                .map(|(rect, jpeg)| Tile {
                    rect,
                    jpeg: jpeg.clone().into(),
                })
                .collect(),
        }),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES / 10))]

    #[test]
    fn updates_pair_whole_in_any_split(
        updates in prop::collection::vec(update(), 1..5),
        chunk_sizes in prop::collection::vec(1usize..64, 1..8),
    ) {
        let mut wire = BytesMut::new();
        for (msg, images) in &updates {
            msg.encode(&mut wire).unwrap();
            for jpeg in images {
                encode_image(jpeg, &Limits::viewer(), &mut wire).unwrap();
            }
        }
        let expected: Vec<Paired> = updates.iter().map(|(m, i)| paired(m, i)).collect();
        prop_assert_eq!(pair_in_reads(&wire, &[]), Ok(expected.clone()));
        prop_assert_eq!(pair_in_reads(&wire, &chunk_sizes), Ok(expected));
    }
}
