//! Agreements: the terms both parties signed, and what happens to them afterwards.
//!
//! The agreement's bytes are encoded once, by the side that signs first, and both signatures
//! are over those exact bytes; the agreement id is their SHA-256. After finalization an
//! agreement is `ACTIVE`, then `REVOKED` (by the person) or `EXPIRED` (retention ran out), and
//! `DELETED` once the business's signed deletion receipt exists: only a receipt ends a
//! revocation, and until it arrives the person sees where it stands ([`RevocationStatus`]). A
//! person's agreement whose countersignature the business refused is `VOID`: nothing flows
//! under it.

use crate::decode::{self, DecodeError};
use crate::identity::{
    AgreementId, Digest, Keypair, NegotiationId, Nonce, OfferId, PublicKey, Signature, SignatureDomain,
};
use crate::messages::{Context, DeletionCause, ItemContent, ProductOffer};
use crate::terms::{Disclosure, Terms, Use};
use crate::time::Timestamp;
use crate::vocab::FieldPath;
use crate::wire;
use prost::Message as _;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// What both parties sign.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Agreement {
    /// The negotiation that produced it.
    pub negotiation_id: NegotiationId,
    /// The person.
    pub person: PublicKey,
    /// The business.
    pub business: PublicKey,
    /// What it answers.
    pub context: Context,
    /// The terms.
    pub terms: Terms,
    /// When the first side signed.
    pub created_at: Timestamp,
    /// The countersignature is accepted until then.
    pub finalize_by: Timestamp,
    /// Makes every agreement unique.
    pub nonce: Nonce,
}

impl Agreement {
    /// The bytes to sign and send.
    pub fn encode(&self) -> Vec<u8> {
        wire::Agreement {
            negotiation_id: self.negotiation_id.to_bytes().to_vec(),
            person: self.person.to_bytes().to_vec(),
            business: self.business.to_bytes().to_vec(),
            context: Some(self.context.into()),
            terms: Some((&self.terms).into()),
            created_at_ms: self.created_at.as_millis(),
            finalize_by_ms: self.finalize_by.as_millis(),
            nonce: self.nonce.to_bytes().to_vec(),
        }
        .encode_to_vec()
    }

    /// Reads an agreement from the bytes that were signed.
    pub fn decode(bytes: &[u8]) -> Result<Agreement, DecodeError> {
        let agreement = wire::Agreement::decode(bytes)?;
        Ok(Agreement {
            negotiation_id: decode::key("agreement.negotiation_id", &agreement.negotiation_id)?,
            person: decode::key("agreement.person", &agreement.person)?,
            business: decode::key("agreement.business", &agreement.business)?,
            context: decode::required("agreement.context", agreement.context)?.try_into()?,
            terms: decode::required("agreement.terms", agreement.terms)?.try_into()?,
            created_at: Timestamp::from_millis(agreement.created_at_ms),
            finalize_by: Timestamp::from_millis(agreement.finalize_by_ms),
            nonce: decode::key("agreement.nonce", &agreement.nonce)?,
        })
    }

    /// The id of the agreement encoded as `bytes`.
    pub fn id_of(bytes: &[u8]) -> AgreementId {
        Digest::of(bytes)
    }
}

/// Signs agreement bytes.
pub fn sign(keypair: &Keypair, bytes: &[u8]) -> Signature {
    keypair.sign(SignatureDomain::Agreement, bytes)
}

/// Checks a signature over agreement bytes.
pub fn verify(key: &PublicKey, bytes: &[u8], signature: &Signature) -> bool {
    key.verify(SignatureDomain::Agreement, bytes, signature)
}

/// Where an agreement stands after finalization.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Lifecycle {
    /// In force.
    Active,
    /// The person revoked it; the business must delete.
    Revoked {
        /// When.
        at: Timestamp,
    },
    /// The retention ran out; the business must delete.
    Expired {
        /// When.
        at: Timestamp,
    },
    /// The business deleted the data and signed a receipt.
    Deleted {
        /// When.
        at: Timestamp,
        /// Why.
        cause: DeletionCause,
    },
    /// The business refused the person's countersignature (or never received it): the
    /// business does not hold the agreement, and nothing was or will be sent under it.
    Void {
        /// When.
        at: Timestamp,
    },
}

impl Lifecycle {
    /// The upper-case name used in the API and CLI.
    pub fn name(&self) -> &'static str {
        match self {
            Lifecycle::Active => "ACTIVE",
            Lifecycle::Revoked { .. } => "REVOKED",
            Lifecycle::Expired { .. } => "EXPIRED",
            Lifecycle::Void { .. } => "VOID",
            Lifecycle::Deleted { .. } => "DELETED",
        }
    }
}

