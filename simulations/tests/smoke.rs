//! The `smoke` scenario end to end, twice with the same seed: every output file is present and
//! well-formed, the counts agree with the workload, and the same seed gives the same workload
//! and protocol-level counts within the replay tolerance (those that follow from the workload
//! exactly).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;

fn run_smoke(out: &Path) -> serde_json::Value {
    let report = common::run("smoke", &[]);
    me2b_sim::report::write(&report, out).unwrap();
    serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap()
}

#[test]
fn smoke_runs_and_the_same_seed_gives_the_same_workload_and_counts() {
    let first_out = tempfile::tempdir().unwrap();
    let first = run_smoke(first_out.path());

    for file in
        ["metrics.csv", "summary.json", "delivery_latency_cdf.svg", "agreements_over_time.svg", "traffic_per_node.svg"]
    {
        assert!(first_out.path().join(file).exists(), "{file} is missing");
    }
    for svg in ["delivery_latency_cdf.svg", "agreements_over_time.svg", "traffic_per_node.svg"] {
        let text = std::fs::read_to_string(first_out.path().join(svg)).unwrap();
        assert!(text.starts_with("<svg") && text.trim_end().ends_with("</svg>"), "{svg} is not an SVG");
    }
    let csv = std::fs::read_to_string(first_out.path().join("metrics.csv")).unwrap();
    let mut lines = csv.lines();
    let columns = lines.next().unwrap().split(',').count();
    assert_eq!(columns, 9);
    assert!(lines.all(|line| line.split(',').count() == columns), "every row has every column");
    assert!(csv.contains(",request-seen,"));

    // The counts agree with the workload.
    let workload = &first["workload"];
    let counts = &first["counts"];
    assert_eq!(workload["campaigns"], 2);
    assert_eq!(counts["requests_published"], workload["campaigns"]);
    assert_eq!(counts["gossip_deliveries_expected"], 2 * 16);
    assert_eq!(first["gossip"]["delivery_ratio"], 1.0, "no loss, no churn: every follower hears every request");
    assert!(counts["agreements_finalized"].as_u64().unwrap() > 0);
    let floor_ratio = first["gossip"]["latency_to_floor_ratio"]["p50"].as_f64().unwrap();
    assert!(floor_ratio >= 1.0, "no delivery beats the shortest path: {floor_ratio}");
    // Duplicates come from gossipsub's counters; a node sees at least one copy of each request
    // it hears, so first copies cover the deliveries.
    let duplicates = &first["gossip"]["duplicates_per_node"];
    assert!(duplicates["mean"].as_f64().unwrap() >= 0.0, "{duplicates}");
    assert!(first["gossip"]["duplicates_per_first_copy"].as_f64().is_some(), "{}", first["gossip"]);

    let second_out = tempfile::tempdir().unwrap();
    let second = run_smoke(second_out.path());
    assert_eq!(first["workload"], second["workload"], "the seed fixes the workload");
    // The replay contract (`me2b_sim::experiment`): counts that follow from the workload are
    // exact; the others come from real timers on shared cores (a negotiation still open when
    // the run ends under load) and agree within the documented tolerance.
    let (digest, counts) = me2b_sim::experiment::compare(&first, &second);
    assert!(digest, "the seed fixes the workload digest");
    let off: Vec<_> = counts.iter().filter(|c| !c.ok).collect();
    assert!(off.is_empty(), "counts outside the replay tolerance: {off:?}");
}
