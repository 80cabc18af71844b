//! The protocol's messages as domain values, converted from and to their wire form. Every
//! conversion from the wire validates; a value here is always well-formed.

use crate::decode::{self, DecodeError, TextError};
use crate::identity::{AgreementId, IntentId, NegotiationId, OfferId, RequestId, Signature};
use crate::limits::{MAX_FIELDS, MAX_PACKAGE_ITEMS, MAX_SPEC_ENTRIES};
use crate::predicate::Predicate;
use crate::terms::{FieldRequest, Money, Terms};
use crate::time::Timestamp;
use crate::value::{Personal, Value};
use crate::vocab::{Category, FieldPath};
use crate::wire;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A business's broadcast request for data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataRequest {
    /// Its id.
    pub id: RequestId,
    /// Its category (and so its topic).
    pub category: Category,
    /// The business's display name.
    pub business_name: String,
    /// What it is about, for the person.
    pub description: String,
    /// The terms asked for.
    pub terms: Terms,
}

impl TryFrom<wire::DataRequest> for DataRequest {
    type Error = DecodeError;
    fn try_from(request: wire::DataRequest) -> Result<Self, DecodeError> {
        Ok(DataRequest {
            id: decode::key("request.id", &request.id)?,
            category: request.category.try_into()?,
            business_name: decode::text("request.business_name", request.business_name)?,
            description: decode::text("request.description", request.description)?,
            terms: decode::required("request.terms", request.terms)?.try_into()?,
        })
    }
}

impl From<&DataRequest> for wire::DataRequest {
    fn from(request: &DataRequest) -> Self {
        wire::DataRequest {
            id: request.id.to_bytes().to_vec(),
            category: request.category.to_string(),
            business_name: request.business_name.clone(),
            description: request.description.clone(),
            terms: Some((&request.terms).into()),
            // The engine attaches the business's signed profile (see `crate::profile`).
            profile: None,
        }
    }
}

/// A person's broadcast intent to buy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Intent {
    /// Its id.
    pub id: IntentId,
    /// Its category (and so its topic).
    pub category: Category,
    /// What is wanted, e.g. `size_eu = 44`. Keys are `[a-z0-9_]`, up to 32 bytes.
    pub spec: BTreeMap<String, String>,
    /// The most the person will pay.
    pub max_price: Option<Money>,
    /// Fields the person would share for a better offer.
    pub shares: Vec<FieldRequest>,
    /// When the intent lapses.
    pub expires_at: Timestamp,
}

impl TryFrom<wire::Intent> for Intent {
    type Error = DecodeError;
    fn try_from(intent: wire::Intent) -> Result<Self, DecodeError> {
        decode::bounded("intent.spec", &intent.spec, MAX_SPEC_ENTRIES)?;
        decode::bounded("intent.shares", &intent.shares, MAX_FIELDS)?;
        let mut spec = BTreeMap::new();
        for entry in intent.spec {
            let key_ok = (1..=32).contains(&entry.key.len())
                && entry.key.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
            if !key_ok || entry.value.len() > 64 || !crate::text::is_printable(&entry.value) {
                return Err(DecodeError::Invalid { field: "intent.spec", reason: "bad key or value" });
            }
            if spec.insert(entry.key, entry.value).is_some() {
                return Err(DecodeError::Invalid { field: "intent.spec", reason: "a key appears twice" });
            }
        }
        let shares = intent
            .shares
            .into_iter()
            .map(|field| {
                // A share is a field request; reuse the terms' conversion by wrapping it.
                let terms = wire::Terms {
                    fields: vec![field],
                    purpose: wire::Purpose::ServiceProvision as i32,
                    retention_ms: 1,
                    r#use: Some(wire::Use { kind: Some(wire::r#use::Kind::OneTime(wire::OneTime {})) }),
                    compensation: Some(wire::Compensation {
                        kind: Some(wire::compensation::Kind::None(wire::NoCompensation {})),
                    }),
                    jurisdiction: "EU".into(),
                    ..Default::default()
                };
                Terms::try_from(terms).map(|mut t| t.fields.remove(0))
            })
            .collect::<Result<_, _>>()?;
        Ok(Intent {
            id: decode::key("intent.id", &intent.id)?,
            category: intent.category.try_into()?,
            spec,
            max_price: intent.max_price.map(Money::try_from).transpose()?,
            shares,
            expires_at: Timestamp::from_millis(intent.expires_at_ms),
        })
    }
}

