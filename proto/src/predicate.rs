//! Derived facts: yes/no questions about one vault value, answered on the person's node so that
//! only the answer leaves it (compute-to-data for one person).

use crate::decode::{self, DecodeError, TextError};
use crate::time::Timestamp;
use crate::value::{Date, Value};
use crate::wire;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CompareOp {
    /// `<`
    Less,
    /// `<=`
    LessOrEqual,
    /// `==`
    Equal,
    /// `>=`
    GreaterOrEqual,
    /// `>`
    Greater,
}

impl CompareOp {
    fn holds<T: PartialOrd>(self, left: T, right: T) -> bool {
        match self {
            CompareOp::Less => left < right,
            CompareOp::LessOrEqual => left <= right,
            CompareOp::Equal => left == right,
            CompareOp::GreaterOrEqual => left >= right,
            CompareOp::Greater => left > right,
        }
    }

    /// Every operator, the two-character ones first (so that parsing `<=` does not stop at `<`).
    const ALL: [CompareOp; 5] =
        [CompareOp::LessOrEqual, CompareOp::GreaterOrEqual, CompareOp::Equal, CompareOp::Less, CompareOp::Greater];

    fn symbol(self) -> &'static str {
        match self {
            CompareOp::Less => "<",
            CompareOp::LessOrEqual => "<=",
            CompareOp::Equal => "==",
            CompareOp::GreaterOrEqual => ">=",
            CompareOp::Greater => ">",
        }
    }
}

/// A question about one value. Its answer is a derived fact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Predicate {
    /// The value is a birth date at least `years` ago.
    AgeAtLeast {
        /// Minimum age in whole years.
        years: u32,
    },
    /// The value is a number in `min..=max`.
    NumberInRange {
        /// Lower bound, inclusive.
        min: f64,
        /// Upper bound, inclusive.
        max: f64,
    },
    /// The value is a number and `value op operand` holds.
    NumberCompare {
        /// The operator.
        op: CompareOp,
        /// The right-hand side.
        operand: f64,
    },
    /// The value is a date and `value op operand` holds.
    DateCompare {
        /// The operator.
        op: CompareOp,
        /// The right-hand side.
        operand: Date,
    },
    /// The value is a series whose points since `since` sum to at least `threshold`.
    SumSinceAtLeast {
        /// Start of the window, inclusive.
        since: Timestamp,
        /// Minimum sum.
        threshold: f64,
    },
}

/// Why a predicate could not be answered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{predicate} needs a {expected} value, the record holds a {actual}")]
pub struct TypeMismatch {
    /// The predicate, printed.
    pub predicate: String,
    /// The type it needs.
    pub expected: &'static str,
    /// The type the record holds.
    pub actual: &'static str,
}

impl Predicate {
    /// The value type this predicate reads.
    pub fn value_type(&self) -> &'static str {
        match self {
            Predicate::AgeAtLeast { .. } | Predicate::DateCompare { .. } => "date",
            Predicate::NumberInRange { .. } | Predicate::NumberCompare { .. } => "number",
            Predicate::SumSinceAtLeast { .. } => "series",
        }
    }

    /// Answers the predicate for `value` at time `now`.
    pub fn evaluate(&self, value: &Value, now: Timestamp) -> Result<bool, TypeMismatch> {
        match (self, value) {
            (Predicate::AgeAtLeast { years }, Value::Date(birth)) => {
                Ok(birth.whole_years_until(Date::of(now)) >= i64::from(*years))
            }
            (Predicate::NumberInRange { min, max }, Value::Number(n)) => Ok(min <= n && n <= max),
            (Predicate::NumberCompare { op, operand }, Value::Number(n)) => Ok(op.holds(*n, *operand)),
            (Predicate::DateCompare { op, operand }, Value::Date(date)) => Ok(op.holds(date, operand)),
            (Predicate::SumSinceAtLeast { since, threshold }, Value::Series(points)) => {
                let sum: f64 = points.iter().filter(|p| p.at >= *since).map(|p| p.value).sum();
                Ok(sum >= *threshold)
            }
            _ => Err(TypeMismatch {
                predicate: self.to_string(),
                expected: self.value_type(),
                actual: value.type_name(),
            }),
        }
    }

    fn validate(self) -> Result<Self, DecodeError> {
        let finite = match &self {
            Predicate::NumberInRange { min, max } => min.is_finite() && max.is_finite() && min <= max,
            Predicate::NumberCompare { operand, .. } => operand.is_finite(),
            Predicate::SumSinceAtLeast { threshold, .. } => threshold.is_finite(),
            _ => true,
        };
        if !finite {
            return Err(DecodeError::Invalid { field: "predicate", reason: "bounds must be finite and ordered" });
        }
        Ok(self)
    }
}

