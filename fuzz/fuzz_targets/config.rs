//! `cargo +nightly fuzz run config`: see `me2b_node::fuzz::config`.
#![no_main]

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| me2b_node::fuzz::config(bytes));
