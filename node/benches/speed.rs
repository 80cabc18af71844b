//! `cargo bench -p me2b-node --bench speed [-- --quick]`: how fast a business and its people
//! agree, over real libp2p (TCP on loopback, Noise, Yamux) and real sled stores on disk, each
//! figure next to a baseline measured in the same run.
//!
//! - **Latency**: one person and one business. A cycle runs from the person hearing the
//!   business's request (its `RequestSeen`) to the business's `DataReceived`: the person
//!   proposes, the business signs, the person countersigns with the agreed fields in the same
//!   message, the business verifies and stores them; every step durable before it is
//!   acknowledged. The gossip hop (publish to `RequestSeen`) is reported apart.
//!   Baseline: a bare exchange of three libp2p request-response round trips on the same
//!   transport, each request carrying 1 KiB signed (ed25519) by its sender and verified by the
//!   receiver before it answers; no storage.
//! - **Throughput**: one business and N concurrent people (N = 10, 100, 1,000). The business
//!   publishes a request; every person answers at once; when all N agreements have landed it
//!   publishes the next. Agreements per second over the whole run, the latency of each from the
//!   publish to its `DataReceived`, the business's fsyncs per agreement (group commit) and the
//!   process's resident memory. Baseline: the business's share of the signature work alone
//!   (the signatures it makes and checks per agreement, on both cores), the CPU floor the issue
//!   names.
//!
//! - **Gossip**: N nodes in one process (memory transport; N = 1,000, 200 with `--quick`) in
//!   the same random graph twice: as me2b person nodes, and as bare swarms with the same
//!   libp2p behaviour and gossipsub settings that accept every message at once. A business (a
//!   bare publisher for the baseline) publishes one request; the figure is the share of nodes
//!   reached and the delivery time to each (`RequestSeen`, after me2b's validation; the
//!   request's write rides on the node's next, see `Node::commit`; the bare swarm's message
//!   event), p50 and p99.
//!
//! `--quick` runs fewer rounds and people (in about 15 s); the full run is what the README
//! quotes. For profiling and for comparing two builds: `--latency` runs the latency rows alone,
//! `--people N` one throughput point, `--gossip N` the gossip rows alone at N nodes.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use futures::StreamExt;
use libp2p::request_response;
use libp2p::swarm::SwarmEvent;
use me2b_node::clock::now;
use me2b_node::net::{self, Answer, BehaviourEvent, DirectEvent, DirectRequest, NetConfig};
use me2b_node::{Node, NodeConfig, NodeEvent, NodeHandle, Transport};
use me2b_proto::engine::{Command, Event, Provenance, Role};
use me2b_proto::envelope::MessageKind;
use me2b_proto::harness::fixtures::DAY;
use me2b_proto::identity::{Keypair, SignatureDomain};
use me2b_proto::policy::{FieldRule, Policy, Share};
use me2b_proto::terms::Terms;
use me2b_proto::value::Value;
use me2b_proto::vocab::Purpose;
use std::time::{Duration, Instant};
use tokio::sync::{broadcast, mpsc};

const TOPIC: &str = "me2b/v1/requests/apparel.shoes";
const PAYLOAD: usize = 1024;

struct Plan {
    personas: usize,
    gossip_nodes: usize,
    latency_rounds: usize,
    bare_exchanges: usize,
    curve: Vec<(usize, usize)>,
    floor_agreements: usize,
    engine_rounds: usize,
}

impl Plan {
    fn new(quick: bool) -> Plan {
        if quick {
            Plan {
                personas: 100,
                gossip_nodes: 200,
                latency_rounds: 40,
                bare_exchanges: 200,
                curve: vec![(10, 20), (100, 3), (1000, 1)],
                floor_agreements: 10_000,
                engine_rounds: 100,
            }
        } else {
            Plan {
                personas: 100,
                gossip_nodes: 1000,
                latency_rounds: 300,
                bare_exchanges: 2_000,
                curve: vec![(10, 200), (100, 30), (1000, 5)],
                floor_agreements: 40_000,
                engine_rounds: 400,
            }
        }
    }
}

fn net_config(role: Role) -> NetConfig {
    NetConfig { mdns: false, ..NetConfig::for_role(role) }
}

fn loopback() -> libp2p::Multiaddr {
    "/ip4/127.0.0.1/tcp/0".parse().unwrap()
}

async fn start(role: Role, seed: u32, dir: &tempfile::TempDir, listen: bool) -> NodeHandle {
    start_with(role, seed, dir, listen, true).await
}

async fn start_with(role: Role, seed: u32, dir: &tempfile::TempDir, listen: bool, pairwise: bool) -> NodeHandle {
    let mut config = NodeConfig::new(role, dir.path().join(format!("store-{seed}")));
    config.pairwise_identities = pairwise;
    if role == Role::Business {
        config.profile = Some(me2b_proto::profile::BusinessProfile { name: "Bench".into(), ..Default::default() });
    }
    config.transport = Transport::Network;
    config.listen = if listen { vec![loopback()] } else { Vec::new() };
    // A business runs as the daemon does; people, many to a process, without sled's flusher
    // thread each (every acknowledged write is flushed by the node either way).
    config.small_store = role == Role::Person;
    config.net = net_config(role);
    let mut secret = [0u8; 32];
    secret[..4].copy_from_slice(&seed.to_le_bytes());
    secret[31] = 1;
    Node::start(secret, config).await.unwrap()
}

/// The shared shoe terms, with no permission to contact: the cycle measured is agreement and
/// transfer only.
fn terms() -> Terms {
    let mut terms = me2b_proto::harness::fixtures::shoe_terms(now().saturating_add(DAY));
    terms.contact = None;
    terms
}

fn policy() -> Policy {
    let rule = |path: &str, share| FieldRule {
        path: path.parse().unwrap(),
        share,
        purposes: [Purpose::PersonalisedOffers].into(),
        ask_owner: false,
        max_retention: None,
        categories: Default::default(),
    };
    Policy { rules: vec![rule("body", Share::Raw), rule("activity", Share::DerivedOnly)], ..Policy::default() }
}

