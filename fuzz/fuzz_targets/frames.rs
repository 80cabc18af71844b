//! `cargo +nightly fuzz run frames`: see `me2b_node::fuzz::frames`.
#![no_main]

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| me2b_node::fuzz::frames(bytes));
