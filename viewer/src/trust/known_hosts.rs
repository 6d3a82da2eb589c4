//! The known-hosts file: what its lines say, looking an agent up, and
//! recording an agent met for the first time.
//!
//! One agent per line, `HOST:PORT sha256:HEX`, as the agent prints its
//! fingerprint; blank lines and lines starting with `#` are ignored. Host
//! words are compared as [`HostKey`]s, so a line written in another spelling
//! (`[0::1]:6868`, `Box.LAN:6868`) still pins the agent. The last line for an
//! agent wins.
//!
//! **The file fails closed.** Any other line — a hand-edited `SHA256:` in
//! capitals, a line cut short, a third word after the fingerprint — is an
//! error that names the file and the line, and no agent is trusted, on
//! first use or otherwise, until that line is fixed or deleted. This holds
//! for lines that seem to be about other agents too: a line cut short may
//! have lost the part that made it ours, and a line we cannot read is a pin
//! we cannot honour. (Skipping such lines was how a damaged line let the
//! next connection trust any certificate.)
//!
//! The file is read and replaced only through [`super::strict`], which
//! checks its owner, mode and directory and never follows a symlink.

use std::io;
use std::path::{Path, PathBuf};

use lookout_protocol::Fingerprint;

use super::host_key::HostKey;
use super::strict;
use crate::target::TargetError;

/// Why the known-hosts file cannot be used. The connection is refused.
#[derive(Debug, thiserror::Error)]
pub enum KnownHostsError {
    /// A line that is neither blank, a comment, nor `HOST:PORT sha256:HEX`.
    #[error(
        "line {line} cannot be read ({problem}); no agent is trusted until that line is fixed or deleted"
    )]
    BadLine {
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        problem: LineProblem,
    },
    /// The path is a symbolic link.
    #[error(
        "it is a symbolic link, which is not followed for this file; replace the link with the file itself"
    )]
    Symlink,
    /// The path is a directory or a device, not a file.
    #[error("it is not a regular file")]
    NotAFile,
    /// Group or others may write the file.
    #[error("others may change it (it is writable by group or others); run `chmod 600 {0}`")]
    FileTooOpen(PathBuf),
    /// Group or others may write the directory, so they may replace the file.
    #[error(
        "others may replace it: its directory {0} is writable by group or others; run `chmod go-w {0}`"
    )]
    DirTooOpen(PathBuf),
    /// The file or its directory belongs to someone else.
    #[error(
        "{path} belongs to user id {owner}, not to you (user id {me}) or root; run `chown {me} {path}` or choose another file with --known-hosts"
    )]
    WrongOwner {
        /// The file or directory.
        path: PathBuf,
        /// Its owner.
        owner: u32,
        /// The viewer's effective user id.
        me: u32,
    },
    /// Reading or writing failed.
    #[error(transparent)]
    Io(#[from] io::Error),
}

impl KnownHostsError {
    /// As the `io::Error` that [`super::TlsError::KnownHosts`] carries; the
    /// typed error stays reachable through `io::Error::get_ref`.
    pub(super) fn into_io(self) -> io::Error {
        match self {
            KnownHostsError::Io(err) => err,
            KnownHostsError::BadLine { .. } => io::Error::new(io::ErrorKind::InvalidData, self),
            _ => io::Error::new(io::ErrorKind::PermissionDenied, self),
        }
    }
}

/// What is wrong with a line of the known-hosts file. No text of the line
/// is repeated: the line number says where to look.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineProblem {
    /// Not exactly two words.
    #[error("expected two words, `HOST:PORT sha256:HEX`")]
    Shape,
    /// The first word is not a host.
    #[error("the host: {0}")]
    Host(TargetError),
    /// The second word is not a fingerprint.
    #[error("the second word is not `sha256:` (in lower case) and 64 hex digits")]
    Fingerprint,
    /// Bytes that are not UTF-8.
    #[error("it is not UTF-8 text")]
    NotUtf8,
}

/// One pin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Entry {
    pub(super) key: HostKey,
    pub(super) fingerprint: Fingerprint,
    /// 1-based.
    pub(super) line: usize,
}

/// What [`record`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Recorded {
    /// The agent had no line; now it has.
    Added,
    /// Another viewer recorded the agent since the lookup: this is its pin.
    Known {
        fingerprint: Fingerprint,
        line: usize,
    },
}

/// Every pin in the text of a known-hosts file; the first line that is not
/// a pin, a comment or blank is an error.
pub(super) fn parse(bytes: &[u8]) -> Result<Vec<Entry>, KnownHostsError> {
    let text = std::str::from_utf8(bytes).map_err(|err| KnownHostsError::BadLine {
        line: 1 + bytes[..err.valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count(),
        problem: LineProblem::NotUtf8,
    })?;
    let mut entries = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = |problem| KnownHostsError::BadLine {
            line: index + 1,
            problem,
        };
        let words: Vec<&str> = line.split_whitespace().collect();
        let [host, fingerprint] = words[..] else {
            return Err(bad(LineProblem::Shape));
        };
        entries.push(Entry {
            key: HostKey::parse(host).map_err(|err| bad(LineProblem::Host(err)))?,
            fingerprint: fingerprint
                .parse()
                .map_err(|_| bad(LineProblem::Fingerprint))?,
            line: index + 1,
        });
    }
    Ok(entries)
}