/// `--one-key`: the throughput people without pairwise identities (to compare).
static ONE_KEY: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

async fn person(seed: u32, dir: &tempfile::TempDir, business: &libp2p::Multiaddr) -> NodeHandle {
    let pairwise = !ONE_KEY.load(std::sync::atomic::Ordering::Relaxed);
    person_with(seed, dir, business, pairwise).await
}

async fn person_with(seed: u32, dir: &tempfile::TempDir, business: &libp2p::Multiaddr, pairwise: bool) -> NodeHandle {
    let person = start_with(Role::Person, seed, dir, false, pairwise).await;
    person.command(Command::SetPolicy(policy())).await.unwrap();
    person.command(Command::Subscribe("apparel.shoes".parse().unwrap())).await.unwrap();
    let set =
        |path: &str, value| Command::SetRecord { path: path.parse().unwrap(), value, provenance: Provenance::Owner };
    person.command(set("body.shoe_size_eu", Value::Number(40.0 + f64::from(seed % 8)))).await.unwrap();
    person.command(set("activity.running_km", Value::Series(vec![]))).await.unwrap();
    person.dial(business.clone()).await.unwrap();
    person
}

async fn business_address(business: &NodeHandle) -> libp2p::Multiaddr {
    let info = business.info().await.unwrap();
    info.listen_addrs[0].clone().with(libp2p::multiaddr::Protocol::P2p(info.peer_id))
}

type Tap = mpsc::UnboundedReceiver<(Instant, NodeEvent)>;

/// A node's events as they happen, each with the instant it was read. The readers run on one
/// thread of their own (a runtime beside the nodes'): the nodes' two workers are busy, and a
/// reader among them would fall behind the node's bounded event buffer (a thread per node
/// would add a thousand threads' wake-ups instead). Ends when the node stops or the tap is
/// dropped.
fn tap(node: &NodeHandle) -> Tap {
    static READERS: std::sync::OnceLock<tokio::runtime::Handle> = std::sync::OnceLock::new();
    let readers = READERS.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let handle = runtime.handle().clone();
        std::thread::spawn(move || runtime.block_on(std::future::pending::<()>()));
        handle
    });
    let (sender, receiver) = mpsc::unbounded_channel();
    readers.spawn(read_events(node.events(), sender));
    receiver
}

/// A node's events as they happen, read by a task among the nodes' own, as the bare gossip
/// run stamps its arrivals from within its swarms' tasks (a reader elsewhere waits for a core
/// the nodes hold, and its stamps come late). Only for a node with few events to read: a
/// reader among busy nodes could fall behind the node's bounded event buffer.
fn tap_beside(node: &NodeHandle) -> Tap {
    let (sender, receiver) = mpsc::unbounded_channel();
    tokio::spawn(read_events(node.events(), sender));
    receiver
}

