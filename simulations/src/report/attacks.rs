//! What a scenario's adversaries achieved, and what the honest nodes still got: `summary.json`'s
//! `attack` section. Each part is there only when the scenario has that adversary.
//!
//! - `sybils`: honest delivery of every request (the people who follow its category and heard
//!   it), request by request over time; the delivery after the attack began; the time to
//!   recover (from the attack's start to the first request from which on every request
//!   reached at least [`RECOVERED`] of the people); for an eclipse, what its target heard;
//!   and what the Sybils did (connections, messages received and withheld).
//! - `demand_poisoning`: the intents businesses counted, honest and fake, and the fake share.
//! - `ignored_revocations`: revocations to the businesses that went silent: none may be
//!   confirmed (only a receipt confirms), and every one stays open; revocations to the others.
//! - `partition`: revocations made while the people were cut off from the businesses, and the
//!   fraction confirmed by a receipt within [`CONFIRM_WITHIN`] of the partition healing.

use super::{Outcome, Timeline, scenario_ms};
use anyhow::Result;
use me2b_node::NodeEvent;
use me2b_proto::engine::{Event, Role};
use me2b_proto::identity::PublicKey;
use serde_json::{Value, json};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::Duration;

/// A request reached "everyone" when it reached this fraction of the people following it.
pub const RECOVERED: f64 = 0.99;
/// How soon after a partition heals a revocation made during it should be confirmed.
pub const CONFIRM_WITHIN: Duration = Duration::from_secs(60);

/// The `attack` section.
pub(super) fn summary(outcome: &Outcome, timeline: &Timeline) -> Result<Value> {
    let scenario = &outcome.scenario;
    let adversaries = &scenario.adversaries;
    let mut section = serde_json::Map::new();
    if adversaries.sybils > 0 {
        section.insert("sybils".into(), sybils(outcome, timeline)?);
    }
    if adversaries.poisoners > 0 {
        section.insert("demand_poisoning".into(), demand(outcome));
    }
    if adversaries.ignore_revocations > 0 {
        section.insert("ignored_revocations".into(), ignored(outcome, timeline)?);
    }
    if let Some(window) = scenario.partition_window()? {
        section.insert("partition".into(), partition(outcome, timeline, window));
    }
    Ok(Value::Object(section))
}

/// Each request's publication (scenario s) and the fraction of following people who heard it.
fn delivery_by_request(outcome: &Outcome, timeline: &Timeline) -> Vec<(f64, f64)> {
    let scenario = &outcome.scenario;
    let people = scenario.people.count;
    let mut heard: HashMap<[u8; 16], usize> = HashMap::new();
    for (id, node) in &timeline.delivered {
        if *node < people {
            *heard.entry(*id).or_default() += 1;
        }
    }
    let mut series: Vec<(f64, f64)> = outcome
        .published
        .iter()
        .filter(|(_, _, _, campaign)| {
            campaign
                .and_then(|c| scenario.businesses.campaigns.get(c))
                .is_some_and(|c| scenario.people.follow.contains(&c.category))
        })
        .map(|(id, _, at, _)| {
            let ratio = heard.get(&id.to_bytes()).copied().unwrap_or(0) as f64 / people.max(1) as f64;
            (scenario_ms(scenario.time_scale, *at) / 1000.0, ratio)
        })
        .collect();
    series.sort_by(|a, b| a.0.total_cmp(&b.0));
    series
}

