//! The one clock of Argus: where "now" comes from, so tests drive time
//! instead of sleeping. The audit log reads it as a date with an offset (a
//! [`jiff::ZonedDateTime`]); the alert pipeline as milliseconds since the
//! Unix epoch (an alert's creation, a retry's due time, a silence's end), and
//! a test moves a manual clock forward and pokes the dispatcher awake.

use std::sync::Arc;
use std::sync::Mutex;

use jiff::tz::{Offset, TimeZone};
use jiff::{SignedDuration, Timestamp, ZonedDateTime};

/// Where "now" comes from.
#[derive(Debug, Clone)]
pub struct Clock {
    inner: ClockInner,
}

#[derive(Debug, Clone)]
enum ClockInner {
    System { offset: Offset },
    Manual(Arc<Mutex<ZonedDateTime>>),
}

impl Clock {
    /// The system clock, in UTC.
    pub fn system() -> Self {
        Self {
            inner: ClockInner::System {
                offset: Offset::UTC,
            },
        }
    }

    /// The system clock, reported in the given offset (entries keep it).
    pub fn system_with_offset(offset: Offset) -> Self {
        Self {
            inner: ClockInner::System { offset },
        }
    }

    /// A clock that stays at `at` until [`Clock::set`] or [`Clock::advance`].
    pub fn manual(at: ZonedDateTime) -> Self {
        Self {
            inner: ClockInner::Manual(Arc::new(Mutex::new(at))),
        }
    }

    /// The current time, in this clock's offset (a manual clock: in the time
    /// zone it was given).
    pub fn now(&self) -> ZonedDateTime {
        match &self.inner {
            ClockInner::System { offset } => {
                Timestamp::now().to_zoned_datetime(TimeZone::fixed(*offset))
            }
            ClockInner::Manual(at) => match at.lock() {
                Ok(at) => at.clone(),
                Err(poisoned) => poisoned.into_inner().clone(),
            },
        }
    }

    /// Moves a manual clock to `at` (no effect on the system clock).
    pub fn set(&self, at: ZonedDateTime) {
        if let ClockInner::Manual(cell) = &self.inner {
            match cell.lock() {
                Ok(mut guard) => *guard = at,
                Err(poisoned) => *poisoned.into_inner() = at,
            }
        }
    }

    /// Moves a manual clock forward by an exact duration (no effect on the
    /// system clock). A step past the calendar's end stops at its edge.
    pub fn advance(&self, by: SignedDuration) {
        let now = self.now();
        let next = now.checked_add(by).unwrap_or_else(|_| {
            let edge = if by.is_negative() {
                Timestamp::MIN
            } else {
                Timestamp::MAX
            };
            edge.to_zoned_datetime(now.time_zone().clone())
        });
        self.set(next);
    }

    /// A manual clock at `at_ms` milliseconds since the Unix epoch (UTC).
    pub fn manual_ms(at_ms: i64) -> Self {
        Self::manual(from_ms(at_ms))
    }

    /// Now, in milliseconds since the Unix epoch.
    pub fn now_ms(&self) -> i64 {
        self.now().timestamp().as_millisecond()
    }

    /// Moves a manual clock to `at_ms` (no effect on the system clock).
    pub fn set_ms(&self, at_ms: i64) {
        self.set(from_ms(at_ms));
    }

    /// Moves a manual clock forward by `by_ms` (no effect on the system clock).
    pub fn advance_ms(&self, by_ms: i64) {
        self.advance(SignedDuration::from_millis(by_ms));
    }

    /// Whether this clock is driven by hand.
    pub fn is_manual(&self) -> bool {
        matches!(self.inner, ClockInner::Manual(_))
    }
}

fn from_ms(at_ms: i64) -> ZonedDateTime {
    Timestamp::from_millisecond(at_ms)
        .unwrap_or(Timestamp::UNIX_EPOCH)
        .to_zoned_datetime(TimeZone::UTC)
}

impl Default for Clock {
    fn default() -> Self {
        Self::system()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_manual_clock_moves_only_by_hand_and_keeps_its_offset() {
        let start: ZonedDateTime = "2026-11-05T10:00:00+01:00[+01:00]".parse().unwrap();
        let clock = Clock::manual(start.clone());
        assert!(clock.is_manual());
        assert_eq!(clock.now(), start);
        clock.advance(SignedDuration::from_mins(5));
        let now = clock.now();
        assert_eq!(
            now.timestamp(),
            start.timestamp() + SignedDuration::from_mins(5)
        );
        assert_eq!(now.offset(), Offset::constant(1));
        clock.advance_ms(-300_000);
        assert_eq!(clock.now(), start);
        clock.set_ms(1_500);
        assert_eq!(clock.now_ms(), 1_500);
        assert_eq!(clock.now().offset(), Offset::UTC);
    }

    #[test]
    fn milliseconds_before_the_epoch_truncate_towards_zero() {
        let clock = Clock::manual_ms(-1_500);
        assert_eq!(clock.now_ms(), -1_500);
        clock.advance(SignedDuration::from_nanos(-400_000));
        assert_eq!(clock.now_ms(), -1_500);
    }

    #[test]
    fn a_step_past_the_calendar_stops_at_its_edge() {
        let clock = Clock::manual_ms(0);
        clock.advance(SignedDuration::MAX);
        assert_eq!(clock.now().timestamp(), Timestamp::MAX);
    }

    #[test]
    fn the_system_clock_reports_in_its_offset() {
        let clock = Clock::system_with_offset(Offset::constant(-5));
        assert!(!clock.is_manual());
        clock.set_ms(0);
        let now = clock.now();
        assert_eq!(now.offset(), Offset::constant(-5));
        assert!(now.timestamp().as_second() > 1_700_000_000);
    }
}
