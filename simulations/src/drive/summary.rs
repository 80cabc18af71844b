//! The driver's report: `metrics.csv` with the in-process run's columns, from the daemons'
//! event streams, and the part of `summary.json` an API can show, under the same keys, so
//! that the two runs of one scenario compare figure by figure (`me2b-sim compare`).
//!
//! What differs from the in-process report: `floor_ms` is empty (the driver does not know
//! the links' latency), peers are named only where the event names a key or peer id the
//! driver knows (not people's pairwise personas), and the sections that need a node's
//! internals (`bytes`, `dht`, duplicates, idle memory, `attack`) are absent. `machine` gives
//! the daemons' resident memory instead of the process's, and `driver` says what the driver
//! did: API calls, failures, how the links were shaped.

use super::{Driven, Heard};
use crate::report::{Report, csv_writer, deliveries_expected, percentile, quantiles, trustworthy};
use anyhow::Result;
use me2b_proto::engine::Role;
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::time::Instant;

/// Event types that are the node's, not the engine's (the in-process report counts only the
/// engine's by type, and these three as defence).
const NODE_EVENTS: &[&str] = &[
    "peer-misbehaved",
    "peer-banned",
    "peer-connected",
    "peer-subscribed",
    "peer-rate-limited",
    "published",
    "publish-dropped",
    "delivered",
    "profile-published",
    "dht-query",
    "gap",
];
const DEFENCE_EVENTS: &[&str] = &["peer-rate-limited", "peer-misbehaved", "peer-banned"];

/// Milliseconds from `started` to `at`, negative before.
fn since(started: Instant, at: Instant) -> f64 {
    match at.checked_duration_since(started) {
        Some(after) => after.as_secs_f64() * 1000.0,
        None => -(started.duration_since(at).as_secs_f64() * 1000.0),
    }
}

/// Writes `metrics.csv`, `summary.json` and the plots of `driven` into `out`; returns the
/// summary.
pub(super) fn write(driven: &Driven, out: &Path) -> Result<serde_json::Value> {
    let report = report(driven)?;
    crate::report::write(&report, out)?;
    Ok(report.summary)
}

