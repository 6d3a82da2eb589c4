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

use std::io::Cursor;
use std::sync::Arc;
use std::thread::JoinHandle;

use image::{ImageFormat, ImageReader};

use crate::connection::EncodedFrame;
use crate::slot::Latest;

/// Largest frame side we decode: far beyond any screen, and it keeps a
/// hostile header from making the decoder allocate gigabytes.
pub const MAX_SIDE: u32 = 16_384;

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
    /// Not a JPEG the `image` crate can decode, or over [`MAX_SIDE`].
    #[error("cannot decode the JPEG: {0}")]
    Image(#[from] image::ImageError),
}

/// Decodes one JPEG into window pixels. The frame's announced size is
/// informational; the JPEG's own size wins.
pub fn decode_jpeg(frame: &EncodedFrame) -> Result<DecodedFrame, DecodeError> {
    let mut reader = ImageReader::with_format(Cursor::new(&frame.jpeg[..]), ImageFormat::Jpeg);
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    reader.limits(limits);
    // `into_rgb8` keeps the decoder's buffer for RGB JPEGs (the usual case)
    // and converts only grey or CMYK ones.
    let rgb = reader.decode()?.into_rgb8();
    let (width, height) = rgb.dimensions();
    if (width, height) != (frame.meta.width, frame.meta.height) {
        tracing::debug!(
            seq = frame.meta.seq,
            "frame announced {}x{} but the JPEG is {width}x{height}",
            frame.meta.width,
            frame.meta.height
        );
    }
    let pixels = rgb
        .as_raw()
        .chunks_exact(3)
        .map(|p| match *p {
            [r, g, b] => u32::from_be_bytes([0, r, g, b]),
            _ => 0,
        })
        .collect();
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