/// A lifecycle step that the state does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("agreement is {state}; cannot {step}")]
pub struct LifecycleError {
    /// The state's name.
    pub state: &'static str,
    /// What was tried.
    pub step: &'static str,
}

/// A finalized agreement held by either party, with what happened under it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgreementRecord {
    /// Its id.
    pub id: AgreementId,
    /// The agreement.
    pub agreement: Agreement,
    /// The exact bytes both signed.
    pub bytes: Vec<u8>,
    /// The person's signature.
    pub person_signature: Signature,
    /// The business's signature.
    pub business_signature: Signature,
    /// When it was finalized.
    pub finalized_at: Timestamp,
    /// Where it stands.
    pub lifecycle: Lifecycle,
    /// Sequence of the last data package sent or received.
    pub last_package: u64,
    /// When the last package was sent (person) or received (business).
    pub last_package_at: Option<Timestamp>,
    /// A subscription update is owed once the minimum interval has passed.
    pub update_due: bool,
    /// For a trigger: whether it may fire (it has not yet, or its re-arm condition held
    /// since it last did).
    pub trigger_armed: bool,
    /// When recent personal offers were sent or received (for the frequency cap).
    pub recent_offers: VecDeque<Timestamp>,
    /// The encoded deletion receipt (the payload the business signed), once it exists.
    pub receipt: Option<Vec<u8>>,
    /// The person's copy of the business's signed envelope carrying the receipt, exactly as it
    /// arrived: evidence anyone can check offline against the business's key.
    #[serde(default)]
    pub receipt_envelope: Option<Vec<u8>>,
    /// A person's revocation, from the moment it is written until the receipt arrives.
    #[serde(default)]
    pub revocation: Option<RevocationStatus>,
    /// Personal offers sent (business) or received (person) under it, newest last, at most
    /// [`crate::limits::MAX_OFFERS_KEPT`].
    pub offers: VecDeque<OfferRecord>,
}

/// Where a person's revocation stands. It is written with the revocation and only a valid
/// signed receipt from the business's key ends it (the agreement becomes `DELETED`); no answer,
/// however polite, does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevocationStatus {
    /// The person's reason, sent with every attempt.
    pub reason: String,
    /// When the person (last) asked for it.
    pub requested_at: Timestamp,
    /// Answers the business gave so far (each attempt that reached it).
    pub answers: u32,
    /// The business's last answer.
    pub answer: RevocationAnswer,
}

/// The business's last answer to a revocation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RevocationAnswer {
    /// No answer yet: the business has not been reached.
    Pending,
    /// The business acknowledged the revocation; its receipt has not arrived yet.
    Acknowledged {
        /// When.
        at: Timestamp,
    },
    /// Not confirmed: the business answered without a receipt (it may not know the agreement
    /// any more), or could not be reached before the retries ran out.
    NotConfirmed {
        /// When.
        at: Timestamp,
        /// What the business answered, as printable text, or why the retries stopped.
        reason: String,
    },
}

impl RevocationAnswer {
    /// The lower-case name used in the API and CLI.
    pub fn name(&self) -> &'static str {
        match self {
            RevocationAnswer::Pending => "pending",
            RevocationAnswer::Acknowledged { .. } => "acknowledged",
            RevocationAnswer::NotConfirmed { .. } => "not confirmed",
        }
    }
}

/// A personal offer made under an agreement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OfferRecord {
    /// Its id.
    pub offer_id: OfferId,
    /// What was offered.
    pub offer: ProductOffer,
    /// When it was sent or received.
    pub at: Timestamp,
}

impl AgreementRecord {
    /// A newly finalized agreement: its exact signed `bytes`, decoded as `agreement`, with the
    /// person's and the business's signatures, in force from `now`.
    pub fn new(agreement: Agreement, bytes: Vec<u8>, signatures: (Signature, Signature), now: Timestamp) -> Self {
        AgreementRecord {
            id: Agreement::id_of(&bytes),
            agreement,
            bytes,
            person_signature: signatures.0,
            business_signature: signatures.1,
            finalized_at: now,
            lifecycle: Lifecycle::Active,
            last_package: 0,
            last_package_at: None,
            update_due: false,
            trigger_armed: true,
            recent_offers: VecDeque::new(),
            offers: VecDeque::new(),
            receipt: None,
            receipt_envelope: None,
            revocation: None,
        }
    }

    /// When the retention runs out.
    pub fn retention_ends(&self) -> Timestamp {
        self.finalized_at.saturating_add(self.agreement.terms.retention)
    }

    /// Keeps an offer sent or received under it, dropping the oldest beyond the bound.
    pub fn keep_offer(&mut self, offer_id: OfferId, offer: ProductOffer, at: Timestamp) {
        self.recent_offers.push_back(at);
        if self.offers.len() >= crate::limits::MAX_OFFERS_KEPT {
            self.offers.pop_front();
        }
        self.offers.push_back(OfferRecord { offer_id, offer, at });
    }

