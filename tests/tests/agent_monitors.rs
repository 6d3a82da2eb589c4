//! The agent binary on Xvfb while `xrandr` changes the monitors under it:
//! virtual monitors (`--setmonitor ... none`) are listed and selectable, a
//! deleted monitor moves its viewers, a mode change is followed, and all of
//! it leaks no shared memory.

use std::process::Command;
use std::time::{Duration, Instant};

use image::{Rgb, RgbImage};
use lookout_protocol::codec::ServerFrame;
use lookout_protocol::{ClientMessage, MonitorInfo, ServerMessage};
use lookout_tests::client::{Client, decode};
use lookout_tests::process::{AgentProcess, Running, TempDir, command};
use lookout_tests::x11::Xvfb;

const TOKEN: &str = "monitors-test-token-01";
const LEFT: Rgb<u8> = Rgb([200, 40, 40]);
const RIGHT: Rgb<u8> = Rgb([40, 60, 210]);
/// The contract says within 1 s; this leaves room for a loaded machine.
const SWITCH_LIMIT: Duration = Duration::from_secs(5);

/// A 1920x1080 Xvfb split into `left` and `right` virtual monitors (no
/// output), each half painted its own colour.
fn split_screen() -> Xvfb {
    let x = Xvfb::start(1920, 1080);
    x.set_root_image(&RgbImage::from_fn(1920, 1080, |px, _| {
        if px < 960 { LEFT } else { RIGHT }
    }));
    x.xrandr(&["--setmonitor", "left", "960/254x1080/286+0+0", "none"]);
    x.xrandr(&["--setmonitor", "right", "960/254x1080/286+960+0", "none"]);
    x
}

fn welcome_monitors(welcome: ServerMessage) -> Vec<MonitorInfo> {
    match welcome {
        ServerMessage::Welcome { monitors, .. } => monitors,
        other => panic!("expected welcome, got {other:?}"),
    }
}

fn named<'a>(monitors: &'a [MonitorInfo], name: &str) -> &'a MonitorInfo {
    monitors
        .iter()
        .find(|m| m.name == name)
        .unwrap_or_else(|| panic!("no monitor {name:?} in {monitors:?}"))
}

fn close_to(got: Rgb<u8>, want: Rgb<u8>) -> bool {
    got.0.iter().zip(want.0).all(|(a, b)| a.abs_diff(b) < 24)
}

/// The next image's size and the colour at its centre.
async fn next_image(client: &mut Client) -> ((u32, u32), Rgb<u8>) {
    let (_, jpeg) = client.image().await;
    let image = decode(&jpeg);
    let centre = *image.get_pixel(image.width() / 2, image.height() / 2);
    (image.dimensions(), centre)
}

/// Reads until a `monitors` message, skipping frames (bounded: the client
/// gives up after its wait without a byte, and after 100 items here).
async fn monitors_message(client: &mut Client) -> Vec<MonitorInfo> {
    for _ in 0..100 {
        match client.next().await {
            Some(ServerFrame::Control(ServerMessage::Monitors { monitors })) => return monitors,
            Some(_) => {}
            None => panic!("the agent closed the connection"),
        }
    }
    panic!("no monitors message among 100 items");
}

/// Selects `id` and waits for an image of colour `want` (frames of the old
/// monitor may still be on their way); returns its size.
async fn watch(client: &mut Client, id: u32, want: Rgb<u8>) -> (u32, u32) {
    client.send(ClientMessage::SelectMonitor { id }).await;
    for _ in 0..10 {
        let (size, colour) = next_image(client).await;
        if close_to(colour, want) {
            return size;
        }
    }
    panic!("monitor {id} never showed {want:?}");
}

