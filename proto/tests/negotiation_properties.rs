//! Property tests: random sequences of requests, owner decisions, deliveries, time, vault
//! changes, revocations and hostile replays or tampering, driven through a person's and a
//! business's engines. After every run the invariants are checked against a simple reference
//! model built from the person's ledger:
//!
//! - both sides agree on how every negotiation ended;
//! - no data package leaves the person without a finalized, unexpired, unrevoked agreement
//!   that names every item in it, in the agreed form;
//! - a terminated negotiation never becomes an agreement;
//! - every agreement the person's agent signed lies within the person's policy.
//!
//! Delivery is in order with a delay far below the finalize grace (the protocol's timing
//! assumption); losing the peer for longer is covered by the revocation scenarios.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

mod common;
use common::*;
use me2b_proto::agreement::{Lifecycle, check_items};
use me2b_proto::engine::{Command, Event, Input, Output};
use me2b_proto::envelope::MessageKind;
use me2b_proto::harness::Network;
use me2b_proto::identity::{AgreementId, NegotiationId, PublicKey};
use me2b_proto::ledger::{self, EventKind};
use me2b_proto::messages::Context;
use me2b_proto::messages::{DataPackage, NegotiationBody, NegotiationMessage};
use me2b_proto::negotiation::State;
use me2b_proto::policy::{Asker, BusinessPolicy};
use me2b_proto::predicate::Predicate;
use me2b_proto::terms::{Compensation, ContactPermission, FieldRequest, Terms, Use};
use me2b_proto::vocab::{FieldPath, Purpose};
use me2b_proto::wire;
use proptest::prelude::*;
use prost::Message as _;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

#[derive(Debug, Clone)]
enum Op {
    Publish { fields: u8, research: bool, retention_days: u64, onward: bool, contact: u8, usage: u8, percent: u8 },
    Approve(u8),
    Decline(u8),
    Deliver(u8),
    Advance(u32),
    Revoke(u8),
    SetKm(u16),
    Replay(u8),
    Tamper(u8, u16),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (1u8..64, any::<bool>(), 1u64..120, any::<bool>(), 0u8..3, 0u8..3, 0u8..30).prop_map(
            |(fields, research, retention_days, onward, contact, usage, percent)| Op::Publish {
                fields, research, retention_days, onward, contact, usage, percent
            }
        ),
        2 => any::<u8>().prop_map(Op::Approve),
        1 => any::<u8>().prop_map(Op::Decline),
        4 => (1u8..20).prop_map(Op::Deliver),
        2 => (1u32..300).prop_map(Op::Advance),
        1 => any::<u8>().prop_map(Op::Revoke),
        1 => (0u16..1000).prop_map(Op::SetKm),
        1 => any::<u8>().prop_map(Op::Replay),
        1 => (any::<u8>(), any::<u16>()).prop_map(|(k, i)| Op::Tamper(k, i)),
    ]
}

fn field_pool() -> Vec<FieldRequest> {
    vec![
        FieldRequest::raw(path("body.shoe_size_eu")),
        FieldRequest::derived(path("activity.running_km"), Predicate::sum_since(YEAR_START, 600.0)),
        FieldRequest::raw(path("activity.running_km")).optional(),
        FieldRequest::raw(path("profile.email")).optional(),
        FieldRequest::raw(path("health.acquired.asthma")),
        FieldRequest::derived(path("profile.birthdate"), Predicate::AgeAtLeast { years: 18 }).optional(),
    ]
}

fn terms(op: &Op, now: me2b_proto::time::Timestamp) -> Option<Terms> {
    let Op::Publish { fields, research, retention_days, onward, contact, usage, percent } = op else {
        return None;
    };
    let pool = field_pool();
    let mut chosen: Vec<FieldRequest> =
        pool.into_iter().enumerate().filter(|(i, _)| fields & (1 << i) != 0).map(|(_, f)| f).collect();
    // A path at most once.
    let mut seen = BTreeSet::new();
    chosen.retain(|f| seen.insert(f.path.clone()));
    Some(Terms {
        fields: chosen,
        purpose: if *research { Purpose::Research } else { Purpose::PersonalisedOffers },
        retention: DAY * (*retention_days as u32),
        usage: match usage {
            0 => Use::OneTime,
            1 => Use::Subscription { min_interval: Duration::from_secs(60) },
            _ => Use::Trigger {
                path: path("activity.running_km"),
                predicate: Predicate::sum_since(YEAR_START, 600.0),
                event: "replacement-due".into(),
                rearm: None,
            },
        },
        onward_sharing: *onward,
        compensation: if *percent == 0 { Compensation::None } else { Compensation::Discount { percent: *percent } },
        contact: match contact {
            0 => None,
            1 => Some(ContactPermission { max_messages: 1, per_period: 30 * DAY }),
            _ => Some(ContactPermission { max_messages: 10, per_period: DAY }),
        },
        jurisdiction: "EU".into(),
        expires_at: now.saturating_add(Duration::from_secs(600)),
    })
}

