//! The agent binary's local control socket: `lookout-server status`, `kick`,
//! `pause` and `resume` against a real agent with real viewers on loopback,
//! who may talk to the socket, and one agent per socket.

use std::time::{Duration, Instant};

use lookout_protocol::codec::ServerFrame;
use lookout_protocol::{ClientMessage, ErrorCode, ServerMessage, StreamState};
use lookout_server::control::client;
use lookout_server::control::request::Request;
use lookout_tests::client::{Client, WAIT};
use lookout_tests::process::{
    AgentProcess, Running, TempDir, command, control_status as status, ctl,
};
use lookout_tests::x11::Xvfb;

const TOKEN: &str = "control-test-token-1";
const VIEW_TOKEN: &str = "control-view-token-2";

fn agent(extra: &[&str]) -> AgentProcess {
    let mut args = vec![
        "--token",
        TOKEN,
        "--view-token",
        VIEW_TOKEN,
        "--no-tls",
        "--source",
        "test-pattern",
        "--pattern-size",
        "320x240",
    ];
    args.extend_from_slice(extra);
    AgentProcess::start(None, &args)
}

/// The next control message, skipping images, within `within`.
async fn next_message(client: &mut Client, within: Duration) -> Option<ServerMessage> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, futures_util::StreamExt::next(&mut client.framed))
            .await
        {
            Ok(Some(Ok(ServerFrame::Control(msg))))
                if !matches!(msg, ServerMessage::Frame { .. }) =>
            {
                return Some(msg);
            }
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(_)) | None) | Err(_) => return None,
        }
    }
}

/// Images received within `within` (the connection must stay open).
async fn images_within(client: &mut Client, within: Duration) -> usize {
    let deadline = tokio::time::Instant::now() + within;
    let mut images = 0;
    loop {
        match tokio::time::timeout_at(deadline, futures_util::StreamExt::next(&mut client.framed))
            .await
        {
            Ok(Some(Ok(ServerFrame::Image(_)))) => images += 1,
            Ok(Some(Ok(ServerFrame::Control(_)))) => {}
            Ok(Some(Err(err))) => panic!("connection broke: {err}"),
            Ok(None) => panic!("connection closed"),
            Err(_) => return images,
        }
    }
}

#[tokio::test]
async fn status_lists_every_session_with_its_role_and_whether_it_watches() {
    let agent = agent(&[]);
    let (mut watcher, _) = Client::welcome(agent.endpoint(), TOKEN).await;
    watcher.send(ClientMessage::start_monitor()).await;
    watcher.image().await;
    let (mut idle, _) = Client::welcome(agent.endpoint(), VIEW_TOKEN).await;
    idle.ping(1).await;

    let status = status(&agent.control_socket);
    assert_eq!(status.monitors, vec!["0:320x240*".to_owned()]);
    assert_eq!(status.address, agent.addr.to_string());
    assert!(!status.paused);
    assert_eq!(status.sessions.len(), 2, "{status:?}");
    let (a, b) = (&status.sessions[0], &status.sessions[1]);
    assert_eq!((a.role.as_str(), a.monitoring), ("control", true), "{a:?}");
    assert!(a.frames >= 1, "{a:?}");
    assert_eq!(
        (b.role.as_str(), b.monitoring, b.frames),
        ("view", false, 0),
        "{b:?}"
    );
    assert!(a.id < b.id);

    // The human table: one row per session.
    let out = ctl(&agent.control_socket, &["status"]);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{table}");
    let rows = table
        .lines()
        .filter(|l| l.trim_start().starts_with(|c: char| c.is_ascii_digit()))
        .count();
    assert_eq!(rows, 2, "{table}");
    assert!(table.contains("monitor 0"), "{table}");
}

