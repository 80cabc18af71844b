//! Reliable delivery of direct messages. Every direct message goes through the [`Outbox`]: it
//! is persisted, sealed afresh (new nonce, new validity window) on every attempt, and retried
//! with exponential backoff until the peer acknowledges it or it is too old to matter. A
//! revocation for a business that is offline therefore waits here until it comes back.
//!
//! The [`Outbox`] owns the queue's invariants: ids are never reused (they grow by one, across
//! restarts), and it holds at most [`MAX_OUTBOX`] items.

use super::{Change, Engine, Event, Output, Timer};
use crate::envelope::{self, MessageKind, Seal};
use crate::identity::{AgreementId, PublicKey};
use crate::limits::{MAX_OUTBOX, MAX_OUTBOX_AGE_MS, MAX_RETRY_BACKOFF_MS};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// Names an outbox item.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct OutboxId(pub u64);

impl fmt::Debug for OutboxId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OutboxId({})", self.0)
    }
}

/// A direct message waiting for acknowledgement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxItem {
    /// The peer.
    pub to: PublicKey,
    /// What it is.
    pub kind: MessageKind,
    /// The encoded payload (sealed anew on each attempt).
    pub payload: Vec<u8>,
    /// Attempts so far.
    pub attempts: u32,
    /// When the outbox gives up.
    pub give_up_at: Timestamp,
    /// Data to send under this agreement once the message is delivered: a person's
    /// countersignature must reach the business before the data, since direct streams do not
    /// keep their order.
    #[serde(default)]
    pub then_deliver: Option<AgreementId>,
}

/// Direct messages not yet acknowledged, by id.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Outbox {
    items: BTreeMap<OutboxId, OutboxItem>,
    next_id: u64,
}

impl Outbox {
    /// The item `id`.
    pub fn get(&self, id: &OutboxId) -> Option<&OutboxItem> {
        self.items.get(id)
    }

    /// Every item with its id, oldest first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&OutboxId, &OutboxItem)> {
        self.items.iter()
    }

    /// Every item, oldest first.
    pub fn values(&self) -> impl DoubleEndedIterator<Item = &OutboxItem> {
        self.items.values()
    }

    /// Every id, oldest first.
    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &OutboxId> {
        self.items.keys()
    }

    /// How many items wait.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The id the next item gets (persisted, so that ids are not reused after a restart).
    pub fn next_id(&self) -> u64 {
        self.next_id
    }

    /// Puts a driver's stored item back, at start.
    pub fn restore(&mut self, id: OutboxId, item: OutboxItem) {
        self.next_id = self.next_id.max(id.0.saturating_add(1));
        self.items.insert(id, item);
    }

    /// Restores the id counter, at start (never lowering it below a restored item's).
    pub fn restore_next_id(&mut self, next_id: u64) {
        self.next_id = self.next_id.max(next_id);
    }

    /// Queues `item` under a new id, or returns `None` when the outbox is full.
    pub(crate) fn push(&mut self, item: OutboxItem) -> Option<OutboxId> {
        if self.items.len() >= MAX_OUTBOX {
            return None;
        }
        let id = OutboxId(self.next_id);
        self.next_id += 1;
        self.items.insert(id, item);
        Some(id)
    }

    pub(crate) fn get_mut(&mut self, id: &OutboxId) -> Option<&mut OutboxItem> {
        self.items.get_mut(id)
    }

    pub(crate) fn remove(&mut self, id: &OutboxId) -> Option<OutboxItem> {
        self.items.remove(id)
    }

    /// What waits for `peer`, oldest first.
    pub(crate) fn waiting_for(&self, peer: &PublicKey) -> Vec<OutboxId> {
        self.items.iter().filter(|(_, item)| item.to == *peer).map(|(id, _)| *id).collect()
    }
}

impl Engine {
    /// Queues a direct message and sends it. Returns its outbox id, or `None` if the outbox is
    /// full (the message is dropped and the owner told).
    pub(super) fn send(
        &mut self,
        to: PublicKey,
        kind: MessageKind,
        payload: Vec<u8>,
        give_up_at: Option<Timestamp>,
        now: Timestamp,
    ) -> Option<OutboxId> {
        let give_up_at =
            give_up_at.unwrap_or(Timestamp::from_millis(now.as_millis().saturating_add(MAX_OUTBOX_AGE_MS)));
        let item = OutboxItem { to, kind, payload, attempts: 0, give_up_at, then_deliver: None };
        let Some(id) = self.state.outbox.push(item) else {
            self.event(Event::DeliveryAbandoned { to, kind });
            return None;
        };
        self.persist(Change::Outbox(id));
        self.attempt(id, now);
        Some(id)
    }