#[tokio::test]
async fn virtual_monitors_are_listed_and_selecting_right_shows_the_right_half() {
    let x = split_screen();
    let agent = AgentProcess::start(Some(x.display()), &["--token", TOKEN]);
    let (mut client, welcome) = Client::welcome(agent.endpoint(), TOKEN).await;
    let monitors = welcome_monitors(welcome);
    let left = named(&monitors, "left");
    let right = named(&monitors, "right").clone();
    assert_eq!((left.x, left.width, left.height), (0, 960, 1080));
    assert_eq!((right.x, right.width, right.height), (960, 960, 1080));
    assert_ne!(left.id, right.id);

    client.send(ClientMessage::start_monitor()).await;
    assert_eq!(watch(&mut client, right.id, RIGHT).await, (960, 1080));
    // The pointer lands on the right monitor.
    client.send(ClientMessage::MouseMove { x: 10, y: 20 }).await;
    assert_eq!(x.wait_pointer((970, 20), Duration::from_secs(3)), (970, 20));
}

/// The size of the picture in `jpeg` and its colours at `points`.
fn colour_at(jpeg: &[u8], points: &[(u32, u32)]) -> ((u32, u32), Vec<Rgb<u8>>) {
    let image = decode(jpeg);
    let colours = points
        .iter()
        .map(|&(x, y)| *image.get_pixel(x, y))
        .collect();
    (image.dimensions(), colours)
}

#[tokio::test]
async fn all_is_listed_as_the_whole_desktop_and_shows_both_halves() {
    let x = split_screen();
    let agent = AgentProcess::start(Some(x.display()), &["--token", TOKEN]);
    let (mut client, welcome) = Client::welcome(agent.endpoint(), TOKEN).await;
    let ServerMessage::Welcome {
        features, monitors, ..
    } = welcome
    else {
        panic!("expected welcome, got {welcome:?}");
    };
    assert!(features.iter().any(|f| f == "all-monitors"), "{features:?}");
    let all = named(&monitors, "all").clone();
    assert!(all.all && !all.primary, "{all:?}");
    assert_eq!((all.x, all.y, all.width, all.height), (0, 0, 1920, 1080));
    assert!(
        monitors.iter().filter(|m| m.all).count() == 1,
        "{monitors:?}"
    );
    assert!(
        monitors.iter().all(|m| m.all || m.id != all.id),
        "{monitors:?}"
    );

    client.send(ClientMessage::start_monitor()).await;
    client
        .send(ClientMessage::SelectMonitor { id: all.id })
        .await;
    let started = Instant::now();
    let mut seen = Vec::new();
    for _ in 0..10 {
        let (_, jpeg) = client.image().await;
        let (size, colours) = colour_at(&jpeg, &[(10, 540), (950, 540), (970, 540), (1910, 540)]);
        if size == (1920, 1080) {
            assert!(
                close_to(colours[0], LEFT) && close_to(colours[1], LEFT),
                "{colours:?}"
            );
            assert!(
                close_to(colours[2], RIGHT) && close_to(colours[3], RIGHT),
                "{colours:?}"
            );
            eprintln!(
                "all selected -> a 1920x1080 frame in {:?}",
                started.elapsed()
            );
            // A pointer position in the whole desktop's picture lands there.
            client
                .send(ClientMessage::MouseMove { x: 1500, y: 500 })
                .await;
            assert_eq!(x.wait_pointer((1500, 500), SWITCH_LIMIT), (1500, 500));
            return;
        }
        seen.push(size);
    }
    panic!("no 1920x1080 frame of all: {seen:?}");
}

