//! What the owner of a node holds: the cloneable [`NodeHandle`] (requests over a bounded
//! channel, replies over oneshot), the [`NodeEvent`]s it hears, the [`NodeInfo`] snapshot,
//! and [`NodeError`], and how a node is set up ([`NodeConfig`]). The actor on the other side
//! of the channel is [`crate::Node`].

use crate::net::{self, BuildError, NetConfig};
use crate::store::{Store, StoreError};
use libp2p::{Multiaddr, PeerId};
use me2b_proto::engine::{Command, Engine, Event, HandleError, Handled, Role, State};
use me2b_proto::identity::PublicKey;
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, oneshot};

/// Which transports a node uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// TCP, QUIC, DNS and relays: a real node.
    Network,
    /// libp2p's in-memory transport: tests and the simulator.
    Memory,
}

/// How a node is set up.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// Person or business.
    pub role: Role,
    /// Where the store lives.
    pub store_path: PathBuf,
    /// Unwraps the store's data key; `None` is the explicit opt-out for tests.
    pub passphrase: Option<Vec<u8>>,
    /// Addresses to listen on.
    pub listen: Vec<Multiaddr>,
    /// Peers to connect to at start (each address ends in `/p2p/<peer id>`).
    pub bootstrap: Vec<Multiaddr>,
    /// Transports.
    pub transport: Transport,
    /// Network settings.
    pub net: NetConfig,
    /// A small store cache and no background flusher (many nodes in one process).
    pub small_store: bool,
    /// How long negotiations this node starts may take.
    pub negotiation_timeout: Duration,
    /// How long a person collects answers to an intent.
    pub intent_window: Duration,
    /// How long the owner has to decide on a prompt (see the engine's `Config::owner_window`).
    pub owner_window: Duration,
    /// A business's own systems keep copies (a webhook is set): deletion receipts wait for
    /// their confirmation (see the engine's `Config::confirm_deletions_downstream`).
    pub confirm_deletions_downstream: bool,
    /// A person speaks to each business as its own identity (see [`crate::personas`]). On
    /// by default; off only to show in tests what it prevents.
    pub pairwise_identities: bool,
    /// Where to copy everything peers send this node (connections and raw messages), for
    /// tests that must see all a node observed (the collusion test). Bounded: copies that do
    /// not fit are dropped. `None` in a real node.
    pub tap: Option<mpsc::Sender<Tapped>>,
    /// A business's profile (name, legal name, contact, website, privacy policy). The node
    /// adds its key and where it listens, signs it at start, and sends it with every request
    /// and answer to an intent. `None` for a person.
    pub profile: Option<me2b_proto::profile::BusinessProfile>,
}

/// What a tapped node observed (see [`NodeConfig::tap`]).
#[derive(Debug, Clone)]
pub enum Tapped {
    /// A connection came up, on the node's swarm or one of a person's persona swarms.
    Connected {
        /// The peer.
        peer: PeerId,
        /// The peer's address on that connection.
        address: Multiaddr,
    },
    /// A direct message's envelope, as it arrived.
    Direct {
        /// The peer it came from.
        peer: PeerId,
        /// The bytes.
        bytes: Vec<u8>,
    },
    /// A gossip message, as it arrived.
    Gossip {
        /// The peer that forwarded it.
        peer: PeerId,
        /// Its author, if it names one (me2b's never do).
        source: Option<PeerId>,
        /// Its sequence number, if it has one (me2b's never do).
        sequence_number: Option<u64>,
        /// Its data.
        data: Vec<u8>,
    },
}

impl NodeConfig {
    /// Defaults for `role` with the store at `store_path`.
    pub fn new(role: Role, store_path: PathBuf) -> Self {
        NodeConfig {
            role,
            store_path,
            passphrase: None,
            listen: Vec::new(),
            bootstrap: Vec::new(),
            transport: Transport::Network,
            net: NetConfig::for_role(role),
            small_store: false,
            negotiation_timeout: Duration::from_secs(120),
            intent_window: Duration::from_secs(10),
            owner_window: Duration::from_millis(me2b_proto::limits::MAX_OWNER_WINDOW_MS),
            confirm_deletions_downstream: false,
            pairwise_identities: true,
            tap: None,
            profile: None,
        }
    }
}

