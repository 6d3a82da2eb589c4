//! Which window keys go to the agent (and as which protocol key), and which
//! the viewer keeps for itself (F7-F10).

use lookout_protocol::Key;
use minifb::Key as WinKey;

/// What a local key does in the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalAction {
    /// F6: start or stop recording.
    ToggleRecording,
    /// F7: show the agent's next monitor.
    NextMonitor,
    /// F8: stop or resume the stream.
    TogglePause,
    /// F9: save the current image as a PNG.
    SaveFrame,
    /// F10: stop or resume sending input.
    ToggleViewOnly,
}

/// The viewer's own use of `key`, if any. These keys are never forwarded.
pub fn local_action(key: WinKey) -> Option<LocalAction> {
    match key {
        WinKey::F6 => Some(LocalAction::ToggleRecording),
        WinKey::F7 => Some(LocalAction::NextMonitor),
        WinKey::F8 => Some(LocalAction::TogglePause),
        WinKey::F9 => Some(LocalAction::SaveFrame),
        WinKey::F10 => Some(LocalAction::ToggleViewOnly),
        _ => None,
    }
}

/// The protocol key a window key is forwarded as, or `None` for keys that
/// are local (F6-F10) or have no protocol name (numpad, punctuation, ...).
pub fn remote_key(key: WinKey) -> Option<Key> {
    use WinKey as W;
    let key = match key {
        W::Key0 => Key::Char('0'),
        W::Key1 => Key::Char('1'),
        W::Key2 => Key::Char('2'),
        W::Key3 => Key::Char('3'),
        W::Key4 => Key::Char('4'),
        W::Key5 => Key::Char('5'),
        W::Key6 => Key::Char('6'),
        W::Key7 => Key::Char('7'),
        W::Key8 => Key::Char('8'),
        W::Key9 => Key::Char('9'),
        W::A => Key::Char('a'),
        W::B => Key::Char('b'),
        W::C => Key::Char('c'),
        W::D => Key::Char('d'),
        W::E => Key::Char('e'),
        W::F => Key::Char('f'),
        W::G => Key::Char('g'),
        W::H => Key::Char('h'),
        W::I => Key::Char('i'),
        W::J => Key::Char('j'),
        W::K => Key::Char('k'),
        W::L => Key::Char('l'),
        W::M => Key::Char('m'),
        W::N => Key::Char('n'),
        W::O => Key::Char('o'),
        W::P => Key::Char('p'),
        W::Q => Key::Char('q'),
        W::R => Key::Char('r'),
        W::S => Key::Char('s'),
        W::T => Key::Char('t'),
        W::U => Key::Char('u'),
        W::V => Key::Char('v'),
        W::W => Key::Char('w'),
        W::X => Key::Char('x'),
        W::Y => Key::Char('y'),
        W::Z => Key::Char('z'),
        W::F1 => Key::F(1),
        W::F2 => Key::F(2),
        W::F3 => Key::F(3),
        W::F4 => Key::F(4),
        W::F5 => Key::F(5),
        W::F11 => Key::F(11),
        W::F12 => Key::F(12),
        W::Enter => Key::Enter,
        W::Escape => Key::Escape,
        W::Backspace => Key::Backspace,
        W::Tab => Key::Tab,
        W::Space => Key::Space,
        W::Delete => Key::Delete,
        W::Insert => Key::Insert,
        W::Home => Key::Home,
        W::End => Key::End,
        W::PageUp => Key::PageUp,
        W::PageDown => Key::PageDown,
        W::Left => Key::Left,
        W::Right => Key::Right,
        W::Up => Key::Up,
        W::Down => Key::Down,
        W::LeftShift | W::RightShift => Key::Shift,
        W::LeftCtrl | W::RightCtrl => Key::Control,
        W::LeftAlt | W::RightAlt => Key::Alt,
        W::LeftSuper | W::RightSuper => Key::Meta,
        W::CapsLock => Key::CapsLock,
        // F7-F10 are local; the rest have no name in protocol version 1.
        _ => return None,
    };
    Some(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letters_and_digits_map_to_their_lowercase_names() {
        assert_eq!(remote_key(WinKey::A), Some(Key::Char('a')));
        assert_eq!(remote_key(WinKey::Z), Some(Key::Char('z')));
        assert_eq!(remote_key(WinKey::Key0), Some(Key::Char('0')));
        assert_eq!(remote_key(WinKey::Key9), Some(Key::Char('9')));
        assert_eq!(
            remote_key(WinKey::Q).map(|k| k.to_string()),
            Some("q".into())
        );
    }

    #[test]
    fn named_keys_map_to_protocol_names() {
        let cases = [
            (WinKey::Enter, "enter"),
            (WinKey::Escape, "escape"),
            (WinKey::Backspace, "backspace"),
            (WinKey::Tab, "tab"),
            (WinKey::Space, "space"),
            (WinKey::Delete, "delete"),
            (WinKey::Insert, "insert"),
            (WinKey::Home, "home"),
            (WinKey::End, "end"),
            (WinKey::PageUp, "page_up"),
            (WinKey::PageDown, "page_down"),
            (WinKey::Left, "left"),
            (WinKey::Right, "right"),
            (WinKey::Up, "up"),
            (WinKey::Down, "down"),
            (WinKey::LeftShift, "shift"),
            (WinKey::RightShift, "shift"),
            (WinKey::LeftCtrl, "control"),
            (WinKey::RightCtrl, "control"),
            (WinKey::LeftAlt, "alt"),
            (WinKey::RightAlt, "alt"),
            (WinKey::LeftSuper, "meta"),
            (WinKey::RightSuper, "meta"),
            (WinKey::CapsLock, "caps_lock"),
            (WinKey::F1, "f1"),
            (WinKey::F5, "f5"),
            (WinKey::F11, "f11"),
            (WinKey::F12, "f12"),
        ];
        for (win, name) in cases {
            let key = remote_key(win).unwrap_or_else(|| panic!("{win:?} unmapped"));
            assert_eq!(key.to_string(), name);
            assert!(key.is_valid());
        }
    }

    #[test]
    fn f6_to_f10_are_local_and_never_forwarded() {
        let local = [
            (WinKey::F6, LocalAction::ToggleRecording),
            (WinKey::F7, LocalAction::NextMonitor),
            (WinKey::F8, LocalAction::TogglePause),
            (WinKey::F9, LocalAction::SaveFrame),
            (WinKey::F10, LocalAction::ToggleViewOnly),
        ];
        for (win, action) in local {
            assert_eq!(local_action(win), Some(action));
            assert_eq!(remote_key(win), None, "{win:?} must stay local");
        }
        assert_eq!(local_action(WinKey::F5), None);
        assert_eq!(local_action(WinKey::Escape), None);
    }

    #[test]
    fn keys_without_a_protocol_name_are_not_forwarded() {
        for win in [
            WinKey::NumPad1,
            WinKey::Comma,
            WinKey::F13,
            WinKey::Menu,
            WinKey::Unknown,
        ] {
            assert_eq!(remote_key(win), None, "{win:?}");
        }
    }
}
