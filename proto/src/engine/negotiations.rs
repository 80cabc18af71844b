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
//!
//! Those rules run for every new negotiation, so they read an index the table keeps beside
//! its map ([`Index`]: the open ones counted, per peer and in all, and the ended ones by
//! deadline), never the whole table: a business at its steady state in a campaign holds the
//! full [`MAX_NEGOTIATIONS_KEPT`], and what one more negotiation costs must not grow with that
//! (`cargo bench -p me2b-node --bench speed -- --engine`). Every change goes through the
//! table ([`Negotiations::get_mut`] hands out an [`Entry`] that re-indexes when dropped), so
//! the index always describes the map; it is rebuilt, never stored.

use crate::identity::{NegotiationId, PublicKey};
use crate::limits::{FINALIZE_GRACE_MS, MAX_NEGOTIATIONS_KEPT, MAX_OPEN_NEGOTIATIONS, MAX_OPEN_NEGOTIATIONS_PER_PEER};
use crate::negotiation::Negotiation;
use crate::time::Timestamp;
use std::collections::{BTreeMap, BTreeSet};

/// How long an ended negotiation is kept for the owner to look at.
pub const KEEP_ENDED_MS: u64 = 7 * 24 * 3600 * 1000;

/// The last moment a message of a negotiation with `deadline` can matter: the first signer
/// waits this long for the countersignature.
pub fn grace_after(deadline: Timestamp) -> Timestamp {
    Timestamp::from_millis(deadline.as_millis().saturating_add(FINALIZE_GRACE_MS))
}

/// Every negotiation, open or ended, by id, with the index its rules read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Negotiations(BTreeMap<NegotiationId, Negotiation>, Index);

super::table::keyed_table!(Negotiations, NegotiationId, Negotiation);
super::table::read_back_whole!(Negotiations, NegotiationId, Negotiation);

/// What the table's rules need to know without reading it whole.
#[derive(Debug, Clone, Default, PartialEq)]
struct Index {
    /// How many are not final, in all.
    open: usize,
    /// How many are not final, per peer (a peer with none has no entry).
    open_with: BTreeMap<PublicKey, usize>,
    /// The final ones, oldest deadline first.
    ended: BTreeSet<(Timestamp, NegotiationId)>,
}

/// Where a negotiation stands in the [`Index`].
#[derive(Debug, Clone, Copy, PartialEq)]
enum Slot {
    Open(PublicKey),
    Ended(Timestamp),
}

impl Slot {
    fn of(negotiation: &Negotiation) -> Slot {
        if negotiation.state.is_final() { Slot::Ended(negotiation.deadline) } else { Slot::Open(negotiation.peer) }
    }
}

impl Index {
    fn add(&mut self, id: NegotiationId, slot: Slot) {
        match slot {
            Slot::Open(peer) => {
                self.open += 1;
                *self.open_with.entry(peer).or_default() += 1;
            }
            Slot::Ended(deadline) => {
                self.ended.insert((deadline, id));
            }
        }
    }

    fn remove(&mut self, id: NegotiationId, slot: Slot) {
        match slot {
            Slot::Open(peer) => {
                self.open = self.open.saturating_sub(1);
                if let Some(count) = self.open_with.get_mut(&peer) {
                    *count = count.saturating_sub(1);
                    if *count == 0 {
                        self.open_with.remove(&peer);
                    }
                }
            }
            Slot::Ended(deadline) => {
                self.ended.remove(&(deadline, id));
            }
        }
    }
}

/// One negotiation lent out for a change: dropping it brings the table's index up to date.
pub(crate) struct Entry<'a> {
    negotiation: &'a mut Negotiation,
    index: &'a mut Index,
    id: NegotiationId,
    was: Slot,
}

impl std::ops::Deref for Entry<'_> {
    type Target = Negotiation;
    fn deref(&self) -> &Negotiation {
        self.negotiation
    }
}

impl std::ops::DerefMut for Entry<'_> {
    fn deref_mut(&mut self) -> &mut Negotiation {
        self.negotiation
    }
}

impl Drop for Entry<'_> {
    fn drop(&mut self) {
        let now = Slot::of(self.negotiation);
        if now != self.was {
            self.index.remove(self.id, self.was);
            self.index.add(self.id, now);
        }
    }
}

