//! A DHT client holds its first walk back to a moment of its own (`NetConfig::dht_boot_spread`),
//! so that nodes started together do not all walk to every server in the same second; a
//! lookup before that moment does not wait, and the walk comes by itself once it has.
//!
//! Negative control: `with_no_spread_a_client_walks_as_soon_as_it_knows_a_server` is the
//! node without the hold (a zero spread); the assertion the first test makes (an empty
//! routing table while the server waits) fails on it. With the hold removed from the code
//! (`FirstWalk::admit` always true), the first test failed the same way.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;
use me2b_node::NodeEvent;
use me2b_proto::engine::Role;
use std::time::Duration;

/// A hub that serves the DHT, a business whose profile is in it, and a person who knows the
/// hub only, whose first walk is held back within `spread`.
async fn network(spread: Duration) -> (TestNode, TestNode, TestNode) {
    let hub = start_with(Role::Person, [9; 32], tempfile::tempdir().unwrap(), |c| c.net.dht_server = true).await;
    let hub_address = hub.address().await;
    let mut business = start_with(Role::Business, [2; 32], tempfile::tempdir().unwrap(), {
        let hub_address = hub_address.clone();
        move |c| c.bootstrap = vec![hub_address]
    })
    .await;
    business.wait_node_event("profile put", |e| matches!(e, NodeEvent::ProfilePublished)).await;
    let person = start_with(Role::Person, [1; 32], tempfile::tempdir().unwrap(), move |c| {
        c.bootstrap = vec![hub_address];
        c.net.dht_boot_spread = spread;
    })
    .await;
    // Not `wait_connected`: the bootstrap dial may connect before the test's receiver exists.
    (hub, business, person)
}

/// The person's routing table and the servers waiting, once it knows the hub serves the DHT.
async fn dht_state(person: &TestNode) -> (usize, usize) {
    // No event says it: the node's state is read until it does, within the bound.
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut poll = tokio::time::interval(Duration::from_millis(50));
    loop {
        poll.tick().await;
        let info = person.handle.info().await.unwrap();
        if info.dht_routing + info.dht_waiting > 0 {
            return (info.dht_routing, info.dht_waiting);
        }
        assert!(tokio::time::Instant::now() < deadline, "the person never learnt that the hub serves the DHT");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_holds_its_first_walk_back_and_a_lookup_does_not_wait() {
    let (_hub, business, mut person) = network(Duration::from_secs(3600)).await;
    let (routing, waiting) = dht_state(&person).await;
    assert_eq!(routing, 0, "nothing in the routing table, so no walk");
    assert!(waiting >= 1, "the hub waits for the walk");
    let key = me2b_proto::identity::Keypair::from_secret_bytes(&business.secret).public();
    person.handle.look_up_profile(key).await.unwrap();
    person
        .wait_node_event("the profile found", |e| matches!(e, NodeEvent::DhtQuery { kind: "profile", found: true, .. }))
        .await;
    let info = person.handle.info().await.unwrap();
    assert_eq!(info.dht_waiting, 0, "the lookup took the servers that waited");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_no_spread_a_client_walks_as_soon_as_it_knows_a_server() {
    let (_hub, _business, mut person) = network(Duration::ZERO).await;
    let (routing, waiting) = dht_state(&person).await;
    assert!(routing >= 1 && waiting == 0, "routing {routing}, waiting {waiting}");
    person.wait_node_event("its walk", |e| matches!(e, NodeEvent::DhtQuery { kind: "bootstrap", .. })).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_walk_comes_by_itself_within_the_spread() {
    let (_hub, _business, mut person) = network(Duration::from_secs(3)).await;
    person.wait_node_event("its walk", |e| matches!(e, NodeEvent::DhtQuery { kind: "bootstrap", .. })).await;
    let info = person.handle.info().await.unwrap();
    assert!(info.dht_routing >= 1 && info.dht_waiting == 0, "{info:?}");
}

/// A person whose only peer follows none of its topics walks at once (after the grace): only
/// the DHT can find it someone to gossip with. (With the rule removed, it waited its hour and
/// this timed out.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_with_no_one_to_gossip_with_walks_without_waiting() {
    let hub = start_with(Role::Person, [9; 32], tempfile::tempdir().unwrap(), |c| c.net.dht_server = true).await;
    let hub_address = hub.address().await;
    let mut person = start_with(Role::Person, [1; 32], tempfile::tempdir().unwrap(), move |c| {
        c.bootstrap = vec![hub_address];
        c.net.dht_boot_spread = Duration::from_secs(3600);
        c.net.trim_grace = Duration::from_millis(300);
    })
    .await;
    person.command(me2b_proto::engine::Command::Subscribe("apparel.shoes".parse().unwrap())).await;
    person.wait_node_event("its walk", |e| matches!(e, NodeEvent::DhtQuery { kind: "bootstrap", .. })).await;
}
