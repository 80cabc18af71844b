//! Personal values never sit in the store's files in plain text, and they come back after a
//! restart.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;
use me2b_proto::engine::Role;
use me2b_proto::value::Value;
use std::path::Path;

fn all_bytes(dir: &Path) -> Vec<u8> {
    let mut bytes = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            bytes.extend(all_bytes(&path));
        } else {
            bytes.extend(std::fs::read(&path).unwrap());
        }
    }
    bytes
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_personal_values_are_not_in_plain_text_and_survive_a_restart() {
    let node = start(Role::Person, 1).await;
    let secrets = ["ada.lovelace@example.org", "BRCA1-variant-c.68_69delAG", "Flat 3, 12 Analytical Row"];
    node.set("profile.email", Value::Text(secrets[0].into())).await;
    node.set("health.hereditary.brca1", Value::Text(secrets[1].into())).await;
    node.set("profile.address", Value::Text(secrets[2].into())).await;
    node.handle.shutdown().await;
    let TestNode { dir, secret, .. } = node;

    let raw = all_bytes(dir.path());
    assert!(raw.len() > 300, "the store wrote only {} bytes", raw.len());
    for value in secrets {
        assert!(!contains(&raw, value.as_bytes()), "{value:?} found in plain text");
    }

    let again = start_in(Role::Person, secret, dir).await;
    let state = again.handle.state().await.unwrap();
    assert_eq!(state.vault[&path("profile.email")].value.expose(), &Value::Text(secrets[0].into()));
    assert_eq!(state.vault.len(), 3);
    again.handle.shutdown().await;
}
