//! The sample files under `examples/` are what `me2b_tests::examples` makes for its anchor
//! date, byte for byte: they can be made again, and a change to the generator shows up here.
//! After changing it: `cargo run -p me2b-tests --bin me2b-examples -- examples`.

use me2b_tests::examples::{anchor, files};
use std::path::Path;

#[test]
fn the_committed_examples_are_the_generated_ones() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    for (path, generated) in files(anchor()) {
        let committed = std::fs::read_to_string(root.join(path)).unwrap_or_else(|e| panic!("examples/{path}: {e}"));
        assert!(
            committed == generated,
            "examples/{path} differs from the generator; run `cargo run -p me2b-tests --bin me2b-examples -- examples`"
        );
    }
}
