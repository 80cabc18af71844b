//! Storage: the engine's state in one sled tree, every value sealed with the data key.
//!
//! The engine says what changed ([`Change`]); [`Store::apply`] writes those parts of the
//! engine's state (and new ledger entries) in one atomic batch and flushes it to disk before
//! returning, so a change the node has acknowledged survives a kill -9. [`Store::load`] reads
//! the whole state back for a restart. Keys name records (a kind byte and an id or path,
//! never a value); values are sealed with XChaCha20-Poly1305 and bound to their key. Ledger
//! entries carry no personal data and are stored as signed.

use crate::at_rest::{AtRestError, SecretKey, Wrapped};
use me2b_proto::engine::{Change, OutboxId, State};
use me2b_proto::ledger::Head;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::path::Path;

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// sled failed.
    #[error("database: {0}")]
    Database(#[from] sled::Error),
    /// Encryption or the passphrase failed.
    #[error(transparent)]
    AtRest(#[from] AtRestError),
    /// A stored value cannot be decoded.
    #[error("corrupt record {key}: {reason}")]
    Corrupt {
        /// The record's key, printed.
        key: String,
        /// Why.
        reason: String,
    },
}

/// The kind byte that starts every key.
mod kind {
    pub const SETTINGS: u8 = 0;
    pub const COUNTERS: u8 = 1;
    pub const VAULT: u8 = 2;
    pub const REQUEST: u8 = 3;
    pub const INTENT: u8 = 4;
    pub const SEEN_INTENT: u8 = 5;
    pub const NEGOTIATION: u8 = 6;
    pub const AGREEMENT: u8 = 7;
    pub const RECEIVED: u8 = 8;
    pub const DEMAND: u8 = 9;
    pub const OUTBOX: u8 = 10;
    pub const LEDGER: u8 = 11;
    /// A held deletion receipt: present or not, no value (its own kind, so stores written
    /// before it existed still read).
    pub const HELD_RECEIPT: u8 = 12;
    /// A business a person's node met (its own kind, so older stores still read).
    pub const BUSINESS: u8 = 13;
    /// Not in the state tree: the wrapped data key, in the `meta` tree.
    pub const DATA_KEY: &[u8] = b"data-key";
}

fn key(kind: u8, id: &[u8]) -> Vec<u8> {
    let mut key = Vec::with_capacity(1 + id.len());
    key.push(kind);
    key.extend_from_slice(id);
    key
}

/// Settings in one record.
#[derive(serde::Serialize, serde::Deserialize)]
struct Settings {
    policy: me2b_proto::policy::Policy,
    business_policy: me2b_proto::policy::BusinessPolicy,
    catalog: Vec<me2b_proto::engine::CatalogItem>,
    subscriptions: std::collections::BTreeSet<me2b_proto::vocab::Category>,
}

/// Counters that move with almost every change.
#[derive(serde::Serialize, serde::Deserialize)]
struct Counters {
    ledger: Head,
    next_outbox_id: u64,
}

/// A node's store.
pub struct Store {
    db: sled::Db,
    state: sled::Tree,
    data_key: SecretKey,
    /// Flushes (fsyncs) of state since the store was opened.
    flushes: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").finish_non_exhaustive()
    }
}

/// How long opening a store waits for an earlier holder of its lock to let go. sled releases the
/// lock only once its own background work on the last handle has finished, a moment after the
/// node that used the directory stopped: a node restarted in the same process (tests, the
/// simulator), or a daemon started right after the last one exited, would otherwise be refused
/// now and then. A store really in use elsewhere is still refused, once this has passed.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(3);
/// How often the lock is tried again meanwhile (sled only tries it; nothing says when it is
/// free).
const LOCK_RETRY: std::time::Duration = std::time::Duration::from_millis(10);

