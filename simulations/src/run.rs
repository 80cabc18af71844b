//! Runs a scenario: starts every node as a real `me2b_node::Node` on the memory transport with
//! modelled links, drives the workload, and records what every node reports.

use crate::links::{Links, Registry};
use crate::monitor::Monitor;
use crate::scenario::Scenario;
use crate::workload::{Action, Workload, rng};
use anyhow::{Context as _, Result};
use libp2p::Multiaddr;
use me2b_node::clock::now;
use me2b_node::net::{GossipCounts, NetConfig};
use me2b_node::{Node, NodeConfig, NodeEvent, NodeHandle, NodeInfo, Transport};
use me2b_proto::engine::{CatalogItem, Command, Event, Handled, Provenance, Role, State};
use me2b_proto::identity::{PublicKey, RequestId};
use me2b_proto::policy::{FieldRule, Policy, Share};
use me2b_proto::terms::Money;
use me2b_proto::time::Timestamp;
use me2b_proto::value::{Point, Value};
use me2b_proto::vocab::Purpose;
use rand_core::Rng as _;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Events waiting for the recorder; beyond this the nodes' event streams lag and the loss is
/// counted.
const RECORDER_QUEUE: usize = 1 << 16;

/// One node of the simulation.
pub struct SimNode {
    /// Person or business.
    pub role: Role,
    /// Its secret (restarts reuse it).
    pub secret: [u8; 32],
    /// Its store.
    pub store: PathBuf,
    /// Its handle while it runs.
    pub handle: Option<NodeHandle>,
    /// Its protocol key.
    pub key: PublicKey,
    /// Its current listen address with `/p2p/`.
    pub address: Option<Multiaddr>,
    /// What its earlier sessions counted (churn restarts it with fresh counters).
    pub tally: Tally,
}

/// Per-node counters that outlive a node's restarts.
#[derive(Debug, Clone, Copy, Default)]
pub struct Tally {
    /// Payload bytes it sent (me2b messages, before gossip fan-out).
    pub payload_bytes_out: u64,
    /// Gossip messages that arrived, first copies and duplicates.
    pub gossip: GossipCounts,
}

impl Tally {
    fn add(&mut self, info: &NodeInfo) {
        self.payload_bytes_out += info.payload_bytes_out;
        self.gossip += info.gossip;
    }
}

/// What the recorder hears from a node's event stream.
enum Heard {
    /// An event.
    Event(NodeEvent),
    /// The stream fell behind and this many events were lost.
    Lost(u64),
}

/// Something a node reported, when (wall clock).
#[derive(Debug, Clone)]
pub struct Record {
    /// Wall time since the workload started (negative before: set-up).
    pub at: Duration,
    /// The node.
    pub node: usize,
    /// What.
    pub event: NodeEvent,
}

/// What a run produced, for the report.
pub struct Outcome {
    /// The scenario.
    pub scenario: Arc<Scenario>,
    /// The workload.
    pub workload: Workload,
    /// Every event, in order of arrival.
    pub records: Vec<Record>,
    /// Requests published: id, by which node, when (wall, since start), and campaign index.
    pub published: Vec<(RequestId, usize, Duration, Option<usize>)>,
    /// Intents published: id, by which node, when.
    pub intents: Vec<(me2b_proto::identity::IntentId, usize, Duration)>,
    /// Final states of the nodes that were running at the end.
    pub states: BTreeMap<usize, State>,
    /// What each node counted over all its sessions.
    pub tallies: Vec<Tally>,
    /// Wire bytes each node sent.
    pub wire_bytes: Vec<u64>,
    /// Node keys, by index.
    pub keys: Vec<PublicKey>,
    /// Roles, by index.
    pub roles: Vec<Role>,
    /// Events the recorder could not keep up with.
    pub events_lost: u64,
    /// Wall time of the workload and drain.
    pub wall: Duration,
    /// Wall time of set-up.
    pub setup: Duration,
    /// Whether the process kept up.
    pub monitor: Monitor,
}

/// Progress reporting.
pub trait Progress: Send {
    /// A phase starts.
    fn phase(&mut self, name: &str);
    /// The workload is `fraction` done.
    fn advance(&mut self, fraction: f64, line: &str);
}

fn rule(path: &str, share: Share, ask_owner: bool) -> Result<FieldRule> {
    Ok(FieldRule {
        path: path.parse()?,
        share,
        purposes: Purpose::ALL.into_iter().collect(),
        ask_owner,
        max_retention: None,
        categories: Default::default(),
    })
}

