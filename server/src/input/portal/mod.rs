//! Input through the RemoteDesktop portal (GNOME, KDE): absolute moves
//! within the stream under the point, buttons by evdev code, wheel steps,
//! keys and text as keysyms (the portal's keymap, not ours, so any
//! character with a keysym is typed).
//!
//! The sink shares the capturer's portal session ([`Portal::shared`]); a
//! session without RemoteDesktop (xdg-desktop-portal-wlr) makes no sink,
//! so the agent runs view only and says so.

use std::sync::Arc;

use lookout_protocol::{Button, Key};

use super::{InputAction, InputError, InputSink};
use crate::portal::{InputEvent, Portal, PortalError, PortalStream};

/// Sends input to the portal session.
#[derive(Debug)]
pub struct PortalSink {
    portal: Arc<Portal>,
}

impl PortalSink {
    /// The sink of this process's portal session. Fails when the session
    /// cannot be had or takes no input.
    pub fn new() -> Result<Self, InputError> {
        let portal = Portal::shared().map_err(InputError::Portal)?;
        if !portal.takes_input() {
            return Err(InputError::Portal(PortalError::ViewOnly));
        }
        Ok(Self { portal })
    }
}

impl InputSink for PortalSink {
    fn apply(&mut self, action: &InputAction) -> Result<(), InputError> {
        for event in events(action, self.portal.streams()) {
            self.portal.send(event).map_err(InputError::Portal)?;
        }
        Ok(())
    }
}

/// `action` as portal events, with `streams` the shared monitors.
fn events(action: &InputAction, streams: &[PortalStream]) -> Vec<InputEvent> {
    match action {
        &InputAction::MoveTo { x, y } => locate(streams, x, y)
            .map(|(stream, x, y)| InputEvent::MoveTo { stream, x, y })
            .into_iter()
            .collect(),
        &InputAction::Button { button, pressed } => vec![InputEvent::Button {
            code: evdev_button(button),
            pressed,
        }],
        &InputAction::Scroll { dx, dy } => {
            let mut events = Vec::new();
            if dy != 0 {
                events.push(InputEvent::Scroll {
                    vertical: true,
                    steps: dy,
                });
            }
            if dx != 0 {
                events.push(InputEvent::Scroll {
                    vertical: false,
                    steps: dx,
                });
            }
            events
        }
        &InputAction::Key { key, pressed } => vec![InputEvent::Keysym {
            keysym: key_keysym(key),
            pressed,
        }],
        InputAction::Text(text) => text
            .chars()
            .filter_map(char_keysym)
            .flat_map(|keysym| [true, false].map(|pressed| InputEvent::Keysym { keysym, pressed }))
            .collect(),
    }
}

/// The stream under desktop point (`x`, `y`), and the point within it;
/// a point outside every stream goes to the nearest edge of the first.
fn locate(streams: &[PortalStream], x: i32, y: i32) -> Option<(u32, f64, f64)> {
    let inside = |s: &&PortalStream| {
        let (w, h) = s.size.unwrap_or((u32::MAX / 2, u32::MAX / 2));
        let (left, top) = (i64::from(s.position.0), i64::from(s.position.1));
        (left..left + i64::from(w)).contains(&i64::from(x))
            && (top..top + i64::from(h)).contains(&i64::from(y))
    };
    let stream = streams.iter().find(inside).or(streams.first())?;
    let (w, h) = stream.size.unwrap_or((u32::MAX / 2, u32::MAX / 2));
    let within = |p: i32, origin: i32, size: u32| {
        (i64::from(p) - i64::from(origin)).clamp(0, i64::from(size.saturating_sub(1))) as f64
    };
    Some((
        stream.node,
        within(x, stream.position.0, w),
        within(y, stream.position.1, h),
    ))
}

/// The evdev code of a button (linux/input-event-codes.h).
fn evdev_button(button: Button) -> i32 {
    match button {
        Button::Left => 0x110,
        Button::Right => 0x111,
        Button::Middle => 0x112,
    }
}

