//! Everything an engine knows that must survive a restart: the [`State`], and the records it
//! is made of. The driver persists the parts that [`super::Change`] outputs name and gives the
//! whole back to [`super::Engine::new`].

use super::agreements::Agreements;
use super::demand::Demand;
use super::negotiations::Negotiations;
use super::outbox::Outbox;
use super::requests::Requests;
use super::seen::Seen;
use crate::identity::{AgreementId, IntentId, NegotiationId, PublicKey};
use crate::ledger;
use crate::messages::{DataRequest, Intent, ItemContent};
use crate::policy::{BusinessPolicy, Policy};
use crate::terms::{Money, Terms};
use crate::time::Timestamp;
use crate::value::{Personal, Value};
use crate::vocab::{Category, FieldPath};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// Where a vault value came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Provenance {
    /// Typed in by the owner.
    Owner,
    /// Reported by a device, named.
    Device(String),
    /// Attested by an issuer's key.
    Issuer(PublicKey),
    /// Imported from a file.
    Import(ImportSource),
}

/// Where an imported record came from. It stays on the person's node: the file's name and the
/// ids in it are never sent, even with the value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportSource {
    /// The format, e.g. `gpx`, `fhir`.
    pub format: String,
    /// The file's name as given by the owner.
    pub file: String,
    /// When it was imported.
    pub at: Timestamp,
    /// The source's own id of the latest entry that changed the record (a FHIR resource id,
    /// a TCX activity id), when it has one.
    pub original_id: Option<String>,
}

/// `owner`, `device:NAME` or `issuer:KEY`; an import prints as `import:FORMAT:FILE` (it is
/// made by an importer, not typed).
impl std::fmt::Display for Provenance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Provenance::Owner => f.write_str("owner"),
            Provenance::Device(name) => write!(f, "device:{name}"),
            Provenance::Issuer(key) => write!(f, "issuer:{key}"),
            Provenance::Import(source) => write!(f, "import:{}:{}", source.format, source.file),
        }
    }
}

impl std::str::FromStr for Provenance {
    type Err = crate::decode::TextError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.split_once(':') {
            None if text == "owner" => Ok(Provenance::Owner),
            Some(("device", name)) if !name.is_empty() => Ok(Provenance::Device(name.to_owned())),
            Some(("issuer", key)) => key.parse().map(Provenance::Issuer),
            _ => Err(crate::decode::TextError::new(text, "a provenance", "write owner, device:NAME or issuer:KEY")),
        }
    }
}

/// A vault record: the current value and its recent history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// The value.
    pub value: Personal<Value>,
    /// Where it came from.
    pub provenance: Provenance,
    /// When it was set.
    pub updated_at: Timestamp,
    /// Earlier values, newest last, at most [`crate::limits::MAX_RECORD_HISTORY`].
    pub history: VecDeque<(Timestamp, Personal<Value>)>,
}

/// A data request this node published (business) or saw (person).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KnownRequest {
    /// The request.
    pub request: DataRequest,
    /// The business that signed it.
    pub business: PublicKey,
    /// When it was published or seen.
    pub at: Timestamp,
    /// The signed envelope as published, kept for the business's own requests so that peers
    /// who join later can be given it (see `announce`); empty for requests seen.
    #[serde(default)]
    pub envelope: Vec<u8>,
}

/// An intent this person published.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OwnIntent {
    /// The intent.
    pub intent: Intent,
    /// Negotiations businesses opened in answer.
    pub candidates: Vec<NegotiationId>,
    /// Whether the agent has chosen among them.
    pub decided: bool,
    /// The signed envelope as published, for peers who join before the decision.
    #[serde(default)]
    pub envelope: Vec<u8>,
}

/// Something a business sells, for answering intents.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CatalogItem {
    /// The category it answers.
    pub category: Category,
    /// What it is, per spec key: an intent matches if every spec key it shares with the item
    /// has one of the item's values.
    pub spec: BTreeMap<String, Vec<String>>,
    /// Shown to the person.
    pub description: String,
    /// Its price.
    pub price: Money,
    /// The terms the business wants with it (their expiry is set per proposal).
    pub terms: Terms,
}

/// What a business holds under an agreement, per field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReceivedItem {
    /// What was received.
    pub content: ItemContent,
    /// In which package.
    pub sequence: u64,
    /// When.
    pub at: Timestamp,
}

/// A demand count key: a category, and `key=value` of one spec entry (empty for the total).
pub type DemandKey = (Category, String);

/// Everything an engine knows that must survive a restart. The driver persists the parts that
/// [`Change`](super::Change) outputs name and gives the whole back to [`Engine::new`](super::Engine::new).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct State {
    /// A person's policy.
    pub policy: Policy,
    /// A business's policy.
    pub business_policy: BusinessPolicy,
    /// A business's catalog.
    pub catalog: Vec<CatalogItem>,
    /// Categories whose requests (person) or intents (business) the owner wants.
    pub subscriptions: BTreeSet<Category>,
    /// A person's records.
    pub vault: BTreeMap<FieldPath, Record>,
    /// Requests published (business) or seen (person).
    pub requests: Requests,
    /// A person's own intents.
    pub intents: BTreeMap<IntentId, OwnIntent>,
    /// What was seen, to act on it once: nonces, intents a business counted, announcements.
    pub seen: Seen,
    /// Every negotiation, open or final.
    pub negotiations: Negotiations,
    /// Every finalized agreement.
    pub agreements: Agreements,
    /// What a business holds, per agreement and field.
    pub received: BTreeMap<AgreementId, BTreeMap<FieldPath, ReceivedItem>>,
    /// Intents a business saw, counted by category and spec.
    pub demand: Demand,
    /// Direct messages not yet acknowledged.
    pub outbox: Outbox,
    /// Where the next ledger entry goes.
    pub ledger: ledger::Head,
    /// A business's deletion receipts written but held until its own systems confirm deleting
    /// their copies (see `Config::confirm_deletions_downstream`).
    pub held_receipts: BTreeSet<AgreementId>,
    /// The businesses a person's node met: their newest signed profiles, pinned keys and the
    /// person's petnames (see [`crate::profile`]).
    pub businesses: BTreeMap<PublicKey, crate::profile::KnownBusiness>,
}
