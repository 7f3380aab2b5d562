//! The one clock of Argus: where "now" comes from, so tests drive time
//! instead of sleeping. The audit log reads it as a date with an offset; the
//! alert pipeline as milliseconds since the Unix epoch (an alert's creation,
//! a retry's due time, a silence's end), and a test moves a manual clock
//! forward and pokes the dispatcher awake.

use std::sync::Arc;
use std::sync::Mutex;

use time::{OffsetDateTime, UtcOffset};

/// Where "now" comes from.
#[derive(Debug, Clone)]
pub struct Clock {
    inner: ClockInner,
}

#[derive(Debug, Clone)]
enum ClockInner {
    System { offset: UtcOffset },
    Manual(Arc<Mutex<OffsetDateTime>>),
}

impl Clock {
    /// The system clock, in UTC.
    pub fn system() -> Self {
        Self {
            inner: ClockInner::System {
                offset: UtcOffset::UTC,
            },
        }
    }

    /// The system clock, reported in the given offset (entries keep it).
    pub fn system_with_offset(offset: UtcOffset) -> Self {
        Self {
            inner: ClockInner::System { offset },
        }
    }

    /// A clock that stays at `at` until [`Clock::set`] or [`Clock::advance`].
    pub fn manual(at: OffsetDateTime) -> Self {
        Self {
            inner: ClockInner::Manual(Arc::new(Mutex::new(at))),
        }
    }

    /// The current time.
    pub fn now(&self) -> OffsetDateTime {
        match &self.inner {
            ClockInner::System { offset } => OffsetDateTime::now_utc().to_offset(*offset),
            ClockInner::Manual(at) => match at.lock() {
                Ok(at) => *at,
                Err(poisoned) => *poisoned.into_inner(),
            },
        }
    }

    /// Moves a manual clock to `at` (no effect on the system clock).
    pub fn set(&self, at: OffsetDateTime) {
        if let ClockInner::Manual(cell) = &self.inner {
            match cell.lock() {
                Ok(mut guard) => *guard = at,
                Err(poisoned) => *poisoned.into_inner() = at,
            }
        }
    }

    /// Moves a manual clock forward (no effect on the system clock).
    pub fn advance(&self, by: time::Duration) {
        let now = self.now();
        self.set(now + by);
    }

    /// A manual clock at `at_ms` milliseconds since the Unix epoch (UTC).
    pub fn manual_ms(at_ms: i64) -> Self {
        Self::manual(from_ms(at_ms))
    }

    /// Now, in milliseconds since the Unix epoch.
    pub fn now_ms(&self) -> i64 {
        let nanos = self.now().unix_timestamp_nanos() / 1_000_000;
        i64::try_from(nanos).unwrap_or(if nanos < 0 { i64::MIN } else { i64::MAX })
    }

    /// Moves a manual clock to `at_ms` (no effect on the system clock).
    pub fn set_ms(&self, at_ms: i64) {
        self.set(from_ms(at_ms));
    }

    /// Moves a manual clock forward by `by_ms` (no effect on the system clock).
    pub fn advance_ms(&self, by_ms: i64) {
        self.advance(time::Duration::milliseconds(by_ms));
    }

    /// Whether this clock is driven by hand.
    pub fn is_manual(&self) -> bool {
        matches!(self.inner, ClockInner::Manual(_))
    }
}

fn from_ms(at_ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(at_ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

impl Default for Clock {
    fn default() -> Self {
        Self::system()
    }
}
