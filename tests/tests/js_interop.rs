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
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Instant;

const TOPIC: &str = "me2b/v1/requests/apparel.shoes";
/// Campaigns the business publishes into the mixed mesh.
const CAMPAIGNS: usize = 5;

fn js_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("interop/js")
}

/// Whether the js side can run here: Node 20 or later, and the pinned packages (installed with
/// `npm ci` when missing, once for all the tests of this file, which run in parallel). Says why
/// not when it cannot.
fn js_ready() -> Result<(), String> {
    static READY: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    READY.get_or_init(check_js).clone()
}

fn check_js() -> Result<(), String> {
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
    address: String,
}

impl JsPeer {
    fn start(ip: &str, options: Json) -> JsPeer {
        let schema = Path::new(env!("CARGO_MANIFEST_DIR")).join("../proto/schema");
        let mut child = Command::new("node")
            .args(["--import", "./node20.mjs", "peer.mjs"])
            .arg(schema)
            .arg(ip)
            .arg(options.to_string())
            .current_dir(js_dir())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("node starts");
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || forward("js", stderr));
        let events = json_lines(stdout, Some("js"));
        let mut peer = JsPeer { child, stdin, events, peer: String::new(), address: String::new() };
        let ready = peer.wait("ready", |_| true);
        peer.peer = ready["peer"].as_str().unwrap().to_owned();
        peer.address = ready["addrs"][0].as_str().unwrap().to_owned();
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
    let mut js = JsPeer::start("127.0.0.52", json!({}));
    let (person_address, business_address) = (person.address(), business.address());
    let person_peer = person_address.rsplit('/').next().unwrap().to_owned();
    assert_eq!(js.dial(&business_address)["event"], "connected");
    assert_eq!(js.dial(&person_address)["event"], "connected");
    js.send(json!({"cmd": "subscribe", "topic": TOPIC}));
    let js_peer = js.peer.clone();
    business.wait_event("peer-subscribed", |e| e["peer"] == js_peer.as_str() && e["topic"] == TOPIC);
    person.wait_event("peer-subscribed", |e| e["peer"] == js_peer.as_str() && e["topic"] == TOPIC);

    eprintln!("js joined after {:?}", started.elapsed());
    // 1. The business's campaigns reach the js node, which verifies their me2b signatures.
    for _ in 0..CAMPAIGNS {
        business.ok(SHOE_CAMPAIGN);
        let received = js.wait("message", |m| m["topic"] == TOPIC);
        assert_eq!(received["valid"], true, "{received}");
        assert_eq!(received["business_name"], "Stride");
        assert_eq!(received["gossip_id"], received["msg_id"], "js computes the SHA-256 message id");
    }

    // 2. A request the js node signs is accepted by the person's daemon.
    let stride = person.wait_event("request-seen", |_| true)["business"].clone();
    js.send(json!({"cmd": "publish-request", "topic": TOPIC, "category": "apparel.shoes", "name": "Jog"}));
    js.wait("published", |_| true);
    let seen = person.wait_event("request-seen", |e| e["business"] != stride);
    assert_eq!(seen["category"], "apparel.shoes", "{seen}");

    // A triangle: each campaign reaches the person from the business and, forwarded, from
    // the js node; never more.
    let arrived = counter(&person, "me2b_gossipsub_topic_msg_recv_counts_unfiltered_total");
    let first = counter(&person, "me2b_gossipsub_topic_msg_recv_counts_total");
    eprintln!("mixed triangle at the person: {arrived} arrived, {first} first seen, {} duplicates", arrived - first);
    assert!(first >= (CAMPAIGNS + 1) as f64, "{first}");
    assert!(arrived - first <= first, "at most one copy more per message: {arrived}/{first}");