fn person_policy(shares_without_asking: bool) -> Result<Policy> {
    if !shares_without_asking {
        return Ok(Policy::ask_first());
    }
    Ok(Policy {
        rules: vec![
            rule("body", Share::Raw, false)?,
            rule("activity", Share::DerivedOnly, false)?,
            rule("profile", Share::DerivedOnly, true)?,
            rule("health", Share::Raw, true)?,
        ],
        max_contact: Some(me2b_proto::terms::ContactPermission {
            max_messages: 2,
            per_period: Duration::from_secs(30 * 86_400),
        }),
        ..Policy::default()
    })
}

/// A flooder's request: marketing use of a field nobody shares, so honest agents refuse it
/// after verifying and evaluating it (the cost a flood imposes).
fn spam(expires: Duration) -> Option<Command> {
    let terms = me2b_proto::terms::Terms {
        fields: vec![me2b_proto::terms::FieldRequest::raw("finance.income".parse().ok()?)],
        purpose: Purpose::Marketing,
        retention: Duration::from_secs(365 * 86_400),
        usage: me2b_proto::terms::Use::OneTime,
        onward_sharing: true,
        compensation: me2b_proto::terms::Compensation::None,
        contact: None,
        jurisdiction: "EU".into(),
        expires_at: now().saturating_add(expires),
    };
    Some(Command::PublishRequest {
        category: "apparel.shoes".parse().ok()?,
        business_name: "spam".into(),
        description: "spam".into(),
        terms,
    })
}

/// Sets a person's season total of kilometres run (one point, so sums over the season are
/// the total).
fn running(total_km: f64) -> Result<Command> {
    let season = Timestamp::from_millis(now().as_millis().saturating_sub(30 * 86_400_000));
    let runs = Value::Series(vec![Point { at: season, value: total_km }]);
    Ok(Command::SetRecord {
        path: "activity.running_km".parse()?,
        value: runs,
        provenance: Provenance::Device("watch".into()),
    })
}

struct Runner {
    scenario: Arc<Scenario>,
    workload: Workload,
    registry: Arc<Registry>,
    nodes: Vec<SimNode>,
    events: mpsc::Sender<(Instant, usize, Heard)>,
    seed: u64,
    /// Each person's running total, as their devices report it.
    running_km: Vec<f64>,
}

impl Runner {
    fn config(&self, index: usize) -> NodeConfig {
        let scale = self.scenario.time_scale;
        let node = &self.nodes[index];
        let mut config = NodeConfig::new(node.role, node.store.clone());
        config.transport = Transport::Memory;
        config.listen = vec![Multiaddr::empty().with(libp2p::multiaddr::Protocol::Memory(0))];
        config.small_store = true;
        config.intent_window = Duration::from_secs(3).mul_f64(scale);
        config.negotiation_timeout = config.negotiation_timeout.mul_f64(scale);
        // The node's own defaults for its role, with every interval dilated by the time scale.
        let base = config.net.clone();
        config.net = NetConfig {
            mdns: false,
            heartbeat: base.heartbeat.mul_f64(scale),
            request_timeout: base.request_timeout.mul_f64(scale),
            gossip_per_peer: self.scenario.network.gossip_per_peer,
            dht: self.scenario.network.dht,
            idle_timeout: base.idle_timeout.mul_f64(scale),
            gossip_window: base.gossip_window.mul_f64(scale),
            link_model: Some(Arc::new(Links {
                me: index,
                scenario: self.scenario.clone(),
                seed: self.seed,
                registry: self.registry.clone(),
            })),
            ..base
        };
        config
    }

