//! Where the image sits in the window: the size of the first window, the
//! letterbox placement, and the mapping of window pixels to frame pixels.
//!
//! Drawing (the `scaler` module) and pointer mapping share one function,
//! [`scale_index`], so the
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

/// The share of the screen (in percent, each side) the first window may
/// take: the rest is left to the window's decorations and the desktop's
/// panels.
pub const SCREEN_SHARE_PERCENT: usize = 90;

/// The bound on the first window when the screen's size is unknown.
pub const UNKNOWN_SCREEN_BOUNDS: (usize, usize) = (1600, 1000);

/// The largest first window for a screen of `screen` pixels (`None`:
/// unknown): [`SCREEN_SHARE_PERCENT`] of each side, or
/// [`UNKNOWN_SCREEN_BOUNDS`].
pub fn window_bounds(screen: Option<(usize, usize)>) -> (usize, usize) {
    match screen {
        Some((w, h)) if w > 0 && h > 0 => (
            (w.saturating_mul(SCREEN_SHARE_PERCENT) / 100).max(1),
            (h.saturating_mul(SCREEN_SHARE_PERCENT) / 100).max(1),
        ),
        _ => UNKNOWN_SCREEN_BOUNDS,
    }
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
    fn the_first_window_fits_inside_the_screen_it_opens_on() {
        // A 4K agent on a 1366x768 laptop: 90% of the screen, aspect kept.
        let (w, h) = window_bounds(Some((1366, 768)));
        assert_eq!((w, h), (1229, 691));
        assert_eq!(initial_window_size(3840, 2160, w, h), (1228, 691));
        // A frame smaller than the screen opens at its own size.
        let (w, h) = window_bounds(Some((2560, 1440)));
        assert_eq!(initial_window_size(1920, 1080, w, h), (1920, 1080));
        // A big screen lets a big frame be big: no fixed 1600x1000 cap.
        let (w, h) = window_bounds(Some((5120, 2880)));
        assert_eq!(initial_window_size(3840, 2160, w, h), (3840, 2160));
        // A portrait screen.
        let (w, h) = window_bounds(Some((1080, 1920)));
        assert_eq!(initial_window_size(1920, 1080, w, h), (972, 547));
    }

    #[test]
    fn an_unknown_screen_keeps_the_old_bound() {
        assert_eq!(window_bounds(None), (1600, 1000));
        assert_eq!(window_bounds(Some((0, 1080))), (1600, 1000));
        assert_eq!(
            initial_window_size(3840, 2160, 1600, 1000),
            initial_window_size(3840, 2160, window_bounds(None).0, window_bounds(None).1)
        );
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
}
