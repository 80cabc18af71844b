//! Encryption at rest: a random data key seals every stored record (XChaCha20-Poly1305, with
//! the record's key as associated data, so a sealed value cannot be moved to another key),
//! and a passphrase wraps the data key and the node's identity key (Argon2id).
//!
//! A node may run without a passphrase (tests, simulations); it says so explicitly, and its
//! data key is then stored unwrapped.

use argon2::{Algorithm, Argon2, Params, Version};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// Why sealing or opening failed.
#[derive(Debug, thiserror::Error)]
pub enum AtRestError {
    /// The operating system's random source failed.
    #[error("no randomness available: {0}")]
    Random(String),
    /// The passphrase is wrong, or the data was altered.
    #[error("cannot decrypt: wrong passphrase or corrupted data")]
    Decrypt,
    /// The passphrase could not be stretched.
    #[error("key derivation failed: {0}")]
    Kdf(String),
    /// A passphrase is needed (or was given where none is used).
    #[error("{0}")]
    Passphrase(&'static str),
    /// The stored form cannot be read.
    #[error("malformed key material: {0}")]
    Malformed(String),
}

/// Fills `buf` from the operating system's random source.
pub fn random(buf: &mut [u8]) -> Result<(), AtRestError> {
    getrandom::fill(buf).map_err(|e| AtRestError::Random(e.to_string()))
}

/// A 32-byte symmetric key, wiped on drop.
#[derive(Clone)]
pub struct SecretKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(..)")
    }
}

impl SecretKey {
    /// A fresh random key.
    pub fn generate() -> Result<SecretKey, AtRestError> {
        let mut key = Zeroizing::new([0u8; 32]);
        random(key.as_mut())?;
        Ok(SecretKey(key))
    }

    /// Encrypts `plaintext`, bound to `context`. Output: 24-byte nonce, then ciphertext.
    pub fn seal(&self, plaintext: &[u8], context: &[u8]) -> Result<Vec<u8>, AtRestError> {
        let cipher = XChaCha20Poly1305::new(self.0.as_ref().into());
        let mut nonce = [0u8; 24];
        random(&mut nonce)?;
        let ciphertext = cipher
            .encrypt(XNonce::from_slice(&nonce), Payload { msg: plaintext, aad: context })
            .map_err(|_| AtRestError::Decrypt)?;
        let mut out = Vec::with_capacity(24 + ciphertext.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        Ok(out)
    }

    /// Decrypts what [`SecretKey::seal`] produced with the same `context`.
    pub fn open(&self, sealed: &[u8], context: &[u8]) -> Result<Zeroizing<Vec<u8>>, AtRestError> {
        if sealed.len() < 24 {
            return Err(AtRestError::Decrypt);
        }
        let (nonce, ciphertext) = sealed.split_at(24);
        let cipher = XChaCha20Poly1305::new(self.0.as_ref().into());
        cipher
            .decrypt(XNonce::from_slice(nonce), Payload { msg: ciphertext, aad: context })
            .map(Zeroizing::new)
            .map_err(|_| AtRestError::Decrypt)
    }
}

/// Argon2id settings, stored beside what they protect so they can be raised later.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KdfParams {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Passes.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

impl Default for KdfParams {
    /// OWASP's recommendation for Argon2id: 19 MiB, 2 passes, 1 lane.
    fn default() -> Self {
        KdfParams { memory_kib: 19 * 1024, iterations: 2, parallelism: 1 }
    }
}

/// A secret kept at rest, wrapped by a passphrase or explicitly unprotected.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Wrapped {
    /// Sealed with a key derived from a passphrase.
    Passphrase {
        /// Argon2id settings.
        params: KdfParams,
        /// Random salt.
        salt: [u8; 16],
        /// The sealed secret.
        sealed: Vec<u8>,
    },
    /// Stored as is: the owner opted out of a passphrase.
    Unprotected {
        /// The secret.
        secret: Vec<u8>,
    },
}

impl Wrapped {
    /// Wraps `secret` with `passphrase` (or stores it unprotected with `None`).
    pub fn wrap(secret: &[u8], passphrase: Option<&[u8]>, what: &'static str) -> Result<Wrapped, AtRestError> {
        let Some(passphrase) = passphrase else {
            return Ok(Wrapped::Unprotected { secret: secret.to_vec() });
        };
        let params = KdfParams::default();
        let mut salt = [0u8; 16];
        random(&mut salt)?;
        let key = derive(passphrase, &salt, params)?;
        Ok(Wrapped::Passphrase { params, salt, sealed: key.seal(secret, what.as_bytes())? })
    }

