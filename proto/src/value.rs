//! Vault values: what a person's records hold, and the wrapper that keeps them out of logs.

use crate::decode::{self, DecodeError};
use crate::limits::{MAX_CODES, MAX_SERIES_POINTS, MAX_TOKEN_BYTES};
use crate::time::Timestamp;
use crate::wire;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;

/// Personal data. `Debug` and `Display` print `<redacted>`, so a value can never reach a log
/// by accident; read it deliberately with [`Personal::expose`].
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Personal<T>(T);

impl<T> Personal<T> {
    /// Wraps a personal value.
    pub fn new(value: T) -> Self {
        Personal(value)
    }

    /// The value itself. Never pass it to a log macro.
    pub fn expose(&self) -> &T {
        &self.0
    }

    /// Unwraps the value.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> fmt::Debug for Personal<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl<T> fmt::Display for Personal<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

pub use crate::time::{BadDate, Date};

/// One measurement of a series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// When it was measured.
    pub at: Timestamp,
    /// The measurement.
    pub value: f64,
    /// What it is about, e.g. the shoe a run was in (a [token](is_token)).
    pub tag: Option<String>,
}

impl Point {
    /// An untagged point.
    pub fn new(at: Timestamp, value: f64) -> Point {
        Point { at, value, tag: None }
    }

    /// A point about `tag`.
    pub fn tagged(at: Timestamp, value: f64, tag: impl Into<String>) -> Point {
        Point { at, value, tag: Some(tag.into()) }
    }
}

/// Whether `text` is a token: a tag, a code or a `one of` value. Tokens are 1 to
/// [`MAX_TOKEN_BYTES`] ASCII letters, digits and `.`, `_`, `-`, `|`, `/`, so that they can
/// stand in the text forms of predicates and uses without quoting.
pub fn is_token(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= MAX_TOKEN_BYTES
        && text.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-|/".contains(&b))
}

/// Checks a token from the wire or a text form.
pub(crate) fn token(field: &'static str, text: String) -> Result<String, DecodeError> {
    if is_token(&text) {
        Ok(text)
    } else {
        Err(DecodeError::Invalid { field, reason: "not a token (1 to 64 of A-Z a-z 0-9 . _ - | /)" })
    }
}

/// A typed vault value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Value {
    /// A finite number.
    Number(f64),
    /// Text.
    Text(String),
    /// Yes or no.
    Boolean(bool),
    /// A calendar date.
    Date(Date),
    /// Measurements over time, ordered by time (e.g. km run per activity).
    Series(Vec<Point>),
    /// A set of coded concepts, each `SYSTEM|CODE` (e.g. a condition `sct|44054006`).
    Codes(BTreeSet<String>),
}

