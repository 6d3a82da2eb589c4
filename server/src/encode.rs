//! JPEG encoding of captured images, done once per frame for all viewers.
//!
//! libjpeg-turbo (the `turbojpeg` crate, built from source with its SIMD
//! code), straight from the captured pixels, RGBA or the X server's own
//! BGRX: no conversion, no RGB copy, baseline JPEG, 4:2:0 chroma by default
//! with libjpeg's box-averaged downsampling. The encoders it was measured
//! against (the pure Rust `jpeg-encoder` and the `image` crate's) live with
//! the benchmarks (`benches/encoders/`); BENCHMARKS.md has the figures.
//!
//! libjpeg-turbo is C, but it only ever reads pixels this machine captured,
//! never bytes from the network.

use bytes::Bytes;

use crate::capture::{CapturedImage, PixelOrder};
use crate::regions::Rect;

/// Chroma subsampling of the JPEG.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Subsampling {
    /// 4:2:0, a quarter of the colour resolution: smallest and fastest.
    #[default]
    Half,
    /// 4:4:4, full colour resolution: crisp coloured text, bigger frames.
    Full,
}

/// Why an image could not be encoded.
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    /// The image buffer does not match its stated size.
    #[error("a {width}x{height} image came with {got} bytes of pixels")]
    BadImage {
        /// Image width.
        width: u32,
        /// Image height.
        height: u32,
        /// Buffer length.
        got: usize,
    },
    /// JPEG cannot hold an image this large (65,535 pixels a side).
    #[error("{width}x{height} is too large for JPEG")]
    TooLarge {
        /// Image width.
        width: u32,
        /// Image height.
        height: u32,
    },
    /// libjpeg-turbo failed.
    #[error("JPEG encoding failed: {0}")]
    Turbo(#[from] turbojpeg::Error),
}

/// Pictures up to this many pixels are encoded with Huffman tables made
/// for them (libjpeg-turbo's optimised baseline coding, a second pass over
/// the data): a glyph-sized update's JPEG is mostly its tables, and the
/// standard ones are 420 bytes of them. Larger pictures keep the standard
/// tables: the second pass costs more there than it saves.
pub const OPTIMIZE_UP_TO: u64 = 128 * 128;

/// The same for the rectangles of a region update ([`FrameEncoder::
/// encode_rect`]), up to a quarter of a 1920x1080 screen: the strip of
/// text a scrolling terminal changes (16x1056 in the Wayland bench) comes
/// out about a tenth smaller, and such strips are small next to the whole
/// frames and renditions, which keep [`OPTIMIZE_UP_TO`] (a second pass
/// over every frame of an animated desktop costs more CPU than its bytes
/// are worth).
pub const OPTIMIZE_PARTS_UP_TO: u64 = 1920 * 1080 / 4;

