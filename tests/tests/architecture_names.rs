//! `ARCHITECTURE.md` names real code: every backticked name that looks like code (`A::b`, a
//! `CamelCase` type) is defined somewhere in the workspace's Rust sources, and every backticked
//! path into the tree exists. A made-up name is caught (the negative control).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Top-level folders a backticked path may start with.
const TREE: [&str; 6] = ["proto/", "node/", "cli/", "simulations/", "tests/", "docs/"];
/// Names from Rust itself that the document mentions.
const STD: [&str; 6] = ["FromStr", "Display", "TryFrom", "None", "Debug", "BTreeMap"];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the workspace root").to_path_buf()
}

fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        if path.is_dir() && name != "target" && name != ".git" {
            rust_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

/// Every name the sources define: items, enum variants, struct fields, modules (files and
/// folders).
fn defined_names(root: &Path) -> BTreeSet<String> {
    let mut files = Vec::new();
    for top in TREE {
        rust_files(&root.join(top), &mut files);
    }
    let mut names = BTreeSet::new();
    for file in &files {
        if let Some(stem) = file.file_stem().and_then(|s| s.to_str()) {
            names.insert(stem.to_owned());
        }
        if let Some(parent) = file.parent().and_then(|p| p.file_name()).and_then(|s| s.to_str()) {
            names.insert(parent.to_owned());
        }
        let Ok(text) = std::fs::read_to_string(file) else { continue };
        for line in text.lines() {
            let words: Vec<&str> = line.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '!')).collect();
            for pair in words.windows(2) {
                let keyword = ["fn", "struct", "enum", "trait", "type", "const", "static", "mod", "macro_rules!"];
                if keyword.contains(&pair[0]) && !pair[1].is_empty() {
                    names.insert(pair[1].to_owned());
                }
            }
            // Variants (`Name,`, `Name {`, `Name(`) and fields (`pub name:`).
            let trimmed = line.trim_start().trim_start_matches("pub ").trim_start_matches("pub(crate) ");
            let ident: String = trimmed.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            let rest = &trimmed[ident.len()..];
            if !ident.is_empty() && [",", " {", "(", ":", " =>"].iter().any(|end| rest.starts_with(end)) {
                names.insert(ident);
            }
        }
    }
    names
}

/// The backticked names in `markdown` that the tree should hold, and the reason each one does
/// not, if any.
fn missing(markdown: &str, root: &Path, defined: &BTreeSet<String>) -> Vec<String> {
    let mut missing = Vec::new();
    for (i, token) in markdown.split('`').enumerate() {
        if i % 2 == 0 || token.contains(' ') {
            continue;
        }
        if TREE.iter().any(|top| token.starts_with(top)) {
            if !root.join(token).exists() {
                missing.push(format!("{token}: no such file"));
            }
            continue;
        }
        let segments: Vec<&str> = token.trim_end_matches("()").split("::").collect();
        let is_path = segments.len() > 1;
        let is_type = segments.len() == 1
            && token.chars().next().is_some_and(char::is_uppercase)
            && token.chars().any(char::is_lowercase)
            && token.chars().all(|c| c.is_alphanumeric() || c == '_');
        if !(is_path || is_type) || segments.iter().any(|s| s.is_empty()) {
            continue;
        }
        for segment in segments {
            if !defined.contains(segment) && !STD.contains(&segment) {
                missing.push(format!("{token}: `{segment}` is defined nowhere"));
            }
        }
    }
    missing
}

#[test]
fn every_name_in_architecture_md_exists() {
    let root = root();
    let markdown = std::fs::read_to_string(root.join("ARCHITECTURE.md")).expect("ARCHITECTURE.md at the root");
    let defined = defined_names(&root);
    let missing = missing(&markdown, &root, &defined);
    assert!(missing.is_empty(), "ARCHITECTURE.md names what the code does not have:\n{}", missing.join("\n"));
    // The document is not trivially empty of names.
    let checked = markdown.split('`').skip(1).step_by(2).filter(|t| t.contains("::")).count();
    assert!(checked > 50, "only {checked} code names in ARCHITECTURE.md");
}

#[test]
fn a_made_up_name_or_path_is_caught() {
    let root = root();
    let defined = defined_names(&root);
    let caught = missing(
        "`Engine::handle` is real, `Engine::teleport` is not, nor `proto/src/nowhere.rs` or `Quuxifier`.",
        &root,
        &defined,
    );
    assert_eq!(caught.len(), 3, "{caught:?}");
    assert!(caught[0].contains("teleport"));
}
