//! `client_message`: arbitrary bytes as an `HC` payload from a viewer, through
//! `ClientMessage::parse`.
//!
//! Checks that whatever parses encodes and parses back to the same message
//! (a `text` over 1024 characters and a `start_monitor` with a setting out of
//! its range excepted: they are refused on encode), and that
//! whatever is refused gets the right kind of error. See
//! `lookout_fuzz::client_message`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| lookout_fuzz::client_message(data));
