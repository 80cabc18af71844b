//! Experiments rather than single runs: what a run records about itself (`manifest.json`), a
//! sweep of overrides over seeds (`me2b-sim sweep EXPERIMENT.toml` → `runs/<id>/` and one
//! `sweep.csv` with mean, standard deviation and 95 % confidence interval per metric), and a
//! replay of a recorded run (`me2b-sim replay DIR`).
//!
//! # What a replay reproduces
//!
//! The seed fixes the workload (who the nodes are, their data and policies, the topology, the
//! link latencies, every timed action): its digest must match exactly. So do the counts that
//! follow from the workload alone ([`DETERMINISTIC_COUNTS`]). The other protocol counts come
//! from real nodes on real timers sharing the machine's cores: which negotiation an owner's
//! answer reaches before it times out, which revocation a churning business is back for, a
//! gossip message lost to a peer that was just leaving. On an idle machine and a small
//! scenario they usually match exactly (the `smoke` test asserts it); in general they must
//! agree within [`TOLERANCE`].

use crate::scenario::Scenario;
use anyhow::{Context as _, Result, bail};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Counts that depend on the workload only, and so must replay exactly.
pub const DETERMINISTIC_COUNTS: [&str; 4] =
    ["nodes", "requests_published", "intents_published", "gossip_deliveries_expected"];

/// How far another count may be from the recorded one on a replay: this fraction of the
/// larger of the two, or [`TOLERANCE_ABSOLUTE`], whichever is more.
pub const TOLERANCE: f64 = 0.10;
/// The absolute slack of a replayed count (for small counts).
pub const TOLERANCE_ABSOLUTE: f64 = 2.0;

/// What a run records about itself before and after it runs.
#[derive(Debug, Clone)]
pub struct Manifest(pub Value);

impl Manifest {
    /// The manifest of a run about to start: the command, scenario after overrides, seed, the
    /// code (git revision and whether the tree had changes), the binary (its SHA-256) and the
    /// machine.
    pub fn begin(scenario_file: &Path, overrides: &[String], document: &toml::Table, seed: u64) -> Manifest {
        Manifest(json!({
            "me2b_sim": env!("CARGO_PKG_VERSION"),
            "command": std::env::args().collect::<Vec<_>>(),
            "scenario_file": scenario_file.display().to_string(),
            "overrides": overrides,
            "scenario": document,
            "seed": seed,
            "git": git(),
            "binary": binary(),
            "machine": machine(),
            "started_at": me2b_node::clock::now().to_string(),
        }))
    }

    /// Completes the manifest after the run.
    pub fn finish(&mut self, summary: &Value) {
        if let Value::Object(map) = &mut self.0 {
            map.insert("ended_at".into(), json!(me2b_node::clock::now().to_string()));
            map.insert("workload_digest".into(), summary["workload"]["digest"].clone());
        }
    }

    /// Writes `DIR/manifest.json`.
    pub fn write(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let path = dir.join("manifest.json");
        std::fs::write(&path, serde_json::to_vec_pretty(&self.0)?)
            .with_context(|| format!("cannot write {}", path.display()))
    }

    /// Reads `DIR/manifest.json`.
    pub fn read(dir: &Path) -> Result<Manifest> {
        let path = dir.join("manifest.json");
        let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
        Ok(Manifest(serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?))
    }

    /// The scenario and seed it ran.
    pub fn scenario(&self) -> Result<(Scenario, toml::Table, u64)> {
        let document: toml::Table =
            serde_json::from_value(self.0["scenario"].clone()).context("the manifest's scenario is not a table")?;
        let scenario = Scenario::from_document(&document).context("the manifest's scenario")?;
        let seed = self.0["seed"].as_u64().context("the manifest has no seed")?;
        Ok((scenario, document, seed))
    }
}

