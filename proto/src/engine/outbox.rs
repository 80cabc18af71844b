//! Reliable delivery of direct messages. Every direct message goes through the [`Outbox`]: it
//! is persisted, sealed afresh (new nonce, new validity window) on every attempt, and retried
//! with jittered exponential backoff until the peer answers it or it is too old to matter.
//!
//! An answer means "received", never "done". Two kinds are *contracts* rather than messages:
//! a revocation stays in the outbox, answered or not, until the business's signed deletion
//! receipt arrives (or its retries run out, which the person is told as "not confirmed"); a
//! deletion receipt stays until the person's node answers it. Neither is ever refused or
//! dropped to make room: there is at most one of each per agreement.
//!
//! The [`Outbox`] owns the queue's invariants: ids are never reused (they grow by one, across
//! restarts); every other message counts against a per-peer quota
//! ([`MAX_OUTBOX_PER_PEER`]) and a global cap ([`MAX_OUTBOX`]), and new work beyond them is
//! refused (never something already queued dropped), so one slow or hostile peer cannot
//! crowd out the others.

use super::{Answer, Change, Engine, Event, Output, Timer};
use crate::envelope::{self, MessageKind, Seal};
use crate::identity::{AgreementId, Persona, PublicKey};
use crate::limits::{
    MAX_ANSWER_REASON_BYTES, MAX_OUTBOX, MAX_OUTBOX_AGE_MS, MAX_OUTBOX_PER_PEER, MAX_RECEIPT_RECHECK_MS,
    MAX_RETRY_BACKOFF_MS,
};
use crate::text::printable;
use crate::time::Timestamp;
use crate::wire;
use prost::Message as _;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// Names an outbox item.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct OutboxId(pub u64);

impl fmt::Debug for OutboxId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OutboxId({})", self.0)
    }
}

/// A direct message waiting for an answer.
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
    /// The agreement this message countersigns (a person's `Finalize`, carrying the first
    /// data, and also `about` that agreement): refused by the business or never delivered,
    /// the agreement is void. Once an attempt may have arrived
    /// ([`Input::Unanswered`](super::Input::Unanswered)) the business may hold the data it
    /// carried, and the agreement must stay revocable: this is cleared, and a later refusal or
    /// giving up no longer voids it.
    #[serde(default)]
    pub countersigns: Option<AgreementId>,
    /// The agreement the message is about (data, offers, revocations, receipts): what a
    /// revocation cancels, and what a receipt settles.
    #[serde(default)]
    pub about: Option<AgreementId>,
}

impl OutboxItem {
    /// Whether the item is a contract (a revocation or a deletion receipt): never refused,
    /// never dropped for room, one per agreement.
    pub fn is_contract(&self) -> bool {
        is_contract(self.kind)
    }
}

fn is_contract(kind: MessageKind) -> bool {
    matches!(kind, MessageKind::Revocation | MessageKind::DeletionReceipt)
}

/// Why the outbox refused new work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum OutboxFull {
    /// Too much already waits for this peer.
    #[error("too many messages already wait for this peer; try again once it has caught up")]
    Peer,
    /// Too much waits overall.
    #[error("too many messages wait for delivery; try again later")]
    Global,
}

/// Direct messages not yet answered, by id, with the index their rules read.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(from = "Stored")]
pub struct Outbox {
    items: BTreeMap<OutboxId, OutboxItem>,
    next_id: u64,
    #[serde(skip)]
    index: Index,
}

/// What is stored of an [`Outbox`]: its items and counter; the index is rebuilt.
#[derive(Deserialize)]
struct Stored {
    items: BTreeMap<OutboxId, OutboxItem>,
    next_id: u64,
}

impl From<Stored> for Outbox {
    fn from(stored: Stored) -> Outbox {
        let mut outbox = Outbox::default();
        for (id, item) in stored.items {
            outbox.restore(id, item);
        }
        outbox.restore_next_id(stored.next_id);
        outbox
    }
}

/// What the outbox's rules read, kept beside the items so that none reads them all: a node
/// sends a message for nearly every one it handles, and a business's outbox holds up to
/// [`MAX_OUTBOX`] items. An item's peer, kind and agreement never change once queued (only its
/// attempts do), so the index changes only when an item comes or goes.
#[derive(Debug, Clone, Default, PartialEq)]
struct Index {
    /// Items that count against the caps (all but contracts): in all, and per peer.
    counted: usize,
    counted_per_peer: BTreeMap<PublicKey, usize>,
    /// Every item, by peer.
    by_peer: BTreeSet<(PublicKey, OutboxId)>,
    /// Items about an agreement, by it.
    by_agreement: BTreeSet<(AgreementId, OutboxId)>,
    /// Contracts, by what makes one unique.
    contracts: BTreeMap<(PublicKey, MessageKind, Option<AgreementId>), OutboxId>,
}