/// Why the node failed.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The network could not be set up.
    #[error(transparent)]
    Build(#[from] BuildError),
    /// A listen address was refused.
    #[error("cannot listen on {address}: {reason}")]
    Listen {
        /// The address.
        address: Multiaddr,
        /// Why.
        reason: String,
    },
    /// The engine refused a command.
    #[error(transparent)]
    Engine(#[from] HandleError),
    /// The node has stopped.
    #[error("the node has stopped")]
    Stopped,
    /// A dial failed at once.
    #[error("cannot dial {0}")]
    Dial(String),
}

/// What the owner hears from the node.
#[derive(Debug, Clone)]
pub enum NodeEvent {
    /// An engine event.
    Engine(Event),
    /// A peer sent something invalid.
    Misbehaved {
        /// The peer.
        peer: PeerId,
        /// What was wrong.
        reason: String,
    },
    /// A peer misbehaved once too often: it is disconnected and refused for `seconds`.
    Banned {
        /// The peer.
        peer: PeerId,
        /// How long the ban lasts.
        seconds: u64,
    },
    /// A connection to a peer was established.
    Connected {
        /// The peer.
        peer: PeerId,
    },
    /// A peer subscribed to a gossip topic.
    PeerSubscribed {
        /// The peer.
        peer: PeerId,
        /// The topic, e.g. `me2b/v1/requests/apparel.shoes`.
        topic: String,
    },
    /// A peer sent more gossip than the per-peer limit; the rest of its window is dropped.
    RateLimited {
        /// The peer.
        peer: PeerId,
    },
    /// A gossip message left this node (at once, or after waiting for a subscriber).
    Published {
        /// The topic.
        topic: String,
    },
    /// A publication was dropped: no peer subscribed in time.
    PublishDropped {
        /// The topic.
        topic: String,
    },
    /// A business's signed profile reached the DHT (a put was stored by a peer).
    ProfilePublished,
    /// A DHT query of this node ended.
    DhtQuery {
        /// `profile` (a business's profile looked up), `peer` (a peer's addresses looked up),
        /// `bootstrap` (the routing table's own walk) or `put` (a profile put).
        kind: &'static str,
        /// Whether it found what it looked for (for `peer`: the peer itself among the closest;
        /// for `put`: a peer stored it).
        found: bool,
        /// Peers asked.
        asked: u32,
        /// Peers that answered.
        answered: u32,
        /// How long it took.
        duration: std::time::Duration,
    },
    /// A peer acknowledged a direct message; if it waited in the outbox, it has left it.
    Delivered {
        /// The peer.
        peer: PeerId,
    },
}

/// A snapshot of what the node is.
#[derive(Debug, Clone)]
pub struct NodeInfo {
    /// The libp2p peer id.
    pub peer_id: PeerId,
    /// The protocol key.
    pub public_key: PublicKey,
    /// Person or business.
    pub role: Role,
    /// Where it listens.
    pub listen_addrs: Vec<Multiaddr>,
    /// How many peers it is connected to.
    pub connected_peers: usize,
    /// The peers connected now (as many as the connection limits allow).
    pub peers: Vec<PeerId>,
    /// Bytes of me2b messages this node published on gossip (once per publication, before
    /// gossipsub fans them out) and sent on direct streams, since it started.
    pub payload_bytes_out: u64,
    /// Gossip messages received, first copies and duplicates.
    pub gossip: net::GossipCounts,
    /// Store flushes (fsyncs) since it started: one per committed batch that changed state.
    pub commits: u64,
    /// Inputs handled since it started, each in a committed batch.
    pub committed_inputs: u64,
    /// Peers in its DHT routing table.
    pub dht_routing: usize,
    /// DHT servers it knows that wait for its first walk ([`crate::net::NetConfig::dht_boot_spread`]).
    pub dht_waiting: usize,
}

pub(crate) type Query = Box<dyn FnOnce(&Engine, &Store) + Send>;

pub(crate) enum Request {
    Command(Box<Command>, oneshot::Sender<Result<Handled, NodeError>>),
    Query(Query),
    Dial(Multiaddr, oneshot::Sender<Result<(), NodeError>>),
    Remember(PeerId, Multiaddr),
    LookUpProfile(PublicKey),
    Info(oneshot::Sender<NodeInfo>),
    Metrics(oneshot::Sender<String>),
    Shutdown(oneshot::Sender<()>),
}

/// A cloneable handle to a running node.
#[derive(Clone, Debug)]
pub struct NodeHandle {
    pub(crate) requests: mpsc::Sender<Request>,
    pub(crate) events: broadcast::Sender<NodeEvent>,
    pub(crate) peer_id: PeerId,
    pub(crate) public_key: PublicKey,
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Request")
    }
}

