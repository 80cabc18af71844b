//! Plays a scenario against real `me2b` daemons, wherever they run (network namespaces on one
//! machine, pods in Kubernetes), through nothing but their HTTP API: the same workload the
//! in-process run plays (drawn from the same scenario and seed), set up, connected and driven
//! with the API's own request bodies, the simulated owners deciding with the same draws
//! ([`Owner`]); every daemon's event stream (server-sent events) is recorded, and the same
//! `metrics.csv` and `summary.json` are written (`drive/summary.rs`).
//!
//! The daemons are listed in `cluster.json` ([`Cluster`]). The driver plays what an API can
//! do: campaigns, intents, device activity, the owners' approvals, declines and revocations.
//! Churn, partitions, DHT lookups and the adversaries act inside the process or on the
//! network, not through an API; a scenario with them is refused, naming them.

pub mod netns;
mod summary;

use crate::run::{Owner, SetUp, WARM_UP, dht_bootstrap_list, running};
use crate::scenario::Scenario;
use crate::workload::{Action, Workload};
use anyhow::{Context as _, Result, bail};
use futures::StreamExt as _;
use me2b_node::api::views::value_to_json;
use me2b_node::api::{Campaign, CatalogDoc, CatalogItemDoc, ConnectBody, IntentBody, MAX_LIMIT, Subscribe};
use me2b_proto::document::{PolicyDoc, TermsDoc};
use me2b_proto::engine::{Provenance, Role};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// How long one API call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// Events waiting for the recorder, from all daemons; beyond this the streams wait (and a
/// daemon's stream that falls too far behind is resumed from its last event id).
const RECORDER_QUEUE: usize = 1 << 16;
/// Times an event stream is resumed after it ends before the driver gives it up.
const STREAM_RESUMES: u32 = 5;
/// Failed calls whose message the summary keeps (all are counted).
const FAILURES_KEPT: usize = 20;

/// `cluster.json`: the daemons to drive. People are taken in order for the scenario's people,
/// businesses in order for its businesses.
///
/// ```json
/// {"links": "netem: one-way latency per pair from the scenario",
///  "nodes": [{"role": "person", "api": "http://10.231.7.2:40123", "token": "…",
///             "address": "/ip4/10.231.7.2/tcp/39877/p2p/12D3KooW…", "pid": 4242}]}
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cluster {
    /// The daemons.
    pub nodes: Vec<Member>,
    /// How the links between them are shaped, for the record (e.g. `netem: …`, `none`).
    #[serde(default)]
    pub links: String,
}

/// One daemon of a cluster.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Member {
    /// `person` or `business`.
    pub role: String,
    /// Its API, e.g. `http://10.231.7.2:40123` (the address it is bound to: the API checks
    /// the Host header).
    pub api: String,
    /// Its API token (the `api-token` file of its data directory).
    pub token: String,
    /// Its libp2p address, ending in `/p2p/PEER_ID`, as the other daemons reach it (default:
    /// the listen address the daemon reports on its API's host).
    #[serde(default)]
    pub address: Option<String>,
    /// Its process id, when it runs on this machine (for its memory).
    #[serde(default)]
    pub pid: Option<u32>,
}

impl Cluster {
    /// Reads and checks `cluster.json`.
    pub fn load(path: &Path) -> Result<Cluster> {
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        let cluster: Cluster = serde_json::from_str(&text).with_context(|| format!("{}", path.display()))?;
        cluster.check().with_context(|| format!("{}", path.display()))?;
        Ok(cluster)
    }

    /// Every member's role, API and address make sense.
    pub fn check(&self) -> Result<()> {
        for (i, member) in self.nodes.iter().enumerate() {
            if member.role != "person" && member.role != "business" {
                bail!("nodes[{i}].role is {:?}: `person` or `business`", member.role);
            }
            if !member.api.starts_with("http://") && !member.api.starts_with("https://") {
                bail!("nodes[{i}].api is {:?}: an http:// URL", member.api);
            }
            if let Some(address) = &member.address {
                let parsed: libp2p::Multiaddr =
                    address.parse().with_context(|| format!("nodes[{i}].address {address:?}"))?;
                if !matches!(parsed.iter().last(), Some(libp2p::multiaddr::Protocol::P2p(_))) {
                    bail!("nodes[{i}].address {address:?} must end in /p2p/PEER_ID");
                }
            }
        }
        Ok(())
    }

