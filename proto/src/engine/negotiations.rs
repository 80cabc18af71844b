//! [`Negotiations`]: the table of every negotiation a node takes part in, and the rules that
//! keep it bounded. The flows in `negotiate` move negotiations through their states; this
//! type decides what may be added and what is forgotten.
//!
//! Invariants: a negotiation is stored under its own id, once; peers can open at most
//! [`MAX_OPEN_NEGOTIATIONS`] that are not final; an ended negotiation is kept
//! [`KEEP_ENDED_MS`] after its last possible message (its deadline plus the finalize grace),
//! for the owner to look at, then forgotten (its agreement, if any, is kept elsewhere).

use crate::identity::NegotiationId;
use crate::limits::{FINALIZE_GRACE_MS, MAX_OPEN_NEGOTIATIONS};
use crate::negotiation::Negotiation;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How long an ended negotiation is kept for the owner to look at.
pub const KEEP_ENDED_MS: u64 = 7 * 24 * 3600 * 1000;

/// The last moment a message of a negotiation with `deadline` can matter: the first signer
/// waits this long for the countersignature.
pub fn grace_after(deadline: Timestamp) -> Timestamp {
    Timestamp::from_millis(deadline.as_millis().saturating_add(FINALIZE_GRACE_MS))
}

/// Every negotiation, open or ended, by id.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Negotiations(BTreeMap<NegotiationId, Negotiation>);

super::table::keyed_table!(Negotiations, NegotiationId, Negotiation, id);

impl Negotiations {
    /// Negotiations waiting for the owner's decision.
    pub fn awaiting_owner(&self) -> impl DoubleEndedIterator<Item = &Negotiation> + '_ {
        self.0.values().filter(|n| n.awaiting().is_some())
    }

    /// How many are not final.
    pub fn open(&self) -> usize {
        self.0.values().filter(|n| !n.state.is_final()).count()
    }

    /// Whether a peer may open one more.
    pub fn has_room(&self) -> bool {
        self.open() < MAX_OPEN_NEGOTIATIONS
    }

    /// Forgets negotiations that ended more than [`KEEP_ENDED_MS`] ago; returns their ids.
    pub(crate) fn forget_ended(&mut self, now: Timestamp) -> Vec<NegotiationId> {
        let old: Vec<NegotiationId> = self
            .0
            .values()
            .filter(|n| {
                n.state.is_final()
                    && grace_after(n.deadline).as_millis().saturating_add(KEEP_ENDED_MS) < now.as_millis()
            })
            .map(|n| n.id)
            .collect();
        for id in &old {
            self.0.remove(id);
        }
        old
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harness::fixtures::{START, shoe_terms};
    use crate::identity::Keypair;
    use crate::messages::{Context, TerminationCode};
    use crate::negotiation::{Party, State};

    fn negotiation(id: u8, state: State) -> Negotiation {
        Negotiation {
            id: NegotiationId::from_bytes([id; 16]),
            peer: Keypair::from_secret_bytes(&[9; 32]).public(),
            local_is_person: true,
            context: Context::Request(crate::identity::RequestId::from_bytes([1; 16])),
            category: "apparel.shoes".parse().unwrap(),
            state,
            terms: shoe_terms(START),
            requested: shoe_terms(START),
            offer: None,
            round: 1,
            deadline: START,
            peer_knows: true,
            agreement: None,
            created_at: START,
        }
    }

    #[test]
    fn an_id_is_taken_once() {
        let mut table = Negotiations::default();
        assert!(table.insert(negotiation(1, State::Requested { by: Party::Local })));
        assert!(!table.insert(negotiation(1, State::Finalized)));
        assert_eq!(
            table.get(&NegotiationId::from_bytes([1; 16])).map(|n| n.state.clone()),
            Some(State::Requested { by: Party::Local })
        );
    }

    #[test]
    fn ended_negotiations_are_forgotten_after_the_keeping_time_and_open_ones_never() {
        let mut table = Negotiations::default();
        let ended = State::Terminated { code: TerminationCode::Timeout, reason: String::new() };
        table.insert(negotiation(1, ended));
        table.insert(negotiation(2, State::Requested { by: Party::Remote }));
        let kept_until = grace_after(START).as_millis() + KEEP_ENDED_MS;
        assert!(table.forget_ended(Timestamp::from_millis(kept_until)).is_empty());
        let later = Timestamp::from_millis(kept_until + 1);
        assert_eq!(table.forget_ended(later), vec![NegotiationId::from_bytes([1; 16])]);
        assert_eq!((table.len(), table.open()), (1, 1));
        assert!(table.forget_ended(Timestamp::from_millis(u64::MAX)).is_empty());
    }

    #[test]
    fn awaiting_the_owner_is_read_from_the_state_alone() {
        let mut table = Negotiations::default();
        let proposal = Box::new(shoe_terms(START));
        table.insert(negotiation(1, State::AwaitingOwner { proposal }));
        table.insert(negotiation(2, State::Offered { by: Party::Remote }));
        let waiting: Vec<_> = table.awaiting_owner().map(|n| n.id).collect();
        assert_eq!(waiting, vec![NegotiationId::from_bytes([1; 16])]);
    }
}
