//! Where "now" comes from, so tests drive time instead of sleeping.
//!
//! Every time the pipeline writes (an alert's creation, a retry's due time, a
//! silence's end) is read from a [`Clock`]; the dispatcher's timers only
//! decide *when to look again*, never *what is due*. A test moves a manual
//! clock forward and pokes the dispatcher awake.
//!
//! This mirrors `argus_audit::Clock`; both move to `argus-core` when the
//! daemon wires them together.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch, from the system or from a test.
#[derive(Debug, Clone)]
pub struct Clock {
    manual: Option<Arc<AtomicI64>>,
}

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Self { manual: None }
    }

    /// A clock that stays at `at_ms` until [`Clock::set_ms`] or [`Clock::advance_ms`].
    pub fn manual(at_ms: i64) -> Self {
        Self {
            manual: Some(Arc::new(AtomicI64::new(at_ms))),
        }
    }

    /// Now, in milliseconds since the Unix epoch.
    pub fn now_ms(&self) -> i64 {
        match &self.manual {
            Some(at) => at.load(Ordering::SeqCst),
            None => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
        }
    }

    /// Moves a manual clock to `at_ms` (no effect on the system clock).
    pub fn set_ms(&self, at_ms: i64) {
        if let Some(at) = &self.manual {
            at.store(at_ms, Ordering::SeqCst);
        }
    }

    /// Moves a manual clock forward (no effect on the system clock).
    pub fn advance_ms(&self, by_ms: i64) {
        if let Some(at) = &self.manual {
            at.fetch_add(by_ms, Ordering::SeqCst);
        }
    }

    /// Whether this clock is driven by hand.
    pub fn is_manual(&self) -> bool {
        self.manual.is_some()
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::system()
    }
}
