//! Signatures and what follows them: whoever finds the terms on the table acceptable signs
//! the agreement's exact bytes (`Agree`); the other side checks them against the negotiated
//! terms and countersigns (`Finalize`); both record the agreement, and [`Engine::after_final`]
//! is the one rule of what happens next.

use super::negotiations::grace_after;
use super::{Change, Engine, Event, OutboxId, Rejection, Result, Role, Timer};
use crate::agreement::{self, Agreement, AgreementRecord};
use crate::identity::{AgreementId, NegotiationId, Signature};
use crate::ledger::EventKind;
use crate::messages::NegotiationBody;
use crate::negotiation::{self, Party, Step};
use crate::time::Timestamp;

/// How the countersignature of a final agreement stands, for [`Engine::after_final`].
pub(super) enum Countersigned {
    /// The peer countersigned: both signatures are on both sides.
    ByPeer(AgreementId),
    /// This node countersigned; the countersignature waits in the outbox (`None`: the outbox
    /// could not take it).
    InFlight {
        /// The agreement.
        agreement_id: AgreementId,
        /// The outbox item carrying the countersignature.
        finalize: Option<OutboxId>,
    },
    /// This node's countersignature was acknowledged by the peer.
    Delivered(AgreementId),
}

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
        let Some(negotiation) = self.state.negotiations.get_mut(&id) else {
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
        let finalize_by = agreement.finalize_by;
        self.send_negotiation(id, NegotiationBody::Agree { agreement: bytes, signature }, now);
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
        let Some(negotiation) = self.state.negotiations.get_mut(&id) else {
            return Ok(());
        };
        negotiation.apply(&Step::Agree { by: Party::Remote }).map_err(Rejection::from)?;
        negotiation.round = round;
        negotiation.apply(&Step::Finalize { by: Party::Local }).map_err(Rejection::from)?;
        negotiation.agreement = Some(bytes.clone());
        let (person_signature, business_signature) =
            if negotiation.local_is_person { (countersignature, signature) } else { (signature, countersignature) };
        let finalize = self.send_negotiation(id, NegotiationBody::Finalize { signature: countersignature }, now);
        let agreement_id = self.finalized(id, agreement, bytes, (person_signature, business_signature), now);
        // The peer holds one signature until our countersignature reaches it.
        self.after_final(Countersigned::InFlight { agreement_id, finalize }, now);
        Ok(())
    }

    pub(super) fn on_finalize(
        &mut self,
        id: NegotiationId,
        round: u32,
        signature: Signature,
        now: Timestamp,
    ) -> Result<()> {
        let Some(negotiation) = self.state.negotiations.get(&id) else {
            return Ok(());
        };
        // The same countersignature again (our answer to the first was lost, and the peer's
        // outbox retried): accepted, so that the peer does not take it for a refusal.
        if negotiation.state == negotiation::State::Finalized
            && negotiation
                .agreement
                .as_ref()
                .is_some_and(|bytes| agreement::verify(&negotiation.peer, bytes, &signature))
        {
            return Ok(());
        }
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
        let Some(key) = self.negotiation_key(&id) else {
            return Ok(());
        };
        let Some(negotiation) = self.state.negotiations.get_mut(&id) else {
            return Ok(());
        };
        negotiation.apply(&Step::Finalize { by: Party::Remote }).map_err(Rejection::from)?;
        negotiation.round = round;
        let mine = agreement::sign(&key, &bytes);
        let (person_signature, business_signature) =
            if negotiation.local_is_person { (mine, signature) } else { (signature, mine) };
        let agreement_id = self.finalized(id, agreement, bytes, (person_signature, business_signature), now);
        // We signed first: the peer's countersignature means it holds both signatures.
        self.after_final(Countersigned::ByPeer(agreement_id), now);
        Ok(())
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

    /// The one rule of what follows an agreement becoming final: a business waits for the
    /// data; a person sends it once the business holds both signatures. That is now if the
    /// business countersigned; if the person countersigned, once the person's countersignature
    /// is delivered (direct streams do not keep their order, so the data could overtake it).
    pub(super) fn after_final(&mut self, countersigned: Countersigned, now: Timestamp) {
        if self.config.role != Role::Person {
            return;
        }
        match countersigned {
            Countersigned::ByPeer(agreement_id) | Countersigned::Delivered(agreement_id) => {
                self.first_delivery(agreement_id, now);
            }
            Countersigned::InFlight { agreement_id, finalize: Some(finalize) } => {
                if let Some(item) = self.state.outbox.get_mut(&finalize) {
                    item.then_deliver = Some(agreement_id);
                    self.persist(Change::Outbox(finalize));
                }
            }
            // The outbox could not take the countersignature: the business never holds both
            // signatures, so nothing is sent.
            Countersigned::InFlight { agreement_id, finalize: None } => {
                self.void(agreement_id, "the countersignature could not be queued".to_string(), now);
            }
        }
    }
}
