//! The real agent binary in a headless sway session (Wayland, wlroots):
//! its frames match `grim`'s screenshots, viewers' input lands on the right
//! output and reaches native (foot) and Xwayland (xterm) applications, a
//! still screen costs next to nothing, and the real viewer works against
//! it. Each test starts its own sway ([`Sway::start`]); without root or the
//! packages (dev.sh PACKAGES) the tests print why and skip.

use std::path::Path;
use std::time::{Duration, Instant};

use lookout_protocol::{Button, ClientMessage, Key, ServerMessage};
use lookout_tests::client::{Client, decode};
use lookout_tests::process::{AgentProcess, Running, TempDir, command};
use lookout_tests::sway::Sway;
use lookout_tests::x11::mean_abs_diff;

const TOKEN: &str = "wayland-test-token-0123";

/// How long a window, a file's contents or the pointer may take to show.
const SHOW: Duration = Duration::from_secs(20);

/// A sway session with `outputs`, or `None` (printed) when none can run here.
fn sway(outputs: &[(u32, u32)]) -> Option<Sway> {
    match Sway::start(outputs) {
        Ok(sway) => Some(sway),
        Err(why) => {
            eprintln!("SKIPPED: no headless sway here: {why}");
            None
        }
    }
}

/// The agent of `sway`'s session, on the wlroots backend.
fn agent(sway: &Sway, extra: &[&str]) -> AgentProcess {
    let mut args = vec!["--token", TOKEN, "--capture", "wlr"];
    args.extend_from_slice(extra);
    AgentProcess::start_with_env("127.0.0.1:0", None, &sway.agent_env(), &args)
}

