//! `me2b-sim`: run a scenario and write its metrics, summary and plots.

use anyhow::{Context as _, Result};
use clap::{Parser, Subcommand};
use me2b_sim::run::Progress;
use me2b_sim::scenario::Scenario;
use std::io::{IsTerminal as _, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

/// The me2b simulator: many real me2b nodes in one process, a network model between them, a
/// workload from a scenario file.
#[derive(Debug, Parser)]
#[command(name = "me2b-sim", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a scenario.
    Run {
        /// The scenario file, e.g. simulations/scenarios/smoke.toml.
        scenario: PathBuf,
        /// Where to write metrics.csv, summary.json and the plots.
        #[arg(long, default_value = "sim-out")]
        out: PathBuf,
        /// The seed (default: the scenario's).
        #[arg(long)]
        seed: Option<u64>,
        /// Where the nodes' stores go (a fresh directory inside it; default /dev/shm when it
        /// exists, since every node flushes its store before acknowledging, else the system's
        /// temporary directory).
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
    let Command::Run { scenario, out, seed, stores } = cli.command;
    let scenario = Scenario::load(&scenario)?;
    let seed = seed.unwrap_or(scenario.seed);
    let shm = PathBuf::from("/dev/shm");
    let parent = stores.unwrap_or_else(|| if shm.is_dir() { shm } else { std::env::temp_dir() });
    let stores = tempfile::Builder::new()
        .prefix("me2b-sim-")
        .tempdir_in(&parent)
        .with_context(|| format!("cannot create a directory for the node stores in {}", parent.display()))?;
    let mut progress = Terminal { tty: std::io::stderr().is_terminal(), started: Instant::now() };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let name = scenario.name.clone();
    let outcome = runtime.block_on(me2b_sim::run::run(scenario, seed, stores.path().to_path_buf(), &mut progress))?;
    progress.phase("writing the report");
    let report = me2b_sim::report::report(&outcome, seed)?;
    me2b_sim::report::write(&report, &out)?;
    let s = &report.summary;
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
    Ok(())
}
