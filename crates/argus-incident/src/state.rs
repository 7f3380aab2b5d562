//! Changes of an incident: what operators do (acknowledge, contain,
//! resolve, reopen, note, assign, approve) and what time does (escalation),
//! each with its actor, time and reason in the timeline (and from there in
//! the audit log).
//!
//! States go open → acknowledged → contained → resolved, and a resolved
//! incident may be reopened. Acknowledging stops the escalation timer; so
//! does containment (the harm is stopped, people are told by then) and
//! resolution. Every function here writes inside the caller's transaction.

use argus_store::Connection;
use argus_store::sql::params;
use serde_json::json;

use crate::db::{self, Incident};
use crate::error::IncidentError;
use crate::intake::{self, IncidentNotice, SYSTEM_ACTOR};
use crate::policy::{IncidentsConfig, StepConfig};
use crate::{IncidentState, StepState};

/// Who did it and why.
#[derive(Debug, Clone, Copy)]
pub struct Act<'a> {
    pub actor: &'a str,
    pub reason: Option<&'a str>,
    pub now_ms: i64,
}

fn transition_error(incident: &Incident, what: impl Into<String>) -> IncidentError {
    IncidentError::Transition {
        id: incident.id,
        state: incident.state,
        what: what.into(),
    }
}

/// Acknowledges: the people are on it. Stops the escalation timer.
pub fn acknowledge(conn: &Connection, id: i64, act: Act<'_>) -> Result<Incident, IncidentError> {
    let incident = db::incident(conn, id)?;
    if incident.state == IncidentState::Resolved {
        return Err(transition_error(
            &incident,
            "reopen it before acknowledging",
        ));
    }
    if incident.acknowledged_ms.is_some() {
        return Err(transition_error(
            &incident,
            "it is acknowledged already; `argus incidents note` adds to its timeline",
        ));
    }
    exec(
        conn,
        "UPDATE incidents SET acknowledged_ms = ?2, escalate_at_ms = NULL, \
         state = CASE state WHEN 'open' THEN 'acknowledged' ELSE state END WHERE id = ?1",
        params![id, act.now_ms],
        "acknowledge an incident",
    )?;
    db::add_event(
        conn,
        id,
        act.now_ms,
        act.actor,
        "incident.acknowledge",
        act.reason,
        &json!({ "after_ms": act.now_ms - incident.opened_ms }),
    )?;
    db::incident(conn, id)
}

/// Marks the incident contained: the harm is stopped.
pub fn contain(conn: &Connection, id: i64, act: Act<'_>) -> Result<Incident, IncidentError> {
    let incident = db::incident(conn, id)?;
    match incident.state {
        IncidentState::Open | IncidentState::Acknowledged => {}
        IncidentState::Contained => {
            return Err(transition_error(&incident, "it is contained already"));
        }
        IncidentState::Resolved => {
            return Err(transition_error(
                &incident,
                "a resolved incident is not contained again",
            ));
        }
    }
    exec(
        conn,
        "UPDATE incidents SET state = 'contained', contained_ms = ?2, escalate_at_ms = NULL \
         WHERE id = ?1",
        params![id, act.now_ms],
        "contain an incident",
    )?;
    db::add_event(
        conn,
        id,
        act.now_ms,
        act.actor,
        "incident.contain",
        act.reason,
        &json!({ "after_ms": act.now_ms - incident.opened_ms }),
    )?;
    db::incident(conn, id)
}

/// Resolves: over. Steps that have not run are skipped.
pub fn resolve(conn: &Connection, id: i64, act: Act<'_>) -> Result<Incident, IncidentError> {
    let incident = db::incident(conn, id)?;
    if incident.state == IncidentState::Resolved {
        return Err(transition_error(&incident, "it is resolved already"));
    }
    exec(
        conn,
        "UPDATE incidents SET state = 'resolved', resolved_ms = ?2, escalate_at_ms = NULL \
         WHERE id = ?1",
        params![id, act.now_ms],
        "resolve an incident",
    )?;
    let cancelled = exec(
        conn,
        "UPDATE incident_steps SET state = 'skipped', finished_ms = ?2, \
         last_error = 'the incident was resolved before it ran' \
         WHERE incident_id = ?1 AND state IN ('waiting', 'needs_approval', 'pending')",
        params![id, act.now_ms],
        "resolve an incident",
    )?;
    db::add_event(
        conn,
        id,
        act.now_ms,
        act.actor,
        "incident.resolve",
        act.reason,
        &json!({ "after_ms": act.now_ms - incident.opened_ms, "steps_cancelled": cancelled }),
    )?;
    db::incident(conn, id)
}

