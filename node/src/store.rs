//! Storage: the engine's state in one sled tree, every value sealed with the data key.
//!
//! The engine says what changed ([`Change`]); [`Store::apply`] writes those parts of the
//! engine's state (and new ledger entries) atomically and flushes them to disk before
//! returning, so a change the node has acknowledged survives a kill -9. [`Store::load`] reads
//! the whole state back for a restart.
//!
//! **One log write per flush.** sled 0.34 makes a batch atomic with a manifest that it writes
//! (and syncs) on its own before the batch: two writes to the disk, one after the other, on
//! every flush. A batch of ordinary size goes through a `Journal` instead: its writes are
//! first put in one record (a single insert, atomic by itself), then made one by one, and the
//! previous record is dropped; sled's log is recovered as a prefix, so a crash that cut the
//! writes short left their record, and the next open makes them again. A flush is then one
//! write and one sync. A large batch (an import, a restore) still goes as sled's batch.
//!
//! Keys name records (a kind byte and an id or path, never a value); values are sealed with
//! XChaCha20-Poly1305 and bound to their key. Ledger entries carry no personal data and are
//! stored as signed.

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

/// One write to the state tree: a key and its sealed value, or its removal.
type Write = (Vec<u8>, Option<Vec<u8>>);

/// Most bytes a batch's writes may hold to go through the [`Journal`]: a record is one value
/// in sled's log, written with the batch (twice the bytes, in one write); beyond this, a batch
/// (an import, a restore) goes as sled's own, whose manifest costs the second write.
const JOURNALED: usize = 64 * 1024;

/// Makes a batch of writes to the state tree atomic without sled's batch (see the module's
/// documentation). It holds one record at a time (two after a crash, until the next open):
/// the newest batch's writes, in a tree of its own, keyed by a sequence number.
#[derive(Clone)]
struct Journal {
    state: sled::Tree,
    records: sled::Tree,
    /// The next record's key.
    next: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// The key of the record held, if one is (`u64::MAX`: none).
    held: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl Journal {
    /// Opens the journal and makes again the writes of every record a crash left, in order,
    /// then drops them.
    fn open(db: &sled::Db, state: sled::Tree) -> Result<Journal, StoreError> {
        let records = db.open_tree("journal")?;
        let mut writes = Vec::new();
        let mut next = 0;
        for item in records.iter() {
            let (key, record) = item?;
            let corrupt = |reason: String| StoreError::Corrupt { key: "journal".into(), reason };
            let sequence = <[u8; 8]>::try_from(key.as_ref()).map_err(|e| corrupt(e.to_string()))?;
            next = u64::from_be_bytes(sequence).saturating_add(1);
            let record: Vec<Write> = postcard::from_bytes(&record).map_err(|e| corrupt(e.to_string()))?;
            writes.extend(record);
        }
        if next > 0 {
            state.apply_batch(sled_batch(writes))?;
            db.flush()?;
            records.clear()?;
            db.flush()?;
        }
        let (next, held) = (next.into(), u64::MAX.into());
        Ok(Journal { state, records, next: std::sync::Arc::new(next), held: std::sync::Arc::new(held) })
    }

    /// Drops the record held, if one is: for a store about to be flushed and closed.
    fn forget(&self) -> Result<(), StoreError> {
        let held = self.held.swap(u64::MAX, std::sync::atomic::Ordering::Relaxed);
        if held != u64::MAX {
            self.records.remove(held.to_be_bytes())?;
        }
        Ok(())
    }

    /// Writes `writes` atomically (not flushed: the caller flushes). One caller at a time
    /// (the node's commits follow one another).
    fn write(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        use std::sync::atomic::Ordering::Relaxed;
        let held = Some(self.held.load(Relaxed)).filter(|held| *held != u64::MAX);
        let size: usize = writes.iter().map(|(key, value)| key.len() + value.as_ref().map_or(0, Vec::len)).sum();
        if size > JOURNALED {
            // The record held goes first: were it left, the next open would make its older
            // writes again over this batch's.
            self.forget()?;
            return Ok(self.state.apply_batch(sled_batch(writes))?);
        }
        let sequence = self.next.fetch_add(1, Relaxed);
        let record = postcard::to_stdvec(&writes)
            .map_err(|e| StoreError::Corrupt { key: "journal".into(), reason: e.to_string() })?;
        self.records.insert(sequence.to_be_bytes(), record)?;
        self.held.store(sequence, Relaxed);
        for (key, value) in writes {
            match value {
                Some(value) => self.state.insert(key, value)?,
                None => self.state.remove(key)?,
            };
        }
        // The older record's writes came before this record in the log: they are as durable
        // as it is.
        if let Some(held) = held {
            self.records.remove(held.to_be_bytes())?;
        }
        Ok(())
    }
}

/// `writes` as one sled batch, in order (a later write to a key wins).
fn sled_batch(writes: Vec<Write>) -> sled::Batch {
    let mut batch = sled::Batch::default();
    for (key, value) in writes {
        match value {
            Some(value) => batch.insert(key, value),
            None => batch.remove(key),
        }
    }
    batch
}

/// A node's store.
pub struct Store {
    db: sled::Db,
    state: sled::Tree,
    journal: Journal,
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
        let journal = Journal::open(&db, state.clone())?;
        Ok(Store { db, state, journal, data_key, flushes: Default::default() })
    }

