//! The two frame kinds and their two-byte tags on the wire.

use std::fmt;

use crate::limits::Limits;

/// The two frame kinds of protocol version 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tag {
    /// `HT`: one JPEG image, server to viewer.
    Image,
    /// `HC`: one UTF-8 JSON control message, both directions.
    Control,
}

impl Tag {
    /// The tag's two bytes on the wire.
    pub const fn bytes(self) -> [u8; 2] {
        match self {
            Tag::Image => *b"HT",
            Tag::Control => *b"HC",
        }
    }

    /// The payload limit for this tag under `limits`.
    pub const fn limit(self, limits: &Limits) -> u64 {
        match self {
            Tag::Image => limits.max_image_len,
            Tag::Control => limits.max_control_len,
        }
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Tag::Image => "HT",
            Tag::Control => "HC",
        })
    }
}
