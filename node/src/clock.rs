//! The one clock: the protocol core never reads time, so every driver (the node's actor, the
//! API, the demo, the simulator, tests and benches) asks this module and passes the answer in.

use me2b_proto::time::Timestamp;
use std::time::SystemTime;

/// Now, by the system clock, in milliseconds since the epoch (the epoch itself if the clock is
/// set before it).
pub fn now() -> Timestamp {
    let ms = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or_default();
    Timestamp::from_millis(u64::try_from(ms).unwrap_or(u64::MAX))
}
