//! What the local API reads and writes: JSON views of the engine's state, and vault values as
//! JSON. The short text forms the CLI passes through (`30d`, `10% discount`, `120 EUR`,
//! `body.shoe_size_eu:optional`) are read and written by the protocol's own types
//! (`FromStr`/`Display` in `me2b_proto`); nothing here parses them.

use me2b_proto::agreement::{AgreementRecord, Lifecycle, RevocationAnswer, RevocationStatus};
use me2b_proto::decode::TextError;
use me2b_proto::document::DocumentError;
use me2b_proto::engine::{KnownRequest, ReceivedItem, Record, State};
use me2b_proto::identity::{AgreementId, PublicKey, hex};
use me2b_proto::ledger;
use me2b_proto::messages::Context;
use me2b_proto::messages::ItemContent;
use me2b_proto::negotiation::Negotiation;
use me2b_proto::policy::Decision;
use me2b_proto::terms::{Terms, format_contact};
use me2b_proto::time::{Timestamp, format_duration};
use me2b_proto::value::{Date, Point, Value};
use me2b_proto::vocab::FieldPath;
use serde::Serialize;
use serde_json::json;
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// A bad value in a request to the API, named so that the caller can fix it.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BadInput(pub String);

fn bad(text: impl Into<String>) -> BadInput {
    BadInput(text.into())
}

impl From<TextError> for BadInput {
    fn from(error: TextError) -> Self {
        BadInput(error.to_string())
    }
}

impl From<DocumentError> for BadInput {
    fn from(error: DocumentError) -> Self {
        BadInput(error.to_string())
    }
}

/// Reads a JSON value as a vault value: a number, `true`/`false`, a `YYYY-MM-DD` date, other
/// text, a series `[{"at_ms": ..., "value": ..., "tag": ...}, ...]` (the tag optional) or a
/// set of codes `{"codes": ["sct|44054006", ...]}`.
pub fn value_from_json(json: &serde_json::Value) -> Result<Value, BadInput> {
    let value = match json {
        serde_json::Value::Number(n) => Value::Number(n.as_f64().ok_or_else(|| bad("number out of range"))?),
        serde_json::Value::Bool(b) => Value::Boolean(*b),
        serde_json::Value::String(text) => match text.parse::<Date>() {
            Ok(date) => Value::Date(date),
            Err(_) => Value::Text(text.clone()),
        },
        serde_json::Value::Array(points) => {
            let point = |p: &serde_json::Value| -> Option<Point> {
                let tag = match p.get("tag") {
                    None | Some(serde_json::Value::Null) => None,
                    Some(tag) => Some(tag.as_str()?.to_owned()),
                };
                Some(Point {
                    at: Timestamp::from_millis(p.get("at_ms")?.as_u64()?),
                    value: p.get("value")?.as_f64()?,
                    tag,
                })
            };
            Value::Series(
                points
                    .iter()
                    .map(|p| point(p).ok_or_else(|| bad("a series is a list of {\"at_ms\": MS, \"value\": NUMBER}")))
                    .collect::<Result<_, _>>()?,
            )
        }
        serde_json::Value::Object(object) if object.len() == 1 && object.contains_key("codes") => {
            let codes = object.get("codes").and_then(|c| c.as_array()).ok_or_else(|| bad("codes is a list"))?;
            Value::Codes(
                codes
                    .iter()
                    .map(|c| c.as_str().map(str::to_owned).ok_or_else(|| bad("a code is a \"SYSTEM|CODE\" text")))
                    .collect::<Result<_, _>>()?,
            )
        }
        _ => {
            return Err(bad(
                "a value is a number, true/false, a YYYY-MM-DD date, text, a series or {\"codes\": [...]}",
            ));
        }
    };
    value.validate().map_err(|e| bad(e.to_string()))?;
    Ok(value)
}

/// Writes a vault value as JSON, the way [`value_from_json`] reads it.
pub fn value_to_json(value: &Value) -> serde_json::Value {
    match value {
        Value::Number(n) => number_to_json(*n),
        Value::Text(text) => json!(text),
        Value::Boolean(b) => json!(b),
        Value::Date(date) => json!(date.to_string()),
        Value::Series(points) => json!(
            points
                .iter()
                .map(|p| match &p.tag {
                    Some(tag) => json!({"at_ms": p.at.as_millis(), "value": number_to_json(p.value), "tag": tag}),
                    None => json!({"at_ms": p.at.as_millis(), "value": number_to_json(p.value)}),
                })
                .collect::<Vec<_>>()
        ),
        Value::Codes(codes) => json!({ "codes": codes }),
    }
}

