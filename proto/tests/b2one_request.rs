//! A business's data request reaches a person whose agent accepts it within policy; both sign;
//! exactly the agreed fields flow, as a raw value and a derived fact.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

mod common;
use common::*;
use me2b_proto::engine::Event;
use me2b_proto::messages::ItemContent;
use me2b_proto::negotiation::State;
use me2b_proto::value::Value;

#[test]
fn request_within_policy_is_agreed_and_exactly_the_agreed_fields_flow() {
    let mut w = world();
    publish(&mut w.net, w.shoes, "apparel.shoes", shoe_terms(START.saturating_add(DAY)));
    w.net.settle();

    let person_agreements = finalized(&w.net.peer(&w.person).events);
    let business_agreements = finalized(&w.net.peer(&w.shoes).events);
    assert_eq!(person_agreements.len(), 1);
    assert_eq!(person_agreements, business_agreements, "both sides hold the same agreement");
    let id = person_agreements[0];

    let negotiation = w.net.peer(&w.person).engine.state().negotiations.values().next().unwrap().clone();
    assert_eq!(negotiation.state, State::Finalized);
    assert_eq!(w.net.peer(&w.shoes).engine.state().negotiations[&negotiation.id].state, State::Finalized);

    let held = &w.net.peer(&w.shoes).engine.state().received[&id];
    assert_eq!(held.len(), 2);
    match &held[&path("body.shoe_size_eu")].content {
        ItemContent::Value(value) => assert_eq!(value.expose(), &Value::Number(44.0)),
        other => panic!("expected the raw size, got {other:?}"),
    }
    match &held[&path("activity.running_km")].content {
        ItemContent::Derived { holds, .. } => assert!(!holds, "450 km since January is below 600"),
        other => panic!("expected a derived fact, got {other:?}"),
    }
    assert!(!held.contains_key(&path("profile.email")), "nothing the agreement does not name");

    // Both agreements carry both signatures over the same bytes; the person signed as its
    // persona toward the shoe maker, never with its root key.
    let record = &w.net.peer(&w.shoes).engine.state().agreements[&id];
    assert_eq!(record.bytes, w.net.peer(&w.person).engine.state().agreements[&id].bytes);
    let persona = persona_key(&w.net, w.person, w.shoes).public();
    assert_eq!(record.agreement.person, persona);
    assert_ne!(persona, w.person);
    assert!(me2b_proto::agreement::verify(&persona, &record.bytes, &record.person_signature));
    assert!(!me2b_proto::agreement::verify(&w.person, &record.bytes, &record.person_signature));
    assert!(me2b_proto::agreement::verify(&w.shoes, &record.bytes, &record.business_signature));

    assert!(w.net.peer(&w.person).events.iter().any(|e| matches!(e, Event::DataSent { .. })));
    // Terms sent, the agreement, the data (a request merely seen is not an exchange: no entry).
    assert!(verify_ledger(&w.net, w.person) >= 3);
    assert!(verify_ledger(&w.net, w.shoes) >= 4);
}

#[test]
fn a_request_in_a_category_the_person_does_not_follow_is_ignored() {
    let mut w = world();
    publish(&mut w.net, w.shoes, "apparel.hats", shoe_terms(START.saturating_add(DAY)));
    w.net.settle();
    assert!(w.net.peer(&w.person).engine.state().negotiations.is_empty());
    assert!(w.net.peer(&w.shoes).engine.state().negotiations.is_empty());
}

#[test]
fn a_request_the_policy_rejects_tells_the_business_nothing() {
    let mut w = world();
    let mut terms = shoe_terms(START.saturating_add(DAY));
    terms.purpose = me2b_proto::vocab::Purpose::Marketing;
    publish(&mut w.net, w.shoes, "apparel.shoes", terms);
    w.net.settle();
    assert!(w.net.peer(&w.shoes).engine.state().negotiations.is_empty(), "the business never learns of the person");
    assert!(
        w.net
            .peer(&w.person)
            .events
            .iter()
            .any(|e| matches!(e, Event::RequestSeen { outcome, .. } if outcome.starts_with("rejected")))
    );
}

#[test]
fn a_person_who_joins_after_the_request_was_published_still_gets_it() {
    let mut w = world();
    w.net.set_online(w.person, false);
    publish(&mut w.net, w.shoes, "apparel.shoes", shoe_terms(START.saturating_add(DAY)));
    w.net.settle();
    assert!(w.net.peer(&w.person).engine.state().requests.is_empty(), "gossip does not reach an offline node");
    // On reconnecting, the business hands over its live requests directly.
    w.net.set_online(w.person, true);
    w.net.settle();
    assert_eq!(finalized(&w.net.peer(&w.person).events).len(), 1);
}