/// Reopens a resolved incident (refused while another incident of the same
/// cause is open: add to that one instead). Restarts the escalation timer.
pub fn reopen(
    conn: &Connection,
    policy: &IncidentsConfig,
    id: i64,
    act: Act<'_>,
) -> Result<Incident, IncidentError> {
    let incident = db::incident(conn, id)?;
    if incident.state != IncidentState::Resolved {
        return Err(transition_error(
            &incident,
            "only a resolved incident is reopened",
        ));
    }
    let respond = policy.severity(incident.severity).respond_within_ms;
    let updated = conn
        .execute(
            "UPDATE incidents SET state = 'open', resolved_ms = NULL, contained_ms = NULL, \
             acknowledged_ms = NULL, reopened = reopened + 1, escalation_level = 0, \
             escalate_at_ms = ?2 WHERE id = ?1",
            params![id, act.now_ms.saturating_add(respond)],
        )
        .map_err(|error| match error {
            error if error.is_constraint_violation() => transition_error(
                &incident,
                "another incident of the same cause is open; add to that one instead",
            ),
            other => IncidentError::Db {
                action: "reopen an incident",
                source: other,
            },
        })?;
    debug_assert_eq!(updated, 1);
    db::add_event(
        conn,
        id,
        act.now_ms,
        act.actor,
        "incident.reopen",
        act.reason,
        &json!({}),
    )?;
    db::incident(conn, id)
}

/// Adds a note to the timeline.
pub fn note(conn: &Connection, id: i64, text: &str, act: Act<'_>) -> Result<i64, IncidentError> {
    db::incident(conn, id)?;
    db::add_event(
        conn,
        id,
        act.now_ms,
        act.actor,
        "incident.note",
        act.reason,
        &json!({ "note": text }),
    )
}

/// Assigns the incident to someone.
pub fn assign(
    conn: &Connection,
    id: i64,
    assignee: &str,
    act: Act<'_>,
) -> Result<Incident, IncidentError> {
    let incident = db::incident(conn, id)?;
    exec(
        conn,
        "UPDATE incidents SET assignee = ?2 WHERE id = ?1",
        params![id, assignee],
        "assign an incident",
    )?;
    db::add_event(
        conn,
        id,
        act.now_ms,
        act.actor,
        "incident.assign",
        act.reason,
        &json!({ "assignee": assignee, "previous": incident.assignee }),
    )?;
    db::incident(conn, id)
}

/// Sets the line the public status view shows for the incident.
pub fn set_public_status(
    conn: &Connection,
    id: i64,
    status: &str,
    act: Act<'_>,
) -> Result<(), IncidentError> {
    db::incident(conn, id)?;
    exec(
        conn,
        "UPDATE incidents SET public_status = ?2 WHERE id = ?1",
        params![id, status],
        "set an incident's public status",
    )?;
    db::add_event(
        conn,
        id,
        act.now_ms,
        act.actor,
        "incident.public_status",
        act.reason,
        &json!({ "status": status }),
    )?;
    Ok(())
}

/// What an approval changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approved {
    /// Distinct approvers so far.
    pub approvals: i64,
    pub needed: i64,
    /// The step may run now (it was released to the runner).
    pub released: bool,
}