/// A number as JSON the way a person writes it: a whole number without a fraction (`44`, not
/// `44.0`), any other as the shortest decimal that reads back the same.
fn number_to_json(n: f64) -> serde_json::Value {
    // 2^53: every whole number up to it is exact in an f64.
    const EXACT: f64 = 9_007_199_254_740_992.0;
    if n.fract() == 0.0 && n.abs() <= EXACT { json!(n as i64) } else { json!(n) }
}

/// A vault record.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecordView {
    /// Its path.
    pub path: String,
    /// Its value.
    #[schema(value_type = Object)]
    pub value: serde_json::Value,
    /// `owner`, `device:NAME` or `issuer:KEY`.
    pub provenance: String,
    /// When it was last set (ms since the epoch).
    pub updated_at_ms: u64,
    /// How many earlier values are kept.
    pub history: usize,
}

impl RecordView {
    /// The view of `record` at `path`.
    pub fn new(path: &FieldPath, record: &Record) -> Self {
        RecordView {
            path: path.to_string(),
            value: value_to_json(record.value.expose()),
            provenance: record.provenance.to_string(),
            updated_at_ms: record.updated_at.as_millis(),
            history: record.history.len(),
        }
    }
}

/// Terms, as people read them.
#[derive(Debug, Serialize, ToSchema)]
pub struct TermsView {
    /// The fields: `PATH`, `PATH:optional`, or `PATH:PREDICATE` for a derived fact.
    pub fields: Vec<String>,
    /// The purpose.
    pub purpose: String,
    /// The purpose in words, after its DPV definition.
    pub purpose_text: String,
    /// How long the business may keep the data.
    pub retention: String,
    /// `once`, `subscription:INTERVAL` or `trigger:PATH>=NUMBER:EVENT`.
    #[serde(rename = "use")]
    pub usage: String,
    /// Whether the business may pass the data on.
    pub onward_sharing: bool,
    /// What the person gets.
    pub compensation: String,
    /// Offers the business may push, e.g. `1/30d`, or `none`.
    pub contact: String,
    /// Whose law applies.
    pub jurisdiction: String,
    /// When the offer of these terms ends (ms since the epoch).
    pub expires_at_ms: u64,
}

impl From<&Terms> for TermsView {
    fn from(terms: &Terms) -> Self {
        TermsView {
            fields: terms.fields.iter().map(ToString::to_string).collect(),
            purpose: terms.purpose.to_string(),
            purpose_text: terms.purpose.describe().into(),
            retention: format_duration(terms.retention),
            usage: terms.usage.to_string(),
            onward_sharing: terms.onward_sharing,
            compensation: terms.compensation.to_string(),
            contact: format_contact(terms.contact.as_ref()),
            jurisdiction: terms.jurisdiction.clone(),
            expires_at_ms: terms.expires_at.as_millis(),
        }
    }
}

/// A data request published (business) or seen (person).
#[derive(Debug, Serialize, ToSchema)]
pub struct RequestView {
    /// Its id.
    pub id: String,
    /// The business's key.
    pub business: String,
    /// The business's key as a person compares it.
    pub business_fingerprint: String,
    /// The business's name (unverified).
    pub business_name: String,
    /// Its category.
    pub category: String,
    /// What it is about.
    pub description: String,
    /// When it was seen or published (ms since the epoch).
    pub at_ms: u64,
    /// What it asks for.
    pub terms: TermsView,
}

impl From<&KnownRequest> for RequestView {
    fn from(known: &KnownRequest) -> Self {
        RequestView {
            id: known.request.id.to_string(),
            business: known.business.to_string(),
            business_fingerprint: known.business.fingerprint(),
            business_name: known.request.business_name.clone(),
            category: known.request.category.to_string(),
            description: known.request.description.clone(),
            at_ms: known.at.as_millis(),
            terms: (&known.request.terms).into(),
        }
    }
}

