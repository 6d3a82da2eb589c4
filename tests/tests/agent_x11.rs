//! The real agent binary on a real (virtual) X display: what it captures is
//! what is on the screen, and what viewers send moves the real pointer.

use std::time::Duration;

use lookout_protocol::{ClientMessage, ErrorCode, ServerMessage};
use lookout_tests::client::{Client, decode};
use lookout_tests::process::AgentProcess;
use lookout_tests::x11::{Xvfb, mean_abs_diff, test_card};

const TOKEN: &str = "x11-test-token-0123";

#[tokio::test]
async fn known_image_on_the_root_window_arrives_as_a_matching_jpeg() {
    let x = Xvfb::start(640, 480);
    let card = test_card(640, 480);
    x.set_root_image(&card);
    let agent = AgentProcess::start(Some(x.display()), &["--token", TOKEN, "--quality", "90"]);

    let (mut client, welcome) = Client::welcome(agent.endpoint(), TOKEN).await;
    let ServerMessage::Welcome { monitors, .. } = welcome else {
        unreachable!()
    };
    assert_eq!((monitors[0].width, monitors[0].height), (640, 480));
    client.send(ClientMessage::start_monitor()).await;
    let (meta, jpeg) = client.image().await;
    assert!(matches!(
        meta,
        ServerMessage::Frame {
            width: 640,
            height: 480,
            ..
        }
    ));
    let got = decode(&jpeg);
    let diff = mean_abs_diff(&got, &card);
    assert!(
        diff < 4.0,
        "captured frame differs from the screen: {diff:.2}"
    );
    // The arrangement, not just the average: each quadrant's colour.
    for (px, py) in [(160, 120), (480, 120), (160, 360), (480, 360)] {
        let (a, b) = (got.get_pixel(px, py).0, card.get_pixel(px, py).0);
        assert!(
            a.iter().zip(b).all(|(x, y)| x.abs_diff(y) < 20),
            "at ({px},{py}): got {a:?}, screen has {b:?}"
        );
    }

    // The token never appears in the log.
    let mut process = agent.process;
    assert!(!process.stderr.text().contains(TOKEN));
    // SIGTERM: viewers are closed and the agent exits 0.
    process.signal("TERM");
    assert!(client.closed_within(Duration::from_secs(5)).await);
    let status = process
        .wait_exit(Duration::from_secs(10))
        .expect("agent exits");
    assert!(status.success(), "exit status {status:?}");
}

#[tokio::test]
async fn mouse_move_moves_the_x_pointer_to_the_mapped_clamped_position() {
    let x = Xvfb::start(640, 480);
    let agent = AgentProcess::start(Some(x.display()), &["--token", TOKEN]);
    let (mut client, _) = Client::welcome(agent.endpoint(), TOKEN).await;

    x.move_pointer(5, 5);
    client
        .send(ClientMessage::MouseMove { x: 123, y: 321 })
        .await;
    // Checked while the agent runs.
    assert_eq!(
        x.wait_pointer((123, 321), Duration::from_secs(3)),
        (123, 321)
    );

    // Off the monitor: clamped to its last pixel, never outside.
    client
        .send(ClientMessage::MouseMove { x: 5000, y: -40 })
        .await;
    assert_eq!(x.wait_pointer((639, 0), Duration::from_secs(3)), (639, 0));
    drop(client);
}

#[tokio::test]
async fn wrong_token_gets_no_frame_and_does_not_move_the_pointer() {
    let x = Xvfb::start(320, 240);
    let agent = AgentProcess::start(Some(x.display()), &["--token", TOKEN]);
    x.move_pointer(17, 19);

    let (mut client, answer) = Client::login(agent.endpoint(), "guess").await;
    assert!(
        matches!(
            answer,
            ServerMessage::Error {
                code: ErrorCode::AuthFailed,
                ..
            }
        ),
        "{answer:?}"
    );
    // Try anyway; the agent must ignore all of it and close.
    for msg in [
        ClientMessage::start_monitor(),
        ClientMessage::MouseMove { x: 200, y: 200 },
    ] {
        let _ = futures_util::SinkExt::send(&mut client.framed, msg).await;
    }
    let mut images = 0;
    loop {
        match tokio::time::timeout(
            Duration::from_secs(3),
            futures_util::StreamExt::next(&mut client.framed),
        )
        .await
        {
            Ok(Some(Ok(lookout_protocol::codec::ServerFrame::Image(_)))) => images += 1,
            Ok(Some(Ok(_))) => {}
            Ok(_) => break,
            Err(_) => panic!("connection not closed after auth_failed"),
        }
    }
    assert_eq!(images, 0);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(x.pointer(), (17, 19), "an impostor moved the pointer");
    assert!(
        agent
            .process
            .stderr
            .text()
            .contains(r#"reason="wrong token""#)
    );
}
