//! Text that came from the peer, made safe to write down: in a log line, in
//! an error message sent back, in a terminal or a window title.
//!
//! A peer chooses every string it sends (a client name, a message type, the
//! value that made a message malformed, which serde then quotes in its
//! error). Written raw, a newline forges a second log line (the agent's log
//! is one line per connection, so a forged `outcome="accepted"` line reads
//! as an audit record), an ESC sequence drives the operator's terminal, a
//! bidi override reorders what a reader sees, and a long value floods the
//! line. [`escaped`] writes such text with every control character
//! (newline, CR and ESC among them), the Unicode line and paragraph
//! separators and the direction controls as Rust-style escapes (`\n`,
//! `\u{1b}`, `\u{202e}`), and cuts it to [`MAX_ESCAPED_CHARS`] with `…`.
//!
//! Quotes, spaces and `=` are kept: they cannot start a new line. Within a
//! line they could still fake a `key=value` field, so the agent logs peer
//! text only inside quoted fields (`reason = ?text`, `client = ?name`),
//! where `"` is escaped too.

use std::fmt;

/// Longest peer text written, in characters (before escaping); more is cut,
/// with `…`. Long enough for any honest name or error, short enough that a
/// hostile one cannot flood a line.
pub const MAX_ESCAPED_CHARS: usize = 200;

/// Peer text, escaped and cut when displayed; see the [module](self) docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Escaped<'a> {
    text: &'a str,
    max_chars: usize,
}

/// `text` escaped and cut to [`MAX_ESCAPED_CHARS`] when displayed.
pub fn escaped(text: &str) -> Escaped<'_> {
    Escaped::new(text, MAX_ESCAPED_CHARS)
}

impl<'a> Escaped<'a> {
    /// `text` escaped and cut to `max_chars` characters when displayed.
    pub fn new(text: &'a str, max_chars: usize) -> Self {
        Self { text, max_chars }
    }
}

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use fmt::Write;
        for (i, c) in self.text.chars().enumerate() {
            if i == self.max_chars {
                return f.write_char('…');
            }
            if is_unsafe(c) {
                for e in c.escape_default() {
                    f.write_char(e)?;
                }
            } else {
                f.write_char(c)?;
            }
        }
        Ok(())
    }
}

/// Characters that must not reach a line raw: controls (C0, DEL, C1), the
/// line and paragraph separators, and the characters that reorder the text
/// around them (the "Trojan Source" class).
fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{2028}'
                | '\u{2029}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2066}'..='\u{2069}'
                | '\u{200E}'
                | '\u{200F}'
                | '\u{061C}'
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_forged_log_line_stays_on_one_line() {
        let forged = "left\nmonitor=0 outcome=\"accepted\"\r\x1b[2J";
        let out = escaped(forged).to_string();
        assert_eq!(out, "left\\nmonitor=0 outcome=\"accepted\"\\r\\u{1b}[2J");
        assert!(!out.chars().any(is_unsafe));
    }

    #[test]
    fn direction_overrides_and_separators_are_escaped() {
        assert_eq!(escaped("x\u{202E}y").to_string(), "x\\u{202e}y");
        assert_eq!(escaped("a\u{2028}b").to_string(), "a\\u{2028}b");
        assert_eq!(escaped("a\u{85}b").to_string(), "a\\u{85}b");
    }

    #[test]
    fn honest_text_is_kept() {
        assert_eq!(
            escaped("lookout-viewer 0.2 écran ✓").to_string(),
            "lookout-viewer 0.2 écran ✓"
        );
    }

    #[test]
    fn a_flood_is_cut() {
        let long = "a".repeat(MAX_ESCAPED_CHARS + 50);
        let out = escaped(&long).to_string();
        assert_eq!(out.chars().count(), MAX_ESCAPED_CHARS + 1);
        assert!(out.ends_with('…'));
        assert_eq!(Escaped::new("abcdef", 3).to_string(), "abc…");
        assert_eq!(Escaped::new("abc", 3).to_string(), "abc");
    }
}
