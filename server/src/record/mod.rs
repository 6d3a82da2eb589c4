//! Recording on the agent (`--record-dir DIR`), for audit and classrooms:
//! what the agent streams, per monitor, as Matroska files of JPEGs
//! (`V_MJPEG`, the `lookout-mkv` writer the viewer's `--record` uses).
//!
//! * A monitor is recorded while somebody watches it, and only then: the
//!   recording follows the stream, it never makes the agent capture a
//!   screen nobody watches (that is also what "what the agent streams"
//!   means for an audit: the file shows what viewers could see).
//! * Each recorded frame is the monitor's whole picture at the agent's own
//!   size and quality: the full frame the agent encodes for viewers that
//!   take full frames, shared with them when one exists, else encoded
//!   once here (off the executor). At most `fps` a second per monitor,
//!   always the newest picture: a burst of changes ends on its last state.
//! * Files rotate by size and by duration, and when a monitor's size
//!   changes; each is playable up to its last complete frame wherever it
//!   is cut, and gets cues and a duration when closed cleanly.
//! * Below a floor of free disk space, recording stops and says so; the
//!   streaming goes on. It starts again (new files) once there is room.
//!
//! ```text
//!   hub slot per monitor ──(observed, no demand)──▶ pace ▶ full JPEG
//!        ──bounded queue──▶ writer thread (files, rotation, disk floor)
//! ```

mod files;
mod status;
mod writer;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError};
use std::time::Duration;

use bytes::Bytes;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::hub::FrameHub;
use crate::picture::Picture;

pub use files::RecordError;
pub(crate) use status::StatusCell;
pub use status::{RecordingFile, RecordingStatus};

/// Frames waiting for the writer thread: half a second of 16 monitors at
/// the default rate. A stuck disk costs at most this many JPEGs of memory;
/// past it frames are dropped and counted, never the stream held up.
const QUEUE: usize = 64;

/// `--record-dir` and its limits, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordSettings {
    /// Where the files go (made owner-only if missing).
    pub dir: PathBuf,
    /// A file is closed and the next begun past this many bytes.
    pub max_bytes: u64,
    /// ... or past this much recorded time.
    pub max_duration: Duration,
    /// Recording stops while the directory's file system has less free.
    pub min_free: u64,
    /// At most this many frames a second per monitor.
    pub fps: u32,
}

impl RecordSettings {
    /// 1 GiB files.
    pub const DEFAULT_MAX_BYTES: u64 = 1 << 30;
    /// One hour per file.
    pub const DEFAULT_MAX_DURATION: Duration = Duration::from_secs(3600);
    /// Stop below 1 GiB free.
    pub const DEFAULT_MIN_FREE: u64 = 1 << 30;
    /// 10 frames a second: motion stays readable, and when viewers take
    /// region updates only (no full frame is made for them) the encodes
    /// this costs stay around a tenth of a core at 1080p.
    pub const DEFAULT_FPS: u32 = 10;
}

/// One frame for the writer.
#[derive(Debug)]
struct Shot {
    monitor: u32,
    captured_at_us: u64,
    width: u32,
    height: u32,
    jpeg: Bytes,
}

/// A running recording: stopped with [`Recording::stop`], which closes
/// every file cleanly.
#[derive(Debug)]
pub struct Recording {
    cancel: CancellationToken,
    follower: JoinHandle<()>,
    writer: std::thread::JoinHandle<()>,
    status: StatusCell,
}

impl Recording {
    /// Makes the directory (owner-only) if need be and starts recording the
    /// monitors of `hub` as they are watched. Files are named after
    /// `agent_name`.
    pub fn start(
        settings: RecordSettings,
        hub: FrameHub,
        agent_name: &str,
    ) -> Result<Self, RecordError> {
        files::prepare_dir(&settings.dir)?;
        let dropped = Arc::new(AtomicU64::new(0));
        let (shots, rx) = std::sync::mpsc::sync_channel(QUEUE);
        let status = StatusCell::default();
        let writer = writer::spawn(
            &settings,
            agent_name,
            hub.clone(),
            rx,
            Arc::clone(&dropped),
            status.clone(),
        )
        .map_err(RecordError::Thread)?;
        tracing::info!(
            dir = %settings.dir.display(),
            max_mib = settings.max_bytes >> 20,
            max_secs = settings.max_duration.as_secs(),
            min_free_mib = settings.min_free >> 20,
            fps = settings.fps,
            "recording what is streamed, per monitor"
        );
        let cancel = CancellationToken::new();
        let interval = Duration::from_secs(1) / settings.fps.max(1);
        let follower = tokio::spawn(follow(hub, shots, interval, dropped, cancel.clone()));
        Ok(Self {
            cancel,
            follower,
            writer,
            status,
        })
    }