impl Index {
    fn add(&mut self, id: OutboxId, item: &OutboxItem) {
        if item.is_contract() {
            self.contracts.insert((item.to, item.kind, item.about), id);
        } else {
            self.counted += 1;
            *self.counted_per_peer.entry(item.to).or_default() += 1;
        }
        self.by_peer.insert((item.to, id));
        if let Some(agreement) = item.about {
            self.by_agreement.insert((agreement, id));
        }
    }

    fn remove(&mut self, id: OutboxId, item: &OutboxItem) {
        if item.is_contract() {
            let key = (item.to, item.kind, item.about);
            // Only if it is this one's (a store could hold two, written before the rule).
            if self.contracts.get(&key) == Some(&id) {
                self.contracts.remove(&key);
            }
        } else {
            self.counted = self.counted.saturating_sub(1);
            if let Some(count) = self.counted_per_peer.get_mut(&item.to) {
                *count = count.saturating_sub(1);
                if *count == 0 {
                    self.counted_per_peer.remove(&item.to);
                }
            }
        }
        self.by_peer.remove(&(item.to, id));
        if let Some(agreement) = item.about {
            self.by_agreement.remove(&(agreement, id));
        }
    }
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

    /// Puts a driver's stored item back, at start (replacing any stored under its id).
    pub fn restore(&mut self, id: OutboxId, item: OutboxItem) {
        self.next_id = self.next_id.max(id.0.saturating_add(1));
        self.remove(&id);
        self.index.add(id, &item);
        self.items.insert(id, item);
    }

    /// Restores the id counter, at start (never lowering it below a restored item's).
    pub fn restore_next_id(&mut self, next_id: u64) {
        self.next_id = self.next_id.max(next_id);
    }

    /// Whether a message of `kind` for `to` would be taken now.
    pub fn has_room(&self, to: &PublicKey, kind: MessageKind) -> Result<(), OutboxFull> {
        if is_contract(kind) {
            return Ok(());
        }
        if self.index.counted_per_peer.get(to).copied().unwrap_or(0) >= MAX_OUTBOX_PER_PEER {
            return Err(OutboxFull::Peer);
        }
        if self.index.counted >= MAX_OUTBOX {
            return Err(OutboxFull::Global);
        }
        Ok(())
    }

    /// Queues `item` under a new id, or refuses it when its peer's quota or the global cap is
    /// reached. A contract is always taken; one that already waits for the same agreement is
    /// replaced in place (same id, attempts from zero), so there is one per agreement.
    pub(crate) fn push(&mut self, item: OutboxItem) -> Result<OutboxId, OutboxFull> {
        if item.is_contract()
            && let Some(&id) = self.index.contracts.get(&(item.to, item.kind, item.about))
            && let Some(existing) = self.items.get_mut(&id)
        {
            // The same peer, kind and agreement: nothing the index holds changes.
            *existing = item;
            return Ok(id);
        }
        self.has_room(&item.to, item.kind)?;
        let id = OutboxId(self.next_id);
        self.next_id += 1;
        self.index.add(id, &item);
        self.items.insert(id, item);
        Ok(id)
    }

    /// Counts one more attempt at `id`; the item, with its new count.
    pub(crate) fn attempted(&mut self, id: &OutboxId) -> Option<&OutboxItem> {
        let item = self.items.get_mut(id)?;
        item.attempts = item.attempts.saturating_add(1);
        Some(item)
    }

    /// An attempt at `id` may have reached the peer: a countersignature can no longer void its
    /// agreement. Nothing the index holds changes (the agreement stays in `about`).
    pub(crate) fn may_have_arrived(&mut self, id: &OutboxId) {
        if let Some(item) = self.items.get_mut(id) {
            item.countersigns = None;
        }
    }

    pub(crate) fn remove(&mut self, id: &OutboxId) -> Option<OutboxItem> {
        let item = self.items.remove(id)?;
        self.index.remove(*id, &item);
        Some(item)
    }