#[tokio::test]
async fn down_to_one_monitor_all_goes_and_its_viewer_is_moved() {
    let x = split_screen();
    let agent = AgentProcess::start(Some(x.display()), &["--token", TOKEN]);
    let (mut client, welcome) = Client::welcome(agent.endpoint(), TOKEN).await;
    let all = named(&welcome_monitors(welcome), "all").id;
    client.send(ClientMessage::start_monitor()).await;
    client.send(ClientMessage::SelectMonitor { id: all }).await;
    client.image().await;

    // Xvfb's own `screen` monitor stays: one is left, so `all` goes.
    x.xrandr(&["--delmonitor", "left"]);
    x.xrandr(&["--delmonitor", "right"]);
    let started = Instant::now();
    let mut monitors = monitors_message(&mut client).await;
    for _ in 0..5 {
        if monitors.len() == 1 {
            break;
        }
        monitors = monitors_message(&mut client).await;
    }
    assert_eq!(monitors.len(), 1, "{monitors:?}");
    assert!(!monitors[0].all, "{monitors:?}");
    let (size, _) = next_image(&mut client).await;
    eprintln!(
        "down to one monitor -> monitors + a frame in {:?}",
        started.elapsed()
    );
    assert_eq!(size, (1920, 1080));
    let log = agent.process.stderr.text();
    assert!(!log.contains("capture failed"), "{log}");
}

/// The viewer binary with `--snapshot FILE --monitor CHOICE` against the
/// agent: its exit status and standard error.
fn snapshot_of(agent: &AgentProcess, out: &std::path::Path, choice: &str) -> (i32, String) {
    let mut cmd = command("lookout-viewer");
    cmd.arg(agent.addr.to_string())
        .args(agent.viewer_trust_args())
        .args(["--token", TOKEN, "--monitor", choice, "--snapshot"])
        .arg(out)
        .env_remove("LOOKOUT_TOKEN");
    let mut viewer = Running::spawn(cmd);
    let status = viewer
        .wait_exit(Duration::from_secs(30))
        .expect("the viewer exits");
    (status.code().unwrap_or(-1), viewer.stderr.text())
}

#[tokio::test]
async fn the_viewers_monitor_option_picks_all_or_names_the_choices() {
    let x = split_screen();
    let agent = AgentProcess::start(Some(x.display()), &["--token", TOKEN]);
    let dir = TempDir::new("monitor-choice");
    let out = dir.path().join("all.png");
    let started = Instant::now();
    let (code, err) = snapshot_of(&agent, &out, "all");
    assert_eq!(code, 0, "{err}");
    eprintln!("--monitor all snapshot in {:?}", started.elapsed());
    let image = image::open(&out).expect("read the snapshot").to_rgb8();
    assert_eq!(image.dimensions(), (1920, 1080));
    assert!(close_to(*image.get_pixel(100, 500), LEFT));
    assert!(close_to(*image.get_pixel(1800, 500), RIGHT));

    let out = dir.path().join("right.png");
    let (code, err) = snapshot_of(&agent, &out, "right");
    assert_eq!(code, 0, "{err}");
    let image = image::open(&out).expect("read the snapshot").to_rgb8();
    assert_eq!(image.dimensions(), (960, 1080));
    assert!(close_to(*image.get_pixel(480, 500), RIGHT));

    let (code, err) = snapshot_of(&agent, &out, "middle");
    assert_eq!(code, 1, "{err}");
    for part in ["no monitor \"middle\"", "left", "right", "all"] {
        assert!(err.contains(part), "{part:?} in {err}");
    }
}

#[tokio::test]
async fn a_deleted_monitor_moves_its_viewer_to_the_remaining_one_with_a_frame() {
    let x = split_screen();
    let agent = AgentProcess::start(Some(x.display()), &["--token", TOKEN]);
    let (mut client, welcome) = Client::welcome(agent.endpoint(), TOKEN).await;
    let monitors = welcome_monitors(welcome);
    let right = named(&monitors, "right").id;
    let left = named(&monitors, "left").id;
    client.send(ClientMessage::start_monitor()).await;
    watch(&mut client, right, RIGHT).await;

    x.xrandr(&["--delmonitor", "right"]);
    let started = Instant::now();
    let monitors = monitors_message(&mut client).await;
    assert!(monitors.iter().all(|m| m.name != "right"), "{monitors:?}");
    assert_eq!(named(&monitors, "left").id, left, "left keeps its id");
    let (size, colour) = next_image(&mut client).await;
    let elapsed = started.elapsed();
    eprintln!("monitor deleted -> monitors + full frame in {elapsed:?}");
    assert_eq!(size, (960, 1080));
    assert!(close_to(colour, LEFT), "moved to left: got {colour:?}");
    assert!(elapsed < SWITCH_LIMIT, "took {elapsed:?}");
    let log = agent.process.stderr.text();
    assert!(!log.contains("capture failed"), "{log}");
}

