//! The recording thread: writes the frames it is handed into one file per
//! monitor, rotates them, closes those of monitors nobody watches any
//! more, and keeps an eye on the free disk space. The only place that
//! touches the disk, so neither the stream nor the executor ever waits
//! for it.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufWriter};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use lookout_mkv::MkvWriter;

use super::{RecordSettings, RecordingFile, RecordingStatus, Shot, StatusCell, files};
use crate::hub::FrameHub;

/// How often the free space and the watched monitors are looked at.
const CHECK_EVERY: Duration = Duration::from_secs(1);

/// After a file could not be made or written, how long before the next
/// try (one log line per try, not one per frame).
const RETRY_AFTER: Duration = Duration::from_secs(10);

/// One monitor's open file.
struct Open {
    path: PathBuf,
    mkv: MkvWriter<BufWriter<File>>,
    size: (u32, u32),
    /// The first frame's capture time: the file's time 0.
    first_us: u64,
    /// The last frame's time in the file.
    last_ms: u64,
    /// Checks in a row that found the monitor unwatched.
    unwatched: u32,
}

struct Writer {
    settings: RecordSettings,
    agent: String,
    hub: FrameHub,
    files: HashMap<u32, Open>,
    /// Below the disk-space floor: nothing is written.
    short: bool,
    /// No new file before this (after a failure).
    retry_at: Option<Instant>,
    dropped: Arc<AtomicU64>,
    /// Frames not written for lack of room or after a failure.
    skipped: u64,
    /// What `status` shows.
    status: StatusCell,
}

/// Starts the thread; it ends (closing every file cleanly) when the
/// sender side of `shots` is dropped.
pub(super) fn spawn(
    settings: &RecordSettings,
    agent: &str,
    hub: FrameHub,
    shots: Receiver<Shot>,
    dropped: Arc<AtomicU64>,
    status: StatusCell,
) -> io::Result<std::thread::JoinHandle<()>> {
    let mut writer = Writer {
        settings: settings.clone(),
        agent: agent.to_owned(),
        hub,
        files: HashMap::new(),
        short: false,
        retry_at: None,
        dropped,
        skipped: 0,
        status,
    };
    std::thread::Builder::new()
        .name("lookout-record".into())
        .spawn(move || {
            writer.check_room();
            writer.publish();
            writer.run(&shots);
        })
}

