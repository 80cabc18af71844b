//! Negotiation: proposals, counters, the owner's approval, deadlines. Signatures are in
//! `finalize`.
//!
//! Whoever finds the terms on the table acceptable signs the agreement (`Agree`); the other
//! side checks that the agreement is exactly those terms and countersigns (`Finalize`). The
//! countersigner must do so before the deadline; the first signer waits for it until the
//! deadline plus [`FINALIZE_GRACE_MS`](crate::limits::FINALIZE_GRACE_MS), so with delivery
//! faster than the grace both sides end in the same state.

use super::negotiations::grace_after;
use super::{Change, CommandError, Engine, Event, OutboxId, Rejection, Result, Role, Timer, VaultFacts};
use crate::envelope::{self, EnvelopeError, MessageKind, Opened, Seal};
use crate::identity::{Digest, NegotiationId, Persona, PublicKey};
use crate::ledger::EventKind;
use crate::limits::{MAX_GOSSIP_MESSAGE_BYTES, MAX_NEGOTIATION_MS, MAX_ROUNDS};
use crate::messages::{Context, NegotiationBody, NegotiationMessage, ProductOffer, TerminationCode};
use crate::negotiation::{self, Negotiation, Party, State, Step};
use crate::policy::{self, AskReason, Asker, Decision, Reason};
use crate::terms::Terms;
use crate::time::Timestamp;
use crate::vocab::Category;
use crate::wire;
use prost::Message as _;
use std::cmp::Reverse;

/// What a new negotiation is about, before its first message.
pub(super) struct Opening {
    /// The other side.
    pub peer: PublicKey,
    /// The request or intent it answers.
    pub context: Context,
    /// That request's or intent's category.
    pub category: Category,
    /// The terms the business asked for.
    pub requested: Terms,
    /// When both sides give up.
    pub deadline: Timestamp,
    /// A product offered with the proposal.
    pub offer: Option<ProductOffer>,
}

/// Why a negotiation ended whose owner's approval prompt expired undecided.
pub const PROMPT_EXPIRED: &str = "the request expired before its owner decided; nothing was shared";

impl Opening {
    fn into_negotiation(
        self,
        id: NegotiationId,
        local_is_person: bool,
        state: State,
        terms: Terms,
        now: Timestamp,
    ) -> Negotiation {
        Negotiation {
            id,
            peer: self.peer,
            local_is_person,
            context: self.context,
            category: self.category,
            state,
            terms,
            requested: self.requested,
            offer: self.offer,
            round: 0,
            deadline: self.deadline,
            peer_knows: true,
            agreement: None,
            created_at: now,
            prompt_expired_at: None,
        }
    }
}

impl Engine {
    /// Opens a negotiation by proposing `terms`.
    pub(super) fn propose(&mut self, opening: Opening, terms: Terms, now: Timestamp) {
        self.forget_old_negotiations(now);
        let id = NegotiationId::from_bytes(self.random());
        let deadline = opening.deadline;
        let is_person = self.config.role == Role::Person;
        let negotiation = opening.into_negotiation(id, is_person, State::Requested { by: Party::Local }, terms, now);
        if !self.state.negotiations.insert(negotiation) {
            return; // 128 random bits do not collide; nothing is sent if they ever did
        }
        self.send_proposal(id, now);
        self.set_timer(deadline, Timer::NegotiationDeadline(id));
    }

    /// Sends the opening proposal of a negotiation already in `REQUESTED`.
    fn send_proposal(&mut self, id: NegotiationId, now: Timestamp) {
        let Some(negotiation) = self.state.negotiations.get(&id) else {
            return;
        };
        let context = negotiation.context;
        let body = NegotiationBody::Propose {
            context,
            terms: negotiation.terms.clone(),
            deadline: negotiation.deadline,
            offer: negotiation.offer.clone(),
        };
        match (self.config.role, context) {
            // An intent's key belongs to no one a business can dial: the answer goes on
            // gossip, and the person answers from that identity's own connection.
            (Role::Business, Context::Intent(_)) => {
                if !self.publish_answer(id, now) {
                    return;
                }
            }
            _ => {
                self.send_negotiation(id, body, now);
            }
        }
        self.terms_exchanged(id, true, now);
    }

