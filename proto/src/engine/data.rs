//! What flows under an agreement: data packages (once, as a subscription, or a trigger's
//! event), personal offers within the contact cap, revocation, expiry and deletion receipts.

use super::outbox::Delivery;
use super::{Answer, Change, CommandError, Engine, Event, ReceivedItem, Rejection, Result, Role, Timer, parse};
use crate::agreement::{self, Lifecycle, RevocationAnswer, RevocationStatus};
use crate::envelope::{MessageKind, Opened};
use crate::identity::{AgreementId, Digest, OfferId, PublicKey};
use crate::ledger::EventKind;
use crate::limits::{MAX_ANSWER_REASON_BYTES, MAX_OUTBOX_AGE_MS};
use crate::messages::{
    DataItem, DataPackage, DeletionCause, DeletionReceipt, ItemContent, PersonalOffer, ProductOffer, Revocation,
};
use crate::terms::{Terms, Use};
use crate::text::printable;
use crate::time::Timestamp;
use crate::vocab::FieldPath;
use crate::wire;
use prost::Message as _;

impl Engine {
    /// Right after finalization, when the business already holds both signatures: the first
    /// data goes on its own.
    pub(super) fn first_delivery(&mut self, id: AgreementId, now: Timestamp) {
        let items = self.first_items(id, now);
        self.send_package(id, items, now);
    }

    /// The first data of an agreement this person just countersigned, encoded to ride with the
    /// countersignature (`None` if nothing is due yet).
    pub(super) fn first_package(&mut self, id: AgreementId, now: Timestamp) -> Option<Vec<u8>> {
        let items = self.first_items(id, now);
        self.package(id, items, now).map(|(_, payload)| payload)
    }

    /// What an agreement owes as soon as it is final: one-time and subscription agreements
    /// their fields; a trigger its event if its condition already holds.
    fn first_items(&mut self, id: AgreementId, now: Timestamp) -> Vec<DataItem> {
        let Some(record) = self.state.agreements.get(&id) else {
            return Vec::new();
        };
        match record.agreement.terms.usage.clone() {
            Use::OneTime | Use::Subscription { .. } => self.field_items(id, now),
            Use::Trigger { path, .. } => self.trigger_item(id, &path, now).into_iter().collect(),
        }
    }

    /// A vault value changed: subscriptions owe an update, triggers may fire.
    pub(super) fn vault_changed(&mut self, path: &FieldPath, now: Timestamp) {
        for (id, usage) in self.state.agreements.concerned_by(path) {
            match usage {
                Use::Subscription { min_interval } => {
                    let Some(record) = self.state.agreements.get_mut(&id) else {
                        continue;
                    };
                    let due = record.last_package_at.map_or(now, |at| at.saturating_add(min_interval));
                    if due <= now {
                        self.send_fields(id, now);
                    } else if !record.update_due {
                        record.update_due = true;
                        self.persist(Change::Agreement(id));
                        self.set_timer(due, Timer::SubscriptionDue(id));
                    }
                }
                Use::Trigger { .. } => self.check_trigger(id, path, now),
                Use::OneTime => {}
            }
        }
    }

    pub(super) fn subscription_due(&mut self, id: AgreementId, now: Timestamp) {
        if self.state.agreements.get(&id).is_some_and(|record| record.is_active() && record.update_due) {
            self.send_fields(id, now);
        }
    }

    /// Sends every agreed field the vault can answer.
    fn send_fields(&mut self, id: AgreementId, now: Timestamp) {
        let items = self.field_items(id, now);
        self.send_package(id, items, now);
    }

    /// Every agreed field the vault can answer, as the agreement discloses it.
    fn field_items(&self, id: AgreementId, now: Timestamp) -> Vec<DataItem> {
        let Some(record) = self.state.agreements.get(&id) else {
            return Vec::new();
        };
        record
            .agreement
            .terms
            .fields
            .iter()
            .filter_map(|field| {
                let value = self.state.vault.get(&field.path)?.value.expose();
                let content = ItemContent::disclose(&field.disclosure, value, now)?;
                Some(DataItem { path: field.path.clone(), content })
            })
            .collect()
    }

