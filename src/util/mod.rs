//! Small pieces Redis semantics need in more than one place.

pub mod clock;
pub mod glob;
pub mod longdouble;
pub mod num;

use std::time::{SystemTime, UNIX_EPOCH};

/// Wall-clock milliseconds since the Unix epoch. Expiry in Redis is
/// wall-clock based (EXPIREAT takes a Unix time), so the store uses this
/// rather than a monotonic clock.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Wall-clock microseconds since the Unix epoch (TIME).
pub fn now_us() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros())
        .unwrap_or(0)
}
