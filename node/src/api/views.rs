//! What the local API reads and writes: JSON views of the engine's state, and the parsing of
//! the short text forms the CLI passes through (`30d`, `10% discount`, `120 EUR`,
//! `body.shoe_size_eu:optional`). Each text form has its one parser here.

use me2b_proto::agreement::{AgreementRecord, Lifecycle};
use me2b_proto::engine::{KnownRequest, Provenance, ReceivedItem, Record};
use me2b_proto::identity::{AgreementId, hex};
use me2b_proto::ledger;
use me2b_proto::messages::{Context, ItemContent};
use me2b_proto::negotiation::Negotiation;
use me2b_proto::policy::{FieldRule, Policy, Share};
use me2b_proto::terms::{Compensation, ContactPermission, Disclosure, FieldRequest, Money, Terms, Use};
use me2b_proto::time::Timestamp;
use me2b_proto::value::{Date, Point, Value};
use me2b_proto::vocab::{Category, FieldPath, Purpose};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use utoipa::ToSchema;

/// A bad value in a request to the API, named so that the caller can fix it.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BadInput(pub String);

fn bad(text: impl Into<String>) -> BadInput {
    BadInput(text.into())
}

/// Parses `30d`, `12h`, `90m`, `45s` or `2w`.
pub fn parse_duration(text: &str) -> Result<Duration, BadInput> {
    let invalid = || bad(format!("`{text}` is not a duration; use a number and a unit, e.g. 30d, 12h, 90m, 45s, 2w"));
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(invalid)?;
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().map_err(|_| invalid())?;
    let seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return Err(invalid()),
    };
    number.checked_mul(seconds).map(Duration::from_secs).ok_or_else(invalid)
}

/// Writes a duration the way [`parse_duration`] reads it.
pub fn format_duration(duration: Duration) -> String {
    let seconds = duration.as_secs();
    for (unit, size) in [("w", 7 * 86_400), ("d", 86_400), ("h", 3_600), ("m", 60)] {
        if seconds > 0 && seconds.is_multiple_of(size) {
            return format!("{}{unit}", seconds / size);
        }
    }
    format!("{seconds}s")
}

/// Parses `120 EUR` or `119.90 EUR`.
pub fn parse_money(text: &str) -> Result<Money, BadInput> {
    let invalid = || bad(format!("`{text}` is not an amount; write e.g. `120 EUR` or `119.90 EUR`"));
    let (amount, currency) = text.trim().split_once(' ').ok_or_else(invalid)?;
    let (whole, cents) = match amount.split_once('.') {
        Some((whole, cents)) if cents.len() == 2 => (whole, cents.parse::<u64>().map_err(|_| invalid())?),
        Some(_) => return Err(invalid()),
        None => (amount, 0),
    };
    let whole: u64 = whole.parse().map_err(|_| invalid())?;
    let minor = whole.checked_mul(100).and_then(|w| w.checked_add(cents)).ok_or_else(invalid)?;
    Money::new(minor, currency.trim()).map_err(|e| bad(format!("`{text}`: {e}")))
}

/// Parses `none` (or `nothing`), `10% discount`, `5 EUR` (a payment), or a service: `service:
/// TEXT` or any other text. Reads what `Compensation`'s `Display` writes.
pub fn parse_compensation(text: &str) -> Result<Compensation, BadInput> {
    let text = text.trim();
    if text.is_empty() || text == "none" || text == "nothing" {
        return Ok(Compensation::None);
    }
    if let Some(service) = text.strip_prefix("service:") {
        return Ok(Compensation::Service(service.trim().to_owned()));
    }
    if let Some(percent) = text.strip_suffix("% discount").or_else(|| text.strip_suffix('%')) {
        let percent: u8 = percent.trim().parse().map_err(|_| bad(format!("`{text}`: a discount is 1% to 100%")))?;
        if !(1..=100).contains(&percent) {
            return Err(bad(format!("`{text}`: a discount is 1% to 100%")));
        }
        return Ok(Compensation::Discount { percent });
    }
    if text.split(' ').next().is_some_and(|first| first.parse::<f64>().is_ok()) {
        return parse_money(text).map(Compensation::Money);
    }
    Ok(Compensation::Service(text.to_owned()))
}

