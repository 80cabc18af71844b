//! The ledger: an append-only log of what happened, each entry chained to the one before by
//! its hash, and signed by the node key: an entry's signature covers, through the chain, every
//! entry before it. So not every entry needs one of its own. A node appends the entries of a
//! batch unsigned ([`append_unsealed`]) and signs the last one ([`seal`]) once the batch is on
//! disk and what it acknowledges has left, off the path of the messages that caused it; a
//! ledger is whole when its last entry is signed. [`verify`] finds any altered, removed,
//! reordered or forged entry, and an unsigned end (entries no signature covers yet). Entries
//! name fields and hashes, never values.

use crate::decode::{self, DecodeError};
use crate::identity::{Digest, Keypair, PublicKey, Signature, SignatureDomain};
use crate::time::Timestamp;
use crate::vocab::FieldPath;
use crate::wire;
use prost::Message as _;
use serde::{Deserialize, Serialize};

/// What a ledger entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventKind {
    /// This business published a data request.
    RequestPublished,
    /// A data request arrived (no longer written: a request seen is not an exchange; kept so
    /// that older ledgers still read).
    RequestSeen,
    /// This person published an intent.
    IntentPublished,
    /// An intent arrived (no longer written, like [`EventKind::RequestSeen`]).
    IntentSeen,
    /// A proposal or counter-offer was sent.
    ProposalSent,
    /// A proposal or counter-offer arrived.
    ProposalReceived,
    /// Both signed an agreement.
    AgreementFinalized,
    /// A negotiation ended without agreement.
    NegotiationTerminated,
    /// Data was sent under an agreement.
    DataSent,
    /// Data arrived under an agreement.
    DataReceived,
    /// A personal offer was sent.
    OfferSent,
    /// A personal offer arrived.
    OfferReceived,
    /// An agreement was revoked.
    Revoked,
    /// An agreement's retention ran out.
    Expired,
    /// This business deleted data held under an agreement.
    DataDeleted,
    /// A signed deletion receipt arrived.
    DeletionReceipt,
    /// The business answered a revocation without a receipt, or could not be reached in time;
    /// the digest is that of its answer.
    RevocationNotConfirmed,
    /// The business refused, or never received, the person's countersignature.
    AgreementVoid,
}

impl EventKind {
    fn to_wire(self) -> wire::LedgerEventKind {
        use wire::LedgerEventKind as W;
        match self {
            EventKind::RequestPublished => W::RequestPublished,
            EventKind::RequestSeen => W::RequestSeen,
            EventKind::IntentPublished => W::IntentPublished,
            EventKind::IntentSeen => W::IntentSeen,
            EventKind::ProposalSent => W::ProposalSent,
            EventKind::ProposalReceived => W::ProposalReceived,
            EventKind::AgreementFinalized => W::AgreementFinalized,
            EventKind::NegotiationTerminated => W::NegotiationTerminated,
            EventKind::DataSent => W::DataSent,
            EventKind::DataReceived => W::DataReceived,
            EventKind::OfferSent => W::OfferSent,
            EventKind::OfferReceived => W::OfferReceived,
            EventKind::Revoked => W::Revoked,
            EventKind::Expired => W::Expired,
            EventKind::DataDeleted => W::DataDeleted,
            EventKind::DeletionReceipt => W::DeletionReceipt,
            EventKind::RevocationNotConfirmed => W::RevocationNotConfirmed,
            EventKind::AgreementVoid => W::AgreementVoid,
        }
    }

