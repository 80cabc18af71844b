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

use crate::run::{Outcome, Record};
use crate::workload::link_latency;
use anyhow::Result;
use me2b_node::NodeEvent;
use me2b_proto::engine::{Event, Role};
use me2b_proto::identity::PublicKey;
use me2b_proto::messages::Context;
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap};
use std::fmt::Write as _;
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
    /// Wire bytes per node, in node order.
    pub traffic: Vec<u64>,
}

fn percentile(sorted: &[f64], q: f64) -> Option<f64> {
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

/// Computes the report of `outcome`.
pub fn report(outcome: &Outcome, seed: u64) -> Result<Report> {
    let scenario = &outcome.scenario;
    let scale = scenario.time_scale;
    let scenario_ms = |wall: Duration| wall.as_secs_f64() * 1000.0 / scale;
    let index_of_key: HashMap<PublicKey, usize> = outcome.keys.iter().enumerate().map(|(i, k)| (*k, i)).collect();
    let index_of_peer: HashMap<libp2p::PeerId, usize> =
        outcome.keys.iter().enumerate().filter_map(|(i, k)| me2b_node::net::peer_id(k).map(|p| (p, i))).collect();

    // The connection graph, as the nodes saw it.
    let mut edges: BTreeMap<usize, BTreeSet<usize>> = BTreeMap::new();
    for record in &outcome.records {
        if let NodeEvent::Connected { peer } = &record.event
            && let Some(other) = index_of_peer.get(peer)
        {
            edges.entry(record.node).or_default().insert(*other);
            edges.entry(*other).or_default().insert(record.node);
        }
    }
    let weight = |a: usize, b: usize| link_latency(scenario, seed, a, b).as_secs_f64() * 1000.0;

    // Every gossip message (request or intent) by its id: who published it and when.
    let published: HashMap<[u8; 16], (usize, Duration)> = outcome
        .published
        .iter()
        .map(|(id, node, at, _)| (id.to_bytes(), (*node, *at)))
        .chain(outcome.intents.iter().map(|(id, node, at)| (id.to_bytes(), (*node, *at))))
        .collect();
    let mut floors: HashMap<usize, HashMap<usize, f64>> = HashMap::new();
    let mut latencies = Vec::new();
    let mut ratios = Vec::new();
    let mut delivered: BTreeSet<([u8; 16], usize)> = BTreeSet::new();
    let mut csv = String::from("time_ms,node,role,event,subject,peer,latency_ms,floor_ms,detail\n");
    let mut agreements_over_time = Vec::new();
    let mut finalized_at: HashMap<(usize, String), Duration> = HashMap::new();
    let mut revoked_at: HashMap<String, Duration> = HashMap::new();
    let mut receipt_latencies = Vec::new();
    let mut terminated: BTreeMap<String, u64> = BTreeMap::new();
    let mut by_kind: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut defence: BTreeMap<&'static str, u64> = BTreeMap::new();

    for Record { at, node, event } in &outcome.records {
        let role = role_name(outcome.roles[*node]);
        let time = scenario_ms(*at);
        let (kind, subject, peer, mut detail) = describe(event, &index_of_key, &index_of_peer);
        match event {
            NodeEvent::Engine(_) => *by_kind.entry(kind).or_default() += 1,
            NodeEvent::RateLimited { .. } | NodeEvent::Misbehaved { .. } => *defence.entry(kind).or_default() += 1,
            _ => {}
        }
        let (mut latency, mut floor) = (String::new(), String::new());
        let gossip_id = match event {
            NodeEvent::Engine(Event::RequestSeen { request_id, .. }) => Some(request_id.to_bytes()),
            NodeEvent::Engine(Event::IntentSeen { intent_id, .. }) => Some(intent_id.to_bytes()),
            _ => None,
        };
        if let Some(id) = gossip_id
            && let Some((from, sent)) = published.get(&id)
            && delivered.insert((id, *node))
        {
            let observed = scenario_ms(at.saturating_sub(*sent));
            let shortest =
                *floors.entry(*from).or_insert_with(|| dijkstra(*from, &edges, &weight)).get(node).unwrap_or(&f64::NAN);
            latencies.push(observed);
            if shortest > 0.0 {
                ratios.push(observed / shortest);
            }
            latency = format!("{observed:.1}");
            floor = format!("{shortest:.1}");
        }
        match event {
            NodeEvent::Engine(Event::Finalized { agreement_id, .. }) if outcome.roles[*node] == Role::Person => {
                agreements_over_time.push(time / 1000.0);
                finalized_at.insert((*node, agreement_id.to_string()), *at);
            }
            NodeEvent::Engine(Event::Terminated { code, .. }) => {
                *terminated.entry(format!("{code:?}")).or_default() += 1;
            }
            NodeEvent::Engine(Event::Revoked { agreement_id }) => {
                revoked_at.insert(agreement_id.to_string(), *at);
            }
            NodeEvent::Engine(Event::DeletionConfirmed { agreement_id }) => {
                if let Some(revoked) = revoked_at.get(&agreement_id.to_string()) {
                    receipt_latencies.push(scenario_ms(at.saturating_sub(*revoked)));
                }
            }
            _ => {}
        }
        detail = detail.replace(',', ";");
        let peer = peer.map(|p| p.to_string()).unwrap_or_default();
        let _ = writeln!(csv, "{time:.1},{node},{role},{kind},{subject},{peer},{latency},{floor},{detail}");
    }

    // Who should have heard each request: people following its category while it was live.
    let follows = &scenario.people.follow;
    let mut expected = 0usize;
    for (id, business, _, campaign) in &outcome.published {
        let category = match campaign {
            Some(c) => scenario.businesses.campaigns[*c].category.clone(),
            None => scenario.businesses.campaigns.first().map(|c| c.category.clone()).unwrap_or_default(),
        };
        if follows.contains(&category) {
            expected += outcome.workload.people.len();
        }
        let _ = (id, business);
    }
    if let Some(category) = &scenario.people.intent_category
        && scenario.businesses.follow.contains(category)
    {
        expected += outcome.intents.len() * scenario.businesses.count;
    }
    let received = delivered.len();
    latencies.sort_by(f64::total_cmp);
    ratios.sort_by(f64::total_cmp);
    receipt_latencies.sort_by(f64::total_cmp);

    // Negotiations and agreements, from the final states.
    let mut negotiations_by_state: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut fields_requested = 0usize;
    let mut fields_disclosed = 0usize;
    let mut agreements_by_state: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut demand_seen: BTreeMap<String, u64> = BTreeMap::new();
    for (node, state) in &outcome.states {
        if outcome.roles[*node] == Role::Business {
            for ((category, key), count) in &state.demand {
                if key.is_empty() {
                    *demand_seen.entry(category.to_string()).or_default() += count;
                }
            }
        }
    }
    let mut time_to_agreement = Vec::new();
    for (node, state) in &outcome.states {
        if outcome.roles[*node] != Role::Person {
            continue;
        }
        for negotiation in state.negotiations.values() {
            *negotiations_by_state.entry(negotiation.state.name()).or_default() += 1;
        }
        for record in state.agreements.values() {
            *agreements_by_state.entry(record.lifecycle.name()).or_default() += 1;
            fields_disclosed += record.agreement.terms.fields.len();
            if let Context::Request(id) = record.agreement.context {
                if let Some(request) = state.requests.get(&id) {
                    fields_requested += request.request.terms.fields.len();
                }
                if let (Some((_, sent)), Some(done)) =
                    (published.get(&id.to_bytes()), finalized_at.get(&(*node, record.id.to_string())))
                {
                    time_to_agreement.push(scenario_ms(done.saturating_sub(*sent)));
                }
            }
        }
    }
    time_to_agreement.sort_by(f64::total_cmp);

    let agreements_held: u64 = agreements_by_state.values().sum();
    let traffic = outcome.wire_bytes.clone();
    let wire_total: u64 = traffic.iter().sum();
    let payload_total: u64 = outcome.tallies.iter().map(|t| t.payload_bytes_out).sum();
    let mut duplicates: Vec<f64> = outcome.tallies.iter().map(|t| t.gossip.duplicates as f64).collect();
    duplicates.sort_by(f64::total_cmp);
    let first_copies: u64 = outcome.tallies.iter().map(|t| t.gossip.first_seen).sum();
    let duplicate_total: u64 = outcome.tallies.iter().map(|t| t.gossip.duplicates).sum();
    let nodes = outcome.keys.len().max(1);
    let simulated_minutes = (scenario.duration()? + scenario.drain()?).as_secs_f64() / 60.0;
    // Lag adds to every delivery it overlaps: when the 99th percentile lag reaches a quarter
    // of the median delivery latency, or the cores are saturated, the figures measure the
    // machine as much as the protocol.
    let median_latency_wall = percentile(&latencies, 0.5).unwrap_or(f64::INFINITY) * scale;
    let lagging = outcome.monitor.lag_p99_ms > 0.25 * median_latency_wall || outcome.monitor.cpu_saturation > 0.9;

    let quantiles = |sorted: &[f64]| {
        json!({"p50": percentile(sorted, 0.5), "p90": percentile(sorted, 0.9), "p99": percentile(sorted, 0.99),
               "max": sorted.last(), "n": sorted.len()})
    };
    let agreements_finalized = agreements_over_time.len();
    let summary = json!({
        "scenario": scenario.name,
        "seed": seed,
        "versions": {"me2b": env!("CARGO_PKG_VERSION"), "libp2p": "0.57"},
        "time_scale": scale,
        "workload": outcome.workload.summary(),
        "counts": {
            "nodes": nodes,
            "requests_published": outcome.published.len(),
            "intents_published": outcome.intents.len(),
            "gossip_deliveries_expected": expected,
            "gossip_deliveries": received,
            "negotiations_by_state": negotiations_by_state,
            "terminated_by_reason": terminated,
            "agreements_finalized": agreements_finalized,
            "agreements_by_state": agreements_by_state,
            "fields_requested": fields_requested,
            "fields_disclosed": fields_disclosed,
            "deletion_receipts": receipt_latencies.len(),
            "intents_seen_by_businesses": demand_seen,
            "engine_events_by_type": by_kind,
            "events_lost": outcome.events_lost,
        },
        "defence": defence,
        "gossip": {
            "delivery_ratio": if expected > 0 { Some(received as f64 / expected as f64) } else { None },
            "latency_ms": quantiles(&latencies),
            "latency_to_floor_ratio": quantiles(&ratios),
            // From gossipsub's own counters: copies of a message a node had already seen.
            "duplicates_per_node": {
                "mean": duplicate_total as f64 / nodes as f64,
                "p50": percentile(&duplicates, 0.5), "p99": percentile(&duplicates, 0.99), "max": duplicates.last(),
            },
            "duplicates_per_first_copy": if first_copies > 0 { Some(duplicate_total as f64 / first_copies as f64) } else { None },
        },
        "time_to_agreement_ms": quantiles(&time_to_agreement),
        "revocation_to_receipt_ms": quantiles(&receipt_latencies),
        "bytes": {
            "wire_total": wire_total,
            "payload_total": payload_total,
            "control_total": wire_total.saturating_sub(payload_total),
            "wire_per_node_mean": wire_total as f64 / nodes as f64,
            "note": "wire: every byte on the modelled links (Noise, Yamux, gossipsub control, protocol framing); payload: me2b envelopes published once or sent direct by nodes running at the end",
        },
        "machine": {
            "wall_setup_s": outcome.setup.as_secs_f64(),
            "wall_run_s": outcome.wall.as_secs_f64(),
            "wall_s_per_simulated_minute": outcome.wall.as_secs_f64() / simulated_minutes.max(1e-9),
            "peak_memory_mib": outcome.monitor.peak_memory_mib,
            "memory_per_node_mib": outcome.monitor.peak_memory_mib / nodes as f64,
            "event_loop_lag": outcome.monitor,
            "latency_figures_trustworthy": !lagging,
        },
        "fields_disclosed_per_agreement": if agreements_held > 0 { Some(fields_disclosed as f64 / agreements_held as f64) } else { None },
    });

    let mut cumulative = Vec::new();
    let mut times = agreements_over_time;
    times.sort_by(f64::total_cmp);
    for (i, t) in times.iter().enumerate() {
        cumulative.push((*t, i + 1));
    }
    Ok(Report { summary, csv, latencies, agreements: cumulative, traffic })
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
            Event::DeletionConfirmed { agreement_id } => {
                ("deletion-receipt", agreement_id.to_string(), None, String::new())
            }
            Event::DeliveryAbandoned { to, kind } => {
                ("delivery-abandoned", String::new(), key(to), format!("{kind:?}"))
            }
        },
        NodeEvent::Misbehaved { peer, reason } => {
            ("peer-misbehaved", String::new(), peers.get(peer).copied(), reason.clone())
        }
        NodeEvent::Connected { peer } => ("peer-connected", String::new(), peers.get(peer).copied(), String::new()),
        NodeEvent::PeerSubscribed { peer, topic } => {
            ("peer-subscribed", topic.clone(), peers.get(peer).copied(), String::new())
        }
        NodeEvent::RateLimited { peer } => {
            ("peer-rate-limited", String::new(), peers.get(peer).copied(), String::new())
        }
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
    let mut traffic: Vec<f64> = report.traffic.iter().map(|b| *b as f64 / 1024.0).collect();
    traffic.sort_by(|a, b| b.total_cmp(a));
    std::fs::write(
        out.join("traffic_per_node.svg"),
        crate::svg::bars("Traffic per node (sorted)", "node (by traffic)", "KiB sent on the wire", &traffic),
    )?;
    Ok(())
}
