//! From changed tiles to what is sent: nothing, a few rectangles, or the
//! whole picture.
//!
//! Each rectangle goes out as a JPEG of its own, and a JPEG carries about
//! 600 bytes of headers (quantisation and Huffman tables) whatever its
//! size. So runs of changed tiles in a tile row that are close are joined
//! (the unchanged tiles between them cost less than another header), runs
//! with the same span in consecutive rows become one rectangle, and when
//! that still leaves more than [`MAX_RECTS`], each tile row becomes one
//! band from its first changed tile to its last. When the rectangles
//! would cover more than half the picture, the whole picture is sent: one
//! JPEG compresses it better than many, and the viewer's work is simpler.

use super::tiles::{Rect, TileGrid};

/// Most rectangles in one region update; beyond it, bands, then a full
/// picture.
pub const MAX_RECTS: usize = 32;

/// Runs of changed tiles in one row with at most this many unchanged tiles
/// between them are sent as one.
const JOIN_GAP: u32 = 2;

/// What to send for a set of changed tiles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Nothing changed.
    Nothing,
    /// These rectangles, which do not overlap, lie inside the picture, are
    /// made of whole tiles (cut at the picture's edge) and cover every
    /// changed tile.
    Rects(Vec<Rect>),
    /// The whole picture.
    Full,
}

/// What to send when the tiles flagged in `dirty` (one flag per tile of
/// `grid`, row by row) changed.
pub fn plan(grid: &TileGrid, dirty: &[bool]) -> Plan {
    assert_eq!(dirty.len(), grid.len(), "one flag per tile");
    if !dirty.contains(&true) {
        return Plan::Nothing;
    }
    let mut rects = rects_of(grid, dirty, JOIN_GAP);
    if rects.len() > MAX_RECTS {
        rects = rects_of(grid, dirty, u32::MAX);
    }
    let (width, height) = grid.size();
    let area: u64 = rects.iter().map(Rect::area).sum();
    if rects.len() > MAX_RECTS || area * 2 > u64::from(width) * u64::from(height) {
        return Plan::Full;
    }
    Plan::Rects(rects)
}

/// The rectangles for `dirty`, joining runs in a row across gaps of up to
/// `gap` unchanged tiles (`u32::MAX`: one band per row).
fn rects_of(grid: &TileGrid, dirty: &[bool], gap: u32) -> Vec<Rect> {
    let cols = grid.cols();
    // Rectangles still growing downwards: (first col, cols, first row, rows).
    let mut open: Vec<(u32, u32, u32, u32)> = Vec::new();
    let mut done = Vec::new();
    let mut runs = Vec::new();
    for row in 0..grid.rows() {
        let flags = &dirty[(row * cols) as usize..((row + 1) * cols) as usize];
        row_runs(flags, gap, &mut runs);
        let mut next = Vec::with_capacity(runs.len());
        for &(c0, c1) in &runs {
            match open
                .iter()
                .position(|&(oc, on, _, _)| oc == c0 && oc + on == c1)
            {
                Some(i) => {
                    let (oc, on, orow, orows) = open.swap_remove(i);
                    next.push((oc, on, orow, orows + 1));
                }
                None => next.push((c0, c1 - c0, row, 1)),
            }
        }
        // What did not grow into this row is finished.
        done.append(&mut open);
        open = next;
    }
    done.extend(open);
    let mut rects: Vec<Rect> = done
        .into_iter()
        .map(|(col, cols, row, rows)| grid.span(col, row, cols, rows))
        .collect();
    rects.sort_unstable_by_key(|r| (r.y, r.x));
    rects
}

