//! Every adversary scenario of `simulations/scenarios/`, made small with overrides so that CI
//! runs each in well under a minute, asserting its figure from `summary.json`'s `attack`
//! section. The full-size runs are the commands in each scenario file's header (their figures
//! and wall times are in the README). Runs take turns: they measure delivery on shared cores.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use serde_json::Value;
use std::sync::Mutex;

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Runs scenario `name` with `overrides` and returns its summary.
fn run(name: &str, overrides: &[&str]) -> Value {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    common::run(name, overrides).summary
}

fn number(value: &Value) -> f64 {
    value.as_f64().unwrap_or_else(|| panic!("not a number: {value}"))
}

/// 40 people, 160 Sybils (4:1) on the same scale as the full scenario's 200 and 800.
const SYBILS_SMALL: [&str; 5] =
    ["people.count=40", "adversaries.sybils=160", "duration=16s", "drain=5s", "time_scale=1.0"];

#[test]
fn sybil_cold_boot_at_four_to_one_leaves_honest_delivery_above_99_percent() {
    let summary = run("sybil-cold-boot", &SYBILS_SMALL);
    let sybils = &summary["attack"]["sybils"];
    assert_eq!(number(&sybils["ratio_to_honest"]), 4.0);
    assert!(number(&sybils["honest_delivery_ratio"]) >= 0.99, "{sybils:#}");
    // Null when the last requests still missed someone: the whole section says who and when.
    assert_eq!(sybils["time_to_recover_s"].as_f64(), Some(0.0), "{sybils:#}");
    // The attack happened: the Sybils sat in the meshes and swallowed what reached them.
    assert!(number(&sybils["achieved"]["connections_to_honest_nodes"]) >= 160.0, "{sybils:#}");
    assert!(number(&sybils["achieved"]["messages_withheld"]) > 0.0, "{sybils:#}");
}

#[test]
fn after_a_covert_flash_every_request_still_reaches_the_people() {
    let mut overrides = SYBILS_SMALL.to_vec();
    overrides.extend(["duration=24s", "adversaries.flash_at=10s"]);
    let summary = run("covert-flash", &overrides);
    let sybils = &summary["attack"]["sybils"];
    assert!(number(&sybils["honest_delivery_after_attack"]) >= 0.99, "{sybils:#}");
    let achieved = &sybils["achieved"];
    // They forwarded before the flash and withheld after it.
    let (received, withheld) = (number(&achieved["messages_received"]), number(&achieved["messages_withheld"]));
    assert!(withheld > 0.0 && withheld < received, "{achieved}");
}

#[test]
fn an_eclipse_cannot_take_the_connections_a_node_dials_itself() {
    let small = [
        "people.count=20",
        "adversaries.sybils=40",
        "adversaries.eclipse_target=10",
        "network.max_connections=24",
        "duration=16s",
        "drain=5s",
        "time_scale=1.0",
    ];
    let summary = run("eclipse", &small);
    let eclipse = &summary["attack"]["sybils"]["eclipse"];
    assert!(number(&eclipse["requests"]) >= 3.0);
    assert_eq!(eclipse["requests_heard"], eclipse["requests"], "{eclipse}");
    assert!(number(&eclipse["honest_peers_connected"]) >= 1.0, "{eclipse}");

    // Control: without the outbound reserve, the Sybils take every place and the target
    // hears nothing.
    let mut control = small.to_vec();
    control.push("network.outbound_reserve=0");
    let summary = run("eclipse", &control);
    let eclipse = &summary["attack"]["sybils"]["eclipse"];
    assert_eq!(eclipse["requests_heard"], 0, "{eclipse}");
    assert_eq!(eclipse["honest_peers_connected"], 0, "{eclipse}");
}

#[test]
fn demand_poisoning_is_measured_and_honest_intents_are_still_counted() {
    let summary =
        run("demand-poisoning", &["people.count=30", "people.intents_per_hour=240.0", "duration=16s", "drain=5s"]);
    let demand = &summary["attack"]["demand_poisoning"];
    assert!(number(&demand["honest_intent_delivery_ratio"]) >= 0.99, "{demand:#}");
    // Every fake intent is counted by every business: anonymous demand is as inflatable as
    // the attacker wants (see the README); the figure says by how much.
    let businesses = summary["workload"]["nodes"].as_f64().unwrap() - 30.0 - 5.0;
    assert_eq!(number(&demand["fake_intents_counted"]), number(&demand["fake_intents_published"]) * businesses);
    assert!(number(&demand["fake_share_of_demand"]) > 0.5, "{demand:#}");
}

#[test]
fn revocations_to_businesses_that_went_silent_stay_open_and_the_others_are_confirmed() {
    let summary = run(
        "ignore-revocations",
        &[
            "people.count=40",
            "businesses.count=4",
            "adversaries.ignore_revocations=2",
            "duration=16s",
            "drain=10s",
            "people.revoke_after_s.max=12.0",
        ],
    );
    let ignored = &summary["attack"]["ignored_revocations"];
    assert!(number(&ignored["revocations_after_they_went_silent"]) > 0.0, "{ignored:#}");
    assert_eq!(ignored["of_those_confirmed"], 0, "only a receipt confirms: {ignored:#}");
    assert!(number(&ignored["revocations_to_the_others"]) > 0.0);
    assert_eq!(ignored["of_those_confirmed_by_receipt"], ignored["revocations_to_the_others"], "{ignored:#}");
    let revoked = summary["counts"]["agreements_by_state"]["REVOKED"].as_f64().unwrap_or(0.0);
    assert!(revoked >= number(&ignored["revocations_after_they_went_silent"]), "{:#}", summary["counts"]);
}

#[test]
fn every_revocation_made_during_a_partition_is_confirmed_within_60_s_of_it_healing() {
    let summary = run(
        "revocation-partition",
        &[
            "people.count=30",
            "network.partition.at=8s",
            "network.partition.heal=18s",
            "duration=20s",
            "drain=20s",
            "people.revoke_after_s.min=3.0",
            "people.revoke_after_s.max=10.0",
        ],
    );
    let partition = &summary["attack"]["partition"];
    assert!(number(&partition["revocations_during"]) >= 3.0, "{partition:#}");
    // The cut holds: nothing crosses it before it heals.
    assert_eq!(partition["confirmed_before_heal"], 0, "{partition:#}");
    assert_eq!(number(&partition["fraction_confirmed_within_60s"]), 1.0, "{partition:#}");
}
