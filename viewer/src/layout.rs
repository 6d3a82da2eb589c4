//! Where the image sits in the window: the letterbox placement, the mapping
//! of window pixels to frame pixels, and the nearest-neighbour scaler that
//! draws the frame into the window buffer.
//!
//! Drawing and pointer mapping share one function, [`scale_index`], so the
//! frame pixel under the pointer is exactly the one the agent is told about.
//! The mapping is endpoint-aligned: the first window pixel of the image maps
//! to frame pixel 0 and the last to `width - 1`, whether the image is scaled
//! up or down.
//!
//! ```text
//!  window (win_w x win_h)
//!  +-------------------------------+
//!  |            black bar          |
//!  |  (x,y)+-----------------+     |
//!  |       |  frame, scaled  | h   |
//!  |       +-----------------+     |
//!  |                w              |
//!  +-------------------------------+
//! ```

/// The rectangle of the window the frame is drawn into, in window pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    /// Left edge.
    pub x: usize,
    /// Top edge.
    pub y: usize,
    /// Width, at least 1.
    pub w: usize,
    /// Height, at least 1.
    pub h: usize,
}

/// The largest rectangle with the frame's aspect ratio that fits the window,
/// centred (letterboxed). `None` when either size has a zero side.
pub fn fit(frame_w: usize, frame_h: usize, win_w: usize, win_h: usize) -> Option<Placement> {
    if frame_w == 0 || frame_h == 0 || win_w == 0 || win_h == 0 {
        return None;
    }
    let (fw, fh, ww, wh) = (
        frame_w as u128,
        frame_h as u128,
        win_w as u128,
        win_h as u128,
    );
    // Compare aspect ratios without floating point: fw/fh >= ww/wh.
    let (w, h) = if fw * wh >= ww * fh {
        // Relatively wider than the window: full width, bars top and bottom.
        (ww, ((fh * ww + fw / 2) / fw).clamp(1, wh))
    } else {
        // Relatively taller: full height, bars left and right.
        (((fw * wh + fh / 2) / fh).clamp(1, ww), wh)
    };
    // Both are at most the window's sides, which are `usize`.
    let (w, h) = (w as usize, h as usize);
    Some(Placement {
        x: (win_w - w) / 2,
        y: (win_h - h) / 2,
        w,
        h,
    })
}

/// The window size to open for a frame: the frame's own size, shrunk (aspect
/// kept) when it exceeds `max_w` x `max_h`.
pub fn initial_window_size(
    frame_w: usize,
    frame_h: usize,
    max_w: usize,
    max_h: usize,
) -> (usize, usize) {
    if frame_w <= max_w && frame_h <= max_h {
        return (frame_w.max(1), frame_h.max(1));
    }
    fit(frame_w, frame_h, max_w, max_h).map_or((max_w.max(1), max_h.max(1)), |p| (p.w, p.h))
}

/// Maps index `i` of `dst_len` pixels to one of `src_len` pixels, rounding
/// to the nearest and aligning both ends (0 -> 0, `dst_len - 1` ->
/// `src_len - 1`).
pub fn scale_index(i: usize, dst_len: usize, src_len: usize) -> usize {
    if dst_len <= 1 || src_len <= 1 {
        return 0;
    }
    let (i, d, s) = (i as u128, (dst_len - 1) as u128, (src_len - 1) as u128);
    let mapped = (i * s + d / 2) / d;
    // At most `src_len - 1` for `i < dst_len`; the `min` covers other `i`.
    (mapped.min(s)) as usize
}

