//! The workload driver against real `me2b` daemons, each in its own network namespace, and the
//! comparison with the in-process run of the same scenario and seed
//! (`simulations/scenarios/cluster.toml`: 12 people and 3 businesses, so 15 daemons).
//!
//! Needs root and iproute2; without them it says SKIPPED and why, loudly, and passes. On a
//! kernel without netem the links are unshaped veth pairs, and the in-process run is given
//! the same (0.05 ms links); with netem both use the scenario's per-pair latency.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use me2b_sim::drive::netns::{self, Netns};
use me2b_sim::scenario::Scenario;
use std::path::Path;

/// One cluster at a time: two at once would share the two cores and each measure the other.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn scenario_file() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/cluster.toml")
}

/// Makes the namespace cluster for the scenario (with `overrides`), drives it, removes it,
/// checks that nothing of it is left, and returns the summary and how the links were shaped.
fn drive(overrides: &[&str]) -> (serde_json::Value, String) {
    let overrides: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
    let (scenario, _) = Scenario::load_with(&scenario_file(), &overrides).unwrap();
    let seed = scenario.seed;
    let stores = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let cluster = Netns::up(&scenario, seed, me2b_tests::binary(), stores.path()).unwrap();
    assert!(cluster.cluster.nodes.len() >= 10, "at least ten daemons");
    let names = cluster.namespaces().to_vec();
    let links = cluster.links().to_owned();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let summary = runtime.block_on(me2b_sim::drive::drive(scenario, seed, &cluster.cluster, out.path())).unwrap();
    for file in ["metrics.csv", "summary.json", "delivery_latency_cdf.svg"] {
        assert!(out.path().join(file).is_file(), "the driver wrote {file}");
    }
    drop(cluster);
    let left = std::process::Command::new("ip").args(["netns", "list"]).output().unwrap();
    let left = String::from_utf8_lossy(&left.stdout);
    for name in &names {
        assert!(!left.lines().any(|line| line.split_whitespace().next() == Some(name)), "{name} was not removed");
    }
    (summary, links)
}

/// The in-process run of the scenario with links like the cluster's.
fn in_process(links: &str, overrides: &[&str]) -> serde_json::Value {
    let mut overrides = overrides.to_vec();
    if !links.starts_with("netem") {
        overrides.push("network.latency_ms={kind=\"fixed\",value=0.05}");
    }
    common::run("cluster", &overrides).summary
}

fn skipped() -> bool {
    match netns::available() {
        Ok(()) => false,
        Err(why) => {
            eprintln!("\n!!!!!!!! SKIPPED: the namespace cluster test needs root and iproute2: {why} !!!!!!!!\n");
            true
        }
    }
}

#[test]
fn the_scenario_on_fifteen_daemons_in_namespaces_matches_the_in_process_run() {
    if skipped() {
        return;
    }
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let (cluster, links) = drive(&[]);
    eprintln!("links: {links}");
    assert_eq!(cluster["driver"]["api_failures"], 0, "every API call succeeded: {}", cluster["driver"]);
    assert_eq!(cluster["counts"]["events_lost"], 0);
    assert!(cluster["counts"]["agreements_finalized"].as_u64().unwrap() > 0, "agreements were made");
    assert!(cluster["counts"]["deletion_receipts"].as_u64().unwrap() > 0, "revocations were confirmed");
    let memory = cluster["machine"]["daemon_memory_mib"]["n"].as_u64().unwrap();
    assert_eq!(memory, 15, "every daemon's memory was read");
    let reference = in_process(&links, &[]);
    let differences = me2b_sim::experiment::differences(&reference, &cluster);
    for side in me2b_sim::experiment::side_by_side(&reference, &cluster) {
        eprintln!("{:<44} {:>12?} {:>12?}", side.figure, side.a, side.b);
    }
    assert!(differences.is_empty(), "the cluster differs from the in-process run: {differences:?}");
}

/// Negative control: the same comparison catches a cluster that is not the in-process run's
/// system, here one whose links htb throttles to 1 KiB/s (available without netem).
#[test]
fn a_cluster_with_throttled_links_is_told_apart() {
    if skipped() {
        return;
    }
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let short = ["duration=\"6s\"", "drain=\"4s\""];
    let (cluster, links) = drive(&[short[0], short[1], "network.bandwidth_kbps=1"]);
    assert!(links.contains("rate 8kbit"), "the links are throttled: {links}");
    let reference = in_process(&links, &short);
    let differences = me2b_sim::experiment::differences(&reference, &cluster);
    assert!(!differences.is_empty(), "a throttled cluster passed for the in-process run");
    eprintln!("told apart by: {differences:?}");
}
