//! The documents people write: the terms of a campaign or catalog item ([`TermsDoc`]) and a
//! person's policy ([`PolicyDoc`]), as serde structs of the text forms (`30d`, `10% discount`,
//! `1/30d`, `body.shoe_size_eu:optional`). A file (TOML), the local API (JSON) and a simulator
//! scenario all read the same documents, so a rule is written once; each field is parsed by
//! its type's `FromStr` and written by its `Display`.
//!
//! With the `openapi` feature the documents also describe themselves for the API's OpenAPI
//! document (utoipa); the protocol itself does not need it.

use crate::decode::TextError;
use crate::policy::{BusinessPolicy, FieldRule, Policy};
use crate::terms::{Terms, format_contact, parse_contact};
use crate::time::{Timestamp, format_duration, parse_duration};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// Why a document could not become a domain value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DocumentError {
    /// A field's text form is wrong.
    #[error(transparent)]
    Text(#[from] TextError),
    /// The document as a whole is not acceptable.
    #[error("{0}")]
    Invalid(&'static str),
}

/// Terms as written in a campaign, a catalog item or a scenario file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TermsDoc {
    /// `PATH`, `PATH:optional` or `PATH:PREDICATE`, e.g. `profile.birthdate:age >= 18`.
    pub fields: Vec<String>,
    /// E.g. `personalised-offers`.
    pub purpose: String,
    /// E.g. `30d`.
    pub retention: String,
    /// `once`, `subscription:INTERVAL` or `trigger:PATH>=NUMBER:EVENT`.
    #[serde(rename = "use", default = "once")]
    pub usage: String,
    /// E.g. `10% discount`, `5 EUR`, `none`.
    #[serde(default)]
    pub compensation: Option<String>,
    /// Offers the business may push, e.g. `1/30d` (default none).
    #[serde(default)]
    pub contact: Option<String>,
    /// Whose law applies (default EU).
    #[serde(default)]
    pub jurisdiction: Option<String>,
}

fn once() -> String {
    "once".into()
}

impl TermsDoc {
    /// The terms, offered until `expires_at`.
    pub fn terms(&self, expires_at: Timestamp) -> Result<Terms, DocumentError> {
        if self.fields.is_empty() {
            return Err(DocumentError::Invalid("terms ask for at least one field (--field PATH)"));
        }
        Ok(Terms {
            fields: self.fields.iter().map(|f| f.parse()).collect::<Result<_, _>>()?,
            purpose: self.purpose.parse()?,
            retention: parse_duration(&self.retention)?,
            usage: self.usage.parse()?,
            onward_sharing: false,
            compensation: self.compensation.as_deref().unwrap_or("none").parse()?,
            contact: parse_contact(self.contact.as_deref().unwrap_or("none"))?,
            jurisdiction: self.jurisdiction.clone().unwrap_or_else(|| "EU".into()),
            expires_at,
        })
    }
}

impl From<&Terms> for TermsDoc {
    fn from(terms: &Terms) -> Self {
        TermsDoc {
            fields: terms.fields.iter().map(ToString::to_string).collect(),
            purpose: terms.purpose.to_string(),
            retention: format_duration(terms.retention),
            usage: terms.usage.to_string(),
            compensation: Some(terms.compensation.to_string()),
            contact: Some(format_contact(terms.contact.as_ref())),
            jurisdiction: Some(terms.jurisdiction.clone()),
        }
    }
}

/// A person's policy as a document (JSON in the API; the CLI also reads it from TOML).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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

impl From<&FieldRule> for RuleDoc {
    fn from(rule: &FieldRule) -> Self {
        RuleDoc {
            path: rule.path.to_string(),
            share: rule.share.to_string(),
            purposes: rule.purposes.iter().map(ToString::to_string).collect(),
            ask_owner: rule.ask_owner,
            max_retention: rule.max_retention.map(format_duration),
            categories: rule.categories.iter().map(ToString::to_string).collect(),
        }
    }
}

impl TryFrom<&RuleDoc> for FieldRule {
    type Error = TextError;
    fn try_from(rule: &RuleDoc) -> Result<FieldRule, TextError> {
        Ok(FieldRule {
            path: rule.path.parse()?,
            share: rule.share.parse()?,
            purposes: rule.purposes.iter().map(|p| p.parse()).collect::<Result<BTreeSet<_>, _>>()?,
            ask_owner: rule.ask_owner,
            max_retention: rule.max_retention.as_deref().map(parse_duration).transpose()?,
            categories: rule.categories.iter().map(|c| c.parse()).collect::<Result<_, _>>()?,
        })
    }
}

