//! The browser transport (§5) against the agent library over TLS, with a
//! plain Rust client instead of a browser: ALPN picks the transport, the
//! page's headers, who may open the WebSocket, one frame per message, and
//! a bad message closes only its own connection.

use std::time::Duration;

use lookout_protocol::{
    BindingMode, ChannelBinding, ClientMessage, ErrorCode, PROTOCOL_VERSION, RawFrame,
    ServerMessage, Timeouts, auth_response,
};
use lookout_tests::agent::{Options, TOKEN, TestAgent};
use lookout_tests::client::Client;
use tokio_tungstenite::tungstenite::Message;

use crate::web_support::{Socket, http, message, next, send, tls, websocket};
use futures_util::SinkExt;

async fn agent(web: bool) -> TestAgent {
    TestAgent::start(Options {
        tls: true,
        web,
        ..Options::default()
    })
    .await
}

/// A signed-in browser session: `hello` says `binding: none`, and the
/// unbound proof is accepted.
async fn signed_in(agent: &TestAgent) -> Socket {
    signed_in_with(agent, TOKEN).await
}

async fn signed_in_with(agent: &TestAgent, token: &str) -> Socket {
    let mut ws = websocket(agent.addr, None).await.expect("the upgrade");
    let ServerMessage::Hello {
        challenge, binding, ..
    } = message(&mut ws).await
    else {
        panic!("expected hello");
    };
    assert_eq!(
        binding,
        BindingMode::None,
        "a page cannot read the exporter"
    );
    let response = auth_response(token, &challenge, &ChannelBinding::None);
    let auth = ClientMessage::Auth {
        protocol: PROTOCOL_VERSION,
        client: "web-test".into(),
        response,
    };
    send(&mut ws, &auth).await;
    let welcome = message(&mut ws).await;
    assert!(
        matches!(welcome, ServerMessage::Welcome { .. }),
        "{welcome:?}"
    );
    ws
}

#[tokio::test]
async fn alpn_http_1_1_selects_the_browser_transport_and_no_web_turns_it_off() {
    let web = agent(true).await;
    let alpn = |s: &tokio_rustls::client::TlsStream<tokio::net::TcpStream>| {
        s.get_ref().1.alpn_protocol().map(<[u8]>::to_vec)
    };
    let chosen = tls(web.addr, &[b"h2", b"http/1.1"]).await.unwrap();
    assert_eq!(alpn(&chosen), Some(b"http/1.1".to_vec()), "never h2");
    assert!(
        tls(web.addr, &[b"h2"]).await.is_err(),
        "an h2-only client is refused in the TLS handshake"
    );
    // No ALPN is the native protocol, with its channel binding.
    let (mut native, _) = Client::welcome(web.endpoint, TOKEN).await;
    native.ping(7).await;
    let plain = tls(web.addr, &[]).await.unwrap();
    assert_eq!(alpn(&plain), None);
    web.stop().await;

    let off = agent(false).await;
    assert!(
        tls(off.addr, &[b"http/1.1"]).await.is_err(),
        "with --no-web, http/1.1 is not offered"
    );
    let chosen = tls(off.addr, &[b"http/1.1", b"lookout/2"]).await.unwrap();
    assert_eq!(alpn(&chosen), Some(b"lookout/2".to_vec()));
    off.stop().await;
}

