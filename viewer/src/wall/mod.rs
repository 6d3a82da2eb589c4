//! `lookout-viewer --wall HOST...`: one window with a live tile per agent.
//!
//! ```text
//!  agent 1 ◀─▶ network thread ─▶ decode thread ─▶ slot ─┐
//!  agent 2 ◀─▶ network thread ─▶ decode thread ─▶ slot ─┼─▶ wall loop (main thread) ─▶ minifb
//!  ...                        (one of each per agent)   │    polls slots and status,
//!  agent N ◀─▶ network thread ─▶ decode thread ─▶ slot ─┘    never waits on an agent
//! ```
//!
//! Each tile ([`tile::Tile`]) is the full viewer's machinery for one agent,
//! asked for a small picture (`max_width`/`max_height` = the tile's picture
//! box in physical pixels, `fps` = `--wall-fps`). The grid ([`grid::Grid`])
//! wastes the least of the window; when the window is resized or an agent's
//! shape becomes known, the tiles are re-laid out at once and the new sizes
//! are asked of the agents once the layout has been still for a moment.
//!
//! Labels are drawn with a tiny built-in bitmap font ([`font`]): name and
//! state on a strip in the state's colour. The window title sums the states
//! up, and each state change is logged (`wall tile` lines), which is what
//! tests and scripts read. Clicking a tile opens that agent full size in
//! the ordinary viewer, as a child process ([`open`] says why).
//!
//! Where the list of agents comes from is the caller's business: a
//! [`WallTarget`] per agent, from the command line ([`targets`]) or, later,
//! from discovery.

pub mod font;
pub mod grid;
pub mod open;
pub mod paint;
pub mod targets;
pub mod tile;

use std::rc::Rc;
use std::time::{Duration, Instant, SystemTime};

use minifb::{Key, MouseButton, MouseMode, ScaleMode, Window, WindowOptions};

use self::grid::Grid;
use self::open::FullViews;
use self::paint::{LABEL_H, Painter, Shown, label};
pub use self::targets::{WallTarget, targets_from_command_line};
use self::tile::{Tile, TileState};
use crate::decode::DecodedFrame;
use crate::error::RunError;
use crate::layout::window_bounds;
use crate::stream::Size;
use crate::window::minifb_window::{KeyEvents, KeyRecorder};
use crate::window::settle::{SETTLE_FOR, SizeSettle};

/// The wall's frame rate per agent unless `--wall-fps` says otherwise.
pub const DEFAULT_WALL_FPS: u32 = 2;

/// The window's first size when the screen allows it.
const FIRST_SIZE: (usize, usize) = (1280, 720);

/// The agents' shape until one has said its own.
const DEFAULT_ASPECT: f64 = 16.0 / 9.0;

/// How often the wall looks at its tiles and input: 30 a second is smooth
/// for the pointer and a click, and costs nothing when nothing changed
/// (only changed tiles are drawn, and an unchanged buffer is not sent).
const UI_FPS: usize = 30;

/// How the wall runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WallOptions {
    /// Frames a second asked of each agent (`--wall-fps`).
    pub fps: u32,
}

impl Default for WallOptions {
    fn default() -> Self {
        Self {
            fps: DEFAULT_WALL_FPS,
        }
    }
}

/// Runs the wall until its window is closed. Blocks; call on the main
/// thread.
pub fn run(targets: Vec<WallTarget>, options: WallOptions) -> Result<(), RunError> {
    let (max_w, max_h) = window_bounds(crate::screen::size());
    let size = (FIRST_SIZE.0.min(max_w), FIRST_SIZE.1.min(max_h));
    let mut wall = Wall::new(targets, options, size)?;
    let mut window = Window::new(
        "lookout wall",
        size.0,
        size.1,
        WindowOptions {
            resize: true,
            scale_mode: ScaleMode::UpperLeft,
            ..WindowOptions::default()
        },
    )
    .map_err(RunError::Window)?;
    window.set_target_fps(UI_FPS);
    // Key presses through minifb's callback, as the full viewer takes
    // them: a press and release between two updates (a quick tap, a
    // scripted key) is not lost, as `get_keys_pressed` would lose it.
    let keys = KeyEvents::default();
    window.set_input_callback(Box::new(KeyRecorder(Rc::clone(&keys))));
    let mut was_down = false;
    while window.is_open() {
        let (w, h) = window.get_size();
        wall.resize((w.max(1), h.max(1)));
        let down = window.get_mouse_down(MouseButton::Left);
        if down
            && !was_down
            && let Some((x, y)) = window.get_mouse_pos(MouseMode::Discard)
        {
            wall.click(x, y);
        }
        was_down = down;
        let pressed: Vec<Key> = keys
            .borrow_mut()
            .drain(..)
            .filter_map(|(key, down)| down.then_some(key))
            .collect();
        for key in pressed {
            wall.key(key);
        }
        let changed = wall.step(Instant::now());
        if changed {
            window.set_title(&wall.title);
            window
                .update_with_buffer(&wall.buffer, wall.size.0, wall.size.1)
                .map_err(RunError::Window)?;
        } else {
            window.update();
        }
    }
    Ok(())
}

