//! The B2One flow across real processes, driven by the exact script forms of the README: a
//! person follows shoes and sets a shoe size, a shoe maker publishes a campaign, the person
//! approves, the business holds exactly the agreed field, and both ledgers verify.

use me2b_tests::*;

#[test]
fn a_campaign_is_approved_and_exactly_the_agreed_data_arrives() {
    let (mut person, mut business) = person_and_shoe_maker("127.0.0.31", "127.0.0.32");
    person.ok(&["data", "set", "profile.birthdate", "1990-05-17"]);
    person.ok(&["data", "set", "profile.name", "Zebulon Quux"]);

    let status = person.json(&["status"]);
    assert_eq!(status["role"], "person");
    assert_eq!(status["api"], person.api().to_string());
    assert!(status["peer_id"].as_str().unwrap().starts_with("12D3"));

    business.ok(SHOE_CAMPAIGN);
    person.wait_event("awaiting-owner", |_| true);
    let pending = person.json(&["pending"]);
    let pending = pending.as_array().unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0]["terms"]["purpose"], "personalised-offers");
    // The optional running distance is not in the vault, so it is not proposed.
    assert_eq!(pending[0]["terms"]["fields"], serde_json::json!(["body.shoe_size_eu"]));
    person.ok(&["approve", pending[0]["id"].as_str().unwrap()]);

    let received = business.wait_event("data-received", |_| true);
    let agreement_id = received["agreement_id"].as_str().unwrap();
    let agreement = person.json(&["agreements", "show", agreement_id]);
    assert_eq!(agreement["negotiation"], "FINALIZED");
    assert_eq!(agreement["state"], "ACTIVE");
    assert_eq!(business.json(&["agreements"]).as_array().unwrap().len(), 1);

    let held = business.json(&["received"]);
    let items = held[0]["items"].as_object().unwrap();
    assert_eq!(items.len(), 1, "only the agreed field: {items:?}");
    assert_eq!(items["body.shoe_size_eu"]["value"], 44.0);

    for node in [&person, &business] {
        assert!(node.ok(&["ledger", "verify"]).contains("valid: "));
        assert_eq!(node.json(&["ledger", "verify"])["valid"], true);
    }
    let ledger = person.json(&["ledger"]);
    let kinds: Vec<&str> = ledger.as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert!(kinds.contains(&"AgreementFinalized") && kinds.contains(&"DataSent"), "{kinds:?}");
    // The birthdate never left the person's node, and no personal value reached a log.
    assert!(!business.ok(&["export"]).contains("1990-05-17"));
    for node in [&person, &business] {
        let logs = node.logs();
        assert!(logs.contains("ready"), "the daemon logs");
        for secret in ["1990-05-17", "Zebulon", "44.0"] {
            assert!(!logs.contains(secret), "`{secret}` reached the logs:\n{logs}");
        }
    }
}