/// The frame pixel under window position `(wx, wy)`, or `None` when the
/// position is on a black bar or outside the window.
pub fn window_to_frame(
    placement: Placement,
    frame_w: usize,
    frame_h: usize,
    (wx, wy): (f32, f32),
) -> Option<(i32, i32)> {
    if frame_w == 0 || frame_h == 0 || !wx.is_finite() || !wy.is_finite() {
        return None;
    }
    let ix = (f64::from(wx) - placement.x as f64).floor();
    let iy = (f64::from(wy) - placement.y as f64).floor();
    if ix < 0.0 || iy < 0.0 || ix >= placement.w as f64 || iy >= placement.h as f64 {
        return None;
    }
    // In range by the checks above.
    let (ix, iy) = (ix as usize, iy as usize);
    let fx = i32::try_from(scale_index(ix, placement.w, frame_w)).ok()?;
    let fy = i32::try_from(scale_index(iy, placement.h, frame_h)).ok()?;
    Some((fx, fy))
}

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

    #[test]
    fn same_aspect_fills_the_window() {
        assert_eq!(
            fit(1920, 1080, 960, 540),
            Some(Placement {
                x: 0,
                y: 0,
                w: 960,
                h: 540
            })
        );
    }

    #[test]
    fn wide_frame_in_tall_window_gets_bars_top_and_bottom() {
        // 16:9 into 800x800: 800x450, 175 px bars above and below.
        assert_eq!(
            fit(1600, 900, 800, 800),
            Some(Placement {
                x: 0,
                y: 175,
                w: 800,
                h: 450
            })
        );
    }

    #[test]
    fn tall_frame_in_wide_window_gets_bars_left_and_right() {
        assert_eq!(
            fit(600, 800, 1000, 400),
            Some(Placement {
                x: 350,
                y: 0,
                w: 300,
                h: 400
            })
        );
    }

    #[test]
    fn zero_sizes_have_no_placement() {
        assert_eq!(fit(0, 10, 10, 10), None);
        assert_eq!(fit(10, 10, 10, 0), None);
    }

    #[test]
    fn extreme_aspect_keeps_at_least_one_pixel() {
        let p = fit(10_000, 1, 100, 100).unwrap();
        assert_eq!((p.w, p.h), (100, 1));
        let p = fit(1, 10_000, 100, 100).unwrap();
        assert_eq!((p.w, p.h), (1, 100));
    }

    #[test]
    fn initial_size_is_the_frame_capped_with_aspect_kept() {
        assert_eq!(initial_window_size(1280, 720, 1600, 1000), (1280, 720));
        assert_eq!(initial_window_size(3840, 2160, 1600, 1000), (1600, 900));
        assert_eq!(initial_window_size(1080, 1920, 1600, 1000), (563, 1000));
    }

    #[test]
    fn scale_index_aligns_both_ends() {
        for (dst, src) in [(10, 100), (100, 10), (7, 7), (1920, 1280), (2, 3)] {
            assert_eq!(scale_index(0, dst, src), 0);
            assert_eq!(scale_index(dst - 1, dst, src), src - 1, "{dst}->{src}");
        }
        assert_eq!(scale_index(5, 1, 100), 0);
        assert_eq!(scale_index(5, 100, 1), 0);
        assert_eq!(scale_index(500, 100, 10), 9);
    }

    #[test]
    fn scale_index_is_monotonic() {
        let mut last = 0;
        for i in 0..1000 {
            let s = scale_index(i, 1000, 333);
            assert!(s >= last);
            last = s;
        }
    }

    /// 1600x900 frame in an 800x800 window: image rows 175..625.
    const LETTERBOX: Placement = Placement {
        x: 0,
        y: 175,
        w: 800,
        h: 450,
    };

    #[test]
    fn pointer_on_bars_top_and_bottom_maps_to_nothing() {
        assert_eq!(window_to_frame(LETTERBOX, 1600, 900, (400.0, 10.0)), None);
        assert_eq!(window_to_frame(LETTERBOX, 1600, 900, (400.0, 174.9)), None);
        assert_eq!(window_to_frame(LETTERBOX, 1600, 900, (400.0, 625.0)), None);
        assert_eq!(window_to_frame(LETTERBOX, 1600, 900, (400.0, 799.0)), None);
    }

    #[test]
    fn image_corners_map_to_frame_corners() {
        let map = |p| window_to_frame(LETTERBOX, 1600, 900, p);
        assert_eq!(map((0.0, 175.0)), Some((0, 0)));
        assert_eq!(map((799.0, 175.0)), Some((1599, 0)));
        assert_eq!(map((0.0, 624.0)), Some((0, 899)));
        assert_eq!(map((799.0, 624.0)), Some((1599, 899)));
        assert_eq!(map((799.9, 624.9)), Some((1599, 899)));
    }

    #[test]
    fn pointer_on_bars_left_and_right_maps_to_nothing() {
        let p = fit(600, 800, 1000, 400).unwrap();
        assert_eq!(window_to_frame(p, 600, 800, (349.0, 200.0)), None);
        assert_eq!(window_to_frame(p, 600, 800, (650.0, 200.0)), None);
        assert_eq!(window_to_frame(p, 600, 800, (350.0, 0.0)), Some((0, 0)));
        assert_eq!(
            window_to_frame(p, 600, 800, (649.0, 399.0)),
            Some((599, 799))
        );
        assert_eq!(
            window_to_frame(p, 600, 800, (500.0, 200.0)),
            Some((301, 401))
        );
    }

    #[test]
    fn mapping_follows_a_resize() {
        // The same frame point before and after the window grows.
        let small = fit(1000, 500, 500, 250).unwrap();
        let large = fit(1000, 500, 2000, 2000).unwrap();
        assert_eq!((large.y, large.h), (500, 1000));
        assert_eq!(
            window_to_frame(small, 1000, 500, (250.0, 125.0)),
            Some((501, 251))
        );
        assert_eq!(
            window_to_frame(large, 1000, 500, (1000.0, 1000.0)),
            Some((500, 250))
        );
        assert_eq!(window_to_frame(large, 1000, 500, (1000.0, 100.0)), None);
    }

    #[test]
    fn positions_outside_the_window_or_not_finite_map_to_nothing() {
        let full = fit(100, 100, 100, 100).unwrap();
        assert_eq!(window_to_frame(full, 100, 100, (-0.5, 5.0)), None);
        assert_eq!(window_to_frame(full, 100, 100, (100.0, 5.0)), None);
        assert_eq!(window_to_frame(full, 100, 100, (f32::NAN, 5.0)), None);
        assert_eq!(window_to_frame(full, 0, 100, (5.0, 5.0)), None);
        assert_eq!(window_to_frame(full, 100, 100, (5.5, 5.5)), Some((5, 5)));
    }

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
