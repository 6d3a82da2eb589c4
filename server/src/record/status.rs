//! What the recording is doing now, for `lookout-server status`: written
//! by the writer thread at each of its checks (every second), read by the
//! control socket.

use std::sync::{Arc, Mutex, PoisonError};

use serde::{Deserialize, Serialize};

/// The recording as `status` shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordingStatus {
    /// The directory files go to.
    pub dir: String,
    /// Why nothing is written now, if that is so: too little free space,
    /// or a failed write (retried).
    pub held: Option<String>,
    /// The files being written, one per watched monitor.
    pub files: Vec<RecordingFile>,
    /// Frames dropped because the disk was behind.
    pub dropped: u64,
    /// Frames not written for lack of room or after a failure.
    pub skipped: u64,
}

/// One file being written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordingFile {
    pub monitor: u32,
    pub path: String,
    pub bytes: u64,
    /// Recorded time so far.
    pub secs: u64,
}

/// The writer's side and the reader's side of one [`RecordingStatus`].
#[derive(Debug, Clone, Default)]
pub(crate) struct StatusCell(Arc<Mutex<RecordingStatus>>);

impl StatusCell {
    pub(crate) fn get(&self) -> RecordingStatus {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn set(&self, status: RecordingStatus) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = status;
    }
}
