//! Recording in the viewer (`--record FILE`, F6): the pictures the agent
//! sent, written as a Matroska file of JPEGs (`V_MJPEG`) by a recorder
//! thread, with each frame's capture time (variable frame rate: a still
//! screen costs nothing and plays back with its real timing).
//!
//! A full frame goes into the file as the agent sent it. A picture made of
//! region updates is encoded once by the recorder thread from the picture
//! the viewer composes for display anyway, rather than asking the agent
//! for full frames at an interval: that would cost the link a full frame
//! each time and still leave the frames between them incomplete.
//!
//! * the file format is the `lookout-mkv` crate, shared with the agent's
//!   `--record-dir`;
//! * [`recorder`]: the thread and its bounded queue;
//! * [`writing`]: its loop, which thins composed pictures to
//!   [`writing::COMPOSED_FPS`] a second.
//! * [`Recording`]: the switch the decode thread offers pictures to and
//!   F6 turns on and off.

pub mod recorder;
pub mod writing;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

pub use recorder::{RECORD_QUEUE, Recorder, Shot, Summary};

use crate::decode::{DecodedFrame, Update};

/// Whether a recording runs, shared by the decode thread (which offers
/// every picture it publishes) and the window (F6, the title).
///
/// The lock is held only to look at the recorder and to `try_send` into
/// its queue, never across a write: the decode thread never waits for
/// the disk.
#[derive(Debug, Default)]
pub struct Recording {
    recorder: Mutex<Option<Recorder>>,
}

impl Recording {
    /// Nothing recorded until [`Recording::start`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts recording into `path`; a running recording is ended first
    /// and its summary returned with the outcome.
    pub fn start(&self, path: &Path) -> std::io::Result<()> {
        let recorder = Recorder::start(path)?;
        let previous = self.lock().replace(recorder);
        if let Some(previous) = previous {
            report(previous.stop());
        }
        Ok(())
    }

    /// Ends the running recording, if any, and says what it wrote (also
    /// on stderr).
    pub fn stop(&self) -> Option<std::io::Result<Summary>> {
        let recorder = self.lock().take()?;
        let result = recorder.stop();
        report(match &result {
            Ok(summary) => Ok(summary.clone()),
            Err(err) => Err(std::io::Error::new(err.kind(), err.to_string())),
        });
        Some(result)
    }

    /// How long the running recording has run, `None` when none does.
    pub fn elapsed(&self) -> Option<Duration> {
        self.lock().as_ref().map(Recorder::elapsed)
    }

    /// Offers the picture the decode thread just composed from `batch`:
    /// the agent's own JPEG when the batch was one full frame, else the
    /// picture to encode.
    pub fn offer(&self, batch: &[Update], picture: &Arc<DecodedFrame>) {
        let guard = self.lock();
        let Some(recorder) = guard.as_ref() else {
            return;
        };
        let shot = match batch {
            [Update::Full(frame)] => Shot::Jpeg {
                captured_at_us: frame.meta.captured_at_us,
                width: frame.meta.width,
                height: frame.meta.height,
                jpeg: frame.jpeg.clone(),
            },
            _ => Shot::Picture(Arc::clone(picture)),
        };
        recorder.offer(shot);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Recorder>> {
        // A panic elsewhere leaves the Option whole.
        self.recorder.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn report(result: std::io::Result<Summary>) {
    match result {
        Ok(s) => eprintln!(
            "lookout-viewer: recorded {} frames ({} encoded from region updates, {} dropped) over {} ms to {}{} ({} composed pictures left out to encode at most {} a second)",
            s.frames,
            s.encoded,
            s.dropped,
            s.duration_ms,
            s.path.display(),
            if s.parts > 1 {
                format!(" and {} more files", s.parts - 1)
            } else {
                String::new()
            },
            s.thinned,
            writing::COMPOSED_FPS
        ),
        Err(err) => eprintln!("lookout-viewer: the recording failed: {err}"),
    }
}

/// `lookout-HOST-YYYYmmdd-HHMMSS.mkv` (UTC), the host sanitised for a
/// file name as the F9 screenshots' are.
pub fn recording_name(host: &str, now: SystemTime) -> PathBuf {
    let png = crate::png::screenshot_name(host, now, 0);
    let name = png.to_string_lossy();
    let stem = name.strip_suffix("-0.png").unwrap_or(&name);
    PathBuf::from(format!("{stem}.mkv"))
}

/// "REC mm:ss" for the title.
pub fn rec_label(elapsed: Duration) -> String {
    let secs = elapsed.as_secs();
    format!("REC {:02}:{:02}", secs / 60, secs % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recording_names_carry_the_sanitised_host_and_utc_time() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(
            recording_name("a/b:c", at),
            PathBuf::from("lookout-a_b_c-20231114-221320.mkv")
        );
    }

    #[test]
    fn the_rec_label_counts_minutes_and_seconds() {
        assert_eq!(rec_label(Duration::from_secs(0)), "REC 00:00");
        assert_eq!(rec_label(Duration::from_secs(754)), "REC 12:34");
    }
}