/// Passes each event on with the instant it was read.
async fn read_events(mut events: broadcast::Receiver<NodeEvent>, sender: mpsc::UnboundedSender<(Instant, NodeEvent)>) {
    loop {
        match events.recv().await {
            Ok(event) => {
                if sender.send((Instant::now(), event)).is_err() {
                    return;
                }
            }
            Err(broadcast::error::RecvError::Lagged(n)) => panic!("bench lagged {n} events behind"),
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

/// The CPU time this process has used so far, over all its threads, those that ended too
/// (user and system time of `/proc/self/stat`, in the kernel's 10 ms ticks). Summing the live
/// threads' counters instead lost the share of every thread that ended in between: tokio's
/// idle blocking threads end after ten seconds, and in the full run the bare gossip row read
/// zero.
fn cpu_used() -> Duration {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else { return Duration::ZERO };
    // Fields after the command name (which may hold spaces) start at the third: utime is the
    // fourteenth, stime the fifteenth.
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|field| field.parse::<u64>().ok()).unwrap_or(0);
    // USER_HZ: 100 on Linux, whatever the kernel's own tick.
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

/// The next event from `tap` that `pick` accepts, and when it was read.
async fn next<T>(tap: &mut Tap, pick: impl Fn(&NodeEvent) -> Option<T>) -> (Instant, T) {
    loop {
        let (at, event) = tokio::time::timeout(Duration::from_secs(120), tap.recv())
            .await
            .expect("no event in time")
            .expect("node stopped");
        if let Some(picked) = pick(&event) {
            return (at, picked);
        }
    }
}

/// Waits until `count` people's subscriptions have reached the business (setup, not measured).
async fn subscribed(tap: &mut Tap, count: usize) {
    let mut peers = std::collections::BTreeSet::new();
    while peers.len() < count {
        let (_, peer) = next(tap, |event| match event {
            NodeEvent::PeerSubscribed { peer, topic } if topic == TOPIC => Some(*peer),
            _ => None,
        })
        .await;
        peers.insert(peer);
    }
}

fn request_seen(event: &NodeEvent) -> Option<()> {
    matches!(event, NodeEvent::Engine(Event::RequestSeen { .. })).then_some(())
}

fn data_received(event: &NodeEvent) -> Option<()> {
    matches!(event, NodeEvent::Engine(Event::DataReceived { .. })).then_some(())
}

async fn publish(business: &NodeHandle) {
    business
        .command(Command::PublishRequest {
            category: "apparel.shoes".parse().unwrap(),
            business_name: "Bench".into(),
            description: String::new(),
            terms: terms(),
        })
        .await
        .unwrap();
}

struct Latency {
    cycles: Vec<Duration>,
    hops: Vec<Duration>,
    business_flushes_per_cycle: f64,
}

/// One person and one business, `rounds` cycles; the person with its persona toward the
/// business (`pairwise`), or as one key everywhere (the comparison for the identities' cost).
async fn latency(rounds: usize, pairwise: bool) -> Latency {
    let dir = tempfile::tempdir_in(std::env::temp_dir()).unwrap();
    let business = start(Role::Business, 0, &dir, true).await;
    let mut business_events = tap(&business);
    let person = person_with(1, &dir, &business_address(&business).await, pairwise).await;
    let mut person_events = tap(&person);
    subscribed(&mut business_events, 1).await;
    let before = business.info().await.unwrap().commits;
    let (mut cycles, mut hops) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let published = Instant::now();
        publish(&business).await;
        let (seen, ()) = next(&mut person_events, request_seen).await;
        let (received, ()) = next(&mut business_events, data_received).await;
        cycles.push(received - seen);
        hops.push(seen - published);
    }
    let flushes = business.info().await.unwrap().commits - before;
    person.shutdown().await;
    business.shutdown().await;
    // One of the business's flushes each round is the publish itself, not the cycle.
    Latency { cycles, hops, business_flushes_per_cycle: flushes.saturating_sub(rounds as u64) as f64 / rounds as f64 }
}

/// Three signed request-response round trips on a bare swarm (no engine, no store).
async fn bare_exchanges(count: usize) -> Vec<Duration> {
    let config = net_config(Role::Business);
    let server_key = Keypair::from_secret_bytes(&[200; 32]);
    let client_key = Keypair::from_secret_bytes(&[201; 32]);
    let client_public = client_key.public();
    let mut server =
        net::build_swarm(net::libp2p_keypair([200; 32]).unwrap(), &config, &mut net::gossip_registry()).unwrap();
    server.listen_on(loopback()).unwrap();
    let address = loop {
        if let SwarmEvent::NewListenAddr { address, .. } = server.select_next_some().await {
            break address;
        }
    };
    drop(server_key);
    let server_id = *server.local_peer_id();
    let domain = SignatureDomain::Envelope(MessageKind::Negotiation);
    tokio::spawn(async move {
        loop {
            if let SwarmEvent::Behaviour(BehaviourEvent::Direct(DirectEvent::Negotiate(
                request_response::Event::Message {
                    message: request_response::Message::Request { channel, request, .. },
                    ..
                },
            ))) = server.select_next_some().await
            {
                let (payload, signature) = request.bytes.split_at(PAYLOAD);
                let signature = me2b_proto::identity::Signature::try_from(signature).unwrap();
                assert!(client_public.verify(domain, payload, &signature));
                let _ = server.behaviour_mut().direct.negotiate.send_response(channel, Answer::Accepted);
            }
        }
    });
    let mut client =
        net::build_swarm(net::libp2p_keypair([201; 32]).unwrap(), &config, &mut net::gossip_registry()).unwrap();
    client.dial(address.with(libp2p::multiaddr::Protocol::P2p(server_id))).unwrap();
    let payload = vec![7u8; PAYLOAD];
    let mut exchanges = Vec::with_capacity(count);
    for _ in 0..count {
        let started = Instant::now();
        for _ in 0..3 {
            let mut bytes = payload.clone();
            bytes.extend_from_slice(&client_key.sign(domain, &payload).to_bytes());
            client
                .behaviour_mut()
                .direct
                .negotiate
                .send_request(&server_id, DirectRequest::new(MessageKind::Negotiation, bytes));
            loop {
                match client.select_next_some().await {
                    SwarmEvent::Behaviour(BehaviourEvent::Direct(DirectEvent::Negotiate(
                        request_response::Event::Message {
                            message: request_response::Message::Response { .. }, ..
                        },
                    ))) => break,
                    SwarmEvent::Behaviour(BehaviourEvent::Direct(DirectEvent::Negotiate(
                        request_response::Event::OutboundFailure { error, .. },
                    ))) => panic!("bare request failed: {error}"),
                    _ => {}
                }
            }
        }
        exchanges.push(started.elapsed());
    }
    exchanges
}

struct Throughput {
    people: usize,
    agreements: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
    flushes_per_agreement: f64,
    inputs_per_flush: f64,
    rss_mib: f64,
}

/// Where the people's stores go in the throughput run: in memory where the machine has it
/// (`/dev/shm`), since real people flush to disks of their own, and a thousand of them
/// flushing to this machine's one disk would measure that disk rather than the business.
fn people_dir() -> tempfile::TempDir {
    let shm = std::path::Path::new("/dev/shm");
    if shm.is_dir() { tempfile::tempdir_in(shm).unwrap() } else { tempfile::tempdir().unwrap() }
}

async fn throughput(people: usize, rounds: usize) -> Throughput {
    let dir = tempfile::tempdir_in(std::env::temp_dir()).unwrap();
    let people_dir = people_dir();
    let business = start(Role::Business, 0, &dir, true).await;
    let address = business_address(&business).await;
    let mut events = tap(&business);
    let setup = Instant::now();
    let mut nodes = Vec::with_capacity(people);
    for seed in 1..=people as u32 {
        nodes.push(person(seed, &people_dir, &address).await);
    }
    subscribed(&mut events, people).await;
    eprintln!("  {people} people ready in {:.1} s", setup.elapsed().as_secs_f64());
    let before = business.info().await.unwrap();
    let mut latencies = Vec::with_capacity(people * rounds);
    let started = Instant::now();
    for _ in 0..rounds {
        let published = Instant::now();
        publish(&business).await;
        for _ in 0..people {
            let (at, ()) = next(&mut events, data_received).await;
            latencies.push(at - published);
        }
        eprintln!("    round: {} agreements in {:.0} ms", people, published.elapsed().as_secs_f64() * 1000.0);
    }
    let elapsed = started.elapsed();
    let after = business.info().await.unwrap();
    let rss_mib = rss_mib();
    for node in &nodes {
        node.shutdown().await;
    }
    business.shutdown().await;
    let agreements = people * rounds;
    Throughput {
        people,
        agreements,
        elapsed,
        latencies,
        flushes_per_agreement: (after.commits - before.commits) as f64 / agreements as f64,
        inputs_per_flush: (after.committed_inputs - before.committed_inputs) as f64
            / (after.commits - before.commits).max(1) as f64,
        rss_mib,
    }
}

/// The business's signature work per agreement, alone, on both cores: it checks the
/// proposal's, the countersignature's and the package's envelopes and the person's signature
/// on the agreement, and signs its answer, the agreement and its ledger entries.
fn signature_floor(agreements: usize) -> f64 {
    const SIGNS: usize = 4;
    const VERIFIES: usize = 4;
    let started = Instant::now();
    std::thread::scope(|scope| {
        for thread in 0..2u8 {
            scope.spawn(move || {
                let key = Keypair::from_secret_bytes(&[thread + 1; 32]);
                let public = key.public();
                let message = vec![thread; 600];
                let domain = SignatureDomain::Agreement;
                let signature = key.sign(domain, &message);
                for _ in 0..agreements / 2 {
                    for _ in 0..SIGNS {
                        std::hint::black_box(key.sign(domain, &message));
                    }
                    for _ in 0..VERIFIES {
                        assert!(public.verify(domain, std::hint::black_box(&message), &signature));
                    }
                }
            });
        }
    });
    agreements as f64 / started.elapsed().as_secs_f64()
}

/// Events pushed to the owner's event log, per event: on disk (sealed, appended, the backlog
/// compacted each time it holds twice what it keeps, ids reserved with an fsync every
/// thousand) and, the baseline, in memory alone. Runs inside the runtime (the log subscribes
/// a task).
fn event_log(count: u32) -> (Duration, Duration) {
    let dir = tempfile::tempdir_in(std::env::temp_dir()).unwrap();
    let time = |on_disk: bool| {
        let key = me2b_node::at_rest::SecretKey::from_bytes(&[7; 32]).unwrap();
        let (_node, events) = broadcast::channel(1);
        let log = me2b_node::api::events::EventLog::start(events, on_disk.then_some((dir.path(), key))).unwrap();
        let start = Instant::now();
        for n in 0..count {
            log.note("published", serde_json::json!({"topic": TOPIC, "n": n}));
        }
        start.elapsed() / count
    };
    (time(true), time(false))
}

/// One durable write as a node makes it ([`me2b_node::store::Store::apply`]: values sealed,
/// a trip to tokio's blocking pool, the journal's record and the writes, the flush, and back),
/// next to sled's batch and flush alone of about the same bytes on the same disk: what the
/// node adds to the disk's cost, or saves (sled's batch writes its manifest to the disk on its
/// own, the journal does not: see `store`).
async fn store_writes(rounds: usize) -> (Vec<Duration>, Vec<Duration>) {
    use me2b_proto::engine::{Change, State};
    let dir = tempfile::tempdir_in(std::env::temp_dir()).unwrap();
    let store = me2b_node::store::Store::open(&dir.path().join("store"), None, false).unwrap();
    let state = State { policy: policy(), ..State::default() };
    let sled = sled::Config::new().path(dir.path().join("sled")).open().unwrap();
    let tree = sled.open_tree("state").unwrap();
    let (mut node, mut bare) = (Vec::with_capacity(rounds), Vec::with_capacity(rounds));
    for round in 0..rounds {
        let started = Instant::now();
        store.apply(&state, &[Change::Settings]).await.unwrap();
        node.push(started.elapsed());
        let mut batch = sled::Batch::default();
        batch.insert(&[0u8][..], vec![round as u8; 400]);
        batch.insert(&[1u8][..], vec![round as u8; 100]);
        let started = Instant::now();
        tree.apply_batch(batch).unwrap();
        sled.flush().unwrap();
        bare.push(started.elapsed());
    }
    node.sort();
    bare.sort();
    (node, bare)
}

/// The engines alone, in the harness's virtual network (no I/O, no store): a business and a
/// person agreeing, request after request (the person hears the request and proposes, the
/// business signs, the person countersigns with the data), with their tables full or empty.
/// Full: the business holds `MAX_NEGOTIATIONS_KEPT` negotiations (a campaign's steady state),
/// `MAX_SEEN_ANNOUNCEMENTS` intents counted, `MAX_DEMAND_KEYS` demand counts and an outbox all
/// but full (messages to people who are away: each message sent asks it for room), and the person
/// `MAX_SEEN_ANNOUNCEMENTS` requests heard, so that every new negotiation, request heard and
/// intent counted makes room by forgetting one. What each costs must not grow with what is
/// held.
struct EngineCycles {
    net: me2b_proto::harness::Network,
    person: me2b_proto::identity::PublicKey,
    business: me2b_proto::identity::PublicKey,
    agreed: usize,
}

impl EngineCycles {
    fn new(full: bool) -> EngineCycles {
        use me2b_proto::engine::{Config, KnownRequest, State};
        use me2b_proto::harness::{Network, fixtures};
        use me2b_proto::identity::{IntentId, NegotiationId, RequestId};
        use me2b_proto::limits::{MAX_DEMAND_KEYS, MAX_NEGOTIATIONS_KEPT, MAX_SEEN_ANNOUNCEMENTS};
        use me2b_proto::messages::Context;
        use me2b_proto::messages::DataRequest;
        use me2b_proto::negotiation::{Negotiation, State as Stage};
        let mut net = Network::new(fixtures::START, Duration::from_millis(20));
        let other = Keypair::from_secret_bytes(&[9; 32]).public();
        let id_of = |i: usize, tag: u8| {
            let mut id = [0u8; 16];
            id[..8].copy_from_slice(&(i as u64).to_le_bytes());
            id[15] = tag;
            id
        };
        let mut heard = State::default();
        for i in 0..if full { MAX_SEEN_ANNOUNCEMENTS } else { 0 } {
            heard.requests.restore(KnownRequest {
                request: DataRequest {
                    id: RequestId::from_bytes(id_of(i, 0xdd)),
                    category: "apparel.shoes".parse().unwrap(),
                    business_name: "Elsewhere".into(),
                    description: String::new(),
                    terms: fixtures::shoe_terms(fixtures::START.saturating_add(DAY)),
                },
                business: other,
                at: fixtures::START,
                envelope: Vec::new(),
            });
        }
        let person = net.add_with(Keypair::from_secret_bytes(&[1; 32]), Config::new(Role::Person, [1; 32]), heard);
        let mut state = State::default();
        for i in 0..if full { MAX_NEGOTIATIONS_KEPT } else { 0 } {
            let id = id_of(i, 0xee);
            let terms = fixtures::shoe_terms(fixtures::START.saturating_add(DAY));
            state.negotiations.restore(Negotiation {
                id: NegotiationId::from_bytes(id),
                peer: other,
                local_is_person: false,
                context: Context::Request(RequestId::from_bytes([7; 16])),
                category: "apparel.shoes".parse().unwrap(),
                state: Stage::Finalized,
                terms: terms.clone(),
                requested: terms,
                offer: None,
                round: 1,
                deadline: fixtures::START.saturating_add(Duration::from_secs(60 + i as u64)),
                peer_knows: true,
                agreement: None,
                created_at: fixtures::START,
                prompt_expired_at: None,
            });
        }
        // Intents counted, each living a day or more; demand counted once per key, as a flood
        // of made-up specs leaves it.
        for i in 0..if full { MAX_SEEN_ANNOUNCEMENTS } else { 0 } {
            let expires = fixtures::START.saturating_add(DAY + Duration::from_secs(i as u64));
            state.seen.restore_intent(IntentId::from_bytes(id_of(i, 0xcc)), expires);
        }
        for i in 0..if full { MAX_DEMAND_KEYS } else { 0 } {
            state.demand.restore(("apparel.shoes".parse().unwrap(), format!("flood={i}")), 1);
        }
        // Room left for what one cycle sends, and no more.
        for i in 0..if full { me2b_proto::limits::MAX_OUTBOX - 16 } else { 0 } {
            let mut secret = [0x55u8; 32];
            secret[..8].copy_from_slice(&(i as u64).to_le_bytes());
            let item = me2b_proto::engine::OutboxItem {
                to: Keypair::from_secret_bytes(&secret).public(),
                kind: me2b_proto::envelope::MessageKind::DataPackage,
                payload: Vec::new(),
                attempts: 0,
                give_up_at: fixtures::START.saturating_add(DAY),
                countersigns: None,
                about: None,
            };
            state.outbox.restore(me2b_proto::engine::OutboxId(i as u64), item);
        }
        let business = net.add_with(Keypair::from_secret_bytes(&[2; 32]), Config::new(Role::Business, [2; 32]), state);
        fixtures::command(&mut net, person, Command::SetPolicy(fixtures::person_policy()));
        fixtures::command(&mut net, person, Command::Subscribe("apparel.shoes".parse().unwrap()));
        fixtures::set(&mut net, person, "body.shoe_size_eu", Value::Number(44.0));
        fixtures::set(&mut net, person, "activity.running_km", fixtures::running_km(450.0));
        fixtures::command(&mut net, business, Command::SetBusinessPolicy(Default::default()));
        fixtures::command(&mut net, business, Command::Subscribe("apparel.shoes".parse().unwrap()));
        let agreed = net.peer(&business).engine.state().agreements.len();
        EngineCycles { net, person, business, agreed }
    }

    /// One request to its agreement and data; its time.
    fn cycle(&mut self) -> Duration {
        use me2b_proto::harness::fixtures;
        let started = Instant::now();
        let terms = fixtures::shoe_terms(self.net.now().saturating_add(DAY));
        fixtures::publish(&mut self.net, self.business, "apparel.shoes", terms);
        self.net.settle();
        let elapsed = started.elapsed();
        let state = self.net.peer(&self.business).engine.state();
        assert_eq!(state.agreements.len(), self.agreed + 1, "every engine cycle ends in an agreement");
        assert!(state.outbox.len() < me2b_proto::limits::MAX_OUTBOX, "the outbox stays within its bound");
        let kept = state.negotiations.len();
        assert!(kept <= me2b_proto::limits::MAX_NEGOTIATIONS_KEPT, "the table stays within its bound: {kept}");
        let heard = self.net.peer(&self.person).engine.state().requests.len();
        assert!(heard <= me2b_proto::limits::MAX_SEEN_ANNOUNCEMENTS, "the person's requests stay within their bound");
        self.agreed += 1;
        elapsed
    }

    /// One intent published by the person and counted by the business; its time. Each names a
    /// spec value not seen before, so that it adds a demand count (as a flood's do).
    fn intent(&mut self, n: usize) -> Duration {
        use me2b_proto::harness::fixtures;
        let started = Instant::now();
        let spec = std::collections::BTreeMap::from([("size_eu".to_string(), format!("{}", 30 + n))]);
        let command = Command::PublishIntent {
            category: "apparel.shoes".parse().unwrap(),
            spec,
            max_price: None,
            shares: Vec::new(),
            expires_at: self.net.now().saturating_add(DAY),
        };
        fixtures::command(&mut self.net, self.person, command);
        self.net.settle();
        let elapsed = started.elapsed();
        let state = self.net.peer(&self.business).engine.state();
        let key = ("apparel.shoes".parse().unwrap(), format!("size_eu={}", 30 + n));
        assert_eq!(state.demand.get(&key), Some(&1), "every intent is counted");
        assert!(state.seen.intents() <= me2b_proto::limits::MAX_SEEN_ANNOUNCEMENTS, "seen intents stay bounded");
        assert!(state.demand.len() <= me2b_proto::limits::MAX_DEMAND_KEYS, "demand stays bounded");
        elapsed
    }
}

/// Who each node dials in the gossip runs: up to four earlier nodes, drawn from a fixed seed,
/// so that both runs have the same graph. Node 0 is the publisher.
fn gossip_graph(nodes: usize) -> Vec<Vec<usize>> {
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut draw = move |below: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % below as u64) as usize
    };
    (0..nodes)
        .map(|i| {
            let mut peers: Vec<usize> = (0..i.min(4)).map(|_| draw(i)).collect();
            peers.sort_unstable();
            peers.dedup();
            peers
        })
        .collect()
}

