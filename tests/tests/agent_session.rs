//! The agent end to end over loopback, with a fake screen and a recording
//! input sink: handshake, streaming, control, isolation of bad viewers.

use std::time::Duration;

use bytes::BytesMut;
use futures_util::StreamExt;
use lookout_protocol::codec::ServerFrame;
use lookout_protocol::{
    Button, ClientMessage, ErrorCode, Key, Limits, ServerMessage, StreamSettings, Timeouts,
    encode_control,
};
use lookout_server::input::InputAction;
use lookout_server::{Access, MOVE_INTERVAL};
use lookout_tests::agent::{Options, TOKEN, TestAgent, welcome};
use lookout_tests::client::{Client, WAIT, decode};
use tokio::io::AsyncWriteExt;

fn error_code(msg: &ServerMessage) -> Option<ErrorCode> {
    match msg {
        ServerMessage::Error { code, .. } => Some(*code),
        _ => None,
    }
}

#[tokio::test]
async fn handshake_gives_welcome_with_monitors_and_control() {
    let agent = TestAgent::start(Options::default()).await;
    let (_client, welcome) = welcome(agent.addr).await;
    let ServerMessage::Welcome {
        protocol,
        name,
        monitor,
        control,
        features,
        monitors,
    } = welcome
    else {
        unreachable!()
    };
    assert_eq!(protocol, 2);
    assert_eq!(name, "test-agent");
    assert_eq!(
        features,
        ["profiles", "regions"],
        "no all-monitors with a fake screen"
    );
    assert_eq!(monitor, 0, "the primary monitor");
    assert!(control);
    assert_eq!(monitors, lookout_tests::agent::monitors());
    agent.stop().await;
}

#[tokio::test]
async fn hello_carries_a_fresh_challenge_and_the_auth_mode() {
    let agent = TestAgent::start(Options::default()).await;
    let mut a = Client::connect(agent.addr).await;
    let mut b = Client::connect(agent.addr).await;
    let (
        ServerMessage::Hello {
            challenge: ca,
            auth,
            server,
            ..
        },
        ServerMessage::Hello { challenge: cb, .. },
    ) = (a.message().await, b.message().await)
    else {
        panic!("expected two hellos");
    };
    assert_ne!(ca, cb);
    assert_eq!(auth, lookout_protocol::AuthMode::Token);
    assert!(server.starts_with("lookout-server "));
    agent.stop().await;
}

#[tokio::test]
async fn wrong_token_gets_auth_failed_no_frame_and_no_input() {
    let agent = TestAgent::start(Options::default()).await;
    let (mut client, answer) = Client::login(agent.addr, "not the token").await;
    assert_eq!(error_code(&answer), Some(ErrorCode::AuthFailed));
    // Whatever it sends now is ignored and the connection closes.
    for msg in [
        ClientMessage::start_monitor(),
        ClientMessage::MouseMove { x: 5, y: 5 },
    ] {
        let _ = futures_util::SinkExt::send(&mut client.framed, msg).await;
    }
    assert!(client.closed_within(WAIT).await);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(agent.captures(), 0, "nothing captured for an impostor");
    assert!(
        agent.input.actions().is_empty(),
        "no input from an impostor"
    );
    agent.stop().await;
}

#[tokio::test]
async fn commands_before_auth_are_a_protocol_error_and_run_nothing() {
    let agent = TestAgent::start(Options::default()).await;
    let mut client = Client::connect(agent.addr).await;
    assert!(matches!(
        client.message().await,
        ServerMessage::Hello { .. }
    ));
    client.send(ClientMessage::start_monitor()).await;
    client.send(ClientMessage::MouseMove { x: 1, y: 1 }).await;
    assert_eq!(
        error_code(&client.message().await),
        Some(ErrorCode::Protocol)
    );
    assert!(client.closed_within(WAIT).await);
    assert_eq!(agent.captures(), 0);
    assert!(agent.input.actions().is_empty());
    agent.stop().await;
}

