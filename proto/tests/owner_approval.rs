//! Sensitive data always asks the owner: approval leads to an agreement, a decline ends it
//! before the business learns anything.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

mod common;
use common::*;
use me2b_proto::engine::{Command, CommandError, Event, HandleError, Input};
use me2b_proto::messages::ItemContent;
use me2b_proto::negotiation::State;
use me2b_proto::policy::AskReason;

#[test]
fn a_health_request_waits_for_the_owner_and_is_agreed_on_approval() {
    let mut w = world();
    publish(&mut w.net, w.clinic, "health.research", health_terms(START.saturating_add(DAY)));
    w.net.settle();
    let pending = awaiting(&w.net.peer(&w.person).events);
    assert_eq!(pending.len(), 1);
    let reasons = w.net.peer(&w.person).events.iter().find_map(|e| match e {
        Event::AwaitingOwner { reasons, .. } => Some(reasons.clone()),
        _ => None,
    });
    assert_eq!(reasons, Some(vec![AskReason::Sensitive(path("health.acquired.asthma"))]));
    assert!(w.net.peer(&w.clinic).engine.state().negotiations.is_empty(), "nothing sent before approval");

    command(&mut w.net, w.person, Command::Approve(pending[0]));
    w.net.settle();
    let ids = finalized(&w.net.peer(&w.clinic).events);
    assert_eq!(ids.len(), 1);
    let held = &w.net.peer(&w.clinic).engine.state().received[&ids[0]];
    assert!(matches!(held[&path("profile.birthdate")].content, ItemContent::Derived { holds: true, .. }));
    assert!(matches!(held[&path("health.acquired.asthma")].content, ItemContent::Value(_)));
}

#[test]
fn a_declined_request_ends_without_a_word_to_the_business() {
    let mut w = world();
    publish(&mut w.net, w.clinic, "health.research", health_terms(START.saturating_add(DAY)));
    w.net.settle();
    let pending = awaiting(&w.net.peer(&w.person).events);
    command(&mut w.net, w.person, Command::Decline(pending[0]));
    w.net.settle();
    let state = &w.net.peer(&w.person).engine.state().negotiations[&pending[0]].state;
    assert!(matches!(state, State::Terminated { .. }));
    assert!(w.net.peer(&w.clinic).engine.state().negotiations.is_empty());
    assert!(w.net.peer(&w.clinic).engine.state().received.is_empty());

    // Approving it now is an error, not a panic.
    let again = w.net.input(w.person, Input::Command(Command::Approve(pending[0])));
    assert!(matches!(again, Err(HandleError::Command(CommandError::NotAwaitingOwner("TERMINATED")))));
}

#[test]
fn an_unanswered_approval_times_out() {
    let mut w = world();
    publish(&mut w.net, w.clinic, "health.research", health_terms(START.saturating_add(DAY)));
    w.net.settle();
    let pending = awaiting(&w.net.peer(&w.person).events);
    w.net.advance(std::time::Duration::from_secs(3600));
    let state = &w.net.peer(&w.person).engine.state().negotiations[&pending[0]].state;
    assert!(matches!(state, State::Terminated { code: me2b_proto::messages::TerminationCode::Timeout, .. }));
}