fn sybils(outcome: &Outcome, timeline: &Timeline) -> Result<Value> {
    use std::sync::atomic::Ordering::Relaxed;
    let scenario = &outcome.scenario;
    let adversaries = &scenario.adversaries;
    let series = delivery_by_request(outcome, timeline);
    let start = scenario.flash_at()?.filter(|_| adversaries.sybil_attack == crate::scenario::SybilAttack::CovertFlash);
    let start_s = start.map_or(0.0, |d| d.as_secs_f64());
    let mean = |items: &[(f64, f64)]| {
        (!items.is_empty()).then(|| items.iter().map(|(_, r)| r).sum::<f64>() / items.len() as f64)
    };
    let after: Vec<(f64, f64)> = series.iter().copied().filter(|(at, _)| *at >= start_s).collect();
    // The first request from which on every request reached RECOVERED of the people.
    let recovered_from = (0..after.len()).find(|&i| after[i..].iter().all(|(_, r)| *r >= RECOVERED));
    let target = scenario.eclipse_target();
    let eclipse = (adversaries.sybil_attack == crate::scenario::SybilAttack::Eclipse).then(|| {
        let heard =
            outcome.published.iter().filter(|(id, ..)| timeline.delivered.contains(&(id.to_bytes(), target))).count();
        let connected_honest: BTreeSet<usize> = outcome
            .records
            .iter()
            .filter(|r| r.node == target)
            .filter_map(|r| match &r.event {
                NodeEvent::Connected { peer } => {
                    outcome.keys.iter().position(|k| me2b_node::net::peer_id(k).as_ref() == Some(peer))
                }
                _ => None,
            })
            .collect();
        json!({"target": target, "requests_heard": heard, "requests": outcome.published.len(),
               "honest_peers_connected": connected_honest.len()})
    });
    let stats = &outcome.sybils;
    let received = stats.received.load(Relaxed);
    let forwarded = stats.forwarded.load(Relaxed);
    Ok(json!({
        "attack": format!("{:?}", adversaries.sybil_attack),
        "sybils": adversaries.sybils,
        "honest_people": scenario.people.count,
        "ratio_to_honest": adversaries.sybils as f64 / scenario.people.count.max(1) as f64,
        "honest_delivery_ratio": mean(&series),
        "honest_delivery_after_attack": mean(&after),
        "lowest_request_delivery": series.iter().map(|(_, r)| *r).reduce(f64::min),
        "attack_starts_s": start_s,
        // 0 when every request after the attack's start reached the people; none when the
        // last ones still did not.
        "time_to_recover_s": recovered_from.map(|i| if i == 0 { 0.0 } else { (after[i].0 - start_s).max(0.0) }),
        "latency_after_attack_ms": super::quantiles(&latencies_after(outcome, start_s)),
        "delivery_by_request": series.iter().map(|(at, r)| json!({"at_s": at, "ratio": r})).collect::<Vec<_>>(),
        "eclipse": eclipse,
        "achieved": {
            "connections_to_honest_nodes": stats.connections.load(Relaxed),
            "messages_received": received,
            "messages_withheld": received.saturating_sub(forwarded),
        },
    }))
}

/// Delivery latencies (scenario ms) to people of the requests published after `start_s`.
fn latencies_after(outcome: &Outcome, start_s: f64) -> Vec<f64> {
    let scale = outcome.scenario.time_scale;
    let published: HashMap<[u8; 16], Duration> = outcome
        .published
        .iter()
        .filter(|(_, _, at, _)| scenario_ms(scale, *at) / 1000.0 >= start_s)
        .map(|(id, _, at, _)| (id.to_bytes(), *at))
        .collect();
    let mut seen = HashSet::new();
    let mut latencies: Vec<f64> = outcome
        .records
        .iter()
        .filter(|r| r.node < outcome.scenario.people.count)
        .filter_map(|r| match &r.event {
            NodeEvent::Engine(Event::RequestSeen { request_id, .. }) => {
                let id = request_id.to_bytes();
                let sent = published.get(&id)?;
                seen.insert((id, r.node)).then(|| scenario_ms(scale, r.at.saturating_sub(*sent)))
            }
            _ => None,
        })
        .collect();
    latencies.sort_by(f64::total_cmp);
    latencies
}

fn demand(outcome: &Outcome) -> Value {
    let fake: HashSet<[u8; 16]> = outcome.fake_intents.iter().map(|id| id.to_bytes()).collect();
    let honest: HashSet<[u8; 16]> = outcome.intents.iter().map(|(id, ..)| id.to_bytes()).collect();
    let (mut fake_seen, mut honest_seen) = (0u64, 0u64);
    for record in &outcome.records {
        if outcome.roles[record.node] != Role::Business {
            continue;
        }
        if let NodeEvent::Engine(Event::IntentSeen { intent_id, .. }) = &record.event {
            let id = intent_id.to_bytes();
            if fake.contains(&id) {
                fake_seen += 1;
            } else if honest.contains(&id) {
                honest_seen += 1;
            }
        }
    }
    let scenario = &outcome.scenario;
    let following = scenario
        .people
        .intent_category
        .as_ref()
        .map_or(0, |c| if scenario.businesses.follow.contains(c) { scenario.businesses.count } else { 0 });
    let seen = fake_seen + honest_seen;
    json!({
        "poisoners": scenario.adversaries.poisoners,
        "fake_intents_published": outcome.fake_intents.len(),
        "honest_intents_published": outcome.intents.len(),
        "fake_intents_counted": fake_seen,
        "honest_intents_counted": honest_seen,
        "honest_intent_delivery_ratio": (following > 0 && !outcome.intents.is_empty())
            .then(|| honest_seen as f64 / (outcome.intents.len() * following) as f64),
        "fake_share_of_demand": (seen > 0).then(|| fake_seen as f64 / seen as f64),
    })
}

