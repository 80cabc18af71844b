//! The shared vocabulary: categories of requests and intents, dotted vault paths, purposes.

use crate::decode::DecodeError;
use crate::limits::MAX_PATH_BYTES;
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
    ($(#[$doc:meta])* $name:ident, $field:literal) => {
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
            type Err = DecodeError;
            fn from_str(text: &str) -> Result<Self, DecodeError> {
                $name::try_from(text.to_owned())
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
    "category"
);
dotted!(
    /// A dotted vault path, such as `body.shoe_size_eu` or `health.acquired.asthma`. The path
    /// names a record; it is not personal data itself and may be logged.
    FieldPath,
    "path"
);

impl Category {
    /// The gossip topic for businesses' data requests in this category.
    pub fn request_topic(&self) -> String {
        format!("me2b/v1/requests/{}", self.0)
    }

    /// The gossip topic for people's intents in this category.
    pub fn intent_topic(&self) -> String {
        format!("me2b/v1/intents/{}", self.0)
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
}

impl fmt::Display for Purpose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A purpose name that is not in the vocabulary.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown purpose `{0}`; expected one of service-provision, personalised-offers, product-development, research, health-care, marketing"
)]
pub struct UnknownPurpose(pub String);

impl FromStr for Purpose {
    type Err = UnknownPurpose;
    fn from_str(text: &str) -> Result<Self, UnknownPurpose> {
        Purpose::ALL.into_iter().find(|purpose| purpose.as_str() == text).ok_or_else(|| UnknownPurpose(text.to_owned()))
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
