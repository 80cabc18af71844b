//! Recovery: the root secret as 24 words, and an encrypted backup of everything else.
//!
//! A person's every identity derives from the node's 32-byte root secret
//! (`me2b_proto::identity::Identities`), so the secret alone brings back the keys toward every
//! business and every intent. It is written down as a BIP39 phrase of 24 words ([`phrase`]; the
//! `bip39` crate, English list, with its checksum). What the keys act on (agreements, the
//! ledger, the vault, policy) is in the store; [`seal_backup`] writes all of it to one file,
//! sealed with XChaCha20-Poly1305 under a key derived from the root secret, so that the phrase
//! opens the backup and nothing else does. Restored on a new machine ([`open_backup`], then
//! [`crate::store::Store::restore`]), the node has its agreements back and can revoke each one
//! and receive the receipt: the businesses know its personas, which come back from the same
//! secret.

use crate::at_rest::{AtRestError, SecretKey};
use me2b_proto::engine::State;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// Why a phrase or a backup was refused.
#[derive(Debug, thiserror::Error)]
pub enum RecoveryError {
    /// The words are not a valid phrase (unknown word, wrong count, bad checksum).
    #[error("not a recovery phrase: {0}")]
    Phrase(String),
    /// The phrase does not hold a 32-byte secret (a 12-word phrase, say).
    #[error("the phrase holds {0} bytes; a me2b recovery phrase has 24 words (32 bytes)")]
    Length(usize),
    /// The file is not a me2b backup.
    #[error("not a me2b backup file")]
    NotABackup,
    /// The backup does not open with this phrase (another person's, or damaged).
    #[error("the backup does not open with this recovery phrase (another node's, or damaged)")]
    WrongSecret,
    /// The backup's content cannot be read.
    #[error("the backup is damaged: {0}")]
    Damaged(String),
    /// Encryption failed.
    #[error(transparent)]
    AtRest(#[from] AtRestError),
}

const MAGIC: &[u8] = b"me2b-backup-v1\n";
/// What the sealed content is bound to.
const CONTEXT: &[u8] = b"me2b/v1/backup";

/// The root secret as 24 English BIP39 words.
pub fn phrase(secret: &[u8; 32]) -> Zeroizing<String> {
    // 32 bytes are always valid BIP39 entropy.
    let words = bip39::Mnemonic::from_entropy(secret).map(|m| m.to_string()).unwrap_or_default();
    Zeroizing::new(words)
}

/// The root secret from its 24 words (any spacing or case).
pub fn secret_from_phrase(words: &str) -> Result<Zeroizing<[u8; 32]>, RecoveryError> {
    let normal = words.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase();
    let mnemonic = bip39::Mnemonic::parse_normalized(&normal).map_err(|e| RecoveryError::Phrase(e.to_string()))?;
    let entropy = Zeroizing::new(mnemonic.to_entropy());
    let secret: [u8; 32] = entropy.as_slice().try_into().map_err(|_| RecoveryError::Length(entropy.len()))?;
    Ok(Zeroizing::new(secret))
}

/// Everything a backup holds.
#[derive(Serialize, Deserialize)]
struct Content {
    state: State,
    ledger: Vec<Vec<u8>>,
}

fn backup_key(secret: &[u8; 32]) -> Result<SecretKey, RecoveryError> {
    Ok(SecretKey::from_bytes(secret)?.derive("me2b backup"))
}

/// Seals the node's whole state and ledger under a key derived from its root `secret`.
pub fn seal_backup(secret: &[u8; 32], state: &State, ledger: &[Vec<u8>]) -> Result<Vec<u8>, RecoveryError> {
    let content = Content { state: state.clone(), ledger: ledger.to_vec() };
    let plain = Zeroizing::new(postcard::to_stdvec(&content).map_err(|e| RecoveryError::Damaged(e.to_string()))?);
    let mut bytes = MAGIC.to_vec();
    bytes.extend(backup_key(secret)?.seal(&plain, CONTEXT)?);
    Ok(bytes)
}

/// Opens a backup with the root `secret`: the state and the ledger's entries.
pub fn open_backup(secret: &[u8; 32], bytes: &[u8]) -> Result<(State, Vec<Vec<u8>>), RecoveryError> {
    let sealed = bytes.strip_prefix(MAGIC).ok_or(RecoveryError::NotABackup)?;
    let plain = backup_key(secret)?.open(sealed, CONTEXT).map_err(|_| RecoveryError::WrongSecret)?;
    let content: Content = postcard::from_bytes(&plain).map_err(|e| RecoveryError::Damaged(e.to_string()))?;
    Ok((content.state, content.ledger))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_phrase_is_24_words_and_gives_the_secret_back() {
        let secret = [7u8; 32];
        let words = phrase(&secret);
        assert_eq!(words.split(' ').count(), 24);
        let shouted = words.to_uppercase().replace(' ', "  \n");
        assert_eq!(*secret_from_phrase(&shouted).unwrap(), secret);
        // One word changed breaks the checksum (or is not a word).
        let mut changed: Vec<&str> = words.split(' ').collect();
        changed[3] = if changed[3] == "abandon" { "ability" } else { "abandon" };
        assert!(secret_from_phrase(&changed.join(" ")).is_err());
        // A 12-word phrase is valid BIP39 but holds too little.
        let twelve = bip39::Mnemonic::from_entropy(&[1u8; 16]).unwrap().to_string();
        assert!(matches!(secret_from_phrase(&twelve), Err(RecoveryError::Length(16))));
    }

    #[test]
    fn a_backup_opens_only_with_its_own_secret() {
        let state = State { subscriptions: ["apparel.shoes".parse().unwrap()].into(), ..State::default() };
        let sealed = seal_backup(&[7; 32], &state, &[vec![1, 2, 3]]).unwrap();
        let (opened, ledger) = open_backup(&[7; 32], &sealed).unwrap();
        assert_eq!(opened.subscriptions, state.subscriptions);
        assert_eq!(ledger, vec![vec![1, 2, 3]]);
        assert!(matches!(open_backup(&[8; 32], &sealed), Err(RecoveryError::WrongSecret)));
        assert!(matches!(open_backup(&[7; 32], b"something else"), Err(RecoveryError::NotABackup)));
    }
}