/// A negotiation waiting for the owner, or any negotiation.
#[derive(Debug, Serialize, ToSchema)]
pub struct NegotiationView {
    /// Its id: pass it to `approve` or `decline`.
    pub id: String,
    /// The other side's key.
    pub peer: String,
    /// The other side's key as a person compares it, e.g. `7F3A-91C2-0BD4-55E1`.
    pub peer_fingerprint: String,
    /// The name the business gave in its request, if this answers one (unverified).
    pub business_name: Option<String>,
    /// Why the agent asks the owner, in words (awaiting the owner only).
    pub reasons: Vec<String>,
    /// The category.
    pub category: String,
    /// Its state, e.g. `REQUESTED`, `AWAITING_OWNER`, `FINALIZED`.
    pub state: String,
    /// What the request or intent is: `request:ID` or `intent:ID`.
    pub context: String,
    /// What would be agreed: the terms awaiting approval, else the terms on the table.
    pub terms: TermsView,
    /// The product offered in answer to an intent.
    pub offer: Option<String>,
    /// When it ends if nothing happens (ms since the epoch).
    pub deadline_ms: u64,
    /// When the owner's approval prompt expired undecided (state `EXPIRED`).
    pub expired_at_ms: Option<u64>,
}

impl From<&Negotiation> for NegotiationView {
    fn from(n: &Negotiation) -> Self {
        let (state, terms) = match (n.awaiting(), n.prompt_expired_at) {
            (Some(terms), _) => ("AWAITING_OWNER".to_owned(), terms),
            (None, Some(_)) => ("EXPIRED".to_owned(), &n.terms),
            (None, None) => (n.state.to_string(), &n.terms),
        };
        NegotiationView {
            id: n.id.to_string(),
            peer: n.peer.to_string(),
            peer_fingerprint: n.peer.fingerprint(),
            business_name: None,
            reasons: Vec::new(),
            category: n.category.to_string(),
            state,
            context: n.context.to_string(),
            terms: terms.into(),
            offer: n.offer.as_ref().map(|o| format!("{} for {}", o.description, o.price)),
            deadline_ms: n.deadline.as_millis(),
            expired_at_ms: n.prompt_expired_at.map(Timestamp::as_millis),
        }
    }
}

impl NegotiationView {
    /// The view with the business's name and, when it awaits the owner, why the agent asks.
    pub fn in_context(n: &Negotiation, state: &State, now: Timestamp) -> Self {
        let mut view = NegotiationView::from(n);
        view.business_name = business_name(state, &n.peer, &n.context);
        if n.awaiting().is_some()
            && let Decision::AskOwner { reasons, .. } = state.decision(n, now)
        {
            view.reasons = reasons.iter().map(ToString::to_string).collect();
        }
        view
    }
}

/// What to call `business`: the person's own name for it first, then the name it claims (its
/// signed profile's, or the request's that `context` answers).
pub fn business_name(state: &State, business: &PublicKey, context: &Context) -> Option<String> {
    let known = state.businesses.get(business);
    let petname = known.and_then(|known| known.petname.clone());
    let claimed = known.map(|known| known.name.clone()).filter(|name| !name.is_empty());
    petname.or(claimed).or_else(|| match context {
        Context::Request(id) => state.requests.get(id).map(|known| known.request.business_name.clone()),
        Context::Intent(_) => None,
    })
}

impl AgreementView {
    /// The view with the business's name.
    pub fn in_context(record: &AgreementRecord, state: &State) -> Self {
        let mut view = AgreementView::from(record);
        view.business_name = business_name(state, &record.agreement.business, &record.agreement.context);
        view
    }
}

/// An agreement and where it stands.
#[derive(Debug, Serialize, ToSchema)]
pub struct AgreementView {
    /// Its id.
    pub id: String,
    /// How its negotiation ended: always `FINALIZED` (both signed).
    pub negotiation: String,
    /// `ACTIVE`, `REVOKED`, `EXPIRED`, `DELETED`, or `VOID` (the business refused the
    /// countersignature; nothing more is sent).
    pub state: String,
    /// Whether the person can revoke it now: `ACTIVE`, or `VOID` when data went out with the
    /// countersignature (the business may hold it whatever it answered).
    pub revocable: bool,
    /// The person's key.
    pub person: String,
    /// The person's key as it is compared (pairwise: another for every business).
    pub person_fingerprint: String,
    /// The business's key.
    pub business: String,
    /// The business's key as a person compares it.
    pub business_fingerprint: String,
    /// The name the business gave in its request, if this answers one (unverified).
    pub business_name: Option<String>,
    /// What it answers: `request:ID` or `intent:ID`.
    pub context: String,
    /// The agreed terms.
    pub terms: TermsView,
    /// When both had signed (ms since the epoch).
    pub finalized_at_ms: u64,
    /// When the retention runs out (ms since the epoch).
    pub retention_ends_ms: u64,
    /// When it was revoked, expired or deleted (ms since the epoch).
    pub changed_at_ms: Option<u64>,
    /// Whether the business's signed deletion receipt is held.
    pub deletion_receipt: bool,
    /// A revocation waiting for its receipt: where it stands.
    pub revocation: Option<RevocationView>,
    /// Sequence of the last data package.
    pub last_package: u64,
    /// Personal offers made under it.
    pub offers: usize,
}

