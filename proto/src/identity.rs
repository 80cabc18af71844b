//! Keys, signatures, digests and ids.
//!
//! A node has one ed25519 key. Its public half is the node's identity in the protocol (and,
//! through libp2p, its `PeerId`); the same key signs envelopes, agreements and ledger entries.
//! Every signature is made over a domain-separation prefix followed by the exact bytes that
//! travel, so a signature made for one purpose never verifies for another.

use crate::limits::MAX_CHECKED_KEYS;
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Mutex, PoisonError};

pub use crate::decode::KeyError;
use crate::decode::TextError;

/// A node's signing key. It never prints its secret and wipes it when dropped.
pub struct Keypair {
    signing: SigningKey,
}

impl Keypair {
    /// A keypair from its 32-byte secret seed.
    pub fn from_secret_bytes(secret: &[u8; 32]) -> Self {
        Keypair { signing: SigningKey::from_bytes(secret) }
    }

    /// The 32-byte secret seed, for the node to store encrypted. Handle with care.
    pub fn secret_bytes(&self) -> [u8; 32] {
        self.signing.to_bytes()
    }

    /// The public half.
    pub fn public(&self) -> PublicKey {
        PublicKey(self.signing.verifying_key().to_bytes())
    }

    /// Signs `message` in `domain`.
    pub fn sign(&self, domain: SignatureDomain, message: &[u8]) -> Signature {
        let signed = domain.prefixed(message);
        Signature(self.signing.sign(&signed).to_bytes())
    }
}

impl fmt::Debug for Keypair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keypair").field("public", &self.public()).field("secret", &"..").finish()
    }
}

/// What a signature is for. Each domain has its own prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureDomain {
    /// An envelope of the given message kind.
    Envelope(crate::message_kind::MessageKind),
    /// The bytes of an agreement.
    Agreement,
    /// A ledger entry.
    LedgerEntry,
    /// A daemon's answer to its local client's challenge (`GET /v1/identity`): proof that the
    /// API it found through `api.json` is served by the node holding this key.
    ApiIdentity,
    /// A business's profile (see the `profile` module).
    BusinessProfile,
    /// A business's statement that it controls a web domain (see the `profile` module).
    DomainProof,
}

impl SignatureDomain {
    fn prefix(self) -> &'static [u8] {
        use crate::message_kind::MessageKind as K;
        match self {
            SignatureDomain::Envelope(K::DataRequest) => b"me2b/v1/sig/data-request\0",
            SignatureDomain::Envelope(K::Intent) => b"me2b/v1/sig/intent\0",
            SignatureDomain::Envelope(K::Negotiation) => b"me2b/v1/sig/negotiation\0",
            SignatureDomain::Envelope(K::DataPackage) => b"me2b/v1/sig/data-package\0",
            SignatureDomain::Envelope(K::PersonalOffer) => b"me2b/v1/sig/personal-offer\0",
            SignatureDomain::Envelope(K::Revocation) => b"me2b/v1/sig/revocation\0",
            SignatureDomain::Envelope(K::DeletionReceipt) => b"me2b/v1/sig/deletion-receipt\0",
            SignatureDomain::Agreement => b"me2b/v1/sig/agreement\0",
            SignatureDomain::LedgerEntry => b"me2b/v1/sig/ledger-entry\0",
            SignatureDomain::ApiIdentity => b"me2b/v1/sig/api-identity\0",
            SignatureDomain::BusinessProfile => b"me2b/v1/sig/business-profile\0",
            SignatureDomain::DomainProof => b"me2b/v1/sig/domain-proof\0",
        }
    }

    fn prefixed(self, message: &[u8]) -> Vec<u8> {
        let prefix = self.prefix();
        let mut signed = Vec::with_capacity(prefix.len() + message.len());
        signed.extend_from_slice(prefix);
        signed.extend_from_slice(message);
        signed
    }
}

/// Public keys already checked (a point on the curve, not of small order) and decompressed. A
/// message names the same keys several times (an envelope's sender and recipient, the parties
/// of the agreement it carries) and its signature check needs the sender's decompressed: each
/// costs a square root in the field, a lookup here. Shared by every engine in the process and
/// emptied when it holds [`MAX_CHECKED_KEYS`], so a flood of new keys costs what it would
/// without it.
static CHECKED_KEYS: Mutex<BTreeMap<[u8; 32], VerifyingKey>> = Mutex::new(BTreeMap::new());

