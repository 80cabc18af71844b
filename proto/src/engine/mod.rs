//! The engine: one node's protocol logic as a deterministic state machine.
//!
//! The driver feeds it [`Input`]s with the current time through [`Engine::handle`] and then
//! drains [`Output`]s with [`Engine::poll`] until it returns `None`: messages to send or
//! publish, state to persist, events for the owner, timers to set. The engine never reads a
//! clock, never does I/O and never panics on remote input; it iterates ordered maps only, so
//! the same inputs, times and seed give the same outputs.
//!
//! The same engine serves a person and a business ([`Role`]); the submodules hold the flows:
//! `announce` (requests and intents on gossip), `negotiate` (terms and signatures), `data`
//! (packages, subscriptions, triggers, offers, revocation and receipts) and `outbox`
//! (reliable delivery of direct messages).

mod announce;
mod data;
mod negotiate;
mod outbox;

use crate::agreement::{AgreementRecord, LifecycleError};
use crate::decode::DecodeError;
use crate::envelope::{self, EnvelopeError, MessageKind, Opened, ReplayGuard};
use crate::identity::{AgreementId, Digest, IntentId, Keypair, NegotiationId, Nonce, OfferId, PublicKey, RequestId};
use crate::ledger;
use crate::limits::MAX_PENDING_OUTPUTS;
use crate::messages::{DataRequest, Intent, ItemContent, ProductOffer, TerminationCode};
use crate::negotiation::{Negotiation, TransitionError};
use crate::policy::{AskReason, BusinessPolicy, Policy, Reason};
use crate::terms::{FieldRequest, Money, Terms};
use crate::time::Timestamp;
use crate::value::{Personal, Value};
use crate::vocab::{Category, FieldPath, Topic};
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

pub use outbox::{OutboxId, OutboxItem};

/// Whose agent the engine is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Role {
    /// A person: holds a vault, answers requests, publishes intents.
    Person,
    /// A business: publishes requests, answers intents, receives data.
    Business,
}

/// How an engine is set up. Not persisted: the driver passes it at every start.
#[derive(Debug, Clone)]
pub struct Config {
    /// Person or business.
    pub role: Role,
    /// Seeds the engine's random ids and nonces. A real node passes fresh random bytes at
    /// every start (so nonces never repeat); tests and simulations pass fixed seeds.
    pub seed: [u8; 32],
    /// How long a negotiation this node starts may take.
    pub negotiation_timeout: Duration,
    /// How long a person collects answers to an intent before choosing.
    pub intent_window: Duration,
    /// How long a direct message stays valid after it is sealed.
    pub message_validity: Duration,
}

impl Config {
    /// Defaults for `role` with `seed`.
    pub fn new(role: Role, seed: [u8; 32]) -> Self {
        Config {
            role,
            seed,
            negotiation_timeout: Duration::from_secs(120),
            intent_window: Duration::from_secs(10),
            message_validity: Duration::from_secs(300),
        }
    }
}

/// Where a vault value came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Provenance {
    /// Typed in by the owner.
    Owner,
    /// Reported by a device, named.
    Device(String),
    /// Attested by an issuer's key.
    Issuer(PublicKey),
}

/// `owner`, `device:NAME` or `issuer:KEY`.
impl std::fmt::Display for Provenance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Provenance::Owner => f.write_str("owner"),
            Provenance::Device(name) => write!(f, "device:{name}"),
            Provenance::Issuer(key) => write!(f, "issuer:{key}"),
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
/// [`Change`] outputs name and gives the whole back to [`Engine::new`].
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
    pub requests: BTreeMap<RequestId, KnownRequest>,
    /// A person's own intents.
    pub intents: BTreeMap<IntentId, OwnIntent>,
    /// Intents a business saw, until they expire.
    pub seen_intents: BTreeMap<IntentId, Timestamp>,
    /// Every negotiation, open or final.
    pub negotiations: BTreeMap<NegotiationId, Negotiation>,
    /// Every finalized agreement.
    pub agreements: BTreeMap<AgreementId, AgreementRecord>,
    /// What a business holds, per agreement and field.
    pub received: BTreeMap<AgreementId, BTreeMap<FieldPath, ReceivedItem>>,
    /// Intents a business saw, counted by category and spec.
    pub demand: BTreeMap<DemandKey, u64>,
    /// Direct messages not yet acknowledged.
    pub outbox: BTreeMap<OutboxId, OutboxItem>,
    /// The id the next outbox item gets.
    pub next_outbox_id: u64,
    /// Where the next ledger entry goes.
    pub ledger: ledger::Head,
}

