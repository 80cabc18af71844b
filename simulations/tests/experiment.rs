//! Experiments through the `me2b-sim` binary itself: overrides with a bad key fail naming the
//! valid ones; a sweep of two grid points × two seeds writes every run with its manifest and
//! one `sweep.csv` with n, mean, stddev and 95 % CI; a replay of a recorded run reproduces its
//! workload digest and counts, and a replay against a tampered record is caught.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

fn sim() -> Command {
    Command::new(env!("CARGO_BIN_EXE_me2b-sim"))
}

fn smoke() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/smoke.toml")
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap()
}

#[test]
fn a_bad_override_names_the_valid_keys() {
    let out = tempfile::tempdir().unwrap();
    let output = sim()
        .args(["run", smoke().to_str().unwrap(), "--set", "people.cont=3", "--out"])
        .arg(out.path())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("unknown field `cont`") && stderr.contains("`count`"), "{stderr}");
    let output = sim().args(["run", smoke().to_str().unwrap(), "--set", "people.count"]).output().unwrap();
    assert!(String::from_utf8_lossy(&output.stderr).contains("expected KEY=VALUE"));
}

#[test]
fn a_sweep_writes_every_run_and_one_table_and_a_replay_reproduces_a_run() {
    let dir = tempfile::tempdir().unwrap();
    let experiment = dir.path().join("tiny.toml");
    std::fs::write(
        &experiment,
        format!(
            r#"name = "tiny"
scenario = "{}"
seeds = [3, 4]
parallel = 2
metrics = ["counts.agreements_finalized", "gossip.delivery_ratio", "counts.requests_published"]
[set]
"people.count" = 6
"businesses.count" = 2
# Both campaigns early and a drain longer than any owner's think time plus revocation, so
# that the runs end with no work in flight (what would be left open is a matter of timing).
"businesses.campaigns.1.at" = "3s"
duration = "6s"
drain = "8s"
[grid]
"network.latency_ms.median" = [5.0, 60.0]
"#,
            smoke().display()
        ),
    )
    .unwrap();
    let out = dir.path().join("out");
    let status = sim().arg("sweep").arg(&experiment).arg("--out").arg(&out).status().unwrap();
    assert!(status.success());

    // Every run: its outputs, and a manifest that says exactly what ran.
    for point in 0..2 {
        for seed in [3, 4] {
            let run = out.join(format!("runs/p{point}-s{seed}"));
            let manifest = json(&run.join("manifest.json"));
            assert_eq!(manifest["seed"], seed);
            assert_eq!(manifest["scenario"]["people"]["count"], 6, "the fixed override applied");
            let median = manifest["scenario"]["network"]["latency_ms"]["median"].as_f64().unwrap();
            assert_eq!(median, [5.0, 60.0][point], "the grid's value applied");
            assert_eq!(manifest["binary"]["sha256"].as_str().unwrap().len(), 64);
            assert!(manifest["git"]["revision"].is_string() || manifest["git"]["note"].is_string());
            assert!(manifest["machine"]["cpus"].as_u64().unwrap() >= 1);
            assert!(manifest["ended_at"].is_string());
            assert_eq!(manifest["workload_digest"], json(&run.join("summary.json"))["workload"]["digest"]);
        }
    }
    // One table: per point and metric, n = 2 seeds, with an interval around the mean.
    let table = std::fs::read_to_string(out.join("sweep.csv")).unwrap();
    let mut rows = csv::Reader::from_reader(table.as_bytes());
    let header = rows.headers().unwrap().clone();
    assert_eq!(
        header.iter().collect::<Vec<_>>(),
        ["point", "network.latency_ms.median", "metric", "n", "mean", "stddev", "ci95_low", "ci95_high"]
    );
    let rows: Vec<csv::StringRecord> = rows.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 2 * 3, "two points, three metrics: {table}");
    for row in &rows {
        assert_eq!(&row[3], "2", "{row:?}");
        let (mean, low, high): (f64, f64, f64) =
            (row[4].parse().unwrap(), row[6].parse().unwrap(), row[7].parse().unwrap());
        assert!(low <= mean && mean <= high, "{row:?}");
        if &row[2] == "counts.requests_published" {
            assert_eq!(mean, 2.0, "both campaigns, every run");
        }
    }
    assert!(std::fs::read_to_string(out.join("runs.csv")).unwrap().lines().count() > 4 * 3);

    // A replay reproduces the recorded run.
    let recorded = out.join("runs/p0-s3");
    let replay = dir.path().join("replay");
    let output = sim().arg("replay").arg(&recorded).arg("--out").arg(&replay).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("workload digest: same"), "{stdout}");
    assert_eq!(json(&replay.join("replay.json"))["workload_digest_matches"], true);

    // Control: a record whose workload was not this seed's is not reproduced.
    let mut manifest = json(&recorded.join("manifest.json"));
    manifest["seed"] = serde_json::json!(99);
    std::fs::write(recorded.join("manifest.json"), serde_json::to_vec(&manifest).unwrap()).unwrap();
    let output = sim().arg("replay").arg(&recorded).arg("--out").arg(dir.path().join("control")).output().unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stdout).contains("workload digest: DIFFERENT"));
}
