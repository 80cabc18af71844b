//! Turns a run's records into `metrics.csv`, `summary.json`, SVG plots and a short summary.
//!
//! `metrics.csv` has one row per event a node reported:
//!
//! | column | meaning |
//! |---|---|
//! | `time_ms` | scenario time since the workload started (negative: during set-up) |
//! | `node` | node index (people first, then businesses, then adversaries) |
//! | `role` | `person` or `business` |
//! | `event` | e.g. `request-seen`, `agreement-finalized`, `data-received`, `peer-connected` |
//! | `subject` | the request, intent, negotiation or agreement id, or the topic |
//! | `peer` | the other node's index, if known |
//! | `latency_ms` | for `request-seen` and `intent-seen`: scenario time since publication |
//! | `floor_ms` | for those: the shortest-path latency over the connection graph |
//! | `detail` | the outcome, reason or field list |

mod attacks;

use crate::run::{Outcome, Record};
use crate::workload::link_latency;
use anyhow::Result;
use me2b_node::NodeEvent;
use me2b_proto::engine::{Event, Role};
use me2b_proto::identity::PublicKey;
use me2b_proto::messages::Context;
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap};
use std::path::Path;
use std::time::Duration;

/// The figures computed from a run.
pub struct Report {
    /// `summary.json`'s content.
    pub summary: serde_json::Value,
    /// Rows of `metrics.csv`.
    pub csv: String,
    /// Delivery latencies in scenario ms, sorted.
    pub latencies: Vec<f64>,
    /// Agreements finalized over time: (scenario seconds, cumulative count).
    pub agreements: Vec<(f64, usize)>,
    /// Wire bytes per node, in node order (empty: not known, no plot).
    pub traffic: Vec<u64>,
}

/// The `q` quantile of `sorted` (nearest rank).
pub(crate) fn percentile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    Some(sorted[((sorted.len() as f64 - 1.0) * q).round() as usize])
}

fn role_name(role: Role) -> &'static str {
    if role == Role::Person { "person" } else { "business" }
}

/// Shortest one-way latency (scenario ms) from `from` to every node over `edges`.
fn dijkstra(
    from: usize,
    edges: &BTreeMap<usize, BTreeSet<usize>>,
    weight: &dyn Fn(usize, usize) -> f64,
) -> HashMap<usize, f64> {
    #[derive(PartialEq)]
    struct Item(f64, usize);
    impl Eq for Item {}
    impl PartialOrd for Item {
        fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
            Some(self.cmp(other))
        }
    }
    impl Ord for Item {
        fn cmp(&self, other: &Self) -> std::cmp::Ordering {
            other.0.total_cmp(&self.0).then(other.1.cmp(&self.1))
        }
    }
    let mut best = HashMap::from([(from, 0.0)]);
    let mut queue = BinaryHeap::from([Item(0.0, from)]);
    while let Some(Item(distance, node)) = queue.pop() {
        if best.get(&node).is_some_and(|b| *b < distance) {
            continue;
        }
        for next in edges.get(&node).into_iter().flatten() {
            let candidate = distance + weight(node, *next);
            if best.get(next).is_none_or(|b| candidate < *b) {
                best.insert(*next, candidate);
                queue.push(Item(candidate, *next));
            }
        }
    }
    best
}

/// Computes the report of `outcome`: the timeline of events, the final states, the summary.
pub fn report(outcome: &Outcome, seed: u64) -> Result<Report> {
    let timeline = Timeline::scan(outcome, seed);
    let finals = Finals::count(outcome, &timeline);
    let summary = summary(outcome, seed, &timeline, &finals)?;
    let mut times = timeline.agreements_over_time.clone();
    times.sort_by(f64::total_cmp);
    let agreements = times.iter().enumerate().map(|(i, t)| (*t, i + 1)).collect();
    let Timeline { csv, latencies, .. } = timeline;
    let csv = String::from_utf8(csv.into_inner().map_err(|e| anyhow::anyhow!("metrics.csv: {e}"))?)?;
    Ok(Report { summary, csv, latencies, agreements, traffic: outcome.wire_bytes.clone() })
}