    /// Fires a trigger when its condition turns true, once; re-arms it only when its `rearm`
    /// condition holds (and the condition does not), so a value hovering at the threshold
    /// fires once, not at every change.
    fn check_trigger(&mut self, id: AgreementId, path: &FieldPath, now: Timestamp) {
        if let Some(item) = self.trigger_item(id, path, now) {
            self.send_package(id, vec![item], now);
        }
    }

    /// The trigger's event if it fires now (disarming it), re-arming it when its `rearm`
    /// condition holds.
    fn trigger_item(&mut self, id: AgreementId, path: &FieldPath, now: Timestamp) -> Option<DataItem> {
        let record = self.state.agreements.get(&id)?;
        let Use::Trigger { predicate, event, rearm, .. } = &record.agreement.terms.usage else {
            return None;
        };
        let value = self.state.vault.get(path).map(|r| r.value.expose());
        let answer = |p: &crate::predicate::Predicate| value.and_then(|v| p.evaluate(v, now).ok()).unwrap_or(false);
        let holds = answer(predicate);
        let rearms = !holds && rearm.as_deref().is_some_and(answer);
        let (armed, event) = (record.trigger_armed, event.clone());
        if holds && armed {
            if let Some(record) = self.state.agreements.get_mut(&id) {
                record.trigger_armed = false;
            }
            return Some(DataItem { path: path.clone(), content: ItemContent::TriggerEvent(event) });
        }
        if rearms && !armed {
            if let Some(record) = self.state.agreements.get_mut(&id) {
                record.trigger_armed = true;
            }
            self.persist(Change::Agreement(id));
        }
        None
    }

    /// Sends `items` under an active agreement, after checking them against it.
    fn send_package(&mut self, id: AgreementId, items: Vec<DataItem>, now: Timestamp) {
        if let Some((business, payload)) = self.package(id, items, now) {
            self.send(
                business,
                MessageKind::DataPackage,
                payload,
                Delivery { about: Some(id), ..Delivery::default() },
                now,
            );
        }
    }

    /// Makes the next package of `items` under an active agreement, after checking them
    /// against it, and records it as sent: the business and the encoded package, for the
    /// caller to send (`None` if nothing may or needs to go).
    fn package(&mut self, id: AgreementId, items: Vec<DataItem>, now: Timestamp) -> Option<(PublicKey, Vec<u8>)> {
        let record = self.state.agreements.get_mut(&id)?;
        if !record.is_active() || items.is_empty() {
            return None;
        }
        // The one rule of what may leave the node, checked before anything is sent.
        if agreement::check_items(&record.agreement.terms, items.iter().map(|i| (&i.path, &i.content))).is_err() {
            return None;
        }
        record.last_package += 1;
        record.last_package_at = Some(now);
        record.update_due = false;
        let package = DataPackage { agreement_id: id, sequence: record.last_package, items };
        let business = record.agreement.business;
        let fields: Vec<FieldPath> = package.items.iter().map(|i| i.path.clone()).collect();
        let payload = wire::DataPackage::from(&package).encode_to_vec();
        let digest = Digest::of(&payload);
        self.persist(Change::Agreement(id));
        self.record(now, EventKind::DataSent, Some(business), id.as_bytes(), fields.clone(), Some(digest));
        self.event(Event::DataSent { agreement_id: id, fields });
        Some((business, payload))
    }

    /// A business receives data: only under an active agreement, only what it names.
    pub(super) fn on_package(&mut self, opened: &Opened, now: Timestamp) -> Result<()> {
        let package: DataPackage = parse::<wire::DataPackage, _>(opened)?;
        let record = self.agreement_with(&package.agreement_id, opened)?;
        if !record.is_active() {
            return Err(Rejection::Stale("agreement no longer active").into());
        }
        package_fits(&record.agreement.terms, record.last_package, &package)?;
        self.take_package(opened.header().sender, package, Digest::of(opened.payload()), now);
        Ok(())
    }

