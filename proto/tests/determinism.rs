//! Two engines fed the same inputs, times and seeds produce identical outputs.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

mod common;
use common::*;
use me2b_proto::engine::Command;

fn run() -> Vec<Vec<me2b_proto::engine::Output>> {
    let mut w = world();
    publish(&mut w.net, w.shoes, "apparel.shoes", shoe_terms(START.saturating_add(DAY)));
    publish(&mut w.net, w.clinic, "health.research", health_terms(START.saturating_add(DAY)));
    w.net.settle();
    let pending = awaiting(&w.net.peer(&w.person).events);
    command(&mut w.net, w.person, Command::Approve(pending[0]));
    w.net.settle();
    let id = finalized(&w.net.peer(&w.shoes).events)[0];
    command(&mut w.net, w.person, Command::Revoke { agreement_id: id, reason: String::new() });
    w.net.advance(2 * DAY);
    [w.person, w.shoes, w.clinic].iter().map(|k| w.net.peer(k).outputs.clone()).collect()
}

#[test]
fn same_inputs_and_seed_give_the_same_outputs() {
    let first = run();
    let second = run();
    assert!(first.iter().map(Vec::len).sum::<usize>() > 50);
    assert_eq!(first, second);
}
