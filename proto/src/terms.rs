//! Terms: which fields, for what purpose, for how long, used how, for what in return, and
//! whether the business may contact the person. A request asks for terms; an agreement grants
//! them. A value of [`Terms`] is always valid (see [`Terms::try_from`]).

use crate::decode::{self, DecodeError, TextError};
use crate::limits::{MAX_FIELDS, MAX_RETENTION_MS};
use crate::predicate::Predicate;
use crate::time::{Timestamp, duration_ms, format_duration, parse_duration};
use crate::vocab::{FieldPath, Purpose};
use crate::wire;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// How a field is disclosed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Disclosure {
    /// The value itself.
    Raw,
    /// Only whether the predicate holds.
    Derived(Predicate),
}

/// One field a request asks for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldRequest {
    /// The vault path.
    pub path: FieldPath,
    /// Whether the request is worthless to the business without it.
    pub required: bool,
    /// Raw value or derived fact.
    pub disclosure: Disclosure,
}

impl FieldRequest {
    /// A required raw field.
    pub fn raw(path: FieldPath) -> Self {
        FieldRequest { path, required: true, disclosure: Disclosure::Raw }
    }

    /// A required derived fact.
    pub fn derived(path: FieldPath, predicate: Predicate) -> Self {
        FieldRequest { path, required: true, disclosure: Disclosure::Derived(predicate) }
    }

    /// The same field, optional.
    pub fn optional(mut self) -> Self {
        self.required = false;
        self
    }
}

/// `body.shoe_size_eu` (a required raw value), `activity.running_km:optional`, or a derived
/// fact: `profile.birthdate:age >= 18`, `profile.birthdate:age >= 18:optional`.
impl fmt::Display for FieldRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path)?;
        if let Disclosure::Derived(predicate) = &self.disclosure {
            write!(f, ":{predicate}")?;
        }
        if !self.required {
            f.write_str(":optional")?;
        }
        Ok(())
    }
}

impl FromStr for FieldRequest {
    type Err = TextError;
    fn from_str(text: &str) -> Result<Self, TextError> {
        let mut parts: Vec<&str> = text.split(':').collect();
        let optional = parts.len() > 1 && parts.last() == Some(&"optional");
        if optional {
            parts.pop();
        }
        let path: FieldPath = parts[0].trim().parse()?;
        let field = match parts.as_slice() {
            [_] => FieldRequest::raw(path),
            [_, predicate] => FieldRequest::derived(path, predicate.parse()?),
            _ => {
                return Err(TextError::new(
                    text,
                    "a field",
                    "write PATH, PATH:optional or PATH:PREDICATE, e.g. profile.birthdate:age >= 18",
                ));
            }
        };
        Ok(if optional { field.optional() } else { field })
    }
}

/// How agreed data is used over time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Use {
    /// Sent once, after the agreement is finalized.
    OneTime,
    /// Sent once, then again whenever a field changes, at most once per `min_interval`.
    Subscription {
        /// Shortest time between two updates.
        min_interval: Duration,
    },
    /// Nothing is sent but `event`, when `predicate` over `path` becomes true. It fires once;
    /// with `rearm`, it may fire again once `rearm` has held (hysteresis: fire at `> 8`,
    /// re-arm at `< 7`, so that a value hovering at the threshold does not fire each time).
    Trigger {
        /// The record watched; its value never leaves the node.
        path: FieldPath,
        /// The condition.
        predicate: Predicate,
        /// What the business learns, e.g. `replacement-due`.
        event: String,
        /// When the trigger may fire again; never if absent (boxed: most triggers have none).
        rearm: Option<Box<Predicate>>,
    },
}

/// `once`, `subscription:1d` (updates at most once a day), or a trigger:
/// `trigger:PATH:PREDICATE:EVENT`, e.g.
/// `trigger:activity.running.distance_km:sum tagged pegasus-41 >= 700:replacement-due`, with
/// an optional `:rearm PREDICATE` after it; the short form
/// `trigger:activity.running_km>=600:replacement-due` means the whole series sums to 600.
impl fmt::Display for Use {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Use::OneTime => f.write_str("once"),
            Use::Subscription { min_interval } => write!(f, "subscription:{}", format_duration(*min_interval)),
            Use::Trigger { path, predicate, event, rearm } => {
                if let Some(threshold) = whole_sum_at_least(predicate) {
                    write!(f, "trigger:{path}>={threshold}:{event}")?;
                } else {
                    write!(f, "trigger:{path}:{predicate}:{event}")?;
                }
                match rearm {
                    Some(rearm) => write!(f, ":rearm {rearm}"),
                    None => Ok(()),
                }
            }
        }
    }
}

