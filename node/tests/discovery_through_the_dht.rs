//! A person and a business that know only a bootstrap node (a hub that serves the DHT and
//! follows no category, so gossip cannot pass through it) find each other through the
//! Kademlia DHT, connect, and the business's request reaches the person and is agreed. The
//! person only asks the DHT (a person's default): it finds the business, which serves it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;
use me2b_node::Node;
use me2b_proto::engine::{Command, Event, Role};
use me2b_proto::value::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_found_through_the_dht_connect_and_agree() {
    let hub = start_with(Role::Person, [9; 32], tempfile::tempdir().unwrap(), |c| c.net.dht_server = true).await;
    let hub_address = hub.address().await;

    let start_via_hub = |role, seed: u8| {
        let hub_address = hub_address.clone();
        async move {
            let dir = tempfile::tempdir().unwrap();
            let mut config = config(role, &dir);
            config.bootstrap = vec![hub_address];
            let handle = Node::start([seed; 32], config).await.unwrap();
            let events = handle.events();
            TestNode { handle, events, dir, secret: [seed; 32], role }
        }
    };
    let mut business = start_via_hub(Role::Business, 2).await;
    business.command(Command::Subscribe("apparel.shoes".parse().unwrap())).await;
    let person = start_via_hub(Role::Person, 1).await;
    person.command(Command::SetPolicy(person_policy())).await;
    person.command(Command::Subscribe("apparel.shoes".parse().unwrap())).await;
    person.set("body.shoe_size_eu", Value::Number(44.0)).await;

    // Neither dialled the other: the person hears of the business through the hub's DHT.
    business.wait_connected(person.handle.peer_id()).await;
    publish(&business, shoe_terms()).await;
    business.wait_for("data", |e| matches!(e, Event::DataReceived { .. })).await;
}
