//! Gossip with code nobody here wrote: a js-libp2p node (npm `libp2p` 3 and `@libp2p/gossipsub`,
//! pinned in `tests/interop/js/package-lock.json`, run by the machine's Node) joins two real
//! `me2b` daemons. It receives a business's campaign and verifies its me2b signature from the
//! `.proto` schema and the domain strings alone; it publishes a request of its own that a person
//! daemon accepts; an oversized message costs it a penalty but not its stream (its next honest
//! request still arrives); invalid messages get it banned, and its redial is refused while the
//! ban lasts. The mixed mesh's duplicates are counted on the person's side.
//!
//! Skipped, loudly, where Node or the npm registry is not available.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use me2b_tests::*;
use serde_json::{Value as Json, json};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::Instant;

const TOPIC: &str = "me2b/v1/requests/apparel.shoes";

fn js_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("interop/js")
}

/// Whether the js side can run here: Node 20 or later, and the pinned packages (installed with
/// `npm ci` when missing). Says why not when it cannot.
fn js_ready() -> Result<(), String> {
    let version = Command::new("node").arg("--version").output().map_err(|e| format!("no `node`: {e}"))?;
    let version = String::from_utf8_lossy(&version.stdout).trim().to_owned();
    let major: u32 = version.trim_start_matches('v').split('.').next().and_then(|m| m.parse().ok()).unwrap_or(0);
    if major < 20 {
        return Err(format!("Node {version} is too old (js-libp2p 3 needs 20 or later, with node20.mjs)"));
    }
    if !js_dir().join("node_modules/libp2p").exists() {
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(js_dir())
            .status()
            .map_err(|e| format!("no `npm`: {e}"))?;
        if !status.success() {
            return Err(format!("`npm ci` failed ({status}): is the npm registry reachable?"));
        }
    }
    Ok(())
}

/// The js-libp2p node, driven by JSON lines.
struct JsPeer {
    child: Child,
    stdin: ChildStdin,
    events: Receiver<Json>,
    peer: String,
}

impl JsPeer {
    fn start(ip: &str) -> JsPeer {
        let schema = Path::new(env!("CARGO_MANIFEST_DIR")).join("../proto/schema");
        let mut child = Command::new("node")
            .args(["--import", "./node20.mjs", "peer.mjs"])
            .arg(schema)
            .arg(ip)
            .current_dir(js_dir())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("node starts");
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("[js] {line}");
            }
        });
        let (tx, events) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                eprintln!("[js] {line}");
                if let Ok(json) = serde_json::from_str::<Json>(&line)
                    && tx.send(json).is_err()
                {
                    break;
                }
            }
        });
        let mut peer = JsPeer { child, stdin, events, peer: String::new() };
        let ready = peer.wait("ready", |_| true);
        peer.peer = ready["peer"].as_str().unwrap().to_owned();
        peer
    }

    fn send(&mut self, command: Json) {
        writeln!(self.stdin, "{command}").expect("the js peer reads its commands");
    }

    fn wait(&mut self, event: &str, matches: impl Fn(&Json) -> bool) -> Json {
        let deadline = Instant::now() + WAIT;
        loop {
            match self.events.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(json) if json["event"] == event && matches(&json) => return json,
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) => panic!("no `{event}` from the js peer within {WAIT:?}"),
                Err(RecvTimeoutError::Disconnected) => panic!("the js peer ended while waiting for `{event}`"),
            }
        }
    }

    /// Dials `address`; true if a connection stayed up until the dial's answer.
    fn dial(&mut self, address: &str) -> Json {
        self.send(json!({"cmd": "dial", "addr": address}));
        let deadline = Instant::now() + WAIT;
        loop {
            match self.events.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(json) if json["event"] == "connected" || json["event"] == "dial-failed" => return json,
                Ok(_) => {}
                Err(error) => panic!("no answer to the dial: {error:?}"),
            }
        }
    }
}