/// Opens the sled database, trying again while another holds its lock, for at most `wait`;
/// `refused` hears each refusal.
fn open_when_free(
    config: &sled::Config,
    wait: std::time::Duration,
    mut refused: impl FnMut(),
) -> Result<sled::Db, sled::Error> {
    let deadline = std::time::Instant::now() + wait;
    loop {
        match config.open() {
            // sled says only this, in words (`sled::config`).
            Err(sled::Error::Io(error))
                if error.to_string().contains("could not acquire lock") && std::time::Instant::now() < deadline =>
            {
                refused();
                std::thread::sleep(LOCK_RETRY);
            }
            opened => return opened,
        }
    }
}

impl Store {
    /// A key for files kept beside the store (the event backlog, webhook dead letters), derived
    /// from the store's data key: sealed as the store is, opened by the same passphrase.
    pub fn file_key(&self, purpose: &str) -> SecretKey {
        self.data_key.derive(purpose)
    }

    /// Opens (or creates) the store at `path`. `passphrase` unwraps the data key; `None` is
    /// the explicit opt-out for tests and simulations. `small` asks for a small cache and no
    /// background flusher (many nodes in one process).
    pub fn open(path: &Path, passphrase: Option<&[u8]>, small: bool) -> Result<Store, StoreError> {
        let mut config = sled::Config::new().path(path);
        if small {
            config = config.cache_capacity(1 << 20).flush_every_ms(None);
        }
        let db = open_when_free(&config, LOCK_WAIT, || {})?;
        let meta = db.open_tree("meta")?;
        let data_key = match meta.get(kind::DATA_KEY)? {
            Some(bytes) => {
                let wrapped: Wrapped = postcard::from_bytes(&bytes)
                    .map_err(|e| StoreError::Corrupt { key: "data-key".into(), reason: e.to_string() })?;
                SecretKey::from_bytes(&wrapped.unwrap_with(passphrase, "me2b data key")?)?
            }
            None => {
                let data_key = SecretKey::generate()?;
                let wrapped = Wrapped::wrap(data_key.expose(), passphrase, "me2b data key")?;
                let bytes = postcard::to_stdvec(&wrapped)
                    .map_err(|e| StoreError::Corrupt { key: "data-key".into(), reason: e.to_string() })?;
                meta.insert(kind::DATA_KEY, bytes)?;
                meta.flush()?;
                data_key
            }
        };
        let state = db.open_tree("state")?;
        Ok(Store { db, state, data_key, flushes: Default::default() })
    }

    /// Writes what `changes` name from `state`, in one batch, and waits until it is on disk,
    /// unless none of them needs the disk ([`Store::must_flush`]): then the batch is written
    /// and goes to disk with the next flush.
    ///
    /// The write and the flush run on tokio's blocking pool: sled 0.34 takes a process-wide
    /// lock, and an async flush holds its read side across an await, so blocking writes on the
    /// runtime's workers deadlock once enough nodes share a process.
    pub async fn apply(&self, state: &State, changes: &[Change]) -> Result<(), StoreError> {
        if changes.is_empty() {
            return Ok(());
        }
        let flush = changes.iter().any(|change| Store::must_flush(state, change));
        let batch = self.batch(state, changes)?;
        let (tree, db, flushes) = (self.state.clone(), self.db.clone(), self.flushes.clone());
        tokio::task::spawn_blocking(move || -> Result<(), StoreError> {
            tree.apply_batch(batch)?;
            if flush {
                db.flush()?;
                flushes.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            Ok(())
        })
        .await
        .map_err(|e| StoreError::Corrupt { key: "(write)".into(), reason: e.to_string() })?
    }

    /// Puts on disk whatever was written and not yet flushed (see [`Store::must_flush`]); a
    /// node stopping does this before it lets its data directory go.
    pub async fn flush(&self) -> Result<(), StoreError> {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || db.flush().map(drop))
            .await
            .map_err(|e| StoreError::Corrupt { key: "(flush)".into(), reason: e.to_string() })?
            .map_err(StoreError::from)
    }

