//! Byte-exact frames written out by hand from the protocol contract, so the crate
//! cannot drift from the spec: every header below was typed from the table
//! in section 1, every JSON body from the examples in section 2.

use bytes::BytesMut;
use lookout_protocol::{
    AuthMode, BindingMode, Challenge, ChannelBinding, ClientMessage, ErrorCode, FrameDecoder, Key,
    Limits, MonitorInfo, RawFrame, Rect, ServerMessage, StreamSettings, StreamState, auth_response,
    encode_image,
};

fn encode_client(msg: &ClientMessage) -> Vec<u8> {
    let mut dst = BytesMut::new();
    msg.encode(&mut dst).unwrap();
    dst.to_vec()
}

fn encode_server(msg: &ServerMessage) -> Vec<u8> {
    let mut dst = BytesMut::new();
    msg.encode(&mut dst).unwrap();
    dst.to_vec()
}

/// `HC`, the length as eight little-endian bytes, then the JSON text.
fn hc(len: [u8; 8], json: &str) -> Vec<u8> {
    assert_eq!(
        u64::from_le_bytes(len),
        json.len() as u64,
        "hand-computed length"
    );
    let mut v = vec![0x48, 0x43];
    v.extend_from_slice(&len);
    v.extend_from_slice(json.as_bytes());
    v
}

