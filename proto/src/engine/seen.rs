//! [`Seen`]: what a node remembers so as not to act twice: envelopes' nonces (replay), intents
//! a business has counted, and which live requests or intents it handed to which peer.
//!
//! Invariants: every collection is bounded and forgets by time. Nonces are kept until their
//! message expires ([`ReplayGuard`], at most [`MAX_SEEN_NONCES`](crate::limits::MAX_SEEN_NONCES));
//! seen intents until the intent expires, at most [`MAX_SEEN_ANNOUNCEMENTS`]; what was handed to
//! a peer until the item expires or the peer connects anew, at most [`MAX_SEEN_ANNOUNCEMENTS`].
//! Only the seen intents are persisted: after a restart nonces and announcements start empty (a
//! replayed envelope is still refused by its expiry, and announcing again is harmless). Both
//! bounded sets are [`Expiring`]: making room reads their index by expiry, never the whole set.

use super::Rejection;
use super::expiring::Expiring;
use crate::envelope::{EnvelopeError, Header, ReplayGuard};
use crate::identity::{IntentId, PublicKey};
use crate::limits::MAX_SEEN_ANNOUNCEMENTS;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

/// What the node has seen, to act on each thing once.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Seen {
    /// Intents a business has counted, until they expire.
    intents: Expiring<IntentId>,
    #[serde(skip)]
    replay: ReplayGuard,
    /// Which live request or intent was handed to which peer on its current connection, until
    /// the item expires.
    #[serde(skip)]
    announced: Expiring<(PublicKey, [u8; 16])>,
}

impl Seen {
    /// When the seen intent `id` expires, if it is remembered.
    pub fn intent_expiry(&self, id: &IntentId) -> Option<&Timestamp> {
        self.intents.get(id)
    }

    /// How many intents are remembered.
    pub fn intents(&self) -> usize {
        self.intents.len()
    }

    /// Puts a driver's stored seen intent back, at start.
    pub fn restore_intent(&mut self, id: IntentId, expires_at: Timestamp) {
        self.intents.insert(id, expires_at);
    }

    /// Records an envelope's nonce, or refuses a replay.
    pub(crate) fn check_replay(&mut self, header: &Header, now: Timestamp) -> Result<(), EnvelopeError> {
        self.replay.check(header, now)
    }

    /// Forgets intents that have expired; returns their ids.
    pub(crate) fn forget_expired_intents(&mut self, now: Timestamp) -> Vec<IntentId> {
        self.intents.forget_expired(now)
    }

    /// Records a new intent, refused if it was seen. When too many live ones are remembered,
    /// the one expiring soonest is forgotten (and returned, to persist): a flood of intents
    /// cannot lock new ones out, and forgetting one early risks at most counting it twice
    /// (its envelope's nonce still guards against a replay while the node runs).
    pub(crate) fn note_intent(&mut self, id: IntentId, expires_at: Timestamp) -> Result<Option<IntentId>, Rejection> {
        if self.intents.contains(&id) {
            return Err(Rejection::Stale("intent already seen"));
        }
        let mut evicted = None;
        if self.intents.len() >= MAX_SEEN_ANNOUNCEMENTS {
            evicted = self.intents.forget_soonest();
        }
        self.intents.insert(id, expires_at);
        Ok(evicted)
    }

    /// Whether `item` (a request's or intent's id, live until `expires_at`) should be handed to
    /// `peer` now: once per connection of the peer's, whenever it subscribes. Records the
    /// hand-over. When the record is full, expired items go first, then the soonest to expire.
    pub(crate) fn announce_due(
        &mut self,
        peer: PublicKey,
        item: [u8; 16],
        expires_at: Timestamp,
        now: Timestamp,
    ) -> bool {
        if self.announced.contains(&(peer, item)) {
            return false;
        }
        if self.announced.len() >= MAX_SEEN_ANNOUNCEMENTS {
            self.announced.forget_expired(now);
            if self.announced.len() >= MAX_SEEN_ANNOUNCEMENTS {
                self.announced.forget_soonest();
            }
        }
        self.announced.insert((peer, item), expires_at);
        true
    }