/// Encodes captured images as baseline JPEG at a fixed quality and
/// subsampling.
#[derive(Debug)]
pub struct FrameEncoder {
    quality: u8,
    subsampling: Subsampling,
    /// libjpeg-turbo's state, made on first use and kept.
    turbo: Option<turbojpeg::Compressor>,
    /// Whether `turbo` makes its own Huffman tables now.
    optimizing: bool,
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
            turbo: None,
            optimizing: false,
        }
    }

    /// The quality it encodes at, after clamping: what `frame.quality`
    /// reports.
    pub fn quality(&self) -> u8 {
        self.quality
    }

    /// Encodes one image.
    pub fn encode(&mut self, image: &CapturedImage) -> Result<Bytes, EncodeError> {
        let whole = Rect {
            x: 0,
            y: 0,
            width: image.width,
            height: image.height,
        };
        self.compress(image, whole, OPTIMIZE_UP_TO)
    }

    /// Encodes the part `rect` of `image` (which must lie inside it) as a
    /// JPEG of its own, straight from the image's rows: nothing is copied.
    pub fn encode_rect(&mut self, image: &CapturedImage, rect: Rect) -> Result<Bytes, EncodeError> {
        self.compress(image, rect, OPTIMIZE_PARTS_UP_TO)
    }

    /// Encodes `rect` of `image`, with Huffman tables of its own when it
    /// has at most `optimize_up_to` pixels.
    fn compress(
        &mut self,
        image: &CapturedImage,
        rect: Rect,
        optimize_up_to: u64,
    ) -> Result<Bytes, EncodeError> {
        let expected = image.width as usize * image.height as usize * 4;
        let inside = rect.width > 0
            && rect.height > 0
            && rect
                .x
                .checked_add(rect.width)
                .is_some_and(|r| r <= image.width)
            && rect
                .y
                .checked_add(rect.height)
                .is_some_and(|b| b <= image.height);
        if image.pixels.len() != expected || !inside {
            return Err(EncodeError::BadImage {
                width: image.width,
                height: image.height,
                got: image.pixels.len(),
            });
        }
        // JPEG's own limit, checked here so that it is one clear error
        // rather than whatever libjpeg-turbo makes of it.
        if u16::try_from(rect.width).is_err() || u16::try_from(rect.height).is_err() {
            return Err(EncodeError::TooLarge {
                width: rect.width,
                height: rect.height,
            });
        }
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
        let optimize = rect.area() <= optimize_up_to;
        if optimize != self.optimizing {
            compressor.set_optimize(optimize)?;
            self.optimizing = optimize;
        }
        let pitch = image.width as usize * 4;
        let start = rect.y as usize * pitch + rect.x as usize * 4;
        let jpeg = compressor.compress_to_vec(turbojpeg::Image {
            pixels: &image.pixels[start..],
            width: rect.width as usize,
            pitch,
            height: rect.height as usize,
            format: match image.order {
                PixelOrder::Rgba => turbojpeg::PixelFormat::RGBX,
                PixelOrder::Bgrx => turbojpeg::PixelFormat::BGRX,
            },
        })?;
        Ok(Bytes::from(jpeg))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Text-like: dark strokes on light.
    fn text(w: u32, h: u32) -> CapturedImage {
        let pixels: Vec<u8> = (0..w * h)
            .flat_map(|i| {
                let (x, y) = (i % w, i / w);
                if (x * 7 + y * 3) % 11 < 3 {
                    [20, 20, 20, 255]
                } else {
                    [240, 240, 240, 255]
                }
            })
            .collect();
        CapturedImage::rgba(w, h, pixels)
    }

    /// `rect` of `image` with libjpeg-turbo's standard Huffman tables.
    fn standard(image: &CapturedImage, rect: Rect) -> Vec<u8> {
        let mut compressor = turbojpeg::Compressor::new().unwrap();
        compressor.set_quality(75).unwrap();
        compressor.set_subsamp(turbojpeg::Subsamp::Sub2x2).unwrap();
        let pitch = image.width as usize * 4;
        let start = rect.y as usize * pitch + rect.x as usize * 4;
        compressor
            .compress_to_vec(turbojpeg::Image {
                pixels: &image.pixels[start..],
                width: rect.width as usize,
                pitch,
                height: rect.height as usize,
                format: turbojpeg::PixelFormat::RGBX,
            })
            .unwrap()
    }

    #[test]
    fn a_small_rectangle_gets_its_own_huffman_tables_and_stays_baseline() {
        let image = text(160, 160);
        // A glyph's 16x32.
        let glyph = Rect {
            x: 16,
            y: 16,
            width: 16,
            height: 32,
        };
        let mut encoder = FrameEncoder::new(75);
        let optimized = encoder.encode_rect(&image, glyph).unwrap();
        let standard = standard(&image, glyph);
        eprintln!(
            "glyph: {} bytes optimised, {} standard",
            optimized.len(),
            standard.len()
        );
        assert!(
            optimized.len() * 10 < standard.len() * 8,
            "at least a fifth smaller"
        );
        assert!(
            optimized.windows(2).any(|w| w == [0xff, 0xc0]),
            "SOF0: baseline"
        );
        let decoded = image::load_from_memory(&optimized).unwrap().to_rgb8();
        assert_eq!(decoded.dimensions(), (16, 32));
        // A big picture after a small one goes back to the standard tables
        // (and still decodes).
        let whole = encoder.encode(&image).unwrap();
        let decoded = image::load_from_memory(&whole).unwrap().to_rgb8();
        assert_eq!(decoded.dimensions(), (160, 160));
    }

    #[test]
    fn the_text_strip_a_scrolling_terminal_changes_gets_its_own_tables() {
        // A tile column of a 1080-line screen: what a terminal's scrolled
        // numbers change (the Wayland bench's scrolling scene).
        let image = text(64, 1056);
        let strip = Rect {
            x: 16,
            y: 0,
            width: 16,
            height: 1056,
        };
        let optimized = FrameEncoder::new(75).encode_rect(&image, strip).unwrap();
        let with_standard = standard(&image, strip);
        assert!(
            optimized.len() < with_standard.len(),
            "strip: {} bytes, {} with the standard tables",
            optimized.len(),
            with_standard.len()
        );
        let decoded = image::load_from_memory(&optimized).unwrap().to_rgb8();
        assert_eq!(decoded.dimensions(), (16, 1056));
        // A whole picture of that size (a rendition) keeps the standard
        // tables: no second pass at every frame.
        let alone = text(16, 1056);
        let whole = Rect {
            x: 0,
            y: 0,
            ..strip
        };
        let encoded = FrameEncoder::new(75).encode(&alone).unwrap();
        assert_eq!(encoded.len(), standard(&alone, whole).len());
    }

    fn red(width: u32, height: u32) -> CapturedImage {
        CapturedImage {
            width,
            height,
            pixels: [200u8, 30, 30, 255].repeat((width * height) as usize),
            order: PixelOrder::Rgba,
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
        let encode = |image: &CapturedImage| {
            let jpeg = FrameEncoder::new(90).encode(image).unwrap();
            image::load_from_memory(&jpeg).unwrap().to_rgb8()
        };
        assert_eq!(encode(&rgba), encode(&bgrx));
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
        let redness = |subsampling| {
            let jpeg = FrameEncoder::with_subsampling(95, subsampling)
                .encode(&image)
                .unwrap();
            let decoded = image::load_from_memory(&jpeg).unwrap().to_rgb8();
            let p = decoded.get_pixel(20, 8).0; // a red column
            i32::from(p[0]) - i32::from(p[2])
        };
        let (full, half) = (redness(Subsampling::Full), redness(Subsampling::Half));
        assert!(full > 150, "{full}");
        assert!(half < full - 50, "{half} vs {full}");
        // Averaged, not point-sampled: the columns blend to purple rather
        // than taking one neighbour's colour.
        assert!(half.abs() < 60, "{half}");
    }

    #[test]
    fn wrong_buffer_size_and_oversized_images_are_errors_not_panics() {
        let mut bad = red(64, 48);
        bad.pixels.truncate(10);
        assert!(matches!(
            FrameEncoder::new(75).encode(&bad),
            Err(EncodeError::BadImage { .. })
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

    #[test]
    fn a_rect_is_encoded_from_its_place_in_the_image() {
        // Left half red, right half blue; the rect is the blue part only.
        let (width, height) = (64, 32);
        let pixels: Vec<u8> = (0..width * height)
            .flat_map(|i| {
                if i % width < 32 {
                    [200, 30, 30, 255]
                } else {
                    [30, 30, 200, 255]
                }
            })
            .collect();
        let image = CapturedImage::rgba(width, height, pixels);
        let mut encoder = FrameEncoder::new(90);
        let rect = Rect {
            x: 32,
            y: 16,
            width: 32,
            height: 16,
        };
        let jpeg = encoder.encode_rect(&image, rect).unwrap();
        let decoded = image::load_from_memory(&jpeg).unwrap().to_rgb8();
        assert_eq!(decoded.dimensions(), (32, 16));
        let p = decoded.get_pixel(16, 8).0;
        assert!(p[2] > 180 && p[0] < 60, "{p:?}");
        for outside in [
            Rect { x: 48, ..rect },
            Rect { y: 17, ..rect },
            Rect { width: 0, ..rect },
            Rect {
                x: u32::MAX,
                ..rect
            },
        ] {
            assert!(encoder.encode_rect(&image, outside).is_err(), "{outside:?}");
        }
    }
}
