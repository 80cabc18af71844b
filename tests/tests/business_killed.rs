//! A business's daemon killed with SIGKILL and restarted: nothing it acknowledged is lost, and
//! the revocation the person made while it was down waits in the person's outbox and is
//! delivered when it returns, ending in deletion and a signed receipt.

use me2b_tests::*;

#[test]
fn a_killed_business_keeps_what_it_acknowledged_and_gets_the_pending_revocation() {
    let (mut person, mut business) = person_and_shoe_maker("127.0.0.39", "127.0.0.40");
    let first = agree_on_shoes(&mut person, &mut business);
    // A second agreement, from a second campaign, that stays in force.
    let second = agree_on_shoes(&mut person, &mut business);
    assert_ne!(first, second);

    business.kill();
    let revoked = person.json(&["revoke", &first]);
    assert_eq!(revoked["state"], "REVOKED");
    // The revocation waits in the outbox (with, perhaps, the second agreement's data, if the
    // kill came before the business's answer to it got back).
    assert!(person.json(&["status"])["outbox"].as_u64().unwrap() >= 1, "the revocation waits in the outbox");
    let shown = person.json(&["agreements", "show", &first]);
    assert_eq!(shown["revocation"]["status"], "pending", "not yet reached: {shown}");

    // The business comes back from its data directory (on a new port) and dials the person.
    business.start(&[person.address()]);
    business.wait_event("data-deleted", |e| e["agreement_id"] == first.as_str());
    person.wait_event("deletion-receipt", |e| e["agreement_id"] == first.as_str());

    let held = business.json(&["received"]);
    let held = held.as_array().unwrap();
    assert_eq!(held.len(), 1, "the other agreement's data survived the kill");
    assert_eq!(held[0]["agreement_id"], second.as_str());
    assert_eq!(held[0]["items"]["body.shoe_size_eu"]["value"], 44.0);
    assert_eq!(business.json(&["agreements", "show", &second])["state"], "ACTIVE");
    assert_eq!(person.json(&["agreements", "show", &first])["state"], "DELETED");
    assert_eq!(person.json(&["status"])["outbox"], 0);
    assert_eq!(business.json(&["ledger", "verify"])["valid"], true);

    // A clean stop on SIGTERM exits 0 and removes the API address file.
    assert!(business.terminate().success());
    assert!(!business.dir.path().join("api.json").exists());
}
