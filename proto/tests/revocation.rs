//! The person revokes, or the retention runs out: the business deletes what it holds and
//! returns a signed receipt. A revocation sent while the business is offline waits in the
//! outbox and is delivered when it comes back.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

mod common;
use common::*;
use me2b_proto::agreement::Lifecycle;
use me2b_proto::engine::{Command, Event, HandleError, Input, Rejection};
use me2b_proto::envelope::{self, MessageKind, Seal};
use me2b_proto::identity::Nonce;
use me2b_proto::messages::DeletionCause;
use me2b_proto::messages::{DataItem, DataPackage, ItemContent};
use me2b_proto::value::{Personal, Value};
use me2b_proto::wire;
use prost::Message as _;
use std::time::Duration;

fn agreed(w: &mut World) -> me2b_proto::identity::AgreementId {
    publish(&mut w.net, w.shoes, "apparel.shoes", shoe_terms(START.saturating_add(DAY)));
    w.net.settle();
    finalized(&w.net.peer(&w.shoes).events)[0]
}

#[test]
fn revocation_deletes_the_data_and_returns_a_signed_receipt() {
    let mut w = world();
    let id = agreed(&mut w);
    assert!(!w.net.peer(&w.shoes).engine.state().received[&id].is_empty());
    command(&mut w.net, w.person, Command::Revoke { agreement_id: id, reason: "changed my mind".into() });
    assert!(matches!(w.net.peer(&w.person).engine.state().agreements[&id].lifecycle, Lifecycle::Revoked { .. }));
    w.net.settle();

    assert!(!w.net.peer(&w.shoes).engine.state().received.contains_key(&id), "the business deleted it");
    for who in [w.person, w.shoes] {
        let record = &w.net.peer(&who).engine.state().agreements[&id];
        assert!(matches!(record.lifecycle, Lifecycle::Deleted { cause: DeletionCause::Revoked, .. }));
        assert!(record.receipt.is_some());
    }
    assert!(w.net.peer(&w.person).events.iter().any(|e| matches!(e, Event::DeletionConfirmed { .. })));
    verify_ledger(&w.net, w.person);
    verify_ledger(&w.net, w.shoes);
}

#[test]
fn revocation_while_the_business_is_offline_is_delivered_when_it_returns() {
    let mut w = world();
    let id = agreed(&mut w);
    w.net.set_online(w.shoes, false);
    command(&mut w.net, w.person, Command::Revoke { agreement_id: id, reason: String::new() });
    // Offline far longer than the longest backoff: the revocation is retried, never dropped,
    // and the retries stay few (at most one every five minutes and a half).
    w.net.advance(10 * DAY);
    assert_eq!(w.net.peer(&w.person).engine.state().outbox.len(), 1, "the revocation waits");
    let attempts = w.net.peer(&w.person).engine.state().outbox.values().next().unwrap().attempts;
    assert!((1000..=3000).contains(&attempts), "{attempts} attempts in ten days");
    assert!(w.net.peer(&w.shoes).engine.state().received.contains_key(&id));

    w.net.set_online(w.shoes, true);
    w.net.settle();
    assert!(!w.net.peer(&w.shoes).engine.state().received.contains_key(&id));
    assert!(matches!(w.net.peer(&w.person).engine.state().agreements[&id].lifecycle, Lifecycle::Deleted { .. }));
    assert!(w.net.peer(&w.person).engine.state().outbox.is_empty());
}

#[test]
fn when_retention_runs_out_the_business_deletes_on_its_own() {
    let mut w = world();
    let id = agreed(&mut w);
    w.net.advance(31 * DAY);
    assert!(!w.net.peer(&w.shoes).engine.state().received.contains_key(&id));
    let lifecycle = w.net.peer(&w.person).engine.state().agreements[&id].lifecycle;
    assert!(matches!(lifecycle, Lifecycle::Deleted { cause: DeletionCause::Expired, .. }), "{lifecycle:?}");
}

#[test]
fn data_sent_after_revocation_is_refused() {
    let mut w = world();
    let mut terms = shoe_terms(START.saturating_add(DAY));
    terms.usage = me2b_proto::terms::Use::Subscription { min_interval: Duration::from_secs(1) };
    terms.fields.truncate(1);
    publish(&mut w.net, w.shoes, "apparel.shoes", terms);
    w.net.settle();
    let id = finalized(&w.net.peer(&w.shoes).events)[0];
    command(&mut w.net, w.person, Command::Revoke { agreement_id: id, reason: String::new() });
    w.net.settle();
    // The person's node sends nothing more under it.
    w.net.advance(Duration::from_secs(5));
    set(&mut w.net, w.person, "body.shoe_size_eu", Value::Number(45.0));
    w.net.settle();
    assert!(!w.net.peer(&w.shoes).engine.state().received.contains_key(&id));
    assert_eq!(w.net.peer(&w.person).engine.state().agreements[&id].last_package, 1);

    // A package signed by the person's key after the revocation is refused by the business.
    let package = DataPackage {
        agreement_id: id,
        sequence: 2,
        items: vec![DataItem {
            path: path("body.shoe_size_eu"),
            content: ItemContent::Value(Personal::new(Value::Number(45.0))),
        }],
    };
    let bytes = envelope::seal(
        Seal {
            keypair: &persona_key(&w.net, w.person, w.shoes),
            kind: MessageKind::DataPackage,
            recipient: Some(w.shoes),
            nonce: Nonce::from_bytes([5; 16]),
            issued_at: w.net.now(),
            expires_at: w.net.now().saturating_add(Duration::from_secs(60)),
        },
        wire::DataPackage::from(&package).encode_to_vec(),
    );
    let from = persona_key(&w.net, w.person, w.shoes).public();
    let refused = w.net.input(w.shoes, Input::Direct { from, to: w.shoes, kind: MessageKind::DataPackage, bytes });
    assert!(matches!(refused, Err(HandleError::Rejected(Rejection::Stale(_)))), "{refused:?}");
    assert!(!w.net.peer(&w.shoes).engine.state().received.contains_key(&id));
}
