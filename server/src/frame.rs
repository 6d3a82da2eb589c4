//! What the hub holds for a monitor: the newest captured [`Picture`] and
//! the ways to send it, each encoded at most once and shared by every
//! viewer that sends it:
//!
//! * the **full frame** (`frame` + one `HT`), made by the encode thread
//!   when some viewer takes full frames only, else when first asked for;
//! * the **update** from the frame before (`frame` with `rects` + one `HT`
//!   per rect), made by the encode thread for the viewers that kept up;
//! * **updates from older frames**, for viewers that were skipped: the
//!   tiles changed since the frame they have ([`ChangeLog`]), taken from
//!   this picture, made when first asked for and kept for the next viewer
//!   at the same place ([`OLDER_KEPT`]).
//!
//! What is made on demand is made on the runtime's blocking pool, never on
//! the async executor.

use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use bytes::{Bytes, BytesMut};
use lookout_protocol::{Limits, ProtocolError, ServerMessage, Tag, frame_header};

use crate::capture::CapturedImage;
use crate::encode::{EncodeError, FrameEncoder, Subsampling};
use crate::regions::{ChangeLog, Plan, Rect};

/// Updates from older frames kept per picture: one per distinct place that
/// skipped viewers are at, which is rarely more than two or three.
pub const OLDER_KEPT: usize = 8;

/// One frame's wire bytes: the `frame` message, then the `HT` header and
/// JPEG of each image, in order. Encoded once, written as they are to
/// every viewer that gets it.
#[derive(Debug)]
pub struct EncodedFrame {
    /// Per-monitor frame counter.
    pub seq: u64,
    /// The whole picture's width.
    pub width: u32,
    /// The whole picture's height.
    pub height: u32,
    /// Capture time, microseconds since the Unix epoch.
    pub captured_at_us: u64,
    /// The JPEG quality it was encoded at (sent in `frame.quality`).
    pub quality: u8,
    /// Whether this is a region update (else a full frame).
    pub region: bool,
    /// The parts to write, in order.
    pub parts: Vec<Bytes>,
}

impl EncodedFrame {
    /// A full frame: the `frame` message and the image header are encoded
    /// here, once, not once per viewer.
    pub fn new(
        seq: u64,
        (width, height): (u32, u32),
        captured_at_us: u64,
        quality: u8,
        jpeg: Bytes,
    ) -> Result<Self, ProtocolError> {
        Self::with_images(
            seq,
            (width, height),
            captured_at_us,
            quality,
            None,
            vec![jpeg],
        )
    }

    /// A region update: `tiles` are the rectangles and their JPEGs.
    pub fn region(
        seq: u64,
        (width, height): (u32, u32),
        captured_at_us: u64,
        quality: u8,
        tiles: Vec<(Rect, Bytes)>,
    ) -> Result<Self, ProtocolError> {
        let rects = tiles
            .iter()
            .map(|(r, _)| lookout_protocol::Rect::new(r.x, r.y, r.width, r.height))
            .collect();
        let jpegs = tiles.into_iter().map(|(_, jpeg)| jpeg).collect();
        Self::with_images(
            seq,
            (width, height),
            captured_at_us,
            quality,
            Some(rects),
            jpegs,
        )
    }

    fn with_images(
        seq: u64,
        (width, height): (u32, u32),
        captured_at_us: u64,
        quality: u8,
        rects: Option<Vec<lookout_protocol::Rect>>,
        jpegs: Vec<Bytes>,
    ) -> Result<Self, ProtocolError> {
        let region = rects.is_some();
        let meta = ServerMessage::Frame {
            seq,
            width,
            height,
            captured_at_us,
            quality,
            rects,
        };
        let mut head = BytesMut::with_capacity(256);
        meta.encode(&mut head)?;
        let mut parts = Vec::with_capacity(1 + 2 * jpegs.len());
        parts.push(head.freeze());
        for jpeg in jpegs {
            let header = frame_header(Tag::Image, jpeg.len(), &Limits::viewer())?;
            parts.push(Bytes::copy_from_slice(&header));
            parts.push(jpeg);
        }
        Ok(Self {
            seq,
            width,
            height,
            captured_at_us,
            quality,
            region,
            parts,
        })
    }