    /// What the recording is doing now (up to a second old).
    pub fn status(&self) -> RecordingStatus {
        self.status.get()
    }

    /// Where [`Recording::status`] is read, for the control socket.
    pub(crate) fn status_cell(&self) -> StatusCell {
        self.status.clone()
    }

    /// Stops recording: frames on their way are written, every file is
    /// closed with its cues and duration.
    pub async fn stop(self) {
        self.cancel.cancel();
        // The follower owns the queue's sender: once it is gone the writer
        // drains the queue and closes its files.
        let _ = self.follower.await;
        let writer = self.writer;
        let _ = tokio::task::spawn_blocking(move || writer.join()).await;
    }
}

/// Follows the monitor list: one recording task per listed monitor.
async fn follow(
    hub: FrameHub,
    shots: SyncSender<Shot>,
    interval: Duration,
    dropped: Arc<AtomicU64>,
    cancel: CancellationToken,
) {
    let mut layout = hub.watch_monitors();
    let mut tasks: HashMap<u32, (CancellationToken, JoinHandle<()>)> = HashMap::new();
    loop {
        let monitors = layout.borrow_and_update().clone();
        tasks.retain(|id, (stop, _)| {
            let listed = monitors.iter().any(|m| m.id == *id);
            if !listed {
                stop.cancel();
            }
            listed
        });
        for monitor in monitors.iter() {
            if tasks.contains_key(&monitor.id) {
                continue;
            }
            let stop = cancel.child_token();
            let task = tokio::spawn(record_monitor(
                hub.clone(),
                monitor.id,
                shots.clone(),
                interval,
                Arc::clone(&dropped),
                stop.clone(),
            ));
            tasks.insert(monitor.id, (stop, task));
        }
        tokio::select! {
            () = cancel.cancelled() => break,
            changed = layout.changed() => if changed.is_err() { break },
        }
    }
    for (_, (stop, task)) in tasks {
        stop.cancel();
        let _ = task.await;
    }
}

/// Records one monitor's pictures while it is watched, at most one per
/// `interval`, always the newest.
async fn record_monitor(
    hub: FrameHub,
    monitor: u32,
    shots: SyncSender<Shot>,
    interval: Duration,
    dropped: Arc<AtomicU64>,
    cancel: CancellationToken,
) {
    let Some(mut slot) = hub.observe(monitor) else {
        return;
    };
    let mut next_at = tokio::time::Instant::now();
    let mut last = None;
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            changed = slot.changed() => if changed.is_err() { return },
        }
        // Paced: wait out the interval, then take the newest picture.
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep_until(next_at) => {}
        }
        let Some(picture) = slot.borrow_and_update().clone() else {
            continue;
        };
        if last == Some((picture.epoch, picture.seq)) {
            continue;
        }
        last = Some((picture.epoch, picture.seq));
        next_at = tokio::time::Instant::now() + interval;
        let Some(shot) = full_jpeg(monitor, picture).await else {
            continue;
        };
        match shots.try_send(shot) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                dropped.fetch_add(1, Ordering::Relaxed);
            }
            Err(TrySendError::Disconnected(_)) => return,
        }
    }
}

/// The picture's full frame (made now if no viewer needed one, on the
/// blocking pool), as a frame for the file.
async fn full_jpeg(monitor: u32, picture: Arc<Picture>) -> Option<Shot> {
    let frame = match picture.full_if_made() {
        Some(frame) => frame,
        None => {
            let made = tokio::task::spawn_blocking(move || picture.full()).await;
            match made {
                Ok(Ok(frame)) => frame,
                Ok(Err(err)) => {
                    tracing::warn!(monitor, error = %err, "cannot encode a frame to record");
                    return None;
                }
                Err(_) => return None,
            }
        }
    };
    Some(Shot {
        monitor,
        captured_at_us: frame.captured_at_us,
        width: frame.width,
        height: frame.height,
        jpeg: frame.jpeg()?.clone(),
    })
}