/// Parses `1/30d`: at most one offer per 30 days.
pub fn parse_contact(text: &str) -> Result<Option<ContactPermission>, BadInput> {
    if text.trim() == "none" {
        return Ok(None);
    }
    let invalid = || bad(format!("`{text}` is not a contact limit; write MESSAGES/PERIOD, e.g. 1/30d, or none"));
    let (count, period) = text.split_once('/').ok_or_else(invalid)?;
    let max_messages: u32 = count.trim().parse().map_err(|_| invalid())?;
    if max_messages == 0 {
        return Err(invalid());
    }
    Ok(Some(ContactPermission { max_messages, per_period: parse_duration(period)? }))
}

/// Parses `once`, `subscription:1d` (updates at most once a day) or
/// `trigger:activity.running_km>=600:replacement-due` (only the event, once the sum of the
/// series reaches the threshold).
pub fn parse_use(text: &str) -> Result<Use, BadInput> {
    let invalid = || {
        bad(format!(
            "`{text}` is not a use; write `once`, `subscription:INTERVAL` (e.g. subscription:1d) or \
             `trigger:PATH>=NUMBER:EVENT` (e.g. trigger:activity.running_km>=600:replacement-due)"
        ))
    };
    match text.split_once(':') {
        None if text == "once" => Ok(Use::OneTime),
        None if text == "subscription" => Ok(Use::Subscription { min_interval: Duration::from_secs(86_400) }),
        Some(("subscription", interval)) => Ok(Use::Subscription { min_interval: parse_duration(interval)? }),
        Some(("trigger", rest)) => {
            let (condition, event) = rest.split_once(':').ok_or_else(invalid)?;
            let (path, threshold) = condition.split_once(">=").ok_or_else(invalid)?;
            let threshold: f64 = threshold.trim().parse().map_err(|_| invalid())?;
            let predicate = me2b_proto::predicate::Predicate::SumSinceAtLeast { since: Timestamp::EPOCH, threshold };
            Ok(Use::Trigger { path: parse_path(path.trim())?, predicate, event: event.trim().to_owned() })
        }
        _ => Err(invalid()),
    }
}

/// Parses `body.shoe_size_eu` (required) or `activity.running_km:optional`.
pub fn parse_field(text: &str) -> Result<FieldRequest, BadInput> {
    let (path, optional) = match text.split_once(':') {
        None => (text, false),
        Some((path, "optional")) => (path, true),
        Some((_, other)) => return Err(bad(format!("`{text}`: unknown field option `{other}`; use `PATH:optional`"))),
    };
    let field = FieldRequest::raw(parse_path(path)?);
    Ok(if optional { field.optional() } else { field })
}

/// Parses a vault path such as `body.shoe_size_eu`.
pub fn parse_path(text: &str) -> Result<FieldPath, BadInput> {
    text.parse().map_err(|e| {
        bad(format!("`{text}` is not a field path ({e}); write dotted lower-case names, e.g. body.shoe_size_eu"))
    })
}

/// Parses a category such as `apparel.shoes`.
pub fn parse_category(text: &str) -> Result<Category, BadInput> {
    text.parse().map_err(|e| {
        bad(format!("`{text}` is not a category ({e}); write dotted lower-case names, e.g. apparel.shoes"))
    })
}

/// Parses a purpose such as `personalised-offers`.
pub fn parse_purpose(text: &str) -> Result<Purpose, BadInput> {
    text.parse().map_err(|_| {
        let known: Vec<_> = Purpose::ALL.iter().map(|p| p.as_str()).collect();
        bad(format!("`{text}` is not a purpose; use one of {}", known.join(", ")))
    })
}

/// Reads a JSON value as a vault value: a number, `true`/`false`, a `YYYY-MM-DD` date, other
/// text, or a series `[{"at_ms": ..., "value": ...}, ...]`.
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
                Some(Point { at: Timestamp::from_millis(p.get("at_ms")?.as_u64()?), value: p.get("value")?.as_f64()? })
            };
            Value::Series(
                points
                    .iter()
                    .map(|p| point(p).ok_or_else(|| bad("a series is a list of {\"at_ms\": MS, \"value\": NUMBER}")))
                    .collect::<Result<_, _>>()?,
            )
        }
        _ => return Err(bad("a value is a number, true/false, a YYYY-MM-DD date, text, or a series")),
    };
    value.validate().map_err(|e| bad(e.to_string()))?;
    Ok(value)
}