fn memory_net() -> NetConfig {
    NetConfig { mdns: false, dht: false, heartbeat: Duration::from_millis(500), ..NetConfig::default() }
}

/// Lets the meshes form: several heartbeats after every node has connected (the same wait
/// for both runs).
async fn settle() {
    tokio::time::sleep(Duration::from_secs(4)).await;
}

/// me2b: the delivery time of one request from the business to each person (none for a
/// person it did not reach within 10 s).
async fn gossip_me2b(nodes: usize) -> Gossip {
    let dir = people_dir();
    let mut handles: Vec<NodeHandle> = Vec::with_capacity(nodes);
    let mut addresses: Vec<libp2p::Multiaddr> = Vec::with_capacity(nodes);
    for (i, peers) in gossip_graph(nodes).iter().enumerate() {
        let role = if i == 0 { Role::Business } else { Role::Person };
        let mut config = NodeConfig::new(role, dir.path().join(format!("gossip-{i}")));
        config.transport = Transport::Memory;
        config.listen = vec!["/memory/0".parse().unwrap()];
        config.small_store = true;
        config.net = memory_net();
        let mut secret = [0u8; 32];
        secret[..4].copy_from_slice(&(i as u32).to_le_bytes());
        secret[31] = 9;
        let node = Node::start(secret, config).await.unwrap();
        if role == Role::Person {
            // No rule shares anything: the agent asks its owner, so nothing follows the request
            // on the wire and the run measures gossip alone.
            node.command(Command::Subscribe("apparel.shoes".parse().unwrap())).await.unwrap();
        }
        for &peer in peers {
            node.dial(addresses[peer].clone()).await.unwrap();
        }
        addresses.push(business_address(&node).await);
        handles.push(node);
    }
    settle().await;
    let mut taps: Vec<Tap> = handles[1..].iter().map(tap_beside).collect();
    let cpu_before = cpu_used();
    let published = Instant::now();
    publish(&handles[0]).await;
    let mut delivered = Vec::with_capacity(nodes - 1);
    for tap in &mut taps {
        let seen = tokio::time::timeout(Duration::from_secs(10), next(tap, request_seen)).await;
        delivered.push(seen.ok().map(|(at, ())| at - published));
    }
    let cpu = cpu_used().saturating_sub(cpu_before);
    for node in &handles {
        node.shutdown().await;
    }
    Gossip { delivered, cpu_per_node: cpu / nodes as u32 }
}

