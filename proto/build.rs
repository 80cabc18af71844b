//! Compiles the wire schema with protox (pure Rust), so no system `protoc` is needed.

use std::path::Path;

const FILES: &[&str] = &[
    "me2b/v1/envelope.proto",
    "me2b/v1/terms.proto",
    "me2b/v1/gossip.proto",
    "me2b/v1/negotiation.proto",
    "me2b/v1/transfer.proto",
    "me2b/v1/ledger.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let schema = Path::new("schema");
    println!("cargo:rerun-if-changed=schema");
    let files: Vec<_> = FILES.iter().map(|file| schema.join(file)).collect();
    let descriptors = protox::compile(&files, [schema])?;
    prost_build::Config::new().compile_fds(descriptors)?;
    Ok(())
}