    /// Starts node `index` (again) and forwards its events to the recorder.
    async fn start(&mut self, index: usize) -> Result<()> {
        let config = self.config(index);
        let handle = Node::start(self.nodes[index].secret, config).await.with_context(|| format!("node {index}"))?;
        let info = handle.info().await?;
        let address = info.listen_addrs.first().context("no listen address")?.clone();
        self.registry.listening(index, &address);
        let mut events = handle.events();
        let sink = self.events.clone();
        tokio::spawn(async move {
            loop {
                match events.recv().await {
                    Ok(event) => {
                        if sink.send((Instant::now(), index, Heard::Event(event))).await.is_err() {
                            break;
                        }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(missed)) => {
                        let _ = sink.send((Instant::now(), index, Heard::Lost(missed))).await;
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                }
            }
        });
        self.nodes[index].address = Some(address.with(libp2p::multiaddr::Protocol::P2p(info.peer_id)));
        self.nodes[index].handle = Some(handle);
        Ok(())
    }

    async fn dial_topology(&self, index: usize) {
        let Some(handle) = &self.nodes[index].handle else { return };
        for peer in &self.workload.dials[index] {
            if let Some(address) = &self.nodes[*peer].address
                && self.nodes[*peer].handle.is_some()
            {
                let _ = handle.dial(address.clone()).await;
            }
        }
    }

    /// With the DHT off, peer routing is an address book: every person learns where the
    /// businesses are (businesses learn people's addresses from identify when they connect).
    async fn address_book(&self) {
        let businesses: Vec<Multiaddr> =
            self.nodes.iter().filter(|n| n.role == Role::Business).filter_map(|n| n.address.clone()).collect();
        for node in self.nodes.iter().filter(|n| n.role == Role::Person) {
            let Some(handle) = &node.handle else { continue };
            for address in &businesses {
                if let Some(libp2p::multiaddr::Protocol::P2p(peer)) = address.iter().last() {
                    let _ = handle.remember(peer, address.clone()).await;
                }
            }
        }
    }

    async fn command(&self, index: usize, command: Command) -> Option<Handled> {
        let handle = self.nodes[index].handle.as_ref()?;
        handle.command(command).await.ok()
    }

    async fn set_up(&mut self, index: usize) -> Result<()> {
        let scenario = self.scenario.clone();
        if index < scenario.people.count {
            let plan = self.workload.people[index].clone();
            self.command(index, Command::SetPolicy(person_policy(plan.shares_without_asking)?)).await;
            let set = |path: &str, value| -> Result<Command> {
                Ok(Command::SetRecord { path: path.parse()?, value, provenance: Provenance::Owner })
            };
            self.command(index, set("body.shoe_size_eu", Value::Number(plan.shoe_size))?).await;
            self.command(index, running(plan.running_km)?).await;
            if plan.health_record {
                self.command(index, set("health.acquired.asthma", Value::Boolean(true))?).await;
            }
            for category in &scenario.people.follow {
                self.command(index, Command::Subscribe(category.parse()?)).await;
            }
        } else if index < scenario.people.count + scenario.businesses.count {
            for category in &scenario.businesses.follow {
                self.command(index, Command::Subscribe(category.parse()?)).await;
            }
            let mut catalog = Vec::new();
            for entry in &scenario.businesses.catalog {
                catalog.push(CatalogItem {
                    category: entry.category.parse()?,
                    spec: entry.spec.clone(),
                    description: format!("product of business {index}"),
                    price: Money::new(entry.price_eur * 100, "EUR")?,
                    terms: entry.terms.terms(Timestamp::EPOCH).map_err(|e| anyhow::anyhow!("catalog: {e}"))?,
                });
            }
            if !catalog.is_empty() {
                self.command(index, Command::SetCatalog(catalog)).await;
            }
        }
        Ok(())
    }

    async fn activity(&mut self, person: usize, km: f64) -> Result<()> {
        self.running_km[person] += km;
        let total = self.running_km[person];
        self.command(person, running(total)?).await;
        Ok(())
    }

    fn campaign_command(&self, business: usize, campaign: usize, expires: Duration) -> Option<Command> {
        let entry = self.scenario.businesses.campaigns.get(campaign)?;
        let terms = entry.terms.terms(now().saturating_add(expires)).ok()?;
        Some(Command::PublishRequest {
            category: entry.category.parse().ok()?,
            business_name: format!("business {business}"),
            description: format!("campaign {campaign}"),
            terms,
        })
    }

    async fn publish_campaign(&self, business: usize, campaign: usize, expires: Duration) -> Option<RequestId> {
        let command = self.campaign_command(business, campaign, expires)?;
        match self.command(business, command).await? {
            Handled::Request(id) => Some(id),
            _ => None,
        }
    }
}

/// Runs `scenario` with `seed`, keeping node stores under `root`: set-up (start the nodes,
/// connect the topology, warm up the mesh), the workload, the drain, then the results.
pub async fn run(scenario: Scenario, seed: u64, root: PathBuf, progress: &mut dyn Progress) -> Result<Outcome> {
    let scenario = Arc::new(scenario);
    let workload = Workload::draw(&scenario, seed)?;
    let (events, mut recorder_input) = mpsc::channel(RECORDER_QUEUE);
    let mut runner = Runner::new(scenario.clone(), workload.clone(), seed, root, events);
    let monitor = Monitor::start();
    // The recorder runs from the first node on; times are made relative to the workload's
    // start afterwards.
    let recorder = tokio::spawn(async move {
        let mut kept = Vec::new();
        while let Some(item) = recorder_input.recv().await {
            kept.push(item);
        }
        kept
    });
    let setup_started = Instant::now();
    let stop_adversaries = runner.set_up_all(progress).await?;
    let setup = setup_started.elapsed();

    progress.phase("running the workload");
    let (decisions, mut decided) = mpsc::channel::<(usize, Command)>(RECORDER_QUEUE);
    // Owners and revocations react to events; a tap on the recorder's input would race, so a
    // second subscription per node feeds them.
    for index in 0..scenario.people.count {
        spawn_owner(&runner, index, decisions.clone());
    }
    let started = Instant::now();
    let played = runner.play(started, &decisions, &mut decided, progress).await?;
    progress.phase("draining");
    let drain_end = Instant::now() + scenario.drain()?.mul_f64(scenario.time_scale);
    loop {
        tokio::select! {
            Some((index, command)) = decided.recv() => {
                runner.command(index, command).await;
            }
            () = tokio::time::sleep_until(drain_end.into()) => break,
        }
    }
    let wall = started.elapsed();
    stop_adversaries.store(true, std::sync::atomic::Ordering::Relaxed);

    progress.phase("collecting results");
    let (states, tallies, wire_bytes) = runner.collect().await?;
    let monitor = monitor.stop().await;
    let keys = runner.nodes.iter().map(|n| n.key).collect();
    let roles = runner.nodes.iter().map(|n| n.role).collect();
    drop(runner);
    drop(decisions);
    let (records, events_lost) = recorded(recorder.await?, started);
    let Played { published, intents } = played;
    Ok(Outcome {
        scenario,
        workload,
        records,
        published,
        intents,
        states,
        tallies,
        wire_bytes,
        keys,
        roles,
        events_lost,
        wall,
        setup,
        monitor,
    })
}

/// The recorder's stream as records timed from the workload's start, and how many events were
/// lost to a lagging stream.
fn recorded(kept: Vec<(Instant, usize, Heard)>, started: Instant) -> (Vec<Record>, u64) {
    let mut events_lost = 0;
    let records = kept
        .into_iter()
        .filter_map(|(at, node, heard)| match heard {
            Heard::Event(event) => Some(Record { at: at.saturating_duration_since(started), node, event }),
            Heard::Lost(missed) => {
                events_lost += missed;
                None
            }
        })
        .collect();
    (records, events_lost)
}

/// What the workload published.
struct Played {
    published: Vec<(RequestId, usize, Duration, Option<usize>)>,
    intents: Vec<(me2b_proto::identity::IntentId, usize, Duration)>,
}

impl Runner {
    fn new(
        scenario: Arc<Scenario>,
        workload: Workload,
        seed: u64,
        root: PathBuf,
        events: mpsc::Sender<(Instant, usize, Heard)>,
    ) -> Runner {
        let total = scenario.nodes();
        let running_km = workload.people.iter().map(|p| p.running_km).collect();
        let nodes = (0..total)
            .map(|index| {
                let role = if index < scenario.people.count { Role::Person } else { Role::Business };
                let mut secret = [0u8; 32];
                rng(seed, "identity", index as u64).fill_bytes(&mut secret);
                let key = me2b_proto::identity::Keypair::from_secret_bytes(&secret).public();
                let store = root.join(format!("node-{index}"));
                SimNode { role, secret, store, handle: None, key, address: None, tally: Tally::default() }
            })
            .collect();
        Runner { scenario, workload, registry: Registry::new(total), nodes, events, seed, running_km }
    }

