//! Attack, across real processes: a person's policy counters a "10% discount" campaign with
//! 90%. The business's node must decline, never sign; with a ceiling set through
//! `me2b policy set` on the business (the negative control) the same counter is signed.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

use me2b_tests::*;

fn write_policy(node: &Node, edit: impl Fn(&mut serde_json::Value)) {
    let mut policy = node.json(&["policy", "show"]);
    edit(&mut policy);
    let file = node.dir.path().join("policy.json");
    std::fs::write(&file, policy.to_string()).unwrap();
    node.ok(&["policy", "set", file.to_str().unwrap()]);
}

#[test]
fn a_business_never_signs_more_than_its_ceiling() {
    let (mut person, mut business) = person_and_shoe_maker("127.0.0.45", "127.0.0.46");
    write_policy(&person, |p| p["min_compensation"] = "90% discount".into());
    let shown = business.json(&["policy", "show"]);
    assert!(shown["max_compensation"].is_null(), "by default no more than each campaign offers: {shown}");

    business.ok(SHOE_CAMPAIGN);
    let pending = person.wait_event("awaiting-owner", |_| true);
    person.ok(&["approve", pending["negotiation_id"].as_str().unwrap()]);
    let ended = person.wait_event("negotiation-terminated", |e| e["by_peer"] == true);
    assert!(ended["reason"].as_str().unwrap().contains("compensation"), "{ended}");
    assert!(business.json(&["agreements"]).as_array().unwrap().is_empty(), "nothing signed");

    // Negative control: the business raises its ceiling; the same counter is now signed.
    write_policy(&business, |p| p["max_compensation"] = "95% discount".into());
    assert_eq!(business.json(&["policy", "show"])["max_compensation"], "95% discount");
    business.ok(SHOE_CAMPAIGN);
    let pending = person.wait_event("awaiting-owner", |e| e["negotiation_id"] != pending["negotiation_id"]);
    person.ok(&["approve", pending["negotiation_id"].as_str().unwrap()]);
    let received = business.wait_event("data-received", |_| true);
    let agreement = received["agreement_id"].as_str().unwrap();
    let shown = business.json(&["agreements", "show", agreement]);
    assert_eq!(shown["terms"]["compensation"], "90% discount", "{shown}");
}
