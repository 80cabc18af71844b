//! The node's identity key on disk: a 32-byte ed25519 secret, wrapped by the owner's
//! passphrase (Argon2id, XChaCha20-Poly1305) or, by explicit choice, unprotected. The file is
//! created with owner-only permissions and written atomically (temporary file, then rename).

use crate::at_rest::{AtRestError, Wrapped, random};
use std::io::Write;
use std::path::Path;
use zeroize::Zeroizing;

/// Why the key file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    /// The file system failed.
    #[error("key file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The passphrase is wrong or missing, or the file is damaged.
    #[error(transparent)]
    AtRest(#[from] AtRestError),
    /// The file is not a me2b key file.
    #[error("key file {0} is not a me2b key file")]
    Malformed(String),
}

const MAGIC: &[u8] = b"me2b-key-v1\n";

/// Reads the secret at `path`, or creates a new random one there if the file does not exist.
pub fn load_or_create(path: &Path, passphrase: Option<&[u8]>) -> Result<Zeroizing<[u8; 32]>, KeyFileError> {
    let io = |source| KeyFileError::Io { path: path.display().to_string(), source };
    match std::fs::read(path) {
        Ok(bytes) => {
            let body = bytes.strip_prefix(MAGIC).ok_or_else(|| KeyFileError::Malformed(path.display().to_string()))?;
            let wrapped: Wrapped =
                postcard::from_bytes(body).map_err(|_| KeyFileError::Malformed(path.display().to_string()))?;
            let secret = wrapped.unwrap_with(passphrase, "me2b identity key")?;
            let array: [u8; 32] =
                secret.as_slice().try_into().map_err(|_| KeyFileError::Malformed(path.display().to_string()))?;
            Ok(Zeroizing::new(array))
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            let mut secret = Zeroizing::new([0u8; 32]);
            random(secret.as_mut())?;
            create(path, &secret, passphrase)?;
            Ok(secret)
        }
        Err(error) => Err(io(error)),
    }
}

/// Writes `secret` (one brought back from a recovery phrase) as a new key file at `path`;
/// refuses to overwrite one.
pub fn create(path: &Path, secret: &[u8; 32], passphrase: Option<&[u8]>) -> Result<(), KeyFileError> {
    let io = |source| KeyFileError::Io { path: path.display().to_string(), source };
    if path.exists() {
        return Err(io(std::io::Error::new(std::io::ErrorKind::AlreadyExists, "a key file is already there")));
    }
    let wrapped = Wrapped::wrap(secret, passphrase, "me2b identity key")?;
    let mut bytes = MAGIC.to_vec();
    bytes.extend(postcard::to_stdvec(&wrapped).map_err(|_| KeyFileError::Malformed(path.display().to_string()))?);
    write_private(path, &bytes).map_err(io)
}

/// Writes `bytes` to `path` readable by the owner only, atomically.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let temporary = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&temporary)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&temporary, path)?;
    if let Some(parent) = path.parent() {
        std::fs::File::open(parent)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_file_is_created_once_and_needs_its_passphrase() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("identity.key");
        let first = load_or_create(&path, Some(b"pass phrase")).unwrap();
        let again = load_or_create(&path, Some(b"pass phrase")).unwrap();
        assert_eq!(*first, *again);
        assert!(matches!(load_or_create(&path, Some(b"wrong")), Err(KeyFileError::AtRest(AtRestError::Decrypt))));
        assert!(matches!(load_or_create(&path, None), Err(KeyFileError::AtRest(AtRestError::Passphrase(_)))));
        let raw = std::fs::read(&path).unwrap();
        assert!(!raw.windows(32).any(|w| w == first.as_ref()), "the secret is not stored in the clear");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        std::fs::write(&path, b"garbage").unwrap();
        assert!(matches!(load_or_create(&path, None), Err(KeyFileError::Malformed(_))));
    }
}