    /// Starts and sets up every node, connects the topology, starts the malformed peers and
    /// warms up the gossip mesh. Returns the switch that stops the malformed peers.
    async fn set_up_all(&mut self, progress: &mut dyn Progress) -> Result<Arc<std::sync::atomic::AtomicBool>> {
        let total = self.nodes.len();
        progress.phase(&format!("starting {total} nodes"));
        for index in 0..total {
            self.start(index).await?;
            self.set_up(index).await?;
            if index % 100 == 99 {
                progress.advance(0.0, &format!("{} nodes started", index + 1));
            }
        }
        if !self.scenario.network.dht {
            self.address_book().await;
        }
        progress.phase("connecting the bootstrap topology");
        for index in 0..total {
            self.dial_topology(index).await;
        }
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        for k in 0..self.scenario.adversaries.malformed {
            let targets: Vec<Multiaddr> = {
                let mut pick = rng(self.seed, "malformed", k as u64);
                (0..3).filter_map(|_| self.nodes[(pick.next_u64() % total as u64) as usize].address.clone()).collect()
            };
            let mut secret = [0u8; 32];
            rng(self.seed, "malformed-identity", k as u64).fill_bytes(&mut secret);
            tokio::spawn(malformed_peer(secret, targets, stop.clone()));
        }
        progress.phase("warming up the gossip mesh");
        tokio::time::sleep(Duration::from_secs(3).mul_f64(self.scenario.time_scale)).await;
        Ok(stop)
    }