/// Writes a vault value as JSON, the way [`value_from_json`] reads it.
pub fn value_to_json(value: &Value) -> serde_json::Value {
    match value {
        Value::Number(n) => json!(n),
        Value::Text(text) => json!(text),
        Value::Boolean(b) => json!(b),
        Value::Date(date) => json!(date.to_string()),
        Value::Series(points) => {
            json!(points.iter().map(|p| json!({"at_ms": p.at.as_millis(), "value": p.value})).collect::<Vec<_>>())
        }
    }
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
        let provenance = match &record.provenance {
            Provenance::Owner => "owner".to_owned(),
            Provenance::Device(name) => format!("device:{name}"),
            Provenance::Issuer(key) => format!("issuer:{key}"),
        };
        RecordView {
            path: path.to_string(),
            value: value_to_json(record.value.expose()),
            provenance,
            updated_at_ms: record.updated_at.as_millis(),
            history: record.history.len(),
        }
    }
}

/// Terms, as people read them.
#[derive(Debug, Serialize, ToSchema)]
pub struct TermsView {
    /// The fields: `PATH`, `PATH (optional)`, or `PATH: PREDICATE` for a derived fact.
    pub fields: Vec<String>,
    /// The purpose.
    pub purpose: String,
    /// How long the business may keep the data.
    pub retention: String,
    /// `once`, `subscription:INTERVAL` or `trigger:PATH:EVENT`.
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
        let fields = terms
            .fields
            .iter()
            .map(|f| {
                let optional = if f.required { "" } else { " (optional)" };
                match &f.disclosure {
                    Disclosure::Raw => format!("{}{optional}", f.path),
                    Disclosure::Derived(predicate) => format!("{}: {predicate}{optional}", f.path),
                }
            })
            .collect();
        let usage = match &terms.usage {
            Use::OneTime => "once".to_owned(),
            Use::Subscription { min_interval } => format!("subscription:{}", format_duration(*min_interval)),
            Use::Trigger { path, event, .. } => format!("trigger:{path}:{event}"),
        };
        TermsView {
            fields,
            purpose: terms.purpose.to_string(),
            retention: format_duration(terms.retention),
            usage,
            onward_sharing: terms.onward_sharing,
            compensation: terms.compensation.to_string(),
            contact: terms
                .contact
                .map(|c| format!("{}/{}", c.max_messages, format_duration(c.per_period)))
                .unwrap_or_else(|| "none".into()),
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
    /// The business's name.
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
}

impl From<&Negotiation> for NegotiationView {
    fn from(n: &Negotiation) -> Self {
        let (state, terms) = match &n.awaiting {
            Some(terms) => ("AWAITING_OWNER".to_owned(), terms),
            None => (n.state.to_string(), &n.terms),
        };
        NegotiationView {
            id: n.id.to_string(),
            peer: n.peer.to_string(),
            category: n.category.to_string(),
            state,
            context: context(&n.context),
            terms: terms.into(),
            offer: n.offer.as_ref().map(|o| format!("{} for {}", o.description, o.price)),
            deadline_ms: n.deadline.as_millis(),
        }
    }
}

fn context(context: &Context) -> String {
    match context {
        Context::Request(id) => format!("request:{id}"),
        Context::Intent(id) => format!("intent:{id}"),
    }
}

/// An agreement and where it stands.
#[derive(Debug, Serialize, ToSchema)]
pub struct AgreementView {
    /// Its id.
    pub id: String,
    /// How its negotiation ended: always `FINALIZED` (both signed).
    pub negotiation: String,
    /// `ACTIVE`, `REVOKED`, `EXPIRED` or `DELETED`.
    pub state: String,
    /// The person's key.
    pub person: String,
    /// The business's key.
    pub business: String,
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
    /// Sequence of the last data package.
    pub last_package: u64,
    /// Personal offers made under it.
    pub offers: usize,
}

impl From<&AgreementRecord> for AgreementView {
    fn from(record: &AgreementRecord) -> Self {
        let changed_at = match record.lifecycle {
            Lifecycle::Active => None,
            Lifecycle::Revoked { at } | Lifecycle::Expired { at } | Lifecycle::Deleted { at, .. } => Some(at),
        };
        AgreementView {
            id: record.id.to_string(),
            negotiation: "FINALIZED".into(),
            state: record.lifecycle.name().into(),
            person: record.agreement.person.to_string(),
            business: record.agreement.business.to_string(),
            context: context(&record.agreement.context),
            terms: (&record.agreement.terms).into(),
            finalized_at_ms: record.finalized_at.as_millis(),
            retention_ends_ms: record.retention_ends().as_millis(),
            changed_at_ms: changed_at.map(Timestamp::as_millis),
            deletion_receipt: record.receipt.is_some(),
            last_package: record.last_package,
            offers: record.offers.len(),
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
            subject: hex(&entry.event.subject),
            fields: entry.event.fields.iter().map(ToString::to_string).collect(),
            digest: entry.event.digest.map(|d| d.to_string()),
        }
    }
}

/// A person's policy as a document (JSON here; the CLI also reads it from TOML).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyDoc {
    /// Rules by field subtree; the most specific applies.
    pub rules: Vec<RuleDoc>,
    /// The longest retention ever agreed, e.g. `90d`.
    pub max_retention: String,
    /// The least compensation, e.g. `none`, `10% discount`.
    #[serde(default = "none")]
    pub min_compensation: String,
    /// Whether onward sharing may be agreed.
    #[serde(default)]
    pub allow_onward_sharing: bool,
    /// The most contact ever granted, e.g. `2/30d`, or `none`.
    #[serde(default = "none")]
    pub max_contact: String,
    /// Whether the agent counters terms that go too far (else it declines them).
    #[serde(default = "yes")]
    pub counter: bool,
    /// Businesses (keys) never dealt with.
    #[serde(default)]
    pub denied_businesses: Vec<String>,
    /// If not empty, the only businesses dealt with.
    #[serde(default)]
    pub allowed_businesses: Vec<String>,
    /// How many offers in answer to one intent are accepted.
    #[serde(default = "one")]
    pub max_agreements_per_intent: u32,
}

