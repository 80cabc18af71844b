//! Reliable delivery of direct messages. Every direct message goes through the outbox: it is
//! persisted, sealed afresh (new nonce, new validity window) on every attempt, and retried with
//! exponential backoff until the peer acknowledges it or it is too old to matter. A
//! revocation for a business that is offline therefore waits here until it comes back.

use super::{Change, Engine, Event, Output, Timer};
use crate::envelope::{self, MessageKind, Seal};
use crate::identity::PublicKey;
use crate::limits::{MAX_OUTBOX, MAX_OUTBOX_AGE_MS, MAX_RETRY_BACKOFF_MS};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
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
    pub then_deliver: Option<crate::identity::AgreementId>,
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
        if self.state.outbox.len() >= MAX_OUTBOX {
            self.event(Event::DeliveryAbandoned { to, kind });
            return None;
        }
        let id = super::OutboxId(self.state.next_outbox_id);
        self.state.next_outbox_id += 1;
        let give_up_at =
            give_up_at.unwrap_or(Timestamp::from_millis(now.as_millis().saturating_add(MAX_OUTBOX_AGE_MS)));
        self.state.outbox.insert(id, OutboxItem { to, kind, payload, attempts: 0, give_up_at, then_deliver: None });
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
                self.first_delivery(agreement, now);
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
        let waiting: Vec<OutboxId> =
            self.state.outbox.iter().filter(|(_, item)| item.to == peer).map(|(id, _)| *id).collect();
        for id in waiting {
            self.attempt(id, now);
        }
    }
}
