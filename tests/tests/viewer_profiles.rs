//! The viewer's side of per-viewer stream settings (protocol §2.2, feature
//! `profiles`): the real viewer binary, its window on an Xvfb display,
//! against a fake agent that scales its frames into the box asked for.
//! The window asks for its own size, asks once more after a resize has
//! settled, shows the smaller frames that follow and maps the pointer into
//! them; `--max-size`, `--fps` and `--quality` override; an agent without
//! `profiles` is asked for nothing but what it offers.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use clap::Parser;
use lookout_protocol::{ClientMessage, StreamSettings};
use lookout_tests::fake_agent::{FakeAgent, Script, Seen, TEST_TIMEOUT, gradient};
use lookout_tests::process::{Running, TempDir, command};
use lookout_tests::x11::{Geometry, Window, Xvfb};
use lookout_viewer::Args;
use lookout_viewer::decode::{UPDATE_QUEUE, UpdateQueue};
use lookout_viewer::network::{COMMAND_QUEUE, Command, Link, NetThread, Status};
use tokio::sync::{mpsc, watch};

const TOKEN: &str = "correct horse battery staple";
/// The fake agent's monitor and frames.
const MONITOR: (u32, u32) = (1280, 720);
/// The watcher's screen: the first window may take 90% of each side,
/// 921x691, so a 16:9 monitor opens at 921x518.
const SCREEN: (u32, u32) = (1024, 768);
const FIRST_WINDOW: (u32, u32) = (921, 518);
/// Longer than the viewer's settle time (300 ms) with room for a loaded
/// machine: a size it would report has been reported by then.
const SETTLED: Duration = Duration::from_millis(1500);

fn agent_script(profiles: bool) -> Script {
    let script = Script::with_token(TOKEN, vec![gradient(MONITOR.0, MONITOR.1)]);
    if profiles {
        script.with_profiles()
    } else {
        script
    }
}

/// Every `start_monitor` of the first connection, in order.
fn starts(seen: &[Seen]) -> Vec<StreamSettings> {
    seen.iter()
        .filter(|s| s.connection == 0)
        .filter_map(|s| match &s.msg {
            ClientMessage::StartMonitor(settings) => Some(*settings),
            _ => None,
        })
        .collect()
}

fn boxed(settings: &StreamSettings) -> (Option<u32>, Option<u32>) {
    (settings.max_width, settings.max_height)
}

/// The real viewer's window on `display`, on the fake agent.
fn window_viewer(display: &str, agent: &FakeAgent, extra: &[&str]) -> Running {
    let mut cmd = command("lookout-viewer");
    cmd.args([&agent.target(), "--token", TOKEN, "--no-tls", "--no-config"])
        .args(extra)
        .env("DISPLAY", display)
        .env("RUST_LOG", "info,lookout_viewer=debug")
        .env_remove("LOOKOUT_TOKEN");
    Running::spawn(cmd)
}

/// The watcher's screen with the viewer's window on it, live.
struct Watcher {
    // Dropped in this order: the viewer before its display.
    viewer: Running,
    b: Xvfb,
    window: Window,
}

impl Watcher {
    /// Starts a screen and the viewer on it (X calls block: off the
    /// runtime the fake agent runs on).
    async fn start(agent: &FakeAgent, extra: &[&str]) -> Self {
        let b = tokio::task::block_in_place(|| Xvfb::start(SCREEN.0, SCREEN.1));
        let viewer = window_viewer(b.display(), agent, extra);
        let window = tokio::task::block_in_place(|| {
            b.find_window("lookout", TEST_TIMEOUT)
                .unwrap_or_else(|| panic!("no viewer window:\n{}", viewer.stderr.text()))
        });
        let watcher = Self { b, viewer, window };
        let title = watcher.wait_title("· live").await;
        assert!(title.contains("· live"), "never live: {title:?}");
        watcher
    }

    async fn wait_title(&self, part: &str) -> String {
        tokio::task::block_in_place(|| self.b.wait_title(self.window, part, TEST_TIMEOUT))
    }

    fn geometry(&self) -> Geometry {
        tokio::task::block_in_place(|| self.b.geometry(self.window))
    }

    /// Drags the window through a few sizes to `size`, in one `xdotool`
    /// run (no window manager here: the sizes take effect at once).
    fn resize_through(&self, sizes: &[(u32, u32)]) {
        let id = self.window.0.to_string();
        let mut xdotool = self.b.command("xdotool");
        for (w, h) in sizes {
            xdotool.args(["windowsize", &id, &w.to_string(), &h.to_string()]);
        }
        let ok = tokio::task::block_in_place(|| xdotool.status().is_ok_and(|s| s.success()));
        assert!(ok, "xdotool windowsize failed");
    }

