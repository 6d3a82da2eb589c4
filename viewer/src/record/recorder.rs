//! The recorder thread: takes pictures over a bounded channel and writes
//! them into a Matroska file, so neither the window loop nor the network
//! thread ever waits for the disk. When it falls behind, pictures are
//! dropped (and counted) at the sender: the stream is never held up.
//!
//! A full frame is written as the agent sent it. A picture composed from
//! region updates is encoded once here, on this thread, at the quality the
//! agent used (see the module docs of [`super`] for why not a full frame
//! from the agent).

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::decode::DecodedFrame;

/// Pictures waiting for the recorder. 8 is a quarter of a second at 30 fps:
/// room for a slow write or a composed picture's encode (~20-40 ms at
/// 1080p) without dropping, while a stuck disk costs at most 8 pictures of
/// memory (a full 1080p picture is 8 MiB as pixels).
pub const RECORD_QUEUE: usize = 8;

/// One picture for the file.
#[derive(Debug)]
pub enum Shot {
    /// A full frame, as the agent sent it.
    Jpeg {
        /// Capture time, microseconds (agent clock).
        captured_at_us: u64,
        /// Its size.
        width: u32,
        /// Its size.
        height: u32,
        /// The JPEG.
        jpeg: Bytes,
    },
    /// A picture composed from region updates, to encode.
    Picture(Arc<DecodedFrame>),
}

/// What a recording wrote, for the log and the tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// The file.
    pub path: PathBuf,
    /// Frames written.
    pub frames: u64,
    /// Pictures dropped because the recorder was behind.
    pub dropped: u64,
    /// Pictures encoded here (composed from region updates).
    pub encoded: u64,
    /// Composed pictures not recorded because a newer one came within
    /// the same tenth of a second ([`super::writing::COMPOSED_FPS`]).
    pub thinned: u64,
    /// The length of the recording's last file, milliseconds.
    pub duration_ms: u64,
    /// Files written: a new one each time the picture's size changed
    /// (`NAME-2.mkv`...).
    pub parts: u32,
}

/// A running recording: the sending side of the recorder thread.
#[derive(Debug)]
pub struct Recorder {
    shots: SyncSender<Shot>,
    dropped: Arc<AtomicU64>,
    started: Instant,
    thread: JoinHandle<io::Result<Summary>>,
}

impl Recorder {
    /// Creates `path` (owner-only: a screen recording is private) and
    /// starts the recorder thread.
    pub fn start(path: &Path) -> io::Result<Self> {
        Self::thinning_to(path, Duration::from_secs(1) / super::writing::COMPOSED_FPS)
    }

    /// [`Recorder::start`], encoding a composed picture at most once per
    /// `every`.
    fn thinning_to(path: &Path, every: Duration) -> io::Result<Self> {
        let file = create_private(path)?;
        let (shots, rx) = sync_channel(RECORD_QUEUE);
        let dropped = Arc::new(AtomicU64::new(0));
        let path = path.to_owned();
        let counted = Arc::clone(&dropped);
        let thread = std::thread::Builder::new()
            .name("lookout-record".into())
            .spawn(move || super::writing::record(file, path, &rx, &counted, every))?;
        Ok(Self {
            shots,
            dropped,
            started: Instant::now(),
            thread,
        })
    }

    /// Hands a picture to the recorder; never waits. A picture that finds
    /// the queue full is dropped and counted.
    pub fn offer(&self, shot: Shot) {
        match self.shots.try_send(shot) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
            // The thread ended on a write error; `stop` reports it.
            Err(TrySendError::Disconnected(_)) => {}
        }
    }

    /// How long this recording has been running (for the title).
    pub fn elapsed(&self) -> std::time::Duration {
        self.started.elapsed()
    }

    /// Ends the recording: the recorder writes what is queued, closes the
    /// file cleanly and says what it wrote.
    pub fn stop(self) -> io::Result<Summary> {
        drop(self.shots);
        self.thread
            .join()
            .map_err(|_| io::Error::other("the recorder thread panicked"))?
    }
}

