//! Losing the device is not losing control over one's agreements. A person writes down the
//! recovery phrase and makes a backup; the machine is wiped; on a fresh data directory,
//! `me2b restore` brings back the same identities (the node's and every persona, all derived
//! from the phrase) and the agreements, ledger and vault from the backup. The restored node
//! revokes an agreement made before the loss, and the business deletes and sends its signed
//! receipt: it still knows the persona. The controls: another node's phrase does not open the
//! backup, and a phrase alone (no backup) brings the identities back but not the agreements.

use me2b_tests::*;

#[test]
fn a_person_restored_from_the_phrase_revokes_an_agreement_made_before_and_gets_the_receipt() {
    let (mut person, mut business) = person_and_shoe_maker("127.0.0.91", "127.0.0.92");
    let agreement = agree_on_shoes(&mut person, &mut business);
    let words = person.json(&["recovery-phrase"])["words"].as_str().unwrap().to_owned();
    assert_eq!(words.split(' ').count(), 24);
    let kept = tempfile::tempdir().unwrap();
    let backup = kept.path().join("ada.me2b-backup");
    person.ok(&["backup", "--out", backup.to_str().unwrap()]);
    let peer_before = person.json(&["id"])["peer_id"].clone();
    let ledger_before = person.json(&["ledger"]).as_array().unwrap().len();

    // The device is lost: its daemon dies and its data directory is gone.
    person.kill();
    drop(person);

    // The control: another node's phrase does not open this backup, and leaves nothing behind.
    let mut other = Node::init("person", "Bo", "127.0.0.93");
    let other_words = other.json(&["recovery-phrase"])["words"].as_str().unwrap().to_owned();
    let other_phrase = kept.path().join("other-phrase.txt");
    std::fs::write(&other_phrase, &other_words).unwrap();
    let nowhere = kept.path().join("nowhere");
    let refused = std::process::Command::new(binary())
        .arg("--data-dir")
        .arg(&nowhere)
        .args(["restore", "--no-passphrase", "--phrase-file", other_phrase.to_str().unwrap()])
        .args(["--backup", backup.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(said.contains("does not open with this recovery phrase"), "{said}");
    assert!(!nowhere.exists(), "a refused restore leaves no data directory");
    let mut phrase_only = Node::restore("127.0.0.94", &other_words, None);
    phrase_only.start(&[]);
    let bo = phrase_only.json(&["id"])["peer_id"].clone();
    assert!(phrase_only.json(&["agreements"]).as_array().unwrap().is_empty());
    phrase_only.kill();
    other.start(&[]);
    assert_eq!(other.json(&["id"])["peer_id"], bo, "the phrase alone brings the identity back");
    other.kill();

    let mut restored = Node::restore("127.0.0.91", &words, Some(&backup));
    restored.start(&[business.address()]);
    assert_eq!(restored.json(&["id"])["peer_id"], peer_before, "the same identity");
    assert_eq!(restored.json(&["agreements", "show", &agreement])["state"], "ACTIVE");
    assert_eq!(restored.json(&["ledger"]).as_array().unwrap().len(), ledger_before);
    assert_eq!(restored.json(&["data", "get", "body.shoe_size_eu"])["value"], 44);

    restored.ok(&["revoke", &agreement, "--reason", "lost my phone"]);
    business.wait_event("data-deleted", |e| e["agreement_id"] == agreement.as_str());
    restored.wait_event("deletion-receipt", |e| e["agreement_id"] == agreement.as_str());
    let shown = restored.json(&["agreements", "show", &agreement]);
    assert_eq!(shown["state"], "DELETED");
    assert_eq!(shown["deletion_receipt"], true);
    assert_eq!(restored.json(&["ledger", "verify"])["valid"], true);
}
