//! A load test of one business daemon (a real `me2b daemon` process) against many person
//! nodes (real `Node`s over TCP on loopback, in this process): the business publishes the shoe
//! campaign, every person's agent agrees and sends the agreed field at once, and the next
//! campaign follows when all agreements of the last have landed. It reports agreements per
//! second, the latency from each publish to each `data-received`, the daemon's resident memory
//! (now and at its peak), its fsyncs per agreement (`me2b_store_flushes` from its metrics) and
//! its CPU time per agreement. It asserts what must hold under load: every agreement lands,
//! and group commit covers many agreements with one flush.
//!
//! A second test fills a person daemon's vault with many records (10,000 in the full run)
//! and times its API reads.
//!
//! CI runs 40 people and 2 campaigns, and 1,000 records, on a debug build. The figures in the README come from
//! `ME2B_LOAD_PEOPLE=1000 ME2B_LOAD_ROUNDS=5 ME2B_LOAD_RECORDS=10000 cargo test --release -p
//! me2b-tests --test load -- --nocapture --test-threads 1`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

use me2b_node::{Node as PersonNode, NodeConfig, NodeHandle, Transport};
use me2b_proto::engine::{Command, Provenance, Role};
use me2b_proto::policy::{FieldRule, Policy, Share};
use me2b_proto::value::Value;
use me2b_proto::vocab::Purpose;
use me2b_tests::*;
use std::time::{Duration, Instant};

fn setting(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Shares the shoe size and running distance for personalised offers without asking.
fn policy() -> Policy {
    let rule = |path: &str| FieldRule {
        path: path.parse().unwrap(),
        share: Share::Raw,
        purposes: [Purpose::PersonalisedOffers].into(),
        ask_owner: false,
        max_retention: None,
        categories: Default::default(),
    };
    Policy { rules: vec![rule("body"), rule("activity")], ..Policy::default() }
}

async fn person(seed: u32, dir: &std::path::Path, business: &str) -> NodeHandle {
    let mut config = NodeConfig::new(Role::Person, dir.join(format!("person-{seed}")));
    config.transport = Transport::Network;
    config.small_store = true;
    config.net.mdns = false;
    let mut secret = [0u8; 32];
    secret[..4].copy_from_slice(&seed.to_le_bytes());
    secret[31] = 7;
    let person = PersonNode::start(secret, config).await.unwrap();
    person.command(Command::SetPolicy(policy())).await.unwrap();
    person.command(Command::Subscribe("apparel.shoes".parse().unwrap())).await.unwrap();
    let size = Value::Number(40.0 + f64::from(seed % 8));
    let set =
        Command::SetRecord { path: "body.shoe_size_eu".parse().unwrap(), value: size, provenance: Provenance::Owner };
    person.command(set).await.unwrap();
    person.dial(business.parse().unwrap()).await.unwrap();
    person
}

/// One value of the daemon's `/metrics` (none from a daemon older than the metric, as when
/// `ME2B_BIN` names one to compare with).
fn metric(business: &Node, name: &str) -> Option<u64> {
    let auth = format!("Bearer {}", business.token());
    let answer = http(business.api(), "GET", "/metrics", &[("Authorization", &auth)]);
    answer
        .body
        .lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.trim().parse::<f64>().ok())
        .map(|value| value as u64)
}

/// The daemon's resident memory now and at its peak, in MiB, and its CPU time (user + system).
fn process(pid: u32) -> (f64, f64, Duration) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib = |field: &str| -> f64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|r| r.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    };
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // The fields after the command name (which may hold spaces) start at state (field 3);
    // utime and stime are fields 14 and 15, in clock ticks (100 a second on Linux).
    let after = stat.rsplit_once(')').unwrap().1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    (kib("VmRSS:") / 1024.0, kib("VmHWM:") / 1024.0, Duration::from_millis(ticks * 10))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[(((sorted.len() - 1) as f64) * p).round() as usize]
}