/// What the engine is asked to do.
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)] // commands are rare; boxing would only add noise
pub enum Input {
    /// A message from gossip: a data request or an intent.
    Gossip {
        /// Which kind the topic carries.
        kind: MessageKind,
        /// The signed envelope.
        bytes: Vec<u8>,
    },
    /// A message on a direct stream from an authenticated peer. A data request or intent may
    /// arrive this way too, handed over by a peer when it connects.
    Direct {
        /// The peer (from the transport's authentication).
        from: PublicKey,
        /// Which kind the protocol carries.
        kind: MessageKind,
        /// The signed envelope.
        bytes: Vec<u8>,
    },
    /// The peer acknowledged an outbox message.
    Delivered(OutboxId),
    /// An outbox message could not be delivered this time.
    Undelivered(OutboxId),
    /// A peer is reachable (again): retry what waits for it, and hand it this node's live
    /// requests or intents, which gossip does not replay to late joiners.
    PeerConnected(PublicKey),
    /// A timer the engine set has fired.
    Timer(Timer),
    /// The owner asks for something.
    Command(Command),
}

/// What the owner can ask.
#[derive(Debug, Clone)]
pub enum Command {
    /// Sets a vault record (person).
    SetRecord {
        /// The path.
        path: FieldPath,
        /// The value.
        value: Value,
        /// Where it came from.
        provenance: Provenance,
    },
    /// Removes a vault record (person).
    RemoveRecord(FieldPath),
    /// Replaces the person's policy.
    SetPolicy(Policy),
    /// Replaces the business's policy.
    SetBusinessPolicy(BusinessPolicy),
    /// Replaces the business's catalog.
    SetCatalog(Vec<CatalogItem>),
    /// Follows a category.
    Subscribe(Category),
    /// Stops following a category.
    Unsubscribe(Category),
    /// Publishes a data request (business).
    PublishRequest {
        /// Its category.
        category: Category,
        /// The business's display name.
        business_name: String,
        /// What it is about.
        description: String,
        /// The terms asked for; their expiry is the request's.
        terms: Terms,
    },
    /// Publishes an intent (person).
    PublishIntent {
        /// Its category.
        category: Category,
        /// What is wanted.
        spec: BTreeMap<String, String>,
        /// The most the person pays.
        max_price: Option<Money>,
        /// Fields the person would share.
        shares: Vec<FieldRequest>,
        /// When it lapses.
        expires_at: Timestamp,
    },
    /// The owner approves a negotiation awaiting them.
    Approve(NegotiationId),
    /// The owner declines a negotiation awaiting them.
    Decline(NegotiationId),
    /// The person revokes an agreement.
    Revoke {
        /// The agreement.
        agreement_id: AgreementId,
        /// Why, in words (may be empty).
        reason: String,
    },
    /// The business pushes a personal offer under an agreement.
    SendOffer {
        /// The agreement giving permission.
        agreement_id: AgreementId,
        /// The offer.
        offer: ProductOffer,
    },
}

/// A timer the engine asked for. Timers are idempotent: a stale one does nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Timer {
    /// A negotiation's deadline.
    NegotiationDeadline(NegotiationId),
    /// Time to choose among answers to an intent.
    IntentDecision(IntentId),
    /// An agreement's retention ends.
    RetentionEnd(AgreementId),
    /// A subscription update may be sent.
    SubscriptionDue(AgreementId),
    /// Try an outbox message again.
    Retry(OutboxId),
}

