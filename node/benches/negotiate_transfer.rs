//! `cargo bench -p me2b-node`: complete negotiate-and-transfer cycles between one business and
//! many people over real libp2p (memory transport, Noise, Yamux) and real sled stores, against
//! the round trip of a bare libp2p request-response exchange on the same transport, measured
//! in the same run.
//!
//! A cycle is: the business publishes a request on gossip; each person's agent evaluates it,
//! proposes; the business signs; the person countersigns and sends the agreed fields; the
//! business verifies and stores them. Its latency runs from the publish to the business's
//! `DataReceived` for that person.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use futures::StreamExt;
use libp2p::request_response;
use libp2p::swarm::SwarmEvent;
use me2b_node::clock::now;
use me2b_node::net::{self, Answer, BehaviourEvent, DirectRequest, NetConfig};
use me2b_node::{Node, NodeConfig, NodeEvent, NodeHandle, Transport};
use me2b_proto::engine::{Command, Event, Provenance, Role};
use me2b_proto::envelope::MessageKind;
use me2b_proto::harness::fixtures::DAY;
use me2b_proto::policy::{FieldRule, Policy, Share};
use me2b_proto::terms::Terms;
use me2b_proto::value::Value;
use me2b_proto::vocab::Purpose;
use std::time::{Duration, Instant};

const PEOPLE: usize = 50;
const ROUNDS: usize = 10;
const BARE_ROUND_TRIPS: usize = 2_000;

fn net_config() -> NetConfig {
    NetConfig { mdns: false, heartbeat: Duration::from_millis(200), ..NetConfig::default() }
}

async fn start(role: Role, seed: u32, dir: &tempfile::TempDir) -> NodeHandle {
    let mut config = NodeConfig::new(role, dir.path().join(format!("store-{seed}")));
    config.transport = Transport::Memory;
    config.listen = vec!["/memory/0".parse().unwrap()];
    config.small_store = true;
    config.net = net_config();
    let mut secret = [0u8; 32];
    secret[..4].copy_from_slice(&seed.to_le_bytes());
    secret[31] = 1;
    Node::start(secret, config).await.unwrap()
}

/// The shared shoe terms, with no permission to contact: the cycle measured is agreement and
/// transfer only.
fn terms() -> Terms {
    let mut terms = me2b_proto::harness::fixtures::shoe_terms(now().saturating_add(DAY));
    terms.contact = None;
    terms
}

