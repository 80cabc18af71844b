//! The `Node`: an actor that owns the swarm, the engine and the store, behind a cloneable
//! [`NodeHandle`].
//!
//! The actor's loop takes, in this order of priority: requests from handles (bounded channel,
//! replies over oneshot), swarm events, and due timers. Every input goes to the engine; the
//! engine's outputs are then drained: changes are written to the store in one batch and
//! flushed *before* anything is acknowledged (a command's reply, a direct message's response),
//! messages are sent or published, timers are set, events are broadcast to the owner.

use crate::net::{self, Ack, Behaviour, BehaviourEvent, DirectRequest, NetConfig};
use crate::store::{Store, StoreError};
use futures::StreamExt;
use libp2p::request_response::{self, OutboundRequestId};
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, PeerId, StreamProtocol, Swarm, gossipsub, identify, kad, mdns};
use me2b_proto::engine::{
    Command, Config, Engine, Event, HandleError, Handled, Input, OutboxId, Output, Role, State, Timer,
};
use me2b_proto::envelope::MessageKind;
use me2b_proto::identity::{Keypair, PublicKey};
use me2b_proto::time::Timestamp;
use me2b_proto::vocab::Category;
use prometheus_client::registry::Registry;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::path::PathBuf;
use std::time::{Duration, SystemTime};
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::time::Instant;
use tracing::{debug, info, warn};

/// How many requests may wait for the actor.
const COMMAND_QUEUE: usize = 256;
/// How many events a slow subscriber may fall behind before it misses some.
const EVENT_BUFFER: usize = 1024;
/// Most gossip publications waiting for a subscribed peer.
const MAX_PENDING_PUBLISH: usize = 256;
/// How long a publication waits for a subscribed peer before it is dropped (and reported).
const PUBLISH_PATIENCE: Duration = Duration::from_secs(600);
/// How long a listener may take to come up at start.
const LISTEN_TIMEOUT: Duration = Duration::from_secs(10);
/// Invalid direct messages after which a peer is disconnected.
const MISBEHAVIOUR_LIMIT: u32 = 5;

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
    Build(#[from] net::BuildError),
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
    /// Bytes of me2b messages this node published on gossip (once per publication, before
    /// gossipsub fans them out) and sent on direct streams, since it started.
    pub payload_bytes_out: u64,
    /// Gossip messages received, first copies and duplicates.
    pub gossip: net::GossipCounts,
}

type Query = Box<dyn FnOnce(&Engine, &Store) + Send>;

enum Request {
    Command(Box<Command>, oneshot::Sender<Result<Handled, NodeError>>),
    Query(Query),
    Dial(Multiaddr, oneshot::Sender<Result<(), NodeError>>),
    Remember(PeerId, Multiaddr),
    Info(oneshot::Sender<NodeInfo>),
    Metrics(oneshot::Sender<String>),
    Shutdown(oneshot::Sender<()>),
}

/// A cloneable handle to a running node.
#[derive(Clone, Debug)]
pub struct NodeHandle {
    requests: mpsc::Sender<Request>,
    events: broadcast::Sender<NodeEvent>,
    peer_id: PeerId,
    public_key: PublicKey,
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

