//! The owner's event stream: every node event gets an id one greater than the last, is kept
//! in a bounded buffer (so that a client reconnecting with `Last-Event-ID` gets what it
//! missed) and is counted for `/metrics`.

use crate::{NodeEvent, NodeHandle};
use me2b_proto::engine::Event;
use serde_json::json;
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;

/// Events kept for clients that reconnect.
pub const KEPT_EVENTS: usize = 1024;

/// An event's id and JSON body.
pub type Numbered = (u64, Arc<serde_json::Value>);

/// The numbered events and their counts.
#[derive(Debug)]
pub struct EventLog {
    inner: Mutex<Inner>,
    live: broadcast::Sender<Numbered>,
}

#[derive(Debug, Default)]
struct Inner {
    next_id: u64,
    kept: VecDeque<Numbered>,
    counts: BTreeMap<&'static str, u64>,
}

impl EventLog {
    /// Starts numbering `node`'s events.
    pub fn start(node: &NodeHandle) -> Arc<EventLog> {
        let (live, _) = broadcast::channel(KEPT_EVENTS);
        let log = Arc::new(EventLog { inner: Mutex::new(Inner { next_id: 1, ..Inner::default() }), live });
        let mut events = node.events();
        let writer = Arc::clone(&log);
        tokio::spawn(async move {
            loop {
                match events.recv().await {
                    Ok(event) => writer.push(&event),
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        writer.push_value("events-lost", json!({"missed": missed}));
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                }
            }
        });
        log
    }

    fn push(&self, event: &NodeEvent) {
        let (kind, body) = describe(event);
        self.push_value(kind, body);
    }

    fn push_value(&self, kind: &'static str, mut body: serde_json::Value) {
        let Ok(mut inner) = self.inner.lock() else { return };
        let id = inner.next_id;
        inner.next_id += 1;
        *inner.counts.entry(kind).or_default() += 1;
        body["id"] = json!(id);
        body["type"] = json!(kind);
        let body = Arc::new(body);
        if inner.kept.len() >= KEPT_EVENTS {
            inner.kept.pop_front();
        }
        inner.kept.push_back((id, Arc::clone(&body)));
        let _ = self.live.send((id, body));
    }

    /// The kept events after `last_id`, and a receiver for those that follow (subscribed
    /// before reading, so none falls in between).
    pub fn since(&self, last_id: u64) -> (Vec<Numbered>, broadcast::Receiver<Numbered>) {
        let live = self.live.subscribe();
        let kept = match self.inner.lock() {
            Ok(inner) => inner.kept.iter().filter(|(id, _)| *id > last_id).cloned().collect(),
            Err(_) => Vec::new(),
        };
        (kept, live)
    }

    /// How many events of each type there were.
    pub fn counts(&self) -> BTreeMap<&'static str, u64> {
        self.inner.lock().map(|inner| inner.counts.clone()).unwrap_or_default()
    }
}

/// An event's type and its JSON body: ids and paths, never personal values.
fn describe(event: &NodeEvent) -> (&'static str, serde_json::Value) {
    match event {
        NodeEvent::Engine(event) => describe_engine(event),
        NodeEvent::Misbehaved { peer, reason } => {
            ("peer-misbehaved", json!({"peer": peer.to_string(), "reason": reason}))
        }
        NodeEvent::Banned { peer, seconds } => ("peer-banned", json!({"peer": peer.to_string(), "seconds": seconds})),
        NodeEvent::Connected { peer } => ("peer-connected", json!({"peer": peer.to_string()})),
        NodeEvent::PeerSubscribed { peer, topic } => {
            ("peer-subscribed", json!({"peer": peer.to_string(), "topic": topic}))
        }
        NodeEvent::RateLimited { peer } => ("peer-rate-limited", json!({"peer": peer.to_string()})),
        NodeEvent::Published { topic } => ("published", json!({"topic": topic})),
        NodeEvent::PublishDropped { topic } => ("publish-dropped", json!({"topic": topic})),
        NodeEvent::Delivered { peer } => ("delivered", json!({"peer": peer.to_string()})),
    }
}

