//! The read API's handlers, one module per stage whose tables they read:
//! `registry`, `alerts` (alerts, deliveries, silences), `incidents`
//! (incidents, reports, response metrics) and `system` (rules, chains,
//! outbox, audit log). Each handler parses its parameters
//! ([`crate::params`]), calls the stage's read query on the blocking pool
//! and returns JSON; errors go through [`crate::AppError`].

pub(crate) mod alerts;
pub(crate) mod bots;
pub(crate) mod incidents;
pub(crate) mod registry;
pub(crate) mod system;
pub(crate) mod writes;

use axum::extract::Path;
use axum::extract::rejection::PathRejection;
use jiff::Timestamp;

use crate::error::AppError;

/// A route's one path segment, or a 400 naming it when it does not decode
/// (not UTF-8, say) rather than axum's plain-text rejection.
pub(crate) fn segment(
    path: Result<Path<String>, PathRejection>,
    name: &str,
) -> Result<String, AppError> {
    path.map(|Path(value)| value)
        .map_err(|_| AppError::bad(name, "does not decode as UTF-8 text"))
}

/// RFC 3339 in UTC to the millisecond, for the times the API adds beside
/// the stages' millisecond fields.
pub(crate) fn rfc3339(ms: i64) -> Option<String> {
    Timestamp::from_millisecond(ms)
        .ok()
        .map(|at| at.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
}