/// The wall without its window: tiles, layout, buffer.
struct Wall {
    tiles: Vec<Tile>,
    states: Vec<Option<TileState>>,
    dirty: Vec<bool>,
    size: (usize, usize),
    grid: Grid,
    /// The picture box the agents were last asked for, after settling.
    settle: SizeSettle,
    buffer: Vec<u32>,
    painter: Painter,
    title: String,
    paused: bool,
    views: FullViews,
    saves: u64,
}

impl Wall {
    fn new(
        targets: Vec<WallTarget>,
        options: WallOptions,
        size: (usize, usize),
    ) -> Result<Self, RunError> {
        let grid = Grid::best(targets.len(), to_size(size), DEFAULT_ASPECT, LABEL_H);
        let mut tiles = Vec::with_capacity(targets.len());
        for target in targets {
            let mut config = target.config;
            config.stream.fps = Some(options.fps);
            tiles.push(Tile::start(config, grid.picture_box()).map_err(RunError::Runtime)?);
        }
        let count = tiles.len();
        Ok(Self {
            tiles,
            states: vec![None; count],
            dirty: vec![true; count],
            size,
            grid,
            settle: SizeSettle::new(SETTLE_FOR),
            buffer: vec![0; size.0 * size.1],
            painter: Painter::default(),
            title: String::new(),
            paused: false,
            views: FullViews::default(),
            saves: 0,
        })
    }

    /// The agents' shape: the first one that has said its own.
    fn aspect(&self) -> f64 {
        self.tiles
            .iter()
            .find_map(Tile::aspect)
            .unwrap_or(DEFAULT_ASPECT)
    }

    fn resize(&mut self, size: (usize, usize)) {
        if size != self.size {
            self.size = size;
            self.buffer = vec![0; size.0 * size.1];
            self.relayout();
        }
    }

    fn relayout(&mut self) {
        let grid = Grid::best(self.tiles.len(), to_size(self.size), self.aspect(), LABEL_H);
        if grid != self.grid {
            self.grid = grid;
            self.buffer.fill(0);
        }
        self.dirty.fill(true);
    }

    /// Takes new pictures and states, repaints what changed, and asks for
    /// a settled new tile size. True if the buffer changed.
    fn step(&mut self, now: Instant) -> bool {
        self.views.reap();
        let aspect = self.aspect();
        let expected = Grid::best(self.tiles.len(), to_size(self.size), aspect, LABEL_H);
        if expected != self.grid {
            // An agent's shape became known (or changed): lay out again.
            self.relayout();
        }
        if let Some(view) = self.settle.observe(self.grid.picture_box(), now) {
            for tile in &self.tiles {
                tile.resize(view);
            }
        }
        let mut any = false;
        for i in 0..self.tiles.len() {
            let tile = &mut self.tiles[i];
            let fresh = tile.poll_picture();
            if fresh && let Some(picture) = &tile.picture {
                log_age(i, picture);
            }
            let state = tile.state();
            if self.states[i].as_ref() != Some(&state) {
                tracing::info!(
                    tile = i,
                    target = %tile.config.target,
                    name = %tile.name(),
                    state = state.text(),
                    "wall tile"
                );
                self.states[i] = Some(state);
                self.dirty[i] = true;
            }
            if fresh || self.dirty[i] {
                self.paint(i);
                any = true;
            }
        }
        if any {
            self.title = summary(self.states.iter().flatten());
        }
        any
    }