/// `bytes` as a verifying key, if they are a valid one that is not of small order.
fn checked_key(bytes: &[u8; 32]) -> Option<VerifyingKey> {
    if let Some(key) = CHECKED_KEYS.lock().unwrap_or_else(PoisonError::into_inner).get(bytes) {
        return Some(*key);
    }
    let key = VerifyingKey::from_bytes(bytes).ok().filter(|key| !key.is_weak())?;
    let mut checked = CHECKED_KEYS.lock().unwrap_or_else(PoisonError::into_inner);
    if checked.len() >= MAX_CHECKED_KEYS {
        checked.clear();
    }
    checked.insert(*bytes, key);
    Some(key)
}

/// An ed25519 public key: the identity of a node in the protocol.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "Vec<u8>", into = "Vec<u8>")]
pub struct PublicKey([u8; 32]);

impl PublicKey {
    /// The 32 bytes of the key.
    pub fn to_bytes(self) -> [u8; 32] {
        self.0
    }

    /// The key as bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Checks `signature` over `message` in `domain` with the strict rules of RFC 8032 (no
    /// small-order keys, canonical encodings only).
    pub fn verify(&self, domain: SignatureDomain, message: &[u8], signature: &Signature) -> bool {
        let Some(key) = checked_key(&self.0) else {
            return false;
        };
        let signature = ed25519_dalek::Signature::from_bytes(&signature.0);
        key.verify_strict(&domain.prefixed(message), &signature).is_ok()
    }

    /// A short printable form: the first 8 bytes in hex.
    pub fn short(&self) -> String {
        hex(&self.0[..8])
    }

    /// What a person compares to recognise a key: the first 8 bytes of its SHA-256 in four
    /// groups, e.g. `7F3A-91C2-0BD4-55E1`.
    pub fn fingerprint(&self) -> String {
        let hash = Sha256::digest(self.0);
        let text = hex(&hash[..8]).to_uppercase();
        let groups: Vec<&str> = (0..4).filter_map(|i| text.get(i * 4..i * 4 + 4)).collect();
        groups.join("-")
    }
}

impl TryFrom<&[u8]> for PublicKey {
    type Error = KeyError;
    fn try_from(bytes: &[u8]) -> Result<Self, KeyError> {
        let array: [u8; 32] = bytes.try_into().map_err(|_| KeyError::Length { expected: 32, actual: bytes.len() })?;
        checked_key(&array).ok_or(KeyError::InvalidPublicKey)?;
        Ok(PublicKey(array))
    }
}

impl TryFrom<Vec<u8>> for PublicKey {
    type Error = KeyError;
    fn try_from(bytes: Vec<u8>) -> Result<Self, KeyError> {
        PublicKey::try_from(bytes.as_slice())
    }
}

impl From<PublicKey> for Vec<u8> {
    fn from(key: PublicKey) -> Vec<u8> {
        key.0.to_vec()
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.short())
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex(&self.0))
    }
}

impl std::str::FromStr for PublicKey {
    type Err = TextError;
    fn from_str(text: &str) -> Result<Self, TextError> {
        unhex(text)
            .and_then(|bytes| PublicKey::try_from(bytes.as_slice()).ok())
            .ok_or_else(|| TextError::new(text, "a key", "write the key's 64 hex digits"))
    }
}

/// An ed25519 signature.
#[derive(Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<u8>", into = "Vec<u8>")]
pub struct Signature([u8; 64]);

impl Signature {
    /// The 64 bytes of the signature.
    pub fn to_bytes(self) -> [u8; 64] {
        self.0
    }
}

impl TryFrom<&[u8]> for Signature {
    type Error = KeyError;
    fn try_from(bytes: &[u8]) -> Result<Self, KeyError> {
        let array: [u8; 64] = bytes.try_into().map_err(|_| KeyError::Length { expected: 64, actual: bytes.len() })?;
        Ok(Signature(array))
    }
}

impl TryFrom<Vec<u8>> for Signature {
    type Error = KeyError;
    fn try_from(bytes: Vec<u8>) -> Result<Self, KeyError> {
        Signature::try_from(bytes.as_slice())
    }
}

impl From<Signature> for Vec<u8> {
    fn from(signature: Signature) -> Vec<u8> {
        signature.0.to_vec()
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({}..)", hex(&self.0[..8]))
    }
}

