//! A cluster of real `me2b` daemons on this machine, one per Linux network namespace, for the
//! driver: the same daemon binary a deployment runs, each process with its own network stack
//! and address, joined by veth pairs on one bridge, with the scenario's link latency and loss
//! put on every pair by `tc netem` where the kernel has it.
//!
//! Per node `i` of a scenario (people first, then businesses): namespace `me2b-TAG-i` with
//! `eth0` at `10.231.X.(i+2)/24`, whose host end is on bridge `m2b-TAG` (`10.231.X.1`, where
//! the driver calls the APIs from). Links: an `htb` root on each `eth0` whose default class
//! (traffic to the driver) is left alone, and a class per other node with a `netem` leaf that
//! delays by that pair's one-way latency drawn from the seed (the in-process run's
//! [`link_latency`]), drops with the scenario's loss, and, with `bandwidth_kbps`, caps the
//! rate. Without root or `ip`, [`available`] says why; on a kernel without netem the links
//! are left unshaped and [`Netns::links`] says so.
//!
//! Everything is made by [`Netns::up`] and removed when the value drops: the daemons it
//! started (by their process ids), the namespaces (which takes their veth pairs) and the
//! bridge.

use super::{Cluster, Member};
use crate::scenario::Scenario;
use crate::workload::link_latency;
use anyhow::{Context as _, Result, bail};
use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// How long a daemon may take to print its ready line.
const READY: Duration = Duration::from_secs(30);
/// The most daemons one cluster holds (one /24).
pub const MAX_DAEMONS: usize = 250;

/// Clusters made by this process so far (for unique names).
static MADE: AtomicU32 = AtomicU32::new(0);

/// Whether this machine can make the cluster: root, and `ip netns` works. The error says what
/// is missing.
pub fn available() -> std::result::Result<(), String> {
    let status = std::fs::read_to_string("/proc/self/status").map_err(|e| format!("cannot read /proc: {e}"))?;
    let effective_uid = status
        .lines()
        .find_map(|line| line.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1))
        .unwrap_or("?");
    if effective_uid != "0" {
        return Err(format!("network namespaces need root (effective uid {effective_uid})"));
    }
    match Command::new("ip").args(["netns", "list"]).output() {
        Ok(output) if output.status.success() => Ok(()),
        Ok(output) => Err(format!("`ip netns list` failed: {}", String::from_utf8_lossy(&output.stderr).trim())),
        Err(error) => Err(format!("cannot run `ip` (iproute2): {error}")),
    }
}

/// Runs `program args`, failing with its stderr.
fn run(program: &str, args: &[&str]) -> Result<()> {
    let output = Command::new(program).args(args).output().with_context(|| format!("cannot run {program}"))?;
    if !output.status.success() {
        bail!("`{program} {}` failed: {}", args.join(" "), String::from_utf8_lossy(&output.stderr).trim());
    }
    Ok(())
}