/// What the driver must persist: the named part of [`Engine::state`] (absent means deleted),
/// or a ledger entry to append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Policy, business policy, catalog or subscriptions.
    Settings,
    /// A vault record.
    Vault(FieldPath),
    /// A known request.
    Request(RequestId),
    /// An own intent.
    Intent(IntentId),
    /// A seen intent.
    SeenIntent(IntentId),
    /// A negotiation.
    Negotiation(NegotiationId),
    /// An agreement.
    Agreement(AgreementId),
    /// What is held under an agreement.
    Received(AgreementId),
    /// A demand count.
    Demand(DemandKey),
    /// An outbox item.
    Outbox(OutboxId),
    /// A new ledger entry, and the new head in [`State::ledger`].
    LedgerEntry {
        /// Its sequence.
        sequence: u64,
        /// Its signed bytes.
        bytes: Vec<u8>,
    },
}

/// Something the owner may want to know. Events carry ids and field paths, never values.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A data request arrived and the agent decided what to do.
    RequestSeen {
        /// The request.
        request_id: RequestId,
        /// Who asked.
        business: PublicKey,
        /// Its category.
        category: Category,
        /// What the agent did: `proposed`, `countered`, `awaiting-owner` or the rejection.
        outcome: String,
    },
    /// An intent arrived (business).
    IntentSeen {
        /// The intent.
        intent_id: IntentId,
        /// Its category.
        category: Category,
        /// Whether the catalog answered it.
        answered: bool,
    },
    /// A negotiation needs the owner's decision.
    AwaitingOwner {
        /// The negotiation.
        negotiation_id: NegotiationId,
        /// The business.
        peer: PublicKey,
        /// The terms to approve.
        terms: Box<Terms>,
        /// Why the owner is asked.
        reasons: Vec<AskReason>,
    },
    /// Terms were put on the table (sent or received).
    TermsExchanged {
        /// The negotiation.
        negotiation_id: NegotiationId,
        /// Whether this node sent them.
        sent: bool,
    },
    /// Both signed.
    Finalized {
        /// The negotiation.
        negotiation_id: NegotiationId,
        /// The agreement.
        agreement_id: AgreementId,
        /// The other party.
        peer: PublicKey,
    },
    /// A negotiation ended without agreement.
    Terminated {
        /// The negotiation.
        negotiation_id: NegotiationId,
        /// Why, as a code.
        code: TerminationCode,
        /// Why, in words.
        reason: String,
        /// Whether the peer ended it.
        by_peer: bool,
    },
    /// Data was sent under an agreement.
    DataSent {
        /// The agreement.
        agreement_id: AgreementId,
        /// The fields.
        fields: Vec<FieldPath>,
    },
    /// Data arrived under an agreement.
    DataReceived {
        /// The agreement.
        agreement_id: AgreementId,
        /// The fields.
        fields: Vec<FieldPath>,
    },
    /// A personal offer arrived.
    OfferReceived {
        /// The agreement.
        agreement_id: AgreementId,
        /// The offer's id.
        offer_id: OfferId,
        /// The offer.
        offer: ProductOffer,
    },
    /// The person revoked an agreement (either side reports it).
    Revoked {
        /// The agreement.
        agreement_id: AgreementId,
    },
    /// An agreement's retention ran out.
    Expired {
        /// The agreement.
        agreement_id: AgreementId,
    },
    /// This business deleted what it held.
    DataDeleted {
        /// The agreement.
        agreement_id: AgreementId,
        /// How many items.
        items: u64,
    },
    /// The business's signed deletion receipt arrived.
    DeletionConfirmed {
        /// The agreement.
        agreement_id: AgreementId,
    },
    /// A message could not be delivered in time and was dropped.
    DeliveryAbandoned {
        /// To whom.
        to: PublicKey,
        /// What.
        kind: MessageKind,
    },
}

