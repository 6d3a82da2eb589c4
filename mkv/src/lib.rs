//! Recordings as Matroska files of JPEG frames (`V_MJPEG`), written by the
//! viewer (`--record`, F6) and by the agent (`--record-dir`).
//!
//! No crate did this well for MJPEG (the Matroska and AVI crates were
//! 0.0.x, or wrapped C++ for VP8/VP9/AV1 only, or MP4/H.264 only), so this
//! is a small writer of our own:
//!
//! * [`ebml`]: the binary format under Matroska, pure (bytes into a
//!   buffer);
//! * [`MkvWriter`]: one video track into any `Write + Seek`, playable up to
//!   its last complete frame wherever the file is cut;
//! * [`names`]: file names with a UTC time stamp.

pub mod ebml;
pub mod names;
mod writer;

pub use writer::{CLUSTER_BYTES, CLUSTER_SPAN_MS, MIN_SPACING_MS, MkvWriter, simple_block_header};
