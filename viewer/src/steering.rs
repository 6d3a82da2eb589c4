//! Turning the window's input state into agent input commands: pointer
//! moves, button and key presses and releases, wheel steps.
//!
//! The window reports *levels* (which keys and buttons are down now); the
//! protocol wants *edges*. [`Steering`] remembers what it told the agent, so
//! every press it sends is matched by exactly one release, even when the
//! viewer stops steering (view-only, pause, focus lost) with keys held.

use lookout_protocol::{Button, ClientMessage, Key};
use minifb::Key as WinKey;

use crate::keys::remote_key;

/// Buttons in the order of [`InputState::buttons`].
const BUTTONS: [Button; 3] = [Button::Left, Button::Right, Button::Middle];

/// The window's input at one UI iteration.
#[derive(Debug, Clone, Default)]
pub struct InputState<'a> {
    /// The frame pixel under the pointer; `None` off the image.
    pub pointer: Option<(i32, i32)>,
    /// Left, right, middle: down or not.
    pub buttons: [bool; 3],
    /// Wheel movement since the last iteration, as the window reports it.
    pub wheel: Option<(f32, f32)>,
    /// Every key that is down.
    pub keys: &'a [WinKey],
}

/// How the window system's wheel deltas translate to protocol steps.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WheelConvention {
    /// Window units per wheel step.
    pub units_per_step: f32,
    /// Whether positive window values mean up (and left), the opposite of
    /// the protocol's positive = down (and right).
    pub positive_is_up: bool,
}

impl WheelConvention {
    /// minifb's convention on this platform and display server.
    ///
    /// minifb 0.29 (unchanged from 0.28) on X11 adds ±1 for the press *and*
    /// ±1 for the release of the wheel "button", so one notch is ±2, up (and
    /// left) positive.
    /// Windows reports ±12 per notch, up positive; macOS passes the event
    /// deltas (about ±1 per notch), up positive. Wayland passes the
    /// compositor's axis value, usually ±10 per notch, down positive. minifb
    /// tries Wayland first when `WAYLAND_DISPLAY` is set, which is what
    /// decides between the two here.
    pub fn for_this_platform() -> Self {
        if cfg!(windows) {
            Self::WINDOWS
        } else if cfg!(target_os = "macos") {
            Self::MACOS
        } else if std::env::var_os("WAYLAND_DISPLAY").is_some() {
            Self::WAYLAND
        } else {
            Self::X11
        }
    }

    /// minifb on X11: two units per notch, up positive.
    pub const X11: Self = Self {
        units_per_step: 2.0,
        positive_is_up: true,
    };

    /// minifb on Wayland: the axis value, about ten per notch, down positive.
    pub const WAYLAND: Self = Self {
        units_per_step: 10.0,
        positive_is_up: false,
    };

    /// minifb on Windows: `WHEEL_DELTA` (120) / 10 per notch, up positive.
    pub const WINDOWS: Self = Self {
        units_per_step: 12.0,
        positive_is_up: true,
    };

    /// minifb on macOS: the event's line deltas, up positive.
    pub const MACOS: Self = Self {
        units_per_step: 1.0,
        positive_is_up: true,
    };
}

/// Sums fractional wheel movement into whole protocol steps, keeping the
/// remainder for later (touchpads send small fractions).
#[derive(Debug, Clone)]
pub struct WheelAccumulator {
    convention: WheelConvention,
    x: f32,
    y: f32,
}

impl WheelAccumulator {
    /// An empty accumulator for `convention`.
    pub fn new(convention: WheelConvention) -> Self {
        Self {
            convention,
            x: 0.0,
            y: 0.0,
        }
    }

    /// Adds window deltas; returns whole steps in protocol direction
    /// (positive `dy` = down, positive `dx` = right), `(0, 0)` if none yet.
    pub fn add(&mut self, (wx, wy): (f32, f32)) -> (i32, i32) {
        if !wx.is_finite() || !wy.is_finite() {
            return (0, 0);
        }
        let units = self.convention.units_per_step.max(f32::EPSILON);
        let sign = if self.convention.positive_is_up {
            -1.0
        } else {
            1.0
        };
        self.x += sign * wx / units;
        self.y += sign * wy / units;
        let (dx, dy) = (self.x.trunc(), self.y.trunc());
        self.x -= dx;
        self.y -= dy;
        // Saturating casts; a real wheel never gets near i32::MAX steps.
        (dx as i32, dy as i32)
    }

