//! An in-memory network of engines in virtual time, for tests, property tests and
//! walkthroughs of the protocol. It is a driver like the real node, minus sockets and disks:
//! it delivers what engines send, reports deliveries back, fires timers in order and keeps
//! every node's ledger, events and rejections so a test can look at them.
//!
//! Messages are delivered in the order they were sent, after `latency`; a node that is offline
//! gets nothing, and senders see their messages as undelivered, as a real driver would.
//! [`fixtures`] holds the people, businesses and terms every crate's tests share.

pub mod fixtures;
pub mod fuzz;

use crate::engine::{Answer, Change, Config, Engine, Event, HandleError, Input, Output, Role, State, Timer};
use crate::envelope::MessageKind;
use crate::identity::{Keypair, PublicKey};
use crate::time::Timestamp;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

/// A node of the harness.
#[derive(Debug)]
pub struct Peer {
    /// The engine.
    pub engine: Engine,
    /// Every event it reported, in order.
    pub events: Vec<Event>,
    /// Every input it refused, with the error.
    pub rejections: Vec<HandleError>,
    /// Its ledger entries, in order.
    pub ledger: Vec<Vec<u8>>,
    /// Every output it produced, in order (for determinism checks).
    pub outputs: Vec<Output>,
}

#[derive(Debug)]
enum Delivery {
    Direct {
        /// The sending node (its root key).
        node: PublicKey,
        /// The identity it sent as.
        from: PublicKey,
        /// The identity it sent to.
        to: PublicKey,
        kind: MessageKind,
        bytes: Vec<u8>,
        id: Option<crate::engine::OutboxId>,
    },
    Gossip {
        from: PublicKey,
        kind: MessageKind,
        bytes: Vec<u8>,
    },
}

/// Engines wired together in virtual time.
#[derive(Debug)]
pub struct Network {
    now: Timestamp,
    latency: Duration,
    peers: BTreeMap<PublicKey, Peer>,
    /// The node (root key) behind each persona key that has spoken: as with a real person's
    /// node, a persona can be reached only once it made contact.
    personas: BTreeMap<PublicKey, PublicKey>,
    offline: BTreeSet<PublicKey>,
    timers: BTreeSet<(Timestamp, PublicKey, Timer)>,
    in_flight: VecDeque<(Timestamp, Delivery)>,
}

impl Network {
    /// An empty network at `start`, delivering after `latency`.
    pub fn new(start: Timestamp, latency: Duration) -> Network {
        Network {
            now: start,
            latency,
            peers: BTreeMap::new(),
            personas: BTreeMap::new(),
            offline: BTreeSet::new(),
            timers: BTreeSet::new(),
            in_flight: VecDeque::new(),
        }
    }

    /// The current virtual time.
    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// Adds a node whose key and engine seed derive from `seed`, and returns its key.
    pub fn add(&mut self, role: Role, seed: u8) -> PublicKey {
        self.add_with(Keypair::from_secret_bytes(&[seed; 32]), Config::new(role, [seed; 32]), State::default())
    }

    /// Adds a node with its own key, configuration and state.
    pub fn add_with(&mut self, keypair: Keypair, config: Config, state: State) -> PublicKey {
        let key = keypair.public();
        let engine = Engine::new(keypair, config, state, self.now);
        self.peers.insert(
            key,
            Peer { engine, events: Vec::new(), rejections: Vec::new(), ledger: Vec::new(), outputs: Vec::new() },
        );
        self.drain(key);
        key
    }

    /// Removes a node (as in a crash) and returns it; its pending timers are dropped.
    pub fn remove(&mut self, key: &PublicKey) -> Option<Peer> {
        self.timers.retain(|(_, owner, _)| owner != key);
        self.peers.remove(key)
    }

    /// A node.
    pub fn peer(&self, key: &PublicKey) -> &Peer {
        &self.peers[key]
    }

    /// The node (its root key) that `key` belongs to: itself, or the node whose persona it is.
    pub fn node_of(&self, key: &PublicKey) -> PublicKey {
        self.personas.get(key).copied().unwrap_or(*key)
    }

    /// The keys `node` has spoken as, besides its root.
    pub fn personas_of(&self, node: &PublicKey) -> Vec<PublicKey> {
        self.personas.iter().filter(|(_, owner)| *owner == node).map(|(persona, _)| *persona).collect()
    }

    /// Takes a node off the network (messages to it fail) or brings it back (and tells every
    /// other node it is reachable again).
    pub fn set_online(&mut self, key: PublicKey, online: bool) {
        if online {
            self.offline.remove(&key);
            let others: Vec<PublicKey> = self.peers.keys().filter(|k| **k != key).copied().collect();
            let topics = self.peers.get(&key).map(|peer| peer.engine.topics()).unwrap_or_default();
            let mut identities = vec![key];
            identities.extend(self.personas_of(&key));
            for other in others {
                for identity in &identities {
                    let _ = self.input(other, Input::PeerConnected(*identity));
                }
                for topic in &topics {
                    let _ = self.input(other, Input::PeerSubscribed { peer: key, topic: topic.clone() });
                }
            }
        } else {
            self.offline.insert(key);
        }
    }

