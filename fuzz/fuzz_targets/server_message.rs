//! `server_message`: arbitrary bytes as an `HC` payload from a server, through
//! `ServerMessage::parse`.
//!
//! Checks that whatever parses encodes and parses back to the same message
//! (a `frame` that `check_frame` refuses excepted: it is refused on encode,
//! exactly then), and that whatever is refused gets the right kind of error. See
//! `lookout_fuzz::server_message`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| lookout_fuzz::server_message(data));
