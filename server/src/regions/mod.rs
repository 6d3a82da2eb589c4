//! Region updates: which parts of a picture changed, and how to send just
//! those (protocol §2.3, feature `regions`).
//!
//! ```text
//!   picture N-1 ─┐
//!                ├─ tiles::diff ──▶ changed tiles ──▶ merge::plan ──▶ Nothing | Rects | Full
//!   picture N  ──┘        │
//!                         ▼
//!                ChangeLog: frame number of each tile's last change
//!                         │
//!                         ▼
//!      a viewer that has frame S: the tiles changed after S
//! ```
//!
//! A viewer that kept up has frame N-1 and gets the update from N-1 to N,
//! encoded once for every such viewer. One that was skipped (a slow link, a
//! low frame rate) has an older frame S: it gets every tile changed since
//! S, taken from picture N, so after any sequence of updates its picture
//! equals the screen (up to JPEG loss), as a VNC server's per-client dirty
//! region does.

mod merge;
mod tiles;

pub use merge::{MAX_RECTS, Plan, plan};
pub use tiles::{Rect, TILE, TileGrid};

/// When each tile of one stream's pictures last changed, as frame numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeLog {
    grid: TileGrid,
    changed_at: Vec<u64>,
}

impl ChangeLog {
    /// A log for pictures of `grid`'s size, from before frame 1.
    pub fn new(grid: TileGrid) -> Self {
        Self {
            grid,
            changed_at: vec![0; grid.len()],
        }
    }

    /// The grid it covers.
    pub fn grid(&self) -> &TileGrid {
        &self.grid
    }

    /// Frame `seq` changed the tiles flagged in `dirty`.
    pub fn record(&mut self, dirty: &[bool], seq: u64) {
        for (at, _) in self
            .changed_at
            .iter_mut()
            .zip(dirty)
            .filter(|(_, changed)| **changed)
        {
            *at = seq;
        }
    }

    /// One flag per tile: changed after frame `seq`.
    pub fn since(&self, seq: u64) -> Vec<bool> {
        self.changed_at.iter().map(|&at| at > seq).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_viewer_behind_gets_every_tile_changed_since_its_frame() {
        let grid = TileGrid::new(64, 16);
        let mut log = ChangeLog::new(grid);
        log.record(&[true, false, false, false], 2);
        log.record(&[false, true, false, false], 3);
        log.record(&[false, false, false, true], 4);
        assert_eq!(log.since(4), [false; 4]);
        assert_eq!(log.since(3), [false, false, false, true]);
        assert_eq!(log.since(1), [true, true, false, true]);
    }
}