/// What the events say, in the order they arrived: the CSV rows, gossip deliveries and their
/// latency against the shortest-path floor, agreements, revocations and receipts.
struct Timeline {
    /// `metrics.csv`, written by the `csv` crate (quoting, escaping).
    csv: csv::Writer<Vec<u8>>,
    /// Gossip delivery latencies (scenario ms), sorted.
    latencies: Vec<f64>,
    /// Their ratios to the shortest path, sorted.
    ratios: Vec<f64>,
    /// (message id, node) of every first delivery.
    delivered: BTreeSet<([u8; 16], usize)>,
    /// Every request or intent by id: who published it and when.
    published: HashMap<[u8; 16], (usize, Duration)>,
    agreements_over_time: Vec<f64>,
    finalized_at: HashMap<(usize, String), Duration>,
    /// Revocation to receipt (scenario ms), sorted.
    receipt_latencies: Vec<f64>,
    terminated: BTreeMap<String, u64>,
    /// Each person's revocations, by (person, agreement): when revoked, and when the
    /// business's receipt confirmed the deletion (wall, since the workload's start).
    revocations: BTreeMap<(usize, String), (Duration, Option<Duration>)>,
    by_kind: BTreeMap<&'static str, u64>,
    defence: BTreeMap<&'static str, u64>,
}

/// Where the nodes are: indexes of keys and peer ids, and the connection graph they formed.
struct Graph {
    index_of_key: HashMap<PublicKey, usize>,
    index_of_peer: HashMap<libp2p::PeerId, usize>,
    edges: BTreeMap<usize, BTreeSet<usize>>,
}

impl Graph {
    fn of(outcome: &Outcome) -> Graph {
        let mut index_of_key: HashMap<PublicKey, usize> =
            outcome.keys.iter().enumerate().map(|(i, k)| (*k, i)).collect();
        // A business's events name people by their personas.
        index_of_key.extend(outcome.personas.iter().copied());
        let index_of_peer: HashMap<libp2p::PeerId, usize> =
            outcome.keys.iter().enumerate().filter_map(|(i, k)| me2b_node::net::peer_id(k).map(|p| (p, i))).collect();
        let mut edges: BTreeMap<usize, BTreeSet<usize>> = BTreeMap::new();
        for record in &outcome.records {
            if let NodeEvent::Connected { peer } = &record.event
                && let Some(other) = index_of_peer.get(peer)
            {
                edges.entry(record.node).or_default().insert(*other);
                edges.entry(*other).or_default().insert(record.node);
            }
        }
        Graph { index_of_key, index_of_peer, edges }
    }
}

impl Timeline {
    fn scan(outcome: &Outcome, seed: u64) -> Timeline {
        let graph = Graph::of(outcome);
        let published = outcome
            .published
            .iter()
            .map(|(id, node, at, _)| (id.to_bytes(), (*node, *at)))
            .chain(outcome.intents.iter().map(|(id, node, at)| (id.to_bytes(), (*node, *at))))
            .collect();
        let mut timeline = Timeline {
            csv: csv_writer(),
            latencies: Vec::new(),
            ratios: Vec::new(),
            delivered: BTreeSet::new(),
            published,
            agreements_over_time: Vec::new(),
            finalized_at: HashMap::new(),
            receipt_latencies: Vec::new(),
            terminated: BTreeMap::new(),
            revocations: BTreeMap::new(),
            by_kind: BTreeMap::new(),
            defence: BTreeMap::new(),
        };
        let mut floors: HashMap<usize, HashMap<usize, f64>> = HashMap::new();
        let mut revoked_at: HashMap<String, Duration> = HashMap::new();
        for record in &outcome.records {
            let (latency, floor) = timeline.delivery(outcome, seed, &graph, &mut floors, record);
            timeline.lifecycle(outcome, &mut revoked_at, record);
            timeline.row(outcome, &graph, record, latency, floor);
        }
        timeline.latencies.sort_by(f64::total_cmp);
        timeline.ratios.sort_by(f64::total_cmp);
        timeline.receipt_latencies.sort_by(f64::total_cmp);
        timeline
    }

