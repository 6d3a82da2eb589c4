//! lookout-server, the capture agent, as a library: the binary is a thin
//! `main.rs` over [`cli::Args`] and [`Agent`], and tests drive the same code
//! with a fake capture source and a recording input sink.
//!
//! ```text
//! capture thread ──(capture, JPEG once)──▶ watch slot per monitor
//!                                                    │ newest frame only
//!   accept ─▶ TLS ─▶ token handshake ─▶ session ─┬─ downlink task: replies + frames ─▶ socket
//!                                                └─ uplink loop: commands ─▶ input thread (enigo)
//! ```
//!
//! Every connection is bounded: a per-address limit on failed
//! authentications ([`limiter`]), a bounded table of pending handshakes
//! that drops the oldest when full, one deadline for TLS and the token, a
//! write deadline, a silence limit, and paced pointer moves.
//!
//! The wire format is the `lookout-protocol` crate's.

pub mod agent;
pub mod capture;
pub mod cli;
pub mod coalesce;
pub mod config;
pub mod encode;
pub mod input;
pub mod limiter;
pub mod mapping;
mod session;
pub mod stream;
pub mod tls;

pub use agent::{Agent, AgentError, MAX_PENDING_HANDSHAKES};
pub use coalesce::MOVE_INTERVAL;
pub use config::{Access, CaptureBackend, Config, Source, Transport};
pub use tls::Identity;

use capture::{CaptureError, Capturer, CapturerFactory, ScreenCapturer, TestPattern};
use input::{EnigoSink, InputSink, InputSinkFactory};

/// The capturer factory for a configured source.
pub fn capturer_for(source: Source) -> CapturerFactory {
    match source {
        Source::Screen(backend) => Box::new(move || {
            // On X11 the direct capturer (one connection, shared memory)
            // costs a fraction of xcap per frame; xcap covers the rest.
            #[cfg(target_os = "linux")]
            if backend != CaptureBackend::Xcap {
                match capture::X11Capturer::from_session() {
                    Some(Ok(x11)) => {
                        tracing::info!(transport = ?x11.transport(), "screen capture: X11");
                        return Ok(Box::new(x11) as Box<dyn Capturer>);
                    }
                    Some(Err(err)) if backend == CaptureBackend::X11 => return Err(err),
                    Some(Err(err)) => {
                        let error = &err as &dyn std::error::Error;
                        tracing::info!(error, "X11 capture unavailable; falling back to xcap");
                    }
                    None if backend == CaptureBackend::X11 => {
                        return Err(CaptureError::Unavailable(
                            "no X11 session (DISPLAY is not set)".into(),
                        ));
                    }
                    None => {}
                }
            }
            let xcap = ScreenCapturer::new()?;
            tracing::info!("screen capture: xcap");
            Ok(Box::new(xcap) as Box<dyn Capturer>)
        }),
        Source::TestPattern { width, height } => {
            Box::new(move || Ok(Box::new(TestPattern::new(width, height)) as Box<dyn Capturer>))
        }
    }
}

/// The input sink factory for the real desktop.
pub fn desktop_input() -> InputSinkFactory {
    Box::new(|| Ok(Box::new(EnigoSink::new()?) as Box<dyn InputSink>))
}
