//! What a `frame` message may announce: its JPEG quality, and for a region
//! update (feature `regions`) the rectangles its images paint.
//!
//! ```text
//! {"type":"frame","seq":9,"width":1920,"height":1080,"captured_at_us":T,"quality":75,
//!  "rects":[[0,0,64,32],[640,480,128,16]]}        then one HT per rect, in order
//! ```
//!
//! [`check_frame`] is the rule both ends apply: the server before it sends
//! (a frame that fails is never encoded), the viewer before it paints (a
//! frame that fails is a protocol error and closes the connection).

use serde::{Deserialize, Serialize};

use crate::settings::STREAM_QUALITY_RANGE;

/// Most rects one region update may carry.
///
/// Each rect costs its own JPEG (about 600 bytes of headers before any
/// pixel) and its own decode on the viewer, so past a few hundred rects one
/// full frame is both smaller and cheaper, and a sender that merges dirty
/// tiles into rects sends a full frame instead long before this. 1024 still
/// leaves room for a scattered update (a 1920x1080 screen has 510 tiles of
/// 64x64 pixels), while it bounds what one `frame` message can make a viewer
/// hold and check: the pairwise overlap check stays under a million
/// comparisons. (The control-frame limit alone would allow about 6500
/// `[x,y,w,h]` entries.)
pub const MAX_RECTS: usize = 1024;

/// One rectangle of a region update, `[x, y, width, height]` on the wire,
/// in the pixels of the frame (`frame.width` x `frame.height`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "[u32; 4]", into = "[u32; 4]")]
pub struct Rect {
    /// Left edge.
    pub x: u32,
    /// Top edge.
    pub y: u32,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
}

impl Rect {
    /// The rect at (`x`, `y`) of `width` x `height`.
    pub const fn new(x: u32, y: u32, width: u32, height: u32) -> Self {
        Self {
            x,
            y,
            width,
            height,
        }
    }

    /// One past the right edge, without overflow.
    fn right(&self) -> u64 {
        u64::from(self.x) + u64::from(self.width)
    }

    /// One past the bottom edge, without overflow.
    fn bottom(&self) -> u64 {
        u64::from(self.y) + u64::from(self.height)
    }

    /// Whether the two share at least one pixel (touching edges do not).
    pub fn overlaps(&self, other: &Rect) -> bool {
        u64::from(self.x) < other.right()
            && u64::from(other.x) < self.right()
            && u64::from(self.y) < other.bottom()
            && u64::from(other.y) < self.bottom()
    }
}

impl From<[u32; 4]> for Rect {
    fn from([x, y, width, height]: [u32; 4]) -> Self {
        Self::new(x, y, width, height)
    }
}

impl From<Rect> for [u32; 4] {
    fn from(r: Rect) -> Self {
        [r.x, r.y, r.width, r.height]
    }
}

impl std::fmt::Display for Rect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}x{} at ({}, {})",
            self.width, self.height, self.x, self.y
        )
    }
}

/// Why a `frame` message announces something no image can match.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidFrame {
    /// `quality` is not a JPEG quality (1..=100).
    #[error("quality {0} is outside 1..=100")]
    Quality(u8),
    /// `rects` is present but empty.
    #[error("a region update with no rects")]
    NoRects,
    /// More rects than [`MAX_RECTS`].
    #[error("{0} rects, more than the {MAX_RECTS} a region update may carry")]
    TooManyRects(usize),
    /// A rect of no pixels.
    #[error("rect {index} ({rect}) is empty")]
    EmptyRect {
        /// Its position in `rects`.
        index: usize,
        /// The rect.
        rect: Rect,
    },
    /// A rect not wholly inside the frame.
    #[error("rect {index} ({rect}) reaches outside the {width}x{height} frame")]
    Outside {
        /// Its position in `rects`.
        index: usize,
        /// The rect.
        rect: Rect,
        /// The frame's width.
        width: u32,
        /// The frame's height.
        height: u32,
    },
    /// Two rects share a pixel.
    #[error("rects {first} and {second} overlap")]
    Overlap {
        /// The lower index.
        first: usize,
        /// The higher index.
        second: usize,
    },
}

/// Checks a `frame` message's `quality`, and its `rects` when present; see
/// [`check_rects`].
pub fn check_frame(
    width: u32,
    height: u32,
    quality: u8,
    rects: Option<&[Rect]>,
) -> Result<(), InvalidFrame> {
    if !STREAM_QUALITY_RANGE.contains(&u32::from(quality)) {
        return Err(InvalidFrame::Quality(quality));
    }
    match rects {
        Some(rects) => check_rects(rects, width, height),
        None => Ok(()),
    }
}