    /// A copy of the engine's state.
    pub async fn state(&self) -> Result<State, NodeError> {
        self.query(|engine, _| engine.state().clone()).await
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

/// The running node. Start it with [`Node::start`].
pub struct Node {
    engine: Engine,
    store: Store,
    swarm: Swarm<Behaviour>,
    role: Role,
    requests: mpsc::Receiver<Request>,
    events: broadcast::Sender<NodeEvent>,
    timers: BTreeSet<(Timestamp, Timer)>,
    in_flight: HashMap<(StreamProtocol, OutboundRequestId), OutboxId>,
    pending_publish: VecDeque<(String, Vec<u8>, Instant)>,
    subscribed: BTreeSet<String>,
    misbehaviour: BTreeMap<PeerId, u32>,
    gossip_limit: GossipLimit,
    /// Peers found through the DHT are dialled while fewer than this are connected.
    target_peers: usize,
    payload_bytes_out: u64,
    /// libp2p's own counters (gossipsub).
    registry: Registry,
}

/// Counts gossip per forwarding peer in fixed windows.
struct GossipLimit {
    per_peer: u32,
    window: Duration,
    counts: HashMap<PeerId, (Instant, u32)>,
}

/// Most peers the gossip limit tracks before it forgets finished windows.
const MAX_LIMITED_PEERS: usize = 4096;

impl GossipLimit {
    /// Counts one message from `peer`: `Ok` if within the limit, `Err(first)` if over it
    /// (`first` on the first message over it in this window).
    fn admit(&mut self, peer: PeerId) -> Result<(), bool> {
        let now = Instant::now();
        if self.counts.len() >= MAX_LIMITED_PEERS {
            let window = self.window;
            self.counts.retain(|_, (start, _)| now.duration_since(*start) < window);
        }
        let entry = self.counts.entry(peer).or_insert((now, 0));
        if now.duration_since(entry.0) >= self.window {
            *entry = (now, 0);
        }
        entry.1 = entry.1.saturating_add(1);
        if entry.1 <= self.per_peer { Ok(()) } else { Err(entry.1 == self.per_peer + 1) }
    }
}

fn now() -> Timestamp {
    let ms = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0);
    Timestamp::from_millis(u64::try_from(ms).unwrap_or(u64::MAX))
}

impl Node {
    /// Opens the store, restores the engine, starts listening and connecting, and runs the
    /// node on the current tokio runtime.
    pub async fn start(secret: [u8; 32], config: NodeConfig) -> Result<NodeHandle, NodeError> {
        let store = Store::open(&config.store_path, config.passphrase.as_deref(), config.small_store)?;
        let state = store.load()?;
        let key = net::libp2p_keypair(secret)?;
        let mut registry = net::gossip_registry();
        let mut swarm = match config.transport {
            Transport::Network => net::build_swarm(key, &config.net, &mut registry)?,
            Transport::Memory => net::build_memory_swarm(key, &config.net, &mut registry)?,
        };
        for address in &config.listen {
            swarm
                .listen_on(address.clone())
                .map_err(|e| NodeError::Listen { address: address.clone(), reason: e.to_string() })?;
        }
        // Return only once every listener is up, so the caller can read its addresses.
        let mut listening = 0;
        while listening < config.listen.len() {
            let event = tokio::time::timeout(LISTEN_TIMEOUT, swarm.select_next_some()).await.map_err(|_| {
                NodeError::Listen { address: config.listen[listening].clone(), reason: "no listener came up".into() }
            })?;
            match event {
                SwarmEvent::NewListenAddr { address, .. } => {
                    info!(%address, "listening");
                    listening += 1;
                }
                SwarmEvent::ListenerError { error, .. } => {
                    return Err(NodeError::Listen {
                        address: config.listen[listening].clone(),
                        reason: error.to_string(),
                    });
                }
                _ => {}
            }
        }
        let mut seed = [0u8; 32];
        crate::at_rest::random(&mut seed).map_err(StoreError::from)?;
        let mut engine_config = Config::new(config.role, seed);
        engine_config.negotiation_timeout = config.negotiation_timeout;
        engine_config.intent_window = config.intent_window;
        let keypair = Keypair::from_secret_bytes(&secret);
        let public_key = keypair.public();
        let engine = Engine::new(keypair, engine_config, state, now());
        let (request_tx, request_rx) = mpsc::channel(COMMAND_QUEUE);
        let (events, _) = broadcast::channel(EVENT_BUFFER);
        let peer_id = *swarm.local_peer_id();
        let mut node = Node {
            engine,
            store,
            swarm,
            role: config.role,
            requests: request_rx,
            events: events.clone(),
            timers: BTreeSet::new(),
            in_flight: HashMap::new(),
            pending_publish: VecDeque::new(),
            subscribed: BTreeSet::new(),
            misbehaviour: BTreeMap::new(),
            target_peers: config.net.target_peers,
            payload_bytes_out: 0,
            registry,
            gossip_limit: GossipLimit {
                per_peer: config.net.gossip_per_peer,
                window: config.net.gossip_window,
                counts: HashMap::new(),
            },
        };
        for address in config.bootstrap {
            node.dial(address)?;
        }
        node.sync_subscriptions();
        node.drain().await?;
        tokio::spawn(node.run());
        Ok(NodeHandle { requests: request_tx, events, peer_id, public_key })
    }