/// The source tree's revision and whether it had uncommitted changes, if this binary was built
/// from a git checkout that is still there (null otherwise, with why). The binary's hash is
/// the exact record of what ran; this says where its source is.
fn git() -> Value {
    let tree = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let run = |args: &[&str]| -> Option<String> {
        let output = std::process::Command::new("git").arg("-C").arg(&tree).args(args).output().ok()?;
        output.status.success().then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
    };
    match (run(&["rev-parse", "HEAD"]), run(&["status", "--porcelain", "--untracked-files=no"])) {
        (Some(revision), Some(status)) => json!({"revision": revision, "dirty": !status.is_empty()}),
        _ => json!({"revision": null, "dirty": null, "note": "no git checkout at the source path"}),
    }
}

/// The running binary's path and SHA-256.
fn binary() -> Value {
    use sha2::Digest as _;
    let Ok(path) = std::env::current_exe() else { return json!(null) };
    match std::fs::read(&path) {
        Ok(bytes) => {
            let hash = sha2::Sha256::digest(&bytes);
            let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
            json!({"path": path.display().to_string(), "sha256": hex, "bytes": bytes.len()})
        }
        Err(error) => json!({"path": path.display().to_string(), "sha256": null, "note": error.to_string()}),
    }
}

/// The machine: host name, CPU model and count, memory, kernel.
fn machine() -> Value {
    let read = |path: &str| std::fs::read_to_string(path).ok().map(|s| s.trim().to_owned());
    let cpuinfo = read("/proc/cpuinfo").unwrap_or_default();
    let model =
        cpuinfo.lines().find_map(|l| l.strip_prefix("model name")).map(|l| l.trim_start_matches([' ', '\t', ':']));
    let memory_mib = read("/proc/meminfo").and_then(|m| {
        let line = m.lines().find(|l| l.starts_with("MemTotal:"))?.to_owned();
        let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some((kib / 1024.0).round())
    });
    json!({
        "hostname": read("/proc/sys/kernel/hostname"),
        "os": std::env::consts::OS,
        "arch": std::env::consts::ARCH,
        "kernel": read("/proc/sys/kernel/osrelease"),
        "cpu_model": model,
        "cpus": std::thread::available_parallelism().map(|n| n.get()).ok(),
        "memory_mib": memory_mib,
    })
}

/// Every number in a summary, by dotted path (`gossip.latency_ms.p50`); the seed, the time
/// scale and the workload's draw are the experiment's inputs, not its results, and are left out.
pub fn metrics(summary: &Value) -> BTreeMap<String, f64> {
    fn walk(prefix: &str, value: &Value, out: &mut BTreeMap<String, f64>) {
        match value {
            Value::Object(map) => {
                for (key, inner) in map {
                    let path = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
                    walk(&path, inner, out);
                }
            }
            Value::Number(n) => {
                if let Some(x) = n.as_f64() {
                    out.insert(prefix.to_owned(), x);
                }
            }
            Value::Bool(b) => {
                out.insert(prefix.to_owned(), if *b { 1.0 } else { 0.0 });
            }
            _ => {}
        }
    }
    let mut out = BTreeMap::new();
    walk("", summary, &mut out);
    out.retain(|key, _| !(key == "seed" || key == "time_scale" || key.starts_with("workload.")));
    out
}

/// Mean, sample standard deviation and the 95 % confidence interval of the mean (Student's t).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stats {
    /// How many values.
    pub n: usize,
    /// Their mean.
    pub mean: f64,
    /// Sample standard deviation (n − 1); none for one value.
    pub stddev: Option<f64>,
    /// Half the width of the 95 % interval; none for one value.
    pub ci95: Option<f64>,
}

impl Stats {
    /// The statistics of `values` (none for no values).
    pub fn of(values: &[f64]) -> Option<Stats> {
        let n = values.len();
        if n == 0 {
            return None;
        }
        let mean = values.iter().sum::<f64>() / n as f64;
        if n == 1 {
            return Some(Stats { n, mean, stddev: None, ci95: None });
        }
        let variance = values.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        let stddev = variance.sqrt();
        Some(Stats { n, mean, stddev: Some(stddev), ci95: Some(t975(n - 1) * stddev / (n as f64).sqrt()) })
    }
}

