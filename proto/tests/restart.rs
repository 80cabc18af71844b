//! A node restarted from its persisted state resumes what was in flight: a negotiation
//! awaiting the owner can still be approved, and the peer's side carries on.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

mod common;
use common::*;
use me2b_proto::engine::{Command, Config, Output, Role};
use me2b_proto::identity::Keypair;

#[test]
fn a_person_restarted_while_awaiting_the_owner_can_still_approve() {
    let mut w = world();
    publish(&mut w.net, w.clinic, "health.research", health_terms(START.saturating_add(DAY)));
    w.net.settle();
    let pending = awaiting(&w.net.peer(&w.person).events)[0];

    // Crash: the driver kept the state it was told to persist; restart with a fresh seed.
    let crashed = w.net.remove(&w.person).unwrap();
    let state = crashed.engine.state().clone();
    let person = w.net.add_with(Keypair::from_secret_bytes(&[1; 32]), Config::new(Role::Person, [99; 32]), state);
    assert_eq!(person, w.person);

    command(&mut w.net, person, Command::Approve(pending));
    w.net.settle();
    assert_eq!(finalized(&w.net.peer(&w.clinic).events).len(), 1);
    assert_eq!(finalized(&w.net.peer(&person).events).len(), 1);
}

#[test]
fn a_business_restarted_mid_negotiation_finishes_it() {
    let mut w = world();
    publish(&mut w.net, w.shoes, "apparel.shoes", shoe_terms(START.saturating_add(DAY)));
    // Deliver the gossip and the person's proposal; the business's Agree is now in flight.
    w.net.deliver_next();
    w.net.deliver_next();
    let crashed = w.net.remove(&w.shoes).unwrap();
    let state = crashed.engine.state().clone();
    w.net.add_with(Keypair::from_secret_bytes(&[2; 32]), Config::new(Role::Business, [98; 32]), state);
    w.net.settle();
    assert_eq!(finalized(&w.net.peer(&w.shoes).events).len(), 1);
    assert_eq!(finalized(&w.net.peer(&w.person).events).len(), 1);
}

#[test]
fn a_business_restarted_after_answering_an_intent_publishes_the_answer_again() {
    let mut w = world();
    command(&mut w.net, w.shoes, Command::SetCatalog(shoe_catalog(11_000, 10, START.saturating_add(DAY))));
    let intent = Command::PublishIntent {
        category: "apparel.shoes".parse().unwrap(),
        spec: [("size_eu".to_owned(), "44".to_owned())].into(),
        max_price: None,
        shares: vec![],
        expires_at: START.saturating_add(DAY),
    };
    command(&mut w.net, w.person, intent);
    // The intent reaches the business, which answers; it crashes before its answer travels.
    w.net.deliver_next();
    let crashed = w.net.remove(&w.shoes).unwrap();
    let answered = |outputs: &[Output]| {
        outputs
            .iter()
            .filter(|o| matches!(o, Output::Publish { topic, .. } if topic.to_string().starts_with("me2b/v1/answers/")))
            .count()
    };
    assert_eq!(answered(&crashed.outputs), 1, "it answered once");
    let state = crashed.engine.state().clone();
    w.net.add_with(Keypair::from_secret_bytes(&[2; 32]), Config::new(Role::Business, [98; 32]), state);
    assert_eq!(answered(&w.net.peer(&w.shoes).outputs), 1, "and again at restart");
}
