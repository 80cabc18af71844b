//! `me2b-sim`: run a scenario and write its metrics, summary and plots.

use anyhow::{Context as _, Result};
use clap::{Parser, Subcommand};
use me2b_sim::experiment::{Experiment, Manifest, Planned};
use me2b_sim::run::Progress;
use me2b_sim::scenario::Scenario;
use std::io::{IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

/// jemalloc, not glibc's malloc: a thousand nodes in one process open and close connections
/// all run long (DHT walks, exchanges), and glibc kept the high-water mark of that churn,
/// which the figures would then report as the nodes' memory (`scale-1000-dht`: 3.35 MiB per
/// node at the peak with glibc, 2.80 with jemalloc, the same code; README "The DHT at scale").
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// The me2b simulator: many real me2b nodes in one process, a network model between them, a
/// workload from a scenario file.
#[derive(Debug, Parser)]
#[command(name = "me2b-sim", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// A scenario, its seed and its overrides: what `run` and `drive` play.
#[derive(Debug, clap::Args)]
struct Chosen {
    /// The scenario file, e.g. simulations/scenarios/smoke.toml.
    scenario: PathBuf,
    /// The seed (default: the scenario's).
    #[arg(long)]
    seed: Option<u64>,
    /// Changes a field of the scenario for this run, e.g. `--set people.count=2000` or
    /// `--set network.latency_ms.median=80` (dotted path into the file; the value is TOML,
    /// or a string). Repeatable; applied in order.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    overrides: Vec<String>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a scenario.
    Run {
        #[command(flatten)]
        chosen: Chosen,
        /// Where to write metrics.csv, summary.json, manifest.json and the plots.
        #[arg(long, default_value = "sim-out")]
        out: PathBuf,
        /// Where the nodes' stores go (a fresh directory inside it; default /dev/shm when it
        /// exists, since every node flushes its store before acknowledging, else the system's
        /// temporary directory).
        #[arg(long, value_name = "DIR")]
        stores: Option<PathBuf>,
    },
    /// Run an experiment: every combination of its grid of overrides, with each seed, each
    /// run its own process writing to OUT/runs/ID; then OUT/sweep.csv (per point and metric:
    /// n, mean, stddev, 95 % confidence interval) and OUT/runs.csv (every run's numbers).
    Sweep {
        /// The experiment file (see `me2b_sim::experiment::Experiment`).
        experiment: PathBuf,
        /// Where to write (default sweep-out/NAME).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Runs at once (default: the experiment's `parallel`).
        #[arg(long)]
        parallel: Option<usize>,
        /// Where the nodes' stores go (as for `run`).
        #[arg(long, value_name = "DIR")]
        stores: Option<PathBuf>,
    },
    /// Play a scenario against real `me2b` daemons through their HTTP API and write the same
    /// metrics.csv and summary.json (the part an API shows): daemons listed in a
    /// cluster.json, or made here with `--netns`, one per network namespace with the
    /// scenario's link latency and loss by `tc netem` (needs root).
    Drive {
        #[command(flatten)]
        chosen: Chosen,
        /// The daemons to drive (see `me2b_sim::drive::Cluster`).
        #[arg(long, value_name = "FILE", conflicts_with = "netns", required_unless_present = "netns")]
        cluster: Option<PathBuf>,
        /// Make the daemons here, in network namespaces, for this run (removed after it).
        #[arg(long)]
        netns: bool,
        /// The `me2b` binary for `--netns` (default: the one beside this program, else PATH).
        #[arg(long, value_name = "PATH")]
        me2b: Option<PathBuf>,
        /// Where to write metrics.csv, summary.json, manifest.json, cluster.json and the plots.
        #[arg(long, default_value = "drive-out")]
        out: PathBuf,
        /// Where `--netns` puts the daemons' data directories (as for `run`: default /dev/shm
        /// when it exists, so that the two compare on the same storage).
        #[arg(long, value_name = "DIR")]
        stores: Option<PathBuf>,
    },
    /// Put the figures two runs both report side by side, e.g. the in-process run and the
    /// driven daemons of one scenario and seed.
    Compare {
        /// One run's directory (holding summary.json).
        a: PathBuf,
        /// The other's.
        b: PathBuf,
    },
    /// Run a recorded run again from its manifest.json, and compare: the workload digest must
    /// match exactly, the counts within the documented tolerance.
    Replay {
        /// The recorded run's directory (holding manifest.json and summary.json).
        dir: PathBuf,
        /// Where to write the replay (default DIR/replay).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Where the nodes' stores go (as for `run`).
        #[arg(long, value_name = "DIR")]
        stores: Option<PathBuf>,
    },
}

/// A progress bar on a terminal, a line per phase otherwise.
struct Terminal {
    tty: bool,
    started: Instant,
}

impl Progress for Terminal {
    fn phase(&mut self, name: &str) {
        if self.tty {
            eprintln!();
        }
        eprintln!("[{:>7.1}s] {name}", self.started.elapsed().as_secs_f64());
    }

    fn advance(&mut self, fraction: f64, line: &str) {
        if self.tty {
            let filled = (fraction * 30.0).round() as usize;
            eprint!(
                "\r  [{}{}] {:>3.0}%  {line}   ",
                "#".repeat(filled),
                ".".repeat(30 - filled.min(30)),
                fraction * 100.0
            );
            let _ = std::io::stderr().flush();
        }
    }
}

fn main() -> ExitCode {
    // The nodes' own logs, for digging into a run: ME2B_SIM_LOG=me2b_node=debug (off by default;
    // a thousand nodes log a lot).
    let filter = tracing_subscriber::EnvFilter::try_from_env("ME2B_SIM_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("off"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Run { chosen: Chosen { scenario: file, seed, overrides }, out, stores } => {
            let (scenario, document) = Scenario::load_with(&file, &overrides)?;
            let seed = seed.unwrap_or(scenario.seed);
            let manifest = Manifest::begin(&file, &overrides, &document, seed);
            let summary = run_one(scenario, manifest, seed, &out, stores)?;
            print_summary(&summary, &out);
            Ok(())
        }
        Command::Sweep { experiment, out, parallel, stores } => sweep(&experiment, out, parallel, stores),
        Command::Replay { dir, out, stores } => replay(&dir, out, stores),
        Command::Drive { chosen: Chosen { scenario: file, seed, overrides }, cluster, netns, me2b, out, stores } => {
            let (scenario, document) = Scenario::load_with(&file, &overrides)?;
            let seed = seed.unwrap_or(scenario.seed);
            let mut manifest = Manifest::begin(&file, &overrides, &document, seed);
            manifest.write(&out)?;
            let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            let summary = if netns {
                let binary = me2b.unwrap_or_else(beside_me);
                eprintln!("starting {} daemons in network namespaces", scenario.nodes());
                let made = me2b_sim::drive::netns::Netns::up(&scenario, seed, &binary, &stores_parent(stores))?;
                eprintln!("links: {}", made.links());
                write_cluster(&made.cluster, &out)?;
                runtime.block_on(me2b_sim::drive::drive(scenario, seed, &made.cluster, &out))?
            } else {
                let path = cluster.context("--cluster FILE or --netns")?;
                let cluster = me2b_sim::drive::Cluster::load(&path)?;
                write_cluster(&cluster, &out)?;
                runtime.block_on(me2b_sim::drive::drive(scenario, seed, &cluster, &out))?
            };
            manifest.finish(&summary);
            manifest.write(&out)?;
            print_summary(&summary, &out);
            Ok(())
        }
        Command::Compare { a, b } => compare(&a, &b),
    }
}

