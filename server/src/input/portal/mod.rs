//! Input through the RemoteDesktop portal (GNOME, KDE): absolute moves
//! within the stream under the point, buttons by evdev code, wheel steps,
//! keys and text as keysyms (the portal's keymap, not ours, so any
//! character with a keysym is typed).
//!
//! The sink shares the capturer's portal session ([`Portal::shared`]); a
//! session without RemoteDesktop (xdg-desktop-portal-wlr) makes no sink,
//! so the agent runs view only and says so.

use std::collections::BTreeSet;
use std::sync::Arc;

use lookout_protocol::{Button, Key};

use super::{InputAction, InputError, InputSink};
use crate::portal::{InputEvent, Placed, Portal, PortalError};

/// How many keys a failed release may leave to release later; beyond it
/// they are given up (the session is failing anyway).
const MAX_STUCK: usize = 64;

/// Sends input to the portal session.
#[derive(Debug)]
pub struct PortalSink {
    portal: Arc<Portal>,
    /// Keysyms whose release failed: released before the next event.
    stuck: BTreeSet<i32>,
}

impl PortalSink {
    /// The sink of this process's portal session. Fails when the session
    /// cannot be had or takes no input.
    pub fn new() -> Result<Self, InputError> {
        let portal = Portal::shared().map_err(InputError::Portal)?;
        if !portal.takes_input() {
            return Err(InputError::Portal(PortalError::ViewOnly));
        }
        Ok(Self {
            portal,
            stuck: BTreeSet::new(),
        })
    }
}

impl InputSink for PortalSink {
    fn apply(&mut self, action: &InputAction) -> Result<(), InputError> {
        let events = events(action, &self.portal.placed());
        let portal = &self.portal;
        deliver(&mut self.stuck, &events, |event| portal.send(event)).map_err(InputError::Portal)
    }

    fn release_held(&mut self) {
        let portal = &self.portal;
        let _ = deliver(&mut self.stuck, &[], |event| portal.send(event));
    }
}

impl Drop for PortalSink {
    fn drop(&mut self) {
        self.release_held();
    }
}

/// Sends `events` in order, after the releases of keys that an earlier
/// failed release left held. A key event that fails is released again
/// (a failed press may have reached the desktop; a release is retried
/// once), and recorded in `stuck` when that fails too: a key typed by
/// `Text` is tracked by nobody else, and must not stay held.
fn deliver(
    stuck: &mut BTreeSet<i32>,
    events: &[InputEvent],
    mut send: impl FnMut(InputEvent) -> Result<(), PortalError>,
) -> Result<(), PortalError> {
    let release = |keysym| InputEvent::Keysym {
        keysym,
        pressed: false,
    };
    // Released in order; at the first failure the portal is not
    // answering, and the rest wait for the next call (each send may take
    // seconds to time out).
    while let Some(&keysym) = stuck.first() {
        send(release(keysym))?;
        stuck.remove(&keysym);
    }
    for &event in events {
        let Err(err) = send(event) else { continue };
        if let InputEvent::Keysym { keysym, .. } = event
            && send(release(keysym)).is_err()
        {
            if stuck.len() < MAX_STUCK {
                stuck.insert(keysym);
            } else {
                tracing::warn!(
                    keysym,
                    "portal: cannot release a key, and too many are held"
                );
            }
        }
        return Err(err);
    }
    Ok(())
}

/// `action` as portal events, with `placed` the monitors.
fn events(action: &InputAction, placed: &[Placed]) -> Vec<InputEvent> {
    match action {
        &InputAction::MoveTo { x, y } => locate(placed, x, y)
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
/// a point outside every monitor goes to the nearest edge of the first.
fn locate(placed: &[Placed], x: i32, y: i32) -> Option<(u32, f64, f64)> {
    let inside = |p: &&Placed| {
        let (left, top) = (i64::from(p.position.0), i64::from(p.position.1));
        (left..left + i64::from(p.size.0)).contains(&i64::from(x))
            && (top..top + i64::from(p.size.1)).contains(&i64::from(y))
    };
    let at = placed.iter().find(inside).or(placed.first())?;
    let within = |p: i32, origin: i32, size: u32| {
        (i64::from(p) - i64::from(origin)).clamp(0, i64::from(size.saturating_sub(1))) as f64
    };
    Some((
        at.node,
        within(x, at.position.0, at.size.0),
        within(y, at.position.1, at.size.1),
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

    fn two_monitors() -> Vec<Placed> {
        vec![
            Placed {
                node: 40,
                position: (0, 0),
                size: (1920, 1080),
            },
            Placed {
                node: 41,
                position: (1920, 0),
                size: (1280, 1024),
            },
        ]
    }

    #[test]
    fn monitors_the_portal_left_unplaced_each_get_their_own_pointer_moves() {
        use crate::portal::{PortalStream, place};
        let unplaced = |node| PortalStream {
            node,
            position: None,
            size: None,
        };
        let placed = place(
            &[unplaced(40), unplaced(41)],
            &[Some((1920, 1080)), Some((1280, 1024))],
        );
        // A viewer on the second monitor points at its (80, 10).
        let moved = events(
            &InputAction::MoveTo {
                x: 1920 + 80,
                y: 10,
            },
            &placed,
        );
        assert_eq!(
            moved,
            vec![InputEvent::MoveTo {
                stream: 41,
                x: 80.0,
                y: 10.0
            }]
        );
    }

    #[test]
    fn a_key_whose_release_failed_is_released_before_the_next_event() {
        let a = |pressed| InputEvent::Keysym {
            keysym: 0x61,
            pressed,
        };
        let mut sent = Vec::new();
        let mut failures = 2;
        let mut stuck = BTreeSet::new();
        let typed = events(&InputAction::Text("a".into()), &[]);
        let result = deliver(&mut stuck, &typed, |event| {
            sent.push(event);
            if event == a(false) && failures > 0 {
                failures -= 1;
                return Err(PortalError::Timeout(std::time::Duration::from_secs(2)));
            }
            Ok(())
        });
        assert!(result.is_err());
        assert_eq!(sent, vec![a(true), a(false), a(false)], "retried once");
        assert!(stuck.contains(&0x61), "recorded as held");
        // Whatever comes next (here the release-all of a leaving viewer,
        // which knows nothing of typed text) first releases it.
        sent.clear();
        let next = events(&InputAction::MoveTo { x: 5, y: 5 }, &two_monitors());
        deliver(&mut stuck, &next, |event| {
            sent.push(event);
            Ok(())
        })
        .unwrap();
        assert_eq!(sent[0], a(false));
        assert!(stuck.is_empty());
    }

    #[test]
    fn a_portal_that_does_not_answer_is_asked_one_stuck_release_per_call_not_all() {
        let mut stuck: BTreeSet<i32> = (0x61..0x61 + 10).collect();
        let mut sends = 0;
        let result = deliver(&mut stuck, &[], |_| {
            sends += 1;
            Err(PortalError::Timeout(std::time::Duration::from_secs(2)))
        });
        assert!(result.is_err());
        assert_eq!(sends, 1, "each send may wait seconds: stop at the first");
        assert_eq!(stuck.len(), 10, "the rest wait for the next call");
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
