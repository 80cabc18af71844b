//! `cargo +nightly fuzz run imports`: see `me2b_node::fuzz::imports`.
#![no_main]

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| me2b_node::fuzz::imports(bytes));
