//! The fixtures every crate's tests share: a person with a vault and a policy, a shoe maker
//! with its terms and catalog, a health-research institute, and helpers to drive them on a
//! [`Network`] in virtual time. The node's tests, the end-to-end tests and the demo build their
//! people and businesses from the same pieces.
//!
//! Fixtures parse literals and drive a [`Network`] that they set up themselves; a failure here
//! is a broken fixture, so they panic rather than return errors.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use super::Network;
use crate::engine::{CatalogItem, Command, Event, Input, Provenance, Role};
use crate::identity::PublicKey;
use crate::policy::{BusinessPolicy, FieldRule, Policy, Share};
use crate::predicate::Predicate;
use crate::terms::{Compensation, ContactPermission, FieldRequest, Money, Terms, Use};
use crate::time::Timestamp;
use crate::value::{Date, Point, Value};
use crate::vocab::{FieldPath, Purpose};
use std::collections::BTreeMap;
use std::time::Duration;

pub const DAY: Duration = Duration::from_secs(86_400);
/// 2026-11-23T00:00:00Z
pub const START: Timestamp = Timestamp::from_millis(20_780 * 86_400_000);
/// 2026-01-01
pub const YEAR_START: Timestamp = Timestamp::from_millis(20_454 * 86_400_000);

pub fn path(text: &str) -> FieldPath {
    text.parse().unwrap()
}

pub fn rule(at: &str, share: Share, purposes: &[Purpose]) -> FieldRule {
    FieldRule {
        path: path(at),
        share,
        purposes: purposes.iter().copied().collect(),
        ask_owner: false,
        max_retention: None,
        categories: Default::default(),
    }
}

pub fn person_policy() -> Policy {
    Policy {
        rules: vec![
            rule("body", Share::Raw, &[Purpose::PersonalisedOffers, Purpose::ProductDevelopment]),
            rule("activity", Share::DerivedOnly, &[Purpose::PersonalisedOffers]),
            rule("profile.birthdate", Share::DerivedOnly, &[Purpose::PersonalisedOffers, Purpose::Research]),
            rule("health", Share::Raw, &[Purpose::Research, Purpose::HealthCare]),
        ],
        max_retention: 60 * DAY,
        min_compensation: Compensation::None,
        allow_onward_sharing: false,
        max_contact: Some(ContactPermission { max_messages: 2, per_period: 30 * DAY }),
        ..Policy::default()
    }
}

pub fn running_km(total_since_year_start: f64) -> Value {
    Value::Series(vec![
        Point::new(Timestamp::from_millis(YEAR_START.as_millis() - 10 * 86_400_000), 1000.0),
        Point::new(Timestamp::from_millis(YEAR_START.as_millis() + 86_400_000), total_since_year_start),
    ])
}

pub fn shoe_terms(expires_at: Timestamp) -> Terms {
    Terms {
        fields: vec![
            FieldRequest::raw(path("body.shoe_size_eu")),
            FieldRequest::derived(path("activity.running_km"), Predicate::sum_since(YEAR_START, 600.0)).optional(),
        ],
        purpose: Purpose::PersonalisedOffers,
        retention: 30 * DAY,
        usage: Use::OneTime,
        onward_sharing: false,
        compensation: Compensation::Discount { percent: 10 },
        contact: Some(ContactPermission { max_messages: 1, per_period: 30 * DAY }),
        jurisdiction: "EU".into(),
        expires_at,
    }
}

pub fn health_terms(expires_at: Timestamp) -> Terms {
    Terms {
        fields: vec![
            FieldRequest::raw(path("health.acquired.asthma")),
            FieldRequest::derived(path("profile.birthdate"), Predicate::AgeAtLeast { years: 18 }),
        ],
        purpose: Purpose::Research,
        retention: 60 * DAY,
        usage: Use::OneTime,
        onward_sharing: false,
        compensation: Compensation::Money(Money::new(2_000, "EUR").unwrap()),
        contact: None,
        jurisdiction: "EU".into(),
        expires_at,
    }
}

pub struct World {
    pub net: Network,
    pub person: PublicKey,
    pub shoes: PublicKey,
    pub clinic: PublicKey,
}

pub fn set(net: &mut Network, who: PublicKey, at: &str, value: Value) {
    net.input(who, Input::Command(Command::SetRecord { path: path(at), value, provenance: Provenance::Owner }))
        .unwrap();
}

pub fn command(net: &mut Network, who: PublicKey, command: Command) -> crate::engine::Handled {
    net.input(who, Input::Command(command)).unwrap()
}

