//! Text that came from the network, made safe to show: an agent (or
//! whoever answers in its place) chooses its error messages, its name and
//! its monitors' names, and none of them may move a terminal's cursor,
//! rewrite a log line or flood a window title.

/// Longest text shown, in characters; more is cut, with `…`.
pub const MAX_SHOWN_CHARS: usize = 200;

/// `text` with control characters, line separators and Unicode direction
/// overrides escaped (`\u{1b}`, `\n`, ...), cut to [`MAX_SHOWN_CHARS`]: the
/// protocol crate's [`lookout_protocol::untrusted::Escaped`], which the
/// agent uses for its logs too.
pub fn shown(text: &str) -> String {
    lookout_protocol::untrusted::Escaped::new(text, MAX_SHOWN_CHARS).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_and_plain_text_kept() {
        assert_eq!(shown("busy: 16 viewers"), "busy: 16 viewers");
        assert_eq!(shown("a\x1b[2Jb\nc"), "a\\u{1b}[2Jb\\nc");
        assert_eq!(shown("x\u{202E}y"), "x\\u{202e}y");
        assert_eq!(shown("x\u{2028}y\u{061C}"), "x\\u{2028}y\\u{61c}");
        assert_eq!(shown("écran ✓"), "écran ✓");
    }

    #[test]
    fn long_text_is_cut() {
        let long = "a".repeat(MAX_SHOWN_CHARS + 50);
        let out = shown(&long);
        assert_eq!(out.chars().count(), MAX_SHOWN_CHARS + 1);
        assert!(out.ends_with('…'));
    }
}
