//! Every way a control payload can be wrong gets its own typed error.

use bytes::BytesMut;
use lookout_protocol::{
    ClientMessage, ErrorCode, InvalidFrame, Key, ProtocolError, Rect, ServerMessage, StreamSettings,
};

#[test]
fn bad_utf8_is_refused() {
    let err = ClientMessage::parse(b"{\"type\":\"text\",\"text\":\"\xff\"}").unwrap_err();
    assert!(matches!(err, ProtocolError::InvalidUtf8(_)), "{err}");
}

#[test]
fn bad_json_is_refused() {
    for bad in [
        &b"{"[..],
        b"not json",
        b"{\"type\":",
        b"\"start_monitor\"",
        b"[1]",
        b"null",
    ] {
        let err = ClientMessage::parse(bad).unwrap_err();
        assert!(
            matches!(err, ProtocolError::InvalidJson(_)),
            "{bad:?}: {err}"
        );
    }
}

#[test]
fn missing_or_non_string_type_is_bad_json() {
    for bad in [r#"{"id":1}"#, r#"{"type":5}"#, r#"{"type":null}"#] {
        let err = ClientMessage::parse(bad.as_bytes()).unwrap_err();
        assert!(matches!(err, ProtocolError::InvalidJson(_)), "{bad}: {err}");
    }
}