    /// A first gossip delivery: its latency and the shortest-path floor (scenario ms).
    fn delivery(
        &mut self,
        outcome: &Outcome,
        seed: u64,
        graph: &Graph,
        floors: &mut HashMap<usize, HashMap<usize, f64>>,
        Record { at, node, event }: &Record,
    ) -> (Option<f64>, Option<f64>) {
        let id = match event {
            NodeEvent::Engine(Event::RequestSeen { request_id, .. }) => request_id.to_bytes(),
            NodeEvent::Engine(Event::IntentSeen { intent_id, .. }) => intent_id.to_bytes(),
            _ => return (None, None),
        };
        let Some((from, sent)) = self.published.get(&id).copied() else { return (None, None) };
        if !self.delivered.insert((id, *node)) {
            return (None, None);
        }
        let scenario = &outcome.scenario;
        let weight = |a: usize, b: usize| link_latency(scenario, seed, a, b).as_secs_f64() * 1000.0;
        let observed = scenario_ms(scenario.time_scale, at.saturating_sub(sent));
        let floor_of = floors.entry(from).or_insert_with(|| dijkstra(from, &graph.edges, &weight));
        let shortest = *floor_of.get(node).unwrap_or(&f64::NAN);
        self.latencies.push(observed);
        if shortest > 0.0 {
            self.ratios.push(observed / shortest);
        }
        (Some(observed), Some(shortest))
    }

    /// Agreements, terminations, revocations and receipts.
    fn lifecycle(&mut self, outcome: &Outcome, revoked_at: &mut HashMap<String, Duration>, record: &Record) {
        let Record { at, node, event } = record;
        let NodeEvent::Engine(event) = event else { return };
        let scale = outcome.scenario.time_scale;
        match event {
            Event::Finalized { agreement_id, .. } if outcome.roles[*node] == Role::Person => {
                self.agreements_over_time.push(scenario_ms(scale, *at) / 1000.0);
                self.finalized_at.insert((*node, agreement_id.to_string()), *at);
            }
            Event::Terminated { code, .. } => *self.terminated.entry(format!("{code:?}")).or_default() += 1,
            // A person's own revocation (a business reports the revocation it received too).
            Event::Revoked { agreement_id } if outcome.roles[*node] == Role::Person => {
                revoked_at.insert(agreement_id.to_string(), *at);
                self.revocations.entry((*node, agreement_id.to_string())).or_insert((*at, None));
            }
            Event::DeletionConfirmed { agreement_id } => {
                if let Some(revoked) = revoked_at.get(&agreement_id.to_string()) {
                    self.receipt_latencies.push(scenario_ms(scale, at.saturating_sub(*revoked)));
                }
                if let Some((_, confirmed)) = self.revocations.get_mut(&(*node, agreement_id.to_string())) {
                    confirmed.get_or_insert(*at);
                }
            }
            _ => {}
        }
    }

    /// The event's CSV row, and its count by kind.
    fn row(&mut self, outcome: &Outcome, graph: &Graph, record: &Record, latency: Option<f64>, floor: Option<f64>) {
        let Record { at, node, event } = record;
        let (kind, subject, peer, detail) = describe(event, &graph.index_of_key, &graph.index_of_peer);
        match event {
            NodeEvent::Engine(_) => *self.by_kind.entry(kind).or_default() += 1,
            NodeEvent::RateLimited { .. } | NodeEvent::Misbehaved { .. } | NodeEvent::Banned { .. } => {
                *self.defence.entry(kind).or_default() += 1
            }
            _ => {}
        }
        let time = scenario_ms(outcome.scenario.time_scale, *at);
        let role = role_name(outcome.roles[*node]);
        let peer = peer.map(|p| p.to_string()).unwrap_or_default();
        let latency = latency.map(|l| format!("{l:.1}")).unwrap_or_default();
        let floor = floor.map(|f| format!("{f:.1}")).unwrap_or_default();
        let time = format!("{time:.1}");
        let node = node.to_string();
        let row = [&time, &node, role, kind, &subject.to_string(), &peer, &latency, &floor, &detail];
        // Writing to memory fails only on a bug in the row's shape.
        if let Err(error) = self.csv.write_record(row) {
            tracing::warn!(%error, "a metrics.csv row was not written");
        }
    }
}

