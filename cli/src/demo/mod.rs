//! `me2b demo`: two people and three businesses, each a real `Node` (libp2p over TCP on
//! loopback, Noise, Yamux, gossipsub, an encrypted sled store in a temporary directory), run
//! every me2b flow, and the story is told step by step with who learned what.

mod chapters;

use anyhow::{Context as _, Result, bail, ensure};
use me2b_node::clock::now;
use me2b_node::{Node, NodeConfig, NodeEvent, NodeHandle, Transport};
use me2b_proto::agreement::Lifecycle;
use me2b_proto::engine::{CatalogItem, Command, Event, Handled, Provenance, Role, State};
use me2b_proto::identity::{AgreementId, Identities, Keypair, Persona, PublicKey};
use me2b_proto::messages::{ItemContent, ProductOffer};
use me2b_proto::policy::{BusinessPolicy, FieldRule, Policy, Share};
use me2b_proto::predicate::Predicate;
use me2b_proto::terms::{Compensation, ContactPermission, FieldRequest, Money, Terms, Use};
use me2b_proto::time::Timestamp;
use me2b_proto::value::{Date, Point, Value};
use me2b_proto::vocab::{FieldPath, Purpose};
use std::collections::BTreeMap;
use std::time::Duration;
use tempfile::TempDir;
use tokio::sync::{broadcast, mpsc};

const DAY: Duration = Duration::from_secs(86_400);
/// The longest any step of the story may take.
const STEP_TIMEOUT: Duration = Duration::from_secs(60);

/// One participant: a running node, its data directory, and what it has reported.
struct Member {
    name: &'static str,
    role: Role,
    secret: [u8; 32],
    dir: TempDir,
    node: NodeHandle,
    log: Vec<Event>,
    /// Gossip topics peers were seen to follow: (peer, topic).
    subscribed: Vec<(libp2p::PeerId, String)>,
}

struct Story {
    members: BTreeMap<PublicKey, Member>,
    /// Every member's node events, merged: the story waits on this, never on a clock.
    inbox: mpsc::Receiver<(PublicKey, NodeEvent)>,
    inbox_tx: mpsc::Sender<(PublicKey, NodeEvent)>,
    quiet: bool,
    /// Print the outcome as JSON (and nothing else on stdout).
    json: bool,
    step: u32,
    /// Whose persona each key a business sees is (the story knows every secret; the
    /// businesses do not).
    personas: BTreeMap<PublicKey, PublicKey>,
}

async fn start_node(name: &str, role: Role, secret: [u8; 32], dir: &TempDir) -> Result<NodeHandle> {
    let mut config = NodeConfig::new(role, dir.path().join("store"));
    if role == Role::Business {
        config.profile = Some(me2b_proto::profile::BusinessProfile { name: name.into(), ..Default::default() });
    }
    config.transport = Transport::Network;
    config.listen = vec!["/ip4/127.0.0.1/tcp/0".parse()?];
    config.net.mdns = false;
    config.small_store = true;
    config.intent_window = Duration::from_secs(2);
    Ok(Node::start(secret, config).await?)
}

async fn address(node: &NodeHandle) -> Result<libp2p::Multiaddr> {
    let info = node.info().await?;
    let address = info.listen_addrs.first().context("the node has no listen address")?.clone();
    Ok(address.with(libp2p::multiaddr::Protocol::P2p(info.peer_id)))
}

impl Story {
    async fn join(&mut self, name: &'static str, role: Role, seed: u8) -> Result<PublicKey> {
        let dir = tempfile::tempdir()?;
        let secret = [seed; 32];
        let node = start_node(name, role, secret, &dir).await?;
        let key = node.public_key();
        self.listen(key, &node);
        let member = Member { name, role, secret, dir, node, log: Vec::new(), subscribed: Vec::new() };
        self.members.insert(key, member);
        // Every person's persona toward every business, whichever joined first.
        let members: Vec<(PublicKey, Role)> = self.members.iter().map(|(k, m)| (*k, m.role)).collect();
        for (a, a_role) in &members {
            for (b, b_role) in &members {
                if *a_role == Role::Person && *b_role == Role::Business {
                    let persona = self.persona(*a, *b);
                    self.personas.insert(persona, *a);
                }
            }
        }
        Ok(key)
    }

