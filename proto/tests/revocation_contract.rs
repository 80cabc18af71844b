//! Revocation is a contract, not a hope: only the business's signed receipt ends it. A
//! business that forgot the agreement (restarted with a wiped store), refuses it, or
//! acknowledges it without a receipt leaves it "not confirmed", retried and re-sendable; and
//! nothing queued for a revoked or void agreement leaves the person's node.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

mod common;
use common::*;
use me2b_proto::agreement::{Lifecycle, RevocationAnswer};
use me2b_proto::engine::{Answer, Command, Config, Event, Input, OutboxId, Role, State};
use me2b_proto::envelope::MessageKind;
use me2b_proto::identity::{AgreementId, Keypair};
use me2b_proto::ledger::{self, EventKind};
use me2b_proto::terms::{FieldRequest, Use};
use me2b_proto::value::Value;
use std::time::Duration;

fn agreed(w: &mut World, usage: Use) -> AgreementId {
    let mut terms = shoe_terms(START.saturating_add(DAY));
    terms.usage = usage;
    publish(&mut w.net, w.shoes, "apparel.shoes", terms);
    w.net.settle();
    finalized(&w.net.peer(&w.shoes).events)[0]
}

fn revoke(w: &mut World, id: AgreementId) {
    command(&mut w.net, w.person, Command::Revoke { agreement_id: id, reason: "changed my mind".into() });
}

fn answer_of(w: &World, id: AgreementId) -> Option<RevocationAnswer> {
    w.net.peer(&w.person).engine.state().agreements[&id].revocation.as_ref().map(|status| status.answer.clone())
}

fn outbox_kinds(w: &World, who: me2b_proto::identity::PublicKey) -> Vec<MessageKind> {
    w.net.peer(&who).engine.state().outbox.values().map(|item| item.kind).collect()
}

fn ledger_kinds(w: &World) -> Vec<EventKind> {
    let peer = w.net.peer(&w.person);
    ledger::verify(&peer.ledger, &w.person, None).unwrap().into_iter().map(|entry| entry.event.kind).collect()
}

/// The business's node, restarted with its key and an empty store.
fn wipe_business(w: &mut World) -> State {
    let old = w.net.remove(&w.shoes).unwrap().engine.state().clone();
    w.net.add_with(Keypair::from_secret_bytes(&[2; 32]), Config::new(Role::Business, [2; 32]), State::default());
    old
}

#[test]
fn a_business_that_forgot_the_agreement_leaves_the_revocation_not_confirmed_until_a_receipt() {
    let mut w = world();
    let id = agreed(&mut w, Use::OneTime);
    let kept = wipe_business(&mut w);
    revoke(&mut w, id);
    w.net.settle();

    let record = &w.net.peer(&w.person).engine.state().agreements[&id];
    assert!(matches!(record.lifecycle, Lifecycle::Revoked { .. }), "never DELETED without a receipt");
    match answer_of(&w, id) {
        Some(RevocationAnswer::NotConfirmed { reason, .. }) => {
            assert!(reason.contains("unknown agreement"), "{reason}")
        }
        other => panic!("expected not confirmed, got {other:?}"),
    }
    let told = w.net.peer(&w.person).events.iter().any(
        |e| matches!(e, Event::RevocationNotConfirmed { agreement_id, reason } if *agreement_id == id && reason.contains("unknown")),
    );
    assert!(told, "the person is told");
    assert_eq!(outbox_kinds(&w, w.person), vec![MessageKind::Revocation], "the revocation still waits");

    // It is retried; a business repeating itself does not grow the ledger.
    w.net.advance(DAY);
    let not_confirmed = ledger_kinds(&w).iter().filter(|k| **k == EventKind::RevocationNotConfirmed).count();
    assert_eq!(not_confirmed, 1);
    let attempts = w.net.peer(&w.person).engine.state().agreements[&id].revocation.as_ref().unwrap().answers;
    assert!(attempts > 10, "retried {attempts} times in a day");
    assert!(attempts < 100, "with backoff: {attempts}");

    // The person may send it again at once.
    revoke(&mut w, id);
    w.net.settle();
    assert!(matches!(answer_of(&w, id), Some(RevocationAnswer::NotConfirmed { .. })));

    // The business's store comes back (a backup): the next attempt gets the receipt, and only
    // that ends the revocation.
    w.net.remove(&w.shoes);
    w.net.add_with(Keypair::from_secret_bytes(&[2; 32]), Config::new(Role::Business, [2; 32]), kept);
    revoke(&mut w, id);
    w.net.settle();
    let record = &w.net.peer(&w.person).engine.state().agreements[&id];
    assert!(matches!(record.lifecycle, Lifecycle::Deleted { .. }), "{:?}", record.lifecycle);
    assert!(record.revocation.is_none());
    assert!(record.receipt_envelope.is_some(), "the signed receipt is kept as evidence");
    assert!(w.net.peer(&w.person).engine.state().outbox.is_empty(), "settled by the receipt");
    verify_ledger(&w.net, w.person);
}

