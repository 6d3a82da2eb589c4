//! Input into a wlroots compositor through its virtual devices: a virtual
//! pointer per output (`create_virtual_pointer_with_output`), so that an
//! absolute move is a position on the output that holds it, whatever the
//! layout; and a virtual keyboard with a keymap of the agent's own
//! ([`keymap`]), so keys and any text arrive in native and Xwayland
//! applications alike.
//!
//! enigo's Wayland backend is not used: with two outputs it put the
//! pointer in the wrong place, and it lost text in Xwayland applications
//! (issue 17).

mod keymap;

use std::collections::HashMap;
use std::io::Write as _;
use std::time::{Duration, Instant};

use lookout_protocol::{Button, Key};
use wayland_client::Proxy as _;
use wayland_client::protocol::wl_pointer;
use wayland_protocols_misc::zwp_virtual_keyboard_v1::client::{
    zwp_virtual_keyboard_manager_v1::ZwpVirtualKeyboardManagerV1,
    zwp_virtual_keyboard_v1::ZwpVirtualKeyboardV1,
};
use wayland_protocols_wlr::virtual_pointer::v1::client::{
    zwlr_virtual_pointer_manager_v1::ZwlrVirtualPointerManagerV1,
    zwlr_virtual_pointer_v1::ZwlrVirtualPointerV1,
};

use super::{InputAction, InputError, InputSink};
use crate::wayland::{Client, State, WlrError};
use keymap::Keymap;

/// `wl_keyboard`'s keymap format for XKB text.
const XKB_V1: u32 = 1;

/// Linux button codes (`BTN_LEFT`...).
fn button_code(button: Button) -> u32 {
    match button {
        Button::Left => 0x110,
        Button::Right => 0x111,
        Button::Middle => 0x112,
    }
}

/// The scroll distance of one wheel step, as libinput reports it.
const WHEEL_STEP: f64 = 15.0;

/// Injects input into a wlroots compositor.
#[derive(Debug)]
pub struct WlrSink {
    client: Client,
    seat: wayland_client::protocol::wl_seat::WlSeat,
    pointers_manager: ZwlrVirtualPointerManagerV1,
    /// A pointer per output, by the output's global name.
    pointers: HashMap<u32, ZwlrVirtualPointerV1>,
    /// The output the pointer was last moved on.
    current: Option<u32>,
    keyboard: ZwpVirtualKeyboardV1,
    keymap: Keymap,
    /// Pressed key codes.
    pressed: Vec<u32>,
    /// Depressed and locked modifier masks.
    depressed: u32,
    locked: u32,
    started: Instant,
}

impl WlrSink {
    /// Connects to the compositor of `WAYLAND_DISPLAY` and makes the
    /// virtual keyboard (the pointers are made per output when needed).
    pub fn new() -> Result<Self, InputError> {
        Self::open().map_err(InputError::Wlr)
    }

    fn open() -> Result<Self, WlrError> {
        let client = Client::connect(None)?;
        let seat = client.seat()?;
        let pointers_manager = client.bind(1..=2, "zwlr_virtual_pointer_manager_v1")?;
        let keyboards: ZwpVirtualKeyboardManagerV1 =
            client.bind(1..=1, "zwp_virtual_keyboard_manager_v1")?;
        let keyboard = keyboards.create_virtual_keyboard(&seat, &client.qh, ());
        let mut sink = WlrSink {
            client,
            seat,
            pointers_manager,
            pointers: HashMap::new(),
            current: None,
            keyboard,
            keymap: Keymap::new(),
            pressed: Vec::new(),
            depressed: 0,
            locked: 0,
            started: Instant::now(),
        };
        sink.send_keymap_if_changed()?;
        sink.client.roundtrip()?;
        Ok(sink)
    }

    /// Whether this session's compositor offers what the sink needs.
    pub fn available() -> bool {
        std::env::var_os("WAYLAND_DISPLAY").is_some_and(|v| !v.is_empty())
    }

    fn time(&self) -> u32 {
        // Wraps after 49 days, as the protocol's millisecond clock does.
        self.started.elapsed().as_millis() as u32
    }

    fn send_keymap_if_changed(&mut self) -> Result<(), WlrError> {
        if !self.keymap.take_changed() {
            return Ok(());
        }
        let mut text = self.keymap.text().into_bytes();
        text.push(0);
        let fd = rustix::fs::memfd_create("lookout-keymap", rustix::fs::MemfdFlags::CLOEXEC)
            .map_err(|e| WlrError::Memory(e.into()))?;
        let mut file = std::fs::File::from(fd);
        file.write_all(&text).map_err(WlrError::Memory)?;
        let len = u32::try_from(text.len())
            .map_err(|_| WlrError::Memory(std::io::ErrorKind::InvalidData.into()))?;
        self.keyboard
            .keymap(XKB_V1, std::os::fd::AsFd::as_fd(&file), len);
        Ok(())
    }

