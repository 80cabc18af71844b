//! A business's signed profile, and what a person's node remembers about the businesses it met.
//!
//! A business is known by its key; its name is only a claim. Its profile (name, legal name,
//! contact, website, privacy policy, and where its node can be dialled) travels signed by that
//! key with every data request and every answer to an intent. A person's node keeps the newest
//! profile of each business it met ([`KnownBusiness`]), shows the key's fingerprint and the
//! person's own petname for it, and pins the key when the person first agrees with it (trust on
//! first use). From then on, another key that claims the same name is an impersonation: the
//! agent never agrees to it on its own, and the owner is told loudly.

use crate::decode::{self, DecodeError};
use crate::identity::{Keypair, PublicKey, Signature, SignatureDomain};
use crate::time::Timestamp;
use crate::wire;
use prost::Message as _;
use serde::{Deserialize, Serialize};

/// Most addresses a profile lists.
pub const MAX_PROFILE_ADDRESSES: usize = 8;
/// Longest address, in bytes.
pub const MAX_ADDRESS_BYTES: usize = 256;
/// Longest petname, in bytes.
pub const MAX_PETNAME_BYTES: usize = 64;

/// What a business says about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct BusinessProfile {
    /// The business's key.
    pub key: Option<PublicKey>,
    /// Its name, as it calls itself.
    pub name: String,
    /// Its legal name.
    pub legal_name: String,
    /// How to reach a human there (an email address or URL).
    pub contact: String,
    /// Its website, an https URL (empty if none).
    pub website: String,
    /// Its privacy policy's URL.
    pub privacy_policy: String,
    /// Where its node can be dialled (multiaddrs).
    pub addresses: Vec<String>,
    /// When it signed this profile.
    pub issued_at: Timestamp,
}

/// A profile with its signature, as it travels.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedProfile {
    /// The encoded [`BusinessProfile`], exactly as signed.
    pub bytes: Vec<u8>,
    /// The business's signature over `bytes`.
    pub signature: Signature,
}

/// Why a profile was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProfileError {
    /// It does not decode or a field is out of bounds.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// It is signed by another key than the one it names, or the signature is bad.
    #[error("the profile is not signed by the key it names")]
    BadSignature,
    /// It names another key than the message's sender.
    #[error("the profile names another key than its sender's")]
    NotTheSender,
}

impl BusinessProfile {
    /// Signs the profile with `keypair`, whose key it names.
    pub fn sign(mut self, keypair: &Keypair) -> SignedProfile {
        self.key = Some(keypair.public());
        let bytes = wire::BusinessProfile::from(&self).encode_to_vec();
        let signature = keypair.sign(SignatureDomain::BusinessProfile, &bytes);
        SignedProfile { bytes, signature }
    }
}

impl SignedProfile {
    /// The profile, if it is well-formed and signed by the key it names, and that key is
    /// `sender`'s.
    pub fn open(&self, sender: &PublicKey) -> Result<BusinessProfile, ProfileError> {
        let profile = BusinessProfile::try_from(
            wire::BusinessProfile::decode(self.bytes.as_slice()).map_err(DecodeError::from)?,
        )?;
        if profile.key.as_ref() != Some(sender) {
            return Err(ProfileError::NotTheSender);
        }
        if !sender.verify(SignatureDomain::BusinessProfile, &self.bytes, &self.signature) {
            return Err(ProfileError::BadSignature);
        }
        Ok(profile)
    }
}

impl TryFrom<wire::SignedProfile> for SignedProfile {
    type Error = DecodeError;
    fn try_from(signed: wire::SignedProfile) -> Result<Self, DecodeError> {
        Ok(SignedProfile { bytes: signed.profile, signature: decode::key("profile.signature", &signed.signature)? })
    }
}

impl From<&SignedProfile> for wire::SignedProfile {
    fn from(signed: &SignedProfile) -> Self {
        wire::SignedProfile { profile: signed.bytes.clone(), signature: signed.signature.to_bytes().to_vec() }
    }
}

impl TryFrom<wire::BusinessProfile> for BusinessProfile {
    type Error = DecodeError;
    fn try_from(profile: wire::BusinessProfile) -> Result<Self, DecodeError> {
        decode::bounded("profile.addresses", &profile.addresses, MAX_PROFILE_ADDRESSES)?;
        let addresses = profile
            .addresses
            .into_iter()
            .map(|address| {
                if address.len() > MAX_ADDRESS_BYTES {
                    let actual = address.len();
                    return Err(DecodeError::TooLong { field: "profile.addresses", max: MAX_ADDRESS_BYTES, actual });
                }
                decode::text("profile.addresses", address)
            })
            .collect::<Result<_, _>>()?;
        Ok(BusinessProfile {
            key: Some(decode::key("profile.key", &profile.key)?),
            name: decode::text("profile.name", profile.name)?,
            legal_name: decode::text("profile.legal_name", profile.legal_name)?,
            contact: decode::text("profile.contact", profile.contact)?,
            website: decode::text("profile.website", profile.website)?,
            privacy_policy: decode::text("profile.privacy_policy", profile.privacy_policy)?,
            addresses,
            issued_at: Timestamp::from_millis(profile.issued_at_ms),
        })
    }
}

impl From<&BusinessProfile> for wire::BusinessProfile {
    fn from(profile: &BusinessProfile) -> Self {
        wire::BusinessProfile {
            key: profile.key.map(|key| key.to_bytes().to_vec()).unwrap_or_default(),
            name: profile.name.clone(),
            legal_name: profile.legal_name.clone(),
            contact: profile.contact.clone(),
            website: profile.website.clone(),
            privacy_policy: profile.privacy_policy.clone(),
            addresses: profile.addresses.clone(),
            issued_at_ms: profile.issued_at.as_millis(),
        }
    }
}

