//! The intent flow across real processes: a business loads a catalog and follows shoes; a
//! person publishes an intent; the business answers with an offer; the person's agent takes
//! it after the intent's window (asking the owner, as a new node's policy does); the business
//! counts the demand.

use me2b_tests::*;

#[test]
fn an_intent_is_answered_from_the_catalog_and_agreed() {
    let mut business = Node::init("business", "Stride", "127.0.0.33");
    business.start(&[]);
    let catalog = business.dir.path().join("catalog.toml");
    std::fs::write(&catalog, SHOE_CATALOG).unwrap();
    business.ok(&["catalog", "set", catalog.to_str().unwrap()]);
    business.ok(&["subscribe", "apparel.shoes"]);

    let mut person = Node::init("person", "Ada", "127.0.0.34");
    person.start(&[business.address()]);
    person.ok(&["data", "set", "body.shoe_size_eu", "44"]);
    person.wait_event("peer-subscribed", |e| e["topic"] == "me2b/v1/intents/apparel.shoes");
    person.ok(&[
        "intent",
        "publish",
        "--category",
        "apparel.shoes",
        "--spec",
        "size_eu=44",
        "--max-price",
        "120 EUR",
        "--expires",
        "14d",
    ]);

    business.wait_event("intent-seen", |e| e["answered"] == true);
    let pending = person.wait_event("awaiting-owner", |_| true);
    let offers = person.json(&["pending"]);
    assert_eq!(offers[0]["offer"], "Trail runner for 99.00 EUR");
    person.ok(&["approve", pending["negotiation_id"].as_str().unwrap()]);
    business.wait_event("data-received", |_| true);

    let demand = business.json(&["demand"]);
    let row = demand.as_array().unwrap().iter().find(|r| r["spec"] == "size_eu=44").expect("demand counted");
    assert_eq!(row["count"], 1);
    assert_eq!(person.json(&["agreements"])[0]["context"].as_str().unwrap().split(':').next(), Some("intent"));
}
