//! The engine: one node's protocol logic as a deterministic state machine.
//!
//! The driver feeds it [`Input`]s with the current time through [`Engine::handle`] and then
//! drains [`Output`]s with [`Engine::poll`] until it returns `None`: messages to send or
//! publish, state to persist, events for the owner, timers to set. The engine never reads a
//! clock, never does I/O and never panics on remote input; it iterates ordered maps only, so
//! the same inputs, times and seed give the same outputs.
//!
//! Ledger entries go out unsigned; the driver calls [`Engine::seal_ledger`] once what it wrote
//! is on disk and its messages have left, and the entry that puts out signs the batch's last
//! entry and, through the hash chain, every one before it (see [`crate::ledger`]). That keeps
//! the ledger's signature off the path of the messages, and makes it one per batch. After a
//! crash between the two, [`Engine::seal_tail`] signs the entry the ledger ends on.
//!
//! The same engine serves a person and a business ([`Role`]). Its [`State`] is made of owners,
//! each keeping its own invariants: [`Negotiations`], [`Agreements`], [`Outbox`] and [`Seen`]
//! (with the vault, requests, intents and settings). The flows are `impl Engine` blocks by
//! subject: `announce` (requests and intents on gossip), `negotiate` (terms, counters, the
//! owner, deadlines), `finalize` (signatures, and what follows an agreement becoming final),
//! `data` (packages, subscriptions, triggers, offers, revocation and receipts) and `outbox`
//! (reliable delivery of direct messages). The contract types are in `interface`.

mod agreements;
mod announce;
mod businesses;
mod data;
mod demand;
mod expiring;
mod finalize;
mod import;
mod interface;
mod negotiate;
mod negotiations;
mod outbox;
mod requests;
mod seen;
mod state;
mod table;

use crate::agreement::AgreementRecord;
use crate::decode::DecodeError;
use crate::envelope::{self, EnvelopeError, MessageKind, Opened};
use crate::identity::{AgreementId, Digest, Identities, IntentId, Keypair, Nonce, Persona, PublicKey};
use crate::ledger;
use crate::limits::MAX_PENDING_OUTPUTS;
use crate::messages::Intent;
use crate::policy::Reason;
use crate::time::Timestamp;
use crate::value::{Personal, Value};
use crate::vocab::FieldPath;
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

pub use agreements::Agreements;
pub use demand::Demand;
pub use import::{ImportCounts, ImportUpdate, Update};
pub use interface::{
    Answer, Change, Command, CommandError, Event, HandleError, Handled, Input, Output, Rejection, Timer,
};
pub use negotiations::Negotiations;
pub use outbox::{Outbox, OutboxFull, OutboxId, OutboxItem};
pub use requests::Requests;
pub use seen::Seen;
pub use state::{
    CatalogItem, DemandKey, ImportSource, KnownRequest, OwnIntent, Provenance, ReceivedItem, Record, State,
};

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
    /// How long the owner has to decide on a request the agent asks about before the business
    /// hears of it: until the request expires, at most this (and never more than
    /// [`crate::limits::MAX_OWNER_WINDOW_MS`]).
    pub owner_window: Duration,
    /// How long a direct message stays valid after it is sealed.
    pub message_validity: Duration,
    /// A business whose own systems keep copies of what it receives (a webhook is set): a
    /// deletion's signed receipt is held until [`Command::ConfirmDeletion`], so that it covers
    /// the copies downstream. When unset, held receipts are sent at start.
    pub confirm_deletions_downstream: bool,
    /// A person acts toward each business under its own key and signs each intent with a key
    /// of its own ([`Persona`]). On by default; off only to show in tests what it prevents.
    pub pairwise_identities: bool,
    /// A business's profile, signed at start and carried with its requests and answers
    /// (its `key` and `issued_at` are filled in then).
    pub profile: Option<crate::profile::BusinessProfile>,
}

impl Config {
    /// Defaults for `role` with `seed`.
    pub fn new(role: Role, seed: [u8; 32]) -> Self {
        Config {
            role,
            seed,
            negotiation_timeout: Duration::from_secs(120),
            intent_window: Duration::from_secs(10),
            owner_window: Duration::from_millis(crate::limits::MAX_OWNER_WINDOW_MS),
            message_validity: Duration::from_secs(300),
            confirm_deletions_downstream: false,
            pairwise_identities: true,
            profile: None,
        }
    }
}

