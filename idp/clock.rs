//! The one place that reads the wall clock.
//!
//! Everything else receives the time as a value (`now: NaiveDateTime`, UTC) so that expiry of codes,
//! links and sessions can be tested without sleeping. `clippy.toml` forbids `Utc::now` elsewhere.

use std::sync::Arc;

use chrono::{NaiveDateTime, Utc};

/// A source of the current time in UTC.
pub trait Clock: Send + Sync + 'static {
    /// The current time, UTC, without a zone (the form the database stores).
    fn now(&self) -> NaiveDateTime;
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[expect(clippy::disallowed_methods, reason = "this is the clock")]
    fn now(&self) -> NaiveDateTime {
        Utc::now().naive_utc()
    }
}

/// A shared clock handle, as kept in application state.
pub type SharedClock = Arc<dyn Clock>;

/// The system clock as a shared handle.
pub fn system() -> SharedClock {
    Arc::new(SystemClock)
}

/// The system clock moved by an adjustable offset: lets tests (and only tests, in practice) let
/// codes, links and sessions expire without sleeping.
#[derive(Debug, Default)]
pub struct OffsetClock {
    offset_seconds: std::sync::atomic::AtomicI64,
}

impl OffsetClock {
    /// Moves the clock forward by `seconds` (cumulative).
    pub fn advance(&self, seconds: i64) {
        self.offset_seconds
            .fetch_add(seconds, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Clock for OffsetClock {
    fn now(&self) -> NaiveDateTime {
        let offset = self
            .offset_seconds
            .load(std::sync::atomic::Ordering::SeqCst);
        SystemClock.now() + chrono::Duration::seconds(offset)
    }
}