impl From<&Intent> for wire::Intent {
    fn from(intent: &Intent) -> Self {
        wire::Intent {
            id: intent.id.to_bytes().to_vec(),
            category: intent.category.to_string(),
            spec: intent
                .spec
                .iter()
                .map(|(key, value)| wire::SpecEntry { key: key.clone(), value: value.clone() })
                .collect(),
            max_price: intent.max_price.as_ref().map(Into::into),
            shares: intent.shares.iter().map(Into::into).collect(),
            expires_at_ms: intent.expires_at.as_millis(),
        }
    }
}

/// What a negotiation answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Context {
    /// A business's data request.
    Request(RequestId),
    /// A person's intent.
    Intent(IntentId),
}

/// `request:ID` or `intent:ID`.
impl std::fmt::Display for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Context::Request(id) => write!(f, "request:{id}"),
            Context::Intent(id) => write!(f, "intent:{id}"),
        }
    }
}

impl std::str::FromStr for Context {
    type Err = TextError;
    fn from_str(text: &str) -> Result<Self, TextError> {
        let invalid = || TextError::new(text, "a context", "write request:ID or intent:ID (32 hex digits)");
        match text.split_once(':') {
            Some(("request", id)) => id.parse().map(Context::Request).map_err(|_| invalid()),
            Some(("intent", id)) => id.parse().map(Context::Intent).map_err(|_| invalid()),
            _ => Err(invalid()),
        }
    }
}

impl TryFrom<wire::Context> for Context {
    type Error = DecodeError;
    fn try_from(context: wire::Context) -> Result<Self, DecodeError> {
        use wire::context::Kind;
        Ok(match decode::required("context", context.kind)? {
            Kind::RequestId(id) => Context::Request(decode::key("context.request_id", &id)?),
            Kind::IntentId(id) => Context::Intent(decode::key("context.intent_id", &id)?),
        })
    }
}

impl From<Context> for wire::Context {
    fn from(context: Context) -> Self {
        use wire::context::Kind;
        wire::Context {
            kind: Some(match context {
                Context::Request(id) => Kind::RequestId(id.to_bytes().to_vec()),
                Context::Intent(id) => Kind::IntentId(id.to_bytes().to_vec()),
            }),
        }
    }
}

/// A product offered to a person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductOffer {
    /// What it is.
    pub description: String,
    /// Its price.
    pub price: Money,
    /// Until when the offer holds.
    pub valid_until: Timestamp,
}

impl TryFrom<wire::ProductOffer> for ProductOffer {
    type Error = DecodeError;
    fn try_from(offer: wire::ProductOffer) -> Result<Self, DecodeError> {
        Ok(ProductOffer {
            description: decode::text("offer.description", offer.description)?,
            price: decode::required("offer.price", offer.price)?.try_into()?,
            valid_until: Timestamp::from_millis(offer.valid_until_ms),
        })
    }
}

impl From<&ProductOffer> for wire::ProductOffer {
    fn from(offer: &ProductOffer) -> Self {
        wire::ProductOffer {
            description: offer.description.clone(),
            price: Some((&offer.price).into()),
            valid_until_ms: offer.valid_until.as_millis(),
        }
    }
}

/// Why a negotiation ended without agreement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TerminationCode {
    /// The owner declined.
    Declined,
    /// Policy does not allow the terms.
    Policy,
    /// The deadline passed.
    Timeout,
    /// Too many rounds.
    TooManyRounds,
    /// Another offer was chosen.
    NotSelected,
    /// The other side broke the protocol.
    ProtocolError,
}

