//! Derived facts: yes/no questions about one vault value, answered on the person's node so that
//! only the answer leaves it (compute-to-data for one person).

use crate::decode::{self, DecodeError, TextError};
use crate::limits::MAX_ONE_OF;
use crate::time::{Timestamp, duration_ms, format_duration, parse_duration};
use crate::value::{Date, Value, is_token, token};
use crate::wire;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

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

/// What an aggregate computes over the points of a series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Aggregation {
    /// How many points.
    Count,
    /// Their sum.
    Sum,
    /// Their mean.
    Mean,
    /// The smallest.
    Min,
    /// The largest.
    Max,
}

impl Aggregation {
    const ALL: [Aggregation; 5] =
        [Aggregation::Count, Aggregation::Sum, Aggregation::Mean, Aggregation::Min, Aggregation::Max];

    fn name(self) -> &'static str {
        match self {
            Aggregation::Count => "count",
            Aggregation::Sum => "sum",
            Aggregation::Mean => "mean",
            Aggregation::Min => "min",
            Aggregation::Max => "max",
        }
    }

    /// The aggregate of `values`; `None` when it has none (no mean, min or max of nothing).
    fn of(self, values: impl Iterator<Item = f64>) -> Option<f64> {
        let (mut count, mut sum, mut min, mut max) = (0u64, 0.0, f64::INFINITY, f64::NEG_INFINITY);
        for value in values {
            count += 1;
            sum += value;
            min = min.min(value);
            max = max.max(value);
        }
        match self {
            Aggregation::Count => Some(count as f64),
            Aggregation::Sum => Some(sum),
            _ if count == 0 => None,
            Aggregation::Mean => Some(sum / count as f64),
            Aggregation::Min => Some(min),
            Aggregation::Max => Some(max),
        }
    }
}

/// Which points of a series an aggregate reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Window {
    /// Every point.
    All,
    /// Points at or after an instant.
    Since(Timestamp),
    /// Points in the last this long before the answer is computed (e.g. the last 365 days).
    Last(Duration),
}