/// Approves a step that needs approvals. The same operator counts once;
/// the step runs when enough distinct operators approved and the steps it
/// comes after have succeeded.
pub fn approve(
    conn: &Connection,
    id: i64,
    step_id: &str,
    act: Act<'_>,
) -> Result<Approved, IncidentError> {
    let incident = db::incident(conn, id)?;
    if incident.state == IncidentState::Resolved {
        return Err(transition_error(&incident, "its steps no longer run"));
    }
    let step = step(conn, id, step_id)?;
    let refuse = |why: String| IncidentError::Approval {
        id,
        step: step_id.to_owned(),
        why,
    };
    if step.approvals_needed == 0 {
        return Err(refuse("the step runs without approval".into()));
    }
    if !matches!(step.state, StepState::NeedsApproval | StepState::Waiting) {
        return Err(refuse(format!("the step is {} already", step.state)));
    }
    let inserted = conn
        .execute(
            "INSERT OR IGNORE INTO incident_approvals (incident_id, step_id, approver, at_ms, reason) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![id, step_id, act.actor, act.now_ms, act.reason],
        )
        .map_err(IncidentError::db("record an approval"))?;
    if inserted == 0 {
        return Err(refuse(format!(
            "{} approved it already; another operator must approve (an approval counts once per person)",
            act.actor
        )));
    }
    let approvals = approvals_count(conn, id, step_id)?;
    db::add_event(
        conn,
        id,
        act.now_ms,
        act.actor,
        "step.approve",
        act.reason,
        &json!({ "step": step_id, "approvals": approvals, "needed": step.approvals_needed }),
    )?;
    let released = step.state == StepState::NeedsApproval && approvals >= step.approvals_needed;
    if released {
        release(conn, id, step_id, act.now_ms)?;
    }
    Ok(Approved {
        approvals,
        needed: step.approvals_needed,
        released,
    })
}

fn approvals_count(conn: &Connection, id: i64, step_id: &str) -> Result<i64, IncidentError> {
    conn.query_row(
        "SELECT COUNT(DISTINCT approver) FROM incident_approvals \
             WHERE incident_id = ?1 AND step_id = ?2",
        params![id, step_id],
        |r| r.get(0),
    )
    .map_err(IncidentError::db("count approvals"))
}

/// Adds a step to an open incident after the fact (an operator's unpause,
/// a command to run); it runs once its approvals are in.
pub fn add_step(
    conn: &Connection,
    id: i64,
    step: &StepConfig,
    act: Act<'_>,
) -> Result<(), IncidentError> {
    let incident = db::incident(conn, id)?;
    if incident.state == IncidentState::Resolved {
        return Err(transition_error(&incident, "reopen it before adding steps"));
    }
    if db::steps_of(conn, id)?.iter().any(|s| s.step_id == step.id) {
        return Err(IncidentError::Approval {
            id,
            step: step.id.clone(),
            why: "the incident has a step of that name already".into(),
        });
    }
    let position: i64 = conn
        .query_row(
            "SELECT COALESCE(MAX(position), 0) + 1 FROM incident_steps WHERE incident_id = ?1",
            [id],
            |r| r.get(0),
        )
        .map_err(IncidentError::db("add a step"))?;
    let needed = i64::from(step.approvals_needed());
    let state = if needed > 0 {
        StepState::NeedsApproval
    } else {
        StepState::Pending
    };
    let spec = serde_json::to_value(step).map_err(|e| IncidentError::Corrupt {
        what: "step",
        detail: e.to_string(),
    })?;
    exec(
        conn,
        "INSERT INTO incident_steps (incident_id, step_id, position, action, spec, after, state, \
         approvals_needed, max_attempts, next_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, '[]', ?6, ?7, ?8, ?9)",
        params![
            id,
            step.id,
            position,
            step.action.kind(),
            spec.to_string(),
            state.as_str(),
            needed,
            i64::from(step.retry.attempts.max(1)),
            (state == StepState::Pending).then_some(act.now_ms),
        ],
        "add a step",
    )?;
    db::add_event(
        conn,
        id,
        act.now_ms,
        act.actor,
        "step.add",
        act.reason,
        &json!({ "step": step.id, "action": step.action.kind(), "approvals_needed": needed }),
    )?;
    Ok(())
}

/// One step of an incident.
pub fn step(conn: &Connection, id: i64, step_id: &str) -> Result<db::Step, IncidentError> {
    db::steps_of(conn, id)?
        .into_iter()
        .find(|s| s.step_id == step_id)
        .ok_or_else(|| IncidentError::NoStep {
            id,
            step: step_id.to_owned(),
        })
}