/// A SHA-256 digest.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(try_from = "Vec<u8>", into = "Vec<u8>")]
pub struct Digest([u8; 32]);

impl Digest {
    /// The SHA-256 of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Digest(Sha256::digest(bytes).into())
    }

    /// The 32 bytes of the digest.
    pub fn to_bytes(self) -> [u8; 32] {
        self.0
    }

    /// The digest as bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl TryFrom<&[u8]> for Digest {
    type Error = KeyError;
    fn try_from(bytes: &[u8]) -> Result<Self, KeyError> {
        let array: [u8; 32] = bytes.try_into().map_err(|_| KeyError::Length { expected: 32, actual: bytes.len() })?;
        Ok(Digest(array))
    }
}

impl TryFrom<Vec<u8>> for Digest {
    type Error = KeyError;
    fn try_from(bytes: Vec<u8>) -> Result<Self, KeyError> {
        Digest::try_from(bytes.as_slice())
    }
}

impl From<Digest> for Vec<u8> {
    fn from(digest: Digest) -> Vec<u8> {
        digest.0.to_vec()
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({}..)", hex(&self.0[..8]))
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex(&self.0))
    }
}

/// Declares a 16-byte random id type.
macro_rules! id16 {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "Vec<u8>", into = "Vec<u8>")]
        pub struct $name([u8; 16]);

        impl $name {
            /// An id from its 16 bytes.
            pub const fn from_bytes(bytes: [u8; 16]) -> Self {
                $name(bytes)
            }

            /// The 16 bytes of the id.
            pub fn to_bytes(self) -> [u8; 16] {
                self.0
            }
        }

        impl TryFrom<&[u8]> for $name {
            type Error = KeyError;
            fn try_from(bytes: &[u8]) -> Result<Self, KeyError> {
                let array: [u8; 16] = bytes.try_into().map_err(|_| KeyError::Length {
                    expected: 16,
                    actual: bytes.len(),
                })?;
                Ok($name(array))
            }
        }

        impl TryFrom<Vec<u8>> for $name {
            type Error = KeyError;
            fn try_from(bytes: Vec<u8>) -> Result<Self, KeyError> {
                $name::try_from(bytes.as_slice())
            }
        }

        impl From<$name> for Vec<u8> {
            fn from(id: $name) -> Vec<u8> {
                id.0.to_vec()
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), hex(&self.0))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&hex(&self.0))
            }
        }

        impl std::str::FromStr for $name {
            type Err = KeyError;
            fn from_str(text: &str) -> Result<Self, KeyError> {
                let bytes = unhex(text).ok_or(KeyError::Length { expected: 16, actual: text.len() / 2 })?;
                $name::try_from(bytes.as_slice())
            }
        }
    };
}

id16!(
    /// Names a business's data request.
    RequestId
);
id16!(
    /// Names a person's intent.
    IntentId
);
id16!(
    /// Names a negotiation; both sides use the id chosen by the side that proposed.
    NegotiationId
);
id16!(
    /// Names a personal offer.
    OfferId
);
id16!(
    /// A random nonce in an envelope or agreement.
    Nonce
);

/// Names an agreement: the SHA-256 of its encoded bytes.
pub type AgreementId = Digest;

impl std::str::FromStr for Digest {
    type Err = KeyError;
    fn from_str(text: &str) -> Result<Self, KeyError> {
        let bytes = unhex(text).ok_or(KeyError::Length { expected: 32, actual: text.len() / 2 })?;
        Digest::try_from(bytes.as_slice())
    }
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(DIGITS[usize::from(byte >> 4)] as char);
        out.push(DIGITS[usize::from(byte & 0xf)] as char);
    }
    out
}