    /// Removes what waits about `agreement` of one of `kinds`, returning the ids.
    pub(crate) fn cancel(&mut self, agreement: AgreementId, kinds: &[MessageKind]) -> Vec<OutboxId> {
        let ids: Vec<OutboxId> = self
            .index
            .by_agreement
            .range((agreement, OutboxId(0))..=(agreement, OutboxId(u64::MAX)))
            .map(|(_, id)| *id)
            .filter(|id| self.items.get(id).is_some_and(|item| kinds.contains(&item.kind)))
            .collect();
        for id in &ids {
            self.remove(id);
        }
        ids
    }

    /// What waits for `peer`, oldest first.
    pub(crate) fn waiting_for(&self, peer: &PublicKey) -> Vec<OutboxId> {
        self.index.by_peer.range((*peer, OutboxId(0))..=(*peer, OutboxId(u64::MAX))).map(|(_, id)| *id).collect()
    }
}

/// What [`Engine::send`] needs besides the message.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Delivery {
    /// When to give up (default: [`MAX_OUTBOX_AGE_MS`] from now).
    pub give_up_at: Option<Timestamp>,
    /// The agreement the message is about.
    pub about: Option<AgreementId>,
    /// The agreement the message countersigns.
    pub countersigns: Option<AgreementId>,
    /// Whether its first attempt may leave before the batch that queued it is written
    /// ([`Output::Send::early`]).
    pub early: bool,
}

impl Engine {
    /// Queues a direct message and sends it. Returns its outbox id, or `None` if the outbox
    /// refused it (the owner is told with [`Event::OutboxFull`]); commands check
    /// [`Outbox::has_room`] first and refuse with a clear error instead.
    pub(super) fn send(
        &mut self,
        to: PublicKey,
        kind: MessageKind,
        payload: Vec<u8>,
        delivery: Delivery,
        now: Timestamp,
    ) -> Option<OutboxId> {
        let give_up_at =
            delivery.give_up_at.unwrap_or(Timestamp::from_millis(now.as_millis().saturating_add(MAX_OUTBOX_AGE_MS)));
        let item = OutboxItem {
            to,
            kind,
            payload,
            attempts: 0,
            give_up_at,
            countersigns: delivery.countersigns,
            about: delivery.about,
        };
        let Ok(id) = self.state.outbox.push(item) else {
            self.event(Event::OutboxFull { to, kind });
            return None;
        };
        self.persist(Change::Outbox(id));
        self.attempt(id, delivery.early, now);
        Some(id)
    }

    fn attempt(&mut self, id: OutboxId, early: bool, now: Timestamp) {
        let Some(item) = self.state.outbox.get(&id) else {
            return;
        };
        let (to, kind, payload) = (item.to, item.kind, item.payload.clone());
        let from = self.item_persona(item);
        let keypair = self.identities.keypair(from);
        let nonce = self.nonce();
        let bytes = envelope::seal(
            Seal {
                keypair: &keypair,
                kind,
                recipient: Some(to),
                nonce,
                issued_at: now,
                expires_at: now.saturating_add(self.config.message_validity),
            },
            payload,
        );
        self.emit(Output::Send { from, to, kind, bytes, delivery: Some(id), early });
    }

    /// The persona an outbox item speaks as: the one of the agreement or negotiation it is
    /// about.
    fn item_persona(&self, item: &OutboxItem) -> Persona {
        let context = match (item.about, item.kind) {
            (Some(agreement), _) => self.state.agreements.get(&agreement).map(|record| record.agreement.context),
            (None, MessageKind::Negotiation) => wire::NegotiationMessage::decode(item.payload.as_slice())
                .ok()
                .and_then(|message| crate::messages::NegotiationMessage::try_from(message).ok())
                .and_then(|message| self.state.negotiations.get(&message.id))
                .map(|negotiation| negotiation.context),
            (None, _) => None,
        };
        self.persona(&item.to, context.as_ref())
    }

    /// The peer answered. A revocation stays until its receipt, whatever the answer; anything
    /// else is done with. A refused countersignature voids the agreement: nothing is sent
    /// (unless an earlier attempt may have arrived: see [`OutboxItem::countersigns`]).
    pub(super) fn answered(&mut self, id: OutboxId, answer: Answer, now: Timestamp) {
        let Some(item) = self.state.outbox.get(&id) else {
            return;
        };
        let (to, kind, about, countersigns) = (item.to, item.kind, item.about, item.countersigns);
        if kind == MessageKind::Revocation {
            if let Some(agreement) = about {
                self.revocation_answered(agreement, &answer, now);
            }
            self.retry_later(id, MAX_RECEIPT_RECHECK_MS, now);
            return;
        }
        self.state.outbox.remove(&id);
        self.persist(Change::Outbox(id));
        let reason = answer.reason().map(|reason| printable(reason, MAX_ANSWER_REASON_BYTES));
        match (reason, countersigns) {
            (None, _) => {}
            (Some(reason), Some(agreement)) => self.void(agreement, reason, now),
            (Some(reason), None) => self.event(Event::DeliveryRefused { to, kind, reason }),
        }
    }

