//! After agreement, data keeps flowing only as agreed: a subscription sends updates no more
//! often than its interval; a trigger sends only its event, once each time its condition
//! becomes true (the worn-out running shoes).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

mod common;
use common::*;
use me2b_proto::messages::ItemContent;
use me2b_proto::predicate::Predicate;
use me2b_proto::terms::{FieldRequest, Use};
use me2b_proto::value::Value;
use std::time::Duration;

#[test]
fn a_trigger_sends_only_its_event_when_the_condition_becomes_true() {
    let mut w = world();
    let mut terms = shoe_terms(START.saturating_add(DAY));
    terms.fields = vec![FieldRequest::raw(path("body.shoe_size_eu"))];
    terms.usage = Use::Trigger {
        path: path("activity.running_km"),
        predicate: Predicate::SumSinceAtLeast { since: YEAR_START, threshold: 600.0 },
        event: "replacement-due".into(),
    };
    publish(&mut w.net, w.shoes, "apparel.shoes", terms);
    w.net.settle();
    let id = finalized(&w.net.peer(&w.shoes).events)[0];
    let holds_anything = |w: &World| w.net.peer(&w.shoes).engine.state().received.contains_key(&id);
    assert!(!holds_anything(&w), "450 km: nothing yet, not even the size");

    set(&mut w.net, w.person, "activity.running_km", running_km(520.0));
    w.net.settle();
    assert!(!holds_anything(&w));

    set(&mut w.net, w.person, "activity.running_km", running_km(610.0));
    w.net.settle();
    let held = &w.net.peer(&w.shoes).engine.state().received[&id];
    assert_eq!(held.len(), 1);
    assert_eq!(held[&path("activity.running_km")].content, ItemContent::TriggerEvent("replacement-due".into()));

    // Still true: no second event.
    set(&mut w.net, w.person, "activity.running_km", running_km(700.0));
    w.net.settle();
    assert_eq!(w.net.peer(&w.shoes).engine.state().agreements[&id].last_package, 1);
}

#[test]
fn a_subscription_sends_updates_within_its_minimum_interval() {
    let mut w = world();
    let mut terms = shoe_terms(START.saturating_add(DAY));
    terms.fields = vec![FieldRequest::raw(path("body.shoe_size_eu"))];
    terms.usage = Use::Subscription { min_interval: Duration::from_secs(3600) };
    publish(&mut w.net, w.shoes, "apparel.shoes", terms);
    w.net.settle();
    let id = finalized(&w.net.peer(&w.shoes).events)[0];
    assert_eq!(w.net.peer(&w.shoes).engine.state().agreements[&id].last_package, 1);

    set(&mut w.net, w.person, "body.shoe_size_eu", Value::Number(44.5));
    set(&mut w.net, w.person, "body.shoe_size_eu", Value::Number(45.0));
    w.net.settle();
    assert_eq!(w.net.peer(&w.shoes).engine.state().agreements[&id].last_package, 1, "too soon");

    w.net.advance(Duration::from_secs(3601));
    let state = w.net.peer(&w.shoes).engine.state();
    assert_eq!(state.agreements[&id].last_package, 2, "one update after the interval");
    match &state.received[&id][&path("body.shoe_size_eu")].content {
        ItemContent::Value(value) => assert_eq!(value.expose(), &Value::Number(45.0)),
        other => panic!("unexpected {other:?}"),
    }
}