#[tokio::test]
async fn kick_ends_exactly_that_session_and_its_viewer_gets_the_message() {
    let agent = agent(&[]);
    let (mut kicked, _) = Client::welcome(agent.endpoint(), TOKEN).await;
    kicked.send(ClientMessage::start_monitor()).await;
    kicked.image().await;
    let (mut stays, _) = Client::welcome(agent.endpoint(), VIEW_TOKEN).await;
    stays.ping(1).await;
    let id = status(&agent.control_socket).sessions[0].id;

    let out = ctl(
        &agent.control_socket,
        &["kick", &id.to_string(), "--message", "class is over"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let told = next_message(&mut kicked, WAIT).await;
    assert!(
        matches!(&told, Some(ServerMessage::Error { code: ErrorCode::Internal, message, .. }) if message == "class is over"),
        "{told:?}"
    );
    assert!(
        kicked.closed_within(WAIT).await,
        "the kicked session stays open"
    );

    // The other session is alive (ping panics on a closed connection).
    stays.ping(2).await;
    let left = status(&agent.control_socket).sessions;
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(left[0].role, "view");
    // An id that is not there is refused, and says so.
    let out = ctl(&agent.control_socket, &["kick", &id.to_string()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains(&format!("no session {id}")));
}

/// The real viewer, kicked: it shows the agent's words and stays away (a
/// viewer that reconnected would undo the kick). A viewer that only saw
/// the agent's "input is unavailable" (`internal` on an open connection)
/// is covered by the viewer's unit tests.
#[test]
fn a_kicked_viewer_shows_the_message_and_does_not_reconnect() {
    let agent = agent(&[]);
    let screen = Xvfb::start(640, 480);
    let mut cmd = command("lookout-viewer");
    cmd.arg(agent.addr.to_string())
        .args(["--no-tls", "--token", TOKEN, "--no-config"])
        .env("DISPLAY", screen.display())
        .env_remove("LOOKOUT_TOKEN");
    let mut viewer = Running::spawn(cmd);
    let deadline = Instant::now() + WAIT;
    let id = loop {
        let sessions = status(&agent.control_socket).sessions;
        if let Some(s) = sessions.iter().find(|s| s.monitoring && s.frames > 0) {
            break s.id;
        }
        assert!(
            Instant::now() < deadline,
            "the viewer never watched: {sessions:?} {}",
            viewer.stderr.text()
        );
        std::thread::sleep(Duration::from_millis(50));
    };

    let out = ctl(
        &agent.control_socket,
        &["kick", &id.to_string(), "--message", "class is over"],
    );
    assert!(out.status.success());
    let exit = viewer.wait_exit(WAIT);
    let said = viewer.stderr.text();
    assert!(exit.is_some_and(|e| !e.success()), "{exit:?}: {said}");
    assert!(
        said.contains("the agent ended the session: class is over"),
        "{said}"
    );
    assert!(!said.contains("retrying"), "{said}");
    assert!(status(&agent.control_socket).sessions.is_empty());
}

#[tokio::test]
async fn pause_stops_frames_to_every_viewer_and_resume_brings_them_back() {
    let agent = agent(&["--fps", "30"]);
    let mut viewers = Vec::new();
    for token in [TOKEN, VIEW_TOKEN] {
        let (mut viewer, _) = Client::welcome(agent.endpoint(), token).await;
        viewer.send(ClientMessage::start_monitor()).await;
        viewer.image().await;
        viewers.push(viewer);
    }

    let asked = Instant::now();
    let out = ctl(&agent.control_socket, &["pause"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for viewer in &mut viewers {
        let told = next_message(viewer, WAIT).await;
        assert!(
            matches!(&told, Some(ServerMessage::Stream { state: StreamState::Paused, reason }) if reason.contains("paused by the agent")),
            "{told:?}"
        );
    }
    let told_after = asked.elapsed();
    // The command's own process start included; generous for a loaded
    // machine, far below the seconds a broken pause would take.
    assert!(told_after < Duration::from_secs(2), "{told_after:?}");
    // Nothing after `paused`: not one frame in ten frame intervals.
    for viewer in &mut viewers {
        assert_eq!(images_within(viewer, Duration::from_millis(330)).await, 0);
    }
    assert!(status(&agent.control_socket).paused);

    let out = ctl(&agent.control_socket, &["resume"]);
    assert!(out.status.success());
    for viewer in &mut viewers {
        let told = next_message(viewer, WAIT).await;
        assert!(
            matches!(
                told,
                Some(ServerMessage::Stream {
                    state: StreamState::Live,
                    ..
                })
            ),
            "{told:?}"
        );
        let (frame, _) = tokio::time::timeout(WAIT, viewer.image())
            .await
            .expect("a frame after resume");
        assert!(
            matches!(frame, ServerMessage::Frame { rects: None, .. }),
            "a full frame first: {frame:?}"
        );
    }
    // Including the `lookout-server pause` process start, under load.
    println!("pause reached both viewers {told_after:?} after the command started");
}

#[test]
fn another_user_cannot_talk_to_the_control_socket() {
    let agent = agent(&[]);
    let as_nobody = |args: &[&str]| {
        std::process::Command::new("setpriv")
            .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups"])
            .arg(lookout_tests::process::binary("lookout-server"))
            .args(args)
            .env("LOOKOUT_NO_CONFIG", "1")
            .output()
    };
    match as_nobody(&["--version"]) {
        Ok(out) if out.status.success() => {}
        other => {
            eprintln!("skipped: cannot run the agent binary as nobody ({other:?})");
            return;
        }
    }
    let socket = agent.control_socket.to_str().expect("utf-8 path");
    let out = as_nobody(&["status", "--control-socket", socket]).expect("setpriv");
    assert!(!out.status.success(), "nobody read the status");
    assert!(String::from_utf8_lossy(&out.stderr).contains("no agent answers"));

    // Belt and braces: with the file's mode opened up, the agent still
    // closes a client of another user without a word.
    use std::os::unix::fs::PermissionsExt;
    let open = std::fs::Permissions::from_mode(0o777);
    std::fs::set_permissions(agent.control_socket.parent().unwrap(), open.clone()).unwrap();
    std::fs::set_permissions(&agent.control_socket, open).unwrap();
    let out = as_nobody(&["status", "--json", "--control-socket", socket]).expect("setpriv");
    assert!(!out.status.success(), "nobody read the status");
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        agent
            .process
            .stderr
            .wait_for(WAIT, |l| l.contains("another user").then_some(()))
            .is_some(),
        "{}",
        agent.process.stderr.text()
    );
}

#[test]
fn a_second_agent_refuses_a_live_socket_and_a_stale_one_is_replaced() {
    let dir = TempDir::new("control-socket");
    let path = dir.path().join("shared.sock");
    let first = agent(&["--control-socket", path.to_str().unwrap()]);
    let out = command("lookout-server")
        .args([
            "--no-tls",
            "--bind",
            "127.0.0.1:0",
            "--token",
            TOKEN,
            "--source",
            "test-pattern",
        ])
        .arg("--control-socket")
        .arg(&path)
        .output()
        .expect("run");
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("another lookout-server already runs"),
        "{said}"
    );
    assert_eq!(
        status(&path).address,
        first.addr.to_string(),
        "the first one still answers"
    );
    let exited = first
        .process
        .terminate()
        .expect("the first agent exits on SIGTERM");
    assert!(exited.success(), "{exited:?}");
    assert!(!path.exists(), "a clean exit removes the socket");

    // Killed outright, an agent leaves its socket behind: stale.
    let killed = agent(&["--control-socket", path.to_str().unwrap()]);
    drop(killed);
    assert!(path.exists(), "SIGKILL leaves the socket file");
    let agent = agent(&["--control-socket", path.to_str().unwrap()]);
    assert_eq!(status(&path).address, agent.addr.to_string());
}

#[tokio::test]
async fn status_answers_within_50_ms_with_16_viewers() {
    let agent = agent(&["--fps", "30"]);
    let mut viewers = Vec::new();
    for _ in 0..16 {
        let (mut viewer, _) = Client::welcome(agent.endpoint(), TOKEN).await;
        viewer.send(ClientMessage::start_monitor()).await;
        viewers.push(viewer);
    }
    for viewer in &mut viewers {
        viewer.image().await;
    }
    // Keep them reading while the status is asked for.
    let readers: Vec<_> = viewers
        .into_iter()
        .map(|mut v| {
            tokio::spawn(async move { images_within(&mut v, Duration::from_secs(3)).await })
        })
        .collect();
    let socket = agent.control_socket.clone();
    let times = tokio::task::spawn_blocking(move || {
        (0..5)
            .map(|_| {
                let started = Instant::now();
                let reply = client::ask(&socket, &Request::Status).expect("status");
                let took = started.elapsed();
                assert_eq!(reply.status.expect("status").sessions.len(), 16);
                took
            })
            .collect::<Vec<_>>()
    })
    .await
    .unwrap();
    let socket = agent.control_socket.clone();
    let binary = tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let out = ctl(&socket, &["status"]);
        assert!(out.status.success());
        started.elapsed()
    })
    .await
    .unwrap();
    for reader in readers {
        assert!(reader.await.unwrap() > 0);
    }
    println!(
        "status with 16 viewers: socket round trips {times:?}; `lookout-server status` process {binary:?}"
    );
    let best = times.iter().min().unwrap();
    assert!(*best < Duration::from_millis(50), "{times:?}");
}