/// Makes a step runnable now.
fn release(conn: &Connection, id: i64, step_id: &str, now_ms: i64) -> Result<(), IncidentError> {
    exec(
        conn,
        "UPDATE incident_steps SET state = 'pending', next_at_ms = ?3 \
         WHERE incident_id = ?1 AND step_id = ?2",
        params![id, step_id, now_ms],
        "release a step",
    )?;
    Ok(())
}

/// Incidents whose escalation timer is due.
pub fn escalations_due(conn: &Connection, now_ms: i64) -> Result<Vec<i64>, IncidentError> {
    db::rows(
        conn,
        "SELECT id FROM incidents WHERE escalate_at_ms IS NOT NULL AND escalate_at_ms <= ?1 \
             AND state IN ('open', 'acknowledged') ORDER BY escalate_at_ms",
        [now_ms],
        |r| r.get(0),
        "read due escalations",
    )
}

/// The earliest time anything of the incidents is due: a timer or a step.
pub fn next_due_at(conn: &Connection) -> Result<Option<i64>, IncidentError> {
    conn.query_row(
        "SELECT MIN(t) FROM ( \
               SELECT MIN(escalate_at_ms) AS t FROM incidents \
                 WHERE escalate_at_ms IS NOT NULL AND state IN ('open', 'acknowledged') \
               UNION ALL SELECT MIN(next_at_ms) FROM incident_steps WHERE state = 'pending' \
               UNION ALL SELECT MIN(lease_until_ms) FROM incident_steps WHERE state = 'running') AS due",
        [],
        |r| r.get(0),
    )
    .map_err(IncidentError::db("read the next due time"))
}

/// Escalates an incident one level: the level's notifier is told (through
/// the outbox, exactly once per level) and, while levels remain, the timer
/// is set one response time ahead.
pub fn escalate(
    conn: &Connection,
    policy: &IncidentsConfig,
    id: i64,
    why: &str,
    now_ms: i64,
) -> Result<i64, IncidentError> {
    let incident = db::incident(conn, id)?;
    let severity = policy.severity(incident.severity);
    let level = incident.escalation_level + 1;
    let target = usize::try_from(level - 1)
        .ok()
        .and_then(|i| severity.escalation.get(i))
        .or_else(|| severity.escalation.last());
    let more = usize::try_from(level).is_ok_and(|l| l < severity.escalation.len());
    let next = more.then(|| now_ms.saturating_add(severity.respond_within_ms));
    exec(
        conn,
        "UPDATE incidents SET escalation_level = ?2, escalate_at_ms = ?3 WHERE id = ?1",
        params![id, level, next],
        "escalate an incident",
    )?;
    db::add_event(
        conn,
        id,
        now_ms,
        SYSTEM_ACTOR,
        "incident.escalate",
        Some(why),
        &json!({ "level": level, "notifier": target, "next_at_ms": next }),
    )?;
    if let Some(target) = target {
        intake::notify_keyed(
            conn,
            &[target.as_str()],
            &IncidentNotice {
                incident_id: id,
                what: "escalation",
                severity: intake::alert_severity(incident.severity),
                title: format!(
                    "Incident {id} ({}) escalated to level {level}: {why} — {}",
                    incident.severity, incident.title
                ),
                fields: json!({
                    "incident": id,
                    "level": level,
                    "severity": incident.severity,
                    "state": incident.state,
                    "reason": why,
                }),
            },
            &format!("escalation-{level}"),
            now_ms,
        )?;
    }
    Ok(level)
}