#[test]
fn start_monitor_golden() {
    let wire = hc([24, 0, 0, 0, 0, 0, 0, 0], r#"{"type":"start_monitor"}"#);
    assert_eq!(encode_client(&ClientMessage::start_monitor()), wire);
    // Absent settings are the defaults, both ways.
    assert_eq!(
        ClientMessage::parse(br#"{"type":"start_monitor"}"#).unwrap(),
        ClientMessage::StartMonitor(StreamSettings::default())
    );
}

#[test]
fn start_monitor_with_every_setting_golden() {
    let json = r#"{"type":"start_monitor","max_width":1280,"max_height":720,"fps":15,"quality":60,"regions":true}"#;
    let wire = hc([95, 0, 0, 0, 0, 0, 0, 0], json);
    let msg = ClientMessage::StartMonitor(StreamSettings {
        max_width: Some(1280),
        max_height: Some(720),
        fps: Some(15),
        quality: Some(60),
        regions: true,
    });
    assert_eq!(encode_client(&msg), wire);
    assert_eq!(ClientMessage::parse(json.as_bytes()).unwrap(), msg);
    // Only what is set goes on the wire.
    let fps_only = ClientMessage::StartMonitor(StreamSettings {
        fps: Some(2),
        ..StreamSettings::default()
    });
    let wire = hc(
        [32, 0, 0, 0, 0, 0, 0, 0],
        r#"{"type":"start_monitor","fps":2}"#,
    );
    assert_eq!(encode_client(&fps_only), wire);
}

#[test]
fn ping_golden() {
    // The example in the crate docs: 22 bytes, 0x16.
    let wire = hc([0x16, 0, 0, 0, 0, 0, 0, 0], r#"{"type":"ping","id":7}"#);
    assert_eq!(encode_client(&ClientMessage::Ping { id: 7 }), wire);
}

#[test]
fn mouse_move_golden() {
    let wire = hc(
        [37, 0, 0, 0, 0, 0, 0, 0],
        r#"{"type":"mouse_move","x":100,"y":200}"#,
    );
    assert_eq!(
        encode_client(&ClientMessage::MouseMove { x: 100, y: 200 }),
        wire
    );
}

#[test]
fn key_golden() {
    let wire = hc(
        [45, 0, 0, 0, 0, 0, 0, 0],
        r#"{"type":"key","key":"page_up","pressed":true}"#,
    );
    let msg = ClientMessage::Key {
        key: Key::PageUp,
        pressed: true,
    };
    assert_eq!(encode_client(&msg), wire);
}

#[test]
fn auth_golden() {
    let json = concat!(
        r#"{"type":"auth","protocol":2,"client":"lookout-viewer 0.1.0","response":""#,
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
        r#""}"#
    );
    let wire = hc([0x8a, 0, 0, 0, 0, 0, 0, 0], json);
    let msg = ClientMessage::Auth {
        protocol: 2,
        client: "lookout-viewer 0.1.0".into(),
        response: "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843".into(),
    };
    assert_eq!(encode_client(&msg), wire);
}

#[test]
fn hello_golden() {
    let json = concat!(
        r#"{"type":"hello","protocol":2,"server":"lookout-server 0.1.0","auth":"token","binding":"tls-exporter","challenge":""#,
        "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
        r#""}"#
    );
    let wire = hc([0xb4, 0, 0, 0, 0, 0, 0, 0], json);
    let mut bytes = [0u8; 32];
    for (i, b) in bytes.iter_mut().enumerate() {
        *b = i as u8;
    }
    let msg = ServerMessage::Hello {
        protocol: 2,
        server: "lookout-server 0.1.0".into(),
        auth: AuthMode::Token,
        binding: BindingMode::TlsExporter,
        challenge: Challenge::from_bytes(bytes),
    };
    assert_eq!(encode_server(&msg), wire);
}

/// A version 1 `hello` (no `binding`) still parses, as `none`, so a viewer
/// can say "this agent speaks version 1" rather than "malformed hello".
#[test]
fn a_hello_without_binding_reads_as_none() {
    let json = concat!(
        r#"{"type":"hello","protocol":1,"server":"old","auth":"token","challenge":""#,
        "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
        r#""}"#
    );
    let ServerMessage::Hello {
        protocol, binding, ..
    } = ServerMessage::parse(json.as_bytes()).unwrap()
    else {
        panic!("expected hello");
    };
    assert_eq!((protocol, binding), (1, BindingMode::None));
}

/// The worked example in the repository's PROTOCOL.md (§2.1): token
/// `s3cret`, challenge 00..1f, exporter 20..3f; and the same without binding.
#[test]
fn protocol_md_worked_example() {
    let challenge = Challenge::from_bytes(std::array::from_fn(|i| i as u8));
    let exporter: [u8; 32] = std::array::from_fn(|i| 32 + i as u8);
    assert_eq!(
        auth_response("s3cret", &challenge, &ChannelBinding::TlsExporter(exporter)),
        "f9db3a0ba8d2606765b4ffb0ad4f1a14c4237d98db05768c33e7445a86b3e4f5"
    );
    assert_eq!(
        auth_response("s3cret", &challenge, &ChannelBinding::None),
        "336266fe4a9c85bad2b0189849d662fd93934ca115f67b8d98d972bae8cd3082"
    );
}

/// The proof of §2.1 for fixed inputs, computed independently
/// (Python: `hmac.new(token, challenge + exporter, sha256)`): token
/// "correct horse battery staple", challenge 00..1f, exporter 20..3f.
#[test]
fn bound_proof_golden() {
    let challenge: [u8; 32] = std::array::from_fn(|i| i as u8);
    let exporter: [u8; 32] = std::array::from_fn(|i| 32 + i as u8);
    let token = "correct horse battery staple";
    assert_eq!(
        auth_response(
            token,
            &Challenge::from_bytes(challenge),
            &ChannelBinding::TlsExporter(exporter)
        ),
        "98d8afb558dd9a21042d47b1bae629db1b33ab1e7fb5b91caaadf33d2efd11f3"
    );
    assert_eq!(
        auth_response(
            token,
            &Challenge::from_bytes(challenge),
            &ChannelBinding::None
        ),
        "56b06bb5232be4a6d34999fc2225c6fa8e85259a45d586e0fb9465171fb34a74"
    );
}

#[test]
fn welcome_golden_is_the_spec_example() {
    let json = concat!(
        r#"{"type":"welcome","protocol":2,"name":"classroom-7","monitor":0,"control":true,"features":[],"monitors":"#,
        r#"[{"id":0,"name":"...","x":0,"y":0,"width":1920,"height":1080,"primary":true}]}"#
    );
    let wire = hc([0xb6, 0, 0, 0, 0, 0, 0, 0], json);
    let msg = ServerMessage::Welcome {
        protocol: 2,
        name: "classroom-7".into(),
        monitor: 0,
        control: true,
        features: vec![],
        monitors: vec![MonitorInfo {
            id: 0,
            name: "...".into(),
            x: 0,
            y: 0,
            width: 1920,
            height: 1080,
            primary: true,
            all: false,
        }],
    };
    assert_eq!(encode_server(&msg), wire);
}

#[test]
fn monitors_golden_sends_all_only_when_true() {
    let json = concat!(
        r#"{"type":"monitors","monitors":["#,
        r#"{"id":3,"name":"right","x":960,"y":0,"width":960,"height":1080,"primary":false},"#,
        r#"{"id":4,"name":"all","x":0,"y":0,"width":1920,"height":1080,"primary":false,"all":true}]}"#
    );
    let wire = hc([0xc8, 0, 0, 0, 0, 0, 0, 0], json);
    let monitor = |id, name: &str, x, width, all| MonitorInfo {
        id,
        name: name.into(),
        x,
        y: 0,
        width,
        height: 1080,
        primary: false,
        all,
    };
    let msg = ServerMessage::Monitors {
        monitors: vec![
            monitor(3, "right", 960, 960, false),
            monitor(4, "all", 0, 1920, true),
        ],
    };
    assert_eq!(encode_server(&msg), wire);
    assert_eq!(ServerMessage::parse(json.as_bytes()).unwrap(), msg);
    // A version-2 peer that never sends `all` is read as `false`.
    let without = r#"{"type":"monitors","monitors":[{"id":0,"name":"a","x":0,"y":0,"width":1,"height":1,"primary":true}]}"#;
    let ServerMessage::Monitors { monitors } = ServerMessage::parse(without.as_bytes()).unwrap()
    else {
        panic!("not a monitors message");
    };
    assert!(!monitors[0].all);
}

#[test]
fn frame_then_image_golden() {
    let json = r#"{"type":"frame","seq":3,"width":2,"height":1,"captured_at_us":1700000000000000,"quality":75}"#;
    let mut wire = hc([0x5c, 0, 0, 0, 0, 0, 0, 0], json);
    // An `HT` frame with a four-byte payload (SOI + EOI markers).
    wire.extend_from_slice(&[0x48, 0x54, 4, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xd8, 0xff, 0xd9]);

    let mut got = encode_server(&ServerMessage::Frame {
        seq: 3,
        width: 2,
        height: 1,
        captured_at_us: 1_700_000_000_000_000,
        quality: 75,
        rects: None,
    });
    let mut dst = BytesMut::new();
    encode_image(&[0xff, 0xd8, 0xff, 0xd9], &Limits::viewer(), &mut dst).unwrap();
    got.extend_from_slice(&dst);
    assert_eq!(got, wire);

    // And the hand-written bytes decode to exactly those two frames.
    let mut dec = FrameDecoder::new(Limits::viewer());
    let mut buf = BytesMut::from(&wire[..]);
    let Some(RawFrame::Control(json_bytes)) = dec.decode(&mut buf).unwrap() else {
        panic!("expected a control frame");
    };
    assert_eq!(
        ServerMessage::parse(&json_bytes).unwrap(),
        ServerMessage::Frame {
            seq: 3,
            width: 2,
            height: 1,
            captured_at_us: 1_700_000_000_000_000,
            quality: 75,
            rects: None,
        }
    );
    assert_eq!(
        dec.decode(&mut buf).unwrap(),
        Some(RawFrame::Image(vec![0xff, 0xd8, 0xff, 0xd9].into()))
    );
    assert!(buf.is_empty());
}

#[test]
fn region_update_then_its_images_golden() {
    let json = r#"{"type":"frame","seq":4,"width":32,"height":16,"captured_at_us":1700000000000000,"quality":60,"rects":[[0,0,16,16],[16,0,16,8]]}"#;
    let mut wire = hc([0x80, 0, 0, 0, 0, 0, 0, 0], json);
    wire.extend_from_slice(&[0x48, 0x54, 2, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xd8]);
    wire.extend_from_slice(&[0x48, 0x54, 2, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xd9]);

    let msg = ServerMessage::Frame {
        seq: 4,
        width: 32,
        height: 16,
        captured_at_us: 1_700_000_000_000_000,
        quality: 60,
        rects: Some(vec![Rect::new(0, 0, 16, 16), Rect::new(16, 0, 16, 8)]),
    };
    let mut got = encode_server(&msg);
    let mut dst = BytesMut::new();
    encode_image(&[0xff, 0xd8], &Limits::viewer(), &mut dst).unwrap();
    encode_image(&[0xff, 0xd9], &Limits::viewer(), &mut dst).unwrap();
    got.extend_from_slice(&dst);
    assert_eq!(got, wire);
    assert_eq!(ServerMessage::parse(json.as_bytes()).unwrap(), msg);
}

#[test]
fn error_golden() {
    let json = r#"{"type":"error","code":"auth_failed","message":"wrong token"}"#;
    let wire = hc([61, 0, 0, 0, 0, 0, 0, 0], json);
    assert_eq!(
        encode_server(&ServerMessage::error(ErrorCode::AuthFailed, "wrong token")),
        wire
    );
}

/// The agent's extension: a blocked address is told for how long, in the
/// message and as `retry_after_ms` (rounded up to whole milliseconds).
#[test]
fn blocked_error_golden_says_for_how_long() {
    let msg = ServerMessage::error(ErrorCode::AuthFailed, "authentication failed")
        .with_retry_after(std::time::Duration::from_micros(9_999_500));
    let json = r#"{"type":"error","code":"auth_failed","message":"authentication failed; this address is blocked for 10 s","retry_after_ms":10000}"#;
    let wire = hc((json.len() as u64).to_le_bytes(), json);
    assert_eq!(encode_server(&msg), wire);
    let ServerMessage::Error { retry_after, .. } = ServerMessage::parse(json.as_bytes()).unwrap()
    else {
        panic!("an error");
    };
    assert_eq!(retry_after, Some(std::time::Duration::from_secs(10)));
}

/// Independent clients need not write JSON the way serde does: other key
/// orders, whitespace, extra fields and fractional coordinates are accepted.
#[test]
fn other_spellings_of_the_same_messages_parse() {
    let cases: &[(&str, ClientMessage)] = &[
        (
            r#" { "y" : 2 , "x" : 1 , "type" : "mouse_move" } "#,
            ClientMessage::MouseMove { x: 1, y: 2 },
        ),
        (
            r#"{"type":"mouse_move","x":10.6,"y":-3.2}"#,
            ClientMessage::MouseMove { x: 11, y: -3 },
        ),
        (
            r#"{"type":"start_monitor","future_field":[1,2,3]}"#,
            ClientMessage::start_monitor(),
        ),
        (
            r#"{"regions":false,"fps":null,"type":"start_monitor","quality":90}"#,
            ClientMessage::StartMonitor(StreamSettings {
                quality: Some(90),
                ..StreamSettings::default()
            }),
        ),
        (
            r#"{"pressed":false,"button":"middle","type":"mouse_button"}"#,
            ClientMessage::MouseButton {
                button: lookout_protocol::Button::Middle,
                pressed: false,
            },
        ),
        (
            r#"{"type":"scroll","dx":-1,"dy":3}"#,
            ClientMessage::Scroll { dx: -1, dy: 3 },
        ),
        (
            r#"{"type":"text","text":"h\u00e9llo"}"#,
            ClientMessage::Text {
                text: "héllo".into(),
            },
        ),
        (
            r#"{"type":"select_monitor","id":1}"#,
            ClientMessage::SelectMonitor { id: 1 },
        ),
        (r#"{"type":"stop_monitor"}"#, ClientMessage::StopMonitor),
    ];
    for (json, expected) in cases {
        assert_eq!(
            &ClientMessage::parse(json.as_bytes()).unwrap(),
            expected,
            "{json}"
        );
    }
}

#[test]
fn stream_state_golden() {
    let json = r#"{"type":"stream","state":"unavailable","reason":"the display went away"}"#;
    let wire = hc([72, 0, 0, 0, 0, 0, 0, 0], json);
    let msg = ServerMessage::Stream {
        state: StreamState::Unavailable,
        reason: "the display went away".into(),
    };
    assert_eq!(encode_server(&msg), wire);
    assert_eq!(ServerMessage::parse(json.as_bytes()).unwrap(), msg);
    for (word, state) in [
        ("live", StreamState::Live),
        ("paused", StreamState::Paused),
        ("unavailable", StreamState::Unavailable),
    ] {
        // Another server may leave the reason out: it reads as empty.
        let json = format!(r#"{{"state":"{word}","type":"stream"}}"#);
        assert_eq!(
            ServerMessage::parse(json.as_bytes()).unwrap(),
            ServerMessage::Stream {
                state,
                reason: String::new()
            }
        );
    }
    assert!(ServerMessage::parse(br#"{"type":"stream","state":"gone"}"#).is_err());
}
