//! Tokens kept in files: only in files no one else can read, as ssh insists
//! for `~/.ssh/id_*`. A config file holding a token, and every token file,
//! must be owned by the user running the program (the agent or the viewer)
//! and closed to group and others (mode 0600 or 0400). The agent and the
//! viewer both read their settings through this one check.

use std::io::Read;
use std::path::{Path, PathBuf};

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
        "{} holds a token but belongs to uid {owner}, not to the user running this program \
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

/// Why a token file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SecretFileError {
    /// Unreadable.
    #[error("cannot read {}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Others could read or change it.
    #[error(transparent)]
    OwnerOnly(#[from] OwnerOnlyError),
    /// It holds no token.
    #[error("{} holds no token (its first line is empty)", .0.display())]
    Empty(PathBuf),
}

/// Checks that `path` is owned by us and closed to group and others.
pub fn check_owner_only(path: &Path) -> Result<(), SecretFileError> {
    let meta = std::fs::metadata(path).map_err(|source| SecretFileError::Io {
        path: path.to_owned(),
        source,
    })?;
    Ok(check_meta(path, &meta)?)
}

#[cfg(unix)]
fn check_meta(path: &Path, meta: &std::fs::Metadata) -> Result<(), OwnerOnlyError> {
    use std::os::unix::fs::MetadataExt;
    let me = rustix::process::geteuid().as_raw();
    if meta.uid() != me {
        return Err(OwnerOnlyError::NotYours {
            path: path.to_owned(),
            owner: meta.uid(),
            me,
        });
    }
    if meta.mode() & 0o077 != 0 {
        return Err(OwnerOnlyError::OpenToOthers {
            path: path.to_owned(),
            mode: meta.mode() & 0o7777,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_meta(_: &Path, _: &std::fs::Metadata) -> Result<(), OwnerOnlyError> {
    Ok(())
}

/// The token in `path`: its first line, once the file passed the check
/// (on the open handle, so the file checked is the file read).
pub fn read_token(path: &Path) -> Result<String, SecretFileError> {
    read_from(path, std::fs::OpenOptions::new().read(true), 0)
}

/// [`read_token`] that refuses a symbolic link (`O_NOFOLLOW`): for a
/// file the agent wrote itself, which nobody should have replaced by a
/// link to some other file.
pub fn read_token_no_symlink(path: &Path) -> Result<String, SecretFileError> {
    #[cfg(unix)]
    let flags = rustix::fs::OFlags::NOFOLLOW.bits() as i32;
    #[cfg(not(unix))]
    let flags = 0;
    read_from(path, std::fs::OpenOptions::new().read(true), flags)
}

/// Reads the token of `path` opened with `options` and the extra open
/// `flags`. Opened without blocking, and only a regular file is read: a
/// FIFO or a device put at the path would otherwise hang the program.
fn read_from(
    path: &Path,
    options: &mut std::fs::OpenOptions,
    flags: i32,
) -> Result<String, SecretFileError> {
    let io = |source| SecretFileError::Io {
        path: path.to_owned(),
        source,
    };
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(
        options,
        flags | rustix::fs::OFlags::NONBLOCK.bits() as i32,
    );
    #[cfg(not(unix))]
    let _ = flags;
    let file = options.open(path).map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    if !meta.is_file() {
        return Err(io(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file",
        )));
    }
    check_meta(path, &meta)?;
    let mut text = String::new();
    // A token is a line; a megabyte is plenty and bounds a mistaken path.
    file.take(1 << 20).read_to_string(&mut text).map_err(io)?;
    let token = text.lines().next().unwrap_or("").trim_end();
    if token.is_empty() {
        return Err(SecretFileError::Empty(path.to_owned()));
    }
    Ok(token.to_owned())
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn a_fifo_at_the_token_path_is_refused_at_once_not_waited_on() {
        let dir = std::env::temp_dir().join(format!("lookout-secret-fifo-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("token");
        let _ = std::fs::remove_file(&path);
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &path,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        // Without O_NONBLOCK the open waits for a writer for ever: in a
        // thread, with a bounded wait for its answer.
        let (tx, rx) = std::sync::mpsc::channel();
        let at = path.clone();
        std::thread::spawn(move || {
            let _ = tx.send((
                read_token(&at).is_err(),
                read_token_no_symlink(&at).is_err(),
            ));
        });
        let refused = rx.recv_timeout(std::time::Duration::from_secs(10));
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(refused, Ok((true, true)), "a FIFO must be refused at once");
    }

    #[test]
    fn a_token_is_read_only_from_a_file_no_one_else_can_read() {
        let dir = std::env::temp_dir().join(format!("lookout-secret-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("token");
        std::fs::write(&path, "a-token-of-sixteen-chars\nignored\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let refused = read_token(&path).unwrap_err().to_string();
        assert!(refused.contains("chmod 600"), "{refused}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(read_token(&path).unwrap(), "a-token-of-sixteen-chars");
        std::fs::write(&path, "\n").unwrap();
        assert!(matches!(read_token(&path), Err(SecretFileError::Empty(_))));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_token_read_without_following_links_refuses_a_symlink() {
        let dir = std::env::temp_dir().join(format!("lookout-secret-link-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let real = dir.join("real");
        std::fs::write(&real, "a-token-of-sixteen-chars\n").unwrap();
        std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o600)).unwrap();
        let link = dir.join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        assert!(
            read_token(&link).is_ok(),
            "an operator's token file may be a link"
        );
        assert!(
            read_token_no_symlink(&link).is_err(),
            "the agent's own file may not"
        );
        assert_eq!(
            read_token_no_symlink(&real).unwrap(),
            "a-token-of-sixteen-chars"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
