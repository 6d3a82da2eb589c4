//! The tile grid over a picture, and which tiles differ between two
//! pictures of the same size.
//!
//! Tiles are 16x16 pixels, the size of a 4:2:0 JPEG MCU: a rectangle made
//! of whole tiles starts on the same block and chroma boundaries as the
//! full picture, so its JPEG shows no seam where it meets the picture
//! around it.

/// Tile side, in pixels.
pub const TILE: u32 = 16;

/// A rectangle of a picture, in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rect {
    /// Left edge.
    pub x: u32,
    /// Top edge.
    pub y: u32,
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
}

impl Rect {
    /// Pixels covered.
    pub fn area(&self) -> u64 {
        u64::from(self.width) * u64::from(self.height)
    }

    /// Whether every pixel of `other` is in this rectangle.
    pub fn contains(&self, other: &Rect) -> bool {
        self.x <= other.x
            && self.y <= other.y
            && u64::from(other.x) + u64::from(other.width)
                <= u64::from(self.x) + u64::from(self.width)
            && u64::from(other.y) + u64::from(other.height)
                <= u64::from(self.y) + u64::from(self.height)
    }

    /// The smallest rectangle holding both.
    pub fn union(&self, other: &Rect) -> Rect {
        let x = self.x.min(other.x);
        let y = self.y.min(other.y);
        Rect {
            x,
            y,
            width: (self.x + self.width).max(other.x + other.width) - x,
            height: (self.y + self.height).max(other.y + other.height) - y,
        }
    }

    /// This rectangle cut to a `width`x`height` picture at the origin;
    /// empty (zero width or height) when nothing of it is inside.
    pub fn clip(&self, width: u32, height: u32) -> Rect {
        let x = self.x.min(width);
        let y = self.y.min(height);
        Rect {
            x,
            y,
            width: self.width.min(width - x),
            height: self.height.min(height - y),
        }
    }
}

/// The tiles of a `width`x`height` picture, row by row; the last column
/// and row may be narrower.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TileGrid {
    width: u32,
    height: u32,
    cols: u32,
    rows: u32,
}

impl TileGrid {
    /// The grid of a `width`x`height` picture.
    pub fn new(width: u32, height: u32) -> Self {
        Self {
            width,
            height,
            cols: width.div_ceil(TILE),
            rows: height.div_ceil(TILE),
        }
    }

