//! `frame_decoder`: arbitrary bytes, split into arbitrary reads, through the
//! sans-IO `FrameDecoder` with the viewer's or the agent's limits.
//!
//! Checks that the split changes nothing, that buffer capacity follows the
//! bytes that arrived and not the announced lengths, that every frame
//! re-encodes to the bytes it came from, and that nothing complete is left
//! undecoded. See `lookout_fuzz::frame_decoder`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| lookout_fuzz::frame_decoder(data));