/// Polls `path` (bounded by [`SHOW`]) until it holds `want`; returns what
/// it holds last.
fn wait_file(path: &Path, want: &str) -> String {
    let deadline = Instant::now() + SHOW;
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if text == want || Instant::now() > deadline {
            return text;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Polls until `check` holds (bounded by [`SHOW`]).
fn wait_for(mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + SHOW;
    while Instant::now() < deadline {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    check()
}

#[tokio::test]
async fn wayland_frame_matches_a_grim_screenshot_of_the_same_output() {
    let Some(sway) = sway(&[(1280, 720)]) else {
        return;
    };
    sway.exec("foot --title listing sh -c 'ls -la /usr/bin | head -40; sleep 600'");
    assert!(sway.wait_window("listing", SHOW), "{}", sway.log());
    // The listing is drawn once it is there.
    std::thread::sleep(Duration::from_millis(500));
    let agent = agent(&sway, &["--quality", "95"]);
    let (mut client, welcome) = Client::welcome(agent.endpoint(), TOKEN).await;
    let ServerMessage::Welcome { monitors, .. } = welcome else {
        unreachable!()
    };
    assert_eq!(monitors.len(), 1, "{monitors:?}");
    assert_eq!((monitors[0].width, monitors[0].height), (1280, 720));
    assert_eq!(monitors[0].name, "HEADLESS-1");
    client.send(ClientMessage::start_monitor()).await;
    let (_, jpeg) = client.image().await;
    let got = decode(&jpeg);
    let reference = sway.grim("HEADLESS-1");
    let diff = mean_abs_diff(&got, &reference);
    assert!(
        diff < 4.0,
        "the frame differs from grim's screenshot: {diff:.2}"
    );
}

#[tokio::test]
async fn mouse_move_lands_on_the_right_output_of_two() {
    let Some(sway) = sway(&[(1280, 720), (800, 600)]) else {
        return;
    };
    // An X window on the second output: Xwayland then knows where the
    // pointer is over it, and xdotool reads it back.
    sway.msg(&["focus", "output", "HEADLESS-2"]);
    sway.exec("xterm -T right -e sleep 600");
    assert!(sway.wait_window("right", SHOW), "{}", sway.log());
    let agent = agent(&sway, &[]);
    let (mut client, welcome) = Client::welcome(agent.endpoint(), TOKEN).await;
    let ServerMessage::Welcome { monitors, .. } = welcome else {
        unreachable!()
    };
    let right = monitors
        .iter()
        .find(|m| m.name == "HEADLESS-2")
        .unwrap_or_else(|| panic!("no HEADLESS-2 in {monitors:?}"));
    assert_eq!(
        (right.x, right.y, right.width, right.height),
        (1280, 0, 800, 600)
    );
    client
        .send(ClientMessage::SelectMonitor { id: right.id })
        .await;
    for (x, y) in [(300, 200), (650, 450)] {
        let want = format!("x:{} y:{} ", 1280 + x, y);
        let (landed, last) = move_and_read_back(&mut client, &sway, (x, y), &want).await;
        assert!(
            landed,
            "wanted {want}, xdotool says {last}; tree: {}; agent: {}",
            sway.msg_retried(&["-t", "get_tree"]),
            agent.process.stderr.text()
        );
    }
}

/// Moves the pointer to frame pixel `at` and waits (bounded by [`SHOW`])
/// until xdotool in Xwayland reads `want` back. xdotool sees the pointer
/// only through Xwayland, which learns of it from the motion events sway
/// sends while it is over an X window; on a loaded machine the first
/// motion can arrive before Xwayland follows the window under it, and
/// Xwayland keeps an old position. So the move is sent again, after a
/// one-pixel nudge, until the position reads back: the last move sent is
/// always `at`, and a wrong mapping never reads back as `want`.
async fn move_and_read_back(
    client: &mut Client,
    sway: &Sway,
    (x, y): (i32, i32),
    want: &str,
) -> (bool, String) {
    let deadline = Instant::now() + SHOW;
    let mut last = String::new();
    while Instant::now() < deadline {
        client.send(ClientMessage::MouseMove { x, y }).await;
        for _ in 0..10 {
            last = sway.xdotool(&["getmouselocation"]);
            if last.starts_with(want) {
                return (true, last);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        client.send(ClientMessage::MouseMove { x: x + 1, y }).await;
    }
    (false, last)
}

/// sway's logical x of output `name` (`swaymsg -t get_outputs`).
fn logical_x(sway: &Sway, name: &str) -> i64 {
    let outputs: serde_json::Value =
        serde_json::from_str(&sway.msg_retried(&["-t", "get_outputs"])).expect("sway's outputs");
    outputs
        .as_array()
        .into_iter()
        .flatten()
        .find(|o| o["name"] == name)
        .and_then(|o| o["rect"]["x"].as_i64())
        .unwrap_or_else(|| panic!("no {name} in {outputs}"))
}

#[tokio::test]
async fn mouse_move_lands_on_the_right_spot_of_a_scale_2_output_and_its_neighbour() {
    let Some(sway) = sway(&[(1280, 720), (800, 600)]) else {
        return;
    };
    // HEADLESS-1 becomes 640x360 logical, HEADLESS-2 moves next to it.
    sway.msg_retried(&["output", "HEADLESS-1", "scale", "2"]);
    sway.msg_retried(&["output", "HEADLESS-2", "position", "640", "0"]);
    // X windows under the pointer on both: xdotool reads it back, in
    // logical units (Xwayland is not scaled).
    for (output, title) in [("HEADLESS-1", "scaled"), ("HEADLESS-2", "plain")] {
        sway.msg_retried(&["focus", "output", output]);
        sway.exec(&format!("xterm -T {title} -e sleep 600"));
        assert!(sway.wait_window(title, SHOW), "{}", sway.log());
    }
    let second_x = logical_x(&sway, "HEADLESS-2");
    let agent = agent(&sway, &[]);
    let (mut client, welcome) = Client::welcome(agent.endpoint(), TOKEN).await;
    let ServerMessage::Welcome { monitors, .. } = welcome else {
        unreachable!()
    };
    let find = |name: &str| {
        monitors
            .iter()
            .find(|m| m.name == name)
            .unwrap_or_else(|| panic!("no {name} in {monitors:?}"))
            .clone()
    };
    let (scaled, plain) = (find("HEADLESS-1"), find("HEADLESS-2"));
    assert_eq!((scaled.width, scaled.height), (1280, 720), "pixels");
    let overlap =
        scaled.x + scaled.width as i32 > plain.x && plain.x + plain.width as i32 > scaled.x;
    assert!(!overlap, "monitors overlap: {scaled:?} {plain:?}");
    // Frame pixels of the scaled output are half as many logical units.
    for (monitor, (x, y), want) in [
        (&scaled, (600, 400), (300, 200)),
        (&plain, (300, 200), (second_x + 300, 200)),
        (&scaled, (1200, 100), (600, 50)),
    ] {
        client
            .send(ClientMessage::SelectMonitor { id: monitor.id })
            .await;
        let want = format!("x:{} y:{} ", want.0, want.1);
        let (landed, last) = move_and_read_back(&mut client, &sway, (x, y), &want).await;
        assert!(
            landed,
            "{} ({x}, {y}): wanted {want}, xdotool says {last}",
            monitor.name
        );
    }
}

#[tokio::test]
async fn a_click_focuses_the_clicked_window() {
    let Some(sway) = sway(&[(1280, 720)]) else {
        return;
    };
    // Two native windows side by side; the one opened last has the focus.
    // The user's shell is nologin: each terminal runs a command.
    sway.exec("foot --title left sleep 600");
    assert!(sway.wait_window("left", SHOW), "{}", sway.log());
    sway.exec("foot --title right sleep 600");
    assert!(sway.wait_window("right", SHOW), "{}", sway.log());
    assert!(wait_for(|| sway.focused_name().as_deref() == Some("right")));
    let agent = agent(&sway, &[]);
    let (mut client, _) = Client::welcome(agent.endpoint(), TOKEN).await;
    for (x, want) in [(300, "left"), (1000, "right")] {
        client.send(ClientMessage::MouseMove { x, y: 360 }).await;
        for pressed in [true, false] {
            client
                .send(ClientMessage::MouseButton {
                    button: Button::Left,
                    pressed,
                })
                .await;
        }
        assert!(
            wait_for(|| sway.focused_name().as_deref() == Some(want)),
            "{want} was not focused: {:?}",
            sway.focused_name()
        );
    }
}

/// Types a key, then non-ASCII text, then Enter into the focused window.
async fn type_into(client: &mut Client) {
    for pressed in [true, false] {
        client
            .send(ClientMessage::Key {
                key: Key::Char('x'),
                pressed,
            })
            .await;
    }
    client
        .send(ClientMessage::Text {
            text: "héllo ✓".into(),
        })
        .await;
    for pressed in [true, false] {
        client
            .send(ClientMessage::Key {
                key: Key::Enter,
                pressed,
            })
            .await;
    }
}

#[tokio::test]
async fn keys_and_text_arrive_in_foot_and_in_an_xwayland_xterm() {
    let Some(sway) = sway(&[(1280, 720)]) else {
        return;
    };
    let agent = agent(&sway, &[]);
    let (mut client, _) = Client::welcome(agent.endpoint(), TOKEN).await;
    let want = "xhéllo ✓\n";

    let native = sway.scratch().join("foot.txt");
    sway.exec(&format!(
        "foot --title typed sh -c 'cat > {}'",
        native.display()
    ));
    assert!(sway.wait_window("typed", SHOW), "{}", sway.log());
    assert!(wait_for(|| sway.focused_name().as_deref() == Some("typed")));
    type_into(&mut client).await;
    assert_eq!(wait_file(&native, want), want, "in foot");

    let x = sway.scratch().join("xterm.txt");
    sway.exec(&format!(
        "xterm -u8 -T xtyped -e sh -c 'cat > {}'",
        x.display()
    ));
    assert!(sway.wait_window("xtyped", SHOW), "{}", sway.log());
    assert!(wait_for(|| sway.focused_name().as_deref() == Some("xtyped")));
    type_into(&mut client).await;
    assert_eq!(wait_file(&x, want), want, "in xterm (Xwayland)");
}

#[tokio::test]
async fn a_still_wayland_screen_costs_under_2_percent_of_a_core() {
    let Some(sway) = sway(&[(1920, 1080)]) else {
        return;
    };
    let agent = agent(&sway, &[]);
    let (mut client, _) = Client::welcome(agent.endpoint(), TOKEN).await;
    client.send(ClientMessage::start_monitor()).await;
    let _ = client.image().await;
    // Past the start: the first damage copy (the whole output) is done.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (cpu0, t0) = (agent.process.cpu_time(), Instant::now());
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (cpu, wall) = (agent.process.cpu_time() - cpu0, t0.elapsed());
    let share = cpu.as_secs_f64() / wall.as_secs_f64();
    eprintln!("still wayland screen: {:.2}% of a core", share * 100.0);
    assert!(
        share < 0.02,
        "a still screen costs {:.2}% of a core",
        share * 100.0
    );
}

#[tokio::test]
async fn the_viewer_snapshots_what_the_wayland_agent_sees() {
    let Some(sway) = sway(&[(1024, 768)]) else {
        return;
    };
    sway.exec("foot --title shown sh -c 'echo lookout on wayland; sleep 600'");
    assert!(sway.wait_window("shown", SHOW), "{}", sway.log());
    std::thread::sleep(Duration::from_millis(500));
    let agent = agent(&sway, &["--quality", "95"]);
    let dir = TempDir::new("wayland-snapshot");
    let out = dir.path().join("snap.png");
    let mut cmd = command("lookout-viewer");
    cmd.arg(agent.addr.to_string())
        .args(agent.viewer_trust_args())
        .args(["--token", TOKEN, "--snapshot"])
        .arg(&out)
        .env_remove("LOOKOUT_TOKEN");
    let mut viewer = Running::spawn(cmd);
    let status = viewer
        .wait_exit(Duration::from_secs(30))
        .expect("the viewer exits");
    assert!(status.success(), "{}", viewer.stderr.text());
    let snap = image::open(&out).expect("the snapshot").to_rgb8();
    let diff = mean_abs_diff(&snap, &sway.grim("HEADLESS-1"));
    assert!(diff < 4.0, "the snapshot differs from grim's: {diff:.2}");
}

#[test]
fn a_small_change_is_captured_as_its_damage_box_and_a_still_screen_as_none() {
    use lookout_server::capture::{Capturer, WlrCapturer};
    let Some(sway) = sway(&[(1280, 720)]) else {
        return;
    };
    // A terminal that prints one character a while after it starts.
    sway.exec("foot --title late sh -c 'sleep 3; printf x; sleep 600'");
    assert!(sway.wait_window("late", SHOW), "{}", sway.log());
    let mut capturer = WlrCapturer::with_socket(sway.socket()).expect("a wlroots capturer");
    let id = capturer.monitors()[0].id;
    let first = capturer.capture_changes(id, None).expect("a capture");
    assert_eq!(first.changed, None, "a first capture cannot tell");
    let mut image = first.image;
    // Until the screen settles (the window opening, the first damage copy,
    // which is the whole output): bounded.
    let deadline = Instant::now() + SHOW;
    let mut still_since = Instant::now();
    while still_since.elapsed() < Duration::from_millis(300) && Instant::now() < deadline {
        if !capturer.unchanged(id) {
            image = capturer.capture_changes(id, Some(image)).unwrap().image;
            still_since = Instant::now();
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    // Still: nothing changed, the same image back.
    let still = capturer.capture_changes(id, Some(image.clone())).unwrap();
    assert_eq!(still.changed, Some(Vec::new()));
    assert!(still.image == image);
    // The character appears: its damage box, a small part of the output.
    assert!(wait_for(|| !capturer.unchanged(id)), "no change came");
    let changed = capturer.capture_changes(id, Some(still.image)).unwrap();
    let rects = changed.changed.expect("the damage is known");
    let area: u64 = rects.iter().map(|r| r.area()).sum();
    assert!(area > 0 && area * 20 < 1280 * 720, "damage {rects:?}");
    // And the image read through that box is the screen.
    let got = image::RgbImage::from_raw(1280, 720, rgb(&changed.image.to_rgba())).unwrap();
    let diff = mean_abs_diff(&got, &sway.grim("HEADLESS-1"));
    assert!(
        diff < 1.0,
        "the patched image differs from grim's: {diff:.2}"
    );
}

fn rgb(rgba: &[u8]) -> Vec<u8> {
    rgba.chunks_exact(4)
        .flat_map(|p| [p[0], p[1], p[2]])
        .collect()
}

/// The `monitors` message, skipping frames (bounded).
async fn monitors_message(client: &mut Client) -> Vec<lookout_protocol::MonitorInfo> {
    use lookout_protocol::codec::ServerFrame;
    for _ in 0..100 {
        match client.next().await {
            Some(ServerFrame::Control(ServerMessage::Monitors { monitors })) => return monitors,
            Some(_) => {}
            None => panic!("the agent closed the connection"),
        }
    }
    panic!("no monitors message among 100 items");
}

#[tokio::test]
async fn an_output_added_while_streaming_is_announced_and_ids_stay() {
    let Some(sway) = sway(&[(1280, 720)]) else {
        return;
    };
    let agent = agent(&sway, &[]);
    let (mut client, welcome) = Client::welcome(agent.endpoint(), TOKEN).await;
    let ServerMessage::Welcome { monitors, .. } = welcome else {
        unreachable!()
    };
    let first = monitors[0].clone();
    client.send(ClientMessage::start_monitor()).await;
    let _ = client.image().await;

    sway.msg(&["create_output"]);
    sway.msg(&[
        "output",
        "HEADLESS-2",
        "mode",
        "800x600",
        "position",
        "1280",
        "0",
    ]);
    let mut monitors = monitors_message(&mut client).await;
    // The mode and place may come in a second message.
    for _ in 0..5 {
        if monitors
            .iter()
            .any(|m| m.name == "HEADLESS-2" && m.width == 800)
        {
            break;
        }
        monitors = monitors_message(&mut client).await;
    }
    let second = monitors
        .iter()
        .find(|m| m.name == "HEADLESS-2")
        .expect("HEADLESS-2");
    assert_eq!((second.x, second.width, second.height), (1280, 800, 600));
    assert!(!second.primary);
    let kept = monitors.iter().find(|m| m.name == "HEADLESS-1").unwrap();
    assert_eq!((kept.id, kept.primary), (first.id, true));
    // Removal is not tested: sway 1.7 has no `unplug`; `disable` keeps
    // the output's global, its wlr-output-management head says every
    // headless output is disabled from the start and sends nothing on
    // `disable`, and a copy of a disabled output still succeeds, so
    // nothing a client sees changes (README, Wayland).
}

#[tokio::test]
async fn auto_picks_wlroots_capture_and_input_in_a_wayland_session() {
    let Some(sway) = sway(&[(640, 480)]) else {
        return;
    };
    let agent =
        AgentProcess::start_with_env("127.0.0.1:0", None, &sway.agent_env(), &["--token", TOKEN]);
    let log = &agent.process.stderr;
    for want in ["screen capture: wlroots", "input: wlroots"] {
        let found = log.wait_for(SHOW, |line| line.contains(want).then_some(()));
        assert!(found.is_some(), "no {want:?} in the log:\n{}", log.text());
    }
}

#[test]
fn wlr_capture_outside_a_wayland_session_is_a_clear_error_not_a_crash() {
    let dir = TempDir::new("no-wayland");
    let mut cmd = command("lookout-server");
    cmd.args([
        "--bind",
        "127.0.0.1:0",
        "--token",
        TOKEN,
        "--capture",
        "wlr",
        "--identity",
    ])
    .arg(dir.path().join("id"))
    .env("LOOKOUT_CONTROL_SOCKET", dir.path().join("control.sock"))
    .env_remove("WAYLAND_DISPLAY")
    .env_remove("DISPLAY");
    let mut agent = Running::spawn(cmd);
    let status = agent
        .wait_exit(Duration::from_secs(20))
        .expect("the agent exits");
    assert_eq!(status.code(), Some(1), "{}", agent.stderr.text());
    assert!(
        agent
            .stderr
            .text()
            .contains("no Wayland session (WAYLAND_DISPLAY is not set)"),
        "{}",
        agent.stderr.text()
    );
}

#[tokio::test]
async fn a_viewer_leaving_with_control_held_leaves_nothing_held() {
    let Some(sway) = sway(&[(1280, 720)]) else {
        return;
    };
    let agent = agent(&sway, &[]);
    let file = sway.scratch().join("after.txt");
    sway.exec(&format!(
        "foot --title after sh -c 'cat > {}'",
        file.display()
    ));
    assert!(sway.wait_window("after", SHOW), "{}", sway.log());
    assert!(wait_for(|| sway.focused_name().as_deref() == Some("after")));
    let (mut leaving, _) = Client::welcome(agent.endpoint(), TOKEN).await;
    leaving
        .send(ClientMessage::Key {
            key: Key::Control,
            pressed: true,
        })
        .await;
    // A round trip: the press was read before the viewer leaves.
    let _ = leaving.ping(1).await;
    drop(leaving);
    // The agent saw it leave (and queued the release) before the next
    // viewer's text: otherwise a loaded machine may order them the other way.
    let ended = agent
        .process
        .stderr
        .wait_for(SHOW, |line| line.contains("session ended").then_some(()));
    assert!(ended.is_some(), "{}", agent.process.stderr.text());
    // Typed by the next viewer: with Control still held, `ab` would be
    // ^A^B (and Enter ^M) and never end a line for cat.
    let (mut next, _) = Client::welcome(agent.endpoint(), TOKEN).await;
    next.send(ClientMessage::Text {
        text: "ab\n".into(),
    })
    .await;
    assert_eq!(wait_file(&file, "ab\n"), "ab\n");
}

/// The compositor's damage box is where to look, not what to send: a
/// terminal that redraws twenty rows of the same text every 100 ms makes
/// sway report all of them as damaged at each redraw; when one glyph then
/// appears, the region update carries only the tiles that glyph changed
/// (the tile comparison of `regions` on top of the damage box).
#[tokio::test]
async fn a_redrawn_wayland_window_sends_only_the_tiles_that_changed_not_the_damage_box() {
    use lookout_protocol::{ServerFrame, StreamSettings};
    use lookout_server::capture::{Capturer, WlrCapturer};
    use lookout_server::regions::TILE;
    let Some(sway) = sway(&[(1280, 720)]) else {
        return;
    };
    let flag = sway.scratch().join("glyph");
    // Cursor hidden: the redraws change no pixel until the flag exists.
    sway.exec(&format!(
        "foot --title redraw sh -c 'printf \"\\033[?25l\"; while :; do printf \"\\033[H\"; seq 1 20; [ -e {} ] && printf X; sleep 0.1; done'",
        flag.display()
    ));
    assert!(sway.wait_window("redraw", SHOW), "{}", sway.log());
    // The premise: sway reports the redraw as a damage box of many rows.
    let mut capturer = WlrCapturer::with_socket(sway.socket()).expect("a wlroots capturer");
    let id = capturer.monitors()[0].id;
    let mut image = capturer.capture_changes(id, None).expect("a capture").image;
    let mut widest = 0;
    let deadline = Instant::now() + SHOW;
    while widest < 100_000 && Instant::now() < deadline {
        if !capturer.unchanged(id) {
            let captured = capturer.capture_changes(id, Some(image)).unwrap();
            let area: u64 = captured.changed.iter().flatten().map(|r| r.area()).sum();
            widest = widest.max(area);
            image = captured.image;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(widest >= 100_000, "sway's damage box: {widest} pixels");
    drop(capturer);

    let agent = agent(&sway, &[]);
    let (mut client, _) = Client::welcome(agent.endpoint(), TOKEN).await;
    client
        .send(ClientMessage::StartMonitor(StreamSettings {
            regions: true,
            ..StreamSettings::default()
        }))
        .await;
    let mut frames = Vec::new();
    // The first frame is the whole picture; then the glyph appears.
    while frames.len() < 2 {
        if let Some(ServerFrame::Control(ServerMessage::Frame { rects, .. })) = client.next().await
        {
            frames.push(rects);
            std::fs::write(&flag, "").unwrap();
        }
    }
    assert_eq!(frames[0], None, "first: the whole picture");
    // What else comes in the next second (the redraws go on): bounded.
    let until = tokio::time::Instant::now() + Duration::from_secs(1);
    while let Ok(Some(next)) = tokio::time::timeout_at(until, client.next()).await {
        if let ServerFrame::Control(ServerMessage::Frame { rects, .. }) = next {
            frames.push(rects);
        }
    }
    let tile = u64::from(TILE * TILE);
    for rects in &frames[1..] {
        let rects = rects
            .as_ref()
            .expect("a region update, not the whole picture");
        let area: u64 = rects
            .iter()
            .map(|r| u64::from(r.width) * u64::from(r.height))
            .sum();
        // A glyph touches at most 2x2 tiles.
        assert!(area <= 4 * tile, "an update of {rects:?} for one glyph");
    }
}

/// A rotated output (`transform 90`) is shown upright, as its user sees
/// it: the monitor is as tall as the mode is wide, and the frame matches
/// grim's screenshot of it, the first (a whole copy) and one after a
/// change (the damage box's rows, turned).
#[tokio::test]
async fn a_rotated_output_is_sent_upright_and_matches_grim() {
    let Some(sway) = sway(&[(1280, 720)]) else {
        return;
    };
    sway.msg_retried(&["output", "HEADLESS-1", "transform", "90"]);
    let flag = sway.scratch().join("more");
    // A listing in the top left corner, then more once the flag exists:
    // a picture turned the wrong way differs from grim's everywhere.
    sway.exec(&format!(
        "foot --title listing sh -c 'ls -la /usr/bin | head -30; while [ ! -e {0} ]; do sleep 0.05; done; ls -la /usr/lib | head -20; sleep 600'",
        flag.display()
    ));
    assert!(sway.wait_window("listing", SHOW), "{}", sway.log());
    std::thread::sleep(Duration::from_millis(500));
    let agent = agent(&sway, &["--quality", "95"]);
    let (mut client, welcome) = Client::welcome(agent.endpoint(), TOKEN).await;
    let ServerMessage::Welcome { monitors, .. } = welcome else {
        unreachable!()
    };
    assert_eq!((monitors[0].width, monitors[0].height), (720, 1280));
    client.send(ClientMessage::start_monitor()).await;
    let (_, jpeg) = client.image().await;
    let diff = mean_abs_diff(&decode(&jpeg), &sway.grim("HEADLESS-1"));
    assert!(diff < 4.0, "the first frame differs from grim's: {diff:.2}");

    // After the change: frames until one matches (bounded), each a full
    // frame built from the damage copy.
    std::fs::write(&flag, "").unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let reference = sway.grim("HEADLESS-1");
    let mut best = f64::MAX;
    for _ in 0..60 {
        let (_, jpeg) = client.image().await;
        best = best.min(mean_abs_diff(&decode(&jpeg), &reference));
        if best < 4.0 {
            break;
        }
    }
    assert!(
        best < 4.0,
        "after a change the frame differs from grim's: {best:.2}"
    );
}

/// On a rotated or mirrored output the pointer lands where the viewer
/// points in the upright picture (Xwayland reads it back in layout units,
/// scale 1), for quarter and half turns and a mirrored quarter turn.
#[tokio::test]
async fn mouse_move_lands_on_the_right_spot_of_a_rotated_output() {
    let Some(sway) = sway(&[(1280, 720)]) else {
        return;
    };
    sway.exec("xterm -T rotated -e sleep 600");
    assert!(sway.wait_window("rotated", SHOW), "{}", sway.log());
    let agent = agent(&sway, &[]);
    let (mut client, _) = Client::welcome(agent.endpoint(), TOKEN).await;
    // Points that a wrong turn would put elsewhere (or clamp).
    let portrait = [(600, 1100), (100, 200)];
    let landscape = [(1100, 600), (200, 100)];
    for (transform, points) in [
        ("90", portrait),
        ("180", landscape),
        ("270", portrait),
        ("flipped-90", portrait),
    ] {
        sway.msg_retried(&["output", "HEADLESS-1", "transform", transform]);
        for (x, y) in points {
            let want = format!("x:{x} y:{y} ");
            let (landed, last) = move_and_read_back(&mut client, &sway, (x, y), &want).await;
            assert!(
                landed,
                "transform {transform}, ({x}, {y}): xdotool says {last}; agent: {}",
                agent.process.stderr.text()
            );
        }
    }
}

/// Half turns and mirrors too: the first frame matches grim's screenshot
/// for each (a listing in one corner, so a wrong turn differs).
#[tokio::test]
async fn outputs_turned_half_way_or_mirrored_match_grim() {
    let Some(sway) = sway(&[(1280, 720)]) else {
        return;
    };
    sway.exec("foot --title listing sh -c 'ls -la /usr/bin | head -30; sleep 600'");
    assert!(sway.wait_window("listing", SHOW), "{}", sway.log());
    for (transform, size) in [
        ("180", (1280, 720)),
        ("flipped", (1280, 720)),
        ("flipped-90", (720, 1280)),
    ] {
        sway.msg_retried(&["output", "HEADLESS-1", "transform", transform]);
        std::thread::sleep(Duration::from_millis(500));
        let agent = agent(&sway, &["--quality", "95"]);
        let (mut client, welcome) = Client::welcome(agent.endpoint(), TOKEN).await;
        let ServerMessage::Welcome { monitors, .. } = welcome else {
            unreachable!()
        };
        assert_eq!((monitors[0].width, monitors[0].height), size, "{transform}");
        client.send(ClientMessage::start_monitor()).await;
        let (_, jpeg) = client.image().await;
        let diff = mean_abs_diff(&decode(&jpeg), &sway.grim("HEADLESS-1"));
        assert!(
            diff < 4.0,
            "transform {transform}: differs from grim's by {diff:.2}"
        );
    }
}
