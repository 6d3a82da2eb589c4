//! Scaling pictures down for a rendition ([`crate::rendition`]), and
//! carrying what changed in a picture over to its scaled copy.
//!
//! The scaler is fast_image_resize's SIMD convolution (bilinear, which
//! averages every source pixel under a target pixel when shrinking, so
//! text stays legible). It runs where pictures are encoded: on the
//! pipeline's threads or the runtime's blocking pool, never on the async
//! executor.

use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};

use crate::capture::CapturedImage;
use crate::regions::{Rect, TileGrid};

/// Why a picture could not be scaled.
#[derive(Debug, thiserror::Error)]
#[error("cannot scale {from_w}x{from_h} to {to_w}x{to_h}: {why}")]
pub struct ScaleError {
    from_w: u32,
    from_h: u32,
    to_w: u32,
    to_h: u32,
    why: String,
}

/// `image` scaled to `width` x `height` (down, in practice), its pixels in
/// the same order.
pub fn scale(
    image: &CapturedImage,
    (width, height): (u32, u32),
) -> Result<CapturedImage, ScaleError> {
    let error = |why: String| ScaleError {
        from_w: image.width,
        from_h: image.height,
        to_w: width,
        to_h: height,
        why,
    };
    let source = ImageRef::new(image.width, image.height, &image.pixels, PixelType::U8x4)
        .map_err(|e| error(e.to_string()))?;
    let mut target = Image::new(width, height, PixelType::U8x4);
    // Each byte is filtered on its own, so BGRX or RGBA alike; the fourth
    // byte is padding or opaque alpha, nothing to multiply by.
    let options = ResizeOptions::new()
        .resize_alg(ResizeAlg::Convolution(FilterType::Bilinear))
        .use_alpha(false);
    Resizer::new()
        .resize(&source, &mut target, &options)
        .map_err(|e| error(e.to_string()))?;
    Ok(CapturedImage {
        width,
        height,
        pixels: target.into_vec(),
        order: image.order,
    })
}

/// Scales again only the parts `rects` of `scaled` (a copy of an earlier
/// picture scaled to its size) from `image`, the picture now: each part is
/// the scaled image's own pixels there, computed with the same filter from
/// the same source pixels as [`scale`] computes them for the whole (the
/// filter reads the source beyond each part's edges), so no seam shows.
pub fn rescale_parts(
    image: &CapturedImage,
    scaled: &mut CapturedImage,
    rects: &[Rect],
) -> Result<(), ScaleError> {
    let error = |why: String| ScaleError {
        from_w: image.width,
        from_h: image.height,
        to_w: scaled.width,
        to_h: scaled.height,
        why,
    };
    let source = ImageRef::new(image.width, image.height, &image.pixels, PixelType::U8x4)
        .map_err(|e| error(e.to_string()))?;
    let sx = f64::from(image.width) / f64::from(scaled.width.max(1));
    let sy = f64::from(image.height) / f64::from(scaled.height.max(1));
    let mut resizer = Resizer::new();
    let pitch = scaled.width as usize * 4;
    for rect in rects {
        let inside = rect.x.saturating_add(rect.width) <= scaled.width
            && rect.y.saturating_add(rect.height) <= scaled.height;
        if !inside || rect.width == 0 || rect.height == 0 {
            return Err(error(format!("part {rect:?} outside")));
        }
        let mut part = Image::new(rect.width, rect.height, PixelType::U8x4);
        let options = ResizeOptions::new()
            .resize_alg(ResizeAlg::Convolution(FilterType::Bilinear))
            .use_alpha(false)
            .crop(
                f64::from(rect.x) * sx,
                f64::from(rect.y) * sy,
                f64::from(rect.width) * sx,
                f64::from(rect.height) * sy,
            );
        resizer
            .resize(&source, &mut part, &options)
            .map_err(|e| error(e.to_string()))?;
        let row = rect.width as usize * 4;
        for (y, src) in part.buffer().chunks_exact(row).enumerate() {
            let start = (rect.y as usize + y) * pitch + rect.x as usize * 4;
            if let Some(dst) = scaled.pixels.get_mut(start..start + row) {
                dst.copy_from_slice(src);
            }
        }
    }
    Ok(())
}