    /// The member playing each node of `scenario`: people first, then businesses.
    fn assign(&self, scenario: &Scenario) -> Result<Vec<usize>> {
        let of = |role: &str| -> Vec<usize> {
            self.nodes.iter().enumerate().filter(|(_, m)| m.role == role).map(|(i, _)| i).collect()
        };
        let (all_people, all_businesses) = (of("person"), of("business"));
        let people: Vec<usize> = all_people.iter().copied().take(scenario.people.count).collect();
        let businesses: Vec<usize> = all_businesses.iter().copied().take(scenario.businesses.count).collect();
        if people.len() < scenario.people.count || businesses.len() < scenario.businesses.count {
            bail!(
                "the scenario has {} people and {} businesses; the cluster has {} and {}",
                scenario.people.count,
                scenario.businesses.count,
                all_people.len(),
                all_businesses.len()
            );
        }
        Ok(people.into_iter().chain(businesses).collect())
    }
}

/// What in `scenario` the driver cannot play through an API (empty: all of it).
pub fn unsupported(scenario: &Scenario) -> Vec<&'static str> {
    let a = &scenario.adversaries;
    let mut found = Vec::new();
    for (present, what) in [
        (scenario.churn.fraction > 0.0, "churn"),
        (scenario.network.partition.is_some(), "network.partition"),
        (scenario.network.dht && scenario.network.lookups_per_s > 0.0, "network.lookups_per_s"),
        (a.sybils > 0, "adversaries.sybils"),
        (a.flooders > 0, "adversaries.flooders"),
        (a.malformed > 0, "adversaries.malformed"),
        (a.poisoners > 0, "adversaries.poisoners"),
        (a.ignore_revocations > 0, "adversaries.ignore_revocations"),
    ] {
        if present {
            found.push(what);
        }
    }
    found
}

/// A daemon as the driver knows it.
struct Daemon {
    api: String,
    token: String,
    role: Role,
    address: String,
    peer_id: String,
    key: String,
    pid: Option<u32>,
}

/// Something a daemon's event stream said, when it arrived.
pub(crate) struct Heard {
    pub(crate) at: Instant,
    pub(crate) node: usize,
    pub(crate) event: serde_json::Value,
}

/// What the driver did and saw, for the report.
pub(crate) struct Driven {
    pub(crate) scenario: Arc<Scenario>,
    pub(crate) workload: Workload,
    pub(crate) seed: u64,
    pub(crate) roles: Vec<Role>,
    /// Public key (hex) and peer id of each node.
    pub(crate) keys: Vec<String>,
    pub(crate) peer_ids: Vec<String>,
    /// Everything the event streams said, in order of arrival.
    pub(crate) heard: Vec<Heard>,
    /// Requests published: id, node, when, campaign.
    pub(crate) published: Vec<(String, usize, Instant, usize)>,
    /// Intents published: id, node, when.
    pub(crate) intents: Vec<(String, usize, Instant)>,
    /// Each person's agreements at the end: (person, agreement id, state, context).
    pub(crate) agreements: Vec<(usize, String, String, String)>,
    /// Peers connected at the end, by node.
    pub(crate) connected_at_end: Vec<usize>,
    /// Resident memory of each daemon at the end (MiB), when its process is on this machine.
    pub(crate) memory_mib: Vec<f64>,
    pub(crate) started: Instant,
    pub(crate) setup: Duration,
    pub(crate) wall: Duration,
    pub(crate) calls: u64,
    pub(crate) failures: (u64, Vec<String>),
    pub(crate) links: String,
    /// The driver's own event-loop lag and CPU over the workload.
    pub(crate) monitor: crate::monitor::Monitor,
}

/// The HTTP side: one client, the daemons, and the count of calls and failures.
struct Api {
    http: reqwest::Client,
    daemons: Vec<Daemon>,
    calls: AtomicU64,
    failed: AtomicU64,
    failures: Mutex<Vec<String>>,
}