impl From<&AgreementRecord> for AgreementView {
    fn from(record: &AgreementRecord) -> Self {
        let changed_at = match record.lifecycle {
            Lifecycle::Active => None,
            Lifecycle::Revoked { at }
            | Lifecycle::Expired { at }
            | Lifecycle::Void { at }
            | Lifecycle::Deleted { at, .. } => Some(at),
        };
        AgreementView {
            id: record.id.to_string(),
            negotiation: "FINALIZED".into(),
            state: record.lifecycle.name().into(),
            revocable: record.revocable(),
            person: record.agreement.person.to_string(),
            person_fingerprint: record.agreement.person.fingerprint(),
            business: record.agreement.business.to_string(),
            business_fingerprint: record.agreement.business.fingerprint(),
            business_name: None,
            context: record.agreement.context.to_string(),
            terms: (&record.agreement.terms).into(),
            finalized_at_ms: record.finalized_at.as_millis(),
            retention_ends_ms: record.retention_ends().as_millis(),
            changed_at_ms: changed_at.map(Timestamp::as_millis),
            deletion_receipt: record.receipt.is_some(),
            revocation: record.revocation.as_ref().map(RevocationView::from),
            last_package: record.last_package,
            offers: record.offers.len(),
        }
    }
}

/// Where a revocation stands until the business's receipt ends it.
#[derive(Debug, Serialize, ToSchema)]
pub struct RevocationView {
    /// `pending` (the business not reached yet), `acknowledged` (received, no receipt yet) or
    /// `not confirmed` (the business answered without a receipt, or could not be reached).
    pub status: String,
    /// The business's answer or why the retries stopped, when not confirmed.
    pub reason: Option<String>,
    /// Answers the business gave so far.
    pub answers: u32,
    /// When the person last asked for it (ms since the epoch).
    pub requested_at_ms: u64,
}

impl From<&RevocationStatus> for RevocationView {
    fn from(status: &RevocationStatus) -> Self {
        let reason = match &status.answer {
            RevocationAnswer::NotConfirmed { reason, .. } => Some(reason.clone()),
            RevocationAnswer::Pending | RevocationAnswer::Acknowledged { .. } => None,
        };
        RevocationView {
            status: status.answer.name().into(),
            reason,
            answers: status.answers,
            requested_at_ms: status.requested_at.as_millis(),
        }
    }
}

/// Data a business holds under one agreement, with its values.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReceivedView {
    /// The agreement.
    pub agreement_id: String,
    /// The person's key.
    pub person: String,
    /// The items, by path.
    #[schema(value_type = Object)]
    pub items: BTreeMap<String, serde_json::Value>,
}

impl ReceivedView {
    /// The view of what is held under `agreement`.
    pub fn new(id: &AgreementId, person: String, items: &BTreeMap<FieldPath, ReceivedItem>) -> Self {
        let items = items
            .iter()
            .map(|(path, item)| {
                let content = match &item.content {
                    ItemContent::Value(value) => json!({"value": value_to_json(value.expose())}),
                    ItemContent::Derived { predicate, holds } => {
                        json!({"predicate": predicate.to_string(), "holds": holds})
                    }
                    ItemContent::TriggerEvent(event) => json!({"event": event}),
                };
                let mut content = content;
                content["sequence"] = json!(item.sequence);
                content["at_ms"] = json!(item.at.as_millis());
                (path.to_string(), content)
            })
            .collect();
        ReceivedView { agreement_id: id.to_string(), person, items }
    }
}

/// A personal offer sent or received.
#[derive(Debug, Serialize, ToSchema)]
pub struct OfferView {
    /// The agreement it was made under.
    pub agreement_id: String,
    /// Its id.
    pub offer_id: String,
    /// The business's key.
    pub business: String,
    /// What is offered.
    pub description: String,
    /// Its price.
    pub price: String,
    /// When it ends (ms since the epoch).
    pub valid_until_ms: u64,
    /// When it was sent or received (ms since the epoch).
    pub at_ms: u64,
}