    /// Unwraps the secret with `passphrase`.
    pub fn unwrap_with(
        &self,
        passphrase: Option<&[u8]>,
        what: &'static str,
    ) -> Result<Zeroizing<Vec<u8>>, AtRestError> {
        match (self, passphrase) {
            (Wrapped::Unprotected { secret }, _) => Ok(Zeroizing::new(secret.clone())),
            (Wrapped::Passphrase { .. }, None) => {
                Err(AtRestError::Passphrase("this data directory is protected by a passphrase; give it"))
            }
            (Wrapped::Passphrase { params, salt, sealed }, Some(passphrase)) => {
                derive(passphrase, salt, *params)?.open(sealed, what.as_bytes())
            }
        }
    }
}

fn derive(passphrase: &[u8], salt: &[u8; 16], params: KdfParams) -> Result<SecretKey, AtRestError> {
    let argon_params = Params::new(params.memory_kib, params.iterations, params.parallelism, Some(32))
        .map_err(|e| AtRestError::Kdf(e.to_string()))?;
    let mut key = Zeroizing::new([0u8; 32]);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, argon_params)
        .hash_password_into(passphrase, salt, key.as_mut())
        .map_err(|e| AtRestError::Kdf(e.to_string()))?;
    Ok(SecretKey(key))
}

impl SecretKey {
    /// A key from 32 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<SecretKey, AtRestError> {
        let array: [u8; 32] = bytes.try_into().map_err(|_| AtRestError::Malformed("key length".into()))?;
        Ok(SecretKey(Zeroizing::new(array)))
    }

    /// A key for another purpose, derived from this one: HMAC-SHA256 keyed with this key over
    /// `purpose` (HKDF-Expand's single block). Knowing the derived key reveals nothing of this
    /// one, and two purposes get unrelated keys.
    pub fn derive(&self, purpose: &str) -> SecretKey {
        use hmac::{KeyInit, Mac};
        let mut key = Zeroizing::new([0u8; 32]);
        if let Ok(mut mac) = hmac::Hmac::<sha2::Sha256>::new_from_slice(self.0.as_ref()) {
            mac.update(b"me2b/v1/subkey\0");
            mac.update(purpose.as_bytes());
            mac.update(&[1]);
            key.copy_from_slice(&mac.finalize().into_bytes());
        }
        SecretKey(key)
    }

    /// The key's bytes, for wrapping.
    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_keys_are_stable_apart_and_not_the_parent() {
        let parent = SecretKey::from_bytes(&[9; 32]).unwrap();
        let events = parent.derive("events");
        assert_eq!(events.expose(), parent.derive("events").expose(), "the same purpose, the same key");
        assert_ne!(events.expose(), parent.derive("webhooks").expose());
        assert_ne!(events.expose(), parent.expose());
        let sealed = events.seal(b"x", b"c").unwrap();
        assert!(parent.open(&sealed, b"c").is_err(), "the parent does not open a derived key's seal");
    }

    #[test]
    fn sealed_data_opens_only_with_its_key_and_context() {
        let key = SecretKey::generate().unwrap();
        let sealed = key.seal(b"shoe size 44", b"vault/body.shoe_size_eu").unwrap();
        assert_eq!(&key.open(&sealed, b"vault/body.shoe_size_eu").unwrap()[..], b"shoe size 44");
        assert!(key.open(&sealed, b"vault/other").is_err(), "moved to another record");
        assert!(SecretKey::generate().unwrap().open(&sealed, b"vault/body.shoe_size_eu").is_err());
        let mut tampered = sealed.clone();
        tampered[30] ^= 1;
        assert!(key.open(&tampered, b"vault/body.shoe_size_eu").is_err());
        assert!(key.open(b"short", b"x").is_err());
    }

    #[test]
    fn a_wrapped_secret_needs_the_right_passphrase() {
        let wrapped = Wrapped::wrap(b"secret", Some(b"correct horse"), "test").unwrap();
        assert_eq!(&wrapped.unwrap_with(Some(b"correct horse"), "test").unwrap()[..], b"secret");
        assert!(matches!(wrapped.unwrap_with(Some(b"wrong"), "test"), Err(AtRestError::Decrypt)));
        assert!(matches!(wrapped.unwrap_with(None, "test"), Err(AtRestError::Passphrase(_))));
        let open = Wrapped::wrap(b"secret", None, "test").unwrap();
        assert_eq!(&open.unwrap_with(None, "test").unwrap()[..], b"secret");
    }
}