impl Value {
    /// The name of the value's type, for messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Number(_) => "number",
            Value::Text(_) => "text",
            Value::Boolean(_) => "boolean",
            Value::Date(_) => "date",
            Value::Series(_) => "series",
            Value::Codes(_) => "codes",
        }
    }

    /// Checks the invariants a value must hold (finite numbers, bounded ordered series,
    /// bounded text).
    pub fn validate(&self) -> Result<(), DecodeError> {
        match self {
            Value::Number(n) if !n.is_finite() => {
                Err(DecodeError::Invalid { field: "value.number", reason: "not a finite number" })
            }
            Value::Text(text) => decode::value_text("value.text", text.clone()).map(|_| ()),
            Value::Series(points) => {
                decode::bounded("value.series", points, MAX_SERIES_POINTS)?;
                if points.iter().any(|p| !p.value.is_finite()) {
                    return Err(DecodeError::Invalid { field: "value.series", reason: "not a finite number" });
                }
                if points.windows(2).any(|w| w[0].at > w[1].at) {
                    return Err(DecodeError::Invalid { field: "value.series", reason: "points out of time order" });
                }
                if points.iter().filter_map(|p| p.tag.as_deref()).any(|tag| !is_token(tag)) {
                    return Err(DecodeError::Invalid { field: "value.series.tag", reason: "not a token" });
                }
                Ok(())
            }
            Value::Codes(codes) => {
                if codes.len() > MAX_CODES {
                    return Err(DecodeError::TooLong { field: "value.codes", max: MAX_CODES, actual: codes.len() });
                }
                if !codes.iter().all(|code| is_token(code) && code.contains('|')) {
                    return Err(DecodeError::Invalid { field: "value.codes", reason: "not SYSTEM|CODE tokens" });
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

impl TryFrom<wire::Value> for Value {
    type Error = DecodeError;
    fn try_from(value: wire::Value) -> Result<Value, DecodeError> {
        use wire::value::Kind;
        let value = match decode::required("value", value.kind)? {
            Kind::Number(n) => Value::Number(n),
            Kind::Text(text) => Value::Text(text),
            Kind::Boolean(b) => Value::Boolean(b),
            Kind::Date(date) => Value::Date(date.try_into()?),
            Kind::Series(series) => Value::Series(
                series
                    .points
                    .into_iter()
                    .map(|p| Point {
                        at: Timestamp::from_millis(p.at_ms),
                        value: p.value,
                        tag: (!p.tag.is_empty()).then_some(p.tag),
                    })
                    .collect(),
            ),
            Kind::Codes(codes) => {
                decode::bounded("value.codes", &codes.codes, MAX_CODES)?;
                Value::Codes(codes.codes.into_iter().collect())
            }
        };
        value.validate()?;
        Ok(value)
    }
}

impl From<&Value> for wire::Value {
    fn from(value: &Value) -> wire::Value {
        use wire::value::Kind;
        let kind = match value {
            Value::Number(n) => Kind::Number(*n),
            Value::Text(text) => Kind::Text(text.clone()),
            Value::Boolean(b) => Kind::Boolean(*b),
            Value::Date(date) => Kind::Date((*date).into()),
            Value::Series(points) => Kind::Series(wire::Series {
                points: points
                    .iter()
                    .map(|p| wire::SeriesPoint {
                        at_ms: p.at.as_millis(),
                        value: p.value,
                        tag: p.tag.clone().unwrap_or_default(),
                    })
                    .collect(),
            }),
            Value::Codes(codes) => Kind::Codes(wire::Codes { codes: codes.iter().cloned().collect() }),
        };
        wire::Value { kind: Some(kind) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn personal_values_are_redacted_in_debug_and_display() {
        let secret = Personal::new(Value::Text("BRCA1 positive".into()));
        assert_eq!(format!("{secret:?}"), "<redacted>");
        assert_eq!(format!("{secret}"), "<redacted>");
    }

    #[test]
    fn dates_convert_from_days_and_text() {
        assert_eq!(Date::from_days_since_epoch(0), Date::new(1970, 1, 1).unwrap());
        assert_eq!(Date::from_days_since_epoch(20_513), Date::new(2026, 3, 1).unwrap());
        assert_eq!(Date::from_days_since_epoch(-1), Date::new(1969, 12, 31).unwrap());
        assert_eq!("2000-02-29".parse(), Ok(Date::new(2000, 2, 29).unwrap()));
        assert!("1900-02-29".parse::<Date>().is_err());
        assert!("2026-13-01".parse::<Date>().is_err());
        assert!("26-1-1".parse::<Date>().is_err());
    }

    #[test]
    fn age_counts_whole_years() {
        let birth = Date::new(2008, 11, 24).unwrap();
        assert_eq!(birth.whole_years_until(Date::new(2026, 11, 23).unwrap()), 17);
        assert_eq!(birth.whole_years_until(Date::new(2026, 11, 24).unwrap()), 18);
    }

    #[test]
    fn invalid_wire_values_are_rejected() {
        let nan = wire::Value { kind: Some(wire::value::Kind::Number(f64::NAN)) };
        assert!(Value::try_from(nan).is_err());
        assert_eq!(Value::try_from(wire::Value { kind: None }), Err(DecodeError::Missing("value")));
        let bad_date =
            wire::Value { kind: Some(wire::value::Kind::Date(wire::Date { year: 2026, month: 2, day: 30 })) };
        assert!(Value::try_from(bad_date).is_err());
        let unordered =
            Value::Series(vec![Point::new(Timestamp::from_millis(2), 1.0), Point::new(Timestamp::from_millis(1), 1.0)]);
        assert!(Value::try_from(wire::Value::from(&unordered)).is_err());
        let long = Value::Series(vec![Point::new(Timestamp::EPOCH, 1.0); MAX_SERIES_POINTS + 1]);
        assert!(matches!(Value::try_from(wire::Value::from(&long)), Err(DecodeError::TooLong { .. })));
        let bad_tag = Value::Series(vec![Point::tagged(Timestamp::EPOCH, 1.0, "two words")]);
        assert!(Value::try_from(wire::Value::from(&bad_tag)).is_err());
        let bad_code = Value::Codes(["44054006".to_owned()].into());
        assert!(Value::try_from(wire::Value::from(&bad_code)).is_err());
        let good = Value::Codes(["sct|44054006".to_owned()].into());
        assert_eq!(Value::try_from(wire::Value::from(&good)), Ok(good));
    }
}