#[tokio::test]
async fn open_access_accepts_an_empty_response() {
    let agent = TestAgent::start(Options {
        access: Access::Open,
        ..Options::default()
    })
    .await;
    let mut client = Client::connect(agent.addr).await;
    let ServerMessage::Hello { auth, .. } = client.message().await else {
        panic!("expected hello");
    };
    assert_eq!(auth, lookout_protocol::AuthMode::None);
    client
        .send(ClientMessage::Auth {
            protocol: lookout_protocol::PROTOCOL_VERSION,
            client: "t".into(),
            response: String::new(),
        })
        .await;
    assert!(matches!(
        client.message().await,
        ServerMessage::Welcome { .. }
    ));
    agent.stop().await;
}

#[tokio::test]
async fn no_capture_until_someone_monitors_and_first_frame_within_a_second() {
    let agent = TestAgent::start(Options::default()).await;
    let (mut client, _) = welcome(agent.addr).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(agent.captures(), 0, "nobody monitoring: nothing captured");

    let asked = tokio::time::Instant::now();
    client.send(ClientMessage::start_monitor()).await;
    let (meta, jpeg) = client.image().await;
    assert!(
        asked.elapsed() < Duration::from_secs(1),
        "first frame took {:?}",
        asked.elapsed()
    );
    let ServerMessage::Frame {
        width,
        height,
        seq,
        captured_at_us,
        rects: None,
        ..
    } = meta
    else {
        panic!("expected a full frame, got {meta:?}")
    };
    assert_eq!((width, height), (64, 48));
    assert!(seq >= 1);
    assert!(
        captured_at_us > 1_600_000_000_000_000,
        "a Unix timestamp in µs"
    );
    let img = decode(&jpeg);
    assert_eq!(img.dimensions(), (64, 48));
    let p = img.get_pixel(30, 20).0;
    assert!(
        p[0] > 180 && p[1] < 70 && p[2] < 70,
        "red monitor, got {p:?}"
    );

    // Sequence numbers keep increasing.
    let (ServerMessage::Frame { seq: next, .. }, _) = client.image().await else {
        unreachable!()
    };
    assert!(next > seq);
    agent.stop().await;
}