/// The tiles of `to` (a grid over the scaled picture) that a change of
/// `rects` in the picture of size `from` can reach, as one flag per tile.
///
/// A scaled pixel averages the source pixels under it and, with the
/// bilinear filter, up to one scaled pixel's worth beyond each side; two
/// scaled pixels of margin on each side therefore cover every pixel a
/// change touches, so that updating these tiles makes the viewer's scaled
/// picture equal the scaled screen again.
pub fn scaled_tiles(rects: &[Rect], from: (u32, u32), to: &TileGrid) -> Vec<bool> {
    const MARGIN: u64 = 2;
    let (to_w, to_h) = to.size();
    let mut dirty = vec![false; to.len()];
    let axis = |start: u32, len: u32, from: u32, to: u32| -> (u32, u32) {
        let (from, to) = (u64::from(from.max(1)), u64::from(to));
        let first = (u64::from(start) * to / from).saturating_sub(MARGIN);
        let end = (u64::from(start) + u64::from(len)) * to;
        let last = (end.div_ceil(from) + MARGIN).min(to);
        (
            u32::try_from(first).unwrap_or(u32::MAX),
            u32::try_from(last).unwrap_or(u32::MAX),
        )
    };
    let tile = crate::regions::TILE;
    for rect in rects.iter().filter(|r| r.width > 0 && r.height > 0) {
        let (x0, x1) = axis(rect.x, rect.width, from.0, to_w);
        let (y0, y1) = axis(rect.y, rect.height, from.1, to_h);
        if x0 >= x1 || y0 >= y1 {
            continue;
        }
        for row in y0 / tile..y1.div_ceil(tile) {
            for col in x0 / tile..x1.div_ceil(tile) {
                if let Some(flag) = usize::try_from(row * to.cols() + col)
                    .ok()
                    .and_then(|i| dirty.get_mut(i))
                {
                    *flag = true;
                }
            }
        }
    }
    dirty
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::PixelOrder;

    fn pixel(image: &CapturedImage, x: u32, y: u32) -> [u8; 4] {
        let i = ((y * image.width + x) * 4) as usize;
        image.pixels[i..i + 4].try_into().unwrap()
    }

    #[test]
    fn a_scaled_picture_keeps_its_colours_order_and_padding_byte_alone() {
        // Left half red, right half blue, BGRX with a zero padding byte
        // (which must not be taken for a transparent alpha).
        let (w, h) = (64, 32);
        let mut pixels = Vec::new();
        for _y in 0..h {
            for x in 0..w {
                pixels.extend_from_slice(if x < w / 2 {
                    &[0, 0, 255, 0]
                } else {
                    &[255, 0, 0, 0]
                });
            }
        }
        let image = CapturedImage {
            width: w,
            height: h,
            pixels,
            order: PixelOrder::Bgrx,
        };
        let half = scale(&image, (32, 16)).unwrap();
        assert_eq!(
            (half.width, half.height, half.order),
            (32, 16, PixelOrder::Bgrx)
        );
        assert_eq!(pixel(&half, 2, 8), [0, 0, 255, 0]);
        assert_eq!(pixel(&half, 29, 8), [255, 0, 0, 0]);
        // At the edge between them, a blend of both.
        let edge = pixel(&half, 15, 8);
        assert!(edge[0] < 255 && edge[2] < 255, "{edge:?}");
    }

    #[test]
    fn a_change_reaches_the_scaled_tiles_under_it_and_their_neighbours_edges() {
        // 1920x1080 to 480x270 (a quarter): 30x17 tiles of 16.
        let to = TileGrid::new(480, 270);
        let one = |x, y, width, height| Rect {
            x,
            y,
            width,
            height,
        };
        // One glyph well inside scaled tile (5, 5): only that tile.
        let dirty = scaled_tiles(&[one(5 * 64 + 20, 5 * 64 + 20, 8, 16)], (1920, 1080), &to);
        let flagged: Vec<usize> = dirty
            .iter()
            .enumerate()
            .filter(|(_, d)| **d)
            .map(|(i, _)| i)
            .collect();
        assert_eq!(flagged, [5 * 30 + 5]);
        // One on the border of scaled tiles 5 and 6: the margin takes both.
        let dirty = scaled_tiles(&[one(6 * 64 - 2, 5 * 64 + 20, 4, 4)], (1920, 1080), &to);
        assert!(dirty[5 * 30 + 5] && dirty[5 * 30 + 6]);
        // The bottom-right corner stays inside the grid.
        let dirty = scaled_tiles(&[one(1900, 1070, 20, 10)], (1920, 1080), &to);
        assert!(dirty[to.len() - 1]);
        assert_eq!(dirty.len(), to.len());
    }

    #[test]
    fn rescaled_parts_equal_the_whole_picture_scaled() {
        let (w, h) = (400, 300);
        let before: Vec<u8> = (0..w * h)
            .flat_map(|i| {
                [
                    (i % 251) as u8,
                    (i % 13 * 19) as u8,
                    (i / 7 % 256) as u8,
                    255,
                ]
            })
            .collect();
        let mut after = before.clone();
        for px in after.chunks_exact_mut(4).skip(150 * 400).take(9000) {
            px[0] = 255 - px[0];
        }
        let before = CapturedImage::rgba(w, h, before);
        let after = CapturedImage::rgba(w, h, after);
        for size in [(157, 118), (200, 150), (399, 299)] {
            let mut parts = scale(&before, size).unwrap();
            let whole = scale(&after, size).unwrap();
            // Everything, in odd pieces.
            let (sw, sh) = size;
            let rects = [
                Rect {
                    x: 0,
                    y: 0,
                    width: 37,
                    height: sh,
                },
                Rect {
                    x: 37,
                    y: 0,
                    width: sw - 37,
                    height: 50,
                },
                Rect {
                    x: 37,
                    y: 50,
                    width: sw - 37,
                    height: sh - 50,
                },
            ];
            rescale_parts(&after, &mut parts, &rects).unwrap();
            let differing = parts
                .pixels
                .iter()
                .zip(&whole.pixels)
                .filter(|(a, b)| a != b)
                .count();
            assert_eq!(differing, 0, "{size:?}: parts differ from the whole");
        }
    }

    #[test]
    fn every_scaled_pixel_a_change_alters_is_in_a_flagged_tile() {
        // Scale a picture before and after a small change, and check that
        // every scaled pixel that differs lies in a flagged tile.
        let (w, h) = (400, 300);
        let to_size = (157, 118);
        let grid = TileGrid::new(to_size.0, to_size.1);
        let base: Vec<u8> = (0..w * h)
            .flat_map(|i| {
                [
                    (i % 251) as u8,
                    (i % 13 * 19) as u8,
                    (i / 7 % 256) as u8,
                    255,
                ]
            })
            .collect();
        for (k, change) in [
            (37, 41, 3, 2),
            (0, 0, 1, 1),
            (399, 299, 1, 1),
            (120, 7, 90, 1),
        ]
        .into_iter()
        .enumerate()
        {
            let (x, y, cw, ch) = change;
            let mut after = base.clone();
            for yy in y..y + ch {
                for xx in x..x + cw {
                    let i = ((yy * w + xx) * 4) as usize;
                    let inverted = 255 - after[i];
                    after[i..i + 3].copy_from_slice(&[inverted, 0, 255]);
                }
            }
            let a = scale(&CapturedImage::rgba(w, h, base.clone()), to_size).unwrap();
            let b = scale(&CapturedImage::rgba(w, h, after), to_size).unwrap();
            let dirty = scaled_tiles(
                &[Rect {
                    x,
                    y,
                    width: cw,
                    height: ch,
                }],
                (w, h),
                &grid,
            );
            for sy in 0..to_size.1 {
                for sx in 0..to_size.0 {
                    if pixel(&a, sx, sy) != pixel(&b, sx, sy) {
                        let tile = (sy / 16 * grid.cols() + sx / 16) as usize;
                        assert!(
                            dirty[tile],
                            "change {k}: scaled pixel ({sx},{sy}) changed outside the flagged tiles"
                        );
                    }
                }
            }
        }
    }
}
