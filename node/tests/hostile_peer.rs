//! A peer that sends malformed direct messages or forged gossip is refused and penalised, and
//! the node keeps working.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;
use futures::StreamExt;
use libp2p::swarm::SwarmEvent;
use libp2p::{gossipsub, request_response};
use me2b_node::net::{self, Answer, BehaviourEvent, DirectEvent, DirectRequest, NetConfig};
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
                let garbage = DirectRequest::new(MessageKind::Negotiation, vec![0x0a, 0xff, 0xff, 0x01]);
                rogue.behaviour_mut().direct.negotiate.send_request(&person_id, garbage);
            }
            SwarmEvent::Behaviour(BehaviourEvent::Direct(DirectEvent::Negotiate(
                request_response::Event::Message {
                    message: request_response::Message::Response { response, .. }, ..
                },
            ))) => answer = Some(response),
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

/// Issue 18: an oversized direct message used to cut the stream with only a DEBUG line. It is
/// answered now, with why, the sender is penalised (a warning names it), and the connection
/// carries its next message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_direct_message_is_answered_and_penalised_and_the_connection_kept() {
    let (mut person, _business) = person_and_business().await;
    let person_id = person.handle.peer_id();
    let mut rogue = rogue([67; 32], person.address().await);
    let oversized = me2b_proto::limits::MAX_DIRECT_MESSAGE_BYTES + 100;
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut answers = Vec::new();
    while answers.len() < 2 {
        let event = tokio::time::timeout_at(deadline, rogue.select_next_some()).await.expect("rogue timed out");
        match event {
            SwarmEvent::ConnectionEstablished { peer_id, .. } if peer_id == person_id => {
                let big = DirectRequest::new(MessageKind::Revocation, vec![0; oversized]);
                rogue.behaviour_mut().direct.revoke.send_request(&person_id, big);
            }
            SwarmEvent::Behaviour(BehaviourEvent::Direct(DirectEvent::Revoke(request_response::Event::Message {
                message: request_response::Message::Response { response, .. },
                ..
            }))) => {
                answers.push(response);
                if answers.len() == 1 {
                    // The same connection carries the next one.
                    let small = DirectRequest::new(MessageKind::Revocation, vec![0x0a, 0xff]);
                    rogue.behaviour_mut().direct.revoke.send_request(&person_id, small);
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Direct(DirectEvent::Revoke(
                request_response::Event::OutboundFailure { error, .. },
            ))) => panic!("the oversized message was not answered: {error}"),
            SwarmEvent::ConnectionClosed { .. } => panic!("the connection was cut"),
            _ => {}
        }
    }
    let exceeds = format!("message of {oversized} bytes exceeds");
    assert!(matches!(&answers[0], Answer::Rejected(why) if why.contains(&exceeds)), "{answers:?}");
    assert!(matches!(&answers[1], Answer::Rejected(why) if why.contains("malformed")), "{answers:?}");
    assert!(person.wait_for_misbehaviour().await.contains(&exceeds));
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

/// Issue 18: a peer disconnected for misbehaving used to redial at once and be accepted. It is
/// banned now, and its redial refused while the ban lasts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_banned_peer_is_refused_when_it_redials() {
    let (mut person, _business) = person_and_business().await;
    let person_id = person.handle.peer_id();
    let address = person.address().await;
    let mut rogue = rogue([68; 32], address.clone());
    let rogue_id = *rogue.local_peer_id();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let event = tokio::time::timeout_at(deadline, rogue.select_next_some()).await.expect("rogue timed out");
        match event {
            SwarmEvent::ConnectionEstablished { peer_id, .. } if peer_id == person_id => {
                for _ in 0..net::bans::BAN_AT as usize {
                    let garbage = DirectRequest::new(MessageKind::Negotiation, vec![0x0a, 0xff, 0xff, 0x01]);
                    rogue.behaviour_mut().direct.negotiate.send_request(&person_id, garbage);
                }
            }
            SwarmEvent::ConnectionClosed { peer_id, num_established: 0, .. } if peer_id == person_id => break,
            _ => {}
        }
    }
    let seconds = loop {
        match tokio::time::timeout_at(deadline, person.events.recv()).await.expect("no ban") {
            Ok(me2b_node::NodeEvent::Banned { peer, seconds }) if peer == rogue_id => break seconds,
            _ => {}
        }
    };
    assert_eq!(seconds, net::bans::FIRST_BAN.as_secs());

    // The redial: refused. The dialer may finish its side of the handshake before the node,
    // knowing whom it talks to, closes the connection; the node never counts it as connected.
    rogue.dial(address).unwrap();
    loop {
        let event = tokio::time::timeout_at(deadline, rogue.select_next_some()).await.expect("rogue timed out");
        match event {
            SwarmEvent::OutgoingConnectionError { .. } => break,
            SwarmEvent::ConnectionClosed { peer_id, num_established: 0, .. } if peer_id == person_id => break,
            _ => {}
        }
    }
    let info = person.handle.info().await.unwrap();
    assert_eq!(info.connected_peers, 1, "only the business");
    while let Ok(event) = person.events.try_recv() {
        assert!(!matches!(event, me2b_node::NodeEvent::Connected { peer } if peer == rogue_id), "the redial got in");
    }
}