/// One gossip run: when the request reached each node (none if it did not within 10 s), and
/// the process's CPU time per node from the publish until the last delivery.
struct Gossip {
    delivered: Vec<Option<Duration>>,
    cpu_per_node: Duration,
}

/// The baseline: the same graph of bare swarms (the node's libp2p behaviour, no engine, no
/// store), each accepting every message as soon as it arrives.
async fn gossip_bare(nodes: usize, size: usize) -> Gossip {
    let topic = libp2p::gossipsub::IdentTopic::new(TOPIC);
    let (arrived, mut arrivals) = mpsc::unbounded_channel::<(usize, Instant)>();
    let mut addresses: Vec<libp2p::Multiaddr> = Vec::with_capacity(nodes);
    let mut publishers = Vec::with_capacity(nodes);
    for (i, peers) in gossip_graph(nodes).iter().enumerate() {
        let mut secret = [0u8; 32];
        secret[..4].copy_from_slice(&(i as u32).to_le_bytes());
        secret[31] = 10;
        let key = net::libp2p_keypair(secret).unwrap();
        let mut swarm = net::build_memory_swarm(key, &memory_net(), &mut net::gossip_registry()).unwrap();
        swarm.listen_on("/memory/0".parse().unwrap()).unwrap();
        let address = loop {
            if let SwarmEvent::NewListenAddr { address, .. } = swarm.select_next_some().await {
                break address.with(libp2p::multiaddr::Protocol::P2p(*swarm.local_peer_id()));
            }
        };
        if i > 0 {
            swarm.behaviour_mut().gossipsub.subscribe(&topic).unwrap();
        }
        for &peer in peers {
            swarm.dial(addresses[peer].clone()).unwrap();
        }
        addresses.push(address);
        let (publisher, mut to_publish) = mpsc::unbounded_channel::<Vec<u8>>();
        publishers.push(publisher);
        let (arrived, topic) = (arrived.clone(), topic.clone());
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    bytes = to_publish.recv() => match bytes {
                        Some(bytes) => {
                            let _ = swarm.behaviour_mut().gossipsub.publish(topic.clone(), bytes);
                        }
                        None => return,
                    },
                    event = swarm.select_next_some() => {
                        if let SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(
                            libp2p::gossipsub::Event::Message { propagation_source, message_id, .. },
                        )) = event
                        {
                            let _ = arrived.send((i, Instant::now()));
                            swarm.behaviour_mut().gossipsub.report_message_validation_result(
                                &message_id,
                                &propagation_source,
                                libp2p::gossipsub::MessageAcceptance::Accept,
                            );
                        }
                    }
                }
            }
        });
    }
    settle().await;
    let cpu_before = cpu_used();
    let published = Instant::now();
    publishers[0].send(vec![42; size]).unwrap();
    let mut delivered = vec![None; nodes - 1];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut reached = 0;
    while reached < nodes - 1 {
        match tokio::time::timeout_at(deadline, arrivals.recv()).await {
            Ok(Some((i, at))) => {
                if delivered[i - 1].is_none() {
                    delivered[i - 1] = Some(at - published);
                    reached += 1;
                }
            }
            _ => break,
        }
    }
    let cpu = cpu_used().saturating_sub(cpu_before);
    drop(publishers);
    Gossip { delivered, cpu_per_node: cpu / nodes as u32 }
}

