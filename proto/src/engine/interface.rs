//! The engine's contract with its driver: the [`Input`]s it takes (peer messages, deliveries,
//! timers, the owner's [`Command`]s), the [`Output`]s it asks for (send, publish, persist,
//! events, timers) and the errors it answers with.

use super::outbox::OutboxId;
use super::state::{CatalogItem, DemandKey, Provenance};
use crate::agreement::LifecycleError;
use crate::decode::DecodeError;
use crate::envelope::{EnvelopeError, MessageKind};
use crate::identity::{AgreementId, IntentId, NegotiationId, OfferId, Persona, PublicKey, RequestId};
use crate::limits::MAX_ANSWER_REASON_BYTES;
use crate::messages::{ProductOffer, TerminationCode};
use crate::negotiation::TransitionError;
use crate::policy::{AskReason, BusinessPolicy, Policy};
use crate::terms::{FieldRequest, Money, Terms};
use crate::time::Timestamp;
use crate::value::Value;
use crate::vocab::{Category, FieldPath, Topic};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

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
    /// arrive this way too, handed over by a peer when this node subscribes to their topic.
    Direct {
        /// The peer (from the transport's authentication).
        from: PublicKey,
        /// The identity of this node the peer reached (from the transport's authentication):
        /// the root key, or for a person the persona whose connection carried the message.
        to: PublicKey,
        /// Which kind the protocol carries.
        kind: MessageKind,
        /// The signed envelope.
        bytes: Vec<u8>,
    },
    /// The peer answered an outbox message. An answer means "received", never "done": a
    /// revocation, for one, waits for the business's signed receipt whatever the answer.
    Answered(OutboxId, Answer),
    /// An outbox message could not be delivered this time, and the peer did not receive it
    /// (no connection, or the peer does not speak the protocol).
    Undelivered(OutboxId),
    /// An outbox message went out but no answer came back (the connection closed or the wait
    /// timed out): the peer may have received it. Retried like an undelivered one; a person's
    /// countersignature that may have arrived is never voided by a later refusal, since the
    /// business may hold the data it carried.
    Unanswered(OutboxId),
    /// A peer is reachable (again, on a new connection): retry what waits for it, and forget
    /// which live requests or intents it was handed (it may have restarted without them).
    PeerConnected(PublicKey),
    /// A peer subscribed to `topic` on gossip: hand it this node's live requests or intents of
    /// that topic, which gossip does not replay to late joiners; once per connection.
    PeerSubscribed {
        /// The peer.
        peer: PublicKey,
        /// The topic it subscribed to.
        topic: Topic,
    },
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
    /// Applies many vault changes from one source at once, all or none (person).
    Import {
        /// The changes; a path may appear more than once.
        updates: Vec<super::ImportUpdate>,
        /// Where all of them came from.
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
    /// The owner answers a negotiation awaiting them with edited terms, which may share no
    /// more than those awaiting approval ([`Terms::is_within`]); compensation may change.
    Counter {
        /// The negotiation.
        negotiation_id: NegotiationId,
        /// The owner's terms; their expiry is the request's.
        terms: Box<Terms>,
    },
    /// The person revokes an agreement.
    Revoke {
        /// The agreement.
        agreement_id: AgreementId,
        /// Why, in words (may be empty).
        reason: String,
    },
    /// The business's own systems confirmed that they deleted their copies of what it held
    /// under the agreement (its `deletion-due` webhook was acknowledged): the signed deletion
    /// receipt the engine held back now goes to the person. Does nothing if none is held.
    ConfirmDeletion(AgreementId),
    /// The person names a business they met in their own words (`None` forgets the name).
    SetPetname {
        /// The business's key.
        business: PublicKey,
        /// The person's name for it.
        petname: Option<String>,
    },
    /// The node checked the domain a business's profile names (see
    /// [`crate::profile::DomainStatement`]): the driver fetches, the engine keeps the result.
    DomainChecked {
        /// The business.
        business: PublicKey,
        /// What was found.
        check: crate::profile::DomainCheck,
    },
    /// The node found a business's signed profile (in the DHT): kept if it is newer than the
    /// one the node has, for a business it met.
    ProfileFound {
        /// The business.
        business: PublicKey,
        /// Its profile.
        profile: crate::profile::SignedProfile,
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

/// What the driver must persist: the named part of [`Engine::state`](super::Engine::state) (absent means deleted),
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
    /// Whether a deletion receipt is held (see `State::held_receipts`).
    HeldReceipt(AgreementId),
    /// A business a person's node met (see `State::businesses`).
    Business(PublicKey),
    /// A new ledger entry, unsigned until its seal, and the new head in
    /// [`State::ledger`](super::State::ledger).
    LedgerEntry {
        /// Its sequence.
        sequence: u64,
        /// Its bytes (an encoded `SignedLedgerEntry`).
        bytes: Vec<u8>,
    },
    /// The ledger's last entry again, signed ([`Engine::seal_ledger`](super::Engine::seal_ledger)),
    /// to write in place of the unsigned one, and the new head. It may wait for the driver's
    /// next write however long: a start signs an end that a crash left unsigned
    /// ([`Engine::seal_tail`](super::Engine::seal_tail)).
    LedgerSeal {
        /// The sequence of the entry it replaces.
        sequence: u64,
        /// The signed bytes.
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
    /// A business deleted what it held under an agreement, and its own systems must delete
    /// their copies too: the signed receipt waits for [`Command::ConfirmDeletion`]. Only when
    /// [`super::Config::confirm_deletions_downstream`] is set.
    DeletionDue {
        /// The agreement.
        agreement_id: AgreementId,
        /// Why.
        cause: crate::messages::DeletionCause,
    },
    /// A key claims the name of a business whose key the person pinned when they agreed with
    /// it: it may be an impersonator. Nothing is agreed with it without the owner.
    Impersonation {
        /// The name claimed.
        name: String,
        /// The key claiming it.
        claimed_by: PublicKey,
        /// The key the person agreed with under that name.
        pinned: PublicKey,
    },
    /// A business's domain was checked (verified or not).
    DomainChecked {
        /// The business.
        business: PublicKey,
        /// The domain.
        domain: String,
        /// Whether it proved the business's key.
        verified: bool,
    },
    /// The business's signed deletion receipt arrived.
    DeletionConfirmed {
        /// The agreement.
        agreement_id: AgreementId,
    },
    /// The business answered a revocation without a receipt (or could not be reached before
    /// the retries ran out): the revocation is not confirmed, and stays pending.
    RevocationNotConfirmed {
        /// The agreement.
        agreement_id: AgreementId,
        /// The business's answer, as printable text.
        reason: String,
    },
    /// The business refused (or never received) this person's countersignature: the agreement
    /// is void and nothing is sent under it.
    AgreementVoid {
        /// The agreement.
        agreement_id: AgreementId,
        /// Why, as printable text.
        reason: String,
    },
    /// A peer refused a message (the sender gives up on it).
    DeliveryRefused {
        /// To whom.
        to: PublicKey,
        /// What.
        kind: MessageKind,
        /// The peer's answer, as printable text.
        reason: String,
    },
    /// New outgoing work for a peer was refused: too much already waits for it.
    OutboxFull {
        /// The peer.
        to: PublicKey,
        /// What was refused.
        kind: MessageKind,
    },
    /// An approval prompt expired before the owner decided (the negotiation ended; nothing
    /// was shared).
    PromptExpired {
        /// The negotiation.
        negotiation_id: NegotiationId,
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
    /// the outcome back as [`Input::Answered`], [`Input::Undelivered`] or
    /// [`Input::Unanswered`].
    Send {
        /// The identity it goes out as: for a person, the connection of that persona (never the
        /// root's, which would link the personas).
        from: Persona,
        /// The peer.
        to: PublicKey,
        /// The message kind (and so the protocol).
        kind: MessageKind,
        /// The signed envelope.
        bytes: Vec<u8>,
        /// The outbox item to acknowledge.
        delivery: Option<OutboxId>,
        /// Whether the message may leave before the changes of the input that sent it are on
        /// disk, while the driver writes them. Every message waits for that write but one: a
        /// business's signature on an agreement (`Agree`), the first of the two. It
        /// acknowledges nothing; a business that loses it to a crash has no negotiation left
        /// and refuses the person's countersignature as unknown, so the agreement is void on
        /// both sides (the person can still ask for the data the countersignature carried to be
        /// deleted: `AgreementRecord::revocable`). A person's messages always wait: each one
        /// is in the person's ledger before it leaves. When every message of a batch leaves
        /// early, the driver may put off the write itself to its next one; what the batch
        /// acknowledges then waits for that write (the node's `commit` does so).
        early: bool,
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

/// A peer's answer to a direct message: what the driver reads back from the stream and reports
/// as [`Input::Answered`], and what it sends back for a message it was given ([`Answer::of`]).
/// Reasons are the protocol's own words (a [`Rejection`]), never anything about the vault; the
/// receiving engine still treats them as peer text ([`crate::text::printable`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Handled.
    Accepted,
    /// Refused, through no fault of the sender (late, duplicate, unknown, busy).
    Ignored(String),
    /// Refused as invalid; the sender is penalised.
    Rejected(String),
}

impl Answer {
    /// The answer a node gives to a peer's message that `handle` returned `outcome` for.
    pub fn of(outcome: &Result<Handled, HandleError>) -> Answer {
        let reason = |text: String| crate::text::printable(&text, MAX_ANSWER_REASON_BYTES);
        match outcome {
            Ok(_) => Answer::Accepted,
            Err(HandleError::Rejected(rejection)) if rejection.penalise() => {
                Answer::Rejected(reason(rejection.to_string()))
            }
            Err(error) => Answer::Ignored(reason(error.to_string())),
        }
    }

    /// Why the message was refused, if it was.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Answer::Accepted => None,
            Answer::Ignored(reason) | Answer::Rejected(reason) => Some(reason),
        }
    }
}

/// What a successful [`Engine::handle`](super::Engine::handle) produced for the caller.
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
    /// An import was applied.
    Imported(super::ImportCounts),
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
    /// The owner's approval prompt expired before the owner decided.
    #[error("this request expired at {0} before it was decided; nothing was shared")]
    PromptExpired(Timestamp),
    /// A bounded collection is full.
    #[error("too many {0}; try later")]
    Full(&'static str),
    /// The outbox refuses new work for this peer (or for all).
    #[error(transparent)]
    OutboxFull(#[from] super::outbox::OutboxFull),
}

/// Why [`Engine::handle`](super::Engine::handle) failed.
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