/// Bytes from hex, `None` if `text` is not hex of even length.
pub fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message_kind::MessageKind;

    fn keypair(seed: u8) -> Keypair {
        Keypair::from_secret_bytes(&[seed; 32])
    }

    /// The cache of checked keys answers as the checks do, the first time and every time
    /// after, and stays within its bound.
    #[test]
    fn checked_keys_answer_as_the_checks_and_stay_bounded() {
        // The identity point: on the curve, of small order; and bytes that are no point.
        let mut small_order = [0u8; 32];
        small_order[0] = 1;
        let not_a_point = (2..=u8::MAX)
            .map(|y| {
                let mut bytes = [0u8; 32];
                bytes[0] = y;
                bytes
            })
            .find(|bytes| VerifyingKey::from_bytes(bytes).is_err())
            .unwrap();
        for _ in 0..2 {
            assert!(VerifyingKey::from_bytes(&small_order).is_ok_and(|key| key.is_weak()));
            assert!(PublicKey::try_from(&small_order[..]).is_err());
            assert!(VerifyingKey::from_bytes(&not_a_point).is_err());
            assert!(PublicKey::try_from(&not_a_point[..]).is_err());
        }
        let signer = keypair(7);
        let signature = signer.sign(SignatureDomain::Envelope(MessageKind::Negotiation), b"hello");
        for _ in 0..2 {
            assert!(signer.public().verify(SignatureDomain::Envelope(MessageKind::Negotiation), b"hello", &signature));
            assert!(!signer.public().verify(SignatureDomain::Envelope(MessageKind::Negotiation), b"hullo", &signature));
            assert!(!keypair(8).public().verify(
                SignatureDomain::Envelope(MessageKind::Negotiation),
                b"hello",
                &signature
            ));
        }
        for i in 0..MAX_CHECKED_KEYS + 10 {
            let mut secret = [0u8; 32];
            secret[..8].copy_from_slice(&(i as u64).to_le_bytes());
            let key = Keypair::from_secret_bytes(&secret).public();
            assert_eq!(PublicKey::try_from(&key.as_bytes()[..]), Ok(key));
            assert!(CHECKED_KEYS.lock().unwrap().len() <= MAX_CHECKED_KEYS);
        }
    }

    #[test]
    fn persona_keys_are_the_same_cached_or_derived_anew_past_the_bound() {
        let identities = Identities::new(keypair(1), true);
        let persona = |i: u64| {
            let mut id = [0u8; 16];
            id[..8].copy_from_slice(&i.to_le_bytes());
            Persona::Intent(IntentId::from_bytes(id))
        };
        let fresh = |i: u64| Keypair::from_secret_bytes(&identities.secret(persona(i))).public();
        let first = identities.public(persona(0));
        assert_eq!(first, fresh(0));
        for i in 0..(MAX_CACHED_PERSONAS as u64 + 10) {
            assert_eq!(identities.keypair(persona(i)).public(), fresh(i));
        }
        assert!(identities.derived.lock().map(|d| d.len()).unwrap_or(0) <= MAX_CACHED_PERSONAS);
        assert_eq!(identities.public(persona(0)), first, "derived again after the cache was emptied");
        assert_eq!(identities.public(Persona::Root), keypair(1).public());
        let one_key = Identities::new(keypair(1), false);
        assert_eq!(one_key.public(persona(3)), keypair(1).public());
    }

    #[test]
    fn signature_verifies_only_in_its_domain_and_with_its_key() {
        let key = keypair(1);
        let signature = key.sign(SignatureDomain::Agreement, b"terms");
        assert!(key.public().verify(SignatureDomain::Agreement, b"terms", &signature));
        assert!(!key.public().verify(SignatureDomain::LedgerEntry, b"terms", &signature));
        assert!(!key.public().verify(SignatureDomain::Envelope(MessageKind::Intent), b"terms", &signature));
        assert!(!key.public().verify(SignatureDomain::Agreement, b"terms!", &signature));
        assert!(!keypair(2).public().verify(SignatureDomain::Agreement, b"terms", &signature));
    }

    #[test]
    fn keys_of_the_wrong_length_or_weak_are_rejected() {
        assert_eq!(PublicKey::try_from(&[0u8; 31][..]), Err(KeyError::Length { expected: 32, actual: 31 }));
        // The identity point is a small-order (weak) key.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert_eq!(PublicKey::try_from(&identity[..]), Err(KeyError::InvalidPublicKey));
        assert!(PublicKey::try_from(&keypair(3).public().to_bytes()[..]).is_ok());
    }

    #[test]
    fn debug_never_prints_the_secret() {
        let key = keypair(7);
        let printed = format!("{key:?}");
        assert!(!printed.contains(&hex(&key.secret_bytes())));
        assert!(printed.contains(".."));
    }

    #[test]
    fn ids_round_trip_through_hex() {
        let id = RequestId::from_bytes([0xab; 16]);
        assert_eq!(id.to_string().parse::<RequestId>(), Ok(id));
        assert!("zz".parse::<RequestId>().is_err());
        let digest = Digest::of(b"x");
        assert_eq!(digest.to_string().parse::<Digest>(), Ok(digest));
    }
}