/// A CSV writer into memory with the header of `metrics.csv`.
pub(crate) fn csv_writer() -> csv::Writer<Vec<u8>> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let header = ["time_ms", "node", "role", "event", "subject", "peer", "latency_ms", "floor_ms", "detail"];
    if let Err(error) = writer.write_record(header) {
        tracing::warn!(%error, "the metrics.csv header was not written");
    }
    writer
}

fn scenario_ms(time_scale: f64, wall: Duration) -> f64 {
    wall.as_secs_f64() * 1000.0 / time_scale
}

/// What the nodes running at the end hold: negotiations and agreements by state, fields asked
/// and disclosed, time to agreement, demand seen; and the deliveries the workload called for.
struct Finals {
    expected: usize,
    negotiations_by_state: BTreeMap<&'static str, u64>,
    agreements_by_state: BTreeMap<&'static str, u64>,
    fields_requested: usize,
    fields_disclosed: usize,
    demand_seen: BTreeMap<String, u64>,
    /// Publication to agreement (scenario ms), sorted.
    time_to_agreement: Vec<f64>,
}

impl Finals {
    fn count(outcome: &Outcome, timeline: &Timeline) -> Finals {
        let mut finals = Finals {
            expected: expected_deliveries(outcome),
            negotiations_by_state: BTreeMap::new(),
            agreements_by_state: BTreeMap::new(),
            fields_requested: 0,
            fields_disclosed: 0,
            demand_seen: BTreeMap::new(),
            time_to_agreement: Vec::new(),
        };
        for (node, state) in &outcome.states {
            match outcome.roles[*node] {
                Role::Business => {
                    for ((category, key), count) in &state.demand {
                        if key.is_empty() {
                            *finals.demand_seen.entry(category.to_string()).or_default() += count;
                        }
                    }
                }
                Role::Person => finals.person(outcome, timeline, *node, state),
            }
        }
        finals.time_to_agreement.sort_by(f64::total_cmp);
        finals
    }

    fn person(&mut self, outcome: &Outcome, timeline: &Timeline, node: usize, state: &me2b_proto::engine::State) {
        for negotiation in state.negotiations.values() {
            *self.negotiations_by_state.entry(negotiation.state.name()).or_default() += 1;
        }
        for record in state.agreements.values() {
            *self.agreements_by_state.entry(record.lifecycle.name()).or_default() += 1;
            self.fields_disclosed += record.agreement.terms.fields.len();
            let Context::Request(id) = record.agreement.context else { continue };
            if let Some(request) = state.requests.get(&id) {
                self.fields_requested += request.request.terms.fields.len();
            }
            let sent = timeline.published.get(&id.to_bytes());
            if let (Some((_, sent)), Some(done)) = (sent, timeline.finalized_at.get(&(node, record.id.to_string()))) {
                self.time_to_agreement.push(scenario_ms(outcome.scenario.time_scale, done.saturating_sub(*sent)));
            }
        }
    }
}

/// Who should have heard each request (people following its category while it was live) and
/// each intent (businesses following its category).
fn expected_deliveries(outcome: &Outcome) -> usize {
    let campaigns: Vec<Option<usize>> = outcome.published.iter().map(|(_, _, _, campaign)| *campaign).collect();
    deliveries_expected(&outcome.scenario, &campaigns, outcome.intents.len())
}

