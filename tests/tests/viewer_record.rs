//! Recording in the viewer (`--record`, F6): the real viewer binary on
//! Xvfb records the real agent's `--source test-pattern` (a moving window:
//! full frames, then region updates the viewer composes and the recorder
//! encodes), and Debian's `ffprobe`/`ffmpeg` read the file: codec, size,
//! frame count, duration against wall time, a clean decode, a seek to the
//! middle, and a copy cut at a random byte that still decodes up to the
//! cut. Skipped, with a message, where ffmpeg is missing.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use lookout_tests::media::{field, have_ffmpeg, probe, run};
use lookout_tests::process::{AgentProcess, Running, TempDir, command};
use lookout_tests::x11::Xvfb;

const TOKEN: &str = "correct horse battery staple";
const SIZE: (u32, u32) = (640, 360);
/// How long the test records, wall time.
const RECORD_FOR: Duration = Duration::from_secs(4);
const WAIT: Duration = Duration::from_secs(20);

/// Where every complete SimpleBlock of the file ends, walking its
/// unknown-size segment and clusters.
fn block_ends(file: &[u8]) -> Vec<usize> {
    let header = |at: usize| -> Option<(u32, Option<u64>, usize)> {
        let first = *file.get(at)?;
        let id_len = first.leading_zeros() as usize + 1;
        let id = file
            .get(at..at + id_len)?
            .iter()
            .fold(0u32, |a, &x| (a << 8) | u32::from(x));
        let s = at + id_len;
        let len = file.get(s)?.leading_zeros() as usize + 1;
        let mut size = u64::from(file[s]) & ((1 << (8 - len)) - 1);
        for &x in file.get(s + 1..s + len)? {
            size = (size << 8) | u64::from(x);
        }
        let unknown = size == (1u64 << (7 * len)) - 1;
        Some((id, (!unknown).then_some(size), s + len))
    };
    let mut ends = Vec::new();
    let (_, size, body) = header(0).unwrap();
    let (_, _, mut at) = header(body + size.unwrap() as usize).unwrap();
    while let Some((id, size, body)) = header(at) {
        at = match (id, size) {
            (0x1F43_B675, None) => body,
            (_, Some(size)) => body + size as usize,
            _ => break,
        };
        if id == 0xA3 && at <= file.len() {
            ends.push(at);
        }
    }
    ends
}

/// The viewer's line at the end of a recording: (frames, encoded,
/// dropped, milliseconds).
fn summary(line: &str) -> Option<(u64, u64, u64, u64)> {
    let rest = line.split("recorded ").nth(1)?;
    let nums: Vec<u64> = rest
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .take(4)
        .filter_map(|s| s.parse().ok())
        .collect();
    (nums.len() == 4).then(|| (nums[0], nums[1], nums[2], nums[3]))
}

#[test]
fn a_recording_of_the_test_pattern_plays_seeks_and_survives_a_cut() {
    if !have_ffmpeg() {
        return;
    }
    let dir = TempDir::new("record");
    let file = dir.path().join("rec.mkv");
    let size = format!("{}x{}", SIZE.0, SIZE.1);
    let agent = AgentProcess::start(
        None,
        &[
            "--token",
            TOKEN,
            "--source",
            "test-pattern",
            "--pattern-size",
            &size,
        ],
    );
    let b = Xvfb::start(1024, 768);
    let spawned = Instant::now();
    let mut cmd = command("lookout-viewer");
    cmd.arg(agent.addr.to_string())
        .args(agent.viewer_trust_args())
        .args(["--token", TOKEN, "--no-config", "--record"])
        .arg(&file)
        .env("DISPLAY", b.display())
        .env("RUST_LOG", "info")
        .env_remove("LOOKOUT_TOKEN");
    let viewer = Running::spawn(cmd);
    let window = b
        .find_window("lookout", WAIT)
        .unwrap_or_else(|| panic!("no window: {}", viewer.stderr.text()));
    let title = b.wait_title(window, "REC", WAIT);
    let live = Instant::now();
    assert!(title.contains("REC 00:0"), "title: {title:?}");
    std::thread::sleep(RECORD_FOR);
    // Keyboard focus follows the pointer: put it on the window.
    let g = b.geometry(window);
    b.move_pointer(g.x + g.width as i32 / 2, g.y + g.height as i32 / 2);
    b.key("F6");
    let stopped = Instant::now();
    let (frames, encoded, dropped, ms) = viewer
        .stderr
        .wait_for(WAIT, summary)
        .unwrap_or_else(|| panic!("no summary: {}", viewer.stderr.text()));
    eprintln!("recorded {frames} frames ({encoded} encoded, {dropped} dropped) over {ms} ms");
    assert!(frames > 10, "{frames} frames");
    assert!(encoded > 0, "the moving window sends region updates");

    let info = probe(&file, "stream=codec_name,width,height,nb_read_frames", true);
    assert!(info.contains("codec_name=mjpeg"), "{info}");
    assert_eq!(field::<u32>(&info, "width"), SIZE.0);
    assert_eq!(field::<u32>(&info, "height"), SIZE.1);
    assert_eq!(field::<u64>(&info, "nb_read_frames"), frames);
    // Between the window going live and the F6, and from the start to
    // after the F6, 5% either way.
    let duration: f64 = field(&probe(&file, "format=duration", false), "duration");
    let (least, most) = (
        stopped.duration_since(live).as_secs_f64(),
        stopped.duration_since(spawned).as_secs_f64(),
    );
    assert!(
        duration >= least * 0.95 && duration <= most * 1.05,
        "duration {duration} s, wall {least:.2}..{most:.2} s"
    );
    let path = file.to_str().unwrap();
    let (ok, _, err) = run("ffmpeg", &["-v", "error", "-i", path, "-f", "null", "-"]);
    assert!(ok && err.is_empty(), "ffmpeg complains: {err}");

    // A seek to the middle lands on a picture.
    let mid = format!("{:.2}", duration / 2.0);
    let still = dir.path().join("mid.png");
    let (ok, _, err) = run(
        "ffmpeg",
        &[
            "-v",
            "error",
            "-ss",
            &mid,
            "-i",
            path,
            "-frames:v",
            "1",
            "-y",
            still.to_str().unwrap(),
        ],
    );
    assert!(ok && err.is_empty(), "seek to {mid}: {err}");
    let shot = image::open(&still).unwrap();
    assert_eq!((shot.width(), shot.height()), SIZE);

    // A copy cut at a byte in the middle half still plays every frame
    // complete before the cut.
    let bytes = std::fs::read(&file).unwrap();
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(7, |d| u64::from(d.subsec_nanos()));
    eprintln!("cut seed {seed}");
    let cut = bytes.len() / 4 + (seed as usize % (bytes.len() / 2));
    let whole = block_ends(&bytes[..cut]).len() as u64;
    let cut_file = dir.path().join("cut.mkv");
    std::fs::write(&cut_file, &bytes[..cut]).unwrap();
    let decoded: u64 = field(
        &probe(&cut_file, "stream=nb_read_frames", true),
        "nb_read_frames",
    );
    assert!(
        decoded >= whole,
        "cut at {cut} of {}: {decoded} decoded, {whole} complete",
        bytes.len()
    );
    drop(viewer);
}

