//! Signatures and what follows them: whoever finds the terms on the table acceptable signs
//! the agreement's exact bytes (`Agree`); the other side checks them against the negotiated
//! terms and countersigns (`Finalize`); both record the agreement. The first data goes as soon
//! as the business holds both signatures: with a person's countersignature, in the same
//! message (so a cycle is three messages); after a business's, on its own.

use super::data::package_fits;
use super::negotiations::grace_after;
use super::outbox::Delivery;
use super::{Change, Engine, Event, Rejection, Result, Role, Timer};
use crate::agreement::{self, Agreement, AgreementRecord};
use crate::decode::DecodeError;
use crate::envelope::MessageKind;
use crate::identity::{AgreementId, Digest, NegotiationId, Signature};
use crate::ledger::EventKind;
use crate::messages::{DataPackage, NegotiationBody};
use crate::negotiation::{self, Party, Step};
use crate::time::Timestamp;
use crate::wire;
use prost::Message as _;

impl Engine {
    /// The key this node signs with in negotiation `id` (its persona toward the peer).
    pub(super) fn negotiation_key(&self, id: &NegotiationId) -> Option<crate::identity::Keypair> {
        let negotiation = self.state.negotiations.get(id)?;
        Some(self.keypair_for(&negotiation.peer, Some(&negotiation.context)))
    }

    /// Signs the agreement on the peer's terms on the table.
    pub(super) fn sign_and_agree(&mut self, id: NegotiationId, now: Timestamp) {
        let nonce = self.nonce();
        let Some(key) = self.negotiation_key(&id) else {
            return;
        };
        let me = key.public();
        let Some(mut negotiation) = self.state.negotiations.get_mut(&id) else {
            return;
        };
        if negotiation.apply(&Step::Agree { by: Party::Local }).is_err() {
            return;
        }
        let (person, business) =
            if negotiation.local_is_person { (me, negotiation.peer) } else { (negotiation.peer, me) };
        let agreement = Agreement {
            negotiation_id: id,
            person,
            business,
            context: negotiation.context,
            terms: negotiation.terms.clone(),
            created_at: now,
            finalize_by: grace_after(negotiation.deadline),
            nonce,
        };
        let bytes = agreement.encode();
        let signature = agreement::sign(&key, &bytes);
        negotiation.agreement = Some(bytes.clone());
        let local_is_person = negotiation.local_is_person;
        drop(negotiation);
        let finalize_by = agreement.finalize_by;
        // A business's signature leaves without waiting for its write: it acknowledges nothing,
        // and a business that loses it to a crash refuses the countersignature as unknown (see
        // `Output::Send::early`). A person's signature commits the person's data: it waits.
        let delivery = Delivery { early: !local_is_person, ..Delivery::default() };
        self.send_negotiation_with(id, NegotiationBody::Agree { agreement: bytes, signature }, delivery, now);
        self.set_timer(finalize_by, Timer::NegotiationDeadline(id));
    }

    pub(super) fn on_agree(
        &mut self,
        id: NegotiationId,
        round: u32,
        bytes: Vec<u8>,
        signature: Signature,
        now: Timestamp,
    ) -> Result<()> {
        let Some(key) = self.negotiation_key(&id) else {
            return Ok(());
        };
        let me = key.public();
        let Some(negotiation) = self.state.negotiations.get(&id) else {
            return Ok(());
        };
        negotiation::next(Some(&negotiation.state), &Step::Agree { by: Party::Remote }).map_err(Rejection::from)?;
        let agreement = Agreement::decode(&bytes).map_err(Rejection::from)?;
        let parties = if negotiation.local_is_person { (me, negotiation.peer) } else { (negotiation.peer, me) };
        let matches = agreement.negotiation_id == id
            && (agreement.person, agreement.business) == parties
            && agreement.context == negotiation.context
            && agreement.terms == negotiation.terms
            && agreement.finalize_by == grace_after(negotiation.deadline);
        if !matches {
            return Err(Rejection::Protocol("agreement differs from the negotiated terms").into());
        }
        if !agreement::verify(&negotiation.peer, &bytes, &signature) {
            return Err(Rejection::Protocol("bad agreement signature").into());
        }
        if now >= negotiation.deadline {
            return Err(Rejection::Stale("agreement arrived after the deadline").into());
        }
        let countersignature = agreement::sign(&key, &bytes);
        let Some(mut negotiation) = self.state.negotiations.get_mut(&id) else {
            return Ok(());
        };
        negotiation.apply(&Step::Agree { by: Party::Remote }).map_err(Rejection::from)?;
        negotiation.round = round;
        negotiation.apply(&Step::Finalize { by: Party::Local }).map_err(Rejection::from)?;
        negotiation.agreement = Some(bytes.clone());
        let peer = negotiation.peer;
        let (person_signature, business_signature) =
            if negotiation.local_is_person { (countersignature, signature) } else { (signature, countersignature) };
        drop(negotiation);
        let agreement_id = self.finalized(id, agreement, bytes, (person_signature, business_signature), now);
        if self.config.role != Role::Person {
            // A business's countersignature: the person sends the data when it arrives.
            self.send_negotiation(
                id,
                NegotiationBody::Finalize { signature: countersignature, first_package: None },
                now,
            );
            return Ok(());
        }
        // The person's countersignature carries the first data: the business signed first,
        // so the data travels under terms both have signed. If the outbox cannot take the
        // message, nothing is packaged and the agreement is void.
        let first_package = match self.state.outbox.has_room(&peer, MessageKind::Negotiation) {
            Ok(()) => self.first_package(agreement_id, now),
            Err(_) => None,
        };
        let body = NegotiationBody::Finalize { signature: countersignature, first_package };
        let delivery = Delivery { about: Some(agreement_id), countersigns: Some(agreement_id), ..Delivery::default() };
        if self.send_negotiation_with(id, body, delivery, now).is_none() {
            // The business never holds both signatures, so nothing is sent.
            self.void(agreement_id, "the countersignature could not be queued".to_string(), now);
        }
        Ok(())
    }

