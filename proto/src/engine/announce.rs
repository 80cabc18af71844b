//! Requests and intents on gossip: publishing them, and what a node does when one arrives.

use super::negotiate::Opening;
use super::{
    Change, CommandError, Engine, Event, KnownRequest, OwnIntent, Rejection, Result, Role, Timer, VaultFacts, describe,
};
use crate::envelope::{self, MessageKind, Opened, Seal};
use crate::identity::{IntentId, Persona, PublicKey, RequestId};

use crate::ledger::EventKind;
use crate::limits::{MAX_ANNOUNCED_ON_SUBSCRIBE, MAX_GOSSIP_VALIDITY_MS, MAX_OWNER_WINDOW_MS};
use crate::messages::{Context, DataRequest, Intent, ProductOffer};
use crate::policy::{self, Asker, Decision};
use crate::terms::Terms;
use crate::time::Timestamp;
use crate::vocab::Category;
use crate::wire;
use prost::Message as _;
use std::time::Duration;

impl Engine {
    pub(super) fn publish_request(
        &mut self,
        category: Category,
        business_name: String,
        description: String,
        terms: Terms,
        now: Timestamp,
    ) -> Result<RequestId> {
        self.require(Role::Business)?;
        check_expiry(terms.expires_at, now)?;
        let request =
            DataRequest { id: RequestId::from_bytes(self.random()), category, business_name, description, terms };
        // A request built by the owner must be as valid as one received: round-trip it.
        let mut wire_request = wire::DataRequest::from(&request);
        DataRequest::try_from(wire_request.clone()).map_err(|e| CommandError::Invalid(e.to_string()))?;
        wire_request.profile = self.profile.as_ref().map(Into::into);
        let payload = wire_request.encode_to_vec();
        let bytes = self.seal_gossip(Persona::Root, MessageKind::DataRequest, payload, request.terms.expires_at, now);
        if bytes.len() > MessageKind::DataRequest.max_bytes() {
            return Err(CommandError::Invalid("request too large for gossip".into()).into());
        }
        self.forget_old_requests(now);
        let id = request.id;
        let fields = request.terms.fields.iter().map(|f| f.path.clone()).collect();
        self.emit(super::Output::Publish { topic: request.category.request_topic(), bytes: bytes.clone() });
        let known = KnownRequest { request, business: self.public_key(), at: now, envelope: bytes };
        self.state.requests.insert(known);
        self.persist(Change::Request(id));
        self.record(now, EventKind::RequestPublished, None, &id.to_bytes(), fields, None);
        Ok(id)
    }

    pub(super) fn publish_intent(&mut self, intent: Intent, now: Timestamp) -> Result<IntentId> {
        self.require(Role::Person)?;
        check_expiry(intent.expires_at, now)?;
        let wire_intent = wire::Intent::from(&intent);
        Intent::try_from(wire_intent.clone()).map_err(|e| CommandError::Invalid(e.to_string()))?;
        // Signed by the intent's own key: nothing in it links it to the person's other intents
        // or relationships.
        let persona = Persona::Intent(intent.id);
        let bytes = self.seal_gossip(persona, MessageKind::Intent, wire_intent.encode_to_vec(), intent.expires_at, now);
        if bytes.len() > MessageKind::Intent.max_bytes() {
            return Err(CommandError::Invalid("intent too large for gossip".into()).into());
        }
        let id = intent.id;
        let decide_at = now.saturating_add(self.config.intent_window).min(intent.expires_at);
        self.emit(super::Output::Publish { topic: intent.category.intent_topic(), bytes: bytes.clone() });
        let fields = intent.shares.iter().map(|f| f.path.clone()).collect();
        self.state.intents.insert(id, OwnIntent { intent, candidates: Vec::new(), decided: false, envelope: bytes });
        self.persist(Change::Intent(id));
        self.record(now, EventKind::IntentPublished, None, &id.to_bytes(), fields, None);
        self.set_timer(decide_at, Timer::IntentDecision(id));
        Ok(id)
    }

