//! Alerts into incidents, inside the transaction that records the alert.
//!
//! The node's record step calls [`take_alert`] for each new alert in the
//! same transaction as the alert itself and the chain's checkpoint. So an
//! alert is in an incident exactly when it is recorded: a crash before the
//! commit loses both, a replay after it finds the alert stored and does not
//! come here again. Grouping is by the kind the policy gives the alert and
//! its group key (the chain, the contract, the rule, or nothing): the
//! unique index `incidents_one_open_per_group` makes "one open incident per
//! cause" a fact of the schema rather than of this code.
//!
//! Opening an incident starts its escalation timer (`escalate_at_ms`: the
//! severity's response time from now), queues its playbook's steps (with
//! the evidence capture first, needing nothing) and tells the severity's
//! `notify` list through the alert outbox, like any alert.

use argus_alerting::{Routing, outbox};
use argus_core::{Finding, Severity, finding_id};
use argus_store::Connection;
use argus_store::sql::{OptionalExtension, params};
use serde_json::json;

use crate::db;
use crate::error::IncidentError;
use crate::policy::{GroupBy, IncidentsConfig, KindConfig, StepConfig};
use crate::{IncidentSeverity, StepState};

/// The actor of what Argus does by itself.
pub const SYSTEM_ACTOR: &str = "argus";

/// The step that captures evidence, queued first in every incident.
pub const EVIDENCE_STEP: &str = "evidence";

/// What [`take_alert`] did with an alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Taken {
    pub incident_id: i64,
    /// A new incident was opened for it (else it joined an open one).
    pub opened: bool,
    pub kind: String,
    pub severity: IncidentSeverity,
}

/// Puts a newly recorded alert into its incident, opening one when none of
/// its cause is open. `None` when the policy makes no incident of it.
pub fn take_alert(
    conn: &Connection,
    policy: &IncidentsConfig,
    finding: &Finding,
    now_ms: i64,
) -> Result<Option<Taken>, IncidentError> {
    // Argus's own alerts about incidents never open incidents.
    if finding.rule_id.starts_with("argus.incident.") {
        return Ok(None);
    }
    let fields = finding.fields.to_value();
    let Some(kind) = policy.kind_for(&finding.rule_id, finding.severity, &fields) else {
        return Ok(None);
    };
    let alert_id = outbox::alert_id(&finding.id);
    let group_key = group_key(kind, finding);
    let open: Option<i64> = conn
        .prepare_cached(
            "SELECT id FROM incidents WHERE kind = ?1 AND group_key = ?2 AND state != 'resolved'",
        )
        .and_then(|mut s| {
            s.query_row(params![kind.name, group_key], |r| r.get(0))
                .optional()
        })
        .map_err(IncidentError::db("look up an open incident"))?;
    let (incident_id, opened) = match open {
        Some(id) => {
            conn.prepare_cached(
                "UPDATE incidents SET first_event_ms = MIN(first_event_ms, ?2) WHERE id = ?1",
            )
            .and_then(|mut s| s.execute(params![id, finding.at_ms]))
            .map_err(IncidentError::db("add an alert to an incident"))?;
            (id, false)
        }
        None => (
            open_incident(conn, policy, kind, &group_key, finding, now_ms)?,
            true,
        ),
    };
    let added = conn
        .prepare_cached(
            "INSERT OR IGNORE INTO incident_alerts (incident_id, alert_id, rule_id, event_ms, added_ms) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .and_then(|mut s| {
            s.execute(params![
                incident_id,
                alert_id,
                finding.rule_id,
                finding.at_ms,
                now_ms
            ])
        })
        .map_err(IncidentError::db("add an alert to an incident"))?;
    if added > 0 {
        db::add_event(
            conn,
            incident_id,
            now_ms,
            SYSTEM_ACTOR,
            "incident.alert",
            None,
            &json!({
                "alert": alert_id,
                "rule": finding.rule_id,
                "severity": finding.severity,
                "title": finding.title,
                "event_ms": finding.at_ms,
            }),
        )?;
    }
    Ok(Some(Taken {
        incident_id,
        opened,
        kind: kind.name.clone(),
        severity: kind.severity,
    }))
}