impl TerminationCode {
    fn from_wire(value: i32) -> Result<Self, DecodeError> {
        use wire::TerminationCode as W;
        Ok(match W::try_from(value) {
            Ok(W::Declined) => TerminationCode::Declined,
            Ok(W::Policy) => TerminationCode::Policy,
            Ok(W::Timeout) => TerminationCode::Timeout,
            Ok(W::TooManyRounds) => TerminationCode::TooManyRounds,
            Ok(W::NotSelected) => TerminationCode::NotSelected,
            Ok(W::ProtocolError) => TerminationCode::ProtocolError,
            Ok(W::Unspecified) | Err(_) => {
                return Err(DecodeError::UnknownEnum { field: "terminate.code", value });
            }
        })
    }

    fn to_wire(self) -> wire::TerminationCode {
        match self {
            TerminationCode::Declined => wire::TerminationCode::Declined,
            TerminationCode::Policy => wire::TerminationCode::Policy,
            TerminationCode::Timeout => wire::TerminationCode::Timeout,
            TerminationCode::TooManyRounds => wire::TerminationCode::TooManyRounds,
            TerminationCode::NotSelected => wire::TerminationCode::NotSelected,
            TerminationCode::ProtocolError => wire::TerminationCode::ProtocolError,
        }
    }
}

/// The body of a negotiation message.
#[derive(Debug, Clone, PartialEq)]
pub enum NegotiationBody {
    /// Opens a negotiation.
    Propose {
        /// What it answers.
        context: Context,
        /// Terms the sender would agree to.
        terms: Terms,
        /// When both sides give up.
        deadline: Timestamp,
        /// A product, when a business answers an intent.
        offer: Option<ProductOffer>,
    },
    /// Other terms.
    Counter {
        /// The terms now on the table.
        terms: Terms,
    },
    /// The sender signed the agreement on the terms on the table.
    Agree {
        /// The encoded agreement, exactly as signed.
        agreement: Vec<u8>,
        /// The sender's signature over it.
        signature: Signature,
    },
    /// The countersignature.
    Finalize {
        /// The sender's signature over the agreement bytes.
        signature: Signature,
        /// A person's first data under the agreement, an encoded `DataPackage` (kept encoded:
        /// both ledgers digest these exact bytes).
        first_package: Option<Vec<u8>>,
    },
    /// The end, without agreement.
    Terminate {
        /// Why, as a code.
        code: TerminationCode,
        /// Why, in words.
        reason: String,
    },
}

/// A message of a negotiation.
#[derive(Debug, Clone, PartialEq)]
pub struct NegotiationMessage {
    /// Which negotiation.
    pub id: NegotiationId,
    /// One more than the previous message's round.
    pub round: u32,
    /// What it says.
    pub body: NegotiationBody,
}

impl TryFrom<wire::NegotiationMessage> for NegotiationMessage {
    type Error = DecodeError;
    fn try_from(message: wire::NegotiationMessage) -> Result<Self, DecodeError> {
        use wire::negotiation_message::Body;
        let body = match decode::required("negotiation.body", message.body)? {
            Body::Propose(p) => NegotiationBody::Propose {
                context: decode::required("propose.context", p.context)?.try_into()?,
                terms: decode::required("propose.terms", p.terms)?.try_into()?,
                deadline: Timestamp::from_millis(p.deadline_ms),
                offer: p.offer.map(ProductOffer::try_from).transpose()?,
            },
            Body::Counter(c) => {
                NegotiationBody::Counter { terms: decode::required("counter.terms", c.terms)?.try_into()? }
            }
            Body::Agree(a) => {
                decode::bounded("agree.agreement", &a.agreement, 64 * 1024)?;
                NegotiationBody::Agree {
                    agreement: a.agreement,
                    signature: decode::key("agree.signature", &a.signature)?,
                }
            }
            Body::Finalize(f) => NegotiationBody::Finalize {
                signature: decode::key("finalize.signature", &f.signature)?,
                first_package: (!f.first_package.is_empty()).then_some(f.first_package),
            },
            Body::Terminate(t) => NegotiationBody::Terminate {
                code: TerminationCode::from_wire(t.code)?,
                reason: decode::text("terminate.reason", t.reason)?,
            },
        };
        Ok(NegotiationMessage {
            id: decode::key("negotiation.id", &message.negotiation_id)?,
            round: message.round,
            body,
        })
    }
}