/// A `start_monitor` whose setting is outside its range is refused with
/// `bad_request` naming the field and its range, starts nothing and keeps
/// the connection: a valid `start_monitor` after it streams, and every
/// frame reports the quality the agent encodes at.
#[tokio::test]
async fn an_out_of_range_setting_is_a_bad_request_and_a_valid_start_then_streams() {
    let agent = TestAgent::start(Options {
        quality: 42,
        ..Options::default()
    })
    .await;
    let (mut client, _) = welcome(agent.addr).await;
    // Sent raw: our own encoder refuses it.
    client
        .send_raw(br#"{"type":"start_monitor","fps":0}"#)
        .await;
    let replies = client.ping(1).await;
    assert_eq!(
        replies,
        [ServerMessage::error(
            ErrorCode::BadRequest,
            "fps must be an integer in 1..=120; the settings stay as they were"
        )]
    );
    // Refused means not carried out: no stream starts.
    let quiet = tokio::time::timeout(Duration::from_millis(300), client.framed.next()).await;
    assert!(
        quiet.is_err(),
        "something came after a refused start: {quiet:?}"
    );
    assert_eq!(
        agent.captures(),
        0,
        "a refused start_monitor started capture"
    );

    // In range (accepted though not honoured yet): the stream starts.
    client
        .send(ClientMessage::StartMonitor(StreamSettings {
            fps: Some(10),
            quality: Some(90),
            max_width: Some(16384),
            max_height: Some(16),
            regions: false,
        }))
        .await;
    for _ in 0..3 {
        let (meta, _) = client.image().await;
        assert!(
            matches!(
                meta,
                ServerMessage::Frame {
                    quality: 42,
                    rects: None,
                    ..
                }
            ),
            "{meta:?}"
        );
    }
    agent.stop().await;
}

#[tokio::test]
async fn stop_monitor_stops_frames_to_that_viewer_only_and_capture_when_nobody_watches() {
    let agent = TestAgent::start(Options::default()).await;
    let (mut a, _) = welcome(agent.addr).await;
    let (mut b, _) = welcome(agent.addr).await;
    a.send(ClientMessage::start_monitor()).await;
    b.send(ClientMessage::start_monitor()).await;
    a.image().await;
    b.image().await;

    a.send(ClientMessage::StopMonitor).await;
    // After the pong, a frame already being written may have completed;
    // after that, nothing more.
    a.ping(1).await;
    let quiet = tokio::time::timeout(Duration::from_millis(400), a.framed.next()).await;
    assert!(quiet.is_err(), "stopped viewer still gets {quiet:?}");
    // b is unaffected.
    for _ in 0..3 {
        b.image().await;
    }

    b.send(ClientMessage::StopMonitor).await;
    b.ping(2).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let captured = agent.captures();
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(
        agent.captures() <= captured + 1,
        "capture goes on with nobody watching: {} -> {}",
        captured,
        agent.captures()
    );
    agent.stop().await;
}

#[tokio::test]
async fn select_monitor_switches_this_viewer_and_unknown_ids_are_bad_requests() {
    let agent = TestAgent::start(Options::default()).await;
    let (mut a, _) = welcome(agent.addr).await;
    let (mut b, _) = welcome(agent.addr).await;
    a.send(ClientMessage::start_monitor()).await;
    b.send(ClientMessage::start_monitor()).await;
    a.send(ClientMessage::SelectMonitor { id: 1 }).await;
    let mut switched = false;
    for _ in 0..10 {
        let (ServerMessage::Frame { width, .. }, jpeg) = a.image().await else {
            unreachable!()
        };
        if width == 32 {
            let p = decode(&jpeg).get_pixel(16, 16).0;
            assert!(p[2] > 180 && p[0] < 70, "blue monitor, got {p:?}");
            switched = true;
            break;
        }
    }
    assert!(switched, "viewer a never saw monitor 1");
    let (ServerMessage::Frame { width, .. }, _) = b.image().await else {
        unreachable!()
    };
    assert_eq!(width, 64, "viewer b still sees monitor 0");

    a.send(ClientMessage::SelectMonitor { id: 7 }).await;
    let replies = a.ping(3).await;
    assert!(
        replies
            .iter()
            .any(|m| error_code(m) == Some(ErrorCode::BadRequest)),
        "{replies:?}"
    );
    // Still connected and still on monitor 1.
    let (ServerMessage::Frame { width, .. }, _) = a.image().await else {
        unreachable!()
    };
    assert_eq!(width, 32);
    agent.stop().await;
}

#[tokio::test]
async fn mouse_moves_are_mapped_to_the_monitor_and_clamped() {
    let agent = TestAgent::start(Options::default()).await;
    let (mut client, _) = welcome(agent.addr).await;
    // Spaced out, so that pacing (see the next test) keeps every move.
    let pause = MOVE_INTERVAL * 3;
    client.send(ClientMessage::MouseMove { x: 10, y: 20 }).await;
    client.send(ClientMessage::SelectMonitor { id: 1 }).await;
    tokio::time::sleep(pause).await;
    client.send(ClientMessage::MouseMove { x: 10, y: 20 }).await;
    tokio::time::sleep(pause).await;
    client
        .send(ClientMessage::MouseMove { x: -40, y: 999 })
        .await;
    client.ping(1).await;
    // The input thread runs on its own; give it a moment.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        agent.input.actions(),
        vec![
            InputAction::MoveTo { x: 10, y: 20 },
            // Monitor 1 starts at x = 64.
            InputAction::MoveTo { x: 74, y: 20 },
            InputAction::MoveTo { x: 64, y: 31 },
        ]
    );
    agent.stop().await;
}

#[tokio::test]
async fn a_silent_viewer_is_dropped_after_the_silence_limit_and_a_pinging_one_stays() {
    // The protocol's 15 s, scaled down: the rule is the same.
    let silence = Duration::from_secs(2);
    let agent = TestAgent::start(Options {
        timeouts: Timeouts {
            silence,
            ..Timeouts::DEFAULT
        },
        ..Options::default()
    })
    .await;
    let (mut silent, _) = welcome(agent.addr).await;
    // The silent viewer's clock starts at its welcome.
    let started = std::time::Instant::now();
    let (mut pinging, _) = welcome(agent.addr).await;
    let mut silent_closed_at = None;
    for id in 0..10 {
        // 10 x 400 ms = 4 s, past the limit; each gap well inside it.
        pinging.ping(id).await;
        if silent_closed_at.is_none() && silent.closed_within(Duration::from_millis(400)).await {
            silent_closed_at = Some(started.elapsed());
        }
    }
    let closed_at = silent_closed_at.expect("the silent viewer was not dropped");
    assert!(
        closed_at >= silence - Duration::from_millis(200)
            && closed_at <= silence + Duration::from_millis(1500),
        "dropped after {closed_at:?}"
    );
    pinging.ping(99).await;
    agent.stop().await;
}