    /// The pointer for the output at desktop (`x`, `y`), and the position
    /// on that output with its size.
    fn pointer_at(
        &mut self,
        x: i32,
        y: i32,
    ) -> Option<(&ZwlrVirtualPointerV1, u32, u32, u32, u32)> {
        // In the output's pixels, with its pixel size as the extent: the
        // compositor maps that onto the output's logical area, whatever
        // its scale; on a turned output, turned as it expects.
        let (out, (ox, oy)) = self.client.state.outputs.at(x, y)?;
        let (global, wl) = (out.global(), out.wl.clone());
        let (w, h) = (out.width.max(1), out.height.max(1));
        let px = (x - ox).clamp(0, w as i32 - 1) as u32;
        let py = (y - oy).clamp(0, h as i32 - 1) as u32;
        let (px, py, w, h) = out.transform.pointer(px, py, w, h);
        let manager = &self.pointers_manager;
        let (seat, qh) = (&self.seat, &self.client.qh);
        let pointer = self.pointers.entry(global).or_insert_with(|| {
            if manager.version() >= 2 {
                manager.create_virtual_pointer_with_output(Some(seat), Some(&wl), qh, ())
            } else {
                manager.create_virtual_pointer(Some(seat), qh, ())
            }
        });
        self.current = Some(global);
        Some((pointer, px, py, w, h))
    }

    /// The pointer last moved (or any), for buttons and the wheel.
    fn pointer(&mut self) -> Option<&ZwlrVirtualPointerV1> {
        let current = self.current?;
        self.pointers.get(&current)
    }

    fn key(&mut self, code: u32, pressed: bool) {
        let state = u32::from(pressed);
        let time = self.time();
        self.keyboard.key(time, code, state);
        if pressed {
            self.pressed.push(code);
        } else {
            self.pressed.retain(|c| *c != code);
        }
    }

    fn modifiers(&mut self, key: Key, pressed: bool) {
        let Some(mask) = keymap::modifier(key) else {
            return;
        };
        if key == Key::CapsLock {
            if pressed {
                self.locked ^= mask;
            }
        } else if pressed {
            self.depressed |= mask;
        } else {
            self.depressed &= !mask;
        }
        self.keyboard.modifiers(self.depressed, 0, self.locked, 0);
    }

    fn apply_action(&mut self, action: &InputAction) -> Result<(), WlrError> {
        // Outputs come and go: their events are read before each action.
        self.client.read_events(Duration::ZERO)?;
        let time = self.time();
        match action {
            InputAction::MoveTo { x, y } => {
                if let Some((pointer, px, py, w, h)) = self.pointer_at(*x, *y) {
                    pointer.motion_absolute(time, px, py, w, h);
                    pointer.frame();
                }
            }
            InputAction::Button { button, pressed } => {
                if self.pointer().is_none() {
                    // No move yet: the pointer of the first output.
                    self.pointer_at(0, 0);
                }
                if let Some(pointer) = self.pointer() {
                    let state = if *pressed {
                        wl_pointer::ButtonState::Pressed
                    } else {
                        wl_pointer::ButtonState::Released
                    };
                    pointer.button(time, button_code(*button), state);
                    pointer.frame();
                }
            }
            InputAction::Scroll { dx, dy } => {
                if self.pointer().is_none() {
                    self.pointer_at(0, 0);
                }
                if let Some(pointer) = self.pointer() {
                    pointer.axis_source(wl_pointer::AxisSource::Wheel);
                    for (axis, steps) in [
                        (wl_pointer::Axis::VerticalScroll, *dy),
                        (wl_pointer::Axis::HorizontalScroll, *dx),
                    ] {
                        if steps != 0 {
                            let value = WHEEL_STEP * f64::from(steps);
                            pointer.axis_discrete(time, axis, value, steps);
                        }
                    }
                    pointer.frame();
                }
            }
            InputAction::Key { key, pressed } => {
                let held = self.pressed.clone();
                if let Some(code) = self.keymap.code(*key, &held) {
                    self.send_keymap_if_changed()?;
                    self.key(code, *pressed);
                    self.modifiers(*key, *pressed);
                }
            }
            InputAction::Text(text) => {
                let chars: Vec<char> = text.chars().collect();
                let held = self.pressed.clone();
                self.keymap.make_room(&chars, &held);
                self.send_keymap_if_changed()?;
                for c in chars {
                    if let Some(code) = self.keymap.char_code(c, &held) {
                        self.key(code, true);
                        self.key(code, false);
                    }
                }
            }
        }
        self.client.queue.flush()?;
        Ok(())
    }
}

impl InputSink for WlrSink {
    fn apply(&mut self, action: &InputAction) -> Result<(), InputError> {
        self.apply_action(action).map_err(InputError::Wlr)
    }
}

// No events come from the virtual devices.
wayland_client::delegate_noop!(State: ZwlrVirtualPointerManagerV1);
wayland_client::delegate_noop!(State: ZwlrVirtualPointerV1);
wayland_client::delegate_noop!(State: ZwpVirtualKeyboardManagerV1);
wayland_client::delegate_noop!(State: ZwpVirtualKeyboardV1);