type Result<T, E = HandleError> = std::result::Result<T, E>;

/// Outputs one input may produce at most, beyond which [`HandleError::Busy`] is returned
/// before anything is done.
const OUTPUT_HEADROOM: usize = 4_096;

/// One node's protocol engine. See the module docs for how to drive it.
#[derive(Debug)]
pub struct Engine {
    identities: Identities,
    /// A business's signed profile (see [`Config::profile`]).
    profile: Option<crate::profile::SignedProfile>,
    config: Config,
    rng: ChaCha20Rng,
    state: State,
    outputs: VecDeque<Output>,
    /// When old negotiations are next swept out (see `forget_old_negotiations`).
    next_sweep: Timestamp,
    /// The ledger's last entry while it is unsigned: its sequence and bytes.
    unsealed: Option<(u64, Vec<u8>)>,
}

/// How often, at most, the engine sweeps ended negotiations out of its table.
pub const SWEEP_EVERY_MS: u64 = 60_000;

impl Engine {
    /// An engine for `keypair` with `state` (empty for a new node), at `now`. A restored engine
    /// sets again every timer its state needs and retries its outbox.
    pub fn new(keypair: Keypair, config: Config, state: State, now: Timestamp) -> Engine {
        let rng = ChaCha20Rng::from_seed(config.seed);
        // A business is known by its one key; only a person has personas.
        let pairwise = config.pairwise_identities && config.role == Role::Person;
        let profile = match (config.role, &config.profile) {
            (Role::Business, Some(profile)) => {
                Some(crate::profile::BusinessProfile { issued_at: now, ..profile.clone() }.sign(&keypair))
            }
            _ => None,
        };
        let identities = Identities::new(keypair, pairwise);
        let mut engine = Engine {
            identities,
            profile,
            config,
            rng,
            state,
            outputs: VecDeque::new(),
            next_sweep: now,
            unsealed: None,
        };
        engine.resume(now);
        engine
    }

    /// This node's root public key: a business's identity; a person's node key, which with
    /// pairwise identities signs only its own ledger and never reaches a business.
    pub fn public_key(&self) -> PublicKey {
        self.identities.root().public()
    }

    /// The node's identities: the root and the personas derived from it.
    pub fn identities(&self) -> &Identities {
        &self.identities
    }

    /// The persona this node speaks as toward `peer` about something in `context`: a
    /// business is always its root; a person is its intent's key for what answers an intent,
    /// and its key for that business otherwise.
    pub fn persona(&self, peer: &PublicKey, context: Option<&crate::messages::Context>) -> Persona {
        match (self.config.role, context) {
            (Role::Business, _) => Persona::Root,
            (Role::Person, Some(crate::messages::Context::Intent(id))) => Persona::Intent(*id),
            (Role::Person, _) => Persona::Business(*peer),
        }
    }

    /// The key this node signs with toward `peer` about `context` (see [`Engine::persona`]).
    fn keypair_for(&self, peer: &PublicKey, context: Option<&crate::messages::Context>) -> Keypair {
        self.identities.keypair(self.persona(peer, context))
    }

    /// Person or business.
    pub fn role(&self) -> Role {
        self.config.role
    }

    /// The gossip topics this node follows: a person hears requests, a business hears
    /// intents, in the categories it subscribed to; a person also relays intents and answers
    /// to them in those categories, and hears the answers in the categories of its undecided
    /// intents.
    pub fn topics(&self) -> std::collections::BTreeSet<crate::vocab::Topic> {
        let topic = |category: &crate::vocab::Category| match self.config.role {
            Role::Person => category.request_topic(),
            Role::Business => category.intent_topic(),
        };
        let mut topics: std::collections::BTreeSet<_> = self.state.subscriptions.iter().map(topic).collect();
        // A person hears the answers to its undecided intents, and relays intents and answers
        // in the categories it follows, so that their meshes are as dense as the requests':
        // a person's intent enters gossip through whoever its node is connected to, most
        // often another person. Subscribing reveals no more than the request topic does.
        if self.config.role == Role::Person {
            topics.extend(self.state.subscriptions.iter().map(|category| category.answer_topic()));
            topics.extend(self.state.subscriptions.iter().map(|category| category.intent_topic()));
            let undecided = self.state.intents.values().filter(|own| !own.decided);
            topics.extend(undecided.map(|own| own.intent.category.answer_topic()));
        }
        topics
    }

