//! The decode thread: takes the newest JPEG, decodes it within the
//! session's bound, publishes the pixels. A frame that fails (refused,
//! corrupt, or a decoder panic) is counted and skipped; the next one is
//! decoded as if nothing happened.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{DecodeError, DecodedFrame, FrameBound, decode_jpeg, guarded};
use crate::connection::EncodedFrame;
use crate::slot::Latest;

/// How often at most the decode thread says it skipped frames. A hostile or
/// broken agent can send 60 bad frames a second; one line per period, with
/// the count, keeps the log readable and its size bounded.
pub const SKIP_LOG_EVERY: Duration = Duration::from_secs(10);

/// Starts the decode thread: it takes JPEGs from `jpegs`, decodes each
/// within `bound()` (the current session's [`FrameBound`], asked afresh for
/// every frame so a reconnect to other monitors takes effect), and puts
/// decoded frames into `frames` until `jpegs` is closed.
pub fn spawn_decoder(
    jpegs: Arc<Latest<EncodedFrame>>,
    frames: Arc<Latest<Arc<DecodedFrame>>>,
    bound: impl Fn() -> FrameBound + Send + 'static,
) -> std::io::Result<JoinHandle<()>> {
    spawn_with(jpegs, frames, bound, decode_jpeg)
}

/// [`spawn_decoder`] with the decode step passed in, so tests can make it
/// fail or panic on cue.
fn spawn_with(
    jpegs: Arc<Latest<EncodedFrame>>,
    frames: Arc<Latest<Arc<DecodedFrame>>>,
    bound: impl Fn() -> FrameBound + Send + 'static,
    decode: impl Fn(&EncodedFrame, FrameBound) -> Result<DecodedFrame, DecodeError> + Send + 'static,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("lookout-decode".into())
        .spawn(move || {
            let mut skips = Skips::default();
            while let Some(jpeg) = jpegs.take_wait() {
                match guarded(|| decode(&jpeg, bound())) {
                    Ok(frame) => {
                        frames.put(Arc::new(frame));
                    }
                    // One bad image is not worth a reconnect: skip it.
                    Err(err) => {
                        if let Some(line) = skips.skipped(&err, Instant::now()) {
                            tracing::warn!(seq = jpeg.meta.seq, "{line}");
                        }
                    }
                }
            }
        })
}

/// Frames that could not be decoded: counted, and reported at most once
/// per [`SKIP_LOG_EVERY`]. Time is passed in, so the rule is tested without
/// waiting.
#[derive(Debug, Default)]
pub struct Skips {
    total: u64,
    unreported: u64,
    last_report: Option<Instant>,
}

impl Skips {
    /// Counts one skipped frame, failed with `err` at `now`; returns the
    /// line to log when a report is due (the first skip, then at most once
    /// per [`SKIP_LOG_EVERY`]).
    pub fn skipped(&mut self, err: &DecodeError, now: Instant) -> Option<String> {
        self.total = self.total.saturating_add(1);
        self.unreported = self.unreported.saturating_add(1);
        let due = self
            .last_report
            .is_none_or(|at| now.saturating_duration_since(at) >= SKIP_LOG_EVERY);
        if !due {
            return None;
        }
        let line = if self.unreported == 1 {
            format!("skipped a frame: {err} ({} skipped so far)", self.total)
        } else {
            format!(
                "skipped {} frames since the last report, the last one: {err} ({} skipped so far)",
                self.unreported, self.total
            )
        };
        self.unreported = 0;
        self.last_report = Some(now);
        Some(line)
    }

    /// Frames skipped since the decode thread started.
    pub fn total(&self) -> u64 {
        self.total
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::tests::{encoded, jpeg_of};

    const WAIT: Duration = Duration::from_secs(10);

    #[test]
    fn decode_thread_publishes_and_stops_when_closed() {
        let jpegs = Arc::new(Latest::new());
        let frames = Arc::new(Latest::new());
        let thread = spawn_decoder(Arc::clone(&jpegs), Arc::clone(&frames), || {
            FrameBound::new(64, 64)
        })
        .unwrap();
        jpegs.put(encoded(jpeg_of(&image::RgbImage::new(8, 8)), 8, 8));
        let frame = frames.take_timeout(WAIT).unwrap();
        assert_eq!(frame.width, 8);
        jpegs.close();
        thread.join().unwrap();
    }

    #[test]
    fn a_decoder_panic_skips_one_frame_not_the_stream() {
        let jpegs = Arc::new(Latest::new());
        let frames = Arc::new(Latest::new());
        let (panicking, panicked) = std::sync::mpsc::sync_channel(1);
        // Panics on frame 1, as a decoder bug hit by a crafted JPEG would;
        // decodes the others.
        let decode = move |frame: &EncodedFrame, bound| {
            if frame.meta.seq == 1 {
                let _ = panicking.try_send(());
                panic!("a decoder bug");
            }
            decode_jpeg(frame, bound)
        };
        let bound = || FrameBound::new(64, 64);
        let thread = spawn_with(Arc::clone(&jpegs), Arc::clone(&frames), bound, decode).unwrap();
        let jpeg = jpeg_of(&image::RgbImage::new(8, 8));
        let mut poisoned = encoded(jpeg.clone(), 8, 8);
        poisoned.meta.seq = 1;
        jpegs.put(poisoned);
        panicked
            .recv_timeout(WAIT)
            .expect("the bad frame was not decoded");
        let mut good = encoded(jpeg, 8, 8);
        good.meta.seq = 2;
        jpegs.put(good);
        let frame = frames
            .take_timeout(WAIT)
            .expect("the panic ended the decode thread");
        assert_eq!(frame.seq, 2);
        jpegs.close();
        thread.join().expect("the panic escaped the decode thread");
    }

    #[test]
    fn skipped_frames_are_counted_and_reported_once_per_period() {
        let t0 = Instant::now();
        let mut skips = Skips::default();
        let err = DecodeError::Panicked;
        let first = skips.skipped(&err, t0).unwrap();
        assert!(first.contains("skipped a frame"), "{first}");
        for i in 1..100 {
            let at = t0 + Duration::from_millis(i * 10);
            assert_eq!(skips.skipped(&err, at), None, "reported again at {i}");
        }
        let later = skips.skipped(&err, t0 + SKIP_LOG_EVERY).unwrap();
        assert!(later.contains("skipped 100 frames"), "{later}");
        assert_eq!(skips.total(), 101);
    }
}