    pub(super) fn undelivered(&mut self, id: OutboxId, now: Timestamp) {
        self.retry_later(id, MAX_RETRY_BACKOFF_MS, now);
    }

    /// The message went out and no answer came: it is retried as an undelivered one is, but
    /// the peer may have received it. A countersignature that may have arrived cannot void
    /// its agreement any more (a business that took the data and then lost its answer, or its
    /// store, would otherwise leave the person unable to revoke): it stays a message about
    /// the agreement, without the power to void it.
    pub(super) fn unanswered(&mut self, id: OutboxId, now: Timestamp) {
        self.state.outbox.may_have_arrived(&id);
        self.retry_later(id, MAX_RETRY_BACKOFF_MS, now);
    }

    /// Schedules the next attempt after a backoff that doubles with each attempt up to `cap`,
    /// plus up to half again drawn from the engine's seeded RNG (messages that failed together,
    /// say a busy peer refusing a burst, must not all come back together); or gives up when
    /// that would be past the item's time.
    fn retry_later(&mut self, id: OutboxId, cap: u64, now: Timestamp) {
        let spread = u64::from_le_bytes(self.random());
        let Some(item) = self.state.outbox.attempted(&id) else {
            return;
        };
        let base = 1000u64.saturating_mul(1 << item.attempts.min(20)).min(cap);
        let backoff = base + spread % (base / 2 + 1);
        let at = Timestamp::from_millis(now.as_millis().saturating_add(backoff));
        if at <= item.give_up_at {
            self.persist(Change::Outbox(id));
            self.set_timer(at, Timer::Retry(id));
            return;
        }
        let (to, kind, about, countersigns) = (item.to, item.kind, item.about, item.countersigns);
        self.state.outbox.remove(&id);
        self.persist(Change::Outbox(id));
        match (kind, about, countersigns) {
            (MessageKind::Revocation, Some(agreement), _) => {
                let reason = format!("no receipt from the business by {now}");
                self.revocation_not_confirmed(agreement, reason, now);
            }
            (_, _, Some(agreement)) => {
                self.void(agreement, "the business could not be reached in time".to_string(), now);
            }
            _ => self.event(Event::DeliveryAbandoned { to, kind }),
        }
    }

    pub(super) fn retry(&mut self, id: OutboxId, now: Timestamp) {
        self.attempt(id, false, now);
    }