    /// A business's signed profile (see [`Config::profile`]).
    pub fn profile(&self) -> Option<&crate::profile::SignedProfile> {
        self.profile.as_ref()
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
            Input::Direct { from, to, kind, bytes } => {
                self.on_direct(from, to, kind, &bytes, now).map(|()| Handled::Done)
            }
            Input::Answered(id, answer) => {
                self.answered(id, answer, now);
                Ok(Handled::Done)
            }
            Input::Undelivered(id) => {
                self.undelivered(id, now);
                Ok(Handled::Done)
            }
            Input::Unanswered(id) => {
                self.unanswered(id, now);
                Ok(Handled::Done)
            }
            Input::PeerConnected(peer) => {
                self.peer_connected(peer, now);
                Ok(Handled::Done)
            }
            Input::PeerSubscribed { peer, topic } => {
                self.announce_to(peer, &topic, now);
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

    /// Signs the ledger's last entry if it is unsigned, which vouches for every entry before
    /// it: puts out the signed entry ([`Change::LedgerSeal`]) for the driver to write in its
    /// place. Call it after writing a batch and letting its messages
    /// go; it does nothing if every entry is signed.
    pub fn seal_ledger(&mut self) {
        let Some((sequence, unsealed)) = self.unsealed.take() else {
            return;
        };
        if let Some(bytes) = ledger::seal(self.identities.root(), &mut self.state.ledger, &unsealed) {
            self.persist(Change::LedgerSeal { sequence, bytes });
        }
    }

    /// Whether the ledger's last entry waits for [`Engine::seal_ledger`].
    pub fn has_unsealed(&self) -> bool {
        self.unsealed.is_some()
    }

    /// After a restart: `bytes`, the entry at `sequence`, is the ledger's last as stored. If a
    /// crash came between a batch's write and its [`Engine::seal_ledger`], it is unsigned, and
    /// this signs it. Anything else (a signed entry, not the last) changes nothing.
    pub fn seal_tail(&mut self, sequence: u64, bytes: Vec<u8>) {
        if sequence + 1 == self.state.ledger.next_sequence && ledger::is_unsealed(&bytes) {
            self.unsealed = Some((sequence, bytes));
            self.seal_ledger();
        }
    }

    fn on_gossip(&mut self, kind: MessageKind, bytes: &[u8], now: Timestamp) -> Result<()> {
        match kind {
            MessageKind::DataRequest => {
                let opened = self.open(bytes, kind, None, now)?;
                self.on_request(&opened, now)
            }
            MessageKind::Intent if self.config.role == Role::Person => self.relay_intent(bytes, now),
            MessageKind::Intent => {
                let opened = self.open(bytes, kind, None, now)?;
                self.on_intent(&opened, now)
            }
            MessageKind::Negotiation => self.on_answer(bytes, now),
            _ => Err(Rejection::Protocol("direct message kind on gossip").into()),
        }
    }

    fn on_direct(
        &mut self,
        from: PublicKey,
        to: PublicKey,
        kind: MessageKind,
        bytes: &[u8],
        now: Timestamp,
    ) -> Result<()> {
        if kind.is_gossip() {
            // A live request or intent handed over directly to a peer that joined after it was
            // published: the same checks as on gossip; `from` need not be its signer.
            return self.on_gossip(kind, bytes, now);
        }
        // `to` is the identity the transport authenticated this node as; each handler checks
        // that it is the one this node uses toward `from` for what the message is about.
        if self.config.role == Role::Business && to != self.public_key() {
            return Err(Rejection::Envelope(EnvelopeError::WrongRecipient).into());
        }
        let opened = self.open(bytes, kind, Some(&to), now)?;
        if opened.header().sender != from {
            return Err(Rejection::Envelope(EnvelopeError::WrongSender).into());
        }
        match kind {
            MessageKind::Negotiation => self.on_negotiation(&opened, now),
            MessageKind::DataPackage => self.on_package(&opened, now),
            MessageKind::PersonalOffer => self.on_offer(&opened, now),
            MessageKind::Revocation => self.on_revocation(&opened, now),
            _ => self.on_receipt(&opened, bytes, now),
        }
    }

    /// Opens an envelope and checks it is not a replay.
    fn open(&mut self, bytes: &[u8], kind: MessageKind, me: Option<&PublicKey>, now: Timestamp) -> Result<Opened> {
        let opened = envelope::open(bytes, kind, me, now).map_err(Rejection::from)?;
        self.state.seen.check_replay(opened.header(), now).map_err(Rejection::from)?;
        Ok(opened)
    }

    /// The agreement `id` between the sender of `opened` and the identity it was sent to, in
    /// the roles the node's role implies.
    fn agreement_with(&mut self, id: &AgreementId, opened: &Opened) -> Result<&mut AgreementRecord, Rejection> {
        let header = opened.header();
        let me = header.recipient.ok_or(Rejection::Envelope(EnvelopeError::WrongRecipient))?;
        let (person, business) = match self.config.role {
            Role::Person => (me, header.sender),
            Role::Business => (header.sender, me),
        };
        let context = self.state.agreements.between(id, person, business)?.agreement.context;
        // A person answers for an agreement only under the persona that made it.
        if self.identities.public(self.persona(&business, Some(&context))) != me {
            return Err(Rejection::Protocol("not a party to this agreement"));
        }
        self.state.agreements.get_mut(id).ok_or(Rejection::Stale("unknown agreement"))
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
            Command::Import { updates, provenance } => return self.import(updates, provenance, now),
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
            Command::Approve(id) => self.owner_decides(id, true, None, now)?,
            Command::Decline(id) => self.owner_decides(id, false, None, now)?,
            Command::Counter { negotiation_id, terms } => {
                self.owner_decides(negotiation_id, true, Some(*terms), now)?
            }
            Command::Revoke { agreement_id, reason } => self.revoke(agreement_id, reason, now)?,
            Command::ConfirmDeletion(agreement_id) => {
                self.require(Role::Business)?;
                if !self.state.agreements.contains_key(&agreement_id) {
                    return Err(CommandError::UnknownAgreement(agreement_id).into());
                }
                self.release_receipt(agreement_id, now);
            }
            Command::SetPetname { business, petname } => self.set_petname(business, petname)?,
            Command::DomainChecked { business, check } => self.domain_checked(business, check)?,
            Command::ProfileFound { business, profile } => {
                self.require(Role::Person)?;
                if !self.state.businesses.contains_key(&business) {
                    return Err(CommandError::Invalid(format!("no business {business} was met")).into());
                }
                let profile = crate::wire::SignedProfile::from(&profile);
                self.meet_business(business, "", Some(profile), now)
                    .map_err(|e| CommandError::Invalid(e.to_string()))?;
            }
            Command::SendOffer { agreement_id, offer } => {
                return self.send_offer(agreement_id, offer, now).map(Handled::Offer);
            }
        }
        Ok(Handled::Done)
    }

    /// Sets every timer the state needs and retries the outbox; used at start.
    fn resume(&mut self, now: Timestamp) {
        let mut timers = Vec::new();
        for negotiation in self.state.negotiations.values() {
            if !negotiation.state.is_final() {
                timers.push((negotiation.deadline, Timer::NegotiationDeadline(negotiation.id)));
            }
        }
        for (id, intent) in &self.state.intents {
            if !intent.decided {
                timers.push((now, Timer::IntentDecision(*id)));
            }
        }
        for (id, record) in self.state.agreements.iter() {
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
        self.republish_answers(now);
        if !self.config.confirm_deletions_downstream {
            // Nothing downstream to wait for (any more): held receipts go now.
            let held: Vec<AgreementId> = self.state.held_receipts.iter().copied().collect();
            for id in held {
                self.release_receipt(id, now);
            }
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

    /// Appends to the ledger, unsigned until [`Engine::seal_ledger`].
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
        let bytes = ledger::append_unsealed(&mut self.state.ledger, now, &event);
        self.unsealed = Some((sequence, bytes.clone()));
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
