//! The one clock the log reads time from, so tests drive time instead of
//! sleeping.

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
}

impl Default for Clock {
    fn default() -> Self {
        Self::system()
    }
}
