//! `me2b demo`: two people and three businesses run every me2b flow between real protocol
//! engines (signatures, policy, negotiation, ledgers), connected by an in-memory network in
//! virtual time, and the story is told step by step with who learned what.

use anyhow::{Context as _, Result, bail, ensure};
use me2b_proto::agreement::Lifecycle;
use me2b_proto::engine::{CatalogItem, Command, Event, Handled, Input, Provenance, Role};
use me2b_proto::harness::Network;
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

const DAY: Duration = Duration::from_secs(86_400);
/// The story starts on 2026-11-23.
const START: Timestamp = Timestamp::from_millis(20_780 * 86_400_000);
/// 2026-01-01
const YEAR_START: Timestamp = Timestamp::from_millis(20_454 * 86_400_000);

struct Story {
    net: Network,
    names: BTreeMap<PublicKey, &'static str>,
    quiet: bool,
    step: u32,
}

impl Story {
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
        self.names.get(key).copied().unwrap_or("someone")
    }

    fn command(&mut self, who: PublicKey, command: Command) -> Result<Handled> {
        let name = self.name(&who);
        self.net.input(who, Input::Command(command)).with_context(|| format!("{name}'s command failed"))
    }

    fn set(&mut self, who: PublicKey, path: &str, value: Value) -> Result<()> {
        self.command(who, Command::SetRecord { path: path.parse()?, value, provenance: Provenance::Owner })?;
        Ok(())
    }

    /// Events a node reported since `from`.
    fn events_since(&self, who: PublicKey, from: usize) -> Vec<Event> {
        self.net.peer(&who).events.iter().skip(from).cloned().collect()
    }

    fn event_count(&self, who: PublicKey) -> usize {
        self.net.peer(&who).events.len()
    }

    /// Tells what each event means, from `who`'s point of view.
    fn narrate(&self, who: PublicKey, events: &[Event]) {
        let me = self.name(&who);
        for event in events {
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

    /// What a business holds under an agreement, as it would show it.
    fn holdings(&self, business: PublicKey, id: &AgreementId) -> Vec<String> {
        let Some(held) = self.net.peer(&business).engine.state().received.get(id) else {
            return vec![];
        };
        held.iter()
            .map(|(path, item)| match &item.content {
                ItemContent::Value(value) => format!("{path} = {}", show(value.expose())),
                ItemContent::Derived { predicate, holds } => {
                    format!("{path}: {predicate} -> {holds}")
                }
                ItemContent::TriggerEvent(event) => format!("{path}: event \"{event}\""),
            })
            .collect()
    }
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

fn runs(km_since_january: f64) -> Value {
    Value::Series(vec![Point { at: YEAR_START.saturating_add(30 * DAY), value: km_since_january }])
}

fn running_km_at_least(km: f64) -> Predicate {
    Predicate::SumSinceAtLeast { since: YEAR_START, threshold: km }
}

fn eur(amount: u64) -> Result<Money> {
    Ok(Money::new(amount * 100, "EUR")?)
}

fn agreement_between(story: &Story, business: PublicKey, person: PublicKey) -> Option<AgreementId> {
    story
        .net
        .peer(&business)
        .engine
        .state()
        .agreements
        .values()
        .filter(|a| a.agreement.person == person && a.is_active())
        .map(|a| a.id)
        .next_back()
}

pub fn run(quiet: bool) -> Result<()> {
    let mut story =
        Story { net: Network::new(START, Duration::from_millis(40)), names: BTreeMap::new(), quiet, step: 0 };
    let ada = story.net.add(Role::Person, 1);
    let ben = story.net.add(Role::Person, 2);
    let stride = story.net.add(Role::Business, 3);
    let pace = story.net.add(Role::Business, 4);
    let clinic = story.net.add(Role::Business, 5);
    for (key, name) in
        [(ada, "Ada"), (ben, "Ben"), (stride, "Stride Shoes"), (pace, "Pace Running"), (clinic, "Northwind Health")]
    {
        story.names.insert(key, name);
    }
    if !quiet {
        println!("me2b demo: two people, three businesses, real signatures and policies, virtual time.");
        println!("Every node runs the same protocol engine; the network between them is in memory.");
    }

    story.chapter("People fill their personal data stores and set their limits");
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
        story.command(who, Command::SetPolicy(policy))?;
        story.set(who, "body.shoe_size_eu", Value::Number(size))?;
        story.set(who, "activity.running_km", runs(km))?;
        let (y, m, d) = birth;
        story.set(who, "profile.birthdate", Value::Date(Date::new(y, m, d).context("date")?))?;
        story.set(who, "health.acquired.asthma", Value::Boolean(who == ada))?;
        story.set(who, "profile.email", Value::Text("private@example.org".into()))?;
        for category in ["apparel.shoes", "health.research"] {
            story.command(who, Command::Subscribe(category.parse()?))?;
        }
    }
    story.say("Ada: shoe size, running log, birth date, a health record, e-mail. Shares body data for offers,");
    story.say("     running only as derived facts, health only for research (always asking her first).");
    story.say("Ben: similar, but keeps data 30 days at most and wants at least 15% off.");
    for business in [stride, pace] {
        story.command(business, Command::Subscribe("apparel.shoes".parse()?))?;
    }
    story.command(clinic, Command::Subscribe("health.research".parse()?))?;
    story.command(stride, Command::SetBusinessPolicy(BusinessPolicy::default()))?;

    story.chapter("Stride Shoes broadcasts a data request (B2One) and the agents negotiate");
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
        expires_at: START.saturating_add(7 * DAY),
    };
    story.say("asks: shoe size, running >= 600 km this year (derived), e-mail (optional); keep 1 year; may share on");
    let marks: Vec<(PublicKey, usize)> = [ada, ben, stride].iter().map(|k| (*k, story.event_count(*k))).collect();
    story.command(
        stride,
        Command::PublishRequest {
            category: "apparel.shoes".parse()?,
            business_name: "Stride Shoes".into(),
            description: "Shoes fitted to how you run".into(),
            terms: request,
        },
    )?;
    story.net.settle();
    for (who, mark) in &marks {
        let events = story.events_since(*who, *mark);
        story.narrate(*who, &events);
    }
    let ada_stride = agreement_between(&story, stride, ada).context("Ada and Stride did not agree")?;
    let agreed = &story.net.peer(&stride).engine.state().agreements[&ada_stride].agreement.terms;
    story.say(format!(
        "Ada's counter-offer was signed: {} days retention (asked 365), onward sharing {}, fields: {}",
        agreed.retention.as_secs() / 86_400,
        if agreed.onward_sharing { "allowed" } else { "refused" },
        paths(&agreed.fields.iter().map(|f| f.path.clone()).collect::<Vec<_>>())
    ));
    story.say(format!("Stride learned from Ada: {}", story.holdings(stride, &ada_stride).join("; ")));
    if let Some(ben_stride) = agreement_between(&story, stride, ben) {
        story.say(format!("Stride learned from Ben: {}", story.holdings(stride, &ben_stride).join("; ")));
    }

    story.chapter("Northwind Health asks for health data for research: the owners decide");
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
        expires_at: START.saturating_add(7 * DAY),
    };
    let marks: Vec<(PublicKey, usize)> = [ada, ben, clinic].iter().map(|k| (*k, story.event_count(*k))).collect();
    story.command(
        clinic,
        Command::PublishRequest {
            category: "health.research".parse()?,
            business_name: "Northwind Health".into(),
            description: "Asthma in adult runners".into(),
            terms: health,
        },
    )?;
    story.net.settle();
    for (who, mark) in &marks {
        let events = story.events_since(*who, *mark);
        story.narrate(*who, &events);
    }
    for (who, approve) in [(ada, true), (ben, false)] {
        let pending: Vec<_> = story
            .net
            .peer(&who)
            .engine
            .state()
            .negotiations
            .values()
            .filter(|n| n.state == me2b_proto::negotiation::State::AwaitingOwner)
            .map(|n| n.id)
            .collect();
        for id in pending {
            story.say(format!("{} {}", story.name(&who), if approve { "approves" } else { "declines" }));
            story.command(who, if approve { Command::Approve(id) } else { Command::Decline(id) })?;
        }
    }
    let mark = story.event_count(clinic);
    story.net.settle();
    let events = story.events_since(clinic, mark);
    story.narrate(clinic, &events);
    let ada_clinic = agreement_between(&story, clinic, ada).context("Ada's approval did not lead to an agreement")?;
    story.say(format!("Northwind learned from Ada: {}", story.holdings(clinic, &ada_clinic).join("; ")));
    ensure!(agreement_between(&story, clinic, ben).is_none(), "Ben declined, yet an agreement exists");
    story.say("Northwind learned nothing about Ben: his agent never contacted it.");

    story.chapter("Ada broadcasts an intent (C2B): running shoes, EU 44, at most 120 EUR");
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
                expires_at: START,
            },
        }])
    };
    story.command(stride, Command::SetCatalog(catalog(110, 10)?))?;
    story.command(pace, Command::SetCatalog(catalog(105, 20)?))?;
    let marks: Vec<(PublicKey, usize)> = [stride, pace, ada].iter().map(|k| (*k, story.event_count(*k))).collect();
    story.command(
        ada,
        Command::PublishIntent {
            category: "apparel.shoes".parse()?,
            spec: BTreeMap::from([("size_eu".into(), "44".into()), ("kind".into(), "running".into())]),
            max_price: Some(eur(120)?),
            shares: vec![],
            expires_at: START.saturating_add(14 * DAY),
        },
    )?;
    story.net.advance(Duration::from_secs(30));
    for (who, mark) in &marks {
        let events = story.events_since(*who, *mark);
        story.narrate(*who, &events);
    }
    let demand = &story.net.peer(&stride).engine.state().demand;
    let lines: Vec<String> = demand
        .iter()
        .map(|((category, spec), n)| format!("{category} {}: {n}", if spec.is_empty() { "(all)" } else { spec }))
        .collect();
    story.say(format!("Stride's view of aggregate demand: {}", lines.join(", ")));

    story.chapter("A trigger: Stride may learn only \"replacement due\" when Ada passes 600 km");
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
        expires_at: START.saturating_add(7 * DAY),
    };
    story.command(
        stride,
        Command::PublishRequest {
            category: "apparel.shoes".parse()?,
            business_name: "Stride Shoes".into(),
            description: "We tell you when your shoes are worn out".into(),
            terms: trigger,
        },
    )?;
    story.net.settle();
    let trigger_agreement = story
        .net
        .peer(&stride)
        .engine
        .state()
        .agreements
        .values()
        .find(|a| a.agreement.person == ada && matches!(a.agreement.terms.usage, Use::Trigger { .. }))
        .map(|a| a.id)
        .context("no trigger agreement")?;
    story.say(format!("agreed; Stride holds: {:?}", story.holdings(stride, &trigger_agreement)));
    for km in [520.0, 610.0, 680.0] {
        story.set(ada, "activity.running_km", runs(km))?;
        story.net.settle();
        story.say(format!(
            "Ada's running log reaches {km} km -> Stride holds: {:?}",
            story.holdings(stride, &trigger_agreement)
        ));
    }

    story.chapter("Stride pushes a personal offer, within the agreed contact cap");
    let offer = ProductOffer {
        description: "Trail runner EU 44, 20% off".into(),
        price: eur(88)?,
        valid_until: story.net.now().saturating_add(14 * DAY),
    };
    let mark = story.event_count(ada);
    story.command(stride, Command::SendOffer { agreement_id: trigger_agreement, offer: offer.clone() })?;
    story.net.settle();
    let events = story.events_since(ada, mark);
    story.narrate(ada, &events);
    match story.net.input(stride, Input::Command(Command::SendOffer { agreement_id: trigger_agreement, offer })) {
        Err(error) => story.say(format!("a second offer the same month is refused: {error}")),
        Ok(_) => bail!("the contact cap did not hold"),
    }

    story.chapter("Ada revokes Stride's first agreement while Stride is offline");
    story.net.set_online(stride, false);
    story.command(ada, Command::Revoke { agreement_id: ada_stride, reason: "no longer interested".into() })?;
    story.net.advance(Duration::from_secs(600));
    story.say(format!(
        "Stride is offline; the revocation waits in Ada's outbox ({} message(s)); Stride still holds: {}",
        story.net.peer(&ada).engine.state().outbox.len(),
        story.holdings(stride, &ada_stride).join("; ")
    ));
    let marks: Vec<(PublicKey, usize)> = [stride, ada].iter().map(|k| (*k, story.event_count(*k))).collect();
    story.net.set_online(stride, true);
    story.net.settle();
    for (who, mark) in &marks {
        let events = story.events_since(*who, *mark);
        story.narrate(*who, &events);
    }
    let state = story.net.peer(&ada).engine.state().agreements[&ada_stride].lifecycle;
    ensure!(matches!(state, Lifecycle::Deleted { .. }), "the revocation did not complete: {}", state.name());
    ensure!(story.holdings(stride, &ada_stride).is_empty(), "Stride still holds revoked data");
    story.say(format!(
        "agreement {} is {} on both sides; Stride holds nothing under it",
        short(&ada_stride),
        state.name()
    ));

    story.chapter("Every ledger is verified");
    let nodes = [ada, ben, stride, pace, clinic];
    for who in nodes {
        let peer = story.net.peer(&who);
        let entries = me2b_proto::ledger::verify(&peer.ledger, &who, Some(&peer.engine.state().ledger))
            .with_context(|| format!("{}'s ledger does not verify", story.name(&who)))?;
        story.say(format!("{}: {} entries, chain and signatures intact", story.name(&who), entries.len()));
    }

    println!("\nWho learned what:");
    for business in [stride, pace, clinic] {
        for record in story.net.peer(&business).engine.state().agreements.values() {
            let person = story.name(&record.agreement.person);
            let held = story.holdings(business, &record.id);
            println!(
                "  {:<16} from {:<4} [{}] {}",
                story.name(&business),
                person,
                record.lifecycle.name(),
                if held.is_empty() { "holds nothing".to_owned() } else { held.join("; ") }
            );
        }
    }
    println!("Nothing else left the people's nodes. Demo complete.");
    Ok(())
}
