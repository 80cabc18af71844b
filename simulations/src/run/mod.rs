//! Runs a scenario: starts every node as a real `me2b_node::Node` on the memory transport with
//! modelled links, drives the workload, and records what every node reports.

mod actors;
pub use actors::{Owner, SybilStats};
mod phases;

use actors::{SybilSwitches, malformed_peer, spam, spawn_owner, sybil};
use phases::Played;

use crate::links::{Links, Registry};
use crate::monitor::Monitor;
use crate::scenario::{Scenario, SybilAttack};
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
use me2b_proto::vocab::{Category, FieldPath, Purpose};
use rand_core::Rng as _;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Events waiting for the recorder; beyond this the nodes' event streams lag and the loss is
/// counted.
const RECORDER_QUEUE: usize = 1 << 16;

/// How many DHT servers each node's bootstrap list names, with the DHT on.
const DHT_BOOTSTRAP: usize = 3;

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
    /// Peers connected when the run ended (0 for a node that was not running).
    pub connected_at_end: usize,
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
    /// Fake intents the poisoners published.
    pub fake_intents: Vec<me2b_proto::identity::IntentId>,
    /// What the Sybils did.
    pub sybils: Arc<SybilStats>,
    /// Final states of the nodes that were running at the end.
    pub states: BTreeMap<usize, State>,
    /// What each node counted over all its sessions.
    pub tallies: Vec<Tally>,
    /// Wire bytes each node sent.
    pub wire_bytes: Vec<u64>,
    /// Node keys, by index.
    pub keys: Vec<PublicKey>,
    /// The keys people's personas showed to businesses (one toward each business, one per
    /// intent), with the person's index: the simulator knows every secret, the businesses do
    /// not.
    pub personas: Vec<(PublicKey, usize)>,
    /// Roles, by index.
    pub roles: Vec<Role>,
    /// Events the recorder could not keep up with.
    pub events_lost: u64,
    /// Wall time of the workload and drain.
    pub wall: Duration,
    /// Wall time of set-up.
    pub setup: Duration,
    /// Resident memory after set-up, before the workload: every node up and idle (MiB).
    pub idle_memory_mib: f64,
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

/// A person's season total of kilometres run, as their watch reports it: one point, so sums
/// over the season are the total.
pub fn running(total_km: f64) -> Result<(FieldPath, Value, Provenance)> {
    let season = Timestamp::from_millis(now().as_millis().saturating_sub(30 * 86_400_000));
    let runs = Value::Series(vec![Point::new(season, total_km)]);
    Ok(("activity.running_km".parse()?, runs, Provenance::Device("watch".into())))
}

/// What node `index` is given before the workload: a person's policy, records and follows, a
/// business's follows and catalog. The in-process run applies it as engine commands, the
/// driver of real daemons ([`crate::drive`]) through their API.
#[derive(Debug, Clone, Default)]
pub struct SetUp {
    /// A person's policy.
    pub policy: Option<Policy>,
    /// Records to store.
    pub records: Vec<(FieldPath, Value, Provenance)>,
    /// Categories to follow.
    pub follow: Vec<Category>,
    /// A business's catalog.
    pub catalog: Vec<CatalogItem>,
}

impl SetUp {
    /// The set-up of node `index` in `scenario` with `workload`.
    pub fn of(scenario: &Scenario, workload: &Workload, index: usize) -> Result<SetUp> {
        let mut set_up = SetUp::default();
        if index < scenario.people.count {
            let plan = &workload.people[index];
            set_up.policy = Some(person_policy(plan.shares_without_asking)?);
            set_up.records.push(("body.shoe_size_eu".parse()?, Value::Number(plan.shoe_size), Provenance::Owner));
            set_up.records.push(running(plan.running_km)?);
            if plan.health_record {
                set_up.records.push(("health.acquired.asthma".parse()?, Value::Boolean(true), Provenance::Owner));
            }
            set_up.follow = scenario.people.follow.iter().map(|c| c.parse()).collect::<Result<_, _>>()?;
        } else if index < scenario.people.count + scenario.businesses.count {
            set_up.follow = scenario.businesses.follow.iter().map(|c| c.parse()).collect::<Result<_, _>>()?;
            for entry in &scenario.businesses.catalog {
                set_up.catalog.push(CatalogItem {
                    category: entry.category.parse()?,
                    spec: entry.spec.clone(),
                    description: format!("product of business {index}"),
                    price: Money::new(entry.price_eur * 100, "EUR")?,
                    terms: entry.terms.terms(Timestamp::EPOCH).map_err(|e| anyhow::anyhow!("catalog: {e}"))?,
                });
            }
        }
        Ok(set_up)
    }
}