#[test]
fn a_business_that_rejects_every_revocation_never_gets_it_marked_deleted() {
    let mut w = world();
    let id = agreed(&mut w, Use::OneTime);
    w.net.set_online(w.shoes, false);
    revoke(&mut w, id);
    w.net.settle();
    let revocation = only_item(&w);
    // A hostile business answers "rejected", over and over; its answer is shown as text.
    for _ in 0..5 {
        let answer = Answer::Rejected("no such thing\u{1b}[2J".into());
        w.net.input(w.person, Input::Answered(revocation, answer)).unwrap();
    }
    let record = &w.net.peer(&w.person).engine.state().agreements[&id];
    assert!(matches!(record.lifecycle, Lifecycle::Revoked { .. }));
    match answer_of(&w, id) {
        Some(RevocationAnswer::NotConfirmed { reason, .. }) => assert_eq!(reason, "no such thing[2J"),
        other => panic!("expected not confirmed, got {other:?}"),
    }
    assert_eq!(outbox_kinds(&w, w.person), vec![MessageKind::Revocation]);
    // Negative control: an acknowledgement is noted, but is not a receipt either.
    w.net.input(w.person, Input::Answered(revocation, Answer::Accepted)).unwrap();
    assert!(matches!(answer_of(&w, id), Some(RevocationAnswer::Acknowledged { .. })));
    assert!(matches!(w.net.peer(&w.person).engine.state().agreements[&id].lifecycle, Lifecycle::Revoked { .. }));
    // The honest business comes back: the receipt ends it.
    w.net.set_online(w.shoes, true);
    w.net.settle();
    assert!(matches!(w.net.peer(&w.person).engine.state().agreements[&id].lifecycle, Lifecycle::Deleted { .. }));
}

#[test]
fn an_acknowledged_revocation_waits_for_the_receipt() {
    let mut w = world();
    let id = agreed(&mut w, Use::OneTime);
    revoke(&mut w, id);
    // The revocation arrives and is acknowledged; the business goes offline before its receipt
    // leaves.
    assert!(w.net.deliver_next());
    w.net.set_online(w.shoes, false);
    w.net.settle();
    assert!(matches!(answer_of(&w, id), Some(RevocationAnswer::Acknowledged { .. })));
    assert!(matches!(w.net.peer(&w.person).engine.state().agreements[&id].lifecycle, Lifecycle::Revoked { .. }));
    w.net.advance(Duration::from_secs(3600));
    assert_eq!(outbox_kinds(&w, w.shoes), vec![MessageKind::DeletionReceipt], "the receipt waits too");
    w.net.set_online(w.shoes, true);
    w.net.settle();
    assert!(matches!(w.net.peer(&w.person).engine.state().agreements[&id].lifecycle, Lifecycle::Deleted { .. }));
    assert!(w.net.peer(&w.person).engine.state().outbox.is_empty());
    assert!(w.net.peer(&w.shoes).engine.state().outbox.is_empty());
}

fn only_item(w: &World) -> OutboxId {
    let ids: Vec<OutboxId> = w.net.peer(&w.person).engine.state().outbox.keys().copied().collect();
    assert_eq!(ids.len(), 1, "{ids:?}");
    ids[0]
}

#[test]
fn data_queued_for_a_revoked_agreement_is_cancelled_with_the_revocation() {
    for revoked in [true, false] {
        let mut w = world();
        let id = agreed(&mut w, Use::Subscription { min_interval: Duration::from_secs(1) });
        w.net.advance(Duration::from_secs(2));
        w.net.set_online(w.shoes, false);
        set(&mut w.net, w.person, "body.shoe_size_eu", Value::Number(45.0));
        w.net.settle();
        assert_eq!(outbox_kinds(&w, w.person), vec![MessageKind::DataPackage], "an update waits");
        if revoked {
            revoke(&mut w, id);
            assert_eq!(outbox_kinds(&w, w.person), vec![MessageKind::Revocation], "cancelled in the same step");
        }
        w.net.set_online(w.shoes, true);
        w.net.settle();
        let updated = w.net.peer(&w.shoes).events.iter().filter(|e| matches!(e, Event::DataReceived { .. })).count();
        // Negative control: without the revocation the queued update does arrive.
        assert_eq!(updated, if revoked { 1 } else { 2 }, "revoked: {revoked}");
    }
}

