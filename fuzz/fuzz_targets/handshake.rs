//! `handshake`: arbitrary bytes, split into arbitrary reads, through the
//! agent's `ServerCodec` (what it reads before the viewer is authenticated)
//! and the viewer's `ViewerCodec`.
//!
//! Checks that an `auth` verifies against the agent's token and challenge
//! exactly when its response is the correct one, that every decoded message
//! round-trips, that the split changes nothing and that buffers follow the
//! bytes that arrived; then pairs the viewer's frames, region updates
//! included, and checks that only whole, valid, bounded updates come out.
//! See `lookout_fuzz::handshake`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| lookout_fuzz::handshake(data));