impl Api {
    /// `METHOD PATH` on node `node`'s API with `body` as JSON; its JSON answer. A failure is
    /// counted and kept (the first [`FAILURES_KEPT`]) as well as returned.
    async fn call<B: Serialize + ?Sized>(
        &self,
        node: usize,
        method: reqwest::Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<serde_json::Value> {
        let answer = self.try_call(node, method.clone(), path, body).await;
        self.calls.fetch_add(1, Ordering::Relaxed);
        if let Err(error) = &answer {
            self.failed.fetch_add(1, Ordering::Relaxed);
            if let Ok(mut kept) = self.failures.lock()
                && kept.len() < FAILURES_KEPT
            {
                kept.push(format!("node {node}: {method} {path}: {error:#}"));
            }
        }
        answer
    }

    async fn try_call<B: Serialize + ?Sized>(
        &self,
        node: usize,
        method: reqwest::Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<serde_json::Value> {
        let daemon = &self.daemons[node];
        let mut request =
            self.http.request(method, format!("{}{path}", daemon.api)).bearer_auth(&daemon.token).timeout(CALL_TIMEOUT);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await?;
        let status = response.status();
        let text = response.text().await?;
        if !status.is_success() {
            bail!("{status}: {}", text.chars().take(300).collect::<String>());
        }
        Ok(if text.is_empty() { serde_json::Value::Null } else { serde_json::from_str(&text)? })
    }

    async fn get(&self, node: usize, path: &str) -> Result<serde_json::Value> {
        self.call::<()>(node, reqwest::Method::GET, path, None).await
    }

    async fn post<B: Serialize + ?Sized>(&self, node: usize, path: &str, body: &B) -> Result<serde_json::Value> {
        self.call(node, reqwest::Method::POST, path, Some(body)).await
    }

    async fn put<B: Serialize + ?Sized>(&self, node: usize, path: &str, body: &B) -> Result<serde_json::Value> {
        self.call(node, reqwest::Method::PUT, path, Some(body)).await
    }

    /// Every item of a paginated list, following its `limit`/`after` cursor.
    async fn list(&self, node: usize, path: &str, key: &str) -> Result<Vec<serde_json::Value>> {
        let mut items = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let query = match &after {
                Some(after) => format!("{path}?limit={MAX_LIMIT}&after={after}"),
                None => format!("{path}?limit={MAX_LIMIT}"),
            };
            let page = self.get(node, &query).await?;
            let page = page.as_array().cloned().unwrap_or_default();
            let full = page.len() == MAX_LIMIT;
            after = page.last().and_then(|item| item[key].as_str()).map(str::to_owned);
            items.extend(page);
            if !full || after.is_none() {
                return Ok(items);
            }
        }
    }
}

/// Follows node `node`'s event stream into `sink` until the sink closes, resuming after its
/// last event id when the stream ends (at most [`STREAM_RESUMES`] times in a row).
async fn listen(api: Arc<Api>, node: usize, sink: mpsc::Sender<Heard>) {
    use eventsource_stream::Eventsource as _;
    let daemon = &api.daemons[node];
    let mut last_id: Option<String> = None;
    let mut resumes = 0;
    while resumes <= STREAM_RESUMES {
        let mut request = api.http.get(format!("{}/v1/events", daemon.api)).bearer_auth(&daemon.token);
        if let Some(id) = &last_id {
            request = request.header("Last-Event-ID", id.as_str());
        }
        let Ok(response) = request.send().await else {
            resumes += 1;
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        let mut events = response.bytes_stream().eventsource();
        while let Some(event) = events.next().await {
            let Ok(event) = event else { break };
            resumes = 0;
            if !event.id.is_empty() {
                last_id = Some(event.id.clone());
            }
            let Ok(body) = serde_json::from_str::<serde_json::Value>(&event.data) else { continue };
            if sink.send(Heard { at: Instant::now(), node, event: body }).await.is_err() {
                return;
            }
        }
        resumes += 1;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tracing::warn!(node, "event stream given up");
}

/// Plays `scenario` with `seed` against `cluster` and writes `metrics.csv` and
/// `summary.json` into `out`; returns the summary.
pub async fn drive(scenario: Scenario, seed: u64, cluster: &Cluster, out: &Path) -> Result<serde_json::Value> {
    let refused = unsupported(&scenario);
    if !refused.is_empty() {
        bail!(
            "the driver plays campaigns, intents, activities and the owners' decisions through the API; this \
             scenario also has {}, which only the in-process run (`me2b-sim run`) plays",
            refused.join(", ")
        );
    }
    if scenario.time_scale != 1.0 {
        eprintln!(
            "note: real daemons run at time scale 1 (their timers are their own); the scenario's time_scale {} is ignored",
            scenario.time_scale
        );
    }
    let scenario = Arc::new(scenario);
    let workload = Workload::draw(&scenario, seed)?;
    let members = cluster.assign(&scenario)?;
    let api = Arc::new(connect(cluster, &members).await?);
    let roles: Vec<Role> = api.daemons.iter().map(|d| d.role).collect();

    let (sink, mut heard_input) = mpsc::channel(RECORDER_QUEUE);
    let listeners: Vec<_> =
        (0..api.daemons.len()).map(|node| tokio::spawn(listen(api.clone(), node, sink.clone()))).collect();
    drop(sink);
    let setup_started = Instant::now();
    eprintln!("setting up {} daemons", api.daemons.len());
    for node in 0..api.daemons.len() {
        set_up(&api, &SetUp::of(&scenario, &workload, node)?, node).await?;
    }
    for node in 0..api.daemons.len() {
        let known: Vec<usize> = if scenario.network.dht {
            dht_bootstrap_list(&scenario, seed, &roles, node)
        } else if roles[node] == Role::Person {
            (0..roles.len()).filter(|&i| roles[i] == Role::Business).collect()
        } else {
            Vec::new()
        };
        for other in known {
            let body = ConnectBody { address: api.daemons[other].address.clone(), dial: false };
            api.post(node, "/v1/peers", &body).await?;
        }
    }
    for node in 0..api.daemons.len() {
        for other in &workload.dials[node] {
            let body = ConnectBody { address: api.daemons[*other].address.clone(), dial: true };
            // A refused dial is a figure (counted), not the end of the run.
            let _ = api.post(node, "/v1/peers", &body).await;
        }
    }
    eprintln!("warming up the gossip mesh");
    tokio::time::sleep(WARM_UP).await;
    let setup = setup_started.elapsed();

    eprintln!("playing the workload ({} actions)", workload.timeline.len());
    let mut play = Play {
        api: api.clone(),
        scenario: scenario.clone(),
        workload: workload.clone(),
        owners: (0..scenario.people.count).map(|i| Owner::new(&scenario, seed, i)).collect(),
        running_km: workload.people.iter().map(|p| p.running_km).collect(),
        heard: Vec::new(),
        published: Vec::new(),
        intents: Vec::new(),
    };
    let monitor = crate::monitor::Monitor::start();
    let started = Instant::now();
    play.run(started, &mut heard_input).await?;
    let wall = started.elapsed();
    let monitor = monitor.stop().await;

    eprintln!("collecting results");
    let (agreements, connected_at_end, memory_mib) = collect(&api).await;
    for listener in &listeners {
        listener.abort();
    }
    while let Ok(heard) = heard_input.try_recv() {
        play.heard.push(heard);
    }
    let failures = (api.failed.load(Ordering::Relaxed), api.failures.lock().map(|f| f.clone()).unwrap_or_default());
    let driven = Driven {
        scenario,
        workload,
        seed,
        roles,
        keys: api.daemons.iter().map(|d| d.key.clone()).collect(),
        peer_ids: api.daemons.iter().map(|d| d.peer_id.clone()).collect(),
        heard: play.heard,
        published: play.published,
        intents: play.intents,
        agreements,
        connected_at_end,
        memory_mib,
        started,
        setup,
        wall,
        calls: api.calls.load(Ordering::Relaxed),
        failures,
        links: cluster.links.clone(),
        monitor,
    };
    summary::write(&driven, out)
}

/// Asks every member who it is, and checks its role.
async fn connect(cluster: &Cluster, members: &[usize]) -> Result<Api> {
    let http = me2b_node::api::client().connect_timeout(Duration::from_secs(10)).build()?;
    let daemons = members
        .iter()
        .map(|&m| &cluster.nodes[m])
        .map(|member| Daemon {
            api: member.api.trim_end_matches('/').to_owned(),
            token: member.token.clone(),
            role: if member.role == "person" { Role::Person } else { Role::Business },
            address: member.address.clone().unwrap_or_default(),
            peer_id: String::new(),
            key: String::new(),
            pid: member.pid,
        })
        .collect();
    let mut api =
        Api { http, daemons, calls: AtomicU64::new(0), failed: AtomicU64::new(0), failures: Mutex::new(Vec::new()) };
    for node in 0..api.daemons.len() {
        let status = api.get(node, "/v1/status").await.with_context(|| api.daemons[node].api.clone())?;
        let role = status["role"].as_str().unwrap_or_default();
        let expected = if api.daemons[node].role == Role::Person { "person" } else { "business" };
        if role != expected {
            bail!("{} is a {role}, cluster.json says {expected}", api.daemons[node].api);
        }
        let text = |key: &str| status[key].as_str().unwrap_or_default().to_owned();
        let (key, peer_id) = (text("public_key"), text("peer_id"));
        if api.daemons[node].address.is_empty() {
            let listening: Vec<String> = serde_json::from_value(status["listen_addrs"].clone()).unwrap_or_default();
            let address = reachable(&api.daemons[node].api, &listening)
                .with_context(|| format!("{}: no listen address to give the others", api.daemons[node].api))?;
            api.daemons[node].address = format!("{address}/p2p/{peer_id}");
        }
        api.daemons[node].key = key;
        api.daemons[node].peer_id = peer_id;
    }
    Ok(api)
}

/// Of a daemon's listen addresses, the one on its API's host (where the driver reaches it, so
/// the others can too), else the first that is not loopback.
fn reachable(api: &str, listening: &[String]) -> Option<String> {
    let host = api.split("://").nth(1)?.rsplit_once(':').map(|(host, _)| host.trim_matches(['[', ']']))?;
    let on_host = listening.iter().find(|a| a.split('/').nth(2) == Some(host));
    let not_loopback = || listening.iter().find(|a| !a.contains("/127.0.0.1/") && !a.contains("/::1/"));
    on_host.or_else(not_loopback).cloned()
}

/// Gives node `node` its set-up through the API.
async fn set_up(api: &Api, set_up: &SetUp, node: usize) -> Result<()> {
    if let Some(policy) = &set_up.policy {
        api.put(node, "/v1/policy", &PolicyDoc::from(policy)).await?;
    }
    for (path, value, provenance) in &set_up.records {
        api.post(node, "/v1/data", &import(path, value, provenance)).await?;
    }
    if !set_up.follow.is_empty() {
        let categories = set_up.follow.iter().map(ToString::to_string).collect();
        api.post(node, "/v1/subscriptions", &Subscribe { categories, unsubscribe: false }).await?;
    }
    if !set_up.catalog.is_empty() {
        let items = set_up
            .catalog
            .iter()
            .map(|item| CatalogItemDoc {
                category: item.category.to_string(),
                spec: item.spec.clone(),
                description: item.description.clone(),
                price: item.price.to_string(),
                terms: TermsDoc::from(&item.terms),
            })
            .collect();
        api.put(node, "/v1/catalog", &CatalogDoc { items }).await?;
    }
    Ok(())
}

/// The API's import body for one record.
fn import(
    path: &me2b_proto::vocab::FieldPath,
    value: &me2b_proto::value::Value,
    provenance: &Provenance,
) -> me2b_node::api::Import {
    let provenance = match provenance {
        Provenance::Device(name) => Some(format!("device:{name}")),
        _ => None,
    };
    me2b_node::api::Import { records: BTreeMap::from([(path.to_string(), value_to_json(value))]), provenance }
}

/// The playing of the timeline: the API, the owners, and what was published and heard.
struct Play {
    api: Arc<Api>,
    scenario: Arc<Scenario>,
    workload: Workload,
    owners: Vec<Owner>,
    running_km: Vec<f64>,
    heard: Vec<Heard>,
    published: Vec<(String, usize, Instant, usize)>,
    intents: Vec<(String, usize, Instant)>,
}

impl Play {
    /// Plays the timeline from `started`, then drains; every event heard is kept, and each
    /// person's owner answers their node's questions and revokes as drawn.
    async fn run(&mut self, started: Instant, heard: &mut mpsc::Receiver<Heard>) -> Result<()> {
        let duration = self.scenario.duration()?;
        let end = started + duration;
        let drained = end + self.scenario.drain()?;
        let expires = duration + self.scenario.drain()? + Duration::from_secs(3600);
        let timeline = self.workload.timeline.clone();
        let mut next = timeline.iter().peekable();
        loop {
            let next_at = next.peek().map(|t| started + Duration::from_millis(t.at_ms)).filter(|at| *at < end);
            let wake = next_at.unwrap_or(drained);
            tokio::select! {
                Some(event) = heard.recv() => {
                    self.owner(&event);
                    self.heard.push(event);
                }
                () = tokio::time::sleep_until(wake.into()) => {
                    match next_at {
                        Some(_) => {
                            if let Some(timed) = next.next() {
                                self.act(&timed.action, expires).await;
                            }
                        }
                        None => return Ok(()),
                    }
                }
            }
        }
    }

    /// A person's owner reacts to their node's event: a question is answered after a think
    /// time, an agreement maybe revoked after a while.
    fn owner(&mut self, heard: &Heard) {
        let node = heard.node;
        let Some(owner) = self.owners.get_mut(node) else { return };
        let kind = heard.event["type"].as_str().unwrap_or_default();
        let (wait, path) = match kind {
            "awaiting-owner" => {
                let Some(id) = heard.event["negotiation_id"].as_str() else { return };
                let (approve, think) = owner.asked();
                (think, format!("/v1/pending/{id}/{}", if approve { "approve" } else { "decline" }))
            }
            "agreement-finalized" => {
                let Some(id) = heard.event["agreement_id"].as_str() else { return };
                let Some(after) = owner.finalized() else { return };
                (after, format!("/v1/agreements/{id}/revoke"))
            }
            _ => return,
        };
        let api = self.api.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs_f64(wait)).await;
            let _ = api.post(node, &path, &serde_json::json!({})).await;
        });
    }