#[test]
fn a_countersignature_waiting_to_be_sent_again_is_cancelled_with_the_revocation() {
    for revoked in [true, false] {
        let mut w = world();
        publish(&mut w.net, w.shoes, "apparel.shoes", shoe_terms(START.saturating_add(DAY)));
        until_countersigned(&mut w.net, w.person);
        // The business is away: the countersignature, and the data it carries, wait to be sent
        // again.
        w.net.set_online(w.shoes, false);
        w.net.settle();
        assert_eq!(outbox_kinds(&w, w.person), vec![MessageKind::Negotiation]);
        if revoked {
            let id = finalized(&w.net.peer(&w.person).events)[0];
            revoke(&mut w, id);
            assert_eq!(outbox_kinds(&w, w.person), vec![MessageKind::Revocation], "cancelled in the same step");
        }
        w.net.set_online(w.shoes, true);
        w.net.advance(Duration::from_secs(60));
        let received = w.net.peer(&w.shoes).events.iter().filter(|e| matches!(e, Event::DataReceived { .. })).count();
        // Negative control: without the revocation the countersignature and its data arrive.
        assert_eq!(received, if revoked { 0 } else { 1 }, "revoked: {revoked}");
    }
}

#[test]
fn a_refused_countersignature_voids_the_agreement_and_releases_nothing_more() {
    for refused in [true, false] {
        let mut w = world();
        // The person counters (retention beyond its policy), the business signs first, and the
        // person's countersignature, carrying the first data, is what the business answers.
        let mut terms = shoe_terms(START.saturating_add(DAY));
        terms.retention = 365 * DAY;
        terms.usage = Use::Subscription { min_interval: Duration::from_secs(1) };
        terms.fields.push(FieldRequest::raw(path("profile.email")).optional());
        publish(&mut w.net, w.shoes, "apparel.shoes", terms);
        let finalize = until_countersigned(&mut w.net, w.person);
        let person = w.net.peer(&w.person);
        let sent = |events: &[Event]| events.iter().filter(|e| matches!(e, Event::DataSent { .. })).count();
        assert_eq!(sent(&person.events), 1, "the first data rides with the countersignature");
        assert_eq!(outbox_kinds(&w, w.person), vec![MessageKind::Negotiation], "and nothing goes on its own");
        w.net.set_online(w.shoes, false);
        let answer =
            if refused { Answer::Ignored("stale: countersignature arrived too late".into()) } else { Answer::Accepted };
        w.net.input(w.person, Input::Answered(finalize, answer)).unwrap();
        let agreement_id = finalized(&w.net.peer(&w.person).events)[0];
        // A later change owes the subscription an update, if the agreement still stands.
        set(&mut w.net, w.person, "body.shoe_size_eu", Value::Number(45.0));
        w.net.advance(Duration::from_secs(2));
        let person = w.net.peer(&w.person);
        let lifecycle = person.engine.state().agreements[&agreement_id].lifecycle;
        if refused {
            assert!(matches!(lifecycle, Lifecycle::Void { .. }), "{lifecycle:?}");
            assert!(person.events.iter().any(|e| matches!(e, Event::AgreementVoid { .. })));
            assert!(ledger_kinds(&w).contains(&EventKind::AgreementVoid));
            assert_eq!(sent(&person.events), 1, "nothing is sent under a void agreement");
            assert!(outbox_kinds(&w, w.person).is_empty());
        } else {
            // Negative control: an accepted countersignature leaves the agreement standing,
            // and the update goes.
            assert!(matches!(lifecycle, Lifecycle::Active));
            assert_eq!(sent(&person.events), 2);
        }
    }
}

