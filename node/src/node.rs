//! The `Node`: an actor that owns the swarm, the engine and the store; its owner talks to it
//! through a [`NodeHandle`] (see [`crate::handle`]).
//!
//! The actor's loop takes, in this order of priority: requests from handles (bounded channel,
//! replies over oneshot), swarm events, and due timers. Every input, whatever its source,
//! takes one path, [`Node::feed`]: the engine handles it and its outputs join the open batch.
//!
//! **Group commit.** After the first input of a turn, the loop takes whatever else is ready at
//! once (up to [`BATCH`] inputs) and feeds it too; then [`Node::commit`] writes every change of
//! the batch to the store atomically with one flush, and only then lets anything leave:
//! messages are sent or published, timers set, events broadcast, and the batch's
//! acknowledgements ([`Ack`]: a command's reply, a direct message's [`Answer`]) released. So
//! one fsync covers every input that arrived while the last one ran, and "acknowledged means
//! durable" holds exactly: nothing an input caused is seen outside the node before the flush
//! that holds it. Two kinds of batch, which a crash may lose without loss to anyone, are not
//! written on their own but with the next write, the next tick's (within a second) or the
//! stop's, as long as nothing of theirs leaves the node: answered messages' removals from the
//! outbox (the outbox sends such a message again and the peer answers "stale"), and what
//! gossip brought (a request or intent heard: a crash makes it unheard, and nobody was told it
//! arrived). Their events go at once: the owner hears of a request as soon as it arrived. A
//! third kind is written with the next write though something of it leaves: a batch whose
//! messages all may leave before the write (a business's signature answering a proposal,
//! [`Output::Send::early`]) and which answers only peers. Its answers are acknowledgements,
//! so they wait, for that next write (which the person's countersignature brings a round
//! trip later, or the tick) rather than for one of their own: an agreement costs a business
//! one flush. A read ([`Request::Query`]) writes the open batch first, so it never shows state
//! a crash could take back. A gossip validation result is not an acknowledgement: it only tells
//! gossipsub whether someone else's message may travel on, promises nothing about this node's
//! state, and goes at once, so that a hop costs no flush.
//!
//! **The ledger's signature.** The engine writes a batch's ledger entries unsigned; once the
//! batch is on disk and out, and nothing else is ready, the node has it sign the last one
//! ([`Engine::seal_ledger`]), which through the hash chain vouches for them all: at most one
//! signature per batch, made while the messages travel rather than before they leave. It rides on the next write, however late
//! (the tick does not force it out); a read writes it first; a stop writes it; a start signs an
//! end a crash left unsigned.
//!
//! What a peer's message earned is decided in one place, [`Node::verdict`]. Swarm
//! construction and the protocols' plumbing live in [`crate::net`].

use crate::clock::now;
use crate::gossip;
use crate::handle::{NodeConfig, NodeError, NodeEvent, NodeHandle, NodeInfo, Request, Tapped, Transport};
use crate::net::{self, Answer, Behaviour, BehaviourEvent, DirectEvent, DirectRequest};
use crate::personas::Personas;
use crate::store::{Store, StoreError};
use futures::{FutureExt, StreamExt};
use libp2p::request_response::{self, OutboundRequestId, ResponseChannel};
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, PeerId, StreamProtocol, Swarm, gossipsub, identify, kad, mdns};
use me2b_proto::engine::{Change, Command, Config, Engine, HandleError, Handled, Input, OutboxId, Output, Role, Timer};
use me2b_proto::envelope::MessageKind;
use me2b_proto::identity::{Keypair, Persona, PublicKey};
use me2b_proto::time::Timestamp;
use me2b_proto::vocab::Topic;
use prometheus_client::registry::Registry;
use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::time::Instant;
use tracing::{debug, info, warn};

/// How many requests may wait for the actor.
const COMMAND_QUEUE: usize = 256;
/// How many events a slow subscriber may fall behind before it misses some.
const EVENT_BUFFER: usize = 1024;

/// How long a business waits before putting its profile in the DHT again, until one put worked.
const PROFILE_RETRY: Duration = Duration::from_secs(10);
/// How often, at most, one business's profile is looked up.
const PROFILE_LOOKUP_EVERY: Duration = Duration::from_secs(60);
/// Most businesses whose last lookup is remembered.
const MAX_PROFILE_LOOKUPS: usize = 1024;

/// Most inputs one commit covers: bounds the batch's memory and the wait of its first input.
pub const BATCH: usize = 256;

/// Most changes a batch that needs no flush carries to the next write (see [`Node::commit`]).
const CARRIED: usize = 1024;
/// Times a direct message goes again at once when the connection under it closed while
/// another to the peer is up: as many as a peer's connections by default
/// ([`net::NetConfig::max_connections_per_peer`]), since each try needs a connection to close.
const MAX_RESENDS: u32 = 4;
/// Most peers remembered as dialled by choice.
const MAX_CHOSEN: usize = 4096;

/// What the engine answered to one input.
type Outcome = Result<Handled, HandleError>;

/// An acknowledgement that waits for its batch's flush.
enum Ack {
    /// A command's outcome, to its caller.
    Reply(oneshot::Sender<Result<Handled, NodeError>>, Outcome),
    /// A direct message's answer, to its sender, on the swarm it came in on.
    Respond(Route, MessageKind, ResponseChannel<Answer>, Answer),
}

/// The open batch: what its inputs changed, what they want done, what they tell the node's
/// owner (engine and node events, in the order they happened), and who waits for it.
#[derive(Default)]
struct Pending {
    inputs: usize,
    changes: Vec<Change>,
    /// Whether `changes` must be written now, even if nothing of the batch leaves the node
    /// (see [`Node::commit`]): set by an input other than gossip that changed more than the
    /// outbox's answered messages, by the tick, and by a read.
    must_write: bool,
    actions: Vec<Output>,
    events: Vec<NodeEvent>,
    acks: Vec<Ack>,
    /// Acknowledgements of earlier batches that were not written on their own (see
    /// [`Node::commit`]): they go with the next write, before `acks`.
    waiting: Vec<Ack>,
}

/// Which swarm: the node's own (`None`), or the swarm of the persona with this key (a
/// person's, see [`crate::personas`]).
type Route = Option<PublicKey>;

/// The outbox's deliveries sent and not yet answered, by the request that carries each (to
/// match the answer) and by delivery (so that a delivery under way is not sent twice, looked
/// up on every send: a business has as many under way as people it is agreeing with).
#[derive(Default)]
struct InFlight {
    by_request: HashMap<(Route, StreamProtocol, OutboundRequestId), OutboxId>,
    deliveries: HashSet<OutboxId>,
}

impl InFlight {
    fn holds(&self, delivery: OutboxId) -> bool {
        self.deliveries.contains(&delivery)
    }

    fn insert(&mut self, request: (Route, StreamProtocol, OutboundRequestId), delivery: OutboxId) {
        self.deliveries.insert(delivery);
        self.by_request.insert(request, delivery);
    }