#[test]
fn one_business_daemon_under_many_people() {
    let people = setting("ME2B_LOAD_PEOPLE", 40);
    let rounds = setting("ME2B_LOAD_ROUNDS", 2);
    let mut business = Node::init("business", "Stride", "127.0.0.61");
    // At the default log level: a debug line per message would be part of what is measured.
    business.start_quiet(&[]);
    let address = business.address();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    // People's stores in memory where the machine has it: real people flush to disks of their
    // own, and many flushing to this machine's one disk would measure that disk.
    let shm = std::path::Path::new("/dev/shm");
    let dir = if shm.is_dir() { tempfile::tempdir_in(shm).unwrap() } else { tempfile::tempdir().unwrap() };
    // The people start while the daemon's events are read, so that none ages out of its
    // stream's backlog before it is read.
    let path = dir.path().to_owned();
    let starting = runtime.spawn(async move {
        let mut nodes = Vec::with_capacity(people);
        for seed in 1..=people as u32 {
            nodes.push(person(seed, &path, &address).await);
        }
        nodes
    });
    let mut subscribed = std::collections::BTreeSet::new();
    while subscribed.len() < people {
        let event = business.wait_event("peer-subscribed", |e| e["topic"] == "me2b/v1/requests/apparel.shoes");
        subscribed.insert(event["peer"].as_str().unwrap_or_default().to_owned());
    }
    let nodes: Vec<NodeHandle> = runtime.block_on(starting).unwrap();
    eprintln!("{people} people subscribed");

    let pid = business.pid();
    let (flushes_before, (_, _, cpu_before)) = (metric(&business, "me2b_store_flushes"), process(pid));
    let started = Instant::now();
    let mut latencies = Vec::with_capacity(people * rounds);
    let mut agreement = String::new();
    for _ in 0..rounds {
        let published = Instant::now();
        business.ok(SHOE_CAMPAIGN);
        for _ in 0..people {
            let received = business.wait_event("data-received", |_| true);
            latencies.push(published.elapsed());
            agreement = received["agreement_id"].as_str().unwrap().to_owned();
        }
    }
    let elapsed = started.elapsed();
    let (rss, peak, cpu_after) = process(pid);
    let flushes = metric(&business, "me2b_store_flushes").zip(flushes_before).map(|(after, before)| after - before);
    let agreements = people * rounds;
    latencies.sort();
    let cpu_per_agreement = (cpu_after - cpu_before) / agreements as u32;
    println!("load: 1 business daemon, {people} people, {rounds} campaigns, {agreements} agreements");
    println!("  agreements/s: {:.0}", agreements as f64 / elapsed.as_secs_f64());
    println!(
        "  latency publish -> data-received: p50 {:.1} ms, p99 {:.1} ms",
        percentile(&latencies, 0.5).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3
    );
    println!("  business RSS: {rss:.1} MiB now, {peak:.1} MiB peak");
    match flushes {
        Some(flushes) => println!("  business fsyncs per agreement: {:.3}", flushes as f64 / agreements as f64),
        None => println!("  business fsyncs per agreement: not reported by this daemon"),
    }
    println!(
        "  business CPU per agreement: {:.0} us (so {:.0} agreements/s on 2 cores, if the people ran elsewhere)",
        cpu_per_agreement.as_secs_f64() * 1e6,
        2.0 / cpu_per_agreement.as_secs_f64().max(1e-9)
    );
    // API reads with every agreement held: the status and one agreement.
    let (p50, p99) = read_latency(&business, &["/v1/status".to_owned(), format!("/v1/agreements/{agreement}")], 200);
    println!("  API reads (status, one agreement) with {agreements} agreements held: p50 {p50:.2} ms, p99 {p99:.2} ms");
    // Four flushes per agreement would be one per message, as before group commit.
    if let Some(flushes) = flushes {
        assert!(
            (flushes as f64) < agreements as f64,
            "group commit should cover several agreements per flush under load: {flushes} flushes for {agreements}"
        );
    }
    runtime.block_on(async {
        for node in &nodes {
            node.shutdown().await;
        }
    });
}