fn report(driven: &Driven) -> Result<Report> {
    let index_of: HashMap<&str, usize> = driven
        .keys
        .iter()
        .chain(&driven.peer_ids)
        .enumerate()
        .map(|(i, name)| (name.as_str(), i % driven.keys.len().max(1)))
        .collect();
    let published: HashMap<&str, Instant> = driven
        .published
        .iter()
        .map(|(id, _, at, _)| (id.as_str(), *at))
        .chain(driven.intents.iter().map(|(id, _, at)| (id.as_str(), *at)))
        .collect();
    let mut csv = csv_writer();
    let mut delivered: BTreeSet<(&str, usize)> = BTreeSet::new();
    let mut latencies = Vec::new();
    let mut finalized_at: HashMap<(usize, &str), Instant> = HashMap::new();
    let mut agreements_over_time = Vec::new();
    let mut revoked_at: HashMap<&str, Instant> = HashMap::new();
    let mut receipt_latencies = Vec::new();
    let mut terminated: BTreeMap<String, u64> = BTreeMap::new();
    let mut by_kind: BTreeMap<&str, u64> = BTreeMap::new();
    let mut defence: BTreeMap<&str, u64> = BTreeMap::new();
    let mut events_lost = 0u64;
    let mut peers_of: BTreeMap<usize, BTreeSet<&str>> = BTreeMap::new();
    for Heard { at, node, event } in &driven.heard {
        let text = |key: &str| event[key].as_str().unwrap_or_default();
        let kind = text("type");
        let person = driven.roles[*node] == Role::Person;
        let subject = ["request_id", "intent_id", "agreement_id", "negotiation_id", "topic", "kind"]
            .iter()
            .map(|key| text(key))
            .find(|value| !value.is_empty())
            .unwrap_or_default();
        let peer = ["business", "peer", "to", "claimed_by"].iter().find_map(|key| index_of.get(text(key)).copied());
        let detail = match kind {
            "request-seen" => text("outcome").to_owned(),
            "negotiation-terminated" => text("code").to_owned(),
            "data-sent" | "data-received" => event["fields"].as_array().map_or(0, Vec::len).to_string(),
            "intent-seen" if event["answered"] == true => "answered".to_owned(),
            "gap" => event["missed"].to_string(),
            _ => text("reason").to_owned(),
        };
        let mut latency = None;
        match kind {
            "request-seen" | "intent-seen" => {
                if let Some(sent) = published.get(subject)
                    && delivered.insert((subject, *node))
                {
                    let ms = since(*sent, *at);
                    latencies.push(ms);
                    latency = Some(ms);
                }
            }
            "agreement-finalized" if person => {
                agreements_over_time.push(since(driven.started, *at) / 1000.0);
                finalized_at.insert((*node, subject), *at);
            }
            "negotiation-terminated" => *terminated.entry(text("code").to_owned()).or_default() += 1,
            "agreement-revoked" if person => {
                revoked_at.entry(subject).or_insert(*at);
            }
            "deletion-receipt" if person => {
                if let Some(revoked) = revoked_at.get(subject) {
                    receipt_latencies.push(since(*revoked, *at));
                }
            }
            "gap" => events_lost += event["missed"].as_u64().unwrap_or(0),
            "peer-connected" => {
                peers_of.entry(*node).or_default().insert(text("peer"));
            }
            _ => {}
        }
        if DEFENCE_EVENTS.contains(&kind) {
            *defence.entry(kind).or_default() += 1;
        } else if !NODE_EVENTS.contains(&kind) {
            *by_kind.entry(kind).or_default() += 1;
        }
        let row = [
            format!("{:.1}", since(driven.started, *at)),
            node.to_string(),
            if person { "person" } else { "business" }.to_owned(),
            kind.to_owned(),
            subject.to_owned(),
            peer.map(|p| p.to_string()).unwrap_or_default(),
            latency.map(|l| format!("{l:.1}")).unwrap_or_default(),
            String::new(),
            detail,
        ];
        if let Err(error) = csv.write_record(&row) {
            tracing::warn!(%error, "a metrics.csv row was not written");
        }
    }
    latencies.sort_by(f64::total_cmp);
    receipt_latencies.sort_by(f64::total_cmp);
    agreements_over_time.sort_by(f64::total_cmp);

    let sent_at: HashMap<&str, Instant> = driven.published.iter().map(|(id, _, at, _)| (id.as_str(), *at)).collect();
    let mut agreements_by_state: BTreeMap<&str, u64> = BTreeMap::new();
    let mut time_to_agreement = Vec::new();
    for (person, id, state, context) in &driven.agreements {
        *agreements_by_state.entry(state.as_str()).or_default() += 1;
        let request = context.strip_prefix("request:").unwrap_or_default();
        if let (Some(sent), Some(done)) = (sent_at.get(request), finalized_at.get(&(*person, id.as_str()))) {
            time_to_agreement.push(since(*sent, *done));
        }
    }
    time_to_agreement.sort_by(f64::total_cmp);

    let campaigns: Vec<Option<usize>> = driven.published.iter().map(|(_, _, _, c)| Some(*c)).collect();
    let expected = deliveries_expected(&driven.scenario, &campaigns, driven.intents.len());
    let nodes = driven.roles.len();
    let mut distinct: Vec<f64> = (0..nodes).map(|n| peers_of.get(&n).map_or(0, BTreeSet::len) as f64).collect();
    distinct.sort_by(f64::total_cmp);
    let mut at_end: Vec<f64> = driven.connected_at_end.iter().map(|n| *n as f64).collect();
    at_end.sort_by(f64::total_cmp);
    let mut memory: Vec<f64> = driven.memory_mib.iter().copied().filter(|m| *m > 0.0).collect();
    memory.sort_by(f64::total_cmp);
    let simulated_minutes = (driven.scenario.duration()? + driven.scenario.drain()?).as_secs_f64() / 60.0;
    let summary = json!({
        "scenario": driven.scenario.name,
        "seed": driven.seed,
        "versions": {"me2b": env!("CARGO_PKG_VERSION"), "libp2p": "0.57"},
        "time_scale": 1.0,
        "workload": driven.workload.summary(),
        "counts": {
            "nodes": nodes,
            "requests_published": driven.published.len(),
            "intents_published": driven.intents.len(),
            "gossip_deliveries_expected": expected,
            "gossip_deliveries": delivered.len(),
            "terminated_by_reason": terminated,
            "agreements_finalized": agreements_over_time.len(),
            "agreements_by_state": agreements_by_state,
            "deletion_receipts": receipt_latencies.len(),
            "engine_events_by_type": by_kind,
            "events_lost": events_lost,
        },
        "defence": defence,
        "gossip": {
            "delivery_ratio": if expected > 0 { Some(delivered.len() as f64 / expected as f64) } else { None },
            "latency_ms": quantiles(&latencies),
        },
        "time_to_agreement_ms": quantiles(&time_to_agreement),
        "revocation_to_receipt_ms": quantiles(&receipt_latencies),
        "connections": {"distinct_peers_per_node": quantiles(&distinct), "connected_at_end_per_node": quantiles(&at_end)},
        "machine": {
            "wall_setup_s": driven.setup.as_secs_f64(),
            "wall_run_s": driven.wall.as_secs_f64(),
            "wall_s_per_simulated_minute": driven.wall.as_secs_f64() / simulated_minutes.max(1e-9),
            "daemon_memory_mib": quantiles(&memory),
            "driver_event_loop_lag": driven.monitor,
            "latency_figures_trustworthy": trustworthy(&driven.monitor, percentile(&latencies, 0.5).unwrap_or(f64::INFINITY)),
            "note": "real daemons, each its own process: latencies are wall time at time scale 1; \
                     the lag and CPU are the driver's (its clock times every event)",
        },
        "driver": {
            "daemons": nodes,
            "links": driven.links,
            "api_calls": driven.calls,
            "api_failures": driven.failures.0,
            "api_failures_first": driven.failures.1,
        },
    });
    let agreements = agreements_over_time.iter().enumerate().map(|(i, t)| (*t, i + 1)).collect();
    let csv = String::from_utf8(csv.into_inner().map_err(|e| anyhow::anyhow!("metrics.csv: {e}"))?)?;
    Ok(Report { summary, csv, latencies, agreements, traffic: Vec::new() })
}
