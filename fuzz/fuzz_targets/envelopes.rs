//! `cargo +nightly fuzz run envelopes`: see `me2b_proto::harness::fuzz::envelopes`.
#![no_main]

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| me2b_proto::harness::fuzz::envelopes(bytes));
