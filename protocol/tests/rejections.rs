//! Every way a control payload can be wrong gets its own typed error.

use bytes::BytesMut;
use lookout_protocol::{ClientMessage, ErrorCode, Key, ProtocolError, ServerMessage};

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
