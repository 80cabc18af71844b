//! `me2b demo`: two people and three businesses, each a real `Node` (libp2p over TCP on
//! loopback, Noise, Yamux, gossipsub, an encrypted sled store in a temporary directory), run
//! every me2b flow, and the story is told step by step with who learned what.

use anyhow::{Context as _, Result, bail, ensure};
use me2b_node::clock::now;
use me2b_node::{Node, NodeConfig, NodeEvent, NodeHandle, Transport};
use me2b_proto::agreement::Lifecycle;
use me2b_proto::engine::{CatalogItem, Command, Event, Handled, Provenance, Role, State};
use me2b_proto::identity::{AgreementId, PublicKey};
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
    step: u32,
}

async fn start_node(role: Role, secret: [u8; 32], dir: &TempDir) -> Result<NodeHandle> {
    let mut config = NodeConfig::new(role, dir.path().join("store"));
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
        let node = start_node(role, secret, &dir).await?;
        let key = node.public_key();
        self.listen(key, &node);
        let member = Member { name, role, secret, dir, node, log: Vec::new(), subscribed: Vec::new() };
        self.members.insert(key, member);
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
        self.members.get(key).map(|m| m.name).unwrap_or("someone")
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
    Value::Series(vec![Point { at: season_start().saturating_add(30 * DAY), value: km_this_season }])
}

fn running_km_at_least(km: f64) -> Predicate {
    Predicate::SumSinceAtLeast { since: season_start(), threshold: km }
}

fn eur(amount: u64) -> Result<Money> {
    Ok(Money::new(amount * 100, "EUR")?)
}

fn agreement_between(business: &State, person: PublicKey) -> Option<AgreementId> {
    business.agreements.values().filter(|a| a.agreement.person == person && a.is_active()).map(|a| a.id).next_back()
}

pub fn run(quiet: bool) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(story(quiet))
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