    /// Publishes a business's answer to an intent: the proposal, sealed to the intent's key,
    /// on the category's answer topic. Gossip does the spreading, and the engine publishes it
    /// again when it restarts (`republish_answers`): a person who missed it simply does not see
    /// this candidate. `false` if the answer is too large for gossip (the negotiation ends).
    fn publish_answer(&mut self, id: NegotiationId, now: Timestamp) -> bool {
        let Some(mut negotiation) = self.state.negotiations.get_mut(&id) else {
            return false;
        };
        negotiation.round += 1;
        drop(negotiation);
        self.persist(Change::Negotiation(id));
        if self.emit_answer(id, now) {
            return true;
        }
        if let Some(mut negotiation) = self.state.negotiations.get_mut(&id) {
            negotiation.peer_knows = false;
        }
        self.end(id, TerminationCode::Policy, "answer too large for gossip".into(), false, now);
        false
    }

    /// Seals the opening proposal of a business's negotiation answering an intent, as it
    /// stands, and publishes it; `false` if it is too large for gossip.
    fn emit_answer(&mut self, id: NegotiationId, now: Timestamp) -> bool {
        let nonce = self.nonce();
        let Some(negotiation) = self.state.negotiations.get(&id) else {
            return false;
        };
        let body = NegotiationBody::Propose {
            context: negotiation.context,
            terms: negotiation.terms.clone(),
            deadline: negotiation.deadline,
            offer: negotiation.offer.clone(),
        };
        let message = NegotiationMessage { id, round: negotiation.round, body };
        let (intent_key, topic) = (negotiation.peer, negotiation.category.answer_topic());
        let expires_at = now.saturating_add(self.config.message_validity).min(negotiation.deadline);
        let mut wire_message = wire::NegotiationMessage::from(&message);
        if let Some(wire::negotiation_message::Body::Propose(propose)) = wire_message.body.as_mut() {
            propose.profile = self.profile.as_ref().map(Into::into);
        }
        let keypair = self.identities.keypair(Persona::Root);
        let seal = Seal {
            keypair: &keypair,
            kind: MessageKind::Negotiation,
            recipient: Some(intent_key),
            nonce,
            issued_at: now,
            expires_at,
        };
        let bytes = envelope::seal(seal, wire_message.encode_to_vec());
        if bytes.len() > MAX_GOSSIP_MESSAGE_BYTES {
            return false;
        }
        self.emit(super::Output::Publish { topic, bytes });
        true
    }

    /// At start: a business's answers to intents still waiting for the person go out again
    /// (a publication waiting for a subscriber does not survive a restart; a person who has
    /// the answer already ignores it as a duplicate).
    pub(super) fn republish_answers(&mut self, now: Timestamp) {
        if self.config.role != Role::Business {
            return;
        }
        let waiting: Vec<NegotiationId> = self
            .state
            .negotiations
            .values()
            .filter(|n| {
                matches!(n.context, Context::Intent(_))
                    && n.state == (State::Requested { by: Party::Local })
                    && n.round == 1
                    && n.deadline > now
            })
            .map(|n| n.id)
            .collect();
        for id in waiting {
            self.emit_answer(id, now);
        }
    }

    /// An answer to an intent, on gossip. Every node checks what it can (size, signature,
    /// validity, that it is a proposal answering an intent) before it travels on; only the
    /// person whose intent key it is sealed to takes it up.
    pub(super) fn on_answer(&mut self, bytes: &[u8], now: Timestamp) -> Result<()> {
        if bytes.len() > MAX_GOSSIP_MESSAGE_BYTES {
            let error = EnvelopeError::TooLarge { max: MAX_GOSSIP_MESSAGE_BYTES, actual: bytes.len() };
            return Err(Rejection::Envelope(error).into());
        }
        let verified = envelope::verify(bytes, MessageKind::Negotiation).map_err(Rejection::from)?;
        let Some(recipient) = verified.header().recipient else {
            return Err(Rejection::Protocol("an answer is sealed to the intent it answers").into());
        };
        let opened = envelope::open(bytes, MessageKind::Negotiation, Some(&recipient), now).map_err(Rejection::from)?;
        let message: NegotiationMessage = super::parse::<wire::NegotiationMessage, _>(&opened)?;
        let intent_id = match message.body {
            NegotiationBody::Propose { context: Context::Intent(intent_id), .. } if message.round == 1 => intent_id,
            _ => return Err(Rejection::Protocol("only a proposal answering an intent travels on gossip").into()),
        };
        let mine = self.config.role == Role::Person
            && self.state.intents.get(&intent_id).is_some_and(|own| !own.decided)
            && self.identities.public(Persona::Intent(intent_id)) == recipient;
        if !mine {
            return Ok(()); // valid, for someone else: it travels on
        }
        let opened = self.open(bytes, MessageKind::Negotiation, Some(&recipient), now)?;
        let profile = match opened.decode::<wire::NegotiationMessage>().map_err(Rejection::from)?.body {
            Some(wire::negotiation_message::Body::Propose(propose)) => propose.profile,
            _ => None,
        };
        self.meet_business(opened.header().sender, "", profile, now)?;
        self.on_negotiation(&opened, now)
    }