    /// Keeps a package already checked against its agreement ([`package_fits`]); `digest` is
    /// that of its encoded bytes, for the ledger.
    pub(super) fn take_package(&mut self, from: PublicKey, package: DataPackage, digest: Digest, now: Timestamp) {
        let id = package.agreement_id;
        let Some(record) = self.state.agreements.get_mut(&id) else {
            return;
        };
        record.last_package = package.sequence;
        record.last_package_at = Some(now);
        let held = self.state.received.entry(id).or_default();
        let fields: Vec<FieldPath> = package.items.iter().map(|i| i.path.clone()).collect();
        for item in package.items {
            held.insert(item.path, ReceivedItem { content: item.content, sequence: package.sequence, at: now });
        }
        self.persist(Change::Agreement(id));
        self.persist(Change::Received(id));
        self.record(now, EventKind::DataReceived, Some(from), id.as_bytes(), fields.clone(), Some(digest));
        self.event(Event::DataReceived { agreement_id: id, fields });
    }

    pub(super) fn send_offer(&mut self, id: AgreementId, offer: ProductOffer, now: Timestamp) -> Result<OfferId> {
        self.require(Role::Business)?;
        let me = self.public_key();
        let offer_id = OfferId::from_bytes(self.random());
        let record = self.state.agreements.get_mut(&id).ok_or(CommandError::UnknownAgreement(id))?;
        if record.agreement.business != me {
            return Err(CommandError::UnknownAgreement(id).into());
        }
        if !record.is_active() {
            return Err(CommandError::Lifecycle(crate::agreement::LifecycleError {
                state: record.lifecycle.name(),
                step: "send an offer",
            })
            .into());
        }
        if record.agreement.terms.contact.is_none() {
            return Err(CommandError::ContactNotAllowed.into());
        }
        if !record.offer_allowed(now) {
            return Err(CommandError::ContactCapReached.into());
        }
        let person = record.agreement.person;
        self.state.outbox.has_room(&person, MessageKind::PersonalOffer).map_err(CommandError::from)?;
        let Some(record) = self.state.agreements.get_mut(&id) else {
            return Err(CommandError::UnknownAgreement(id).into());
        };
        record.keep_offer(offer_id, offer.clone(), now);
        let message = PersonalOffer { agreement_id: id, offer_id, offer };
        let wire_offer = wire::PersonalOffer::from(&message);
        PersonalOffer::try_from(wire_offer.clone()).map_err(|e| CommandError::Invalid(e.to_string()))?;
        let payload = wire_offer.encode_to_vec();
        let digest = Digest::of(&payload);
        self.persist(Change::Agreement(id));
        self.send(
            person,
            MessageKind::PersonalOffer,
            payload,
            Delivery { about: Some(id), ..Delivery::default() },
            now,
        );
        self.record(now, EventKind::OfferSent, Some(person), id.as_bytes(), Vec::new(), Some(digest));
        Ok(offer_id)
    }

    /// A person receives an offer: only under an active agreement that allows contact, within
    /// its frequency cap.
    pub(super) fn on_offer(&mut self, opened: &Opened, now: Timestamp) -> Result<()> {
        let offer: PersonalOffer = parse::<wire::PersonalOffer, _>(opened)?;
        let from = opened.header().sender;
        let id = offer.agreement_id;
        let record = self.agreement_with(&id, opened)?;
        if !record.is_active() {
            return Err(Rejection::Protocol("offer under an agreement that is not active").into());
        }
        if record.agreement.terms.contact.is_none() {
            return Err(Rejection::Protocol("agreement does not allow contact").into());
        }
        if !record.offer_allowed(now) {
            return Err(Rejection::Protocol("contact frequency cap exceeded").into());
        }
        record.keep_offer(offer.offer_id, offer.offer.clone(), now);
        self.persist(Change::Agreement(id));
        self.record(
            now,
            EventKind::OfferReceived,
            Some(from),
            id.as_bytes(),
            Vec::new(),
            Some(Digest::of(opened.payload())),
        );
        self.event(Event::OfferReceived { agreement_id: id, offer_id: offer.offer_id, offer: offer.offer });
        Ok(())
    }