    /// Bytes on the wire.
    pub fn len(&self) -> usize {
        self.parts.iter().map(Bytes::len).sum()
    }

    /// Whether there is nothing to write (never, for a made frame).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Why a picture could not be sent.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The JPEG encoder failed.
    #[error(transparent)]
    Encode(#[from] EncodeError),
    /// The frame cannot be put on the wire.
    #[error("frame cannot be sent: {0}")]
    Wire(#[from] ProtocolError),
}

/// How pictures are encoded: what an on-demand encode needs to match the
/// encode thread's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Encoding {
    /// JPEG quality.
    pub quality: u8,
    /// JPEG chroma subsampling.
    pub subsampling: Subsampling,
}

/// One captured picture of a monitor, with the encodings made so far.
#[derive(Debug)]
pub struct Picture {
    /// Changes whenever the stream starts over (a new size, a new layout):
    /// a viewer's picture from another epoch says nothing about this one.
    pub epoch: u64,
    /// Per-monitor frame counter.
    pub seq: u64,
    /// Capture time, microseconds since the Unix epoch.
    pub captured_at_us: u64,
    /// How it is encoded.
    pub encoding: Encoding,
    /// The pixels.
    pub image: Arc<CapturedImage>,
    /// When each tile last changed, as of this frame.
    pub log: Arc<ChangeLog>,
    /// The full frame, once made.
    full: OnceLock<Arc<EncodedFrame>>,
    /// The update from frame `seq - 1` of the same epoch; `None` for the
    /// epoch's first frame.
    update: Option<Arc<EncodedFrame>>,
    /// Updates from older frames, by the frame they start from.
    older: Mutex<Vec<(u64, Arc<EncodedFrame>)>>,
}

impl Picture {
    /// A picture with the encodings the encode thread made (`full`,
    /// `update`); the others are made when first asked for.
    pub fn new(
        (epoch, seq, captured_at_us): (u64, u64, u64),
        encoding: Encoding,
        image: Arc<CapturedImage>,
        log: Arc<ChangeLog>,
        full: Option<Arc<EncodedFrame>>,
        update: Option<Arc<EncodedFrame>>,
    ) -> Self {
        let cell = OnceLock::new();
        if let Some(full) = full {
            let _ = cell.set(full);
        }
        Self {
            epoch,
            seq,
            captured_at_us,
            encoding,
            image,
            log,
            full: cell,
            update,
            older: Mutex::new(Vec::new()),
        }
    }

    /// The picture's size.
    pub fn size(&self) -> (u32, u32) {
        (self.image.width, self.image.height)
    }

    /// The full frame if it is made already.
    pub fn full_if_made(&self) -> Option<Arc<EncodedFrame>> {
        self.full.get().cloned()
    }

    /// The full frame, made now if need be (blocking: call it off the
    /// executor). Made once, whoever asks first.
    pub fn full(&self) -> Result<Arc<EncodedFrame>, FrameError> {
        if let Some(full) = self.full.get() {
            return Ok(Arc::clone(full));
        }
        let mut encoder =
            FrameEncoder::with_subsampling(self.encoding.quality, self.encoding.subsampling);
        let jpeg = encoder.encode(&self.image)?;
        let made = Arc::new(EncodedFrame::new(
            self.seq,
            self.size(),
            self.captured_at_us,
            encoder.quality(),
            jpeg,
        )?);
        // Two viewers may race here; both get the one kept.
        Ok(Arc::clone(self.full.get_or_init(|| made)))
    }

    /// What a viewer that has frame `have` of this epoch is sent without
    /// blocking, if that is made already: the update from the frame before,
    /// a kept update from an older one, or the full frame.
    pub fn ready_for(&self, have: Option<u64>) -> Option<Arc<EncodedFrame>> {
        match have {
            Some(have) if have + 1 == self.seq && self.update.is_some() => self.update.clone(),
            Some(have) if have < self.seq => self
                .older()
                .iter()
                .find(|(from, _)| *from == have)
                .map(|(_, frame)| Arc::clone(frame))
                .or_else(|| {
                    self.full_if_made()
                        .filter(|_| self.plan_since(have) == Plan::Full)
                }),
            _ => self.full_if_made(),
        }
    }

