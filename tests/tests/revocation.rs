//! Revocation across real processes: the person revokes, the business deletes what it holds
//! and returns a signed deletion receipt; both sides show DELETED and both ledgers verify.

use me2b_tests::*;

#[test]
fn a_revocation_ends_in_deletion_and_a_receipt() {
    let (mut person, mut business) = person_and_shoe_maker("127.0.0.37", "127.0.0.38");
    let agreement = agree_on_shoes(&mut person, &mut business);

    let revoked = person.json(&["revoke", &agreement, "--reason", "changed my mind"]);
    assert!(revoked["state"] == "REVOKED" || revoked["state"] == "DELETED", "{revoked}");
    business.wait_event("data-deleted", |e| e["agreement_id"] == agreement.as_str());
    person.wait_event("deletion-receipt", |e| e["agreement_id"] == agreement.as_str());

    let shown = person.json(&["agreements", "show", &agreement]);
    assert_eq!(shown["state"], "DELETED");
    assert_eq!(shown["deletion_receipt"], true);
    assert_eq!(business.json(&["agreements", "show", &agreement])["state"], "DELETED");
    assert!(business.json(&["received"]).as_array().unwrap().is_empty());
    for node in [&person, &business] {
        assert_eq!(node.json(&["ledger", "verify"])["valid"], true);
    }
    // A second revocation is refused, and says why.
    assert!(person.fails(&["revoke", &agreement]).contains("error:"));
}
