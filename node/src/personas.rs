//! A person's personas on the network: one small swarm per identity it speaks as.
//!
//! ## Design
//!
//! A person's node has one root key and, derived from it, a key per business it deals with
//! and a one-time key per intent (`me2b_proto::identity::Persona`). The engine signs as the
//! persona; this module makes the transport say the same thing. Each persona that talks to a
//! business gets its own libp2p swarm ([`crate::net::build_persona_swarm`]) whose Noise
//! identity, and so whose peer id, is that persona's key. It speaks only the direct protocols
//! (no identify, gossip, DHT or relay), and it never listens: it dials the business, and
//! the business answers on that connection. So a business sees a peer id, a public key and
//! signatures that it never sees anywhere else, and two businesses that compare notes find no
//! identifier in common.
//!
//! The node's own swarm (root key) carries only gossip and the DHT. With anonymous gossipsub
//! ([`crate::net::behaviour`]) and intents signed by their one-time keys, nothing it publishes
//! names it; a first-hop peer still sees that a message first came over its connection, and
//! the connection's IP address. Hiding the address is out of scope: a relay or Tor in front of
//! the node is the answer.
//!
//! A persona dials a business where its signed profile says (kept in the engine's
//! `State::businesses`, from its requests and answers); if that fails, the node looks the
//! newest profile up in the DHT. It never looks a business up before contacting it: a lookup
//! goes out from the node's own identity, and would tie the node to each business it is about
//! to contact.
//!
//! What a business sends a persona (an agreement's countersignature, a receipt, an offer)
//! travels on the connection the persona opened. While none is open the business's outbox
//! keeps it and retries when the persona connects again ([`me2b_proto::engine::Input::PeerConnected`]):
//! a person's node reconnects what still waits for an answer (a pending revocation retries by
//! itself until its receipt) and checks in with every business whose agreement allows contact
//! every [`crate::net::NetConfig::check_in`].
//!
//! ## Cost
//!
//! One persona swarm per live relationship: the swarm and its five request-response behaviours,
//! and a connection only while there is something to say (closed after the idle timeout).
//! `cargo bench -p me2b-node --bench speed` measures it (`personas_cost`: 100 personas, each
//! connected to a business, added 82 to 138 KiB of resident memory each, one connection each);
//! the cycle with personas was no slower than with one key in the same run. At most
//! [`MAX_PERSONAS`] swarms exist at once; the least recently used without a connection makes
//! room, and is rebuilt from the root key when needed again. The node's loop polls only the
//! swarms whose tasks woke or that it just used, so a turn of the loop does not cost the number
//! of businesses the person ever met (the bench's row "idle persona poll").

use crate::net::{self, BuildError, DirectEvent, DirectRequest, NetConfig};
use futures::StreamExt;
use libp2p::request_response::{OutboundRequestId, ResponseChannel};
use libp2p::swarm::SwarmEvent;
use libp2p::swarm::dial_opts::DialOpts;
use libp2p::{Multiaddr, PeerId, Swarm};
use me2b_proto::engine::Answer;
use me2b_proto::envelope::MessageKind;
use me2b_proto::identity::{Keypair, Persona, PublicKey};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

/// Most persona swarms at once.
pub const MAX_PERSONAS: usize = 4096;
/// Most peers whose addresses are remembered, and addresses per peer.
const MAX_ADDRESS_PEERS: usize = 4096;
const MAX_ADDRESSES_PER_PEER: usize = 8;

/// One persona's swarm.
struct Link {
    swarm: Swarm<net::Direct>,
    /// What the swarm's tasks wake: it queues this persona in [`Woken`].
    waker: Waker,
    used: Instant,
    /// When it was last used, in order (instants may tie).
    turn: u64,
}

/// The personas whose swarms have something to do (woken, or used by the node) since they were
/// last polled, in order, each once; and the node's waker. A poll polls only these: a person
/// who has dealt with many businesses keeps a swarm for each, and polling every one on every
/// turn of the node's loop would cost the loop the number of businesses it ever met.
#[derive(Default)]
struct Woken {
    keys: VecDeque<PublicKey>,
    queued: HashSet<PublicKey>,
    node: Option<Waker>,
}

impl Woken {
    /// Bounded by the personas that exist plus those dropped since the last poll (a dropped
    /// swarm's key leaves at the next poll): each key is queued once.
    fn queue(&mut self, key: PublicKey) {
        if self.queued.insert(key) {
            self.keys.push_back(key);
        }
    }
}

fn lock(woken: &Mutex<Woken>) -> MutexGuard<'_, Woken> {
    // A panic while the lock was held cannot leave the queue half-changed in a way that
    // matters: at worst a persona is polled once more.
    woken.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A persona swarm's waker: queues the persona and wakes the node.
