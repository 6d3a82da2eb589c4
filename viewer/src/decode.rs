//! JPEG bytes to window pixels, and the decode thread that does it off both
//! the UI thread and the network runtime.
//!
//! ```text
//! network ──put──▶ Latest<EncodedFrame> ──take──▶ decode thread
//!                                                   │ decode_jpeg
//!                  Latest<Arc<DecodedFrame>> ◀──put─┘ ──take──▶ window
//! ```
//!
//! Both hand-overs are latest-value slots: a JPEG that a newer one replaces
//! before decoding starts is never decoded, and a decoded frame that a newer
//! one replaces before the window presents it is never shown.

use std::sync::Arc;
use std::thread::JoinHandle;

use zune_core::bytestream::ZCursor;
use zune_core::colorspace::ColorSpace;
use zune_core::options::DecoderOptions;
use zune_jpeg::JpegDecoder;

use crate::connection::EncodedFrame;
use crate::slot::Latest;

/// Largest frame side we decode: far beyond any screen, and it keeps a
/// hostile header from making the decoder allocate gigabytes.
pub const MAX_SIDE: u32 = 16_384;

/// Most pixels in one frame (256 MiB of window buffer): a 16K-by-4K wall of
/// monitors fits, a hostile 16K-by-16K header does not.
pub const MAX_PIXELS: usize = 64 * 1024 * 1024;

/// One frame ready for the window.
#[derive(Clone, PartialEq, Eq)]
pub struct DecodedFrame {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// `width * height` pixels, row-major, `0RGB` as minifb wants them.
    pub pixels: Vec<u32>,
    /// The agent's frame counter.
    pub seq: u64,
    /// Capture time, microseconds since the Unix epoch (agent clock).
    pub captured_at_us: u64,
}

impl std::fmt::Debug for DecodedFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not the pixels: a frame is megabytes.
        f.debug_struct("DecodedFrame")
            .field("width", &self.width)
            .field("height", &self.height)
            .field("seq", &self.seq)
            .field("captured_at_us", &self.captured_at_us)
            .finish_non_exhaustive()
    }
}

impl DecodedFrame {
    /// The pixels as packed RGB8 bytes (for PNG writing).
    pub fn to_rgb8(&self) -> Vec<u8> {
        self.pixels
            .iter()
            .flat_map(|&p| {
                let [_, r, g, b] = p.to_be_bytes();
                [r, g, b]
            })
            .collect()
    }
}

/// A JPEG that cannot be shown.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// Not a JPEG the decoder can read, or a side over [`MAX_SIDE`].
    #[error("cannot decode the JPEG: {0}")]
    Jpeg(#[from] zune_jpeg::errors::DecodeErrors),
    /// The headers were read but gave no image size.
    #[error("cannot decode the JPEG: no image size in the headers")]
    NoSize,
    /// More pixels than [`MAX_PIXELS`].
    #[error("cannot decode the JPEG: {width}x{height} is more than {MAX_PIXELS} pixels")]
    TooManyPixels {
        /// The JPEG's width.
        width: usize,
        /// The JPEG's height.
        height: usize,
    },
}

/// Decodes one JPEG into window pixels. The frame's announced size is
/// informational; the JPEG's own size wins.
///
/// zune-jpeg (memory-safe Rust, SIMD) writes BGRA straight into the `u32`
/// buffer the window shows: on a little-endian machine BGRA bytes are the
/// `0RGB` words minifb wants, once the alpha byte is cleared. No RGB image
/// in between, no per-pixel repacking.
pub fn decode_jpeg(frame: &EncodedFrame) -> Result<DecodedFrame, DecodeError> {
    let options = DecoderOptions::default()
        .set_max_width(MAX_SIDE as usize)
        .set_max_height(MAX_SIDE as usize)
        .jpeg_set_out_colorspace(ColorSpace::BGRA);
    let mut decoder = JpegDecoder::new_with_options(ZCursor::new(&frame.jpeg[..]), options);
    decoder.decode_headers()?;
    let (w, h) = decoder.dimensions().ok_or(DecodeError::NoSize)?;
    if w.saturating_mul(h) > MAX_PIXELS {
        return Err(DecodeError::TooManyPixels {
            width: w,
            height: h,
        });
    }
    let mut pixels = vec![0u32; w * h];
    decoder.decode_into(bytemuck::cast_slice_mut(&mut pixels))?;
    if cfg!(target_endian = "little") {
        for p in &mut pixels {
            *p &= 0x00ff_ffff;
        }
    } else {
        for p in &mut pixels {
            *p = u32::from_le(*p) & 0x00ff_ffff;
        }
    }
    // Both bounded by MAX_SIDE above.
    let (width, height) = (
        u32::try_from(w).unwrap_or(u32::MAX),
        u32::try_from(h).unwrap_or(u32::MAX),
    );
    if (width, height) != (frame.meta.width, frame.meta.height) {
        tracing::debug!(
            seq = frame.meta.seq,
            "frame announced {}x{} but the JPEG is {width}x{height}",
            frame.meta.width,
            frame.meta.height
        );
    }
    Ok(DecodedFrame {
        width,
        height,
        pixels,
        seq: frame.meta.seq,
        captured_at_us: frame.meta.captured_at_us,
    })
}

