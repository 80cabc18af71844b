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

/// Restarts the person's node from its state, with the owner window `window`.
fn restart_person(w: &mut World, window: std::time::Duration) {
    use me2b_proto::engine::{Config, Role};
    let state = w.net.remove(&w.person).unwrap().engine.state().clone();
    let config = Config { owner_window: window, ..Config::new(Role::Person, [1; 32]) };
    w.net.add_with(me2b_proto::identity::Keypair::from_secret_bytes(&[1; 32]), config, state);
}

#[test]
fn the_owner_has_until_the_request_expires_not_two_minutes() {
    for window in [std::time::Duration::from_secs(7 * 24 * 3600), std::time::Duration::from_secs(120)] {
        let mut w = world();
        restart_person(&mut w, window);
        publish(&mut w.net, w.clinic, "health.research", health_terms(START.saturating_add(DAY)));
        w.net.settle();
        let pending = awaiting(&w.net.peer(&w.person).events)[0];
        // The owner looks an hour later, after a restart of their node.
        w.net.advance(std::time::Duration::from_secs(3600));
        let state = w.net.remove(&w.person).unwrap().engine.state().clone();
        let config = me2b_proto::engine::Config {
            owner_window: window,
            ..me2b_proto::engine::Config::new(me2b_proto::engine::Role::Person, [1; 32])
        };
        w.net.add_with(me2b_proto::identity::Keypair::from_secret_bytes(&[1; 32]), config, state);
        let approved = w.net.input(w.person, Input::Command(Command::Approve(pending)));
        if window.as_secs() == 120 {
            // Negative control: the old fixed two minutes. The prompt expired, and says so.
            assert!(matches!(approved, Err(HandleError::Command(CommandError::PromptExpired(_)))), "{approved:?}");
            let error = approved.unwrap_err().to_string();
            assert!(error.contains("expired") && error.contains("nothing was shared"), "{error}");
            assert!(w.net.peer(&w.person).engine.state().negotiations[&pending].prompt_expired_at.is_some());
            continue;
        }
        approved.unwrap();
        w.net.settle();
        assert_eq!(finalized(&w.net.peer(&w.clinic).events).len(), 1, "approved an hour later, it is agreed");
    }
}

#[test]
fn a_prompt_that_expires_says_so() {
    let mut w = world();
    publish(&mut w.net, w.clinic, "health.research", health_terms(START.saturating_add(DAY)));
    w.net.settle();
    let pending = awaiting(&w.net.peer(&w.person).events)[0];
    w.net.advance(2 * DAY);
    let person = w.net.peer(&w.person);
    assert!(
        person
            .events
            .iter()
            .any(|e| matches!(e, Event::PromptExpired { negotiation_id } if *negotiation_id == pending))
    );
    assert!(person.engine.state().negotiations[&pending].prompt_expired_at.is_some());
    let approved = w.net.input(w.person, Input::Command(Command::Approve(pending)));
    assert!(matches!(approved, Err(HandleError::Command(CommandError::PromptExpired(_)))), "{approved:?}");
    assert!(w.net.peer(&w.clinic).engine.state().negotiations.is_empty(), "the business never heard of it");
}

#[test]
fn the_owner_counters_with_terms_that_share_less_and_never_more() {
    let mut w = world();
    let asked = health_terms(START.saturating_add(DAY));
    publish(&mut w.net, w.clinic, "health.research", asked.clone());
    w.net.settle();
    let pending = awaiting(&w.net.peer(&w.person).events);

    // Wider than what awaits approval: refused, nothing sent.
    let mut wider = asked.clone();
    wider.onward_sharing = true;
    let refused =
        w.net.input(w.person, Input::Command(Command::Counter { negotiation_id: pending[0], terms: Box::new(wider) }));
    assert!(matches!(refused, Err(HandleError::Command(CommandError::Invalid(_)))), "{refused:?}");
    assert!(w.net.peer(&w.clinic).engine.state().negotiations.is_empty());

    // Shorter retention: the clinic's agent accepts the counter and the agreement says so.
    let mut shorter = asked.clone();
    shorter.retention = asked.retention / 2;
    command(&mut w.net, w.person, Command::Counter { negotiation_id: pending[0], terms: Box::new(shorter) });
    w.net.settle();
    let ids = finalized(&w.net.peer(&w.clinic).events);
    assert_eq!(ids.len(), 1);
    let agreed = &w.net.peer(&w.person).engine.state().agreements[&ids[0]].agreement.terms;
    assert_eq!(agreed.retention, asked.retention / 2);
}