struct LinkWaker {
    key: PublicKey,
    woken: Arc<Mutex<Woken>>,
}

impl futures::task::ArcWake for LinkWaker {
    fn wake_by_ref(this: &Arc<Self>) {
        let mut woken = lock(&this.woken);
        woken.queue(this.key);
        if let Some(node) = &woken.node {
            node.wake_by_ref();
        }
    }
}

/// A person's persona swarms, and where the businesses they talk to can be reached.
pub struct Personas {
    links: BTreeMap<PublicKey, Link>,
    /// Most swarms at once ([`MAX_PERSONAS`]).
    cap: usize,
    addresses: AddressBook,
    config: NetConfig,
    memory: bool,
    /// Whose swarm to poll next; a persona with an event goes to the back, so a busy one
    /// cannot starve the others.
    woken: Arc<Mutex<Woken>>,
    /// Counts uses, to order them.
    turns: u64,
    /// How many times a persona swarm was polled.
    polls: u64,
}

impl Personas {
    /// No personas yet; their swarms will use `config` and the memory transport if `memory`.
    pub fn new(config: NetConfig, memory: bool) -> Self {
        Personas::with_cap(config, memory, MAX_PERSONAS)
    }

    fn with_cap(config: NetConfig, memory: bool, cap: usize) -> Self {
        Personas {
            links: BTreeMap::new(),
            cap,
            addresses: AddressBook::default(),
            config,
            memory,
            woken: Arc::default(),
            turns: 0,
            polls: 0,
        }
    }

    /// Remembers that `peer` can be reached at `address`; `true` if it was not known.
    pub fn learn_address(&mut self, peer: PeerId, address: Multiaddr) -> bool {
        self.addresses.add(peer, address)
    }

    /// Sends `kind` with `bytes` to `to` as `persona` (whose key is `keypair`), building the
    /// persona's swarm if it has none. The persona dials the peer at its known addresses.
    pub fn send(
        &mut self,
        keypair: &Keypair,
        to: PeerId,
        kind: MessageKind,
        bytes: Vec<u8>,
    ) -> Result<OutboundRequestId, BuildError> {
        let addresses = self.addresses.get(&to);
        let link = self.link(keypair)?;
        link.used = Instant::now();
        let request = DirectRequest::new(kind, bytes);
        Ok(link.swarm.behaviour_mut().for_kind(kind).send_request_with_addresses(&to, request, addresses))
    }

    /// Opens a connection from `persona` (key `keypair`) to `to` if it has none, so that what
    /// the peer holds for the persona can come.
    pub fn check_in(&mut self, keypair: &Keypair, to: PeerId) -> Result<(), BuildError> {
        let addresses = self.addresses.get(&to);
        let link = self.link(keypair)?;
        if !link.swarm.is_connected(&to) && !addresses.is_empty() {
            link.used = Instant::now();
            let _ = link.swarm.dial(DialOpts::peer_id(to).addresses(addresses).build());
        }
        Ok(())
    }

    /// Answers a request that came in on `persona`'s connection.
    pub fn respond(
        &mut self,
        persona: &PublicKey,
        kind: MessageKind,
        channel: ResponseChannel<Answer>,
        answer: Answer,
    ) {
        if let Some(link) = self.links.get_mut(persona) {
            let _ = link.swarm.behaviour_mut().for_kind(kind).send_response(channel, answer);
            // The answer goes out when the swarm is next polled.
            lock(&self.woken).queue(*persona);
        }
    }

    /// Whether `persona`'s swarm has a connection to `peer`.
    pub fn is_connected(&self, persona: &PublicKey, peer: &PeerId) -> bool {
        self.links.get(persona).is_some_and(|link| link.swarm.is_connected(peer))
    }

    /// How many persona swarms exist, and how many connections they hold.
    pub fn counts(&self) -> (usize, usize) {
        let connections = self.links.values().map(|link| link.swarm.network_info().num_peers()).sum();
        (self.links.len(), connections)
    }

    /// The next event of any persona's swarm, with the persona's key.
    pub async fn next(&mut self) -> (PublicKey, SwarmEvent<DirectEvent>) {
        std::future::poll_fn(|cx| self.poll_next(cx)).await
    }

    /// An event that is ready now, if any.
    pub fn ready(&mut self) -> Option<(PublicKey, SwarmEvent<DirectEvent>)> {
        let waker = futures::task::noop_waker();
        match self.poll_next(&mut Context::from_waker(&waker)) {
            Poll::Ready(event) => Some(event),
            Poll::Pending => None,
        }
    }

