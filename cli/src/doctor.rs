//! `me2b doctor`: checks a data directory and its daemon without changing anything, and says
//! for each finding what to do. It reads files and, if a daemon is recorded, asks it to prove
//! its identity; it never sends the token and never starts or stops anything.

use crate::client::write_out;
use crate::exit::{ExitKind, fail};
use anyhow::Result;
use me2b_node::config::{Config, DataDir};
use serde_json::json;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Ok,
    Warn,
    Fail,
}

impl Verdict {
    fn name(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::Warn => "warn",
            Verdict::Fail => "fail",
        }
    }
}

/// One finding: what was checked, how it came out, and what to do.
struct Finding {
    check: &'static str,
    verdict: Verdict,
    detail: String,
}

struct Report(Vec<Finding>);

impl Report {
    fn add(&mut self, check: &'static str, verdict: Verdict, detail: impl Into<String>) {
        self.0.push(Finding { check, verdict, detail: detail.into() });
    }
}

/// Runs every check and prints the findings; fails (exit 6) if any check failed.
pub fn run(data_dir: Option<PathBuf>, json: bool) -> Result<()> {
    let dir = DataDir::locate(data_dir)?;
    let mut report = Report(Vec::new());
    let config = check_files(&dir, &mut report);
    if let Some(config) = &config {
        check_config(config, &mut report);
    }
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let running = runtime.block_on(check_daemon(&dir, &mut report));
    if let (Some(config), false) = (&config, running) {
        check_ports(config, &mut report);
    }
    if json {
        let findings: Vec<_> = report
            .0
            .iter()
            .map(|f| json!({"check": f.check, "verdict": f.verdict.name(), "detail": f.detail}))
            .collect();
        write_out(format_args!("{}\n", serde_json::to_string_pretty(&findings)?));
    } else {
        for finding in &report.0 {
            write_out(format_args!("{:<5} {:<12} {}\n", finding.verdict.name(), finding.check, finding.detail));
        }
    }
    let failed = report.0.iter().filter(|f| f.verdict == Verdict::Fail).count();
    if failed > 0 {
        return Err(fail(ExitKind::Data, format!("{failed} checks failed in {}", dir.root().display())));
    }
    Ok(())
}

/// The directory, its files and their modes; the config if it reads.
fn check_files(dir: &DataDir, report: &mut Report) -> Option<Config> {
    let root = dir.root();
    if !root.is_dir() {
        report.add(
            "data-dir",
            Verdict::Fail,
            format!("{} does not exist; create it with `me2b init --role person --name NAME`", root.display()),
        );
        return None;
    }
    report.add("data-dir", mode_verdict(root, 0o077), describe_mode(root, "the data directory", 0o700));
    let config = match dir.config() {
        Ok(config) => {
            report.add("config", Verdict::Ok, format!("{} reads", dir.config_file().display()));
            Some(config)
        }
        Err(error) => {
            report.add("config", Verdict::Fail, error.to_string());
            None
        }
    };
    for (check, path, what) in [("token", dir.token_file(), "the API token"), ("key", dir.key_file(), "the key file")] {
        if path.is_file() {
            report.add(check, mode_verdict(&path, 0o077), describe_mode(&path, what, 0o600));
        } else {
            report.add(
                check,
                Verdict::Fail,
                format!("{} is missing: {what} cannot be recovered from here", path.display()),
            );
        }
    }
    config
}

/// `Warn` when `path` can be read or written by others than its owner.
fn mode_verdict(path: &Path, others: u32) -> Verdict {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        match std::fs::metadata(path) {
            Ok(meta) if meta.permissions().mode() & others != 0 => Verdict::Warn,
            Ok(_) => Verdict::Ok,
            Err(_) => Verdict::Fail,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (path, others);
        Verdict::Ok
    }
}

fn describe_mode(path: &Path, what: &str, wanted: u32) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path) {
            let mode = meta.permissions().mode() & 0o777;
            if mode & !wanted != 0 {
                return format!(
                    "{what} {} is mode {mode:o}: others can read it; run `chmod {wanted:o} {}`",
                    path.display(),
                    path.display()
                );
            }
            return format!("{what} {} is mode {mode:o}", path.display());
        }
    }
    format!("{what} {}", path.display())
}

