//! Attack: a business restarts with its key but a wiped store, then gets a revocation. It
//! answers "unknown agreement"; the person's node must not take that for done: the agreement
//! stays REVOKED (never DELETED) with the revocation "not confirmed" and the business's words,
//! and keeps retrying. When the business's store comes back, the receipt ends it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;
use me2b_proto::agreement::{Lifecycle, RevocationAnswer};
use me2b_proto::engine::{Command, Event, Role};
use me2b_proto::envelope::MessageKind;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wiped_business_leaves_the_revocation_not_confirmed_until_its_receipt() {
    let (mut person, mut business) = person_and_business().await;
    let agreement_id = agree(&mut person, &mut business).await;

    // The business restarts with the same key and an empty store.
    business.handle.shutdown().await;
    let TestNode { dir: kept, secret, .. } = business;
    let wiped = start_in(Role::Business, secret, tempfile::tempdir().unwrap()).await;
    wiped.handle.dial(person.address().await).await.unwrap();
    person.command(Command::Revoke { agreement_id, reason: "changed my mind".into() }).await;

    let Event::RevocationNotConfirmed { reason, .. } =
        person.wait_for("not confirmed", |e| matches!(e, Event::RevocationNotConfirmed { .. })).await
    else {
        unreachable!()
    };
    assert!(reason.contains("unknown agreement"), "{reason}");
    let state = person.handle.state().await.unwrap();
    let record = &state.agreements[&agreement_id];
    assert!(matches!(record.lifecycle, Lifecycle::Revoked { .. }), "{:?}", record.lifecycle);
    assert!(matches!(record.revocation.as_ref().unwrap().answer, RevocationAnswer::NotConfirmed { .. }));
    assert!(state.outbox.values().any(|item| item.kind == MessageKind::Revocation), "it is still retried");

    // The business's store comes back; the person sends the revocation again and the receipt
    // ends it.
    wiped.handle.shutdown().await;
    let mut business = start_in(Role::Business, secret, kept).await;
    business.handle.dial(person.address().await).await.unwrap();
    business.wait_connected(person.handle.peer_id()).await;
    person.command(Command::Revoke { agreement_id, reason: "changed my mind".into() }).await;
    business.wait_for("deletion", |e| matches!(e, Event::DataDeleted { .. })).await;
    person.wait_for("receipt", |e| matches!(e, Event::DeletionConfirmed { .. })).await;
    let state = person.handle.state().await.unwrap();
    let record = &state.agreements[&agreement_id];
    assert!(matches!(record.lifecycle, Lifecycle::Deleted { .. }));
    assert!(record.receipt_envelope.is_some());
    assert!(state.outbox.is_empty());
    person.handle.shutdown().await;
    business.handle.shutdown().await;
}