    /// Gives `input` to a node now, and returns what `handle` returned.
    pub fn input(&mut self, key: PublicKey, input: Input) -> Result<crate::engine::Handled, HandleError> {
        let now = self.now;
        let Some(peer) = self.peers.get_mut(&key) else {
            return Err(HandleError::Busy);
        };
        let result = peer.engine.handle(input, now);
        if let Err(error) = &result {
            peer.rejections.push(error.clone());
        }
        self.drain(key);
        result
    }

    fn drain(&mut self, key: PublicKey) {
        let Some(peer) = self.peers.get_mut(&key) else {
            return;
        };
        let at = self.now.saturating_add(self.latency);
        // The harness writes and sends at once: the ledger is sealed after every input.
        peer.engine.seal_ledger();
        while let Some(output) = peer.engine.poll() {
            peer.outputs.push(output.clone());
            match output {
                Output::Send { from, to, kind, bytes, delivery, .. } => {
                    let from = peer.engine.identities().public(from);
                    if from != key {
                        self.personas.insert(from, key);
                    }
                    let delivery = Delivery::Direct { node: key, from, to, kind, bytes, id: delivery };
                    self.in_flight.push_back((at, delivery));
                }
                Output::Publish { bytes, topic } => {
                    let kind = topic.kind();
                    self.in_flight.push_back((at, Delivery::Gossip { from: key, kind, bytes }));
                }
                Output::Persist(Change::LedgerEntry { bytes, .. }) => peer.ledger.push(bytes),
                Output::Persist(Change::LedgerSeal { sequence, bytes }) => {
                    if let Some(entry) = peer.ledger.get_mut(sequence as usize) {
                        *entry = bytes;
                    }
                }
                Output::Persist(_) => {}
                Output::Event(event) => peer.events.push(event),
                Output::SetTimer { at, timer } => {
                    self.timers.insert((at, key, timer));
                }
            }
        }
    }

    /// Delivers the next message in flight, advancing time to its arrival. Returns `false` if
    /// none was in flight.
    pub fn deliver_next(&mut self) -> bool {
        let Some((at, delivery)) = self.in_flight.pop_front() else {
            return false;
        };
        self.now = self.now.max(at);
        match delivery {
            Delivery::Gossip { from, kind, bytes } => {
                let receivers: Vec<PublicKey> =
                    self.peers.keys().filter(|k| **k != from && !self.offline.contains(*k)).copied().collect();
                for to in receivers {
                    let _ = self.input(to, Input::Gossip { kind, bytes: bytes.clone() });
                }
            }
            Delivery::Direct { node, from, to, kind, bytes, id } => {
                let receiver = self.node_of(&to);
                let reachable = self.peers.contains_key(&receiver)
                    && !self.offline.contains(&receiver)
                    && !self.offline.contains(&node);
                // The receiver's real answer goes back, as a node's would.
                let answer =
                    reachable.then(|| Answer::of(&self.input(receiver, Input::Direct { from, to, kind, bytes })));
                if let Some(id) = id {
                    let report = match answer {
                        Some(answer) => Input::Answered(id, answer),
                        None => Input::Undelivered(id),
                    };
                    let _ = self.input(node, report);
                }
            }
        }
        true
    }

    /// Delivers messages until none is in flight (timers are not fired).
    pub fn settle(&mut self) {
        // Bounded: a protocol that keeps talking forever is a bug the caller should see.
        for _ in 0..100_000 {
            if !self.deliver_next() {
                return;
            }
        }
    }

    /// Advances time to `until`, firing timers and delivering messages in time order.
    pub fn advance_to(&mut self, until: Timestamp) {
        for _ in 0..1_000_000 {
            let next_message = self.in_flight.front().map(|(at, _)| *at);
            let next_timer = self.timers.first().map(|(at, _, _)| *at);
            match (next_message, next_timer) {
                (Some(m), t) if m <= until && t.is_none_or(|t| m <= t) => {
                    self.deliver_next();
                }
                (_, Some(t)) if t <= until => {
                    let Some((at, key, timer)) = self.timers.pop_first() else {
                        break;
                    };
                    self.now = self.now.max(at);
                    if self.peers.contains_key(&key) {
                        let _ = self.input(key, Input::Timer(timer));
                    }
                }
                _ => break,
            }
        }
        self.now = self.now.max(until);
    }

    /// Advances time by `duration`.
    pub fn advance(&mut self, duration: Duration) {
        let until = self.now.saturating_add(duration);
        self.advance_to(until);
    }
}