    /// Writes what `changes` name from `state`, atomically, and waits until it is on disk,
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
        let writes = self.writes(state, changes)?;
        let (journal, db, flushes) = (self.journal.clone(), self.db.clone(), self.flushes.clone());
        tokio::task::spawn_blocking(move || -> Result<(), StoreError> {
            journal.write(writes)?;
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
    /// node stopping does this before it lets its data directory go. The journal's record
    /// goes with it (its writes are before it in the log), so that the next open has nothing
    /// to make again.
    pub async fn flush(&self) -> Result<(), StoreError> {
        let (db, journal) = (self.db.clone(), self.journal.clone());
        tokio::task::spawn_blocking(move || -> Result<(), StoreError> {
            journal.forget()?;
            db.flush()?;
            Ok(())
        })
        .await
        .map_err(|e| StoreError::Corrupt { key: "(flush)".into(), reason: e.to_string() })?
    }

    /// The same as [`Store::apply`], blocking.
    pub fn apply_blocking(&self, state: &State, changes: &[Change]) -> Result<(), StoreError> {
        if changes.is_empty() {
            return Ok(());
        }
        self.journal.write(self.writes(state, changes)?)?;
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

    /// The writes that put `changes` from `state` in the state tree, values sealed.
    fn writes(&self, state: &State, changes: &[Change]) -> Result<Vec<Write>, StoreError> {
        let mut batch = Vec::with_capacity(changes.len() + 1);
        let put = |batch: &mut Vec<Write>, key: Vec<u8>, value: Option<Vec<u8>>| -> Result<(), StoreError> {
            let sealed = value.map(|plain| self.data_key.seal(&plain, &key)).transpose()?;
            batch.push((key, sealed));
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
                    batch.push((key(kind::LEDGER, &sequence.to_be_bytes()), Some(bytes.clone())));
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

#[cfg(test)]
mod journal_tests {
    use super::*;
    use me2b_proto::vocab::Category;

    fn open(path: &Path) -> Store {
        Store::open(path, None, true).unwrap_or_else(|e| panic!("open: {e}"))
    }

    fn following(categories: &[&str]) -> State {
        let mut state = State::default();
        for category in categories {
            state.subscriptions.insert(category.parse::<Category>().unwrap_or_else(|e| panic!("{category}: {e}")));
        }
        state
    }

    fn followed(store: &Store) -> Vec<String> {
        let state = store.load().unwrap_or_else(|e| panic!("load: {e}"));
        state.subscriptions.iter().map(|c| c.to_string()).collect()
    }

    /// What a crash can leave: the journal's records on disk, their writes not (or not all).
    fn leave_records(store: &Store, records: &[(u64, &State)]) {
        for (sequence, state) in records {
            let writes = store.writes(state, &[Change::Settings]).unwrap_or_else(|e| panic!("writes: {e}"));
            let record = postcard::to_stdvec(&writes).unwrap_or_else(|e| panic!("record: {e}"));
            store.journal.records.insert(sequence.to_be_bytes(), record).unwrap_or_else(|e| panic!("insert: {e}"));
        }
        store.db.flush().unwrap_or_else(|e| panic!("flush: {e}"));
    }

    /// A batch whose record is on disk and whose writes are not (the crash came between) is
    /// written at the next open, and two records (the older one's removal lost too) are
    /// written in their order. Negative controls: an open that does not replay the journal
    /// fails the first assertion; replaying the records newest first fails the second.
    #[test]
    fn writes_a_crash_cut_short_are_made_again_from_the_journal_in_order() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let path = dir.path().join("store");
        let store = open(&path);
        leave_records(&store, &[(0, &following(&["apparel.shoes"]))]);
        drop(store);
        let store = open(&path);
        assert_eq!(followed(&store), ["apparel.shoes"], "the record's writes were made at open");
        assert_eq!(store.journal.records.len(), 0, "and the record dropped");
        leave_records(&store, &[(7, &following(&["apparel.coats"])), (8, &following(&["food.coffee"]))]);
        drop(store);
        let store = open(&path);
        assert_eq!(followed(&store), ["food.coffee"], "the newer record's writes came last");
    }

    /// In use, the journal holds one record whatever the number of writes, and a large batch
    /// (sled's own) drops it first, so that a later open does not write the older batch over
    /// it. Negative control: keeping the record across a large batch fails the test (the
    /// record is still held, and an open would make its older write again over the batch).
    #[test]
    fn the_journal_holds_one_record_and_a_large_batch_drops_it() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let path = dir.path().join("store");
        let store = open(&path);
        for _ in 0..100 {
            store.apply_blocking(&following(&["apparel.shoes"]), &[Change::Settings]).unwrap_or_else(|e| panic!("{e}"));
        }
        assert_eq!(store.journal.records.len(), 1, "one record held");
        // Over `JOURNALED` in one batch: a vault this large goes as sled's batch.
        let mut large = following(&["food.coffee"]);
        let mut changes = vec![Change::Settings];
        for i in 0..(JOURNALED / 100 + 1) {
            let path: me2b_proto::vocab::FieldPath =
                format!("profile.note_{i}").parse().unwrap_or_else(|e| panic!("path: {e}"));
            let record = me2b_proto::engine::Record {
                value: me2b_proto::value::Personal::new(me2b_proto::value::Value::Text("x".repeat(100))),
                provenance: me2b_proto::engine::Provenance::Owner,
                updated_at: me2b_proto::time::Timestamp::from_millis(0),
                history: Default::default(),
            };
            large.vault.insert(path.clone(), record);
            changes.push(Change::Vault(path));
        }
        store.apply_blocking(&large, &changes).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(store.journal.records.len(), 0, "the large batch dropped the record");
        drop(store);
        let store = open(&path);
        assert_eq!(followed(&store), ["food.coffee"], "the large batch's write stood after the open");
    }

    /// A store flushed to close holds no record, so that the next open has nothing to make
    /// again (a start costs no replay). Negative control: a flush that keeps the record fails.
    #[tokio::test]
    async fn a_flushed_store_holds_no_record() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let store = open(&dir.path().join("store"));
        store.apply(&following(&["apparel.shoes"]), &[Change::Settings]).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(store.journal.records.len(), 1);
        store.flush().await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(store.journal.records.len(), 0, "the record went with the flush");
    }
}
