//! A peer that sends malformed direct messages or forged gossip is refused and penalised, and
//! the node keeps working.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;
use futures::StreamExt;
use libp2p::swarm::SwarmEvent;
use libp2p::{gossipsub, request_response};
use me2b_node::net::{self, Answer, BehaviourEvent, DirectRequest, NetConfig};
use me2b_proto::engine::Event;
use me2b_proto::envelope::{self, MessageKind, Seal};
use me2b_proto::identity::{Keypair, Nonce};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_messages_are_rejected_and_the_sender_penalised() {
    let (mut person, business) = person_and_business().await;
    let target = person.address().await;
    let person_id = person.handle.peer_id();

    // A bare libp2p node that speaks the protocols but sends garbage.
    let config = NetConfig { mdns: false, heartbeat: Duration::from_millis(200), ..NetConfig::default() };
    let mut rogue =
        net::build_memory_swarm(net::libp2p_keypair([66; 32]).unwrap(), &config, &mut net::gossip_registry()).unwrap();
    rogue.dial(target).unwrap();
    let topic = gossipsub::IdentTopic::new("me2b/v1/requests/apparel.shoes");
    rogue.behaviour_mut().gossipsub.subscribe(&topic).unwrap();

    let deadline = tokio::time::Instant::now() + WAIT;
    let mut asked = false;
    let mut answer = None;
    let mut published = false;
    while answer.is_none() || !published {
        let event = tokio::time::timeout_at(deadline, rogue.select_next_some()).await.expect("rogue timed out");
        match event {
            SwarmEvent::ConnectionEstablished { peer_id, .. } if peer_id == person_id && !asked => {
                asked = true;
                let garbage = DirectRequest { kind: MessageKind::Negotiation, bytes: vec![0x0a, 0xff, 0xff, 0x01] };
                rogue.behaviour_mut().negotiate.send_request(&person_id, garbage);
            }
            SwarmEvent::Behaviour(BehaviourEvent::Negotiate(request_response::Event::Message {
                message: request_response::Message::Response { response, .. },
                ..
            })) => answer = Some(response),
            SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(gossipsub::Event::Subscribed { .. })) if !published => {
                // A well-formed envelope whose signature does not match its content. (A gossip
                // frame that is not an envelope at all is refused the same way; after its first
                // invalid message the rogue's score graylists it, so one is enough here.)
                published = rogue.behaviour_mut().gossipsub.publish(topic.clone(), forged_request()).is_ok();
            }
            _ => {}
        }
    }
    assert!(matches!(answer, Some(Answer::Rejected(ref reason)) if reason.contains("malformed")), "{answer:?}");
    let mut reasons = Vec::new();
    for _ in 0..2 {
        reasons.push(person.wait_for_misbehaviour().await);
    }
    assert!(reasons.iter().any(|r| r.contains("signature")), "the forged envelope is reported: {reasons:?}");

    // The node keeps working: the honest business still gets its agreement.
    publish(&business, shoe_terms()).await;
    person.wait_for("agreement", |e| matches!(e, Event::Finalized { .. })).await;
}

/// A data-request envelope from the rogue's key, with one bit of its signature flipped.
fn forged_request() -> Vec<u8> {
    let keypair = Keypair::from_secret_bytes(&[66; 32]);
    let seal = Seal {
        keypair: &keypair,
        kind: MessageKind::DataRequest,
        recipient: None,
        nonce: Nonce::from_bytes([7; 16]),
        issued_at: now(),
        expires_at: now().saturating_add(DAY),
    };
    let mut bytes = envelope::seal(seal, b"terms".to_vec());
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    bytes
}