/// The share reached, and p50 and p99 over all nodes (one not reached counts as never).
fn delivery(times: &[Option<Duration>]) -> (f64, Duration, Duration) {
    let mut reached: Vec<Duration> = times.iter().flatten().copied().collect();
    reached.sort();
    let share = reached.len() as f64 / times.len().max(1) as f64;
    let at = |p: f64| {
        let index = ((times.len() as f64 - 1.0) * p).round() as usize;
        reached.get(index).copied().unwrap_or(Duration::MAX)
    };
    (share, at(0.5), at(0.99))
}

struct PersonasCost {
    kib_per_persona: f64,
    connections: usize,
    /// A poll of the persona swarms when none has anything to do, with all of them connected
    /// and with the first alone.
    idle_poll: (Duration, Duration),
}

/// Events pushed to the event log in its row: eight compactions of its backlog.
const EVENTS: u32 = 8 * 1024;

/// Polls of the persona swarms timed together (one poll takes well under a microsecond).
const IDLE_POLLS: u32 = 10_000;

/// What a poll of `personas` costs when none of them has anything to do: the node's loop
/// makes one on each of its turns, whatever the turn is for.
fn idle_poll(personas: &mut me2b_node::personas::Personas) -> Duration {
    while personas.ready().is_some() {}
    let start = Instant::now();
    for _ in 0..IDLE_POLLS {
        let _ = personas.ready();
    }
    start.elapsed() / IDLE_POLLS
}