/// The gossip deliveries a workload calls for: every person following the category of each
/// request published (by campaign index; `None` is the first campaign's category), every
/// business following the intents' category for each intent.
pub(crate) fn deliveries_expected(
    scenario: &crate::scenario::Scenario,
    campaigns: &[Option<usize>],
    intents: usize,
) -> usize {
    let mut expected = 0usize;
    for campaign in campaigns {
        let category = match campaign {
            Some(c) => scenario.businesses.campaigns[*c].category.clone(),
            None => scenario.businesses.campaigns.first().map(|c| c.category.clone()).unwrap_or_default(),
        };
        if scenario.people.follow.contains(&category) {
            expected += scenario.people.count;
        }
    }
    if let Some(category) = &scenario.people.intent_category
        && scenario.businesses.follow.contains(category)
    {
        expected += intents * scenario.businesses.count;
    }
    expected
}

/// p50, p90, p99, max and n of `sorted`, as `summary.json` gives every distribution.
pub(crate) fn quantiles(sorted: &[f64]) -> serde_json::Value {
    json!({"p50": percentile(sorted, 0.5), "p90": percentile(sorted, 0.9), "p99": percentile(sorted, 0.99),
           "max": sorted.last(), "n": sorted.len()})
}

/// `summary.json`.
fn summary(outcome: &Outcome, seed: u64, timeline: &Timeline, finals: &Finals) -> Result<serde_json::Value> {
    let scenario = &outcome.scenario;
    let nodes = outcome.keys.len().max(1);
    let agreements_held: u64 = finals.agreements_by_state.values().sum();
    Ok(json!({
        "scenario": scenario.name,
        "seed": seed,
        "versions": {"me2b": env!("CARGO_PKG_VERSION"), "libp2p": "0.57"},
        "time_scale": scenario.time_scale,
        "workload": outcome.workload.summary(),
        "counts": {
            "nodes": nodes,
            "requests_published": outcome.published.len(),
            "intents_published": outcome.intents.len(),
            "gossip_deliveries_expected": finals.expected,
            "gossip_deliveries": timeline.delivered.len(),
            "negotiations_by_state": finals.negotiations_by_state,
            "terminated_by_reason": timeline.terminated,
            "agreements_finalized": timeline.agreements_over_time.len(),
            "agreements_by_state": finals.agreements_by_state,
            "fields_requested": finals.fields_requested,
            "fields_disclosed": finals.fields_disclosed,
            "deletion_receipts": timeline.receipt_latencies.len(),
            "intents_seen_by_businesses": finals.demand_seen,
            "engine_events_by_type": timeline.by_kind,
            "events_lost": outcome.events_lost,
        },
        "defence": timeline.defence,
        "gossip": gossip_summary(outcome, timeline, finals.expected),
        "time_to_agreement_ms": quantiles(&finals.time_to_agreement),
        "revocation_to_receipt_ms": quantiles(&timeline.receipt_latencies),
        "bytes": bytes_summary(outcome),
        "machine": machine_summary(outcome, timeline)?,
        "attack": attacks::summary(outcome, timeline)?,
        "connections": connections_summary(outcome),
        "dht": dht_summary(outcome),
        "fields_disclosed_per_agreement": if agreements_held > 0 { Some(finals.fields_disclosed as f64 / agreements_held as f64) } else { None },
    }))
}

fn gossip_summary(outcome: &Outcome, timeline: &Timeline, expected: usize) -> serde_json::Value {
    let nodes = outcome.keys.len().max(1);
    let mut duplicates: Vec<f64> = outcome.tallies.iter().map(|t| t.gossip.duplicates as f64).collect();
    duplicates.sort_by(f64::total_cmp);
    let first_copies: u64 = outcome.tallies.iter().map(|t| t.gossip.first_seen).sum();
    let duplicate_total: u64 = outcome.tallies.iter().map(|t| t.gossip.duplicates).sum();
    let received = timeline.delivered.len();
    json!({
        "delivery_ratio": if expected > 0 { Some(received as f64 / expected as f64) } else { None },
        "latency_ms": quantiles(&timeline.latencies),
        "latency_to_floor_ratio": quantiles(&timeline.ratios),
        // From gossipsub's own counters: copies of a message a node had already seen.
        "duplicates_per_node": {
            "mean": duplicate_total as f64 / nodes as f64,
            "p50": percentile(&duplicates, 0.5), "p99": percentile(&duplicates, 0.99), "max": duplicates.last(),
        },
        "duplicates_per_first_copy": if first_copies > 0 { Some(duplicate_total as f64 / first_copies as f64) } else { None },
    })
}