    /// Forgets any partial step.
    pub fn clear(&mut self) {
        self.x = 0.0;
        self.y = 0.0;
    }
}

/// What the viewer has told the agent about pointer, buttons and keys.
#[derive(Debug, Clone)]
pub struct Steering {
    last_move: Option<(i32, i32)>,
    buttons: [bool; 3],
    /// Window keys believed down (at most one entry per key).
    window_keys: Vec<WinKey>,
    /// Protocol keys the agent holds for us.
    keys: Vec<Key>,
    wheel: WheelAccumulator,
}

impl Steering {
    /// Nothing sent yet.
    pub fn new(convention: WheelConvention) -> Self {
        Self {
            last_move: None,
            buttons: [false; 3],
            window_keys: Vec::new(),
            keys: Vec::new(),
            wheel: WheelAccumulator::new(convention),
        }
    }

    /// Appends to `out` the commands that bring the agent to `input`: at
    /// most one move (only when the pointer moved on the image), then button
    /// edges, wheel steps and key edges. Presses need the pointer on the
    /// image (buttons, wheel) or nothing (keys); releases are always sent.
    pub fn update(&mut self, input: &InputState<'_>, out: &mut Vec<ClientMessage>) {
        if let Some((x, y)) = input.pointer
            && self.last_move != input.pointer
        {
            out.push(ClientMessage::MouseMove { x, y });
            self.last_move = input.pointer;
        }

        for ((held, &down), button) in self.buttons.iter_mut().zip(&input.buttons).zip(BUTTONS) {
            let press = down && !*held && input.pointer.is_some();
            let release = !down && *held;
            if press || release {
                *held = press;
                out.push(ClientMessage::MouseButton {
                    button,
                    pressed: press,
                });
            }
        }

        match (input.pointer, input.wheel) {
            (Some(_), Some(delta)) => {
                let (dx, dy) = self.wheel.add(delta);
                if (dx, dy) != (0, 0) {
                    out.push(ClientMessage::Scroll { dx, dy });
                }
            }
            (Some(_), None) => {}
            (None, _) => self.wheel.clear(),
        }

        self.window_keys.clear();
        for &key in input.keys {
            if !self.window_keys.contains(&key) {
                self.window_keys.push(key);
            }
        }
        self.sync_keys(out);
    }

    /// Appends the commands for one key transition reported by the window
    /// as it happened, so a tap shorter than one iteration still arrives.
    pub fn key_event(&mut self, key: WinKey, pressed: bool, out: &mut Vec<ClientMessage>) {
        if !pressed {
            self.window_keys.retain(|&k| k != key);
        } else if !self.window_keys.contains(&key) {
            self.window_keys.push(key);
        }
        self.sync_keys(out);
    }

    /// Presses and releases protocol keys until they match the window
    /// keys (two window keys may be one protocol key, like both Shifts).
    fn sync_keys(&mut self, out: &mut Vec<ClientMessage>) {
        let mut wanted: Vec<Key> = Vec::new();
        for key in self.window_keys.iter().filter_map(|&k| remote_key(k)) {
            if !wanted.contains(&key) {
                wanted.push(key);
            }
        }
        self.keys.retain(|key| {
            let keep = wanted.contains(key);
            if !keep {
                out.push(ClientMessage::Key {
                    key: *key,
                    pressed: false,
                });
            }
            keep
        });
        for key in wanted {
            if !self.keys.contains(&key) {
                out.push(ClientMessage::Key { key, pressed: true });
                self.keys.push(key);
            }
        }
    }

    /// Appends releases for every button and key the agent holds for us.
    pub fn release_all(&mut self, out: &mut Vec<ClientMessage>) {
        for (held, button) in self.buttons.iter_mut().zip(BUTTONS) {
            if std::mem::take(held) {
                out.push(ClientMessage::MouseButton {
                    button,
                    pressed: false,
                });
            }
        }
        out.extend(self.keys.drain(..).map(|key| ClientMessage::Key {
            key,
            pressed: false,
        }));
        self.window_keys.clear();
        self.wheel.clear();
    }