/// Which of a node's identities speaks. A business has one, its root key: it is known by it.
/// A person's root key never leaves the node in a signature or a transport handshake once
/// pairwise identities are on; toward each business the person is a separate key derived from
/// the root ([`Persona::Business`]), and each intent is signed by a key of its own
/// ([`Persona::Intent`]), which is also the person's identity toward the businesses that
/// answer that intent. Derivation is deterministic, so the root secret (or its recovery
/// phrase) brings every identity back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Persona {
    /// The node's root key.
    Root,
    /// The person's identity toward the business with this key.
    Business(PublicKey),
    /// The one-time identity of this intent (and of what follows from answers to it).
    Intent(IntentId),
}

/// Most derived persona keys [`Identities`] keeps at hand; beyond it they are derived again.
const MAX_CACHED_PERSONAS: usize = 1024;

/// A node's keys: the root and, for a person, the identities derived from it.
pub struct Identities {
    root: Keypair,
    pairwise: bool,
    /// Persona keys already derived. Deriving one costs an HMAC and a scalar multiplication
    /// (its public half), and the engine asks for the key of the same persona several times
    /// per message; bounded by [`MAX_CACHED_PERSONAS`] (emptied when full).
    derived: std::sync::Mutex<std::collections::HashMap<Persona, SigningKey>>,
}

impl Identities {
    /// The identities of `root`. With `pairwise` off every persona is the root key: one key
    /// everywhere, which lets businesses link a person (for tests that show the difference).
    pub fn new(root: Keypair, pairwise: bool) -> Self {
        Identities { root, pairwise, derived: Default::default() }
    }

    /// The root key.
    pub fn root(&self) -> &Keypair {
        &self.root
    }

    /// Whether personas other than the root have keys of their own.
    pub fn pairwise(&self) -> bool {
        self.pairwise
    }

    /// The 32-byte secret of `persona`: HMAC-SHA256 keyed by the root secret over a label that
    /// names the persona (`me2b/v1/persona/business\0` + the business key, or
    /// `me2b/v1/persona/intent\0` + the intent id). The root's secret for [`Persona::Root`], or
    /// for any persona when pairwise identities are off.
    pub fn secret(&self, persona: Persona) -> [u8; 32] {
        use hmac::{KeyInit, Mac};
        let label: Vec<u8> = match persona {
            _ if !self.pairwise => return self.root.secret_bytes(),
            Persona::Root => return self.root.secret_bytes(),
            Persona::Business(key) => [b"me2b/v1/persona/business\0".as_slice(), key.as_bytes()].concat(),
            Persona::Intent(id) => [b"me2b/v1/persona/intent\0".as_slice(), &id.to_bytes()].concat(),
        };
        let root = self.root.secret_bytes();
        let Ok(mut mac) = hmac::Hmac::<Sha256>::new_from_slice(&root) else {
            // HMAC takes a key of any length; this branch cannot run.
            return root;
        };
        mac.update(&label);
        mac.finalize().into_bytes().into()
    }

    /// The signing key of `persona`.
    pub fn keypair(&self, persona: Persona) -> Keypair {
        if persona == Persona::Root || !self.pairwise {
            return Keypair { signing: self.root.signing.clone() };
        }
        let Ok(mut derived) = self.derived.lock() else {
            return Keypair::from_secret_bytes(&self.secret(persona));
        };
        if let Some(signing) = derived.get(&persona) {
            return Keypair { signing: signing.clone() };
        }
        let keypair = Keypair::from_secret_bytes(&self.secret(persona));
        if derived.len() >= MAX_CACHED_PERSONAS {
            derived.clear();
        }
        derived.insert(persona, keypair.signing.clone());
        keypair
    }

    /// The public key of `persona`.
    pub fn public(&self, persona: Persona) -> PublicKey {
        if persona == Persona::Root || !self.pairwise {
            return self.root.public();
        }
        self.keypair(persona).public()
    }
}

impl fmt::Debug for Identities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identities").field("root", &self.root).field("pairwise", &self.pairwise).finish()
    }
}
