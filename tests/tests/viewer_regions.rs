//! The viewer's side of region updates (protocol §2.3) against a fake agent
//! that offers them: it asks for them on every `start_monitor`, composes
//! them into the picture (`--snapshot` of the real binary, pixel by pixel),
//! and when its queue to the decoder overflows it asks for a full frame
//! and converges to the right picture.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Instant;

use clap::Parser;
use lookout_protocol::{ClientMessage, Rect, StreamSettings};
use lookout_tests::fake_agent::{
    FakeAgent, RegionScript, Script, Seen, TEST_TIMEOUT, composed, gradient,
};
use lookout_tests::process::{Running, TempDir, binary};
use lookout_viewer::decode::{DecodedFrame, FrameBound, QueueBound, UpdateQueue, spawn_decoder};
use lookout_viewer::network::{COMMAND_QUEUE, Command, NetThread, Status};
use lookout_viewer::slot::Latest;
use lookout_viewer::{Args, Config};
use tokio::sync::{mpsc, watch};

const TOKEN: &str = "correct horse battery staple";

/// What a viewer asks for from an agent that offers region updates.
const WITH_REGIONS: StreamSettings = StreamSettings {
    regions: true,
    ..StreamSettings::DEFAULT
};

fn solid(width: u32, height: u32, rgb: [u8; 3]) -> image::RgbImage {
    image::RgbImage::from_pixel(width, height, image::Rgb(rgb))
}

/// A 64x48 base and three region updates of known colours on the 16-pixel
/// grid, the third painting over a tile of the first.
fn scene() -> (image::RgbImage, Vec<RegionScript>) {
    let base = gradient(64, 48);
    let regions = vec![
        vec![
            (Rect::new(0, 0, 16, 16), solid(16, 16, [230, 20, 20])),
            (Rect::new(32, 16, 16, 16), solid(16, 16, [20, 20, 230])),
        ],
        vec![(Rect::new(16, 0, 32, 16), solid(32, 16, [20, 230, 20]))],
        vec![
            (Rect::new(0, 0, 16, 16), solid(16, 16, [230, 230, 20])),
            (Rect::new(48, 32, 16, 16), solid(16, 16, [230, 20, 230])),
        ],
    ];
    (base, regions)
}

/// Asserts `got` is `want` pixel by pixel, within JPEG loss.
fn assert_same_picture(got: &image::RgbImage, want: &image::RgbImage) {
    assert_eq!(got.dimensions(), want.dimensions());
    for (x, y, p) in got.enumerate_pixels() {
        let q = want.get_pixel(x, y);
        let off = (0..3).map(|c| p[c].abs_diff(q[c])).max().unwrap();
        assert!(off <= 24, "({x}, {y}) is {p:?}, expected {q:?}");
    }
}

fn start_monitors(seen: &[Seen], connection: usize) -> Vec<StreamSettings> {
    seen.iter()
        .filter(|s| s.connection == connection)
        .filter_map(|s| match &s.msg {
            ClientMessage::StartMonitor(settings) => Some(*settings),
            _ => None,
        })
        .collect()
}

/// Runs the real viewer binary's `--snapshot` of `--frames frames` against
/// `agent`, and reads the PNG.
async fn snapshot(agent: &FakeAgent, frames: u32, dir: &TempDir) -> image::RgbImage {
    let out = dir.path().join(format!("after-{frames}.png"));
    let mut cmd = std::process::Command::new(binary("lookout-viewer"));
    cmd.args([&agent.target(), "--token", TOKEN, "--no-tls", "--snapshot"])
        .arg(&out)
        .args(["--frames", &frames.to_string()])
        .env("RUST_LOG", "info")
        .env_remove("LOOKOUT_TOKEN");
    let mut viewer = Running::spawn(cmd);
    let (viewer, status) = tokio::task::spawn_blocking(move || {
        let status = viewer.wait_exit(TEST_TIMEOUT);
        (viewer, status.expect("the viewer did not exit in time"))
    })
    .await
    .unwrap();
    assert!(status.success(), "{status}: {}", viewer.process_output());
    image::open(&out)
        .unwrap_or_else(|e| panic!("{}: {e}", out.display()))
        .into_rgb8()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_after_n_updates_is_the_picture_composed_from_them() {
    let (base, regions) = scene();
    let script = Script::with_token(TOKEN, vec![base.clone()]).with_regions(regions.clone());
    let agent = FakeAgent::start(script).await;
    let dir = TempDir::new("regions");

    // The full frame and all three updates.
    let after_four = snapshot(&agent, 4, &dir).await;
    assert_same_picture(&after_four, &composed(&base, &regions));
    // The full frame and the first update only: updates are counted.
    let after_two = snapshot(&agent, 2, &dir).await;
    assert_same_picture(&after_two, &composed(&base, &regions[..1]));

    let seen = agent.seen();
    assert_eq!(start_monitors(&seen, 0), [WITH_REGIONS]);
    assert_eq!(start_monitors(&seen, 1), [WITH_REGIONS]);
}

/// The window mode's background with the test in the window's place; the
/// decode thread starts when the test says.
struct Headless {
    net: Option<NetThread>,
    commands: mpsc::Sender<Command>,
    updates: Arc<UpdateQueue>,
    frames: Arc<Latest<Arc<DecodedFrame>>>,
    decoder: Option<std::thread::JoinHandle<()>>,
}

impl Headless {
    fn start(agent: &FakeAgent, bound: QueueBound) -> Self {
        let args = [
            "lookout-viewer",
            &agent.target(),
            "--token",
            TOKEN,
            "--no-tls",
        ];
        let config: Config = Args::try_parse_from(args).unwrap().into_config().unwrap();
        let updates = Arc::new(UpdateQueue::new(bound));
        let (status_tx, _status) = watch::channel(Status::default());
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
            commands,
            updates,
            frames: Arc::new(Latest::new()),
            decoder: None,
        }
    }

    fn start_decoder(&mut self) {
        let decoder = spawn_decoder(Arc::clone(&self.updates), Arc::clone(&self.frames), || {
            FrameBound::new(1280, 720)
        });
        self.decoder = Some(decoder.unwrap());
    }

    /// Waits for the decoder to publish the picture of update `seq`.
    async fn picture(&self, seq: u64) -> Arc<DecodedFrame> {
        let frames = Arc::clone(&self.frames);
        tokio::task::spawn_blocking(move || {
            let deadline = Instant::now() + TEST_TIMEOUT;
            // Bounded: each wait ends at the deadline at the latest.
            while let Some(left) = deadline.checked_duration_since(Instant::now()) {
                match frames.take_timeout(left) {
                    Some(picture) if picture.seq >= seq => return picture,
                    Some(_) => {}
                    None => break,
                }
            }
            panic!("no picture of update {seq} in time");
        })
        .await
        .unwrap()
    }
}