    /// Forwards a node's events into the story's inbox until the node stops.
    fn listen(&self, key: PublicKey, node: &NodeHandle) {
        let mut events = node.events();
        let inbox = self.inbox_tx.clone();
        tokio::spawn(async move {
            loop {
                match events.recv().await {
                    Ok(event) => {
                        if inbox.send((key, event)).await.is_err() {
                            return;
                        }
                    }
                    // Missed events are only narration; the next one still wakes the story.
                    Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        });
    }

    fn member(&self, who: &PublicKey) -> &Member {
        &self.members[who]
    }

    fn chapter(&mut self, title: &str) {
        self.step += 1;
        if !self.quiet {
            println!("\n{}. {title}", self.step);
        }
    }

    fn say(&self, line: impl AsRef<str>) {
        if !self.quiet {
            println!("   {}", line.as_ref());
        }
    }

    fn name(&self, key: &PublicKey) -> &'static str {
        let member = self.personas.get(key).unwrap_or(key);
        self.members.get(member).map(|m| m.name).unwrap_or("someone")
    }

    /// The identity `person` has toward `business`.
    fn persona(&self, person: PublicKey, business: PublicKey) -> PublicKey {
        self.identities(person).public(Persona::Business(business))
    }

    fn identities(&self, person: PublicKey) -> Identities {
        Identities::new(Keypair::from_secret_bytes(&self.member(&person).secret), true)
    }

    /// Remembers the persona of a person's intent, to name it when a business shows it.
    fn intent_published(&mut self, person: PublicKey, handled: Handled) {
        if let Handled::Intent(id) = handled {
            let persona = self.identities(person).public(Persona::Intent(id));
            self.personas.insert(persona, person);
        }
    }

    async fn command(&self, who: PublicKey, command: Command) -> Result<Handled> {
        let member = self.member(&who);
        member.node.command(command).await.with_context(|| format!("{}'s command failed", member.name))
    }

    async fn set(&self, who: PublicKey, path: &str, value: Value) -> Result<()> {
        self.command(who, Command::SetRecord { path: path.parse()?, value, provenance: Provenance::Owner }).await?;
        Ok(())
    }

    async fn state(&self, who: PublicKey) -> Result<State> {
        Ok(self.member(&who).node.state().await?)
    }

    /// Moves what every node reported so far into its log.
    fn pump(&mut self) {
        while let Ok((key, event)) = self.inbox.try_recv() {
            self.record(key, event);
        }
    }

    fn record(&mut self, key: PublicKey, event: NodeEvent) {
        let Some(member) = self.members.get_mut(&key) else { return };
        match event {
            NodeEvent::Engine(event) => member.log.push(event),
            NodeEvent::PeerSubscribed { peer, topic } => member.subscribed.push((peer, topic)),
            _ => {}
        }
    }

    /// Waits for the next event from any node; `false` when `deadline` passed first.
    async fn next_event(&mut self, deadline: tokio::time::Instant) -> bool {
        match tokio::time::timeout_at(deadline, self.inbox.recv()).await {
            Ok(Some((key, event))) => {
                self.record(key, event);
                true
            }
            Ok(None) | Err(_) => false,
        }
    }

    /// How many events `who` has reported so far.
    fn mark(&mut self, who: &[PublicKey]) -> Vec<(PublicKey, usize)> {
        self.pump();
        who.iter().map(|k| (*k, self.member(k).log.len())).collect()
    }

    /// Waits until `done` holds for the nodes' states and the network is quiet: nothing waits
    /// in an outbox, every negotiation has ended or waits for its owner, and every agreement
    /// that sends data at once has sent it.
    async fn settle(&mut self, what: &str, done: impl Fn(&BTreeMap<PublicKey, State>) -> bool) -> Result<()> {
        let deadline = tokio::time::Instant::now() + STEP_TIMEOUT;
        loop {
            self.pump();
            let mut states = BTreeMap::new();
            for key in self.members.keys() {
                states.insert(*key, self.state(*key).await?);
            }
            let quiet = states.values().all(|state| {
                state.outbox.is_empty()
                    && state.negotiations.values().all(|n| n.state.is_final() || n.awaiting().is_some())
                    && state.agreements.values().all(|a| {
                        !a.is_active() || matches!(a.agreement.terms.usage, Use::Trigger { .. }) || a.last_package > 0
                    })
            });
            if quiet && done(&states) {
                self.pump();
                return Ok(());
            }
            // Every change of state the condition reads is reported by an event (the engine's,
            // or `Delivered` when an outbox message is acknowledged).
            if !self.next_event(deadline).await {
                bail!("the network did not settle within {STEP_TIMEOUT:?} ({what})");
            }
        }
    }

    /// Tells what each event since `marks` means, from each node's point of view.
    fn narrate(&self, marks: &[(PublicKey, usize)]) {
        for (who, mark) in marks {
            let me = self.name(who);
            for event in self.member(who).log.iter().skip(*mark) {
                let line = match event {
                    Event::RequestSeen { business, category, outcome, .. } => {
                        format!("{me}'s agent saw {}'s request in {category}: {outcome}", self.name(business))
                    }
                    Event::AwaitingOwner { reasons, .. } => {
                        let why: Vec<String> = reasons.iter().map(|r| format!("{r:?}")).collect();
                        format!("{me}'s agent asks {me} first ({})", why.join(", "))
                    }
                    Event::Finalized { peer, agreement_id, .. } => {
                        format!("{me} and {} both signed agreement {}", self.name(peer), short(agreement_id))
                    }
                    Event::Terminated { code, reason, by_peer, .. } => {
                        let who_ended = if *by_peer { "the other side" } else { me };
                        format!("{me}: negotiation ended by {who_ended} ({code:?}: {reason})")
                    }
                    Event::DataReceived { fields, .. } => format!("{me} received {}", paths(fields)),
                    Event::OfferReceived { offer, .. } => {
                        format!("{me} got a personal offer: {} for {}", offer.description, offer.price)
                    }
                    Event::DataDeleted { items, .. } => {
                        format!("{me} deleted {items} item(s) and signed a deletion receipt")
                    }
                    Event::DeletionConfirmed { agreement_id } => {
                        format!("{me} holds the signed deletion receipt for {}", short(agreement_id))
                    }
                    Event::IntentSeen { category, answered, .. } => format!(
                        "{me} saw an intent in {category}{}",
                        if *answered { " and answered with an offer" } else { "" }
                    ),
                    _ => continue,
                };
                self.say(line);
            }
        }
    }

    async fn publish(&self, business: PublicKey, category: &str, description: &str, terms: Terms) -> Result<()> {
        let business_name = self.name(&business).to_owned();
        let command = Command::PublishRequest {
            category: category.parse()?,
            business_name,
            description: description.into(),
            terms,
        };
        self.command(business, command).await?;
        Ok(())
    }

    /// Waits until `who` has seen each of `peers` follow `topic` on gossip.
    async fn wait_subscribed(&mut self, who: PublicKey, topic: &str, peers: &[PublicKey]) -> Result<()> {
        let wanted: Vec<_> = peers.iter().filter_map(me2b_node::net::peer_id).collect();
        let deadline = tokio::time::Instant::now() + STEP_TIMEOUT;
        loop {
            self.pump();
            let seen = &self.member(&who).subscribed;
            if wanted.iter().all(|p| seen.iter().any(|(peer, t)| peer == p && t == topic)) {
                return Ok(());
            }
            if !self.next_event(deadline).await {
                bail!("{topic}: not every peer subscribed within {STEP_TIMEOUT:?}");
            }
        }
    }
}

/// What a business holds under an agreement, as it would show it.
fn holdings(state: &State, id: &AgreementId) -> Vec<String> {
    let Some(held) = state.received.get(id) else {
        return vec![];
    };
    held.iter()
        .map(|(path, item)| match &item.content {
            ItemContent::Value(value) => format!("{path} = {}", show(value.expose())),
            ItemContent::Derived { predicate, holds } => format!("{path}: {predicate} -> {holds}"),
            ItemContent::TriggerEvent(event) => format!("{path}: event \"{event}\""),
        })
        .collect()
}

fn short(id: &AgreementId) -> String {
    id.to_string()[..8].to_owned()
}

fn paths(fields: &[FieldPath]) -> String {
    fields.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
}

/// Shows a value the business legitimately received (this is the business's view).
fn show(value: &Value) -> String {
    match value {
        Value::Number(n) => format!("{n}"),
        Value::Text(t) => t.clone(),
        Value::Boolean(b) => format!("{b}"),
        Value::Date(d) => d.to_string(),
        Value::Series(points) => format!("{} measurements", points.len()),
        Value::Codes(codes) => codes.iter().cloned().collect::<Vec<_>>().join(", "),
    }
}

fn path(text: &str) -> Result<FieldPath> {
    Ok(text.parse()?)
}

fn rule(at: &str, share: Share, purposes: &[Purpose]) -> Result<FieldRule> {
    Ok(FieldRule {
        path: path(at)?,
        share,
        purposes: purposes.iter().copied().collect(),
        ask_owner: false,
        max_retention: None,
        categories: Default::default(),
    })
}

/// The start of the running season the shoe makers count from: 180 days ago.
/// The running season began at midnight 180 days ago.
fn season_start() -> Timestamp {
    let day = now().as_millis() / 86_400_000;
    Timestamp::from_millis(day.saturating_sub(180) * 86_400_000)
}

fn runs(km_this_season: f64) -> Value {
    Value::Series(vec![Point::new(season_start().saturating_add(30 * DAY), km_this_season)])
}

fn running_km_at_least(km: f64) -> Predicate {
    Predicate::sum_since(season_start(), km)
}

fn eur(amount: u64) -> Result<Money> {
    Ok(Money::new(amount * 100, "EUR")?)
}

/// The newest active agreement `business` holds with `persona` (a person's identity toward it).
fn agreement_between(business: &State, persona: PublicKey) -> Option<AgreementId> {
    business.agreements.values().filter(|a| a.agreement.person == persona && a.is_active()).map(|a| a.id).next_back()
}

pub fn run(quiet: bool, json: bool) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(story(quiet || json, json))
}