/// What a person's relationships cost in memory and connections: `count` persona swarms (as a
/// person with that many businesses holds), each connected to a business, against the
/// process's resident memory before them.
async fn personas_cost(count: usize) -> PersonasCost {
    let dir = tempfile::tempdir_in(std::env::temp_dir()).unwrap();
    let business = start(Role::Business, 0, &dir, true).await;
    let address = business_address(&business).await;
    let Some(libp2p::multiaddr::Protocol::P2p(peer)) = address.iter().last() else { panic!("no peer id") };
    let mut personas = me2b_node::personas::Personas::new(net_config(Role::Person), false);
    personas.learn_address(peer, address.clone());
    let before = rss_mib();
    let root = Keypair::from_secret_bytes(&[9; 32]);
    let identities = me2b_proto::identity::Identities::new(root, true);
    let mut connected = 0;
    let mut alone = Duration::ZERO;
    // The first persona alone, then the rest.
    for (from, to) in [(0, 1), (1, count)] {
        for i in from..to {
            let mut id = [0u8; 16];
            id[..8].copy_from_slice(&(i as u64).to_le_bytes());
            let persona = me2b_proto::identity::Persona::Intent(me2b_proto::identity::IntentId::from_bytes(id));
            personas.check_in(&identities.keypair(persona), peer).unwrap();
        }
        while connected < to {
            let (_, event) =
                tokio::time::timeout(Duration::from_secs(60), personas.next()).await.expect("personas connect");
            if let SwarmEvent::ConnectionEstablished { .. } = event {
                connected += 1;
            }
        }
        if to == 1 {
            alone = idle_poll(&mut personas);
        }
    }
    let all = idle_poll(&mut personas);
    let after = rss_mib();
    let (_, connections) = personas.counts();
    drop(personas);
    business.shutdown().await;
    PersonasCost {
        kib_per_persona: (after - before).max(0.0) * 1024.0 / count as f64,
        connections,
        idle_poll: (all, alone),
    }
}

fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn row(figure: &str, me2b: String, baseline: String, ratio: String, goal: &str) {
    println!("{figure:<38} {me2b:>14} {baseline:>14} {ratio:>9}  {goal}");
}

/// A row of two durations and their ratio, in ms with `decimals`.
fn ratio_row(figure: &str, me2b: Duration, baseline: Duration, decimals: usize, goal: &str) {
    row(
        figure,
        format!("{:.decimals$} ms", ms(me2b)),
        format!("{:.decimals$} ms", ms(baseline)),
        format!("{:.2}x", me2b.as_secs_f64() / baseline.as_secs_f64()),
        goal,
    );
}

/// Engine cycles and intents counted, with full tables and with empty ones.
struct EngineRows {
    cycles: (Vec<Duration>, Vec<Duration>),
    intents: (Vec<Duration>, Vec<Duration>),
}

fn engine_rows(rounds: usize) -> EngineRows {
    eprintln!("engine cycles and intents ({rounds}), tables full and empty...");
    let (mut full, mut empty) = (EngineCycles::new(true), EngineCycles::new(false));
    // In turns, so that the machine's drift falls on both alike.
    let mut rows = EngineRows { cycles: Default::default(), intents: Default::default() };
    for n in 0..rounds {
        rows.cycles.0.push(full.cycle());
        rows.cycles.1.push(empty.cycle());
        rows.intents.0.push(full.intent(n));
        rows.intents.1.push(empty.intent(n));
    }
    for times in [&mut rows.cycles.0, &mut rows.cycles.1, &mut rows.intents.0, &mut rows.intents.1] {
        times.sort();
    }
    rows
}