/// What the engine asks the driver to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Send a signed envelope to one peer on the protocol for `kind`. With `delivery`, report
    /// the outcome back as [`Input::Delivered`] or [`Input::Undelivered`].
    Send {
        /// The peer.
        to: PublicKey,
        /// The message kind (and so the protocol).
        kind: MessageKind,
        /// The signed envelope.
        bytes: Vec<u8>,
        /// The outbox item to acknowledge.
        delivery: Option<OutboxId>,
    },
    /// Publish a signed envelope on a gossip topic.
    Publish {
        /// The topic.
        topic: Topic,
        /// The signed envelope.
        bytes: Vec<u8>,
    },
    /// Persist a change.
    Persist(Change),
    /// Tell the owner.
    Event(Event),
    /// Call back with [`Input::Timer`] at `at`.
    SetTimer {
        /// When.
        at: Timestamp,
        /// Which.
        timer: Timer,
    },
}

/// What a successful [`Engine::handle`] produced for the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handled {
    /// Done; see the outputs.
    Done,
    /// A data request was published.
    Request(RequestId),
    /// An intent was published.
    Intent(IntentId),
    /// A personal offer was sent.
    Offer(OfferId),
}

/// Why a message from a peer was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Rejection {
    /// The envelope failed its checks.
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
    /// The payload is malformed.
    #[error("malformed payload: {0}")]
    Decode(#[from] DecodeError),
    /// The message does not fit the negotiation's state.
    #[error(transparent)]
    Transition(#[from] TransitionError),
    /// The message does not fit the agreement's state.
    #[error(transparent)]
    Lifecycle(#[from] LifecycleError),
    /// The message breaks the protocol.
    #[error("protocol violation: {0}")]
    Protocol(&'static str),
    /// Data outside what the agreement names.
    #[error(transparent)]
    OutsideAgreement(#[from] crate::agreement::OutsideAgreement),
    /// A late or duplicate message, or one about something this node no longer tracks: no
    /// fault of the peer's.
    #[error("stale: {0}")]
    Stale(&'static str),
    /// Not for this node (wrong role, a category it does not follow).
    #[error("ignored: {0}")]
    Ignored(&'static str),
}

impl Rejection {
    /// Whether the sender misbehaved and its score should drop.
    pub fn penalise(&self) -> bool {
        !matches!(
            self,
            Rejection::Stale(_)
                | Rejection::Ignored(_)
                | Rejection::Envelope(EnvelopeError::Busy)
                | Rejection::Envelope(EnvelopeError::Expired)
                | Rejection::Envelope(EnvelopeError::Replayed)
        )
    }
}

/// Why an owner's command failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CommandError {
    /// Only a person or only a business may do this.
    #[error("only a {0} node can do this")]
    WrongRole(&'static str),
    /// No such negotiation.
    #[error("no negotiation {0}")]
    UnknownNegotiation(NegotiationId),
    /// No such agreement.
    #[error("no agreement {0}")]
    UnknownAgreement(AgreementId),
    /// The negotiation is not waiting for the owner.
    #[error("negotiation is {0}, not awaiting the owner")]
    NotAwaitingOwner(&'static str),
    /// The agreement's state does not allow it.
    #[error(transparent)]
    Lifecycle(#[from] LifecycleError),
    /// The agreement gives no permission to contact.
    #[error("the agreement does not allow contact")]
    ContactNotAllowed,
    /// The contact frequency cap is reached.
    #[error("the agreement's contact cap is reached; try after its period")]
    ContactCapReached,
    /// The input is invalid.
    #[error("invalid input: {0}")]
    Invalid(String),
    /// A bounded collection is full.
    #[error("too many {0}; try later")]
    Full(&'static str),
}

/// Why [`Engine::handle`] failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum HandleError {
    /// A peer's message was refused.
    #[error("rejected: {0}")]
    Rejected(#[from] Rejection),
    /// An owner's command failed.
    #[error(transparent)]
    Command(#[from] CommandError),
    /// Too many outputs are waiting: poll them, then try again.
    #[error("too many pending outputs; poll before handling more input")]
    Busy,
}

type Result<T, E = HandleError> = std::result::Result<T, E>;

/// Outputs one input may produce at most, beyond which [`HandleError::Busy`] is returned
/// before anything is done.
const OUTPUT_HEADROOM: usize = 4_096;

/// One node's protocol engine. See the module docs for how to drive it.
#[derive(Debug)]
pub struct Engine {
    keypair: Keypair,
    config: Config,
    rng: ChaCha20Rng,
    state: State,
    replay: ReplayGuard,
    outputs: VecDeque<Output>,
    /// What was handed to which peer on connect, and when (not persisted: after a restart,
    /// announcing again is harmless).
    announced: BTreeMap<(PublicKey, [u8; 16]), Timestamp>,
}

impl Engine {
    /// An engine for `keypair` with `state` (empty for a new node), at `now`. A restored engine
    /// sets again every timer its state needs and retries its outbox.
    pub fn new(keypair: Keypair, config: Config, state: State, now: Timestamp) -> Engine {
        let rng = ChaCha20Rng::from_seed(config.seed);
        let mut engine = Engine {
            keypair,
            config,
            rng,
            state,
            replay: ReplayGuard::default(),
            outputs: VecDeque::new(),
            announced: BTreeMap::new(),
        };
        engine.resume(now);
        engine
    }

    /// This node's public key.
    pub fn public_key(&self) -> PublicKey {
        self.keypair.public()
    }

    /// Person or business.
    pub fn role(&self) -> Role {
        self.config.role
    }

    /// Everything the engine knows.
    pub fn state(&self) -> &State {
        &self.state
    }

    /// Handles one input at `now`. Drain [`Engine::poll`] afterwards.
    pub fn handle(&mut self, input: Input, now: Timestamp) -> Result<Handled> {
        if self.outputs.len() + OUTPUT_HEADROOM > MAX_PENDING_OUTPUTS {
            return Err(HandleError::Busy);
        }
        match input {
            Input::Gossip { kind, bytes } => self.on_gossip(kind, &bytes, now).map(|()| Handled::Done),
            Input::Direct { from, kind, bytes } => self.on_direct(from, kind, &bytes, now).map(|()| Handled::Done),
            Input::Delivered(id) => {
                self.delivered(id, now);
                Ok(Handled::Done)
            }
            Input::Undelivered(id) => {
                self.undelivered(id, now);
                Ok(Handled::Done)
            }
            Input::PeerConnected(peer) => {
                self.peer_connected(peer, now);
                Ok(Handled::Done)
            }
            Input::Timer(timer) => {
                self.on_timer(timer, now);
                Ok(Handled::Done)
            }
            Input::Command(command) => self.on_command(command, now),
        }
    }

    /// The next output, or `None` when there is nothing more to do.
    pub fn poll(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    fn on_gossip(&mut self, kind: MessageKind, bytes: &[u8], now: Timestamp) -> Result<()> {
        if !kind.is_gossip() {
            return Err(Rejection::Protocol("direct message kind on gossip").into());
        }
        let opened = self.open(bytes, kind, None, now)?;
        match kind {
            MessageKind::DataRequest => self.on_request(&opened, now),
            _ => self.on_intent(&opened, now),
        }
    }

    fn on_direct(&mut self, from: PublicKey, kind: MessageKind, bytes: &[u8], now: Timestamp) -> Result<()> {
        if kind.is_gossip() {
            // A live request or intent handed over directly to a peer that joined after it was
            // published: the same checks as on gossip; `from` need not be its signer.
            return self.on_gossip(kind, bytes, now);
        }
        let me = self.public_key();
        let opened = self.open(bytes, kind, Some(&me), now)?;
        if opened.header().sender != from {
            return Err(Rejection::Envelope(EnvelopeError::WrongSender).into());
        }
        match kind {
            MessageKind::Negotiation => self.on_negotiation(&opened, now),
            MessageKind::DataPackage => self.on_package(&opened, now),
            MessageKind::PersonalOffer => self.on_offer(&opened, now),
            MessageKind::Revocation => self.on_revocation(&opened, now),
            _ => self.on_receipt(&opened, now),
        }
    }

    /// Opens an envelope and checks it is not a replay.
    fn open(&mut self, bytes: &[u8], kind: MessageKind, me: Option<&PublicKey>, now: Timestamp) -> Result<Opened> {
        let opened = envelope::open(bytes, kind, me, now).map_err(Rejection::from)?;
        self.replay.check(opened.header(), now).map_err(Rejection::from)?;
        Ok(opened)
    }

    /// The agreement `id` between this node and `peer`, in the roles the node's role implies.
    fn agreement_with(&mut self, id: &AgreementId, peer: &PublicKey) -> Result<&mut AgreementRecord, Rejection> {
        let me = self.keypair.public();
        let expected = match self.config.role {
            Role::Person => (me, *peer),
            Role::Business => (*peer, me),
        };
        let record = self.state.agreements.get_mut(id).ok_or(Rejection::Stale("unknown agreement"))?;
        if (record.agreement.person, record.agreement.business) != expected {
            return Err(Rejection::Protocol("not a party to this agreement"));
        }
        Ok(record)
    }

    fn on_timer(&mut self, timer: Timer, now: Timestamp) {
        match timer {
            Timer::NegotiationDeadline(id) => self.deadline_reached(id, now),
            Timer::IntentDecision(id) => self.decide_intent(id, now),
            Timer::RetentionEnd(id) => self.retention_ended(id, now),
            Timer::SubscriptionDue(id) => self.subscription_due(id, now),
            Timer::Retry(id) => self.retry(id, now),
        }
    }

    fn on_command(&mut self, command: Command, now: Timestamp) -> Result<Handled> {
        match command {
            Command::SetRecord { path, value, provenance } => {
                self.set_record(path, value, provenance, now)?;
            }
            Command::RemoveRecord(path) => {
                self.require(Role::Person)?;
                if self.state.vault.remove(&path).is_some() {
                    self.persist(Change::Vault(path));
                }
            }
            Command::SetPolicy(policy) => {
                self.state.policy = policy;
                self.persist(Change::Settings);
            }
            Command::SetBusinessPolicy(policy) => {
                self.state.business_policy = policy;
                self.persist(Change::Settings);
            }
            Command::SetCatalog(catalog) => {
                self.require(Role::Business)?;
                self.state.catalog = catalog;
                self.persist(Change::Settings);
            }
            Command::Subscribe(category) => {
                if self.state.subscriptions.insert(category) {
                    self.persist(Change::Settings);
                }
            }
            Command::Unsubscribe(category) => {
                if self.state.subscriptions.remove(&category) {
                    self.persist(Change::Settings);
                }
            }
            Command::PublishRequest { category, business_name, description, terms } => {
                return self.publish_request(category, business_name, description, terms, now).map(Handled::Request);
            }
            Command::PublishIntent { category, spec, max_price, shares, expires_at } => {
                let intent =
                    Intent { id: IntentId::from_bytes(self.random()), category, spec, max_price, shares, expires_at };
                return self.publish_intent(intent, now).map(Handled::Intent);
            }
            Command::Approve(id) => self.owner_decides(id, true, now)?,
            Command::Decline(id) => self.owner_decides(id, false, now)?,
            Command::Revoke { agreement_id, reason } => self.revoke(agreement_id, reason, now)?,
            Command::SendOffer { agreement_id, offer } => {
                return self.send_offer(agreement_id, offer, now).map(Handled::Offer);
            }
        }
        Ok(Handled::Done)
    }

    /// Sets every timer the state needs and retries the outbox; used at start.
    fn resume(&mut self, now: Timestamp) {
        let mut timers = Vec::new();
        for (id, negotiation) in &self.state.negotiations {
            if !negotiation.state.is_final() {
                timers.push((negotiation.deadline, Timer::NegotiationDeadline(*id)));
            }
        }
        for (id, intent) in &self.state.intents {
            if !intent.decided {
                timers.push((now, Timer::IntentDecision(*id)));
            }
        }
        for (id, record) in &self.state.agreements {
            if record.is_active() {
                timers.push((record.retention_ends(), Timer::RetentionEnd(*id)));
                if record.update_due {
                    timers.push((now, Timer::SubscriptionDue(*id)));
                }
            }
        }
        for id in self.state.outbox.keys() {
            timers.push((now, Timer::Retry(*id)));
        }
        for (at, timer) in timers {
            self.set_timer(at, timer);
        }
    }

    fn require(&self, role: Role) -> Result<(), CommandError> {
        if self.config.role == role {
            Ok(())
        } else {
            Err(CommandError::WrongRole(match role {
                Role::Person => "person",
                Role::Business => "business",
            }))
        }
    }

    fn random<const N: usize>(&mut self) -> [u8; N] {
        let mut bytes = [0u8; N];
        self.rng.fill_bytes(&mut bytes);
        bytes
    }

    fn nonce(&mut self) -> Nonce {
        Nonce::from_bytes(self.random())
    }

    fn emit(&mut self, output: Output) {
        self.outputs.push_back(output);
    }

    fn persist(&mut self, change: Change) {
        self.emit(Output::Persist(change));
    }

    fn event(&mut self, event: Event) {
        self.emit(Output::Event(event));
    }

    fn set_timer(&mut self, at: Timestamp, timer: Timer) {
        self.emit(Output::SetTimer { at, timer });
    }

    /// Appends to the ledger.
    fn record(
        &mut self,
        now: Timestamp,
        kind: ledger::EventKind,
        peer: Option<PublicKey>,
        subject: &[u8],
        fields: Vec<FieldPath>,
        digest: Option<Digest>,
    ) {
        let event = ledger::Event { kind, peer, subject: subject.to_vec(), fields, digest };
        let sequence = self.state.ledger.next_sequence;
        let bytes = ledger::append(&self.keypair, &mut self.state.ledger, now, &event);
        self.persist(Change::LedgerEntry { sequence, bytes });
    }

    fn set_record(&mut self, path: FieldPath, value: Value, provenance: Provenance, now: Timestamp) -> Result<()> {
        self.require(Role::Person)?;
        value.validate().map_err(|e| CommandError::Invalid(e.to_string()))?;
        let record = match self.state.vault.remove(&path) {
            Some(mut old) => {
                old.history.push_back((old.updated_at, old.value));
                while old.history.len() > crate::limits::MAX_RECORD_HISTORY {
                    old.history.pop_front();
                }
                Record { value: Personal::new(value), provenance, updated_at: now, history: old.history }
            }
            None => Record { value: Personal::new(value), provenance, updated_at: now, history: VecDeque::new() },
        };
        self.state.vault.insert(path.clone(), record);
        self.persist(Change::Vault(path.clone()));
        self.vault_changed(&path, now);
        Ok(())
    }
}

/// Decodes an opened payload into its domain type.
fn parse<W, D>(opened: &Opened) -> Result<D, Rejection>
where
    W: prost::Message + Default,
    D: TryFrom<W, Error = DecodeError>,
{
    Ok(D::try_from(opened.decode::<W>()?)?)
}

/// The vault's current values, for policy evaluation.
struct VaultFacts<'a>(&'a BTreeMap<FieldPath, Record>);

impl crate::policy::Facts for VaultFacts<'_> {
    fn value(&self, path: &FieldPath) -> Option<&Value> {
        self.0.get(path).map(|record| record.value.expose())
    }
}

/// Describes a rejection reason for the owner.
fn describe(reason: &Reason) -> String {
    reason.to_string()
}