#[test]
fn unknown_type_is_refused_and_named() {
    let err = ClientMessage::parse(br#"{"type":"format_disk"}"#).unwrap_err();
    assert!(
        matches!(&err, ProtocolError::UnknownType(t) if t == "format_disk"),
        "{err}"
    );
    // A server message type is unknown in the viewer-to-server direction.
    let err = ClientMessage::parse(br#"{"type":"welcome"}"#).unwrap_err();
    assert!(matches!(err, ProtocolError::UnknownType(_)));
    let err = ServerMessage::parse(br#"{"type":"start_monitor"}"#).unwrap_err();
    assert!(matches!(err, ProtocolError::UnknownType(_)));
}

#[test]
fn unknown_type_echo_is_truncated() {
    let long = format!(r#"{{"type":"{}"}}"#, "x".repeat(10_000));
    let err = ClientMessage::parse(long.as_bytes()).unwrap_err();
    assert!(matches!(&err, ProtocolError::UnknownType(t) if t.len() == 64));
}

#[test]
fn known_type_with_bad_fields_is_malformed() {
    for bad in [
        r#"{"type":"mouse_move","x":"left","y":1}"#,
        r#"{"type":"mouse_move","x":1}"#,
        r#"{"type":"mouse_button","button":"fourth","pressed":true}"#,
        r#"{"type":"key","key":"F5","pressed":true}"#,
        r#"{"type":"key","key":"a"}"#,
        r#"{"type":"ping","id":-1}"#,
        r#"{"type":"select_monitor","id":1.5}"#,
        r#"{"type":"scroll","dx":1,"dy":99999999999}"#,
    ] {
        let err = ClientMessage::parse(bad.as_bytes()).unwrap_err();
        assert!(
            matches!(err, ProtocolError::InvalidMessage { .. }),
            "{bad}: {err}"
        );
        assert_eq!(err.code(), ErrorCode::Protocol);
    }
}

#[test]
fn bad_challenge_in_hello_is_malformed() {
    let hello = r#"{"type":"hello","protocol":2,"server":"x","auth":"token","binding":"tls-exporter","challenge":"abc"}"#;
    let err = ServerMessage::parse(hello.as_bytes()).unwrap_err();
    assert!(matches!(err, ProtocolError::InvalidMessage { .. }), "{err}");
}

#[test]
fn unknown_error_code_from_a_newer_server_is_kept_as_unknown() {
    let msg = ServerMessage::parse(br#"{"type":"error","code":"rate_limited","message":"m"}"#);
    assert_eq!(msg.unwrap(), ServerMessage::error(ErrorCode::Unknown, "m"));
}

#[test]
fn text_over_1024_characters_is_not_encoded() {
    let mut dst = BytesMut::new();
    let ok = ClientMessage::Text {
        text: "é".repeat(1024),
    };
    ok.encode(&mut dst).unwrap();
    let too_long = ClientMessage::Text {
        text: "é".repeat(1025),
    };
    let before = dst.len();
    assert!(matches!(
        too_long.encode(&mut dst),
        Err(ProtocolError::InvalidValue { kind: "text", .. })
    ));
    assert_eq!(dst.len(), before, "nothing written on error");
}

#[test]
fn invalid_key_value_is_not_encoded() {
    let mut dst = BytesMut::new();
    let msg = ClientMessage::Key {
        key: Key::Char('!'),
        pressed: true,
    };
    assert!(matches!(
        msg.encode(&mut dst),
        Err(ProtocolError::InvalidMessage { .. })
    ));
    assert!(dst.is_empty());
}

#[test]
fn control_message_over_64k_is_not_encoded() {
    let mut dst = BytesMut::new();
    // Built by hand: `ServerMessage::error` cuts its text, so it could not
    // make a message this long.
    let msg = ServerMessage::Error {
        code: ErrorCode::Internal,
        message: "x".repeat(70_000),
        retry_after: None,
    };
    assert!(matches!(
        msg.encode(&mut dst),
        Err(ProtocolError::TooLong { .. })
    ));
    assert!(dst.is_empty());
}

/// An agent echoes what it could not read; a near-64 KiB bad value used to
/// make an `error` too big to send, so the peer got no error at all.
#[test]
fn an_error_echoing_a_huge_value_is_cut_and_still_encodes() {
    // Control characters: six bytes each once escaped in JSON, the worst case.
    let huge = "\u{1}".repeat(60_000);
    let reply = ServerMessage::error(ErrorCode::Protocol, format!("unknown key name {huge}"));
    let mut dst = BytesMut::new();
    reply
        .encode(&mut dst)
        .expect("an error always fits in a control frame");
    let ServerMessage::Error { message, .. } = reply else {
        unreachable!()
    };
    assert_eq!(
        message.chars().count(),
        lookout_protocol::MAX_ERROR_MESSAGE_CHARS + 1
    );
    assert!(message.ends_with('…'));
    // Short messages are left alone.
    let short = ServerMessage::error(ErrorCode::BadRequest, "no monitor with id 7");
    assert!(
        matches!(short, ServerMessage::Error { message, .. } if message == "no monitor with id 7")
    );
}

/// The contract answers a setting outside its range with `bad_request` and
/// keeps the connection: such a `start_monitor` must parse (a parse error
/// would end the stream), and its check must name the field and its range,
/// at each side of each range's ends.
#[test]
fn a_setting_out_of_range_parses_and_its_check_names_it() {
    for (field, below, low, high, above) in [
        ("max_width", 15, 16, 16384, 16385),
        ("max_height", 15, 16, 16384, 16385),
        ("fps", 0, 1, 120, 121),
        ("quality", 0, 1, 100, 101),
    ] {
        let check = |value: i64| {
            let json = format!(r#"{{"type":"start_monitor","{field}":{value}}}"#);
            let Ok(ClientMessage::StartMonitor(settings)) = ClientMessage::parse(json.as_bytes())
            else {
                panic!("{json} does not parse as start_monitor");
            };
            settings.check().map_err(|err| err.to_string())
        };
        let refusal = format!("{field} must be an integer in {low}..={high}");
        for value in [below, above, -1, 1 << 40] {
            assert_eq!(check(value), Err(refusal.clone()), "{field} {value}");
        }
        for value in [low, high] {
            assert_eq!(check(value), Ok(()), "{field} {value}");
        }
    }
}

#[test]
fn a_setting_of_the_wrong_kind_is_malformed() {
    for bad in [
        r#"{"type":"start_monitor","fps":"30"}"#,
        r#"{"type":"start_monitor","regions":"yes"}"#,
        r#"{"type":"start_monitor","max_width":{}}"#,
    ] {
        let err = ClientMessage::parse(bad.as_bytes()).unwrap_err();
        assert!(
            matches!(err, ProtocolError::InvalidMessage { .. }),
            "{bad}: {err}"
        );
    }
}

#[test]
fn a_setting_out_of_range_is_not_encoded() {
    let mut dst = BytesMut::new();
    let msg = ClientMessage::StartMonitor(StreamSettings {
        fps: Some(0),
        ..StreamSettings::default()
    });
    let err = msg.encode(&mut dst).unwrap_err();
    assert!(matches!(err, ProtocolError::SettingOutOfRange(_)), "{err}");
    assert!(dst.is_empty());
}

#[test]
fn a_frame_without_quality_is_malformed() {
    let err = ServerMessage::parse(
        br#"{"type":"frame","seq":1,"width":2,"height":2,"captured_at_us":0}"#,
    )
    .unwrap_err();
    assert!(matches!(err, ProtocolError::InvalidMessage { .. }), "{err}");
    for bad in [
        r#"{"type":"frame","seq":1,"width":2,"height":2,"captured_at_us":0,"quality":75,"rects":[[0,0,1]]}"#,
        r#"{"type":"frame","seq":1,"width":2,"height":2,"captured_at_us":0,"quality":75,"rects":[[0,0,1,-1]]}"#,
        r#"{"type":"frame","seq":1,"width":2,"height":2,"captured_at_us":0,"quality":300}"#,
    ] {
        let err = ServerMessage::parse(bad.as_bytes()).unwrap_err();
        assert!(
            matches!(err, ProtocolError::InvalidMessage { .. }),
            "{bad}: {err}"
        );
    }
}

#[test]
fn a_frame_a_viewer_must_refuse_is_not_encoded() {
    let frame = |quality, rects| ServerMessage::Frame {
        seq: 1,
        width: 10,
        height: 10,
        captured_at_us: 0,
        quality,
        rects,
    };
    let mut dst = BytesMut::new();
    let overlapping = Some(vec![Rect::new(0, 0, 5, 5), Rect::new(4, 4, 2, 2)]);
    for (msg, expected) in [
        (frame(0, None), InvalidFrame::Quality(0)),
        (frame(75, Some(Vec::new())), InvalidFrame::NoRects),
        (
            frame(75, overlapping),
            InvalidFrame::Overlap {
                first: 0,
                second: 1,
            },
        ),
    ] {
        let err = msg.encode(&mut dst).unwrap_err();
        assert!(
            matches!(&err, ProtocolError::InvalidFrame(e) if *e == expected),
            "{err}"
        );
        assert!(dst.is_empty());
    }
}