/// What `from`'s node sent: as whom, to whom, what.
fn sent(net: &Network, from: PublicKey) -> Vec<(PublicKey, PublicKey, MessageKind, Vec<u8>)> {
    net.peer(&from)
        .outputs
        .iter()
        .filter_map(|o| match o {
            Output::Send { from: persona, to, kind, bytes, .. } => {
                Some((net.peer(&from).engine.identities().public(*persona), *to, *kind, bytes.clone()))
            }
            _ => None,
        })
        .collect()
}

fn run(ops: &[Op], accept_counters: bool) {
    let mut w = world();
    command(
        &mut w.net,
        w.shoes,
        Command::SetBusinessPolicy(BusinessPolicy { accept_counters, ..BusinessPolicy::default() }),
    );
    command(&mut w.net, w.shoes, Command::Subscribe("health.research".parse().unwrap()));
    let (person, business) = (w.person, w.shoes);
    let net = &mut w.net;

    for op in ops {
        match op {
            Op::Publish { research, .. } => {
                let Some(terms) = terms(op, net.now()) else {
                    continue;
                };
                if terms.fields.is_empty() {
                    continue;
                }
                let category = if *research { "health.research" } else { "apparel.shoes" };
                publish(net, business, category, terms);
            }
            Op::Approve(k) | Op::Decline(k) => {
                let pending: Vec<NegotiationId> = net
                    .peer(&person)
                    .engine
                    .state()
                    .negotiations
                    .values()
                    .filter(|n| n.awaiting().is_some())
                    .map(|n| n.id)
                    .collect();
                if let Some(id) = pending.get(*k as usize % pending.len().max(1)) {
                    let command =
                        if matches!(op, Op::Approve(_)) { Command::Approve(*id) } else { Command::Decline(*id) };
                    let _ = net.input(person, Input::Command(command));
                }
            }
            Op::Deliver(n) => {
                for _ in 0..*n {
                    net.deliver_next();
                }
            }
            Op::Advance(seconds) => net.advance(Duration::from_secs(u64::from(*seconds))),
            Op::Revoke(k) => {
                let active: Vec<AgreementId> = net
                    .peer(&person)
                    .engine
                    .state()
                    .agreements
                    .values()
                    .filter(|a| a.is_active())
                    .map(|a| a.id)
                    .collect();
                if let Some(id) = active.get(*k as usize % active.len().max(1)) {
                    command(net, person, Command::Revoke { agreement_id: *id, reason: String::new() });
                }
            }
            Op::SetKm(km) => set(net, person, "activity.running_km", running_km(f64::from(*km))),
            Op::Replay(k) | Op::Tamper(k, _) => {
                if matches!(op, Op::Replay(_)) {
                    // Only a message that was delivered can be replayed.
                    net.settle();
                }
                let mut all: Vec<(PublicKey, PublicKey, MessageKind, Vec<u8>)> = Vec::new();
                for from in [person, business] {
                    all.extend(sent(net, from));
                }
                if let Some((from, to, kind, mut bytes)) = all.get(*k as usize % all.len().max(1)).cloned() {
                    if let Op::Tamper(_, index) = op {
                        let at = *index as usize % bytes.len();
                        bytes[at] ^= 0x5a;
                    }
                    let result = net.input(net.node_of(&to), Input::Direct { from, to, kind, bytes });
                    // A replay or a tampered copy is never accepted.
                    assert!(result.is_err(), "a replayed or tampered message was accepted: {op:?}");
                }
            }
        }
    }
    // Let everything run out: deadlines, grace, retention.
    net.advance(Duration::from_secs(3600));
    net.advance(130 * DAY);
    check(net, person, business);
}

