//! A person's intent crosses gossip; a business answers from its catalog over a direct stream;
//! the agent takes the offer after the intent's window; the business counts the demand.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;
use me2b_proto::engine::Event;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_intent_is_answered_and_agreed() {
    let (mut person, mut business) = person_and_business().await;
    shoe_catalog(&business).await;
    shoe_intent(&person).await;
    business.wait_for("intent", |e| matches!(e, Event::IntentSeen { answered: true, .. })).await;
    person.wait_for("agreement", |e| matches!(e, Event::Finalized { .. })).await;
    business.wait_for("data", |e| matches!(e, Event::DataReceived { .. })).await;
    let demand = business.handle.state().await.unwrap().demand;
    assert_eq!(demand[&("apparel.shoes".parse().unwrap(), "size_eu=44".to_string())], 1);
}
