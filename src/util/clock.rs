//! The wall clock the stores read, injectable so that tests advance time
//! instead of sleeping on it (STYLE.md, habit 8).
//!
//! Redis' expiry is wall-clock based (EXPIREAT takes a Unix time), so the
//! clock gives Unix milliseconds. [`Clock::system`] reads the system clock;
//! [`Clock::manual`] is a clock a test sets and advances, shared by every
//! handle cloned from it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// A source of Unix milliseconds. Cheap to clone and to read.
#[derive(Clone, Debug, Default)]
pub struct Clock(Source);

#[derive(Clone, Debug, Default)]
enum Source {
    #[default]
    System,
    Manual(Arc<AtomicU64>),
}

impl Clock {
    /// The system's wall clock.
    pub fn system() -> Clock {
        Clock(Source::System)
    }

    /// A clock that stands at `unix_ms` until [`Clock::advance`] or
    /// [`Clock::set`] moves it.
    pub fn manual(unix_ms: u64) -> Clock {
        Clock(Source::Manual(Arc::new(AtomicU64::new(unix_ms))))
    }

    /// Unix milliseconds now.
    #[inline]
    pub fn now_ms(&self) -> u64 {
        match &self.0 {
            Source::System => super::now_ms(),
            Source::Manual(at) => at.load(Ordering::Acquire),
        }
    }

    /// Move a manual clock forward by `ms`. Does nothing to the system clock.
    pub fn advance(&self, ms: u64) {
        if let Source::Manual(at) = &self.0 {
            at.fetch_add(ms, Ordering::AcqRel);
        }
    }

    /// Set a manual clock to `unix_ms`. Does nothing to the system clock.
    pub fn set(&self, unix_ms: u64) {
        if let Source::Manual(at) = &self.0 {
            at.store(unix_ms, Ordering::Release);
        }
    }

    /// Whether this is a manual clock (tests).
    pub fn is_manual(&self) -> bool {
        matches!(self.0, Source::Manual(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clocks_move_only_when_told_and_share_their_time() {
        let clock = Clock::manual(1_000);
        let other = clock.clone();
        assert_eq!(clock.now_ms(), 1_000);
        other.advance(250);
        assert_eq!(clock.now_ms(), 1_250);
        clock.set(5);
        assert_eq!(other.now_ms(), 5);
    }

    #[test]
    fn the_system_clock_is_the_unix_time() {
        let before = super::super::now_ms();
        let read = Clock::system().now_ms();
        assert!(read >= before && read < before + 60_000);
    }
}