    fn paint(&mut self, i: usize) {
        self.dirty[i] = false;
        let tile = &self.tiles[i];
        let Some(state) = &self.states[i] else { return };
        let text = label(&tile.name(), &tile.config.target.to_string(), state);
        self.painter.tile(
            i,
            &mut self.buffer,
            self.size,
            self.grid.rect(i),
            Shown {
                picture: tile.picture.as_deref(),
                state,
                text: &text,
            },
        );
    }

    fn click(&mut self, x: f32, y: f32) {
        if let Some(i) = self.grid.tile_at(self.tiles.len(), x, y) {
            self.views.open(i, &self.tiles[i].config);
        }
    }

    fn key(&mut self, key: Key) {
        match key {
            Key::F5 => {
                tracing::info!("reconnecting every agent");
                let view = self.grid.picture_box();
                for tile in &mut self.tiles {
                    if let Err(err) = tile.reconnect(view, self.paused) {
                        tracing::warn!("{}: cannot reconnect: {err}", tile.config.target);
                    }
                }
            }
            Key::F8 => {
                self.paused = !self.paused;
                tracing::info!(paused = self.paused, "wall paused or resumed");
                for tile in &self.tiles {
                    tile.toggle_pause();
                }
            }
            Key::F9 => self.save(),
            _ => {}
        }
    }

    /// Writes the whole wall as a PNG in the working directory, on a
    /// thread of its own: encoding a large PNG takes longer than a frame.
    fn save(&mut self) {
        self.saves += 1;
        let path = crate::png::screenshot_name("wall", SystemTime::now(), self.saves);
        let frame = DecodedFrame {
            width: u32::try_from(self.size.0).unwrap_or(u32::MAX),
            height: u32::try_from(self.size.1).unwrap_or(u32::MAX),
            pixels: self.buffer.clone(),
            seq: self.saves,
            captured_at_us: 0,
            quality: 0,
        };
        let spawned = std::thread::Builder::new()
            .name("lookout-wall-save".into())
            .spawn(move || match crate::png::write_png(&path, &frame) {
                Ok(()) => tracing::info!("saved the wall as {}", path.display()),
                Err(err) => tracing::warn!("{err}"),
            });
        if let Err(err) = spawned {
            tracing::warn!("cannot save the wall: {err}");
        }
    }
}

/// Logs how old a picture is when it reaches the screen (capture to
/// screen, agent clock against ours: the same machine in the benchmark).
fn log_age(tile: usize, picture: &DecodedFrame) {
    let now_us = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
    let age = Duration::from_micros(now_us.saturating_sub(picture.captured_at_us));
    tracing::debug!(
        tile,
        seq = picture.seq,
        age_ms = age.as_millis() as u64,
        "wall picture"
    );
}

/// The window title: how many agents are in each state.
fn summary<'a>(states: impl Iterator<Item = &'a TileState>) -> String {
    let mut counts: Vec<(&'static str, usize)> = Vec::new();
    let mut total = 0;
    for state in states {
        total += 1;
        let name = match state {
            TileState::Refused(_) => "refused",
            other => other.text(),
        };
        match counts.iter_mut().find(|(n, _)| *n == name) {
            Some((_, count)) => *count += 1,
            None => counts.push((name, 1)),
        }
    }
    counts.sort_by_key(|&(name, _)| name);
    let parts: Vec<String> = counts.iter().map(|(n, c)| format!("{c} {n}")).collect();
    format!("lookout wall: {total} agents: {}", parts.join(", "))
}

fn to_size((w, h): (usize, usize)) -> Size {
    (
        u32::try_from(w).unwrap_or(u32::MAX),
        u32::try_from(h).unwrap_or(u32::MAX),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_title_counts_agents_by_state_and_lumps_refusals_together() {
        let states = [
            TileState::Live,
            TileState::Reconnecting,
            TileState::Live,
            TileState::Refused("refused: wrong token"),
            TileState::Refused("refused: identity changed"),
        ];
        assert_eq!(
            summary(states.iter()),
            "lookout wall: 5 agents: 2 live, 1 reconnecting, 2 refused"
        );
    }
}
