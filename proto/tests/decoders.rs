//! The decoders hold against arbitrary and mutated input: every envelope kind, every message,
//! the ledger and evidence, and every text form, through the same entry points the `cargo fuzz`
//! targets use ([`me2b_proto::harness::fuzz`]). Nothing panics, and whatever decodes survives
//! its own encoding.
//!
//! This is the bounded run CI does (256 cases per property by default); a longer one:
//! `PROPTEST_CASES=200000 cargo test --release -p me2b-proto --test decoders`, or real fuzzing
//! with `cargo +nightly fuzz run envelopes` in `fuzz/` (see the README).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

use me2b_proto::harness::fuzz;
use proptest::prelude::*;
use std::sync::OnceLock;

fn seeds() -> &'static [Vec<u8>] {
    static SEEDS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    SEEDS.get_or_init(fuzz::seeds)
}

/// A real message with some of its bytes flipped, cut or grown.
fn mutated() -> impl Strategy<Value = Vec<u8>> {
    let edits = prop::collection::vec((any::<usize>(), any::<u8>(), 0u8..4), 1..8);
    (any::<prop::sample::Index>(), edits).prop_map(|(pick, edits)| fuzz::mutate(pick.get::<Vec<u8>>(seeds()), &edits))
}

fn input() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![prop::collection::vec(any::<u8>(), 0..512), mutated()]
}

#[test]
fn the_seeds_are_real_messages() {
    // Every seed opens or decodes as something: otherwise the mutations would start nowhere.
    assert!(seeds().len() > 20, "only {} seeds", seeds().len());
    for seed in seeds() {
        fuzz::envelopes(seed);
        fuzz::messages(seed);
        fuzz::records(seed);
    }
}

proptest! {
    #[test]
    fn envelopes_never_panic(bytes in input()) {
        fuzz::envelopes(&bytes);
    }

    #[test]
    fn messages_never_panic_and_round_trip(bytes in input()) {
        fuzz::messages(&bytes);
    }

    #[test]
    fn ledgers_and_evidence_never_panic(bytes in input()) {
        fuzz::records(&bytes);
    }

    #[test]
    fn text_forms_never_panic(bytes in input()) {
        fuzz::text_forms(&bytes);
    }
}
