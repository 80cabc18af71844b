//! The real transports: a business on TCP and QUIC at 127.0.0.21, a person at 127.0.0.22 that
//! reaches it over QUIC, another at 127.0.0.23 over TCP; both agree with it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;
use libp2p::Multiaddr;
use libp2p::multiaddr::Protocol;
use me2b_node::{Node, Transport};
use me2b_proto::engine::{Command, Event, Role};
use me2b_proto::value::Value;

async fn start_network(role: Role, seed: u8, ip: &str) -> TestNode {
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::config(role, &dir);
    config.transport = Transport::Network;
    config.listen =
        vec![format!("/ip4/{ip}/tcp/0").parse().unwrap(), format!("/ip4/{ip}/udp/0/quic-v1").parse().unwrap()];
    let handle = Node::start([seed; 32], config).await.unwrap();
    let events = handle.events();
    TestNode { handle, events, dir, secret: [seed; 32], role }
}

async fn address_with(node: &TestNode, quic: bool) -> Multiaddr {
    let info = node.handle.info().await.unwrap();
    let found = info.listen_addrs.iter().find(|a| a.iter().any(|p| matches!(p, Protocol::QuicV1)) == quic);
    found.expect("a listen address of that transport").clone().with(Protocol::P2p(info.peer_id))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_on_quic_and_tcp_reach_a_business_and_agree() {
    let business = start_network(Role::Business, 2, "127.0.0.21").await;
    business.command(Command::Subscribe("apparel.shoes".parse().unwrap())).await;
    let mut people = Vec::new();
    for (seed, ip, quic) in [(1u8, "127.0.0.22", true), (3, "127.0.0.23", false)] {
        let mut person = start_network(Role::Person, seed, ip).await;
        person.command(Command::SetPolicy(person_policy())).await;
        person.command(Command::Subscribe("apparel.shoes".parse().unwrap())).await;
        person.set("body.shoe_size_eu", Value::Number(44.0)).await;
        person.handle.dial(address_with(&business, quic).await).await.unwrap();
        person.wait_connected(business.handle.peer_id()).await;
        people.push(person);
    }
    publish(&business, shoe_terms()).await;
    for person in &mut people {
        person.wait_for("agreement", |e| matches!(e, Event::Finalized { .. })).await;
    }
    let mut business = business;
    for _ in 0..2 {
        business.wait_for("data", |e| matches!(e, Event::DataReceived { .. })).await;
    }
    assert_eq!(business.handle.state().await.unwrap().received.len(), 2);
    for person in people {
        person.handle.shutdown().await;
    }
    business.handle.shutdown().await;
}
