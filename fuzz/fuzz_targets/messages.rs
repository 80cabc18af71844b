//! `cargo +nightly fuzz run messages`: see `me2b_proto::harness::fuzz::messages`.
#![no_main]

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| me2b_proto::harness::fuzz::messages(bytes));