/// Claims the steps due now for `lease_ms`: pending ones whose time came,
/// and running ones whose runner's lease ran out (it died mid-step; the
/// responders are idempotent, see `respond`). Each claim counts an attempt.
pub fn claim_due_steps(
    conn: &Connection,
    now_ms: i64,
    lease_ms: i64,
    limit: usize,
) -> Result<Vec<db::Step>, IncidentError> {
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {} FROM incident_steps \
             WHERE (state = 'pending' AND next_at_ms <= ?1) \
                OR (state = 'running' AND lease_until_ms <= ?1) \
             ORDER BY incident_id, position LIMIT ?2",
            db::STEP_COLUMNS
        ))
        .map_err(IncidentError::db("claim due steps"))?;
    let due: Vec<db::Step> = stmt
        .query_map(params![now_ms, limit as i64], db::step_row)
        .and_then(|rows| rows.collect())
        .map_err(IncidentError::db("claim due steps"))?;
    let mut claimed = Vec::with_capacity(due.len());
    for mut step in due {
        exec(
            conn,
            "UPDATE incident_steps SET state = 'running', lease_until_ms = ?3, \
             attempts = attempts + 1, started_ms = COALESCE(started_ms, ?4) \
             WHERE incident_id = ?1 AND step_id = ?2",
            params![step.incident_id, step.step_id, now_ms + lease_ms, now_ms],
            "claim a step",
        )?;
        step.state = StepState::Running;
        step.attempts += 1;
        step.lease_until_ms = Some(now_ms + lease_ms);
        claimed.push(step);
    }
    Ok(claimed)
}

/// Makes steps left `running` by a runner that is gone runnable now. Only
/// for a runner that knows it is the only one (the node holds the data
/// directory's run lock); otherwise leases decide.
pub fn recover_running(conn: &Connection, now_ms: i64) -> Result<usize, IncidentError> {
    exec(
        conn,
        "UPDATE incident_steps SET state = 'pending', next_at_ms = ?1, lease_until_ms = NULL \
         WHERE state = 'running'",
        params![now_ms],
        "recover running steps",
    )
}

/// The kinds of step whose success contains an incident.
pub const CONTAINMENT_ACTIONS: [&str; 4] = ["pause", "stop_bot", "move_funds", "revoke_allowances"];

/// Records a step's success, releases the steps that waited for it and,
/// when every containment step of the incident succeeded, marks the
/// incident contained.
pub fn step_succeeded(
    conn: &Connection,
    id: i64,
    step_id: &str,
    result: &serde_json::Value,
    now_ms: i64,
) -> Result<(), IncidentError> {
    exec(
        conn,
        "UPDATE incident_steps SET state = 'succeeded', result = ?3, finished_ms = ?4, \
         lease_until_ms = NULL, last_error = NULL WHERE incident_id = ?1 AND step_id = ?2",
        params![id, step_id, result.to_string(), now_ms],
        "record a step's result",
    )?;
    db::add_event(
        conn,
        id,
        now_ms,
        SYSTEM_ACTOR,
        "step.succeeded",
        None,
        &json!({ "step": step_id, "result": result }),
    )?;
    settle_dependents(conn, id, now_ms)?;
    let steps = db::steps_of(conn, id)?;
    let containment: Vec<&db::Step> = steps
        .iter()
        .filter(|s| CONTAINMENT_ACTIONS.contains(&s.action.as_str()))
        .collect();
    let incident = db::incident(conn, id)?;
    if !containment.is_empty()
        && containment.iter().all(|s| s.state == StepState::Succeeded)
        && matches!(
            incident.state,
            IncidentState::Open | IncidentState::Acknowledged
        )
    {
        contain(
            conn,
            id,
            Act {
                actor: SYSTEM_ACTOR,
                reason: Some("every containment step of the playbook succeeded"),
                now_ms,
            },
        )?;
    }
    Ok(())
}

/// What became of a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// Tried again at this time.
    Retry { at_ms: i64 },
    /// Failed for good; the incident was escalated.
    Failed,
}