fn policy() -> Policy {
    let rule = |path: &str, share| FieldRule {
        path: path.parse().unwrap(),
        share,
        purposes: [Purpose::PersonalisedOffers].into(),
        ask_owner: false,
        max_retention: None,
        categories: Default::default(),
    };
    Policy { rules: vec![rule("body", Share::Raw), rule("activity", Share::DerivedOnly)], ..Policy::default() }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

async fn cycles() -> (Vec<Duration>, Duration) {
    let dir = tempfile::tempdir().unwrap();
    let business = start(Role::Business, 0, &dir).await;
    let mut subscriptions = business.events();
    let info = business.info().await.unwrap();
    let address = info.listen_addrs[0].clone().with(libp2p::multiaddr::Protocol::P2p(info.peer_id));
    let mut people = Vec::new();
    for i in 1..=PEOPLE as u32 {
        let person = start(Role::Person, i, &dir).await;
        person.command(Command::SetPolicy(policy())).await.unwrap();
        person.command(Command::Subscribe("apparel.shoes".parse().unwrap())).await.unwrap();
        let set = |path: &str, value| Command::SetRecord {
            path: path.parse().unwrap(),
            value,
            provenance: Provenance::Owner,
        };
        person.command(set("body.shoe_size_eu", Value::Number(40.0 + f64::from(i % 8)))).await.unwrap();
        person.command(set("activity.running_km", Value::Series(vec![]))).await.unwrap();
        person.dial(address.clone()).await.unwrap();
        people.push(person);
    }
    eprintln!("  {PEOPLE} people connected");
    // Setup, not measured: wait until every person's subscription has reached the business.
    let topic = "me2b/v1/requests/apparel.shoes";
    let mut subscribed = std::collections::BTreeSet::new();
    while subscribed.len() < PEOPLE {
        let event = tokio::time::timeout(Duration::from_secs(60), subscriptions.recv()).await;
        match event.expect("people did not subscribe within 60 s") {
            Ok(NodeEvent::PeerSubscribed { peer, topic: t }) if t == topic => {
                subscribed.insert(peer);
            }
            Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
            Err(tokio::sync::broadcast::error::RecvError::Closed) => panic!("business stopped"),
        }
    }
    drop(subscriptions);

    let mut events = business.events();
    let mut latencies = Vec::new();
    let started = Instant::now();
    for _ in 0..ROUNDS {
        let published = Instant::now();
        business
            .command(Command::PublishRequest {
                category: "apparel.shoes".parse().unwrap(),
                business_name: "Bench".into(),
                description: String::new(),
                terms: terms(),
            })
            .await
            .unwrap();
        let mut received = 0;
        while received < PEOPLE {
            match tokio::time::timeout(Duration::from_secs(60), events.recv()).await.expect("a cycle did not finish") {
                Ok(NodeEvent::Engine(Event::DataReceived { .. })) => {
                    received += 1;
                    latencies.push(published.elapsed());
                }
                Ok(_) => {}
                Err(error) => panic!("event stream: {error}"),
            }
        }
    }
    let total = started.elapsed();
    eprintln!("  cycles done; shutting down");
    for person in &people {
        person.shutdown().await;
    }
    business.shutdown().await;
    (latencies, total)
}

async fn bare_round_trips() -> Vec<Duration> {
    let mut server =
        net::build_memory_swarm(net::libp2p_keypair([200; 32]).unwrap(), &net_config(), &mut net::gossip_registry())
            .unwrap();
    server.listen_on("/memory/0".parse().unwrap()).unwrap();
    let address = loop {
        if let SwarmEvent::NewListenAddr { address, .. } = server.select_next_some().await {
            break address;
        }
    };
    let server_id = *server.local_peer_id();
    tokio::spawn(async move {
        loop {
            if let SwarmEvent::Behaviour(BehaviourEvent::Negotiate(request_response::Event::Message {
                message: request_response::Message::Request { channel, .. },
                ..
            })) = server.select_next_some().await
            {
                let _ = server.behaviour_mut().negotiate.send_response(channel, Answer::Accepted);
            }
        }
    });
    let mut client =
        net::build_memory_swarm(net::libp2p_keypair([201; 32]).unwrap(), &net_config(), &mut net::gossip_registry())
            .unwrap();
    client.dial(address.with(libp2p::multiaddr::Protocol::P2p(server_id))).unwrap();
    let payload = vec![7u8; 1024];
    let mut round_trips = Vec::with_capacity(BARE_ROUND_TRIPS);
    for _ in 0..BARE_ROUND_TRIPS {
        let sent = Instant::now();
        client
            .behaviour_mut()
            .negotiate
            .send_request(&server_id, DirectRequest::new(MessageKind::Negotiation, payload.clone()));
        loop {
            match client.select_next_some().await {
                SwarmEvent::Behaviour(BehaviourEvent::Negotiate(request_response::Event::Message {
                    message: request_response::Message::Response { .. },
                    ..
                })) => break,
                SwarmEvent::Behaviour(BehaviourEvent::Negotiate(request_response::Event::OutboundFailure {
                    error,
                    ..
                })) => {
                    panic!("bare request failed: {error}")
                }
                _ => {}
            }
        }
        round_trips.push(sent.elapsed());
    }
    round_trips
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async {
        eprintln!("bare request-response round trips...");
        let mut bare = bare_round_trips().await;
        eprintln!("negotiate-and-transfer cycles...");
        bare.sort();
        let (mut latencies, total) = cycles().await;
        latencies.sort();
        let cycles = latencies.len();
        let bare_p50 = percentile(&bare, 0.5);
        let cycle_p50 = percentile(&latencies, 0.5);
        println!("me2b-node benchmark (memory transport, Noise, Yamux, sled; {PEOPLE} people, {ROUNDS} requests)");
        println!(
            "bare request-response round trip (1 KiB): n={} p50={:.3} ms p99={:.3} ms",
            bare.len(),
            ms(bare_p50),
            ms(percentile(&bare, 0.99))
        );
        println!(
            "negotiate-and-transfer cycle: n={cycles} p50={:.3} ms p99={:.3} ms throughput={:.1} cycles/s",
            ms(cycle_p50),
            ms(percentile(&latencies, 0.99)),
            cycles as f64 / total.as_secs_f64()
        );
        println!("ratio cycle p50 / bare round trip p50: {:.1}x", cycle_p50.as_secs_f64() / bare_p50.as_secs_f64());
    });
}