/// Runs `tc -n NAMESPACE -batch -` with `lines` on its input.
fn tc_batch(namespace: &str, lines: &str) -> Result<()> {
    let mut child = Command::new("tc")
        .args(["-n", namespace, "-batch", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot run tc")?;
    if let Some(mut input) = child.stdin.take() {
        input.write_all(lines.as_bytes())?;
    }
    let output = child.wait_with_output()?;
    if !output.status.success() {
        bail!("tc in {namespace} failed: {}", String::from_utf8_lossy(&output.stderr).trim());
    }
    Ok(())
}

/// A running cluster; dropping it stops the daemons and removes the namespaces and bridge.
pub struct Netns {
    bridge: String,
    namespaces: Vec<String>,
    daemons: Vec<Child>,
    /// The daemons' data directories (their logs are `daemon.log` in each).
    dirs: tempfile::TempDir,
    /// The cluster, for the driver.
    pub cluster: Cluster,
}

impl Netns {
    /// Makes the cluster for `scenario` (its people and businesses, links from `seed`) with
    /// the daemon `binary`, their data directories in a fresh directory inside `stores`, and
    /// waits until every daemon is ready.
    pub fn up(scenario: &Scenario, seed: u64, binary: &Path, stores: &Path) -> Result<Netns> {
        available().map_err(|why| anyhow::anyhow!(why))?;
        let count = scenario.people.count + scenario.businesses.count;
        if count > MAX_DAEMONS {
            bail!("a namespace cluster holds at most {MAX_DAEMONS} daemons; the scenario has {count} nodes");
        }
        let made = MADE.fetch_add(1, Ordering::Relaxed);
        let tag = format!("{:x}", ((std::process::id() & 0xfffff) << 4) | (made & 0xf));
        let subnet = free_subnet(made)?;
        let dirs = tempfile::Builder::new()
            .prefix("me2b-netns-")
            .tempdir_in(stores)
            .with_context(|| format!("cannot create the daemons' directories in {}", stores.display()))?;
        let mut netns = Netns {
            bridge: format!("m2b-{tag}"),
            namespaces: Vec::new(),
            daemons: Vec::new(),
            dirs,
            cluster: Cluster { nodes: Vec::new(), links: String::new() },
        };
        run("ip", &["link", "add", &netns.bridge, "type", "bridge"])?;
        run("ip", &["addr", "add", &format!("{subnet}.1/24"), "dev", &netns.bridge])?;
        run("ip", &["link", "set", &netns.bridge, "up"])?;
        let ip = |i: usize| format!("{subnet}.{}", i + 2);
        for i in 0..count {
            let namespace = format!("me2b-{tag}-{i}");
            run("ip", &["netns", "add", &namespace])?;
            netns.namespaces.push(namespace.clone());
            let host_end = format!("m2b{tag}h{i}");
            run("ip", &["link", "add", &host_end, "type", "veth", "peer", "name", "eth0", "netns", &namespace])?;
            run("ip", &["link", "set", &host_end, "master", &netns.bridge, "up"])?;
            run("ip", &["-n", &namespace, "addr", "add", &format!("{}/24", ip(i)), "dev", "eth0"])?;
            run("ip", &["-n", &namespace, "link", "set", "eth0", "up"])?;
            run("ip", &["-n", &namespace, "link", "set", "lo", "up"])?;
        }
        netns.cluster.links = netns.shape(scenario, seed, &ip)?;
        for i in 0..count {
            let member = netns.start(scenario, i, &ip(i), binary)?;
            netns.cluster.nodes.push(member);
        }
        Ok(netns)
    }

    /// How the links are shaped.
    pub fn links(&self) -> &str {
        &self.cluster.links
    }

    /// The namespaces it made, one per node.
    pub fn namespaces(&self) -> &[String] {
        &self.namespaces
    }

    /// Where the daemons' data directories are.
    pub fn dirs(&self) -> &Path {
        self.dirs.path()
    }

    /// Puts the scenario's links on every pair: per node, an htb class and a netem leaf per
    /// other node. Returns the description for the record.
    fn shape(&self, scenario: &Scenario, seed: u64, ip: &dyn Fn(usize) -> String) -> Result<String> {
        let network = &scenario.network;
        let netem = netem_available(&self.namespaces[0]);
        let rate =
            if network.bandwidth_kbps > 0 { format!("{}kbit", network.bandwidth_kbps * 8) } else { "10gbit".into() };
        if !netem && network.bandwidth_kbps == 0 {
            return Ok("none: this kernel has no netem (CONFIG_NET_SCH_NETEM), so latency and loss are not \
                       modelled; the veth links add tens of microseconds"
                .into());
        }
        for (i, namespace) in self.namespaces.iter().enumerate() {
            let mut lines = String::from("qdisc add dev eth0 root handle 1: htb default 1\n");
            lines.push_str("class add dev eth0 parent 1: classid 1:1 htb rate 10gbit\n");
            for j in (0..self.namespaces.len()).filter(|j| *j != i) {
                let class = 10 + j;
                lines.push_str(&format!("class add dev eth0 parent 1: classid 1:{class} htb rate {rate}\n"));
                if netem {
                    let delay = link_latency(scenario, seed, i, j).as_secs_f64() * 1000.0;
                    lines.push_str(&format!(
                        "qdisc add dev eth0 parent 1:{class} netem delay {delay:.3}ms loss {:.4}%\n",
                        network.loss * 100.0
                    ));
                }
                lines.push_str(&format!(
                    "filter add dev eth0 parent 1: protocol ip prio 1 u32 match ip dst {}/32 flowid 1:{class}\n",
                    ip(j)
                ));
            }
            tc_batch(namespace, &lines)?;
        }
        Ok(if netem {
            format!(
                "netem: one-way latency per pair drawn from the scenario ({:?}), loss {}, rate {rate}",
                network.latency_ms, network.loss
            )
        } else {
            format!(
                "htb only: rate {rate}; this kernel has no netem (CONFIG_NET_SCH_NETEM), so latency and loss are \
                 not modelled"
            )
        })
    }

    /// Makes node `i`'s data directory and starts its daemon in its namespace.
    fn start(&mut self, scenario: &Scenario, i: usize, ip: &str, binary: &Path) -> Result<Member> {
        let person = i < scenario.people.count;
        let (role, name) =
            if person { ("person", format!("person {i}")) } else { ("business", format!("business {i}")) };
        let dir: PathBuf = self.dirs.path().join(format!("node-{i}"));
        let init = Command::new(binary)
            .arg("--data-dir")
            .arg(&dir)
            .args(["init", "--role", role, "--name", &name, "--no-passphrase"])
            .output()
            .with_context(|| format!("cannot run {}", binary.display()))?;
        if !init.status.success() {
            bail!("`me2b init` for node {i} failed: {}", String::from_utf8_lossy(&init.stderr).trim());
        }
        // The in-process run's intent window, so that intents are decided alike.
        let window = format!("{}ms", crate::run::INTENT_WINDOW.as_millis());
        let set = Command::new(binary)
            .arg("--data-dir")
            .arg(&dir)
            .args(["config", "set", "intent_window", &window])
            .output()
            .with_context(|| format!("cannot run {}", binary.display()))?;
        if !set.status.success() {
            bail!(
                "`me2b config set intent_window` for node {i} failed: {}",
                String::from_utf8_lossy(&set.stderr).trim()
            );
        }
        let log = std::fs::File::create(dir.join("daemon.log"))?;
        // `ip netns exec` enters the namespace and executes the daemon in its own process, so
        // the child's id is the daemon's.
        let mut child = Command::new("ip")
            .args(["netns", "exec", &self.namespaces[i]])
            .arg(binary)
            .arg("--data-dir")
            .arg(&dir)
            .args(["daemon", "--no-mdns", "--allow-remote-api"])
            .args(["--listen", &format!("/ip4/{ip}/tcp/0"), "--api", &format!("{ip}:0")])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .context("cannot start a daemon")?;
        let stdout = child.stdout.take().context("the daemon's output")?;
        let pid = child.id();
        self.daemons.push(child);
        let (ready_tx, ready) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.starts_with("me2b daemon ready:") {
                    let _ = ready_tx.send(line);
                }
            }
        });
        let line = ready.recv_timeout(READY).map_err(|_| {
            anyhow::anyhow!("node {i}'s daemon was not ready within {READY:?} (see {}/daemon.log)", dir.display())
        })?;
        // me2b daemon ready: peer P listening on A[,B] API http://X
        let words: Vec<&str> = line.split_whitespace().collect();
        let after =
            |word: &str| words.iter().position(|w| *w == word).and_then(|i| words.get(i + 1)).map(|w| (*w).to_owned());
        let (Some(peer), Some(listen), Some(api)) = (after("peer"), after("on"), after("API")) else {
            bail!("node {i}'s ready line is not understood: {line}");
        };
        let listen = listen.split(',').next().unwrap_or_default().to_owned();
        let token = std::fs::read_to_string(dir.join("api-token")).context("the daemon's api-token")?;
        Ok(Member {
            role: role.into(),
            api,
            token: token.trim().to_owned(),
            address: Some(format!("{listen}/p2p/{peer}")),
            pid: Some(pid),
        })
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        for daemon in &mut self.daemons {
            let _ = daemon.kill();
            let _ = daemon.wait();
        }
        for namespace in &self.namespaces {
            let _ = run("ip", &["netns", "del", namespace]);
        }
        let _ = run("ip", &["link", "del", &self.bridge]);
    }
}

/// Whether `tc netem` works here, tried on the loopback of `namespace` (made by the caller).
fn netem_available(namespace: &str) -> bool {
    let works = run("tc", &["-n", namespace, "qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms"]).is_ok();
    if works {
        let _ = run("tc", &["-n", namespace, "qdisc", "del", "dev", "lo", "root"]);
    }
    works
}

/// A `10.231.X` subnet no route on this machine uses yet.
fn free_subnet(made: u32) -> Result<String> {
    let routes = Command::new("ip").args(["-4", "route", "show"]).output().context("cannot run ip route")?;
    let routes = String::from_utf8_lossy(&routes.stdout).into_owned();
    let start = ((std::process::id() + 37 * made) % 200) as usize;
    (0..200)
        .map(|k| format!("10.231.{}", (start + k) % 200 + 20))
        .find(|subnet| !routes.contains(&format!("{subnet}.")))
        .context("no free 10.231.X.0/24 subnet for the cluster")
}
