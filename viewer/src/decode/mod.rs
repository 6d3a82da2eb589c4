//! JPEG bytes to window pixels, within bounds, and the decode thread that
//! does it off both the UI thread and the network runtime.
//!
//! ```text
//! network ──push──▶ UpdateQueue ──take all──▶ decode thread (thread.rs)
//!                   (queue.rs)                  │ Composer (compose.rs): full frames
//!                                               │ replace, region updates paint over
//!                  Latest<Arc<DecodedFrame>> ◀──put─┘ ──take──▶ window
//! ```
//!
//! The first hand-over keeps every region update after the newest full
//! frame, in order (skipping one would leave a wrong picture), within a
//! bound; a full frame drops what is queued before it. Past the bound, or
//! when an update cannot be painted, the queue asks the network thread for
//! a full frame ([`UpdateQueue::resync_requested`]). The second hand-over
//! is a latest-value slot of complete pictures: one that a newer one
//! replaces before the window presents it is never shown, and a
//! half-painted one is never put there.
//!
//! Each tile of a region update is checked like a full frame (its JPEG's
//! size must be its rect's), so the rules below hold for every JPEG.
//!
//! A JPEG is checked before anything is allocated for it, in this order:
//! the `frame` message's size against the session's [`FrameBound`] (from
//! `welcome`), the JPEG's own size (its SOF header, read without decoding)
//! against the bound and against the `frame` message, and its coding:
//! baseline only. Protocol §1 says an `HT` frame is "one baseline JPEG",
//! and our agent encodes nothing else; a progressive JPEG is where the
//! decoder keeps coefficient buffers for the whole image (2 bytes per sample
//! on top of the pixels) and runs its most intricate code, so refusing it
//! costs no legitimate agent anything and removes both.

mod bound;
mod compose;
mod queue;
mod thread;

use std::panic::{AssertUnwindSafe, catch_unwind};

use zune_core::bytestream::ZCursor;
use zune_core::colorspace::ColorSpace;
use zune_core::options::DecoderOptions;
use zune_jpeg::JpegDecoder;

pub use bound::{FrameBound, MAX_PIXELS, MAX_SIDE};
pub use compose::{Composer, Update};
pub use queue::{Pushed, QueueBound, UPDATE_QUEUE, UpdateQueue};
pub use thread::{SKIP_LOG_EVERY, Skips, spawn_decoder, spawn_recording_decoder};

use crate::connection::EncodedFrame;

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
    /// The JPEG quality the agent encoded the newest update at
    /// (`frame.quality`).
    pub quality: u8,
}

impl std::fmt::Debug for DecodedFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not the pixels: a frame is megabytes.
        f.debug_struct("DecodedFrame")
            .field("width", &self.width)
            .field("height", &self.height)
            .field("seq", &self.seq)
            .field("captured_at_us", &self.captured_at_us)
            .field("quality", &self.quality)
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

/// A JPEG that cannot be shown. Refusals come before any allocation for
/// the image.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The `frame` message or the JPEG is larger than the session allows.
    #[error("refused a {width}x{height} frame: this session's frames are at most {bound}")]
    TooLarge {
        /// The announced or encoded width.
        width: u32,
        /// The announced or encoded height.
        height: u32,
        /// What the session allows.
        bound: FrameBound,
    },
    /// The JPEG's size is not the one its `frame` message announced.
    #[error("refused a frame announced as {announced:?} whose JPEG is {actual:?}")]
    SizeMismatch {
        /// Width and height from the `frame` message.
        announced: (u32, u32),
        /// Width and height from the JPEG's header.
        actual: (u32, u32),
    },
    /// A progressive (or lossless) JPEG, where the protocol sends baseline.
    #[error("refused a JPEG that is not baseline (the protocol sends baseline JPEG only)")]
    NotBaseline,
    /// Not a JPEG the decoder can read.
    #[error("cannot decode the JPEG: {0}")]
    Jpeg(#[from] zune_jpeg::errors::DecodeErrors),
    /// The headers were read but gave no image size.
    #[error("cannot decode the JPEG: no image size in the headers")]
    NoSize,
    /// The decoder panicked on this JPEG (a decoder bug the input found).
    #[error("the JPEG decoder panicked on this frame")]
    Panicked,
    /// A region update with no picture to paint on: none came yet, or the
    /// last one failed. Only a full frame helps.
    #[error("region update {seq} came with no full picture to paint on")]
    NoPicture {
        /// The update's `seq`.
        seq: u64,
    },
    /// A region update for a picture of another size than the one
    /// composed: the agent broke the contract (its first frame after a size
    /// change is full).
    #[error("region update {seq} is for a {announced:?} picture, the picture is {picture:?}")]
    RegionMismatch {
        /// The update's `seq`.
        seq: u64,
        /// Width and height from its `frame` message.
        announced: (u32, u32),
        /// Width and height of the composed picture.
        picture: (u32, u32),
    },
    /// A tile outside the picture (the pairing refuses these; checked again
    /// because the pixels are written by index).
    #[error("region update {seq} has a tile at {rect:?} outside its picture")]
    TileOutside {
        /// The update's `seq`.
        seq: u64,
        /// `[x, y, width, height]`.
        rect: [u32; 4],
    },
}

