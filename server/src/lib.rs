//! lookout-server, the capture agent, as a library: the binary is a thin
//! `main.rs` over [`cli::Args`] and [`Agent`], and tests drive the same code
//! with a fake capture source and a recording input sink.
//!
//! ```text
//! pipeline: capture thread ─▶ encode thread (JPEG once) ─▶ hub: watch slot per monitor
//!                                                                  │ newest frame only
//!   accept ─▶ TLS ─▶ token handshake ─▶ session ─┬─ downlink task: replies + frames ─▶ socket
//!                                                └─ uplink loop: commands ─▶ input thread (enigo)
//! ```
//!
//! Every connection is bounded: a per-address limit on failed
//! authentications ([`limiter`]), a bounded table of pending handshakes
//! that drops the oldest when full, one deadline for TLS and the token, a
//! write deadline, a silence limit, and paced pointer moves.
//!
//! Frames come from [`capture`] (the X11 capturer, xcap or a test
//! pattern, picked by [`capture::open`]), are JPEG-encoded once by
//! [`encode`] on the [`pipeline`]'s threads, and reach viewers through the
//! [`hub`]. The wire format is the `lookout-protocol` crate's.

pub mod agent;
pub mod capture;
pub mod cli;
pub mod coalesce;
pub mod config;
pub mod encode;
pub mod hub;
pub mod input;
pub mod limiter;
pub mod mapping;
pub mod pipeline;
mod session;
pub mod tls;

pub use agent::{Agent, AgentError, MAX_PENDING_HANDSHAKES};
pub use capture::{CaptureBackend, Source};
pub use coalesce::MOVE_INTERVAL;
pub use config::{Access, Config, Transport};
pub use input::desktop_input;
pub use tls::Identity;