impl Window {
    fn contains(self, at: Timestamp, now: Timestamp) -> bool {
        match self {
            Window::All => true,
            Window::Since(since) => at >= since,
            Window::Last(length) => now.saturating_since(at) <= length && at <= now,
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
    /// The value is a birth date and the age in whole years is in `min..=max` (an age band).
    AgeInRange {
        /// Lower bound, inclusive.
        min: u32,
        /// Upper bound, inclusive.
        max: u32,
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
    /// The value is a text equal to one of these tokens.
    TextOneOf {
        /// The accepted values, at most [`MAX_ONE_OF`].
        values: Vec<String>,
    },
    /// The value is a set of codes holding this one (e.g. a condition coded `sct|44054006`).
    HasCode {
        /// `SYSTEM|CODE`.
        code: String,
    },
    /// The value is a series, and `function` of its points in `window` (those tagged `tag`
    /// only, if given) `op operand` holds. No point: a count or sum is 0; a mean, min or max
    /// does not exist and the answer is no.
    Aggregate {
        /// What is computed.
        function: Aggregation,
        /// Which points.
        window: Window,
        /// Only points with this tag, if given.
        tag: Option<String>,
        /// The operator.
        op: CompareOp,
        /// The right-hand side.
        operand: f64,
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
    /// `sum since SINCE >= threshold`: the series' points since `since` add up to `threshold`.
    pub fn sum_since(since: Timestamp, threshold: f64) -> Predicate {
        let window = if since == Timestamp::EPOCH { Window::All } else { Window::Since(since) };
        Predicate::Aggregate {
            function: Aggregation::Sum,
            window,
            tag: None,
            op: CompareOp::GreaterOrEqual,
            operand: threshold,
        }
    }

    /// The value type this predicate reads.
    pub fn value_type(&self) -> &'static str {
        match self {
            Predicate::AgeAtLeast { .. } | Predicate::AgeInRange { .. } | Predicate::DateCompare { .. } => "date",
            Predicate::NumberInRange { .. } | Predicate::NumberCompare { .. } => "number",
            Predicate::TextOneOf { .. } => "text",
            Predicate::HasCode { .. } => "codes",
            Predicate::Aggregate { .. } => "series",
        }
    }

    /// Answers the predicate for `value` at time `now`.
    pub fn evaluate(&self, value: &Value, now: Timestamp) -> Result<bool, TypeMismatch> {
        let age = |birth: &Date| birth.whole_years_until(Date::of(now));
        match (self, value) {
            (Predicate::AgeAtLeast { years }, Value::Date(birth)) => Ok(age(birth) >= i64::from(*years)),
            (Predicate::AgeInRange { min, max }, Value::Date(birth)) => {
                Ok((i64::from(*min)..=i64::from(*max)).contains(&age(birth)))
            }
            (Predicate::NumberInRange { min, max }, Value::Number(n)) => Ok(min <= n && n <= max),
            (Predicate::NumberCompare { op, operand }, Value::Number(n)) => Ok(op.holds(*n, *operand)),
            (Predicate::DateCompare { op, operand }, Value::Date(date)) => Ok(op.holds(date, operand)),
            (Predicate::TextOneOf { values }, Value::Text(text)) => Ok(values.iter().any(|v| v == text)),
            (Predicate::HasCode { code }, Value::Codes(codes)) => Ok(codes.contains(code)),
            (Predicate::Aggregate { function, window, tag, op, operand }, Value::Series(points)) => {
                let selected = points
                    .iter()
                    .filter(|p| window.contains(p.at, now) && (tag.is_none() || p.tag == *tag))
                    .map(|p| p.value);
                Ok(function.of(selected).is_some_and(|value| op.holds(value, *operand)))
            }
            _ => Err(TypeMismatch {
                predicate: self.to_string(),
                expected: self.value_type(),
                actual: value.type_name(),
            }),
        }
    }

    fn validate(self) -> Result<Self, DecodeError> {
        let invalid = |reason| Err(DecodeError::Invalid { field: "predicate", reason });
        match &self {
            Predicate::AgeInRange { min, max } if min > max => return invalid("bounds must be ordered"),
            Predicate::NumberInRange { min, max } if !(min.is_finite() && max.is_finite() && min <= max) => {
                return invalid("bounds must be finite and ordered");
            }
            Predicate::NumberCompare { operand, .. } | Predicate::Aggregate { operand, .. } if !operand.is_finite() => {
                return invalid("bounds must be finite and ordered");
            }
            Predicate::TextOneOf { values } => {
                decode::bounded("predicate.one_of", values, MAX_ONE_OF)?;
                if values.is_empty() || !values.iter().all(|v| is_token(v)) {
                    return invalid("`one of` needs 1 to 32 tokens");
                }
            }
            Predicate::HasCode { code } if !(is_token(code) && code.contains('|')) => {
                return invalid("a code is a SYSTEM|CODE token");
            }
            Predicate::Aggregate { tag: Some(tag), .. } if !is_token(tag) => return invalid("a tag is a token"),
            Predicate::Aggregate { window: Window::Last(length), .. } if length.is_zero() => {
                return invalid("an empty window");
            }
            _ => {}
        }
        Ok(self)
    }
}

/// Splits `OP OPERAND`.
fn comparison(text: &str) -> Option<(CompareOp, &str)> {
    let text = text.trim();
    let op = CompareOp::ALL.into_iter().find(|op| text.starts_with(op.symbol()))?;
    Some((op, text[op.symbol().len()..].trim()))
}

/// Writes an instant as a `YYYY-MM-DD` day when it is that day's midnight, else `@MILLIS`.
fn write_instant(f: &mut fmt::Formatter<'_>, at: Timestamp) -> fmt::Result {
    if Date::of(at).start() == Some(at) { write!(f, "{}", Date::of(at)) } else { write!(f, "@{}", at.as_millis()) }
}

impl fmt::Display for Predicate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Predicate::AgeAtLeast { years } => write!(f, "age >= {years}"),
            Predicate::AgeInRange { min, max } => write!(f, "age in {min}..={max}"),
            Predicate::NumberInRange { min, max } => write!(f, "in {min}..={max}"),
            Predicate::NumberCompare { op, operand } => write!(f, "{} {operand}", op.symbol()),
            Predicate::DateCompare { op, operand } => write!(f, "{} {operand}", op.symbol()),
            Predicate::TextOneOf { values } => write!(f, "one of [{}]", values.join(", ")),
            Predicate::HasCode { code } => write!(f, "has {code}"),
            Predicate::Aggregate { function, window, tag, op, operand } => {
                f.write_str(function.name())?;
                if let Some(tag) = tag {
                    write!(f, " tagged {tag}")?;
                }
                match window {
                    Window::All => {}
                    Window::Since(since) => {
                        f.write_str(" since ")?;
                        write_instant(f, *since)?;
                    }
                    Window::Last(length) => write!(f, " in last {}", format_duration(*length))?,
                }
                write!(f, " {} {operand}", op.symbol())
            }
        }
    }
}