    fn remove(&mut self, request: &(Route, StreamProtocol, OutboundRequestId)) -> Option<OutboxId> {
        let delivery = self.by_request.remove(request)?;
        self.deliveries.remove(&delivery);
        Some(delivery)
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
    in_flight: InFlight,
    /// What the node's swarm brought while a batch was written (see [`Node::write_sending`]):
    /// handled before anything newer from the swarm, at most [`BATCH`].
    stashed: VecDeque<SwarmEvent<BehaviourEvent>>,
    /// Deliveries sent again at once after their connection closed under them, and how many
    /// times (at most [`MAX_RESENDS`] each; never more entries than are in flight).
    resent: HashMap<OutboxId, u32>,
    /// A person's persona swarms (`None` for a business, or with pairwise identities off).
    personas: Option<Personas>,
    /// When the personas next check in with the businesses that may contact them.
    next_check_in: Instant,
    check_in: Duration,
    /// When each connected peer's first connection was established, and whether this node
    /// dialled one of its connections (for trimming).
    connected_at: HashMap<PeerId, (Instant, bool)>,
    /// Peers this node dialled by its own choice (its bootstrap, the API, mDNS, a peer the
    /// DHT found for gossip, a direct message), as opposed to those Kademlia dialled for a
    /// walk (at most [`MAX_CHOSEN`]; a peer leaves when its last connection closes).
    chosen: HashSet<PeerId>,
    /// A DHT client's first walk, held back to its moment ([`NetConfig::dht_boot_spread`]).
    first_walk: net::FirstWalk,
    trim_above: usize,
    trim_to: usize,
    /// Connections younger than this are never trimmed.
    trim_grace: Duration,
    /// Where copies of what peers send go (tests; see [`NodeConfig::tap`]).
    tap: Option<mpsc::Sender<Tapped>>,
    /// A business's profile is in the DHT (a put reached a peer); until then it is put again
    /// every [`PROFILE_RETRY`].
    profile_published: bool,
    profile_put_at: Option<Instant>,
    /// A put of the profile is under way.
    profile_put_running: bool,
    /// When each business's profile was last looked up in the DHT (at most once a minute each).
    profile_lookups: HashMap<PublicKey, Instant>,
    waiting: gossip::Waiting,
    subscribed: BTreeSet<Topic>,
    gossip_limit: gossip::Limit,
    direct_limit: gossip::Limit,
    /// Peers found through the DHT are dialled while fewer than this are connected.
    target_peers: usize,
    payload_bytes_out: u64,
    /// libp2p's own counters (gossipsub).
    registry: Registry,
    /// The open batch, written and released by [`Node::commit`].
    pending: Pending,
    /// Inputs committed so far (see [`NodeInfo::committed_inputs`]).
    committed_inputs: u64,
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
        net::listen(&mut swarm, &config.listen)
            .await
            .map_err(|(address, reason)| NodeError::Listen { address, reason })?;
        let mut seed = [0u8; 32];
        crate::at_rest::random(&mut seed).map_err(StoreError::from)?;
        let mut engine_config = Config::new(config.role, seed);
        engine_config.negotiation_timeout = config.negotiation_timeout;
        engine_config.intent_window = config.intent_window;
        engine_config.owner_window = config.owner_window;
        engine_config.confirm_deletions_downstream = config.confirm_deletions_downstream;
        engine_config.pairwise_identities = config.pairwise_identities;
        // Where people's personas dial this business: the addresses it listens on.
        engine_config.profile = config.profile.clone().map(|profile| {
            let peer = *swarm.local_peer_id();
            let addresses = swarm
                .listeners()
                .take(me2b_proto::profile::MAX_PROFILE_ADDRESSES)
                .map(|address| address.clone().with(libp2p::multiaddr::Protocol::P2p(peer)).to_string())
                .collect();
            me2b_proto::profile::BusinessProfile { addresses, ..profile }
        });
        let keypair = Keypair::from_secret_bytes(&secret);
        let public_key = keypair.public();
        let mut engine = Engine::new(keypair, engine_config, state, now());
        // A crash between a write and the ledger's seal after it left the last entries
        // unsigned: sign them now.
        if let Some((sequence, bytes)) = store.last_ledger_entry()? {
            engine.seal_tail(sequence, bytes);
        }
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
            in_flight: InFlight::default(),
            stashed: VecDeque::new(),
            resent: HashMap::new(),
            personas: (config.role == Role::Person && config.pairwise_identities)
                .then(|| Personas::new(config.net.clone(), matches!(config.transport, Transport::Memory))),
            next_check_in: Instant::now() + config.net.check_in,
            check_in: config.net.check_in,
            connected_at: HashMap::new(),
            chosen: HashSet::new(),
            first_walk: net::FirstWalk::new(
                &peer_id,
                config.net.dht_boot_spread,
                config.net.dht_server,
                std::time::Instant::now(),
            ),
            trim_above: config.net.trim_above,
            trim_to: config.net.trim_to,
            trim_grace: config.net.trim_grace,
            tap: config.tap.clone(),
            profile_published: false,
            profile_put_at: None,
            profile_put_running: false,
            profile_lookups: HashMap::new(),
            waiting: gossip::Waiting::default(),
            subscribed: BTreeSet::new(),
            target_peers: config.net.target_peers,
            payload_bytes_out: 0,
            registry,
            gossip_limit: gossip::Limit::new(config.net.gossip_per_peer, config.net.gossip_window),
            direct_limit: gossip::Limit::new(config.net.direct_per_peer, config.net.gossip_window),
            pending: Pending::default(),
            committed_inputs: 0,
        };
        for address in config.bootstrap {
            node.dial(address)?;
        }
        node.sync_subscriptions();
        node.publish_profile();
        node.collect();
        node.commit().await?;
        tokio::spawn(node.run());
        Ok(NodeHandle { requests: request_tx, events, peer_id, public_key })
    }

    async fn run(mut self) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let mut shutdown_reply = None;
        loop {
            let next_timer = self.timers.first().map(|(at, _)| Instant::now() + at.saturating_since(now()));
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
                // (Popped here, not in the branch's future: select! makes every enabled branch's
                // future before it picks one.)
                () = std::future::ready(()), if !self.stashed.is_empty() => match self.stashed.pop_front() {
                    Some(event) => self.on_swarm_event(event).await,
                    None => Ok(()),
                },
                event = self.swarm.select_next_some(), if self.stashed.is_empty() => self.on_swarm_event(event).await,
                (persona, event) = next_persona_event(&mut self.personas) => self.on_persona_event(persona, event).await,
                () = timer_due => self.fire_timers().await,
                _ = tick.tick() => {
                    // What waited for a write (see `Node::commit`) waits no longer than this;
                    // the ledger's seal alone waits for the next write, however late: forced
                    // out here, it cost every node a write after each burst of work (a
                    // thousand people in one process: the business's agreements/s fell below
                    // those of the code without the seal).
                    let waiting = |change: &Change| !matches!(change, Change::LedgerSeal { .. });
                    self.pending.must_write |= self.pending.changes.iter().any(waiting);
                    self.retry_publications();
                    self.review_scores();
                    self.check_in();
                    self.publish_profile();
                    self.trim_connections();
                    self.close_walks();
                    let alone = self.first_walk.age(std::time::Instant::now()) >= self.trim_grace && self.alone();
                    self.walk_now(alone);
                    Ok(())
                }
                // The ledger's entries went to disk unsigned. Once nothing else is ready (the
                // swarm, polled above, has taken the messages and answers they acknowledge),
                // one signature covers them all, off the path of those messages; under load
                // it covers every entry written since. It rides on the next write like the
                // changes that wait (a crash before that leaves the entries unsigned, and the
                // next start signs them: see `Node::start`).
                () = std::future::ready(()), if self.engine.has_unsealed() => {
                    self.engine.seal_ledger();
                    self.collect();
                    Ok(())
                }
            };
            // The group: whatever else is ready now joins this turn's batch.
            let result = match result {
                Ok(()) => self.take_ready(&mut shutdown_reply).await,
                error => error,
            };
            let result = match result {
                Ok(()) => self.commit().await,
                error => error,
            };
            if let Err(error) = result {
                warn!(%error, "node stopping: cannot persist state");
                break;
            }
            if shutdown_reply.is_some() {
                break;
            }
        }
        self.engine.seal_ledger();
        self.collect();
        let carried = std::mem::take(&mut self.pending.changes);
        if let Err(error) = self.store.apply(self.engine.state(), &carried).await {
            warn!(%error, "cannot write the store while stopping");
        }
        if let Err(error) = self.store.flush().await {
            warn!(%error, "cannot flush the store while stopping");
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

    /// Feeds what else is ready at once (handle requests and swarm events, taken in turn),
    /// until the batch holds [`BATCH`] inputs or nothing is ready. A shutdown ends the batch;
    /// it is committed before the node stops.
    async fn take_ready(&mut self, shutdown_reply: &mut Option<oneshot::Sender<()>>) -> Result<(), StoreError> {
        while self.pending.inputs < BATCH {
            let mut took = false;
            if let Some(Some(request)) = self.requests.recv().now_or_never() {
                took = true;
                if let Request::Shutdown(reply) = request {
                    *shutdown_reply = Some(reply);
                    return Ok(());
                }
                self.on_request(request).await?;
            }
            if let Some(event) = self.stashed.pop_front().or_else(|| self.swarm.select_next_some().now_or_never()) {
                took = true;
                self.on_swarm_event(event).await?;
            }
            if let Some((persona, event)) = self.personas.as_mut().and_then(Personas::ready) {
                took = true;
                self.on_persona_event(persona, event).await?;
            }
            if !took {
                break;
            }
        }
        Ok(())
    }

    /// The one event path: the engine handles `input` and its outputs join the open batch.
    /// Whatever acknowledges the input joins it too ([`Ack`]), so an acknowledgement always
    /// follows durable state. The node's own inputs (timers, deliveries, connections) need no
    /// answer and drop the outcome.
    fn feed(&mut self, input: Input) -> Outcome {
        let heard = matches!(input, Input::Gossip { .. });
        let from = self.pending.changes.len();
        let outcome = self.engine.handle(input, now());
        self.pending.inputs += 1;
        self.collect();
        if !heard {
            let state = self.engine.state();
            self.pending.must_write |=
                self.pending.changes[from..].iter().any(|change| Store::must_flush(state, change));
        }
        outcome
    }

    /// Tells the node's owner `event` with the open batch, so that events keep the order of
    /// what caused them.
    fn announce(&mut self, event: NodeEvent) {
        self.pending.events.push(event);
    }

    /// Moves the engine's outputs into the open batch.
    fn collect(&mut self) {
        while let Some(output) = self.engine.poll() {
            match output {
                Output::Persist(change) => self.pending.changes.push(change),
                Output::Event(event) => self.pending.events.push(NodeEvent::Engine(event)),
                other => self.pending.actions.push(other),
            }
        }
    }

    /// Writes the open batch atomically with one flush, then carries out its outputs and
    /// releases its acknowledgements, in the order the inputs came. The one message that need
    /// not wait, a business's first signature on an agreement, leaves as the write starts
    /// ([`Node::write_sending`]); a batch in which nothing else leaves is written with the next
    /// one ([`Node::defers`]).
    async fn commit(&mut self) -> Result<(), StoreError> {
        let mut pending = std::mem::take(&mut self.pending);
        // A batch may wait for the node's next write when losing it to a crash loses nothing
        // anyone holds the node to: nothing of it leaves the node (no acknowledgement, message
        // or publication), and what it changed is either an answered message's removal from
        // the outbox (see `Store::must_flush`; the outbox expects to send it again) or what
        // gossip brought (a request or intent heard, which a crash makes unheard: nobody was
        // told it arrived; the forwarding peers got their validation before any write). Its
        // changes ride on the next write, or the tick's (within a second), or the stop's.
        // That spares a trip to the disk to every answer and every message heard.
        let leaves = !pending.acks.is_empty()
            || pending.actions.iter().any(|action| matches!(action, Output::Send { .. } | Output::Publish { .. }));
        let state = self.engine.state();
        if !pending.must_write && !leaves && pending.changes.len() < CARRIED {
            self.pending.changes = std::mem::take(&mut pending.changes);
            self.pending.waiting = std::mem::take(&mut pending.waiting);
        } else if Self::defers(&pending) {
            // What leaves of it leaves early (a business's signature answering a proposal),
            // and it acknowledges only peers' messages: its acknowledgements wait for the
            // next write instead of a write of their own, which comes with the person's
            // countersignature (or the tick). Acknowledged still means durable; the early
            // message was allowed to leave before the write all the same. Its events go at
            // once, as a carried batch's do (the owner hears of nothing a peer did not already
            // hear: the signature left).
            self.pending.changes = std::mem::take(&mut pending.changes);
            self.pending.waiting = std::mem::take(&mut pending.waiting);
            self.pending.waiting.append(&mut pending.acks);
        } else if pending.actions.iter().any(|action| matches!(action, Output::Send { early: true, .. })) {
            let (early, actions) = std::mem::take(&mut pending.actions)
                .into_iter()
                .partition(|action| matches!(action, Output::Send { early: true, .. }));
            pending.actions = actions;
            self.write_sending(&pending.changes, early).await?;
        } else {
            // (Nothing waits without changes of its own in the batch: see `Node::defers`.)
            if !pending.changes.is_empty() {
                self.store.apply(state, &pending.changes).await?;
            }
        }
        // The topics follow the subscriptions and (for a person) the undecided intents.
        if pending.changes.iter().any(|change| matches!(change, Change::Settings | Change::Intent(_))) {
            self.sync_subscriptions();
        }
        self.committed_inputs += pending.inputs as u64;
        for action in pending.actions {
            self.carry_out(action);
        }
        for event in pending.events {
            let _ = self.events.send(event);
        }
        for ack in pending.waiting.into_iter().chain(pending.acks) {
            match ack {
                Ack::Reply(reply, outcome) => {
                    let _ = reply.send(outcome.map_err(NodeError::from));
                }
                Ack::Respond(route, kind, channel, answer) => self.respond(route, kind, channel, answer),
            }
        }
        Ok(())
    }

    /// Whether `batch` may leave its write to the next one: it has changes, every message it
    /// sends may leave before they are written (`early`) and it publishes nothing, it answers
    /// only peers (a command's caller waits for its write), and what waits stays bounded.
    fn defers(batch: &Pending) -> bool {
        !batch.changes.is_empty()
            && batch.changes.len() < CARRIED
            && batch.waiting.len() + batch.acks.len() < BATCH
            && batch.actions.iter().any(|action| matches!(action, Output::Send { early: true, .. }))
            && batch
                .actions
                .iter()
                .all(|action| matches!(action, Output::Send { early: true, .. } | Output::SetTimer { .. }))
            && batch.acks.iter().all(|ack| matches!(ack, Ack::Respond(..)))
    }

    /// Carries out one of the engine's actions (events and changes went with the batch).
    fn carry_out(&mut self, action: Output) {
        match action {
            Output::Send { from, to, kind, bytes, delivery, .. } => self.send(from, to, kind, bytes, delivery),
            Output::Publish { topic, bytes } => self.publish(topic, bytes, Instant::now()),
            Output::SetTimer { at, timer } => {
                self.timers.insert((at, timer));
            }
            Output::Event(_) | Output::Persist(_) => {}
        }
    }

    /// Sends `early` (messages that need not wait for the write: a business's first signature,
    /// see [`Output::Send`]) and writes `changes`, polling the swarm meanwhile: a message
    /// leaves only once the swarm hands it to its connection, so without this it would wait
    /// for the write all the same. What the swarm brings during the write is stashed (at most
    /// [`BATCH`] events; past that the swarm waits too) and handled first after it, in order.
    async fn write_sending(&mut self, changes: &[Change], early: Vec<Output>) -> Result<(), StoreError> {
        for action in early {
            self.carry_out(action);
        }
        let write = self.store.apply(self.engine.state(), changes);
        tokio::pin!(write);
        loop {
            tokio::select! {
                biased;
                written = &mut write => return written,
                event = self.swarm.select_next_some(), if self.stashed.len() < BATCH => {
                    self.stashed.push_back(event);
                }
            }
        }
    }

    /// What a peer's message earned ([`Answer::of`]): accepted; ignored (late, duplicate, not
    /// for this node: no fault of the peer's); or rejected, and the peer penalised.
    fn verdict(&mut self, peer: PeerId, outcome: &Outcome) -> Answer {
        let answer = Answer::of(outcome);
        match (&answer, outcome) {
            (Answer::Rejected(reason), _) => self.misbehaved(peer, reason.clone()),
            (Answer::Ignored(_), Err(error)) => debug!(%peer, %error, "message ignored"),
            _ => {}
        }
        answer
    }

    /// Feeds a peer's message and returns its verdict.
    fn feed_from(&mut self, peer: PeerId, input: Input) -> Answer {
        let outcome = self.feed(input);
        self.verdict(peer, &outcome)
    }

    async fn on_request(&mut self, request: Request) -> Result<(), StoreError> {
        match request {
            Request::Command(command, reply) => {
                let outcome = self.feed(Input::Command(*command));
                self.pending.acks.push(Ack::Reply(reply, outcome));
            }
            Request::Query(query) => {
                // A read shows nothing a crash could take back, and a ledger whose end is
                // signed: what waits for a write goes now, the ledger sealed.
                self.engine.seal_ledger();
                self.collect();
                self.pending.must_write |= !self.pending.changes.is_empty();
                self.commit().await?;
                query(&self.engine, &self.store);
            }
            Request::Dial(address, reply) => {
                let _ = reply.send(self.dial(address));
            }
            Request::Remember(peer, address) => {
                self.learn_address(peer, address);
            }
            Request::LookUpProfile(business) => {
                self.walk_now(true);
                if let Some(kad) = self.swarm.behaviour_mut().kad.as_mut() {
                    kad.get_record(net::profile_key(&business));
                }
            }
            Request::Info(reply) => {
                let info = self.info();
                let _ = reply.send(info);
            }
            Request::Metrics(reply) => {
                let _ = reply.send(net::encode_metrics(&self.registry));
            }
            Request::Shutdown(_) => {}
        }
        Ok(())
    }

    fn info(&mut self) -> NodeInfo {
        let dht_routing =
            self.swarm.behaviour_mut().kad.as_mut().map_or(0, |kad| kad.kbuckets().map(|b| b.num_entries()).sum());
        NodeInfo {
            dht_routing,
            dht_waiting: self.first_walk.waiting(),
            peer_id: *self.swarm.local_peer_id(),
            public_key: self.engine.public_key(),
            role: self.role,
            listen_addrs: self.swarm.listeners().cloned().collect(),
            connected_peers: self.swarm.connected_peers().count(),
            peers: self.swarm.connected_peers().copied().collect(),
            payload_bytes_out: self.payload_bytes_out,
            commits: self.store.flushes(),
            committed_inputs: self.committed_inputs,
            gossip: net::GossipCounts::read(&self.registry),
        }
    }

    /// Remembers where `peer` can be reached: in the swarm's address book, for the personas,
    /// and in the DHT's routing table unless the peer is known not to serve the DHT (a
    /// person's node, in Kademlia's client mode: walks that asked it would only dial it in
    /// vain). Returns whether the personas did not know the address yet.
    fn learn_address(&mut self, peer: PeerId, address: Multiaddr) -> bool {
        self.learn_address_of(peer, address, true)
    }

    fn learn_address_of(&mut self, peer: PeerId, address: Multiaddr, serves_dht: bool) -> bool {
        if serves_dht
            && let Some(kad) = self.swarm.behaviour_mut().kad.as_mut()
            && self.first_walk.admit(peer, address.clone())
        {
            kad.add_address(&peer, address.clone());
        }
        let new = self.personas.as_mut().is_some_and(|personas| personas.learn_address(peer, address.clone()));
        self.swarm.add_peer_address(peer, address);
        new
    }

    /// Learns where `peer` listens. A business found at a new address (just looked up,
    /// restarted, moved) is reachable again for the personas, which reach it only by
    /// dialling: what waits for it goes now.
    async fn learn_addresses(
        &mut self,
        peer: PeerId,
        addresses: Vec<Multiaddr>,
        serves_dht: bool,
    ) -> Result<(), StoreError> {
        let mut new = false;
        for address in addresses {
            new |= self.learn_address_of(peer, address, serves_dht);
        }
        let business = net::public_key(&peer).is_some_and(|key| self.engine.state().businesses.contains_key(&key));
        if new && business {
            self.peer_reachable(peer).await?;
        }
        Ok(())
    }

    fn dial(&mut self, address: Multiaddr) -> Result<(), NodeError> {
        // Into the routing table only once the peer says it serves the DHT (identify).
        if let Some(libp2p::multiaddr::Protocol::P2p(peer)) = address.iter().last() {
            self.learn_address_of(peer, address.clone(), false);
            self.choose(peer);
        }
        self.swarm.dial(address).map_err(|e| NodeError::Dial(e.to_string()))
    }

    /// Follows on gossip what the engine's subscriptions say: a person hears requests, a
    /// business hears intents.
    fn sync_subscriptions(&mut self) {
        let wanted = self.engine.topics();
        let gossipsub = &mut self.swarm.behaviour_mut().gossipsub;
        for topic in wanted.difference(&self.subscribed) {
            let topic = gossipsub::IdentTopic::new(topic.to_string());
            if let Err(error) = gossipsub.subscribe(&topic) {
                warn!(%error, "cannot subscribe");
            }
            let _ = gossipsub.set_topic_params(topic, net::topic_score_params());
        }
        for topic in self.subscribed.difference(&wanted) {
            gossipsub.unsubscribe(&gossipsub::IdentTopic::new(topic.to_string()));
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
            let _ = self.feed(Input::Timer(timer));
        }
        Ok(())
    }

    /// Sends a direct message as `from`: a person's persona on its own swarm, the root on the
    /// node's.
    fn send(&mut self, from: Persona, to: PublicKey, kind: MessageKind, bytes: Vec<u8>, delivery: Option<OutboxId>) {
        let Some(peer) = net::peer_id(&to) else {
            warn!("cannot address a peer key");
            return;
        };
        // The engine re-sends what waits for a peer when the peer connects, which is often the
        // connection this very message opened: an attempt under way is not doubled, since it
        // reports back delivered or undelivered either way.
        if let Some(id) = delivery
            && self.in_flight.holds(id)
        {
            return;
        }
        // A person reaches a business where its signed profile says. No DHT lookup for a
        // persona: asking the network for the business from the node's own identity would tie
        // the node to each business it is about to contact.
        let listed: Vec<Multiaddr> = self
            .engine
            .state()
            .businesses
            .get(&to)
            .and_then(|known| known.profile.as_ref())
            .map(|profile| profile.addresses.iter().filter_map(|address| address.parse().ok()).collect())
            .unwrap_or_default();
        for address in listed {
            self.learn_address(peer, address);
        }
        let size = bytes.len() as u64;
        let sent = match (self.personas.as_mut(), from) {
            (Some(personas), Persona::Business(_) | Persona::Intent(_)) => {
                let keypair = self.engine.identities().keypair(from);
                match personas.send(&keypair, peer, kind, bytes) {
                    Ok(request_id) => Some((Some(keypair.public()), request_id)),
                    Err(error) => {
                        warn!(%error, "cannot build a persona's swarm");
                        None
                    }
                }
            }
            _ => {
                self.choose(peer);
                if !self.swarm.is_connected(&peer) {
                    self.walk_now(true);
                    if let Some(kad) = self.swarm.behaviour_mut().kad.as_mut() {
                        kad.get_closest_peers(peer);
                    }
                }
                let request = DirectRequest::new(kind, bytes);
                Some((None, self.swarm.behaviour_mut().direct.for_kind(kind).send_request(&peer, request)))
            }
        };
        let Some((route, request_id)) = sent else {
            if let Some(delivery) = delivery {
                let _ = self.feed(Input::Undelivered(delivery));
            }
            return;
        };
        self.payload_bytes_out += size;
        if let Some(delivery) = delivery {
            self.in_flight.insert((route, net::protocol_for(kind), request_id), delivery);
        }
        debug!(?kind, "direct message sent");
    }

    /// Answers a peer's direct message on the swarm it came in on.
    fn respond(&mut self, route: Route, kind: MessageKind, channel: ResponseChannel<Answer>, answer: Answer) {
        match (route, self.personas.as_mut()) {
            (Some(persona), Some(personas)) => personas.respond(&persona, kind, channel, answer),
            _ => {
                let _ = self.swarm.behaviour_mut().direct.for_kind(kind).send_response(channel, answer);
            }
        }
    }

    /// Every [`net::NetConfig::check_in`]: each persona whose agreement allows the business to
    /// contact it connects, so that what the business holds for it (offers) can come; and
    /// persona swarms unused for a while are dropped (their keys come back from the root).
    fn check_in(&mut self) {
        let Some(personas) = self.personas.as_mut() else {
            return;
        };
        if Instant::now() < self.next_check_in {
            return;
        }
        self.next_check_in = Instant::now() + self.check_in;
        personas.prune(self.check_in);
        let engine = &self.engine;
        let contactable = engine
            .state()
            .agreements
            .values()
            .filter(|record| record.is_active() && record.agreement.terms.contact.is_some())
            .map(|record| {
                (engine.persona(&record.agreement.business, Some(&record.agreement.context)), record.agreement.business)
            });
        for (persona, business) in contactable {
            if let Some(peer) = net::peer_id(&business)
                && let Err(error) = personas.check_in(&engine.identities().keypair(persona), peer)
            {
                warn!(%error, "cannot build a persona's swarm");
            }
        }
    }

    fn publish(&mut self, topic: Topic, bytes: Vec<u8>, since: Instant) {
        let gossip_topic = gossipsub::IdentTopic::new(topic.to_string());
        let size = bytes.len() as u64;
        match self.swarm.behaviour_mut().gossipsub.publish(gossip_topic, bytes.clone()) {
            Ok(_) => {
                self.payload_bytes_out += size;
                let _ = self.events.send(NodeEvent::Published { topic: topic.to_string() });
                debug!(%topic, "published");
            }
            Err(gossipsub::PublishError::NoPeersSubscribedToTopic | gossipsub::PublishError::AllQueuesFull(_)) => {
                if let Some(dropped) = self.waiting.push(topic, bytes, since) {
                    let _ = self.events.send(NodeEvent::PublishDropped { topic: dropped.to_string() });
                }
            }
            Err(gossipsub::PublishError::Duplicate) => {}
            Err(error) => {
                warn!(%error, %topic, "publish failed");
                let _ = self.events.send(NodeEvent::PublishDropped { topic: topic.to_string() });
            }
        }
    }

    fn retry_publications(&mut self) {
        for (topic, bytes, since) in self.waiting.take() {
            if since.elapsed() > gossip::PUBLISH_PATIENCE {
                let _ = self.events.send(NodeEvent::PublishDropped { topic: topic.to_string() });
            } else {
                self.publish(topic, bytes, since);
            }
        }
    }

    /// A business puts its signed profile in the DHT (at start, and every [`PROFILE_RETRY`]
    /// until a put reached a peer; Kademlia republishes it from then on).
    fn publish_profile(&mut self) {
        if self.profile_published || self.profile_put_at.is_some_and(|at| at.elapsed() < PROFILE_RETRY) {
            return;
        }
        let Some(signed) = self.engine.profile() else {
            return;
        };
        let record = net::profile_as_record(&self.engine.public_key(), signed);
        if let Some(kad) = self.swarm.behaviour_mut().kad.as_mut() {
            self.profile_put_at = Some(Instant::now());
            match kad.put_record(record, kad::Quorum::One) {
                Ok(_) => self.profile_put_running = true,
                Err(error) => warn!(%error, "cannot put the profile in the DHT"),
            }
        }
    }

    /// A peer offers a record for this node's part of the DHT: only a business's own signed
    /// profile, newer than the one held, is kept; anything else is an offence.
    fn offered_record(&mut self, source: PeerId, record: kad::Record) {
        let Some((business, signed)) = net::profile_record(&record) else {
            self.misbehaved(source, "a record that is not a business's own signed profile".into());
            return;
        };
        use libp2p::kad::store::RecordStore as _;
        let Some(kad) = self.swarm.behaviour_mut().kad.as_mut() else {
            return;
        };
        let issued = |signed: &me2b_proto::profile::SignedProfile| {
            signed.open(&business).map(|profile| profile.issued_at).unwrap_or(Timestamp::EPOCH)
        };
        let held = kad.store_mut().get(&record.key).and_then(|held| net::profile_record(&held));
        if held.is_none_or(|(_, held)| issued(&held) < issued(&signed)) {
            let _ = kad.store_mut().put(record);
        }
    }

    /// Looks a business's profile up in the DHT, at most once a minute per business. Only when a
    /// persona could not reach it: the lookup goes out from the node's own identity.
    fn lookup_profile(&mut self, peer: PeerId) {
        let Some(business) = net::public_key(&peer) else {
            return;
        };
        if self.profile_lookups.get(&business).is_some_and(|at| at.elapsed() < PROFILE_LOOKUP_EVERY) {
            return;
        }
        if self.profile_lookups.len() >= MAX_PROFILE_LOOKUPS {
            self.profile_lookups.retain(|_, at| at.elapsed() < PROFILE_LOOKUP_EVERY);
        }
        if self.profile_lookups.len() < MAX_PROFILE_LOOKUPS && self.swarm.behaviour().kad.is_enabled() {
            self.walk_now(true);
            let Some(kad) = self.swarm.behaviour_mut().kad.as_mut() else { return };
            self.profile_lookups.insert(business, Instant::now());
            kad.get_record(net::profile_key(&business));
        }
    }

    /// A profile the DHT answered with: the engine keeps it if newer; the business is tried
    /// again where it says.
    async fn found_profile(&mut self, record: kad::Record) -> Result<(), StoreError> {
        let Some((business, profile)) = net::profile_record(&record) else {
            return Ok(());
        };
        if self.engine.state().businesses.contains_key(&business) {
            let _ = self.feed(Input::Command(Command::ProfileFound { business, profile }));
            if let Some(peer) = net::peer_id(&business) {
                self.peer_reachable(peer).await?;
            }
        }
        Ok(())
    }

    /// Copies what a peer sent to the tap, if the node has one (tests).
    fn copy(&self, tapped: impl FnOnce() -> Tapped) {
        if let Some(tap) = &self.tap {
            let _ = tap.try_send(tapped());
        }
    }

    /// Whether `peer` is connected on `route` (a persona's swarm, or the node's own).
    fn still_connected(&self, route: Route, peer: &PeerId) -> bool {
        match (route, &self.personas) {
            (Some(persona), Some(personas)) => personas.is_connected(&persona, peer),
            (Some(_), None) => false,
            (None, _) => self.swarm.is_connected(peer),
        }
    }

    /// One offence by `peer` (see [`net::bans`] for the policy): its gossip score follows its
    /// penalty points; at the limit it is banned, disconnected, and refused while the ban lasts.
    fn misbehaved(&mut self, peer: PeerId, reason: String) {
        let behaviour = self.swarm.behaviour_mut();
        let range = behaviour.gate.range_of(&peer);
        let penalty = behaviour.gate.bans.offence(peer, range, std::time::Instant::now());
        behaviour.gossipsub.set_application_score(&peer, net::behaviour::POINT_SCORE * penalty.points);
        warn!(%peer, %reason, points = penalty.points, "peer misbehaved");
        self.announce(NodeEvent::Misbehaved { peer, reason });
        if let (Some(length), Some(range)) = (penalty.range_banned_for, range) {
            warn!(%peer, %range, seconds = length.as_secs(), "address range banned: several of its identities were");
        }
        if let Some(length) = penalty.banned_for {
            warn!(%peer, seconds = length.as_secs(), "peer banned");
            self.announce(NodeEvent::Banned { peer, seconds: length.as_secs() });
            let _ = self.swarm.disconnect_peer_id(peer);
        }
    }

    /// Once a second: penalty points fade, so each scored peer's gossip score follows them; a
    /// peer that gossipsub graylisted (for invalid messages it caught itself, such as bad
    /// signatures, which never reach the node) is counted as offending, once per second.
    fn review_scores(&mut self) {
        let now = std::time::Instant::now();
        let behaviour = self.swarm.behaviour_mut();
        let scored: Vec<(PeerId, f64)> = behaviour.gate.bans.scored(now).collect();
        for (peer, points) in scored {
            behaviour.gossipsub.set_application_score(&peer, net::behaviour::POINT_SCORE * points);
        }
        let graylisted: Vec<(PeerId, f64)> = behaviour
            .gossipsub
            .all_peers()
            .filter_map(|(peer, _)| behaviour.gossipsub.peer_score(peer).map(|score| (*peer, score)))
            .filter(|(_, score)| *score < net::behaviour::GRAYLIST_THRESHOLD)
            .collect();
        for (peer, score) in graylisted {
            self.misbehaved(peer, format!("gossip score {score:.0} is below the graylist threshold"));
        }
    }

    async fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) -> Result<(), StoreError> {
        match event {
            SwarmEvent::NewListenAddr { address, .. } => info!(%address, "listening"),
            SwarmEvent::ConnectionEstablished { peer_id, endpoint, .. } => {
                let entry = self.connected_at.entry(peer_id).or_insert((Instant::now(), false));
                entry.1 |= endpoint.is_dialer();
                self.copy(|| Tapped::Connected { peer: peer_id, address: endpoint.get_remote_address().clone() });
                self.announce(NodeEvent::Connected { peer: peer_id });
                self.peer_reachable(peer_id).await?;
            }
            SwarmEvent::ConnectionClosed { peer_id, num_established, cause, .. } => {
                debug!(peer = %peer_id, cause = ?cause, "connection closed");
                if num_established == 0 {
                    self.connected_at.remove(&peer_id);
                    self.chosen.remove(&peer_id);
                }
            }
            SwarmEvent::OutgoingConnectionError { peer_id, error, .. } => debug!(?peer_id, %error, "dial failed"),
            SwarmEvent::IncomingConnectionError { error, .. } => debug!(%error, "incoming connection failed"),
            SwarmEvent::Behaviour(event) => self.on_behaviour_event(event).await?,
            _ => {}
        }
        Ok(())
    }

    async fn on_behaviour_event(&mut self, event: BehaviourEvent) -> Result<(), StoreError> {
        match event {
            BehaviourEvent::Identify(identify::Event::Received { peer_id, info, .. })
                if info.protocol_version == net::PROTOCOL_VERSION =>
            {
                let serves_dht = info.protocols.contains(&net::KAD_PROTOCOL);
                self.learn_addresses(peer_id, info.listen_addrs, serves_dht).await?;
            }
            BehaviourEvent::Mdns(mdns::Event::Discovered(found)) => {
                for (peer, address) in found {
                    let _ = self.learn_address(peer, address.clone());
                    self.choose(peer);
                    let _ = self.swarm.dial(address);
                }
            }
            BehaviourEvent::Gossipsub(gossipsub::Event::Message { propagation_source, message_id, message }) => {
                self.on_gossip(propagation_source, message_id, message).await?;
            }
            BehaviourEvent::Gossipsub(gossipsub::Event::Subscribed { peer_id, topic, .. }) => {
                self.announce(NodeEvent::PeerSubscribed { peer: peer_id, topic: topic.to_string() });
                self.retry_publications();
                // Gossip does not replay what was published before: the engine hands the peer
                // this node's live requests or intents of that topic, once per connection.
                if let (Some(peer), Ok(topic)) = (net::public_key(&peer_id), topic.as_str().parse::<Topic>()) {
                    let _ = self.feed(Input::PeerSubscribed { peer, topic });
                }
            }
            BehaviourEvent::Direct(event) => {
                let (protocol, event) = net::behaviour::split(event);
                self.on_direct(None, protocol, event).await?
            }
            BehaviourEvent::Kad(kad::Event::OutboundQueryProgressed { result, stats, step, .. }) => {
                self.query_progressed(result, stats, step).await?
            }
            BehaviourEvent::Kad(kad::Event::InboundRequest {
                request: kad::InboundRequest::PutRecord { source, record: Some(record), .. },
            }) => self.offered_record(source, record),
            // A client's Kademlia met a server (it puts none in its routing table by itself).
            BehaviourEvent::Kad(kad::Event::RoutablePeer { peer, address }) => {
                self.learn_addresses(peer, vec![address], true).await?;
            }
            BehaviourEvent::Kad(kad::Event::RoutingUpdated { peer, addresses, .. }) => {
                // A business's profile goes to the DHT as soon as there is a peer to take it:
                // again now if the last put found none, but never a second put while one is
                // under way (a bootstrap brings dozens of routing updates).
                if !self.profile_published && !self.profile_put_running {
                    self.profile_put_at = None;
                    self.publish_profile();
                }
                self.learn_addresses(peer, addresses.into_vec(), true).await?;
                self.dht_found(peer);
            }

            _ => {}
        }
        Ok(())
    }

    /// A DHT query of this node made progress: a profile put reached a peer, a profile was
    /// found; when it ends, what it cost is reported.
    async fn query_progressed(
        &mut self,
        result: kad::QueryResult,
        stats: kad::QueryStats,
        step: kad::ProgressStep,
    ) -> Result<(), StoreError> {
        let (kind, found) = match &result {
            kad::QueryResult::PutRecord(outcome) => ("put", outcome.is_ok()),
            kad::QueryResult::GetRecord(outcome) => ("profile", outcome.is_ok()),
            kad::QueryResult::GetClosestPeers(Ok(ok)) => {
                let wanted = PeerId::from_bytes(&ok.key).ok();
                ("peer", wanted.is_some_and(|w| ok.peers.iter().any(|p| p.peer_id == w)))
            }
            kad::QueryResult::GetClosestPeers(Err(_)) => ("peer", false),
            kad::QueryResult::Bootstrap(outcome) => ("bootstrap", outcome.is_ok()),
            _ => ("other", false),
        };
        if step.last {
            if kind == "put" {
                self.profile_put_running = false;
            }
            self.announce(NodeEvent::DhtQuery {
                kind,
                found,
                asked: stats.num_requests(),
                answered: stats.num_successes(),
                duration: stats.duration().unwrap_or_default(),
            });
        }
        match result {
            kad::QueryResult::PutRecord(Ok(_)) => {
                self.profile_published = true;
                self.announce(NodeEvent::ProfilePublished);
            }
            kad::QueryResult::GetRecord(Ok(kad::GetRecordOk::FoundRecord(found))) => {
                self.found_profile(found.record).await?
            }
            _ => {}
        }
        Ok(())
    }

    /// Closes connections the node does not need once it has more than `trim_above`: gossip
    /// peers that dialled in, outside every mesh, connected longer than `trim_grace`, the
    /// newest first (those a DHT walk or lookup made), down to `trim_to` (see
    /// [`NetConfig::trim_above`]). Peers this node dialled itself are kept: peers that crowd
    /// in first (Sybils at a cold boot) must not push them out. A business also keeps the
    /// peers that follow a request topic: they are its audience, whom a campaign reaches over
    /// these very connections (a person's personas, which follow nothing, are trimmed).
    fn trim_connections(&mut self) {
        let connected = self.swarm.connected_peers().count();
        if connected <= self.trim_above {
            return;
        }
        let business = self.role == Role::Business;
        let audience = |topics: &[&gossipsub::TopicHash]| {
            business && topics.iter().any(|topic| matches!(topic.as_str().parse(), Ok(Topic::Requests(_))))
        };
        let gossipsub = &self.swarm.behaviour().gossipsub;
        let mesh: HashSet<PeerId> = gossipsub.all_mesh_peers().copied().collect();
        // Gossipsub lists every connected peer, with the protocol it speaks: a persona's
        // connection speaks none of gossipsub's (`PeerKind` is not exported; its label is).
        let gossiping: HashSet<PeerId> = gossipsub
            .peer_protocol()
            .filter(|(_, kind)| kind.as_static_ref().starts_with("Gossipsub"))
            .map(|(peer, _)| *peer)
            .collect();
        let mut spare: Vec<(Instant, PeerId)> = gossipsub
            .all_peers()
            .filter(|(peer, topics)| gossiping.contains(peer) && !mesh.contains(peer) && !audience(topics))
            .map(|(peer, _)| *peer)
            .filter_map(|peer| {
                let (at, dialled) = self.connected_at.get(&peer)?;
                (!dialled && at.elapsed() >= self.trim_grace).then_some((*at, peer))
            })
            .collect();
        spare.sort_unstable_by_key(|(at, _)| std::cmp::Reverse(*at));
        for (_, peer) in spare.into_iter().take(connected.saturating_sub(self.trim_to)) {
            let _ = self.swarm.disconnect_peer_id(peer);
        }
    }

    /// Notes that this node dials `peer` by its own choice (see [`Node::close_walks`]).
    fn choose(&mut self, peer: PeerId) {
        if self.chosen.len() >= MAX_CHOSEN {
            let swarm = &self.swarm;
            self.chosen.retain(|known| swarm.is_connected(known));
        }
        if self.chosen.len() < MAX_CHOSEN {
            self.chosen.insert(peer);
        }
    }

    /// Closes the connections Kademlia opened for its walks once no query runs: dialled, but
    /// not by the node's choice, outside every gossip mesh, older than `trim_grace`. Gossipsub
    /// keeps every connection alive, so without this a DHT client kept every server a walk
    /// ever reached (about 10 per person at 1,000 nodes).
    /// Puts the servers that waited for the first walk in the routing table, which starts it:
    /// once its moment has come, or at once when a lookup `needs` it.
    fn walk_now(&mut self, needs: bool) {
        let due = self.first_walk.due(needs, std::time::Instant::now());
        if let Some(kad) = self.swarm.behaviour_mut().kad.as_mut() {
            for (peer, address) in due {
                kad.add_address(&peer, address);
            }
        }
    }

    /// Whether no connected peer follows a topic this node follows: gossip reaches it only
    /// through peers the DHT finds.
    fn alone(&self) -> bool {
        let gossip = &self.swarm.behaviour().gossipsub;
        let mine: HashSet<&gossipsub::TopicHash> = gossip.topics().collect();
        !mine.is_empty() && !gossip.all_peers().any(|(_, topics)| topics.iter().any(|topic| mine.contains(topic)))
    }

    fn close_walks(&mut self) {
        let behaviour = self.swarm.behaviour();
        let Some(kad) = behaviour.kad.as_ref() else { return };
        if kad.iter_queries().next().is_some() {
            return;
        }
        let mesh: HashSet<PeerId> = behaviour.gossipsub.all_mesh_peers().copied().collect();
        let walked: Vec<PeerId> = self
            .connected_at
            .iter()
            .filter(|(peer, (at, dialled))| {
                *dialled && !self.chosen.contains(*peer) && !mesh.contains(*peer) && at.elapsed() >= self.trim_grace
            })
            .map(|(peer, _)| *peer)
            .collect();
        for peer in walked {
            let _ = self.swarm.disconnect_peer_id(peer);
        }
    }

    /// A peer connected or subscribed: the engine retries what waits for it and hands it this
    /// node's live requests or intents.
    async fn peer_reachable(&mut self, peer: PeerId) -> Result<(), StoreError> {
        if let Some(key) = net::public_key(&peer) {
            let _ = self.feed(Input::PeerConnected(key));
        }
        Ok(())
    }

    /// A peer found through the DHT: connect while the node has too few, so that gossip
    /// meshes form beyond the bootstrap peers. Dials under way count, or a burst of routing
    /// updates would dial them all.
    fn dht_found(&mut self, peer: PeerId) {
        let dialling = self.swarm.network_info().connection_counters().num_pending_outgoing() as usize;
        let wanted = self.swarm.connected_peers().count() + dialling < self.target_peers;
        if wanted && !self.swarm.is_connected(&peer) && peer != *self.swarm.local_peer_id() {
            self.choose(peer);
            let _ = self.swarm.dial(peer);
        }
    }

    /// A gossip message: rate-limited per forwarding peer before any work, then fed to the
    /// engine; gossipsub gets exactly one validation result for it.
    async fn on_gossip(
        &mut self,
        source: PeerId,
        id: gossipsub::MessageId,
        message: gossipsub::Message,
    ) -> Result<(), StoreError> {
        self.copy(|| Tapped::Gossip {
            peer: source,
            source: message.source,
            sequence_number: message.sequence_number,
            data: message.data.clone(),
        });
        let admitted = self.gossip_limit.admit(source);
        if admitted == Err(true) {
            warn!(peer = %source, "gossip rate limit reached");
            self.announce(NodeEvent::RateLimited { peer: source });
        }
        let acceptance = match message.topic.as_str().parse::<Topic>() {
            _ if admitted.is_err() => gossipsub::MessageAcceptance::Ignore,
            Err(_) => gossipsub::MessageAcceptance::Reject,
            Ok(topic) => {
                let input = Input::Gossip { kind: topic.kind(), bytes: message.data };
                match self.feed_from(source, input) {
                    Answer::Accepted => gossipsub::MessageAcceptance::Accept,
                    Answer::Ignored(_) => gossipsub::MessageAcceptance::Ignore,
                    Answer::Rejected(_) => gossipsub::MessageAcceptance::Reject,
                }
            }
        };
        self.swarm.behaviour_mut().gossipsub.report_message_validation_result(&id, &source, acceptance);
        Ok(())
    }

    /// An event of a persona's swarm (a person's; see [`crate::personas`]): its connection to
    /// a business came up, or a direct message came or was answered on it.
    async fn on_persona_event(&mut self, persona: PublicKey, event: SwarmEvent<DirectEvent>) -> Result<(), StoreError> {
        match event {
            SwarmEvent::ConnectionEstablished { peer_id, endpoint, .. } => {
                self.copy(|| Tapped::Connected { peer: peer_id, address: endpoint.get_remote_address().clone() });
                self.peer_reachable(peer_id).await?
            }
            SwarmEvent::OutgoingConnectionError { peer_id, error, .. } => {
                debug!(?peer_id, %error, "persona dial failed")
            }
            SwarmEvent::Behaviour(event) => {
                let (protocol, event) = net::behaviour::split(event);
                self.on_direct(Some(persona), protocol, event).await?
            }
            _ => {}
        }
        Ok(())
    }

    /// A direct protocol's event on the node's swarm (`route` `None`) or a persona's.
    async fn on_direct(
        &mut self,
        route: Route,
        protocol: StreamProtocol,
        event: request_response::Event<DirectRequest, Answer>,
    ) -> Result<(), StoreError> {
        match event {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Request { request, channel, .. } => {
                    let kind = request.kind;
                    self.copy(|| Tapped::Direct { peer, bytes: request.bytes.clone() });
                    // Counted before any work: a flooding peer costs no decoding and no fsync.
                    let admitted = self.direct_limit.admit(peer);
                    if admitted.is_err() {
                        if admitted == Err(true) {
                            warn!(%peer, "direct message rate limit reached");
                            self.announce(NodeEvent::RateLimited { peer });
                        }
                        let busy = Answer::Ignored("busy: too many messages; try later".into());
                        self.respond(route, kind, channel, busy);
                        return Ok(());
                    }
                    let ack = match (net::public_key(&peer), request.refused) {
                        (_, Some(why)) => {
                            self.misbehaved(peer, why.clone());
                            Answer::Rejected(why)
                        }
                        (None, None) => Answer::Rejected("no usable peer key".into()),
                        (Some(from), None) => {
                            // The identity the peer reached: the persona whose connection it is,
                            // or the node's root.
                            let to = route.unwrap_or_else(|| self.engine.public_key());
                            self.feed_from(peer, Input::Direct { from, to, kind, bytes: request.bytes })
                        }
                    };
                    self.pending.acks.push(Ack::Respond(route, kind, channel, ack));
                }
                request_response::Message::Response { request_id, response } => {
                    if let Answer::Rejected(_) = response {
                        warn!(%peer, "peer rejected our message");
                    }
                    if let Some(delivery) = self.in_flight.remove(&(route, protocol, request_id)) {
                        self.resent.remove(&delivery);
                        let accepted = response == Answer::Accepted;
                        let _ = self.feed(Input::Answered(delivery, response));
                        if accepted {
                            self.announce(NodeEvent::Delivered { peer });
                        }
                    }
                }
            },
            request_response::Event::OutboundFailure { request_id, peer, error, .. } => {
                debug!(%peer, %error, "direct message not delivered");
                // A persona could not dial the business where its profile says: it may have
                // moved; its newest profile is in the DHT.
                if route.is_some() && matches!(error, request_response::OutboundFailure::DialFailure) {
                    self.lookup_profile(peer);
                }
                if let Some(delivery) = self.in_flight.remove(&(route, protocol, request_id)) {
                    // The connection under the message closed while another to the peer is up
                    // (two dials that crossed, a duplicate dropped): send it again at once on
                    // the one that stays, once, instead of after the outbox's backoff.
                    let closed = matches!(error, request_response::OutboundFailure::ConnectionClosed);
                    let resends = self.resent.get(&delivery).copied().unwrap_or(0);
                    if closed && resends < MAX_RESENDS && self.still_connected(route, &peer) {
                        self.resent.insert(delivery, resends + 1);
                        let _ = self.feed(Input::Timer(Timer::Retry(delivery)));
                    } else {
                        self.resent.remove(&delivery);
                        // Without a connection, or refused by protocol negotiation, the peer never
                        // read it; a closed connection, a timeout or a broken stream may have come
                        // after the peer took it.
                        let never_read = matches!(
                            error,
                            request_response::OutboundFailure::DialFailure
                                | request_response::OutboundFailure::UnsupportedProtocols
                        );
                        let _ = self.feed(if never_read {
                            Input::Undelivered(delivery)
                        } else {
                            Input::Unanswered(delivery)
                        });
                    }
                }
            }
            request_response::Event::InboundFailure { peer, error, .. } => match error {
                // A frame the codec could not read (a kind that does not fit the protocol, a
                // broken length): the peer's fault, and said so.
                request_response::InboundFailure::Io(error) if error.kind() == std::io::ErrorKind::InvalidData => {
                    self.misbehaved(peer, format!("unreadable direct message: {error}"));
                }
                error => debug!(%peer, %error, "inbound direct message failed"),
            },
            request_response::Event::ResponseSent { .. } => {}
        }
        Ok(())
    }
}

/// The next event of a person's persona swarms; never, for a node without them.
async fn next_persona_event(personas: &mut Option<Personas>) -> (PublicKey, SwarmEvent<DirectEvent>) {
    match personas {
        Some(personas) => personas.next().await,
        None => std::future::pending().await,
    }
}