/// Where node stores go: `stores` if given, else /dev/shm when it exists (every node flushes
/// before acknowledging), else the system's temporary directory.
fn stores_parent(stores: Option<PathBuf>) -> PathBuf {
    let shm = PathBuf::from("/dev/shm");
    stores.unwrap_or_else(|| if shm.is_dir() { shm } else { std::env::temp_dir() })
}

/// The `me2b` binary beside this program (`target/<profile>/`), else `me2b` on the PATH.
fn beside_me() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join("me2b")))
        .filter(|path| path.is_file())
        .unwrap_or_else(|| PathBuf::from("me2b"))
}

/// The cluster, for the record, without its API tokens.
fn write_cluster(cluster: &me2b_sim::drive::Cluster, out: &Path) -> Result<()> {
    let mut recorded = cluster.clone();
    for member in &mut recorded.nodes {
        member.token = "(not recorded)".into();
    }
    std::fs::create_dir_all(out)?;
    std::fs::write(out.join("cluster.json"), serde_json::to_vec_pretty(&recorded)?)?;
    Ok(())
}

fn compare(a: &Path, b: &Path) -> Result<()> {
    let read = |dir: &Path| -> Result<serde_json::Value> {
        let path = dir.join("summary.json");
        let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
        Ok(serde_json::from_str(&text)?)
    };
    let (first, second) = (read(a)?, read(b)?);
    let same = first["workload"]["digest"] == second["workload"]["digest"];
    println!("A: {}\nB: {}", a.display(), b.display());
    println!("workload digest: {}", if same { "same" } else { "DIFFERENT (not the same workload)" });
    println!("{:<44} {:>12} {:>12} {:>8}", "figure", "A", "B", "B / A");
    let n = |v: Option<f64>| {
        v.map_or("-".to_owned(), |x| if x.fract() == 0.0 { format!("{x:.0}") } else { format!("{x:.3}") })
    };
    for side in me2b_sim::experiment::side_by_side(&first, &second) {
        let ratio = match (side.a, side.b) {
            (Some(a), Some(b)) if a != 0.0 => format!("{:.2}", b / a),
            _ => "-".to_owned(),
        };
        println!("{:<44} {:>12} {:>12} {:>8}", side.figure, n(side.a), n(side.b), ratio);
    }
    let differences = me2b_sim::experiment::differences(&first, &second);
    if differences.is_empty() {
        println!("within the tolerance of a driven cluster against the in-process run (A in process, B driven)");
    } else {
        println!("outside the tolerance of a driven cluster against the in-process run (A in process, B driven):");
        for difference in differences {
            println!("  {difference}");
        }
    }
    Ok(())
}