    /// The person revokes: written first, then sent, and kept in the outbox until the
    /// business's signed receipt arrives. Whatever was queued under the agreement is cancelled
    /// in the same step, so nothing for it leaves the node afterwards. Revoking again a
    /// revocation not yet confirmed sends it again now. A void agreement under which data went
    /// out can be revoked too ([`AgreementRecord::revoke`](crate::agreement::AgreementRecord::revoke)).
    pub(super) fn revoke(&mut self, id: AgreementId, reason: String, now: Timestamp) -> Result<()> {
        self.require(Role::Person)?;
        let revocation = Revocation { agreement_id: id, reason: reason.clone() };
        let wire_revocation = wire::Revocation::from(&revocation);
        Revocation::try_from(wire_revocation.clone()).map_err(|e| CommandError::Invalid(e.to_string()))?;
        let record = self.state.agreements.get_mut(&id).ok_or(CommandError::UnknownAgreement(id))?;
        let first = !matches!(record.lifecycle, Lifecycle::Revoked { .. });
        if first {
            record.revoke(now).map_err(CommandError::from)?;
        }
        let answers = record.revocation.as_ref().map_or(0, |status| status.answers);
        let answer = record.revocation.as_ref().map_or(RevocationAnswer::Pending, |status| status.answer.clone());
        record.revocation = Some(RevocationStatus { reason, requested_at: now, answers, answer });
        record.update_due = false;
        let business = record.agreement.business;
        let give_up_at =
            record.retention_ends().max(now.saturating_add(std::time::Duration::from_millis(MAX_OUTBOX_AGE_MS)));
        self.persist(Change::Agreement(id));
        // Data waiting to go, and a countersignature (which carries data) waiting to be sent
        // again.
        for cancelled in self.state.outbox.cancel(id, &[MessageKind::DataPackage, MessageKind::Negotiation]) {
            self.persist(Change::Outbox(cancelled));
        }
        let delivery = Delivery { give_up_at: Some(give_up_at), about: Some(id), ..Delivery::default() };
        self.send(business, MessageKind::Revocation, wire_revocation.encode_to_vec(), delivery, now);
        if first {
            self.record(now, EventKind::Revoked, Some(business), id.as_bytes(), Vec::new(), None);
            self.event(Event::Revoked { agreement_id: id });
        }
        Ok(())
    }

    /// The business answered a revocation. Only its receipt ends it: an acknowledgement is
    /// noted; a refusal makes it "not confirmed", with the business's words, in the ledger and
    /// the events (once per distinct answer, so a business repeating itself does not grow the
    /// ledger).
    pub(super) fn revocation_answered(&mut self, id: AgreementId, answer: &Answer, now: Timestamp) {
        let Some(status) = self.state.agreements.get_mut(&id).and_then(|record| record.revocation.as_mut()) else {
            return;
        };
        status.answers = status.answers.saturating_add(1);
        match answer.reason() {
            None => {
                status.answer = RevocationAnswer::Acknowledged { at: now };
                self.persist(Change::Agreement(id));
            }
            Some(reason) => {
                let reason = printable(reason, MAX_ANSWER_REASON_BYTES);
                self.revocation_not_confirmed(id, reason, now);
            }
        }
    }

    /// Marks a revocation not confirmed, telling the person and the ledger if this is news.
    pub(super) fn revocation_not_confirmed(&mut self, id: AgreementId, reason: String, now: Timestamp) {
        let Some(record) = self.state.agreements.get_mut(&id) else {
            return;
        };
        let business = record.agreement.business;
        let Some(status) = record.revocation.as_mut() else {
            return;
        };
        let news = !matches!(&status.answer, RevocationAnswer::NotConfirmed { reason: known, .. } if *known == reason);
        status.answer = RevocationAnswer::NotConfirmed { at: now, reason: reason.clone() };
        self.persist(Change::Agreement(id));
        if news {
            let digest = Some(Digest::of(reason.as_bytes()));
            self.record(now, EventKind::RevocationNotConfirmed, Some(business), id.as_bytes(), Vec::new(), digest);
            self.event(Event::RevocationNotConfirmed { agreement_id: id, reason });
        }
    }

