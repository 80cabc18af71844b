//! Terms that go beyond the person's policy are countered; the business takes a narrower
//! counter, and refuses one that drops what it requires. A business counter that widens what
//! the person allowed is never accepted.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

mod common;
use common::*;
use me2b_proto::engine::{Command, Event};
use me2b_proto::messages::TerminationCode;
use me2b_proto::negotiation::State;
use me2b_proto::policy::BusinessPolicy;
use me2b_proto::terms::FieldRequest;

#[test]
fn a_counter_offer_narrows_the_terms_and_is_agreed() {
    let mut w = world();
    let mut terms = shoe_terms(START.saturating_add(DAY));
    terms.retention = 365 * DAY;
    terms.onward_sharing = true;
    terms.fields.push(FieldRequest::raw(path("profile.email")).optional());
    publish(&mut w.net, w.shoes, "apparel.shoes", terms);
    w.net.settle();

    let ids = finalized(&w.net.peer(&w.shoes).events);
    assert_eq!(ids.len(), 1);
    let agreed = &w.net.peer(&w.shoes).engine.state().agreements[&ids[0]].agreement.terms;
    assert_eq!(agreed.retention, 60 * DAY, "retention capped at the policy's");
    assert!(!agreed.onward_sharing);
    assert!(agreed.field(&path("profile.email")).is_none(), "email is not shared");
    assert!(!w.net.peer(&w.shoes).engine.state().received[&ids[0]].contains_key(&path("profile.email")));
}

#[test]
fn a_counter_that_drops_a_required_field_is_refused_by_the_business() {
    let mut w = world();
    let mut terms = shoe_terms(START.saturating_add(DAY));
    terms.fields.push(FieldRequest::raw(path("profile.email")));
    publish(&mut w.net, w.shoes, "apparel.shoes", terms);
    w.net.settle();
    assert!(finalized(&w.net.peer(&w.shoes).events).is_empty());
    let ended = w
        .net
        .peer(&w.person)
        .events
        .iter()
        .any(|e| matches!(e, Event::Terminated { code: TerminationCode::Policy, by_peer: true, .. }));
    assert!(ended, "the business terminates with a policy reason");
}

#[test]
fn a_business_that_takes_no_counters_ends_the_negotiation() {
    let mut w = world();
    command(
        &mut w.net,
        w.shoes,
        Command::SetBusinessPolicy(BusinessPolicy { accept_counters: false, ..BusinessPolicy::default() }),
    );
    let mut terms = shoe_terms(START.saturating_add(DAY));
    terms.onward_sharing = true;
    publish(&mut w.net, w.shoes, "apparel.shoes", terms);
    w.net.settle();
    assert!(finalized(&w.net.peer(&w.person).events).is_empty());
}

#[test]
fn a_business_counter_that_widens_what_the_person_allowed_is_not_accepted() {
    let mut w = world();
    // The person proposes within policy; the business (hand-driven here) counters with
    // onward sharing and the email, which the policy does not allow.
    let mut terms = shoe_terms(START.saturating_add(DAY));
    terms.onward_sharing = true;
    command(
        &mut w.net,
        w.shoes,
        Command::SetBusinessPolicy(BusinessPolicy { accept_counters: false, ..BusinessPolicy::default() }),
    );
    publish(&mut w.net, w.shoes, "apparel.shoes", terms.clone());
    // Deliver the gossip only; intercept the person's counter-proposal.
    w.net.deliver_next();
    let negotiation = w.net.peer(&w.person).engine.state().negotiations.values().next().unwrap().clone();
    assert_eq!(negotiation.state, State::Requested { by: me2b_proto::negotiation::Party::Local });
    assert!(!negotiation.terms.onward_sharing, "the person's proposal drops onward sharing");

    let mut wider = negotiation.terms.clone();
    wider.onward_sharing = true;
    wider.fields.push(FieldRequest::raw(path("profile.email")));
    counter_from_shoes(&mut w.net, w.person, negotiation.id, wider).unwrap();
    let after = &w.net.peer(&w.person).engine.state().negotiations[&negotiation.id];
    // The agent counters again with what its policy allows; it never signs the wider terms.
    assert_eq!(after.state, State::Offered { by: me2b_proto::negotiation::Party::Local });
    assert!(!after.terms.onward_sharing);
    assert!(after.terms.field(&path("profile.email")).is_none());
    assert!(after.agreement.is_none());
}