/// Runs one scenario and writes its report and manifest to `out`; returns the summary.
fn run_one(
    scenario: Scenario,
    mut manifest: Manifest,
    seed: u64,
    out: &Path,
    stores: Option<PathBuf>,
) -> Result<serde_json::Value> {
    let parent = stores_parent(stores);
    let stores = tempfile::Builder::new()
        .prefix("me2b-sim-")
        .tempdir_in(&parent)
        .with_context(|| format!("cannot create a directory for the node stores in {}", parent.display()))?;
    // The manifest is written first, so a run that dies still says what it was.
    manifest.write(out)?;
    let mut progress = Terminal { tty: std::io::stderr().is_terminal(), started: Instant::now() };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let outcome = runtime.block_on(me2b_sim::run::run(scenario, seed, stores.path().to_path_buf(), &mut progress))?;
    progress.phase("writing the report");
    let report = me2b_sim::report::report(&outcome, seed)?;
    me2b_sim::report::write(&report, out)?;
    manifest.finish(&report.summary);
    manifest.write(out)?;
    Ok(report.summary)
}

fn sweep(file: &Path, out: Option<PathBuf>, parallel: Option<usize>, stores: Option<PathBuf>) -> Result<()> {
    let experiment = Experiment::load(file)?;
    let runs = experiment.plan()?;
    let out = out.unwrap_or_else(|| PathBuf::from("sweep-out").join(&experiment.name));
    std::fs::create_dir_all(out.join("runs")).with_context(|| format!("cannot create {}", out.display()))?;
    std::fs::copy(file, out.join("experiment.toml")).with_context(|| format!("cannot copy {}", file.display()))?;
    let parallel = parallel.unwrap_or(experiment.parallel).max(1);
    let exe = std::env::current_exe().context("cannot find this program's own path")?;
    eprintln!("{}: {} runs, {} at a time, into {}", experiment.name, runs.len(), parallel, out.display());
    let queue = std::sync::Mutex::new(runs.iter().collect::<std::collections::VecDeque<_>>());
    let started = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..parallel {
            scope.spawn(|| {
                while let Some(run) = queue.lock().ok().and_then(|mut q| q.pop_front()) {
                    let dir = out.join("runs").join(&run.id);
                    let status = run_child(&exe, &experiment.scenario, run, &dir, stores.as_deref());
                    eprintln!(
                        "[{:>7.1}s] {} ({}): {}",
                        started.elapsed().as_secs_f64(),
                        run.id,
                        run.overrides.join(" "),
                        match status {
                            Ok(()) => "done".to_owned(),
                            Err(error) => format!("FAILED: {error:#} (see {}/log.txt)", dir.display()),
                        }
                    );
                }
            });
        }
    });
    let failed = me2b_sim::experiment::aggregate(&experiment, &runs, &out)?;
    println!(
        "{}: {} runs in {:.0} s, written to {}",
        experiment.name,
        runs.len(),
        started.elapsed().as_secs_f64(),
        out.display()
    );
    println!("  sweep.csv: per grid point and metric, n, mean, stddev, 95 % CI; runs.csv: every run");
    if !failed.is_empty() {
        anyhow::bail!("{} of the sweep failed: {}", failed.len(), failed.join(", "));
    }
    Ok(())
}