#[tokio::test]
async fn the_page_is_served_with_a_strict_csp_and_no_framing_and_nothing_else_is() {
    let agent = agent(true).await;
    let (status, head, body) = http(agent.addr, "GET", "/").await;
    assert_eq!(status, 200);
    let body = String::from_utf8(body).unwrap();
    assert!(body.contains(r#"<canvas id="screen""#) && body.contains(r#"name="token""#));
    for header in [
        "content-security-policy: default-src 'none'; script-src 'self'; style-src 'self'; \
         img-src 'none'; connect-src 'self'; frame-ancestors 'none'; \
         base-uri 'none'; form-action 'none'",
        "x-frame-options: deny",
        "x-content-type-options: nosniff",
        "referrer-policy: no-referrer",
        "cache-control: no-store",
        "content-type: text/html",
    ] {
        assert!(head.contains(header), "missing {header:?} in\n{head}");
    }
    let mut scripts = 0;
    for name in ["page", "session", "canvas", "input", "status", "signin"] {
        let path = format!("/{name}.js");
        assert!(body.contains(&format!(r#"<script src="{path}" defer>"#)));
        let (status, head, script) = http(agent.addr, "GET", &path).await;
        assert_eq!(status, 200, "{path}");
        assert!(head.contains("content-type: text/javascript"), "{head}");
        scripts += script.len();
    }
    let (_, _, style) = http(agent.addr, "GET", "/app.css").await;
    assert!(
        scripts + style.len() < 100 * 1024,
        "script and style under 100 KB"
    );
    let (status, _, info) = http(agent.addr, "GET", "/info").await;
    assert_eq!(status, 200);
    let info: serde_json::Value = serde_json::from_slice(&info).unwrap();
    let fingerprint = agent.endpoint.pin.unwrap().to_string();
    assert_eq!(info["fingerprint"], fingerprint.as_str());
    let (status, head, _) = http(agent.addr, "GET", "/etc/passwd").await;
    assert_eq!(status, 404);
    assert!(head.contains("x-frame-options: deny"));
    assert_eq!(http(agent.addr, "POST", "/").await.0, 405);
    assert_eq!(http(agent.addr, "DELETE", "/ws").await.0, 405);
    agent.stop().await;
}

#[tokio::test]
async fn a_websocket_from_a_foreign_origin_gets_403_and_the_pages_own_signs_in() {
    let agent = agent(true).await;
    let other_port = format!("https://127.0.0.1:{}", agent.addr.port() + 1);
    for origin in [
        "https://evil.example",
        "http://127.0.0.1",
        "null",
        &other_port,
    ] {
        assert_eq!(
            websocket(agent.addr, Some(origin)).await.err(),
            Some(403),
            "{origin}"
        );
    }
    assert_eq!(
        crate::web_support::websocket_without_origin(agent.addr).await,
        403,
        "no Origin at all"
    );
    let mut ws = signed_in(&agent).await;
    send(&mut ws, &ClientMessage::start_monitor()).await;
    // A frame message, then its picture: each its own binary message.
    let ServerMessage::Frame { width, height, .. } = message(&mut ws).await else {
        panic!("expected a frame");
    };
    assert!(width > 0 && height > 0);
    let Some(RawFrame::Image(jpeg)) = next(&mut ws).await else {
        panic!("expected the picture");
    };
    let picture = lookout_tests::client::decode(&jpeg);
    assert_eq!((picture.width(), picture.height()), (width, height));
    agent.stop().await;
}

#[tokio::test]
async fn a_wrong_token_over_the_websocket_is_refused_like_a_native_one() {
    let agent = agent(true).await;
    let mut ws = websocket(agent.addr, None).await.unwrap();
    let ServerMessage::Hello { challenge, .. } = message(&mut ws).await else {
        panic!("expected hello");
    };
    let response = auth_response("not the token at all", &challenge, &ChannelBinding::None);
    let auth = ClientMessage::Auth {
        protocol: PROTOCOL_VERSION,
        client: "web-test".into(),
        response,
    };
    send(&mut ws, &auth).await;
    let ServerMessage::Error { code, .. } = message(&mut ws).await else {
        panic!("expected an error");
    };
    assert_eq!(code, ErrorCode::AuthFailed);
    assert!(next(&mut ws).await.is_none(), "closed after auth_failed");
    agent.stop().await;
}

/// Signs in over a new WebSocket with `token`; the agent's answer.
async fn answer_to(agent: &TestAgent, token: &str) -> ServerMessage {
    let mut ws = websocket(agent.addr, None).await.expect("the upgrade");
    let ServerMessage::Hello { challenge, .. } = message(&mut ws).await else {
        panic!("expected hello");
    };
    let response = auth_response(token, &challenge, &ChannelBinding::None);
    let auth = ClientMessage::Auth {
        protocol: PROTOCOL_VERSION,
        client: "web-test".into(),
        response,
    };
    send(&mut ws, &auth).await;
    message(&mut ws).await
}

#[tokio::test]
async fn the_wrong_token_that_blocks_the_address_says_for_how_long() {
    let agent = agent(true).await;
    for _ in 0..4 {
        let answer = answer_to(&agent, "not the token at all").await;
        assert!(
            matches!(
                &answer,
                ServerMessage::Error { code: ErrorCode::AuthFailed, message, retry_after: None }
                    if message == "authentication failed"
            ),
            "{answer:?}"
        );
    }
    let ServerMessage::Error {
        code,
        message,
        retry_after,
    } = answer_to(&agent, "not the token at all").await
    else {
        panic!("expected auth_failed");
    };
    assert_eq!(code, ErrorCode::AuthFailed);
    let block = Timeouts::DEFAULT.auth_block;
    let left = retry_after.expect("retry_after_ms on the blocking answer");
    assert!(
        left <= block && left + Duration::from_secs(2) > block,
        "{left:?} of {block:?}"
    );
    let secs = block.as_secs();
    assert_eq!(
        message,
        format!("authentication failed; this address is blocked for {secs} s")
    );
    // The next connection from this address is dropped at accept.
    assert!(tls(agent.addr, &[b"http/1.1"]).await.is_err());
    agent.stop().await;
}

#[tokio::test]
async fn silent_connections_that_fill_an_addresss_share_give_way_to_a_browser() {
    use tokio::io::AsyncReadExt;
    let agent = agent(true).await;
    // Eight silent TLS connections: every HTTP place this address has.
    let mut silent = Vec::new();
    for _ in 0..8 {
        silent.push(tls(agent.addr, &[b"http/1.1"]).await.unwrap());
    }
    // The page still loads: the longest idle connection made room.
    let (status, _, _) = http(agent.addr, "GET", "/").await;
    assert_eq!(status, 200);
    let mut oldest = silent.remove(0);
    let mut byte = [0u8; 1];
    let read = tokio::time::timeout(crate::web_support::WAIT, oldest.read(&mut byte))
        .await
        .expect("the displaced connection is closed");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    agent.stop().await;
}

#[tokio::test]
async fn a_text_or_oversize_message_closes_only_that_connection() {
    let agent = agent(true).await;
    let (mut native, _) = Client::welcome(agent.endpoint, TOKEN).await;
    let mut other = signed_in(&agent).await;

    let mut text = signed_in(&agent).await;
    text.send(Message::Text(r#"{"type":"ping","id":1}"#.into()))
        .await
        .unwrap();
    let ServerMessage::Error { code, .. } = message(&mut text).await else {
        panic!("expected a protocol error");
    };
    assert_eq!(code, ErrorCode::Protocol);
    assert!(next(&mut text).await.is_none());

    let mut big = signed_in(&agent).await;
    let mut frame = b"HC".to_vec();
    let payload = vec![b' '; 70 * 1024];
    frame.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    frame.extend_from_slice(&payload);
    // The agent may close before the whole message is written.
    let _ = big.send(Message::Binary(frame.into())).await;
    let mut closed = false;
    for _ in 0..4 {
        match next(&mut big).await {
            None => {
                closed = true;
                break;
            }
            Some(_) => continue,
        }
    }
    assert!(closed, "an oversize message closes its connection");

    let mut two = signed_in(&agent).await;
    let ping = ClientMessage::Ping { id: 5 };
    let mut bytes = bytes::BytesMut::new();
    ping.encode(&mut bytes).unwrap();
    ping.encode(&mut bytes).unwrap();
    two.send(Message::Binary(bytes.freeze())).await.unwrap();
    let ServerMessage::Error { code, .. } = message(&mut two).await else {
        panic!("two frames in one message is a protocol error");
    };
    assert_eq!(code, ErrorCode::Protocol);

    // The others never noticed.
    send(&mut other, &ClientMessage::Ping { id: 9 }).await;
    assert!(matches!(
        message(&mut other).await,
        ServerMessage::Pong { id: 9 }
    ));
    native.ping(3).await;
    agent.stop().await;
}

#[tokio::test]
async fn a_browser_session_takes_a_viewer_place_like_a_native_one() {
    let agent = TestAgent::start(Options {
        tls: true,
        max_viewers: 1,
        ..Options::default()
    })
    .await;
    let (_native, _) = Client::welcome(agent.endpoint, TOKEN).await;
    let mut ws = websocket(agent.addr, None).await.unwrap();
    let ServerMessage::Hello { challenge, .. } = message(&mut ws).await else {
        panic!("expected hello");
    };
    let response = auth_response(TOKEN, &challenge, &ChannelBinding::None);
    let auth = ClientMessage::Auth {
        protocol: PROTOCOL_VERSION,
        client: "web-test".into(),
        response,
    };
    send(&mut ws, &auth).await;
    let ServerMessage::Error { code, .. } = message(&mut ws).await else {
        panic!("expected busy");
    };
    assert_eq!(code, ErrorCode::Busy);
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_browser_costs_no_backlog_and_no_frame_rate() {
    use crate::agent_slow_viewer::measure;
    use std::time::Duration;
    // 640x360 of noise: ~300 KB JPEGs, so a backlog would show at once.
    let agent = TestAgent::start(Options {
        big_noisy: Some((640, 360)),
        fps: 20,
        tls: true,
        ..Options::default()
    })
    .await;
    let (mut fast, _) = Client::welcome(agent.endpoint, TOKEN).await;
    fast.send(ClientMessage::start_monitor()).await;
    let (alone, _) = measure(&mut fast, Duration::from_secs(2)).await;

    let mut stalled = signed_in(&agent).await;
    send(&mut stalled, &ClientMessage::start_monitor()).await;
    // From here on the browser reads nothing: its socket fills, then the
    // bridge's pipe, then its session's writes wait.
    let (with_stalled, span) = measure(&mut fast, Duration::from_secs(4)).await;
    let (rate_alone, rate_with) = (alone as f64 / 2.0, with_stalled as f64 / 4.0);
    let stall_ended_us = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as u64;
    // What the stalled browser gets when it reads again, before the first
    // picture captured after the stall: all that waited for it anywhere
    // (kernel buffers, the pipe, the WebSocket's buffer). Measured on its
    // own connection, not as the test process's memory (other tests run
    // beside this one).
    let mut stale = 0usize;
    for _ in 0..10_000 {
        match next(&mut stalled).await {
            Some(RawFrame::Control(json)) => {
                if let Ok(ServerMessage::Frame { captured_at_us, .. }) = ServerMessage::parse(&json)
                    && captured_at_us > stall_ended_us
                {
                    break;
                }
            }
            Some(RawFrame::Image(jpeg)) => stale += jpeg.len(),
            None => break,
        }
    }
    eprintln!(
        "alone {rate_alone:.1}/s; next to a stalled browser {rate_with:.1}/s \
         ({with_stalled} of {span}); {} KiB waited for the stalled browser",
        stale / 1024
    );
    assert!(
        with_stalled as f64 >= 0.9 * span as f64,
        "fast viewer missed frames: {with_stalled} of {span}"
    );
    assert!(
        rate_with >= 0.8 * rate_alone,
        "fast viewer slowed down: {rate_alone:.1}/s -> {rate_with:.1}/s"
    );
    // Four seconds at 20 fps of 300 KB frames would be ~24 MB of backlog;
    // loopback's socket buffers and one frame in flight hold far less.
    assert!(stale < 16 * 1024 * 1024, "{stale} bytes waited");
    drop(stalled);
    agent.stop().await;
}

#[tokio::test]
async fn the_agent_prints_the_url_to_open_unless_no_web() {
    use lookout_tests::process::AgentProcess;
    let args = [
        "--token",
        TOKEN,
        "--source",
        "test-pattern",
        "--no-discovery",
    ];
    let agent = AgentProcess::start(None, &args);
    let url = format!("open https://127.0.0.1:{}/ in a browser", agent.addr.port());
    let printed = agent
        .process
        .stdout
        .wait_for(std::time::Duration::from_secs(5), |l| {
            (l == url).then_some(())
        });
    assert!(printed.is_some(), "stdout: {}", agent.process.stdout.text());
    drop(agent);

    let mut off = args.to_vec();
    off.push("--no-web");
    let agent = AgentProcess::start(None, &off);
    assert!(tls(agent.addr, &[b"http/1.1"]).await.is_err());
    // Everything it will ever print: the lines are collected once it has
    // exited, so the absence below is checked, not raced.
    let stdout = agent.process.stdout.clone();
    assert!(
        agent.process.terminate().is_some(),
        "the agent exits on TERM"
    );
    let printed = stdout.text();
    assert!(printed.contains("fingerprint sha256:"), "{printed}");
    assert!(!printed.contains("in a browser"), "{printed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_browsers_session_gives_back_its_descriptors_when_it_ends() {
    use lookout_tests::process::AgentProcess;
    use std::time::Instant;
    // A moving 1280x720 pattern fills a socket that is never read within
    // seconds; the write deadline then ends the session.
    let agent = AgentProcess::start(
        None,
        &[
            "--token",
            TOKEN,
            "--source",
            "test-pattern",
            "--pattern-size",
            "1280x720",
            "--no-discovery",
            "--timeouts",
            "write=1s",
        ],
    );
    // Served once first, so that lazily opened descriptors are counted.
    let (status, _, _) = http(agent.addr, "GET", "/").await;
    assert_eq!(status, 200);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut baseline = agent.process.open_fds();
    // Settle: the closed page connection may take a moment to go.
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = agent.process.open_fds();
        if now == baseline {
            break;
        }
        baseline = now;
    }
    let mut stalled = websocket(agent.addr, None).await.expect("the upgrade");
    let ServerMessage::Hello { challenge, .. } = message(&mut stalled).await else {
        panic!("expected hello");
    };
    let auth = ClientMessage::Auth {
        protocol: PROTOCOL_VERSION,
        client: "web-test".into(),
        response: auth_response(TOKEN, &challenge, &ChannelBinding::None),
    };
    send(&mut stalled, &auth).await;
    assert!(matches!(
        message(&mut stalled).await,
        ServerMessage::Welcome { .. }
    ));
    send(&mut stalled, &ClientMessage::start_monitor()).await;
    assert!(
        agent.process.open_fds() > baseline,
        "the session holds its socket"
    );
    // From here on the browser reads nothing and stays connected.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut open = agent.process.open_fds();
    while open > baseline {
        assert!(
            Instant::now() < deadline,
            "{open} descriptors open, {baseline} before the stalled browser"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        open = agent.process.open_fds();
    }
    drop(stalled);
}

#[tokio::test]
async fn garbage_before_sign_in_over_the_websocket_counts_like_native_garbage() {
    let agent = agent(true).await;
    for n in 1..=5 {
        let mut ws = websocket(agent.addr, None).await.expect("the upgrade");
        assert!(matches!(
            message(&mut ws).await,
            ServerMessage::Hello { .. }
        ));
        ws.send(Message::Text("not a frame".into())).await.unwrap();
        let ServerMessage::Error {
            code, retry_after, ..
        } = message(&mut ws).await
        else {
            panic!("expected a protocol error");
        };
        assert_eq!(code, ErrorCode::Protocol);
        assert_eq!(
            retry_after.is_some(),
            n == 5,
            "attempt {n}: {retry_after:?}"
        );
    }
    // Blocked like five wrong tokens: dropped at accept.
    assert!(tls(agent.addr, &[b"http/1.1"]).await.is_err());
    agent.stop().await;
}

#[tokio::test]
async fn a_view_only_browser_gets_control_disabled_for_input() {
    const VIEW: &str = "web-transport-view-token-0987";
    let agent = TestAgent::start(Options {
        tls: true,
        access: lookout_server::Access::Token {
            token: TOKEN.into(),
            view_token: Some(VIEW.into()),
            generated: false,
        },
        ..Options::default()
    })
    .await;
    let mut ws = signed_in_with(&agent, VIEW).await;
    send(&mut ws, &ClientMessage::MouseMove { x: 5, y: 5 }).await;
    let ServerMessage::Error { code, .. } = message(&mut ws).await else {
        panic!("expected control_disabled");
    };
    assert_eq!(code, ErrorCode::ControlDisabled);
    // It stays connected.
    send(&mut ws, &ClientMessage::Ping { id: 4 }).await;
    assert!(matches!(
        message(&mut ws).await,
        ServerMessage::Pong { id: 4 }
    ));
    agent.stop().await;
}

#[tokio::test]
async fn a_silent_websocket_is_closed_at_the_sign_in_deadline_from_its_upgrade() {
    let handshake = Duration::from_secs(2);
    let agent = TestAgent::start(Options {
        tls: true,
        timeouts: Timeouts {
            handshake,
            ..Timeouts::DEFAULT
        },
        ..Options::default()
    })
    .await;
    let upgraded = std::time::Instant::now();
    let mut ws = websocket(agent.addr, None).await.expect("the upgrade");
    assert!(matches!(
        message(&mut ws).await,
        ServerMessage::Hello { .. }
    ));
    // Nothing sent: the agent closes it (`next` waits up to 5 s).
    assert!(next(&mut ws).await.is_none(), "closed at the deadline");
    let took = upgraded.elapsed();
    assert!(
        took >= handshake - Duration::from_millis(100),
        "closed early: {took:?}"
    );
    agent.stop().await;
}
