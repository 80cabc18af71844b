//! Signed envelopes: how every message crosses the network.
//!
//! [`seal`] encodes a header (kind, sender, recipient, nonce, validity window) and the payload,
//! and signs the exact encoded bytes in the kind's signature domain. [`open`] caps the size
//! before decoding, checks the kind, the signature (`verify_strict`), the recipient and the
//! validity window, and only then hands out the payload as an [`Opened`]. A [`ReplayGuard`]
//! remembers every (sender, nonce) until its message expires, so no message is accepted twice.

use crate::decode::{self, DecodeError};
use crate::identity::{Keypair, Nonce, PublicKey, Signature, SignatureDomain};
use crate::limits::{MAX_CLOCK_SKEW_MS, MAX_SEEN_NONCES, MAX_SEEN_NONCES_PER_SENDER};
use crate::time::Timestamp;
use crate::wire;
use prost::Message as _;
use std::collections::{BTreeMap, BTreeSet};

pub use crate::message_kind::MessageKind;

/// Why an envelope was refused. Every variant but [`EnvelopeError::Busy`] is the sender's
/// fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    /// Larger than the kind allows; not decoded.
    #[error("message of {actual} bytes exceeds {max}")]
    TooLarge {
        /// The cap.
        max: usize,
        /// The size received.
        actual: usize,
    },
    /// Not a well-formed envelope.
    #[error("malformed envelope: {0}")]
    Malformed(#[from] DecodeError),
    /// A different kind than the channel carries.
    #[error("expected a {expected:?} message, got kind {actual}")]
    WrongKind {
        /// What the channel carries.
        expected: MessageKind,
        /// The wire kind received.
        actual: i32,
    },
    /// The signature does not verify for this sender, kind and bytes.
    #[error("bad signature")]
    BadSignature,
    /// Addressed to another node, or a gossip message with a recipient.
    #[error("wrong recipient")]
    WrongRecipient,
    /// The sender is not the peer the message came from.
    #[error("sender is not the connected peer")]
    WrongSender,
    /// Issued too far in the future.
    #[error("issued in the future")]
    NotYetValid,
    /// Expired.
    #[error("expired")]
    Expired,
    /// Claims a longer validity than the kind allows.
    #[error("validity window too long")]
    ValidityTooLong,
    /// The same (sender, nonce) was accepted before.
    #[error("replayed message")]
    Replayed,
    /// The replay guard is full of unexpired nonces; try later.
    #[error("too many messages in flight")]
    Busy,
}

/// The checked header of an envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// What the payload is.
    pub kind: MessageKind,
    /// Who signed it.
    pub sender: PublicKey,
    /// Who it is for; `None` for gossip.
    pub recipient: Option<PublicKey>,
    /// Its nonce.
    pub nonce: Nonce,
    /// When it was issued.
    pub issued_at: Timestamp,
    /// When it expires.
    pub expires_at: Timestamp,
}

/// An envelope whose signature, recipient and validity have been checked. Only [`open`] makes
/// one, so holding an `Opened` means the payload is authentic.
#[derive(Debug, Clone)]
pub struct Opened {
    header: Header,
    payload: Vec<u8>,
}

impl Opened {
    /// The checked header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The payload bytes, exactly as signed.
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }

    /// Decodes the payload as a wire message.
    pub fn decode<M: prost::Message + Default>(&self) -> Result<M, DecodeError> {
        Ok(M::decode(self.payload.as_slice())?)
    }
}

/// What [`seal`] needs besides the payload.
#[derive(Debug, Clone, Copy)]
pub struct Seal<'a> {
    /// The signer.
    pub keypair: &'a Keypair,
    /// The message kind.
    pub kind: MessageKind,
    /// The recipient of a direct message; `None` for gossip.
    pub recipient: Option<PublicKey>,
    /// A fresh random nonce.
    pub nonce: Nonce,
    /// Now.
    pub issued_at: Timestamp,
    /// When the message stops being valid.
    pub expires_at: Timestamp,
}

/// Encodes and signs `payload`, returning the bytes to send.
pub fn seal(seal: Seal<'_>, payload: Vec<u8>) -> Vec<u8> {
    let envelope = wire::Envelope {
        kind: seal.kind.to_wire() as i32,
        sender: seal.keypair.public().to_bytes().to_vec(),
        recipient: seal.recipient.map(|r| r.to_bytes().to_vec()).unwrap_or_default(),
        nonce: seal.nonce.to_bytes().to_vec(),
        issued_at_ms: seal.issued_at.as_millis(),
        expires_at_ms: seal.expires_at.as_millis(),
        payload,
    }
    .encode_to_vec();
    let signature = seal.keypair.sign(SignatureDomain::Envelope(seal.kind), &envelope);
    wire::SignedEnvelope { envelope, signature: signature.to_bytes().to_vec() }.encode_to_vec()
}