    /// `peer` connected anew (it may have restarted, or lost what it was given): what it was
    /// handed before is forgotten, so its subscriptions bring every live item again.
    pub(crate) fn forget_announced_to(&mut self, peer: &PublicKey) {
        let handed: Vec<(PublicKey, [u8; 16])> =
            self.announced.keys_in((*peer, [0u8; 16])..=(*peer, [0xffu8; 16])).copied().collect();
        for key in handed {
            self.announced.remove(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Keypair;

    #[test]
    fn an_intent_counts_once_until_it_expires() {
        let mut seen = Seen::default();
        let id = IntentId::from_bytes([1; 16]);
        assert_eq!(seen.note_intent(id, Timestamp::from_millis(100)), Ok(None));
        assert!(seen.note_intent(id, Timestamp::from_millis(100)).is_err());
        assert!(seen.forget_expired_intents(Timestamp::from_millis(99)).is_empty());
        assert_eq!(seen.forget_expired_intents(Timestamp::from_millis(100)), vec![id]);
        assert_eq!(seen.note_intent(id, Timestamp::from_millis(200)), Ok(None));
    }

    #[test]
    fn seen_intents_are_bounded_and_a_flood_cannot_lock_new_ones_out() {
        let mut seen = Seen::default();
        let id = |i: u64| {
            let mut bytes = [0u8; 16];
            bytes[..8].copy_from_slice(&i.to_le_bytes());
            IntentId::from_bytes(bytes)
        };
        for i in 0..MAX_SEEN_ANNOUNCEMENTS as u64 {
            // One expires soonest; the flood lives long.
            let expires = if i == 7 { 5 } else { 1_000 + i };
            assert_eq!(seen.note_intent(id(i), Timestamp::from_millis(expires)), Ok(None));
        }
        let honest = IntentId::from_bytes([0xff; 16]);
        assert_eq!(seen.note_intent(honest, Timestamp::from_millis(50)), Ok(Some(id(7))), "the soonest to expire goes");
        assert!(seen.intent_expiry(&honest).is_some());
        assert_eq!(seen.intents(), MAX_SEEN_ANNOUNCEMENTS);
    }

    #[test]
    fn an_announcement_is_due_once_per_connection_and_the_record_stays_bounded() {
        let mut seen = Seen::default();
        let peer = Keypair::from_secret_bytes(&[2; 32]).public();
        let other = Keypair::from_secret_bytes(&[3; 32]).public();
        let at = |ms| Timestamp::from_millis(ms);
        assert!(seen.announce_due(peer, [1; 16], at(1_000), at(0)));
        // However late it subscribes again on the same connection: once.
        assert!(!seen.announce_due(peer, [1; 16], at(1_000), at(999)));
        assert!(seen.announce_due(other, [1; 16], at(1_000), at(999)), "each peer gets it");
        seen.forget_announced_to(&peer);
        assert!(seen.announce_due(peer, [1; 16], at(1_000), at(999)), "a new connection gets it again");
        assert!(!seen.announce_due(other, [1; 16], at(1_000), at(999)), "only that peer is forgotten");
        for i in 0..(2 * MAX_SEEN_ANNOUNCEMENTS) as u64 {
            let mut item = [0u8; 16];
            item[..8].copy_from_slice(&i.to_le_bytes());
            assert!(seen.announce_due(peer, item, at(2_000 + i), at(1_500)));
        }
        assert!(seen.announced.len() <= MAX_SEEN_ANNOUNCEMENTS);
        let mut last = [0u8; 16];
        last[..8].copy_from_slice(&(2 * MAX_SEEN_ANNOUNCEMENTS as u64 - 1).to_le_bytes());
        assert!(seen.announced.contains(&(peer, last)), "the soonest to expire go first");
    }
}
