//! Shared harness for lookout's end-to-end tests: a protocol-level test
//! client, virtual X displays, and the real `lookout-server` /
//! `lookout-viewer` binaries as child processes.
//!
//! Everything here is bounded in time, talks to loopback only, and cleans up
//! its processes on drop.

pub mod client;
pub mod process;
pub mod x11;