impl Drop for JsPeer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The sum of a gossipsub counter in a daemon's `/metrics`.
fn counter(node: &Node, name: &str) -> f64 {
    let bearer = format!("Bearer {}", node.token());
    let answer = http(node.api(), "GET", "/metrics", &[("Authorization", &bearer)]);
    assert_eq!(answer.status, 200, "{}", answer.body);
    let text = answer.body;
    if !text.contains(name) {
        eprintln!("{text}");
    }
    text.lines()
        .filter(|line| line.starts_with(name) && line[name.len()..].starts_with(['{', ' ']))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[test]
fn a_js_libp2p_node_interoperates_and_is_banned_for_invalid_messages() {
    if let Err(why) = js_ready() {
        eprintln!("\n!!! SKIPPED js interop: {why}\n");
        return;
    }
    let started = Instant::now();
    let (mut person, mut business) = person_and_shoe_maker("127.0.0.50", "127.0.0.51");
    eprintln!("daemons up after {:?}", started.elapsed());
    let mut js = JsPeer::start("127.0.0.52");
    let (person_address, business_address) = (person.address(), business.address());
    let person_peer = person_address.rsplit('/').next().unwrap().to_owned();
    assert_eq!(js.dial(&business_address)["event"], "connected");
    assert_eq!(js.dial(&person_address)["event"], "connected");
    js.send(json!({"cmd": "subscribe", "topic": TOPIC}));
    let js_peer = js.peer.clone();
    business.wait_event("peer-subscribed", |e| e["peer"] == js_peer.as_str() && e["topic"] == TOPIC);
    person.wait_event("peer-subscribed", |e| e["peer"] == js_peer.as_str() && e["topic"] == TOPIC);

    eprintln!("js joined after {:?}", started.elapsed());
    // 1. The business's campaign reaches the js node, which verifies its me2b signature.
    business.ok(SHOE_CAMPAIGN);
    let received = js.wait("message", |m| m["topic"] == TOPIC);
    assert_eq!(received["valid"], true, "{received}");
    assert_eq!(received["business_name"], "Stride");
    assert_eq!(received["gossip_id"], received["msg_id"], "js computes the SHA-256 message id");

    // 2. A request the js node signs is accepted by the person's daemon.
    let stride = person.wait_event("request-seen", |_| true)["business"].clone();
    js.send(json!({"cmd": "publish-request", "topic": TOPIC, "category": "apparel.shoes", "name": "Jog"}));
    js.wait("published", |_| true);
    let seen = person.wait_event("request-seen", |e| e["business"] != stride);
    assert_eq!(seen["category"], "apparel.shoes", "{seen}");

    // The mixed mesh: what the person received twice (the same id on both sides means no
    // IWANT for what it has).
    let arrived = counter(&person, "me2b_gossipsub_topic_msg_recv_counts_unfiltered_total");
    let first = counter(&person, "me2b_gossipsub_topic_msg_recv_counts_total");
    eprintln!("mixed mesh at the person: {arrived} arrived, {first} first seen, {} duplicates", arrived - first);
    assert!(first >= 2.0 && arrived - first <= first, "at most one copy more per message: {arrived}/{first}");

    // 3. An oversized message is one penalty, not a cut stream: the next request arrives.
    js.send(json!({"cmd": "publish-garbage", "topic": TOPIC, "count": 1, "size": 2 * 1024 * 1024}));
    js.wait("published-garbage", |_| true);
    person.wait_event("peer-misbehaved", |e| e["peer"] == js_peer.as_str());
    js.send(json!({"cmd": "publish-request", "topic": TOPIC, "category": "apparel.shoes", "name": "Jog again"}));
    js.wait("published", |_| true);
    let before = first;
    let deadline = Instant::now() + WAIT;
    while counter(&person, "me2b_gossipsub_topic_msg_recv_counts_total") < before + 2.0 {
        assert!(Instant::now() < deadline, "the honest request after the oversized one never arrived");
        person.wait_event("request-seen", |e| e["business"] != stride && e["request_id"] != seen["request_id"]);
    }
    assert!(person.logs().contains("peer misbehaved"), "the oversized message is warned about");

    // 4. Invalid messages get it banned; its redial is refused while the ban lasts.
    js.send(json!({"cmd": "publish-garbage", "topic": TOPIC, "count": 6, "size": 64}));
    let banned = person.wait_event("peer-banned", |e| e["peer"] == js_peer.as_str());
    assert!(banned["seconds"].as_u64().unwrap() >= 60);
    js.wait("disconnected", |e| e["peer"] == person_peer.as_str());
    let redial = js.dial(&person_address);
    if redial["event"] == "connected" {
        // The handshake completes before the node knows whom it talks to; then it closes.
        js.wait("disconnected", |e| e["peer"] == person_peer.as_str());
    }
    assert_eq!(person.json(&["status"])["connected_peers"], 1, "only the business: the redial was refused");
    // The business, which saw nothing invalid, still talks to it.
    assert_eq!(js.dial(&business_address)["event"], "connected");
}
