//! A person deals with two businesses, and the businesses collude: they pool everything they
//! stored and everything they observed (every connection, every message, gossip included) and
//! look for any identifier in common: keys, peer ids, signatures, ids, nonces, hashes,
//! timestamps at second resolution, addresses. With pairwise identities there is none; with
//! them switched off (the negative control) the person's key is there for both to see.
//!
//! The topology is a real network's: the person's own node is connected to another person's
//! node (`hub`), which relays gossip and answers DHT lookups; the businesses are connected to
//! the hub. The person reaches each business from the persona it has toward it, dialling the
//! address the DHT gave. One agreement answers a business's request (Stride), the other an
//! intent the person published (Fit), so both kinds of persona are covered.
//!
//! The same hub records every intent it forwards: two intents from the same person share no
//! identifier, and carry no author or sequence number.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::identifiers::{self, Id};
use common::*;
use me2b_node::{NodeEvent, Tapped};
use me2b_proto::engine::{Command, Event, Role};
use std::collections::BTreeSet;
use tokio::sync::mpsc;

/// Tapped items a test may hold: far more than these tests produce.
const TAP: usize = 100_000;

struct World {
    person: TestNode,
    hub: TestNode,
    stride: TestNode,
    fit: TestNode,
    taps: Taps,
}

struct Taps {
    hub: mpsc::Receiver<Tapped>,
    stride: mpsc::Receiver<Tapped>,
    fit: mpsc::Receiver<Tapped>,
}

async fn tapped(role: Role, seed: u8, pairwise: bool) -> (TestNode, mpsc::Receiver<Tapped>) {
    let (tx, rx) = mpsc::channel(TAP);
    let node = start_with(role, [seed; 32], tempfile::tempdir().unwrap(), |config| {
        config.tap = Some(tx);
        config.pairwise_identities = pairwise;
        // The person's node talks to the hub only (a person behind one relay): with the DHT
        // walk on, in a network this small it would also be a neighbour of both businesses,
        // which would see its root peer id (never tied to a persona: see `personas`).
        config.net.dht = role == Role::Business;
    })
    .await;
    (node, rx)
}

async fn world(pairwise: bool) -> World {
    let shoes = || Command::Subscribe("apparel.shoes".parse().unwrap());
    let (hub, hub_tap) = tapped(Role::Person, 9, true).await;
    hub.command(shoes()).await;
    let (stride, stride_tap) = tapped(Role::Business, 2, true).await;
    let (fit, fit_tap) = tapped(Role::Business, 3, true).await;
    for business in [&stride, &fit] {
        business.handle.dial(hub.address().await).await.unwrap();
    }
    // Fit follows shoe intents; Stride only asks. (A business that followed them too would
    // see the person's intent like everyone on the mesh, and with it the intent's key; it
    // could not tell which of its own customers, if any, published it.)
    fit.command(shoes()).await;
    shoe_catalog(&fit).await;
    let (person, _) = tapped(Role::Person, 1, pairwise).await;
    person.command(Command::SetPolicy(person_policy())).await;
    person.command(shoes()).await;
    person.set("body.shoe_size_eu", me2b_proto::value::Value::Number(44.0)).await;
    person.set("activity.running_km", me2b_proto::value::Value::Series(vec![])).await;
    person.handle.dial(hub.address().await).await.unwrap();
    World { person, hub, stride, fit, taps: Taps { hub: hub_tap, stride: stride_tap, fit: fit_tap } }
}

/// Waits until `node` heard that `peer` subscribed to `topic`.
async fn subscribed(node: &mut TestNode, peer: libp2p::PeerId, topic: &str) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match tokio::time::timeout_at(deadline, node.events.recv()).await.expect("no subscription") {
            Ok(NodeEvent::PeerSubscribed { peer: p, topic: t }) if p == peer && t == topic => return,
            Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
            Err(error) => panic!("{error}"),
        }
    }
}

/// Does `act` until `node` reports an event that `done` matches (gossip meshes take a
/// heartbeat or two to form, and a message published before gets no replay): at most five
/// times, each waiting at most three seconds.
async fn until<F, Fut>(node: &mut TestNode, what: &str, done: impl Fn(&Event) -> bool, act: F) -> Event
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for _ in 0..5 {
        act().await;
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(3);
        loop {
            match tokio::time::timeout_at(deadline, node.events.recv()).await {
                Err(_) => break,
                Ok(Ok(NodeEvent::Engine(event))) if done(&event) => return event,
                Ok(_) => {}
            }
        }
    }
    panic!("{what} never happened");
}

/// Waits until the wall clock is in a later second than now, so that what follows carries no
/// timestamp (at second resolution) that what came before does.
async fn next_second() {
    let millis = now().as_millis();
    let wait = 1000 - millis % 1000 + 10;
    tokio::time::sleep(std::time::Duration::from_millis(wait)).await;
}