/// The person countersigns a shoe request, and the countersignature (carrying the first data)
/// reaches the business directly, outside the harness's delivery, whose answer the test then
/// decides. Returns the countersignature's outbox item. (The ledger's signature, which follows
/// every batch, comes after the message: the last one sent is the countersignature.)
fn countersignature_reaches_the_business(w: &mut World) -> OutboxId {
    use me2b_proto::engine::Output;
    publish(&mut w.net, w.shoes, "apparel.shoes", shoe_terms(START.saturating_add(DAY)));
    let finalize = until_countersigned(&mut w.net, w.person);
    let last_sent = w.net.peer(&w.person).outputs.iter().rev().find(|o| matches!(o, Output::Send { .. })).cloned();
    let Some(Output::Send { from, to, kind, bytes, .. }) = last_sent else {
        panic!("the countersignature is the last message the person sent");
    };
    let from = w.net.peer(&w.person).engine.identities().public(from);
    w.net.input(w.shoes, Input::Direct { from, to, kind, bytes }).unwrap();
    assert!(w.net.peer(&w.shoes).events.iter().any(|e| matches!(e, Event::DataReceived { .. })));
    finalize
}

#[test]
fn a_countersignature_sent_again_after_its_answer_was_lost_is_accepted() {
    let mut w = world();
    // The countersignature reaches the business, but the connection closes before its answer
    // does: the business holds the agreement and its data, the person's outbox does not know.
    let finalize = countersignature_reaches_the_business(&mut w);
    w.net.set_online(w.shoes, false);
    assert!(w.net.deliver_next(), "the first attempt, which the person sees fail");
    assert!(w.net.peer(&w.person).engine.state().outbox.get(&finalize).is_some(), "kept to be sent again");
    // The business is reachable again: the outbox sends the countersignature once more.
    w.net.set_online(w.shoes, true);
    w.net.settle();
    let person = w.net.peer(&w.person);
    let agreement_id = finalized(&person.events)[0];
    let lifecycle = person.engine.state().agreements[&agreement_id].lifecycle;
    assert!(matches!(lifecycle, Lifecycle::Active), "the repeat is accepted, not taken for a refusal: {lifecycle:?}");
    assert!(person.engine.state().outbox.is_empty());
    let business = w.net.peer(&w.shoes);
    assert_eq!(finalized(&business.events), vec![agreement_id]);
    let received = business.events.iter().filter(|e| matches!(e, Event::DataReceived { .. })).count();
    assert_eq!(received, 1, "the data it carried again is kept once");
}

#[test]
fn a_countersignature_that_may_have_arrived_stays_revocable_when_a_wiped_business_refuses_it() {
    for may_have_arrived in [true, false] {
        let mut w = world();
        // The countersignature, with the first data, reaches the business, which is killed
        // before its answer leaves and restarted with its store wiped.
        let finalize = countersignature_reaches_the_business(&mut w);
        wipe_business(&mut w);
        // The person's node learns that no answer came back on the connection (it may have
        // arrived); the negative control is a node told it never left.
        let outcome = if may_have_arrived { Input::Unanswered(finalize) } else { Input::Undelivered(finalize) };
        w.net.input(w.person, outcome).unwrap();
        // The countersignature again, to a business that knows nothing of it: refused.
        w.net.settle();
        let agreement_id = finalized(&w.net.peer(&w.person).events)[0];
        let refused = w.net.peer(&w.person).events.iter().any(|e| {
            matches!(e, Event::DeliveryRefused { reason, .. } | Event::AgreementVoid { reason, .. } if reason.contains("unknown negotiation"))
        });
        assert!(refused, "the wiped business refused it");
        assert!(w.net.peer(&w.person).engine.state().outbox.is_empty());
        let lifecycle = person_lifecycle(&w, agreement_id);
        if !may_have_arrived {
            // Refused, and known never to have arrived: void, as before.
            assert!(matches!(lifecycle, Lifecycle::Void { .. }), "{lifecycle:?}");
            continue;
        }
        // The business may hold the data: the agreement stands, so the person can revoke it,
        // and sees the business's answer.
        assert!(matches!(lifecycle, Lifecycle::Active), "{lifecycle:?}");
        revoke(&mut w, agreement_id);
        w.net.settle();
        match answer_of(&w, agreement_id) {
            Some(RevocationAnswer::NotConfirmed { reason, .. }) => {
                assert!(reason.contains("unknown agreement"), "{reason}")
            }
            other => panic!("expected not confirmed, got {other:?}"),
        }
        verify_ledger(&w.net, w.person);
    }
}