/// Which business each person's agreement is with (from the final states), by (person, id).
fn business_of(outcome: &Outcome) -> HashMap<(usize, String), usize> {
    let index: HashMap<PublicKey, usize> = outcome.keys.iter().enumerate().map(|(i, k)| (*k, i)).collect();
    let mut out = HashMap::new();
    for (node, state) in &outcome.states {
        for record in state.agreements.values() {
            if let Some(business) = index.get(&record.agreement.business) {
                out.insert((*node, record.id.to_string()), *business);
            }
        }
    }
    out
}

fn ignored(outcome: &Outcome, timeline: &Timeline) -> Result<Value> {
    let scenario = &outcome.scenario;
    let (people, businesses) = (scenario.people.count, scenario.businesses.count);
    let silent: BTreeSet<usize> =
        (0..scenario.adversaries.ignore_revocations.min(businesses)).map(|k| people + businesses - 1 - k).collect();
    // They go silent halfway through the workload (see the workload's timeline).
    let silent_from = scenario.duration()? / 2;
    let business = business_of(outcome);
    let (mut to_silent, mut to_silent_confirmed, mut to_others, mut to_others_confirmed) = (0u64, 0u64, 0u64, 0u64);
    let (mut before_silence, mut before_silence_confirmed) = (0u64, 0u64);
    for (key, (revoked, confirmed)) in &timeline.revocations {
        let Some(with) = business.get(key) else { continue };
        let revoked_s = scenario_ms(scenario.time_scale, *revoked) / 1000.0;
        let confirmed = u64::from(confirmed.is_some());
        match (silent.contains(with), revoked_s >= silent_from.as_secs_f64()) {
            (true, true) => (to_silent, to_silent_confirmed) = (to_silent + 1, to_silent_confirmed + confirmed),
            (true, false) => {
                (before_silence, before_silence_confirmed) = (before_silence + 1, before_silence_confirmed + confirmed)
            }
            (false, _) => (to_others, to_others_confirmed) = (to_others + 1, to_others_confirmed + confirmed),
        }
    }
    let deleted_with_silent = outcome
        .states
        .iter()
        .flat_map(|(node, state)| state.agreements.values().map(move |r| (*node, r)))
        .filter(|(node, r)| {
            business.get(&(*node, r.id.to_string())).is_some_and(|b| silent.contains(b))
                && r.lifecycle.name() == "DELETED"
        })
        .count();
    Ok(json!({
        "silent_businesses": silent.len(),
        "revocations_after_they_went_silent": to_silent,
        "of_those_confirmed": to_silent_confirmed,
        "revocations_to_the_others": to_others,
        "of_those_confirmed_by_receipt": to_others_confirmed,
        "revocations_to_them_before": before_silence,
        "of_those_confirmed_before_they_went_silent": before_silence_confirmed,
        "deleted_with_silent_businesses": deleted_with_silent,
        "note": "a revocation is confirmed only by the business's signed receipt: a silent business leaves it open (REVOKED, retried), never DELETED; deleted_with_silent_businesses counts those revoked and confirmed before they went silent",
    }))
}

fn partition(outcome: &Outcome, timeline: &Timeline, (at, heal): (Duration, Duration)) -> Value {
    let scenario = &outcome.scenario;
    let scale = scenario.time_scale;
    let cut_off = scenario.cut_off();
    let (at_ms, heal_ms) = (at.as_secs_f64() * 1000.0, heal.as_secs_f64() * 1000.0);
    let within_ms = CONFIRM_WITHIN.as_secs_f64() * 1000.0;
    let (mut during, mut before_heal, mut within, mut ever) = (0u64, 0u64, 0u64, 0u64);
    let mut after_heal_ms = Vec::new();
    for ((person, _), (revoked, confirmed)) in &timeline.revocations {
        let revoked_ms = scenario_ms(scale, *revoked);
        if *person >= cut_off || revoked_ms < at_ms || revoked_ms >= heal_ms {
            continue;
        }
        during += 1;
        if let Some(confirmed) = confirmed {
            ever += 1;
            let confirmed_ms = scenario_ms(scale, *confirmed);
            if confirmed_ms < heal_ms {
                before_heal += 1;
            } else {
                after_heal_ms.push(confirmed_ms - heal_ms);
                if confirmed_ms - heal_ms <= within_ms {
                    within += 1;
                }
            }
        }
    }
    after_heal_ms.sort_by(f64::total_cmp);
    json!({
        "people_cut_off": cut_off,
        "starts_s": at.as_secs_f64(),
        "heals_s": heal.as_secs_f64(),
        "revocations_during": during,
        "confirmed_before_heal": before_heal,
        "confirmed_within_60s_of_heal": within,
        "confirmed_by_the_end": ever,
        "fraction_confirmed_within_60s": (during > 0).then(|| within as f64 / during as f64),
        "heal_to_receipt_ms": super::quantiles(&after_heal_ms),
    })
}