impl Negotiations {
    /// Negotiations waiting for the owner's decision.
    pub fn awaiting_owner(&self) -> impl DoubleEndedIterator<Item = &Negotiation> + '_ {
        self.0.values().filter(|n| n.awaiting().is_some())
    }

    /// How many are not final.
    pub fn open(&self) -> usize {
        self.1.open
    }

    /// Whether `peer` may open one more: it has fewer than its quota open, and all peers
    /// fewer than the global cap. The reason, when not.
    pub fn has_room(&self, peer: &PublicKey) -> Result<(), &'static str> {
        if self.1.open_with.get(peer).copied().unwrap_or(0) >= MAX_OPEN_NEGOTIATIONS_PER_PEER {
            return Err("too many open negotiations with this peer");
        }
        if self.1.open >= MAX_OPEN_NEGOTIATIONS {
            return Err("too many open negotiations");
        }
        Ok(())
    }

    /// Puts a driver's stored record back, at start (under its own id, replacing any record
    /// stored under it).
    pub fn restore(&mut self, negotiation: Negotiation) {
        let (id, slot) = (negotiation.id, Slot::of(&negotiation));
        if let Some(old) = self.0.insert(id, negotiation) {
            self.1.remove(id, Slot::of(&old));
        }
        self.1.add(id, slot);
    }

    /// Lends out the negotiation `id` for a change.
    pub(crate) fn get_mut(&mut self, id: &NegotiationId) -> Option<Entry<'_>> {
        let negotiation = self.0.get_mut(id)?;
        let was = Slot::of(negotiation);
        Some(Entry { negotiation, index: &mut self.1, id: *id, was })
    }

    /// Adds a new negotiation under its own id; `false` (and nothing changes) if the id is
    /// taken.
    pub(crate) fn insert(&mut self, negotiation: Negotiation) -> bool {
        if self.0.contains_key(&negotiation.id) {
            return false;
        }
        self.restore(negotiation);
        true
    }

    /// Forgets negotiations that ended more than [`KEEP_ENDED_MS`] ago, and when the table is
    /// full the oldest ended ones too; returns their ids, oldest first. Reads only what it
    /// forgets (and one more).
    pub(crate) fn forget_ended(&mut self, now: Timestamp) -> Vec<NegotiationId> {
        let expired =
            |deadline: Timestamp| grace_after(deadline).as_millis().saturating_add(KEEP_ENDED_MS) < now.as_millis();
        // At least one slot is made when full, so that the next negotiation fits.
        let over = (self.0.len() + 1).saturating_sub(MAX_NEGOTIATIONS_KEPT);
        let mut old = Vec::new();
        // Oldest deadline first: the expired ones come first, then the oldest of the rest.
        while let Some(&(deadline, id)) = self.1.ended.first() {
            if old.len() >= over && !expired(deadline) {
                break;
            }
            self.1.ended.pop_first();
            self.0.remove(&id);
            old.push(id);
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

    /// The index read afresh from the map: what the kept one must always equal.
    fn reindexed(table: &Negotiations) -> Index {
        let mut index = Index::default();
        for negotiation in table.values() {
            index.add(negotiation.id, Slot::of(negotiation));
        }
        index
    }

    #[test]
    fn the_index_follows_every_change_made_through_the_table() {
        let mut table = Negotiations::default();
        let ended = || State::Terminated { code: TerminationCode::Timeout, reason: String::new() };
        let mut draw = crate::engine::table::draws(1);
        for step in 0..5_000 {
            let id = draw(300) as u16;
            let key = with(id, 0, State::Finalized).id;
            match draw(6) {
                0 | 1 => {
                    let state = if draw(2) == 0 { State::Requested { by: Party::Remote } } else { ended() };
                    table.insert(with(id, draw(4) as u8, state));
                }
                2 => {
                    if let Some(mut negotiation) = table.get_mut(&key) {
                        negotiation.state = ended();
                        negotiation.deadline = Timestamp::from_millis(START.as_millis() + draw(1_000));
                    }
                }
                3 => {
                    if let Some(mut negotiation) = table.get_mut(&key) {
                        negotiation.state = State::Offered { by: Party::Local };
                        negotiation.peer = Keypair::from_secret_bytes(&[draw(4) as u8; 32]).public();
                    }
                }
                4 => table.restore(with(id, draw(4) as u8, if draw(2) == 0 { ended() } else { State::Finalized })),
                _ => {
                    let forgotten = table.forget_ended(Timestamp::from_millis(START.as_millis() + draw(2_000)));
                    assert!(forgotten.iter().all(|id| !table.contains_key(id)));
                }
            }
            assert_eq!(table.1, reindexed(&table), "after step {step}");
        }
        assert!(table.open() > 0 && !table.1.ended.is_empty(), "both kinds were exercised");
    }

    #[test]
    fn a_table_read_back_has_its_index() {
        let mut table = Negotiations::default();
        table.insert(with(1, 7, State::Requested { by: Party::Remote }));
        table.insert(with(2, 8, State::Finalized));
        let mut bytes = Vec::new();
        ciborium::into_writer(&table, &mut bytes).unwrap();
        let read: Negotiations = ciborium::from_reader(bytes.as_slice()).unwrap();
        assert_eq!(read, table);
        assert_eq!(read.1, reindexed(&table));
        assert_eq!(read.open(), 1);
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