/// The runs `[first, end)` of set flags in one tile row, joined across
/// gaps of up to `gap` unset flags.
fn row_runs(flags: &[bool], gap: u32, runs: &mut Vec<(u32, u32)>) {
    runs.clear();
    for (col, _) in flags.iter().enumerate().filter(|(_, d)| **d) {
        let col = col as u32;
        match runs.last_mut() {
            Some((_, end)) if col - *end <= gap => *end = col + 1,
            _ => runs.push((col, col + 1)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tiles::TILE;
    use super::*;

    fn flags(grid: &TileGrid, set: &[(u32, u32)]) -> Vec<bool> {
        let mut dirty = vec![false; grid.len()];
        for &(col, row) in set {
            dirty[(row * grid.cols() + col) as usize] = true;
        }
        dirty
    }

    fn rect(x: u32, y: u32, width: u32, height: u32) -> Rect {
        Rect {
            x,
            y,
            width,
            height,
        }
    }

    #[test]
    fn one_typed_character_is_one_tile() {
        let grid = TileGrid::new(1920, 1080);
        assert_eq!(plan(&grid, &flags(&grid, &[])), Plan::Nothing);
        assert_eq!(
            plan(&grid, &flags(&grid, &[(10, 20)])),
            Plan::Rects(vec![rect(160, 320, 16, 16)])
        );
    }

    #[test]
    fn close_runs_join_and_equal_spans_stack() {
        let grid = TileGrid::new(1920, 1080);
        // Columns 1 and 3 (gap 1) join; column 9 stays apart; rows 4-6 of
        // the same span become one rectangle.
        let dirty = flags(
            &grid,
            &[(1, 4), (3, 4), (1, 5), (3, 5), (1, 6), (3, 6), (9, 5)],
        );
        assert_eq!(
            plan(&grid, &dirty),
            Plan::Rects(vec![rect(16, 64, 48, 48), rect(144, 80, 16, 16)])
        );
    }

    #[test]
    fn too_many_rectangles_become_bands_then_a_full_picture() {
        let grid = TileGrid::new(1920, 1080);
        // In 36 rows: columns 0 and 100 (two tall rectangles) and one tile
        // in between that moves from row to row (36 more): 38 in all, too
        // many, so each row becomes one band from column 0 to 100, and the
        // bands stack into one rectangle.
        let set: Vec<(u32, u32)> = (0..36)
            .flat_map(|row| [(0, row), (100, row), (10 + (row % 3) * 20, row)])
            .collect();
        assert_eq!(
            plan(&grid, &flags(&grid, &set)),
            Plan::Rects(vec![rect(0, 0, 101 * 16, 36 * 16)])
        );
        // Half the screen changed: the whole picture.
        let half: Vec<(u32, u32)> = (0..grid.rows())
            .flat_map(|row| (0..grid.cols() / 2 + 1).map(move |col| (col, row)))
            .collect();
        assert_eq!(plan(&grid, &flags(&grid, &half)), Plan::Full);
    }

    #[test]
    fn rectangles_cover_every_changed_tile_once_inside_the_picture() {
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..500 {
            let width = 1 + (next() % 400) as u32;
            let height = 1 + (next() % 300) as u32;
            let grid = TileGrid::new(width, height);
            let density = next() % 30;
            let dirty: Vec<bool> = (0..grid.len()).map(|_| next() % 100 < density).collect();
            let rects = match plan(&grid, &dirty) {
                Plan::Nothing => {
                    assert!(!dirty.contains(&true));
                    continue;
                }
                Plan::Full => continue,
                Plan::Rects(rects) => rects,
            };
            assert!(rects.len() <= MAX_RECTS);
            let mut covered = vec![0u8; (width * height) as usize];
            for r in &rects {
                assert!(r.width > 0 && r.height > 0);
                assert!(r.x + r.width <= width && r.y + r.height <= height, "{r:?}");
                assert_eq!((r.x % TILE, r.y % TILE), (0, 0), "on the tile grid");
                for y in r.y..r.y + r.height {
                    for x in r.x..r.x + r.width {
                        covered[(y * width + x) as usize] += 1;
                    }
                }
            }
            assert!(covered.iter().all(|&c| c <= 1), "rectangles overlap");
            for (i, _) in dirty.iter().enumerate().filter(|(_, d)| **d) {
                let (col, row) = (i as u32 % grid.cols(), i as u32 / grid.cols());
                let (x, y) = (col * TILE, row * TILE);
                assert_eq!(covered[(y * width + x) as usize], 1, "tile ({col}, {row})");
            }
        }
    }
}