/// The `DHT_BOOTSTRAP` (3) DHT servers node `index` has in its bootstrap list, drawn from the
/// seed: businesses, or every other node when everyone serves.
pub fn dht_bootstrap_list(scenario: &Scenario, seed: u64, roles: &[Role], index: usize) -> Vec<usize> {
    let everyone = scenario.network.dht_servers == crate::scenario::DhtServers::Everyone;
    let servers: Vec<usize> =
        (0..roles.len()).filter(|&i| i != index && (everyone || roles[i] == Role::Business)).collect();
    if servers.is_empty() {
        return Vec::new();
    }
    let mut pick = rng(seed, "dht-bootstrap", index as u64);
    (0..DHT_BOOTSTRAP.min(servers.len())).map(|_| servers[(pick.next_u64() % servers.len() as u64) as usize]).collect()
}

/// How long a simulated person's agent collects answers to an intent before choosing (the
/// node's default is 10 s; shorter keeps short scenarios' intents inside the run). The
/// namespace cluster's daemons are given the same (`intent_window` in their config).
pub const INTENT_WINDOW: Duration = Duration::from_secs(3);

/// How long the gossip meshes get to form after the topology is connected, before the
/// workload starts (wall time at time scale 1).
pub const WARM_UP: Duration = Duration::from_secs(3);

struct Runner {
    scenario: Arc<Scenario>,
    workload: Workload,
    registry: Arc<Registry>,
    nodes: Vec<SimNode>,
    events: mpsc::Sender<(Instant, usize, Heard)>,
    seed: u64,
    /// Each person's running total, as their devices report it.
    running_km: Vec<f64>,
    /// The Sybils' switches and counts.
    sybils: SybilSwitches,
}