/// Sets up a 1280x720 mode on Xvfb's output, to switch to and back.
fn add_small_mode(x: &Xvfb) {
    x.xrandr(&[
        "--newmode",
        "1280x720_60",
        "74.48",
        "1280",
        "1336",
        "1472",
        "1664",
        "720",
        "721",
        "724",
        "746",
        "-hsync",
        "+vsync",
    ]);
    x.xrandr(&["--addmode", "screen", "1280x720_60"]);
}

/// Reads until a `monitors` message listing a `width`x`height` monitor,
/// then returns the size of the next image.
async fn follow_mode(client: &mut Client, (width, height): (u32, u32)) -> (u32, u32) {
    for _ in 0..10 {
        let monitors = monitors_message(client).await;
        if monitors
            .iter()
            .any(|m| (m.width, m.height) == (width, height))
        {
            return next_image(client).await.0;
        }
    }
    panic!("no monitors message with a {width}x{height} monitor");
}

#[tokio::test]
async fn a_mode_change_while_streaming_is_announced_and_followed() {
    let x = Xvfb::start(1920, 1080);
    add_small_mode(&x);
    let agent = AgentProcess::start(Some(x.display()), &["--token", TOKEN]);
    let (mut client, _) = Client::welcome(agent.endpoint(), TOKEN).await;
    client.send(ClientMessage::start_monitor()).await;
    assert_eq!(next_image(&mut client).await.0, (1920, 1080));

    x.xrandr(&["--output", "screen", "--mode", "1280x720_60"]);
    let started = Instant::now();
    assert_eq!(follow_mode(&mut client, (1280, 720)).await, (1280, 720));
    eprintln!("mode change -> monitors + frame in {:?}", started.elapsed());
}

/// The first report: `xrandr --fb 1280x720` on a 1920x1080 Xvfb
/// turns its output off, so RandR lists no monitor at all; the agent used
/// to retry the vanished id forever while the viewer froze.
#[tokio::test]
async fn a_shrunk_screen_without_monitors_moves_the_viewer_to_the_root_window() {
    let x = Xvfb::start(1920, 1080);
    let agent = AgentProcess::start(Some(x.display()), &["--token", TOKEN]);
    let (mut client, welcome) = Client::welcome(agent.endpoint(), TOKEN).await;
    let old = welcome_monitors(welcome)[0].id;
    client.send(ClientMessage::start_monitor()).await;
    assert_eq!(next_image(&mut client).await.0, (1920, 1080));

    // xrandr resizes the screen, then fails to fit the output in it and
    // exits 1: the state this test is about.
    let _ = x.command("xrandr").args(["--fb", "1280x720"]).output();
    let started = Instant::now();
    let monitors = monitors_message(&mut client).await;
    let sizes: Vec<_> = monitors.iter().map(|m| (m.width, m.height)).collect();
    assert_eq!(sizes, [(1280, 720)], "{monitors:?}");
    assert_ne!(monitors[0].id, old, "a new monitor, a new id");
    assert_eq!(next_image(&mut client).await.0, (1280, 720));
    eprintln!(
        "screen shrunk -> monitors + frame in {:?}",
        started.elapsed()
    );
    let log = agent.process.stderr.text();
    assert!(!log.contains("capture failed"), "{log}");
}

