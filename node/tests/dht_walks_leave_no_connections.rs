//! A DHT client keeps only the connections it uses: those Kademlia opened for a walk (a
//! lookup, its bootstrap) close once no query runs and the grace has passed, while the peer
//! it dialled by its own choice (its bootstrap node) stays. Without this, gossipsub kept every
//! server a walk ever reached, and the simulator's 1,000 nodes with the DHT on held about ten
//! such connections per person (4.2 MiB per node).
//!
//! Negative control: with `close_walks` not called from the node's tick, the person stayed
//! connected to all three businesses and the wait below timed out.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;
use me2b_node::NodeEvent;
use me2b_proto::engine::Role;
use std::collections::BTreeSet;
use std::time::Duration;

const GRACE: Duration = Duration::from_millis(300);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dht_client_closes_the_connections_its_walks_opened() {
    let hub = start_with(Role::Person, [9; 32], tempfile::tempdir().unwrap(), |c| c.net.dht_server = true).await;
    let hub_address = hub.address().await;
    let hub_peer = hub.handle.peer_id();
    // Three businesses (they serve the DHT), known to the hub, each with its profile put.
    let mut businesses = Vec::new();
    for seed in 2..5u8 {
        let hub_address = hub_address.clone();
        let mut business = start_with(Role::Business, [seed; 32], tempfile::tempdir().unwrap(), move |c| {
            c.bootstrap = vec![hub_address];
        })
        .await;
        business.wait_node_event("profile put", |e| matches!(e, NodeEvent::ProfilePublished)).await;
        businesses.push(business);
    }
    let business_peers: BTreeSet<libp2p::PeerId> = businesses.iter().map(|b| b.handle.peer_id()).collect();
    // The person knows the hub only, and wants no more gossip peers than it has, so nothing
    // the DHT finds is dialled by its choice.
    let mut person = start_with(Role::Person, [1; 32], tempfile::tempdir().unwrap(), move |c| {
        c.bootstrap = vec![hub_address];
        c.net.target_peers = 1;
        c.net.trim_grace = GRACE;
    })
    .await;
    person.wait_connected(hub_peer).await;
    let key = me2b_proto::identity::Keypair::from_secret_bytes(&[3; 32]).public();
    person.handle.look_up_profile(key).await.unwrap();
    // The walk reached businesses...
    person
        .wait_node_event(
            "a connection to a business",
            |e| matches!(e, NodeEvent::Connected { peer } if business_peers.contains(peer)),
        )
        .await;
    person.wait_node_event("the lookup's end", |e| matches!(e, NodeEvent::DhtQuery { .. })).await;
    // ...and once it ended, the person holds the hub only.
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let peers: BTreeSet<libp2p::PeerId> = person.handle.info().await.unwrap().peers.into_iter().collect();
        if peers.is_disjoint(&business_peers) {
            assert!(peers.contains(&hub_peer), "the peer it dialled by choice stays");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "still connected after the walk: {peers:?}");
        tokio::time::sleep(GRACE / 3).await;
    }
}
