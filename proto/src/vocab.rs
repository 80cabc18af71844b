//! The shared vocabulary: categories of requests and intents, dotted vault paths, purposes,
//! and the gossip [`Topic`]s they make. Every name here has one text form, read by `FromStr`
//! and written by `Display`; no other crate parses them.

use crate::decode::{DecodeError, TextError};
use crate::limits::MAX_PATH_BYTES;
use crate::message_kind::MessageKind;
use crate::wire;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Checks the dotted grammar shared by categories and paths: 1 to 8 segments of
/// `[a-z0-9_]`, joined by dots, at most [`MAX_PATH_BYTES`] long.
fn check_dotted(field: &'static str, text: &str) -> Result<(), DecodeError> {
    if text.len() > MAX_PATH_BYTES {
        return Err(DecodeError::TooLong { field, max: MAX_PATH_BYTES, actual: text.len() });
    }
    let segments: Vec<&str> = text.split('.').collect();
    let well_formed = segments.len() <= 8
        && segments.iter().all(|segment| {
            !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        });
    if !well_formed {
        return Err(DecodeError::Invalid { field, reason: "expected dot-separated segments of a-z, 0-9 and _" });
    }
    Ok(())
}

/// Declares a validated dotted-name type.
macro_rules! dotted {
    ($(#[$doc:meta])* $name:ident, $field:literal, $what:literal, $example:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// The name as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// Whether `self` is `other` or one of its ancestors (`health` covers
            /// `health.acquired.asthma`).
            pub fn covers(&self, other: &Self) -> bool {
                other.0 == self.0
                    || (other.0.starts_with(&self.0) && other.0.as_bytes().get(self.0.len()) == Some(&b'.'))
            }

            /// How many segments the name has.
            pub fn depth(&self) -> usize {
                self.0.split('.').count()
            }
        }

        impl TryFrom<String> for $name {
            type Error = DecodeError;
            fn try_from(text: String) -> Result<Self, DecodeError> {
                check_dotted($field, &text)?;
                Ok($name(text))
            }
        }

        impl FromStr for $name {
            type Err = TextError;
            fn from_str(text: &str) -> Result<Self, TextError> {
                $name::try_from(text.to_owned()).map_err(|error| {
                    TextError::new(
                        text,
                        $what,
                        format!("{error}; write dotted lower-case names, e.g. {}", $example),
                    )
                })
            }
        }

        impl From<$name> for String {
            fn from(name: $name) -> String {
                name.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

dotted!(
    /// A category of requests and intents, such as `apparel.shoes` or `health.research`.
    Category,
    "category",
    "a category",
    "apparel.shoes"
);
dotted!(
    /// A dotted vault path, such as `body.shoe_size_eu` or `health.acquired.asthma`. The path
    /// names a record; it is not personal data itself and may be logged.
    FieldPath,
    "path",
    "a field path",
    "body.shoe_size_eu"
);

impl Category {
    /// The gossip topic for businesses' data requests in this category.
    pub fn request_topic(&self) -> Topic {
        Topic::Requests(self.clone())
    }

    /// The gossip topic for people's intents in this category.
    pub fn intent_topic(&self) -> Topic {
        Topic::Intents(self.clone())
    }

    /// The gossip topic for businesses' answers to intents in this category.
    pub fn answer_topic(&self) -> Topic {
        Topic::Answers(self.clone())
    }
}

/// A gossip topic: `me2b/v1/requests/<category>` carries businesses' data requests,
/// `me2b/v1/intents/<category>` people's intents, `me2b/v1/answers/<category>` businesses'
/// answers to them (a proposal addressed to the intent's one-time key, which no one can dial:
/// the person hears it on gossip and answers from that identity's own connection).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Topic {
    /// Businesses' data requests in a category.
    Requests(Category),
    /// People's intents in a category.
    Intents(Category),
    /// Businesses' answers to intents in a category.
    Answers(Category),
}

impl Topic {
    const REQUESTS: &'static str = "me2b/v1/requests/";
    const INTENTS: &'static str = "me2b/v1/intents/";
    const ANSWERS: &'static str = "me2b/v1/answers/";

    /// The kind of message the topic carries.
    pub fn kind(&self) -> MessageKind {
        match self {
            Topic::Requests(_) => MessageKind::DataRequest,
            Topic::Intents(_) => MessageKind::Intent,
            Topic::Answers(_) => MessageKind::Negotiation,
        }
    }

    /// The category.
    pub fn category(&self) -> &Category {
        match self {
            Topic::Requests(category) | Topic::Intents(category) | Topic::Answers(category) => category,
        }
    }
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Topic::Requests(category) => write!(f, "{}{category}", Topic::REQUESTS),
            Topic::Intents(category) => write!(f, "{}{category}", Topic::INTENTS),
            Topic::Answers(category) => write!(f, "{}{category}", Topic::ANSWERS),
        }
    }
}

impl FromStr for Topic {
    type Err = TextError;
    fn from_str(text: &str) -> Result<Self, TextError> {
        let invalid = || TextError::new(text, "a me2b topic", "e.g. me2b/v1/requests/apparel.shoes");
        if let Some(category) = text.strip_prefix(Topic::REQUESTS) {
            return Ok(Topic::Requests(category.parse().map_err(|_| invalid())?));
        }
        if let Some(category) = text.strip_prefix(Topic::INTENTS) {
            return Ok(Topic::Intents(category.parse().map_err(|_| invalid())?));
        }
        if let Some(category) = text.strip_prefix(Topic::ANSWERS) {
            return Ok(Topic::Answers(category.parse().map_err(|_| invalid())?));
        }
        Err(invalid())
    }
}

impl FieldPath {
    /// Whether values under this path are sensitive. Health data always is, and so are
    /// records in the `identity` and `finance` trees.
    pub fn is_sensitive(&self) -> bool {
        ["health", "identity", "finance"].iter().any(|root| self.0 == *root || self.0.starts_with(&format!("{root}.")))
    }
}

/// Why data is used, after the W3C Data Privacy Vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Purpose {
    /// dpv:ServiceProvision
    ServiceProvision,
    /// dpv:PersonalisedAdvertising, offers made for this one person.
    PersonalisedOffers,
    /// dpv:ProductDevelopment
    ProductDevelopment,
    /// dpv:ResearchAndDevelopment
    Research,
    /// dpv:Healthcare
    HealthCare,
    /// dpv:Marketing
    Marketing,
}