/// One rule of a [`PolicyDoc`].
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleDoc {
    /// The subtree, e.g. `body` or `health.acquired`.
    pub path: String,
    /// `raw`, `derived-only` or `never`.
    pub share: String,
    /// Purposes allowed, e.g. `personalised-offers`.
    pub purposes: Vec<String>,
    /// Whether the owner is asked even within the rule.
    #[serde(default)]
    pub ask_owner: bool,
    /// A shorter retention for these fields, e.g. `30d`.
    #[serde(default)]
    pub max_retention: Option<String>,
    /// Only for these categories (all if empty).
    #[serde(default)]
    pub categories: Vec<String>,
}

fn none() -> String {
    "none".into()
}
fn yes() -> bool {
    true
}
fn one() -> u32 {
    1
}

impl From<&Policy> for PolicyDoc {
    fn from(policy: &Policy) -> Self {
        PolicyDoc {
            rules: policy
                .rules
                .iter()
                .map(|rule| RuleDoc {
                    path: rule.path.to_string(),
                    share: match rule.share {
                        Share::Raw => "raw",
                        Share::DerivedOnly => "derived-only",
                        Share::Never => "never",
                    }
                    .into(),
                    purposes: rule.purposes.iter().map(ToString::to_string).collect(),
                    ask_owner: rule.ask_owner,
                    max_retention: rule.max_retention.map(format_duration),
                    categories: rule.categories.iter().map(ToString::to_string).collect(),
                })
                .collect(),
            max_retention: format_duration(policy.max_retention),
            min_compensation: policy.min_compensation.to_string(),
            allow_onward_sharing: policy.allow_onward_sharing,
            max_contact: policy
                .max_contact
                .map(|c| format!("{}/{}", c.max_messages, format_duration(c.per_period)))
                .unwrap_or_else(none),
            counter: policy.counter,
            denied_businesses: policy.denied_businesses.iter().map(ToString::to_string).collect(),
            allowed_businesses: policy.allowed_businesses.iter().map(ToString::to_string).collect(),
            max_agreements_per_intent: policy.max_agreements_per_intent,
        }
    }
}