/// The story's participants.
#[derive(Clone, Copy)]
struct Cast {
    ada: PublicKey,
    ben: PublicKey,
    stride: PublicKey,
    pace: PublicKey,
    clinic: PublicKey,
}

async fn story(quiet: bool, json: bool) -> Result<()> {
    let (inbox_tx, inbox) = mpsc::channel(4096);
    let mut story =
        Story { members: BTreeMap::new(), inbox, inbox_tx, quiet, json, step: 0, personas: BTreeMap::new() };
    let cast = Cast {
        ada: story.join("Ada", Role::Person, 1).await?,
        ben: story.join("Ben", Role::Person, 2).await?,
        stride: story.join("Stride Shoes", Role::Business, 3).await?,
        pace: story.join("Pace Running", Role::Business, 4).await?,
        clinic: story.join("Northwind Health", Role::Business, 5).await?,
    };
    if !quiet {
        println!("me2b demo: two people, three businesses; five real nodes on 127.0.0.1 (libp2p over TCP,");
        println!("Noise, Yamux, gossipsub), each with its own encrypted store. Signatures and policies are real.");
    }
    story.fill_stores(cast).await?;
    let ada_stride = story.b2one(cast).await?;
    story.health(cast).await?;
    story.intent(cast).await?;
    let trigger = story.trigger(cast).await?;
    story.offer(cast, trigger).await?;
    story.revoke_offline(cast, ada_stride).await?;
    story.verify_ledgers().await?;
    story.who_learned_what(cast).await?;
    for member in story.members.values() {
        member.node.shutdown().await;
    }
    Ok(())
}
