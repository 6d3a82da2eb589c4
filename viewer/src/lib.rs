//! lookout-viewer as a library: the binary is a thin `main.rs` over
//! [`cli::Args`] and [`run`], and tests drive the same code against a fake
//! agent on loopback.
//!
//! ```text
//!             ┌──────────── network thread (tokio current-thread) ────────────┐
//!  agent ◀──▶ │ connect ─▶ TLS+token ─▶ session: downlink ∥ uplink ─▶ backoff │
//!             └──────┬───────────────────────────────────▲────────────────────┘
//!                    │ JPEG (latest-value slot)          │ commands (bounded mpsc)
//!                    ▼                                   │
//!              decode thread ──▶ frame slot ──▶ window loop (main thread, minifb)
//! ```
//!
//! `--snapshot` skips the window: one connection, one frame, one PNG.
//!
//! The wire format is the `lookout-protocol` crate's.

pub mod backoff;
pub mod cli;
pub mod client;
pub mod connection;
pub mod decode;
pub mod keys;
pub mod layout;
pub mod slot;
pub mod snapshot;
pub mod stats;
pub mod steering;
pub mod title;
pub mod trust;
mod window;

pub use cli::{Args, Config, Mode, Target, Token};
pub use connection::SessionError;
pub use trust::Trust;

/// Why a viewer run failed. [`RunError::exit_code`] is the process exit
/// status.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The connection failed or the agent refused us.
    #[error(transparent)]
    Session(#[from] SessionError),
    /// No window could be opened.
    #[error("cannot open the window: {0} (no display? --snapshot FILE works without one)")]
    Window(#[source] minifb::Error),
    /// The snapshot frame could not be decoded.
    #[error(transparent)]
    Decode(#[from] decode::DecodeError),
    /// The PNG could not be written.
    #[error(transparent)]
    Save(#[from] snapshot::SaveError),
    /// A thread or the async runtime could not be started.
    #[error("cannot start a thread or runtime: {0}")]
    Runtime(#[source] std::io::Error),
    /// A background thread panicked (a bug).
    #[error("the {0} thread panicked")]
    Panicked(&'static str),
}

impl RunError {
    /// The exit status for this failure: 2 when the token was the problem
    /// (refused or missing), 3 when the agent is not the one pinned, 1 for
    /// everything else. Success is 0.
    pub fn exit_code(&self) -> u8 {
        match self {
            RunError::Session(err) if err.is_auth() => 2,
            RunError::Session(err) if err.is_impostor() => 3,
            _ => 1,
        }
    }
}

/// Runs the viewer as configured: the window until it is closed, or one
/// snapshot. Blocks; window mode must be called on the main thread.
pub fn run(config: &Config) -> Result<(), RunError> {
    match &config.mode {
        Mode::Window => window::run(config),
        Mode::Snapshot { path, frame } => snapshot::run(config, path, *frame),
    }
}