/// The threshold of `sum >= N` over the whole series, the predicate of the short trigger form.
fn whole_sum_at_least(predicate: &Predicate) -> Option<f64> {
    match predicate {
        Predicate::Aggregate {
            function: crate::predicate::Aggregation::Sum,
            window: crate::predicate::Window::All,
            tag: None,
            op: crate::predicate::CompareOp::GreaterOrEqual,
            operand,
        } => Some(*operand),
        _ => None,
    }
}

impl FromStr for Use {
    type Err = TextError;
    fn from_str(text: &str) -> Result<Self, TextError> {
        let invalid = || {
            TextError::new(
                text,
                "a use",
                "write `once`, `subscription:INTERVAL` (e.g. subscription:1d), `trigger:PATH>=NUMBER:EVENT` \
                 (e.g. trigger:activity.running_km>=600:replacement-due) or `trigger:PATH:PREDICATE:EVENT[:rearm PREDICATE]` \
                 (e.g. trigger:health.hba1c_percent:max in last 90d > 8:high:rearm max in last 90d < 7)",
            )
        };
        match text.split_once(':') {
            None if text == "once" => Ok(Use::OneTime),
            None if text == "subscription" => Ok(Use::Subscription { min_interval: Duration::from_secs(86_400) }),
            Some(("subscription", interval)) => Ok(Use::Subscription { min_interval: parse_duration(interval)? }),
            Some(("trigger", rest)) => {
                // No predicate holds a `:` (see `Predicate::from_str`), so the parts split on it.
                let mut parts = rest.split(':');
                let head = parts.next().ok_or_else(invalid)?;
                let (path, predicate) = match head.split_once(">=") {
                    Some((path, threshold)) => {
                        let threshold: f64 = threshold.trim().parse().map_err(|_| invalid())?;
                        (path, Predicate::sum_since(Timestamp::EPOCH, threshold))
                    }
                    None => (head, parts.next().ok_or_else(invalid)?.parse()?),
                };
                let event = parts.next().ok_or_else(invalid)?.trim();
                let rearm = match parts.next() {
                    None => None,
                    Some(rearm) => Some(Box::new(rearm.trim().strip_prefix("rearm ").ok_or_else(invalid)?.parse()?)),
                };
                if !crate::value::is_token(event) || parts.next().is_some() {
                    return Err(invalid());
                }
                Ok(Use::Trigger { path: path.trim().parse()?, predicate, event: event.to_owned(), rearm })
            }
            _ => Err(invalid()),
        }
    }
}

/// An amount of money in minor units (cents) of a currency.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Money {
    /// Minor units, e.g. cents.
    pub amount_minor: u64,
    /// ISO 4217 code, three upper-case letters.
    pub currency: String,
}

impl Money {
    /// Money, if `currency` looks like an ISO 4217 code.
    pub fn new(amount_minor: u64, currency: &str) -> Result<Money, DecodeError> {
        if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(DecodeError::Invalid {
                field: "currency",
                reason: "expected three upper-case letters (ISO 4217)",
            });
        }
        Ok(Money { amount_minor, currency: currency.to_owned() })
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:02} {}", self.amount_minor / 100, self.amount_minor % 100, self.currency)
    }
}

/// `120 EUR` or `119.90 EUR`.
impl FromStr for Money {
    type Err = TextError;
    fn from_str(text: &str) -> Result<Self, TextError> {
        let invalid = || TextError::new(text, "an amount", "write e.g. `120 EUR` or `119.90 EUR`");
        let (amount, currency) = text.trim().split_once(' ').ok_or_else(invalid)?;
        let (whole, cents) = match amount.split_once('.') {
            Some((whole, cents)) if cents.len() == 2 => (whole, cents.parse::<u64>().map_err(|_| invalid())?),
            Some(_) => return Err(invalid()),
            None => (amount, 0),
        };
        let whole: u64 = whole.parse().map_err(|_| invalid())?;
        let minor = whole.checked_mul(100).and_then(|w| w.checked_add(cents)).ok_or_else(invalid)?;
        Money::new(minor, currency.trim()).map_err(|error| TextError::new(text, "an amount", error.to_string()))
    }
}