/// Records a failed attempt: tried again after the step's backoff while
/// attempts remain and the failure may pass, else failed for good, the
/// steps after it skipped, and the incident escalated.
pub fn step_attempt_failed(
    conn: &Connection,
    policy: &IncidentsConfig,
    step: &db::Step,
    error: &str,
    retryable: bool,
    now_ms: i64,
) -> Result<AttemptOutcome, IncidentError> {
    let id = step.incident_id;
    let retry = serde_json::from_value::<StepConfig>(step.spec.clone())
        .map(|s| s.retry)
        .unwrap_or_default();
    if retryable && step.attempts < step.max_attempts {
        let attempt = u32::try_from(step.attempts).unwrap_or(u32::MAX);
        let at_ms = now_ms.saturating_add(retry.delay_after(attempt));
        exec(
            conn,
            "UPDATE incident_steps SET state = 'pending', next_at_ms = ?3, last_error = ?4, \
             lease_until_ms = NULL WHERE incident_id = ?1 AND step_id = ?2",
            params![id, step.step_id, at_ms, error],
            "schedule a retry",
        )?;
        db::add_event(
            conn,
            id,
            now_ms,
            SYSTEM_ACTOR,
            "step.retry",
            Some(error),
            &json!({ "step": step.step_id, "attempt": step.attempts, "next_at_ms": at_ms }),
        )?;
        return Ok(AttemptOutcome::Retry { at_ms });
    }
    exec(
        conn,
        "UPDATE incident_steps SET state = 'failed', finished_ms = ?3, last_error = ?4, \
         lease_until_ms = NULL WHERE incident_id = ?1 AND step_id = ?2",
        params![id, step.step_id, now_ms, error],
        "record a step's failure",
    )?;
    db::add_event(
        conn,
        id,
        now_ms,
        SYSTEM_ACTOR,
        "step.failed",
        Some(error),
        &json!({ "step": step.step_id, "attempts": step.attempts, "retryable": retryable }),
    )?;
    settle_dependents(conn, id, now_ms)?;
    let incident = db::incident(conn, id)?;
    if incident.state != IncidentState::Resolved {
        escalate(
            conn,
            policy,
            id,
            &format!(
                "step {} failed after {} attempt(s): {error}",
                step.step_id, step.attempts
            ),
            now_ms,
        )?;
    }
    Ok(AttemptOutcome::Failed)
}

/// Releases waiting steps whose predecessors all succeeded, and skips those
/// with a predecessor that failed or was skipped.
fn settle_dependents(conn: &Connection, id: i64, now_ms: i64) -> Result<(), IncidentError> {
    loop {
        let steps = db::steps_of(conn, id)?;
        let mut changed = false;
        for step in steps.iter().filter(|s| s.state == StepState::Waiting) {
            let states: Vec<StepState> = step
                .after
                .iter()
                .map(|a| {
                    steps
                        .iter()
                        .find(|s| &s.step_id == a)
                        .map_or(StepState::Skipped, |s| s.state)
                })
                .collect();
            if states
                .iter()
                .any(|s| matches!(s, StepState::Failed | StepState::Skipped))
            {
                exec(
                    conn,
                    "UPDATE incident_steps SET state = 'skipped', finished_ms = ?3, \
                     last_error = 'a step it comes after did not succeed' \
                     WHERE incident_id = ?1 AND step_id = ?2",
                    params![id, step.step_id, now_ms],
                    "skip a step",
                )?;
                db::add_event(
                    conn,
                    id,
                    now_ms,
                    SYSTEM_ACTOR,
                    "step.skipped",
                    Some("a step it comes after did not succeed"),
                    &json!({ "step": step.step_id }),
                )?;
                changed = true;
            } else if states.iter().all(|s| *s == StepState::Succeeded) {
                let approved = approvals_count(conn, id, &step.step_id)?;
                if approved >= step.approvals_needed {
                    release(conn, id, &step.step_id, now_ms)?;
                } else {
                    exec(
                        conn,
                        "UPDATE incident_steps SET state = 'needs_approval' \
                         WHERE incident_id = ?1 AND step_id = ?2",
                        params![id, step.step_id],
                        "hold a step for approval",
                    )?;
                }
                changed = true;
            }
        }
        if !changed {
            return Ok(());
        }
    }
}

fn exec(
    conn: &Connection,
    sql: &str,
    args: impl argus_store::sql::Params,
    action: &'static str,
) -> Result<usize, IncidentError> {
    conn.prepare_cached(sql)
        .and_then(|mut s| s.execute(args))
        .map_err(IncidentError::db(action))
}