/// The 0.975 quantile of Student's t with `df` degrees of freedom (two-sided 95 %): exact to
/// three decimals up to 30, then the values at 40, 60 and 120 (taking the smaller `df`'s, so
/// the interval errs wide), and the normal's 1.960 beyond.
pub fn t975(df: usize) -> f64 {
    const TABLE: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
        2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
    ];
    match df {
        0 => f64::INFINITY,
        1..=30 => TABLE[df - 1],
        31..=39 => 2.042,
        40..=59 => 2.021,
        60..=119 => 2.000,
        120..=999 => 1.980,
        _ => 1.960,
    }
}

/// An experiment file: a scenario, overrides held fixed, a grid of overrides to sweep, seeds.
///
/// ```toml
/// name = "latency-vs-agreement"
/// scenario = "../scenarios/smoke.toml"   # relative to this file
/// seeds = 5                              # or a list: [7, 8, 9]; a count starts at the scenario's seed
/// parallel = 1                           # runs at once (each is its own process)
/// metrics = ["time_to_agreement_ms.p50"] # optional: the summary's numbers to aggregate (default all)
///
/// [set]                                  # optional: overrides for every run
/// "people.count" = 30
///
/// [grid]                                 # every combination of these values
/// "network.latency_ms.median" = [10, 40, 160]
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Experiment {
    /// Its name (the default output directory is `sweep-out/NAME`).
    pub name: String,
    /// The scenario file, relative to the experiment file.
    pub scenario: PathBuf,
    /// Overrides for every run.
    #[serde(default)]
    pub set: BTreeMap<String, toml::Value>,
    /// The values to sweep, by key; every combination is a point.
    #[serde(default)]
    pub grid: BTreeMap<String, Vec<toml::Value>>,
    /// The seeds: a count (from the scenario's seed on) or a list.
    pub seeds: Seeds,
    /// How many runs at once (default 1: figures about the machine are only fair one at a time).
    #[serde(default = "one")]
    pub parallel: usize,
    /// The summary's numbers to aggregate (default: all of them).
    #[serde(default)]
    pub metrics: Vec<String>,
}

fn one() -> usize {
    1
}

/// An experiment's seeds.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Seeds {
    /// This many, from the scenario's seed on.
    Count(u64),
    /// These.
    List(Vec<u64>),
}

/// One run of a sweep: a point of the grid and a seed.
#[derive(Debug, Clone)]
pub struct Planned {
    /// `p{point}-s{seed}`.
    pub id: String,
    /// The grid point's index.
    pub point: usize,
    /// The grid point's values, by key.
    pub values: BTreeMap<String, toml::Value>,
    /// Every override, fixed ones first.
    pub overrides: Vec<String>,
    /// The seed.
    pub seed: u64,
}

impl Experiment {
    /// Reads an experiment file.
    pub fn load(path: &Path) -> Result<Experiment> {
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        let mut experiment: Experiment =
            toml::from_str(&text).with_context(|| format!("{} is not a valid experiment", path.display()))?;
        if experiment.scenario.is_relative() {
            experiment.scenario = path.parent().unwrap_or(Path::new(".")).join(&experiment.scenario);
        }
        if experiment.parallel == 0 {
            bail!("{}: parallel must be at least 1", path.display());
        }
        if let Some((key, _)) = experiment.grid.iter().find(|(_, values)| values.is_empty()) {
            bail!("{}: grid.{key} has no values", path.display());
        }
        Ok(experiment)
    }

    /// Every run, point by point and seed by seed. Each point's overrides are applied to the
    /// scenario and checked before anything runs, so a bad key fails the sweep at once.
    pub fn plan(&self) -> Result<Vec<Planned>> {
        let base = Scenario::load(&self.scenario)?;
        let seeds: Vec<u64> = match &self.seeds {
            Seeds::Count(n) => (0..*n).map(|k| base.seed + k).collect(),
            Seeds::List(list) => list.clone(),
        };
        if seeds.is_empty() {
            bail!("the experiment has no seeds");
        }
        let fixed: Vec<String> = self.set.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let mut points: Vec<BTreeMap<String, toml::Value>> = vec![BTreeMap::new()];
        for (key, values) in &self.grid {
            points = points
                .into_iter()
                .flat_map(|point| {
                    values.iter().map(move |value| {
                        let mut next = point.clone();
                        next.insert(key.clone(), value.clone());
                        next
                    })
                })
                .collect();
        }
        let mut runs = Vec::new();
        for (index, values) in points.into_iter().enumerate() {
            let mut overrides = fixed.clone();
            overrides.extend(values.iter().map(|(k, v)| format!("{k}={v}")));
            Scenario::load_with(&self.scenario, &overrides).with_context(|| format!("grid point {index}"))?;
            for seed in &seeds {
                runs.push(Planned {
                    id: format!("p{index}-s{seed}"),
                    point: index,
                    values: values.clone(),
                    overrides: overrides.clone(),
                    seed: *seed,
                });
            }
        }
        Ok(runs)
    }
}

