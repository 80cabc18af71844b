//! Attack: a Sybil floods a person's node from many identities: gossip requests each signed by
//! a fresh key (all through one connection), and direct messages from several connections of
//! their own. Limits are per transport peer, before any work: beyond them messages are dropped
//! (gossip) or answered "busy" (direct), never decoded or written. Meanwhile an honest
//! business still completes its agreement with the person. With the limits off (the negative
//! control) every flooded message is handled.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;
use futures::StreamExt;
use libp2p::swarm::SwarmEvent;
use libp2p::{gossipsub, request_response};
use me2b_node::Node;
use me2b_node::net::{self, Answer, BehaviourEvent, DirectEvent, DirectRequest, NetConfig};
use me2b_proto::engine::{Command, Event, Role};
use me2b_proto::envelope::{self, MessageKind, Seal};
use me2b_proto::identity::{Keypair, Nonce};
use me2b_proto::messages::Revocation;
use me2b_proto::value::Value;
use me2b_proto::wire;
use prost::Message as _;
use std::time::Duration;

const SYBIL_KEYS: u8 = 60;
const DIRECT_PER_SYBIL: u8 = 30;
const LIMIT: u32 = 10;

fn rogue_config() -> NetConfig {
    NetConfig { mdns: false, heartbeat: Duration::from_millis(100), ..NetConfig::default() }
}

/// Floods `person` with gossip from one connection and direct messages from three; returns
/// how many direct messages were answered "busy".
async fn flood(person: &TestNode, person_key: me2b_proto::identity::PublicKey) -> usize {
    let target = person.address().await;
    let person_id = person.handle.peer_id();
    let topic = gossipsub::IdentTopic::new("me2b/v1/requests/apparel.shoes");
    let mut gossiper = rogue_on([66; 32], target.clone(), &topic).await;
    let deadline = tokio::time::Instant::now() + WAIT;
    // Each request signed by a key of its own.
    for i in 0..SYBIL_KEYS {
        let _ = gossiper.behaviour_mut().gossipsub.publish(topic.clone(), signed_request([100 + i; 32], i, "Flood"));
    }
    tokio::spawn(async move {
        loop {
            gossiper.select_next_some().await;
        }
    });

    let mut busy = 0;
    for sybil in 0..3u8 {
        let secret = [70 + sybil; 32];
        let key = Keypair::from_secret_bytes(&secret);
        let mut rogue =
            net::build_memory_swarm(net::libp2p_keypair(secret).unwrap(), &rogue_config(), &mut net::gossip_registry())
                .unwrap();
        rogue.dial(target.clone()).unwrap();
        let mut answers = 0;
        loop {
            let event = tokio::time::timeout_at(deadline, rogue.select_next_some()).await.expect("rogue timed out");
            match event {
                SwarmEvent::ConnectionEstablished { peer_id, .. } if peer_id == person_id => {
                    for n in 0..DIRECT_PER_SYBIL {
                        // Well formed and signed, about an agreement that does not exist.
                        let revocation = Revocation {
                            agreement_id: me2b_proto::identity::Digest::of(&[sybil, n]),
                            reason: String::new(),
                        };
                        let seal = Seal {
                            keypair: &key,
                            kind: MessageKind::Revocation,
                            recipient: Some(person_key),
                            nonce: Nonce::from_bytes([n; 16]),
                            issued_at: now(),
                            expires_at: now().saturating_add(Duration::from_secs(60)),
                        };
                        let bytes = envelope::seal(seal, wire::Revocation::from(&revocation).encode_to_vec());
                        rogue
                            .behaviour_mut()
                            .direct
                            .revoke
                            .send_request(&person_id, DirectRequest::new(MessageKind::Revocation, bytes));
                    }
                }
                SwarmEvent::Behaviour(BehaviourEvent::Direct(DirectEvent::Revoke(
                    request_response::Event::Message {
                        message: request_response::Message::Response { response, .. },
                        ..
                    },
                ))) => {
                    answers += 1;
                    if matches!(&response, Answer::Ignored(reason) if reason.starts_with("busy")) {
                        busy += 1;
                    }
                    if answers == usize::from(DIRECT_PER_SYBIL) {
                        break;
                    }
                }
                _ => {}
            }
        }
    }
    busy
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_honest_business_gets_through_a_sybil_flood() {
    for limited in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let mut config = common::config(Role::Person, &dir);
        let limit = if limited { LIMIT } else { u32::MAX };
        config.net.gossip_per_peer = limit;
        config.net.direct_per_peer = limit;
        config.net.gossip_window = Duration::from_secs(120);
        let handle = Node::start([1; 32], config).await.unwrap();
        let mut person = TestNode { events: handle.events(), handle, dir, secret: [1; 32], role: Role::Person };
        person.command(Command::SetPolicy(person_policy())).await;
        person.command(Command::Subscribe("apparel.shoes".parse().unwrap())).await;
        person.set("body.shoe_size_eu", Value::Number(44.0)).await;
        let business = start(Role::Business, 2).await;
        business.command(Command::Subscribe("apparel.shoes".parse().unwrap())).await;
        person.handle.dial(business.address().await).await.unwrap();

        let busy = flood(&person, person.handle.public_key()).await;
        // The honest business, on its own connection, still gets its agreement.
        publish(&business, shoe_terms()).await;
        person.wait_for("the honest agreement", |e| matches!(e, Event::Finalized { .. })).await;

        let flooded = person.handle.state().await.unwrap().requests.len() - 1;
        if limited {
            assert!(flooded <= LIMIT as usize, "{flooded} flooded requests were handled");
            let expected = 3 * (usize::from(DIRECT_PER_SYBIL) - LIMIT as usize);
            assert_eq!(busy, expected, "each Sybil connection is answered busy beyond its limit");
        } else {
            // Negative control: with the limits off, the flood is handled in full.
            assert_eq!(busy, 0);
            assert!(flooded > LIMIT as usize, "only {flooded} flooded requests were handled");
        }
        person.handle.shutdown().await;
        business.handle.shutdown().await;
    }
}