    fn from_wire(value: i32) -> Result<EventKind, DecodeError> {
        use wire::LedgerEventKind as W;
        Ok(match W::try_from(value) {
            Ok(W::RequestPublished) => EventKind::RequestPublished,
            Ok(W::RequestSeen) => EventKind::RequestSeen,
            Ok(W::IntentPublished) => EventKind::IntentPublished,
            Ok(W::IntentSeen) => EventKind::IntentSeen,
            Ok(W::ProposalSent) => EventKind::ProposalSent,
            Ok(W::ProposalReceived) => EventKind::ProposalReceived,
            Ok(W::AgreementFinalized) => EventKind::AgreementFinalized,
            Ok(W::NegotiationTerminated) => EventKind::NegotiationTerminated,
            Ok(W::DataSent) => EventKind::DataSent,
            Ok(W::DataReceived) => EventKind::DataReceived,
            Ok(W::OfferSent) => EventKind::OfferSent,
            Ok(W::OfferReceived) => EventKind::OfferReceived,
            Ok(W::Revoked) => EventKind::Revoked,
            Ok(W::Expired) => EventKind::Expired,
            Ok(W::DataDeleted) => EventKind::DataDeleted,
            Ok(W::DeletionReceipt) => EventKind::DeletionReceipt,
            Ok(W::RevocationNotConfirmed) => EventKind::RevocationNotConfirmed,
            Ok(W::AgreementVoid) => EventKind::AgreementVoid,
            Ok(W::Unspecified) | Err(_) => {
                return Err(DecodeError::UnknownEnum { field: "ledger.kind", value });
            }
        })
    }
}

/// What happened, as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// What kind of thing.
    pub kind: EventKind,
    /// The other party, if any.
    pub peer: Option<PublicKey>,
    /// The id of the request, intent, negotiation or agreement.
    pub subject: Vec<u8>,
    /// Paths involved, never values.
    pub fields: Vec<FieldPath>,
    /// Hash of the message the entry is about.
    pub digest: Option<Digest>,
}

/// One entry as read back from a ledger.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Position in the ledger, from 0.
    pub sequence: u64,
    /// Hash of the previous entry's signed bytes.
    pub prev_hash: Digest,
    /// When.
    pub at: Timestamp,
    /// What.
    pub event: Event,
}

/// Where the next entry goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Head {
    /// Sequence of the next entry.
    pub next_sequence: u64,
    /// Hash of the last entry (zero for an empty ledger).
    pub last_hash: Digest,
}

/// Appends `event` after `head`, signed: returns the entry's bytes and moves `head` on.
pub fn append(keypair: &Keypair, head: &mut Head, at: Timestamp, event: &Event) -> Vec<u8> {
    let unsealed = append_unsealed(head, at, event);
    match seal(keypair, head, &unsealed) {
        Some(signed) => signed,
        // Unreachable: `head` ends on the entry just made, unsigned.
        None => unsealed,
    }
}

/// Appends `event` after `head` without a signature: returns the entry's bytes and moves `head`
/// on. A later [`seal`] of this entry, or of any after it, signs it.
pub fn append_unsealed(head: &mut Head, at: Timestamp, event: &Event) -> Vec<u8> {
    let entry = wire::LedgerEntry {
        sequence: head.next_sequence,
        prev_hash: head.last_hash.to_bytes().to_vec(),
        at_ms: at.as_millis(),
        kind: event.kind.to_wire() as i32,
        peer: event.peer.map(|p| p.to_bytes().to_vec()).unwrap_or_default(),
        subject: event.subject.clone(),
        fields: event.fields.iter().map(ToString::to_string).collect(),
        digest: event.digest.map(|d| d.to_bytes().to_vec()).unwrap_or_default(),
    }
    .encode_to_vec();
    let unsealed = wire::SignedLedgerEntry { entry, signature: Vec::new() }.encode_to_vec();
    head.next_sequence += 1;
    head.last_hash = Digest::of(&unsealed);
    unsealed
}

/// Signs `unsealed`, the unsigned entry `head` ends on, and with it every entry before it:
/// returns the signed bytes that replace it (at the same sequence) and points `head` at them.
/// `None`, and nothing changes, if `head` does not end on `unsealed` or it is signed already.
pub fn seal(keypair: &Keypair, head: &mut Head, unsealed: &[u8]) -> Option<Vec<u8>> {
    if Digest::of(unsealed) != head.last_hash {
        return None;
    }
    let mut signed = wire::SignedLedgerEntry::decode(unsealed).ok()?;
    if !signed.signature.is_empty() {
        return None;
    }
    signed.signature = keypair.sign(SignatureDomain::LedgerEntry, &signed.entry).to_bytes().to_vec();
    let signed = signed.encode_to_vec();
    head.last_hash = Digest::of(&signed);
    Some(signed)
}

