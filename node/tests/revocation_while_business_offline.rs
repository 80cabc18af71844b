//! A person revokes while the business's node is down; the revocation waits in the person's
//! store and is delivered when the business comes back; the business deletes and the signed
//! receipt arrives.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;
use me2b_proto::agreement::Lifecycle;
use me2b_proto::engine::{Command, Event, Role};
use me2b_proto::envelope::MessageKind;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_revocation_is_delivered_when_the_business_returns() {
    let (mut person, mut business) = person_and_business().await;
    let agreement_id = agree(&mut person, &mut business).await;

    // The business goes down.
    business.handle.shutdown().await;
    let TestNode { dir, secret, .. } = business;
    person.command(Command::Revoke { agreement_id, reason: "changed my mind".into() }).await;
    let outbox = person.handle.state().await.unwrap().outbox;
    assert!(outbox.values().any(|item| item.kind == MessageKind::Revocation), "the revocation waits in the outbox");

    // It comes back (with a new address) and reconnects to the person.
    let mut business = start_in(Role::Business, secret, dir).await;
    let held = business.handle.state().await.unwrap().received.contains_key(&agreement_id);
    assert!(held, "the data survived the restart");
    business.handle.dial(person.address().await).await.unwrap();

    business.wait_for("deletion", |e| matches!(e, Event::DataDeleted { .. })).await;
    person.wait_for("receipt", |e| matches!(e, Event::DeletionConfirmed { .. })).await;
    let state = person.handle.state().await.unwrap();
    assert!(matches!(state.agreements[&agreement_id].lifecycle, Lifecycle::Deleted { .. }));
    assert!(state.outbox.is_empty());
    assert!(!business.handle.state().await.unwrap().received.contains_key(&agreement_id));
    person.handle.shutdown().await;
    business.handle.shutdown().await;
}
