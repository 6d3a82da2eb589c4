//! The agent's validated configuration.

use std::fmt;
use std::net::SocketAddr;
use std::num::NonZeroUsize;

use crate::stream::CaptureSettings;

/// Everything the agent needs to know to run, already checked.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where to listen.
    pub bind: SocketAddr,
    /// Who may connect.
    pub access: Access,
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
}

/// How viewers authenticate.
#[derive(Clone, PartialEq, Eq)]
pub enum Access {
    /// Viewers must prove they know this token.
    Token {
        /// The shared secret. Never logged: see the `Debug` impl.
        token: String,
        /// Made up at start because none was given (so it gets printed).
        generated: bool,
    },
    /// Anyone may connect (loopback binds only).
    Open,
}

impl fmt::Debug for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Access::Token { generated, .. } => f
                .debug_struct("Token")
                .field("token", &"<redacted>")
                .field("generated", generated)
                .finish(),
            Access::Open => f.write_str("Open"),
        }
    }
}

/// Where frames come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The real screen.
    Screen,
    /// The synthetic test scene.
    TestPattern {
        /// Scene width.
        width: u32,
        /// Scene height.
        height: u32,
    },
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
    /// `--token ""`.
    #[error("the token must not be empty")]
    EmptyToken,
    /// The OS random number generator failed.
    #[error("cannot generate a token: {0}")]
    Random(#[from] getrandom::Error),
}

/// A fresh random token: 16 bytes from the OS RNG, as 32 hex characters.
pub fn generate_token() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)?;
    Ok(hex::encode(bytes))
}