    /// Holds a negotiation for the owner before the peer hears of it.
    pub(super) fn await_owner_before_proposing(
        &mut self,
        opening: Opening,
        proposal: Terms,
        reasons: Vec<AskReason>,
        now: Timestamp,
    ) {
        self.forget_old_negotiations(now);
        let id = NegotiationId::from_bytes(self.random());
        let (peer, deadline) = (opening.peer, opening.deadline);
        let requested = opening.requested.clone();
        let awaiting = State::AwaitingOwner { proposal: Box::new(proposal.clone()) };
        let mut negotiation = opening.into_negotiation(id, true, awaiting, requested, now);
        negotiation.peer_knows = false;
        if !self.state.negotiations.insert(negotiation) {
            return;
        }
        self.persist(Change::Negotiation(id));
        self.event(Event::AwaitingOwner { negotiation_id: id, peer, terms: Box::new(proposal), reasons });
        self.set_timer(deadline, Timer::NegotiationDeadline(id));
    }

    /// Drops negotiations that ended long ago (see [`super::Negotiations`]), so that the
    /// table stays bounded by the rate of new negotiations (their agreements are kept). The
    /// sweep reads the whole table, so it runs at most once per [`super::SWEEP_EVERY_MS`] (ended
    /// negotiations are kept a week; a minute more changes nothing), and always when the table
    /// is full.
    pub(super) fn forget_old_negotiations(&mut self, now: Timestamp) {
        if now < self.next_sweep && !self.state.negotiations.full() {
            return;
        }
        self.next_sweep = Timestamp::from_millis(now.as_millis().saturating_add(super::SWEEP_EVERY_MS));
        for id in self.state.negotiations.forget_ended(now) {
            self.persist(Change::Negotiation(id));
        }
    }

    pub(super) fn send_negotiation(
        &mut self,
        id: NegotiationId,
        body: NegotiationBody,
        now: Timestamp,
    ) -> Option<OutboxId> {
        self.send_negotiation_with(id, body, super::outbox::Delivery::default(), now)
    }

    /// Sends a negotiation message with what `delivery` says beside it: for a `Finalize`, the
    /// agreement it makes final (`countersigns`: the outbox voids it if the message is refused
    /// or never delivered) and is `about` (so revoking it cancels a countersignature still
    /// waiting); for a business's `Agree`, that it leaves `early`. It is given up with the
    /// negotiation.
    pub(super) fn send_negotiation_with(
        &mut self,
        id: NegotiationId,
        body: NegotiationBody,
        delivery: super::outbox::Delivery,
        now: Timestamp,
    ) -> Option<OutboxId> {
        let mut negotiation = self.state.negotiations.get_mut(&id)?;
        negotiation.round += 1;
        let message = NegotiationMessage { id, round: negotiation.round, body };
        let (peer, give_up_at) = (negotiation.peer, grace_after(negotiation.deadline));
        drop(negotiation);
        self.persist(Change::Negotiation(id));
        let payload = wire::NegotiationMessage::from(&message).encode_to_vec();
        let delivery = super::outbox::Delivery { give_up_at: Some(give_up_at), ..delivery };
        self.send(peer, MessageKind::Negotiation, payload, delivery, now)
    }