/// Decodes one JPEG into window pixels, if it fits `bound` and its
/// `frame` message: see the module docs for the checks, all made before the
/// pixel buffer is allocated.
///
/// zune-jpeg (memory-safe Rust, SIMD) writes BGRA straight into the `u32`
/// buffer the window shows: on a little-endian machine BGRA bytes are the
/// `0RGB` words minifb wants, once the alpha byte is cleared. No RGB image
/// in between, no per-pixel repacking.
///
/// A decoder panic unwinds out of here: [`decode_guarded`] is the entry
/// point for frames from the network; this one is for the fuzzer, which
/// must see panics.
pub fn decode_jpeg(frame: &EncodedFrame, bound: FrameBound) -> Result<DecodedFrame, DecodeError> {
    let announced = (frame.meta.width, frame.meta.height);
    if !bound.admits(announced.0, announced.1) {
        return Err(DecodeError::TooLarge {
            width: announced.0,
            height: announced.1,
            bound,
        });
    }
    // Reading the headers allocates nothing that grows with the claimed
    // size (zune-jpeg 0.5: the components' buffers come with the decode).
    // The decoder's own limits are the absolute ones, so that a JPEG over
    // the session's bound gets the typed refusal below.
    let options = DecoderOptions::default()
        .set_max_width(MAX_SIDE as usize)
        .set_max_height(MAX_SIDE as usize)
        .jpeg_set_out_colorspace(ColorSpace::BGRA);
    let mut decoder = JpegDecoder::new_with_options(ZCursor::new(&frame.jpeg[..]), options);
    decoder.decode_headers()?;
    let info = decoder.info().ok_or(DecodeError::NoSize)?;
    let actual = (u32::from(info.width), u32::from(info.height));
    if !bound.admits(actual.0, actual.1) {
        return Err(DecodeError::TooLarge {
            width: actual.0,
            height: actual.1,
            bound,
        });
    }
    if actual != announced {
        return Err(DecodeError::SizeMismatch { announced, actual });
    }
    if !info.sof.is_sequential_dct() {
        return Err(DecodeError::NotBaseline);
    }
    // At most MAX_PIXELS: the bound admitted it.
    let (w, h) = (actual.0 as usize, actual.1 as usize);
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
    Ok(DecodedFrame {
        width: actual.0,
        height: actual.1,
        pixels,
        seq: frame.meta.seq,
        captured_at_us: frame.meta.captured_at_us,
        quality: frame.meta.quality,
    })
}

/// [`decode_jpeg`] with a decoder panic caught and turned into
/// [`DecodeError::Panicked`]: one bad frame must not take the decode thread
/// (and the picture) down with it.
///
/// Unwind safety: the decoder and its buffers live inside the closure and
/// are dropped with it; the frame is only read. Nothing half-updated
/// outlives a panic.
pub fn decode_guarded(
    frame: &EncodedFrame,
    bound: FrameBound,
) -> Result<DecodedFrame, DecodeError> {
    guarded(|| decode_jpeg(frame, bound))
}

/// Runs a decode, a panic in it becoming [`DecodeError::Panicked`].
fn guarded(
    decode: impl FnOnce() -> Result<DecodedFrame, DecodeError>,
) -> Result<DecodedFrame, DecodeError> {
    catch_unwind(AssertUnwindSafe(decode)).unwrap_or(Err(DecodeError::Panicked))
}