    fn seal_gossip(
        &mut self,
        persona: Persona,
        kind: MessageKind,
        payload: Vec<u8>,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> Vec<u8> {
        let nonce = self.nonce();
        let keypair = self.identities.keypair(persona);
        envelope::seal(Seal { keypair: &keypair, kind, recipient: None, nonce, issued_at: now, expires_at }, payload)
    }

    /// A person's agent meets a business's request.
    pub(super) fn on_request(&mut self, opened: &Opened, now: Timestamp) -> Result<()> {
        let mut wire_request = opened.decode::<wire::DataRequest>().map_err(Rejection::from)?;
        let profile = wire_request.profile.take();
        let request = DataRequest::try_from(wire_request).map_err(Rejection::from)?;
        let business = opened.header().sender;
        if self.config.role != Role::Person {
            return Err(Rejection::Ignored("requests are for people").into());
        }
        if !self.state.subscriptions.contains(&request.category) {
            return Err(Rejection::Ignored("category not followed").into());
        }
        if request.terms.expires_at != opened.header().expires_at {
            return Err(Rejection::Protocol("request expiry differs from its envelope's").into());
        }
        if self.state.requests.contains_key(&request.id) {
            return Err(Rejection::Stale("request already seen").into());
        }
        // Checked before anything is kept: one business cannot hold more of this person's
        // attention (open negotiations, prompts) than its quota.
        self.forget_old_negotiations(now);
        self.state.negotiations.has_room(&business).map_err(Rejection::Stale)?;
        self.forget_old_requests(now);
        let id = request.id;
        let category = request.category.clone();
        self.meet_business(business, &request.business_name, profile, now)?;
        // No ledger entry for a request merely seen: the ledger records what was exchanged
        // (terms, agreements, data), so a flood of requests cannot grow it.
        let asker = Asker { business: &business, category: &request.category };
        let decision = policy::evaluate(&request.terms, &self.state.policy, &VaultFacts(&self.state.vault), asker, now);
        let decision = self.state.guarded(&business, &request.terms, decision);
        let terms = request.terms.clone();
        self.state.requests.insert(KnownRequest { request, business, at: now, envelope: Vec::new() });
        self.persist(Change::Request(id));
        let deadline = now.saturating_add(self.config.negotiation_timeout).min(terms.expires_at);
        let opening = |requested: Terms| Opening {
            peer: business,
            context: Context::Request(id),
            category: category.clone(),
            requested,
            deadline,
            offer: None,
        };
        let outcome = match decision {
            Decision::Accept => {
                self.propose(opening(terms.clone()), terms, now);
                "proposed".to_owned()
            }
            Decision::Counter(counter) => {
                self.propose(opening(terms), counter, now);
                "countered".to_owned()
            }
            Decision::AskOwner { terms: proposal, reasons } => {
                // The owner has until the request expires to decide (at most the owner window);
                // the business hears of it only then.
                let window = self.config.owner_window.min(Duration::from_millis(MAX_OWNER_WINDOW_MS));
                let prompt = Opening { deadline: now.saturating_add(window).min(terms.expires_at), ..opening(terms) };
                self.await_owner_before_proposing(prompt, proposal, reasons, now);
                "awaiting-owner".to_owned()
            }
            Decision::Reject(reason) => format!("rejected: {}", describe(&reason)),
        };
        self.event(Event::RequestSeen { request_id: id, business, category, outcome });
        Ok(())
    }

    /// Hands a peer that just subscribed to `topic` this node's live requests (business) or
    /// undecided intents (person) of that topic, newest first, at most
    /// [`MAX_ANNOUNCED_ON_SUBSCRIBE`]: gossip does not replay what was published before. Each
    /// goes to a peer once per connection ([`Seen::announce_due`](super::seen::Seen)), however
    /// late it subscribes.
    pub(super) fn announce_to(&mut self, peer: PublicKey, topic: &crate::vocab::Topic, now: Timestamp) {
        let me = self.public_key();
        let mut live: Vec<Live> = match self.config.role {
            Role::Business => self
                .state
                .requests
                .values()
                .filter(|known| {
                    known.business == me
                        && known.request.terms.expires_at > now
                        && !known.envelope.is_empty()
                        && known.request.category.request_topic() == *topic
                })
                .map(|known| {
                    let expires = known.request.terms.expires_at;
                    let (kind, bytes) = (MessageKind::DataRequest, known.envelope.clone());
                    let from = Persona::Root;
                    Live { at: known.at, expires, kind, bytes, id: known.request.id.to_bytes(), from }
                })
                .collect(),
            Role::Person => self
                .state
                .intents
                .values()
                .filter(|own| {
                    !own.decided
                        && own.intent.expires_at > now
                        && !own.envelope.is_empty()
                        && own.intent.category.intent_topic() == *topic
                })
                .map(|own| {
                    let expires = own.intent.expires_at;
                    let (kind, bytes) = (MessageKind::Intent, own.envelope.clone());
                    // Handed over from the intent's own connection, not the node's.
                    let from = Persona::Intent(own.intent.id);
                    Live { at: expires, expires, kind, bytes, id: own.intent.id.to_bytes(), from }
                })
                .collect(),
        };
        live.sort_by_key(|item| std::cmp::Reverse(item.at));
        for Live { expires, kind, bytes, id, from, .. } in live.into_iter().take(MAX_ANNOUNCED_ON_SUBSCRIBE) {
            if self.state.seen.announce_due(peer, id, expires, now) {
                self.emit(super::Output::Send { from, to: peer, kind, bytes, delivery: None, early: false });
            }
        }
    }

    fn forget_old_requests(&mut self, now: Timestamp) {
        for id in self.state.requests.forget_old(now) {
            self.persist(Change::Request(id));
        }
    }

    /// A business meets a person's intent: counts it as demand and answers it from the
    /// catalog.
    pub(super) fn on_intent(&mut self, opened: &Opened, now: Timestamp) -> Result<()> {
        let intent: Intent = super::parse::<wire::Intent, _>(opened)?;
        let person = opened.header().sender;
        if self.config.role != Role::Business {
            return Err(Rejection::Ignored("intents are for businesses").into());
        }
        if !self.state.subscriptions.contains(&intent.category) {
            return Err(Rejection::Ignored("category not followed").into());
        }
        if intent.expires_at != opened.header().expires_at {
            return Err(Rejection::Protocol("intent expiry differs from its envelope's").into());
        }
        for expired in self.state.seen.forget_expired_intents(now) {
            self.persist(Change::SeenIntent(expired));
        }
        if let Some(evicted) = self.state.seen.note_intent(intent.id, intent.expires_at)? {
            self.persist(Change::SeenIntent(evicted));
        }
        self.persist(Change::SeenIntent(intent.id));
        self.count_demand(&intent);

        let item = self.state.catalog.iter().find(|item| {
            item.category == intent.category
                && intent.spec.iter().all(|(key, value)| item.spec.get(key).is_none_or(|values| values.contains(value)))
                && intent.max_price.as_ref().is_none_or(|max| max.currency == item.price.currency && item.price <= *max)
        });
        let answer = item.map(|item| {
            let mut terms = item.terms.clone();
            terms.expires_at = intent.expires_at;
            let offer = ProductOffer {
                description: item.description.clone(),
                price: item.price.clone(),
                valid_until: intent.expires_at,
            };
            (terms, offer)
        });
        let answered = answer.is_some();
        if let Some((terms, offer)) = answer {
            let deadline = now.saturating_add(self.config.negotiation_timeout).min(intent.expires_at);
            let opening = Opening {
                peer: person,
                context: Context::Intent(intent.id),
                category: intent.category.clone(),
                requested: terms.clone(),
                deadline,
                offer: Some(offer),
            };
            self.propose(opening, terms, now);
        }
        self.event(Event::IntentSeen { intent_id: intent.id, category: intent.category, answered });
        Ok(())
    }

    /// Another person's intent, met on gossip: checked (signature, validity, schema) so that
    /// only valid ones travel on; nothing is kept.
    pub(super) fn relay_intent(&mut self, bytes: &[u8], now: Timestamp) -> Result<()> {
        let opened = envelope::open(bytes, MessageKind::Intent, None, now).map_err(Rejection::from)?;
        let intent: Intent = super::parse::<wire::Intent, _>(&opened)?;
        if intent.expires_at != opened.header().expires_at {
            return Err(Rejection::Protocol("intent expiry differs from its envelope's").into());
        }
        Ok(())
    }

    fn count_demand(&mut self, intent: &Intent) {
        let mut keys = vec![(intent.category.clone(), String::new())];
        keys.extend(intent.spec.iter().map(|(key, value)| (intent.category.clone(), format!("{key}={value}"))));
        for key in keys {
            // Full: the least-counted key makes room (see [`super::Demand`]).
            if let Some(forgotten) = self.state.demand.count(&key) {
                self.persist(Change::Demand(forgotten));
            }
            self.persist(Change::Demand(key));
        }
    }
}

fn check_expiry(expires_at: Timestamp, now: Timestamp) -> Result<(), CommandError> {
    if expires_at <= now {
        return Err(CommandError::Invalid("expiry must be in the future".into()));
    }
    if expires_at.as_millis() - now.as_millis() > MAX_GOSSIP_VALIDITY_MS {
        return Err(CommandError::Invalid("expiry must be within 14 days".into()));
    }
    Ok(())
}

/// A live request or intent to hand over: when it was published (to send the newest first),
/// when it expires, and its signed envelope.
struct Live {
    at: Timestamp,
    expires: Timestamp,
    kind: MessageKind,
    bytes: Vec<u8>,
    id: [u8; 16],
    from: Persona,
}