fn engine_table_rows(rows: &EngineRows) {
    let p50 = |times: &(Vec<Duration>, Vec<Duration>)| (percentile(&times.0, 0.5), percentile(&times.1, 0.5));
    let (full, empty) = p50(&rows.cycles);
    ratio_row("engine cycle p50, tables full (vs empty)", full, empty, 3, "");
    let (full, empty) = p50(&rows.intents);
    ratio_row("intent counted p50, tables full (vs empty)", full, empty, 3, "");
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|arg| arg == "--quick");
    let mut plan = Plan::new(quick);
    ONE_KEY.store(args.iter().any(|arg| arg == "--one-key"), std::sync::atomic::Ordering::Relaxed);
    // `--people N`: only the throughput point for N people (profiling).
    if let Some(people) = args.iter().position(|arg| arg == "--people").and_then(|i| args.get(i + 1)) {
        let people: usize = people.parse().expect("--people N");
        plan.curve = vec![(people, (2000 / people).max(1))];
        plan.latency_rounds = 1;
        plan.bare_exchanges = 1;
        plan.floor_agreements = 200;
        plan.gossip_nodes = 0;
    }
    // `--latency`: only the bare exchanges and the cycles (comparing two builds).
    if args.iter().any(|arg| arg == "--latency") {
        plan.curve = Vec::new();
        plan.floor_agreements = 200;
        plan.gossip_nodes = 0;
        plan.personas = 1;
    }
    // `--gossip N`: only the gossip runs, at N nodes (profiling).
    if let Some(nodes) = args.iter().position(|arg| arg == "--gossip").and_then(|i| args.get(i + 1)) {
        plan.gossip_nodes = nodes.parse().expect("--gossip N");
        plan.curve = Vec::new();
        plan.latency_rounds = 1;
        plan.bare_exchanges = 1;
        plan.floor_agreements = 200;
        plan.personas = 1;
    }
    // `--engine`: only the engine cycles, with full tables and empty ones.
    if args.iter().any(|arg| arg == "--engine") {
        let rows = engine_rows(plan.engine_rounds);
        row("figure", "me2b".into(), "baseline".into(), "ratio".into(), "goal");
        engine_table_rows(&rows);
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async {
        eprintln!("bare signed exchanges ({})...", plan.bare_exchanges);
        let mut bare = bare_exchanges(plan.bare_exchanges).await;
        bare.sort();
        eprintln!("one person, {} cycles...", plan.latency_rounds);
        let mut latency = latency(plan.latency_rounds, true).await;
        latency.cycles.sort();
        latency.hops.sort();
        eprintln!("one person without pairwise identities, {} cycles...", plan.latency_rounds);
        let mut one_key = self::latency(plan.latency_rounds, false).await;
        one_key.cycles.sort();
        eprintln!("{} personas connected to one business...", plan.personas);
        let personas = personas_cost(plan.personas).await;
        let rounds = (plan.bare_exchanges / 2).max(1);
        eprintln!("durable writes ({rounds})...");
        let (writes, sled_writes) = store_writes(rounds).await;
        let events = event_log(EVENTS);
        let engine = engine_rows(plan.engine_rounds);
        let mut curve = Vec::new();
        for &(people, rounds) in &plan.curve {
            eprintln!("{people} people, {rounds} requests...");
            let mut point = throughput(people, rounds).await;
            point.latencies.sort();
            curve.push(point);
        }
        let floor = signature_floor(plan.floor_agreements);
        let gossip = if plan.gossip_nodes > 0 {
            eprintln!("gossip, {} bare swarms...", plan.gossip_nodes);
            let bare = gossip_bare(plan.gossip_nodes, 700).await;
            eprintln!("gossip, {} me2b nodes...", plan.gossip_nodes);
            let me2b = gossip_me2b(plan.gossip_nodes).await;
            Some((me2b, bare))
        } else {
            None
        };

        println!();
        println!(
            "me2b-node speed ({}; loopback TCP, Noise, Yamux, sled on disk, 2 worker threads)",
            if quick { "quick" } else { "full" }
        );
        row("figure", "me2b".into(), "baseline".into(), "ratio".into(), "goal");
        for (name, p, goal) in [("cycle latency p50", 0.5, "<= 2x"), ("cycle latency p99", 0.99, "<= 3x")] {
            ratio_row(name, percentile(&latency.cycles, p), percentile(&bare, p), 3, goal);
        }
        for (name, p) in [("cycle p50, personas vs one key", 0.5), ("cycle p99, personas vs one key", 0.99)] {
            ratio_row(name, percentile(&latency.cycles, p), percentile(&one_key.cycles, p), 3, "<= 1.1x");
        }
        row(
            &format!("memory per persona, {} connected", plan.personas),
            format!("{:.0} KiB", personas.kib_per_persona),
            format!("{} conns", personas.connections),
            String::new(),
            "",
        );
        ratio_row(
            &format!("idle persona poll, {} connected (vs 1)", plan.personas),
            personas.idle_poll.0,
            personas.idle_poll.1,
            6,
            "",
        );
        row(
            "gossip hop p50 / p99 (publish->seen)",
            format!("{:.3} ms", ms(percentile(&latency.hops, 0.5))),
            format!("{:.3} ms", ms(percentile(&latency.hops, 0.99))),
            String::new(),
            "",
        );
        ratio_row("durable write p50 (vs sled alone)", percentile(&writes, 0.5), percentile(&sled_writes, 0.5), 3, "");
        ratio_row("event log, per event on disk (vs in memory)", events.0, events.1, 4, "");
        engine_table_rows(&engine);
        row(
            "business fsyncs per cycle",
            format!("{:.2}", latency.business_flushes_per_cycle),
            String::new(),
            String::new(),
            "",
        );
        for point in &curve {
            let rate = point.agreements as f64 / point.elapsed.as_secs_f64();
            row(
                &format!("agreements/s, {} people", point.people),
                format!("{rate:.0}/s"),
                format!("{floor:.0}/s"),
                format!("{:.2}x", rate / floor),
                if point.people >= 1000 { ">= 2000/s" } else { "" },
            );
            row(
                &format!("  latency p50 / p99, {} people", point.people),
                format!("{:.1} ms", ms(percentile(&point.latencies, 0.5))),
                format!("{:.1} ms", ms(percentile(&point.latencies, 0.99))),
                String::new(),
                "",
            );
            row(
                "  fsyncs/agreement, inputs/fsync, RSS",
                format!("{:.3}", point.flushes_per_agreement),
                format!("{:.1}", point.inputs_per_flush),
                format!("{:.0} MiB", point.rss_mib),
                "",
            );
        }
        if let Some((me2b, bare)) = gossip {
            let ((share, p50, p99), (bare_share, bare_p50, bare_p99)) = (delivery(&me2b.delivered), delivery(&bare.delivered));
            row(
                &format!("gossip reach, {} nodes", plan.gossip_nodes),
                format!("{:.1} %", share * 100.0),
                format!("{:.1} %", bare_share * 100.0),
                String::new(),
                "100 %",
            );
            let delays = [("gossip delivery p50", p50, bare_p50, ""), ("gossip delivery p99", p99, bare_p99, "<= 1.2x")];
            for (name, me2b, base, goal) in delays {
                ratio_row(name, me2b, base, 1, goal);
            }
            ratio_row("  CPU per node, publish -> last seen", me2b.cpu_per_node, bare.cpu_per_node, 3, "");
        }
        println!(
            "(baselines: latency = 3 signed request-response round trips on a bare swarm; throughput = the \
             business's signature work alone on 2 cores; gossip = bare swarms, same behaviour and graph; RSS is the whole process, business and people)"
        );
    });
}