async fn story(quiet: bool) -> Result<()> {
    let (inbox_tx, inbox) = mpsc::channel(4096);
    let mut story = Story { members: BTreeMap::new(), inbox, inbox_tx, quiet, step: 0 };
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

/// The chapters of the story, in order.
impl Story {
    /// People fill their stores, set their limits, follow categories; everyone connects.
    async fn fill_stores(&mut self, cast: Cast) -> Result<()> {
        let Cast { ada, ben, stride, pace, clinic } = cast;
        self.chapter("People fill their personal data stores and set their limits");
        let ada_policy = Policy {
            rules: vec![
                rule("body", Share::Raw, &[Purpose::PersonalisedOffers])?,
                rule("activity", Share::DerivedOnly, &[Purpose::PersonalisedOffers])?,
                rule("profile.birthdate", Share::DerivedOnly, &[Purpose::Research])?,
                rule("health", Share::Raw, &[Purpose::Research])?,
            ],
            max_retention: 90 * DAY,
            max_contact: Some(ContactPermission { max_messages: 2, per_period: 30 * DAY }),
            ..Policy::default()
        };
        let ben_policy = Policy {
            rules: vec![
                rule("body", Share::Raw, &[Purpose::PersonalisedOffers])?,
                rule("health", Share::Raw, &[Purpose::Research])?,
            ],
            max_retention: 30 * DAY,
            min_compensation: Compensation::Discount { percent: 15 },
            ..Policy::default()
        };
        for (who, policy, size, km, birth) in
            [(ada, ada_policy, 44.0, 450.0, (1990, 5, 17)), (ben, ben_policy, 42.0, 120.0, (1985, 2, 3))]
        {
            self.command(who, Command::SetPolicy(policy)).await?;
            self.set(who, "body.shoe_size_eu", Value::Number(size)).await?;
            self.set(who, "activity.running_km", runs(km)).await?;
            let (y, m, d) = birth;
            self.set(who, "profile.birthdate", Value::Date(Date::new(y, m, d).context("date")?)).await?;
            self.set(who, "health.acquired.asthma", Value::Boolean(who == ada)).await?;
            self.set(who, "profile.email", Value::Text("private@example.org".into())).await?;
            for category in ["apparel.shoes", "health.research"] {
                self.command(who, Command::Subscribe(category.parse()?)).await?;
            }
        }
        self.say("Ada: shoe size, running log, birth date, a health record, e-mail. Shares body data for offers,");
        self.say("     running only as derived facts, health only for research (always asking her first).");
        self.say("Ben: similar, but keeps data 30 days at most and wants at least 15% off.");
        for business in [stride, pace] {
            self.command(business, Command::Subscribe("apparel.shoes".parse()?)).await?;
        }
        self.command(clinic, Command::Subscribe("health.research".parse()?)).await?;
        self.command(stride, Command::SetBusinessPolicy(BusinessPolicy::default())).await?;

        // Everyone connects to everyone (on a LAN, mDNS would do this; on the Internet, the DHT).
        let keys: Vec<PublicKey> = self.members.keys().copied().collect();
        for (i, from) in keys.iter().enumerate() {
            for to in &keys[i + 1..] {
                let target = address(&self.member(to).node).await?;
                self.member(from).node.dial(target).await?;
            }
        }
        self.wait_subscribed(stride, "me2b/v1/requests/apparel.shoes", &[ada, ben]).await?;
        self.wait_subscribed(clinic, "me2b/v1/requests/health.research", &[ada, ben]).await?;
        self.say("five nodes connected; the people follow apparel.shoes and health.research");
        Ok(())
    }

    /// A business asks (B2One): Stride's request, Ada's counter-offer; returns their agreement.
    async fn b2one(&mut self, cast: Cast) -> Result<AgreementId> {
        let Cast { ada, ben, stride, .. } = cast;
        self.chapter("Stride Shoes broadcasts a data request (B2One) and the agents negotiate");
        let request = Terms {
            fields: vec![
                FieldRequest::raw(path("body.shoe_size_eu")?),
                FieldRequest::derived(path("activity.running_km")?, running_km_at_least(600.0)).optional(),
                FieldRequest::raw(path("profile.email")?).optional(),
            ],
            purpose: Purpose::PersonalisedOffers,
            retention: 365 * DAY,
            usage: Use::OneTime,
            onward_sharing: true,
            compensation: Compensation::Discount { percent: 15 },
            contact: Some(ContactPermission { max_messages: 1, per_period: 30 * DAY }),
            jurisdiction: "EU".into(),
            expires_at: now().saturating_add(7 * DAY),
        };
        self.say(
            "asks: shoe size, running >= 600 km this season (derived), e-mail (optional); keep 1 year; may share on",
        );
        let marks = self.mark(&[ada, ben, stride]);
        self.publish(stride, "apparel.shoes", "Shoes fitted to how you run", request).await?;
        self.settle("Stride's request", |states| {
            [ada, ben].iter().all(|p| !states[p].requests.is_empty())
                && agreement_between(&states[&stride], ada).is_some()
        })
        .await?;
        self.narrate(&marks);
        let stride_state = self.state(stride).await?;
        let ada_stride = agreement_between(&stride_state, ada).context("Ada and Stride did not agree")?;
        let agreed = &stride_state.agreements[&ada_stride].agreement.terms;
        self.say(format!(
            "Ada's counter-offer was signed: {} days retention (asked 365), onward sharing {}, fields: {}",
            agreed.retention.as_secs() / 86_400,
            if agreed.onward_sharing { "allowed" } else { "refused" },
            paths(&agreed.fields.iter().map(|f| f.path.clone()).collect::<Vec<_>>())
        ));
        self.say(format!("Stride learned from Ada: {}", holdings(&stride_state, &ada_stride).join("; ")));
        if let Some(ben_stride) = agreement_between(&stride_state, ben) {
            self.say(format!("Stride learned from Ben: {}", holdings(&stride_state, &ben_stride).join("; ")));
        }
        Ok(ada_stride)
    }

    /// Sensitive data asks the owner: Ada approves, Ben declines.
    async fn health(&mut self, cast: Cast) -> Result<()> {
        let Cast { ada, ben, clinic, .. } = cast;
        self.chapter("Northwind Health asks for health data for research: the owners decide");
        let health = Terms {
            fields: vec![
                FieldRequest::raw(path("health.acquired.asthma")?),
                FieldRequest::derived(path("profile.birthdate")?, Predicate::AgeAtLeast { years: 18 }).optional(),
            ],
            purpose: Purpose::Research,
            retention: 30 * DAY,
            usage: Use::OneTime,
            onward_sharing: false,
            compensation: Compensation::Money(eur(20)?),
            contact: None,
            jurisdiction: "EU".into(),
            expires_at: now().saturating_add(7 * DAY),
        };
        let marks = self.mark(&[ada, ben, clinic]);
        self.publish(clinic, "health.research", "Asthma in adult runners", health).await?;
        let awaiting = |state: &State| state.negotiations.awaiting_owner().next().is_some();
        self.settle("Northwind's request", |states| awaiting(&states[&ada]) && awaiting(&states[&ben])).await?;
        self.narrate(&marks);
        let marks = self.mark(&[clinic]);
        for (who, approve) in [(ada, true), (ben, false)] {
            let state = self.state(who).await?;
            let pending: Vec<_> = state.negotiations.awaiting_owner().map(|n| n.id).collect();
            for id in pending {
                self.say(format!("{} {}", self.name(&who), if approve { "approves" } else { "declines" }));
                self.command(who, if approve { Command::Approve(id) } else { Command::Decline(id) }).await?;
            }
        }
        self.settle("the owners' decisions", |states| agreement_between(&states[&clinic], ada).is_some()).await?;
        self.narrate(&marks);
        let clinic_state = self.state(clinic).await?;
        let ada_clinic =
            agreement_between(&clinic_state, ada).context("Ada's approval did not lead to an agreement")?;
        self.say(format!("Northwind learned from Ada: {}", holdings(&clinic_state, &ada_clinic).join("; ")));
        ensure!(agreement_between(&clinic_state, ben).is_none(), "Ben declined, yet an agreement exists");
        self.say("Northwind learned nothing about Ben: his agent never contacted it.");
        Ok(())
    }

    /// A person asks (C2B): Ada's intent, two competing offers, aggregate demand.
    async fn intent(&mut self, cast: Cast) -> Result<()> {
        let Cast { ada, stride, pace, .. } = cast;
        self.chapter("Ada broadcasts an intent (C2B): running shoes, EU 44, at most 120 EUR");
        let catalog = |price: u64, percent: u8| -> Result<Vec<CatalogItem>> {
            Ok(vec![CatalogItem {
                category: "apparel.shoes".parse()?,
                spec: BTreeMap::from([("size_eu".to_string(), (38..=46).map(|s| s.to_string()).collect())]),
                description: "Trail runner".into(),
                price: eur(price)?,
                terms: Terms {
                    fields: vec![FieldRequest::raw(path("body.shoe_size_eu")?)],
                    purpose: Purpose::PersonalisedOffers,
                    retention: 30 * DAY,
                    usage: Use::OneTime,
                    onward_sharing: false,
                    compensation: Compensation::Discount { percent },
                    contact: None,
                    jurisdiction: "EU".into(),
                    expires_at: Timestamp::EPOCH,
                },
            }])
        };
        self.command(stride, Command::SetCatalog(catalog(110, 10)?)).await?;
        self.command(pace, Command::SetCatalog(catalog(105, 20)?)).await?;
        self.wait_subscribed(ada, "me2b/v1/intents/apparel.shoes", &[stride, pace]).await?;
        let marks = self.mark(&[stride, pace, ada]);
        let before = self.state(ada).await?.agreements.len();
        self.command(
            ada,
            Command::PublishIntent {
                category: "apparel.shoes".parse()?,
                spec: BTreeMap::from([("size_eu".into(), "44".into()), ("kind".into(), "running".into())]),
                max_price: Some(eur(120)?),
                shares: vec![],
                expires_at: now().saturating_add(14 * DAY),
            },
        )
        .await?;
        self.say("Ada's agent collects answers for two seconds, then takes the best one");
        self.settle("Ada's intent", |states| states[&ada].agreements.len() > before).await?;
        self.narrate(&marks);
        let demand = self.state(stride).await?.demand;
        let lines: Vec<String> = demand
            .iter()
            .map(|((category, spec), n)| format!("{category} {}: {n}", if spec.is_empty() { "(all)" } else { spec }))
            .collect();
        self.say(format!("Stride's view of aggregate demand: {}", lines.join(", ")));
        Ok(())
    }

    /// A trigger agreement that tells Stride only "replacement due"; returns it.
    async fn trigger(&mut self, cast: Cast) -> Result<AgreementId> {
        let Cast { ada, stride, .. } = cast;
        self.chapter("A trigger: Stride may learn only \"replacement due\" when Ada passes 600 km");
        let trigger = Terms {
            fields: vec![FieldRequest::raw(path("body.shoe_size_eu")?)],
            purpose: Purpose::PersonalisedOffers,
            retention: 60 * DAY,
            usage: Use::Trigger {
                path: path("activity.running_km")?,
                predicate: running_km_at_least(600.0),
                event: "replacement-due".into(),
            },
            onward_sharing: false,
            compensation: Compensation::Discount { percent: 20 },
            contact: Some(ContactPermission { max_messages: 1, per_period: 30 * DAY }),
            jurisdiction: "EU".into(),
            expires_at: now().saturating_add(7 * DAY),
        };
        self.publish(stride, "apparel.shoes", "We tell you when your shoes are worn out", trigger).await?;
        let trigger_of = |state: &State| {
            state
                .agreements
                .values()
                .find(|a| a.agreement.person == ada && matches!(a.agreement.terms.usage, Use::Trigger { .. }))
                .map(|a| a.id)
        };
        self.settle("the trigger request", |states| trigger_of(&states[&stride]).is_some()).await?;
        let trigger_agreement = trigger_of(&self.state(stride).await?).context("no trigger agreement")?;
        self.say(format!("agreed; Stride holds: {:?}", holdings(&self.state(stride).await?, &trigger_agreement)));
        for km in [520.0, 610.0, 680.0] {
            self.set(ada, "activity.running_km", runs(km)).await?;
            let fires = km >= 600.0;
            self.settle("Ada's running log", |states| {
                !fires || states[&stride].received.get(&trigger_agreement).is_some_and(|held| !held.is_empty())
            })
            .await?;
            self.say(format!(
                "Ada's running log reaches {km} km -> Stride holds: {:?}",
                holdings(&self.state(stride).await?, &trigger_agreement)
            ));
        }
        Ok(trigger_agreement)
    }

    /// A personal offer under the trigger agreement, and the contact cap.
    async fn offer(&mut self, cast: Cast, trigger_agreement: AgreementId) -> Result<()> {
        let Cast { ada, stride, .. } = cast;
        self.chapter("Stride pushes a personal offer, within the agreed contact cap");
        let offer = ProductOffer {
            description: "Trail runner EU 44, 20% off".into(),
            price: eur(88)?,
            valid_until: now().saturating_add(14 * DAY),
        };
        let marks = self.mark(&[ada]);
        self.command(stride, Command::SendOffer { agreement_id: trigger_agreement, offer: offer.clone() }).await?;
        self.settle("the offer", |states| {
            states[&ada].agreements.get(&trigger_agreement).is_some_and(|a| !a.offers.is_empty())
        })
        .await?;
        self.narrate(&marks);
        match self.member(&stride).node.command(Command::SendOffer { agreement_id: trigger_agreement, offer }).await {
            Err(error) => self.say(format!("a second offer the same month is refused: {error}")),
            Ok(_) => bail!("the contact cap did not hold"),
        }
        Ok(())
    }

    /// Ada revokes while Stride is offline; the receipt arrives when it returns.
    async fn revoke_offline(&mut self, cast: Cast, ada_stride: AgreementId) -> Result<()> {
        let Cast { ada, stride, .. } = cast;
        self.chapter("Ada revokes Stride's first agreement while Stride is offline");
        self.member(&stride).node.shutdown().await;
        self.command(ada, Command::Revoke { agreement_id: ada_stride, reason: "no longer interested".into() }).await?;
        let outbox = self.state(ada).await?.outbox.len();
        self.say(format!("Stride's node is down; the revocation waits in Ada's outbox ({outbox} message(s))"));
        let member = self.members.get_mut(&stride).context("Stride")?;
        member.node = start_node(member.role, member.secret, &member.dir).await?;
        member.subscribed.clear();
        let held = holdings(&member.node.state().await?, &ada_stride);
        self.listen(stride, &self.member(&stride).node);
        self.say(format!("Stride comes back from its store, still holding: {}", held.join("; ")));
        let marks = self.mark(&[stride, ada]);
        let ada_address = address(&self.member(&ada).node).await?;
        self.member(&stride).node.dial(ada_address).await?;
        self.settle("the revocation", |states| {
            matches!(states[&ada].agreements[&ada_stride].lifecycle, Lifecycle::Deleted { .. })
        })
        .await?;
        self.narrate(&marks);
        let stride_state = self.state(stride).await?;
        ensure!(holdings(&stride_state, &ada_stride).is_empty(), "Stride still holds revoked data");
        self.say(format!(
            "agreement {} is {} on both sides; Stride holds nothing under it",
            short(&ada_stride),
            stride_state.agreements[&ada_stride].lifecycle.name()
        ));
        Ok(())
    }

    /// Every ledger verifies.
    async fn verify_ledgers(&mut self) -> Result<()> {
        self.chapter("Every ledger is verified");
        for (key, member) in &self.members {
            let (entries, head) = member.node.query(|engine, store| (store.ledger(), engine.state().ledger)).await?;
            let entries = me2b_proto::ledger::verify(&entries?, key, Some(&head))
                .with_context(|| format!("{}'s ledger does not verify", member.name))?;
            self.say(format!("{}: {} entries, chain and signatures intact", member.name, entries.len()));
        }
        Ok(())
    }

    /// Prints what each business holds from whom.
    async fn who_learned_what(&mut self, cast: Cast) -> Result<()> {
        let Cast { stride, pace, clinic, .. } = cast;
        println!("\nWho learned what:");
        for business in [stride, pace, clinic] {
            let state = self.state(business).await?;
            for record in state.agreements.values() {
                let person = self.name(&record.agreement.person);
                let held = holdings(&state, &record.id);
                println!(
                    "  {:<16} from {:<4} [{}] {}",
                    self.name(&business),
                    person,
                    record.lifecycle.name(),
                    if held.is_empty() { "holds nothing".to_owned() } else { held.join("; ") }
                );
            }
        }
        println!("Nothing else left the people's nodes. Demo complete.");
        Ok(())
    }
}