    async fn run(mut self) {
        let mut publish_retry = tokio::time::interval(Duration::from_secs(1));
        let mut shutdown_reply = None;
        loop {
            let next_timer = self.timers.first().map(|(at, _)| {
                let wait = at.saturating_since(now());
                Instant::now() + wait
            });
            let timer_due = async {
                match next_timer {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            let result = tokio::select! {
                biased;
                request = self.requests.recv() => match request {
                    Some(Request::Shutdown(reply)) => {
                        shutdown_reply = Some(reply);
                        break;
                    }
                    Some(request) => self.on_request(request).await,
                    None => break,
                },
                event = self.swarm.select_next_some() => self.on_swarm_event(event).await,
                () = timer_due => self.fire_timers().await,
                _ = publish_retry.tick() => {
                    self.retry_publications();
                    Ok(())
                }
            };
            if let Err(error) = result {
                warn!(%error, "node stopping: cannot persist state");
                break;
            }
        }
        let peer = *self.swarm.local_peer_id();
        // Close the store (releasing its lock) and the swarm before saying we are done, so
        // that the same data directory can be opened again at once.
        drop(self);
        info!(%peer, "node stopped");
        if let Some(reply) = shutdown_reply {
            let _ = reply.send(());
        }
    }

    async fn on_request(&mut self, request: Request) -> Result<(), StoreError> {
        match request {
            Request::Command(command, reply) => {
                let subscriptions_may_change = matches!(*command, Command::Subscribe(_) | Command::Unsubscribe(_));
                let result = self.engine.handle(Input::Command(*command), now());
                self.drain().await?;
                if subscriptions_may_change {
                    self.sync_subscriptions();
                }
                let _ = reply.send(result.map_err(NodeError::from));
            }
            Request::Query(query) => query(&self.engine, &self.store),
            Request::Dial(address, reply) => {
                let _ = reply.send(self.dial(address));
            }
            Request::Remember(peer, address) => {
                self.add_to_dht(&peer, address.clone());
                self.swarm.add_peer_address(peer, address);
            }
            Request::Info(reply) => {
                let _ = reply.send(NodeInfo {
                    peer_id: *self.swarm.local_peer_id(),
                    public_key: self.engine.public_key(),
                    role: self.role,
                    listen_addrs: self.swarm.listeners().cloned().collect(),
                    connected_peers: self.swarm.connected_peers().count(),
                    payload_bytes_out: self.payload_bytes_out,
                    gossip: net::GossipCounts::read(&self.registry),
                });
            }
            Request::Metrics(reply) => {
                let _ = reply.send(net::encode_metrics(&self.registry));
            }
            Request::Shutdown(_) => {}
        }
        Ok(())
    }

    fn add_to_dht(&mut self, peer: &PeerId, address: Multiaddr) {
        if let Some(kad) = self.swarm.behaviour_mut().kad.as_mut() {
            kad.add_address(peer, address);
        }
    }

    fn dial(&mut self, address: Multiaddr) -> Result<(), NodeError> {
        if let Some(libp2p::multiaddr::Protocol::P2p(peer)) = address.iter().last() {
            self.add_to_dht(&peer, address.clone());
            self.swarm.add_peer_address(peer, address.clone());
        }
        self.swarm.dial(address).map_err(|e| NodeError::Dial(e.to_string()))
    }

    /// Follows on gossip what the engine's subscriptions say: a person hears requests, a
    /// business hears intents.
    fn sync_subscriptions(&mut self) {
        let wanted: BTreeSet<String> = self
            .engine
            .state()
            .subscriptions
            .iter()
            .map(|category: &Category| match self.role {
                Role::Person => category.request_topic(),
                Role::Business => category.intent_topic(),
            })
            .collect();
        let gossipsub = &mut self.swarm.behaviour_mut().gossipsub;
        for topic in wanted.difference(&self.subscribed) {
            let topic = gossipsub::IdentTopic::new(topic.clone());
            if let Err(error) = gossipsub.subscribe(&topic) {
                warn!(%error, "cannot subscribe");
            }
            let _ = gossipsub.set_topic_params(topic, net::topic_score_params());
        }
        for topic in self.subscribed.difference(&wanted) {
            gossipsub.unsubscribe(&gossipsub::IdentTopic::new(topic.clone()));
        }
        self.subscribed = wanted;
    }

    async fn fire_timers(&mut self) -> Result<(), StoreError> {
        let now = now();
        while let Some(&(at, timer)) = self.timers.first() {
            if at > now {
                break;
            }
            self.timers.pop_first();
            let _ = self.engine.handle(Input::Timer(timer), now);
            self.drain().await?;
        }
        Ok(())
    }

    /// Carries out the engine's outputs: persist first, then act.
    async fn drain(&mut self) -> Result<(), StoreError> {
        let mut changes = Vec::new();
        let mut actions = Vec::new();
        while let Some(output) = self.engine.poll() {
            match output {
                Output::Persist(change) => changes.push(change),
                other => actions.push(other),
            }
        }
        self.store.apply(self.engine.state(), &changes).await?;
        for action in actions {
            match action {
                Output::Send { to, kind, bytes, delivery } => self.send(to, kind, bytes, delivery),
                Output::Publish { topic, bytes } => self.publish(topic, bytes, Instant::now()),
                Output::Event(event) => {
                    let _ = self.events.send(NodeEvent::Engine(event));
                }
                Output::SetTimer { at, timer } => {
                    self.timers.insert((at, timer));
                }
                Output::Persist(_) => {}
            }
        }
        Ok(())
    }

    fn send(&mut self, to: PublicKey, kind: MessageKind, bytes: Vec<u8>, delivery: Option<OutboxId>) {
        let Some(peer) = net::peer_id(&to) else {
            warn!("cannot address a peer key");
            return;
        };
        // The engine re-sends what waits for a peer when the peer connects, which is often the
        // connection this very message opened: an attempt under way is not doubled, since it
        // reports back delivered or undelivered either way.
        if let Some(id) = delivery
            && self.in_flight.values().any(|pending| *pending == id)
        {
            return;
        }
        if !self.swarm.is_connected(&peer)
            && let Some(kad) = self.swarm.behaviour_mut().kad.as_mut()
        {
            kad.get_closest_peers(peer);
        }
        self.payload_bytes_out += bytes.len() as u64;
        let request_id = self.swarm.behaviour_mut().direct(kind).send_request(&peer, DirectRequest { kind, bytes });
        if let Some(delivery) = delivery {
            self.in_flight.insert((net::protocol_for(kind), request_id), delivery);
        }
        debug!(%peer, ?kind, "direct message sent");
    }

    fn publish(&mut self, topic: String, bytes: Vec<u8>, since: Instant) {
        let gossip_topic = gossipsub::IdentTopic::new(topic.clone());
        let size = bytes.len() as u64;
        match self.swarm.behaviour_mut().gossipsub.publish(gossip_topic, bytes.clone()) {
            Ok(_) => {
                self.payload_bytes_out += size;
                let _ = self.events.send(NodeEvent::Published { topic: topic.clone() });
                debug!(%topic, "published");
            }
            Err(gossipsub::PublishError::NoPeersSubscribedToTopic | gossipsub::PublishError::AllQueuesFull(_)) => {
                if self.pending_publish.len() >= MAX_PENDING_PUBLISH
                    && let Some((dropped, _, _)) = self.pending_publish.pop_front()
                {
                    let _ = self.events.send(NodeEvent::PublishDropped { topic: dropped });
                }
                self.pending_publish.push_back((topic, bytes, since));
            }
            Err(gossipsub::PublishError::Duplicate) => {}
            Err(error) => {
                warn!(%error, %topic, "publish failed");
                let _ = self.events.send(NodeEvent::PublishDropped { topic });
            }
        }
    }

    fn retry_publications(&mut self) {
        let waiting: Vec<_> = self.pending_publish.drain(..).collect();
        for (topic, bytes, since) in waiting {
            if since.elapsed() > PUBLISH_PATIENCE {
                let _ = self.events.send(NodeEvent::PublishDropped { topic });
            } else {
                self.publish(topic, bytes, since);
            }
        }
    }

    fn misbehaved(&mut self, peer: PeerId, reason: String) {
        let count = self.misbehaviour.entry(peer).or_default();
        *count += 1;
        let score = -10.0 * f64::from(*count);
        let limit_reached = *count >= MISBEHAVIOUR_LIMIT;
        self.swarm.behaviour_mut().gossipsub.set_application_score(&peer, score);
        warn!(%peer, %reason, "peer misbehaved");
        let _ = self.events.send(NodeEvent::Misbehaved { peer, reason });
        if limit_reached {
            let _ = self.swarm.disconnect_peer_id(peer);
        }
    }

    async fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) -> Result<(), StoreError> {
        match event {
            SwarmEvent::NewListenAddr { address, .. } => info!(%address, "listening"),
            SwarmEvent::ConnectionEstablished { peer_id, .. } => {
                let _ = self.events.send(NodeEvent::Connected { peer: peer_id });
                if let Some(key) = net::public_key(&peer_id) {
                    let _ = self.engine.handle(Input::PeerConnected(key), now());
                    self.drain().await?;
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Identify(identify::Event::Received { peer_id, info, .. }))
                if info.protocol_version == net::PROTOCOL_VERSION =>
            {
                for address in info.listen_addrs {
                    self.add_to_dht(&peer_id, address.clone());
                    self.swarm.add_peer_address(peer_id, address);
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Mdns(mdns::Event::Discovered(found))) => {
                for (peer, address) in found {
                    self.add_to_dht(&peer, address.clone());
                    self.swarm.add_peer_address(peer, address.clone());
                    let _ = self.swarm.dial(address);
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            })) => {
                let topic = message.topic.as_str();
                let kind = if topic.starts_with("me2b/v1/requests/") {
                    Some(MessageKind::DataRequest)
                } else if topic.starts_with("me2b/v1/intents/") {
                    Some(MessageKind::Intent)
                } else {
                    None
                };
                let admitted = self.gossip_limit.admit(propagation_source);
                if let Err(first) = admitted
                    && first
                {
                    warn!(peer = %propagation_source, "gossip rate limit reached");
                    let _ = self.events.send(NodeEvent::RateLimited { peer: propagation_source });
                }
                let acceptance = match kind {
                    _ if admitted.is_err() => gossipsub::MessageAcceptance::Ignore,
                    None => gossipsub::MessageAcceptance::Reject,
                    Some(kind) => {
                        let result = self.engine.handle(Input::Gossip { kind, bytes: message.data }, now());
                        self.drain().await?;
                        match result {
                            Ok(_) => gossipsub::MessageAcceptance::Accept,
                            Err(HandleError::Rejected(rejection)) if rejection.penalise() => {
                                self.misbehaved(propagation_source, rejection.to_string());
                                gossipsub::MessageAcceptance::Reject
                            }
                            Err(_) => gossipsub::MessageAcceptance::Ignore,
                        }
                    }
                };
                self.swarm.behaviour_mut().gossipsub.report_message_validation_result(
                    &message_id,
                    &propagation_source,
                    acceptance,
                );
            }
            SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(gossipsub::Event::Subscribed { peer_id, topic })) => {
                let _ = self.events.send(NodeEvent::PeerSubscribed { peer: peer_id, topic: topic.into_string() });
                self.retry_publications();
                // A peer that just subscribed may have missed what was published since it
                // connected: hand it the live requests or intents again (deduplicated there).
                if let Some(key) = net::public_key(&peer_id) {
                    let _ = self.engine.handle(Input::PeerConnected(key), now());
                    self.drain().await?;
                }
            }
            SwarmEvent::OutgoingConnectionError { peer_id, error, .. } => {
                debug!(?peer_id, %error, "dial failed");
            }
            SwarmEvent::IncomingConnectionError { error, .. } => {
                debug!(%error, "incoming connection failed");
            }
            SwarmEvent::Behaviour(BehaviourEvent::Negotiate(event)) => self.on_direct(net::NEGOTIATE, event).await?,
            SwarmEvent::Behaviour(BehaviourEvent::Transfer(event)) => self.on_direct(net::TRANSFER, event).await?,
            SwarmEvent::Behaviour(BehaviourEvent::Revoke(event)) => self.on_direct(net::REVOKE, event).await?,
            SwarmEvent::Behaviour(BehaviourEvent::Offer(event)) => self.on_direct(net::OFFER, event).await?,
            SwarmEvent::Behaviour(BehaviourEvent::Announce(event)) => self.on_direct(net::ANNOUNCE, event).await?,
            SwarmEvent::Behaviour(BehaviourEvent::Kad(kad::Event::RoutingUpdated { peer, .. })) => {
                // A peer found through the DHT: connect while the node has too few, so that
                // gossip meshes form beyond the bootstrap peers.
                // Dials under way count, or a burst of routing updates would dial them all.
                let dialling = self.swarm.network_info().connection_counters().num_pending_outgoing() as usize;
                let wanted = self.swarm.connected_peers().count() + dialling < self.target_peers;
                if wanted && !self.swarm.is_connected(&peer) && peer != *self.swarm.local_peer_id() {
                    let _ = self.swarm.dial(peer);
                }
            }
            _ => {}
        }
        Ok(())
    }

    async fn on_direct(
        &mut self,
        protocol: StreamProtocol,
        event: request_response::Event<DirectRequest, Ack>,
    ) -> Result<(), StoreError> {
        match event {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Request { request, channel, .. } => {
                    let kind = request.kind;
                    let ack = match net::public_key(&peer) {
                        None => Ack::Rejected,
                        Some(from) => {
                            let result = self
                                .engine
                                .handle(Input::Direct { from, kind: request.kind, bytes: request.bytes }, now());
                            // Persist before acknowledging.
                            self.drain().await?;
                            match result {
                                Ok(_) => Ack::Accepted,
                                Err(HandleError::Rejected(rejection)) if rejection.penalise() => {
                                    self.misbehaved(peer, rejection.to_string());
                                    Ack::Rejected
                                }
                                Err(error) => {
                                    debug!(%peer, %error, "direct message ignored");
                                    Ack::Ignored
                                }
                            }
                        }
                    };
                    let _ = self.swarm.behaviour_mut().direct(kind).send_response(channel, ack);
                }
                request_response::Message::Response { request_id, response } => {
                    if response == Ack::Rejected {
                        warn!(%peer, "peer rejected our message");
                    }
                    if let Some(delivery) = self.in_flight.remove(&(protocol.clone(), request_id)) {
                        let _ = self.engine.handle(Input::Delivered(delivery), now());
                        self.drain().await?;
                        let _ = self.events.send(NodeEvent::Delivered { peer });
                    }
                }
            },
            request_response::Event::OutboundFailure { request_id, peer, error, .. } => {
                debug!(%peer, %error, "direct message not delivered");
                if let Some(delivery) = self.in_flight.remove(&(protocol, request_id)) {
                    let _ = self.engine.handle(Input::Undelivered(delivery), now());
                    self.drain().await?;
                }
            }
            request_response::Event::InboundFailure { peer, error, .. } => {
                debug!(%peer, %error, "inbound direct message failed");
            }
            request_response::Event::ResponseSent { .. } => {}
        }
        Ok(())
    }
}
