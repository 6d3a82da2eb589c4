//! Property tests: round-trip, chunking invariance and totality, 10,000 cases
//! each.

use bytes::BytesMut;
use lookout_protocol::{
    AuthMode, BindingMode, Button, Challenge, ClientMessage, ErrorCode, FrameDecoder, Key, Limits,
    MonitorInfo, RawFrame, ServerMessage, encode_image,
};
use proptest::prelude::*;

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
        Just(ClientMessage::StartMonitor),
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
        (any::<u64>(), any::<u32>(), any::<u32>(), any::<u64>()).prop_map(
            |(seq, width, height, captured_at_us)| ServerMessage::Frame {
                seq,
                width,
                height,
                captured_at_us,
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

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

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