    /// Forgets everything without sending: for a new connection, whose
    /// agent released what the old one held.
    pub fn forget(&mut self) {
        self.last_move = None;
        self.buttons = [false; 3];
        self.window_keys.clear();
        self.keys.clear();
        self.wheel.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(steering: &mut Steering, input: InputState<'_>) -> Vec<ClientMessage> {
        let mut out = Vec::new();
        steering.update(&input, &mut out);
        out
    }

    fn key(key: Key, pressed: bool) -> ClientMessage {
        ClientMessage::Key { key, pressed }
    }

    #[test]
    fn pointer_moves_are_sent_once_per_change_and_never_off_image() {
        let mut s = Steering::new(WheelConvention::X11);
        let at = |x, y| InputState {
            pointer: Some((x, y)),
            ..InputState::default()
        };
        assert_eq!(
            step(&mut s, at(3, 4)),
            vec![ClientMessage::MouseMove { x: 3, y: 4 }]
        );
        assert_eq!(step(&mut s, at(3, 4)), vec![]);
        assert_eq!(step(&mut s, InputState::default()), vec![]);
        assert_eq!(
            step(&mut s, at(5, 4)),
            vec![ClientMessage::MouseMove { x: 5, y: 4 }]
        );
    }

    #[test]
    fn buttons_send_edges_and_press_only_over_the_image() {
        let mut s = Steering::new(WheelConvention::X11);
        let off = InputState {
            buttons: [true, false, false],
            ..InputState::default()
        };
        assert_eq!(step(&mut s, off), vec![]);
        let on = InputState {
            pointer: Some((1, 1)),
            buttons: [true, false, true],
            ..InputState::default()
        };
        assert_eq!(
            step(&mut s, on.clone()),
            vec![
                ClientMessage::MouseMove { x: 1, y: 1 },
                ClientMessage::MouseButton {
                    button: Button::Left,
                    pressed: true
                },
                ClientMessage::MouseButton {
                    button: Button::Middle,
                    pressed: true
                },
            ]
        );
        assert_eq!(step(&mut s, on), vec![]);
        // Released off the image: still sent, so nothing stays stuck.
        assert_eq!(
            step(&mut s, InputState::default()),
            vec![
                ClientMessage::MouseButton {
                    button: Button::Left,
                    pressed: false
                },
                ClientMessage::MouseButton {
                    button: Button::Middle,
                    pressed: false
                },
            ]
        );
    }

    #[test]
    fn keys_send_edges_and_both_shifts_are_one_shift() {
        let mut s = Steering::new(WheelConvention::X11);
        let down = [WinKey::LeftShift, WinKey::RightShift, WinKey::A, WinKey::F8];
        let input = InputState {
            keys: &down,
            ..InputState::default()
        };
        assert_eq!(
            step(&mut s, input.clone()),
            vec![key(Key::Shift, true), key(Key::Char('a'), true)]
        );
        assert_eq!(step(&mut s, input), vec![]);
        let only_a = [WinKey::A];
        assert_eq!(
            step(
                &mut s,
                InputState {
                    keys: &only_a,
                    ..InputState::default()
                }
            ),
            vec![key(Key::Shift, false)]
        );
    }

    #[test]
    fn a_tap_shorter_than_an_iteration_arrives_as_press_and_release() {
        let mut s = Steering::new(WheelConvention::X11);
        let mut out = Vec::new();
        s.key_event(WinKey::Enter, true, &mut out);
        s.key_event(WinKey::Enter, false, &mut out);
        // The level check afterwards agrees: nothing is down.
        s.update(&InputState::default(), &mut out);
        assert_eq!(out, vec![key(Key::Enter, true), key(Key::Enter, false)]);
    }

    #[test]
    fn shift_stays_down_until_both_shift_keys_are_up() {
        let mut s = Steering::new(WheelConvention::X11);
        let mut out = Vec::new();
        s.key_event(WinKey::LeftShift, true, &mut out);
        s.key_event(WinKey::RightShift, true, &mut out);
        s.key_event(WinKey::LeftShift, false, &mut out);
        assert_eq!(out, vec![key(Key::Shift, true)]);
        s.key_event(WinKey::RightShift, false, &mut out);
        assert_eq!(out, vec![key(Key::Shift, true), key(Key::Shift, false)]);
    }

    #[test]
    fn repeated_press_events_of_a_held_key_send_nothing_more() {
        let mut s = Steering::new(WheelConvention::X11);
        let mut out = Vec::new();
        for _ in 0..5 {
            s.key_event(WinKey::X, true, &mut out);
        }
        s.key_event(WinKey::F9, true, &mut out);
        assert_eq!(out, vec![key(Key::Char('x'), true)]);
    }

    #[test]
    fn release_all_releases_what_was_pressed_once() {
        let mut s = Steering::new(WheelConvention::X11);
        let down = [WinKey::LeftCtrl];
        step(
            &mut s,
            InputState {
                pointer: Some((0, 0)),
                buttons: [false, true, false],
                keys: &down,
                ..InputState::default()
            },
        );
        let mut out = Vec::new();
        s.release_all(&mut out);
        assert_eq!(
            out,
            vec![
                ClientMessage::MouseButton {
                    button: Button::Right,
                    pressed: false
                },
                key(Key::Control, false),
            ]
        );
        out.clear();
        s.release_all(&mut out);
        assert_eq!(out, vec![]);
    }

    #[test]
    fn forget_sends_nothing_and_starts_over() {
        let mut s = Steering::new(WheelConvention::X11);
        let down = [WinKey::B];
        let input = InputState {
            pointer: Some((2, 2)),
            keys: &down,
            ..InputState::default()
        };
        step(&mut s, input.clone());
        s.forget();
        // The new agent gets the pointer and the held key again.
        assert_eq!(
            step(&mut s, input),
            vec![
                ClientMessage::MouseMove { x: 2, y: 2 },
                key(Key::Char('b'), true)
            ]
        );
    }

    #[test]
    fn wheel_fractions_accumulate_into_whole_steps_down_positive() {
        let mut acc = WheelAccumulator::new(WheelConvention::MACOS);
        // One notch towards the user is -1.0 = one step down.
        assert_eq!(acc.add((0.0, -1.0)), (0, 1));
        assert_eq!(acc.add((0.0, 1.0)), (0, -1));
        assert_eq!(acc.add((0.0, -0.4)), (0, 0));
        assert_eq!(acc.add((0.0, -0.4)), (0, 0));
        assert_eq!(acc.add((0.0, -0.4)), (0, 1));
        // Left is positive in minifb; the protocol wants right positive.
        assert_eq!(acc.add((-2.0, 0.0)), (2, 0));
        assert_eq!(acc.add((f32::NAN, 1.0)), (0, 0));
    }

    #[test]
    fn x11_notch_is_one_step_even_when_press_and_release_split_across_iterations() {
        let mut acc = WheelAccumulator::new(WheelConvention::X11);
        // Press and release of "button 5" in one update: -2.0.
        assert_eq!(acc.add((0.0, -2.0)), (0, 1));
        // Split over two updates: -1.0 each.
        assert_eq!(acc.add((0.0, -1.0)), (0, 0));
        assert_eq!(acc.add((0.0, -1.0)), (0, 1));
        // Wheel up.
        assert_eq!(acc.add((0.0, 2.0)), (0, -1));
    }

    #[test]
    fn wheel_with_down_positive_convention_and_larger_units() {
        let mut acc = WheelAccumulator::new(WheelConvention {
            units_per_step: 10.0,
            positive_is_up: false,
        });
        assert_eq!(acc.add((0.0, 25.0)), (0, 2));
        assert_eq!(acc.add((0.0, 5.0)), (0, 1));
    }

    #[test]
    fn wheel_is_sent_only_over_the_image() {
        let mut s = Steering::new(WheelConvention::MACOS);
        let off = InputState {
            wheel: Some((0.0, -0.5)),
            ..InputState::default()
        };
        assert_eq!(step(&mut s, off), vec![]);
        let on = InputState {
            pointer: Some((0, 0)),
            wheel: Some((0.0, -0.5)),
            ..InputState::default()
        };
        // The half step off the image was dropped, so this is only a half.
        assert_eq!(
            step(&mut s, on.clone()),
            vec![ClientMessage::MouseMove { x: 0, y: 0 }]
        );
        assert_eq!(
            step(&mut s, on),
            vec![ClientMessage::Scroll { dx: 0, dy: 1 }]
        );
    }
}