#[tokio::test]
async fn a_flood_of_moves_is_paced_and_the_last_position_wins() {
    let agent = TestAgent::start(Options::default()).await;
    let (mut client, _) = welcome(agent.addr).await;
    let started = std::time::Instant::now();
    for i in 0..2000 {
        client
            .send(ClientMessage::MouseMove { x: i % 64, y: 7 })
            .await;
    }
    client.send(ClientMessage::MouseMove { x: 33, y: 44 }).await;
    // A click right after a held move lands where the pointer was sent.
    client
        .send(ClientMessage::MouseButton {
            button: Button::Left,
            pressed: true,
        })
        .await;
    client.ping(1).await;
    let elapsed = started.elapsed();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let actions = agent.input.actions();
    let moves = actions
        .iter()
        .filter(|a| matches!(a, InputAction::MoveTo { .. }))
        .count();
    // At most one move per interval, plus the first and the flushed one.
    let allowed = (elapsed.as_secs_f64() / MOVE_INTERVAL.as_secs_f64()).ceil() as usize + 2;
    assert!(
        moves <= allowed && moves < 2001,
        "{moves} moves carried out in {elapsed:?} (allowed {allowed})"
    );
    assert_eq!(
        actions[actions.len() - 2..],
        [
            InputAction::MoveTo { x: 33, y: 44 },
            InputAction::Button {
                button: Button::Left,
                pressed: true
            }
        ],
        "{actions:?}"
    );
    agent.stop().await;
}

#[tokio::test]
async fn a_held_move_is_carried_out_when_due() {
    let agent = TestAgent::start(Options::default()).await;
    let (mut client, _) = welcome(agent.addr).await;
    client.send(ClientMessage::MouseMove { x: 1, y: 1 }).await;
    client.send(ClientMessage::MouseMove { x: 2, y: 2 }).await;
    client.send(ClientMessage::MouseMove { x: 3, y: 3 }).await;
    client.ping(1).await;
    // Nothing else comes: the held (3, 3) still goes out on its own.
    tokio::time::sleep(MOVE_INTERVAL * 4 + Duration::from_millis(100)).await;
    let actions = agent.input.actions();
    assert_eq!(actions.first(), Some(&InputAction::MoveTo { x: 1, y: 1 }));
    assert_eq!(actions.last(), Some(&InputAction::MoveTo { x: 3, y: 3 }));
    assert!(actions.len() <= 3, "{actions:?}");
    agent.stop().await;
}

#[tokio::test]
async fn buttons_keys_scroll_and_text_reach_the_input_sink_in_order() {
    let agent = TestAgent::start(Options::default()).await;
    let (mut client, _) = welcome(agent.addr).await;
    for msg in [
        ClientMessage::MouseButton {
            button: Button::Right,
            pressed: true,
        },
        ClientMessage::MouseButton {
            button: Button::Right,
            pressed: false,
        },
        ClientMessage::Scroll {
            dx: 0,
            dy: 1_000_000,
        },
        ClientMessage::Key {
            key: Key::Enter,
            pressed: true,
        },
        ClientMessage::Key {
            key: Key::Enter,
            pressed: false,
        },
        ClientMessage::Text {
            text: "héllo".into(),
        },
    ] {
        client.send(msg).await;
    }
    client.ping(1).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        agent.input.actions(),
        vec![
            InputAction::Button {
                button: Button::Right,
                pressed: true
            },
            InputAction::Button {
                button: Button::Right,
                pressed: false
            },
            InputAction::Scroll { dx: 0, dy: 100 },
            InputAction::Key {
                key: Key::Enter,
                pressed: true
            },
            InputAction::Key {
                key: Key::Enter,
                pressed: false
            },
            InputAction::Text("héllo".into()),
        ]
    );
    agent.stop().await;
}