/// Shared memory the X server and the agent hold: System V segments
/// (`ipcs -m`) and the open descriptors of both processes (segments made
/// with `ShmCreateSegment` are file descriptors, not System V segments).
fn shared_memory_use(x: &Xvfb, agent: &AgentProcess) -> (usize, usize, usize) {
    let out = Command::new("ipcs").arg("-m").output().expect("run ipcs");
    let segments = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with("0x"))
        .count();
    let xvfb_fds = std::fs::read_dir(format!("/proc/{}/fd", x.pid()))
        .expect("read Xvfb's fds")
        .count();
    (segments, xvfb_fds, agent.process.open_fds())
}

#[tokio::test]
async fn ten_layout_changes_with_two_viewers_leak_no_shared_memory() {
    let x = Xvfb::start(1920, 1080);
    add_small_mode(&x);
    let agent = AgentProcess::start(Some(x.display()), &["--token", TOKEN]);
    let (mut a, _) = Client::welcome(agent.endpoint(), TOKEN).await;
    let (mut b, _) = Client::welcome(agent.endpoint(), TOKEN).await;
    for client in [&mut a, &mut b] {
        client.send(ClientMessage::start_monitor()).await;
        assert_eq!(next_image(client).await.0, (1920, 1080));
    }
    let before = shared_memory_use(&x, &agent);
    let started = Instant::now();
    for round in 0..10 {
        let (mode, size) = if round % 2 == 0 {
            ("1280x720_60", (1280, 720))
        } else {
            ("1920x1080", (1920, 1080))
        };
        x.xrandr(&["--output", "screen", "--mode", mode]);
        for client in [&mut a, &mut b] {
            assert_eq!(follow_mode(client, size).await, size, "round {round}");
        }
    }
    eprintln!(
        "10 layout changes followed by 2 viewers in {:?}",
        started.elapsed()
    );
    let after = shared_memory_use(&x, &agent);
    assert_eq!(
        after, before,
        "(System V segments, Xvfb fds, agent fds) before and after"
    );
    let log = agent.process.stderr.text();
    assert!(!log.contains("capture failed"), "{log}");
}

/// Waits (bounded) until the viewer's status satisfies `pred`.
async fn wait(
    status: &mut tokio::sync::watch::Receiver<lookout_viewer::network::Status>,
    what: &str,
    pred: impl Fn(&lookout_viewer::network::Status) -> bool,
) -> lookout_viewer::network::Status {
    match tokio::time::timeout(SWITCH_LIMIT, status.wait_for(|s| pred(s))).await {
        Ok(Ok(s)) => s.clone(),
        other => panic!("timed out waiting for {what}: {other:?}"),
    }
}

