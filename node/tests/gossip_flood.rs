//! A peer that floods gossip is cut off at the per-peer limit: what it sends beyond the limit
//! in a window is dropped unhandled and reported.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;
use futures::StreamExt;
use libp2p::gossipsub;
use libp2p::swarm::SwarmEvent;
use me2b_node::net::{self, BehaviourEvent, NetConfig};
use me2b_node::{Node, NodeEvent};
use me2b_proto::engine::{Command, Role};
use me2b_proto::envelope::{self, MessageKind, Seal};
use me2b_proto::wire;
use prost::Message as _;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooding_peer_is_limited() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::config(Role::Person, &dir);
    config.net.gossip_per_peer = 5;
    config.net.gossip_window = Duration::from_secs(60);
    let handle = Node::start([1; 32], config).await.unwrap();
    let mut events = handle.events();
    handle.command(Command::Subscribe("apparel.shoes".parse().unwrap())).await.unwrap();
    let person = TestNode { events: handle.events(), handle, dir, secret: [1; 32], role: Role::Person };
    let target = person.address().await;

    let config = NetConfig { mdns: false, heartbeat: Duration::from_millis(100), ..NetConfig::default() };
    let mut rogue =
        net::build_memory_swarm(net::libp2p_keypair([66; 32]).unwrap(), &config, &mut net::gossip_registry()).unwrap();
    rogue.dial(target).unwrap();
    let topic = gossipsub::IdentTopic::new("me2b/v1/requests/apparel.shoes");
    rogue.behaviour_mut().gossipsub.subscribe(&topic).unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let event = tokio::time::timeout_at(deadline, rogue.select_next_some()).await.expect("rogue timed out");
        if let SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(gossipsub::Event::Subscribed { .. })) = event {
            break;
        }
    }
    // Twenty well-formed, signed requests: valid, but too many.
    let key = me2b_proto::identity::Keypair::from_secret_bytes(&[66; 32]);
    for i in 0..20u8 {
        let terms = shoe_terms();
        let request = me2b_proto::messages::DataRequest {
            id: me2b_proto::identity::RequestId::from_bytes([i; 16]),
            category: "apparel.shoes".parse().unwrap(),
            business_name: "Flood".into(),
            description: String::new(),
            terms: terms.clone(),
        };
        let bytes = envelope::seal(
            Seal {
                keypair: &key,
                kind: MessageKind::DataRequest,
                recipient: None,
                nonce: me2b_proto::identity::Nonce::from_bytes([i; 16]),
                issued_at: now(),
                expires_at: terms.expires_at,
            },
            wire::DataRequest::from(&request).encode_to_vec(),
        );
        let _ = rogue.behaviour_mut().gossipsub.publish(topic.clone(), bytes);
    }
    tokio::spawn(async move {
        loop {
            rogue.select_next_some().await;
        }
    });

    let mut seen = 0;
    loop {
        match tokio::time::timeout_at(deadline, events.recv()).await.expect("no rate limit reported") {
            Ok(NodeEvent::RateLimited { .. }) => break,
            Ok(NodeEvent::Engine(me2b_proto::engine::Event::RequestSeen { .. })) => seen += 1,
            _ => {}
        }
    }
    assert!(seen <= 5, "only messages within the limit were handled ({seen})");
    let known = person.handle.state().await.unwrap().requests.len();
    assert!(known <= 5, "{known} requests handled");
}