/// The text forms [`Predicate`] reads, for error hints.
pub const PREDICATE_FORMS: &str = "write e.g. `age >= 18`, `age in 40..=64`, `in 43..=45`, `>= 600`, \
     `< 2026-01-01`, `one of [DE, AT]`, `has sct|44054006`, `sum tagged pegasus-41 >= 700` or \
     `max in last 365d > 6.5` (count, sum, mean, min or max; `tagged TAG`; `since DATE` or `in last DURATION`)";

/// Reads what `Display` writes: `age >= 18`, `age in 40..=64`, `in 43..=45`, `>= 600` (or `<`,
/// `<=`, `==`, `>` against a number or a `YYYY-MM-DD` date), `one of [a, b]`, `has SYSTEM|CODE`,
/// and aggregates `FUNCTION [tagged TAG] [since DATE|@MILLIS | in last DURATION] OP NUMBER`.
/// No form holds a `:`, so that predicates can stand inside the text of a use or a field.
impl FromStr for Predicate {
    type Err = TextError;
    fn from_str(text: &str) -> Result<Self, TextError> {
        let invalid = || TextError::new(text, "a derived fact", PREDICATE_FORMS);
        let number = |s: &str| s.trim().parse::<f64>().map_err(|_| invalid());
        let whole = |s: &str| s.trim().parse::<u32>().map_err(|_| invalid());
        let trimmed = text.trim();
        let (word, rest) = trimmed.split_once(' ').unwrap_or((trimmed, ""));
        let predicate = if let Some(years) = trimmed.strip_prefix("age >=") {
            Predicate::AgeAtLeast { years: whole(years)? }
        } else if let Some(range) = trimmed.strip_prefix("age in ") {
            let (min, max) = range.split_once("..=").ok_or_else(invalid)?;
            Predicate::AgeInRange { min: whole(min)?, max: whole(max)? }
        } else if let Some(range) = trimmed.strip_prefix("in ") {
            let (min, max) = range.split_once("..=").ok_or_else(invalid)?;
            Predicate::NumberInRange { min: number(min)?, max: number(max)? }
        } else if let Some(list) = trimmed.strip_prefix("one of") {
            let list = list.trim().strip_prefix('[').and_then(|l| l.strip_suffix(']')).ok_or_else(invalid)?;
            Predicate::TextOneOf { values: list.split(',').map(|v| v.trim().to_owned()).collect() }
        } else if let Some(code) = trimmed.strip_prefix("has ") {
            Predicate::HasCode { code: code.trim().to_owned() }
        } else if let Some(function) = Aggregation::ALL.into_iter().find(|a| a.name() == word) {
            let mut rest = rest.trim_start();
            let mut tag = None;
            if let Some(after) = rest.strip_prefix("tagged ") {
                let (name, after) = after.trim_start().split_once(' ').ok_or_else(invalid)?;
                tag = Some(name.to_owned());
                rest = after.trim_start();
            }
            let mut window = Window::All;
            if let Some(after) = rest.strip_prefix("since ") {
                let (since, after) = after.trim_start().split_once(' ').ok_or_else(invalid)?;
                let since = match since.strip_prefix('@') {
                    Some(ms) => Timestamp::from_millis(ms.parse().map_err(|_| invalid())?),
                    None => since.parse::<Date>().ok().and_then(Date::start).ok_or_else(invalid)?,
                };
                window = Window::Since(since);
                rest = after;
            } else if let Some(after) = rest.strip_prefix("in last ") {
                let (length, after) = after.trim_start().split_once(' ').ok_or_else(invalid)?;
                window = Window::Last(parse_duration(length).map_err(|_| invalid())?);
                rest = after;
            }
            let (op, operand) = comparison(rest).ok_or_else(invalid)?;
            Predicate::Aggregate { function, window, tag, op, operand: number(operand)? }
        } else {
            let (op, operand) = comparison(trimmed).ok_or_else(invalid)?;
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

fn aggregation(value: i32) -> Result<Aggregation, DecodeError> {
    use wire::Aggregation as W;
    match W::try_from(value) {
        Ok(W::Count) => Ok(Aggregation::Count),
        Ok(W::Sum) => Ok(Aggregation::Sum),
        Ok(W::Mean) => Ok(Aggregation::Mean),
        Ok(W::Min) => Ok(Aggregation::Min),
        Ok(W::Max) => Ok(Aggregation::Max),
        Ok(W::Unspecified) | Err(_) => Err(DecodeError::UnknownEnum { field: "function", value }),
    }
}

impl From<Aggregation> for wire::Aggregation {
    fn from(function: Aggregation) -> wire::Aggregation {
        match function {
            Aggregation::Count => wire::Aggregation::Count,
            Aggregation::Sum => wire::Aggregation::Sum,
            Aggregation::Mean => wire::Aggregation::Mean,
            Aggregation::Min => wire::Aggregation::Min,
            Aggregation::Max => wire::Aggregation::Max,
        }
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
        use wire::series_aggregate::Window as W;
        let predicate = match decode::required("predicate", predicate.kind)? {
            Kind::AgeAtLeast(p) => Predicate::AgeAtLeast { years: p.years },
            Kind::AgeInRange(p) => Predicate::AgeInRange { min: p.min, max: p.max },
            Kind::NumberInRange(p) => Predicate::NumberInRange { min: p.min, max: p.max },
            Kind::NumberCompare(p) => Predicate::NumberCompare { op: compare_op(p.op)?, operand: p.value },
            Kind::DateCompare(p) => Predicate::DateCompare {
                op: compare_op(p.op)?,
                operand: decode::required("date_compare.date", p.date)?.try_into()?,
            },
            Kind::TextOneOf(p) => {
                decode::bounded("predicate.one_of", &p.values, MAX_ONE_OF)?;
                Predicate::TextOneOf { values: p.values }
            }
            Kind::HasCode(p) => Predicate::HasCode { code: token("predicate.has_code", p.code)? },
            Kind::SeriesAggregate(p) => Predicate::Aggregate {
                function: aggregation(p.function)?,
                window: match p.window {
                    None => Window::All,
                    Some(W::SinceMs(ms)) => Window::Since(Timestamp::from_millis(ms)),
                    Some(W::LastMs(ms)) => Window::Last(Duration::from_millis(ms)),
                },
                tag: if p.tag.is_empty() { None } else { Some(token("predicate.tag", p.tag)?) },
                op: compare_op(p.op)?,
                operand: p.value,
            },
        };
        predicate.validate()
    }
}

impl From<&Predicate> for wire::Predicate {
    fn from(predicate: &Predicate) -> wire::Predicate {
        use wire::predicate::Kind;
        use wire::series_aggregate::Window as W;
        let kind = match predicate {
            Predicate::AgeAtLeast { years } => Kind::AgeAtLeast(wire::AgeAtLeast { years: *years }),
            Predicate::AgeInRange { min, max } => Kind::AgeInRange(wire::AgeInRange { min: *min, max: *max }),
            Predicate::NumberInRange { min, max } => Kind::NumberInRange(wire::NumberInRange { min: *min, max: *max }),
            Predicate::NumberCompare { op, operand } => {
                Kind::NumberCompare(wire::NumberCompare { op: wire::CompareOp::from(*op) as i32, value: *operand })
            }
            Predicate::DateCompare { op, operand } => Kind::DateCompare(wire::DateCompare {
                op: wire::CompareOp::from(*op) as i32,
                date: Some((*operand).into()),
            }),
            Predicate::TextOneOf { values } => Kind::TextOneOf(wire::TextOneOf { values: values.clone() }),
            Predicate::HasCode { code } => Kind::HasCode(wire::HasCode { code: code.clone() }),
            Predicate::Aggregate { function, window, tag, op, operand } => {
                Kind::SeriesAggregate(wire::SeriesAggregate {
                    function: wire::Aggregation::from(*function) as i32,
                    op: wire::CompareOp::from(*op) as i32,
                    value: *operand,
                    tag: tag.clone().unwrap_or_default(),
                    window: match window {
                        Window::All => None,
                        Window::Since(since) => Some(W::SinceMs(since.as_millis())),
                        Window::Last(length) => Some(W::LastMs(duration_ms(*length))),
                    },
                })
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
            Point::new(Timestamp::from_millis(20_400 * DAY_MS), 500.0),
            Point::new(Timestamp::from_millis(20_500 * DAY_MS), 300.0),
            Point::new(Timestamp::from_millis(20_600 * DAY_MS), 310.0),
        ]);
        assert_eq!(Predicate::sum_since(since, 600.0).evaluate(&runs, START), Ok(true));
        assert_eq!(Predicate::sum_since(since, 700.0).evaluate(&runs, START), Ok(false));
    }

    fn parse(text: &str) -> Predicate {
        text.parse().unwrap()
    }

    #[test]
    fn aggregates_filter_by_tag_and_window() {
        let day = |d: u64| Timestamp::from_millis(d * DAY_MS);
        let now = day(20_600);
        let runs = Value::Series(vec![
            Point::tagged(day(20_000), 400.0, "pegasus-41"),
            Point::tagged(day(20_300), 250.0, "pegasus-41"),
            Point::tagged(day(20_400), 90.0, "trail"),
            Point::new(day(20_590), 10.0),
            Point::tagged(day(20_599), 60.0, "pegasus-41"),
        ]);
        let holds = |text: &str| parse(text).evaluate(&runs, now).unwrap();
        assert!(holds("sum tagged pegasus-41 >= 700"));
        assert!(!holds("sum tagged pegasus-41 > 710"));
        assert!(holds("sum >= 810"));
        assert!(holds("count tagged trail == 1"));
        assert!(holds("count in last 30d == 2"));
        assert!(holds("max in last 365d == 250"));
        assert!(holds("min since 2026-01-01 == 10"));
        assert!(holds("mean tagged pegasus-41 in last 1000d == 236.66666666666666"));
        // Nothing in the window: a count is 0, a maximum does not exist.
        assert!(holds("count tagged nothing == 0"));
        assert!(!holds("max tagged nothing < 1000"));
        // The window ends now: a point in the future is not in the last 30 days.
        let future = Value::Series(vec![Point::new(day(20_700), 5.0)]);
        assert_eq!(parse("count in last 30d >= 1").evaluate(&future, now), Ok(false));
    }

    #[test]
    fn age_bands_membership_and_codes() {
        let birth = Value::Date(Date::new(1980, 3, 1).unwrap()); // 46 on START
        assert_eq!(parse("age in 40..=49").evaluate(&birth, START), Ok(true));
        assert_eq!(parse("age in 50..=59").evaluate(&birth, START), Ok(false));
        let country = Value::Text("AT".into());
        assert_eq!(parse("one of [DE, AT, CH]").evaluate(&country, START), Ok(true));
        assert_eq!(parse("one of [FR]").evaluate(&country, START), Ok(false));
        let conditions = Value::Codes(["sct|44054006".to_owned(), "icd10|E11.9".to_owned()].into());
        assert_eq!(parse("has sct|44054006").evaluate(&conditions, START), Ok(true));
        assert_eq!(parse("has sct|38341003").evaluate(&conditions, START), Ok(false));
        for bad in ["age in 50..=40", "one of []", "one of [two words]", "has 44054006", "sum tagged a b >= 1"] {
            assert!(bad.parse::<Predicate>().is_err(), "{bad}");
        }
        assert!("sum in last 0d >= 1".parse::<Predicate>().is_err());
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
            Predicate::sum_since(START, 600.0),
            parse("max tagged lab|x in last 365d > 6.5"),
            parse("count since @1234 < 3"),
            parse("age in 40..=64"),
            parse("one of [a, b]"),
            parse("has sct|44054006"),
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
