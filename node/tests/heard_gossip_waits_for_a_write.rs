//! What gossip brings a node (a request heard) is not flushed on its own: it rides on the
//! node's next write, which comes within a second (the tick's) or before anything it caused
//! leaves the node (see `Node::commit`). Two things must hold:
//!
//! - a request heard reaches the disk within a tick, though the node does nothing else;
//! - a request that makes the person's agent propose is on disk before the proposal leaves.
//!
//! The store's flush count (`NodeInfo::commits`) tells when the node wrote. Negative controls:
//! without the tick's write, the first test waited for a flush that never came; with a batch
//! that sends something carried like one that does not, the business had the proposal while
//! the person had not flushed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;
use me2b_proto::engine::{Command, Event};
use std::time::Duration;

/// The person's flushes once whatever it carried is written (a read writes it first).
async fn flushes_now(node: &TestNode) -> u64 {
    node.handle.state().await.unwrap();
    node.handle.info().await.unwrap().commits
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_heard_reaches_the_disk_within_a_tick() {
    let (mut person, mut business) = person_and_business().await;
    // Every rule asks the owner: the agent only notes the request and asks, so nothing leaves
    // the person's node because of it.
    let mut policy = person_policy();
    for rule in &mut policy.rules {
        rule.ask_owner = true;
    }
    person.command(Command::SetPolicy(policy)).await;
    business.wait_subscribed(&person).await;
    let before = flushes_now(&person).await;
    publish(&business, shoe_terms()).await;
    let seen = person.wait_for("the request", |e| matches!(e, Event::RequestSeen { .. })).await;
    let Event::RequestSeen { outcome, .. } = seen else { unreachable!() };
    assert_eq!(outcome, "awaiting-owner");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let mut poll = tokio::time::interval(Duration::from_millis(20));
    loop {
        poll.tick().await;
        // `info` does not write (a state read would): only the node's own writes count here.
        if person.handle.info().await.unwrap().commits > before {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the request heard was not written within a tick");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_that_makes_the_person_propose_is_on_disk_before_the_proposal_leaves() {
    let (mut person, mut business) = person_and_business().await;
    business.wait_subscribed(&person).await;
    let before = flushes_now(&person).await;
    publish(&business, shoe_terms()).await;
    business.wait_for("the proposal", |e| matches!(e, Event::TermsExchanged { sent: false, .. })).await;
    let after = person.handle.info().await.unwrap().commits;
    assert!(after > before, "the person's proposal left before its write ({before} flushes, then {after})");
    person.wait_for("the request", |e| matches!(e, Event::RequestSeen { .. })).await;
}
