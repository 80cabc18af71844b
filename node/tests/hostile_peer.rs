//! A peer that sends malformed direct messages or forged gossip is refused and penalised, and
//! the node keeps working.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;
use futures::StreamExt;
use libp2p::swarm::SwarmEvent;
use libp2p::{gossipsub, request_response};
use me2b_node::net::{self, Ack, BehaviourEvent, DirectRequest, NetConfig};
use me2b_proto::engine::{Event, Role};
use me2b_proto::envelope::MessageKind;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_messages_are_rejected_and_the_sender_penalised() {
    let (mut person, business) = person_and_business().await;
    let target = person.address().await;
    let person_id = person.handle.peer_id();

    // A bare libp2p node that speaks the protocols but sends garbage.
    let config = NetConfig { mdns: false, heartbeat: Duration::from_millis(200), ..NetConfig::default() };
    let mut rogue = net::build_memory_swarm(net::libp2p_keypair([66; 32]).unwrap(), &config).unwrap();
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
                // A well-formed gossip frame whose payload is not a signed me2b envelope.
                published = rogue.behaviour_mut().gossipsub.publish(topic.clone(), b"not an envelope".to_vec()).is_ok();
            }
            _ => {}
        }
    }
    assert_eq!(answer, Some(Ack::Rejected));
    let first = person.wait_for_misbehaviour().await;
    let second = person.wait_for_misbehaviour().await;
    assert!(!first.is_empty() && !second.is_empty());

    // The node keeps working: the honest business still gets its agreement.
    publish(&business, shoe_terms()).await;
    person.wait_for("agreement", |e| matches!(e, Event::Finalized { .. })).await;
    let _ = Role::Person;
}
