//! `cargo +nightly fuzz run records`: see `me2b_proto::harness::fuzz::records`.
#![no_main]

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| me2b_proto::harness::fuzz::records(bytes));