    /// The picture's size.
    pub fn size(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    /// Tiles across.
    pub fn cols(&self) -> u32 {
        self.cols
    }

    /// Tiles down.
    pub fn rows(&self) -> u32 {
        self.rows
    }

    /// Number of tiles.
    pub fn len(&self) -> usize {
        self.cols as usize * self.rows as usize
    }

    /// Whether the picture is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The pixels of the tiles from (`col`, `row`), `cols` across and
    /// `rows` down, cut to the picture.
    pub fn span(&self, col: u32, row: u32, cols: u32, rows: u32) -> Rect {
        let x = col * TILE;
        let y = row * TILE;
        Rect {
            x,
            y,
            width: ((col + cols) * TILE).min(self.width) - x,
            height: ((row + rows) * TILE).min(self.height) - y,
        }
    }

    /// Marks in `dirty` (one flag per tile, row by row) every tile whose
    /// pixels differ between `old` and `new`, two tightly packed pictures
    /// of this grid's size at 4 bytes a pixel; returns how many are
    /// marked. Flags already set stay set.
    ///
    /// A whole pixel row is compared first (one `memcmp`): on a screen
    /// where little changes, most rows are equal and cost nothing more.
    pub fn diff(&self, old: &[u8], new: &[u8], dirty: &mut [bool]) -> usize {
        let stride = self.width as usize * 4;
        let expected = stride * self.height as usize;
        assert!(
            old.len() == expected && new.len() == expected && dirty.len() == self.len(),
            "diff of pictures that do not fit the grid"
        );
        let tile_bytes = TILE as usize * 4;
        for (y, (a, b)) in old
            .chunks_exact(stride)
            .zip(new.chunks_exact(stride))
            .enumerate()
        {
            if a == b {
                continue;
            }
            let row = y / TILE as usize * self.cols as usize;
            let flags = &mut dirty[row..row + self.cols as usize];
            for (flag, (ta, tb)) in flags
                .iter_mut()
                .zip(a.chunks(tile_bytes).zip(b.chunks(tile_bytes)))
            {
                if !*flag && ta != tb {
                    *flag = true;
                }
            }
        }
        dirty.iter().filter(|&&d| d).count()
    }

    /// Like [`TileGrid::diff`], comparing only the tiles that `within`
    /// touches: the damage the source reported since `old`. A tile outside
    /// it is taken as unchanged without a look, so the cost follows the
    /// size of the change, not of the picture; a tile inside it is marked
    /// only if its pixels differ (damage says where to look, the pixels
    /// say what changed).
    pub fn diff_within(
        &self,
        old: &[u8],
        new: &[u8],
        within: &[Rect],
        dirty: &mut [bool],
    ) -> usize {
        let expected = self.width as usize * 4 * self.height as usize;
        assert!(
            old.len() == expected && new.len() == expected && dirty.len() == self.len(),
            "diff of pictures that do not fit the grid"
        );
        for rect in within {
            let rect = rect.clip(self.width, self.height);
            if rect.area() == 0 {
                continue;
            }
            let cols = rect.x / TILE..(rect.x + rect.width).div_ceil(TILE);
            for row in rect.y / TILE..(rect.y + rect.height).div_ceil(TILE) {
                for col in cols.clone() {
                    let flag = &mut dirty[(row * self.cols + col) as usize];
                    if !*flag && self.tile_differs(old, new, col, row) {
                        *flag = true;
                    }
                }
            }
        }
        dirty.iter().filter(|&&d| d).count()
    }

    /// Whether tile (`col`, `row`) differs between `old` and `new`.
    fn tile_differs(&self, old: &[u8], new: &[u8], col: u32, row: u32) -> bool {
        let tile = self.span(col, row, 1, 1);
        let stride = self.width as usize * 4;
        (tile.y..tile.y + tile.height).any(|y| {
            let start = y as usize * stride + tile.x as usize * 4;
            let end = start + tile.width as usize * 4;
            old[start..end] != new[start..end]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn picture(width: u32, height: u32) -> Vec<u8> {
        vec![0; (width * height * 4) as usize]
    }

    fn set(pixels: &mut [u8], width: u32, x: u32, y: u32) {
        pixels[((y * width + x) * 4) as usize] ^= 0xff;
    }

    #[test]
    fn a_changed_pixel_marks_exactly_its_tile() {
        let grid = TileGrid::new(100, 40);
        assert_eq!((grid.cols(), grid.rows(), grid.len()), (7, 3, 21));
        let old = picture(100, 40);
        for (x, y, tile) in [
            (0, 0, 0),
            (15, 15, 0),
            (16, 0, 1),
            (99, 39, 20),
            (37, 17, 9),
        ] {
            let mut new = old.clone();
            set(&mut new, 100, x, y);
            let mut dirty = vec![false; grid.len()];
            assert_eq!(grid.diff(&old, &new, &mut dirty), 1, "({x}, {y})");
            assert!(dirty[tile], "({x}, {y}) is in tile {tile}");
        }
        let mut dirty = vec![false; grid.len()];
        assert_eq!(grid.diff(&old, &old, &mut dirty), 0);
    }

    #[test]
    fn the_last_tiles_are_cut_to_the_picture() {
        let grid = TileGrid::new(100, 40);
        assert_eq!(
            grid.span(6, 2, 1, 1),
            Rect {
                x: 96,
                y: 32,
                width: 4,
                height: 8
            }
        );
        assert_eq!(
            grid.span(0, 0, 7, 3),
            Rect {
                x: 0,
                y: 0,
                width: 100,
                height: 40
            }
        );
    }

    #[test]
    fn diff_agrees_with_a_pixel_by_pixel_oracle() {
        // Small random pictures, a few random changes: the marked tiles are
        // exactly those holding a changed pixel.
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..200 {
            let width = 1 + (next() % 70) as u32;
            let height = 1 + (next() % 50) as u32;
            let grid = TileGrid::new(width, height);
            let old: Vec<u8> = (0..width * height * 4).map(|_| next() as u8).collect();
            let mut new = old.clone();
            let mut want = vec![false; grid.len()];
            for _ in 0..(next() % 5) {
                let (x, y) = (
                    (next() % u64::from(width)) as u32,
                    (next() % u64::from(height)) as u32,
                );
                let i = ((y * width + x) * 4 + (next() % 4) as u32) as usize;
                new[i] = new[i].wrapping_add(1 + (next() % 255) as u8);
                want[((y / TILE) * grid.cols() + x / TILE) as usize] = true;
            }
            let mut dirty = vec![false; grid.len()];
            grid.diff(&old, &new, &mut dirty);
            assert_eq!(dirty, want, "{width}x{height}");
        }
    }

    #[test]
    fn diff_within_damage_marks_the_changed_tiles_it_covers_and_no_others() {
        // 100x40: tiles 7 across, 3 down. Changes at (20, 5) (tile 1),
        // (50, 20) (tile 10) and (99, 39) (tile 20, cut to the picture).
        let grid = TileGrid::new(100, 40);
        let old = picture(100, 40);
        let mut new = old.clone();
        for (x, y) in [(20, 5), (50, 20), (99, 39)] {
            set(&mut new, 100, x, y);
        }
        let rect = |x, y, width, height| Rect {
            x,
            y,
            width,
            height,
        };
        // Damage over the first two changes only (and an unchanged tile
        // beside them): the third change is outside it, so not looked at.
        let damage = [rect(18, 3, 4, 4), rect(40, 16, 20, 8)];
        let mut dirty = vec![false; grid.len()];
        assert_eq!(grid.diff_within(&old, &new, &damage, &mut dirty), 2);
        let marked: Vec<usize> = (0..grid.len()).filter(|&i| dirty[i]).collect();
        assert_eq!(marked, [1, 10], "tile 9 is damaged but unchanged");
        // Damage running off the picture is cut to it.
        let mut dirty = vec![false; grid.len()];
        assert_eq!(
            grid.diff_within(&old, &new, &[rect(90, 30, 500, 500)], &mut dirty),
            1
        );
        assert!(dirty[20]);
        // No damage: nothing compared, nothing marked.
        let mut dirty = vec![false; grid.len()];
        assert_eq!(grid.diff_within(&old, &new, &[], &mut dirty), 0);
    }

    #[test]
    fn diff_within_the_whole_picture_agrees_with_diff() {
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..100 {
            let width = 1 + (next() % 70) as u32;
            let height = 1 + (next() % 50) as u32;
            let grid = TileGrid::new(width, height);
            let old: Vec<u8> = (0..width * height * 4).map(|_| next() as u8).collect();
            let mut new = old.clone();
            for _ in 0..(next() % 5) {
                let i = (next() % u64::from(width * height * 4)) as usize;
                new[i] = new[i].wrapping_add(1);
            }
            let whole = [Rect {
                x: 0,
                y: 0,
                width,
                height,
            }];
            let mut want = vec![false; grid.len()];
            let mut got = vec![false; grid.len()];
            grid.diff(&old, &new, &mut want);
            grid.diff_within(&old, &new, &whole, &mut got);
            assert_eq!(got, want, "{width}x{height}");
        }
    }

    #[test]
    fn rectangles_contain_unite_and_clip() {
        let a = Rect {
            x: 2,
            y: 3,
            width: 10,
            height: 5,
        };
        let inner = Rect {
            x: 4,
            y: 4,
            width: 8,
            height: 4,
        };
        assert!(a.contains(&inner) && a.contains(&a) && !inner.contains(&a));
        let far = Rect {
            x: 20,
            y: 0,
            width: 1,
            height: 1,
        };
        assert_eq!(
            a.union(&far),
            Rect {
                x: 2,
                y: 0,
                width: 19,
                height: 8
            }
        );
        assert_eq!(far.clip(20, 10).area(), 0, "starts at the right edge");
        assert_eq!(
            a.clip(8, 6),
            Rect {
                x: 2,
                y: 3,
                width: 6,
                height: 3
            }
        );
    }
}