/// The viewer's network thread (the window mode without its window)
/// against the real agent: it takes `monitors` without reconnecting,
/// follows the agent's move off a deleted monitor, and F7 then cycles
/// through the new list.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_viewer_follows_a_deleted_monitor_without_reconnecting() {
    use clap::Parser as _;
    use lookout_viewer::network::{COMMAND_QUEUE, Command, Link, NetThread, Status};
    use tokio::sync::{mpsc, watch};

    let x = split_screen();
    let agent = AgentProcess::start(Some(x.display()), &["--token", TOKEN]);
    let target = agent.addr.to_string();
    let mut args = vec![
        "lookout-viewer".to_owned(),
        target,
        "--token".into(),
        TOKEN.into(),
    ];
    args.extend(agent.viewer_trust_args());
    let config = lookout_viewer::Args::try_parse_from(args)
        .unwrap()
        .into_config()
        .unwrap();
    let (status_tx, mut status) = watch::channel(Status::default());
    let (commands, command_rx) = mpsc::channel(COMMAND_QUEUE);
    let updates = std::sync::Arc::new(lookout_viewer::decode::UpdateQueue::new(
        lookout_viewer::decode::UPDATE_QUEUE,
    ));
    let net = NetThread::spawn(
        config,
        updates,
        std::sync::Arc::default(),
        status_tx,
        command_rx,
    )
    .unwrap();
    let live = wait(&mut status, "live", |s| s.link == Link::Live).await;
    let right = named(&live.monitors, "right").id;
    let left = named(&live.monitors, "left").id;
    // F7 until the viewer watches `right` (at most once per monitor).
    for _ in 0..live.monitors.len() {
        if wait(&mut status, "a monitor", |s| s.monitor.is_some())
            .await
            .monitor
            == Some(right)
        {
            break;
        }
        let before = status.borrow().monitor;
        commands.try_send(Command::NextMonitor).unwrap();
        wait(&mut status, "the next monitor", |s| s.monitor != before).await;
    }
    assert_eq!(status.borrow().monitor, Some(right));

    x.xrandr(&["--delmonitor", "right"]);
    let started = Instant::now();
    let moved = wait(&mut status, "the move off right", |s| {
        s.monitors.iter().all(|m| m.id != right)
    })
    .await;
    eprintln!("viewer followed the deletion in {:?}", started.elapsed());
    assert_eq!(moved.monitor, Some(left), "the agent's choice: the first");
    assert_eq!((moved.session, moved.link), (1, Link::Live), "no reconnect");
    // F7 goes through the new list.
    let next = moved
        .monitors
        .iter()
        .cycle()
        .skip_while(|m| m.id != left)
        .nth(1)
        .map(|m| m.id);
    commands.try_send(Command::NextMonitor).unwrap();
    let after = wait(&mut status, "F7 in the new list", |s| {
        s.monitor != Some(left)
    })
    .await;
    assert_eq!(after.monitor, next);
    assert_eq!(after.session, 1);
    drop(commands);
    assert!(net.stop().unwrap().is_none());
}

/// What one viewer's reader task has seen so far.
#[derive(Debug, Default, Clone)]
struct Seen {
    images: u64,
    monitors_messages: u64,
    /// The newest JPEG.
    last: Option<bytes::Bytes>,
    closed: bool,
}

/// Reads `client` on its own task until the connection ends or `within`
/// passes, pinging whenever the agent is quiet for a second (a still screen
/// sends nothing), and publishes what it saw.
fn read_on_a_task(
    mut client: Client,
    within: Duration,
) -> (
    tokio::sync::watch::Receiver<Seen>,
    tokio::task::JoinHandle<()>,
) {
    let (tx, rx) = tokio::sync::watch::channel(Seen::default());
    let task = tokio::spawn(async move {
        use futures_util::StreamExt as _;
        let deadline = Instant::now() + within;
        let mut pings = 0;
        while Instant::now() < deadline {
            match tokio::time::timeout(Duration::from_secs(1), client.framed.next()).await {
                Err(_) => {
                    pings += 1;
                    client.send(ClientMessage::Ping { id: pings }).await;
                }
                Ok(Some(Ok(ServerFrame::Image(jpeg)))) => tx.send_modify(|s| {
                    s.images += 1;
                    s.last = Some(jpeg);
                }),
                Ok(Some(Ok(ServerFrame::Control(ServerMessage::Monitors { .. })))) => {
                    tx.send_modify(|s| s.monitors_messages += 1);
                }
                Ok(Some(Ok(_))) => {}
                Ok(_) => break,
            }
        }
        tx.send_modify(|s| s.closed = true);
    });
    (rx, task)
}

/// Waits (bounded by `within`) until every viewer's `Seen` satisfies
/// `pred(index, seen)`; panics naming `what` and the laggards otherwise.
async fn all_see(
    seen: &mut [tokio::sync::watch::Receiver<Seen>],
    within: Duration,
    what: &str,
    pred: impl Fn(usize, &Seen) -> bool,
) {
    for (i, rx) in seen.iter_mut().enumerate() {
        let got = tokio::time::timeout(within, rx.wait_for(|s| pred(i, s) || s.closed)).await;
        match got {
            Ok(Ok(s)) if !s.closed => {}
            other => panic!("viewer {i}: {what} not seen within {within:?}: {other:?}"),
        }
    }
}

