//! A business with more connections than its trimming mark keeps the people who follow a
//! request topic (its audience: a campaign reaches them over these connections) and the
//! connections of people's personas (no gossip on them: they carry the exchanges, and close
//! once idle), and closes gossip peers that follow none (as a DHT walk leaves behind). The load
//! test's thousand people, each with a root and a persona connection (2,000 connections, above
//! the business's mark of 1,024), need both: without them the business closed its audience or
//! the personas' connections in the middle of the next campaign.
//!
//! Negative controls: with the audience rule removed from `Node::trim_connections`, the
//! business closed followers and the test failed; with the gossip-only rule removed, it closed
//! the personas' connections and the test failed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;
use me2b_node::NodeEvent;
use me2b_proto::engine::{Command, Event, Role};
use me2b_proto::value::Value;
use std::collections::BTreeSet;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn followers_and_personas_stay_when_a_business_trims() {
    let mut business = start_with(Role::Business, [2; 32], tempfile::tempdir().unwrap(), |c| {
        c.net.trim_above = 3;
        c.net.trim_to = 1;
        c.net.trim_grace = Duration::from_millis(300);
    })
    .await;
    let address = business.address().await;
    let mut followers = Vec::new();
    for seed in 10..12u8 {
        let person = start(Role::Person, seed).await;
        person.command(Command::SetPolicy(person_policy())).await;
        person.command(Command::Subscribe("apparel.shoes".parse().unwrap())).await;
        person.set("body.shoe_size_eu", Value::Number(44.0)).await;
        person.handle.dial(address.clone()).await.unwrap();
        followers.push(person);
    }
    let mut subscribed = BTreeSet::new();
    while subscribed.len() < followers.len() {
        let event = business.wait_node_event("subscriptions", |e| matches!(e, NodeEvent::PeerSubscribed { .. })).await;
        if let NodeEvent::PeerSubscribed { peer, .. } = event {
            subscribed.insert(peer);
        }
    }
    // A campaign: each follower's persona connects and agrees.
    publish(&business, shoe_terms()).await;
    let mut personas = BTreeSet::new();
    while personas.len() < followers.len() {
        if let Event::Finalized { peer, .. } =
            business.wait_for("agreements", |e| matches!(e, Event::Finalized { .. })).await
        {
            personas.insert(me2b_node::net::peer_id(&peer).unwrap());
        }
    }
    // People who follow nothing: gossip peers the business does not need.
    let mut others = Vec::new();
    for seed in 20..22u8 {
        let person = start(Role::Person, seed).await;
        person.handle.dial(address.clone()).await.unwrap();
        others.push(person);
    }
    let ids = |nodes: &[TestNode]| nodes.iter().map(|n| n.handle.peer_id()).collect::<BTreeSet<_>>();
    let (follower_ids, other_ids) = (ids(&followers), ids(&others));
    // Trimming runs on the node's tick, over connections older than the grace, all at once:
    // the business's connections are read until the others are gone.
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut poll = tokio::time::interval(Duration::from_millis(100));
    let peers = loop {
        poll.tick().await;
        let peers: BTreeSet<_> = business.handle.info().await.unwrap().peers.into_iter().collect();
        if peers.is_disjoint(&other_ids) {
            break peers;
        }
        assert!(tokio::time::Instant::now() < deadline, "the business never trimmed: {} connected", peers.len());
    };
    assert!(follower_ids.is_subset(&peers), "the business closed a follower's connection");
    assert!(personas.is_subset(&peers), "the business closed a persona's connection");
}