    /// Polls the personas queued in [`Woken`], each once at most: one that wakes itself while
    /// polled (a swarm yields that way) is queued again and has woken the node already.
    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<(PublicKey, SwarmEvent<DirectEvent>)> {
        let due = {
            let mut woken = lock(&self.woken);
            if !woken.node.as_ref().is_some_and(|node| node.will_wake(cx.waker())) {
                woken.node = Some(cx.waker().clone());
            }
            woken.keys.len()
        };
        for _ in 0..due {
            let key = {
                let mut woken = lock(&self.woken);
                let Some(key) = woken.keys.pop_front() else { break };
                woken.queued.remove(&key);
                key
            };
            // A persona dropped since it was queued is not polled.
            let Some(link) = self.links.get_mut(&key) else { continue };
            self.polls += 1;
            if let Poll::Ready(Some(event)) = link.swarm.poll_next_unpin(&mut Context::from_waker(&link.waker)) {
                // It may have more, and will not wake for them.
                lock(&self.woken).queue(key);
                return Poll::Ready((key, event));
            }
        }
        Poll::Pending
    }

    /// The swarm of the persona whose key is `keypair`, built if needed (making room first).
    fn link(&mut self, keypair: &Keypair) -> Result<&mut Link, BuildError> {
        let public = keypair.public();
        if !self.links.contains_key(&public) {
            if self.links.len() >= self.cap {
                self.evict();
            }
            let key = net::libp2p_keypair(keypair.secret_bytes())?;
            let swarm = net::build_persona_swarm(key, &self.config, self.memory)?;
            let waker = futures::task::waker(Arc::new(LinkWaker { key: public, woken: self.woken.clone() }));
            self.links.insert(public, Link { swarm, waker, used: Instant::now(), turn: 0 });
        }
        // What the caller does with the swarm (a request, a dial) happens when it is polled.
        lock(&self.woken).queue(public);
        self.turns += 1;
        let turn = self.turns;
        let link = self.links.get_mut(&public).ok_or_else(|| net::build_error("persona swarm vanished"))?;
        link.turn = turn;
        Ok(link)
    }

    /// Drops the least recently used persona swarm without a connection (or, if all have
    /// one, the least recently used).
    fn evict(&mut self) {
        let idle = self
            .links
            .iter()
            .filter(|(_, link)| link.swarm.network_info().num_peers() == 0)
            .min_by_key(|(_, link)| link.turn)
            .map(|(key, _)| *key);
        let victim = idle.or_else(|| self.links.iter().min_by_key(|(_, link)| link.turn).map(|(key, _)| *key));
        if let Some(key) = victim {
            self.links.remove(&key);
        }
    }

    /// Drops persona swarms with no connection that were not used for `after`: their keys
    /// come back from the root whenever they are needed.
    pub fn prune(&mut self, after: std::time::Duration) {
        self.links.retain(|_, link| link.swarm.network_info().num_peers() > 0 || link.used.elapsed() < after);
    }
}

/// The persona a key speaks as, when the node's identities are pairwise; `None` when the
/// message goes out on the node's own swarm.
pub fn routed(persona: Persona, pairwise: bool) -> Option<Persona> {
    match persona {
        Persona::Root => None,
        _ if !pairwise => None,
        persona => Some(persona),
    }
}

/// Bounded: at most [`MAX_ADDRESS_PEERS`] peers with [`MAX_ADDRESSES_PER_PEER`] addresses each
/// (the newest kept).
#[derive(Default)]
struct AddressBook {
    peers: HashMap<PeerId, VecDeque<Multiaddr>>,
    order: VecDeque<PeerId>,
}

impl AddressBook {
    /// Remembers `address` for `peer`, in one form: without a trailing `/p2p/PEER` (the dial
    /// names the peer), so that `/ip4/…/tcp/7401` and `/ip4/…/tcp/7401/p2p/PEER` are one
    /// address, not two dialled at once (one of the two connections is then dropped, and a
    /// message the peer put on it is lost).
    fn add(&mut self, peer: PeerId, mut address: Multiaddr) -> bool {
        if address.iter().last() == Some(libp2p::multiaddr::Protocol::P2p(peer)) {
            address.pop();
        }
        if !self.peers.contains_key(&peer) {
            while self.peers.len() >= MAX_ADDRESS_PEERS {
                let Some(oldest) = self.order.pop_front() else { break };
                self.peers.remove(&oldest);
            }
            self.order.push_back(peer);
        }
        let known = self.peers.entry(peer).or_default();
        if known.contains(&address) {
            return false;
        }
        if known.len() >= MAX_ADDRESSES_PER_PEER {
            known.pop_front();
        }
        known.push_back(address);
        true
    }