impl Writer {
    fn run(&mut self, shots: &Receiver<Shot>) {
        let mut next_check = Instant::now() + CHECK_EVERY;
        loop {
            let wait = next_check.saturating_duration_since(Instant::now());
            match shots.recv_timeout(wait) {
                Ok(shot) => self.write(shot),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            if Instant::now() >= next_check {
                next_check = Instant::now() + CHECK_EVERY;
                self.check_room();
                self.close_unwatched();
                self.publish();
            }
        }
        let now = now_us();
        for (_, open) in std::mem::take(&mut self.files) {
            close(open, now, "the agent stopped");
        }
        self.publish();
        let dropped = self.dropped.load(Ordering::Relaxed);
        if dropped + self.skipped > 0 {
            tracing::info!(
                dropped,
                skipped = self.skipped,
                "recording ended; frames not recorded: `dropped` while the disk was behind, `skipped` for lack of room or after an error"
            );
        }
    }

    /// Tells `status` what is being written now.
    fn publish(&self) {
        let held = if self.short {
            Some("too little free disk space".to_owned())
        } else if self.retry_at.is_some_and(|at| Instant::now() < at) {
            Some("a write failed; trying again".to_owned())
        } else {
            None
        };
        let mut files: Vec<RecordingFile> = self
            .files
            .iter()
            .map(|(monitor, open)| RecordingFile {
                monitor: *monitor,
                path: open.path.display().to_string(),
                bytes: open.mkv.bytes(),
                secs: open.last_ms / 1000,
            })
            .collect();
        files.sort_by_key(|f| f.monitor);
        self.status.set(RecordingStatus {
            dir: self.settings.dir.display().to_string(),
            held,
            files,
            dropped: self.dropped.load(Ordering::Relaxed),
            skipped: self.skipped,
        });
    }

    fn write(&mut self, shot: Shot) {
        if self.short || self.retry_at.is_some_and(|at| Instant::now() < at) {
            self.skipped += 1;
            return;
        }
        self.retry_at = None;
        let size = (shot.width, shot.height);
        let rotate = self.files.get(&shot.monitor).map(|open| {
            if open.size != size {
                Some("the monitor's size changed")
            } else if open.mkv.bytes() >= self.settings.max_bytes {
                Some("the file reached its size limit")
            } else if shot.captured_at_us.saturating_sub(open.first_us)
                >= self.settings.max_duration.as_micros() as u64
            {
                Some("the file reached its duration limit")
            } else {
                None
            }
        });
        if let Some(Some(why)) = rotate
            && let Some(open) = self.files.remove(&shot.monitor)
        {
            close(open, shot.captured_at_us, why);
        }
        if !self.files.contains_key(&shot.monitor) {
            match self.open(shot.monitor, size, shot.captured_at_us) {
                Ok(open) => {
                    self.files.insert(shot.monitor, open);
                }
                Err(err) => {
                    tracing::warn!(
                        dir = %self.settings.dir.display(),
                        error = %err,
                        "cannot start a recording file; trying again in {RETRY_AFTER:?} (streaming goes on)"
                    );
                    self.retry_at = Some(Instant::now() + RETRY_AFTER);
                    self.skipped += 1;
                    return;
                }
            }
        }
        let open = self.files.get_mut(&shot.monitor).expect("opened above");
        let at_ms = shot.captured_at_us.saturating_sub(open.first_us) / 1000;
        open.unwatched = 0;
        match open.mkv.write_frame(at_ms, &shot.jpeg) {
            Ok(_) => open.last_ms = open.last_ms.max(at_ms),
            Err(err) => {
                tracing::warn!(
                    file = %open.path.display(),
                    error = %err,
                    "cannot write the recording; trying a new file in {RETRY_AFTER:?} (streaming goes on)"
                );
                if let Some(open) = self.files.remove(&shot.monitor) {
                    close(open, shot.captured_at_us, "it could not be written");
                }
                self.retry_at = Some(Instant::now() + RETRY_AFTER);
            }
        }
    }

    fn open(&self, monitor: u32, size: (u32, u32), first_us: u64) -> io::Result<Open> {
        let (path, file) =
            files::create(&self.settings.dir, &self.agent, monitor, SystemTime::now())?;
        let out = BufWriter::with_capacity(1 << 20, file);
        let mkv = MkvWriter::new(out, size.0, size.1, "lookout-server")?;
        tracing::info!(monitor, file = %path.display(), "recording monitor {monitor}");
        Ok(Open {
            path,
            mkv,
            size,
            first_us,
            last_ms: 0,
            unwatched: 0,
        })
    }

    /// Stops recording below the floor of free space (closing every file,
    /// so each plays to its end), and starts again once there is room: the
    /// floor plus a tenth of it (at most 256 MiB), so that a disk hovering
    /// at the floor does not cut a file every second.
    fn check_room(&mut self) {
        let free = match files::free_bytes(&self.settings.dir) {
            Ok(free) => free,
            Err(err) => {
                tracing::debug!(error = %err, "cannot read the free space");
                return;
            }
        };
        let floor = self.settings.min_free;
        if !self.short && free < floor {
            self.short = true;
            tracing::warn!(
                dir = %self.settings.dir.display(),
                free_mib = free >> 20,
                floor_mib = floor >> 20,
                "recording stopped: too little free disk space (streaming goes on; it resumes when there is room)"
            );
            let now = now_us();
            for (_, open) in std::mem::take(&mut self.files) {
                close(open, now, "the disk is nearly full");
            }
        } else if self.short && free >= floor + (floor / 10).min(256 << 20) {
            self.short = false;
            tracing::warn!(
                dir = %self.settings.dir.display(),
                free_mib = free >> 20,
                "recording resumed: there is room again"
            );
        }
    }

    /// Closes the file of every monitor nobody has watched at two checks
    /// in a row: the recording ends with the stream, rather than showing
    /// its last picture through the time nobody watched. (One check is not
    /// enough: a viewer that changes its settings stops watching for an
    /// instant.)
    fn close_unwatched(&mut self) {
        let demand = self.hub.demand();
        let now = now_us();
        let mut done = Vec::new();
        for (monitor, open) in &mut self.files {
            if demand.is_watched(*monitor) {
                open.unwatched = 0;
            } else {
                open.unwatched += 1;
                if open.unwatched >= 2 {
                    done.push(*monitor);
                }
            }
        }
        for monitor in done {
            if let Some(open) = self.files.remove(&monitor) {
                close(open, now, "nobody watches the monitor");
            }
        }
    }
}

/// Closes `open` with its cues and its duration: up to `end_us` (capture
/// clock), when the next file begins or the recording stopped.
fn close(open: Open, end_us: u64, why: &str) {
    let frames = open.mkv.frames();
    let duration_ms = (end_us.saturating_sub(open.first_us) / 1000).max(open.last_ms + 1);
    match open.mkv.finish(duration_ms) {
        Ok(_) => tracing::info!(
            file = %open.path.display(),
            frames,
            secs = duration_ms / 1000,
            "recording closed: {why}"
        ),
        Err(err) => tracing::warn!(
            file = %open.path.display(),
            error = %err,
            "recording cut short (it plays up to its last whole frame)"
        ),
    }
}

/// Now, in microseconds since the Unix epoch (the capture clock).
fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}