    fn terms_exchanged(&mut self, id: NegotiationId, sent: bool, now: Timestamp) {
        let Some(negotiation) = self.state.negotiations.get(&id) else {
            return;
        };
        let (peer, fields) = (negotiation.peer, negotiation.terms.paths().into_iter().cloned().collect());
        let digest = Digest::of(&wire::Terms::from(&negotiation.terms).encode_to_vec());
        let kind = if sent { EventKind::ProposalSent } else { EventKind::ProposalReceived };
        self.record(now, kind, Some(peer), &id.to_bytes(), fields, Some(digest));
        self.event(Event::TermsExchanged { negotiation_id: id, sent });
    }

    pub(super) fn on_negotiation(&mut self, opened: &Opened, now: Timestamp) -> Result<()> {
        let message: NegotiationMessage = super::parse::<wire::NegotiationMessage, _>(opened)?;
        let from = opened.header().sender;
        if message.round == 0 || message.round > MAX_ROUNDS {
            return Err(Rejection::Protocol("round out of range").into());
        }
        if let NegotiationBody::Propose { context, terms, deadline, offer } = message.body {
            if message.round != 1 {
                return Err(Rejection::Protocol("a proposal opens a negotiation").into());
            }
            // A proposal reaches the identity this node has toward the proposer about it: a
            // business's root, a person's intent key.
            if opened.header().recipient != Some(self.identities.public(self.persona(&from, Some(&context)))) {
                return Err(Rejection::Envelope(EnvelopeError::WrongRecipient).into());
            }
            return self.on_propose(message.id, from, context, terms, deadline, offer, now);
        }
        let Some(negotiation) = self.state.negotiations.get(&message.id) else {
            return Err(Rejection::Stale("unknown negotiation").into());
        };
        let me = self.identities.public(self.persona(&negotiation.peer, Some(&negotiation.context)));
        if negotiation.peer != from || opened.header().recipient != Some(me) {
            return Err(Rejection::Protocol("not a party to this negotiation").into());
        }
        if negotiation.state.is_final() {
            // The same countersignature again (our answer to the first was lost, and the
            // peer's outbox retried): accepted, so that the peer does not take the answer for
            // a refusal and void an agreement this node holds.
            if let NegotiationBody::Finalize { signature, .. } = &message.body
                && negotiation.state == State::Finalized
                && negotiation
                    .agreement
                    .as_ref()
                    .is_some_and(|bytes| crate::agreement::verify(&negotiation.peer, bytes, signature))
            {
                return Ok(());
            }
            return Err(Rejection::Stale("negotiation already ended").into());
        }
        let is_terminate = matches!(message.body, NegotiationBody::Terminate { .. });
        if !is_terminate && message.round <= negotiation.round {
            return Err(Rejection::Stale("old round").into());
        }
        if !is_terminate && message.round != negotiation.round + 1 {
            return Err(Rejection::Protocol("round skipped").into());
        }
        let id = message.id;
        match message.body {
            NegotiationBody::Propose { .. } => Err(Rejection::Protocol("second proposal").into()),
            NegotiationBody::Counter { terms } => self.on_counter(id, message.round, terms, now),
            NegotiationBody::Agree { agreement, signature } => {
                self.on_agree(id, message.round, agreement, signature, now)
            }
            NegotiationBody::Finalize { signature, first_package } => {
                self.on_finalize(id, message.round, signature, first_package, now)
            }
            NegotiationBody::Terminate { code, reason } => {
                self.end(id, code, reason, true, now);
                Ok(())
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn on_propose(
        &mut self,
        id: NegotiationId,
        peer: PublicKey,
        context: Context,
        terms: Terms,
        deadline: Timestamp,
        offer: Option<ProductOffer>,
        now: Timestamp,
    ) -> Result<()> {
        if self.state.negotiations.contains_key(&id) {
            return Err(Rejection::Stale("negotiation already exists").into());
        }
        if deadline <= now || deadline.as_millis() - now.as_millis() > MAX_NEGOTIATION_MS {
            return Err(Rejection::Protocol("deadline out of range").into());
        }
        self.forget_old_negotiations(now);
        self.state.negotiations.has_room(&peer).map_err(Rejection::Stale)?;
        let (requested, category) = match (context, self.config.role) {
            (Context::Request(request_id), Role::Business) => {
                if offer.is_some() {
                    return Err(Rejection::Protocol("a person's proposal carries no product offer").into());
                }
                let me = self.public_key();
                match self.state.requests.get(&request_id) {
                    Some(known) if known.business == me => {
                        (known.request.terms.clone(), known.request.category.clone())
                    }
                    _ => return Err(Rejection::Stale("unknown request").into()),
                }
            }
            (Context::Intent(intent_id), Role::Person) => {
                if offer.is_none() {
                    return Err(Rejection::Protocol("an answer to an intent carries a product offer").into());
                }
                match self.state.intents.get(&intent_id) {
                    Some(own) => (terms.clone(), own.intent.category.clone()),
                    None => return Err(Rejection::Stale("unknown intent").into()),
                }
            }
            _ => {
                return Err(Rejection::Protocol("proposal context does not fit the node's role").into());
            }
        };
        self.forget_old_negotiations(now);
        let state = negotiation::next(None, &Step::Terms { by: Party::Remote }).map_err(Rejection::from)?;
        let opening = Opening { peer, context, category, requested, deadline, offer };
        let mut negotiation = opening.into_negotiation(id, self.config.role == Role::Person, state, terms, now);
        negotiation.round = 1;
        if !self.state.negotiations.insert(negotiation) {
            return Err(Rejection::Stale("negotiation already exists").into());
        }
        self.persist(Change::Negotiation(id));
        self.terms_exchanged(id, false, now);
        self.set_timer(deadline, Timer::NegotiationDeadline(id));
        match context {
            Context::Request(_) => self.respond(id, now),
            Context::Intent(intent_id) => self.add_candidate(intent_id, id, now),
        }
        Ok(())
    }

    /// A business's answer to an intent waits for the intent's decision time.
    fn add_candidate(&mut self, intent_id: crate::identity::IntentId, id: NegotiationId, now: Timestamp) {
        let over_budget = match (self.state.intents.get(&intent_id), self.state.negotiations.get(&id)) {
            (Some(own), Some(negotiation)) => match (&own.intent.max_price, &negotiation.offer) {
                (Some(max), Some(offer)) => offer.price.currency != max.currency || offer.price > *max,
                _ => false,
            },
            _ => return,
        };
        let Some(own) = self.state.intents.get_mut(&intent_id) else {
            return;
        };
        if over_budget {
            self.end(id, TerminationCode::Policy, Reason::OverBudget.to_string(), false, now);
        } else if own.decided || own.candidates.len() >= crate::limits::MAX_PROPOSALS_PER_INTENT {
            self.end(id, TerminationCode::NotSelected, "intent already decided".into(), false, now);
        } else {
            own.candidates.push(id);
            self.persist(Change::Intent(intent_id));
        }
    }

    /// The agent's decision on the terms the peer put on the table.
    fn decide(&self, negotiation: &Negotiation, now: Timestamp) -> Decision {
        self.state.decision(negotiation, now)
    }

    /// Acts on the peer's terms now on the table.
    fn respond(&mut self, id: NegotiationId, now: Timestamp) {
        let Some(negotiation) = self.state.negotiations.get(&id) else {
            return;
        };
        let decision = self.decide(negotiation, now);
        self.act_on(id, decision, now);
    }

    fn act_on(&mut self, id: NegotiationId, decision: Decision, now: Timestamp) {
        match decision {
            Decision::Accept => self.sign_and_agree(id, now),
            Decision::Counter(terms) => self.counter(id, terms, now),
            Decision::AskOwner { terms, reasons } => self.ask_owner(id, terms, reasons),
            Decision::Reject(reason) => self.refuse(id, &reason, now),
        }
    }

    fn ask_owner(&mut self, id: NegotiationId, terms: Terms, reasons: Vec<AskReason>) {
        let Some(mut negotiation) = self.state.negotiations.get_mut(&id) else {
            return;
        };
        if negotiation.apply(&Step::AskOwner { proposal: Box::new(terms.clone()) }).is_err() {
            return;
        }
        let peer = negotiation.peer;
        drop(negotiation);
        self.persist(Change::Negotiation(id));
        self.event(Event::AwaitingOwner { negotiation_id: id, peer, terms: Box::new(terms), reasons });
    }

    fn counter(&mut self, id: NegotiationId, terms: Terms, now: Timestamp) {
        let Some(mut negotiation) = self.state.negotiations.get_mut(&id) else {
            return;
        };
        // Leave room for the answer, the signature and the countersignature.
        if negotiation.round + 3 > MAX_ROUNDS {
            drop(negotiation);
            self.end(id, TerminationCode::TooManyRounds, "too many rounds".into(), false, now);
            return;
        }
        if negotiation.apply(&Step::Terms { by: Party::Local }).is_err() {
            return;
        }
        negotiation.terms = terms.clone();
        drop(negotiation);
        self.send_negotiation(id, NegotiationBody::Counter { terms }, now);
        self.terms_exchanged(id, true, now);
    }

    fn on_counter(&mut self, id: NegotiationId, round: u32, terms: Terms, now: Timestamp) -> Result<()> {
        let Some(mut negotiation) = self.state.negotiations.get_mut(&id) else {
            return Ok(());
        };
        negotiation.apply(&Step::Terms { by: Party::Remote }).map_err(Rejection::from)?;
        negotiation.round = round;
        negotiation.terms = terms;
        drop(negotiation);
        self.persist(Change::Negotiation(id));
        self.terms_exchanged(id, false, now);
        self.respond(id, now);
        Ok(())
    }

    /// Ends a negotiation on a policy's refusal: the owner sees the whole reason, the peer
    /// only what [`policy::Reason::for_peer`] lets out (never what the vault does not hold).
    fn refuse(&mut self, id: NegotiationId, reason: &policy::Reason, now: Timestamp) {
        self.ended(id, TerminationCode::Policy, reason.to_string(), Some(reason.for_peer()), now);
    }

    /// Ends a negotiation. `by_peer` says the peer ended it; otherwise the peer is told (if it
    /// knows of the negotiation).
    pub(super) fn end(
        &mut self,
        id: NegotiationId,
        code: TerminationCode,
        reason: String,
        by_peer: bool,
        now: Timestamp,
    ) {
        let told = (!by_peer).then(|| reason.clone());
        self.ended(id, code, reason, told, now);
    }

    /// Ends a negotiation; `told` is what the peer is told (`None`: the peer ended it).
    fn ended(
        &mut self,
        id: NegotiationId,
        code: TerminationCode,
        reason: String,
        told: Option<String>,
        now: Timestamp,
    ) {
        let by_peer = told.is_none();
        let Some(mut negotiation) = self.state.negotiations.get_mut(&id) else {
            return;
        };
        if negotiation.apply(&Step::Terminate { code, reason: reason.clone() }).is_err() {
            return;
        }
        let (peer, peer_knows) = (negotiation.peer, negotiation.peer_knows);
        drop(negotiation);
        if let Some(told) = told
            && peer_knows
        {
            self.send_negotiation(id, NegotiationBody::Terminate { code, reason: told }, now);
        }
        self.persist(Change::Negotiation(id));
        self.record(now, EventKind::NegotiationTerminated, Some(peer), &id.to_bytes(), Vec::new(), None);
        self.event(Event::Terminated { negotiation_id: id, code, reason, by_peer });
    }

    /// The owner's answer to a negotiation awaiting them: decline, approve, or (with
    /// `edited`) approve terms that share less.
    pub(super) fn owner_decides(
        &mut self,
        id: NegotiationId,
        approve: bool,
        edited: Option<Terms>,
        now: Timestamp,
    ) -> Result<()> {
        self.require(Role::Person)?;
        let negotiation = self.state.negotiations.get(&id).ok_or(CommandError::UnknownNegotiation(id))?;
        if let Some(at) = negotiation.prompt_expired_at {
            return Err(CommandError::PromptExpired(at).into());
        }
        let Some(proposal) = negotiation.awaiting().cloned() else {
            return Err(CommandError::NotAwaitingOwner(negotiation.state.name()).into());
        };
        if !approve {
            self.end(id, TerminationCode::Declined, "declined by the owner".into(), false, now);
            return Ok(());
        }
        if now >= negotiation.deadline {
            return Err(CommandError::PromptExpired(negotiation.deadline).into());
        }
        // The approval goes out through the outbox: refused now, with a clear error, rather
        // than approved and then never sent.
        self.state.outbox.has_room(&negotiation.peer, MessageKind::Negotiation).map_err(CommandError::from)?;
        let terms = match edited {
            None => proposal,
            Some(mut edited) => {
                edited.expires_at = proposal.expires_at;
                if !edited.is_within(&proposal) {
                    return Err(CommandError::Invalid(
                        "a counter may only share less than the terms awaiting you: fewer fields, a derived fact \
                         instead of a value, shorter retention, less contact; the compensation may change"
                            .into(),
                    )
                    .into());
                }
                edited
            }
        };
        if !negotiation.peer_knows {
            // The business has not heard of it: the negotiation with it starts now, with a
            // deadline of its own, however long the owner took.
            let deadline = now.saturating_add(self.config.negotiation_timeout).min(negotiation.requested.expires_at);
            let Some(mut negotiation) = self.state.negotiations.get_mut(&id) else {
                return Ok(());
            };
            negotiation.state = negotiation::next(None, &Step::Terms { by: Party::Local }).map_err(Rejection::from)?;
            negotiation.terms = terms;
            negotiation.peer_knows = true;
            negotiation.deadline = deadline;
            drop(negotiation);
            self.set_timer(deadline, Timer::NegotiationDeadline(id));
            self.send_proposal(id, now);
        } else if terms == negotiation.terms {
            self.sign_and_agree(id, now);
        } else {
            self.counter(id, terms, now);
        }
        Ok(())
    }

    pub(super) fn deadline_reached(&mut self, id: NegotiationId, now: Timestamp) {
        let Some(negotiation) = self.state.negotiations.get(&id) else {
            return;
        };
        let effective = match negotiation.state {
            State::Agreed { signed_by: Party::Local } => grace_after(negotiation.deadline),
            _ if negotiation.state.is_final() => return,
            _ => negotiation.deadline,
        };
        if now < effective {
            self.set_timer(effective, Timer::NegotiationDeadline(id));
            return;
        }
        if negotiation.awaiting().is_some() {
            if let Some(mut negotiation) = self.state.negotiations.get_mut(&id) {
                negotiation.prompt_expired_at = Some(now);
            }
            self.end(id, TerminationCode::Timeout, PROMPT_EXPIRED.into(), false, now);
            self.event(Event::PromptExpired { negotiation_id: id });
            return;
        }
        self.end(id, TerminationCode::Timeout, "deadline passed".into(), false, now);
    }

    /// Chooses among the businesses' answers to an intent: the best acceptable ones (by
    /// decision, then compensation, then price) are taken up, the others declined.
    pub(super) fn decide_intent(&mut self, intent_id: crate::identity::IntentId, now: Timestamp) {
        let Some(own) = self.state.intents.get_mut(&intent_id) else {
            return;
        };
        if own.decided {
            return;
        }
        own.decided = true;
        let candidates = own.candidates.clone();
        self.persist(Change::Intent(intent_id));
        let mut ranked = Vec::new();
        for id in candidates {
            let Some(negotiation) = self.state.negotiations.get(&id) else {
                continue;
            };
            if negotiation.state != (State::Requested { by: Party::Remote }) {
                continue;
            }
            let decision = self.decide(negotiation, now);
            let class = match &decision {
                Decision::Accept => 0,
                Decision::AskOwner { .. } => 1,
                Decision::Counter(_) => 2,
                Decision::Reject(reason) => {
                    self.refuse(id, reason, now);
                    continue;
                }
            };
            let price = negotiation.offer.as_ref().map_or(0, |offer| offer.price.amount_minor);
            let key = (class, Reverse(negotiation.terms.compensation.rank()), price, id);
            ranked.push((key, decision));
        }
        ranked.sort_by_key(|(key, _)| *key);
        let take = self.state.policy.max_agreements_per_intent as usize;
        for (index, ((_, _, _, id), decision)) in ranked.into_iter().enumerate() {
            if index < take {
                self.act_on(id, decision, now);
            } else {
                self.end(id, TerminationCode::NotSelected, "another offer was chosen".into(), false, now);
            }
        }
    }
}

impl super::State {
    /// The agent's decision on the terms the peer put on the table in `negotiation`, under
    /// the policy and vault as they are now: what the engine acts on, and what a console
    /// shows as the reasons it asks.
    pub fn decision(&self, negotiation: &Negotiation, now: Timestamp) -> Decision {
        if negotiation.local_is_person {
            let asker = Asker { business: &negotiation.peer, category: &negotiation.category };
            let decision = policy::evaluate(&negotiation.terms, &self.policy, &VaultFacts(&self.vault), asker, now);
            self.guarded(&negotiation.peer, &negotiation.terms, decision)
        } else {
            policy::evaluate_counter(&negotiation.requested, &negotiation.terms, &self.business_policy)
        }
    }
}