impl From<&NegotiationMessage> for wire::NegotiationMessage {
    fn from(message: &NegotiationMessage) -> Self {
        use wire::negotiation_message::Body;
        let body = match &message.body {
            NegotiationBody::Propose { context, terms, deadline, offer } => Body::Propose(wire::Propose {
                context: Some((*context).into()),
                terms: Some(terms.into()),
                deadline_ms: deadline.as_millis(),
                offer: offer.as_ref().map(Into::into),
                profile: None,
            }),
            NegotiationBody::Counter { terms } => Body::Counter(wire::CounterOffer { terms: Some(terms.into()) }),
            NegotiationBody::Agree { agreement, signature } => {
                Body::Agree(wire::Agree { agreement: agreement.clone(), signature: signature.to_bytes().to_vec() })
            }
            NegotiationBody::Finalize { signature, first_package } => Body::Finalize(wire::Finalize {
                signature: signature.to_bytes().to_vec(),
                first_package: first_package.clone().unwrap_or_default(),
            }),
            NegotiationBody::Terminate { code, reason } => {
                Body::Terminate(wire::Terminate { code: code.to_wire() as i32, reason: reason.clone() })
            }
        };
        wire::NegotiationMessage {
            negotiation_id: message.id.to_bytes().to_vec(),
            round: message.round,
            body: Some(body),
        }
    }
}

/// What one item of a data package carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ItemContent {
    /// A raw value.
    Value(Personal<Value>),
    /// A derived fact.
    Derived {
        /// The question.
        predicate: Predicate,
        /// The answer.
        holds: bool,
    },
    /// A trigger's event.
    TriggerEvent(String),
}

impl ItemContent {
    /// What leaves the node for a field disclosed as `disclosure` whose vault value is
    /// `value`, at `now`: the value itself, or only the predicate and its yes/no answer.
    /// `None` when the value cannot answer the predicate (another type): nothing is sent.
    pub fn disclose(disclosure: &crate::terms::Disclosure, value: &Value, now: crate::time::Timestamp) -> Option<Self> {
        match disclosure {
            crate::terms::Disclosure::Raw => Some(ItemContent::Value(Personal::new(value.clone()))),
            crate::terms::Disclosure::Derived(predicate) => {
                Some(ItemContent::Derived { predicate: predicate.clone(), holds: predicate.evaluate(value, now).ok()? })
            }
        }
    }
}

/// One item of a data package.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataItem {
    /// The vault path it is about.
    pub path: FieldPath,
    /// What it says.
    pub content: ItemContent,
}

/// Data a person sends under an agreement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataPackage {
    /// The agreement.
    pub agreement_id: AgreementId,
    /// One more than the previous package's under the same agreement.
    pub sequence: u64,
    /// The items.
    pub items: Vec<DataItem>,
}

impl TryFrom<wire::DataPackage> for DataPackage {
    type Error = DecodeError;
    fn try_from(package: wire::DataPackage) -> Result<Self, DecodeError> {
        use wire::data_item::Content;
        decode::bounded("package.items", &package.items, MAX_PACKAGE_ITEMS)?;
        let items = package
            .items
            .into_iter()
            .map(|item| {
                let content = match decode::required("item.content", item.content)? {
                    Content::Value(value) => ItemContent::Value(Personal::new(value.try_into()?)),
                    Content::Derived(fact) => ItemContent::Derived {
                        predicate: decode::required("item.derived.predicate", fact.predicate)?.try_into()?,
                        holds: fact.holds,
                    },
                    Content::TriggerEvent(event) => {
                        ItemContent::TriggerEvent(decode::text("item.trigger_event", event)?)
                    }
                };
                Ok(DataItem { path: item.path.try_into()?, content })
            })
            .collect::<Result<_, DecodeError>>()?;
        Ok(DataPackage {
            agreement_id: decode::key("package.agreement_id", &package.agreement_id)?,
            sequence: package.sequence,
            items,
        })
    }
}