/// How many peers each node connected to over the run (distinct), and was connected to at
/// the end: what the connection limits and idle policy bound.
fn connections_summary(outcome: &Outcome) -> serde_json::Value {
    let mut peers: HashMap<usize, BTreeSet<libp2p::PeerId>> = HashMap::new();
    for record in &outcome.records {
        if let NodeEvent::Connected { peer } = &record.event {
            peers.entry(record.node).or_default().insert(*peer);
        }
    }
    let mut distinct: Vec<f64> =
        (0..outcome.keys.len()).map(|n| peers.get(&n).map_or(0, BTreeSet::len) as f64).collect();
    distinct.sort_by(f64::total_cmp);
    let mut at_end: Vec<f64> = outcome.tallies.iter().map(|t| t.connected_at_end as f64).collect();
    at_end.sort_by(f64::total_cmp);
    json!({"distinct_peers_per_node": quantiles(&distinct), "connected_at_end_per_node": quantiles(&at_end)})
}

/// The DHT queries the nodes made, by kind: how many, how many found what they looked for,
/// peers asked and answering per query, and how long they took (scenario ms).
fn dht_summary(outcome: &Outcome) -> serde_json::Value {
    #[derive(Default)]
    struct Queries {
        count: u64,
        found: u64,
        asked: Vec<f64>,
        answered: Vec<f64>,
        took: Vec<f64>,
    }
    let mut kinds: BTreeMap<&str, Queries> = BTreeMap::new();
    for record in &outcome.records {
        if let NodeEvent::DhtQuery { kind, found, asked, answered, duration } = &record.event {
            let entry = kinds.entry(kind).or_default();
            entry.count += 1;
            entry.found += u64::from(*found);
            entry.asked.push(f64::from(*asked));
            entry.answered.push(f64::from(*answered));
            entry.took.push(scenario_ms(outcome.scenario.time_scale, *duration));
        }
    }
    let by_kind: serde_json::Map<String, serde_json::Value> = kinds
        .into_iter()
        .map(|(kind, mut q)| {
            for values in [&mut q.asked, &mut q.answered, &mut q.took] {
                values.sort_by(f64::total_cmp);
            }
            let value = json!({
                "queries": q.count,
                "success_rate": q.found as f64 / q.count.max(1) as f64,
                "peers_asked": quantiles(&q.asked),
                "peers_answered": quantiles(&q.answered),
                "duration_ms": quantiles(&q.took),
            });
            (kind.to_owned(), value)
        })
        .collect();
    json!({"enabled": outcome.scenario.network.dht, "by_kind": by_kind})
}

fn bytes_summary(outcome: &Outcome) -> serde_json::Value {
    let nodes = outcome.keys.len().max(1);
    let wire_total: u64 = outcome.wire_bytes.iter().sum();
    let payload_total: u64 = outcome.tallies.iter().map(|t| t.payload_bytes_out).sum();
    json!({
        "wire_total": wire_total,
        "payload_total": payload_total,
        "control_total": wire_total.saturating_sub(payload_total),
        "wire_per_node_mean": wire_total as f64 / nodes as f64,
        "note": "wire: every byte on the modelled links (Noise, Yamux, gossipsub control, protocol framing); payload: me2b envelopes published once or sent direct by nodes running at the end",
    })
}