/// Starts the decode thread: it takes JPEGs from `jpegs` and puts decoded
/// frames into `frames` until `jpegs` is closed.
pub fn spawn_decoder(
    jpegs: Arc<Latest<EncodedFrame>>,
    frames: Arc<Latest<Arc<DecodedFrame>>>,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("lookout-decode".into())
        .spawn(move || {
            while let Some(jpeg) = jpegs.take_wait() {
                match decode_jpeg(&jpeg) {
                    Ok(frame) => {
                        frames.put(Arc::new(frame));
                    }
                    // One bad image is not worth a reconnect: skip it.
                    Err(err) => tracing::warn!(seq = jpeg.meta.seq, "skipping a frame: {err}"),
                }
            }
        })
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::connection::FrameMeta;

    fn jpeg_of(img: &image::RgbImage) -> Bytes {
        let mut out = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 95)
            .encode_image(img)
            .unwrap();
        Bytes::from(out)
    }

    fn encoded(jpeg: Bytes, width: u32, height: u32) -> EncodedFrame {
        EncodedFrame {
            meta: FrameMeta {
                seq: 9,
                width,
                height,
                captured_at_us: 1234,
            },
            jpeg,
        }
    }

    #[test]
    fn jpeg_decodes_to_0rgb_pixels() {
        let img = image::RgbImage::from_pixel(16, 8, image::Rgb([200, 100, 50]));
        let frame = decode_jpeg(&encoded(jpeg_of(&img), 16, 8)).unwrap();
        assert_eq!((frame.width, frame.height), (16, 8));
        assert_eq!(frame.pixels.len(), 16 * 8);
        assert_eq!((frame.seq, frame.captured_at_us), (9, 1234));
        for &p in &frame.pixels {
            let [zero, r, g, b] = p.to_be_bytes();
            assert_eq!(zero, 0);
            assert!(r.abs_diff(200) < 6 && g.abs_diff(100) < 6 && b.abs_diff(50) < 6);
        }
        let rgb = frame.to_rgb8();
        assert_eq!(rgb.len(), 16 * 8 * 3);
    }

    #[test]
    fn the_jpeg_size_wins_over_the_announced_size() {
        let img = image::RgbImage::new(4, 4);
        let frame = decode_jpeg(&encoded(jpeg_of(&img), 100, 100)).unwrap();
        assert_eq!((frame.width, frame.height), (4, 4));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for junk in [&b""[..], b"\xff\xd8\xff", b"not a jpeg at all", &[0xff; 64]] {
            assert!(decode_jpeg(&encoded(Bytes::copy_from_slice(junk), 1, 1)).is_err());
        }
    }

    #[test]
    fn decode_thread_publishes_and_stops_when_closed() {
        let jpegs = Arc::new(Latest::new());
        let frames = Arc::new(Latest::new());
        let thread = spawn_decoder(Arc::clone(&jpegs), Arc::clone(&frames)).unwrap();
        let img = image::RgbImage::new(8, 8);
        jpegs.put(encoded(jpeg_of(&img), 8, 8));
        let frame = frames
            .take_timeout(std::time::Duration::from_secs(10))
            .unwrap();
        assert_eq!(frame.width, 8);
        jpegs.close();
        thread.join().unwrap();
    }
}
