//! Recording on the agent (`--record-dir`): the real agent binary streams
//! its `--source test-pattern` (a moving window) to a test viewer taking
//! region updates, so every recorded frame is a full frame the recorder
//! had made itself; Debian's `ffprobe`/`ffmpeg` read the files back.
//! Skipped, with a message, where ffmpeg is missing.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use lookout_protocol::codec::ServerFrame;
use lookout_tests::client::{Client, WAIT};
use lookout_tests::compose::with_regions;
use lookout_tests::media::{decode_errors, field, have_ffmpeg, probe};
use lookout_tests::process::{AgentProcess, TempDir};

const TOKEN: &str = "record-test-token-123";
const SIZE: (u32, u32) = (640, 360);

fn agent(dir: &Path, extra: &[&str]) -> AgentProcess {
    let size = format!("{}x{}", SIZE.0, SIZE.1);
    let mut args = vec![
        "--token",
        TOKEN,
        "--no-tls",
        "--source",
        "test-pattern",
        "--pattern-size",
        &size,
        "--record-dir",
        dir.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    AgentProcess::start(None, &args)
}

/// Watches with region updates for `watch`, counting images.
async fn watch_for(agent: &AgentProcess, watch: Duration) -> usize {
    let (mut client, _) = Client::welcome(agent.endpoint(), TOKEN).await;
    client.send(with_regions()).await;
    let deadline = tokio::time::Instant::now() + watch;
    let mut images = 0;
    loop {
        match tokio::time::timeout_at(deadline, client.framed.next()).await {
            Ok(Some(Ok(ServerFrame::Image(_)))) => images += 1,
            Ok(Some(Ok(ServerFrame::Control(_)))) => {}
            Ok(other) => panic!("the stream broke: {other:?}"),
            Err(_) => return images,
        }
    }
}

/// The recordings in `dir`, oldest name first.
fn recordings(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| Some(e.ok()?.path())).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|e| e == "mkv"));
    files.sort();
    files
}

/// Waits until the agent's log has a line containing `text`.
fn logged(agent: &AgentProcess, text: &str, within: Duration) -> bool {
    agent
        .process
        .stderr
        .wait_for(within, |line| line.contains(text).then_some(()))
        .is_some()
}

#[tokio::test]
async fn the_agent_records_what_it_streams_into_an_owner_only_file_that_plays() {
    if !have_ffmpeg() {
        return;
    }
    let root = TempDir::new("agent-record");
    let dir = root.path().join("recordings");
    let agent = agent(&dir, &["--record-fps", "10"]);
    // Made owner-only; nothing recorded while nobody watches.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(recordings(&dir).is_empty(), "recorded an unwatched screen");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
    }

    let started = Instant::now();
    let images = watch_for(&agent, Duration::from_secs(3)).await;
    let watched = started.elapsed();
    assert!(images > 30, "{images} images streamed");
    // Nobody watches now: the file is closed within two checks.
    assert!(
        logged(&agent, "recording closed: nobody watches", WAIT),
        "{}",
        agent.process.stderr.text()
    );
    let files = recordings(&dir);
    assert_eq!(files.len(), 1, "{files:?}");
    let file = &files[0];
    let name = file.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        name.starts_with("lookout-") && name.contains("-m0-"),
        "{name}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let info = probe(file, "stream=codec_name,width,height,nb_read_frames", true);
    assert!(info.contains("codec_name=mjpeg"), "{info}");
    assert_eq!(field::<u32>(&info, "width"), SIZE.0);
    assert_eq!(field::<u32>(&info, "height"), SIZE.1);
    // 10 a second at most, and the moving window changes every frame.
    let frames: f64 = field(&info, "nb_read_frames");
    let most = 10.0 * watched.as_secs_f64() + 2.0;
    assert!(
        frames >= 15.0 && frames <= most,
        "{frames} frames in {watched:?}"
    );
    // Its time runs from the first frame to when nobody watched (found
    // within two checks of a second).
    let duration: f64 = field(&probe(file, "format=duration", false), "duration");
    let secs = watched.as_secs_f64();
    assert!(
        duration >= secs - 0.5 && duration <= secs + 3.0,
        "duration {duration} s, watched {secs:.2} s"
    );
    let errors = decode_errors(file);
    assert!(errors.is_empty(), "ffmpeg: {errors}");
}

