//! [`Negotiations`]: the table of every negotiation a node takes part in, and the rules that
//! keep it bounded. The flows in `negotiate` move negotiations through their states; this
//! type decides what may be added and what is forgotten.
//!
//! Invariants: a negotiation is stored under its own id, once; one peer can have at most
//! [`MAX_OPEN_NEGOTIATIONS_PER_PEER`] that are not final, all peers together
//! [`MAX_OPEN_NEGOTIATIONS`]; an ended negotiation is kept [`KEEP_ENDED_MS`] after its last
//! possible message (its deadline plus the finalize grace), for the owner to look at, then
//! forgotten (its agreement, if any, is kept elsewhere), and earlier, oldest first, when more
//! than [`MAX_NEGOTIATIONS_KEPT`] are held.

use crate::identity::{NegotiationId, PublicKey};
use crate::limits::{FINALIZE_GRACE_MS, MAX_NEGOTIATIONS_KEPT, MAX_OPEN_NEGOTIATIONS, MAX_OPEN_NEGOTIATIONS_PER_PEER};
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

    /// Whether `peer` may open one more: it has fewer than its quota open, and all peers
    /// fewer than the global cap. The reason, when not.
    pub fn has_room(&self, peer: &PublicKey) -> Result<(), &'static str> {
        let (mut open, mut with_peer) = (0, 0);
        for negotiation in self.0.values().filter(|n| !n.state.is_final()) {
            open += 1;
            with_peer += usize::from(negotiation.peer == *peer);
        }
        if with_peer >= MAX_OPEN_NEGOTIATIONS_PER_PEER {
            return Err("too many open negotiations with this peer");
        }
        if open >= MAX_OPEN_NEGOTIATIONS {
            return Err("too many open negotiations");
        }
        Ok(())
    }

    /// Forgets negotiations that ended more than [`KEEP_ENDED_MS`] ago, and when the table is
    /// full the oldest ended ones too; returns their ids.
    pub(crate) fn forget_ended(&mut self, now: Timestamp) -> Vec<NegotiationId> {
        let expired =
            |deadline: Timestamp| grace_after(deadline).as_millis().saturating_add(KEEP_ENDED_MS) < now.as_millis();
        // At least one slot is made when full, so that the next negotiation fits.
        let over = (self.0.len() + 1).saturating_sub(MAX_NEGOTIATIONS_KEPT);
        let old: Vec<NegotiationId> = if over == 0 {
            // Not full: one pass, no ranking (this runs for every new negotiation).
            self.0.values().filter(|n| n.state.is_final() && expired(n.deadline)).map(|n| n.id).collect()
        } else {
            let mut ended: Vec<(Timestamp, NegotiationId)> =
                self.0.values().filter(|n| n.state.is_final()).map(|n| (n.deadline, n.id)).collect();
            ended.sort_unstable();
            ended
                .iter()
                .enumerate()
                .filter(|(rank, (deadline, _))| *rank < over || expired(*deadline))
                .map(|(_, (_, id))| *id)
                .collect()
        };
        for id in &old {
            self.0.remove(id);
        }
        old
    }

    /// Whether one more negotiation would overflow the table (then [`Self::forget_ended`]
    /// must run before it is added).
    pub(crate) fn full(&self) -> bool {
        self.0.len() + 1 > MAX_NEGOTIATIONS_KEPT
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
        Negotiation { id: NegotiationId::from_bytes([id; 16]), ..with(0, 9, state) }
    }

    fn with(id: u16, peer: u8, state: State) -> Negotiation {
        let mut bytes = [0; 16];
        bytes[..2].copy_from_slice(&id.to_le_bytes());
        bytes[15] = 1;
        Negotiation {
            id: NegotiationId::from_bytes(bytes),
            peer: Keypair::from_secret_bytes(&[peer; 32]).public(),
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
            prompt_expired_at: None,
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
    fn one_peer_cannot_take_every_slot_and_ended_ones_are_evicted_oldest_first() {
        let mut table = Negotiations::default();
        let open = || State::Requested { by: Party::Remote };
        let (greedy, honest) =
            (Keypair::from_secret_bytes(&[7; 32]).public(), Keypair::from_secret_bytes(&[8; 32]).public());
        for id in 0..MAX_OPEN_NEGOTIATIONS_PER_PEER as u16 {
            assert_eq!(table.has_room(&greedy), Ok(()));
            table.insert(with(id, 7, open()));
        }
        assert!(table.has_room(&greedy).is_err(), "the greedy peer is at its quota");
        assert_eq!(table.has_room(&honest), Ok(()), "another peer is not locked out");

        // Full of ended negotiations: the oldest make room, open ones are never dropped.
        let mut table = Negotiations::default();
        table.insert(with(0, 7, open()));
        let ended = State::Terminated { code: TerminationCode::Timeout, reason: String::new() };
        for id in 1..MAX_NEGOTIATIONS_KEPT as u16 {
            let mut negotiation = with(id, 7, ended.clone());
            negotiation.deadline = Timestamp::from_millis(START.as_millis() + u64::from(id));
            table.insert(negotiation);
        }
        let forgotten = table.forget_ended(START);
        assert_eq!(forgotten.len(), 1);
        assert_eq!(forgotten[0], with(1, 7, ended).id, "the oldest ended one");
        assert_eq!(table.len(), MAX_NEGOTIATIONS_KEPT - 1);
        assert_eq!(table.open(), 1);
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
