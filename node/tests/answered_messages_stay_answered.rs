//! A message the peer answered leaves the outbox, and a node that stops cleanly keeps that:
//! the removal is not written on its own (it rides on the node's next write, see
//! `Node::commit`), so the node writes what it carries before it stops. After a restart
//! nothing is sent again.
//!
//! Negative control: without the write at stop, the person's countersignature was back in its
//! outbox after the restart and the test failed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;
use me2b_proto::engine::Role;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_stop_keeps_the_outbox_as_answered() {
    let (mut person, mut business) = person_and_business().await;
    agree(&mut person, &mut business).await;
    // The business's answer to the countersignature reaches the person just after its data.
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut poll = tokio::time::interval(Duration::from_millis(20));
    loop {
        poll.tick().await;
        if person.handle.state().await.unwrap().outbox.is_empty() {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the countersignature was never answered");
    }
    person.handle.shutdown().await;
    let TestNode { dir, secret, .. } = person;
    let person = start_in(Role::Person, secret, dir).await;
    let state = person.handle.state().await.unwrap();
    assert_eq!(state.agreements.len(), 1);
    assert!(state.outbox.is_empty(), "{} answered messages came back", state.outbox.len());
}