/// The part of an alert that decides which open incident it joins.
fn group_key(kind: &KindConfig, finding: &Finding) -> String {
    match kind.group_by {
        GroupBy::Kind => String::new(),
        GroupBy::Rule => finding.rule_id.clone(),
        GroupBy::Chain => finding
            .origin
            .map(|o| o.chain.0.to_string())
            .unwrap_or_default(),
        GroupBy::Contract => {
            let chain = finding
                .origin
                .map(|o| o.chain.0.to_string())
                .unwrap_or_default();
            match affected_address(&finding.fields.to_value()) {
                Some(address) => format!("{chain}:{address}"),
                None => chain,
            }
        }
    }
}

/// The contract an alert's facts name: the emitting or called contract.
pub fn affected_address(fields: &serde_json::Value) -> Option<String> {
    fields
        .get("contract")
        .and_then(|c| c.get("address"))
        .or_else(|| fields.get("log").and_then(|l| l.get("address")))
        .or_else(|| fields.get("tx").and_then(|t| t.get("to")))
        .and_then(|a| a.as_str())
        .map(str::to_ascii_lowercase)
}

fn open_incident(
    conn: &Connection,
    policy: &IncidentsConfig,
    kind: &KindConfig,
    group_key: &str,
    finding: &Finding,
    now_ms: i64,
) -> Result<i64, IncidentError> {
    let severity = policy.severity(kind.severity);
    let title = kind.title.clone().unwrap_or_else(|| finding.title.clone());
    conn.prepare_cached(
        "INSERT INTO incidents (kind, group_key, severity, state, title, playbook, opened_ms, \
             first_event_ms, first_alert_ms, escalate_at_ms) \
             VALUES (?1, ?2, ?3, 'open', ?4, ?5, ?6, ?7, ?6, ?8)",
    )
    .and_then(|mut s| {
        s.execute(params![
            kind.name,
            group_key,
            kind.severity.as_str(),
            title,
            kind.playbook,
            now_ms,
            finding.at_ms,
            now_ms.saturating_add(severity.respond_within_ms),
        ])
    })
    .map_err(IncidentError::db("open an incident"))?;
    let id = conn
        .last_insert_rowid()
        .map_err(IncidentError::db("open an incident"))?;
    db::add_event(
        conn,
        id,
        now_ms,
        SYSTEM_ACTOR,
        "incident.open",
        Some(&format!("alert of rule {}", finding.rule_id)),
        &json!({
            "kind": kind.name,
            "severity": kind.severity,
            "group": group_key,
            "playbook": kind.playbook,
            "respond_by_ms": now_ms.saturating_add(severity.respond_within_ms),
        }),
    )?;
    queue_steps(conn, policy, id, kind, now_ms)?;
    if !severity.notify.is_empty() {
        let names: Vec<&str> = severity.notify.iter().map(String::as_str).collect();
        notify(
            conn,
            &names,
            &IncidentNotice {
                incident_id: id,
                what: "open",
                severity: alert_severity(kind.severity),
                title: format!("Incident {id} ({}) opened: {title}", kind.severity),
                fields: json!({ "incident": id, "kind": kind.name, "severity": kind.severity }),
            },
            now_ms,
        )?;
    }
    Ok(id)
}

/// The alert severity an incident's notices carry.
pub fn alert_severity(severity: IncidentSeverity) -> Severity {
    match severity {
        IncidentSeverity::P0 => Severity::Critical,
        IncidentSeverity::P1 => Severity::High,
        IncidentSeverity::P2 => Severity::Medium,
        IncidentSeverity::P3 => Severity::Low,
    }
}