/// What the person gets in return.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Compensation {
    /// Nothing.
    None,
    /// A discount in percent, 1 to 100.
    Discount {
        /// Percent off.
        percent: u8,
    },
    /// A payment.
    Money(Money),
    /// A service, described.
    Service(String),
}

impl Compensation {
    /// How `self` compares with `other` for the person, when that is not guesswork: nothing is
    /// less than anything else; discounts compare with discounts, money with money in the
    /// same currency, and a service only with the very same service. Different kinds, two
    /// currencies or two services compare as `None`: a person's agent takes that to the owner,
    /// a business's declines it.
    pub fn compare(&self, other: &Compensation) -> Option<std::cmp::Ordering> {
        use std::cmp::Ordering;
        match (self, other) {
            (Compensation::None, Compensation::None) => Some(Ordering::Equal),
            (Compensation::None, _) => Some(Ordering::Less),
            (_, Compensation::None) => Some(Ordering::Greater),
            (Compensation::Discount { percent: a }, Compensation::Discount { percent: b }) => Some(a.cmp(b)),
            (Compensation::Money(a), Compensation::Money(b)) if a.currency == b.currency => {
                Some(a.amount_minor.cmp(&b.amount_minor))
            }
            (Compensation::Service(a), Compensation::Service(b)) if a == b => Some(Ordering::Equal),
            _ => None,
        }
    }

    /// Whether `self` is known to be worth at least `floor` ([`Compensation::compare`]).
    pub fn meets(&self, floor: &Compensation) -> bool {
        matches!(self.compare(floor), Some(std::cmp::Ordering::Greater | std::cmp::Ordering::Equal))
    }

    /// A number to rank offers of the same kind by; higher is better for the person.
    pub fn rank(&self) -> u64 {
        match self {
            Compensation::None => 0,
            Compensation::Discount { percent } => u64::from(*percent) * 100,
            Compensation::Money(money) => money.amount_minor,
            Compensation::Service(_) => 1,
        }
    }
}

impl fmt::Display for Compensation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Compensation::None => f.write_str("nothing"),
            Compensation::Discount { percent } => write!(f, "{percent}% discount"),
            Compensation::Money(money) => write!(f, "{money}"),
            Compensation::Service(text) => write!(f, "service: {text}"),
        }
    }
}

/// `none` (or `nothing`), `10% discount`, `5 EUR` (a payment), or a service: `service: TEXT`
/// or any other text. Reads what `Display` writes.
impl FromStr for Compensation {
    type Err = TextError;
    fn from_str(text: &str) -> Result<Self, TextError> {
        let trimmed = text.trim();
        if trimmed.is_empty() || trimmed == "none" || trimmed == "nothing" {
            return Ok(Compensation::None);
        }
        if let Some(service) = trimmed.strip_prefix("service:") {
            return Ok(Compensation::Service(service.trim().to_owned()));
        }
        if let Some(percent) = trimmed.strip_suffix("% discount").or_else(|| trimmed.strip_suffix('%')) {
            let out_of_range = || TextError::new(text, "a discount", "a discount is 1% to 100%");
            let percent: u8 = percent.trim().parse().map_err(|_| out_of_range())?;
            if !(1..=100).contains(&percent) {
                return Err(out_of_range());
            }
            return Ok(Compensation::Discount { percent });
        }
        if trimmed.split(' ').next().is_some_and(|first| first.parse::<f64>().is_ok()) {
            return trimmed.parse().map(Compensation::Money);
        }
        Ok(Compensation::Service(trimmed.to_owned()))
    }
}

/// Permission to push personal offers: at most `max_messages` per `per_period`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactPermission {
    /// Most offers per period, at least 1.
    pub max_messages: u32,
    /// The period, at least one second.
    pub per_period: Duration,
}

