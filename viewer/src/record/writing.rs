//! The recorder thread's loop: pictures in, Matroska frames out.
//!
//! Full frames are written as the agent sent them: free. A picture the
//! viewer composed from region updates must be encoded here (15 ms of CPU
//! at 1080p), so those are **thinned** to at most [`COMPOSED_FPS`] a
//! second: a composed picture that comes sooner than that after the last
//! encoded one waits, and a newer one replaces it; the one waiting is
//! encoded when its turn comes, or when the recording stops, so the file
//! always ends on the last picture (a burst of changes is never
//! recorded as its first state). Encoding all 30 a second would cost
//! about half a core; thinned, about a seventh.

use std::fs::File;
use std::io::{self, BufWriter};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use lookout_mkv::MkvWriter;

use super::recorder::{Shot, Summary, encode};
use crate::decode::DecodedFrame;

/// Composed pictures encoded a second, at most.
pub const COMPOSED_FPS: u32 = 10;

/// The file being written and what it has seen.
struct Writing {
    /// The file asked for; later parts are `NAME-2.mkv`, `NAME-3.mkv`...
    path: PathBuf,
    out: Option<BufWriter<File>>,
    mkv: Option<MkvWriter<BufWriter<File>>>,
    /// The size of the pictures in the file being written.
    size: Option<(u32, u32)>,
    /// Which part is being written (1: the file asked for).
    part: u32,
    /// Frames in the parts already closed.
    earlier_frames: u64,
    first_us: Option<u64>,
    last_ms: u64,
    gap_ms: u64,
    encoded: u64,
    thinned: u64,
}

/// Writes what arrives on `shots` into `file` until the sender is
/// dropped, then closes the file cleanly; composed pictures at most once
/// per `every`.
pub(super) fn record(
    file: File,
    path: PathBuf,
    shots: &Receiver<Shot>,
    dropped: &AtomicU64,
    every: Duration,
) -> io::Result<Summary> {
    let mut w = Writing {
        path: path.clone(),
        out: Some(BufWriter::with_capacity(1 << 20, file)),
        mkv: None,
        size: None,
        part: 1,
        earlier_frames: 0,
        first_us: None,
        last_ms: 0,
        gap_ms: 0,
        encoded: 0,
        thinned: 0,
    };
    // A composed picture waiting for its turn, and when that is.
    let mut waiting: Option<Arc<DecodedFrame>> = None;
    let mut next_encode = Instant::now();
    loop {
        let shot = if waiting.is_some() {
            match shots.recv_timeout(next_encode.saturating_duration_since(Instant::now())) {
                Ok(shot) => Some(shot),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => break,
            }
        } else {
            match shots.recv() {
                Ok(shot) => Some(shot),
                Err(_) => break,
            }
        };
        match shot {
            Some(Shot::Jpeg {
                captured_at_us,
                width,
                height,
                jpeg,
            }) => {
                // Newer and whole: what was waiting is superseded.
                if waiting.take().is_some() {
                    w.thinned += 1;
                }
                w.write(captured_at_us, (width, height), &jpeg)?;
            }
            Some(Shot::Picture(picture)) => {
                let superseded = waiting.replace(picture);
                w.thinned += u64::from(superseded.is_some());
            }
            None => {}
        }
        if Instant::now() >= next_encode
            && let Some(picture) = waiting.take()
        {
            w.write_composed(&picture)?;
            next_encode = Instant::now() + every;
        }
    }
    if let Some(picture) = waiting.take() {
        w.write_composed(&picture)?;
    }
    w.finish(path, dropped)
}

impl Writing {
    fn write_composed(&mut self, picture: &DecodedFrame) -> io::Result<()> {
        self.encoded += 1;
        let jpeg = encode(picture).map_err(io::Error::other)?;
        self.write(
            picture.captured_at_us,
            (picture.width, picture.height),
            &jpeg,
        )
    }

    fn write(&mut self, at_us: u64, (width, height): (u32, u32), jpeg: &Bytes) -> io::Result<()> {
        if self.size.is_some_and(|size| size != (width, height)) {
            self.next_part()?;
        }
        self.size = Some((width, height));
        let first = *self.first_us.get_or_insert(at_us);
        let at_ms = at_us.saturating_sub(first) / 1000;
        let mkv = match self.mkv.as_mut() {
            Some(mkv) => mkv,
            None => self.mkv.insert(MkvWriter::new(
                self.out.take().expect("opened once"),
                width,
                height,
                "lookout-viewer",
            )?),
        };
        mkv.write_frame(at_ms, jpeg)?;
        self.gap_ms = at_ms.saturating_sub(self.last_ms);
        self.last_ms = self.last_ms.max(at_ms);
        Ok(())
    }

    /// The picture's size changed (another monitor): a Matroska track has
    /// one size, so the file is closed and the recording goes on in the
    /// next part, `NAME-2.mkv`.
    fn next_part(&mut self) -> io::Result<()> {
        let (frames, _) = self.close()?;
        self.earlier_frames += frames;
        self.part += 1;
        let stem = self.path.file_stem().unwrap_or_default().to_string_lossy();
        let next = self
            .path
            .with_file_name(format!("{stem}-{}.mkv", self.part));
        let file = super::recorder::create_private(&next)?;
        eprintln!(
            "lookout-viewer: the picture's size changed; recording goes on in {}",
            next.display()
        );
        self.out = Some(BufWriter::with_capacity(1 << 20, file));
        self.first_us = None;
        (self.last_ms, self.gap_ms) = (0, 0);
        Ok(())
    }

    /// Closes the part being written: (frames, duration in ms).
    fn close(&mut self) -> io::Result<(u64, u64)> {
        Ok(match self.mkv.take() {
            // The last frame stays shown as long as the one before it did.
            Some(mkv) => {
                let frames = mkv.frames();
                let duration_ms = self.last_ms + self.gap_ms.max(1);
                mkv.finish(duration_ms)?;
                (frames, duration_ms)
            }
            None => (0, 0),
        })
    }

    fn finish(mut self, path: PathBuf, dropped: &AtomicU64) -> io::Result<Summary> {
        let (frames, duration_ms) = self.close()?;
        Ok(Summary {
            path,
            frames: self.earlier_frames + frames,
            parts: self.part,
            dropped: dropped.load(Ordering::Relaxed),
            encoded: self.encoded,
            thinned: self.thinned,
            duration_ms,
        })
    }
}