fn machine_summary(outcome: &Outcome, timeline: &Timeline) -> Result<serde_json::Value> {
    let scenario = &outcome.scenario;
    let nodes = outcome.keys.len().max(1);
    let simulated_minutes = (scenario.duration()? + scenario.drain()?).as_secs_f64() / 60.0;
    let median_latency_wall = percentile(&timeline.latencies, 0.5).unwrap_or(f64::INFINITY) * scenario.time_scale;
    Ok(json!({
        "wall_setup_s": outcome.setup.as_secs_f64(),
        "wall_run_s": outcome.wall.as_secs_f64(),
        "wall_s_per_simulated_minute": outcome.wall.as_secs_f64() / simulated_minutes.max(1e-9),
        "peak_memory_mib": outcome.monitor.peak_memory_mib,
        "memory_per_node_mib": outcome.monitor.peak_memory_mib / nodes as f64,
        "idle_memory_mib": outcome.idle_memory_mib,
        "idle_memory_per_node_mib": outcome.idle_memory_mib / nodes as f64,
        "event_loop_lag": outcome.monitor,
        "latency_figures_trustworthy": trustworthy(&outcome.monitor, median_latency_wall),
    }))
}

/// Whether latency figures measure the protocol: lag adds to every delivery it overlaps, so
/// when the 99th percentile lag reaches a quarter of the median delivery latency (wall ms),
/// or the cores are saturated, they measure the machine as much.
pub(crate) fn trustworthy(monitor: &crate::monitor::Monitor, median_latency_wall_ms: f64) -> bool {
    monitor.lag_p99_ms <= 0.25 * median_latency_wall_ms && monitor.cpu_saturation <= 0.9
}

/// An event's type, subject, other party and detail, for the CSV.
fn describe(
    event: &NodeEvent,
    keys: &HashMap<PublicKey, usize>,
    peers: &HashMap<libp2p::PeerId, usize>,
) -> (&'static str, String, Option<usize>, String) {
    let key = |k: &PublicKey| keys.get(k).copied();
    match event {
        NodeEvent::Engine(event) => match event {
            Event::RequestSeen { request_id, business, outcome, .. } => {
                ("request-seen", request_id.to_string(), key(business), outcome.clone())
            }
            Event::IntentSeen { intent_id, answered, .. } => {
                ("intent-seen", intent_id.to_string(), None, if *answered { "answered" } else { "" }.into())
            }
            Event::AwaitingOwner { negotiation_id, peer, .. } => {
                ("awaiting-owner", negotiation_id.to_string(), key(peer), String::new())
            }
            Event::TermsExchanged { negotiation_id, sent } => {
                ("terms-exchanged", negotiation_id.to_string(), None, if *sent { "sent" } else { "received" }.into())
            }
            Event::Finalized { agreement_id, peer, .. } => {
                ("agreement-finalized", agreement_id.to_string(), key(peer), String::new())
            }
            Event::Terminated { negotiation_id, code, .. } => {
                ("negotiation-terminated", negotiation_id.to_string(), None, format!("{code:?}"))
            }
            Event::DataSent { agreement_id, fields } => {
                ("data-sent", agreement_id.to_string(), None, fields.len().to_string())
            }
            Event::DataReceived { agreement_id, fields } => {
                ("data-received", agreement_id.to_string(), None, fields.len().to_string())
            }
            Event::OfferReceived { agreement_id, .. } => {
                ("offer-received", agreement_id.to_string(), None, String::new())
            }
            Event::Revoked { agreement_id } => ("agreement-revoked", agreement_id.to_string(), None, String::new()),
            Event::Expired { agreement_id } => ("agreement-expired", agreement_id.to_string(), None, String::new()),
            Event::DataDeleted { agreement_id, items } => {
                ("data-deleted", agreement_id.to_string(), None, items.to_string())
            }
            Event::DeletionDue { agreement_id, cause } => {
                ("deletion-due", agreement_id.to_string(), None, format!("{cause:?}"))
            }
            Event::DeletionConfirmed { agreement_id } => {
                ("deletion-receipt", agreement_id.to_string(), None, String::new())
            }
            Event::RevocationNotConfirmed { agreement_id, reason } => {
                ("revocation-not-confirmed", agreement_id.to_string(), None, reason.clone())
            }
            Event::AgreementVoid { agreement_id, reason } => {
                ("agreement-void", agreement_id.to_string(), None, reason.clone())
            }
            Event::DeliveryRefused { to, kind, reason } => {
                ("delivery-refused", String::new(), key(to), format!("{kind:?}: {reason}"))
            }
            Event::PromptExpired { negotiation_id } => {
                ("prompt-expired", negotiation_id.to_string(), None, String::new())
            }
            Event::OutboxFull { to, kind } => ("outbox-full", String::new(), key(to), format!("{kind:?}")),
            Event::DeliveryAbandoned { to, kind } => {
                ("delivery-abandoned", String::new(), key(to), format!("{kind:?}"))
            }
            Event::DomainChecked { business, domain, verified } => {
                ("domain-checked", domain.clone(), key(business), verified.to_string())
            }
            Event::Impersonation { name, claimed_by, .. } => {
                ("impersonation", String::new(), key(claimed_by), name.clone())
            }
        },
        NodeEvent::Misbehaved { peer, reason } => {
            ("peer-misbehaved", String::new(), peers.get(peer).copied(), reason.clone())
        }
        NodeEvent::Banned { peer, seconds } => {
            ("peer-banned", String::new(), peers.get(peer).copied(), format!("{seconds} s"))
        }
        NodeEvent::Connected { peer } => ("peer-connected", String::new(), peers.get(peer).copied(), String::new()),
        NodeEvent::PeerSubscribed { peer, topic } => {
            ("peer-subscribed", topic.clone(), peers.get(peer).copied(), String::new())
        }
        NodeEvent::RateLimited { peer } => {
            ("peer-rate-limited", String::new(), peers.get(peer).copied(), String::new())
        }
        NodeEvent::ProfilePublished => ("profile-published", String::new(), None, String::new()),
        NodeEvent::DhtQuery { kind, found, asked, answered, duration } => (
            "dht-query",
            kind.to_string(),
            None,
            format!("found={found} asked={asked} answered={answered} ms={}", duration.as_millis()),
        ),
        NodeEvent::Published { topic } => ("published", topic.clone(), None, String::new()),
        NodeEvent::PublishDropped { topic } => ("publish-dropped", topic.clone(), None, String::new()),
        NodeEvent::Delivered { peer } => ("delivered", String::new(), peers.get(peer).copied(), String::new()),
    }
}

