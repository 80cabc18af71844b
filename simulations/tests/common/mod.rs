//! What the simulator's integration tests share: running a scenario file in process.

use me2b_sim::report::Report;
use me2b_sim::run::Progress;
use me2b_sim::scenario::Scenario;
use std::path::Path;

/// Progress nobody reads.
pub struct Quiet;

impl Progress for Quiet {
    fn phase(&mut self, _: &str) {}
    fn advance(&mut self, _: f64, _: &str) {}
}

/// Runs `simulations/scenarios/NAME.toml` with `overrides` and the scenario's seed, on two
/// worker threads, and returns its report.
pub fn run(name: &str, overrides: &[&str]) -> Report {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("scenarios/{name}.toml"));
    let overrides: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
    let (scenario, _) = Scenario::load_with(&path, &overrides).unwrap();
    let seed = scenario.seed;
    let stores = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let outcome =
        runtime.block_on(me2b_sim::run::run(scenario, seed, stores.path().to_path_buf(), &mut Quiet)).unwrap();
    me2b_sim::report::report(&outcome, seed).unwrap()
}