/// Checks an envelope of `expected` kind received at `now`. `me` is the receiving node for a
/// direct message, `None` for gossip.
pub fn open(
    bytes: &[u8],
    expected: MessageKind,
    me: Option<&PublicKey>,
    now: Timestamp,
) -> Result<Opened, EnvelopeError> {
    let opened = verify(bytes, expected)?;
    let Header { recipient, issued_at, expires_at, .. } = &opened.header;
    let (issued_at, expires_at) = (*issued_at, *expires_at);
    if recipient.as_ref() != me {
        return Err(EnvelopeError::WrongRecipient);
    }
    if issued_at.as_millis() > now.as_millis().saturating_add(MAX_CLOCK_SKEW_MS) {
        return Err(EnvelopeError::NotYetValid);
    }
    if expires_at <= now {
        return Err(EnvelopeError::Expired);
    }
    if expires_at.as_millis().saturating_sub(issued_at.as_millis()) > expected.max_validity_ms() {
        return Err(EnvelopeError::ValidityTooLong);
    }
    Ok(opened)
}

/// Checks only what stays true forever: the size, the kind and the sender's signature. This
/// is how kept evidence (a deletion receipt) is checked long after its validity window;
/// [`open`] adds the recipient and the window for a message arriving now.
pub fn verify(bytes: &[u8], expected: MessageKind) -> Result<Opened, EnvelopeError> {
    let max = expected.max_bytes();
    if bytes.len() > max {
        return Err(EnvelopeError::TooLarge { max, actual: bytes.len() });
    }
    let signed = wire::SignedEnvelope::decode(bytes).map_err(DecodeError::from)?;
    let envelope = wire::Envelope::decode(signed.envelope.as_slice()).map_err(DecodeError::from)?;
    if envelope.kind != expected.to_wire() as i32 {
        return Err(EnvelopeError::WrongKind { expected, actual: envelope.kind });
    }
    let sender: PublicKey = decode::key("envelope.sender", &envelope.sender)?;
    let signature: Signature = decode::key("signature", &signed.signature)?;
    if !sender.verify(SignatureDomain::Envelope(expected), &signed.envelope, &signature) {
        return Err(EnvelopeError::BadSignature);
    }
    let recipient = if envelope.recipient.is_empty() {
        None
    } else {
        Some(decode::key::<PublicKey>("envelope.recipient", &envelope.recipient)?)
    };
    Ok(Opened {
        header: Header {
            kind: expected,
            sender,
            recipient,
            nonce: decode::key("envelope.nonce", &envelope.nonce)?,
            issued_at: Timestamp::from_millis(envelope.issued_at_ms),
            expires_at: Timestamp::from_millis(envelope.expires_at_ms),
        },
        payload: envelope.payload,
    })
}

/// Remembers (sender, nonce) pairs until their messages expire, so none is accepted twice.
/// Bounded per sender by [`MAX_SEEN_NONCES_PER_SENDER`] and in all by [`MAX_SEEN_NONCES`]: when
/// full of unexpired entries it refuses new messages ([`EnvelopeError::Busy`]) rather than
/// forget one that could be replayed, and a sender at its quota is refused alone.
#[derive(Debug, Default, Clone)]
pub struct ReplayGuard {
    seen: BTreeMap<(PublicKey, Nonce), Timestamp>,
    by_expiry: BTreeSet<(Timestamp, PublicKey, Nonce)>,
    per_sender: BTreeMap<PublicKey, usize>,
}

impl ReplayGuard {
    /// Records the header's nonce, or fails if it was seen before.
    pub fn check(&mut self, header: &Header, now: Timestamp) -> Result<(), EnvelopeError> {
        self.forget_expired(now);
        let key = (header.sender, header.nonce);
        if self.seen.contains_key(&key) {
            return Err(EnvelopeError::Replayed);
        }
        let held = self.per_sender.get(&header.sender).copied().unwrap_or(0);
        if held >= MAX_SEEN_NONCES_PER_SENDER || self.seen.len() >= MAX_SEEN_NONCES {
            return Err(EnvelopeError::Busy);
        }
        self.per_sender.insert(header.sender, held + 1);
        self.seen.insert(key, header.expires_at);
        self.by_expiry.insert((header.expires_at, header.sender, header.nonce));
        Ok(())
    }