#[test]
fn a_business_that_refuses_the_countersignature_but_kept_its_data_can_still_be_asked_to_delete_it() {
    use me2b_proto::engine::{CommandError, HandleError};
    let mut w = world();
    // A hostile business takes the countersignature and the data it carries, and answers
    // "refused".
    let finalize = countersignature_reaches_the_business(&mut w);
    w.net.input(w.person, Input::Answered(finalize, Answer::Rejected("refused".into()))).unwrap();
    w.net.settle();
    let id = finalized(&w.net.peer(&w.person).events)[0];
    assert!(matches!(person_lifecycle(&w, id), Lifecycle::Void { .. }), "the person takes the refusal at its word");

    // The data left with the countersignature: the person can still revoke, and the business,
    // which holds the agreement, owes a signed receipt.
    revoke(&mut w, id);
    w.net.settle();
    let record = &w.net.peer(&w.person).engine.state().agreements[&id];
    assert!(matches!(record.lifecycle, Lifecycle::Deleted { .. }), "{:?}", record.lifecycle);
    assert!(record.receipt_envelope.is_some(), "the signed receipt is kept as evidence");
    let kinds = ledger_kinds(&w);
    let void = kinds.iter().position(|k| *k == EventKind::AgreementVoid).unwrap();
    assert!(kinds[void..].contains(&EventKind::Revoked), "{kinds:?}");

    // A void agreement under which nothing left (the business refused a countersignature that
    // carried no data) stays void: there is nothing to delete.
    let mut state = w.net.remove(&w.person).unwrap().engine.state().clone();
    let mut record = state.agreements.get(&id).unwrap().clone();
    record.lifecycle = Lifecycle::Void { at: START };
    record.last_package = 0;
    state.agreements.restore(record);
    w.net.add_with(Keypair::from_secret_bytes(&[1; 32]), Config::new(Role::Person, [1; 32]), state);
    let refused = w.net.input(w.person, Input::Command(Command::Revoke { agreement_id: id, reason: "again".into() }));
    assert!(matches!(refused, Err(HandleError::Command(CommandError::Lifecycle(_)))), "{refused:?}");
}

#[test]
fn the_signed_agreement_and_receipt_are_evidence_anyone_can_check_offline() {
    use me2b_proto::evidence::{Evidence, EvidenceError};
    let mut w = world();
    let first = agreed(&mut w, Use::OneTime);
    publish(&mut w.net, w.shoes, "apparel.shoes", shoe_terms(START.saturating_add(DAY)));
    w.net.settle();
    let second = *finalized(&w.net.peer(&w.shoes).events).last().unwrap();
    assert_ne!(first, second);
    revoke(&mut w, first);
    w.net.settle();
    // Checked long after every envelope's validity window: evidence does not expire.
    w.net.advance(365 * DAY);
    let state = w.net.peer(&w.person).engine.state();
    let evidence = Evidence::of(&state.agreements[&first]);
    let checked = evidence.check().unwrap();
    assert_eq!(checked.agreement_id, first);
    assert_eq!(checked.receipt.unwrap().agreement_id, first);
    // The other agreement's retention ran out meanwhile: its receipt is the expiry's.
    let expired = Evidence::of(&state.agreements[&second]).check().unwrap().receipt.unwrap();
    assert_eq!((expired.agreement_id, expired.cause), (second, me2b_proto::messages::DeletionCause::Expired));

    // Negative controls: each tampering is caught.
    let mut changed = evidence.clone();
    changed.agreement.replace_range(200..202, if &evidence.agreement[200..202] == "00" { "01" } else { "00" });
    assert!(changed.check().is_err());
    let mut forged = evidence.clone();
    forged.business_signature = evidence.person_signature.clone();
    assert_eq!(forged.check().unwrap_err(), EvidenceError::BadSignature("business"));
    let mut borrowed = Evidence::of(&state.agreements[&second]);
    borrowed.receipt_envelope = evidence.receipt_envelope.clone();
    assert_eq!(borrowed.check().unwrap_err(), EvidenceError::ReceiptMismatch, "a receipt for another agreement");
}

/// The business's node restarted with `config` and the state it had.
fn restart_business(w: &mut World, config: Config) {
    let state = w.net.remove(&w.shoes).unwrap().engine.state().clone();
    w.net.add_with(Keypair::from_secret_bytes(&[2; 32]), config, state);
}

fn person_lifecycle(w: &World, id: AgreementId) -> Lifecycle {
    w.net.peer(&w.person).engine.state().agreements[&id].lifecycle
}

/// An agreement revoked at a business whose own systems keep copies (it restarted with
/// `confirm_deletions_downstream`).
fn revoked_with_copies_downstream() -> (World, AgreementId) {
    let mut w = world();
    let id = agreed(&mut w, Use::OneTime);
    let mut downstream = Config::new(Role::Business, [2; 32]);
    downstream.confirm_deletions_downstream = true;
    restart_business(&mut w, downstream);
    revoke(&mut w, id);
    w.net.settle();
    (w, id)
}

