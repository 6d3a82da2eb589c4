//! The protocol crate's integration tests, one binary (as ripgrep does):
//! each module is one kind of evidence that the crate keeps the contract.

mod codec;
mod fuzz_regressions;
mod golden;
mod pairing;
mod properties;
mod rejections;
