//! An incident and everything about it as one JSON document: what `argus
//! incidents show --json` prints and what the HTTP API serves at
//! `/api/incidents/{id}`, built in one place so the two never drift.
//!
//! It is JSON rather than a typed struct because it is a view for people
//! and tools over the stage's typed rows ([`db`]), not something read back;
//! the [`report`](crate::report) is the typed, figured version.

use argus_store::Connection;
use serde_json::{Value, json};

use crate::db;
use crate::error::IncidentError;

/// Incident `id` with its alerts (and what the outbox says of each), steps,
/// approvals, signed transactions, evidence files and timeline.
/// [`IncidentError::NotFound`] when there is no such incident.
pub fn incident_document(conn: &Connection, id: i64) -> Result<Value, IncidentError> {
    let incident = db::incident(conn, id)?;
    let alerts: Vec<Value> = db::alerts_of(conn, id)?
        .into_iter()
        .map(|a| {
            // An alert the outbox cannot read back is shown without its
            // title rather than hiding the whole incident.
            let record = argus_alerting::outbox::get_alert(conn, &a.alert_id)
                .ok()
                .flatten();
            json!({
                "alert": a.alert_id,
                "rule": a.rule_id,
                "event_ms": a.event_ms,
                "added_ms": a.added_ms,
                "title": record.as_ref().map(|r| r.title.clone()),
                "severity": record.as_ref().map(|r| r.severity),
                "disposition": db::disposition_of(conn, &a.alert_id).ok().flatten(),
            })
        })
        .collect();
    Ok(json!({
        "incident": incident,
        "alerts": alerts,
        "steps": db::steps_of(conn, id)?,
        "approvals": db::approvals_of(conn, id)?,
        "transactions": db::transactions_of(conn, id)?,
        "evidence": db::evidence_of(conn, id)?,
        "timeline": db::events_of(conn, id)?,
    }))
}
