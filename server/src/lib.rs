//! lookout-server, the capture agent, as a library: the binary is a thin
//! `main.rs` over [`cli::Args`] and [`Agent`], and tests drive the same code
//! with a fake capture source and a recording input sink.
//!
//! ```text
//! capture thread ──(capture, JPEG once)──▶ watch slot per monitor
//!                                              │ newest frame only
//!   accept ─▶ handshake ─▶ session ─┬─ downlink task: replies + frames ─▶ socket
//!                                   └─ uplink loop: commands ─▶ input thread (enigo)
//! ```
//!
//! The wire format is the `lookout-protocol` crate's.

pub mod agent;
pub mod capture;
pub mod cli;
pub mod config;
mod downlink;
pub mod encode;
mod handshake;
pub mod input;
pub mod mapping;
mod session;
pub mod stream;

pub use agent::{Agent, AgentError, MAX_PENDING_HANDSHAKES};
pub use config::{Access, Config, Source};

use capture::{Capturer, CapturerFactory, ScreenCapturer, TestPattern};
use input::{EnigoSink, InputSink, InputSinkFactory};

/// The capturer factory for a configured source.
pub fn capturer_for(source: Source) -> CapturerFactory {
    match source {
        Source::Screen => Box::new(|| Ok(Box::new(ScreenCapturer::new()?) as Box<dyn Capturer>)),
        Source::TestPattern { width, height } => {
            Box::new(move || Ok(Box::new(TestPattern::new(width, height)) as Box<dyn Capturer>))
        }
    }
}

/// The input sink factory for the real desktop.
pub fn desktop_input() -> InputSinkFactory {
    Box::new(|| Ok(Box::new(EnigoSink::new()?) as Box<dyn InputSink>))
}
