//! A small harness for multi-node tests: real `Node`s on libp2p's memory transport, each with
//! its own sled store in a temporary directory; waiting is on events, with a bounded timeout.
#![allow(dead_code, unused_imports, clippy::unwrap_used, clippy::expect_used)]

use me2b_node::net::NetConfig;
use me2b_node::{Node, NodeConfig, NodeEvent, NodeHandle, Transport};
use me2b_proto::engine::{Command, Event, Provenance, Role};
use me2b_proto::policy::{Policy, Share};
use me2b_proto::terms::{ContactPermission, Terms};
use me2b_proto::value::Value;
use me2b_proto::vocab::Purpose;
use std::time::Duration;

pub use me2b_node::clock::now;
pub use me2b_proto::harness::fixtures::{DAY, path, rule};
use tempfile::TempDir;

pub mod identifiers;
use tokio::sync::broadcast;

pub const WAIT: Duration = Duration::from_secs(20);

pub struct TestNode {
    pub handle: NodeHandle,
    pub events: broadcast::Receiver<NodeEvent>,
    pub dir: TempDir,
    pub secret: [u8; 32],
    pub role: Role,
}

pub fn config(role: Role, dir: &TempDir) -> NodeConfig {
    let mut config = NodeConfig::new(role, dir.path().join("store"));
    config.transport = Transport::Memory;
    config.listen = vec!["/memory/0".parse().unwrap()];
    config.small_store = true;
    config.net = NetConfig { mdns: false, heartbeat: Duration::from_millis(200), ..config.net };
    config.intent_window = Duration::from_secs(2);
    config
}

pub async fn start(role: Role, seed: u8) -> TestNode {
    let dir = tempfile::tempdir().unwrap();
    start_in(role, [seed; 32], dir).await
}

pub async fn start_in(role: Role, secret: [u8; 32], dir: TempDir) -> TestNode {
    start_with(role, secret, dir, |_| {}).await
}

/// Starts a node with the test configuration changed by `edit`.
pub async fn start_with(role: Role, secret: [u8; 32], dir: TempDir, edit: impl FnOnce(&mut NodeConfig)) -> TestNode {
    let mut config = config(role, &dir);
    if role == Role::Business {
        // Each test business has a name of its own, unless the test gives one.
        let name = format!("Business {:02x}", secret[0]);
        config.profile = Some(me2b_proto::profile::BusinessProfile { name, ..Default::default() });
    }
    edit(&mut config);
    let handle = Node::start(secret, config).await.unwrap();
    let events = handle.events();
    TestNode { handle, events, dir, secret, role }
}

impl TestNode {
    /// The node's first listen address, with its peer id (listeners are up once `start`
    /// returns).
    pub async fn address(&self) -> libp2p::Multiaddr {
        let info = self.handle.info().await.unwrap();
        let address = info.listen_addrs.first().expect("a listen address").clone();
        address.with(libp2p::multiaddr::Protocol::P2p(info.peer_id))
    }