impl Drop for Headless {
    fn drop(&mut self) {
        if let Some(net) = self.net.take() {
            let _ = net.stop();
        }
        self.updates.close();
        if let Some(decoder) = self.decoder.take() {
            let _ = decoder.join();
        }
    }
}

fn rgb(picture: &DecodedFrame) -> image::RgbImage {
    image::RgbImage::from_raw(picture.width, picture.height, picture.to_rgb8()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overflowing_queue_asks_for_a_full_frame_and_the_picture_converges() {
    let (base, regions) = scene();
    // The three updates, sent four times over after the first full frame:
    // twelve updates that nothing decodes yet.
    let script = Script {
        flood_first: 4,
        ..Script::with_token(TOKEN, vec![base.clone()]).with_regions(regions.clone())
    };
    let agent = FakeAgent::start(script).await;
    // A full frame and three updates fit; the flood does not.
    let bound = QueueBound {
        updates: 4,
        bytes: 1 << 20,
    };
    let mut headless = Headless::start(&agent, bound);
    agent
        .wait_for("start_monitor asked again", |seen| {
            start_monitors(seen, 0).len() >= 2
        })
        .await;
    headless.start_decoder();
    // Round one: 1 full + 12 updates; round two: 1 full + 3 updates.
    let picture = headless.picture(13 + 4).await;
    assert_same_picture(&rgb(&picture), &composed(&base, &regions));
    assert!(!headless.updates.awaiting_full());
    // Asked once more, with the same settings, and not again.
    assert_eq!(
        start_monitors(&agent.seen(), 0),
        [WITH_REGIONS, WITH_REGIONS]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_region_update_that_does_not_fit_asks_for_a_full_frame_in_the_window_and_in_snapshot() {
    let (base, regions) = scene();
    let script = Script {
        bad_region_first: true,
        ..Script::with_token(TOKEN, vec![base.clone()]).with_regions(regions.clone())
    };
    let want = composed(&base, &regions);

    // The window's decode thread: the picture converges, nothing crashed.
    let agent = FakeAgent::start(script.clone()).await;
    let mut headless = Headless::start(&agent, lookout_viewer::decode::UPDATE_QUEUE);
    headless.start_decoder();
    // Round one: full, the bad update, three updates (ignored after it);
    // round two: full and three updates.
    let picture = headless.picture(5 + 4).await;
    assert_same_picture(&rgb(&picture), &want);
    assert_eq!(
        start_monitors(&agent.seen(), 0),
        [WITH_REGIONS, WITH_REGIONS]
    );
    drop(headless);

    // `--snapshot`: the bad update and the three after it do not count;
    // the second full frame and its three updates make five with the first.
    let agent = FakeAgent::start(script).await;
    let dir = TempDir::new("bad-region");
    assert_same_picture(&snapshot(&agent, 5, &dir).await, &want);
    assert_eq!(
        start_monitors(&agent.seen(), 0),
        [WITH_REGIONS, WITH_REGIONS]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regions_are_asked_for_on_connect_on_resume_and_after_a_reconnect() {
    let (base, regions) = scene();
    let agent = FakeAgent::start(Script::with_token(TOKEN, vec![base]).with_regions(regions)).await;
    let mut headless = Headless::start(&agent, lookout_viewer::decode::UPDATE_QUEUE);
    headless.start_decoder();
    agent
        .wait_for("start_monitor", |seen| start_monitors(seen, 0).len() == 1)
        .await;
    // F8 twice: stopped, then resumed.
    headless.commands.try_send(Command::TogglePause).unwrap();
    headless.commands.try_send(Command::TogglePause).unwrap();
    agent
        .wait_for("the resume", |seen| start_monitors(seen, 0).len() == 2)
        .await;
    agent.kick();
    agent
        .wait_for("start_monitor after reconnecting", |seen| {
            start_monitors(seen, 1).len() == 1
        })
        .await;
    let seen = agent.seen();
    assert!(
        seen.iter()
            .any(|s| s.connection == 0 && s.msg == ClientMessage::StopMonitor)
    );
    assert_eq!(start_monitors(&seen, 0), [WITH_REGIONS, WITH_REGIONS]);
    assert_eq!(start_monitors(&seen, 1), [WITH_REGIONS]);
}
