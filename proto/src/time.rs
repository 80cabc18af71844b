//! Time as the protocol sees it: milliseconds since the Unix epoch, always passed in by the
//! driver, calendar dates, and the text form of durations (`30d`). Nothing in this crate reads
//! a clock. A leaf module: it depends on nothing else in the crate but the wire types.

use crate::decode::{DecodeError, TextError};
use crate::wire;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

/// A point in time, in milliseconds since 1970-01-01T00:00:00Z.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
pub struct Timestamp(u64);

impl Timestamp {
    /// The Unix epoch.
    pub const EPOCH: Timestamp = Timestamp(0);

    /// A timestamp from milliseconds since the epoch.
    pub const fn from_millis(ms: u64) -> Self {
        Timestamp(ms)
    }

    /// Milliseconds since the epoch.
    pub const fn as_millis(self) -> u64 {
        self.0
    }

    /// This time plus `duration`, saturating at the end of time.
    pub fn saturating_add(self, duration: Duration) -> Self {
        let ms = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
        Timestamp(self.0.saturating_add(ms))
    }

    /// Time elapsed from `earlier` to `self`, zero if `earlier` is later.
    pub fn saturating_since(self, earlier: Timestamp) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0))
    }

    /// Days since the epoch (floor), for calendar arithmetic.
    pub fn days_since_epoch(self) -> i64 {
        (self.0 / 86_400_000) as i64
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "t{}ms", self.0)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let date = Date::from_days_since_epoch(self.days_since_epoch());
        let ms_of_day = self.0 % 86_400_000;
        write!(f, "{date}T{:02}:{:02}:{:02}Z", ms_of_day / 3_600_000, ms_of_day / 60_000 % 60, ms_of_day / 1000 % 60)
    }
}

/// Reads a duration: a whole number and a unit, `250ms`, `45s`, `90m`, `12h`, `30d` or `2w`.
pub fn parse_duration(text: &str) -> Result<Duration, TextError> {
    let invalid = || TextError::new(text, "a duration", "use a number and a unit, e.g. 30d, 12h, 90m, 45s, 2w");
    let trimmed = text.trim();
    let split = trimmed.find(|c: char| !c.is_ascii_digit()).ok_or_else(invalid)?;
    let (number, unit) = trimmed.split_at(split);
    let number: u64 = number.parse().map_err(|_| invalid())?;
    let millis: u64 = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        "w" => 7 * 86_400_000,
        _ => return Err(invalid()),
    };
    number.checked_mul(millis).map(Duration::from_millis).ok_or_else(invalid)
}

/// Writes a duration the way [`parse_duration`] reads it, in the largest unit that divides it
/// (so `30d`, not `2592000s`); below a millisecond is dropped.
pub fn format_duration(duration: Duration) -> String {
    let millis = duration_ms(duration);
    for (unit, size) in [("w", 7 * 86_400_000), ("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1_000)] {
        if millis > 0 && millis.is_multiple_of(size) {
            return format!("{}{unit}", millis / size);
        }
    }
    format!("{millis}ms")
}

/// Milliseconds in a duration, saturating.
pub fn duration_ms(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// A calendar date (proleptic Gregorian).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Date {
    year: i32,
    month: u32,
    day: u32,
}

impl Date {
    /// A date, if it exists (years 1 to 9999).
    pub fn new(year: i32, month: u32, day: u32) -> Option<Date> {
        let valid =
            (1..=9999).contains(&year) && (1..=12).contains(&month) && day >= 1 && day <= days_in_month(year, month);
        valid.then_some(Date { year, month, day })
    }

    /// The year.
    pub fn year(self) -> i32 {
        self.year
    }

    /// The month, 1 to 12.
    pub fn month(self) -> u32 {
        self.month
    }

    /// The day of the month, 1 to 31.
    pub fn day(self) -> u32 {
        self.day
    }

    /// The date `days` after 1970-01-01 (Howard Hinnant's civil-from-days).
    pub fn from_days_since_epoch(days: i64) -> Date {
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = (yoe + era * 400 + i64::from(month <= 2)) as i32;
        Date { year, month, day }
    }

    /// Days from 1970-01-01 to this date, negative before it (Howard Hinnant's
    /// days-from-civil).
    pub fn days_since_epoch(self) -> i64 {
        let year = i64::from(self.year) - i64::from(self.month <= 2);
        let era = year.div_euclid(400);
        let yoe = year.rem_euclid(400);
        let month = i64::from(self.month);
        let doy = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(self.day) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }

    /// Midnight (UTC) at the start of this date, if it is not before the epoch.
    pub fn start(self) -> Option<Timestamp> {
        let days = u64::try_from(self.days_since_epoch()).ok()?;
        days.checked_mul(86_400_000).map(Timestamp::from_millis)
    }

    /// The date of a timestamp (UTC).
    pub fn of(time: Timestamp) -> Date {
        Date::from_days_since_epoch(time.days_since_epoch())
    }

    /// Whole years from `self` to `later` (an age).
    pub fn whole_years_until(self, later: Date) -> i64 {
        let mut years = i64::from(later.year) - i64::from(self.year);
        if (later.month, later.day) < (self.month, self.day) {
            years -= 1;
        }
        years
    }
}

fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        _ => 28,
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

/// A date that is not `YYYY-MM-DD` or does not exist.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a date; expected YYYY-MM-DD")]
pub struct BadDate(pub String);

impl std::str::FromStr for Date {
    type Err = BadDate;
    fn from_str(text: &str) -> Result<Date, BadDate> {
        let bad = || BadDate(text.to_owned());
        let mut parts = text.splitn(3, '-');
        let mut next = || parts.next().ok_or_else(bad);
        let (year, month, day) = (next()?, next()?, next()?);
        if year.len() != 4 || month.len() != 2 || day.len() != 2 {
            return Err(bad());
        }
        let year = year.parse().map_err(|_| bad())?;
        let month = month.parse().map_err(|_| bad())?;
        let day = day.parse().map_err(|_| bad())?;
        Date::new(year, month, day).ok_or_else(bad)
    }
}

impl TryFrom<wire::Date> for Date {
    type Error = DecodeError;
    fn try_from(date: wire::Date) -> Result<Date, DecodeError> {
        Date::new(date.year, date.month, date.day)
            .ok_or(DecodeError::Invalid { field: "date", reason: "no such calendar date" })
    }
}

impl From<Date> for wire::Date {
    fn from(date: Date) -> wire::Date {
        wire::Date { year: date.year, month: date.month, day: date.day }
    }
}