    /// Waits until this node is connected to `peer`.
    pub async fn wait_connected(&mut self, peer: libp2p::PeerId) {
        // A connection made before the test subscribed to the node's events (a bootstrap
        // dial, during `start`) was announced to nobody: it is read first. One made later is
        // announced to this subscription, which is older than the read.
        if self.handle.info().await.unwrap().peers.contains(&peer) {
            return;
        }
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            match tokio::time::timeout_at(deadline, self.events.recv()).await.expect("no connection") {
                Ok(NodeEvent::Connected { peer: connected }) if connected == peer => return,
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => panic!("node stopped"),
            }
        }
    }

    /// Waits for a node event that `matches`, and returns it.
    pub async fn wait_node_event(&mut self, what: &str, matches: impl Fn(&NodeEvent) -> bool) -> NodeEvent {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            match tokio::time::timeout_at(deadline, self.events.recv()).await {
                Err(_) => panic!("timed out waiting for {what}"),
                Ok(Ok(event)) if matches(&event) => return event,
                Ok(Ok(_)) | Ok(Err(broadcast::error::RecvError::Lagged(_))) => {}
                Ok(Err(broadcast::error::RecvError::Closed)) => panic!("node stopped"),
            }
        }
    }

    /// Waits for an engine event that `matches`, and returns it.
    pub async fn wait_for(&mut self, what: &str, matches: impl Fn(&Event) -> bool) -> Event {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let received = tokio::time::timeout_at(deadline, self.events.recv()).await;
            match received {
                Err(_) => panic!("timed out waiting for {what}"),
                Ok(Ok(NodeEvent::Engine(event))) if matches(&event) => return event,
                // Shown only when a test fails: what happened instead.
                Ok(Ok(other)) => eprintln!("while waiting for {what}: {other:?}"),
                Ok(Err(broadcast::error::RecvError::Lagged(_))) => {}
                Ok(Err(broadcast::error::RecvError::Closed)) => {
                    panic!("node stopped while waiting for {what}")
                }
            }
        }
    }

    pub async fn wait_for_misbehaviour(&mut self) -> String {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            match tokio::time::timeout_at(deadline, self.events.recv()).await {
                Err(_) => panic!("timed out waiting for a misbehaviour report"),
                Ok(Ok(NodeEvent::Misbehaved { reason, .. })) => return reason,
                Ok(Ok(other)) => eprintln!("while waiting for a misbehaviour report: {other:?}"),
                Ok(Err(_)) => {}
            }
        }
    }

    /// Waits until this node (a business) knows `person` follows its requests, so that a
    /// request goes to it over gossip (a business hands its live requests to a peer that
    /// subscribes later over a direct stream instead, which the person answers at once).
    pub async fn wait_subscribed(&mut self, person: &TestNode) {
        let person = person.handle.peer_id();
        self.wait_node_event(
            "the person's subscription",
            |e| matches!(e, NodeEvent::PeerSubscribed { peer, .. } if *peer == person),
        )
        .await;
    }

    pub async fn command(&self, command: Command) -> me2b_proto::engine::Handled {
        self.handle.command(command).await.unwrap()
    }

    pub async fn set(&self, path: &str, value: Value) {
        self.command(Command::SetRecord { path: path.parse().unwrap(), value, provenance: Provenance::Owner }).await;
    }
}

pub fn person_policy() -> Policy {
    Policy {
        rules: vec![
            rule("body", Share::Raw, &[Purpose::PersonalisedOffers]),
            rule("activity", Share::DerivedOnly, &[Purpose::PersonalisedOffers]),
            rule("health", Share::Raw, &[Purpose::Research]),
        ],
        max_retention: 60 * DAY,
        max_contact: Some(ContactPermission { max_messages: 2, per_period: 30 * DAY }),
        ..Policy::default()
    }
}

/// The shared shoe terms (see `me2b_proto::harness::fixtures`), open for a day.
pub fn shoe_terms() -> Terms {
    me2b_proto::harness::fixtures::shoe_terms(now().saturating_add(DAY))
}

/// A person following shoes with a shoe size, and a shoe maker, connected.
pub async fn person_and_business() -> (TestNode, TestNode) {
    person_and_business_with(|_| {}).await
}

/// [`person_and_business`] with the test configuration of both changed by `edit`.
pub async fn person_and_business_with(edit: impl Fn(&mut NodeConfig)) -> (TestNode, TestNode) {
    let business = start_with(Role::Business, [2; 32], tempfile::tempdir().unwrap(), &edit).await;
    let person = start_with(Role::Person, [1; 32], tempfile::tempdir().unwrap(), &edit).await;
    person.command(Command::SetPolicy(person_policy())).await;
    person.command(Command::Subscribe("apparel.shoes".parse().unwrap())).await;
    person.set("body.shoe_size_eu", Value::Number(44.0)).await;
    person.set("activity.running_km", Value::Series(vec![])).await;
    business.command(Command::Subscribe("apparel.shoes".parse().unwrap())).await;
    person.handle.dial(business.address().await).await.unwrap();
    (person, business)
}

pub async fn publish(business: &TestNode, terms: Terms) {
    business
        .command(Command::PublishRequest {
            category: "apparel.shoes".parse().unwrap(),
            business_name: "Stride".into(),
            description: "Shoes that fit".into(),
            terms,
        })
        .await;
}

/// Gives the business a catalog answering shoe intents in EU 44, asking for the shoe size.
pub async fn shoe_catalog(business: &TestNode) {
    let mut terms = shoe_terms();
    terms.fields.truncate(1);
    business
        .command(Command::SetCatalog(vec![me2b_proto::engine::CatalogItem {
            category: "apparel.shoes".parse().unwrap(),
            spec: std::collections::BTreeMap::from([("size_eu".to_string(), vec!["44".to_string()])]),
            description: "Trail runner".into(),
            price: me2b_proto::terms::Money::new(9_900, "EUR").unwrap(),
            terms,
        }]))
        .await;
}

