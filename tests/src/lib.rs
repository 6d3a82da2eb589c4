//! The one test harness of lookout, shared by the integration tests in
//! `tests/tests/` and the end-to-end benchmark:
//!
//! - [`agent`]: the real agent library in-process, with a fake screen and a
//!   recording input sink;
//! - [`fake_agent`]: a scripted fake agent that drives the viewer;
//! - [`client`]: a protocol-level test viewer;
//! - [`process`]: the real `lookout-server` / `lookout-viewer` binaries as
//!   child processes, and temporary directories;
//! - [`pipewire`]: a private PipeWire daemon and a test video source;
//! - [`portal`]: the desktop portals (xdg-desktop-portal-wlr) beside sway;
//! - [`sway`]: headless sway sessions (Wayland) and their tools;
//! - [`x11`]: virtual X displays (Xvfb) and the tools that read and drive
//!   them, and image comparisons.
//!
//! Everything here is bounded in time, talks to loopback only, and cleans up
//! its processes on drop.

pub mod agent;
pub mod client;
pub mod compose;
pub mod fake_agent;
pub mod media;
#[cfg(target_os = "linux")]
pub mod pipewire;
#[cfg(target_os = "linux")]
pub mod portal;
pub mod process;
pub mod sway;
pub mod tools;
pub mod x11;