#[tokio::test]
async fn text_over_1024_characters_is_a_bad_request_and_types_nothing() {
    let agent = TestAgent::start(Options::default()).await;
    let (mut client, _) = welcome(agent.addr).await;
    // Built by hand: our own encoder refuses to send it.
    let json = format!(r#"{{"type":"text","text":"{}"}}"#, "x".repeat(1025));
    let mut buf = BytesMut::new();
    encode_control(json.as_bytes(), &Limits::viewer(), &mut buf).unwrap();
    client.framed.get_mut().write_all(&buf).await.unwrap();
    let replies = client.ping(1).await;
    assert!(
        replies
            .iter()
            .any(|m| error_code(m) == Some(ErrorCode::BadRequest))
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(agent.input.actions().is_empty());
    agent.stop().await;
}

#[tokio::test]
async fn view_only_refuses_input_with_control_disabled_and_stays_connected() {
    let agent = TestAgent::start(Options {
        control: false,
        ..Options::default()
    })
    .await;
    let (mut client, welcome) = welcome(agent.addr).await;
    assert!(matches!(
        welcome,
        ServerMessage::Welcome { control: false, .. }
    ));
    client.send(ClientMessage::MouseMove { x: 1, y: 1 }).await;
    client
        .send(ClientMessage::Key {
            key: Key::Char('a'),
            pressed: true,
        })
        .await;
    let replies = client.ping(1).await;
    assert_eq!(
        replies
            .iter()
            .filter(|m| error_code(m) == Some(ErrorCode::ControlDisabled))
            .count(),
        2,
        "{replies:?}"
    );
    client.send(ClientMessage::start_monitor()).await;
    client.image().await;
    assert!(agent.input.actions().is_empty());
    agent.stop().await;
}

#[tokio::test]
async fn keys_and_buttons_left_pressed_are_released_on_disconnect() {
    let agent = TestAgent::start(Options::default()).await;
    let (mut client, _) = welcome(agent.addr).await;
    client
        .send(ClientMessage::Key {
            key: Key::Shift,
            pressed: true,
        })
        .await;
    client
        .send(ClientMessage::MouseButton {
            button: Button::Left,
            pressed: true,
        })
        .await;
    client
        .send(ClientMessage::Key {
            key: Key::Char('q'),
            pressed: true,
        })
        .await;
    client
        .send(ClientMessage::Key {
            key: Key::Char('q'),
            pressed: false,
        })
        .await;
    client.ping(1).await;
    drop(client);
    let mut released = Vec::new();
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        released = agent.input.actions().split_off(4);
        if released.len() >= 2 {
            break;
        }
    }
    released.sort_by_key(|a| format!("{a:?}"));
    assert_eq!(
        released,
        vec![
            InputAction::Button {
                button: Button::Left,
                pressed: false
            },
            InputAction::Key {
                key: Key::Shift,
                pressed: false
            },
        ],
        "exactly what was still held is released"
    );
    agent.stop().await;
}

#[tokio::test]
async fn garbage_closes_only_that_connection() {
    let agent = TestAgent::start(Options::default()).await;
    let (mut good, _) = welcome(agent.addr).await;
    good.send(ClientMessage::start_monitor()).await;
    good.image().await;

    let cases: [&[u8]; 5] = [
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        // An absurd length: refused before any allocation.
        b"HC\x00\x00\x00\x00\x00\x00\x00\x40",
        b"HC\x00\x00\x00\x00\x00\x00\x00\x00",
        b"HC\x05\x00\x00\x00\x00\x00\x00\x00{\"ty",
        // Viewers never send images.
        b"HT\x02\x00\x00\x00\x00\x00\x00\x00\xff\xd8",
    ];
    for (i, garbage) in cases.iter().enumerate() {
        let (mut bad, _) = welcome(agent.addr).await;
        bad.framed.get_mut().write_all(garbage).await.unwrap();
        if i == 3 {
            // A truncated frame is only an error once the peer gives up.
            bad.framed.get_mut().shutdown().await.unwrap();
        }
        let mut got_error = false;
        let closed = {
            let deadline = tokio::time::Instant::now() + WAIT;
            loop {
                match tokio::time::timeout_at(deadline, bad.framed.next()).await {
                    Err(_) => break false,
                    Ok(Some(Ok(ServerFrame::Control(m)))) => {
                        got_error |= error_code(&m) == Some(ErrorCode::Protocol)
                    }
                    Ok(Some(Ok(_))) => {}
                    Ok(_) => break true,
                }
            }
        };
        assert!(closed, "case {i}: connection stays open");
        if i != 3 {
            assert!(got_error, "case {i}: no protocol error sent");
        }
    }
    // The good viewer never noticed.
    for _ in 0..3 {
        good.image().await;
    }
    good.ping(9).await;
    agent.stop().await;
}

#[tokio::test]
async fn max_viewers_turns_the_next_one_away_with_busy() {
    let agent = TestAgent::start(Options {
        max_viewers: 2,
        ..Options::default()
    })
    .await;
    let (_a, _) = welcome(agent.addr).await;
    let (b, _) = welcome(agent.addr).await;
    let (mut c, answer) = Client::login(agent.addr, TOKEN).await;
    assert_eq!(error_code(&answer), Some(ErrorCode::Busy));
    assert!(c.closed_within(WAIT).await);
    // A slot frees up when a viewer leaves.
    drop(b);
    let mut admitted = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let (_, answer) = Client::login(agent.addr, TOKEN).await;
        if matches!(answer, ServerMessage::Welcome { .. }) {
            admitted = true;
            break;
        }
    }
    assert!(admitted);
    agent.stop().await;
}