/// A person following shoes and health research, a shoe maker, a research institute.
pub fn world() -> World {
    let mut net = Network::new(START, Duration::from_millis(20));
    let person = net.add(Role::Person, 1);
    let shoes = net.add(Role::Business, 2);
    let clinic = net.add(Role::Business, 3);
    command(&mut net, person, Command::SetPolicy(person_policy()));
    for category in ["apparel.shoes", "health.research"] {
        command(&mut net, person, Command::Subscribe(category.parse().unwrap()));
    }
    set(&mut net, person, "body.shoe_size_eu", Value::Number(44.0));
    set(&mut net, person, "activity.running_km", running_km(450.0));
    set(&mut net, person, "profile.birthdate", Value::Date(Date::new(1990, 5, 17).unwrap()));
    set(&mut net, person, "health.acquired.asthma", Value::Boolean(true));
    set(&mut net, person, "profile.email", Value::Text("ada@example.org".into()));
    command(&mut net, shoes, Command::SetBusinessPolicy(BusinessPolicy::default()));
    command(&mut net, shoes, Command::Subscribe("apparel.shoes".parse().unwrap()));
    command(&mut net, clinic, Command::Subscribe("health.research".parse().unwrap()));
    World { net, person, shoes, clinic }
}

pub fn shoe_catalog(price_minor: u64, percent: u8, expires_at: Timestamp) -> Vec<CatalogItem> {
    let mut terms = shoe_terms(expires_at);
    terms.compensation = Compensation::Discount { percent };
    vec![CatalogItem {
        category: "apparel.shoes".parse().unwrap(),
        spec: BTreeMap::from([("size_eu".to_string(), (38..=47).map(|s| s.to_string()).collect())]),
        description: "Trail runner".into(),
        price: Money::new(price_minor, "EUR").unwrap(),
        terms,
    }]
}

pub fn publish(net: &mut Network, business: PublicKey, category: &str, terms: Terms) -> crate::identity::RequestId {
    match command(
        net,
        business,
        Command::PublishRequest {
            category: category.parse().unwrap(),
            business_name: "Stride".into(),
            description: "Shoes that fit".into(),
            terms,
        },
    ) {
        crate::engine::Handled::Request(id) => id,
        other => panic!("expected a request id, got {other:?}"),
    }
}

/// Delivers messages until `person`'s countersignature waits in its outbox, still on its way,
/// and returns that outbox item's id (panics if the flow ends first).
pub fn until_countersigned(net: &mut Network, person: PublicKey) -> crate::engine::OutboxId {
    loop {
        assert!(net.deliver_next(), "no countersignature was sent");
        let outbox = &net.peer(&person).engine.state().outbox;
        if let Some((id, _)) = outbox.iter().find(|(_, item)| item.countersigns.is_some()) {
            return *id;
        }
    }
}

pub fn finalized(events: &[Event]) -> Vec<crate::identity::AgreementId> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Finalized { agreement_id, .. } => Some(*agreement_id),
            _ => None,
        })
        .collect()
}

pub fn awaiting(events: &[Event]) -> Vec<crate::identity::NegotiationId> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::AwaitingOwner { negotiation_id, .. } => Some(*negotiation_id),
            _ => None,
        })
        .collect()
}

pub fn verify_ledger(net: &Network, who: PublicKey) -> usize {
    let peer = net.peer(&who);
    crate::ledger::verify(&peer.ledger, &who, Some(&peer.engine.state().ledger)).unwrap().len()
}

/// Hands `to` a counter-offer of `terms` in negotiation `id`, signed by the shoe maker's key
/// (seed 2) as if its node had sent it: how tests play a business that says what they want.
pub fn counter_from_shoes(
    net: &mut Network,
    to: PublicKey,
    id: crate::identity::NegotiationId,
    terms: Terms,
) -> Result<crate::engine::Handled, crate::engine::HandleError> {
    use crate::envelope::{self, MessageKind, Seal};
    use crate::messages::{NegotiationBody, NegotiationMessage};
    use prost::Message as _;
    let shoes = crate::identity::Keypair::from_secret_bytes(&[2; 32]);
    let counter = NegotiationMessage { id, round: 2, body: NegotiationBody::Counter { terms } };
    // The person's identity toward the shoe maker.
    let persona = net.peer(&to).engine.identities().public(crate::identity::Persona::Business(shoes.public()));
    let bytes = envelope::seal(
        Seal {
            keypair: &shoes,
            kind: MessageKind::Negotiation,
            recipient: Some(persona),
            nonce: crate::identity::Nonce::from_bytes([77; 16]),
            issued_at: net.now(),
            expires_at: net.now().saturating_add(Duration::from_secs(60)),
        },
        crate::wire::NegotiationMessage::from(&counter).encode_to_vec(),
    );
    net.input(to, Input::Direct { from: shoes.public(), to: persona, kind: MessageKind::Negotiation, bytes })
}

/// The key `person`'s node speaks with toward `business` (its pairwise persona).
pub fn persona_key(net: &Network, person: PublicKey, business: PublicKey) -> crate::identity::Keypair {
    net.peer(&person).engine.identities().keypair(crate::identity::Persona::Business(business))
}