impl NodeHandle {
    /// The node's peer id.
    pub fn peer_id(&self) -> PeerId {
        self.peer_id
    }

    /// The node's protocol key.
    pub fn public_key(&self) -> PublicKey {
        self.public_key
    }

    /// Events from now on.
    pub fn events(&self) -> broadcast::Receiver<NodeEvent> {
        self.events.subscribe()
    }

    /// Gives the engine a command; returns once its effects are on disk.
    pub async fn command(&self, command: Command) -> Result<Handled, NodeError> {
        let (reply, answer) = oneshot::channel();
        self.requests.send(Request::Command(Box::new(command), reply)).await.map_err(|_| NodeError::Stopped)?;
        answer.await.map_err(|_| NodeError::Stopped)?
    }

    /// Runs `read` on the engine and store, and returns what it returns.
    pub async fn query<R: Send + 'static>(
        &self,
        read: impl FnOnce(&Engine, &Store) -> R + Send + 'static,
    ) -> Result<R, NodeError> {
        let (reply, answer) = oneshot::channel();
        let query: Query = Box::new(move |engine, store| {
            let _ = reply.send(read(engine, store));
        });
        self.requests.send(Request::Query(query)).await.map_err(|_| NodeError::Stopped)?;
        answer.await.map_err(|_| NodeError::Stopped)
    }

    /// What `read` makes of the engine's state, computed inside the node: a read that needs
    /// a few fields or one record copies those, not the whole state.
    pub async fn read<R: Send + 'static>(
        &self,
        read: impl FnOnce(&State) -> R + Send + 'static,
    ) -> Result<R, NodeError> {
        self.query(move |engine, _| read(engine.state())).await
    }

    /// A copy of the engine's state (tests and whole exports; reads use [`NodeHandle::read`]).
    pub async fn state(&self) -> Result<State, NodeError> {
        self.query(|engine, _| engine.state().clone()).await
    }

    /// The key that seals the files kept beside the store for `purpose` (see
    /// `Store::file_key`).
    pub async fn file_key(&self, purpose: &'static str) -> Result<crate::at_rest::SecretKey, NodeError> {
        self.query(move |_, store| store.file_key(purpose)).await
    }

    /// Dials `address` (ending in `/p2p/<peer id>` to know whom).
    pub async fn dial(&self, address: Multiaddr) -> Result<(), NodeError> {
        let (reply, answer) = oneshot::channel();
        self.requests.send(Request::Dial(address, reply)).await.map_err(|_| NodeError::Stopped)?;
        answer.await.map_err(|_| NodeError::Stopped)?
    }

    /// Remembers where `peer` can be reached, without dialling it now (an address book entry,
    /// for when the DHT is off).
    pub async fn remember(&self, peer: PeerId, address: Multiaddr) -> Result<(), NodeError> {
        self.requests.send(Request::Remember(peer, address)).await.map_err(|_| NodeError::Stopped)
    }

    /// Looks `business`'s signed profile up in the DHT now (the node does this by itself
    /// when a business cannot be reached; the simulator asks, to measure lookups). The
    /// outcome comes as a [`NodeEvent::DhtQuery`] of kind `profile`, and a newer profile is
    /// kept as one found by the node itself.
    pub async fn look_up_profile(&self, business: PublicKey) -> Result<(), NodeError> {
        self.requests.send(Request::LookUpProfile(business)).await.map_err(|_| NodeError::Stopped)
    }

    /// libp2p's own metrics (gossipsub's counters), in the OpenMetrics text format.
    pub async fn metrics(&self) -> Result<String, NodeError> {
        let (reply, answer) = oneshot::channel();
        self.requests.send(Request::Metrics(reply)).await.map_err(|_| NodeError::Stopped)?;
        answer.await.map_err(|_| NodeError::Stopped)
    }

    /// What the node is, now.
    pub async fn info(&self) -> Result<NodeInfo, NodeError> {
        let (reply, answer) = oneshot::channel();
        self.requests.send(Request::Info(reply)).await.map_err(|_| NodeError::Stopped)?;
        answer.await.map_err(|_| NodeError::Stopped)
    }

    /// Stops the node after it has written everything.
    pub async fn shutdown(&self) {
        let (reply, answer) = oneshot::channel();
        if self.requests.send(Request::Shutdown(reply)).await.is_ok() {
            let _ = answer.await;
        }
    }
}