    fn attempt(&mut self, id: OutboxId, now: Timestamp) {
        let Some(item) = self.state.outbox.get(&id) else {
            return;
        };
        let (to, kind, payload) = (item.to, item.kind, item.payload.clone());
        let nonce = self.nonce();
        let bytes = envelope::seal(
            Seal {
                keypair: &self.keypair,
                kind,
                recipient: Some(to),
                nonce,
                issued_at: now,
                expires_at: now.saturating_add(self.config.message_validity),
            },
            payload,
        );
        self.emit(Output::Send { to, kind, bytes, delivery: Some(id) });
    }

    pub(super) fn delivered(&mut self, id: OutboxId, now: Timestamp) {
        if let Some(item) = self.state.outbox.remove(&id) {
            self.persist(Change::Outbox(id));
            if let Some(agreement) = item.then_deliver {
                self.after_final(super::finalize::Countersigned::Delivered(agreement), now);
            }
        }
    }

    pub(super) fn undelivered(&mut self, id: OutboxId, now: Timestamp) {
        // Up to half the backoff again, drawn from the engine's seeded RNG: messages that failed
        // together (a busy peer refusing a burst of handshakes) must not all come back together.
        let spread = u64::from_le_bytes(self.random());
        let Some(item) = self.state.outbox.get_mut(&id) else {
            return;
        };
        item.attempts = item.attempts.saturating_add(1);
        let base = 1000u64.saturating_mul(1 << item.attempts.min(20)).min(MAX_RETRY_BACKOFF_MS);
        let backoff = base + spread % (base / 2 + 1);
        let at = Timestamp::from_millis(now.as_millis().saturating_add(backoff));
        if at > item.give_up_at {
            let (to, kind) = (item.to, item.kind);
            self.state.outbox.remove(&id);
            self.persist(Change::Outbox(id));
            self.event(Event::DeliveryAbandoned { to, kind });
            return;
        }
        self.persist(Change::Outbox(id));
        self.set_timer(at, Timer::Retry(id));
    }

    pub(super) fn retry(&mut self, id: OutboxId, now: Timestamp) {
        self.attempt(id, now);
    }

    pub(super) fn peer_connected(&mut self, peer: PublicKey, now: Timestamp) {
        self.announce_to(peer, now);
        for id in self.state.outbox.waiting_for(&peer) {
            self.attempt(id, now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Keypair;

    fn item(to: u8) -> OutboxItem {
        OutboxItem {
            to: Keypair::from_secret_bytes(&[to; 32]).public(),
            kind: MessageKind::Revocation,
            payload: vec![to],
            attempts: 0,
            give_up_at: Timestamp::EPOCH,
            then_deliver: None,
        }
    }

    #[test]
    fn ids_grow_and_are_not_reused_after_a_restart() {
        let mut outbox = Outbox::default();
        let first = outbox.push(item(1)).unwrap();
        let second = outbox.push(item(2)).unwrap();
        assert!(second > first);
        outbox.remove(&second);
        let mut restored = Outbox::default();
        restored.restore(first, item(1));
        restored.restore_next_id(outbox.next_id());
        assert!(restored.push(item(3)).unwrap() > second);
        // A counter stored before its items cannot lower the next id below theirs.
        let mut restored = Outbox::default();
        restored.restore(OutboxId(41), item(1));
        restored.restore_next_id(3);
        assert_eq!(restored.push(item(2)), Some(OutboxId(42)));
    }

    #[test]
    fn it_is_bounded_and_finds_what_waits_for_a_peer() {
        let mut outbox = Outbox::default();
        for i in 0..MAX_OUTBOX {
            assert!(outbox.push(item((i % 3) as u8)).is_some());
        }
        assert_eq!(outbox.push(item(0)), None);
        assert_eq!(outbox.len(), MAX_OUTBOX);
        let for_one = outbox.waiting_for(&Keypair::from_secret_bytes(&[1; 32]).public());
        assert_eq!(for_one.len(), MAX_OUTBOX / 3 + usize::from(MAX_OUTBOX % 3 > 1));
        assert!(for_one.windows(2).all(|pair| pair[0] < pair[1]));
    }
}
