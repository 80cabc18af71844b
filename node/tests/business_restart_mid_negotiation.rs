//! A business's node restarted mid-negotiation resumes it from its store: it answers an intent
//! with an offer and goes down while the person's agent is still collecting offers; the agent's
//! acceptance waits in the person's outbox (or the offer in the business's), and once the
//! business is back the agreement completes and the data arrives.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;
use me2b_proto::engine::{Event, Role};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_business_restarted_mid_negotiation_completes_it() {
    let (mut person, mut business) = person_and_business().await;
    shoe_catalog(&business).await;
    shoe_intent(&person).await;
    business.wait_for("intent", |e| matches!(e, Event::IntentSeen { answered: true, .. })).await;
    let negotiations = business.handle.state().await.unwrap().negotiations;
    assert_eq!(negotiations.len(), 1, "the business made an offer");
    let negotiation_id = *negotiations.keys().next().unwrap();

    // The business goes down at once, while the person's intent window is still open.
    business.handle.shutdown().await;
    let TestNode { dir, secret, .. } = business;
    let mut business = start_in(Role::Business, secret, dir).await;
    let restored = business.handle.state().await.unwrap();
    assert!(restored.negotiations.contains_key(&negotiation_id), "restored from the store");
    assert!(restored.agreements.is_empty());
    business.handle.dial(person.address().await).await.unwrap();

    business.wait_for("data", |e| matches!(e, Event::DataReceived { .. })).await;
    person.wait_for("agreement", |e| matches!(e, Event::Finalized { .. })).await;
    assert_eq!(business.handle.state().await.unwrap().agreements.len(), 1);
    person.handle.shutdown().await;
    business.handle.shutdown().await;
}
