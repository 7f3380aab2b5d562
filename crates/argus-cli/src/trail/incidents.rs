//! Incident timelines into the audit log.
//!
//! Every act on an incident (opened, an alert joined, a step ran or failed,
//! an approval, an acknowledgement…) is a row of its timeline, written in
//! the same transaction as the act. This module copies the rows not yet in
//! the audit log into it, inside one SQLite write transaction, so the
//! daemon and a command copying at the same moment never both copy a row.
//! A crash between the append and the commit copies the rows again at the
//! next call: each entry names its timeline row (`details.event`), so a
//! reader tells such a repeat from a second act.

use argus_audit::{NewEntry, RetentionClass};
use argus_incident::db::{self, IncidentEvent};

use argus_store::Store;
use serde_json::json;

use crate::trail;

/// How many rows one copy takes at most (the rest at the next call).
const BATCH: usize = 500;

/// Copies the timeline rows not yet audited with `append` and marks them,
/// batch after batch; returns how many were copied.
pub(crate) fn copy_to_audit(
    store: &Store,
    append: &dyn Fn(&[NewEntry]) -> anyhow::Result<()>,
) -> anyhow::Result<usize> {
    let mut copied = 0;
    loop {
        let mut conn = store.connect()?;
        let tx = conn.transaction()?;
        let events = db::unaudited_events(&tx, BATCH)?;
        if events.is_empty() {
            return Ok(copied);
        }
        let entries: Vec<NewEntry> = events.iter().map(entry).collect();
        append(&entries)?;
        let ids: Vec<i64> = events.iter().map(|e| e.id).collect();
        db::mark_audited(&tx, &ids)?;
        tx.commit()?;
        copied += events.len();
    }
}

/// The audit entry of one timeline row.
fn entry(event: &IncidentEvent) -> NewEntry {
    let action = if event.action.starts_with("incident.") {
        event.action.clone()
    } else {
        format!("incident.{}", event.action)
    };
    // Approvals and what responders did to keys and contracts are security
    // events; the rest is the incident's record.
    let class = if event.action.starts_with("step.") {
        RetentionClass::Security
    } else {
        RetentionClass::Audit
    };
    let mut entry = NewEntry::new(class, event.actor.clone(), action)
        .at(trail::host_name(), "incidents")
        .reference(format!("incident:{}", event.incident_id))
        .details(json!({
            "incident": event.incident_id,
            "event": event.id,
            "at_ms": event.at_ms,
            "details": event.details,
        }));
    if let Some(reason) = &event.reason {
        entry = entry.because(reason.clone());
    }
    entry
}