#[cfg(test)]
pub(crate) mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::connection::FrameMeta;

    /// Room for the small pictures of these tests.
    const ROOMY: FrameBound = FrameBound::new(1920, 1080);

    pub(crate) fn jpeg_of(img: &image::RgbImage) -> Bytes {
        let mut out = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 95)
            .encode_image(img)
            .unwrap();
        Bytes::from(out)
    }

    pub(crate) fn encoded(jpeg: Bytes, width: u32, height: u32) -> EncodedFrame {
        EncodedFrame {
            meta: FrameMeta {
                seq: 9,
                width,
                height,
                captured_at_us: 1234,
                quality: 90,
            },
            jpeg,
        }
    }

    /// A small progressive JPEG whose SOF2 header claims `width` by
    /// `height`: a few hundred bytes that, decoded naively, make the
    /// decoder allocate for the claimed size.
    pub(crate) fn progressive_claiming(width: u16, height: u16) -> Bytes {
        let img = image::RgbImage::from_pixel(16, 16, image::Rgb([10, 200, 30]));
        let mut out = Vec::new();
        let mut encoder = jpeg_encoder::Encoder::new(&mut out, 80);
        encoder.set_progressive(true);
        encoder
            .encode(img.as_raw(), 16, 16, jpeg_encoder::ColorType::Rgb)
            .unwrap();
        // SOF2 = FF C2, length (2), precision (1), height (2), width (2).
        let sof = out
            .windows(2)
            .position(|w| w == [0xff, 0xc2])
            .expect("a progressive JPEG has an SOF2 header");
        out[sof + 5..sof + 7].copy_from_slice(&height.to_be_bytes());
        out[sof + 7..sof + 9].copy_from_slice(&width.to_be_bytes());
        Bytes::from(out)
    }

    #[test]
    fn jpeg_decodes_to_0rgb_pixels() {
        let img = image::RgbImage::from_pixel(16, 8, image::Rgb([200, 100, 50]));
        let frame = decode_guarded(&encoded(jpeg_of(&img), 16, 8), ROOMY).unwrap();
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
    fn a_jpeg_claiming_16384x4096_is_refused_before_allocation() {
        let jpeg = progressive_claiming(16_384, 4096);
        assert!(jpeg.len() < 2048, "{} bytes", jpeg.len());
        // Announced as a small frame: the JPEG's own header gives it away.
        let err = decode_jpeg(&encoded(jpeg.clone(), 1920, 1080), ROOMY).unwrap_err();
        assert!(
            matches!(
                err,
                DecodeError::TooLarge {
                    width: 16_384,
                    height: 4096,
                    ..
                }
            ),
            "{err}"
        );
        // Announced honestly: refused on the announcement alone.
        let err = decode_jpeg(&encoded(jpeg, 16_384, 4096), ROOMY).unwrap_err();
        assert!(matches!(err, DecodeError::TooLarge { .. }), "{err}");
    }

    #[test]
    fn a_frame_larger_than_any_announced_monitor_is_refused() {
        let img = image::RgbImage::new(64, 32);
        let bound = FrameBound::new(63, 32);
        let err = decode_jpeg(&encoded(jpeg_of(&img), 64, 32), bound).unwrap_err();
        assert!(
            matches!(err, DecodeError::TooLarge { width: 64, .. }),
            "{err}"
        );
        assert!(decode_jpeg(&encoded(jpeg_of(&img), 64, 32), FrameBound::new(64, 32)).is_ok());
    }

    #[test]
    fn a_jpeg_larger_than_its_frame_message_is_refused() {
        let img = image::RgbImage::new(64, 64);
        let err = decode_jpeg(&encoded(jpeg_of(&img), 8, 8), ROOMY).unwrap_err();
        assert!(
            matches!(
                err,
                DecodeError::SizeMismatch {
                    announced: (8, 8),
                    actual: (64, 64)
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn a_progressive_jpeg_within_bounds_is_refused_as_not_baseline() {
        let jpeg = progressive_claiming(16, 16);
        let err = decode_jpeg(&encoded(jpeg, 16, 16), ROOMY).unwrap_err();
        assert!(matches!(err, DecodeError::NotBaseline), "{err}");
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for junk in [&b""[..], b"\xff\xd8\xff", b"not a jpeg at all", &[0xff; 64]] {
            assert!(decode_guarded(&encoded(Bytes::copy_from_slice(junk), 1, 1), ROOMY).is_err());
        }
    }

    #[test]
    fn a_panic_in_the_decode_becomes_an_error() {
        let result = guarded(|| panic!("a decoder bug"));
        assert!(matches!(result, Err(DecodeError::Panicked)));
    }

    /// The `viewer_jpeg` fuzz target's seeds (and any saved crash under
    /// `fuzz/regressions/viewer_jpeg/`) replayed in `cargo test`: baseline
    /// seeds decode, the others are refused, none panics; `upstream-*`
    /// inputs (a panic in a dependency, see the fuzz target) are refused
    /// by the guarded decode.
    #[test]
    fn the_fuzz_seeds_decode_or_are_refused_without_a_panic() {
        let fuzz = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
        let mut replayed = 0;
        for dir in ["corpus/viewer_jpeg", "regressions/viewer_jpeg"] {
            let Ok(entries) = std::fs::read_dir(fuzz.join(dir)) else {
                continue;
            };
            for entry in entries.take(1000) {
                let path = entry.unwrap().path();
                let jpeg = Bytes::from(std::fs::read(&path).unwrap());
                let name = path.file_name().unwrap().to_string_lossy().into_owned();
                // Announced at the size the header claims, as the fuzz
                // target does, to reach the full decode.
                let size = match decode_jpeg(&encoded(jpeg.clone(), 1, 1), ROOMY) {
                    Err(DecodeError::SizeMismatch { actual, .. }) => actual,
                    _ => (1, 1),
                };
                if name.starts_with("upstream-") {
                    // A panic inside a dependency that the fuzzer found:
                    // the viewer's own path (guarded) refuses the frame
                    // instead of losing its decode thread.
                    let result = decode_guarded(&encoded(jpeg, size.0, size.1), ROOMY);
                    assert!(result.is_err(), "{name} decoded");
                    replayed += 1;
                    continue;
                }
                let result = decode_jpeg(&encoded(jpeg, size.0, size.1), ROOMY);
                // Colour baseline JPEGs, as the agent sends, decode; the
                // rest (progressive, oversized, greyscale) are refused.
                let decodes = name.starts_with("seed-baseline") && !name.contains("claiming");
                assert_eq!(result.is_ok(), decodes, "{name}: {:?}", result.err());
                replayed += 1;
            }
        }
        assert!(replayed >= 6, "only {replayed} seeds found");
    }
}
