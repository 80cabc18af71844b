//! After agreement, data keeps flowing only as agreed: a subscription sends updates no more
//! often than its interval; a trigger sends only its event, once each time its condition
//! becomes true (the worn-out running shoes).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

mod common;
use common::*;
use me2b_proto::engine::{Command, Handled, ImportCounts, ImportUpdate, Input, Provenance, Update};
use me2b_proto::messages::ItemContent;
use me2b_proto::predicate::Predicate;
use me2b_proto::terms::{FieldRequest, Use};
use me2b_proto::value::{Point, Value};
use std::time::Duration;

#[test]
fn a_trigger_sends_only_its_event_when_the_condition_becomes_true() {
    let mut w = world();
    let mut terms = shoe_terms(START.saturating_add(DAY));
    terms.fields = vec![FieldRequest::raw(path("body.shoe_size_eu"))];
    terms.usage = Use::Trigger {
        path: path("activity.running_km"),
        predicate: Predicate::sum_since(YEAR_START, 600.0),
        event: "replacement-due".into(),
        rearm: None,
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

/// A value hovering at the threshold: 610, 590, 610, 560, 610 km. Without a re-arm condition
/// the trigger fires once for ever; with `rearm sum < 580` it fires again only after the value
/// fell below 580, not at each crossing of 600.
#[test]
fn a_trigger_fires_once_and_re_arms_only_past_its_hysteresis() {
    let events_for = |rearm: Option<&str>| {
        let mut w = world();
        let mut terms = shoe_terms(START.saturating_add(DAY));
        terms.fields = vec![FieldRequest::raw(path("body.shoe_size_eu"))];
        terms.usage = Use::Trigger {
            path: path("activity.running_km"),
            predicate: Predicate::sum_since(YEAR_START, 600.0),
            event: "replacement-due".into(),
            rearm: rearm.map(|text| Box::new(text.parse().unwrap())),
        };
        publish(&mut w.net, w.shoes, "apparel.shoes", terms);
        w.net.settle();
        let id = finalized(&w.net.peer(&w.shoes).events)[0];
        let mut packages = Vec::new();
        for km in [610.0, 590.0, 610.0, 560.0, 610.0] {
            set(&mut w.net, w.person, "activity.running_km", running_km(km));
            w.net.settle();
            packages.push(w.net.peer(&w.shoes).engine.state().agreements[&id].last_package);
        }
        packages
    };
    assert_eq!(events_for(None), [1, 1, 1, 1, 1], "fires once, never again");
    let rearm = format!("sum since {} < 580", me2b_proto::time::Date::of(YEAR_START));
    assert_eq!(events_for(Some(&rearm)), [1, 1, 1, 1, 2], "590 does not re-arm, 560 does");
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

fn import(w: &mut World, points: Vec<Point>) -> Result<Handled, String> {
    let updates = vec![ImportUpdate {
        path: path("activity.running_km"),
        update: Update::AddPoints(points),
        original_id: Some("run".into()),
    }];
    w.net
        .input(w.person, Input::Command(Command::Import { updates, provenance: Provenance::Owner }))
        .map_err(|e| e.to_string())
}

/// An import is one change: runs that cross the threshold together fire the trigger once; the
/// same file again adds nothing and fires nothing; an import with one bad entry changes nothing.
#[test]
fn an_import_fires_a_trigger_once_and_is_all_or_nothing() {
    let mut w = world();
    let mut terms = shoe_terms(START.saturating_add(DAY));
    terms.fields = vec![FieldRequest::raw(path("body.shoe_size_eu"))];
    terms.usage = Use::Trigger {
        path: path("activity.running_km"),
        predicate: "sum tagged pegasus-41 >= 700".parse().unwrap(),
        event: "replacement-due".into(),
        rearm: Some(Box::new("sum tagged pegasus-41 < 1".parse().unwrap())),
    };
    publish(&mut w.net, w.shoes, "apparel.shoes", terms);
    w.net.settle();
    let id = finalized(&w.net.peer(&w.shoes).events)[0];
    let packages = |w: &World| w.net.peer(&w.shoes).engine.state().agreements[&id].last_package;
    // The fixture's vault holds an untagged series; these runs are in the tagged shoe.
    let run = |day: u64, km: f64| Point::tagged(YEAR_START.saturating_add(DAY * day as u32), km, "pegasus-41");
    let log: Vec<Point> = (0..69).map(|day| run(day, 10.0)).collect();
    let counts = import(&mut w, log.clone()).unwrap();
    assert!(matches!(counts, Handled::Imported(ImportCounts { added: 69, duplicates: 0, .. })), "{counts:?}");
    w.net.settle();
    assert_eq!(packages(&w), 0, "690 km: nothing");

    let crossing = vec![run(70, 6.0), run(71, 6.0)];
    import(&mut w, crossing.clone()).unwrap();
    w.net.settle();
    assert_eq!(packages(&w), 1, "702 km: one event");
    let again = import(&mut w, crossing).unwrap();
    assert!(matches!(again, Handled::Imported(ImportCounts { added: 0, updated: 0, duplicates: 2 })), "{again:?}");
    w.net.settle();
    assert_eq!(packages(&w), 1, "the same file again: nothing");

    let before = w.net.peer(&w.person).engine.state().vault.clone();
    let mut bad = vec![run(72, 5.0)];
    bad.push(Point::tagged(YEAR_START, f64::NAN, "pegasus-41"));
    assert!(import(&mut w, bad).is_err());
    assert_eq!(w.net.peer(&w.person).engine.state().vault, before, "a rejected import changes nothing");
}
