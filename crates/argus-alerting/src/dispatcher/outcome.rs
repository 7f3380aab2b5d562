//! What a sink answered, and writing a batch of answers at once.
//!
//! Sends finish one by one, but their outcomes are written together: every
//! outcome collected since the last pass goes into the pass's one
//! transaction (with the next claims), so a burst of thousands costs a
//! commit per batch rather than per delivery. A `delivered` mark is still
//! written only after the sink accepted, and a fire whose alert was retracted
//! meanwhile still gets its retraction queued by the mark
//! ([`outbox::mark_delivered`]), so order and exactly-once are those of one
//! delivery at a time.

use argus_store::Connection;

use super::RetryPolicy;
use crate::error::AlertError;
use crate::notify::SendError;
use crate::outbox::{self, Delivery};

/// One finished send, ready to be written.
#[derive(Debug)]
pub(super) struct Outcome {
    pub(super) delivery_id: i64,
    pub(super) notifier: String,
    pub(super) verdict: Verdict,
}

#[derive(Debug)]
pub(super) enum Verdict {
    /// Accepted at `at_ms`.
    Delivered { at_ms: i64 },
    /// Try again at `at_ms`.
    Retry { at_ms: i64, error: String },
    /// Refused for good.
    Failed { error: String },
}

impl Outcome {
    /// The outcome of `delivery`'s send that ended at `now_ms` with `result`:
    /// a retry waits for the sink's `Retry-After`, or the backoff.
    pub(super) fn of(
        delivery: Delivery,
        result: Result<(), SendError>,
        now_ms: i64,
        retry: RetryPolicy,
    ) -> Self {
        let verdict = match result {
            Ok(()) => Verdict::Delivered { at_ms: now_ms },
            Err(error) if error.retryable => {
                let backoff = retry.delay_ms(&delivery.idempotency_key, delivery.attempts + 1);
                let wait = error
                    .retry_after
                    .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 4))
                    .unwrap_or(backoff);
                Verdict::Retry {
                    at_ms: now_ms.saturating_add(wait),
                    error: error.message,
                }
            }
            Err(error) => Verdict::Failed {
                error: error.message,
            },
        };
        Self {
            delivery_id: delivery.id,
            notifier: delivery.notifier,
            verdict,
        }
    }
}

/// Writes `outcomes` inside the caller's transaction.
pub(super) fn record(conn: &Connection, outcomes: &[Outcome]) -> Result<(), AlertError> {
    for outcome in outcomes {
        match &outcome.verdict {
            Verdict::Delivered { at_ms } => {
                outbox::mark_delivered(conn, outcome.delivery_id, *at_ms)?;
            }
            Verdict::Retry { at_ms, error } => {
                outbox::mark_retry(conn, outcome.delivery_id, *at_ms, error)?;
            }
            Verdict::Failed { error } => outbox::mark_failed(conn, outcome.delivery_id, error)?,
        }
    }
    Ok(())
}
