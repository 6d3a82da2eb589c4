//! Key names of the `key` command.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer, de};

/// One key of the `key` command.
///
/// On the wire a key is its name: a lowercase ASCII letter or digit, `f1` to
/// `f12`, or one of the named keys below (`enter`, `page_up`, ...). Only
/// [`Key::Char`] with `a`-`z`/`0`-`9` and [`Key::F`] with 1-12 are valid;
/// parsing never produces anything else and encoding refuses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)] // the named keys are their own documentation
pub enum Key {
    /// A lowercase ASCII letter or a digit.
    Char(char),
    /// A function key, `f1` to `f12`.
    F(u8),
    Enter,
    Escape,
    Backspace,
    Tab,
    Space,
    Delete,
    Insert,
    Home,
    End,
    PageUp,
    PageDown,
    Left,
    Right,
    Up,
    Down,
    Shift,
    Control,
    Alt,
    Meta,
    CapsLock,
}

/// Wire names of the named keys. Keep in step with the enum:
/// `every_named_key_round_trips` counts them.
const NAMED: [(&str, Key); 20] = [
    ("enter", Key::Enter),
    ("escape", Key::Escape),
    ("backspace", Key::Backspace),
    ("tab", Key::Tab),
    ("space", Key::Space),
    ("delete", Key::Delete),
    ("insert", Key::Insert),
    ("home", Key::Home),
    ("end", Key::End),
    ("page_up", Key::PageUp),
    ("page_down", Key::PageDown),
    ("left", Key::Left),
    ("right", Key::Right),
    ("up", Key::Up),
    ("down", Key::Down),
    ("shift", Key::Shift),
    ("control", Key::Control),
    ("alt", Key::Alt),
    ("meta", Key::Meta),
    ("caps_lock", Key::CapsLock),
];

impl Key {
    /// Whether this value names a key of the protocol.
    pub fn is_valid(self) -> bool {
        match self {
            Key::Char(c) => c.is_ascii_lowercase() || c.is_ascii_digit(),
            Key::F(n) => (1..=12).contains(&n),
            _ => true,
        }
    }

    /// Every valid key, in a stable order (letters, digits, F-keys, named).
    pub fn all() -> impl Iterator<Item = Key> {
        ('a'..='z')
            .chain('0'..='9')
            .map(Key::Char)
            .chain((1..=12).map(Key::F))
            .chain(NAMED.iter().map(|(_, k)| *k))
    }
}

/// A key name that is not part of the protocol.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown key name {0:?}")]
pub struct ParseKeyError(String);

impl FromStr for Key {
    type Err = ParseKeyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut chars = s.chars();
        if let (Some(c), None) = (chars.next(), chars.next()) {
            let key = Key::Char(c);
            return if key.is_valid() {
                Ok(key)
            } else {
                Err(ParseKeyError(s.to_owned()))
            };
        }
        if let Some(n) = s.strip_prefix('f') {
            // `parse::<u8>` alone would accept "f+1" and "f01".
            if !n.starts_with(['0', '+'])
                && let Ok(n) = n.parse::<u8>()
                && (1..=12).contains(&n)
            {
                return Ok(Key::F(n));
            }
        }
        NAMED
            .iter()
            .find(|(name, _)| *name == s)
            .map(|(_, key)| *key)
            .ok_or_else(|| ParseKeyError(s.to_owned()))
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Key::Char(c) => write!(f, "{c}"),
            Key::F(n) => write!(f, "f{n}"),
            named => {
                let name = NAMED
                    .iter()
                    .find(|(_, key)| key == named)
                    .map_or("?", |(name, _)| name);
                f.write_str(name)
            }
        }
    }
}

impl Serialize for Key {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if !self.is_valid() {
            return Err(serde::ser::Error::custom(format!(
                "{self:?} is not a protocol key"
            )));
        }
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl de::Visitor<'_> for KeyVisitor {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a key name such as \"a\", \"f5\" or \"enter\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key, E> {
                v.parse().map_err(E::custom)
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_named_key_round_trips() {
        let all: Vec<Key> = Key::all().collect();
        assert_eq!(all.len(), 26 + 10 + 12 + 20);
        for key in all {
            let name = key.to_string();
            assert_eq!(name.parse::<Key>(), Ok(key), "{name}");
        }
    }

    #[test]
    fn names_from_the_spec_parse() {
        assert_eq!("a".parse(), Ok(Key::Char('a')));
        assert_eq!("7".parse(), Ok(Key::Char('7')));
        assert_eq!("f12".parse(), Ok(Key::F(12)));
        assert_eq!("page_down".parse(), Ok(Key::PageDown));
        assert_eq!("caps_lock".parse(), Ok(Key::CapsLock));
    }

    #[test]
    fn names_outside_the_spec_are_refused() {
        for bad in [
            "A", "f0", "f13", "f01", "f+1", "", "ctrl", "Enter", "é", "ab", "fa", "f1 ",
        ] {
            assert!(bad.parse::<Key>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn invalid_key_values_do_not_serialize() {
        assert!(serde_json::to_string(&Key::Char('A')).is_err());
        assert!(serde_json::to_string(&Key::F(13)).is_err());
        assert_eq!(serde_json::to_string(&Key::F(1)).unwrap(), "\"f1\"");
    }
}
