//! Drawing a frame into the window's buffer: scaled into its letterbox
//! [`Placement`], black bars around it.

use crate::layout::{Placement, fit, scale_index};

/// Draws frames into a window-sized `0RGB` buffer: the frame scaled into its
/// [`Placement`], black everywhere else.
///
/// At the frame's own size rows are copied as they are. Smaller than the
/// frame (the usual case: a remote screen in a window), a SIMD filter
/// (fast_image_resize, bilinear) averages the pixels, so text stays legible
/// instead of losing whole rows and columns. Larger than the frame, pixels
/// are repeated (nearest neighbour), which keeps them crisp. Buffers and the
/// column table are kept between calls, since sizes rarely change.
#[derive(Default)]
pub struct Scaler {
    columns: Vec<usize>,
    columns_for: (usize, usize),
    resizer: fast_image_resize::Resizer,
    scaled: Vec<u32>,
}

impl std::fmt::Debug for Scaler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scaler")
            .field("columns_for", &self.columns_for)
            .finish_non_exhaustive()
    }
}

impl Scaler {
    /// A scaler with nothing cached yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Draws `src` (`src_w` x `src_h`, row-major) into `dst` (`dst_w` x
    /// `dst_h`) and returns where it went. Sizes that do not match their
    /// buffers draw nothing but black and return `None`.
    pub fn render(
        &mut self,
        src: &[u32],
        (src_w, src_h): (usize, usize),
        dst: &mut [u32],
        (dst_w, dst_h): (usize, usize),
    ) -> Option<Placement> {
        let dst_len = dst_w.checked_mul(dst_h)?;
        let dst = dst.get_mut(..dst_len)?;
        let placement = match fit(src_w, src_h, dst_w, dst_h) {
            Some(p) if src_w.checked_mul(src_h) == Some(src.len()) => p,
            _ => {
                dst.fill(0);
                return None;
            }
        };
        if (placement.w < src_w || placement.h < src_h)
            && self.downscale(src, (src_w, src_h), placement)
        {
            blit(
                &self.scaled,
                (placement.w, placement.h),
                dst,
                dst_w,
                placement,
                &[],
            );
            return Some(placement);
        }
        if self.columns_for != (placement.w, src_w) {
            self.columns.clear();
            self.columns
                .extend((0..placement.w).map(|x| scale_index(x, placement.w, src_w)));
            self.columns_for = (placement.w, src_w);
        }
        blit(src, (src_w, src_h), dst, dst_w, placement, &self.columns);
        Some(placement)
    }

    /// Downscales `src` into `self.scaled` (the placement's size) with the
    /// SIMD filter; `false` if the resizer refuses (the caller then falls
    /// back to nearest neighbour).
    fn downscale(
        &mut self,
        src: &[u32],
        (src_w, src_h): (usize, usize),
        placement: Placement,
    ) -> bool {
        use fast_image_resize::images::{Image, ImageRef};
        use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions};
        let dim = |n: usize| u32::try_from(n).ok();
        let resized = (|| {
            let source = ImageRef::new(
                dim(src_w)?,
                dim(src_h)?,
                bytemuck::cast_slice(src),
                PixelType::U8x4,
            )
            .ok()?;
            self.scaled.resize(placement.w * placement.h, 0);
            let mut target = Image::from_slice_u8(
                dim(placement.w)?,
                dim(placement.h)?,
                bytemuck::cast_slice_mut(&mut self.scaled),
                PixelType::U8x4,
            )
            .ok()?;
            // Each byte is filtered on its own, so the 0RGB order does not
            // matter; the fourth byte is padding, not alpha to multiply by.
            let options = ResizeOptions::new()
                .resize_alg(ResizeAlg::Convolution(FilterType::Bilinear))
                .use_alpha(false);
            self.resizer.resize(&source, &mut target, &options).ok()
        })();
        resized.is_some()
    }
}