impl fmt::Display for Predicate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Predicate::AgeAtLeast { years } => write!(f, "age >= {years}"),
            Predicate::NumberInRange { min, max } => write!(f, "in {min}..={max}"),
            Predicate::NumberCompare { op, operand } => write!(f, "{} {operand}", op.symbol()),
            Predicate::DateCompare { op, operand } => write!(f, "{} {operand}", op.symbol()),
            Predicate::SumSinceAtLeast { since, threshold } => {
                // A day names its midnight; any other instant is written in milliseconds.
                if Date::of(*since).start() == Some(*since) {
                    write!(f, "sum since {} >= {threshold}", Date::of(*since))
                } else {
                    write!(f, "sum since @{} >= {threshold}", since.as_millis())
                }
            }
        }
    }
}

/// Reads what `Display` writes: `age >= 18`, `in 43..=45`, `>= 600` (or `<`, `<=`, `==`, `>`
/// against a number or a `YYYY-MM-DD` date), `sum since 2026-01-01 >= 600`.
impl FromStr for Predicate {
    type Err = TextError;
    fn from_str(text: &str) -> Result<Self, TextError> {
        let invalid = || {
            TextError::new(
                text,
                "a derived fact",
                "write e.g. `age >= 18`, `in 43..=45`, `>= 600`, `< 2026-01-01` or `sum since 2026-01-01 >= 600`",
            )
        };
        let number = |s: &str| s.trim().parse::<f64>().map_err(|_| invalid());
        let trimmed = text.trim();
        let predicate = if let Some(years) = trimmed.strip_prefix("age >=") {
            Predicate::AgeAtLeast { years: years.trim().parse().map_err(|_| invalid())? }
        } else if let Some(range) = trimmed.strip_prefix("in ") {
            let (min, max) = range.split_once("..=").ok_or_else(invalid)?;
            Predicate::NumberInRange { min: number(min)?, max: number(max)? }
        } else if let Some(rest) = trimmed.strip_prefix("sum since ") {
            let (since, threshold) = rest.split_once(">=").ok_or_else(invalid)?;
            let since = match since.trim().strip_prefix('@') {
                Some(ms) => Timestamp::from_millis(ms.parse().map_err(|_| invalid())?),
                None => since.trim().parse::<Date>().ok().and_then(Date::start).ok_or_else(invalid)?,
            };
            Predicate::SumSinceAtLeast { since, threshold: number(threshold)? }
        } else {
            let op = CompareOp::ALL.into_iter().find(|op| trimmed.starts_with(op.symbol())).ok_or_else(invalid)?;
            let operand = trimmed[op.symbol().len()..].trim();
            match operand.parse::<Date>() {
                Ok(date) => Predicate::DateCompare { op, operand: date },
                Err(_) => Predicate::NumberCompare { op, operand: number(operand)? },
            }
        };
        predicate.validate().map_err(|_| invalid())
    }
}

fn compare_op(value: i32) -> Result<CompareOp, DecodeError> {
    use wire::CompareOp as W;
    match W::try_from(value) {
        Ok(W::Less) => Ok(CompareOp::Less),
        Ok(W::LessOrEqual) => Ok(CompareOp::LessOrEqual),
        Ok(W::Equal) => Ok(CompareOp::Equal),
        Ok(W::GreaterOrEqual) => Ok(CompareOp::GreaterOrEqual),
        Ok(W::Greater) => Ok(CompareOp::Greater),
        Ok(W::Unspecified) | Err(_) => Err(DecodeError::UnknownEnum { field: "op", value }),
    }
}

impl From<CompareOp> for wire::CompareOp {
    fn from(op: CompareOp) -> wire::CompareOp {
        match op {
            CompareOp::Less => wire::CompareOp::Less,
            CompareOp::LessOrEqual => wire::CompareOp::LessOrEqual,
            CompareOp::Equal => wire::CompareOp::Equal,
            CompareOp::GreaterOrEqual => wire::CompareOp::GreaterOrEqual,
            CompareOp::Greater => wire::CompareOp::Greater,
        }
    }
}

impl TryFrom<wire::Predicate> for Predicate {
    type Error = DecodeError;
    fn try_from(predicate: wire::Predicate) -> Result<Predicate, DecodeError> {
        use wire::predicate::Kind;
        let predicate = match decode::required("predicate", predicate.kind)? {
            Kind::AgeAtLeast(p) => Predicate::AgeAtLeast { years: p.years },
            Kind::NumberInRange(p) => Predicate::NumberInRange { min: p.min, max: p.max },
            Kind::NumberCompare(p) => Predicate::NumberCompare { op: compare_op(p.op)?, operand: p.value },
            Kind::DateCompare(p) => Predicate::DateCompare {
                op: compare_op(p.op)?,
                operand: decode::required("date_compare.date", p.date)?.try_into()?,
            },
            Kind::SumSinceAtLeast(p) => {
                Predicate::SumSinceAtLeast { since: Timestamp::from_millis(p.since_ms), threshold: p.threshold }
            }
        };
        predicate.validate()
    }
}