/// Writes `metrics.csv`, `summary.json` and the plots into `out`.
pub fn write(report: &Report, out: &Path) -> Result<()> {
    std::fs::create_dir_all(out)?;
    std::fs::write(out.join("metrics.csv"), &report.csv)?;
    std::fs::write(out.join("summary.json"), serde_json::to_string_pretty(&report.summary)?)?;
    let cdf: Vec<(f64, f64)> = report
        .latencies
        .iter()
        .enumerate()
        .map(|(i, l)| (*l, (i + 1) as f64 / report.latencies.len() as f64))
        .collect();
    std::fs::write(
        out.join("delivery_latency_cdf.svg"),
        crate::svg::line("Gossip delivery latency (CDF)", "latency (ms, scenario time)", "fraction delivered", &cdf),
    )?;
    let agreements: Vec<(f64, f64)> = report.agreements.iter().map(|(t, n)| (*t, *n as f64)).collect();
    std::fs::write(
        out.join("agreements_over_time.svg"),
        crate::svg::line("Agreements over time", "time (s, scenario time)", "agreements finalized", &agreements),
    )?;
    if !report.traffic.is_empty() {
        let mut traffic: Vec<f64> = report.traffic.iter().map(|b| *b as f64 / 1024.0).collect();
        traffic.sort_by(|a, b| b.total_cmp(a));
        std::fs::write(
            out.join("traffic_per_node.svg"),
            crate::svg::bars("Traffic per node (sorted)", "node (by traffic)", "KiB sent on the wire", &traffic),
        )?;
    }
    Ok(())
}
