//! JPEG encoding of captured images, done once per frame for all viewers.

use bytes::Bytes;
use image::codecs::jpeg::JpegEncoder;
use image::{ImageBuffer, Rgba};

use crate::capture::{CaptureError, CapturedImage};

/// Why an image could not be encoded.
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    /// The image buffer does not match its stated size.
    #[error(transparent)]
    BadImage(#[from] CaptureError),
    /// The JPEG encoder failed.
    #[error("JPEG encoding failed")]
    Jpeg(#[from] image::ImageError),
}

/// Encodes RGBA images as baseline JPEG at a fixed quality.
#[derive(Debug)]
pub struct FrameEncoder {
    quality: u8,
    /// Size of the last output, to reserve the next one in one allocation.
    last_len: usize,
}

impl FrameEncoder {
    /// An encoder at `quality` (1-100, clamped).
    pub fn new(quality: u8) -> Self {
        Self {
            quality: quality.clamp(1, 100),
            last_len: 64 * 1024,
        }
    }

    /// Encodes one image.
    pub fn encode(&mut self, image: &CapturedImage) -> Result<Bytes, EncodeError> {
        let view = ImageBuffer::<Rgba<u8>, &[u8]>::from_raw(image.width, image.height, &image.rgba)
            .ok_or(CaptureError::BadImage {
                width: image.width,
                height: image.height,
                got: image.rgba.len(),
            })?;
        let mut out = Vec::with_capacity(self.last_len + self.last_len / 4);
        // The encoder ignores alpha: no RGB copy of the frame is needed.
        JpegEncoder::new_with_quality(&mut out, self.quality).encode_image(&view)?;
        self.last_len = out.len();
        Ok(Bytes::from(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_a_baseline_jpeg_of_the_same_size() {
        let image = CapturedImage {
            width: 64,
            height: 48,
            rgba: [200u8, 30, 30, 255].repeat(64 * 48),
        };
        let jpeg = FrameEncoder::new(75).encode(&image).unwrap();
        assert_eq!(&jpeg[..2], &[0xff, 0xd8], "SOI marker");
        let decoded = image::load_from_memory(&jpeg).unwrap().to_rgb8();
        assert_eq!(decoded.dimensions(), (64, 48));
        let p = decoded.get_pixel(10, 10).0;
        assert!(p[0] > 180 && p[1] < 60 && p[2] < 60, "{p:?}");
    }

    #[test]
    fn wrong_buffer_size_is_an_error_not_a_panic() {
        let image = CapturedImage {
            width: 64,
            height: 48,
            rgba: vec![0; 10],
        };
        assert!(FrameEncoder::new(75).encode(&image).is_err());
    }
}
