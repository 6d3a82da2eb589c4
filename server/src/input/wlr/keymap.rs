//! The virtual keyboard's own XKB keymap: the protocol's named keys at
//! their usual (evdev) key codes, and every character the viewers type at
//! a spare key code of its own, one keysym per key and no levels, so a
//! character comes out the same whatever modifiers or layout the desktop
//! has, in native and Xwayland applications alike.
//!
//! Printable ASCII is in the keymap from the start; another character
//! (`é`, `✓`) takes a free key code when it is first typed, and the
//! keymap is sent again. When the spare codes run out, the characters
//! not in use are given up for the new ones.

use std::collections::HashMap;

use lookout_protocol::Key;

/// XKB key codes are evdev codes plus 8; X11 (and so Xwayland) reads
/// codes 8 to 255 only.
const EVDEV_OFFSET: u32 = 8;
const MAX_XKB_CODE: u32 = 255;

/// A named key's evdev code and keysym.
fn named(key: Key) -> Option<(u32, &'static str)> {
    Some(match key {
        Key::Escape => (1, "Escape"),
        Key::Backspace => (14, "BackSpace"),
        Key::Tab => (15, "Tab"),
        Key::Enter => (28, "Return"),
        Key::Control => (29, "Control_L"),
        Key::Shift => (42, "Shift_L"),
        Key::Alt => (56, "Alt_L"),
        Key::Space => (57, "space"),
        Key::CapsLock => (58, "Caps_Lock"),
        Key::F(n @ 1..=10) => (58 + u32::from(n), FUNCTION[usize::from(n) - 1]),
        Key::F(11) => (87, "F11"),
        Key::F(12) => (88, "F12"),
        Key::Home => (102, "Home"),
        Key::Up => (103, "Up"),
        Key::PageUp => (104, "Prior"),
        Key::Left => (105, "Left"),
        Key::Right => (106, "Right"),
        Key::End => (107, "End"),
        Key::Down => (108, "Down"),
        Key::PageDown => (109, "Next"),
        Key::Insert => (110, "Insert"),
        Key::Delete => (111, "Delete"),
        Key::Meta => (125, "Super_L"),
        Key::F(_) | Key::Char(_) => return None,
    })
}

const FUNCTION: [&str; 10] = ["F1", "F2", "F3", "F4", "F5", "F6", "F7", "F8", "F9", "F10"];

/// Every named key, for the keymap.
const NAMED_KEYS: [Key; 35] = [
    Key::Escape,
    Key::Backspace,
    Key::Tab,
    Key::Enter,
    Key::Control,
    Key::Shift,
    Key::Alt,
    Key::Space,
    Key::CapsLock,
    Key::F(1),
    Key::F(2),
    Key::F(3),
    Key::F(4),
    Key::F(5),
    Key::F(6),
    Key::F(7),
    Key::F(8),
    Key::F(9),
    Key::F(10),
    Key::F(11),
    Key::F(12),
    Key::Home,
    Key::Up,
    Key::PageUp,
    Key::Left,
    Key::Right,
    Key::End,
    Key::Down,
    Key::PageDown,
    Key::Insert,
    Key::Delete,
    Key::Meta,
    // Not keys of their own in the protocol, but typed text holds them.
    Key::Enter,
    Key::Tab,
    Key::Space,
];

/// The keymap: which evdev code types which character.
#[derive(Debug)]
pub(super) struct Keymap {
    chars: HashMap<char, u32>,
    /// Spare evdev codes not given to a character yet.
    free: Vec<u32>,
    /// The keymap changed since it was last sent.
    dirty: bool,
}

impl Keymap {
    /// Named keys and printable ASCII.
    pub(super) fn new() -> Self {
        let taken: Vec<u32> = NAMED_KEYS
            .iter()
            .filter_map(|k| named(*k))
            .map(|n| n.0)
            .collect();
        let mut free: Vec<u32> = (1..=MAX_XKB_CODE - EVDEV_OFFSET)
            .filter(|code| !taken.contains(code))
            .collect();
        // Handed out from the low end.
        free.reverse();
        let mut keymap = Keymap {
            chars: HashMap::new(),
            free,
            dirty: true,
        };
        keymap.make_room(('!'..='~').collect::<Vec<_>>().as_slice(), &[]);
        keymap
    }

    /// The evdev code of `key`, adding a character to the keymap if need
    /// be (see [`Keymap::take_changed`]).
    pub(super) fn code(&mut self, key: Key, held: &[u32]) -> Option<u32> {
        match key {
            Key::Char(c) => self.char_code(c, held),
            key => named(key).map(|n| n.0),
        }
    }

    /// The evdev code that types `c`, adding it if need be; `None` for a
    /// control character with no key.
    pub(super) fn char_code(&mut self, c: char, held: &[u32]) -> Option<u32> {
        match c {
            '\n' | '\r' => return named(Key::Enter).map(|n| n.0),
            '\t' => return named(Key::Tab).map(|n| n.0),
            ' ' => return named(Key::Space).map(|n| n.0),
            c if c.is_control() => return None,
            _ => {}
        }
        self.make_room(&[c], held);
        self.chars.get(&c).copied()
    }