/// The last pin for `key`.
pub(super) fn find<'a>(entries: &'a [Entry], key: &HostKey) -> Option<&'a Entry> {
    entries.iter().rev().find(|entry| entry.key == *key)
}

/// The fingerprint pinned for `key` and its line; `None` when the file or
/// the line does not exist. Blocking.
pub(super) fn lookup(
    path: &Path,
    key: &HostKey,
) -> Result<Option<(Fingerprint, usize)>, KnownHostsError> {
    let Some(bytes) = strict::read(path)? else {
        return Ok(None);
    };
    Ok(find(&parse(&bytes)?, key).map(|entry| (entry.fingerprint, entry.line)))
}

/// Adds a line pinning `key` to `fingerprint`, unless the file pins `key`
/// already, by replacing the whole file atomically. Blocking.
pub(super) fn record(
    path: &Path,
    key: &HostKey,
    fingerprint: Fingerprint,
) -> Result<Recorded, KnownHostsError> {
    let mut text = strict::read(path)?.unwrap_or_default();
    if let Some(entry) = find(&parse(&text)?, key) {
        return Ok(Recorded::Known {
            fingerprint: entry.fingerprint,
            line: entry.line,
        });
    }
    if text.last().is_some_and(|&b| b != b'\n') {
        text.push(b'\n');
    }
    text.extend_from_slice(format!("{key} {fingerprint}\n").as_bytes());
    strict::replace(path, &text)?;
    Ok(Recorded::Added)
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    const B: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000001";

    fn key(word: &str) -> HostKey {
        HostKey::parse(word).unwrap()
    }

    fn pin(text: &str, host: &str) -> Option<(Fingerprint, usize)> {
        find(&parse(text.as_bytes()).unwrap(), &key(host)).map(|e| (e.fingerprint, e.line))
    }

    fn bad_line(text: &str) -> (usize, LineProblem) {
        match parse(text.as_bytes()) {
            Err(KnownHostsError::BadLine { line, problem }) => (line, problem),
            other => panic!("{text:?} gave {other:?}"),
        }
    }

    #[test]
    fn lookup_skips_comments_and_blanks_and_takes_the_last_line() {
        let text = format!(
            "# lookout known hosts\n\n  \nbox:6868 {A}\nother:6868 {B}\nbox:6868 {B}\nbox:6869 {A}\r\n"
        );
        let (a, b) = (A.parse().unwrap(), B.parse().unwrap());
        assert_eq!(pin(&text, "box:6868"), Some((b, 6)));
        assert_eq!(pin(&text, "box:6869"), Some((a, 7)));
        assert_eq!(pin(&text, "nobody:6868"), None);
    }

    #[test]
    fn uppercase_hostname_matches_the_recorded_key() {
        let text = format!("box.lan:6868 {A}\n");
        assert_eq!(pin(&text, "BOX.Lan"), Some((A.parse().unwrap(), 1)));
        let text = format!("Box.LAN:6868 {A}\n");
        assert_eq!(pin(&text, "box.lan:6868"), Some((A.parse().unwrap(), 1)));
    }

    #[test]
    fn an_old_line_in_another_ipv6_spelling_still_pins_the_agent() {
        let text = format!("[0:0:0:0:0:0:0:1]:6868 {A}\n");
        assert_eq!(pin(&text, "[::1]"), Some((A.parse().unwrap(), 1)));
    }

    #[test]
    fn a_cut_short_known_hosts_line_for_the_host_is_refused_not_trusted_again() {
        let cut = &A[..30];
        assert_eq!(
            bad_line(&format!("# pins\nbox:6868 {cut}")),
            (2, LineProblem::Fingerprint)
        );
        assert_eq!(bad_line("box:6868\n"), (1, LineProblem::Shape));
        assert_eq!(bad_line("box:68"), (1, LineProblem::Shape));
    }

    #[test]
    fn a_hand_edited_capital_sha256_is_refused_not_skipped() {
        let upper = A.replace("sha256:", "SHA256:");
        let text = format!("other:6868 {B}\nbox:6868 {upper}\n");
        assert_eq!(bad_line(&text), (2, LineProblem::Fingerprint));
    }

    #[test]
    fn garbage_after_the_fingerprint_is_refused_not_ignored() {
        assert_eq!(
            bad_line(&format!("box:6868 {A} trailing\n")),
            (1, LineProblem::Shape)
        );
        assert!(matches!(
            bad_line(&format!("bo x:6868 {A}\n")),
            (1, LineProblem::Shape)
        ));
        assert!(matches!(
            bad_line(&format!("box:0 {A}\n")),
            (1, LineProblem::Host(_))
        ));
    }

    #[test]
    fn a_damaged_line_for_another_host_also_stops_trust_on_first_use() {
        // The damaged line may have been ours before it was cut.
        let text = format!("elsewhere:6868 {}\n", &A[..20]);
        assert!(parse(text.as_bytes()).is_err());
    }

    #[test]
    fn bytes_that_are_not_utf8_are_refused_with_their_line() {
        let mut text = format!("box:6868 {A}\n").into_bytes();
        text.extend_from_slice(b"\xff\xfe:6868\n");
        assert!(matches!(
            parse(&text),
            Err(KnownHostsError::BadLine {
                line: 2,
                problem: LineProblem::NotUtf8
            })
        ));
    }

    #[test]
    fn the_error_names_the_line_and_says_nothing_is_trusted() {
        let err = parse(b"box:6868 SHA256:00\n").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("line 1") && text.contains("no agent is trusted"));
    }
}