/// Whether the entry `bytes` carries no signature of its own (it may still be covered by a
/// later entry's). Undecodable bytes count as signed: there is nothing [`seal`] could sign.
pub fn is_unsealed(bytes: &[u8]) -> bool {
    wire::SignedLedgerEntry::decode(bytes).is_ok_and(|signed| signed.signature.is_empty())
}

/// What is wrong with a ledger, and at which entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LedgerError {
    /// The entry cannot be decoded.
    #[error("entry {index}: malformed: {source}")]
    Malformed {
        /// Position in the list given.
        index: usize,
        /// Why.
        source: DecodeError,
    },
    /// The signature does not verify: altered or forged.
    #[error("entry {index}: bad signature (altered or forged)")]
    BadSignature {
        /// Position in the list given.
        index: usize,
    },
    /// The sequence number is not the entry's position: removed, inserted or reordered.
    #[error("entry {index}: sequence {found}, expected {index} (entry removed, inserted or reordered)")]
    Sequence {
        /// Position in the list given.
        index: usize,
        /// The sequence found.
        found: u64,
    },
    /// The entry does not chain to the one before.
    #[error("entry {index}: does not chain to the previous entry")]
    Chain {
        /// Position in the list given.
        index: usize,
    },
    /// The last entries carry no signature, nor does any entry after them: nothing vouches
    /// for them (a node signs its last entry just after each write, and on start after a
    /// crash between the two).
    #[error("entries from {index} on are not signed")]
    Unsealed {
        /// The first entry no signature covers.
        index: usize,
    },
    /// The ledger ends before the head it should reach: entries removed from the end.
    #[error("ledger ends at {found} entries, the head says {expected}")]
    Truncated {
        /// Entries found.
        found: u64,
        /// Entries expected.
        expected: u64,
    },
}

