//! The JPEG encoders the agent's libjpeg-turbo ([`FrameEncoder`]) is
//! measured against; none of them ships in the agent.
//!
//! * The `image` crate's encoder from an RGB copy (always 4:4:4): the
//!   straightforward pipeline, the benchmarks' baseline.
//! * `jpeg-encoder` with SIMD, straight from RGBA or BGRX, box-averaged
//!   chroma: the pure Rust alternative.
//!
//! Shared by `benches/pipeline.rs`, which times them, and
//! `tests/bench_encoders.rs`, which checks that they encode the same picture
//! the agent would, so that the race is fair.

// Each user takes what it needs of this module.
#![allow(dead_code, unreachable_pub)]

use bytes::Bytes;
use jpeg_encoder::{ChromaSubsamplingMethod, ColorType, Encoder, SamplingFactor};
use lookout_server::capture::{CapturedImage, PixelOrder};
use lookout_server::encode::{FrameEncoder, Subsampling};

/// One of the encoders a benchmark compares.
#[derive(Debug)]
pub enum Contender {
    /// The agent's own: libjpeg-turbo.
    Turbo(FrameEncoder),
    /// `jpeg-encoder` with SIMD, at this quality and subsampling.
    JpegEncoder(u8, Subsampling),
    /// The `image` crate's encoder at this quality (4:4:4 only).
    ImageCrate(u8),
}

/// Why a contender failed to encode.
#[derive(Debug, thiserror::Error)]
pub enum ContenderError {
    /// libjpeg-turbo, through the agent's encoder.
    #[error(transparent)]
    Turbo(#[from] lookout_server::encode::EncodeError),
    /// `jpeg-encoder`.
    #[error("jpeg-encoder failed")]
    JpegEncoder(#[from] jpeg_encoder::EncodingError),
    /// The `image` crate.
    #[error("the image crate's encoder failed")]
    ImageCrate(#[from] image::ImageError),
    /// JPEG cannot hold an image this large (65,535 pixels a side).
    #[error("{0}x{1} is too large for JPEG")]
    TooLarge(u32, u32),
}

impl Contender {
    /// Each kind at `quality` and `subsampling` (the `image` crate ignores
    /// the subsampling: it always writes 4:4:4).
    pub fn all(quality: u8, subsampling: Subsampling) -> [Self; 3] {
        [
            Self::Turbo(FrameEncoder::with_subsampling(quality, subsampling)),
            Self::JpegEncoder(quality, subsampling),
            Self::ImageCrate(quality),
        ]
    }

    /// Encodes one image.
    pub fn encode(&mut self, image: &CapturedImage) -> Result<Bytes, ContenderError> {
        match self {
            Self::Turbo(encoder) => Ok(encoder.encode(image)?),
            Self::JpegEncoder(quality, subsampling) => {
                Ok(jpeg_encoder_crate(image, *quality, *subsampling)?.into())
            }
            Self::ImageCrate(quality) => Ok(image_crate(image, *quality)?.into()),
        }
    }
}

/// `jpeg-encoder` with SIMD, straight from the captured pixels.
fn jpeg_encoder_crate(
    image: &CapturedImage,
    quality: u8,
    subsampling: Subsampling,
) -> Result<Vec<u8>, ContenderError> {
    let too_large = || ContenderError::TooLarge(image.width, image.height);
    let width = u16::try_from(image.width).map_err(|_| too_large())?;
    let height = u16::try_from(image.height).map_err(|_| too_large())?;
    let mut out = Vec::new();
    let mut encoder = Encoder::new(&mut out, quality.clamp(1, 100));
    encoder.set_sampling_factor(match subsampling {
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
    Ok(out)
}

/// The `image` crate's encoder from an RGB copy: the straightforward way.
fn image_crate(image: &CapturedImage, quality: u8) -> Result<Vec<u8>, ContenderError> {
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
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality.clamp(1, 100)).encode(
        &rgb,
        image.width,
        image.height,
        image::ExtendedColorType::Rgb8,
    )?;
    Ok(out)
}
