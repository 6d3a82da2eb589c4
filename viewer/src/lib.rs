//! lookout-viewer as a library: the binary is a thin `main.rs` over
//! [`cli::Args`] and [`run`], and tests drive the same code against a fake
//! agent on loopback.
//!
//! ```text
//!             ┌──────── network::NetThread (tokio current-thread) ─────────┐
//!  agent ◀──▶ │ connection: connect ─▶ TLS+token ─▶ FrameReader ∥ Writer   │
//!             │ network:    session = downlink ∥ uplink ─▶ backoff, again  │
//!             └──────┬────────────────────────────────────▲────────────────┘
//!                    │ updates (bounded queue)            │ commands (bounded mpsc)
//!                    ▼                                    │ status (watch) ▼
//!              decode thread ──▶ frame slot ──▶ window::Ui (main thread) ◀▶ Presenter (minifb)
//!              (composes region updates)
//! ```
//!
//! Where to look:
//!
//! * [`network`]: the network thread of the window mode: reconnects with
//!   backoff, restores the user's choices, runs each session (downlink of
//!   frames, uplink of commands and pings). Start here for "what happens
//!   when the agent goes away".
//! * [`connection`]: one connection: TCP, TLS ([`trust`]), the token
//!   handshake, then [`connection::FrameReader`] (frames paired with their
//!   images by the protocol crate) and [`connection::CommandWriter`].
//! * [`untrusted`]: what the agent says (errors, names), escaped before
//!   it is shown.
//! * `window`: the window core (`Ui`: status, local keys, steering gate,
//!   title) behind a `Presenter` trait, with minifb as the real one.
//! * [`decode`], [`scaler`], [`layout`], [`steering`], [`keys`]: pixels in,
//!   input out.
//! * [`discover`]: `--discover`, agents found on the local network by
//!   UDP broadcast, for a listing (and for the wall).
//! * [`stream`]: what `start_monitor` asks for (`--fps`, `--quality`,
//!   `--max-size`, the window's size) from an agent that offers `profiles`.
//!
//! `--wall` ([`wall`]): one window, a live tile per agent, each with the
//! network and decode threads above.
//!
//! `--snapshot` ([`snapshot`]) skips the window: one connection, the
//! picture composed from N updates, one PNG ([`png`]).
//!
//! The wire format is the `lookout-protocol` crate's.

pub mod backoff;
pub mod choice;
pub mod cli;
pub mod connection;
pub mod decode;
pub mod discover;
mod error;
pub mod keys;
pub mod layout;
pub mod network;
pub mod png;
pub mod record;
pub mod scaler;
mod screen;
pub mod settings;
pub mod slot;
pub mod snapshot;
pub mod stats;
pub mod steering;
pub mod stream;
pub mod target;
pub mod trust;
pub mod untrusted;
pub mod wall;
mod window;

pub use choice::MonitorChoice;
pub use cli::{Args, Config, Mode, Token};
pub use connection::SessionError;
pub use error::RunError;
pub use target::{Target, TargetError};
pub use trust::Trust;

/// Runs the viewer as configured: the window until it is closed, or one
/// snapshot. Blocks; window mode must be called on the main thread.
pub fn run(config: &Config) -> Result<(), RunError> {
    match &config.mode {
        Mode::Window => window::run(config),
        Mode::Snapshot { path, frame } => snapshot::run(config, path, *frame),
    }
}