    /// The same as [`Store::apply`], blocking.
    pub fn apply_blocking(&self, state: &State, changes: &[Change]) -> Result<(), StoreError> {
        if changes.is_empty() {
            return Ok(());
        }
        let batch = self.batch(state, changes)?;
        self.state.apply_batch(batch)?;
        self.db.flush()?;
        self.flushes.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    /// Whether `change` must be on disk before what caused it is acknowledged. Every change
    /// must, but one: an outbox item's removal (its message was acknowledged). If a crash
    /// loses it, the node sends that message once more after restart, and the receiver, which
    /// has it, answers "stale" (a duplicate is no fault, and the outbox expects it: an
    /// acknowledgement lost in flight does the same). So the removal rides on the next flush
    /// instead of costing one of its own, which takes an fsync off every round trip; the node
    /// does not even write a batch of nothing else until its next write.
    pub fn must_flush(state: &State, change: &Change) -> bool {
        !matches!(change, Change::Outbox(id) if state.outbox.get(id).is_none())
    }

    /// How many times state was flushed to disk since the store was opened.
    pub fn flushes(&self) -> u64 {
        self.flushes.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn batch(&self, state: &State, changes: &[Change]) -> Result<sled::Batch, StoreError> {
        let mut batch = sled::Batch::default();
        let put = |batch: &mut sled::Batch, key: Vec<u8>, value: Option<Vec<u8>>| -> Result<(), StoreError> {
            match value {
                Some(plain) => {
                    let sealed = self.data_key.seal(&plain, &key)?;
                    batch.insert(key, sealed);
                }
                None => batch.remove(key),
            }
            Ok(())
        };
        for change in changes {
            match change {
                Change::Settings => {
                    let settings = Settings {
                        policy: state.policy.clone(),
                        business_policy: state.business_policy.clone(),
                        catalog: state.catalog.clone(),
                        subscriptions: state.subscriptions.clone(),
                    };
                    put(&mut batch, key(kind::SETTINGS, &[]), Some(encode(&settings)?))?;
                }
                Change::Vault(path) => put(
                    &mut batch,
                    key(kind::VAULT, path.as_str().as_bytes()),
                    state.vault.get(path).map(encode).transpose()?,
                )?,
                Change::Request(id) => put(
                    &mut batch,
                    key(kind::REQUEST, &id.to_bytes()),
                    state.requests.get(id).map(encode).transpose()?,
                )?,
                Change::Intent(id) => {
                    put(&mut batch, key(kind::INTENT, &id.to_bytes()), state.intents.get(id).map(encode).transpose()?)?
                }
                Change::SeenIntent(id) => put(
                    &mut batch,
                    key(kind::SEEN_INTENT, &id.to_bytes()),
                    state.seen.intent_expiry(id).map(encode).transpose()?,
                )?,
                Change::Negotiation(id) => put(
                    &mut batch,
                    key(kind::NEGOTIATION, &id.to_bytes()),
                    state.negotiations.get(id).map(encode).transpose()?,
                )?,
                Change::Agreement(id) => put(
                    &mut batch,
                    key(kind::AGREEMENT, id.as_bytes()),
                    state.agreements.get(id).map(encode).transpose()?,
                )?,
                Change::HeldReceipt(id) => put(
                    &mut batch,
                    key(kind::HELD_RECEIPT, id.as_bytes()),
                    state.held_receipts.contains(id).then(|| encode(&())).transpose()?,
                )?,
                Change::Business(business) => put(
                    &mut batch,
                    key(kind::BUSINESS, business.as_bytes()),
                    state.businesses.get(business).map(encode).transpose()?,
                )?,
                Change::Received(id) => put(
                    &mut batch,
                    key(kind::RECEIVED, id.as_bytes()),
                    state.received.get(id).map(encode).transpose()?,
                )?,
                Change::Demand(demand) => {
                    let id = encode(demand)?;
                    put(&mut batch, key(kind::DEMAND, &id), state.demand.get(demand).map(encode).transpose()?)?
                }
                Change::Outbox(id) => put(
                    &mut batch,
                    key(kind::OUTBOX, &id.0.to_be_bytes()),
                    state.outbox.get(id).map(encode).transpose()?,
                )?,
                Change::LedgerEntry { sequence, bytes } | Change::LedgerSeal { sequence, bytes } => {
                    batch.insert(key(kind::LEDGER, &sequence.to_be_bytes()), bytes.clone());
                }
            }
        }
        let counters = Counters { ledger: state.ledger, next_outbox_id: state.outbox.next_id() };
        put(&mut batch, key(kind::COUNTERS, &[]), Some(encode(&counters)?))?;
        Ok(batch)
    }

    /// Writes a whole state and its ledger (a restored backup) into this store, flushed, in
    /// one batch. For a new store: what it held before stays only where not overwritten.
    pub fn restore(&self, state: &State, ledger: &[Vec<u8>]) -> Result<(), StoreError> {
        let mut changes = vec![Change::Settings];
        changes.extend(state.vault.keys().cloned().map(Change::Vault));
        changes.extend(state.requests.keys().copied().map(Change::Request));
        changes.extend(state.intents.keys().copied().map(Change::Intent));
        changes.extend(state.negotiations.keys().copied().map(Change::Negotiation));
        changes.extend(state.agreements.keys().copied().map(Change::Agreement));
        changes.extend(state.received.keys().copied().map(Change::Received));
        changes.extend(state.demand.keys().cloned().map(Change::Demand));
        changes.extend(state.outbox.keys().copied().map(Change::Outbox));
        changes.extend(state.held_receipts.iter().copied().map(Change::HeldReceipt));
        changes.extend(state.businesses.keys().copied().map(Change::Business));
        changes.extend(
            ledger
                .iter()
                .enumerate()
                .map(|(sequence, bytes)| Change::LedgerEntry { sequence: sequence as u64, bytes: bytes.clone() }),
        );
        self.apply_blocking(state, &changes)
    }

    /// Reads the whole state back.
    pub fn load(&self) -> Result<State, StoreError> {
        let mut state = State::default();
        for item in self.state.iter() {
            let (key, value) = item?;
            let Some((&kind, id)) = key.split_first() else {
                continue;
            };
            if kind == kind::LEDGER {
                continue;
            }
            let plain = self.data_key.open(&value, &key)?;
            let corrupt = |reason: String| StoreError::Corrupt {
                key: format!("{kind}/{}", me2b_proto::identity::hex(id)),
                reason,
            };
            match kind {
                kind::SETTINGS => {
                    let settings: Settings = decode(&plain).map_err(corrupt)?;
                    state.policy = settings.policy;
                    state.business_policy = settings.business_policy;
                    state.catalog = settings.catalog;
                    state.subscriptions = settings.subscriptions;
                }
                kind::COUNTERS => {
                    let counters: Counters = decode(&plain).map_err(corrupt)?;
                    state.ledger = counters.ledger;
                    state.outbox.restore_next_id(counters.next_outbox_id);
                }
                kind::VAULT => {
                    let path = String::from_utf8(id.to_vec()).map_err(|e| corrupt(e.to_string()))?;
                    let path = path.parse().map_err(|e: me2b_proto::decode::TextError| corrupt(e.to_string()))?;
                    state.vault.insert(path, decode(&plain).map_err(corrupt)?);
                }
                kind::REQUEST => {
                    state.requests.restore(decode(&plain).map_err(corrupt)?);
                }
                kind::INTENT => {
                    state.intents.insert(id_of(id).map_err(corrupt)?, decode(&plain).map_err(corrupt)?);
                }
                kind::SEEN_INTENT => {
                    state.seen.restore_intent(id_of(id).map_err(corrupt)?, decode(&plain).map_err(corrupt)?);
                }
                kind::NEGOTIATION => {
                    state.negotiations.restore(decode(&plain).map_err(corrupt)?);
                }
                kind::AGREEMENT => {
                    state.agreements.restore(decode(&plain).map_err(corrupt)?);
                }
                kind::HELD_RECEIPT => {
                    state.held_receipts.insert(id_of(id).map_err(corrupt)?);
                }
                kind::BUSINESS => {
                    let business = me2b_proto::identity::PublicKey::try_from(id).map_err(|e| corrupt(e.to_string()))?;
                    state.businesses.insert(business, decode(&plain).map_err(corrupt)?);
                }
                kind::RECEIVED => {
                    state.received.insert(id_of(id).map_err(corrupt)?, decode(&plain).map_err(corrupt)?);
                }
                kind::DEMAND => {
                    state.demand.restore(decode(id).map_err(corrupt)?, decode(&plain).map_err(corrupt)?);
                }
                kind::OUTBOX => {
                    let array: [u8; 8] = id.try_into().map_err(|_| corrupt("outbox id".into()))?;
                    state.outbox.restore(OutboxId(u64::from_be_bytes(array)), decode(&plain).map_err(corrupt)?);
                }
                _ => return Err(corrupt("unknown kind".into())),
            }
        }
        Ok(state)
    }

    /// The ledger's last entry and its sequence, if it has any.
    pub fn last_ledger_entry(&self) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        let Some(last) = self.state.scan_prefix([kind::LEDGER]).next_back() else {
            return Ok(None);
        };
        let (key, value) = last?;
        let sequence =
            key.get(1..).and_then(|bytes| <[u8; 8]>::try_from(bytes).ok()).map(u64::from_be_bytes).ok_or_else(
                || StoreError::Corrupt { key: "ledger".into(), reason: "a key without a sequence".into() },
            )?;
        Ok(Some((sequence, value.to_vec())))
    }

    /// Every ledger entry, in order.
    pub fn ledger(&self) -> Result<Vec<Vec<u8>>, StoreError> {
        self.state
            .scan_prefix([kind::LEDGER])
            .values()
            .map(|value| value.map(|v| v.to_vec()).map_err(StoreError::from))
            .collect()
    }
}

fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, StoreError> {
    postcard::to_stdvec(value).map_err(|e| StoreError::Corrupt { key: "(encoding)".into(), reason: e.to_string() })
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    postcard::from_bytes(bytes).map_err(|e| e.to_string())
}

fn id_of<T: for<'a> TryFrom<&'a [u8], Error = me2b_proto::identity::KeyError>>(bytes: &[u8]) -> Result<T, String> {
    T::try_from(bytes).map_err(|e| e.to_string())
}

#[cfg(test)]
mod lock_tests {
    use super::*;

