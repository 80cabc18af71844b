//! The owner decides across real processes: one request approved, another declined. The
//! declined one ends without an agreement and nothing of it reaches the business.

use me2b_tests::*;

#[test]
fn the_owner_approves_one_request_and_declines_another() {
    let (mut person, mut business) = person_and_shoe_maker("127.0.0.35", "127.0.0.36");
    person.ok(&["data", "set", "health.acquired.asthma", "true"]);

    business.ok(SHOE_CAMPAIGN);
    let shoes = person.wait_event("awaiting-owner", |_| true);
    business.ok(&[
        "campaign",
        "publish",
        "--category",
        "apparel.shoes",
        "--field",
        "health.acquired.asthma",
        "--purpose",
        "research",
        "--retention",
        "90d",
    ]);
    let health = person.wait_event("awaiting-owner", |e| e["negotiation_id"] != shoes["negotiation_id"]);
    assert_eq!(person.json(&["pending"]).as_array().unwrap().len(), 2);

    person.ok(&["decline", health["negotiation_id"].as_str().unwrap()]);
    person.ok(&["approve", shoes["negotiation_id"].as_str().unwrap()]);
    business.wait_event("data-received", |_| true);
    // The business never heard of the declined proposal (the agent asks before proposing),
    // so only the person's side records its end.
    person.wait_event("negotiation-terminated", |e| e["negotiation_id"] == health["negotiation_id"]);

    assert!(person.json(&["pending"]).as_array().unwrap().is_empty());
    let held = business.json(&["received"]);
    let held = held.as_array().unwrap();
    assert_eq!(held.len(), 1);
    assert!(!held[0]["items"].as_object().unwrap().contains_key("health.acquired.asthma"));
    assert_eq!(business.json(&["agreements"]).as_array().unwrap().len(), 1);
    // Deciding twice is refused with a clear message.
    let again = person.fails(&["approve", health["negotiation_id"].as_str().unwrap()]);
    assert!(again.contains("error:"), "{again}");
}