impl From<&Policy> for PolicyDoc {
    fn from(policy: &Policy) -> Self {
        PolicyDoc {
            rules: policy.rules.iter().map(RuleDoc::from).collect(),
            max_retention: format_duration(policy.max_retention),
            min_compensation: policy.min_compensation.to_string(),
            allow_onward_sharing: policy.allow_onward_sharing,
            max_contact: format_contact(policy.max_contact.as_ref()),
            counter: policy.counter,
            denied_businesses: policy.denied_businesses.iter().map(ToString::to_string).collect(),
            allowed_businesses: policy.allowed_businesses.iter().map(ToString::to_string).collect(),
            max_agreements_per_intent: policy.max_agreements_per_intent,
        }
    }
}

impl TryFrom<PolicyDoc> for Policy {
    type Error = TextError;
    fn try_from(doc: PolicyDoc) -> Result<Policy, TextError> {
        Ok(Policy {
            rules: doc.rules.iter().map(FieldRule::try_from).collect::<Result<_, _>>()?,
            max_retention: parse_duration(&doc.max_retention)?,
            min_compensation: doc.min_compensation.parse()?,
            allow_onward_sharing: doc.allow_onward_sharing,
            max_contact: parse_contact(&doc.max_contact)?,
            denied_businesses: doc.denied_businesses.iter().map(|k| k.parse()).collect::<Result<_, _>>()?,
            allowed_businesses: doc.allowed_businesses.iter().map(|k| k.parse()).collect::<Result<_, _>>()?,
            counter: doc.counter,
            max_agreements_per_intent: doc.max_agreements_per_intent,
        })
    }
}

/// A business's policy as a document: its limits on what it agrees to in a counter.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct BusinessPolicyDoc {
    /// Whether changed terms are considered at all.
    #[serde(default = "yes")]
    pub accept_counters: bool,
    /// The most compensation agreed in a counter, e.g. `15% discount` or `5 EUR`; absent: no
    /// more than each campaign itself offers. What cannot be compared with it is declined.
    #[serde(default)]
    pub max_compensation: Option<String>,
    /// The shortest retention that is useful, e.g. `1d`.
    #[serde(default = "day")]
    pub min_retention: String,
    /// Whether a derived fact may stand in for a required raw value.
    #[serde(default)]
    pub derived_for_raw: bool,
}

fn day() -> String {
    "1d".into()
}

impl From<&BusinessPolicy> for BusinessPolicyDoc {
    fn from(policy: &BusinessPolicy) -> Self {
        BusinessPolicyDoc {
            accept_counters: policy.accept_counters,
            max_compensation: policy.max_compensation.as_ref().map(ToString::to_string),
            min_retention: format_duration(policy.min_retention),
            derived_for_raw: policy.derived_for_raw,
        }
    }
}

impl TryFrom<BusinessPolicyDoc> for BusinessPolicy {
    type Error = TextError;
    fn try_from(doc: BusinessPolicyDoc) -> Result<BusinessPolicy, TextError> {
        Ok(BusinessPolicy {
            accept_counters: doc.accept_counters,
            max_compensation: doc.max_compensation.as_deref().map(str::parse).transpose()?,
            min_retention: parse_duration(&doc.min_retention)?,
            derived_for_raw: doc.derived_for_raw,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_round_trip_through_their_document() {
        let policy = Policy::ask_first();
        assert_eq!(Policy::try_from(PolicyDoc::from(&policy)), Ok(policy));
        let business = BusinessPolicy {
            max_compensation: Some(crate::terms::Compensation::Discount { percent: 15 }),
            ..BusinessPolicy::default()
        };
        assert_eq!(BusinessPolicy::try_from(BusinessPolicyDoc::from(&business)), Ok(business.clone()));
        assert_eq!(
            BusinessPolicy::try_from(BusinessPolicyDoc::from(&BusinessPolicy::default())),
            Ok(BusinessPolicy::default())
        );
    }

    #[test]
    fn terms_need_a_field_and_say_what_is_wrong() {
        let doc = TermsDoc {
            fields: vec![],
            purpose: "personalised-offers".into(),
            retention: "30d".into(),
            usage: "once".into(),
            compensation: None,
            contact: None,
            jurisdiction: None,
        };
        assert!(doc.terms(Timestamp::EPOCH).unwrap_err().to_string().contains("at least one field"));
        let doc = TermsDoc { fields: vec!["body.shoe_size_eu".into()], retention: "30 days".into(), ..doc };
        assert!(doc.terms(Timestamp::EPOCH).unwrap_err().to_string().contains("e.g. 30d"));
    }
}