/// Draws `src` into its placement in the window-sized `dst`, black around
/// it: rows are copied when the widths match, else picked by `columns`
/// (nearest neighbour, rows likewise).
fn blit(
    src: &[u32],
    (src_w, src_h): (usize, usize),
    dst: &mut [u32],
    dst_w: usize,
    placement: Placement,
    columns: &[usize],
) {
    for (row_index, row) in dst.chunks_exact_mut(dst_w).enumerate() {
        let Some(image_row) = row_index
            .checked_sub(placement.y)
            .filter(|&r| r < placement.h)
        else {
            row.fill(0);
            continue;
        };
        let sy = scale_index(image_row, placement.h, src_h);
        let src_row = src.get(sy * src_w..(sy + 1) * src_w).unwrap_or_default();
        let (left, rest) = row.split_at_mut(placement.x);
        left.fill(0);
        let (image, right) = rest.split_at_mut(placement.w);
        right.fill(0);
        if src_row.len() == image.len() {
            image.copy_from_slice(src_row);
        } else {
            for (pixel, &sx) in image.iter_mut().zip(columns) {
                *pixel = src_row.get(sx).copied().unwrap_or(0);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::window_to_frame;

    #[test]
    fn render_letterboxes_with_black_bars() {
        // A 2x1 frame (red, blue) in a 4x4 window: rows 1..3 hold the image.
        let src = [0x00ff_0000, 0x0000_00ff];
        let mut dst = vec![0xdead_beef; 16];
        let p = Scaler::new()
            .render(&src, (2, 1), &mut dst, (4, 4))
            .unwrap();
        assert_eq!(
            p,
            Placement {
                x: 0,
                y: 1,
                w: 4,
                h: 2
            }
        );
        let red = 0x00ff_0000;
        let blue = 0x0000_00ff;
        #[rustfmt::skip]
        let expected = vec![
            0, 0, 0, 0,
            red, red, blue, blue,
            red, red, blue, blue,
            0, 0, 0, 0,
        ];
        assert_eq!(dst, expected);
    }

    #[test]
    fn render_shows_under_the_pointer_what_the_pointer_maps_to() {
        let (sw, sh) = (37, 23);
        let src: Vec<u32> = (0..(sw * sh) as u32).collect();
        let (dw, dh) = (101, 77);
        let mut dst = vec![0; dw * dh];
        let p = Scaler::new()
            .render(&src, (sw, sh), &mut dst, (dw, dh))
            .unwrap();
        for wy in 0..dh {
            for wx in 0..dw {
                let shown = dst[wy * dw + wx];
                match window_to_frame(p, sw, sh, (wx as f32, wy as f32)) {
                    Some((fx, fy)) => assert_eq!(shown, fy as u32 * sw as u32 + fx as u32),
                    None => assert_eq!(shown, 0),
                }
            }
        }
    }

    #[test]
    fn a_smaller_window_averages_pixels_instead_of_dropping_them() {
        // One-pixel black and white columns, shown at half the width:
        // averaging gives grey everywhere; dropping every other column would
        // give solid black or solid white.
        let (sw, sh) = (64, 32);
        let src: Vec<u32> = (0..sw * sh)
            .map(|i| if i % 2 == 0 { 0 } else { 0x00ff_ffff })
            .collect();
        let (dw, dh) = (32, 16);
        let mut dst = vec![0; dw * dh];
        let p = Scaler::new()
            .render(&src, (sw, sh), &mut dst, (dw, dh))
            .unwrap();
        assert_eq!((p.w, p.h), (32, 16));
        for &px in &dst[dw * 2..dw * 14] {
            let [zero, r, g, b] = px.to_be_bytes();
            assert_eq!(zero, 0);
            for c in [r, g, b] {
                assert!((96..=160).contains(&c), "{px:#08x}");
            }
        }
    }

    #[test]
    fn render_refuses_buffers_that_do_not_match_their_sizes() {
        let mut dst = vec![7; 4];
        assert_eq!(
            Scaler::new().render(&[1, 2, 3], (2, 2), &mut dst, (2, 2)),
            None
        );
        assert_eq!(dst, vec![0; 4]);
        assert_eq!(Scaler::new().render(&[1], (1, 1), &mut dst, (3, 3)), None);
    }
}