    /// Whether data may flow under it now.
    pub fn is_active(&self) -> bool {
        self.lifecycle == Lifecycle::Active
    }

    /// Whether the person can revoke it now: while it is ACTIVE, and once VOID if data went
    /// out under it. The first data travels with the person's countersignature, so a business
    /// that answers "refused" (or never confirms) may still hold it: only its word says
    /// otherwise, and the person can ask for deletion anyway, with the agreement both signed
    /// as evidence.
    pub fn revocable(&self) -> bool {
        match self.lifecycle {
            Lifecycle::Active => true,
            Lifecycle::Void { .. } => self.last_package > 0,
            _ => false,
        }
    }

    /// ACTIVE (or VOID, see [`AgreementRecord::revocable`]) → REVOKED.
    pub fn revoke(&mut self, at: Timestamp) -> Result<(), LifecycleError> {
        if !self.revocable() {
            return Err(LifecycleError { state: self.lifecycle.name(), step: "revoke" });
        }
        self.lifecycle = Lifecycle::Revoked { at };
        Ok(())
    }

    /// ACTIVE → VOID.
    pub fn void(&mut self, at: Timestamp) -> Result<(), LifecycleError> {
        match self.lifecycle {
            Lifecycle::Active => {
                self.lifecycle = Lifecycle::Void { at };
                Ok(())
            }
            _ => Err(LifecycleError { state: self.lifecycle.name(), step: "void" }),
        }
    }

    /// ACTIVE → EXPIRED.
    pub fn expire(&mut self, at: Timestamp) -> Result<(), LifecycleError> {
        match self.lifecycle {
            Lifecycle::Active => {
                self.lifecycle = Lifecycle::Expired { at };
                Ok(())
            }
            _ => Err(LifecycleError { state: self.lifecycle.name(), step: "expire" }),
        }
    }

    /// ACTIVE, REVOKED or EXPIRED → DELETED.
    pub fn delete(&mut self, at: Timestamp, cause: DeletionCause) -> Result<(), LifecycleError> {
        match self.lifecycle {
            Lifecycle::Deleted { .. } | Lifecycle::Void { .. } => {
                Err(LifecycleError { state: self.lifecycle.name(), step: "delete" })
            }
            _ => {
                self.lifecycle = Lifecycle::Deleted { at, cause };
                Ok(())
            }
        }
    }

    /// Whether one more personal offer at `now` stays within the contact permission, after
    /// forgetting offers older than its period. Does not record the offer.
    pub fn offer_allowed(&mut self, now: Timestamp) -> bool {
        let Some(contact) = self.agreement.terms.contact else {
            return false;
        };
        while self.recent_offers.front().is_some_and(|at| now.saturating_since(*at) >= contact.per_period) {
            self.recent_offers.pop_front();
        }
        (self.recent_offers.len() as u64) < u64::from(contact.max_messages)
    }
}

/// What is wrong with a data item under an agreement.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutsideAgreement {
    /// The agreement does not name the path.
    #[error("{0} is not named by the agreement")]
    Field(FieldPath),
    /// The item's form (value, fact, event) is not the agreed one.
    #[error("{0} is not in the agreed form")]
    Form(FieldPath),
}

/// The one rule for what may flow under terms: every item names a field the terms name, in the
/// agreed form (a raw value only where raw was agreed, the agreed predicate for a derived fact,
/// the agreed event on the trigger's path). A trigger agreement carries only its event. The
/// person's node checks it before sending, the business's node on receipt.
pub fn check_items<'a>(
    terms: &Terms,
    items: impl IntoIterator<Item = (&'a FieldPath, &'a ItemContent)>,
) -> Result<(), OutsideAgreement> {
    for (path, content) in items {
        let allowed = match (&terms.usage, content) {
            (Use::Trigger { path: watched, event, .. }, ItemContent::TriggerEvent(sent)) => {
                if watched != path {
                    return Err(OutsideAgreement::Field(path.clone()));
                }
                sent == event
            }
            (Use::Trigger { .. }, _) | (_, ItemContent::TriggerEvent(_)) => false,
            (_, content) => {
                let field = terms.field(path).ok_or_else(|| OutsideAgreement::Field(path.clone()))?;
                match (&field.disclosure, content) {
                    (Disclosure::Raw, ItemContent::Value(_)) => true,
                    (Disclosure::Derived(agreed), ItemContent::Derived { predicate, .. }) => agreed == predicate,
                    _ => false,
                }
            }
        };
        if !allowed {
            return Err(OutsideAgreement::Form(path.clone()));
        }
    }
    Ok(())
}
