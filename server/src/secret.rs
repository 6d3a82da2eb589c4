//! The agent's tokens as secrets: a type whose `Debug` never shows them,
//! the shortest one accepted, generation, and the owner-only file a
//! generated token goes to when no one is at a terminal to read it.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Shortest token the agent accepts, in characters. Anyone who can reach
/// the agent may guess online, and a token proof (an HMAC of a challenge)
/// seen by a man in the middle can be tested offline against guesses: a
/// short token falls to either.
pub const MIN_TOKEN_CHARS: usize = 16;

/// How to make a good token, for error messages.
pub const MAKE_A_TOKEN: &str =
    "make one with `openssl rand -base64 24`, or leave --token out to have one generated";

/// A token as given on the command line or in the environment. `Debug`
/// prints `<redacted>`, so a logged [`Args`](crate::cli::Args) cannot leak it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// The secret itself.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The secret itself, owned.
    pub fn into_inner(self) -> String {
        self.0
    }
}

impl From<String> for Secret {
    fn from(secret: String) -> Self {
        Self(secret)
    }
}

/// Written out only to merge config layers; `--print-config` shows
/// `<redacted>` instead.
impl serde::Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Self)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Random bytes in a generated token: 128 bits.
const GENERATED_BYTES: usize = 16;

/// A fresh random token: 16 bytes (128 bits) from the OS RNG, as 32 hex
/// characters.
pub fn generate_token() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; GENERATED_BYTES];
    getrandom::fill(&mut bytes)?;
    Ok(hex::encode(bytes))
}

/// The name of the file a generated token is written to.
pub const TOKEN_FILE: &str = "token";

/// Writes `token` to `dir`/[`TOKEN_FILE`], owner-only (0600) from its first
/// byte: it is written under a temporary name created with that mode, then
/// renamed over any older one, so the file is never readable by others and
/// never half-written. Makes `dir` (0700) if needed. Returns the path.
pub fn save_token(dir: &Path, token: &str) -> std::io::Result<PathBuf> {
    let path = dir.join(TOKEN_FILE);
    write_private(&path, token)?;
    Ok(path)
}

/// Writes `line` and a newline to `path`, owner-only (0600) from its
/// first byte and never half-written: under a temporary name created with
/// that mode, then renamed over any older file. Makes its directory
/// (0700) if needed. The agent's secrets (its generated token, the
/// portal's restore token) are all written so.
pub fn write_private(path: &Path, line: &str) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "no file name"))?
        .to_string_lossy();
    let temp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    if !dir.exists() {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(dir)?;
        // Whatever the umask: the directory we made is ours alone.
        #[cfg(unix)]
        std::fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o700))?;
    }
    // A leftover of a crashed start with our pid: not ours to trust.
    match std::fs::remove_file(&temp) {
        Err(err) if err.kind() != std::io::ErrorKind::NotFound => return Err(err),
        _ => {}
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let written = options.open(&temp).and_then(|mut file| {
        file.write_all(line.as_bytes())?;
        file.write_all(b"\n")?;
        file.sync_all()
    });
    if let Err(err) = written.and_then(|()| std::fs::rename(&temp, path)) {
        let _ = std::fs::remove_file(&temp);
        return Err(err);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_token_carries_128_random_bits() {
        let a = generate_token().unwrap();
        let b = generate_token().unwrap();
        assert_eq!(hex::decode(&a).unwrap().len() * 8, 128);
        assert!(a.chars().count() >= MIN_TOKEN_CHARS);
        assert_ne!(a, b);
    }

    #[test]
    fn a_secrets_debug_never_shows_it() {
        let secret = Secret::from("correct horse battery staple".to_owned());
        assert_eq!(format!("{secret:?}"), "<redacted>");
        assert_eq!(secret.expose(), "correct horse battery staple");
    }

    #[cfg(unix)]
    #[test]
    fn a_saved_token_is_owner_only_and_replaces_the_old_one() {
        use std::os::unix::fs::PermissionsExt;

        let dir = std::env::temp_dir().join(format!(
            "lookout-secret-test-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        let path = save_token(&dir.join("state"), "first-token-0123456789").unwrap();
        let path_again = save_token(&dir.join("state"), "second-token-0123456789").unwrap();
        assert_eq!(path, path_again);
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&dir.join("state")), 0o700);
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "second-token-0123456789\n"
        );
        assert_eq!(std::fs::read_dir(dir.join("state")).unwrap().count(), 1);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