#[tokio::test]
async fn silent_peer_is_dropped_after_the_handshake_deadline() {
    let handshake = Duration::from_secs(2);
    let agent = TestAgent::start(Options {
        timeouts: Timeouts {
            handshake,
            ..Timeouts::DEFAULT
        },
        ..Options::default()
    })
    .await;
    let mut client = Client::connect(agent.addr).await;
    assert!(matches!(
        client.message().await,
        ServerMessage::Hello { .. }
    ));
    let started = tokio::time::Instant::now();
    assert!(
        client
            .closed_within(handshake + Duration::from_secs(2))
            .await
    );
    let took = started.elapsed();
    assert!(
        took >= handshake - Duration::from_millis(500) && took < handshake + Duration::from_secs(2),
        "dropped after {took:?}"
    );
    agent.stop().await;
}

#[tokio::test]
async fn ping_gets_pong_with_the_same_id() {
    let agent = TestAgent::start(Options::default()).await;
    let (mut client, _) = welcome(agent.addr).await;
    client.send(ClientMessage::Ping { id: u64::MAX }).await;
    assert_eq!(client.message().await, ServerMessage::Pong { id: u64::MAX });
    agent.stop().await;
}

#[tokio::test]
async fn shutdown_closes_viewers_and_returns() {
    let agent = TestAgent::start(Options::default()).await;
    let (mut client, _) = welcome(agent.addr).await;
    client.send(ClientMessage::start_monitor()).await;
    client.image().await;
    agent.stop().await;
    assert!(client.closed_within(WAIT).await);
}

#[tokio::test]
async fn still_screen_is_sent_once_and_a_new_viewer_gets_the_cached_frame_at_once() {
    let agent = TestAgent::start(Options {
        still: true,
        ..Options::default()
    })
    .await;
    let (mut a, _) = welcome(agent.addr).await;
    a.send(ClientMessage::start_monitor()).await;
    let (ServerMessage::Frame { seq, .. }, _) = a.image().await else {
        unreachable!()
    };
    // The agent keeps looking, but sends nothing new.
    let captured = agent.captures();
    let quiet = tokio::time::timeout(Duration::from_millis(500), a.framed.next()).await;
    assert!(quiet.is_err(), "a still screen was sent again: {quiet:?}");
    assert!(agent.captures() > captured, "capture stopped while watched");

    let (mut b, _) = welcome(agent.addr).await;
    let asked = tokio::time::Instant::now();
    b.send(ClientMessage::start_monitor()).await;
    let (ServerMessage::Frame { seq: cached, .. }, jpeg) = b.image().await else {
        unreachable!()
    };
    assert!(
        asked.elapsed() < Duration::from_millis(200),
        "took {:?}",
        asked.elapsed()
    );
    assert_eq!(cached, seq, "the cached frame, not a new encoding");
    assert_eq!(decode(&jpeg).dimensions(), (64, 48));
    agent.stop().await;
}