    /// The business refused, or never received, this person's countersignature: the agreement
    /// is void and nothing is sent under it.
    pub(super) fn void(&mut self, id: AgreementId, reason: String, now: Timestamp) {
        let Some(record) = self.state.agreements.get_mut(&id) else {
            return;
        };
        if record.void(now).is_err() {
            return;
        }
        let business = record.agreement.business;
        self.persist(Change::Agreement(id));
        for cancelled in self.state.outbox.cancel(id, &[MessageKind::DataPackage]) {
            self.persist(Change::Outbox(cancelled));
        }
        let digest = Some(Digest::of(reason.as_bytes()));
        self.record(now, EventKind::AgreementVoid, Some(business), id.as_bytes(), Vec::new(), digest);
        self.event(Event::AgreementVoid { agreement_id: id, reason });
    }

    /// A business is told to revoke: it deletes and answers with a signed receipt. A repeated
    /// revocation gets the same receipt again.
    pub(super) fn on_revocation(&mut self, opened: &Opened, now: Timestamp) -> Result<()> {
        let revocation: Revocation = parse::<wire::Revocation, _>(opened)?;
        let from = opened.header().sender;
        let id = revocation.agreement_id;
        let held = self.state.held_receipts.contains(&id);
        let record = self.agreement_with(&id, opened)?;
        match (&record.lifecycle, &record.receipt) {
            // Deleted here, but the business's own systems have not confirmed yet: the person's
            // revocation is received (acknowledged) and the receipt follows when they do.
            (Lifecycle::Deleted { .. }, Some(_)) if held => {}
            (Lifecycle::Deleted { .. }, Some(receipt)) => {
                let receipt = receipt.clone();
                self.send_receipt(from, id, receipt, now);
            }
            _ => {
                self.record(
                    now,
                    EventKind::Revoked,
                    Some(from),
                    id.as_bytes(),
                    Vec::new(),
                    Some(Digest::of(opened.payload())),
                );
                self.event(Event::Revoked { agreement_id: id });
                self.delete_held(id, DeletionCause::Revoked, now);
            }
        }
        Ok(())
    }

    /// Deletes what a business holds under an agreement and sends the signed receipt, or holds
    /// it until the business's own systems confirm their copies are gone.
    fn delete_held(&mut self, id: AgreementId, cause: DeletionCause, now: Timestamp) {
        let items = self.state.received.remove(&id).map_or(0, |held| held.len() as u64);
        let Some(record) = self.state.agreements.get_mut(&id) else {
            return;
        };
        if record.delete(now, cause).is_err() {
            return;
        }
        let receipt = DeletionReceipt { agreement_id: id, cause, items_deleted: items, deleted_at: now };
        let payload = wire::DeletionReceipt::from(&receipt).encode_to_vec();
        record.receipt = Some(payload.clone());
        let held = self.config.confirm_deletions_downstream;
        let person = record.agreement.person;
        if held {
            self.state.held_receipts.insert(id);
            self.persist(Change::HeldReceipt(id));
        }
        self.persist(Change::Received(id));
        self.persist(Change::Agreement(id));
        for cancelled in self.state.outbox.cancel(id, &[MessageKind::PersonalOffer]) {
            self.persist(Change::Outbox(cancelled));
        }
        self.record(now, EventKind::DataDeleted, Some(person), id.as_bytes(), Vec::new(), None);
        if cause == DeletionCause::Expired {
            self.event(Event::Expired { agreement_id: id });
        }
        self.event(Event::DataDeleted { agreement_id: id, items });
        if held {
            self.event(Event::DeletionDue { agreement_id: id, cause });
        } else {
            self.send_receipt(person, id, payload, now);
        }
    }

