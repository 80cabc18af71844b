//! Time as the protocol sees it: milliseconds since the Unix epoch, always passed in by the
//! driver. Nothing in this crate reads a clock.

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
        let date = crate::value::Date::from_days_since_epoch(self.days_since_epoch());
        let ms_of_day = self.0 % 86_400_000;
        write!(f, "{date}T{:02}:{:02}:{:02}Z", ms_of_day / 3_600_000, ms_of_day / 60_000 % 60, ms_of_day / 1000 % 60)
    }
}

/// Milliseconds in a duration, saturating.
pub(crate) fn duration_ms(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}
