//! The node's decoders hold against arbitrary and mutated input: the direct protocols' frames
//! (requests and answers), `config.toml` and the import document, through the entry points the
//! `cargo fuzz` targets use ([`me2b_node::fuzz`]). Nothing panics.
//!
//! The bounded CI run; `PROPTEST_CASES=100000 cargo test -p me2b-node --test decoders` or
//! `cargo +nightly fuzz run frames` in `fuzz/` for longer.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

use me2b_node::config::{Config, RoleName};
use me2b_node::fuzz;
use me2b_proto::harness::fuzz::mutate;
use proptest::prelude::*;

/// Valid inputs to mutate: frames (a varint length, a kind byte, an envelope), answers, a
/// config file and an import document.
fn seeds() -> Vec<Vec<u8>> {
    let mut seeds = Vec::new();
    for envelope in me2b_proto::harness::fuzz::seeds().into_iter().take(12) {
        let mut frame = Vec::new();
        let mut length = envelope.len() as u64 + 1;
        while length >= 0x80 {
            frame.push((length as u8) | 0x80);
            length >>= 7;
        }
        frame.push(length as u8);
        frame.push(3);
        frame.extend_from_slice(&envelope);
        seeds.push(frame);
    }
    seeds.push(b"\x01\x00".to_vec());
    seeds.push(b"\x19\x01stale: unknown agreement".to_vec());
    let config = Config::new(RoleName::Person, "Ada".into(), false);
    seeds.push(toml::to_string(&config).unwrap().into_bytes());
    seeds.push(
        br#"{"records": {"body.shoe_size_eu": 44, "profile.birthdate": "1990-05-17"}, "provenance": "device:watch"}"#
            .to_vec(),
    );
    seeds
}

fn input() -> impl Strategy<Value = Vec<u8>> {
    let seeds = seeds();
    let edits = prop::collection::vec((any::<usize>(), any::<u8>(), 0u8..4), 1..6);
    let mutated = (0..seeds.len(), edits).prop_map(move |(pick, edits)| mutate(&seeds[pick], &edits));
    prop_oneof![prop::collection::vec(any::<u8>(), 0..256), mutated]
}

#[test]
fn the_seeds_decode() {
    for seed in seeds() {
        fuzz::frames(&seed);
        fuzz::config(&seed);
        fuzz::imports(&seed);
    }
}

proptest! {
    #[test]
    fn frames_never_panic(bytes in input()) {
        fuzz::frames(&bytes);
    }

    #[test]
    fn config_files_never_panic(bytes in input()) {
        fuzz::config(&bytes);
    }

    #[test]
    fn imports_never_panic(bytes in input()) {
        fuzz::imports(&bytes);
    }
}
