//! Attack: a peer publishes a data request whose business name carries terminal escapes (clear
//! the screen, set the window title). The person's node refuses it as malformed and penalises
//! the sender; it never reaches `me2b requests`. The same peer's plain request, sent first, is
//! taken (the negative control: the difference is the escapes alone).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;
use futures::StreamExt;
use libp2p::gossipsub;
use libp2p::swarm::SwarmEvent;
use me2b_node::net::{self, BehaviourEvent, NetConfig};
use me2b_proto::engine::{Command, Event, Role};
use me2b_proto::envelope::{self, MessageKind, Seal};
use me2b_proto::identity::{Keypair, Nonce, RequestId};
use me2b_proto::messages::DataRequest;
use me2b_proto::wire;
use prost::Message as _;
use std::time::Duration;

fn request(id: u8, name: &str) -> Vec<u8> {
    let key = Keypair::from_secret_bytes(&[66; 32]);
    let terms = shoe_terms();
    let request = DataRequest {
        id: RequestId::from_bytes([id; 16]),
        category: "apparel.shoes".parse().unwrap(),
        business_name: name.into(),
        description: "Shoes that fit".into(),
        terms: terms.clone(),
    };
    let seal = Seal {
        keypair: &key,
        kind: MessageKind::DataRequest,
        recipient: None,
        nonce: Nonce::from_bytes([id; 16]),
        issued_at: now(),
        expires_at: terms.expires_at,
    };
    envelope::seal(seal, wire::DataRequest::from(&request).encode_to_vec())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escapes_in_a_business_name_never_reach_the_person() {
    let mut person = start(Role::Person, 1).await;
    person.command(Command::SetPolicy(person_policy())).await;
    person.command(Command::Subscribe("apparel.shoes".parse().unwrap())).await;
    let config = NetConfig { mdns: false, heartbeat: Duration::from_millis(100), ..NetConfig::default() };
    let mut rogue =
        net::build_memory_swarm(net::libp2p_keypair([66; 32]).unwrap(), &config, &mut net::gossip_registry()).unwrap();
    rogue.dial(person.address().await).unwrap();
    let topic = gossipsub::IdentTopic::new("me2b/v1/requests/apparel.shoes");
    rogue.behaviour_mut().gossipsub.subscribe(&topic).unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let event = tokio::time::timeout_at(deadline, rogue.select_next_some()).await.expect("rogue timed out");
        if let SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(gossipsub::Event::Subscribed { .. })) = event {
            break;
        }
    }
    rogue.behaviour_mut().gossipsub.publish(topic.clone(), request(1, "Plain Shoes")).unwrap();
    tokio::spawn(async move {
        let mut sent = false;
        loop {
            rogue.select_next_some().await;
            if !sent {
                sent = rogue
                    .behaviour_mut()
                    .gossipsub
                    .publish(topic.clone(), request(2, "Stride\u{1b}[2J\u{1b}]0;owned\u{7}"))
                    .is_ok();
            }
        }
    });

    person.wait_for("the plain request", |e| matches!(e, Event::RequestSeen { .. })).await;
    let reason = person.wait_for_misbehaviour().await;
    assert!(reason.contains("control characters"), "{reason}");
    let names: Vec<String> =
        person.handle.state().await.unwrap().requests.values().map(|r| r.request.business_name.clone()).collect();
    assert_eq!(names, vec!["Plain Shoes".to_owned()]);
    person.handle.shutdown().await;
}
