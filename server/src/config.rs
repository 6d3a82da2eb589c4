//! The agent's validated configuration.

use std::fmt;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::PathBuf;

use lookout_protocol::Timeouts;

pub use crate::capture::{CaptureBackend, Source};
use crate::pipeline::CaptureSettings;
pub use crate::secret::generate_token;
use crate::secret::{MAKE_A_TOKEN, MIN_TOKEN_CHARS};
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
    /// End [`crate::Agent::run`] once the display has been gone this long
    /// (`--exit-on-display-loss`); `None` waits for it forever.
    pub exit_on_display_loss: Option<std::time::Duration>,
    /// Answer LAN discovery probes on UDP at `bind` (off with
    /// `--no-discovery`, and always off with plain TCP: see
    /// [`crate::discovery`]).
    pub discovery: bool,
    /// Record what is streamed (`--record-dir`); `None`: no recording.
    pub record: Option<crate::record::RecordSettings>,
    /// Serve the browser viewer on the same port (ALPN `http/1.1`, see
    /// [`crate::web`]); off with `--no-web`, and never with plain TCP.
    pub web: bool,
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
    #[error("a token must not be empty; {MAKE_A_TOKEN}")]
    EmptyToken,
    /// A token shorter than [`MIN_TOKEN_CHARS`].
    #[error(
        "{option} has {chars} characters; at least {MIN_TOKEN_CHARS} are needed, because anyone \
         who reaches the agent can guess a short token online, and it is a weak key for the \
         HMAC of the token proof; {MAKE_A_TOKEN}"
    )]
    ShortToken {
        /// Which token: `--token` or `--view-token`.
        option: &'static str,
        /// How long it is.
        chars: usize,
    },
    /// `--view-token` equal to `--token`.
    #[error("--view-token must differ from --token")]
    SameTokens,
    /// `--timeouts` names a limit the agent does not have.
    #[error("--timeouts: {0}")]
    Timeouts(&'static str),
    /// The OS random number generator failed.
    #[error("cannot generate a token: {0}")]
    Random(#[from] getrandom::Error),
    /// Two options that exclude each other (`no_tls` and `identity`,
    /// `no_auth` and a token), from any mix of flags and config files.
    #[error("{0} and {1} cannot be used together (see --print-config for where each is set)")]
    Conflict(&'static str, &'static str),
    /// A config file or token file that cannot be used.
    #[error(transparent)]
    Settings(#[from] crate::settings::SettingsError),
    /// A number outside its range (the flags check theirs as they parse;
    /// a config file's are checked here).
    #[error("{option} must be {min} to {max}, not {value}")]
    OutOfRange {
        /// Which option.
        option: &'static str,
        /// Its smallest value.
        min: u32,
        /// Its largest value.
        max: u32,
        /// What it was given.
        value: u32,
    },
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

impl Config {
    /// Checks the rules that hold whoever builds the configuration (the
    /// command line or a program using the library): open access and plain
    /// TCP only on a loopback bind, tokens of at least [`MIN_TOKEN_CHARS`]
    /// characters, a view token that differs from the token.
    /// [`Agent::start`](crate::Agent::start) refuses a configuration that
    /// breaks them.
    pub fn validate(&self) -> Result<(), ConfigError> {
        // 0.0.0.0 and :: are not loopback: they listen on every interface.
        let loopback = self.bind.ip().is_loopback();
        match &self.access {
            Access::Open if !loopback => return Err(ConfigError::NoAuthOffLoopback(self.bind)),
            Access::Open => {}
            Access::Token {
                token, view_token, ..
            } => {
                check_token("--token", token)?;
                if let Some(view_token) = view_token {
                    check_token("--view-token", view_token)?;
                    if view_token == token {
                        return Err(ConfigError::SameTokens);
                    }
                }
            }
        }
        if matches!(self.transport, Transport::Plain) && !loopback {
            return Err(ConfigError::NoTlsOffLoopback(self.bind));
        }
        checked_name(&self.name)?;
        in_range("fps", self.capture.fps, 1, 240)?;
        in_range("quality", u32::from(self.capture.quality), 1, 100)?;
        if let Some(after) = self.exit_on_display_loss {
            let secs = u32::try_from(after.as_secs()).unwrap_or(u32::MAX);
            in_range("exit_on_display_loss", secs, 1, 86_400)?;
        }
        Ok(())
    }
}

fn in_range(option: &'static str, value: u32, min: u32, max: u32) -> Result<(), ConfigError> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(ConfigError::OutOfRange {
            option,
            min,
            max,
            value,
        })
    }
}

fn check_token(option: &'static str, token: &str) -> Result<(), ConfigError> {
    match token.chars().count() {
        0 => Err(ConfigError::EmptyToken),
        chars if chars < MIN_TOKEN_CHARS => Err(ConfigError::ShortToken { option, chars }),
        _ => Ok(()),
    }
}