/// The evidence step and the playbook's steps, as the durable queue.
fn queue_steps(
    conn: &Connection,
    policy: &IncidentsConfig,
    incident_id: i64,
    kind: &KindConfig,
    now_ms: i64,
) -> Result<(), IncidentError> {
    insert_step(
        conn,
        &QueuedStep {
            incident_id,
            step_id: EVIDENCE_STEP,
            position: 0,
            action: "capture_evidence",
            spec: &json!({ "id": EVIDENCE_STEP, "action": "capture_evidence" }),
            after: &[],
            state: StepState::Pending,
            approvals_needed: 0,
            max_attempts: 3,
            next_at_ms: Some(now_ms),
        },
    )?;
    let Some(playbook) = kind.playbook.as_ref().and_then(|p| policy.playbooks.get(p)) else {
        return Ok(());
    };
    let mut previous: Option<&str> = None;
    for (index, step) in playbook.steps.iter().enumerate() {
        let after: Vec<String> = match &step.after {
            Some(after) => after.clone(),
            None => previous.map(|p| vec![p.to_owned()]).unwrap_or_default(),
        };
        let state = initial_state(step, kind.severity, &after);
        let spec = serde_json::to_value(step).map_err(|e| IncidentError::Corrupt {
            what: "step",
            detail: e.to_string(),
        })?;
        insert_step(
            conn,
            &QueuedStep {
                incident_id,
                step_id: &step.id,
                position: index as i64 + 1,
                action: step.action.kind(),
                spec: &spec,
                after: &after,
                state,
                approvals_needed: i64::from(step.approvals_needed()),
                max_attempts: i64::from(step.retry.attempts.max(1)),
                next_at_ms: (state == StepState::Pending).then_some(now_ms),
            },
        )?;
        if state == StepState::Skipped {
            db::add_event(
                conn,
                incident_id,
                now_ms,
                SYSTEM_ACTOR,
                "step.skipped",
                Some("the incident is less severe than the step's min_severity"),
                &json!({ "step": step.id }),
            )?;
        }
        previous = Some(&step.id);
    }
    Ok(())
}

fn initial_state(step: &StepConfig, severity: IncidentSeverity, after: &[String]) -> StepState {
    // P0 < P1 < …: a P2 incident is less severe than a min of P1.
    if step.min_severity.is_some_and(|min| severity > min) {
        StepState::Skipped
    } else if !after.is_empty() {
        StepState::Waiting
    } else if step.approvals_needed() > 0 {
        StepState::NeedsApproval
    } else {
        StepState::Pending
    }
}

struct QueuedStep<'a> {
    incident_id: i64,
    step_id: &'a str,
    position: i64,
    action: &'a str,
    spec: &'a serde_json::Value,
    after: &'a [String],
    state: StepState,
    approvals_needed: i64,
    max_attempts: i64,
    next_at_ms: Option<i64>,
}

fn insert_step(conn: &Connection, step: &QueuedStep<'_>) -> Result<(), IncidentError> {
    let after = serde_json::to_string(step.after).map_err(|e| IncidentError::Corrupt {
        what: "step",
        detail: e.to_string(),
    })?;
    conn.prepare_cached(
        "INSERT INTO incident_steps (incident_id, step_id, position, action, spec, after, state, \
             approvals_needed, max_attempts, next_at_ms) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )
    .and_then(|mut s| {
        s.execute(params![
            step.incident_id,
            step.step_id,
            step.position,
            step.action,
            step.spec.to_string(),
            after,
            step.state.as_str(),
            step.approvals_needed,
            step.max_attempts,
            step.next_at_ms,
        ])
    })
    .map_err(IncidentError::db("queue a playbook step"))?;
    Ok(())
}

/// A notice about an incident, sent through the alert outbox.
#[derive(Debug, Clone)]
pub struct IncidentNotice {
    pub incident_id: i64,
    /// What happened: `open`, `escalation-2`, `step-failed-pause`, `brief`…
    /// Part of the notice's identity, so each is sent once.
    pub what: &'static str,
    pub severity: Severity,
    pub title: String,
    pub fields: serde_json::Value,
}

/// Records a notice as an alert routed to `notifiers` (exactly once per
/// incident and `what`, like every alert) and returns whether it was new.
pub fn notify(
    conn: &Connection,
    notifiers: &[&str],
    notice: &IncidentNotice,
    now_ms: i64,
) -> Result<bool, IncidentError> {
    notify_keyed(conn, notifiers, notice, notice.what, now_ms)
}

/// Like [`notify`], with an identity of the caller's (`key`) where `what`
/// alone repeats (the n-th escalation, a step's failure).
pub fn notify_keyed(
    conn: &Connection,
    notifiers: &[&str],
    notice: &IncidentNotice,
    key: &str,
    now_ms: i64,
) -> Result<bool, IncidentError> {
    let rule_id = format!("argus.incident.{}", notice.what);
    let identity = format!("incident:{}:{key}", notice.incident_id);
    let finding = Finding {
        id: finding_id(&rule_id, None, identity.as_bytes()),
        rule_id,
        severity: notice.severity,
        title: notice.title.clone(),
        dedup_key: identity,
        origin: None,
        at_ms: now_ms,
        fields: notice.fields.clone().into(),
    };
    let routing = Routing::to_all(notifiers, 0);
    let recorded = outbox::record(conn, &finding, &routing, now_ms)?;
    Ok(recorded.new)
}