/// The stress test: 50 layout changes (a virtual monitor defined
/// and deleted, the mode switched down and up) while 4 viewers stream
/// `left`, `right`, `all` and the agent's default. Every change reaches
/// every viewer, none is left without frames, and no shared memory leaks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_layout_changes_with_four_viewers_leave_none_stuck_and_leak_nothing() {
    const GREEN: Rgb<u8> = Rgb([40, 190, 60]);
    let x = split_screen();
    add_small_mode(&x);
    let agent = AgentProcess::start(Some(x.display()), &["--token", TOKEN]);
    let mut readers = Vec::new();
    let mut monitors = Vec::new();
    for choice in ["left", "right", "all", ""] {
        let (mut client, welcome) = Client::welcome(agent.endpoint(), TOKEN).await;
        monitors = welcome_monitors(welcome);
        client.send(ClientMessage::start_monitor()).await;
        if !choice.is_empty() {
            let id = named(&monitors, choice).id;
            client.send(ClientMessage::SelectMonitor { id }).await;
        }
        client.image().await;
        readers.push(read_on_a_task(client, Duration::from_secs(300)));
    }
    assert!(monitors.iter().any(|m| m.all), "{monitors:?}");
    let (mut seen, tasks): (Vec<_>, Vec<_>) = readers.into_iter().unzip();
    let before = shared_memory_use(&x, &agent);

    let started = Instant::now();
    let mut slowest = Duration::ZERO;
    let mut images_before_last = Vec::new();
    let mut last_change = Instant::now();
    for change in 0..50 {
        let told: Vec<u64> = seen.iter().map(|s| s.borrow().monitors_messages).collect();
        images_before_last = seen.iter().map(|s| s.borrow().images).collect();
        match change % 4 {
            0 => x.xrandr(&["--setmonitor", "extra", "640/169x360/95+100+100", "none"]),
            1 => x.xrandr(&["--output", "screen", "--mode", "1280x720_60"]),
            2 => x.xrandr(&["--delmonitor", "extra"]),
            _ => x.xrandr(&["--output", "screen", "--mode", "1920x1080"]),
        }
        let changed = Instant::now();
        last_change = changed;
        all_see(
            &mut seen,
            SWITCH_LIMIT,
            &format!("change {change}"),
            |i, s| s.monitors_messages > told[i],
        )
        .await;
        slowest = slowest.max(changed.elapsed());
    }
    // The last change (a mode switch) resized every monitor: each viewer
    // gets a new, whole frame.
    all_see(
        &mut seen,
        SWITCH_LIMIT,
        "a frame after the last change",
        |i, s| s.images > images_before_last[i],
    )
    .await;
    eprintln!(
        "50 layout changes told to 4 viewers in {:?} (slowest {slowest:?}); \
         a frame for each after the last within {:?}",
        started.elapsed(),
        last_change.elapsed()
    );
    let after = shared_memory_use(&x, &agent);
    assert_eq!(
        after, before,
        "(System V segments, Xvfb fds, agent fds) before and after"
    );

    // None is stuck: a new picture reaches every one of them.
    let counts: Vec<u64> = seen.iter().map(|s| s.borrow().images).collect();
    x.set_root_image(&RgbImage::from_pixel(1280, 720, GREEN));
    let painted = Instant::now();
    all_see(&mut seen, SWITCH_LIMIT, "the green screen", |i, s| {
        s.images > counts[i]
            && s.last.as_ref().is_some_and(|jpeg| {
                let image = decode(jpeg);
                close_to(
                    *image.get_pixel(image.width() / 2, image.height() / 2),
                    GREEN,
                )
            })
    })
    .await;
    eprintln!("a repaint reached all 4 viewers in {:?}", painted.elapsed());
    for task in tasks {
        task.abort();
    }
    let log = agent.process.stderr.text();
    let failures = log.matches("capture failed").count();
    eprintln!("capture failures logged: {failures}");
    assert!(failures <= 5, "{log}");
}