impl ContactPermission {
    /// Whether `self` allows no more contact than `bound`: a rate no higher.
    pub fn within(&self, bound: &ContactPermission) -> bool {
        // max_messages / per_period <= bound.max_messages / bound.per_period, in integers.
        u128::from(self.max_messages) * bound.per_period.as_millis()
            <= u128::from(bound.max_messages) * self.per_period.as_millis()
    }
}

/// `1/30d`: at most one offer per 30 days.
impl fmt::Display for ContactPermission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.max_messages, format_duration(self.per_period))
    }
}

impl FromStr for ContactPermission {
    type Err = TextError;
    fn from_str(text: &str) -> Result<Self, TextError> {
        let invalid = || TextError::new(text, "a contact limit", "write MESSAGES/PERIOD, e.g. 1/30d, or none");
        let (count, period) = text.split_once('/').ok_or_else(invalid)?;
        let max_messages: u32 = count.trim().parse().map_err(|_| invalid())?;
        let per_period = parse_duration(period)?;
        if max_messages == 0 || per_period < Duration::from_secs(1) {
            return Err(invalid());
        }
        Ok(ContactPermission { max_messages, per_period })
    }
}

/// Reads a contact limit that may be `none`: `1/30d` or `none`.
pub fn parse_contact(text: &str) -> Result<Option<ContactPermission>, TextError> {
    if text.trim() == "none" { Ok(None) } else { text.parse().map(Some) }
}

/// Writes a contact limit the way [`parse_contact`] reads it.
pub fn format_contact(contact: Option<&ContactPermission>) -> String {
    contact.map_or_else(|| "none".to_owned(), ToString::to_string)
}

/// Terms of data sharing. Paths are unique; there is at least one field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Terms {
    /// Fields asked for, each path at most once.
    pub fields: Vec<FieldRequest>,
    /// Why.
    pub purpose: Purpose,
    /// How long the business may keep the data after the agreement is finalized.
    pub retention: Duration,
    /// How data is sent over time.
    pub usage: Use,
    /// Whether the business may pass the data on.
    pub onward_sharing: bool,
    /// What the person gets.
    pub compensation: Compensation,
    /// Whether and how often the business may push offers.
    pub contact: Option<ContactPermission>,
    /// The jurisdiction whose law governs the agreement (ISO 3166 code or `EU`).
    pub jurisdiction: String,
    /// The terms must be agreed before this time.
    pub expires_at: Timestamp,
}

impl Terms {
    /// The request for `path`, if the terms name it.
    pub fn field(&self, path: &FieldPath) -> Option<&FieldRequest> {
        self.fields.iter().find(|field| &field.path == path)
    }

    /// Every path whose value or derived fact the terms let leave the node, including a
    /// trigger's path.
    pub fn paths(&self) -> BTreeSet<&FieldPath> {
        let mut paths: BTreeSet<&FieldPath> = self.fields.iter().map(|f| &f.path).collect();
        if let Use::Trigger { path, .. } = &self.usage {
            paths.insert(path);
        }
        paths
    }

    /// Whether `self` discloses no more than `bound`: no field `bound` lacks, no raw value
    /// where `bound` has a derived fact, no other question, no longer retention, no onward
    /// sharing or contact beyond `bound`'s, the same purpose and use. Compensation is not a
    /// disclosure and is ignored.
    pub fn is_within(&self, bound: &Terms) -> bool {
        let fields_within = self.fields.iter().all(|field| {
            bound.field(&field.path).is_some_and(|allowed| match (&field.disclosure, &allowed.disclosure) {
                (_, Disclosure::Raw) => true,
                (Disclosure::Derived(a), Disclosure::Derived(b)) => a == b,
                (Disclosure::Raw, Disclosure::Derived(_)) => false,
            })
        });
        let contact_within = match (&self.contact, &bound.contact) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(a), Some(b)) => a.within(b),
        };
        let usage_within = match (&self.usage, &bound.usage) {
            (Use::Subscription { min_interval: a }, Use::Subscription { min_interval: b }) => a >= b,
            (a, b) => a == b,
        };
        fields_within
            && contact_within
            && usage_within
            && self.purpose == bound.purpose
            && self.retention <= bound.retention
            && (!self.onward_sharing || bound.onward_sharing)
    }

    /// The terms as wire bytes' source.
    pub fn to_wire(&self) -> wire::Terms {
        wire::Terms::from(self)
    }
}

