//! A node restarted from its persisted state resumes what was in flight: a negotiation
//! awaiting the owner can still be approved, and the peer's side carries on.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

mod common;
use common::*;
use me2b_proto::agreement::{Lifecycle, RevocationAnswer};
use me2b_proto::engine::{Command, Config, Event, Output, Role};
use me2b_proto::envelope::MessageKind;
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

/// A business's signature is the one message that leaves while its write is under way
/// (`Output::Send::early`). A crash in that moment loses the negotiation it signed: the
/// business refuses the person's countersignature as unknown and keeps nothing of what it
/// carried, the person's agreement is void, and the person can still ask for that data to be
/// deleted. The control restarts the business from its state after the write: the cycle ends
/// as usual.
#[test]
fn a_business_that_crashed_before_writing_its_signature_refuses_the_countersignature() {
    for written in [false, true] {
        let mut w = world();
        publish(&mut w.net, w.shoes, "apparel.shoes", shoe_terms(START.saturating_add(DAY)));
        w.net.deliver_next(); // the request reaches the person, who proposes
        let on_disk = w.net.peer(&w.shoes).engine.state().clone();
        w.net.deliver_next(); // the proposal reaches the business, which signs
        let crashed = w.net.remove(&w.shoes).unwrap();
        let early: Vec<&Output> =
            crashed.outputs.iter().filter(|o| matches!(o, Output::Send { early: true, .. })).collect();
        assert_eq!(early.len(), 1, "the signature, and only it, leaves before the write");
        assert!(matches!(early[0], Output::Send { kind: MessageKind::Negotiation, .. }));
        let state = if written { crashed.engine.state().clone() } else { on_disk };
        w.net.add_with(Keypair::from_secret_bytes(&[2; 32]), Config::new(Role::Business, [98; 32]), state);
        w.net.settle();

        let person = w.net.peer(&w.person);
        assert!(
            person.outputs.iter().all(|o| !matches!(o, Output::Send { early: true, .. })),
            "a person's messages wait"
        );
        let agreement_id = finalized(&person.events)[0];
        let record = &person.engine.state().agreements[&agreement_id];
        let business = w.net.peer(&w.shoes);
        if written {
            assert!(matches!(record.lifecycle, Lifecycle::Active), "{:?}", record.lifecycle);
            assert_eq!(finalized(&business.events), vec![agreement_id]);
            continue;
        }
        assert!(matches!(record.lifecycle, Lifecycle::Void { .. }), "{:?}", record.lifecycle);
        assert!(record.revocable(), "the countersignature carried data");
        assert!(business.engine.state().agreements.is_empty(), "the business holds no agreement");
        assert!(!business.events.iter().any(|e| matches!(e, Event::DataReceived { .. })), "nor any data");

        command(&mut w.net, w.person, Command::Revoke { agreement_id, reason: "crashed".into() });
        w.net.settle();
        let record = &w.net.peer(&w.person).engine.state().agreements[&agreement_id];
        match record.revocation.as_ref().map(|status| &status.answer) {
            Some(RevocationAnswer::NotConfirmed { reason, .. }) => {
                assert!(reason.contains("unknown agreement"), "{reason}")
            }
            other => panic!("expected the business to know nothing of it, got {other:?}"),
        }
    }
}