/// Checks a region update's rects: at least one and at most [`MAX_RECTS`],
/// none empty, each inside `width` x `height` (edges computed without
/// overflow), no two sharing a pixel (touching is fine).
///
/// Overlap is found by a sweep over the rects sorted by left edge: a rect
/// is compared only with those that start before it ends, so scattered
/// rects cost about `n log n`, and [`MAX_RECTS`] bounds the worst case.
pub fn check_rects(rects: &[Rect], width: u32, height: u32) -> Result<(), InvalidFrame> {
    if rects.is_empty() {
        return Err(InvalidFrame::NoRects);
    }
    if rects.len() > MAX_RECTS {
        return Err(InvalidFrame::TooManyRects(rects.len()));
    }
    for (index, rect) in rects.iter().enumerate() {
        let rect = *rect;
        if rect.width == 0 || rect.height == 0 {
            return Err(InvalidFrame::EmptyRect { index, rect });
        }
        if rect.right() > u64::from(width) || rect.bottom() > u64::from(height) {
            return Err(InvalidFrame::Outside {
                index,
                rect,
                width,
                height,
            });
        }
    }
    let mut by_left: Vec<(usize, &Rect)> = rects.iter().enumerate().collect();
    by_left.sort_unstable_by_key(|(_, r)| r.x);
    for (i, (a_index, a)) in by_left.iter().enumerate() {
        for (b_index, b) in by_left.iter().skip(i + 1) {
            if u64::from(b.x) >= a.right() {
                break;
            }
            if a.overlaps(b) {
                return Err(InvalidFrame::Overlap {
                    first: (*a_index).min(*b_index),
                    second: (*a_index).max(*b_index),
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(x: u32, y: u32, w: u32, h: u32) -> Rect {
        Rect::new(x, y, w, h)
    }

    #[test]
    fn rects_that_touch_at_edges_and_corners_pass() {
        let rects = [
            r(0, 0, 10, 10),
            r(10, 0, 10, 10),
            r(0, 10, 10, 10),
            r(10, 10, 10, 10),
        ];
        assert_eq!(check_rects(&rects, 20, 20), Ok(()));
        // Exactly filling the frame, to the last pixel.
        assert_eq!(check_rects(&[r(0, 0, 20, 20)], 20, 20), Ok(()));
        assert_eq!(check_rects(&[r(19, 19, 1, 1)], 20, 20), Ok(()));
    }

    #[test]
    fn overlapping_rects_are_refused_by_index() {
        let rects = [r(0, 0, 10, 10), r(50, 50, 5, 5), r(9, 9, 2, 2)];
        assert_eq!(
            check_rects(&rects, 100, 100),
            Err(InvalidFrame::Overlap {
                first: 0,
                second: 2
            })
        );
        // One inside another, and the same rect twice.
        assert!(check_rects(&[r(0, 0, 10, 10), r(2, 2, 1, 1)], 10, 10).is_err());
        assert!(check_rects(&[r(3, 3, 1, 1), r(3, 3, 1, 1)], 10, 10).is_err());
        // A tall rect overlapped by a later-starting wide one (the sweep must
        // not stop at the first rect that misses vertically).
        let rects = [r(0, 0, 100, 1), r(1, 5, 1, 1), r(50, 0, 1, 1)];
        assert!(check_rects(&rects, 100, 100).is_err());
    }

    #[test]
    fn empty_rects_and_empty_lists_are_refused() {
        assert_eq!(check_rects(&[], 10, 10), Err(InvalidFrame::NoRects));
        assert!(matches!(
            check_rects(&[r(0, 0, 0, 5)], 10, 10),
            Err(InvalidFrame::EmptyRect { index: 0, .. })
        ));
        assert!(matches!(
            check_rects(&[r(0, 0, 1, 1), r(5, 5, 5, 0)], 10, 10),
            Err(InvalidFrame::EmptyRect { index: 1, .. })
        ));
    }

    #[test]
    fn rects_past_the_frame_are_refused() {
        assert!(matches!(
            check_rects(&[r(0, 0, 21, 20)], 20, 20),
            Err(InvalidFrame::Outside { .. })
        ));
        assert!(matches!(
            check_rects(&[r(0, 20, 1, 1)], 20, 20),
            Err(InvalidFrame::Outside { .. })
        ));
    }

    #[test]
    fn an_edge_that_overflows_u32_is_refused_not_wrapped() {
        // x + w wraps to 0 in u32 arithmetic, which would pass `<= width`.
        assert!(matches!(
            check_rects(&[r(u32::MAX, 0, 1, 1)], u32::MAX, 10),
            Err(InvalidFrame::Outside { .. })
        ));
        assert!(matches!(
            check_rects(&[r(1, 1, u32::MAX, u32::MAX)], u32::MAX, u32::MAX),
            Err(InvalidFrame::Outside { .. })
        ));
        // Two rects near the top of the range still compare correctly.
        let high = [r(u32::MAX - 4, 0, 2, 1), r(u32::MAX - 2, 0, 2, 1)];
        assert_eq!(check_rects(&high, u32::MAX, 1), Ok(()));
    }

    #[test]
    fn the_rect_count_is_bounded() {
        let row = |n: u32| (0..n).map(|i| r(i, 0, 1, 1)).collect::<Vec<_>>();
        assert_eq!(check_rects(&row(1024), 2048, 1), Ok(()));
        assert_eq!(
            check_rects(&row(1025), 2048, 1),
            Err(InvalidFrame::TooManyRects(1025))
        );
    }

    #[test]
    fn quality_must_be_a_jpeg_quality() {
        assert_eq!(check_frame(1, 1, 0, None), Err(InvalidFrame::Quality(0)));
        assert_eq!(check_frame(1, 1, 1, None), Ok(()));
        assert_eq!(check_frame(1, 1, 100, None), Ok(()));
        assert_eq!(
            check_frame(1, 1, 101, None),
            Err(InvalidFrame::Quality(101))
        );
    }
}