    /// Carries out one action of the timeline through the API.
    async fn act(&mut self, action: &Action, expires: Duration) {
        let expires_text = format!("{}s", expires.as_secs());
        match action {
            Action::Campaign { business, campaign } => {
                let Some(entry) = self.scenario.businesses.campaigns.get(*campaign) else { return };
                let body = Campaign {
                    category: entry.category.clone(),
                    description: format!("campaign {campaign}"),
                    expires: Some(expires_text),
                    terms: entry.terms.clone(),
                };
                if let Ok(answer) = self.api.post(*business, "/v1/campaigns", &body).await
                    && let Some(id) = answer["id"].as_str()
                {
                    self.published.push((id.to_owned(), *business, Instant::now(), *campaign));
                }
            }
            Action::Intent { person } => {
                let Some(category) = &self.scenario.people.intent_category else { return };
                let size = self.workload.people[*person].shoe_size;
                let body = IntentBody {
                    category: category.clone(),
                    spec: BTreeMap::from([("size_eu".to_string(), format!("{size}"))]),
                    max_price: Some("120 EUR".into()),
                    shares: Vec::new(),
                    expires: Some(expires_text),
                };
                if let Ok(answer) = self.api.post(*person, "/v1/intents", &body).await
                    && let Some(id) = answer["id"].as_str()
                {
                    self.intents.push((id.to_owned(), *person, Instant::now()));
                }
            }
            Action::Activity { person, km } => {
                self.running_km[*person] += km;
                if let Ok((path, value, provenance)) = running(self.running_km[*person]) {
                    let _ = self.api.post(*person, "/v1/data", &import(&path, &value, &provenance)).await;
                }
            }
            // Refused before the run (`unsupported`).
            Action::Leave { .. }
            | Action::Return { .. }
            | Action::Flood { .. }
            | Action::FakeIntent { .. }
            | Action::LookUp { .. }
            | Action::Flash
            | Action::Partition
            | Action::Heal => {}
        }
    }
}

