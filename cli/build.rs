//! Link options of the optimised `me2b` binary, for a smaller resident memory (README, Speed:
//! "An idle daemon holds the code it ran").
//!
//! - `--symbol-ordering-file=startup.order`: the functions a daemon runs to start, answer its
//!   owner and idle (written by `packaging/startup-order.sh`) are laid out together, so the
//!   pages the kernel maps for them hold little else.
//! - `-z pack-relative-relocs`: the dynamic relocations of a position-independent binary as a
//!   bitmap (RELR) instead of 24 bytes each, which the loader reads whole at every start (0.75
//!   MB of them); only where the machine's glibc reads them (2.36 and later).
//!
//! Both are options of LLD, which rustc links with by default on x86_64 Linux since 1.90; on
//! other targets, older compilers, or with another linker chosen, the binary links as before.

use std::env;
use std::path::Path;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=startup.order");
    println!("cargo:rerun-if-env-changed=CARGO_ENCODED_RUSTFLAGS");
    let optimised = env::var("PROFILE").as_deref() == Ok("release");
    if !(optimised && links_with_lld()) {
        return;
    }
    let order = Path::new(&env::var("CARGO_MANIFEST_DIR").unwrap_or_default()).join("startup.order");
    if order.is_file() {
        println!("cargo:rustc-link-arg-bin=me2b=-Wl,--symbol-ordering-file={}", order.display());
        // The list names functions of one build; those another build lacks are skipped.
        println!("cargo:rustc-link-arg-bin=me2b=-Wl,--no-warn-symbol-ordering");
    }
    if glibc_packs_relocations() {
        println!("cargo:rustc-link-arg-bin=me2b=-Wl,-z,pack-relative-relocs");
    }
}

/// Whether the C library the binary will run with reads packed relocations: glibc 2.36 or
/// later, asked of the machine that builds (a binary built for another machine keeps them
/// unpacked; one built here for an older glibc would not start).
fn glibc_packs_relocations() -> bool {
    if env::var("HOST") != env::var("TARGET") {
        return false;
    }
    let Ok(output) = Command::new("getconf").arg("GNU_LIBC_VERSION").output() else {
        return false;
    };
    // "glibc 2.36"
    let text = String::from_utf8_lossy(&output.stdout);
    version(text.split_whitespace().nth(1).unwrap_or("")) >= (2, 36)
}

/// "1.95.0" as (1, 95); what does not parse as (0, 0).
fn version(text: &str) -> (u32, u32) {
    let mut numbers = text.split('.').map(|n| n.parse::<u32>().unwrap_or(0));
    (numbers.next().unwrap_or(0), numbers.next().unwrap_or(0))
}

/// Whether rustc links this build with its own LLD: the x86_64 Linux target, rustc 1.90 or
/// later, and no linker chosen in the flags.
fn links_with_lld() -> bool {
    if env::var("TARGET").as_deref() != Ok("x86_64-unknown-linux-gnu") {
        return false;
    }
    let flags = env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    if flags.contains("linker") || flags.contains("link-self-contained") {
        return false;
    }
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    let Ok(output) = Command::new(rustc).arg("--version").output() else {
        return false;
    };
    // "rustc 1.95.0 (59807616e 2026-04-14)"
    let text = String::from_utf8_lossy(&output.stdout);
    version(text.split_whitespace().nth(1).unwrap_or("")) >= (1, 90)
}
