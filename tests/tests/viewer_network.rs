//! End-to-end tests of the viewer against a fake agent on loopback:
//! `--snapshot`, exit statuses, and the window mode's network thread
//! (reconnecting, restoring the user's choices) without a window.

use std::num::NonZeroU32;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use clap::Parser;
use lookout_protocol::{ClientMessage, Timeouts};
use lookout_tests::fake_agent::{
    FakeAgent, RawFrame, Script, TEST_TIMEOUT, gradient, monitor, progressive_claiming,
};
use lookout_tests::process::{Running, TempDir, command};
use lookout_tests::x11::mean_abs_diff;
use lookout_viewer::decode::{QueueBound, UPDATE_QUEUE, Update, UpdateQueue};
use lookout_viewer::network::{COMMAND_QUEUE, Command, Link, NetThread, Status};
use lookout_viewer::{Args, Config, RunError, SessionError};
use tokio::sync::{Notify, mpsc, watch};

const TOKEN: &str = "correct horse battery staple";

/// The viewer's configuration for these arguments. The fake agent speaks
/// plain TCP, so `--no-tls` is added (TLS has its own tests, in `viewer_tls.rs`).
fn config(args: &[&str]) -> Config {
    let args = std::iter::once("lookout-viewer")
        .chain(args.iter().copied())
        .chain(["--no-tls"]);
    Args::try_parse_from(args).unwrap().into_config().unwrap()
}

/// Runs the (blocking) viewer off the test's runtime, bounded in time.
async fn run_viewer(config: Config) -> Result<(), RunError> {
    let run = tokio::task::spawn_blocking(move || lookout_viewer::run(&config));
    tokio::time::timeout(TEST_TIMEOUT, run)
        .await
        .expect("the viewer did not finish in time")
        .expect("the viewer panicked")
}