impl Purpose {
    /// Every purpose, in a fixed order.
    pub const ALL: [Purpose; 6] = [
        Purpose::ServiceProvision,
        Purpose::PersonalisedOffers,
        Purpose::ProductDevelopment,
        Purpose::Research,
        Purpose::HealthCare,
        Purpose::Marketing,
    ];

    /// The name used in files and on the command line, e.g. `personalised-offers`.
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::ServiceProvision => "service-provision",
            Purpose::PersonalisedOffers => "personalised-offers",
            Purpose::ProductDevelopment => "product-development",
            Purpose::Research => "research",
            Purpose::HealthCare => "health-care",
            Purpose::Marketing => "marketing",
        }
    }

    /// The purpose in words for the person deciding, after its DPV definition.
    pub fn describe(self) -> &'static str {
        match self {
            Purpose::ServiceProvision => "to provide a service you use (dpv:ServiceProvision)",
            Purpose::PersonalisedOffers => "to make offers to you personally (dpv:PersonalisedAdvertising)",
            Purpose::ProductDevelopment => "to develop their products (dpv:ProductDevelopment)",
            Purpose::Research => "for research and development (dpv:ResearchAndDevelopment)",
            Purpose::HealthCare => "to provide health care (dpv:Healthcare)",
            Purpose::Marketing => "for marketing (dpv:Marketing)",
        }
    }
}

impl fmt::Display for Purpose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Purpose {
    type Err = TextError;
    fn from_str(text: &str) -> Result<Self, TextError> {
        Purpose::ALL.into_iter().find(|purpose| purpose.as_str() == text).ok_or_else(|| {
            let known: Vec<_> = Purpose::ALL.iter().map(|p| p.as_str()).collect();
            TextError::new(text, "a purpose", format!("use one of {}", known.join(", ")))
        })
    }
}

impl TryFrom<i32> for Purpose {
    type Error = DecodeError;
    fn try_from(value: i32) -> Result<Self, DecodeError> {
        use wire::Purpose as W;
        match W::try_from(value) {
            Ok(W::ServiceProvision) => Ok(Purpose::ServiceProvision),
            Ok(W::PersonalisedOffers) => Ok(Purpose::PersonalisedOffers),
            Ok(W::ProductDevelopment) => Ok(Purpose::ProductDevelopment),
            Ok(W::Research) => Ok(Purpose::Research),
            Ok(W::HealthCare) => Ok(Purpose::HealthCare),
            Ok(W::Marketing) => Ok(Purpose::Marketing),
            Ok(W::Unspecified) | Err(_) => Err(DecodeError::UnknownEnum { field: "purpose", value }),
        }
    }
}

impl From<Purpose> for wire::Purpose {
    fn from(purpose: Purpose) -> wire::Purpose {
        match purpose {
            Purpose::ServiceProvision => wire::Purpose::ServiceProvision,
            Purpose::PersonalisedOffers => wire::Purpose::PersonalisedOffers,
            Purpose::ProductDevelopment => wire::Purpose::ProductDevelopment,
            Purpose::Research => wire::Purpose::Research,
            Purpose::HealthCare => wire::Purpose::HealthCare,
            Purpose::Marketing => wire::Purpose::Marketing,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotted_names_are_validated() {
        assert!("apparel.shoes".parse::<Category>().is_ok());
        assert!("body.shoe_size_eu".parse::<FieldPath>().is_ok());
        for bad in ["", ".a", "a.", "a..b", "Apparel", "a b", "a-b", "a.b.c.d.e.f.g.h.i"] {
            assert!(bad.parse::<FieldPath>().is_err(), "{bad:?} accepted");
        }
        assert!("a".repeat(MAX_PATH_BYTES + 1).parse::<Category>().is_err());
    }

    #[test]
    fn covers_respects_segments() {
        let health: FieldPath = "health".parse().unwrap();
        assert!(health.covers(&"health.acquired.asthma".parse().unwrap()));
        assert!(health.covers(&health));
        assert!(!health.covers(&"healthy.food".parse().unwrap()));
    }

    #[test]
    fn health_is_always_sensitive() {
        assert!("health.hereditary.brca1".parse::<FieldPath>().unwrap().is_sensitive());
        assert!(!"body.shoe_size_eu".parse::<FieldPath>().unwrap().is_sensitive());
    }

    #[test]
    fn purposes_round_trip_and_reject_unknown_values() {
        for purpose in Purpose::ALL {
            assert_eq!(purpose.as_str().parse::<Purpose>(), Ok(purpose));
            assert_eq!(Purpose::try_from(wire::Purpose::from(purpose) as i32), Ok(purpose));
        }
        assert!(Purpose::try_from(0).is_err());
        assert!(Purpose::try_from(99).is_err());
        assert!("selling".parse::<Purpose>().is_err());
    }
}