    /// How many nonces are remembered.
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    /// Whether no nonce is remembered.
    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }

    fn forget_expired(&mut self, now: Timestamp) {
        while let Some(&(expires_at, sender, nonce)) = self.by_expiry.first() {
            if expires_at > now {
                break;
            }
            self.by_expiry.pop_first();
            self.seen.remove(&(sender, nonce));
            if let Some(held) = self.per_sender.get_mut(&sender) {
                *held -= 1;
                if *held == 0 {
                    self.per_sender.remove(&sender);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::{MAX_DIRECT_VALIDITY_MS, MAX_GOSSIP_MESSAGE_BYTES};

    fn alice() -> Keypair {
        Keypair::from_secret_bytes(&[1; 32])
    }

    fn bob() -> Keypair {
        Keypair::from_secret_bytes(&[2; 32])
    }

    fn direct(kind: MessageKind, nonce: u8, payload: &[u8]) -> Vec<u8> {
        seal(
            Seal {
                keypair: &alice(),
                kind,
                recipient: Some(bob().public()),
                nonce: Nonce::from_bytes([nonce; 16]),
                issued_at: Timestamp::from_millis(1_000),
                expires_at: Timestamp::from_millis(61_000),
            },
            payload.to_vec(),
        )
    }

    const NOW: Timestamp = Timestamp::from_millis(2_000);

    #[test]
    fn a_sealed_envelope_opens_for_its_recipient() {
        let bytes = direct(MessageKind::Negotiation, 1, b"hello");
        let opened = open(&bytes, MessageKind::Negotiation, Some(&bob().public()), NOW).unwrap();
        assert_eq!(opened.payload(), b"hello");
        assert_eq!(opened.header().sender, alice().public());
    }

    #[test]
    fn a_signature_over_another_message_type_is_rejected() {
        let bytes = direct(MessageKind::Negotiation, 1, b"hello");
        // Rewrite the kind inside the envelope, keeping the signature.
        let mut signed = wire::SignedEnvelope::decode(bytes.as_slice()).unwrap();
        let mut envelope = wire::Envelope::decode(signed.envelope.as_slice()).unwrap();
        envelope.kind = wire::MessageKind::Revocation as i32;
        signed.envelope = envelope.encode_to_vec();
        let forged = signed.encode_to_vec();
        assert_eq!(
            open(&forged, MessageKind::Revocation, Some(&bob().public()), NOW).unwrap_err(),
            EnvelopeError::BadSignature
        );
        // And an honest envelope of one kind does not open as another.
        assert!(matches!(
            open(&bytes, MessageKind::Revocation, Some(&bob().public()), NOW),
            Err(EnvelopeError::WrongKind { .. })
        ));
    }

    #[test]
    fn a_tampered_payload_is_rejected() {
        let bytes = direct(MessageKind::DataPackage, 1, b"size=44");
        let mut signed = wire::SignedEnvelope::decode(bytes.as_slice()).unwrap();
        let mut envelope = wire::Envelope::decode(signed.envelope.as_slice()).unwrap();
        envelope.payload = b"size=45".to_vec();
        signed.envelope = envelope.encode_to_vec();
        assert_eq!(
            open(&signed.encode_to_vec(), MessageKind::DataPackage, Some(&bob().public()), NOW).unwrap_err(),
            EnvelopeError::BadSignature
        );
    }

    #[test]
    fn a_wrong_key_is_rejected() {
        let bytes = direct(MessageKind::Negotiation, 1, b"hello");
        let mut signed = wire::SignedEnvelope::decode(bytes.as_slice()).unwrap();
        let mut envelope = wire::Envelope::decode(signed.envelope.as_slice()).unwrap();
        envelope.sender = bob().public().to_bytes().to_vec();
        signed.envelope = envelope.encode_to_vec();
        assert_eq!(
            open(&signed.encode_to_vec(), MessageKind::Negotiation, Some(&bob().public()), NOW).unwrap_err(),
            EnvelopeError::BadSignature
        );
    }

    #[test]
    fn a_message_for_someone_else_is_rejected() {
        let bytes = direct(MessageKind::Negotiation, 1, b"hello");
        assert_eq!(
            open(&bytes, MessageKind::Negotiation, Some(&alice().public()), NOW).unwrap_err(),
            EnvelopeError::WrongRecipient
        );
    }

    #[test]
    fn expired_future_and_overlong_messages_are_rejected() {
        let bytes = direct(MessageKind::Negotiation, 1, b"x");
        let me = bob().public();
        assert_eq!(
            open(&bytes, MessageKind::Negotiation, Some(&me), Timestamp::from_millis(61_000)).unwrap_err(),
            EnvelopeError::Expired
        );
        let early = Timestamp::from_millis(0);
        assert!(open(&bytes, MessageKind::Negotiation, Some(&me), early).is_ok(), "within clock skew");
        let long = seal(
            Seal {
                keypair: &alice(),
                kind: MessageKind::Negotiation,
                recipient: Some(me),
                nonce: Nonce::from_bytes([1; 16]),
                issued_at: Timestamp::from_millis(1_000),
                expires_at: Timestamp::from_millis(1_000 + MAX_DIRECT_VALIDITY_MS + 1),
            },
            vec![],
        );
        assert_eq!(open(&long, MessageKind::Negotiation, Some(&me), NOW).unwrap_err(), EnvelopeError::ValidityTooLong);
        let future = seal(
            Seal {
                keypair: &alice(),
                kind: MessageKind::Negotiation,
                recipient: Some(me),
                nonce: Nonce::from_bytes([1; 16]),
                issued_at: Timestamp::from_millis(NOW.as_millis() + MAX_CLOCK_SKEW_MS + 1),
                expires_at: Timestamp::from_millis(NOW.as_millis() + MAX_CLOCK_SKEW_MS + 2),
            },
            vec![],
        );
        assert_eq!(open(&future, MessageKind::Negotiation, Some(&me), NOW).unwrap_err(), EnvelopeError::NotYetValid);
    }

    #[test]
    fn oversize_and_garbage_bytes_are_rejected_without_panicking() {
        let big = vec![0u8; MAX_GOSSIP_MESSAGE_BYTES + 1];
        assert!(matches!(open(&big, MessageKind::Intent, None, NOW), Err(EnvelopeError::TooLarge { .. })));
        for garbage in [&b""[..], b"\xff\xff\xff", b"\x0a\x05abc"] {
            assert!(open(garbage, MessageKind::Intent, None, NOW).is_err());
        }
    }

    #[test]
    fn a_replayed_nonce_is_rejected_until_it_expires() {
        let mut guard = ReplayGuard::default();
        let me = bob().public();
        let first = open(&direct(MessageKind::Negotiation, 7, b"a"), MessageKind::Negotiation, Some(&me), NOW).unwrap();
        guard.check(first.header(), NOW).unwrap();
        let again = open(&direct(MessageKind::Negotiation, 7, b"a"), MessageKind::Negotiation, Some(&me), NOW).unwrap();
        assert_eq!(guard.check(again.header(), NOW), Err(EnvelopeError::Replayed));
        let other = open(&direct(MessageKind::Negotiation, 8, b"a"), MessageKind::Negotiation, Some(&me), NOW).unwrap();
        guard.check(other.header(), NOW).unwrap();
        assert_eq!(guard.len(), 2);
        // After expiry the nonce is forgotten (and the message itself would fail `open`).
        guard.check(other.header(), Timestamp::from_millis(61_000)).unwrap();
        assert_eq!(guard.len(), 1);
    }

    #[test]
    fn one_sender_cannot_fill_the_replay_guard_for_everyone() {
        let mut guard = ReplayGuard::default();
        let header = |sender: &Keypair, nonce: u64| Header {
            kind: MessageKind::Negotiation,
            sender: sender.public(),
            recipient: None,
            nonce: {
                let mut bytes = [0u8; 16];
                bytes[..8].copy_from_slice(&nonce.to_le_bytes());
                Nonce::from_bytes(bytes)
            },
            issued_at: NOW,
            expires_at: Timestamp::from_millis(NOW.as_millis() + 60_000),
        };
        for nonce in 0..MAX_SEEN_NONCES_PER_SENDER as u64 {
            guard.check(&header(&alice(), nonce), NOW).unwrap();
        }
        assert_eq!(guard.check(&header(&alice(), u64::MAX), NOW), Err(EnvelopeError::Busy), "alice is at her quota");
        guard.check(&header(&bob(), 0), NOW).unwrap();
        // Once her messages expire, she has room again.
        let later = Timestamp::from_millis(NOW.as_millis() + 60_001);
        guard.check(&header(&alice(), u64::MAX), later).unwrap();
        assert_eq!(guard.len(), 1);
    }
}
