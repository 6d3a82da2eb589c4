//! JPEG encoding of captured images, done once per frame for all viewers.
//!
//! The default is libjpeg-turbo (the `turbojpeg` crate, built from source
//! with its SIMD code), straight from the captured pixels, RGBA or the X
//! server's own BGRX: no conversion, no RGB copy,
//! baseline JPEG, 4:2:0 chroma by default with libjpeg's box-averaged
//! downsampling. Two others stay for comparison and as fallbacks: the pure
//! Rust `jpeg-encoder` with SIMD, and the `image` crate's encoder (the
//! straightforward baseline). BENCHMARKS.md measures all three.
//!
//! libjpeg-turbo is C, but it only ever reads pixels this machine captured,
//! never bytes from the network.

use bytes::Bytes;
use jpeg_encoder::{ChromaSubsamplingMethod, ColorType, Encoder, EncodingError, SamplingFactor};

use crate::capture::{CaptureError, CapturedImage, PixelOrder};

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
    /// libjpeg-turbo, straight from the captured RGBA or BGRX: the fastest.
    #[default]
    Turbo,
    /// `jpeg-encoder` with SIMD, straight from RGBA or BGRX, box-averaged
    /// chroma.
    Rust,
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
    /// libjpeg-turbo failed.
    #[error("JPEG encoding failed: {0}")]
    Turbo(#[from] turbojpeg::Error),
}

/// Encodes RGBA images as baseline JPEG at a fixed quality and subsampling.
#[derive(Debug)]
pub struct FrameEncoder {
    quality: u8,
    subsampling: Subsampling,
    codec: Codec,
    /// libjpeg-turbo's state, made on first use and kept.
    turbo: Option<turbojpeg::Compressor>,
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
            codec: Codec::default(),
            turbo: None,
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
        if image.pixels.len() != expected {
            return Err(CaptureError::BadImage {
                width: image.width,
                height: image.height,
                got: image.pixels.len(),
            }
            .into());
        }
        let too_large = || EncodeError::TooLarge {
            width: image.width,
            height: image.height,
        };
        let width = u16::try_from(image.width).map_err(|_| too_large())?;
        let height = u16::try_from(image.height).map_err(|_| too_large())?;
        if self.codec == Codec::Turbo {
            return self.encode_turbo(image);
        }
        let mut out = Vec::with_capacity(self.last_len + self.last_len / 4);
        if self.codec == Codec::ImageCrate {
            let rgb: Vec<u8> = match image.order {
                PixelOrder::Rgba => image
                    .pixels
                    .chunks_exact(4)
                    .flat_map(|px| [px[0], px[1], px[2]])
                    .collect(),
                PixelOrder::Bgrx => image
                    .pixels
                    .chunks_exact(4)
                    .flat_map(|px| [px[2], px[1], px[0]])
                    .collect(),
            };
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
        let color = match image.order {
            PixelOrder::Rgba => ColorType::Rgba,
            PixelOrder::Bgrx => ColorType::Bgra,
        };
        encoder.encode(&image.pixels, width, height, color)?;
        self.last_len = out.len();
        Ok(Bytes::from(out))
    }

    fn encode_turbo(&mut self, image: &CapturedImage) -> Result<Bytes, EncodeError> {
        let compressor = match &mut self.turbo {
            Some(compressor) => compressor,
            none => {
                let mut compressor = turbojpeg::Compressor::new()?;
                compressor.set_quality(i32::from(self.quality))?;
                compressor.set_subsamp(match self.subsampling {
                    Subsampling::Half => turbojpeg::Subsamp::Sub2x2,
                    Subsampling::Full => turbojpeg::Subsamp::None,
                })?;
                none.insert(compressor)
            }
        };
        let (width, height) = (image.width as usize, image.height as usize);
        let jpeg = compressor.compress_to_vec(turbojpeg::Image {
            pixels: &image.pixels[..],
            width,
            pitch: width * 4,
            height,
            format: match image.order {
                PixelOrder::Rgba => turbojpeg::PixelFormat::RGBX,
                PixelOrder::Bgrx => turbojpeg::PixelFormat::BGRX,
            },
        })?;
        self.last_len = jpeg.len();
        Ok(Bytes::from(jpeg))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn red(width: u32, height: u32) -> CapturedImage {
        CapturedImage {
            width,
            height,
            pixels: [200u8, 30, 30, 255].repeat((width * height) as usize),
            order: PixelOrder::Rgba,
        }
    }

    const CODECS: [Codec; 3] = [Codec::Turbo, Codec::Rust, Codec::ImageCrate];

    #[test]
    fn encodes_a_baseline_jpeg_of_the_same_size_and_colour() {
        for codec in CODECS {
            for subsampling in [Subsampling::Half, Subsampling::Full] {
                check_red(codec, subsampling);
            }
        }
    }

    fn check_red(codec: Codec, subsampling: Subsampling) {
        {
            let jpeg = FrameEncoder::with_subsampling(75, subsampling)
                .with_codec(codec)
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
    fn bgrx_and_rgba_of_one_picture_encode_alike() {
        let rgba = red(32, 16);
        let bgrx = CapturedImage {
            order: PixelOrder::Bgrx,
            pixels: rgba
                .pixels
                .chunks_exact(4)
                .flat_map(|p| [p[2], p[1], p[0], 0])
                .collect(),
            ..rgba.clone()
        };
        for codec in CODECS {
            let encode = |image: &CapturedImage| {
                let jpeg = FrameEncoder::new(90)
                    .with_codec(codec)
                    .encode(image)
                    .unwrap();
                image::load_from_memory(&jpeg).unwrap().to_rgb8()
            };
            assert_eq!(encode(&rgba), encode(&bgrx), "{codec:?}");
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
        let image = CapturedImage::rgba(w, h, rgba);
        for codec in [Codec::Turbo, Codec::Rust] {
            let redness = |subsampling| {
                let jpeg = FrameEncoder::with_subsampling(95, subsampling)
                    .with_codec(codec)
                    .encode(&image)
                    .unwrap();
                let decoded = image::load_from_memory(&jpeg).unwrap().to_rgb8();
                let p = decoded.get_pixel(20, 8).0; // a red column
                i32::from(p[0]) - i32::from(p[2])
            };
            let (full, half) = (redness(Subsampling::Full), redness(Subsampling::Half));
            assert!(full > 150, "{codec:?}: {full}");
            assert!(half < full - 50, "{codec:?}: {half} vs {full}");
            // Averaged, not point-sampled: the columns blend to purple
            // rather than taking one neighbour's colour.
            assert!(half.abs() < 60, "{codec:?}: {half}");
        }
    }

    #[test]
    fn wrong_buffer_size_and_oversized_images_are_errors_not_panics() {
        let mut bad = red(64, 48);
        bad.pixels.truncate(10);
        assert!(matches!(
            FrameEncoder::new(75).encode(&bad),
            Err(EncodeError::BadImage(_))
        ));
        let huge = CapturedImage {
            width: 70_000,
            height: 1,
            pixels: vec![0; 70_000 * 4],
            order: PixelOrder::Rgba,
        };
        assert!(matches!(
            FrameEncoder::new(75).encode(&huge),
            Err(EncodeError::TooLarge { .. })
        ));
    }
}
