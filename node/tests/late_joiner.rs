//! Gossip does not replay old messages: a person whose node connects after a request was
//! published still gets it, handed over on `/me2b/announce/1.0.0` when it subscribes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;
use me2b_proto::engine::{Command, Event, Role};
use me2b_proto::value::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_published_before_the_person_connected_is_still_agreed() {
    let mut business = start(Role::Business, 2).await;
    publish(&business, shoe_terms()).await;

    let mut person = start(Role::Person, 1).await;
    person.command(Command::SetPolicy(person_policy())).await;
    person.command(Command::Subscribe("apparel.shoes".parse().unwrap())).await;
    person.set("body.shoe_size_eu", Value::Number(44.0)).await;
    person.handle.dial(business.address().await).await.unwrap();

    person.wait_for("agreement", |e| matches!(e, Event::Finalized { .. })).await;
    business.wait_for("data", |e| matches!(e, Event::DataReceived { .. })).await;
}

/// Issue 18: a person who connects first and subscribes seconds later used to miss a live
/// campaign (the hand-over at connect went to a node not yet listening, and a 60 s no-repeat
/// window swallowed the one at subscription). The subscription is what brings it now. Another
/// person was listening when the campaign went out, so gossip has nothing left to deliver: only
/// the hand-over can.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_who_subscribes_after_connecting_still_gets_the_live_request() {
    let (mut early, mut business) = person_and_business().await;
    publish(&business, shoe_terms()).await;
    early.wait_for("the campaign", |e| matches!(e, Event::RequestSeen { .. })).await;

    let mut late = start(Role::Person, 3).await;
    late.command(Command::SetPolicy(person_policy())).await;
    late.set("body.shoe_size_eu", Value::Number(44.0)).await;
    late.handle.dial(business.address().await).await.unwrap();
    business.wait_connected(late.handle.peer_id()).await;
    late.command(Command::Subscribe("apparel.shoes".parse().unwrap())).await;

    late.wait_for("agreement", |e| matches!(e, Event::Finalized { .. })).await;
}
