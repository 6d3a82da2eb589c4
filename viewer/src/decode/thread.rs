//! The decode thread: takes every queued update, composes them into the
//! picture within the session's bound, publishes the picture once all of
//! them are painted. An update that fails (refused, corrupt, or a decoder
//! panic) is counted and skipped; when it was a region update, or the
//! picture is gone with it, the queue asks the agent for a full frame.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::compose::{Composer, Update};
use super::queue::UpdateQueue;
use super::{DecodeError, DecodedFrame, FrameBound, decode_jpeg};
use crate::connection::EncodedFrame;
use crate::record::Recording;
use crate::slot::Latest;

/// How often at most the decode thread says it skipped frames. A hostile or
/// broken agent can send 60 bad frames a second; one line per period, with
/// the count, keeps the log readable and its size bounded.
pub const SKIP_LOG_EVERY: Duration = Duration::from_secs(10);

/// Starts the decode thread: it takes updates from `updates`, composes
/// each within `bound()` (the current session's [`FrameBound`], asked
/// afresh for every update so a reconnect to other monitors takes effect),
/// and puts complete pictures into `frames` until `updates` is closed.
pub fn spawn_decoder(
    updates: Arc<UpdateQueue>,
    frames: Arc<Latest<Arc<DecodedFrame>>>,
    bound: impl Fn() -> FrameBound + Send + 'static,
) -> std::io::Result<JoinHandle<()>> {
    spawn_with(updates, frames, bound, decode_jpeg, |_, _| {})
}

/// [`spawn_decoder`] that also offers every published picture, with the
/// batch it was composed from, to `recording` (which never waits).
pub fn spawn_recording_decoder(
    updates: Arc<UpdateQueue>,
    frames: Arc<Latest<Arc<DecodedFrame>>>,
    bound: impl Fn() -> FrameBound + Send + 'static,
    recording: Arc<Recording>,
) -> std::io::Result<JoinHandle<()>> {
    spawn_with(
        updates,
        frames,
        bound,
        decode_jpeg,
        move |batch, picture| {
            recording.offer(batch, picture);
        },
    )
}

/// [`spawn_decoder`] with the decode step passed in, so tests can make it
/// fail or panic on cue.
fn spawn_with(
    updates: Arc<UpdateQueue>,
    frames: Arc<Latest<Arc<DecodedFrame>>>,
    bound: impl Fn() -> FrameBound + Send + 'static,
    decode: impl Fn(&EncodedFrame, FrameBound) -> Result<DecodedFrame, DecodeError> + Send + 'static,
    published: impl Fn(&[Update], &Arc<DecodedFrame>) + Send + 'static,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("lookout-decode".into())
        .spawn(move || {
            let mut composer = Composer::new();
            let mut skips = Skips::default();
            while let Some(batch) = updates.take_wait() {
                if compose(&mut composer, &batch, &bound, &decode, &mut skips) {
                    if let Some(picture) = composer.picture() {
                        published(&batch, picture);
                        frames.put(Arc::clone(picture));
                    }
                } else {
                    updates.resync();
                }
            }
        })
}

/// Paints `batch` in order; false when a full frame is needed: an update
/// failed and region updates depend on the picture it left (none). The
/// rest of the batch is skipped: it would paint over a wrong picture. A
/// failed full frame asks for a full frame too. (A full frame is only ever
/// first in a batch: the queue drops what came before it.)
fn compose(
    composer: &mut Composer,
    batch: &[Update],
    bound: &impl Fn() -> FrameBound,
    decode: &impl Fn(&EncodedFrame, FrameBound) -> Result<DecodedFrame, DecodeError>,
    skips: &mut Skips,
) -> bool {
    for update in batch {
        if let Err(err) = composer.apply_with(update, bound(), decode) {
            if let Some(line) = skips.skipped(&err, Instant::now()) {
                tracing::warn!(seq = update.meta().seq, "{line}");
            }
            // Even a failed full frame asks for another (paced by the
            // network thread): with region updates, a still screen would
            // otherwise send nothing more, and the old picture would stay.
            return false;
        }
    }
    true
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

    fn full(img: &image::RgbImage, seq: u64) -> Update {
        let mut frame = encoded(jpeg_of(img), img.width(), img.height());
        frame.meta.seq = seq;
        Update::Full(frame)
    }

    fn queue() -> Arc<UpdateQueue> {
        Arc::new(UpdateQueue::new(crate::decode::UPDATE_QUEUE))
    }

    #[test]
    fn decode_thread_publishes_and_stops_when_closed() {
        let updates = queue();
        let frames = Arc::new(Latest::new());
        let thread = spawn_decoder(Arc::clone(&updates), Arc::clone(&frames), || {
            FrameBound::new(64, 64)
        })
        .unwrap();
        updates.push(full(&image::RgbImage::new(8, 8), 1));
        let frame = frames.take_timeout(WAIT).unwrap();
        assert_eq!(frame.width, 8);
        updates.close();
        thread.join().unwrap();
    }

    #[test]
    fn a_decoder_panic_skips_one_frame_not_the_stream() {
        let updates = queue();
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
        let thread = spawn_with(
            Arc::clone(&updates),
            Arc::clone(&frames),
            bound,
            decode,
            |_, _| {},
        )
        .unwrap();
        let img = image::RgbImage::new(8, 8);
        updates.push(full(&img, 1));
        panicked
            .recv_timeout(WAIT)
            .expect("the bad frame was not decoded");
        updates.push(full(&img, 2));
        let frame = frames
            .take_timeout(WAIT)
            .expect("the panic ended the decode thread");
        assert_eq!(frame.seq, 2);
        // A bad full frame alone is skipped, not worth a round trip.
        assert!(!updates.awaiting_full());
        updates.close();
        thread.join().expect("the panic escaped the decode thread");
    }

    #[test]
    fn a_region_update_that_cannot_be_painted_is_not_shown_and_asks_for_a_full_frame() {
        let updates = queue();
        let frames = Arc::new(Latest::new());
        let thread = spawn_decoder(Arc::clone(&updates), Arc::clone(&frames), || {
            FrameBound::new(64, 64)
        })
        .unwrap();
        updates.push(full(&image::RgbImage::new(16, 16), 1));
        assert_eq!(frames.take_timeout(WAIT).unwrap().seq, 1);
        // For a 32x32 picture: this one is 16x16.
        let tile = image::RgbImage::new(16, 16);
        let region = lookout_protocol::RegionUpdate {
            meta: lookout_protocol::FrameMeta {
                seq: 2,
                width: 32,
                height: 32,
                captured_at_us: 0,
                quality: 75,
            },
            tiles: vec![lookout_protocol::Tile {
                rect: lookout_protocol::Rect::new(16, 16, 16, 16),
                jpeg: jpeg_of(&tile),
            }],
        };
        updates.push(Update::Region(region));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let asked = runtime
            .block_on(async { tokio::time::timeout(WAIT, updates.resync_requested()).await });
        assert!(asked.is_ok(), "no full frame was asked for");
        assert!(updates.awaiting_full());
        assert_eq!(frames.take(), None, "a failed update was published");
        updates.close();
        thread.join().unwrap();
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