/// One ledger entry (paths and hashes, never values).
#[derive(Debug, Serialize, ToSchema)]
pub struct LedgerEntryView {
    /// Position, from 0.
    pub sequence: u64,
    /// When (ms since the epoch).
    pub at_ms: u64,
    /// What happened, e.g. `AgreementFinalized`.
    pub kind: String,
    /// The other party's key.
    pub peer: Option<String>,
    /// The other party's key as a person compares it.
    pub peer_fingerprint: Option<String>,
    /// The request, intent, negotiation or agreement id.
    pub subject: String,
    /// The paths involved.
    pub fields: Vec<String>,
    /// Hash of the message the entry is about.
    pub digest: Option<String>,
}

impl From<&ledger::Entry> for LedgerEntryView {
    fn from(entry: &ledger::Entry) -> Self {
        LedgerEntryView {
            sequence: entry.sequence,
            at_ms: entry.at.as_millis(),
            kind: format!("{:?}", entry.event.kind),
            peer: entry.event.peer.map(|p| p.to_string()),
            peer_fingerprint: entry.event.peer.map(|p| p.fingerprint()),
            subject: hex(&entry.event.subject),
            fields: entry.event.fields.iter().map(ToString::to_string).collect(),
            digest: entry.event.digest.map(|d| d.to_string()),
        }
    }
}

/// The node as `/v1/status` shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatusView {
    /// The libp2p peer id.
    pub peer_id: String,
    /// The protocol key (hex).
    pub public_key: String,
    /// `person` or `business`.
    pub role: String,
    /// The name from the config.
    pub name: String,
    /// Where it listens for peers.
    pub listen_addrs: Vec<String>,
    /// The API's own address.
    pub api: String,
    /// Peers connected now.
    pub connected_peers: usize,
    /// The categories followed.
    pub subscriptions: Vec<String>,
    /// Vault records.
    pub records: usize,
    /// Negotiations waiting for the owner.
    pub pending: usize,
    /// Negotiations kept.
    pub negotiations: usize,
    /// Agreements kept.
    pub agreements: usize,
    /// Direct messages waiting for delivery.
    pub outbox: usize,
}

/// A connected peer.
#[derive(Debug, Serialize, ToSchema)]
pub struct PeerView {
    /// Its peer id.
    pub peer_id: String,
}

/// Something published or sent, by its new id.
#[derive(Debug, Serialize, ToSchema)]
pub struct Created {
    /// The intent's, request's or offer's id.
    pub id: String,
}

/// The owner's answer to a negotiation.
#[derive(Debug, Serialize, ToSchema)]
pub struct Decided {
    /// The negotiation.
    pub negotiation_id: String,
    /// `approved`, `declined` or `countered`.
    pub decision: String,
}

/// How many items a write took.
#[derive(Debug, Serialize, ToSchema)]
pub struct Count {
    /// Records imported, records removed or catalog items set.
    pub count: usize,
}

/// A record removed.
#[derive(Debug, Serialize, ToSchema)]
pub struct Removed {
    /// Its path.
    pub removed: String,
}

/// Intents seen for a category and spec entry.
#[derive(Debug, Serialize, ToSchema)]
pub struct DemandRow {
    /// The category.
    pub category: String,
    /// `KEY=VALUE`, or empty for the category's total.
    pub spec: String,
    /// Intents counted.
    pub count: u64,
}

/// A purpose in the protocol's vocabulary.
#[derive(Debug, Serialize, ToSchema)]
pub struct PurposeView {
    /// Its name, e.g. `personalised-offers`.
    pub name: String,
    /// What it means.
    pub text: String,
}

/// The words the protocol uses.
#[derive(Debug, Serialize, ToSchema)]
pub struct Vocabulary {
    /// Every purpose.
    pub purposes: Vec<PurposeView>,
}

/// What checking the node's records found, with the ledger's head.
#[derive(Debug, Serialize, ToSchema)]
pub struct VerifyView {
    /// The checks.
    #[serde(flatten)]
    pub report: me2b_proto::evidence::Report,
    /// The hash of the ledger's last entry.
    pub head: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_through_json() {
        for json in [
            json!(44),
            json!(44.5),
            json!(true),
            json!("1990-05-17"),
            json!("Ada"),
            json!([{"at_ms": 5, "value": 12.5}]),
        ] {
            assert_eq!(value_to_json(&value_from_json(&json).unwrap()), json);
        }
        assert!(value_from_json(&json!({"a": 1})).is_err());
        assert_eq!(value_to_json(&value_from_json(&json!(44.0)).unwrap()).to_string(), "44", "as the person wrote it");
    }
}