/// Times `count` rounds of GETs of `paths` on `node`'s API; returns p50 and p99 in ms.
fn read_latency(node: &Node, paths: &[String], count: usize) -> (f64, f64) {
    let auth = format!("Bearer {}", node.token());
    let mut reads = Vec::with_capacity(count * paths.len());
    for _ in 0..count {
        for path in paths {
            let started = Instant::now();
            let answer = http(node.api(), "GET", path, &[("Authorization", &auth)]);
            assert_eq!(answer.status, 200, "GET {path}: {}", answer.body);
            reads.push(started.elapsed());
        }
    }
    reads.sort();
    (percentile(&reads, 0.5).as_secs_f64() * 1e3, percentile(&reads, 0.99).as_secs_f64() * 1e3)
}

#[test]
fn a_person_with_many_records_answers_reads() {
    let records = setting("ME2B_LOAD_RECORDS", 1000);
    let person = Node::init("person", "Ada", "127.0.0.62");
    let mut person = person;
    person.start(&[]);
    let import = person.dir.path().join("records.json");
    let body: serde_json::Map<String, serde_json::Value> =
        (0..records).map(|i| (format!("activity.day{i}"), serde_json::json!(i))).collect();
    std::fs::write(&import, serde_json::Value::Object(body).to_string()).unwrap();
    let started = Instant::now();
    person.ok(&["data", "import", import.to_str().unwrap()]);
    let imported = started.elapsed();
    let status = person.json(&["status"]);
    assert_eq!(status["records"], records, "every record is in the vault");
    let paths = ["/v1/status".to_owned(), format!("/v1/data/activity.day{}", records / 2), "/v1/policy".to_owned()];
    let (p50, p99) = read_latency(&person, &paths, 200);
    println!("load: a person daemon with {records} vault records (imported in {:.1} s)", imported.as_secs_f64());
    println!("  API reads (status, one record, policy): p50 {p50:.2} ms, p99 {p99:.2} ms");
}

/// `/proc/PID/status` fields of a process, in MiB.
fn memory(pid: u32) -> Vec<(String, f64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    ["VmRSS:", "RssAnon:", "RssFile:"]
        .iter()
        .map(|field| {
            let kib: f64 = status
                .lines()
                .find_map(|l| l.strip_prefix(field))
                .and_then(|r| r.trim().trim_end_matches("kB").trim().parse().ok())
                .unwrap();
            (field.trim_end_matches(':').to_owned(), kib / 1024.0)
        })
        .collect()
}

#[test]
fn a_person_daemon_starts_and_idles() {
    let mut person = Node::init("person", "Ada", "127.0.0.63");
    let mut starts = Vec::new();
    // At the daemon's default log level, as a daemon in service runs (and as
    // packaging/startup-order.sh lists the code it runs).
    for _ in 0..5 {
        let started = Instant::now();
        person.start_quiet(&[]);
        starts.push(started.elapsed());
        person.terminate();
    }
    starts.sort();
    person.start_quiet(&[]);
    // Idle: started, with nothing to do but answer its owner; measured once it has answered.
    assert_eq!(person.json(&["status"])["records"], 0);
    let memory = memory(person.pid());
    println!(
        "load: a person daemon (empty store) starts to its ready line in {:.1} ms (median of 5, {:.1} to {:.1})",
        starts[2].as_secs_f64() * 1e3,
        starts[0].as_secs_f64() * 1e3,
        starts[4].as_secs_f64() * 1e3
    );
    let shown: Vec<String> = memory.iter().map(|(name, mib)| format!("{name} {mib:.1} MiB")).collect();
    println!("  idle: {}", shown.join(", "));
    assert!(memory[0].1 > 0.0);
}