    /// A store whose last holder lets go while it is being opened is opened; one held
    /// throughout is refused once the wait has passed, saying why. Negative control: with no
    /// wait (`LOCK_WAIT` zero), the open refused while the store was held fails the test.
    #[test]
    fn opening_waits_for_the_last_holder_to_let_go_and_no_longer() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let path = dir.path().join("store");
        let held = Store::open(&path, None, true).unwrap_or_else(|e| panic!("first open: {e}"));
        let config = sled::Config::new().path(&path);
        let refused = open_when_free(&config, std::time::Duration::from_millis(50), || {});
        assert!(matches!(&refused, Err(sled::Error::Io(e)) if e.to_string().contains("lock")), "held: {refused:?}");
        // Let go once the next open has been refused: it is opened.
        let (refusals, refusal) = std::sync::mpsc::channel();
        let opener = std::thread::spawn(move || {
            open_when_free(&config, LOCK_WAIT, || {
                let _ = refusals.send(());
            })
            .map(drop)
        });
        refusal.recv().unwrap_or_else(|e| panic!("the opener was never refused: {e}"));
        drop(held);
        let opened = opener.join().unwrap_or_else(|_| panic!("opener panicked"));
        assert!(opened.is_ok(), "opened once free: {opened:?}");
    }
}
