//! The real desktop, through enigo.

use enigo::{Axis, Coordinate, Direction, Enigo, Keyboard, Mouse, Settings};
use lookout_protocol::{Button, Key};

use super::{InputAction, InputError, InputSink};

/// Injects input into the desktop session this agent runs in.
pub struct EnigoSink {
    enigo: Enigo,
}

impl std::fmt::Debug for EnigoSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnigoSink").finish_non_exhaustive()
    }
}

impl EnigoSink {
    /// Connects to the desktop's input system.
    pub fn new() -> Result<Self, InputError> {
        let settings = Settings {
            // enigo passes this to XTest as a per-event delay. Viewers send
            // input in real time, so any delay here is pure added latency.
            linux_delay: 0,
            ..Settings::default()
        };
        let enigo = Enigo::new(&settings).map_err(InputError::Open)?;
        Ok(Self { enigo })
    }
}

fn direction(pressed: bool) -> Direction {
    if pressed {
        Direction::Press
    } else {
        Direction::Release
    }
}

fn button(button: Button) -> enigo::Button {
    match button {
        Button::Left => enigo::Button::Left,
        Button::Right => enigo::Button::Right,
        Button::Middle => enigo::Button::Middle,
    }
}

fn key(key: Key) -> Option<enigo::Key> {
    use enigo::Key as E;
    Some(match key {
        Key::Char(c) => E::Unicode(c),
        Key::F(n) => *[
            E::F1,
            E::F2,
            E::F3,
            E::F4,
            E::F5,
            E::F6,
            E::F7,
            E::F8,
            E::F9,
            E::F10,
            E::F11,
            E::F12,
        ]
        .get(usize::from(n).checked_sub(1)?)?,
        Key::Enter => E::Return,
        Key::Escape => E::Escape,
        Key::Backspace => E::Backspace,
        Key::Tab => E::Tab,
        Key::Space => E::Space,
        Key::Delete => E::Delete,
        Key::Insert => E::Insert,
        Key::Home => E::Home,
        Key::End => E::End,
        Key::PageUp => E::PageUp,
        Key::PageDown => E::PageDown,
        Key::Left => E::LeftArrow,
        Key::Right => E::RightArrow,
        Key::Up => E::UpArrow,
        Key::Down => E::DownArrow,
        Key::Shift => E::Shift,
        Key::Control => E::Control,
        Key::Alt => E::Alt,
        Key::Meta => E::Meta,
        Key::CapsLock => E::CapsLock,
    })
}

impl InputSink for EnigoSink {
    fn apply(&mut self, action: &InputAction) -> Result<(), InputError> {
        let result = match action {
            InputAction::MoveTo { x, y } => self.enigo.move_mouse(*x, *y, Coordinate::Abs),
            InputAction::Button { button: b, pressed } => {
                self.enigo.button(button(*b), direction(*pressed))
            }
            InputAction::Scroll { dx, dy } => {
                let v = if *dy != 0 {
                    self.enigo.scroll(*dy, Axis::Vertical)
                } else {
                    Ok(())
                };
                v.and_then(|()| {
                    if *dx != 0 {
                        self.enigo.scroll(*dx, Axis::Horizontal)
                    } else {
                        Ok(())
                    }
                })
            }
            InputAction::Key { key: k, pressed } => match key(*k) {
                Some(k) => self.enigo.key(k, direction(*pressed)),
                None => return Ok(()),
            },
            InputAction::Text(text) => self.enigo.text(text),
        };
        result.map_err(InputError::Inject)
    }
}