pub(super) fn create_private(path: &Path) -> io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

/// A composed picture as a baseline JPEG at the agent's quality, with
/// jpeg-encoder's SIMD code: 15 ms for a 1080p desktop against 71 ms with
/// `image`'s encoder (release, `recorder_cost_at_1080p`).
pub(super) fn encode(picture: &DecodedFrame) -> Result<Bytes, jpeg_encoder::EncodingError> {
    let (Ok(width), Ok(height)) = (u16::try_from(picture.width), u16::try_from(picture.height))
    else {
        return Err(jpeg_encoder::EncodingError::BadImageData {
            length: picture.pixels.len(),
            required: 0,
        });
    };
    let mut jpeg = Vec::with_capacity(picture.pixels.len() / 2);
    let encoder = jpeg_encoder::Encoder::new(&mut jpeg, picture.quality.clamp(1, 100));
    // `0RGB` words are B, G, R, 0 in memory on a little-endian machine:
    // encoded in place, without a copy.
    #[cfg(target_endian = "little")]
    encoder.encode(
        bytemuck::cast_slice(&picture.pixels),
        width,
        height,
        jpeg_encoder::ColorType::Bgra,
    )?;
    #[cfg(target_endian = "big")]
    encoder.encode(
        &picture.to_rgb8(),
        width,
        height,
        jpeg_encoder::ColorType::Rgb,
    )?;
    Ok(Bytes::from(jpeg))
}

#[cfg(test)]
mod tests {
    use std::io::BufWriter;

    use lookout_mkv::MkvWriter;

    use super::*;

    fn jpeg(color: [u8; 3]) -> Bytes {
        let img = image::RgbImage::from_pixel(16, 16, image::Rgb(color));
        let mut out = Vec::new();
        image::codecs::jpeg::JpegEncoder::new(&mut out)
            .encode_image(&img)
            .unwrap();
        Bytes::from(out)
    }