/// A grid point's values and each metric's values over its seeds.
type PointSamples = (BTreeMap<String, toml::Value>, BTreeMap<String, Vec<f64>>);

/// What a sweep's runs gave: `sweep.csv` (per point and metric: n, mean, stddev, 95 % CI) and
/// `runs.csv` (every run's every metric), written to `out`. Runs that failed count in neither;
/// they are listed in the returned text.
pub fn aggregate(experiment: &Experiment, runs: &[Planned], out: &Path) -> Result<Vec<String>> {
    let keys: Vec<&String> = experiment.grid.keys().collect();
    let mut failed = Vec::new();
    let mut by_point: BTreeMap<usize, PointSamples> = BTreeMap::new();
    let mut each = csv::Writer::from_path(out.join("runs.csv"))?;
    let mut header = vec!["run".to_owned(), "point".to_owned(), "seed".to_owned()];
    header.extend(keys.iter().map(|k| k.to_string()));
    header.extend(["metric".to_owned(), "value".to_owned()]);
    each.write_record(&header)?;
    let wanted: BTreeSet<&String> = experiment.metrics.iter().collect();
    for run in runs {
        let path = out.join("runs").join(&run.id).join("summary.json");
        let summary: Value = match std::fs::read_to_string(&path).ok().and_then(|t| serde_json::from_str(&t).ok()) {
            Some(summary) => summary,
            None => {
                failed.push(run.id.clone());
                continue;
            }
        };
        let entry = by_point.entry(run.point).or_insert_with(|| (run.values.clone(), BTreeMap::new()));
        for (metric, value) in metrics(&summary) {
            if !wanted.is_empty() && !wanted.contains(&metric) {
                continue;
            }
            let mut row = vec![run.id.clone(), run.point.to_string(), run.seed.to_string()];
            row.extend(keys.iter().map(|k| plain(run.values.get(*k))));
            row.extend([metric.clone(), value.to_string()]);
            each.write_record(&row)?;
            entry.1.entry(metric).or_default().push(value);
        }
    }
    each.flush()?;
    let mut sweep = csv::Writer::from_path(out.join("sweep.csv"))?;
    let mut header = vec!["point".to_owned()];
    header.extend(keys.iter().map(|k| k.to_string()));
    header.extend(["metric", "n", "mean", "stddev", "ci95_low", "ci95_high"].map(str::to_owned));
    sweep.write_record(&header)?;
    let number = |x: Option<f64>| x.map(|x| format!("{x}")).unwrap_or_default();
    for (point, (values, metrics)) in &by_point {
        for (metric, samples) in metrics {
            let Some(stats) = Stats::of(samples) else { continue };
            let mut row = vec![point.to_string()];
            row.extend(keys.iter().map(|k| plain(values.get(*k))));
            row.extend([
                metric.clone(),
                stats.n.to_string(),
                format!("{}", stats.mean),
                number(stats.stddev),
                number(stats.ci95.map(|h| stats.mean - h)),
                number(stats.ci95.map(|h| stats.mean + h)),
            ]);
            sweep.write_record(&row)?;
        }
    }
    sweep.flush()?;
    for metric in &experiment.metrics {
        if !by_point.values().any(|(_, m)| m.contains_key(metric)) {
            failed.push(format!("metric {metric} is in no run's summary"));
        }
    }
    Ok(failed)
}

