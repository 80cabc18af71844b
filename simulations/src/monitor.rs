//! Whether the process kept up: a task that asks to wake every 10 ms and records how late it
//! woke (event-loop lag), CPU use of the process over the run, and its peak memory. When the
//! lag is large next to the modelled link latencies, latency figures measure the machine,
//! not the protocol, and the report says so.

use serde::Serialize;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How often the lag probe wakes.
const TICK: Duration = Duration::from_millis(10);

/// What the monitor saw.
#[derive(Debug, Default, Serialize)]
pub struct Monitor {
    /// Median lag (ms).
    pub lag_p50_ms: f64,
    /// 99th percentile lag (ms).
    pub lag_p99_ms: f64,
    /// Largest lag (ms).
    pub lag_max_ms: f64,
    /// CPU time used over wall time, divided by the cores: 1.0 is every core busy.
    pub cpu_saturation: f64,
    /// Peak resident memory of the process (MiB).
    pub peak_memory_mib: f64,
    #[serde(skip)]
    running: Option<Running>,
}

/// The probe while it runs: its stop flag, its task, when it started, CPU seconds then.
#[derive(Debug)]
struct Running(Arc<AtomicBool>, tokio::task::JoinHandle<Vec<f64>>, Instant, f64);

impl Monitor {
    /// Starts probing.
    pub fn start() -> Monitor {
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let probe = tokio::spawn(async move {
            let mut lags = Vec::new();
            while !stopping.load(Ordering::Relaxed) {
                let asked = Instant::now();
                tokio::time::sleep(TICK).await;
                let late = asked.elapsed().saturating_sub(TICK);
                if lags.len() < 1_000_000 {
                    lags.push(late.as_secs_f64() * 1000.0);
                }
            }
            lags
        });
        Monitor { running: Some(Running(stop, probe, Instant::now(), cpu_seconds())), ..Monitor::default() }
    }

    /// Stops probing and summarises.
    pub async fn stop(mut self) -> Monitor {
        let Some(Running(stop, probe, started, cpu_at_start)) = self.running.take() else { return self };
        stop.store(true, Ordering::Relaxed);
        let mut lags = probe.await.unwrap_or_default();
        lags.sort_by(f64::total_cmp);
        let at = |q: f64| lags.get(((lags.len() as f64 - 1.0) * q).round() as usize).copied().unwrap_or(0.0);
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1) as f64;
        let wall = started.elapsed().as_secs_f64().max(1e-9);
        Monitor {
            lag_p50_ms: at(0.5),
            lag_p99_ms: at(0.99),
            lag_max_ms: lags.last().copied().unwrap_or(0.0),
            cpu_saturation: ((cpu_seconds() - cpu_at_start) / wall / cores).min(1.0),
            peak_memory_mib: peak_memory_mib(),
            running: None,
        }
    }
}

/// User and system CPU seconds of this process so far (Linux; 0 elsewhere).
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else { return 0.0 };
    // Fields after the command name (which is in parentheses and may hold spaces).
    let Some(rest) = stat.rsplit_once(')').map(|(_, rest)| rest) else { return 0.0 };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 after the name.
    (ticks(11) + ticks(12)) / 100.0
}

/// Peak resident memory (Linux `VmHWM`; 0 elsewhere).
pub fn peak_memory_mib() -> f64 {
    status_mib("self", "VmHWM:")
}

/// Resident memory now (Linux `VmRSS`; 0 elsewhere).
pub fn resident_memory_mib() -> f64 {
    status_mib("self", "VmRSS:")
}

/// Resident memory of process `pid` on this machine now (MiB; 0 when it cannot be read).
pub fn resident_memory_of(pid: u32) -> f64 {
    status_mib(&pid.to_string(), "VmRSS:")
}

fn status_mib(process: &str, field: &str) -> f64 {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{process}/status")) else { return 0.0 };
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|kb| kb.parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}