/// A business a person's node met: its newest profile, whether its key is pinned (the person
/// agreed with it), and the person's own name for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct KnownBusiness {
    /// Its newest profile, if it sent one.
    pub profile: Option<BusinessProfile>,
    /// The name it was first met under (the profile's, or the request's).
    pub name: String,
    /// Pinned at the first agreement: from then on, another key claiming this name is flagged.
    pub pinned: bool,
    /// The person's own name for it.
    pub petname: Option<String>,
    /// When it was last heard from.
    pub seen_at: Timestamp,
    /// The last check of the domain its website names (see [`DomainStatement`]).
    pub domain: Option<DomainCheck>,
}

/// What a person's node found when it checked a business's domain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DomainCheck {
    /// The domain (host, and port if not 443) the website names.
    pub domain: String,
    /// Whether the domain serves a statement signed by the business's key for that domain.
    pub verified: bool,
    /// When it was checked.
    pub checked_at: Timestamp,
    /// Why not, when not verified (no internet, no statement, another key), in words.
    pub note: String,
}

/// A business's proof that it controls a domain: served at
/// `https://DOMAIN/.well-known/me2b.json`, signed by its key in the domain
/// `me2b/v1/sig/domain-proof` over the domain's text, a zero byte and the key's 32 bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DomainStatement {
    /// The statement's version: 1.
    pub me2b: u32,
    /// The domain, lower case: host, and `:port` if not 443.
    pub domain: String,
    /// The business's key, hex.
    pub key: String,
    /// The signature, hex.
    pub signature: String,
}

impl DomainStatement {
    /// `keypair`'s statement that it controls `domain`.
    pub fn sign(keypair: &Keypair, domain: &str) -> DomainStatement {
        let domain = domain.to_lowercase();
        let key = keypair.public();
        let signature = keypair.sign(SignatureDomain::DomainProof, &statement_bytes(&domain, &key));
        DomainStatement {
            me2b: 1,
            domain,
            key: key.to_string(),
            signature: crate::identity::hex(&signature.to_bytes()),
        }
    }

    /// Whether this is `key`'s statement for `domain`; if not, why.
    pub fn verify(&self, domain: &str, key: &PublicKey) -> Result<(), &'static str> {
        if self.me2b != 1 {
            return Err("the statement's version is not 1");
        }
        if self.domain != domain.to_lowercase() {
            return Err("the statement is for another domain");
        }
        if self.key != key.to_string() {
            return Err("the domain names another key");
        }
        let signature = crate::identity::unhex(&self.signature)
            .and_then(|bytes| Signature::try_from(bytes.as_slice()).ok())
            .ok_or("the statement's signature is malformed")?;
        if !key.verify(SignatureDomain::DomainProof, &statement_bytes(&self.domain, key), &signature) {
            return Err("the statement's signature does not verify");
        }
        Ok(())
    }
}

fn statement_bytes(domain: &str, key: &PublicKey) -> Vec<u8> {
    [domain.as_bytes(), &[0], key.as_bytes()].concat()
}

/// A name as compared for impersonation: trimmed, case and inner spacing ignored.
pub fn normalised(name: &str) -> String {
    name.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stride() -> BusinessProfile {
        BusinessProfile {
            name: "Stride".into(),
            legal_name: "Stride Running GmbH".into(),
            contact: "privacy@stride.example".into(),
            website: "https://stride.example".into(),
            privacy_policy: "https://stride.example/privacy".into(),
            addresses: vec!["/ip4/127.0.0.1/tcp/6428".into()],
            issued_at: Timestamp::from_millis(1_790_000_000_000),
            key: None,
        }
    }

    #[test]
    fn a_signed_profile_opens_only_for_its_own_key() {
        let key = Keypair::from_secret_bytes(&[2; 32]);
        let signed = stride().sign(&key);
        assert_eq!(signed.open(&key.public()).unwrap().name, "Stride");
        let other = Keypair::from_secret_bytes(&[3; 32]);
        assert_eq!(signed.open(&other.public()), Err(ProfileError::NotTheSender));
        // A profile naming the other key but signed by this one.
        let mut forged = stride().sign(&key);
        forged.bytes =
            wire::BusinessProfile::from(&BusinessProfile { key: Some(other.public()), ..stride() }).encode_to_vec();
        assert_eq!(forged.open(&other.public()), Err(ProfileError::BadSignature));
    }

    #[test]
    fn too_many_addresses_are_refused() {
        let key = Keypair::from_secret_bytes(&[2; 32]);
        let many = BusinessProfile { addresses: vec!["/ip4/127.0.0.1/tcp/1".into(); 9], ..stride() };
        assert!(matches!(many.sign(&key).open(&key.public()), Err(ProfileError::Decode(_))));
    }

    #[test]
    fn a_domain_statement_verifies_for_its_key_and_domain_only() {
        let key = Keypair::from_secret_bytes(&[2; 32]);
        let other = Keypair::from_secret_bytes(&[3; 32]);
        let statement = DomainStatement::sign(&key, "Stride.example");
        assert_eq!(statement.verify("stride.example", &key.public()), Ok(()));
        assert!(statement.verify("stride.example", &other.public()).is_err());
        assert!(statement.verify("evil.example", &key.public()).is_err());
        let forged = DomainStatement { key: other.public().to_string(), ..statement };
        assert_eq!(forged.verify("stride.example", &other.public()), Err("the statement's signature does not verify"));
    }

    #[test]
    fn names_compare_without_case_or_spacing() {
        assert_eq!(normalised("  Stride   Running "), normalised("stride running"));
        assert_ne!(normalised("Stride"), normalised("Str1de"));
    }
}