fn describe_engine(event: &Event) -> (&'static str, serde_json::Value) {
    let paths = |fields: &[me2b_proto::vocab::FieldPath]| fields.iter().map(ToString::to_string).collect::<Vec<_>>();
    match event {
        Event::RequestSeen { request_id, business, category, outcome } => (
            "request-seen",
            json!({"request_id": request_id.to_string(), "business": business.to_string(),
                   "category": category.to_string(), "outcome": outcome}),
        ),
        Event::IntentSeen { intent_id, category, answered } => (
            "intent-seen",
            json!({"intent_id": intent_id.to_string(), "category": category.to_string(), "answered": answered}),
        ),
        Event::AwaitingOwner { negotiation_id, peer, reasons, .. } => (
            "awaiting-owner",
            json!({"negotiation_id": negotiation_id.to_string(), "peer": peer.to_string(),
                   "reasons": reasons.iter().map(|r| format!("{r:?}")).collect::<Vec<_>>()}),
        ),
        Event::TermsExchanged { negotiation_id, sent } => {
            ("terms-exchanged", json!({"negotiation_id": negotiation_id.to_string(), "sent": sent}))
        }
        Event::Finalized { negotiation_id, agreement_id, peer } => (
            "agreement-finalized",
            json!({"negotiation_id": negotiation_id.to_string(), "agreement_id": agreement_id.to_string(),
                   "peer": peer.to_string()}),
        ),
        Event::Terminated { negotiation_id, code, reason, by_peer } => (
            "negotiation-terminated",
            json!({"negotiation_id": negotiation_id.to_string(), "code": format!("{code:?}"),
                   "reason": reason, "by_peer": by_peer}),
        ),
        Event::DataSent { agreement_id, fields } => {
            ("data-sent", json!({"agreement_id": agreement_id.to_string(), "fields": paths(fields)}))
        }
        Event::DataReceived { agreement_id, fields } => {
            ("data-received", json!({"agreement_id": agreement_id.to_string(), "fields": paths(fields)}))
        }
        Event::OfferReceived { agreement_id, offer_id, offer } => (
            "offer-received",
            json!({"agreement_id": agreement_id.to_string(), "offer_id": offer_id.to_string(),
                   "description": offer.description, "price": offer.price.to_string()}),
        ),
        Event::Revoked { agreement_id } => ("agreement-revoked", json!({"agreement_id": agreement_id.to_string()})),
        Event::Expired { agreement_id } => ("agreement-expired", json!({"agreement_id": agreement_id.to_string()})),
        Event::DataDeleted { agreement_id, items } => {
            ("data-deleted", json!({"agreement_id": agreement_id.to_string(), "items": items}))
        }
        Event::DeletionConfirmed { agreement_id } => {
            ("deletion-receipt", json!({"agreement_id": agreement_id.to_string()}))
        }
        Event::RevocationNotConfirmed { agreement_id, reason } => {
            ("revocation-not-confirmed", json!({"agreement_id": agreement_id.to_string(), "reason": reason}))
        }
        Event::AgreementVoid { agreement_id, reason } => {
            ("agreement-void", json!({"agreement_id": agreement_id.to_string(), "reason": reason}))
        }
        Event::DeliveryRefused { to, kind, reason } => {
            ("delivery-refused", json!({"to": to.to_string(), "kind": format!("{kind:?}"), "reason": reason}))
        }
        Event::OutboxFull { to, kind } => ("outbox-full", json!({"to": to.to_string(), "kind": format!("{kind:?}")})),
        Event::PromptExpired { negotiation_id } => {
            ("prompt-expired", json!({"negotiation_id": negotiation_id.to_string()}))
        }
        Event::DeliveryAbandoned { to, kind } => {
            ("delivery-abandoned", json!({"to": to.to_string(), "kind": format!("{kind:?}")}))
        }
    }
}
