//! One frame as it goes on the wire ([`EncodedFrame`]), encoded once and
//! written as it is to every viewer that gets it: a full frame (`frame` +
//! one `HT`) or a region update (`frame` with `rects` + one `HT` per
//! rect). What a viewer is sent of a captured picture is the business of
//! [`crate::picture`].

use bytes::{Bytes, BytesMut};
use lookout_protocol::{Limits, ProtocolError, ServerMessage, Tag, frame_header};

use crate::capture::CapturedImage;
use crate::encode::{EncodeError, FrameEncoder, Subsampling};
use crate::regions::Rect;
use crate::scale::ScaleError;

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

    /// A full frame's JPEG (`None` for a region update).
    pub fn jpeg(&self) -> Option<&Bytes> {
        if self.region {
            return None;
        }
        self.parts.get(2)
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
    /// The picture could not be scaled for a viewer.
    #[error(transparent)]
    Scale(#[from] ScaleError),
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