impl From<&DataPackage> for wire::DataPackage {
    fn from(package: &DataPackage) -> Self {
        use wire::data_item::Content;
        wire::DataPackage {
            agreement_id: package.agreement_id.to_bytes().to_vec(),
            sequence: package.sequence,
            items: package
                .items
                .iter()
                .map(|item| wire::DataItem {
                    path: item.path.to_string(),
                    content: Some(match &item.content {
                        ItemContent::Value(value) => Content::Value(value.expose().into()),
                        ItemContent::Derived { predicate, holds } => {
                            Content::Derived(wire::DerivedFact { predicate: Some(predicate.into()), holds: *holds })
                        }
                        ItemContent::TriggerEvent(event) => Content::TriggerEvent(event.clone()),
                    }),
                })
                .collect(),
        }
    }
}

/// A personal offer pushed by a business under an agreement that allows contact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PersonalOffer {
    /// The agreement giving permission.
    pub agreement_id: AgreementId,
    /// The offer's id.
    pub offer_id: OfferId,
    /// What is offered.
    pub offer: ProductOffer,
}

impl TryFrom<wire::PersonalOffer> for PersonalOffer {
    type Error = DecodeError;
    fn try_from(offer: wire::PersonalOffer) -> Result<Self, DecodeError> {
        Ok(PersonalOffer {
            agreement_id: decode::key("offer.agreement_id", &offer.agreement_id)?,
            offer_id: decode::key("offer.offer_id", &offer.offer_id)?,
            offer: decode::required("offer.offer", offer.offer)?.try_into()?,
        })
    }
}

impl From<&PersonalOffer> for wire::PersonalOffer {
    fn from(offer: &PersonalOffer) -> Self {
        wire::PersonalOffer {
            agreement_id: offer.agreement_id.to_bytes().to_vec(),
            offer_id: offer.offer_id.to_bytes().to_vec(),
            offer: Some((&offer.offer).into()),
        }
    }
}

/// A person withdraws an agreement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revocation {
    /// The agreement.
    pub agreement_id: AgreementId,
    /// Why, in words (may be empty).
    pub reason: String,
}

impl TryFrom<wire::Revocation> for Revocation {
    type Error = DecodeError;
    fn try_from(revocation: wire::Revocation) -> Result<Self, DecodeError> {
        Ok(Revocation {
            agreement_id: decode::key("revocation.agreement_id", &revocation.agreement_id)?,
            reason: decode::text("revocation.reason", revocation.reason)?,
        })
    }
}

impl From<&Revocation> for wire::Revocation {
    fn from(revocation: &Revocation) -> Self {
        wire::Revocation {
            agreement_id: revocation.agreement_id.to_bytes().to_vec(),
            reason: revocation.reason.clone(),
        }
    }
}

/// Why data was deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeletionCause {
    /// The person revoked the agreement.
    Revoked,
    /// The retention ran out.
    Expired,
}

/// A business's signed statement that it deleted what it held under an agreement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeletionReceipt {
    /// The agreement.
    pub agreement_id: AgreementId,
    /// Why.
    pub cause: DeletionCause,
    /// How many items were deleted.
    pub items_deleted: u64,
    /// When.
    pub deleted_at: Timestamp,
}

impl TryFrom<wire::DeletionReceipt> for DeletionReceipt {
    type Error = DecodeError;
    fn try_from(receipt: wire::DeletionReceipt) -> Result<Self, DecodeError> {
        let cause = match wire::DeletionCause::try_from(receipt.cause) {
            Ok(wire::DeletionCause::Revoked) => DeletionCause::Revoked,
            Ok(wire::DeletionCause::Expired) => DeletionCause::Expired,
            _ => {
                return Err(DecodeError::UnknownEnum { field: "receipt.cause", value: receipt.cause });
            }
        };
        Ok(DeletionReceipt {
            agreement_id: decode::key("receipt.agreement_id", &receipt.agreement_id)?,
            cause,
            items_deleted: receipt.items_deleted,
            deleted_at: Timestamp::from_millis(receipt.deleted_at_ms),
        })
    }
}