impl TryFrom<PolicyDoc> for Policy {
    type Error = BadInput;
    fn try_from(doc: PolicyDoc) -> Result<Policy, BadInput> {
        let key = |text: &String| {
            me2b_proto::identity::unhex(text)
                .and_then(|bytes| me2b_proto::identity::PublicKey::try_from(bytes.as_slice()).ok())
                .ok_or_else(|| bad(format!("`{text}` is not a business key (64 hex digits)")))
        };
        let rules = doc
            .rules
            .iter()
            .map(|rule| {
                Ok(FieldRule {
                    path: parse_path(&rule.path)?,
                    share: match rule.share.as_str() {
                        "raw" => Share::Raw,
                        "derived-only" => Share::DerivedOnly,
                        "never" => Share::Never,
                        other => {
                            return Err(bad(format!("share `{other}` is unknown; use raw, derived-only or never")));
                        }
                    },
                    purposes: rule.purposes.iter().map(|p| parse_purpose(p)).collect::<Result<BTreeSet<_>, _>>()?,
                    ask_owner: rule.ask_owner,
                    max_retention: rule.max_retention.as_deref().map(parse_duration).transpose()?,
                    categories: rule.categories.iter().map(|c| parse_category(c)).collect::<Result<_, _>>()?,
                })
            })
            .collect::<Result<_, BadInput>>()?;
        Ok(Policy {
            rules,
            max_retention: parse_duration(&doc.max_retention)?,
            min_compensation: parse_compensation(&doc.min_compensation)?,
            allow_onward_sharing: doc.allow_onward_sharing,
            max_contact: parse_contact(&doc.max_contact)?,
            denied_businesses: doc.denied_businesses.iter().map(key).collect::<Result<_, _>>()?,
            allowed_businesses: doc.allowed_businesses.iter().map(key).collect::<Result<_, _>>()?,
            counter: doc.counter,
            max_agreements_per_intent: doc.max_agreements_per_intent,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_forms_parse_and_bad_ones_say_what_to_write() {
        assert_eq!(parse_duration("30d").unwrap(), Duration::from_secs(30 * 86_400));
        assert_eq!(format_duration(Duration::from_secs(30 * 86_400)), "30d");
        assert!(parse_duration("30 days").unwrap_err().to_string().contains("e.g. 30d"));
        assert!(parse_duration("d").is_err());
        assert_eq!(parse_compensation("10% discount").unwrap(), Compensation::Discount { percent: 10 });
        assert_eq!(parse_compensation("5.50 EUR").unwrap(), Compensation::Money(Money::new(550, "EUR").unwrap()));
        assert_eq!(parse_compensation("free delivery").unwrap(), Compensation::Service("free delivery".into()));
        assert!(parse_compensation("150% discount").is_err());
        for compensation in [
            Compensation::None,
            Compensation::Discount { percent: 10 },
            Compensation::Money(Money::new(550, "EUR").unwrap()),
            Compensation::Service("free delivery".into()),
        ] {
            assert_eq!(parse_compensation(&compensation.to_string()).unwrap(), compensation);
        }
        assert_eq!(parse_contact("1/30d").unwrap().unwrap().max_messages, 1);
        assert!(parse_contact("0/30d").is_err());
        assert!(matches!(parse_use("subscription:1d").unwrap(), Use::Subscription { .. }));
        assert!(parse_use("forever").is_err());
        let trigger = parse_use("trigger:activity.running_km>=600:replacement-due").unwrap();
        assert!(matches!(trigger, Use::Trigger { ref event, .. } if event == "replacement-due"));
        assert!(parse_use("trigger:activity.running_km:x").is_err());
        let optional = parse_field("activity.running_km:optional").unwrap();
        assert!(!optional.required);
        assert!(parse_field("Body Size").unwrap_err().to_string().contains("field path"));
        assert!(parse_purpose("selling").unwrap_err().to_string().contains("personalised-offers"));
    }

    #[test]
    fn values_and_policies_round_trip_through_json() {
        for json in [json!(44.0), json!(true), json!("1990-05-17"), json!("Ada"), json!([{"at_ms": 5, "value": 12.5}])]
        {
            assert_eq!(value_to_json(&value_from_json(&json).unwrap()), json);
        }
        assert!(value_from_json(&json!({"a": 1})).is_err());
        let policy = Policy::ask_first();
        let doc = PolicyDoc::from(&policy);
        assert_eq!(Policy::try_from(doc).unwrap(), policy);
    }
}
