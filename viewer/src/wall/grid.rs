//! Where each tile of the wall goes: the grid that wastes the least of the
//! window for the window's shape and the agents' shape, as a pure function
//! of sizes so it is tested without a window.

use crate::stream::Size;

/// A tile's rectangle in the window, in physical pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rect {
    /// Left edge.
    pub x: u32,
    /// Top edge.
    pub y: u32,
    /// Width.
    pub w: u32,
    /// Height.
    pub h: u32,
}

impl Rect {
    /// Whether the point `(x, y)` lies inside.
    pub fn contains(&self, x: f32, y: f32) -> bool {
        x >= self.x as f32
            && y >= self.y as f32
            && x < (self.x + self.w) as f32
            && y < (self.y + self.h) as f32
    }
}

/// The wall's grid: `cols` x `rows` tiles of one size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grid {
    /// Tiles per row.
    pub cols: u32,
    /// Rows.
    pub rows: u32,
    /// Each tile's size, label strip included.
    pub tile: Size,
    /// The strip under each picture that holds its label.
    pub label: u32,
}

impl Grid {
    /// The grid for `count` agents whose pictures are `aspect` (width over
    /// height) wide, in a `window`, with a `label`-pixel strip under each
    /// picture: of every column count, the one whose pictures, fitted into
    /// their tiles, cover the most of the window. Ties go to fewer columns.
    pub fn best(count: usize, window: Size, aspect: f64, label: u32) -> Self {
        let count = u32::try_from(count.max(1)).unwrap_or(u32::MAX);
        let mut best = Self::with_cols(1, count, window, label);
        let mut best_area = best.picture_area(aspect) * u64::from(count);
        for cols in 2..=count {
            let grid = Self::with_cols(cols, count, window, label);
            let area = grid.picture_area(aspect) * u64::from(count);
            if area > best_area {
                (best, best_area) = (grid, area);
            }
        }
        best
    }

    fn with_cols(cols: u32, count: u32, (w, h): Size, label: u32) -> Self {
        let rows = count.div_ceil(cols);
        Self {
            cols,
            rows,
            tile: ((w / cols).max(1), (h / rows).max(1)),
            label,
        }
    }

    /// The picture's box in a tile: the tile less its label strip.
    pub fn picture_box(&self) -> Size {
        (self.tile.0, self.tile.1.saturating_sub(self.label).max(1))
    }

    /// The area of one `aspect`-shaped picture fitted into
    /// [`picture_box`](Self::picture_box).
    fn picture_area(&self, aspect: f64) -> u64 {
        let (bw, bh) = self.picture_box();
        let (bw, bh) = (f64::from(bw), f64::from(bh));
        let (w, h) = if bw / bh > aspect {
            (bh * aspect, bh)
        } else {
            (bw, bw / aspect)
        };
        (w.floor() * h.floor()) as u64
    }

    /// Tile `index`'s rectangle (row by row, left to right).
    pub fn rect(&self, index: usize) -> Rect {
        let index = u32::try_from(index).unwrap_or(u32::MAX);
        let (w, h) = self.tile;
        Rect {
            x: (index % self.cols) * w,
            y: (index / self.cols) * h,
            w,
            h,
        }
    }

    /// The tile under the point `(x, y)`, if any of the first `count`.
    pub fn tile_at(&self, count: usize, x: f32, y: f32) -> Option<usize> {
        (0..count).find(|&i| self.rect(i).contains(x, y))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WIDE: f64 = 16.0 / 9.0;

    #[test]
    fn sixteen_wide_agents_in_a_wide_window_make_four_by_four() {
        let grid = Grid::best(16, (1600, 900), WIDE, 0);
        assert_eq!((grid.cols, grid.rows), (4, 4));
        assert_eq!(grid.tile, (400, 225));
    }

    #[test]
    fn two_agents_sit_side_by_side_in_a_wide_window_and_stacked_in_a_tall_one() {
        let wide = Grid::best(2, (1600, 450), WIDE, 0);
        assert_eq!((wide.cols, wide.rows), (2, 1));
        let tall = Grid::best(2, (800, 900), WIDE, 0);
        assert_eq!((tall.cols, tall.rows), (1, 2));
    }

    #[test]
    fn portrait_agents_get_more_columns_than_landscape_ones() {
        let landscape = Grid::best(6, (1200, 800), WIDE, 0);
        let portrait = Grid::best(6, (1200, 800), 9.0 / 16.0, 0);
        assert!(portrait.cols > landscape.cols, "{portrait:?} {landscape:?}");
    }

    #[test]
    fn the_label_strip_counts_against_the_picture() {
        let grid = Grid::best(4, (800, 450), WIDE, 14);
        assert_eq!(grid.picture_box(), (grid.tile.0, grid.tile.1 - 14));
    }

    #[test]
    fn every_agent_gets_a_tile_and_tiles_do_not_overlap_or_leave_the_window() {
        for count in 1..=40 {
            for window in [(1920, 1080), (640, 1000), (300, 200)] {
                let grid = Grid::best(count, window, WIDE, 12);
                assert!(grid.cols * grid.rows >= count as u32, "{count} {grid:?}");
                for i in 0..count {
                    let r = grid.rect(i);
                    assert!(
                        r.x + r.w <= window.0 && r.y + r.h <= window.1,
                        "{count} {r:?}"
                    );
                    let centre = ((r.x + r.w / 2) as f32, (r.y + r.h / 2) as f32);
                    assert_eq!(grid.tile_at(count, centre.0, centre.1), Some(i));
                }
            }
        }
    }

    #[test]
    fn no_other_column_count_covers_more_of_the_window() {
        for count in 1..=20usize {
            let window = (1280, 800);
            let best = Grid::best(count, window, WIDE, 12);
            let best_area = best.picture_area(WIDE);
            for cols in 1..=count as u32 {
                let other = Grid::with_cols(cols, count as u32, window, 12);
                assert!(other.picture_area(WIDE) <= best_area, "{count} {cols}");
            }
        }
    }
}
