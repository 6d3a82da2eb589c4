//! How a viewer run ends in failure, and the exit status for each way.

use crate::connection::SessionError;
use crate::decode::DecodeError;
use crate::png::SaveError;

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
    Decode(#[from] DecodeError),
    /// The PNG could not be written.
    #[error(transparent)]
    Save(#[from] SaveError),
    /// The `--record` file could not be created.
    #[error("cannot record to {}: {source}", path.display())]
    Record {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
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