#[test]
fn a_business_with_copies_downstream_signs_the_receipt_only_once_they_are_deleted() {
    let (mut w, id) = revoked_with_copies_downstream();

    let business = w.net.peer(&w.shoes).engine.state();
    assert!(!business.received.contains_key(&id), "the node itself deleted at once");
    assert!(business.held_receipts.contains(&id));
    let due = w
        .net
        .peer(&w.shoes)
        .events
        .iter()
        .any(|e| matches!(e, Event::DeletionDue { agreement_id, .. } if *agreement_id == id));
    assert!(due, "the business's systems are told to delete");
    assert!(matches!(person_lifecycle(&w, id), Lifecycle::Revoked { .. }), "no receipt before they confirm");
    // The person's retries are received, not answered with a receipt.
    w.net.advance(Duration::from_secs(3600));
    assert!(matches!(person_lifecycle(&w, id), Lifecycle::Revoked { .. }));

    command(&mut w.net, w.shoes, Command::ConfirmDeletion(id));
    w.net.settle();
    assert!(matches!(person_lifecycle(&w, id), Lifecycle::Deleted { .. }), "the receipt follows the confirmation");
    assert!(!w.net.peer(&w.shoes).engine.state().held_receipts.contains(&id));
}

#[test]
fn without_copies_downstream_the_receipt_goes_at_once_and_held_ones_are_released_at_start() {
    // Control: the default business sends the receipt with the deletion.
    let mut w = world();
    let id = agreed(&mut w, Use::OneTime);
    revoke(&mut w, id);
    w.net.settle();
    assert!(matches!(person_lifecycle(&w, id), Lifecycle::Deleted { .. }));

    // A receipt held when the webhook was removed goes out at the next start.
    let (mut w, id) = revoked_with_copies_downstream();
    assert!(matches!(person_lifecycle(&w, id), Lifecycle::Revoked { .. }));
    restart_business(&mut w, Config::new(Role::Business, [2; 32]));
    w.net.settle();
    w.net.advance(Duration::from_secs(600));
    assert!(matches!(person_lifecycle(&w, id), Lifecycle::Deleted { .. }), "released at start");
}

#[test]
fn a_receipt_that_comes_twice_is_accepted_once_and_changes_nothing() {
    let mut w = world();
    let id = agreed(&mut w, Use::OneTime);
    revoke(&mut w, id);
    w.net.settle();
    assert!(matches!(w.net.peer(&w.person).engine.state().agreements[&id].lifecycle, Lifecycle::Deleted { .. }));
    let entries = w.net.peer(&w.person).ledger.len();
    // The person's revocation goes again (a new connection, a retry): the business sends the
    // same receipt again, and the person accepts it without a second entry or event.
    revoke_again(&mut w, id);
    w.net.settle();
    let refused = w.net.peer(&w.shoes).events.iter().any(|e| matches!(e, Event::DeliveryRefused { .. }));
    assert!(!refused, "the business does not take the copy for a refusal");
    assert_eq!(w.net.peer(&w.person).ledger.len(), entries);
    let confirmed =
        w.net.peer(&w.person).events.iter().filter(|e| matches!(e, Event::DeletionConfirmed { .. })).count();
    assert_eq!(confirmed, 1);
}

/// The person's revocation of `id` once more, sealed anew as its outbox would.
fn revoke_again(w: &mut World, id: AgreementId) {
    use me2b_proto::envelope::{self, Seal};
    use prost::Message as _;
    let persona = persona_key(&w.net, w.person, w.shoes);
    let revocation = me2b_proto::messages::Revocation { agreement_id: id, reason: String::new() };
    let seal = Seal {
        keypair: &persona,
        kind: MessageKind::Revocation,
        recipient: Some(w.shoes),
        nonce: me2b_proto::identity::Nonce::from_bytes([42; 16]),
        issued_at: w.net.now(),
        expires_at: w.net.now().saturating_add(Duration::from_secs(60)),
    };
    let bytes = envelope::seal(seal, me2b_proto::wire::Revocation::from(&revocation).encode_to_vec());
    let input = Input::Direct { from: persona.public(), to: w.shoes, kind: MessageKind::Revocation, bytes };
    w.net.input(w.shoes, input).unwrap();
}