/// Runs one planned run as a child process of this same binary, its output in `dir/log.txt`.
fn run_child(exe: &Path, scenario: &Path, run: &Planned, dir: &Path, stores: Option<&Path>) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    let log = std::fs::File::create(dir.join("log.txt"))?;
    let mut command = std::process::Command::new(exe);
    command.arg("run").arg(scenario).arg("--out").arg(dir).arg("--seed").arg(run.seed.to_string());
    for assignment in &run.overrides {
        command.arg("--set").arg(assignment);
    }
    if let Some(stores) = stores {
        command.arg("--stores").arg(stores);
    }
    let status = command.stdout(log.try_clone()?).stderr(log).status()?;
    if !status.success() {
        anyhow::bail!("exited with {status}");
    }
    Ok(())
}

fn replay(dir: &Path, out: Option<PathBuf>, stores: Option<PathBuf>) -> Result<()> {
    let recorded = Manifest::read(dir)?;
    let summary_path = dir.join("summary.json");
    let before: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(&summary_path).with_context(|| format!("cannot read {}", summary_path.display()))?,
    )?;
    let (scenario, document, seed) = recorded.scenario()?;
    let out = out.unwrap_or_else(|| dir.join("replay"));
    let file = PathBuf::from(recorded.0["scenario_file"].as_str().unwrap_or("(manifest)"));
    let overrides: Vec<String> = serde_json::from_value(recorded.0["overrides"].clone()).unwrap_or_default();
    let manifest = Manifest::begin(&file, &overrides, &document, seed);
    let same_binary = manifest.0["binary"]["sha256"] == recorded.0["binary"]["sha256"];
    let after = run_one(scenario, manifest, seed, &out, stores)?;
    let (digest, counts) = me2b_sim::experiment::compare(&before, &after);
    println!("replay of {} (seed {seed}) into {}", dir.display(), out.display());
    if !same_binary {
        println!("  note: another binary than the recorded run's (its SHA-256 differs)");
    }
    println!("  workload digest: {}", if digest { "same" } else { "DIFFERENT" });
    println!("  {:<48} {:>10} {:>10}", "count", "recorded", "replayed");
    for c in &counts {
        let verdict = match (c.ok, c.deterministic) {
            (true, true) => "exact",
            (true, false) => "within tolerance",
            (false, true) => "DIFFERS (must be exact)",
            (false, false) => "OUTSIDE TOLERANCE",
        };
        println!("  {:<48} {:>10} {:>10}  {verdict}", c.count, c.recorded, c.replayed);
    }
    let verdict = serde_json::json!({
        "workload_digest_matches": digest,
        "same_binary": same_binary,
        "tolerance": {"relative": me2b_sim::experiment::TOLERANCE, "absolute": me2b_sim::experiment::TOLERANCE_ABSOLUTE,
                      "exact": me2b_sim::experiment::DETERMINISTIC_COUNTS},
        "counts": counts.iter().map(|c| serde_json::json!({"count": c.count, "recorded": c.recorded,
            "replayed": c.replayed, "deterministic": c.deterministic, "ok": c.ok})).collect::<Vec<_>>(),
    });
    std::fs::write(out.join("replay.json"), serde_json::to_vec_pretty(&verdict)?)?;
    if !digest || counts.iter().any(|c| !c.ok) {
        anyhow::bail!("the replay does not reproduce the run (see {}/replay.json)", out.display());
    }
    println!("  reproduced");
    Ok(())
}