/// Both agreements, completed over the network; returns what each business holds and
/// observed, and what the hub forwarded.
async fn deal(pairwise: bool) -> (World, BTreeSet<Id>, BTreeSet<Id>) {
    let mut w = world(pairwise).await;
    let hub_id = w.hub.handle.info().await.unwrap().peer_id;
    subscribed(&mut w.stride, hub_id, "me2b/v1/requests/apparel.shoes").await;
    subscribed(&mut w.person, hub_id, "me2b/v1/requests/apparel.shoes").await;

    // Stride asks; the person's agent agrees as its Stride persona. (In a later second than
    // Fit's catalog was set up: two businesses' own timestamps falling in one second link no
    // one, and the test keeps them apart so that any coincidence it finds is the person's.)
    next_second().await;
    let stride = &w.stride;
    until(
        &mut w.person,
        "agreement with Stride",
        |e| matches!(e, Event::Finalized { .. }),
        || publish(stride, shoe_terms()),
    )
    .await;
    w.stride.wait_for("data at Stride", |e| matches!(e, Event::DataReceived { .. })).await;

    // Later, the person wants shoes; Fit answers, and the person agrees as the intent's persona.
    next_second().await;
    let person = &w.person;
    until(
        &mut w.fit,
        "Fit's answer",
        |e| matches!(e, Event::IntentSeen { answered: true, .. }),
        || shoe_intent(person),
    )
    .await;
    w.fit.wait_for("data at Fit", |e| matches!(e, Event::DataReceived { .. })).await;

    let observed_by = |state: me2b_proto::engine::State, tapped: Vec<Tapped>| {
        let mut ids = identifiers::in_state(&state);
        ids.extend(identifiers::in_observed(&tapped));
        ids
    };
    let stride_ids = observed_by(w.stride.handle.state().await.unwrap(), identifiers::drain(&mut w.taps.stride));
    let fit_ids = observed_by(w.fit.handle.state().await.unwrap(), identifiers::drain(&mut w.taps.fit));
    (w, stride_ids, fit_ids)
}

/// What is public anyway: the businesses' and the hub's own keys, and their addresses.
async fn public_knowledge(w: &World) -> BTreeSet<Id> {
    let mut known = BTreeSet::new();
    for node in [&w.hub, &w.stride, &w.fit] {
        let info = node.handle.info().await.unwrap();
        known.insert(Id::Bytes(info.public_key.to_bytes().to_vec()));
        for address in &info.listen_addrs {
            known.insert(Id::Address(address.to_string()));
            known.insert(Id::Address(address.clone().with(libp2p::multiaddr::Protocol::P2p(info.peer_id)).to_string()));
        }
    }
    known
}

/// What both businesses hold or observed, beyond what is public.
fn shared(stride: &BTreeSet<Id>, fit: &BTreeSet<Id>, public: &BTreeSet<Id>) -> BTreeSet<Id> {
    stride.intersection(fit).filter(|id| !public.contains(*id)).cloned().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_businesses_pooling_everything_find_no_identifier_in_common() {
    let (w, stride_ids, fit_ids) = deal(true).await;
    let public = public_knowledge(&w).await;

    // The extraction sees the person: each business holds the persona it dealt with.
    let person = w.person.handle.info().await.unwrap();
    let root = Id::Bytes(person.public_key.to_bytes().to_vec());
    let agreements = w.person.handle.state().await.unwrap().agreements;
    assert_eq!(agreements.len(), 2, "one agreement with each business");
    let personas: Vec<Id> = agreements.values().map(|r| Id::Bytes(r.agreement.person.to_bytes().to_vec())).collect();
    assert_ne!(personas[0], personas[1]);
    assert!(personas.iter().all(|p| stride_ids.contains(p) != fit_ids.contains(p)), "each persona at one business");
    assert!(!stride_ids.contains(&root) && !fit_ids.contains(&root), "the root key reaches neither");

    let common = shared(&stride_ids, &fit_ids, &public);
    if !common.is_empty() {
        eprintln!("stride state: {:?}", w.stride.handle.state().await.unwrap());
        eprintln!("fit state: {:?}", w.fit.handle.state().await.unwrap());
    }
    assert!(common.is_empty(), "the businesses can link the person by {common:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_pairwise_identities_the_pooled_records_share_the_persons_key() {
    let (w, stride_ids, fit_ids) = deal(false).await;
    let public = public_knowledge(&w).await;
    let person = w.person.handle.info().await.unwrap();
    let root = Id::Bytes(person.public_key.to_bytes().to_vec());
    let common = shared(&stride_ids, &fit_ids, &public);
    assert!(common.contains(&root), "the negative control must catch the shared key: {common:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gossip_relay_sees_no_identifier_shared_by_two_intents_of_one_person() {
    for (pairwise, linkable) in [(true, false), (false, true)] {
        let mut w = world(pairwise).await;
        let hub_id = w.hub.handle.info().await.unwrap().peer_id;
        subscribed(&mut w.person, hub_id, "me2b/v1/intents/apparel.shoes").await;
        subscribed(&mut w.fit, hub_id, "me2b/v1/intents/apparel.shoes").await;
        let mut intents: Vec<Vec<u8>> = Vec::new();
        for _ in 0..2 {
            next_second().await;
            let person = &w.person;
            until(&mut w.fit, "an intent", |e| matches!(e, Event::IntentSeen { .. }), || shoe_intent(person)).await;
            // What the hub forwarded: intents from the person's node (the only one publishing).
            for item in identifiers::drain(&mut w.taps.hub) {
                if let Tapped::Gossip { source, sequence_number, data, .. } = item
                    && me2b_proto::envelope::verify(&data, me2b_proto::envelope::MessageKind::Intent).is_ok()
                {
                    assert_eq!((source, sequence_number), (None, None), "gossip names no author");
                    if !intents.contains(&data) {
                        intents.push(data);
                    }
                }
            }
        }
        assert!(intents.len() >= 2, "the hub forwarded both intents");
        let ids: Vec<BTreeSet<Id>> = intents
            .iter()
            .map(|data| {
                let mut ids = BTreeSet::new();
                identifiers::walk_protobuf(data, &mut ids, 0);
                ids
            })
            .collect();
        let common: BTreeSet<&Id> = ids[0].intersection(&ids[1]).collect();
        assert_eq!(!common.is_empty(), linkable, "pairwise {pairwise}: in common {common:?}");
        w.person.handle.shutdown().await;
        w.hub.handle.shutdown().await;
    }
}