fn field_request(field: wire::FieldRequest) -> Result<FieldRequest, DecodeError> {
    use wire::field_request::Disclosure as D;
    let disclosure = match decode::required("field.disclosure", field.disclosure)? {
        D::Raw(_) => Disclosure::Raw,
        D::Derived(predicate) => Disclosure::Derived(predicate.try_into()?),
    };
    Ok(FieldRequest { path: field.path.try_into()?, required: field.required, disclosure })
}

fn usage(usage: wire::Use) -> Result<Use, DecodeError> {
    use wire::r#use::Kind;
    Ok(match decode::required("use", usage.kind)? {
        Kind::OneTime(_) => Use::OneTime,
        Kind::Subscription(s) => {
            if s.min_interval_ms < 1000 {
                return Err(DecodeError::Invalid {
                    field: "use.subscription.min_interval_ms",
                    reason: "must be at least one second",
                });
            }
            Use::Subscription { min_interval: Duration::from_millis(s.min_interval_ms) }
        }
        Kind::Trigger(t) => {
            let event = crate::value::token("use.trigger.event", t.event)?;
            Use::Trigger {
                path: t.path.try_into()?,
                predicate: decode::required("use.trigger.predicate", t.predicate)?.try_into()?,
                event,
                rearm: t.rearm.map(Predicate::try_from).transpose()?.map(Box::new),
            }
        }
    })
}

impl TryFrom<wire::Money> for Money {
    type Error = DecodeError;
    fn try_from(money: wire::Money) -> Result<Money, DecodeError> {
        Money::new(money.amount_minor, &money.currency)
    }
}

impl From<&Money> for wire::Money {
    fn from(money: &Money) -> wire::Money {
        wire::Money { amount_minor: money.amount_minor, currency: money.currency.clone() }
    }
}

fn compensation(compensation: wire::Compensation) -> Result<Compensation, DecodeError> {
    use wire::compensation::Kind;
    Ok(match decode::required("compensation", compensation.kind)? {
        Kind::None(_) => Compensation::None,
        Kind::Discount(d) => match u8::try_from(d.percent) {
            Ok(percent @ 1..=100) => Compensation::Discount { percent },
            _ => {
                return Err(DecodeError::Invalid {
                    field: "compensation.discount.percent",
                    reason: "must be 1 to 100",
                });
            }
        },
        Kind::Money(m) => Compensation::Money(m.try_into()?),
        Kind::Service(s) => Compensation::Service(decode::text("compensation.service", s.description)?),
    })
}