    /// Puts every character of `chars` in the keymap, giving up others
    /// (not the codes in `held`, which are pressed now) when the spare
    /// codes run out.
    pub(super) fn make_room(&mut self, chars: &[char], held: &[u32]) {
        for &c in chars {
            if self.chars.contains_key(&c) || c.is_control() || c == ' ' {
                continue;
            }
            if self.free.is_empty() {
                let wanted: Vec<char> = chars.to_vec();
                self.chars
                    .retain(|k, code| held.contains(code) || wanted.contains(k));
                let used: Vec<u32> = self.chars.values().copied().collect();
                let named: Vec<u32> = NAMED_KEYS
                    .iter()
                    .filter_map(|k| named(*k))
                    .map(|n| n.0)
                    .collect();
                self.free = (1..=MAX_XKB_CODE - EVDEV_OFFSET)
                    .rev()
                    .filter(|code| !used.contains(code) && !named.contains(code))
                    .collect();
            }
            if let Some(code) = self.free.pop() {
                self.chars.insert(c, code);
                self.dirty = true;
            }
        }
    }

    /// Whether the keymap changed since this was last asked (then it must
    /// be sent again before its new codes are used).
    pub(super) fn take_changed(&mut self) -> bool {
        std::mem::take(&mut self.dirty)
    }

    /// The keymap in XKB's text format.
    pub(super) fn text(&self) -> String {
        let mut keys: Vec<(u32, String)> = NAMED_KEYS
            .iter()
            .filter_map(|k| named(*k))
            .map(|(code, sym)| (code, sym.to_owned()))
            .collect();
        keys.sort();
        keys.dedup();
        keys.extend(self.chars.iter().map(|(c, code)| (*code, keysym(*c))));
        keys.sort();
        let mut codes = String::new();
        let mut symbols = String::new();
        for (code, sym) in &keys {
            let xkb = code + EVDEV_OFFSET;
            codes.push_str(&format!("  <K{xkb}> = {xkb};\n"));
            symbols.push_str(&format!("  key <K{xkb}> {{ [ {sym} ] }};\n"));
        }
        let k = |key| named(key).map_or(0, |n| n.0 + EVDEV_OFFSET);
        format!(
            "xkb_keymap {{\n\
             xkb_keycodes \"lookout\" {{\n  minimum = 8;\n  maximum = 255;\n{codes}}};\n\
             xkb_types \"lookout\" {{ include \"complete\" }};\n\
             xkb_compat \"lookout\" {{ include \"complete\" }};\n\
             xkb_symbols \"lookout\" {{\n{symbols}\
             \x20 modifier_map Shift {{ <K{}> }};\n\
             \x20 modifier_map Lock {{ <K{}> }};\n\
             \x20 modifier_map Control {{ <K{}> }};\n\
             \x20 modifier_map Mod1 {{ <K{}> }};\n\
             \x20 modifier_map Mod4 {{ <K{}> }};\n\
             }};\n}};\n",
            k(Key::Shift),
            k(Key::CapsLock),
            k(Key::Control),
            k(Key::Alt),
            k(Key::Meta),
        )
    }
}

/// The keysym of a character in XKB's text format: `Uxxxx`, which XKB
/// reads as the legacy keysym for Latin-1 and as a Unicode keysym above.
fn keysym(c: char) -> String {
    format!("U{:04X}", u32::from(c))
}

/// The modifier mask bit a named key sets (XKB's real modifiers: Shift 0,
/// Lock 1, Control 2, Mod1 3, Mod4 6), as laid out by [`Keymap::text`].
pub(super) fn modifier(key: Key) -> Option<u32> {
    Some(match key {
        Key::Shift => 1,
        Key::CapsLock => 1 << 1,
        Key::Control => 1 << 2,
        Key::Alt => 1 << 3,
        Key::Meta => 1 << 6,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_character_gets_a_spare_code_once_and_marks_the_keymap_changed() {
        let mut keymap = Keymap::new();
        assert!(keymap.take_changed(), "the first keymap must be sent");
        let a = keymap.char_code('a', &[]).unwrap();
        assert!(!keymap.take_changed(), "ASCII is there from the start");
        let e = keymap.char_code('é', &[]).unwrap();
        assert!(keymap.take_changed());
        assert_ne!(a, e);
        assert_eq!(keymap.char_code('é', &[]), Some(e));
        assert!(!keymap.take_changed());
        assert!(
            keymap
                .text()
                .contains(&format!("key <K{}> {{ [ U00E9 ] }};", e + 8))
        );
    }

    #[test]
    fn characters_never_take_a_named_key_or_a_code_x11_cannot_read() {
        let mut keymap = Keymap::new();
        let named: Vec<u32> = NAMED_KEYS
            .iter()
            .filter_map(|k| named(*k))
            .map(|n| n.0)
            .collect();
        for c in (0x400..0x800u32).filter_map(char::from_u32) {
            let code = keymap.char_code(c, &[]).unwrap();
            assert!(!named.contains(&code), "{c} took a named key's code {code}");
            assert!(code + EVDEV_OFFSET <= MAX_XKB_CODE);
        }
    }

    #[test]
    fn when_codes_run_out_a_held_character_keeps_its_code() {
        let mut keymap = Keymap::new();
        let held = keymap.char_code('Ж', &[]).unwrap();
        for c in (0x4e00..0x4f00u32).filter_map(char::from_u32) {
            keymap.char_code(c, &[held]).unwrap();
        }
        assert_eq!(keymap.chars.get(&'Ж'), Some(&held));
    }

    #[test]
    fn text_has_no_key_for_control_characters_but_newline_is_enter() {
        let mut keymap = Keymap::new();
        assert_eq!(keymap.char_code('\u{7}', &[]), None);
        assert_eq!(keymap.char_code('\n', &[]), Some(28));
    }
}
