//! JPEG encoding of captured images, done once per frame for all viewers.
//!
//! Uses `jpeg-encoder` with its SIMD paths (AVX2 where the CPU has it),
//! straight from the captured RGBA: no RGB copy, baseline JPEG, 4:2:0 chroma
//! by default. Measured against the `image` crate's encoder in
//! BENCHMARKS.md.

use bytes::Bytes;
use jpeg_encoder::{ChromaSubsamplingMethod, ColorType, Encoder, EncodingError, SamplingFactor};

use crate::capture::{CaptureError, CapturedImage};

/// Chroma subsampling of the JPEG.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Subsampling {
    /// 4:2:0, a quarter of the colour resolution: smallest and fastest.
    #[default]
    Half,
    /// 4:4:4, full colour resolution: crisp coloured text, bigger frames.
    Full,
}

/// Which JPEG encoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Codec {
    /// `jpeg-encoder` with SIMD, straight from RGBA, box-averaged chroma.
    #[default]
    Lookout,
    /// The `image` crate's encoder from an RGB copy (always 4:4:4): the
    /// straightforward pipeline, kept as the benchmarks' baseline.
    ImageCrate,
}

/// Why an image could not be encoded.
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    /// The image buffer does not match its stated size.
    #[error(transparent)]
    BadImage(#[from] CaptureError),
    /// JPEG cannot hold an image this large (65,535 pixels a side).
    #[error("{width}x{height} is too large for JPEG")]
    TooLarge {
        /// Image width.
        width: u32,
        /// Image height.
        height: u32,
    },
    /// The JPEG encoder failed.
    #[error("JPEG encoding failed")]
    Jpeg(#[from] EncodingError),
    /// The `image` crate's encoder failed.
    #[error("JPEG encoding failed: {0}")]
    Image(#[from] image::ImageError),
}

/// Encodes RGBA images as baseline JPEG at a fixed quality and subsampling.
#[derive(Debug)]
pub struct FrameEncoder {
    quality: u8,
    subsampling: Subsampling,
    codec: Codec,
    /// Size of the last output, to reserve the next one in one allocation.
    last_len: usize,
}

impl FrameEncoder {
    /// An encoder at `quality` (1-100, clamped) with 4:2:0 chroma.
    pub fn new(quality: u8) -> Self {
        Self::with_subsampling(quality, Subsampling::Half)
    }

    /// An encoder at `quality` (1-100, clamped) with the given chroma
    /// subsampling.
    pub fn with_subsampling(quality: u8, subsampling: Subsampling) -> Self {
        Self {
            quality: quality.clamp(1, 100),
            subsampling,
            codec: Codec::Lookout,
            last_len: 64 * 1024,
        }
    }

    /// The same encoder with another codec.
    pub fn with_codec(self, codec: Codec) -> Self {
        Self { codec, ..self }
    }

    /// Encodes one image.
    pub fn encode(&mut self, image: &CapturedImage) -> Result<Bytes, EncodeError> {
        let expected = image.width as usize * image.height as usize * 4;
        if image.rgba.len() != expected {
            return Err(CaptureError::BadImage {
                width: image.width,
                height: image.height,
                got: image.rgba.len(),
            }
            .into());
        }
        let too_large = || EncodeError::TooLarge {
            width: image.width,
            height: image.height,
        };
        let width = u16::try_from(image.width).map_err(|_| too_large())?;
        let height = u16::try_from(image.height).map_err(|_| too_large())?;
        let mut out = Vec::with_capacity(self.last_len + self.last_len / 4);
        if self.codec == Codec::ImageCrate {
            let rgb: Vec<u8> = image
                .rgba
                .chunks_exact(4)
                .flat_map(|px| [px[0], px[1], px[2]])
                .collect();
            image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, self.quality).encode(
                &rgb,
                image.width,
                image.height,
                image::ExtendedColorType::Rgb8,
            )?;
            self.last_len = out.len();
            return Ok(Bytes::from(out));
        }
        let mut encoder = Encoder::new(&mut out, self.quality);
        encoder.set_sampling_factor(match self.subsampling {
            Subsampling::Half => SamplingFactor::R_4_2_0,
            Subsampling::Full => SamplingFactor::R_4_4_4,
        });
        // Box-average chroma like libjpeg; the default (top-left pixel)
        // paints one-pixel coloured text in its neighbour's colour.
        encoder.set_chroma_subsampling_method(ChromaSubsamplingMethod::Average);
        // Alpha is ignored by the encoder: no RGB copy of the frame.
        encoder.encode(&image.rgba, width, height, ColorType::Rgba)?;
        self.last_len = out.len();
        Ok(Bytes::from(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn red(width: u32, height: u32) -> CapturedImage {
        CapturedImage {
            width,
            height,
            rgba: [200u8, 30, 30, 255].repeat((width * height) as usize),
        }
    }

    #[test]
    fn encodes_a_baseline_jpeg_of_the_same_size_and_colour() {
        for subsampling in [Subsampling::Half, Subsampling::Full] {
            let jpeg = FrameEncoder::with_subsampling(75, subsampling)
                .encode(&red(64, 48))
                .unwrap();
            assert_eq!(&jpeg[..2], &[0xff, 0xd8], "SOI marker");
            // SOF0 (baseline), not progressive.
            assert!(jpeg.windows(2).any(|w| w == [0xff, 0xc0]));
            let decoded = image::load_from_memory(&jpeg).unwrap().to_rgb8();
            assert_eq!(decoded.dimensions(), (64, 48));
            let p = decoded.get_pixel(10, 10).0;
            assert!(p[0] > 180 && p[1] < 60 && p[2] < 60, "{p:?}");
        }
    }

    #[test]
    fn full_chroma_keeps_one_pixel_colour_detail_that_half_chroma_blurs() {
        // Alternating red and blue columns: pure chroma detail.
        let (w, h) = (64u32, 16u32);
        let mut rgba = Vec::with_capacity((w * h * 4) as usize);
        for _ in 0..h {
            for x in 0..w {
                rgba.extend_from_slice(if x % 2 == 0 {
                    &[255, 0, 0, 255]
                } else {
                    &[0, 0, 255, 255]
                });
            }
        }
        let image = CapturedImage {
            width: w,
            height: h,
            rgba,
        };
        let redness = |subsampling| {
            let jpeg = FrameEncoder::with_subsampling(95, subsampling)
                .encode(&image)
                .unwrap();
            let decoded = image::load_from_memory(&jpeg).unwrap().to_rgb8();
            let p = decoded.get_pixel(20, 8).0; // a red column
            i32::from(p[0]) - i32::from(p[2])
        };
        assert!(
            redness(Subsampling::Full) > 150,
            "{}",
            redness(Subsampling::Full)
        );
        assert!(redness(Subsampling::Half) < redness(Subsampling::Full) - 50);
    }

    #[test]
    fn wrong_buffer_size_and_oversized_images_are_errors_not_panics() {
        let mut bad = red(64, 48);
        bad.rgba.truncate(10);
        assert!(matches!(
            FrameEncoder::new(75).encode(&bad),
            Err(EncodeError::BadImage(_))
        ));
        let huge = CapturedImage {
            width: 70_000,
            height: 1,
            rgba: vec![0; 70_000 * 4],
        };
        assert!(matches!(
            FrameEncoder::new(75).encode(&huge),
            Err(EncodeError::TooLarge { .. })
        ));
    }
}