fn check(net: &Network, person: PublicKey, business: PublicKey) {
    let p = net.peer(&person).engine.state();
    let b = net.peer(&business).engine.state();

    // Both sides agree on how every negotiation ended.
    for (id, n) in &p.negotiations {
        assert!(n.state.is_final(), "person negotiation {id:?} still {}", n.state);
        match b.negotiations.get(id) {
            Some(other) => assert_eq!(n.state.name(), other.state.name(), "negotiation {id:?}"),
            None => {
                assert!(matches!(n.state, State::Terminated { .. }), "only the person knows {id:?}, yet {}", n.state)
            }
        }
    }
    for id in b.negotiations.keys() {
        assert!(p.negotiations.contains_key(id), "the business has a negotiation the person does not");
    }
    assert_eq!(p.agreements.keys().collect::<Vec<_>>(), b.agreements.keys().collect::<Vec<_>>());

    // A terminated negotiation never becomes an agreement (on either side, in event order).
    for who in [person, business] {
        let mut terminated = BTreeSet::new();
        for event in &net.peer(&who).events {
            match event {
                Event::Terminated { negotiation_id, .. } => {
                    terminated.insert(*negotiation_id);
                }
                Event::Finalized { negotiation_id, .. } => {
                    assert!(!terminated.contains(negotiation_id))
                }
                _ => {}
            }
        }
    }

    // Every agreement lies within the person's policy.
    for record in p.agreements.values() {
        let category = match record.agreement.context {
            Context::Request(id) => match b.requests.get(&id) {
                Some(known) => known.request.category.clone(),
                None => continue,
            },
            Context::Intent(_) => unreachable!("no intents in this test"),
        };
        let asker = Asker { business: &business, category: &category };
        assert!(p.policy.permits(&record.agreement.terms, asker), "agreement outside policy");
    }

    // Reference model from the person's ledger: data flows only under an active agreement.
    let entries = ledger::verify(&net.peer(&person).ledger, &person, Some(&p.ledger)).unwrap();
    ledger::verify(&net.peer(&business).ledger, &business, Some(&b.ledger)).unwrap();
    let mut model: BTreeMap<Vec<u8>, (bool, BTreeSet<FieldPath>)> = BTreeMap::new();
    let mut data_sent = 0;
    for entry in &entries {
        let e = &entry.event;
        match e.kind {
            EventKind::AgreementFinalized => {
                model.insert(e.subject.clone(), (true, e.fields.iter().cloned().collect()));
            }
            EventKind::Revoked | EventKind::Expired => {
                model.get_mut(&e.subject).expect("revoked an unknown agreement").0 = false;
            }
            EventKind::DataSent => {
                data_sent += 1;
                let (active, paths) = model.get(&e.subject).expect("data sent without an agreement");
                assert!(*active, "data sent under an agreement that is not active");
                assert!(
                    e.fields.iter().all(|f| paths.contains(f)),
                    "data sent for a field the agreement does not name"
                );
            }
            _ => {}
        }
    }
    // Every package that left the node, alone or with a countersignature, is in the ledger,
    // and names only agreed items.
    let mut packages = BTreeSet::new();
    for output in &net.peer(&person).outputs {
        let Output::Send { kind, bytes, delivery, .. } = output else {
            continue;
        };
        let signed = wire::SignedEnvelope::decode(bytes.as_slice()).unwrap();
        let payload = wire::Envelope::decode(signed.envelope.as_slice()).unwrap().payload;
        let encoded = match kind {
            MessageKind::DataPackage => payload,
            MessageKind::Negotiation => {
                let message = wire::NegotiationMessage::decode(payload.as_slice()).unwrap();
                match NegotiationMessage::try_from(message).unwrap().body {
                    NegotiationBody::Finalize { first_package: Some(encoded), .. } => encoded,
                    _ => continue,
                }
            }
            _ => continue,
        };
        packages.insert(*delivery);
        let package = DataPackage::try_from(wire::DataPackage::decode(encoded.as_slice()).unwrap()).unwrap();
        let record = &p.agreements[&package.agreement_id];
        check_items(&record.agreement.terms, package.items.iter().map(|i| (&i.path, &i.content))).unwrap();
    }
    assert_eq!(packages.len(), data_sent);

    // After revocation or expiry the business holds nothing, and both sides say DELETED.
    for (id, record) in &p.agreements {
        if !record.is_active() {
            assert!(!b.received.contains_key(id), "business still holds data after revocation or expiry");
            assert!(matches!(record.lifecycle, Lifecycle::Deleted { .. }), "{:?}", record.lifecycle);
            assert!(matches!(b.agreements[id].lifecycle, Lifecycle::Deleted { .. }));
        }
    }
    // Nothing the business holds was a raw value that the terms asked as a derived fact.
    for (id, held) in &b.received {
        let terms = &b.agreements[id].agreement.terms;
        check_items(terms, held.iter().map(|(path, item)| (path, &item.content))).unwrap();
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn negotiations_keep_their_invariants(ops in proptest::collection::vec(op(), 1..40), accept_counters in any::<bool>()) {
        run(&ops, accept_counters);
    }
}