impl From<&DeletionReceipt> for wire::DeletionReceipt {
    fn from(receipt: &DeletionReceipt) -> Self {
        wire::DeletionReceipt {
            agreement_id: receipt.agreement_id.to_bytes().to_vec(),
            cause: match receipt.cause {
                DeletionCause::Revoked => wire::DeletionCause::Revoked,
                DeletionCause::Expired => wire::DeletionCause::Expired,
            } as i32,
            items_deleted: receipt.items_deleted,
            deleted_at_ms: receipt.deleted_at.as_millis(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::terms::tests::shoe_terms;

    #[test]
    fn messages_round_trip() {
        let request = DataRequest {
            id: RequestId::from_bytes([1; 16]),
            category: "apparel.shoes".parse().unwrap(),
            business_name: "Stride".into(),
            description: "Running shoes fitted to you".into(),
            terms: shoe_terms(),
        };
        assert_eq!(DataRequest::try_from(wire::DataRequest::from(&request)), Ok(request));

        let intent = Intent {
            id: IntentId::from_bytes([2; 16]),
            category: "apparel.shoes".parse().unwrap(),
            spec: [("size_eu".to_string(), "44".to_string())].into(),
            max_price: Some(Money::new(12_000, "EUR").unwrap()),
            shares: shoe_terms().fields,
            expires_at: Timestamp::from_millis(99),
        };
        assert_eq!(Intent::try_from(wire::Intent::from(&intent)), Ok(intent));

        let message = NegotiationMessage {
            id: NegotiationId::from_bytes([3; 16]),
            round: 1,
            body: NegotiationBody::Propose {
                context: Context::Request(RequestId::from_bytes([1; 16])),
                terms: shoe_terms(),
                deadline: Timestamp::from_millis(5),
                offer: None,
            },
        };
        assert_eq!(NegotiationMessage::try_from(wire::NegotiationMessage::from(&message)), Ok(message));

        let package = DataPackage {
            agreement_id: crate::identity::Digest::of(b"a"),
            sequence: 1,
            items: vec![DataItem {
                path: "body.shoe_size_eu".parse().unwrap(),
                content: ItemContent::Value(Personal::new(Value::Number(44.0))),
            }],
        };
        assert_eq!(DataPackage::try_from(wire::DataPackage::from(&package)), Ok(package));

        let receipt = DeletionReceipt {
            agreement_id: crate::identity::Digest::of(b"a"),
            cause: DeletionCause::Revoked,
            items_deleted: 2,
            deleted_at: Timestamp::from_millis(7),
        };
        assert_eq!(DeletionReceipt::try_from(wire::DeletionReceipt::from(&receipt)), Ok(receipt));
    }

    #[test]
    fn malformed_messages_are_rejected() {
        let mut intent = wire::Intent { id: vec![2; 16], category: "apparel.shoes".into(), ..Default::default() };
        intent.spec = vec![
            wire::SpecEntry { key: "size".into(), value: "44".into() },
            wire::SpecEntry { key: "size".into(), value: "45".into() },
        ];
        assert!(Intent::try_from(intent.clone()).is_err(), "duplicate spec key");
        intent.spec =
            (0..=MAX_SPEC_ENTRIES).map(|i| wire::SpecEntry { key: format!("k{i}"), value: "v".into() }).collect();
        assert!(matches!(Intent::try_from(intent.clone()), Err(DecodeError::TooLong { .. })));
        intent.spec.clear();
        intent.id = vec![1; 15];
        assert!(matches!(Intent::try_from(intent), Err(DecodeError::Key { .. })));

        let no_body = wire::NegotiationMessage { negotiation_id: vec![0; 16], round: 1, body: None };
        assert_eq!(NegotiationMessage::try_from(no_body), Err(DecodeError::Missing("negotiation.body")));

        let terminate = wire::NegotiationMessage {
            negotiation_id: vec![0; 16],
            round: 1,
            body: Some(wire::negotiation_message::Body::Terminate(wire::Terminate { code: 99, reason: String::new() })),
        };
        assert!(matches!(NegotiationMessage::try_from(terminate), Err(DecodeError::UnknownEnum { .. })));

        let items = (0..=MAX_PACKAGE_ITEMS)
            .map(|_| wire::DataItem {
                path: "a.b".into(),
                content: Some(wire::data_item::Content::TriggerEvent("x".into())),
            })
            .collect();
        let big = wire::DataPackage { agreement_id: vec![0; 32], sequence: 1, items };
        assert!(matches!(DataPackage::try_from(big), Err(DecodeError::TooLong { .. })));
    }
}