    pub(super) fn peer_connected(&mut self, peer: PublicKey, now: Timestamp) {
        self.state.seen.forget_announced_to(&peer);
        for id in self.state.outbox.waiting_for(&peer) {
            self.attempt(id, false, now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::{Digest, Keypair};

    fn item(to: u8) -> OutboxItem {
        message(to, MessageKind::DataPackage, None)
    }

    fn message(to: u8, kind: MessageKind, about: Option<AgreementId>) -> OutboxItem {
        OutboxItem {
            to: Keypair::from_secret_bytes(&[to; 32]).public(),
            kind,
            payload: vec![to],
            attempts: 0,
            give_up_at: Timestamp::EPOCH,
            countersigns: None,
            about,
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
        assert_eq!(restored.push(item(2)), Ok(OutboxId(42)));
    }

    #[test]
    fn one_peer_cannot_fill_it_and_the_global_cap_holds() {
        let mut outbox = Outbox::default();
        for _ in 0..MAX_OUTBOX_PER_PEER {
            assert!(outbox.push(item(1)).is_ok());
        }
        assert_eq!(outbox.push(item(1)), Err(OutboxFull::Peer));
        // Another peer still has its whole quota.
        assert!(outbox.push(item(2)).is_ok());
        let mut peer = 3u8;
        while outbox.len() < MAX_OUTBOX {
            if outbox.push(item(peer)).is_err() {
                peer += 1;
            }
        }
        assert_eq!(outbox.push(item(250)), Err(OutboxFull::Global));
        let for_one = outbox.waiting_for(&Keypair::from_secret_bytes(&[1; 32]).public());
        assert_eq!(for_one.len(), MAX_OUTBOX_PER_PEER);
        assert!(for_one.windows(2).all(|pair| pair[0] < pair[1]));
    }

    #[test]
    fn contracts_are_never_refused_and_kept_once_per_agreement() {
        let mut outbox = Outbox::default();
        for _ in 0..MAX_OUTBOX_PER_PEER {
            outbox.push(item(1)).unwrap();
        }
        let agreement = Digest::of(&[9]);
        let revocation = outbox.push(message(1, MessageKind::Revocation, Some(agreement))).unwrap();
        let receipt = outbox.push(message(1, MessageKind::DeletionReceipt, Some(agreement))).unwrap();
        assert_ne!(revocation, receipt);
        // Sent again: the same item, replaced in place, attempts from zero.
        for _ in 0..7 {
            outbox.attempted(&revocation).unwrap();
        }
        assert_eq!(outbox.push(message(1, MessageKind::Revocation, Some(agreement))), Ok(revocation));
        assert_eq!(outbox.get(&revocation).unwrap().attempts, 0);
        assert_eq!(outbox.len(), MAX_OUTBOX_PER_PEER + 2);
        // Contracts do not count against the quota: the peer is still exactly at it.
        assert_eq!(
            outbox.has_room(&message(1, MessageKind::DataPackage, None).to, MessageKind::DataPackage),
            Err(OutboxFull::Peer)
        );
    }

    /// The index built afresh from the items: what the kept one must always equal.
    fn fresh(outbox: &Outbox) -> Index {
        let mut index = Index::default();
        for (id, item) in &outbox.items {
            index.add(*id, item);
        }
        index
    }

    #[test]
    fn the_index_follows_every_change() {
        let mut draw = crate::engine::table::draws(17);
        let mut outbox = Outbox::default();
        let kinds = [MessageKind::DataPackage, MessageKind::Negotiation, MessageKind::Revocation];
        for step in 0..5_000 {
            let agreement = Some(Digest::of(&[draw(8) as u8])).filter(|_| draw(4) > 0);
            let kind = kinds[draw(3) as usize];
            let peer = draw(6) as u8;
            match draw(6) {
                0 | 1 => {
                    let _ = outbox.push(message(peer, kind, agreement));
                }
                2 => {
                    let id = OutboxId(draw(outbox.next_id().max(1)));
                    outbox.remove(&id);
                }
                3 => {
                    let id = OutboxId(draw(outbox.next_id().max(1)));
                    outbox.attempted(&id);
                }
                4 => {
                    if let Some(agreement) = agreement {
                        outbox.cancel(agreement, &[kind]);
                    }
                }
                _ => {
                    let id = OutboxId(draw(outbox.next_id() + 5));
                    outbox.restore(id, message(peer, MessageKind::DataPackage, agreement));
                }
            }
            assert_eq!(outbox.index, fresh(&outbox), "step {step}");
            // What the rules read agrees with the items read whole.
            let to = message(peer, kind, None).to;
            let waiting: Vec<OutboxId> =
                outbox.items.iter().filter(|(_, item)| item.to == to).map(|(id, _)| *id).collect();
            assert_eq!(outbox.waiting_for(&to), waiting, "step {step}");
        }
    }

    #[test]
    fn read_back_it_has_its_index() {
        let mut outbox = Outbox::default();
        let agreement = Digest::of(&[4]);
        for peer in 0..20 {
            outbox.push(message(peer, MessageKind::DataPackage, Some(agreement))).unwrap();
            outbox.push(message(peer, MessageKind::Revocation, Some(agreement))).unwrap();
        }
        outbox.remove(&OutboxId(3));
        let mut bytes = Vec::new();
        ciborium::into_writer(&outbox, &mut bytes).unwrap();
        let read: Outbox = ciborium::from_reader(bytes.as_slice()).unwrap();
        assert_eq!(read, outbox);
        assert_eq!(read.index, fresh(&outbox));
        assert_eq!(read.next_id(), outbox.next_id());
    }

    #[test]
    fn cancelling_takes_only_the_named_kinds_about_the_agreement() {
        let mut outbox = Outbox::default();
        let (one, other) = (Digest::of(&[1]), Digest::of(&[2]));
        let data = outbox.push(message(1, MessageKind::DataPackage, Some(one))).unwrap();
        let revocation = outbox.push(message(1, MessageKind::Revocation, Some(one))).unwrap();
        let elsewhere = outbox.push(message(1, MessageKind::DataPackage, Some(other))).unwrap();
        assert_eq!(outbox.cancel(one, &[MessageKind::DataPackage]), vec![data]);
        assert!(outbox.get(&revocation).is_some() && outbox.get(&elsewhere).is_some());
    }
}