    /// Sends a receipt [`Self::delete_held`] held back, once the business's own systems
    /// confirmed; nothing if none is held.
    pub(super) fn release_receipt(&mut self, id: AgreementId, now: Timestamp) {
        if !self.state.held_receipts.remove(&id) {
            return;
        }
        self.persist(Change::HeldReceipt(id));
        let Some(record) = self.state.agreements.get(&id) else {
            return;
        };
        let Some(payload) = record.receipt.clone() else {
            return;
        };
        let person = record.agreement.person;
        self.send_receipt(person, id, payload, now);
    }

    /// Sends the signed deletion receipt `payload` for agreement `id` to `person`.
    fn send_receipt(&mut self, person: PublicKey, id: AgreementId, payload: Vec<u8>, now: Timestamp) {
        let delivery = Delivery { about: Some(id), ..Delivery::default() };
        self.send(person, MessageKind::DeletionReceipt, payload, delivery, now);
    }

    /// A person receives the business's signed deletion receipt (`envelope`, kept as
    /// evidence): it ends the revocation, if one was pending.
    pub(super) fn on_receipt(&mut self, opened: &Opened, envelope: &[u8], now: Timestamp) -> Result<()> {
        let receipt: DeletionReceipt = parse::<wire::DeletionReceipt, _>(opened)?;
        let from: PublicKey = opened.header().sender;
        let id = receipt.agreement_id;
        let record = self.agreement_with(&id, opened)?;
        if matches!(record.lifecycle, Lifecycle::Deleted { .. }) {
            // The same receipt again (a revocation sent twice, say on a new connection, gets
            // it twice): accepted, so that the business does not take it for a refusal.
            if record.receipt.as_deref() == Some(opened.payload()) {
                return Ok(());
            }
            return Err(Rejection::Stale("receipt already received").into());
        }
        record.delete(now, receipt.cause).map_err(Rejection::from)?;
        record.receipt = Some(opened.payload().to_vec());
        record.receipt_envelope = Some(envelope.to_vec());
        record.revocation = None;
        self.persist(Change::Agreement(id));
        for settled in self.state.outbox.cancel(id, &[MessageKind::Revocation, MessageKind::DataPackage]) {
            self.persist(Change::Outbox(settled));
        }
        self.record(
            now,
            EventKind::DeletionReceipt,
            Some(from),
            id.as_bytes(),
            Vec::new(),
            Some(Digest::of(opened.payload())),
        );
        self.event(Event::DeletionConfirmed { agreement_id: id });
        Ok(())
    }

    pub(super) fn retention_ended(&mut self, id: AgreementId, now: Timestamp) {
        let Some(record) = self.state.agreements.get_mut(&id) else {
            return;
        };
        if !record.is_active() {
            return;
        }
        let ends = record.retention_ends();
        if now < ends {
            self.set_timer(ends, Timer::RetentionEnd(id));
            return;
        }
        match self.config.role {
            Role::Business => self.delete_held(id, DeletionCause::Expired, now),
            Role::Person => {
                if record.expire(now).is_ok() {
                    let business = record.agreement.business;
                    self.persist(Change::Agreement(id));
                    self.record(now, EventKind::Expired, Some(business), id.as_bytes(), Vec::new(), None);
                    self.event(Event::Expired { agreement_id: id });
                }
            }
        }
    }
}

/// Whether `package` may be kept under an agreement on `terms` whose last package was
/// `last_package`: a newer sequence, and only what the terms name, as they disclose it.
pub(super) fn package_fits(terms: &Terms, last_package: u64, package: &DataPackage) -> Result<(), Rejection> {
    if package.sequence <= last_package {
        return Err(Rejection::Stale("package already received"));
    }
    agreement::check_items(terms, package.items.iter().map(|i| (&i.path, &i.content))).map_err(Rejection::from)
}