    /// Waits (bounded) until the window has `size`.
    async fn wait_size(&self, size: (u32, u32)) -> Geometry {
        let deadline = Instant::now() + TEST_TIMEOUT;
        loop {
            let g = self.geometry();
            if (g.width, g.height) == size || Instant::now() >= deadline {
                return g;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Waits for `count` `start_monitor`s, then lets sizes settle and checks
/// no more came.
async fn exactly_starts(agent: &FakeAgent, count: usize, viewer: &Running) -> Vec<StreamSettings> {
    agent
        .wait_for(&format!("{count} start_monitor"), |seen| {
            starts(seen).len() >= count
        })
        .await;
    tokio::time::sleep(SETTLED).await;
    let all = starts(&agent.seen());
    assert_eq!(
        all.len(),
        count,
        "{all:?}\nviewer log:\n{}",
        viewer.stderr.text()
    );
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_window_asks_for_its_own_size_and_exactly_once_more_after_a_resize() {
    let agent = FakeAgent::start(agent_script(true)).await;
    let w = Watcher::start(&agent, &[]).await;
    // The first ask is the window it opened as: nothing to ask again.
    let first = exactly_starts(&agent, 1, &w.viewer).await;
    let g = w.geometry();
    assert_eq!((g.width, g.height), FIRST_WINDOW);
    assert_eq!(
        boxed(&first[0]),
        (Some(FIRST_WINDOW.0), Some(FIRST_WINDOW.1))
    );
    assert_eq!((first[0].fps, first[0].quality), (None, None));

    // A drag through sizes: one ask, for the last.
    w.resize_through(&[(800, 500), (700, 450), (600, 400)]);
    let g = w.wait_size((600, 400)).await;
    assert_eq!((g.width, g.height), (600, 400));
    let all = exactly_starts(&agent, 2, &w.viewer).await;
    assert_eq!(boxed(&all[1]), (Some(600), Some(400)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_resize_the_smaller_frames_are_shown_and_a_click_at_the_centre_lands_at_theirs() {
    let agent = FakeAgent::start(agent_script(true)).await;
    let w = Watcher::start(&agent, &[]).await;
    agent
        .wait_for("start_monitor", |seen| !starts(seen).is_empty())
        .await;
    w.resize_through(&[(600, 400)]);
    let g = w.wait_size((600, 400)).await;
    agent
        .wait_for("start_monitor for 600x400", |seen| {
            starts(seen)
                .iter()
                .any(|s| boxed(s) == (Some(600), Some(400)))
        })
        .await;
    // The agent now sends 600x338 frames (1280x720 fitted into 600x400).
    let title = w.wait_title("600x338 of 1280x720").await;
    assert!(title.contains("600x338 of 1280x720"), "{title:?}");

    // The window's centre is the frame's centre, in the frame's pixels
    // (not the monitor's: that would be 640x360).
    let (cx, cy) = (g.x + 300, g.y + 200);
    // The button is held until the agent saw it: the window samples
    // buttons once an iteration, and a click shorter than that is lost.
    let button = |action: &str| {
        let ok = tokio::task::block_in_place(|| {
            w.b.command("xdotool")
                .args([action, "1"])
                .status()
                .is_ok_and(|s| s.success())
        });
        assert!(ok, "xdotool {action} failed");
    };
    tokio::task::block_in_place(|| w.b.move_pointer(cx, cy));
    button("mousedown");
    agent
        .wait_for("a press", |seen| {
            seen.iter()
                .any(|s| matches!(s.msg, ClientMessage::MouseButton { pressed: true, .. }))
        })
        .await;
    button("mouseup");
    let seen = agent.seen();
    let press = seen
        .iter()
        .position(|s| matches!(s.msg, ClientMessage::MouseButton { pressed: true, .. }))
        .unwrap();
    let moved_to = seen[..press].iter().rev().find_map(|s| match s.msg {
        ClientMessage::MouseMove { x, y } => Some((x, y)),
        _ => None,
    });
    assert_eq!(moved_to, Some((300, 169)), "{seen:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_without_profiles_is_asked_for_no_size_even_after_a_resize() {
    let agent = FakeAgent::start(agent_script(false)).await;
    let w = Watcher::start(&agent, &["--fps", "5"]).await;
    let first = exactly_starts(&agent, 1, &w.viewer).await;
    assert_eq!(first[0], StreamSettings::DEFAULT);
    w.resize_through(&[(600, 400)]);
    w.wait_size((600, 400)).await;
    let all = exactly_starts(&agent, 1, &w.viewer).await;
    assert_eq!(all, [StreamSettings::DEFAULT]);
    assert!(
        w.viewer.stderr.text().contains("no `profiles`"),
        "the user is told the flags do nothing:\n{}",
        w.viewer.stderr.text()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_size_caps_the_windows_box_and_fps_and_quality_go_along() {
    let agent = FakeAgent::start(agent_script(true)).await;
    let args = ["--max-size", "400x300", "--fps", "7", "--quality", "33"];
    let w = Watcher::start(&agent, &args).await;
    let first = exactly_starts(&agent, 1, &w.viewer).await;
    // The window opens at the first frame: 1280x720 fitted into 400x300.
    assert_eq!(boxed(&first[0]), (Some(400), Some(225)));
    assert_eq!((first[0].fps, first[0].quality), (Some(7), Some(33)));
    let g = w.geometry();
    assert_eq!((g.width, g.height), (400, 225));
    // A bigger window still asks for no more than --max-size.
    w.resize_through(&[(800, 600)]);
    w.wait_size((800, 600)).await;
    let all = exactly_starts(&agent, 2, &w.viewer).await;
    assert_eq!(boxed(&all[1]), (Some(400), Some(300)));
    assert_eq!((all[1].fps, all[1].quality), (Some(7), Some(33)));
}

/// The real viewer's `--snapshot` against `agent` with `extra` options.
async fn snapshot(agent: &FakeAgent, extra: &[&str], dir: &TempDir) -> image::RgbImage {
    let out = dir.path().join("snapshot.png");
    let mut cmd = command("lookout-viewer");
    cmd.args([&agent.target(), "--token", TOKEN, "--no-tls", "--no-config"])
        .arg("--snapshot")
        .arg(&out)
        .args(extra)
        .env_remove("LOOKOUT_TOKEN");
    let mut viewer = Running::spawn(cmd);
    let (viewer, status) = tokio::task::spawn_blocking(move || {
        let status = viewer.wait_exit(TEST_TIMEOUT);
        (viewer, status.expect("the viewer did not exit in time"))
    })
    .await
    .unwrap();
    assert!(status.success(), "{status}: {}", viewer.process_output());
    image::open(&out).unwrap().into_rgb8()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_asks_for_max_size_itself_and_gets_the_scaled_picture() {
    let dir = TempDir::new("profiles");
    let args = ["--max-size", "320x200", "--fps", "2", "--quality", "40"];
    let agent = FakeAgent::start(agent_script(true)).await;
    let png = snapshot(&agent, &args, &dir).await;
    assert_eq!(png.dimensions(), (320, 180));
    let asked = starts(&agent.seen());
    assert_eq!(
        asked,
        [StreamSettings {
            max_width: Some(320),
            max_height: Some(200),
            fps: Some(2),
            quality: Some(40),
            regions: false,
        }]
    );

    // Without `profiles`: asked for nothing, the full picture.
    let agent = FakeAgent::start(agent_script(false)).await;
    let png = snapshot(&agent, &args, &dir).await;
    assert_eq!(png.dimensions(), MONITOR);
    assert_eq!(starts(&agent.seen()), [StreamSettings::DEFAULT]);
}

/// The commands that start and stop the stream, of connection `n`.
fn stream_commands(seen: &[Seen], n: usize) -> Vec<ClientMessage> {
    seen.iter()
        .filter(|s| s.connection == n)
        .map(|s| s.msg.clone())
        .filter(|m| {
            matches!(
                m,
                ClientMessage::StartMonitor(_) | ClientMessage::StopMonitor
            )
        })
        .collect()
}

fn start_for(width: u32, height: u32) -> ClientMessage {
    ClientMessage::StartMonitor(StreamSettings {
        max_width: Some(width),
        max_height: Some(height),
        ..StreamSettings::DEFAULT
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_window_size_last_reported_is_asked_for_after_a_pause_and_a_reconnect() {
    let agent = FakeAgent::start(agent_script(true)).await;
    let argv = [
        "lookout-viewer",
        &agent.target(),
        "--token",
        TOKEN,
        "--no-tls",
    ];
    let args = Args::try_parse_from(argv);
    let config = args.unwrap().into_config().unwrap();
    let updates = Arc::new(UpdateQueue::new(UPDATE_QUEUE));
    let (status_tx, mut status) = watch::channel(Status::default());
    let (commands, command_rx) = mpsc::channel(COMMAND_QUEUE);
    let net = NetThread::spawn_for_window(
        config,
        updates,
        Arc::new(AtomicU64::new(0)),
        status_tx,
        command_rx,
        Some((921, 691)),
    )
    .unwrap();
    let session = |n: u64| move |s: &Status| s.session == n && s.link == Link::Live;
    tokio::time::timeout(TEST_TIMEOUT, status.wait_for(session(1)))
        .await
        .unwrap()
        .unwrap();
    // The window reports a size, the same again (nothing to ask), pauses,
    // is resized while paused (nothing to ask yet) and resumes.
    for command in [
        Command::ViewSize((600, 400)),
        Command::ViewSize((600, 400)),
        Command::TogglePause,
        Command::ViewSize((500, 300)),
        Command::TogglePause,
    ] {
        commands.send(command).await.unwrap();
    }
    let want = [
        start_for(921, 518),
        start_for(600, 400),
        ClientMessage::StopMonitor,
        start_for(500, 300),
    ];
    agent
        .wait_for("four stream commands", |seen| {
            stream_commands(seen, 0).len() >= want.len()
        })
        .await;
    agent.kick();
    tokio::time::timeout(TEST_TIMEOUT, status.wait_for(session(2)))
        .await
        .unwrap()
        .unwrap();
    agent
        .wait_for("the second session's start_monitor", |seen| {
            !stream_commands(seen, 1).is_empty()
        })
        .await;
    let seen = agent.seen();
    assert_eq!(stream_commands(&seen, 0), want);
    assert_eq!(stream_commands(&seen, 1), [start_for(500, 300)]);
    assert_eq!(net.stop().unwrap().map(|e| e.to_string()), None);
}