impl From<&Predicate> for wire::Predicate {
    fn from(predicate: &Predicate) -> wire::Predicate {
        use wire::predicate::Kind;
        let kind = match predicate {
            Predicate::AgeAtLeast { years } => Kind::AgeAtLeast(wire::AgeAtLeast { years: *years }),
            Predicate::NumberInRange { min, max } => Kind::NumberInRange(wire::NumberInRange { min: *min, max: *max }),
            Predicate::NumberCompare { op, operand } => {
                Kind::NumberCompare(wire::NumberCompare { op: wire::CompareOp::from(*op) as i32, value: *operand })
            }
            Predicate::DateCompare { op, operand } => Kind::DateCompare(wire::DateCompare {
                op: wire::CompareOp::from(*op) as i32,
                date: Some((*operand).into()),
            }),
            Predicate::SumSinceAtLeast { since, threshold } => {
                Kind::SumSinceAtLeast(wire::SumSinceAtLeast { since_ms: since.as_millis(), threshold: *threshold })
            }
        };
        wire::Predicate { kind: Some(kind) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harness::fixtures::START;
    use crate::value::Point;

    const DAY_MS: u64 = 86_400_000;

    #[test]
    fn age_at_least_from_a_birthdate() {
        let adult = Value::Date(Date::new(1990, 5, 17).unwrap());
        let minor = Value::Date(Date::new(2010, 1, 1).unwrap());
        let p = Predicate::AgeAtLeast { years: 18 };
        assert_eq!(Date::of(START), Date::new(2026, 11, 23).unwrap());
        assert_eq!(p.evaluate(&adult, START), Ok(true));
        assert_eq!(p.evaluate(&minor, START), Ok(false));
    }

    #[test]
    fn number_range_and_comparison() {
        let size = Value::Number(44.0);
        assert_eq!(Predicate::NumberInRange { min: 43.0, max: 45.0 }.evaluate(&size, START), Ok(true));
        assert_eq!(Predicate::NumberInRange { min: 45.0, max: 46.0 }.evaluate(&size, START), Ok(false));
        let gt = Predicate::NumberCompare { op: CompareOp::Greater, operand: 44.0 };
        assert_eq!(gt.evaluate(&size, START), Ok(false));
        let ge = Predicate::NumberCompare { op: CompareOp::GreaterOrEqual, operand: 44.0 };
        assert_eq!(ge.evaluate(&size, START), Ok(true));
    }

    #[test]
    fn date_comparison() {
        let date = Value::Date(Date::new(2026, 1, 1).unwrap());
        let before = Predicate::DateCompare { op: CompareOp::Less, operand: Date::new(2026, 6, 1).unwrap() };
        assert_eq!(before.evaluate(&date, START), Ok(true));
    }

    #[test]
    fn sum_of_a_series_since_a_date() {
        let since = Timestamp::from_millis(20_454 * DAY_MS); // 2026-01-01
        let runs = Value::Series(vec![
            Point { at: Timestamp::from_millis(20_400 * DAY_MS), value: 500.0 },
            Point { at: Timestamp::from_millis(20_500 * DAY_MS), value: 300.0 },
            Point { at: Timestamp::from_millis(20_600 * DAY_MS), value: 310.0 },
        ]);
        let p = Predicate::SumSinceAtLeast { since, threshold: 600.0 };
        assert_eq!(p.evaluate(&runs, START), Ok(true));
        let p = Predicate::SumSinceAtLeast { since, threshold: 700.0 };
        assert_eq!(p.evaluate(&runs, START), Ok(false));
    }

    #[test]
    fn a_predicate_on_the_wrong_type_is_an_error() {
        let p = Predicate::AgeAtLeast { years: 18 };
        assert!(p.evaluate(&Value::Number(30.0), START).is_err());
    }

    #[test]
    fn wire_predicates_round_trip_and_bad_ones_are_rejected() {
        let all = [
            Predicate::AgeAtLeast { years: 18 },
            Predicate::NumberInRange { min: 1.0, max: 2.0 },
            Predicate::NumberCompare { op: CompareOp::Less, operand: 3.0 },
            Predicate::DateCompare { op: CompareOp::Equal, operand: Date::new(2020, 2, 2).unwrap() },
            Predicate::SumSinceAtLeast { since: START, threshold: 600.0 },
        ];
        for p in all {
            assert_eq!(Predicate::try_from(wire::Predicate::from(&p)), Ok(p));
        }
        let inverted = Predicate::NumberInRange { min: 2.0, max: 1.0 };
        assert!(Predicate::try_from(wire::Predicate::from(&inverted)).is_err());
        let unknown_op = wire::Predicate {
            kind: Some(wire::predicate::Kind::NumberCompare(wire::NumberCompare { op: 42, value: 1.0 })),
        };
        assert_eq!(Predicate::try_from(unknown_op), Err(DecodeError::UnknownEnum { field: "op", value: 42 }));
        assert_eq!(Predicate::try_from(wire::Predicate { kind: None }), Err(DecodeError::Missing("predicate")));
    }
}
