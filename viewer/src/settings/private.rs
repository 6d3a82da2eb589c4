//! Tokens kept in files: only in files no one else can read. The check
//! itself is `lookout_secret_files`'s, shared with the other program;
//! here its errors become this crate's [`SettingsError`].

use std::path::Path;

pub use lookout_secret_files::OwnerOnlyError;
use lookout_secret_files::SecretFileError;

use super::SettingsError;
use crate::cli::Token;

impl From<SecretFileError> for SettingsError {
    fn from(err: SecretFileError) -> Self {
        match err {
            SecretFileError::Io { path, source } => SettingsError::Io { path, source },
            SecretFileError::OwnerOnly(err) => SettingsError::OwnerOnly(err),
            SecretFileError::Empty(path) => SettingsError::EmptyTokenFile(path),
        }
    }
}

/// Checks that `path` is owned by the user running the viewer and closed to
/// group and others.
pub(super) fn check_owner_only(path: &Path) -> Result<(), SettingsError> {
    Ok(lookout_secret_files::check_owner_only(path)?)
}

/// The token in `path`: its first line, once the file passed the check.
pub(super) fn read_token(path: &Path) -> Result<Token, SettingsError> {
    let token = lookout_secret_files::read_token(path)?;
    Ok(Token::new(token))
}