/// Checks a whole ledger signed by `key` and returns its entries. With `head`, the last
/// known head (kept apart from the entries), removal from the end is caught too.
///
/// An unsigned entry is as good as the first signed entry after it, whose signature covers it
/// through the chain; the ledger's last entry must be signed.
pub fn verify(entries: &[Vec<u8>], key: &PublicKey, head: Option<&Head>) -> Result<Vec<Entry>, LedgerError> {
    let mut last_hash = Digest::default();
    let mut out = Vec::with_capacity(entries.len());
    // The first entry no signature covers yet, if any.
    let mut uncovered: Option<usize> = None;
    for (index, bytes) in entries.iter().enumerate() {
        let malformed = |source| LedgerError::Malformed { index, source };
        let signed = wire::SignedLedgerEntry::decode(bytes.as_slice()).map_err(|e| malformed(e.into()))?;
        if signed.signature.is_empty() {
            uncovered.get_or_insert(index);
        } else {
            let signature: Signature = decode::key("signature", &signed.signature).map_err(malformed)?;
            if !key.verify(SignatureDomain::LedgerEntry, &signed.entry, &signature) {
                return Err(LedgerError::BadSignature { index });
            }
            uncovered = None;
        }
        let entry = wire::LedgerEntry::decode(signed.entry.as_slice()).map_err(|e| malformed(e.into()))?;
        if entry.sequence != index as u64 {
            return Err(LedgerError::Sequence { index, found: entry.sequence });
        }
        let prev_hash: Digest = decode::key("prev_hash", &entry.prev_hash).map_err(malformed)?;
        if prev_hash != last_hash {
            return Err(LedgerError::Chain { index });
        }
        last_hash = Digest::of(bytes);
        let event = Event {
            kind: EventKind::from_wire(entry.kind).map_err(malformed)?,
            peer: if entry.peer.is_empty() { None } else { Some(decode::key("peer", &entry.peer).map_err(malformed)?) },
            subject: entry.subject,
            fields: entry.fields.into_iter().map(FieldPath::try_from).collect::<Result<_, _>>().map_err(malformed)?,
            digest: if entry.digest.is_empty() {
                None
            } else {
                Some(decode::key("digest", &entry.digest).map_err(malformed)?)
            },
        };
        out.push(Entry { sequence: entry.sequence, prev_hash, at: Timestamp::from_millis(entry.at_ms), event });
    }
    if let Some(index) = uncovered {
        return Err(LedgerError::Unsealed { index });
    }
    if let Some(head) = head {
        let found = entries.len() as u64;
        if found < head.next_sequence {
            return Err(LedgerError::Truncated { found, expected: head.next_sequence });
        }
        if found == head.next_sequence && last_hash != head.last_hash {
            return Err(LedgerError::Chain { index: entries.len().saturating_sub(1) });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> Keypair {
        Keypair::from_secret_bytes(&[5; 32])
    }

    fn ledger(n: u64) -> (Vec<Vec<u8>>, Head) {
        let mut head = Head::default();
        let entries = (0..n)
            .map(|i| {
                let event = Event {
                    kind: EventKind::DataSent,
                    peer: Some(Keypair::from_secret_bytes(&[6; 32]).public()),
                    subject: vec![i as u8; 32],
                    fields: vec!["body.shoe_size_eu".parse().unwrap()],
                    digest: Some(Digest::of(&[i as u8])),
                };
                append(&key(), &mut head, Timestamp::from_millis(i * 10), &event)
            })
            .collect();
        (entries, head)
    }

    #[test]
    fn an_honest_ledger_verifies() {
        let (entries, head) = ledger(5);
        let read = verify(&entries, &key().public(), Some(&head)).unwrap();
        assert_eq!(read.len(), 5);
        assert_eq!(read[3].event.kind, EventKind::DataSent);
        assert_eq!(read[3].at, Timestamp::from_millis(30));
    }

    #[test]
    fn an_altered_entry_is_found() {
        let (mut entries, head) = ledger(5);
        let mut signed = wire::SignedLedgerEntry::decode(entries[2].as_slice()).unwrap();
        let mut entry = wire::LedgerEntry::decode(signed.entry.as_slice()).unwrap();
        entry.fields = vec!["health.hereditary.brca1".into()];
        signed.entry = entry.encode_to_vec();
        entries[2] = signed.encode_to_vec();
        assert_eq!(verify(&entries, &key().public(), Some(&head)), Err(LedgerError::BadSignature { index: 2 }));
    }

    #[test]
    fn a_removed_entry_is_found() {
        let (mut entries, head) = ledger(5);
        entries.remove(1);
        assert!(matches!(verify(&entries, &key().public(), None), Err(LedgerError::Sequence { index: 1, .. })));
        let (mut entries, _) = ledger(5);
        entries.pop();
        assert_eq!(
            verify(&entries, &key().public(), Some(&head)),
            Err(LedgerError::Truncated { found: 4, expected: 5 })
        );
    }

    #[test]
    fn reordered_entries_are_found() {
        let (mut entries, _) = ledger(5);
        entries.swap(1, 3);
        assert!(matches!(verify(&entries, &key().public(), None), Err(LedgerError::Sequence { index: 1, .. })));
    }

    #[test]
    fn a_forged_entry_is_found() {
        let (mut entries, _) = ledger(3);
        // An entry signed by another key, with the right sequence and chain.
        let mut forged_head = Head { next_sequence: 3, last_hash: Digest::of(&entries[2]) };
        let forger = Keypair::from_secret_bytes(&[66; 32]);
        let event = Event { kind: EventKind::Revoked, peer: None, subject: vec![], fields: vec![], digest: None };
        entries.push(append(&forger, &mut forged_head, Timestamp::EPOCH, &event));
        assert_eq!(verify(&entries, &key().public(), None), Err(LedgerError::BadSignature { index: 3 }));
    }

    #[test]
    fn a_resigned_replacement_breaks_the_chain() {
        // Even the key's owner cannot rewrite history silently: replacing entry 1 with a
        // freshly signed one breaks entry 2's link.
        let (mut entries, _) = ledger(4);
        let mut head = Head { next_sequence: 1, last_hash: Digest::of(&entries[0]) };
        let event = Event { kind: EventKind::Revoked, peer: None, subject: vec![], fields: vec![], digest: None };
        entries[1] = append(&key(), &mut head, Timestamp::EPOCH, &event);
        assert_eq!(verify(&entries, &key().public(), None), Err(LedgerError::Chain { index: 2 }));
    }

    /// Five entries appended unsigned and the last one sealed, as a node writes a batch.
    fn sealed_once(n: u64) -> (Vec<Vec<u8>>, Head) {
        let mut head = Head::default();
        let mut entries: Vec<Vec<u8>> = (0..n)
            .map(|i| {
                let event = Event {
                    kind: EventKind::DataReceived,
                    peer: None,
                    subject: vec![i as u8],
                    fields: vec![],
                    digest: None,
                };
                append_unsealed(&mut head, Timestamp::from_millis(i), &event)
            })
            .collect();
        let last = entries.pop().unwrap();
        entries.push(seal(&key(), &mut head, &last).unwrap());
        (entries, head)
    }

    #[test]
    fn one_signature_covers_the_unsigned_entries_before_it() {
        let (entries, head) = sealed_once(5);
        assert!(entries[..4].iter().all(|e| is_unsealed(e)));
        assert!(!is_unsealed(&entries[4]));
        assert_eq!(verify(&entries, &key().public(), Some(&head)).unwrap().len(), 5);
    }

    #[test]
    fn an_altered_unsigned_entry_breaks_the_chain_to_the_signature() {
        let (mut entries, head) = sealed_once(5);
        let mut signed = wire::SignedLedgerEntry::decode(entries[1].as_slice()).unwrap();
        let mut entry = wire::LedgerEntry::decode(signed.entry.as_slice()).unwrap();
        entry.kind = wire::LedgerEventKind::Revoked as i32;
        signed.entry = entry.encode_to_vec();
        entries[1] = signed.encode_to_vec();
        assert_eq!(verify(&entries, &key().public(), Some(&head)), Err(LedgerError::Chain { index: 2 }));
    }

    #[test]
    fn an_unsigned_end_does_not_verify_until_it_is_sealed() {
        let mut head = Head::default();
        let event = Event { kind: EventKind::DataSent, peer: None, subject: vec![], fields: vec![], digest: None };
        let mut entries = vec![append(&key(), &mut head, Timestamp::EPOCH, &event)];
        entries.push(append_unsealed(&mut head, Timestamp::EPOCH, &event));
        entries.push(append_unsealed(&mut head, Timestamp::EPOCH, &event));
        assert_eq!(verify(&entries, &key().public(), Some(&head)), Err(LedgerError::Unsealed { index: 1 }));
        // Someone without the key cannot seal it: the forger's seal fails the signature.
        let mut forged_head = head;
        let forged = seal(&Keypair::from_secret_bytes(&[66; 32]), &mut forged_head, &entries[2]).unwrap();
        let mut forged_entries = entries.clone();
        forged_entries[2] = forged;
        assert_eq!(verify(&forged_entries, &key().public(), None), Err(LedgerError::BadSignature { index: 2 }));
        let last = entries.pop().unwrap();
        entries.push(seal(&key(), &mut head, &last).unwrap());
        assert_eq!(verify(&entries, &key().public(), Some(&head)).unwrap().len(), 3);
    }

    #[test]
    fn only_the_unsigned_entry_the_head_ends_on_is_sealed() {
        let (entries, mut head) = sealed_once(3);
        let before = head;
        // Signed already, and not the last: nothing to seal, nothing changes.
        assert_eq!(seal(&key(), &mut head, &entries[2]), None);
        assert_eq!(seal(&key(), &mut head, &entries[1]), None);
        assert_eq!(head, before);
    }

    #[test]
    fn garbage_is_malformed_not_a_panic() {
        let entries = vec![b"\xff\x00garbage".to_vec()];
        assert!(matches!(verify(&entries, &key().public(), None), Err(LedgerError::Malformed { index: 0, .. })));
    }
}