fn print_summary(s: &serde_json::Value, out: &Path) {
    let name = s["scenario"].as_str().unwrap_or("");
    let seed = &s["seed"];
    let n = |v: &serde_json::Value| match v.as_f64() {
        Some(x) if x.fract() == 0.0 && x.abs() < 1e15 => format!("{x:.0}"),
        Some(x) => format!("{x:.2}"),
        None => "-".to_owned(),
    };
    println!("scenario {name}, seed {seed}: {} nodes", s["counts"]["nodes"]);
    println!(
        "  gossip: delivery ratio {}, latency p50 {} ms, p99 {} ms (scenario time); p50 ratio to the shortest path {}",
        n(&s["gossip"]["delivery_ratio"]),
        n(&s["gossip"]["latency_ms"]["p50"]),
        n(&s["gossip"]["latency_ms"]["p99"]),
        n(&s["gossip"]["latency_to_floor_ratio"]["p50"])
    );
    println!(
        "  duplicates: {} per node on average, {} per first copy",
        n(&s["gossip"]["duplicates_per_node"]["mean"]),
        n(&s["gossip"]["duplicates_per_first_copy"])
    );
    println!(
        "  negotiations: {} agreements; terminated {}; time to agreement p50 {} ms",
        s["counts"]["agreements_finalized"],
        s["counts"]["terminated_by_reason"],
        n(&s["time_to_agreement_ms"]["p50"])
    );
    println!(
        "  revocations: {} deletion receipts, revocation to receipt p50 {} ms",
        s["counts"]["deletion_receipts"],
        n(&s["revocation_to_receipt_ms"]["p50"])
    );
    let machine = &s["machine"];
    let driver = &s["driver"];
    if driver.is_object() {
        println!(
            "  daemons: {} driven through {} API calls ({} failed), {} MiB resident each (p50), {} s wall; links: {}",
            driver["daemons"],
            driver["api_calls"],
            driver["api_failures"],
            n(&machine["daemon_memory_mib"]["p50"]),
            n(&machine["wall_run_s"]),
            driver["links"].as_str().unwrap_or("")
        );
        println!("  written to {}", out.display());
        return;
    }
    println!(
        "  machine: {} s wall ({} s per simulated minute), {} MiB peak ({} MiB per node), event-loop lag p99 {} ms, CPU {}%{}",
        n(&machine["wall_run_s"]),
        n(&machine["wall_s_per_simulated_minute"]),
        n(&machine["peak_memory_mib"]),
        n(&machine["memory_per_node_mib"]),
        n(&machine["event_loop_lag"]["lag_p99_ms"]),
        n(&serde_json::json!(machine["event_loop_lag"]["cpu_saturation"].as_f64().unwrap_or(0.0) * 100.0)),
        if machine["latency_figures_trustworthy"] == true {
            ""
        } else {
            "\n  WARNING: the process fell behind; latency figures measure this machine, not the protocol"
        }
    );
    println!("  written to {}", out.display());
}
