//! `cargo +nightly fuzz run text_forms`: see `me2b_proto::harness::fuzz::text_forms`.
#![no_main]

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| me2b_proto::harness::fuzz::text_forms(bytes));
