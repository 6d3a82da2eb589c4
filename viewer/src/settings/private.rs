//! Tokens kept in files: only in files no one else can read, like ssh
//! insists for `~/.ssh/id_*`. A config file holding a token, and every
//! token file, must be owned by the user running the viewer and closed to
//! group and others (mode 0600 or 0400).

use std::io::Read;
use std::path::{Path, PathBuf};

use super::SettingsError;
use crate::cli::Token;

/// A file holding a token that others could read or change.
#[derive(Debug, thiserror::Error)]
pub enum OwnerOnlyError {
    /// Group or others have some access.
    #[error(
        "{} holds a token but its mode is {mode:04o}, so other users may read it; \
         run `chmod 600 {}`",
        path.display(),
        path.display()
    )]
    OpenToOthers {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// Another user owns it.
    #[error(
        "{} holds a token but belongs to uid {owner}, not to the user running the viewer \
         (uid {me}); keep the token in a file of your own (chmod 600), e.g. with token_file",
        path.display()
    )]
    NotYours {
        /// The file.
        path: PathBuf,
        /// Its owner's uid.
        owner: u32,
        /// Ours.
        me: u32,
    },
}

/// Checks that `path` is owned by us and closed to group and others.
pub(super) fn check_owner_only(path: &Path) -> Result<(), SettingsError> {
    let meta = std::fs::metadata(path).map_err(|source| SettingsError::Io {
        path: path.to_owned(),
        source,
    })?;
    check_meta(path, &meta)
}

#[cfg(unix)]
fn check_meta(path: &Path, meta: &std::fs::Metadata) -> Result<(), SettingsError> {
    use std::os::unix::fs::MetadataExt;
    let me = rustix::process::geteuid().as_raw();
    if meta.uid() != me {
        return Err(OwnerOnlyError::NotYours {
            path: path.to_owned(),
            owner: meta.uid(),
            me,
        }
        .into());
    }
    if meta.mode() & 0o077 != 0 {
        return Err(OwnerOnlyError::OpenToOthers {
            path: path.to_owned(),
            mode: meta.mode() & 0o7777,
        }
        .into());
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_meta(_: &Path, _: &std::fs::Metadata) -> Result<(), SettingsError> {
    Ok(())
}

/// The token in `path`: its first line, once the file passed the check
/// (on the open handle, so the file checked is the file read).
pub(super) fn read_token(path: &Path) -> Result<Token, SettingsError> {
    let io = |source| SettingsError::Io {
        path: path.to_owned(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    check_meta(path, &file.metadata().map_err(io)?)?;
    let mut text = String::new();
    // A token is a line; a megabyte is plenty and bounds a mistaken path.
    file.take(1 << 20).read_to_string(&mut text).map_err(io)?;
    let token = text.lines().next().unwrap_or("").trim_end();
    if token.is_empty() {
        return Err(SettingsError::EmptyTokenFile(path.to_owned()));
    }
    Ok(Token::new(token))
}