    /// What a viewer that has frame `have` of this epoch (`None`: nothing
    /// of it) is sent, made now if need be (blocking: call it off the
    /// executor).
    pub fn for_viewer(&self, have: Option<u64>) -> Result<Arc<EncodedFrame>, FrameError> {
        if let Some(ready) = self.ready_for(have) {
            return Ok(ready);
        }
        let Some(have) = have.filter(|&have| have < self.seq) else {
            return self.full();
        };
        let Plan::Rects(rects) = self.plan_since(have) else {
            return self.full();
        };
        let mut encoder =
            FrameEncoder::with_subsampling(self.encoding.quality, self.encoding.subsampling);
        let made = Arc::new(encode_update(
            &mut encoder,
            &self.image,
            (self.seq, self.captured_at_us),
            &rects,
        )?);
        let mut older = self.older();
        if older.len() >= OLDER_KEPT {
            older.remove(0);
        }
        older.push((have, Arc::clone(&made)));
        Ok(made)
    }

    /// What changed since frame `have`.
    fn plan_since(&self, have: u64) -> Plan {
        crate::regions::plan(self.log.grid(), &self.log.since(have))
    }

    fn older(&self) -> std::sync::MutexGuard<'_, Vec<(u64, Arc<EncodedFrame>)>> {
        // A small cache: still consistent after a panic elsewhere.
        self.older.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Encodes `rects` of `image` as the region update for frame `seq`.
pub fn encode_update(
    encoder: &mut FrameEncoder,
    image: &CapturedImage,
    (seq, captured_at_us): (u64, u64),
    rects: &[Rect],
) -> Result<EncodedFrame, FrameError> {
    let tiles = rects
        .iter()
        .map(|&rect| Ok((rect, encoder.encode_rect(image, rect)?)))
        .collect::<Result<Vec<_>, EncodeError>>()?;
    Ok(EncodedFrame::region(
        seq,
        (image.width, image.height),
        captured_at_us,
        encoder.quality(),
        tiles,
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::regions::TileGrid;

    fn picture() -> Picture {
        // 64x32: 4x2 tiles. Frame 2 changed tile 0, frame 3 tile 3.
        let grid = TileGrid::new(64, 32);
        let mut log = ChangeLog::new(grid);
        log.record(&[true, false, false, false, false, false, false, false], 2);
        log.record(&[false, false, false, true, false, false, false, false], 3);
        let image = CapturedImage::rgba(64, 32, [10, 200, 10, 255].repeat(64 * 32));
        let encoding = Encoding {
            quality: 75,
            subsampling: Subsampling::Half,
        };
        let update = EncodedFrame::region(
            3,
            (64, 32),
            0,
            75,
            vec![(
                Rect {
                    x: 48,
                    y: 0,
                    width: 16,
                    height: 16,
                },
                Bytes::from_static(b"jpeg"),
            )],
        )
        .unwrap();
        Picture::new(
            (1, 3, 0),
            encoding,
            Arc::new(image),
            Arc::new(log),
            None,
            Some(Arc::new(update)),
        )
    }

    #[test]
    fn each_viewer_gets_what_it_lacks_each_made_once() {
        let picture = picture();
        // Kept up: the update the encode thread made.
        let kept_up = picture.for_viewer(Some(2)).unwrap();
        assert!(kept_up.region && kept_up.parts.len() == 3);
        // One frame behind: both changed tiles (one rectangle: the two
        // tiles between them cost less than a second JPEG), made now and
        // then kept.
        let behind = picture.for_viewer(Some(1)).unwrap();
        assert!(behind.region);
        assert_eq!(behind.parts.len(), 3, "one rectangle");
        let head = String::from_utf8_lossy(&behind.parts[0]).into_owned();
        assert!(head.contains(r#""rects":[[0,0,64,16]]"#), "{head}");
        let again = picture
            .ready_for(Some(1))
            .expect("kept for the next viewer");
        assert!(Arc::ptr_eq(&behind, &again));
        // Nothing of this epoch: the full frame, made once.
        assert!(picture.ready_for(None).is_none());
        let full = picture.for_viewer(None).unwrap();
        assert!(!full.region);
        assert!(Arc::ptr_eq(&full, &picture.for_viewer(None).unwrap()));
    }
}
