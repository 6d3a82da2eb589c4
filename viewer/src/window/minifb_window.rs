//! The real [`Presenter`]: a minifb window. Everything minifb-specific about
//! input (the key callback, the mouse modes) stays here.

use std::cell::RefCell;
use std::rc::Rc;

use minifb::{
    InputCallback, Key as WinKey, MouseButton, MouseMode, ScaleMode, Window, WindowOptions,
};

use super::presenter::{Input, Presenter};
use crate::error::RunError;

/// Window loop rate: input is sampled and the newest frame shown this often.
const UI_FPS: usize = 60;

/// Key transitions held between two iterations. The queue is drained every
/// iteration (1/60 s), far more than anyone types in that time; beyond it
/// events are dropped and the per-iteration key state check catches up.
const KEY_EVENT_QUEUE: usize = 256;

/// Key transitions as minifb reports them, in order. Polling key state once
/// per iteration would miss a tap shorter than an iteration.
pub(crate) type KeyEvents = Rc<RefCell<Vec<(WinKey, bool)>>>;

/// Collects key transitions from minifb's callback into [`KeyEvents`].
pub(crate) struct KeyRecorder(pub(crate) KeyEvents);

impl InputCallback for KeyRecorder {
    fn add_char(&mut self, _: u32) {}

    fn set_key_state(&mut self, key: WinKey, pressed: bool) {
        let mut events = self.0.borrow_mut();
        if events.len() < KEY_EVENT_QUEUE {
            events.push((key, pressed));
        }
    }
}

/// A resizable minifb window that the core scales into itself.
pub(crate) struct MinifbWindow {
    window: Window,
    /// Filled by minifb during `update_with_buffer`, drained by `input`.
    key_events: KeyEvents,
}

impl std::fmt::Debug for MinifbWindow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MinifbWindow").finish_non_exhaustive()
    }
}

impl MinifbWindow {
    /// Opens the window at `size` (`width`, `height`).
    pub(crate) fn open(title: &str, (width, height): (usize, usize)) -> Result<Self, RunError> {
        let mut window = Window::new(
            title,
            width,
            height,
            WindowOptions {
                resize: true,
                // We scale ourselves into a buffer of the window's size, so
                // the pointer maps to frame pixels exactly.
                scale_mode: ScaleMode::UpperLeft,
                ..WindowOptions::default()
            },
        )
        .map_err(RunError::Window)?;
        window.set_target_fps(UI_FPS);
        let key_events = KeyEvents::default();
        window.set_input_callback(Box::new(KeyRecorder(Rc::clone(&key_events))));
        Ok(Self { window, key_events })
    }
}

impl Presenter for MinifbWindow {
    fn is_open(&self) -> bool {
        self.window.is_open()
    }

    fn size(&self) -> (usize, usize) {
        let (w, h) = self.window.get_size();
        (w.max(1), h.max(1))
    }

    fn input(&mut self, input: &mut Input) {
        input.key_events.clear();
        input.key_events.append(&mut self.key_events.borrow_mut());
        input.focused = self.window.is_active();
        input.keys_down = self.window.get_keys();
        // Discard: positions outside the window mean nothing to the agent.
        input.pointer = self.window.get_mouse_pos(MouseMode::Discard);
        input.buttons = [MouseButton::Left, MouseButton::Right, MouseButton::Middle]
            .map(|b| self.window.get_mouse_down(b));
        input.wheel = self.window.get_scroll_wheel();
    }

    fn set_title(&mut self, title: &str) {
        self.window.set_title(title);
    }

    fn show(&mut self, buffer: &[u32], (w, h): (usize, usize)) -> Result<(), RunError> {
        self.window
            .update_with_buffer(buffer, w, h)
            .map_err(RunError::Window)
    }
}