/// The file's last picture, decoded by ffmpeg.
fn last_picture(file: &Path, (w, h): (u32, u32)) -> image::RgbImage {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(file)
        .args(["-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
        .output()
        .expect("run ffmpeg");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let len = (w * h * 3) as usize;
    assert!(out.stdout.len() >= len, "no picture decoded");
    let last = out.stdout[out.stdout.len() - len..].to_vec();
    image::RgbImage::from_raw(w, h, last).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recording_of_region_updates_holds_whole_pictures_as_the_agent_composed_them() {
    use lookout_protocol::Rect;
    use lookout_tests::fake_agent::{FakeAgent, Script, composed, gradient};
    if !have_ffmpeg() {
        return;
    }
    let (w, h) = (320, 192);
    let base = gradient(w, h);
    let red = image::RgbImage::from_pixel(64, 48, image::Rgb([220, 20, 20]));
    let blue = image::RgbImage::from_pixel(32, 32, image::Rgb([20, 20, 220]));
    let regions = vec![
        vec![(Rect::new(16, 16, 64, 48), red)],
        vec![(Rect::new(160, 96, 32, 32), blue)],
    ];
    let want = composed(&base, &regions);
    let script = Script::with_token(TOKEN, vec![base]).with_regions(regions);
    let agent = FakeAgent::start(script).await;
    let dir = TempDir::new("record-regions");
    let file = dir.path().join("regions.mkv");
    let file_arg = file.clone();
    let target = agent.target();
    let (frames, encoded) = tokio::task::spawn_blocking(move || {
        let b = Xvfb::start(800, 600);
        let mut cmd = command("lookout-viewer");
        cmd.args([
            &target,
            "--token",
            TOKEN,
            "--no-tls",
            "--no-config",
            "--record",
        ])
        .arg(&file_arg)
        .env("DISPLAY", b.display())
        .env("RUST_LOG", "info")
        .env_remove("LOOKOUT_TOKEN");
        let viewer = Running::spawn(cmd);
        let window = b
            .find_window("lookout", WAIT)
            .unwrap_or_else(|| panic!("no window: {}", viewer.stderr.text()));
        let title = b.wait_title(window, "live", WAIT);
        assert!(title.contains("REC"), "title: {title:?}");
        // Every update is on screen once the window has shown the
        // composed picture; the figures say it is live, then F6.
        let g = b.geometry(window);
        b.move_pointer(g.x + g.width as i32 / 2, g.y + g.height as i32 / 2);
        std::thread::sleep(Duration::from_millis(500));
        b.key("F6");
        let (frames, encoded, dropped, _) = viewer
            .stderr
            .wait_for(WAIT, summary)
            .unwrap_or_else(|| panic!("no summary: {}", viewer.stderr.text()));
        assert_eq!(dropped, 0);
        (frames, encoded)
    })
    .await
    .unwrap();
    assert!(
        frames >= 1 && encoded >= 1,
        "{frames} frames, {encoded} encoded"
    );
    let info = probe(&file, "stream=nb_read_frames", true);
    assert_eq!(field::<u64>(&info, "nb_read_frames"), frames);
    let got = last_picture(&file, (w, h));
    let diff = lookout_tests::x11::mean_abs_diff(&got, &want);
    assert!(diff < 4.0, "the last recorded picture differs by {diff:.2}");
    // Not merely close to the gradient: the tiles are in it.
    assert!(
        got.get_pixel(40, 40).0[0] > 180,
        "{:?}",
        got.get_pixel(40, 40)
    );
    assert!(
        got.get_pixel(176, 112).0[2] > 180,
        "{:?}",
        got.get_pixel(176, 112)
    );
}