/// Settings that parse but will not work as the owner probably means.
fn check_config(config: &Config, report: &mut Report) {
    match config.owner_window() {
        Ok(_) => report.add("owner-window", Verdict::Ok, config.owner_window.clone()),
        Err(reason) => report.add("owner-window", Verdict::Fail, format!("owner_window: {reason}")),
    }
    match config.intent_window() {
        Ok(_) => report.add("intent-window", Verdict::Ok, config.intent_window.clone()),
        Err(reason) => report.add("intent-window", Verdict::Fail, format!("intent_window: {reason}")),
    }
    if config.api.ip().is_loopback() {
        report.add("api-address", Verdict::Ok, format!("{} (loopback only)", config.api));
    } else {
        report.add(
            "api-address",
            Verdict::Warn,
            format!(
                "{} is not loopback: the daemon refuses it without --allow-remote-api; use `me2b config set api 127.0.0.1:{}`",
                config.api,
                me2b_node::config::DEFAULT_API_PORT
            ),
        );
    }
    for address in config.listen.iter().chain(&config.bootstrap) {
        if address.parse::<libp2p::Multiaddr>().is_err() {
            report.add("addresses", Verdict::Fail, format!("`{address}` is not a multiaddr"));
        }
    }
}

/// Whether a daemon is recorded and proves it is this node's. Returns whether it runs.
async fn check_daemon(dir: &DataDir, report: &mut Report) -> bool {
    let found = match dir.api_address() {
        Ok(Some(found)) => found,
        Ok(None) => {
            report.add(
                "daemon",
                Verdict::Ok,
                format!("not running; start it with `me2b --data-dir {} daemon`", dir.root().display()),
            );
            return false;
        }
        Err(error) => {
            report.add("daemon", Verdict::Warn, format!("{error}; a daemon rewrites it when it starts"));
            return false;
        }
    };
    if !crate::client::answers(found.address).await {
        report.add(
            "daemon",
            Verdict::Warn,
            format!(
                "{} names pid {} at {}, but nothing answers there: a crash left it behind (the next start replaces it)",
                dir.api_file().display(),
                found.pid,
                found.address
            ),
        );
        return false;
    }
    match crate::client::proves_identity(&found).await {
        Ok(()) => {
            report.add("daemon", Verdict::Ok, format!("running (pid {}), API at http://{}", found.pid, found.address));
            true
        }
        Err(error) => {
            report.add("daemon", Verdict::Fail, format!("{error:#}"));
            true
        }
    }
}

/// Whether the ports the daemon would take are free.
fn check_ports(config: &Config, report: &mut Report) {
    let mut taken = Vec::new();
    if std::net::TcpListener::bind(config.api).is_err() {
        taken.push(format!("API {}", config.api));
    }
    for address in &config.listen {
        if let Some(socket) = tcp_socket(address)
            && std::net::TcpListener::bind(socket).is_err()
        {
            taken.push(format!("peers {address}"));
        }
    }
    if taken.is_empty() {
        report.add("ports", Verdict::Ok, "the API and listen ports are free");
    } else {
        report.add(
            "ports",
            Verdict::Fail,
            format!(
                "in use by another program: {}; choose others with `me2b config set api IP:PORT` or `me2b config set listen ...`",
                taken.join(", ")
            ),
        );
    }
}

/// The TCP socket address of a `/ip4/A/tcp/P` or `/ip6/A/tcp/P` multiaddr (port 0 is skipped).
fn tcp_socket(address: &str) -> Option<SocketAddr> {
    use libp2p::multiaddr::Protocol;
    let address: libp2p::Multiaddr = address.parse().ok()?;
    let mut parts = address.iter();
    let ip: std::net::IpAddr = match parts.next()? {
        Protocol::Ip4(ip) => ip.into(),
        Protocol::Ip6(ip) => ip.into(),
        _ => return None,
    };
    match parts.next()? {
        Protocol::Tcp(port) if port != 0 => Some(SocketAddr::new(ip, port)),
        _ => None,
    }
}
