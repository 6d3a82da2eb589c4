//! Drawing one tile into the wall's buffer: the agent's picture scaled into
//! the tile's picture box (the full viewer's [`Scaler`]), and under it a
//! strip in the state's colour with the agent's name and state.

use super::font::{self, GLYPH_H};
use super::grid::Rect;
use super::tile::TileState;
use crate::decode::DecodedFrame;
use crate::scaler::Scaler;

/// Height of the label strip under each picture, in pixels.
pub const LABEL_H: u32 = GLYPH_H as u32 + 5;

/// What fills a tile that has no picture yet.
const EMPTY: u32 = 0x0020_2020;
const TEXT: u32 = 0x00FF_FFFF;

/// The strip's colour: green live, amber on the way, grey paused, red
/// given up.
pub fn state_color(state: &TileState) -> u32 {
    match state {
        TileState::Live => 0x0020_7030,
        TileState::Connecting | TileState::Reconnecting | TileState::Busy => 0x00A0_6010,
        TileState::Paused => 0x0050_5050,
        TileState::Refused(_) => 0x00A0_2020,
    }
}

/// The label: the agent's name (the target as given until the agent says
/// its own) and its state.
pub fn label(name: &str, target: &str, state: &TileState) -> String {
    let name = if name.is_empty() { target } else { name };
    format!("{name} - {}", state.text())
}

/// What one tile shows.
#[derive(Debug, Clone, Copy)]
pub struct Shown<'a> {
    /// The agent's newest picture, if any came.
    pub picture: Option<&'a DecodedFrame>,
    /// Its connection's state.
    pub state: &'a TileState,
    /// Its label ([`label`]).
    pub text: &'a str,
}

/// Draws tiles into a window-sized buffer; keeps one scaler and a scratch
/// buffer per tile, since tile sizes rarely change.
#[derive(Debug, Default)]
pub struct Painter {
    scalers: Vec<Scaler>,
    scratch: Vec<u32>,
}

impl Painter {
    /// Paints tile `index` at `rect` of `buffer` (`size` = the window's).
    pub fn tile(
        &mut self,
        index: usize,
        buffer: &mut [u32],
        size: (usize, usize),
        rect: Rect,
        Shown {
            picture,
            state,
            text,
        }: Shown<'_>,
    ) {
        if self.scalers.len() <= index {
            self.scalers.resize_with(index + 1, Scaler::new);
        }
        let (x, y, w) = (rect.x as usize, rect.y as usize, rect.w as usize);
        let picture_h = rect.h.saturating_sub(LABEL_H) as usize;
        let label_top = y + picture_h;
        let label_h = (rect.h as usize).saturating_sub(picture_h);
        // The picture, letterboxed in black, through the scratch buffer:
        // the scaler draws into a buffer of exactly the box's size.
        self.scratch.clear();
        self.scratch.resize(w * picture_h, EMPTY);
        if let Some(frame) = picture {
            let src = (frame.width as usize, frame.height as usize);
            self.scalers[index].render(&frame.pixels, src, &mut self.scratch, (w, picture_h));
        }
        let (width, height) = size;
        for (row, line) in self.scratch.chunks_exact(w.max(1)).enumerate() {
            blit_row(buffer, width, height, (x, y + row), line);
        }
        let color = state_color(state);
        for row in label_top..label_top + label_h {
            blit_row(buffer, width, height, (x, row), &vec![color; w]);
        }
        font::draw_text(buffer, size, (x + 3, label_top + 2), x + w, text, TEXT);
    }
}

/// Copies `line` into row `y` of `buffer` from column `x`, clipped.
fn blit_row(buffer: &mut [u32], width: usize, height: usize, (x, y): (usize, usize), line: &[u32]) {
    if y >= height || x >= width {
        return;
    }
    let n = line.len().min(width - x);
    let start = y * width + x;
    buffer[start..start + n].copy_from_slice(&line[..n]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(color: u32, (width, height): (u32, u32)) -> DecodedFrame {
        DecodedFrame {
            width,
            height,
            pixels: vec![color; (width * height) as usize],
            seq: 1,
            captured_at_us: 0,
            quality: 80,
        }
    }

    #[test]
    fn a_picture_lands_in_its_tile_and_the_label_strip_under_it() {
        let size = (200, 100);
        let mut buffer = vec![0u32; 200 * 100];
        let mut painter = Painter::default();
        let rect = Rect {
            x: 100,
            y: 50,
            w: 100,
            h: 50,
        };
        let red = frame(0x00FF_0000, (64, 19));
        let live = TileState::Live;
        let shown = Shown {
            picture: Some(&red),
            state: &live,
            text: "a - live",
        };
        painter.tile(1, &mut buffer, size, rect, shown);
        let at = |x: usize, y: usize| buffer[y * 200 + x];
        // The middle of the picture box is the picture.
        assert_eq!(at(150, 50 + (50 - LABEL_H as usize) / 2), 0x00FF_0000);
        // Outside the tile nothing was drawn.
        assert_eq!(at(50, 25), 0);
        assert_eq!(at(99, 60), 0);
        // The strip is the state's colour, with white text on it.
        let strip: Vec<u32> = (100..200).map(|x| at(x, 99)).collect();
        assert!(strip.iter().all(|&p| p == state_color(&live)));
        let text_row: Vec<u32> = (100..200)
            .map(|x| at(x, 100 - LABEL_H as usize + 3))
            .collect();
        assert!(text_row.contains(&TEXT), "{text_row:?}");
    }

    #[test]
    fn a_tile_without_a_picture_is_dark_and_says_its_state() {
        let mut buffer = vec![0u32; 80 * 40];
        let rect = Rect {
            x: 0,
            y: 0,
            w: 80,
            h: 40,
        };
        let state = TileState::Reconnecting;
        let text = label("", "10.0.0.3:6868", &state);
        assert_eq!(text, "10.0.0.3:6868 - reconnecting");
        let shown = Shown {
            picture: None,
            state: &state,
            text: &text,
        };
        Painter::default().tile(0, &mut buffer, (80, 40), rect, shown);
        assert_eq!(buffer[10 * 80 + 40], EMPTY);
        assert_eq!(buffer[39 * 80 + 79], state_color(&state));
    }

    #[test]
    fn the_agents_own_name_wins_over_the_address() {
        assert_eq!(
            label("lab-3", "10.0.0.3:6868", &TileState::Live),
            "lab-3 - live"
        );
    }
}