/// `status` while a viewer watches: the file being written, growing; then
/// nothing once nobody watches. (The writer tells `status` every second.)
#[tokio::test]
async fn status_shows_the_file_being_recorded_and_when_it_waits_for_a_viewer() {
    let root = TempDir::new("agent-record-status");
    let dir = root.path().join("recordings");
    let agent = agent(&dir, &[]);
    let recording = agent.status().recording.expect("a recording status");
    assert_eq!(recording.dir, dir.display().to_string());
    assert!(
        recording.files.is_empty() && recording.held.is_none(),
        "{recording:?}"
    );

    let (mut client, _) = Client::welcome(agent.endpoint(), TOKEN).await;
    client.send(with_regions()).await;
    let deadline = Instant::now() + WAIT;
    let file = loop {
        // Keep reading, so the viewer takes the stream.
        let _ = tokio::time::timeout(Duration::from_millis(100), client.framed.next()).await;
        let files = agent.status().recording.expect("recording").files;
        if let Some(file) = files.into_iter().find(|f| f.bytes > 0) {
            break file;
        }
        assert!(Instant::now() < deadline, "status never showed a file");
    };
    assert_eq!(file.monitor, 0);
    assert_eq!(
        Some(Path::new(&file.path)),
        recordings(&dir).first().map(PathBuf::as_path),
        "status names the file on disk"
    );
    let out = agent.ctl(&["status"]);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains(&format!("recording   {} (1 file", dir.display()))
            && table.contains(&format!("monitor 0  {}", file.path)),
        "{table}"
    );

    drop(client);
    assert!(
        logged(&agent, "recording closed: nobody watches", WAIT),
        "{}",
        agent.process.stderr.text()
    );
    let deadline = Instant::now() + WAIT;
    while !agent
        .status()
        .recording
        .expect("recording")
        .files
        .is_empty()
    {
        assert!(Instant::now() < deadline, "status still shows a file");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let table = String::from_utf8_lossy(&agent.ctl(&["status"]).stdout).into_owned();
    assert!(table.contains("(waiting for a viewer)"), "{table}");
}

#[tokio::test]
async fn recordings_rotate_by_duration_and_each_file_plays() {
    if !have_ffmpeg() {
        return;
    }
    let root = TempDir::new("agent-record-rotate");
    let agent = agent(
        root.path(),
        &["--record-max-secs", "1", "--record-fps", "10"],
    );
    watch_for(&agent, Duration::from_millis(3500)).await;
    assert!(logged(&agent, "recording closed: nobody watches", WAIT));
    let files = recordings(root.path());
    assert!(files.len() >= 3, "{files:?}");
    for (i, file) in files.iter().enumerate() {
        let duration: f64 = field(&probe(file, "format=duration", false), "duration");
        // Rotated when a frame came at or past 1 s: a frame interval late
        // at most (a loaded machine: a few). The last one runs on until
        // the agent found nobody watching.
        if i + 1 < files.len() {
            assert!(duration <= 1.6, "{}: {duration} s", file.display());
        }
        let errors = decode_errors(file);
        assert!(errors.is_empty(), "{}: {errors}", file.display());
    }
}

#[tokio::test]
async fn below_the_disk_floor_recording_stops_and_streaming_goes_on() {
    let root = TempDir::new("agent-record-floor");
    // More free space than any disk has.
    let agent = agent(root.path(), &["--record-min-free-mib", "1000000000"]);
    assert!(
        logged(
            &agent,
            "recording stopped: too little free disk space",
            WAIT
        ),
        "{}",
        agent.process.stderr.text()
    );
    let images = watch_for(&agent, Duration::from_secs(2)).await;
    assert!(
        images > 10,
        "streaming stopped with the recording: {images} images"
    );
    assert!(recordings(root.path()).is_empty());
}

/// A small tmpfs, unmounted on drop.
struct Tmpfs(PathBuf);

impl Tmpfs {
    /// `None` (and a message) where mounting is impossible (not root).
    fn mount(at: &Path, mib: u32) -> Option<Self> {
        std::fs::create_dir_all(at).unwrap();
        let out = std::process::Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={mib}m,mode=0700"),
                "tmpfs",
            ])
            .arg(at)
            .output()
            .ok()?;
        if !out.status.success() {
            eprintln!(
                "skipped: cannot mount a tmpfs (needs root): {}",
                String::from_utf8_lossy(&out.stderr)
            );
            return None;
        }
        Some(Self(at.to_owned()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

#[tokio::test]
async fn recording_resumes_in_a_new_file_once_the_disk_has_room_again() {
    let root = TempDir::new("agent-record-room");
    let Some(disk) = Tmpfs::mount(&root.path().join("disk"), 48) else {
        return;
    };
    let filler = disk.0.join("filler");
    std::fs::write(&filler, vec![0u8; 30 << 20]).unwrap();
    let dir = disk.0.join("recordings");
    let agent = agent(&dir, &["--record-min-free-mib", "24"]);
    assert!(logged(
        &agent,
        "recording stopped: too little free disk space",
        WAIT
    ));
    let (mut client, _) = Client::welcome(agent.endpoint(), TOKEN).await;
    client.send(with_regions()).await;
    client.image().await;
    std::fs::remove_file(&filler).unwrap();
    assert!(
        logged(&agent, "recording resumed", WAIT),
        "{}",
        agent.process.stderr.text()
    );
    // Frames flow into a new file while the viewer watches.
    let deadline = Instant::now() + WAIT;
    while recordings(&dir).is_empty() {
        assert!(
            Instant::now() < deadline,
            "no file after the room came back"
        );
        client.ping(1).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
