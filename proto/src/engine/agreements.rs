//! [`Agreements`]: every finalized agreement a node is party to, by id, and the questions the
//! flows ask of them: which agreement a peer's message may refer to, and which agreements a
//! change to the vault concerns.
//!
//! Invariants: an agreement is stored under its own id (the hash of the bytes both signed),
//! once, and never removed: its lifecycle (`ACTIVE` → `REVOKED`/`EXPIRED` → `DELETED`) is the
//! person's record of who had their data and until when.

use super::Rejection;
use crate::agreement::AgreementRecord;
use crate::identity::{AgreementId, PublicKey};
use crate::terms::Use;
use crate::vocab::FieldPath;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Every finalized agreement, by id.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Agreements(BTreeMap<AgreementId, AgreementRecord>);

super::table::keyed_table!(Agreements, AgreementId, AgreementRecord);
super::table::plain_writes!(Agreements, AgreementId, AgreementRecord, id);

impl Agreements {
    /// The agreement `id` between `person` and `business`, for a message from one of them:
    /// unknown is stale (no fault of the sender's), another pair's is a protocol violation.
    pub(crate) fn between(
        &mut self,
        id: &AgreementId,
        person: PublicKey,
        business: PublicKey,
    ) -> Result<&mut AgreementRecord, Rejection> {
        let record = self.0.get_mut(id).ok_or(Rejection::Stale("unknown agreement"))?;
        if (record.agreement.person, record.agreement.business) != (person, business) {
            return Err(Rejection::Protocol("not a party to this agreement"));
        }
        Ok(record)
    }

    /// The active agreements in which a change at `path` concerns what is shared (a person's
    /// node holds only agreements it is the person in, each under its own persona):
    /// subscriptions naming the field, triggers watching it.
    pub(crate) fn concerned_by(&self, path: &FieldPath) -> Vec<(AgreementId, Use)> {
        self.0
            .iter()
            .filter(|(_, record)| record.is_active())
            .filter(|(_, record)| match &record.agreement.terms.usage {
                Use::Subscription { .. } => record.agreement.terms.field(path).is_some(),
                Use::Trigger { path: watched, .. } => watched == path,
                Use::OneTime => false,
            })
            .map(|(id, record)| (*id, record.agreement.terms.usage.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agreement::{self, Agreement};
    use crate::harness::fixtures::{START, shoe_terms};
    use crate::identity::{Keypair, NegotiationId, Nonce, RequestId};
    use crate::messages::Context;
    use crate::terms::Use;
    use std::time::Duration;

    fn record(usage: Use) -> (AgreementRecord, PublicKey, PublicKey) {
        let (person, business) = (Keypair::from_secret_bytes(&[1; 32]), Keypair::from_secret_bytes(&[2; 32]));
        let mut terms = shoe_terms(START);
        terms.usage = usage;
        let agreement = Agreement {
            negotiation_id: NegotiationId::from_bytes([3; 16]),
            person: person.public(),
            business: business.public(),
            context: Context::Request(RequestId::from_bytes([4; 16])),
            terms,
            created_at: START,
            finalize_by: START,
            nonce: Nonce::from_bytes([5; 16]),
        };
        let bytes = agreement.encode();
        let signatures = (agreement::sign(&person, &bytes), agreement::sign(&business, &bytes));
        (AgreementRecord::new(agreement, bytes, signatures, START), person.public(), business.public())
    }

    #[test]
    fn an_agreement_is_kept_under_its_own_id_once() {
        let (record, _, _) = record(Use::OneTime);
        let id = record.id;
        assert_eq!(id, Agreement::id_of(&record.bytes));
        let mut table = Agreements::default();
        assert!(table.insert(record.clone()));
        assert!(!table.insert(record));
        assert_eq!(table.len(), 1);
        assert!(table.contains_key(&id));
    }

    #[test]
    fn only_its_parties_may_refer_to_an_agreement() {
        let (record, person, business) = record(Use::OneTime);
        let id = record.id;
        let mut table = Agreements::default();
        table.insert(record);
        assert!(table.between(&id, person, business).is_ok());
        let stranger = Keypair::from_secret_bytes(&[9; 32]).public();
        assert_eq!(
            table.between(&id, person, stranger).err(),
            Some(Rejection::Protocol("not a party to this agreement"))
        );
        let unknown = crate::identity::Digest::of(b"other");
        assert_eq!(table.between(&unknown, person, business).err(), Some(Rejection::Stale("unknown agreement")));
    }

    #[test]
    fn a_vault_change_concerns_active_subscriptions_naming_the_field_and_triggers_watching_it() {
        let subscription = Use::Subscription { min_interval: Duration::from_secs(60) };
        let (subscribed, _, _) = record(subscription);
        let mut table = Agreements::default();
        table.insert(subscribed.clone());
        let size: FieldPath = "body.shoe_size_eu".parse().unwrap();
        let email: FieldPath = "profile.email".parse().unwrap();
        assert_eq!(table.concerned_by(&size).len(), 1);
        assert!(table.concerned_by(&email).is_empty());
        table.get_mut(&subscribed.id).unwrap().revoke(START).unwrap();
        assert!(table.concerned_by(&size).is_empty());
    }
}
