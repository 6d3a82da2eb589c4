//! The portal's restore token, kept between starts so that the consent
//! dialog is answered once ("until revoked"), not at every start.
//!
//! The token lets whoever holds it share this screen without asking, so
//! it is kept like the agent's identity: in a directory of the user's own
//! (0700), in a file only the user can read (0600, written under a
//! temporary name and renamed, so a crash never leaves half a token), and
//! read only from a file that passes the same owner-only check as token
//! files. A token that fails the check is not used: the dialog shows again.

use std::fs;
use std::path::{Path, PathBuf};

/// The file's name in the agent's config directory.
pub const TOKEN_FILE: &str = "portal-restore-token";

/// Longest token kept. The portals make UUIDs (36 characters); this is
/// far beyond that and bounds what a confused portal can make us store.
pub const MAX_TOKEN_LEN: usize = 256;

/// Where the restore token lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenStore {
    path: PathBuf,
}

impl TokenStore {
    /// `lookout-server/portal-restore-token` in the user's config
    /// directory (next to the identity), if there is one.
    pub fn default_place() -> Option<Self> {
        dirs::config_dir().map(|dir| Self::at(dir.join("lookout-server").join(TOKEN_FILE)))
    }

    /// A store at `path` (tests, `--state` style overrides).
    pub fn at(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The token saved before, if there is a usable one. A missing file is
    /// the first start; a file others could read or write, or one that
    /// holds no valid token, is reported and not used.
    pub fn load(&self) -> Option<String> {
        // Not `exists`, which follows a link: a link is there, and refused.
        if fs::symlink_metadata(&self.path).is_err() {
            return None;
        }
        match lookout_secret_files::read_token_no_symlink(&self.path) {
            Ok(token) if valid(&token) => Some(token),
            Ok(_) => {
                tracing::warn!(path = %self.path.display(), "ignoring a malformed portal restore token");
                None
            }
            Err(err) => {
                let error = &err as &dyn std::error::Error;
                tracing::warn!(
                    error,
                    "ignoring the portal restore token; the portal will ask again"
                );
                None
            }
        }
    }

    /// Deletes the saved token, if any: the next session asks in the
    /// dialog again.
    pub fn forget(&self) {
        match std::fs::remove_file(&self.path) {
            Ok(()) => tracing::info!(
                path = %self.path.display(),
                "portal: deleted the restore token; the next start shows the dialog"
            ),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => {
                let error = &err as &dyn std::error::Error;
                tracing::warn!(error, path = %self.path.display(), "portal: cannot delete the restore token");
            }
        }
    }

    /// Saves `token` for the next start (directory 0700, file 0600,
    /// atomically). A token that is not a short printable string is not
    /// saved.
    pub fn save(&self, token: &str) -> std::io::Result<()> {
        if !valid(token) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "the portal's restore token is not a short printable string",
            ));
        }
        crate::secret::write_private(&self.path, token)
    }
}

/// Whether `token` is something the portal makes: short, printable ASCII,
/// no spaces (it is logged nowhere, but it is written into a file read
/// back as one line).
fn valid(token: &str) -> bool {
    !token.is_empty() && token.len() <= MAX_TOKEN_LEN && token.bytes().all(|b| b.is_ascii_graphic())
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "lookout-portal-token-{name}-{}",
            std::process::id()
        ));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn a_saved_restore_token_is_private_and_read_back_on_the_next_start() {
        let dir = temp_dir("roundtrip");
        let store = TokenStore::at(dir.join("lookout-server").join(TOKEN_FILE));
        assert_eq!(store.load(), None, "first start: no token");
        store.save("6f1c9a2e-0b7d-4c55-9e1a-2f3b4c5d6e7f").unwrap();
        assert_eq!(mode(store.path()), 0o600);
        assert_eq!(mode(store.path().parent().unwrap()), 0o700);
        // The next start (a new store at the same place) passes it on.
        let again = TokenStore::at(store.path());
        assert_eq!(
            again.load().as_deref(),
            Some("6f1c9a2e-0b7d-4c55-9e1a-2f3b4c5d6e7f")
        );
        // The portal hands out a new token each time: it replaces the old.
        again.save("second").unwrap();
        assert_eq!(store.load().as_deref(), Some("second"));
        assert_eq!(
            fs::read_dir(store.path().parent().unwrap())
                .unwrap()
                .count(),
            1,
            "no temp file left"
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_forgotten_token_is_gone_for_the_next_start() {
        let dir = temp_dir("forget");
        let store = TokenStore::at(dir.join(TOKEN_FILE));
        store.save("secret-token").unwrap();
        store.forget();
        assert!(!store.path().exists());
        assert_eq!(TokenStore::at(store.path()).load(), None);
        // Forgetting what is not there is no error.
        store.forget();
    }

    #[test]
    fn a_token_file_that_is_a_link_or_open_to_writers_is_not_used() {
        let dir = temp_dir("link");
        let store = TokenStore::at(dir.join(TOKEN_FILE));
        store.save("secret-token").unwrap();
        let elsewhere = dir.join("elsewhere");
        fs::rename(store.path(), &elsewhere).unwrap();
        std::os::unix::fs::symlink(&elsewhere, store.path()).unwrap();
        assert_eq!(store.load(), None, "a link put in its place is refused");
        fs::remove_file(store.path()).unwrap();
        store.save("secret-token").unwrap();
        fs::set_permissions(store.path(), fs::Permissions::from_mode(0o620)).unwrap();
        assert_eq!(store.load(), None, "group-writable");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_token_file_others_can_read_is_not_used() {
        let dir = temp_dir("open");
        let store = TokenStore::at(dir.join(TOKEN_FILE));
        store.save("secret-token").unwrap();
        fs::set_permissions(store.path(), fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(store.load(), None);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_oversized_or_unprintable_token_is_neither_saved_nor_used() {
        let dir = temp_dir("bad");
        let store = TokenStore::at(dir.join(TOKEN_FILE));
        assert!(store.save(&"a".repeat(MAX_TOKEN_LEN + 1)).is_err());
        assert!(store.save("two words").is_err());
        assert!(store.save("bell\u{7}").is_err());
        assert!(!store.path().exists());
        fs::create_dir_all(&dir).unwrap();
        fs::write(store.path(), "a".repeat(MAX_TOKEN_LEN + 1)).unwrap();
        fs::set_permissions(store.path(), fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(store.load(), None);
        fs::remove_dir_all(&dir).unwrap();
    }
}