impl Runner {
    fn config(&self, index: usize) -> NodeConfig {
        let scale = self.scenario.time_scale;
        let node = &self.nodes[index];
        let mut config = NodeConfig::new(node.role, node.store.clone());
        config.transport = Transport::Memory;
        config.listen = vec![Multiaddr::empty().with(libp2p::multiaddr::Protocol::Memory(0))];
        config.small_store = true;
        if node.role == Role::Business {
            // Where people's personas dial it, and under which name.
            let name = format!("business {index}");
            config.profile = Some(me2b_proto::profile::BusinessProfile { name, ..Default::default() });
        }
        config.intent_window = INTENT_WINDOW.mul_f64(scale);
        config.negotiation_timeout = config.negotiation_timeout.mul_f64(scale);
        // The node's own defaults for its role, with every interval dilated by the time scale.
        let base = config.net.clone();
        let network = &self.scenario.network;
        config.net = NetConfig {
            mdns: false,
            heartbeat: base.heartbeat.mul_f64(scale),
            request_timeout: base.request_timeout.mul_f64(scale),
            gossip_per_peer: self.scenario.network.gossip_per_peer,
            dht: network.dht,
            dht_server: match network.dht_servers {
                crate::scenario::DhtServers::Everyone => true,
                crate::scenario::DhtServers::Businesses => base.dht_server,
            },
            dht_refresh: base.dht_refresh.mul_f64(scale),
            dht_boot_spread: base.dht_boot_spread.mul_f64(scale),
            trim_grace: base.trim_grace.mul_f64(scale),
            idle_timeout: self.scenario.idle_timeout().ok().flatten().unwrap_or(base.idle_timeout).mul_f64(scale),
            gossip_window: base.gossip_window.mul_f64(scale),
            max_connections: match (node.role, network.max_connections) {
                (Role::Person, Some(budget)) => budget,
                _ => base.max_connections,
            },
            outbound_reserve: match (node.role, network.outbound_reserve, network.max_connections) {
                (Role::Person, Some(reserve), _) => reserve,
                (Role::Person, None, Some(budget)) => budget / 4,
                _ => base.outbound_reserve,
            },
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

    /// With the DHT on, a node's bootstrap list, as a real node's configuration holds one:
    /// [`DHT_BOOTSTRAP`] nodes that serve the DHT, drawn from the seed, put in its routing
    /// table (not dialled: Kademlia dials them when it walks).
    async fn dht_bootstrap(&self, index: usize) {
        let Some(handle) = &self.nodes[index].handle else { return };
        let roles: Vec<Role> = self.nodes.iter().map(|n| n.role).collect();
        for server in dht_bootstrap_list(&self.scenario, self.seed, &roles, index) {
            if let Some(address) = &self.nodes[server].address
                && let Some(libp2p::multiaddr::Protocol::P2p(peer)) = address.iter().last()
            {
                let _ = handle.remember(peer, address.clone()).await;
            }
        }
    }

    async fn command(&self, index: usize, command: Command) -> Option<Handled> {
        let handle = self.nodes[index].handle.as_ref()?;
        handle.command(command).await.ok()
    }

    async fn set_up(&mut self, index: usize) -> Result<()> {
        let SetUp { policy, records, follow, catalog } = SetUp::of(&self.scenario, &self.workload, index)?;
        if let Some(policy) = policy {
            self.command(index, Command::SetPolicy(policy)).await;
        }
        for (path, value, provenance) in records {
            self.command(index, Command::SetRecord { path, value, provenance }).await;
        }
        for category in follow {
            self.command(index, Command::Subscribe(category)).await;
        }
        if !catalog.is_empty() {
            self.command(index, Command::SetCatalog(catalog)).await;
        }
        Ok(())
    }

    async fn activity(&mut self, person: usize, km: f64) -> Result<()> {
        self.running_km[person] += km;
        let (path, value, provenance) = running(self.running_km[person])?;
        self.command(person, Command::SetRecord { path, value, provenance }).await;
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
    runner.set_up_all(progress).await?;
    let setup = setup_started.elapsed();
    // Every node is up, connected and in its meshes, and nothing has happened yet.
    let idle_memory_mib = crate::monitor::resident_memory_mib();

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
    runner.registry.partitioned.store(false, std::sync::atomic::Ordering::Relaxed);
    runner.sybils.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let sybils = runner.sybils.stats.clone();

    progress.phase("collecting results");
    let (states, tallies, wire_bytes) = runner.collect().await?;
    let monitor = monitor.stop().await;
    let keys: Vec<PublicKey> = runner.nodes.iter().map(|n| n.key).collect();
    let roles = runner.nodes.iter().map(|n| n.role).collect();
    let personas = personas(&runner.nodes, &played.intents);
    drop(runner);
    drop(decisions);
    let (records, events_lost) = recorded(recorder.await?, started);
    let Played { published, intents, fake_intents } = played;
    Ok(Outcome {
        scenario,
        workload,
        records,
        published,
        intents,
        fake_intents,
        sybils,
        states,
        tallies,
        wire_bytes,
        keys,
        personas,
        roles,
        events_lost,
        wall,
        setup,
        idle_memory_mib,
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

/// Every persona key people may have shown: toward each business, and for each intent.
fn personas(
    nodes: &[SimNode],
    intents: &[(me2b_proto::identity::IntentId, usize, Duration)],
) -> Vec<(PublicKey, usize)> {
    use me2b_proto::identity::{Identities, Keypair, Persona};
    let identities = |node: &SimNode| Identities::new(Keypair::from_secret_bytes(&node.secret), true);
    let businesses: Vec<PublicKey> = nodes.iter().filter(|n| n.role == Role::Business).map(|n| n.key).collect();
    let mut personas = Vec::new();
    for (index, node) in nodes.iter().enumerate().filter(|(_, n)| n.role == Role::Person) {
        let identities = identities(node);
        personas.extend(businesses.iter().map(|b| (identities.public(Persona::Business(*b)), index)));
    }
    for (intent, index, _) in intents {
        if let Some(node) = nodes.get(*index) {
            personas.push((identities(node).public(Persona::Intent(*intent)), *index));
        }
    }
    personas
}