    /// Plays the workload's timeline from `started`, passing owners' decisions on as they come.
    async fn play(
        &mut self,
        started: Instant,
        decisions: &mpsc::Sender<(usize, Command)>,
        decided: &mut mpsc::Receiver<(usize, Command)>,
        progress: &mut dyn Progress,
    ) -> Result<Played> {
        let scale = self.scenario.time_scale;
        let duration = self.scenario.duration()?;
        let expires = (duration + self.scenario.drain()?).mul_f64(scale) + Duration::from_secs(3600);
        let mut played = Played { published: Vec::new(), intents: Vec::new() };
        let workload = self.workload.clone();
        let mut timeline = workload.timeline.iter().peekable();
        let end = started + duration.mul_f64(scale);
        let mut last_progress = Instant::now();
        loop {
            let next_at = timeline.peek().map(|t| started + Duration::from_millis(t.at_ms).mul_f64(scale));
            let wake = next_at.map(|at| at.min(end)).unwrap_or(end);
            tokio::select! {
                Some((index, command)) = decided.recv() => {
                    self.command(index, command).await;
                }
                () = tokio::time::sleep_until(wake.into()) => {
                    if Instant::now() >= end && next_at.is_none_or(|at| at >= end) {
                        break;
                    }
                    let Some(timed) = timeline.next() else { continue };
                    self.act(&timed.action, started, expires, decisions, &mut played).await?;
                }
            }
            if last_progress.elapsed() > Duration::from_millis(500) {
                last_progress = Instant::now();
                let fraction = started.elapsed().as_secs_f64() / (end - started).as_secs_f64();
                let line = format!("{} requests, {} intents published", played.published.len(), played.intents.len());
                progress.advance(fraction.min(1.0), &line);
            }
        }
        Ok(played)
    }

    /// Carries out one action of the workload.
    async fn act(
        &mut self,
        action: &Action,
        started: Instant,
        expires: Duration,
        decisions: &mpsc::Sender<(usize, Command)>,
        played: &mut Played,
    ) -> Result<()> {
        match action {
            Action::Campaign { business, campaign } => {
                if let Some(id) = self.publish_campaign(*business, *campaign, expires).await {
                    played.published.push((id, *business, started.elapsed(), Some(*campaign)));
                }
            }
            Action::Intent { person } => {
                let Some(category) = &self.scenario.people.intent_category else { return Ok(()) };
                let size = self.workload.people[*person].shoe_size;
                let command = Command::PublishIntent {
                    category: category.parse()?,
                    spec: BTreeMap::from([("size_eu".to_string(), format!("{size}"))]),
                    max_price: Some(Money::new(12_000, "EUR")?),
                    shares: vec![],
                    expires_at: now().saturating_add(expires),
                };
                if let Some(Handled::Intent(id)) = self.command(*person, command).await {
                    played.intents.push((id, *person, started.elapsed()));
                }
            }
            Action::Activity { person, km } => self.activity(*person, *km).await?,
            Action::Leave { node } => {
                let leaving = &mut self.nodes[*node];
                if let Some(handle) = leaving.handle.take() {
                    if let Ok(info) = handle.info().await {
                        leaving.tally.add(&info);
                    }
                    handle.shutdown().await;
                }
            }
            Action::Return { node } => {
                if self.nodes[*node].handle.is_none() {
                    self.start(*node).await?;
                    self.dial_topology(*node).await;
                    if !self.scenario.network.dht {
                        self.address_book().await;
                    }
                    spawn_owner(self, *node, decisions.clone());
                }
            }
            Action::Flood { node } => {
                // Fire and forget: a flooder does not wait for its own store.
                if let (Some(handle), Some(command)) = (self.nodes[*node].handle.clone(), spam(expires)) {
                    tokio::spawn(async move { handle.command(command).await });
                }
            }
        }
        Ok(())
    }