impl TryFrom<wire::Terms> for Terms {
    type Error = DecodeError;
    fn try_from(terms: wire::Terms) -> Result<Terms, DecodeError> {
        decode::bounded("terms.fields", &terms.fields, MAX_FIELDS)?;
        if terms.fields.is_empty() {
            return Err(DecodeError::Invalid { field: "terms.fields", reason: "must name at least one field" });
        }
        let fields = terms.fields.into_iter().map(field_request).collect::<Result<Vec<_>, _>>()?;
        let unique: BTreeSet<&FieldPath> = fields.iter().map(|f| &f.path).collect();
        if unique.len() != fields.len() {
            return Err(DecodeError::Invalid { field: "terms.fields", reason: "a path appears twice" });
        }
        if terms.retention_ms == 0 || terms.retention_ms > MAX_RETENTION_MS {
            return Err(DecodeError::Invalid {
                field: "terms.retention_ms",
                reason: "must be between 1 ms and 10 years",
            });
        }
        let contact = match terms.contact {
            None => None,
            Some(c) if c.max_messages >= 1 && c.per_period_ms >= 1000 => Some(ContactPermission {
                max_messages: c.max_messages,
                per_period: Duration::from_millis(c.per_period_ms),
            }),
            Some(_) => {
                return Err(DecodeError::Invalid {
                    field: "terms.contact",
                    reason: "needs at least one message per period of at least one second",
                });
            }
        };
        let jurisdiction = terms.jurisdiction;
        if !(2..=8).contains(&jurisdiction.len()) || !jurisdiction.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(DecodeError::Invalid {
                field: "terms.jurisdiction",
                reason: "expected an upper-case code such as EU or DE",
            });
        }
        Ok(Terms {
            fields,
            purpose: Purpose::try_from(terms.purpose)?,
            retention: Duration::from_millis(terms.retention_ms),
            usage: usage(decode::required("terms.use", terms.r#use)?)?,
            onward_sharing: terms.onward_sharing,
            compensation: compensation(decode::required("terms.compensation", terms.compensation)?)?,
            contact,
            jurisdiction,
            expires_at: Timestamp::from_millis(terms.expires_at_ms),
        })
    }
}

impl From<&FieldRequest> for wire::FieldRequest {
    fn from(field: &FieldRequest) -> wire::FieldRequest {
        use wire::field_request::Disclosure as D;
        wire::FieldRequest {
            path: field.path.to_string(),
            required: field.required,
            disclosure: Some(match &field.disclosure {
                Disclosure::Raw => D::Raw(wire::Raw {}),
                Disclosure::Derived(predicate) => D::Derived(predicate.into()),
            }),
        }
    }
}

impl From<&Terms> for wire::Terms {
    fn from(terms: &Terms) -> wire::Terms {
        use wire::compensation::Kind as C;
        use wire::r#use::Kind as U;
        let usage = match &terms.usage {
            Use::OneTime => U::OneTime(wire::OneTime {}),
            Use::Subscription { min_interval } => {
                U::Subscription(wire::Subscription { min_interval_ms: duration_ms(*min_interval) })
            }
            Use::Trigger { path, predicate, event, rearm } => U::Trigger(wire::Trigger {
                path: path.to_string(),
                predicate: Some(predicate.into()),
                event: event.clone(),
                rearm: rearm.as_deref().map(wire::Predicate::from),
            }),
        };
        let compensation = match &terms.compensation {
            Compensation::None => C::None(wire::NoCompensation {}),
            Compensation::Discount { percent } => C::Discount(wire::Discount { percent: u32::from(*percent) }),
            Compensation::Money(money) => C::Money(money.into()),
            Compensation::Service(text) => C::Service(wire::ServiceCompensation { description: text.clone() }),
        };
        wire::Terms {
            fields: terms.fields.iter().map(Into::into).collect(),
            purpose: wire::Purpose::from(terms.purpose) as i32,
            retention_ms: duration_ms(terms.retention),
            r#use: Some(wire::Use { kind: Some(usage) }),
            onward_sharing: terms.onward_sharing,
            compensation: Some(wire::Compensation { kind: Some(compensation) }),
            contact: terms.contact.map(|c| wire::ContactPermission {
                max_messages: c.max_messages,
                per_period_ms: duration_ms(c.per_period),
            }),
            jurisdiction: terms.jurisdiction.clone(),
            expires_at_ms: terms.expires_at.as_millis(),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Terms a shoe maker would ask for.
    pub(crate) fn shoe_terms() -> Terms {
        Terms {
            fields: vec![
                FieldRequest::raw("body.shoe_size_eu".parse().unwrap()),
                FieldRequest::derived(
                    "activity.running_km".parse().unwrap(),
                    Predicate::sum_since(Timestamp::EPOCH, 600.0),
                )
                .optional(),
            ],
            purpose: Purpose::PersonalisedOffers,
            retention: Duration::from_secs(30 * 86_400),
            usage: Use::OneTime,
            onward_sharing: false,
            compensation: Compensation::Discount { percent: 10 },
            contact: Some(ContactPermission { max_messages: 2, per_period: Duration::from_secs(30 * 86_400) }),
            jurisdiction: "EU".into(),
            expires_at: Timestamp::from_millis(10_000_000),
        }
    }

    fn round_trip(terms: &Terms) -> Result<Terms, DecodeError> {
        Terms::try_from(wire::Terms::from(terms))
    }

    #[test]
    fn terms_round_trip() {
        let terms = shoe_terms();
        assert_eq!(round_trip(&terms), Ok(terms.clone()));
        let mut trigger = terms;
        trigger.usage = Use::Trigger {
            path: "activity.running_km".parse().unwrap(),
            predicate: Predicate::sum_since(Timestamp::EPOCH, 600.0),
            event: "replacement-due".into(),
            rearm: Some(Box::new("sum < 1".parse().unwrap())),
        };
        trigger.compensation = Compensation::Money(Money::new(500, "EUR").unwrap());
        assert_eq!(round_trip(&trigger), Ok(trigger));
    }

    #[test]
    fn invalid_terms_are_rejected() {
        let mut no_fields = shoe_terms();
        no_fields.fields.clear();
        assert!(round_trip(&no_fields).is_err());

        let mut twice = shoe_terms();
        twice.fields.push(twice.fields[0].clone());
        assert!(round_trip(&twice).is_err());

        let mut too_many = shoe_terms();
        too_many.fields = (0..=MAX_FIELDS).map(|i| FieldRequest::raw(format!("x.f{i}").parse().unwrap())).collect();
        assert!(matches!(round_trip(&too_many), Err(DecodeError::TooLong { .. })));

        let mut forever = shoe_terms();
        forever.retention = Duration::from_millis(MAX_RETENTION_MS + 1);
        assert!(round_trip(&forever).is_err());

        let mut bad_currency = wire::Terms::from(&shoe_terms());
        bad_currency.compensation = Some(wire::Compensation {
            kind: Some(wire::compensation::Kind::Money(wire::Money { amount_minor: 1, currency: "euro".into() })),
        });
        assert!(Terms::try_from(bad_currency).is_err());

        let mut unknown_purpose = wire::Terms::from(&shoe_terms());
        unknown_purpose.purpose = 77;
        assert_eq!(Terms::try_from(unknown_purpose), Err(DecodeError::UnknownEnum { field: "purpose", value: 77 }));

        let mut no_use = wire::Terms::from(&shoe_terms());
        no_use.r#use = None;
        assert_eq!(Terms::try_from(no_use), Err(DecodeError::Missing("terms.use")));

        let mut discount = wire::Terms::from(&shoe_terms());
        discount.compensation = Some(wire::Compensation {
            kind: Some(wire::compensation::Kind::Discount(wire::Discount { percent: 300 })),
        });
        assert!(Terms::try_from(discount).is_err());
    }

    #[test]
    fn within_detects_every_widening() {
        let base = shoe_terms();
        assert!(base.is_within(&base));

        let mut fewer = base.clone();
        fewer.fields.pop();
        assert!(fewer.is_within(&base));
        assert!(!base.is_within(&fewer), "an extra field widens");

        let mut raw = base.clone();
        raw.fields[1].disclosure = Disclosure::Raw;
        assert!(!raw.is_within(&base), "a raw value instead of a derived fact widens");
        assert!(base.is_within(&raw));

        let mut longer = base.clone();
        longer.retention *= 2;
        assert!(!longer.is_within(&base));

        let mut shared = base.clone();
        shared.onward_sharing = true;
        assert!(!shared.is_within(&base));

        let mut chatty = base.clone();
        chatty.contact = Some(ContactPermission { max_messages: 3, per_period: Duration::from_secs(30 * 86_400) });
        assert!(!chatty.is_within(&base));

        let mut other_purpose = base.clone();
        other_purpose.purpose = Purpose::Marketing;
        assert!(!other_purpose.is_within(&base));

        let mut richer = base.clone();
        richer.compensation = Compensation::Discount { percent: 50 };
        assert!(richer.is_within(&base), "compensation is not a disclosure");
    }

    #[test]
    fn compensation_floors() {
        let ten = Compensation::Discount { percent: 10 };
        assert!(ten.meets(&Compensation::None));
        assert!(ten.meets(&Compensation::Discount { percent: 5 }));
        assert!(!ten.meets(&Compensation::Discount { percent: 15 }));
        assert!(!ten.meets(&Compensation::Money(Money::new(1, "EUR").unwrap())));
        let eur = Compensation::Money(Money::new(500, "EUR").unwrap());
        assert!(!eur.meets(&Compensation::Money(Money::new(100, "USD").unwrap())));
        // Services are not compared by guesswork: only the very same service meets itself.
        let lunch = Compensation::Service("a free lunch".into());
        assert_eq!(lunch.compare(&Compensation::Service("a free lunch".into())), Some(std::cmp::Ordering::Equal));
        assert_eq!(lunch.compare(&Compensation::Service("a free car".into())), None);
        assert!(!lunch.meets(&Compensation::Service("a free car".into())));
        assert_eq!(ten.compare(&eur), None, "kinds differ");
        assert!(Compensation::None.compare(&lunch).is_some_and(std::cmp::Ordering::is_lt));
    }
}