/// The X keysym of a key (X11/keysymdef.h).
fn key_keysym(key: Key) -> i32 {
    match key {
        Key::Char(c) => char_keysym(c).unwrap_or(0),
        Key::F(n) => 0xffbe + i32::from(n.clamp(1, 12)) - 1,
        Key::Enter => 0xff0d,
        Key::Escape => 0xff1b,
        Key::Backspace => 0xff08,
        Key::Tab => 0xff09,
        Key::Space => 0x20,
        Key::Delete => 0xffff,
        Key::Insert => 0xff63,
        Key::Home => 0xff50,
        Key::End => 0xff57,
        Key::PageUp => 0xff55,
        Key::PageDown => 0xff56,
        Key::Left => 0xff51,
        Key::Up => 0xff52,
        Key::Right => 0xff53,
        Key::Down => 0xff54,
        Key::Shift => 0xffe1,
        Key::Control => 0xffe3,
        Key::Alt => 0xffe9,
        Key::Meta => 0xffeb,
        Key::CapsLock => 0xffe5,
    }
}

/// The keysym that types `c`: Latin-1 characters are their own keysym,
/// the rest of Unicode is `0x01000000 + code point`; control characters
/// other than newline and tab type nothing.
fn char_keysym(c: char) -> Option<i32> {
    let code = c as u32;
    match c {
        '\n' => Some(0xff0d),
        '\t' => Some(0xff09),
        _ if c.is_control() => None,
        _ if (0x20..=0x7e).contains(&code) || (0xa0..=0xff).contains(&code) => Some(code as i32),
        _ => Some((0x0100_0000 + code) as i32),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn two_monitors() -> Vec<PortalStream> {
        vec![
            PortalStream {
                node: 40,
                position: (0, 0),
                size: Some((1920, 1080)),
            },
            PortalStream {
                node: 41,
                position: (1920, 0),
                size: Some((1280, 1024)),
            },
        ]
    }

    #[test]
    fn a_move_goes_to_the_stream_under_the_point_in_its_own_coordinates() {
        let streams = two_monitors();
        let moved = events(&InputAction::MoveTo { x: 2420, y: 400 }, &streams);
        assert_eq!(
            moved,
            vec![InputEvent::MoveTo {
                stream: 41,
                x: 500.0,
                y: 400.0
            }]
        );
        let moved = events(&InputAction::MoveTo { x: 10, y: 20 }, &streams);
        assert_eq!(
            moved,
            vec![InputEvent::MoveTo {
                stream: 40,
                x: 10.0,
                y: 20.0
            }]
        );
        // Off every monitor: held at the first one's edge.
        let moved = events(&InputAction::MoveTo { x: -5, y: 5000 }, &streams);
        assert_eq!(
            moved,
            vec![InputEvent::MoveTo {
                stream: 40,
                x: 0.0,
                y: 1079.0
            }]
        );
    }

    #[test]
    fn buttons_are_evdev_codes_and_keys_are_keysyms() {
        let left = InputAction::Button {
            button: Button::Left,
            pressed: true,
        };
        assert_eq!(
            events(&left, &[]),
            vec![InputEvent::Button {
                code: 0x110,
                pressed: true
            }]
        );
        let key = |key| InputAction::Key {
            key,
            pressed: false,
        };
        let keysym = |keysym| {
            vec![InputEvent::Keysym {
                keysym,
                pressed: false,
            }]
        };
        assert_eq!(events(&key(Key::Char('a')), &[]), keysym(0x61));
        assert_eq!(events(&key(Key::F(12)), &[]), keysym(0xffc9));
        assert_eq!(events(&key(Key::Enter), &[]), keysym(0xff0d));
        assert_eq!(events(&key(Key::Control), &[]), keysym(0xffe3));
    }

    #[test]
    fn text_beyond_latin1_is_typed_as_unicode_keysyms_pressed_and_released() {
        let typed = events(&InputAction::Text("é€\u{7}".into()), &[]);
        assert_eq!(
            typed,
            vec![
                InputEvent::Keysym {
                    keysym: 0xe9,
                    pressed: true
                },
                InputEvent::Keysym {
                    keysym: 0xe9,
                    pressed: false
                },
                InputEvent::Keysym {
                    keysym: 0x0100_20ac,
                    pressed: true
                },
                InputEvent::Keysym {
                    keysym: 0x0100_20ac,
                    pressed: false
                },
            ],
            "a control character types nothing"
        );
    }

    #[test]
    fn wheel_steps_become_discrete_axis_steps() {
        let scrolled = events(&InputAction::Scroll { dx: -1, dy: 3 }, &[]);
        assert_eq!(
            scrolled,
            vec![
                InputEvent::Scroll {
                    vertical: true,
                    steps: 3
                },
                InputEvent::Scroll {
                    vertical: false,
                    steps: -1
                },
            ]
        );
    }
}