    fn get(&self, peer: &PeerId) -> Vec<Multiaddr> {
        self.peers.get(peer).map(|known| known.iter().rev().cloned().collect()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn persona_swarms_are_bounded_and_the_least_recently_used_makes_room() {
        let mut personas = Personas::with_cap(NetConfig::default(), true, 3);
        let peer = PeerId::random();
        let keys: Vec<Keypair> = (1..=5u8).map(|i| Keypair::from_secret_bytes(&[i; 32])).collect();
        for key in &keys {
            personas.check_in(key, peer).unwrap();
        }
        assert_eq!(personas.counts().0, 3, "never more swarms than the cap");
        let kept: Vec<PublicKey> = personas.links.keys().copied().collect();
        assert!(!kept.contains(&keys[0].public()) && !kept.contains(&keys[1].public()), "the oldest made room");
        assert!(kept.contains(&keys[4].public()));
    }

    /// Polls until nothing is ready; how many swarms that polled.
    fn settle(personas: &mut Personas) -> u64 {
        let before = personas.polls;
        while personas.ready().is_some() {}
        personas.polls - before
    }

    #[tokio::test]
    async fn a_poll_polls_the_personas_with_something_to_do_not_every_persona() {
        let mut personas = Personas::new(NetConfig::default(), true);
        let business = PeerId::random();
        let keys: Vec<Keypair> = (1..=50u8).map(|i| Keypair::from_secret_bytes(&[i; 32])).collect();
        for key in &keys {
            personas.check_in(key, business).unwrap();
        }
        settle(&mut personas);
        assert_eq!(settle(&mut personas), 0, "fifty idle personas: nothing to poll");
        // One persona sends (to a business with no known address: the request fails at once,
        // an event): only its swarm is polled, however many there are.
        let _ = personas.send(&keys[7], business, MessageKind::Revocation, vec![1]).unwrap();
        let mut events = Vec::new();
        let before = personas.polls;
        while let Some((persona, _)) = personas.ready() {
            events.push(persona);
        }
        assert!(!events.is_empty() && events.iter().all(|persona| *persona == keys[7].public()));
        let polled = personas.polls - before;
        assert!(polled <= events.len() as u64 + 2, "{polled} polls for {} events of one persona", events.len());
    }

    #[tokio::test]
    async fn the_wake_queue_holds_each_persona_once_and_forgets_dropped_ones() {
        let mut personas = Personas::with_cap(NetConfig::default(), true, 3);
        let peer = PeerId::random();
        let keys: Vec<Keypair> = (1..=5u8).map(|i| Keypair::from_secret_bytes(&[i; 32])).collect();
        // Used a hundred times each before any poll: each is queued once, the two the cap
        // dropped included.
        for _ in 0..100 {
            for key in &keys {
                personas.check_in(key, peer).unwrap();
            }
        }
        assert!(lock(&personas.woken).keys.len() <= keys.len(), "one entry per persona at most");
        // A poll takes the dropped ones out without polling anything for them.
        settle(&mut personas);
        let woken = lock(&personas.woken);
        assert!(woken.keys.is_empty() && woken.queued.is_empty());
    }

    #[test]
    fn the_address_book_keeps_the_newest_addresses_of_a_bounded_number_of_peers() {
        let mut book = AddressBook::default();
        let peer = PeerId::random();
        for port in 0..20u16 {
            book.add(peer, format!("/ip4/127.0.0.1/tcp/{port}").parse().unwrap());
        }
        let known = book.get(&peer);
        assert_eq!(known.len(), MAX_ADDRESSES_PER_PEER);
        assert_eq!(known[0], "/ip4/127.0.0.1/tcp/19".parse::<Multiaddr>().unwrap());
        for _ in 0..MAX_ADDRESS_PEERS {
            book.add(PeerId::random(), "/ip4/127.0.0.1/tcp/1".parse().unwrap());
        }
        assert_eq!(book.peers.len(), MAX_ADDRESS_PEERS);
        assert!(book.get(&peer).is_empty(), "the oldest peer made room");
    }

    #[test]
    fn an_address_with_and_without_the_peer_id_is_one_address() {
        let mut book = AddressBook::default();
        let peer = PeerId::random();
        let bare: Multiaddr = "/ip4/127.0.0.1/tcp/7401".parse().unwrap();
        assert!(book.add(peer, bare.clone().with(libp2p::multiaddr::Protocol::P2p(peer))));
        assert!(!book.add(peer, bare.clone()), "the same address");
        assert_eq!(book.get(&peer), vec![bare.clone()]);
        // Another peer's id is not this peer's: that address is kept as it is.
        let other = bare.with(libp2p::multiaddr::Protocol::P2p(PeerId::random()));
        assert!(book.add(peer, other.clone()));
        assert_eq!(book.get(&peer).len(), 2);
    }
}
