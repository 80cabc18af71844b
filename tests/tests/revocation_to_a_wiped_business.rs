//! Attack, across real processes: the business's daemon is killed, its store wiped (the key
//! kept), and restarted; then the person revokes. The business cannot find the agreement. The
//! person must see "not confirmed" with the business's answer (never DELETED), be able to send
//! it again, and hold the signed agreement as evidence that checks offline; a tampered export
//! does not check (the negative control).

use me2b_tests::*;

#[test]
fn a_wiped_business_cannot_turn_a_revocation_into_a_deletion() {
    let (mut person, mut business) = person_and_shoe_maker("127.0.0.43", "127.0.0.44");
    let agreement = agree_on_shoes(&mut person, &mut business);

    business.kill();
    std::fs::remove_dir_all(business.dir.path().join("store")).unwrap();
    business.start(&[person.address()]);
    person.wait_event("peer-connected", |_| true);

    person.ok(&["revoke", &agreement, "--reason", "changed my mind"]);
    let answer = person.wait_event("revocation-not-confirmed", |e| e["agreement_id"] == agreement.as_str());
    assert!(answer["reason"].as_str().unwrap().contains("unknown agreement"), "{answer}");

    let shown = person.json(&["agreements", "show", &agreement]);
    assert_eq!(shown["state"], "REVOKED", "never DELETED without a receipt: {shown}");
    assert_eq!(shown["deletion_receipt"], false);
    assert_eq!(shown["revocation"]["status"], "not confirmed");
    let human = person.ok(&["agreements", "show", &agreement]);
    assert!(human.contains("not confirmed") && human.contains("unknown agreement"), "{human}");
    assert!(person.ok(&["agreements"]).contains("REVOKED (not confirmed)"));

    // It can be sent again (it is retried anyway).
    assert!(person.ok(&["revoke", &agreement]).contains("retried until"));

    // The evidence: the agreement as both signed it, checked offline from an export.
    let export = person.dir.path().join("export.json");
    std::fs::write(&export, person.ok(&["export"])).unwrap();
    let file = export.to_str().unwrap();
    let checked = person.ok(&["ledger", "verify", "--file", file]);
    assert!(checked.contains("1 agreements signed by both"), "{checked}");
    let mut tampered: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&export).unwrap()).unwrap();
    let signature = tampered["evidence"][0]["person_signature"].as_str().unwrap().to_owned();
    tampered["evidence"][0]["business_signature"] = signature.into();
    std::fs::write(&export, tampered.to_string()).unwrap();
    let refused = person.fails(&["ledger", "verify", "--file", file]);
    assert!(refused.contains("business's signature does not verify"), "{refused}");
}