/// The person publishes an intent for shoes in EU 44, at most 120 EUR.
pub async fn shoe_intent(person: &TestNode) {
    person
        .command(Command::PublishIntent {
            category: "apparel.shoes".parse().unwrap(),
            spec: std::collections::BTreeMap::from([("size_eu".into(), "44".into())]),
            max_price: Some(me2b_proto::terms::Money::new(12_000, "EUR").unwrap()),
            shares: vec![],
            expires_at: now().saturating_add(DAY),
        })
        .await;
}

/// Publishes the shoe request and waits until the person has the agreement and the business
/// its data; returns the agreement's id.
pub async fn agree(person: &mut TestNode, business: &mut TestNode) -> me2b_proto::identity::AgreementId {
    publish(business, shoe_terms()).await;
    let Event::Finalized { agreement_id, .. } =
        person.wait_for("agreement", |e| matches!(e, Event::Finalized { .. })).await
    else {
        unreachable!()
    };
    business.wait_for("data", |e| matches!(e, Event::DataReceived { .. })).await;
    agreement_id
}

/// A bare libp2p peer with the key from `secret`, listening and dialling `target` (a rogue for
/// the attack tests: it speaks the protocols, and says what the test makes it say). It listens
/// because a person's personas reach a business only by dialling it.
pub fn rogue(secret: [u8; 32], target: libp2p::Multiaddr) -> libp2p::Swarm<me2b_node::net::Behaviour> {
    let mut rogue = bare_swarm(secret);
    rogue.listen_on("/memory/0".parse().unwrap()).unwrap();
    rogue.dial(target).unwrap();
    rogue
}

/// A bare libp2p swarm with the node's behaviour and the key from `secret`, on the memory
/// transport, neither listening nor dialling yet.
pub fn bare_swarm(secret: [u8; 32]) -> libp2p::Swarm<me2b_node::net::Behaviour> {
    let config = NetConfig { mdns: false, heartbeat: Duration::from_millis(100), ..NetConfig::default() };
    let keypair = me2b_node::net::libp2p_keypair(secret).unwrap();
    me2b_node::net::build_memory_swarm(keypair, &config, &mut me2b_node::net::gossip_registry()).unwrap()
}

/// A [`rogue`] subscribed to `topic`, once the target has seen its subscription.
pub async fn rogue_on(
    secret: [u8; 32],
    target: libp2p::Multiaddr,
    topic: &libp2p::gossipsub::IdentTopic,
) -> libp2p::Swarm<me2b_node::net::Behaviour> {
    use futures::StreamExt;
    let mut rogue = rogue(secret, target);
    rogue.behaviour_mut().gossipsub.subscribe(topic).unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let event = tokio::time::timeout_at(deadline, rogue.select_next_some()).await.expect("rogue timed out");
        if let libp2p::swarm::SwarmEvent::Behaviour(me2b_node::net::BehaviourEvent::Gossipsub(
            libp2p::gossipsub::Event::Subscribed { .. },
        )) = event
        {
            return rogue;
        }
    }
}

/// A shoe request with `name`, signed by the key from `secret` (`id` also picks the nonce).
pub fn signed_request(secret: [u8; 32], id: u8, name: &str) -> Vec<u8> {
    use prost::Message as _;
    let key = me2b_proto::identity::Keypair::from_secret_bytes(&secret);
    let terms = shoe_terms();
    let request = me2b_proto::messages::DataRequest {
        id: me2b_proto::identity::RequestId::from_bytes([id; 16]),
        category: "apparel.shoes".parse().unwrap(),
        business_name: name.into(),
        description: "Shoes that fit".into(),
        terms: terms.clone(),
    };
    let seal = me2b_proto::envelope::Seal {
        keypair: &key,
        kind: me2b_proto::envelope::MessageKind::DataRequest,
        recipient: None,
        nonce: me2b_proto::identity::Nonce::from_bytes([id; 16]),
        issued_at: now(),
        expires_at: terms.expires_at,
    };
    me2b_proto::envelope::seal(seal, me2b_proto::wire::DataRequest::from(&request).encode_to_vec())
}