/// A grid value as a CSV cell: strings without their quotes.
fn plain(value: Option<&toml::Value>) -> String {
    match value {
        Some(toml::Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    }
}

/// One count compared on a replay.
#[derive(Debug, Clone)]
pub struct Compared {
    /// `counts.…`'s path.
    pub count: String,
    /// Recorded.
    pub recorded: f64,
    /// Replayed.
    pub replayed: f64,
    /// Must match exactly.
    pub deterministic: bool,
    /// Within its tolerance.
    pub ok: bool,
}

/// Compares a replay's summary with the recorded one: the workload digest (exact), then every
/// count (exact for [`DETERMINISTIC_COUNTS`], within [`TOLERANCE`] for the others). Returns
/// whether the digests match and the counts.
pub fn compare(recorded: &Value, replayed: &Value) -> (bool, Vec<Compared>) {
    let digest =
        recorded["workload"]["digest"] == replayed["workload"]["digest"] && recorded["workload"]["digest"].is_string();
    let counts = |summary: &Value| {
        let mut out = metrics(&json!({"counts": summary["counts"].clone()}));
        out.retain(|k, _| k != "counts.events_lost");
        out
    };
    let (before, after) = (counts(recorded), counts(replayed));
    let names: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    let compared = names
        .into_iter()
        .map(|name| {
            let recorded = before.get(name).copied().unwrap_or(0.0);
            let replayed = after.get(name).copied().unwrap_or(0.0);
            let deterministic = DETERMINISTIC_COUNTS.iter().any(|d| name == &format!("counts.{d}"));
            let slack = if deterministic {
                0.0
            } else {
                (TOLERANCE * recorded.abs().max(replayed.abs())).max(TOLERANCE_ABSOLUTE)
            };
            let ok = (recorded - replayed).abs() <= slack;
            Compared { count: name.clone(), recorded, replayed, deterministic, ok }
        })
        .collect();
    (digest, compared)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statistics_of_a_sample() {
        let stats = Stats::of(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]).unwrap_or_else(|| unreachable!());
        assert_eq!(stats.mean, 5.0);
        let sd = stats.stddev.unwrap_or_default();
        assert!((sd - 2.138).abs() < 1e-3, "{sd}");
        // t(7) = 2.365: 2.365 × 2.138 / √8 = 1.788.
        let half = stats.ci95.unwrap_or_default();
        assert!((half - 1.788).abs() < 1e-3, "{half}");
        assert_eq!(Stats::of(&[3.0]).map(|s| (s.stddev, s.ci95)), Some((None, None)));
        assert_eq!(Stats::of(&[]), None);
    }

    #[test]
    fn metrics_are_the_summarys_numbers_without_the_inputs() {
        let summary = json!({"seed": 7, "time_scale": 1.0, "workload": {"people": 3},
            "gossip": {"latency_ms": {"p50": 12.5, "n": 4}}, "machine": {"latency_figures_trustworthy": true},
            "scenario": "smoke"});
        let found = metrics(&summary);
        assert_eq!(
            found.keys().map(String::as_str).collect::<Vec<_>>(),
            ["gossip.latency_ms.n", "gossip.latency_ms.p50", "machine.latency_figures_trustworthy"]
        );
    }

    #[test]
    fn a_replay_is_judged_by_its_digest_and_counts() {
        let recorded = json!({"workload": {"digest": "ab"}, "counts": {"nodes": 20, "agreements_finalized": 50,
            "terminated_by_reason": {"timeout": 3}}});
        let close = json!({"workload": {"digest": "ab"}, "counts": {"nodes": 20, "agreements_finalized": 54,
            "terminated_by_reason": {"timeout": 5}}});
        let (digest, counts) = compare(&recorded, &close);
        assert!(digest && counts.iter().all(|c| c.ok), "{counts:?}");
        let far = json!({"workload": {"digest": "ab"}, "counts": {"nodes": 21, "agreements_finalized": 40}});
        let (_, counts) = compare(&recorded, &far);
        let bad: Vec<&str> = counts.iter().filter(|c| !c.ok).map(|c| c.count.as_str()).collect();
        assert_eq!(bad, ["counts.agreements_finalized", "counts.nodes", "counts.terminated_by_reason.timeout"]);
        let other = json!({"workload": {"digest": "cd"}, "counts": {}});
        assert!(!compare(&recorded, &other).0);
    }
}

