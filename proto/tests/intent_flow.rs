//! A person's intent reaches businesses whose catalogs match; the agent takes the best offer
//! and declines the rest; businesses count the demand they see.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

mod common;
use common::*;
use me2b_proto::engine::{Command, Event, Handled, Role};
use me2b_proto::messages::TerminationCode;
use me2b_proto::terms::Money;
use std::collections::BTreeMap;

fn intent(w: &mut World, max_price: u64) -> me2b_proto::identity::IntentId {
    let handled = command(
        &mut w.net,
        w.person,
        Command::PublishIntent {
            category: "apparel.shoes".parse().unwrap(),
            spec: BTreeMap::from([("size_eu".into(), "44".into())]),
            max_price: Some(Money::new(max_price, "EUR").unwrap()),
            shares: vec![],
            expires_at: START.saturating_add(DAY),
        },
    );
    let Handled::Intent(id) = handled else { panic!("expected an intent id") };
    id
}

#[test]
fn the_best_matching_offer_is_agreed_and_the_others_are_not_selected() {
    let mut w = world();
    let rival = w.net.add(Role::Business, 4);
    command(&mut w.net, rival, Command::Subscribe("apparel.shoes".parse().unwrap()));
    let expiry = START.saturating_add(DAY);
    command(&mut w.net, w.shoes, Command::SetCatalog(shoe_catalog(11_000, 10, expiry)));
    command(&mut w.net, rival, Command::SetCatalog(shoe_catalog(10_000, 15, expiry)));

    intent(&mut w, 12_000);
    w.net.settle();
    // Both answered; the agent waits for the intent window before choosing.
    assert!(finalized(&w.net.peer(&w.person).events).is_empty());
    w.net.advance(std::time::Duration::from_secs(30));

    let agreements = finalized(&w.net.peer(&w.person).events);
    assert_eq!(agreements.len(), 1);
    assert_eq!(finalized(&w.net.peer(&rival).events), agreements, "15% beats 10%");
    assert!(finalized(&w.net.peer(&w.shoes).events).is_empty());
    let not_selected = w
        .net
        .peer(&w.shoes)
        .events
        .iter()
        .any(|e| matches!(e, Event::Terminated { code: TerminationCode::NotSelected, by_peer: true, .. }));
    assert!(not_selected);
    assert!(!w.net.peer(&rival).engine.state().received[&agreements[0]].is_empty(), "data flows to the chosen one");
}

#[test]
fn an_offer_over_budget_or_off_spec_is_not_made_or_not_taken() {
    let mut w = world();
    let expiry = START.saturating_add(DAY);
    command(&mut w.net, w.shoes, Command::SetCatalog(shoe_catalog(15_000, 10, expiry)));
    intent(&mut w, 12_000);
    w.net.settle();
    w.net.advance(std::time::Duration::from_secs(30));
    assert!(w.net.peer(&w.shoes).engine.state().negotiations.is_empty(), "too expensive: no answer");
    assert!(finalized(&w.net.peer(&w.person).events).is_empty());
}

#[test]
fn businesses_count_aggregate_demand() {
    let mut w = world();
    intent(&mut w, 12_000);
    intent(&mut w, 9_000);
    w.net.settle();
    let demand = &w.net.peer(&w.shoes).engine.state().demand;
    assert_eq!(demand[&("apparel.shoes".parse().unwrap(), String::new())], 2);
    assert_eq!(demand[&("apparel.shoes".parse().unwrap(), "size_eu=44".to_string())], 2);
    // The person's own negotiations: none (no catalog), and nothing is pending.
    assert!(w.net.peer(&w.person).engine.state().negotiations.awaiting_owner().next().is_none());
}

#[test]
fn made_up_demand_cannot_keep_real_demand_out() {
    let mut w = world();
    let flooder = w.net.add(Role::Person, 9);
    // Intents whose every spec value is made up, until the business's demand table is full.
    // Each adds one new key per spec entry (the category's own key is shared).
    for i in 0..me2b_proto::limits::MAX_DEMAND_KEYS / me2b_proto::limits::MAX_SPEC_ENTRIES + 2 {
        let spec = (0..me2b_proto::limits::MAX_SPEC_ENTRIES).map(|k| (format!("k{k}"), format!("junk{i}"))).collect();
        command(
            &mut w.net,
            flooder,
            Command::PublishIntent {
                category: "apparel.shoes".parse().unwrap(),
                spec,
                max_price: None,
                shares: vec![],
                expires_at: START.saturating_add(DAY),
            },
        );
        w.net.settle();
    }
    assert_eq!(w.net.peer(&w.shoes).engine.state().demand.len(), me2b_proto::limits::MAX_DEMAND_KEYS);
    // Real demand still counts, twice over.
    intent(&mut w, 12_000);
    intent(&mut w, 12_000);
    w.net.settle();
    let demand = &w.net.peer(&w.shoes).engine.state().demand;
    assert!(demand.len() <= me2b_proto::limits::MAX_DEMAND_KEYS);
    assert_eq!(demand.get(&("apparel.shoes".parse().unwrap(), "size_eu=44".to_owned())), Some(&2));
}