    /// Six composed pictures 5 ms apart: the first is encoded, the next
    /// four are left out for the sixth, which is encoded when its turn
    /// comes (here: at the stop): the file ends on the last picture, not
    /// the first of the burst.
    #[test]
    fn composed_pictures_are_thinned_and_the_last_one_is_kept() {
        let dir = std::env::temp_dir().join(format!("lookout-rec-thin-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // A turn long enough that no second picture is encoded before
        // the stop, however slowly this test runs.
        let recorder =
            Recorder::thinning_to(&dir.join("thin.mkv"), Duration::from_secs(60)).unwrap();
        for i in 0..6u32 {
            recorder.offer(Shot::Picture(Arc::new(DecodedFrame {
                width: 16,
                height: 16,
                pixels: vec![0x0000_1100 * (i + 1); 256],
                seq: u64::from(i),
                captured_at_us: 1_000_000 + u64::from(i) * 5_000,
                quality: 80,
            })));
        }
        let summary = recorder.stop().unwrap();
        assert_eq!(summary.dropped, 0, "{summary:?}");
        assert_eq!(
            (summary.frames, summary.encoded, summary.thinned),
            (2, 2, 4)
        );
        // The second frame is the sixth picture's, 25 ms in.
        assert_eq!(summary.duration_ms, 50, "{summary:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_picture_of_another_size_goes_on_in_the_next_file() {
        let dir = std::env::temp_dir().join(format!("lookout-rec-parts-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let recorder = Recorder::start(&dir.join("a.mkv")).unwrap();
        let shot = |at: u64, size: u32| Shot::Jpeg {
            captured_at_us: at,
            width: size,
            height: size,
            jpeg: jpeg([0, 0, 200]),
        };
        recorder.offer(shot(1_000_000, 16));
        recorder.offer(shot(1_040_000, 16));
        recorder.offer(shot(1_080_000, 32));
        let summary = recorder.stop().unwrap();
        assert_eq!((summary.frames, summary.parts), (3, 2), "{summary:?}");
        assert!(dir.join("a.mkv").exists() && dir.join("a-2.mkv").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_recording_is_owner_only_and_counts_what_it_wrote() {
        let dir = std::env::temp_dir().join(format!("lookout-rec-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("a.mkv");
        let recorder = Recorder::start(&path).unwrap();
        for i in 0..3u64 {
            recorder.offer(Shot::Jpeg {
                captured_at_us: 1_000_000 + i * 40_000,
                width: 16,
                height: 16,
                jpeg: jpeg([200, 0, 0]),
            });
        }
        let picture = DecodedFrame {
            width: 16,
            height: 16,
            pixels: vec![0x0000_FF00; 256],
            seq: 4,
            captured_at_us: 1_120_000,
            quality: 80,
        };
        recorder.offer(Shot::Picture(Arc::new(picture)));
        let summary = recorder.stop().unwrap();
        assert_eq!(summary.frames + summary.dropped, 4);
        assert_eq!(summary.encoded + summary.dropped.min(1), 1);
        if summary.dropped == 0 {
            // 120 ms to the last frame, shown for 40 ms.
            assert_eq!(summary.duration_ms, 160);
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A 1080p picture that looks like a desktop to a JPEG encoder:
    /// gradients, flat areas and fine detail.
    fn desktop_1080p() -> DecodedFrame {
        let (w, h) = (1920u32, 1080u32);
        let pixels = (0..w * h)
            .map(|i| {
                let (x, y) = (i % w, i / w);
                let text = u32::from((x / 3 + y / 7) % 5 == 0 && y % 20 < 12);
                let r = (x * 255 / w) ^ (text * 0x60);
                let g = y * 255 / h;
                let b = if (x / 240 + y / 135) % 2 == 0 {
                    230
                } else {
                    40
                };
                (r << 16) | (g << 8) | b
            })
            .collect();
        DecodedFrame {
            width: w,
            height: h,
            pixels,
            seq: 1,
            captured_at_us: 0,
            quality: 75,
        }
    }

    /// The recorder's cost per frame at 1080p, for the report (run in
    /// release: `cargo test --release -p lookout-viewer --lib
    /// record::recorder::tests::recorder_cost -- --ignored --nocapture`).
    /// Holds the full-frame path to its 2%-of-a-core-at-30-fps target.
    #[test]
    #[ignore = "a measurement; run in release"]
    fn recorder_cost_at_1080p() {
        let picture = desktop_1080p();
        let runs = 20u32;
        let t = Instant::now();
        for _ in 0..runs {
            let mut out = Vec::new();
            image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 75)
                .encode(
                    &picture.to_rgb8(),
                    1920,
                    1080,
                    image::ExtendedColorType::Rgb8,
                )
                .unwrap();
        }
        let image_enc = t.elapsed() / runs;
        let t = Instant::now();
        let mut jpeg = Bytes::new();
        for _ in 0..runs {
            jpeg = encode(&picture).unwrap();
        }
        let simd_enc = t.elapsed() / runs;
        let dir = std::env::temp_dir().join(format!("lookout-rec-cost-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = BufWriter::new(File::create(dir.join("cost.mkv")).unwrap());
        let mut mkv = MkvWriter::new(file, 1920, 1080, "lookout-viewer").unwrap();
        let frames = 300u32;
        let t = Instant::now();
        for i in 0..frames {
            mkv.write_frame(u64::from(i) * 33, &jpeg).unwrap();
        }
        mkv.finish(u64::from(frames) * 33).unwrap();
        let write = t.elapsed() / frames;
        std::fs::remove_dir_all(&dir).unwrap();
        let pct = |d: std::time::Duration| d.as_secs_f64() * 30.0 * 100.0;
        eprintln!(
            "1080p, {} KiB a frame: write {write:?} ({:.2}% of a core at 30 fps); \
             encode with image {image_enc:?} ({:.0}%), with jpeg-encoder {simd_enc:?} ({:.0}%)",
            jpeg.len() / 1024,
            pct(write),
            pct(image_enc),
            pct(simd_enc)
        );
        assert!(
            pct(write) < 2.0,
            "writing full frames costs {:.2}%",
            pct(write)
        );
    }
}