/// The figures both reports give, the in-process run's and the driver's of real daemons
/// (JSON pointers into `summary.json`).
pub const SHARED_FIGURES: &[&str] = &[
    "/counts/nodes",
    "/counts/requests_published",
    "/counts/intents_published",
    "/counts/gossip_deliveries_expected",
    "/counts/gossip_deliveries",
    "/gossip/delivery_ratio",
    "/gossip/latency_ms/p50",
    "/gossip/latency_ms/p90",
    "/gossip/latency_ms/p99",
    "/counts/agreements_finalized",
    "/time_to_agreement_ms/p50",
    "/time_to_agreement_ms/p99",
    "/counts/deletion_receipts",
    "/revocation_to_receipt_ms/p50",
    "/revocation_to_receipt_ms/p99",
    "/connections/distinct_peers_per_node/p50",
    "/connections/connected_at_end_per_node/p50",
    "/counts/events_lost",
];

/// One shared figure of two runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Side {
    /// Its JSON pointer.
    pub figure: &'static str,
    /// The first run's value.
    pub a: Option<f64>,
    /// The second's.
    pub b: Option<f64>,
}

/// The [`SHARED_FIGURES`] of two summaries, side by side.
pub fn side_by_side(a: &serde_json::Value, b: &serde_json::Value) -> Vec<Side> {
    SHARED_FIGURES
        .iter()
        .map(|figure| Side {
            figure,
            a: a.pointer(figure).and_then(serde_json::Value::as_f64),
            b: b.pointer(figure).and_then(serde_json::Value::as_f64),
        })
        .collect()
}

/// How far a driven cluster's figures may be from the in-process run's of the same scenario
/// and seed, and still count as the same system (`me2b-sim compare`, the namespace test):
///
/// - the workload is the same: digest, requests and intents published, deliveries expected;
/// - gossip delivery ratios within 0.05 of each other;
/// - agreements finalized and deletion receipts within 25 % or 3: owners decide with the same
///   draws, but which offer wins an intent, and what lands before the end, is timing;
/// - gossip latency and time to agreement, p50: within a factor of 4, or 100 ms, of each
///   other. Real daemons are separate processes sharing the machine's cores, with an event
///   stream between each and the driver's clock; the bound catches a protocol stall on either
///   side (a lost message waits at least 2 s for its retry), not scheduling.
pub fn differences(in_process: &serde_json::Value, cluster: &serde_json::Value) -> Vec<String> {
    let number =
        |summary: &serde_json::Value, pointer: &str| summary.pointer(pointer).and_then(serde_json::Value::as_f64);
    let mut found = Vec::new();
    if in_process["workload"]["digest"] != cluster["workload"]["digest"] {
        found.push("not the same workload (digests differ)".to_owned());
    }
    for pointer in ["/counts/requests_published", "/counts/intents_published", "/counts/gossip_deliveries_expected"] {
        if number(in_process, pointer) != number(cluster, pointer) {
            found.push(format!("{pointer}: {:?} against {:?}", number(in_process, pointer), number(cluster, pointer)));
        }
    }
    let pairs = |pointer: &str| (number(in_process, pointer), number(cluster, pointer));
    match pairs("/gossip/delivery_ratio") {
        (Some(a), Some(b)) if (a - b).abs() <= 0.05 => {}
        (a, b) => found.push(format!("gossip delivery ratio: {a:?} against {b:?}")),
    }
    for pointer in ["/counts/agreements_finalized", "/counts/deletion_receipts"] {
        match pairs(pointer) {
            (Some(a), Some(b)) if (a - b).abs() <= (0.25 * a.max(b)).max(3.0) => {}
            (a, b) => found.push(format!("{pointer}: {a:?} against {b:?}")),
        }
    }
    for pointer in ["/gossip/latency_ms/p50", "/time_to_agreement_ms/p50"] {
        match pairs(pointer) {
            (Some(a), Some(b)) if a.max(b) <= (4.0 * a.min(b)).max(a.min(b) + 100.0) => {}
            (a, b) => found.push(format!("{pointer}: {a:?} ms in process against {b:?} ms on the cluster")),
        }
    }
    found
}