fn read_png(path: &Path) -> image::RgbImage {
    image::open(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .into_rgb8()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_writes_the_agents_frame_as_png() {
    let source = gradient(160, 90);
    let agent = FakeAgent::start(Script::with_token(TOKEN, vec![source.clone()])).await;
    let dir = TempDir::new("snapshot");
    let out = dir.path().join("frame.png");
    let target = agent.target();
    let out_arg = out.to_str().unwrap();

    run_viewer(config(&[&target, "--token", TOKEN, "--snapshot", out_arg]))
        .await
        .unwrap();

    let written = read_png(&out);
    assert_eq!(written.dimensions(), (160, 90));
    let diff = mean_abs_diff(&written, &source);
    assert!(diff < 8.0, "mean abs diff {diff}");
    assert!(matches!(
        agent.seen().first().map(|s| &s.msg),
        Some(ClientMessage::StartMonitor(settings)) if *settings == Default::default()
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_with_frames_n_takes_the_nth_frame() {
    let colours = [[250, 10, 10], [10, 250, 10], [10, 10, 250]];
    let frames = colours
        .iter()
        .map(|&c| image::RgbImage::from_pixel(32, 16, image::Rgb(c)))
        .collect();
    let agent = FakeAgent::start(Script::with_token(TOKEN, frames)).await;
    let dir = TempDir::new("nth");
    let out = dir.path().join("third.png");
    let target = agent.target();

    run_viewer(config(&[
        &target,
        "--token",
        TOKEN,
        "--snapshot",
        out.to_str().unwrap(),
        "--frames",
        "3",
    ]))
    .await
    .unwrap();

    let expected = image::RgbImage::from_pixel(32, 16, image::Rgb(colours[2]));
    let diff = mean_abs_diff(&read_png(&out), &expected);
    assert!(diff < 8.0, "mean abs diff {diff}: not the third frame");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_without_auth_gets_an_empty_response_and_no_token_is_needed() {
    let agent = FakeAgent::start(Script {
        token: None,
        ..Script::with_token("", vec![gradient(8, 8)])
    })
    .await;
    let dir = TempDir::new("noauth");
    let out = dir.path().join("open.png");
    let target = agent.target();
    // The fake agent refuses anything but an empty response when open.
    run_viewer(config(&[
        &target,
        "--token",
        "ignored",
        "--snapshot",
        out.to_str().unwrap(),
    ]))
    .await
    .unwrap();
    assert_eq!(read_png(&out).dimensions(), (8, 8));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_token_is_auth_failed_and_exit_status_2() {
    let agent = FakeAgent::start(Script::with_token(TOKEN, vec![gradient(8, 8)])).await;
    let dir = TempDir::new("wrong");
    let out = dir.path().join("never.png");
    let target = agent.target();

    let err = run_viewer(config(&[
        &target,
        "--token",
        "wrong",
        "--snapshot",
        out.to_str().unwrap(),
    ]))
    .await
    .unwrap_err();

    assert!(
        matches!(err, RunError::Session(SessionError::AuthFailed(_))),
        "{err:?}"
    );
    assert_eq!(err.exit_code(), 2);
    assert!(!out.exists());
    assert!(agent.seen().is_empty(), "commands after a failed handshake");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_token_for_a_token_agent_is_exit_status_2() {
    let agent = FakeAgent::start(Script::with_token(TOKEN, vec![gradient(8, 8)])).await;
    let mut config = config(&[&agent.target(), "--snapshot", "unused.png"]);
    config.token = None;
    let err = run_viewer(config).await.unwrap_err();
    assert!(
        matches!(err, RunError::Session(SessionError::TokenRequired)),
        "{err:?}"
    );
    assert_eq!(err.exit_code(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_agent_is_exit_status_1() {
    // A port that was just free: nothing listens there now.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let target = format!("127.0.0.1:{port}");
    let err = run_viewer(config(&[
        &target,
        "--token",
        TOKEN,
        "--snapshot",
        "unused.png",
        "--timeout",
        "2",
    ]))
    .await
    .unwrap_err();
    assert!(
        matches!(err, RunError::Session(SessionError::Connect { .. })),
        "{err:?}"
    );
    assert_eq!(err.exit_code(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_agent_times_out_with_exit_status_1() {
    let agent = FakeAgent::start(Script {
        silent: true,
        ..Script::with_token(TOKEN, vec![])
    })
    .await;
    let started = std::time::Instant::now();
    let err = run_viewer(config(&[
        &agent.target(),
        "--token",
        TOKEN,
        "--snapshot",
        "unused.png",
        "--timeout",
        "1",
    ]))
    .await
    .unwrap_err();
    assert!(
        matches!(err, RunError::Session(SessionError::Timeout(_))),
        "{err:?}"
    );
    assert_eq!(err.exit_code(), 1);
    assert!(started.elapsed() < Duration::from_secs(5));
}

/// The window mode's background, with the test in the window's place.
struct Headless {
    net: Option<NetThread>,
    status: watch::Receiver<Status>,
    commands: mpsc::Sender<Command>,
    updates: Arc<UpdateQueue>,
}

impl Headless {
    fn start(config: Config) -> Self {
        Self::with_queue(config, UPDATE_QUEUE)
    }

    /// With the queue to the (absent) decoder bounded at `bound`.
    fn with_queue(config: Config, bound: QueueBound) -> Self {
        let updates = Arc::new(UpdateQueue::new(bound));
        let (status_tx, status) = watch::channel(Status::default());
        let (commands, command_rx) = mpsc::channel(COMMAND_QUEUE);
        let net = NetThread::spawn(
            config,
            Arc::clone(&updates),
            Arc::new(AtomicU64::new(0)),
            status_tx,
            command_rx,
        )
        .unwrap();
        Self {
            net: Some(net),
            status,
            commands,
            updates,
        }
    }

    /// What the network thread queued for the decoder, oldest first;
    /// panics when nothing comes in time.
    async fn queued(&self, what: &str) -> Vec<Update> {
        let updates = Arc::clone(&self.updates);
        tokio::task::spawn_blocking(move || updates.take_timeout(TEST_TIMEOUT))
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{what} did not reach the decoder's queue"))
    }

    async fn wait_status(&mut self, what: &str, pred: impl Fn(&Status) -> bool) -> Status {
        let waited = tokio::time::timeout(TEST_TIMEOUT, self.status.wait_for(|s| pred(s))).await;
        match waited {
            Ok(Ok(status)) => status.clone(),
            other => panic!("timed out waiting for {what}: {other:?}"),
        }
    }

    fn stop(&mut self) -> Option<SessionError> {
        self.net.take().and_then(|net| net.stop().unwrap())
    }
}

impl Drop for Headless {
    fn drop(&mut self) {
        if let Some(net) = self.net.take() {
            let _ = net.stop();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn network_thread_reconnects_and_restores_the_chosen_monitor() {
    let agent = FakeAgent::start(Script {
        monitors: vec![monitor(0, 64, 32), monitor(1, 32, 64)],
        ..Script::with_token(TOKEN, vec![gradient(64, 32)])
    })
    .await;
    let mut headless = Headless::start(config(&[&agent.target(), "--token", TOKEN]));

    let first = headless
        .wait_status("the first session", |s| s.link == Link::Live)
        .await;
    assert_eq!(
        (first.session, first.monitor, first.control),
        (1, Some(0), true)
    );
    agent
        .wait_for("start_monitor", |seen| {
            seen.iter().any(|s| s.msg == ClientMessage::start_monitor())
        })
        .await;
    let queued = headless.queued("the first frame").await;
    let frame = queued.last().unwrap().meta();
    assert_eq!((frame.width, frame.height), (64, 32));

    headless.commands.try_send(Command::NextMonitor).unwrap();
    agent
        .wait_for("select_monitor 1", |seen| {
            seen.iter()
                .any(|s| s.connection == 0 && s.msg == ClientMessage::SelectMonitor { id: 1 })
        })
        .await;

    agent.kick();
    let second = headless
        .wait_status("the second session", |s| {
            s.session == 2 && s.link == Link::Live
        })
        .await;
    assert_eq!(second.monitor, Some(1));
    agent
        .wait_for("monitor 1 re-selected, then streaming", |seen| {
            let again: Vec<_> = seen
                .iter()
                .filter(|s| s.connection == 1)
                .map(|s| s.msg.clone())
                .collect();
            again.starts_with(&[
                ClientMessage::SelectMonitor { id: 1 },
                ClientMessage::start_monitor(),
            ])
        })
        .await;
    assert_eq!(headless.stop().map(|e| e.to_string()), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn network_thread_stays_paused_across_a_reconnect() {
    let agent = FakeAgent::start(Script::with_token(TOKEN, vec![gradient(16, 16)])).await;
    let mut headless = Headless::start(config(&[&agent.target(), "--token", TOKEN]));
    headless.wait_status("live", |s| s.link == Link::Live).await;
    headless.commands.try_send(Command::TogglePause).unwrap();
    agent
        .wait_for("stop_monitor", |seen| {
            seen.iter().any(|s| s.msg == ClientMessage::StopMonitor)
        })
        .await;

    agent.kick();
    headless
        .wait_status("the second session", |s| {
            s.session == 2 && s.link == Link::Live && s.paused
        })
        .await;
    // Give a wrongly sent start_monitor time to arrive, then check none did.
    headless
        .commands
        .try_send(Command::Input(ClientMessage::MouseMove { x: 1, y: 1 }))
        .unwrap();
    agent
        .wait_for("the probe move", |seen| {
            seen.iter().any(|s| s.connection == 1)
        })
        .await;
    let second: Vec<_> = agent
        .seen()
        .into_iter()
        .filter(|s| s.connection == 1)
        .map(|s| s.msg)
        .collect();
    assert_eq!(second, vec![ClientMessage::MouseMove { x: 1, y: 1 }]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn network_thread_gives_up_on_a_wrong_token() {
    let agent = FakeAgent::start(Script::with_token(TOKEN, vec![])).await;
    let mut headless = Headless::start(config(&[&agent.target(), "--token", "nope"]));
    headless
        .wait_status("failure", |s| s.link == Link::Failed)
        .await;
    let err = headless.stop();
    assert!(matches!(err, Some(SessionError::AuthFailed(_))), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn network_thread_keeps_retrying_while_the_agent_is_down() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let target = format!("127.0.0.1:{port}");
    let mut headless = Headless::start(config(&[&target, "--token", TOKEN]));
    headless
        .wait_status("reconnecting", |s| s.link == Link::Reconnecting)
        .await;
    // Still trying, not failed, a little later.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(headless.status.borrow().link, Link::Reconnecting);
    assert_eq!(headless.stop().map(|e| e.to_string()), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_of_a_busy_agent_is_exit_status_1() {
    let agent = FakeAgent::start(Script {
        busy: true,
        ..Script::with_token(TOKEN, vec![])
    })
    .await;
    let err = run_viewer(config(&[
        &agent.target(),
        "--token",
        TOKEN,
        "--snapshot",
        "unused.png",
    ]))
    .await
    .unwrap_err();
    assert!(
        matches!(err, RunError::Session(SessionError::Busy(_))),
        "{err:?}"
    );
    assert_eq!(err.exit_code(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn network_thread_retries_a_busy_agent_and_says_so() {
    let agent = FakeAgent::start(Script {
        busy: true,
        ..Script::with_token(TOKEN, vec![])
    })
    .await;
    let mut headless = Headless::start(config(&[&agent.target(), "--token", TOKEN]));
    headless.wait_status("busy", |s| s.link == Link::Busy).await;
    let waited = tokio::time::timeout(TEST_TIMEOUT, async {
        while agent.connections() < 3 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(
        waited.is_ok(),
        "no retries: {} connections",
        agent.connections()
    );
    assert_eq!(headless.stop().map(|e| e.to_string()), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn image_without_frame_message_drops_the_connection_and_the_viewer_comes_back() {
    let agent = FakeAgent::start(Script {
        bad_image_first: true,
        ..Script::with_token(TOKEN, vec![gradient(16, 16)])
    })
    .await;
    let mut headless = Headless::start(config(&[&agent.target(), "--token", TOKEN]));
    headless
        .wait_status("the second session", |s| {
            s.session == 2 && s.link == Link::Live
        })
        .await;
    agent
        .wait_for("streaming again", |seen| {
            seen.iter()
                .any(|s| s.connection == 1 && s.msg == ClientMessage::start_monitor())
        })
        .await;
    let queued = headless.queued("a frame after reconnecting").await;
    assert_eq!(queued.last().unwrap().meta().seq, 1);
}

/// `config` with session limits short enough to test in real time: silence
/// after `silence`, a ping every quarter of it (the protocol's 5 s / 15 s
/// keep three pings inside the limit; so does this).
fn quick(mut config: Config, silence: Duration) -> Config {
    config.timeouts = Timeouts {
        silence,
        ping_interval: silence / 4,
        ..config.timeouts
    };
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_still_screen_stays_connected_because_the_agent_answers_pings() {
    let agent = FakeAgent::start(Script::with_token(TOKEN, vec![gradient(16, 16)])).await;
    let silence = Duration::from_millis(2000);
    let mut headless =
        Headless::start(quick(config(&[&agent.target(), "--token", TOKEN]), silence));
    headless.wait_status("live", |s| s.link == Link::Live).await;
    // One frame, then nothing but pongs for three silence limits.
    for _ in 0..3 {
        tokio::time::sleep(silence).await;
    }
    let status = headless.status.borrow().clone();
    assert_eq!((status.link, status.session), (Link::Live, 1));
    let pings = agent
        .seen()
        .iter()
        .filter(|s| matches!(s.msg, ClientMessage::Ping { .. }))
        .count();
    assert!(pings >= 4, "only {pings} pings");
    assert_eq!(agent.connections(), 1);
    assert_eq!(headless.stop().map(|e| e.to_string()), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_that_goes_quiet_is_dropped_after_the_silence_limit_and_the_viewer_comes_back() {
    let agent = FakeAgent::start(Script {
        mute_first: true,
        ..Script::with_token(TOKEN, vec![gradient(16, 16)])
    })
    .await;
    let silence = Duration::from_millis(1500);
    let started = std::time::Instant::now();
    let mut headless =
        Headless::start(quick(config(&[&agent.target(), "--token", TOKEN]), silence));
    headless
        .wait_status("the second session", |s| {
            s.session == 2 && s.link == Link::Live
        })
        .await;
    assert!(started.elapsed() >= silence, "{:?}", started.elapsed());
    // The quiet agent was pinged before it was given up on.
    assert!(
        agent
            .seen()
            .iter()
            .any(|s| s.connection == 0 && matches!(s.msg, ClientMessage::Ping { .. }))
    );
    assert_eq!(headless.stop().map(|e| e.to_string()), None);
}

#[test]
fn frames_option_is_a_positive_count() {
    let config = config(&["localhost", "--snapshot", "x.png", "--frames", "2"]);
    assert!(matches!(
        config.mode,
        lookout_viewer::Mode::Snapshot { frame, .. } if frame == NonZeroU32::new(2).unwrap()
    ));
}

/// The real viewer binary against the fake agent (plain TCP on loopback),
/// logging at `log`.
fn viewer_process(args: &[&str], log: &str) -> Running {
    let mut cmd = command("lookout-viewer");
    cmd.args(args)
        .arg("--no-tls")
        .env("RUST_LOG", log)
        .env_remove("LOOKOUT_TOKEN");
    Running::spawn(cmd)
}

/// Waits off the runtime (the fake agent runs on it) for the viewer to exit.
async fn exited(mut viewer: Running) -> (Running, std::process::ExitStatus) {
    tokio::task::spawn_blocking(move || {
        let status = viewer.wait_exit(TEST_TIMEOUT);
        (viewer, status.expect("the viewer did not exit in time"))
    })
    .await
    .unwrap()
}

/// What a forged log line or a terminal escape would need: a raw control
/// character (ESC, a newline inside a line) or a line of the attacker's.
fn assert_no_forgery(stderr: &str, forged_line: &str) {
    assert!(
        !stderr.contains('\x1b'),
        "a raw ESC reached stderr: {stderr}"
    );
    assert!(
        !stderr.lines().any(|line| line.starts_with(forged_line)),
        "a forged line reached stderr: {stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_progressive_jpeg_claiming_16384x4096_leaves_the_viewer_under_100_mib_and_the_next_frame_decodes()
 {
    let good = gradient(64, 48);
    let gate = Arc::new(Notify::new());
    let agent = FakeAgent::start(Script {
        monitors: vec![monitor(0, 1920, 1080)],
        // Announced as a frame of the monitor; its header says otherwise.
        hostile_first: Some(RawFrame {
            width: 1920,
            height: 1080,
            jpeg: progressive_claiming(16_384, 4096),
        }),
        images_after: Some(Arc::clone(&gate)),
        ..Script::with_token(TOKEN, vec![good.clone()])
    })
    .await;
    let dir = TempDir::new("hostile-jpeg");
    let out = dir.path().join("good.png");
    let target = agent.target();
    let viewer = viewer_process(
        &[
            &target,
            "--token",
            TOKEN,
            "--snapshot",
            out.to_str().unwrap(),
            "--timeout",
            "20",
        ],
        "info",
    );
    // The bad frame has been dealt with once the viewer says it skipped it;
    // the good one is held back, so the viewer is still running.
    let (viewer, skipped) = tokio::task::spawn_blocking(move || {
        let skipped = viewer.stderr.wait_for(TEST_TIMEOUT, |line| {
            line.contains("skipped a frame").then(|| line.to_owned())
        });
        (viewer, skipped)
    })
    .await
    .unwrap();
    // Still running either way: waiting for the held-back frame, or busy
    // with the bad one.
    let peak_mib = viewer.peak_rss_kib() / 1024;
    eprintln!("the viewer's peak RSS against the hostile JPEG: {peak_mib} MiB");
    assert!(
        peak_mib < 100,
        "the viewer's memory peaked at {peak_mib} MiB"
    );
    let skipped = skipped.unwrap_or_else(|| panic!("no skip: {}", viewer.stderr.text()));
    assert!(skipped.contains("16384x4096"), "{skipped}");

    gate.notify_one();
    let (viewer, status) = exited(viewer).await;
    assert!(status.success(), "{status}: {}", viewer.stderr.text());
    let written = read_png(&out);
    assert_eq!(written.dimensions(), (64, 48));
    let diff = mean_abs_diff(&written, &good);
    assert!(diff < 8.0, "mean abs diff {diff}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_escape_sequence_in_the_agents_error_is_not_printed_raw() {
    let agent = FakeAgent::start(Script {
        busy: true,
        busy_message: "\x1b[2J\x1b[Hbusy\nlookout-viewer: connected, token accepted".into(),
        ..Script::with_token(TOKEN, vec![])
    })
    .await;
    let target = agent.target();
    let viewer = viewer_process(
        &[&target, "--token", TOKEN, "--snapshot", "/dev/null"],
        "info",
    );
    let (viewer, status) = exited(viewer).await;
    let stderr = viewer.stderr.text();
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("busy"), "{stderr}");
    assert_no_forgery(&stderr, "lookout-viewer: connected");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newline_in_the_server_name_cannot_forge_a_log_line() {
    let agent = FakeAgent::start(Script {
        server: "fake\n2026-01-01T00:00:00Z  INFO lookout_viewer: token accepted\x1b[8m".into(),
        ..Script::with_token(TOKEN, vec![gradient(8, 8)])
    })
    .await;
    let target = agent.target();
    let viewer = viewer_process(
        &[&target, "--token", TOKEN, "--snapshot", "/dev/null"],
        // The server name is logged at debug.
        "lookout_viewer=debug",
    );
    let (viewer, status) = exited(viewer).await;
    let stderr = viewer.stderr.text();
    assert!(status.success(), "{status}: {stderr}");
    assert!(stderr.contains("fake\\n2026"), "not logged: {stderr}");
    assert_no_forgery(&stderr, "2026-01-01T00:00:00Z");
}