    // 3. An oversized message is one penalty, not a cut stream: the next request arrives.
    js.send(json!({"cmd": "publish-garbage", "topic": TOPIC, "count": 1, "size": 2 * 1024 * 1024}));
    js.wait("published-garbage", |_| true);
    person.wait_event("peer-misbehaved", |e| e["peer"] == js_peer.as_str());
    js.send(json!({"cmd": "publish-request", "topic": TOPIC, "category": "apparel.shoes", "name": "Jog again"}));
    js.wait("published", |_| true);
    let again = person.wait_event("request-seen", |e| e["business"] != stride && e["request_id"] != seen["request_id"]);
    assert_eq!(again["business"], seen["business"], "the honest request after the oversized one arrived");
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

/// What the person fetched again from a js node that only gossips (IHAVE) the campaigns it
/// has: `(IWANT requests, duplicate copies)`.
fn fetched_again(ips: [&str; 3], js_options: Json) -> (f64, f64) {
    let mut js = JsPeer::start(ips[2], js_options);
    js.send(json!({"cmd": "subscribe", "topic": TOPIC}));
    let mut business = Node::init("business", "Stride", ips[1]);
    business.start(&[]);
    assert_eq!(js.dial(&business.address())["event"], "connected");
    // The person dials the js node: js-libp2p grafts a peer beyond its mesh size only on a
    // connection it dialled itself, so a meshless js node keeps the person out of its mesh.
    let mut person = Node::init("person", "Ada", ips[0]);
    person.start(&[business.address(), js.address.clone()]);
    person.ok(&["subscribe", "apparel.shoes"]);
    person.ok(&["data", "set", "body.shoe_size_eu", "44"]);
    let js_peer = js.peer.clone();
    business.wait_event("peer-subscribed", |e| e["peer"] == js_peer.as_str() && e["topic"] == TOPIC);
    person.wait_event("peer-subscribed", |e| e["peer"] == js_peer.as_str() && e["topic"] == TOPIC);
    for _ in 0..CAMPAIGNS {
        business.ok(SHOE_CAMPAIGN);
        js.wait("message", |m| m["topic"] == TOPIC && m["valid"] == true);
    }
    // js gossips a message for three heartbeats; after five, every IHAVE has gone out. Its
    // next publication travels behind them on the same stream, so once the person has seen
    // it, it has handled every IHAVE (and asked for what it wanted).
    for _ in 0..5 {
        js.wait("heartbeat", |_| true);
    }
    let stride = person.wait_event("request-seen", |_| true)["business"].clone();
    js.send(json!({"cmd": "publish-request", "topic": TOPIC, "category": "apparel.shoes", "name": "Jog"}));
    person.wait_event("request-seen", |e| e["business"] != stride);
    let iwants = counter(&person, "me2b_gossipsub_topic_iwant_msgs_total");
    let arrived = counter(&person, "me2b_gossipsub_topic_msg_recv_counts_unfiltered_total");
    let first = counter(&person, "me2b_gossipsub_topic_msg_recv_counts_total");
    eprintln!("person: {iwants} IWANT, {arrived} arrived, {first} first seen, {} duplicates", arrived - first);
    (iwants, arrived - first)
}

/// With the message id of docs/PROTOCOL.md on both sides, the person recognises every id the
/// js node offers and asks for nothing again. The control: with another id rule on the js side,
/// it asks for every campaign it already has, and receives each a second time.
#[test]
fn a_mixed_mesh_does_not_resend_what_a_peer_already_has() {
    if let Err(why) = js_ready() {
        eprintln!("\n!!! SKIPPED js interop: {why}\n");
        return;
    }
    let same = fetched_again(["127.0.0.53", "127.0.0.54", "127.0.0.55"], json!({"meshless": true, "heartbeats": true}));
    assert_eq!(same, (0.0, 0.0), "same ids: nothing fetched again");
    let control = json!({"meshless": true, "heartbeats": true, "otherIds": true});
    let (iwants, duplicates) = fetched_again(["127.0.0.56", "127.0.0.57", "127.0.0.58"], control);
    assert!(iwants >= 1.0 && duplicates >= 1.0, "different ids: the person fetches again ({iwants}, {duplicates})");
}

/// Fresh identities cost an attacker nothing, addresses do: after three identities from one
/// address were banned, the address itself is refused before any handshake. (js-libp2p dials
/// from 127.0.0.1 whatever it listens on, so all js nodes here share that address.)
#[test]
fn identities_banned_from_one_address_get_the_address_banned() {
    if let Err(why) = js_ready() {
        eprintln!("\n!!! SKIPPED js interop: {why}\n");
        return;
    }
    let (mut person, _business) = person_and_shoe_maker("127.0.0.59", "127.0.0.60");
    let mut sybils = Vec::new();
    for _ in 0..3 {
        let mut sybil = JsPeer::start("127.0.0.61", json!({}));
        assert_eq!(sybil.dial(&person.address())["event"], "connected");
        sybil.send(json!({"cmd": "subscribe", "topic": TOPIC}));
        let id = sybil.peer.clone();
        person.wait_event("peer-subscribed", |e| e["peer"] == id.as_str());
        sybil.send(json!({"cmd": "publish-garbage", "topic": TOPIC, "count": 3, "size": 64}));
        person.wait_event("peer-banned", |e| e["peer"] == id.as_str());
        sybils.push(sybil);
    }
    assert!(person.logs().contains("address range banned"), "the third ban bans the address");
    let mut fourth = JsPeer::start("127.0.0.61", json!({}));
    let dial = fourth.dial(&person.address());
    assert_eq!(dial["event"], "dial-failed", "a new identity from the banned address: {dial}");
    assert_eq!(person.json(&["status"])["connected_peers"], 1, "only the business");
}