/// At the end: each person's agreements (id, state, context), peers connected per node, and
/// each local daemon's resident memory.
async fn collect(api: &Api) -> (Vec<(usize, String, String, String)>, Vec<usize>, Vec<f64>) {
    let mut agreements = Vec::new();
    let mut connected = Vec::new();
    let mut memory = Vec::new();
    for (node, daemon) in api.daemons.iter().enumerate() {
        if daemon.role == Role::Person
            && let Ok(list) = api.list(node, "/v1/agreements", "id").await
        {
            for item in list {
                let text = |key: &str| item[key].as_str().unwrap_or_default().to_owned();
                agreements.push((node, text("id"), text("state"), text("context")));
            }
        }
        let status = api.get(node, "/v1/status").await.unwrap_or_default();
        connected.push(status["connected_peers"].as_u64().unwrap_or(0) as usize);
        memory.push(daemon.pid.map(crate::monitor::resident_memory_of).unwrap_or(0.0));
    }
    (agreements, connected, memory)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn scenario(name: &str) -> Scenario {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("scenarios/{name}.toml"));
        Scenario::load_with(&path, &[]).unwrap().0
    }

    #[test]
    fn a_scenario_with_what_an_api_cannot_play_is_refused_by_name() {
        assert!(unsupported(&scenario("cluster")).is_empty());
        assert_eq!(unsupported(&scenario("churn")), vec!["churn"]);
        assert!(unsupported(&scenario("sybil-cold-boot")).contains(&"adversaries.sybils"));
        assert!(unsupported(&scenario("revocation-partition")).contains(&"network.partition"));
    }

    #[test]
    fn a_cluster_file_is_checked_member_by_member() {
        let member = |role: &str, address: Option<&str>| Member {
            role: role.into(),
            api: "http://10.0.0.2:7000".into(),
            token: "t".into(),
            address: address.map(str::to_owned),
            pid: None,
        };
        let peer = "12D3KooWJ4cWCbWPDEq4PoVSNWR5FQgtuwuS8eMHhp1iBmXUMBX4";
        let good = Cluster {
            nodes: vec![member("person", Some(&format!("/ip4/10.0.0.2/tcp/1/p2p/{peer}")))],
            links: String::new(),
        };
        assert!(good.check().is_ok());
        let wrong_role = Cluster { nodes: vec![member("shop", None)], links: String::new() };
        assert!(wrong_role.check().unwrap_err().to_string().contains("`person` or `business`"));
        let no_peer = Cluster { nodes: vec![member("person", Some("/ip4/10.0.0.2/tcp/1"))], links: String::new() };
        assert!(no_peer.check().unwrap_err().to_string().contains("/p2p/PEER_ID"));
        let too_few = Cluster { nodes: vec![member("person", None)], links: String::new() };
        assert!(too_few.assign(&scenario("cluster")).unwrap_err().to_string().contains("12 people and 3 businesses"));
    }

    #[test]
    fn the_address_given_to_the_others_is_the_one_on_the_api_host() {
        let listening = vec!["/ip4/127.0.0.1/tcp/6428".to_owned(), "/ip4/10.1.2.3/tcp/6428".to_owned()];
        assert_eq!(reachable("http://10.1.2.3:6429", &listening).as_deref(), Some("/ip4/10.1.2.3/tcp/6428"));
        // A driver reaching the API another way still gets an address that is not loopback.
        assert_eq!(reachable("http://me2b-0.people:6429", &listening).as_deref(), Some("/ip4/10.1.2.3/tcp/6428"));
        assert_eq!(reachable("http://10.1.2.3:6429", &["/ip4/127.0.0.1/tcp/1".to_owned()]), None);
    }
}
