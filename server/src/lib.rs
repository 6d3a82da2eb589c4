//! lookout-server, the capture agent, as a library: the binary is a thin
//! `main.rs` over [`cli::Args`] and [`Agent`], and tests drive the same code
//! with a fake capture source and a recording input sink.
//!
//! ```text
//!  capture ──▶ pipeline: capture thread ─▶ encode thread (JPEG once) ─▶ hub: watch slot per monitor
//!  (X11/xcap/                                (encode)                           │ newest frame only
//!   pattern)                                                                    ▼
//!  agent: accept ─▶ session: pending table ─▶ TLS ─▶ handshake ─▶ admission ─▶ live session
//!                                                                  ├─ downlink task: replies + frames ─▶ socket
//!                                                                  └─ uplink loop: commands ─▶ input thread (enigo)
//! ```
//!
//! Where to look:
//!
//! * [`agent`]: the listener, the shared threads, shutdown.
//! * `session`: one connection's steps, each in its own file (pending
//!   table, handshake, admission, live session: downlink and uplink).
//! * [`capture`] (backends, picked by [`capture::open`]), [`pipeline`]
//!   (the capture and encode threads), [`encode`] (libjpeg-turbo), [`hub`]
//!   (the per-monitor latest-frame slots viewers subscribe to).
//! * `web`: the browser viewer on the same port (ALPN `http/1.1`): the
//!   page, and its WebSocket bridged into the same session code.
//! * [`input`]: the one thread that owns the platform input handle.
//! * [`settings`]: the config files and the flags, merged key by key with
//!   where each value came from, into the options `Config` is built from;
//!   [`service`]: the systemd user unit.
//! * Rules with time passed in, tested without waiting: [`limiter`]
//!   (failed authentications), [`coalesce`] (pointer pacing), [`mapping`]
//!   (frame to desktop coordinates), [`availability`] (a display that goes
//!   away: when viewers are told, how often it is tried again).
//!
//! Every connection is bounded: a per-address limit on failed
//! authentications, a bounded table of pending handshakes that drops the
//! least advanced when full, one deadline for TLS and the token, a write
//! deadline, a silence limit, and paced pointer moves; every limit in time
//! comes from one [`lookout_protocol::Timeouts`] ([`Config::timeouts`]).
//! The wire format is the `lookout-protocol` crate's.

pub mod agent;
pub mod availability;
pub mod capture;
pub mod cli;
pub mod coalesce;
pub mod config;
#[cfg(unix)]
pub mod control;
pub mod discovery;
pub mod encode;
pub mod frame;
pub mod hub;
pub mod input;
pub mod limiter;
pub mod mapping;
pub mod picture;
pub mod pipeline;
#[cfg(target_os = "linux")]
pub mod portal;
pub mod record;
pub mod regions;
pub mod rendition;
pub mod scale;
pub mod secret;
pub mod service;
mod session;
pub mod settings;
pub mod tls;
#[cfg(target_os = "linux")]
mod wayland;
mod web;

pub use agent::{Agent, AgentError, MAX_PENDING_HANDSHAKES, Stopped};
pub use capture::{CaptureBackend, Source};
pub use coalesce::MOVE_INTERVAL;
pub use config::{Access, Config, ConfigError, Transport};
pub use input::desktop_input;
pub use tls::Identity;