    /// The final states and counters of the nodes running at the end, which are then stopped.
    async fn collect(&mut self) -> Result<(BTreeMap<usize, State>, Vec<Tally>, Vec<u64>)> {
        let mut states = BTreeMap::new();
        for (index, node) in self.nodes.iter_mut().enumerate() {
            if let Some(handle) = &node.handle {
                states.insert(index, handle.state().await?);
                node.tally.add(&handle.info().await?);
            }
        }
        let tallies = self.nodes.iter().map(|n| n.tally).collect();
        let wire_bytes =
            self.registry.wire_bytes.iter().map(|c| c.load(std::sync::atomic::Ordering::Relaxed)).collect();
        for node in &mut self.nodes {
            if let Some(handle) = node.handle.take() {
                handle.shutdown().await;
            }
        }
        Ok((states, tallies, wire_bytes))
    }
}

/// The simulated owner of person `index`: answers questions after a think time (approving
/// with the scenario's probability) and revokes some agreements after a while. Decisions are
/// drawn per person in the order the questions come, so they follow from the seed.
fn spawn_owner(runner: &Runner, index: usize, decisions: mpsc::Sender<(usize, Command)>) {
    let Some(handle) = &runner.nodes[index].handle else { return };
    let mut events = handle.events();
    let people = runner.scenario.people.clone();
    let scale = runner.scenario.time_scale;
    let mut asked = rng(runner.seed, "owner", index as u64);
    let mut revoking = rng(runner.seed, "revoke", index as u64);
    tokio::spawn(async move {
        loop {
            let event = match events.recv().await {
                Ok(NodeEvent::Engine(event)) => event,
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            };
            let (wait, command) = match event {
                Event::AwaitingOwner { negotiation_id, .. } => {
                    let approve = (asked.next_u64() as f64 / u64::MAX as f64) < people.approve;
                    let think = people.think_time_s.sample(&mut asked).max(0.0);
                    let command =
                        if approve { Command::Approve(negotiation_id) } else { Command::Decline(negotiation_id) };
                    (think, command)
                }
                Event::Finalized { agreement_id, .. } => {
                    let revoke = (revoking.next_u64() as f64 / u64::MAX as f64) < people.revoke;
                    let after = people.revoke_after_s.sample(&mut revoking).max(0.0);
                    if !revoke {
                        continue;
                    }
                    (after, Command::Revoke { agreement_id, reason: "simulated owner".into() })
                }
                _ => continue,
            };
            let decisions = decisions.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_secs_f64(wait * scale)).await;
                let _ = decisions.send((index, command)).await;
            });
        }
    });
}

/// A bare libp2p peer that speaks the protocols but sends garbage: a malformed negotiation
/// message to each node it reaches, and a gossip message that is not an envelope every 200 ms
/// on each topic a peer follows.
async fn malformed_peer(secret: [u8; 32], targets: Vec<Multiaddr>, stop: Arc<std::sync::atomic::AtomicBool>) {
    use futures::StreamExt as _;
    use libp2p::gossipsub;
    use libp2p::swarm::SwarmEvent;
    use me2b_node::net::{self, BehaviourEvent, DirectRequest};
    let config = NetConfig { mdns: false, ..NetConfig::default() };
    let Ok(key) = net::libp2p_keypair(secret) else { return };
    let Ok(mut swarm) = net::build_memory_swarm(key, &config, &mut net::gossip_registry()) else { return };
    for target in targets {
        let _ = swarm.dial(target);
    }
    let mut topics = std::collections::BTreeSet::new();
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        tokio::select! {
            event = swarm.select_next_some() => match event {
                SwarmEvent::ConnectionEstablished { peer_id, .. } => {
                    let garbage = DirectRequest { kind: me2b_proto::envelope::MessageKind::Negotiation, bytes: vec![0x0a, 0xff, 0xff, 0x01] };
                    swarm.behaviour_mut().negotiate.send_request(&peer_id, garbage);
                }
                SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(gossipsub::Event::Subscribed { topic, .. }))
                    if topics.insert(topic.clone()) =>
                {
                    let _ = swarm.behaviour_mut().gossipsub.subscribe(&gossipsub::IdentTopic::new(topic.into_string()));
                }
                _ => {}
            },
            _ = tick.tick() => {
                for topic in &topics {
                    let _ = swarm.behaviour_mut().gossipsub.publish(topic.clone(), b"not an envelope".to_vec());
                }
            }
        }
    }
}
