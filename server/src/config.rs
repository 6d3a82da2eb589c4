//! The agent's validated configuration.

use std::fmt;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::PathBuf;

use lookout_protocol::Timeouts;

pub use crate::capture::{CaptureBackend, Source};
use crate::pipeline::CaptureSettings;
use crate::tls::Identity;

/// Everything the agent needs to know to run, already checked.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where to listen.
    pub bind: SocketAddr,
    /// Who may connect.
    pub access: Access,
    /// TLS (the default) or plain TCP.
    pub transport: Transport,
    /// Whether viewers may send input (`false` with `--view-only`).
    pub control: bool,
    /// Capture pace and JPEG quality.
    pub capture: CaptureSettings,
    /// The monitor viewers see first; `None` = the primary one.
    pub monitor: Option<u32>,
    /// Most viewers at once.
    pub max_viewers: NonZeroUsize,
    /// What to stream.
    pub source: Source,
    /// Every session time limit (the protocol's defaults unless a test
    /// shortens them).
    pub timeouts: Timeouts,
    /// The agent's name for people, sent in `welcome` (`--name`; default
    /// the host name, see [`host_name`]).
    pub name: String,
}

/// The longest agent name sent in `welcome`, in characters.
pub const MAX_NAME_CHARS: usize = 64;

/// This machine's host name, the agent's default name; `lookout-server`
/// when the system has none.
pub fn host_name() -> String {
    let name = gethostname::gethostname();
    let name = name.to_string_lossy();
    let name: String = name
        .trim()
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_NAME_CHARS)
        .collect();
    if name.is_empty() {
        "lookout-server".to_owned()
    } else {
        name
    }
}

/// How viewers authenticate.
#[derive(Clone, PartialEq, Eq)]
pub enum Access {
    /// Viewers must prove they know a token.
    Token {
        /// The full-control secret. Never logged: see the `Debug` impl.
        token: String,
        /// A second secret that only lets viewers watch (`--view-token`).
        view_token: Option<String>,
        /// Made up at start because none was given (so it gets printed).
        generated: bool,
    },
    /// Anyone may connect (loopback binds only).
    Open,
}

impl Access {
    /// Full control with `token`, no view-only token.
    pub fn token(token: impl Into<String>) -> Self {
        Access::Token {
            token: token.into(),
            view_token: None,
            generated: false,
        }
    }
}

impl fmt::Debug for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Access::Token {
                view_token,
                generated,
                ..
            } => f
                .debug_struct("Token")
                .field("token", &"<redacted>")
                .field("view_token", &view_token.as_ref().map(|_| "<redacted>"))
                .field("generated", generated)
                .finish(),
            Access::Open => f.write_str("Open"),
        }
    }
}

/// What carries the protocol.
#[derive(Debug, Clone)]
pub enum Transport {
    /// TLS 1.3 with the identity kept in this directory (made on first start).
    Tls(PathBuf),
    /// TLS 1.3 with an identity held in memory (tests, throwaway agents).
    TlsWith(Identity),
    /// Plain TCP: `--no-tls`, loopback binds only, for debugging.
    Plain,
}

/// A combination of options that cannot run.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// `--no-auth` with a bind address other hosts can reach.
    #[error(
        "--no-auth is only allowed with a loopback --bind (such as 127.0.0.1:6868), not {0}: \
         it would hand the screen and mouse to anyone on the network"
    )]
    NoAuthOffLoopback(SocketAddr),
    /// `--no-tls` with a bind address other hosts can reach.
    #[error(
        "--no-tls is only allowed with a loopback --bind (such as 127.0.0.1:6868), not {0}: \
         it would send the screen and the token proof in the clear"
    )]
    NoTlsOffLoopback(SocketAddr),
    /// `--identity` not given and no config directory to default to.
    #[error(transparent)]
    Identity(#[from] crate::tls::IdentityError),
    /// `--token ""` or `--view-token ""`.
    #[error("a token must not be empty")]
    EmptyToken,
    /// `--view-token` equal to `--token`.
    #[error("--view-token must differ from --token")]
    SameTokens,
    /// `--timeouts` names a limit the agent does not have.
    #[error("--timeouts: {0}")]
    Timeouts(&'static str),
    /// The OS random number generator failed.
    #[error("cannot generate a token: {0}")]
    Random(#[from] getrandom::Error),
    /// `--name` empty, too long, or with control characters.
    #[error("--name must be 1 to {MAX_NAME_CHARS} characters without control characters")]
    BadName,
}

/// A `--name` as given, if it is one a viewer can show as it is.
pub fn checked_name(name: &str) -> Result<String, ConfigError> {
    let count = name.chars().count();
    if count == 0 || count > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(ConfigError::BadName);
    }
    Ok(name.to_owned())
}

/// A fresh random token: 16 bytes from the OS RNG, as 32 hex characters.
pub fn generate_token() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)?;
    Ok(hex::encode(bytes))
}
