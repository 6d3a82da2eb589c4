//! `discovery`: arbitrary bytes as one LAN discovery datagram, read as a
//! probe (by the agent) and as a reply (by the viewer). Checks that only
//! datagrams of a probe's size are probes, that everything that parses
//! round-trips, and that the reply an agent makes always fits in the probe
//! that asked for it. See `lookout_fuzz::discovery`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| lookout_fuzz::discovery(data));