    /// The peer countersigned. A person's countersignature may carry the first data: it is
    /// checked against the agreement before anything changes, and a package that does not fit
    /// refuses the countersignature with it (the person then voids the agreement too).
    pub(super) fn on_finalize(
        &mut self,
        id: NegotiationId,
        round: u32,
        signature: Signature,
        first_package: Option<Vec<u8>>,
        now: Timestamp,
    ) -> Result<()> {
        let Some(negotiation) = self.state.negotiations.get(&id) else {
            return Ok(());
        };
        negotiation::next(Some(&negotiation.state), &Step::Finalize { by: Party::Remote }).map_err(Rejection::from)?;
        let Some(bytes) = negotiation.agreement.clone() else {
            return Err(Rejection::Protocol("nothing to countersign").into());
        };
        if !agreement::verify(&negotiation.peer, &bytes, &signature) {
            return Err(Rejection::Protocol("bad countersignature").into());
        }
        let agreement = Agreement::decode(&bytes).map_err(Rejection::from)?;
        if now > agreement.finalize_by {
            return Err(Rejection::Stale("countersignature arrived too late").into());
        }
        let package = match first_package {
            Some(encoded) => Some(self.first_package_fits(&agreement, &bytes, encoded)?),
            None => None,
        };
        let Some(key) = self.negotiation_key(&id) else {
            return Ok(());
        };
        let Some(mut negotiation) = self.state.negotiations.get_mut(&id) else {
            return Ok(());
        };
        negotiation.apply(&Step::Finalize { by: Party::Remote }).map_err(Rejection::from)?;
        negotiation.round = round;
        let peer = negotiation.peer;
        let mine = agreement::sign(&key, &bytes);
        let (person_signature, business_signature) =
            if negotiation.local_is_person { (mine, signature) } else { (signature, mine) };
        drop(negotiation);
        let agreement_id = self.finalized(id, agreement, bytes, (person_signature, business_signature), now);
        match package {
            Some((package, digest)) => self.take_package(peer, package, digest, now),
            // We signed first: the peer's countersignature means it holds both signatures.
            None if self.config.role == Role::Person => self.first_delivery(agreement_id, now),
            None => {}
        }
        Ok(())
    }

    /// The first data a person's countersignature carries, decoded and checked against the
    /// agreement it countersigns, with the digest of its bytes.
    fn first_package_fits(
        &self,
        agreement: &Agreement,
        bytes: &[u8],
        encoded: Vec<u8>,
    ) -> Result<(DataPackage, Digest), Rejection> {
        if self.config.role != Role::Business {
            return Err(Rejection::Protocol("only a person sends data"));
        }
        let digest = Digest::of(&encoded);
        let wire_package = wire::DataPackage::decode(encoded.as_slice()).map_err(DecodeError::from)?;
        let package = DataPackage::try_from(wire_package)?;
        if package.agreement_id != Agreement::id_of(bytes) {
            return Err(Rejection::Protocol("data for another agreement"));
        }
        package_fits(&agreement.terms, 0, &package)?;
        Ok((package, digest))
    }

    /// Records a finalized agreement; `signatures` are the person's and the business's.
    fn finalized(
        &mut self,
        id: NegotiationId,
        agreement: Agreement,
        bytes: Vec<u8>,
        signatures: (Signature, Signature),
        now: Timestamp,
    ) -> AgreementId {
        let record = AgreementRecord::new(agreement, bytes, signatures, now);
        let (agreement_id, retention_ends) = (record.id, record.retention_ends());
        let peer = if self.config.role == Role::Person { record.agreement.business } else { record.agreement.person };
        let fields = record.agreement.terms.paths().into_iter().cloned().collect();
        self.state.agreements.insert(record);
        self.persist(Change::Negotiation(id));
        self.persist(Change::Agreement(agreement_id));
        let subject = agreement_id.as_bytes();
        self.record(now, EventKind::AgreementFinalized, Some(peer), subject, fields, Some(agreement_id));
        self.event(Event::Finalized { negotiation_id: id, agreement_id, peer });
        // Trust on first use: the business's key is pinned to its name.
        self.pin_business(peer, now);
        self.set_timer(retention_ends, Timer::RetentionEnd(agreement_id));
        agreement_id
    }
}
