//! The incident stage's own queries (tables of migration `0005_incidents`).
//! Writes take the caller's `&Connection` (a `Transaction` derefs to one)
//! and commit nothing; reads return typed rows.

use std::str::FromStr;

use argus_store::Connection;
use argus_store::sql::{OptionalExtension, Row, params};
use serde::Serialize;

use crate::error::IncidentError;
use crate::{Disposition, IncidentSeverity, IncidentState, StepState};

/// An incident as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Incident {
    pub id: i64,
    pub kind: String,
    pub group_key: String,
    pub severity: IncidentSeverity,
    pub state: IncidentState,
    pub title: String,
    pub playbook: Option<String>,
    pub opened_ms: i64,
    /// The earliest event time (block time) of its alerts: where time to
    /// detect starts.
    pub first_event_ms: i64,
    pub first_alert_ms: i64,
    pub acknowledged_ms: Option<i64>,
    pub contained_ms: Option<i64>,
    pub resolved_ms: Option<i64>,
    pub reopened: i64,
    pub assignee: Option<String>,
    pub escalation_level: i64,
    pub escalate_at_ms: Option<i64>,
    pub evidence_root: Option<String>,
    pub public_status: Option<String>,
}

const INCIDENT_COLUMNS: &str = "id, kind, group_key, severity, state, title, playbook, opened_ms, \
    first_event_ms, first_alert_ms, acknowledged_ms, contained_ms, resolved_ms, reopened, \
    assignee, escalation_level, escalate_at_ms, evidence_root, public_status";

fn parse<T: FromStr<Err = String>>(what: &'static str, text: &str) -> argus_store::sql::Result<T> {
    text.parse()
        .map_err(|detail: String| argus_store::StoreError::Conversion {
            detail: format!("{what}: {detail}"),
        })
}

fn incident_row(row: &Row<'_>) -> argus_store::sql::Result<Incident> {
    Ok(Incident {
        id: row.get(0)?,
        kind: row.get(1)?,
        group_key: row.get(2)?,
        severity: parse("severity", &row.get::<_, String>(3)?)?,
        state: parse("state", &row.get::<_, String>(4)?)?,
        title: row.get(5)?,
        playbook: row.get(6)?,
        opened_ms: row.get(7)?,
        first_event_ms: row.get(8)?,
        first_alert_ms: row.get(9)?,
        acknowledged_ms: row.get(10)?,
        contained_ms: row.get(11)?,
        resolved_ms: row.get(12)?,
        reopened: row.get(13)?,
        assignee: row.get(14)?,
        escalation_level: row.get(15)?,
        escalate_at_ms: row.get(16)?,
        evidence_root: row.get(17)?,
        public_status: row.get(18)?,
    })
}

/// Every row `sql` answers, each read by `row`: the stage's reads in one
/// shape, through the statement cache.
pub(crate) fn rows<T>(
    conn: &Connection,
    sql: &str,
    args: impl argus_store::sql::Params,
    row: impl FnMut(&Row<'_>) -> argus_store::sql::Result<T>,
    action: &'static str,
) -> Result<Vec<T>, IncidentError> {
    conn.prepare_cached(sql)
        .and_then(|mut stmt| stmt.query_map(args, row)?.collect())
        .map_err(IncidentError::db(action))
}

/// One incident.
pub fn get_incident(conn: &Connection, id: i64) -> Result<Option<Incident>, IncidentError> {
    conn.prepare_cached(&format!(
        "SELECT {INCIDENT_COLUMNS} FROM incidents WHERE id = ?1"
    ))
    .and_then(|mut s| s.query_row([id], incident_row).optional())
    .map_err(IncidentError::db("read an incident"))
}

/// One incident, or [`IncidentError::NotFound`].
pub fn incident(conn: &Connection, id: i64) -> Result<Incident, IncidentError> {
    get_incident(conn, id)?.ok_or(IncidentError::NotFound { id })
}

/// Which incidents to list.
#[derive(Debug, Clone, Default)]
pub struct IncidentFilter {
    pub state: Option<IncidentState>,
    /// Everything but resolved ones.
    pub open_only: bool,
    pub severity: Option<IncidentSeverity>,
    /// Opened at or after.
    pub since_ms: Option<i64>,
    pub limit: Option<usize>,
}

/// Incidents, newest first.
pub fn list_incidents(
    conn: &Connection,
    filter: &IncidentFilter,
) -> Result<Vec<Incident>, IncidentError> {
    let mut sql = format!("SELECT {INCIDENT_COLUMNS} FROM incidents WHERE 1 = 1");
    let mut args: Vec<argus_store::sql::Value> = Vec::new();
    if let Some(state) = filter.state {
        sql.push_str(" AND state = ?");
        args.push(argus_store::sql::Value::Text(state.as_str().to_owned()));
    }
    if filter.open_only {
        sql.push_str(" AND state != 'resolved'");
    }
    if let Some(severity) = filter.severity {
        sql.push_str(" AND severity = ?");
        args.push(argus_store::sql::Value::Text(severity.as_str().to_owned()));
    }
    if let Some(since) = filter.since_ms {
        sql.push_str(" AND opened_ms >= ?");
        args.push(argus_store::sql::Value::Integer(since));
    }
    sql.push_str(" ORDER BY id DESC");
    if let Some(limit) = filter.limit {
        sql.push_str(&format!(" LIMIT {limit}"));
    }
    let mut stmt = conn
        .prepare(&sql)
        .map_err(IncidentError::db("list incidents"))?;
    let rows = stmt
        .query_map(argus_store::sql::params_from_iter(args), incident_row)
        .and_then(|rows| rows.collect::<argus_store::sql::Result<Vec<_>>>())
        .map_err(IncidentError::db("list incidents"))?;
    Ok(rows)
}

/// An alert of an incident.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IncidentAlert {
    pub alert_id: String,
    pub rule_id: String,
    pub event_ms: i64,
    pub added_ms: i64,
}

/// The alerts of an incident, oldest first.
pub fn alerts_of(conn: &Connection, id: i64) -> Result<Vec<IncidentAlert>, IncidentError> {
    rows(
        conn,
        "SELECT alert_id, rule_id, event_ms, added_ms FROM incident_alerts \
             WHERE incident_id = ?1 ORDER BY added_ms, event_ms, alert_id",
        [id],
        |r| {
            Ok(IncidentAlert {
                alert_id: r.get(0)?,
                rule_id: r.get(1)?,
                event_ms: r.get(2)?,
                added_ms: r.get(3)?,
            })
        },
        "read an incident's alerts",
    )
}

/// The incident holding an alert, if any.
pub fn incident_of_alert(conn: &Connection, alert_id: &str) -> Result<Option<i64>, IncidentError> {
    conn.prepare_cached("SELECT incident_id FROM incident_alerts WHERE alert_id = ?1 LIMIT 1")
        .and_then(|mut s| s.query_row([alert_id], |r| r.get(0)).optional())
        .map_err(IncidentError::db("look up an alert's incident"))
}

/// One row of an incident's timeline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IncidentEvent {
    pub id: i64,
    pub incident_id: i64,
    pub at_ms: i64,
    pub actor: String,
    pub action: String,
    pub reason: Option<String>,
    pub details: serde_json::Value,
}

fn event_row(r: &Row<'_>) -> argus_store::sql::Result<IncidentEvent> {
    let details: String = r.get(6)?;
    Ok(IncidentEvent {
        id: r.get(0)?,
        incident_id: r.get(1)?,
        at_ms: r.get(2)?,
        actor: r.get(3)?,
        action: r.get(4)?,
        reason: r.get(5)?,
        details: serde_json::from_str(&details).unwrap_or(serde_json::Value::Null),
    })
}

/// Adds a row to an incident's timeline (copied to the audit log later).
pub fn add_event(
    conn: &Connection,
    incident_id: i64,
    at_ms: i64,
    actor: &str,
    action: &str,
    reason: Option<&str>,
    details: &serde_json::Value,
) -> Result<i64, IncidentError> {
    conn.prepare_cached(
        "INSERT INTO incident_events (incident_id, at_ms, actor, action, reason, details) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )
    .and_then(|mut s| {
        s.execute(params![
            incident_id,
            at_ms,
            actor,
            action,
            reason,
            details.to_string()
        ])
    })
    .map_err(IncidentError::db("add to an incident's timeline"))?;
    conn.last_insert_rowid()
        .map_err(IncidentError::db("read a new row's id"))
}

/// An incident's timeline, oldest first.
pub fn events_of(conn: &Connection, id: i64) -> Result<Vec<IncidentEvent>, IncidentError> {
    rows(
        conn,
        "SELECT id, incident_id, at_ms, actor, action, reason, details FROM incident_events \
             WHERE incident_id = ?1 ORDER BY id",
        [id],
        event_row,
        "read an incident's timeline",
    )
}

/// Timeline rows not yet copied to the audit log, oldest first.
pub fn unaudited_events(
    conn: &Connection,
    limit: usize,
) -> Result<Vec<IncidentEvent>, IncidentError> {
    rows(
        conn,
        "SELECT id, incident_id, at_ms, actor, action, reason, details FROM incident_events \
             WHERE audited = 0 ORDER BY id LIMIT ?1",
        [limit as i64],
        event_row,
        "read the timeline rows to audit",
    )
}

/// Timeline rows of every incident after `after_id`, oldest first.
pub fn events_after(
    conn: &Connection,
    after_id: i64,
    limit: usize,
) -> Result<Vec<IncidentEvent>, IncidentError> {
    rows(
        conn,
        "SELECT id, incident_id, at_ms, actor, action, reason, details FROM incident_events \
             WHERE id > ?1 ORDER BY id LIMIT ?2",
        params![after_id, limit as i64],
        event_row,
        "read the timeline",
    )
}

/// The id of the newest timeline row (0 when none).
pub fn last_event_id(conn: &Connection) -> Result<i64, IncidentError> {
    conn.query_row(
        "SELECT COALESCE(MAX(id), 0) FROM incident_events",
        [],
        |r| r.get(0),
    )
    .map_err(IncidentError::db("read the timeline"))
}

/// Marks timeline rows as copied to the audit log.
pub fn mark_audited(conn: &Connection, ids: &[i64]) -> Result<(), IncidentError> {
    let mut stmt = conn
        .prepare_cached("UPDATE incident_events SET audited = 1 WHERE id = ?1")
        .map_err(IncidentError::db("mark timeline rows audited"))?;
    for id in ids {
        stmt.execute([id])
            .map_err(IncidentError::db("mark timeline rows audited"))?;
    }
    Ok(())
}

/// A playbook step of an incident.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Step {
    pub incident_id: i64,
    pub step_id: String,
    pub position: i64,
    pub action: String,
    /// The step as configured (a `policy::StepConfig` in JSON).
    pub spec: serde_json::Value,
    pub after: Vec<String>,
    pub state: StepState,
    pub approvals_needed: i64,
    pub attempts: i64,
    pub max_attempts: i64,
    pub next_at_ms: Option<i64>,
    pub lease_until_ms: Option<i64>,
    pub last_error: Option<String>,
    pub result: Option<serde_json::Value>,
    pub started_ms: Option<i64>,
    pub finished_ms: Option<i64>,
}

pub(crate) const STEP_COLUMNS: &str = "incident_id, step_id, position, action, spec, after, state, \
    approvals_needed, attempts, max_attempts, next_at_ms, lease_until_ms, last_error, result, \
    started_ms, finished_ms";

pub(crate) fn step_row(r: &Row<'_>) -> argus_store::sql::Result<Step> {
    let spec: String = r.get(4)?;
    let after: String = r.get(5)?;
    let result: Option<String> = r.get(13)?;
    Ok(Step {
        incident_id: r.get(0)?,
        step_id: r.get(1)?,
        position: r.get(2)?,
        action: r.get(3)?,
        spec: serde_json::from_str(&spec).unwrap_or(serde_json::Value::Null),
        after: serde_json::from_str(&after).unwrap_or_default(),
        state: parse("step state", &r.get::<_, String>(6)?)?,
        approvals_needed: r.get(7)?,
        attempts: r.get(8)?,
        max_attempts: r.get(9)?,
        next_at_ms: r.get(10)?,
        lease_until_ms: r.get(11)?,
        last_error: r.get(12)?,
        result: result.and_then(|r| serde_json::from_str(&r).ok()),
        started_ms: r.get(14)?,
        finished_ms: r.get(15)?,
    })
}

/// An incident's steps in playbook order.
pub fn steps_of(conn: &Connection, id: i64) -> Result<Vec<Step>, IncidentError> {
    rows(
        conn,
        &format!(
            "SELECT {STEP_COLUMNS} FROM incident_steps WHERE incident_id = ?1 ORDER BY position"
        ),
        [id],
        step_row,
        "read an incident's steps",
    )
}

/// How many steps of the incidents opened since `since_ms` are running,
/// or pending and due by `now_ms`: the work a runner still has in hand.
pub fn steps_in_flight(
    conn: &Connection,
    since_ms: i64,
    now_ms: i64,
) -> Result<i64, IncidentError> {
    conn.query_row(
        "SELECT count(*) FROM incident_steps s JOIN incidents i ON i.id = s.incident_id
             WHERE i.opened_ms >= ?1
               AND (s.state = 'running' OR (s.state = 'pending' AND s.next_at_ms <= ?2))",
        params![since_ms, now_ms],
        |row| row.get(0),
    )
    .map_err(IncidentError::db("count the steps in flight"))
}

/// An approval of a step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Approval {
    pub step_id: String,
    pub approver: String,
    pub at_ms: i64,
    pub reason: Option<String>,
}

/// The approvals given on an incident's steps.
pub fn approvals_of(conn: &Connection, id: i64) -> Result<Vec<Approval>, IncidentError> {
    rows(
        conn,
        "SELECT step_id, approver, at_ms, reason FROM incident_approvals \
             WHERE incident_id = ?1 ORDER BY at_ms, approver",
        [id],
        |r| {
            Ok(Approval {
                step_id: r.get(0)?,
                approver: r.get(1)?,
                at_ms: r.get(2)?,
                reason: r.get(3)?,
            })
        },
        "read approvals",
    )
}

/// A transaction a responder signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SignedTransaction {
    pub incident_id: i64,
    pub step_id: String,
    pub target: String,
    pub chain: u64,
    pub sender: String,
    pub nonce: u64,
    pub tx_hash: String,
    /// Hex of the signed bytes.
    pub raw: String,
    pub sent_ms: i64,
    pub replaces: Option<String>,
    /// signed, sent, confirmed, reverted, replaced
    pub status: String,
    pub block: Option<u64>,
}

/// Records a signed transaction before it is broadcast.
pub fn record_transaction(conn: &Connection, tx: &SignedTransaction) -> Result<(), IncidentError> {
    conn.prepare_cached(
        "INSERT INTO incident_transactions (incident_id, step_id, target, chain, sender, nonce, \
             tx_hash, raw, sent_ms, replaces, status, block) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )
    .and_then(|mut s| {
        s.execute(params![
            tx.incident_id,
            tx.step_id,
            tx.target,
            tx.chain as i64,
            tx.sender,
            tx.nonce as i64,
            tx.tx_hash,
            tx.raw,
            tx.sent_ms,
            tx.replaces,
            tx.status,
            tx.block.map(|b| b as i64),
        ])
    })
    .map_err(IncidentError::db("record a signed transaction"))?;
    Ok(())
}

/// Sets a recorded transaction's status (and block when confirmed).
pub fn set_transaction_status(
    conn: &Connection,
    tx_hash: &str,
    status: &str,
    block: Option<u64>,
) -> Result<(), IncidentError> {
    conn.prepare_cached(
        "UPDATE incident_transactions SET status = ?2, block = COALESCE(?3, block) \
             WHERE tx_hash = ?1",
    )
    .and_then(|mut s| s.execute(params![tx_hash, status, block.map(|b| b as i64)]))
    .map_err(IncidentError::db("update a signed transaction"))?;
    Ok(())
}

/// The transactions a step signed, oldest first.
pub fn transactions_of_step(
    conn: &Connection,
    incident_id: i64,
    step_id: &str,
) -> Result<Vec<SignedTransaction>, IncidentError> {
    transactions_where(
        conn,
        "incident_id = ?1 AND step_id = ?2",
        params![incident_id, step_id],
    )
}

/// The transactions an incident's responders signed, oldest first.
pub fn transactions_of(
    conn: &Connection,
    incident_id: i64,
) -> Result<Vec<SignedTransaction>, IncidentError> {
    transactions_where(conn, "incident_id = ?1", params![incident_id])
}

fn transactions_where(
    conn: &Connection,
    filter: &str,
    args: impl argus_store::sql::Params,
) -> Result<Vec<SignedTransaction>, IncidentError> {
    rows(
        conn,
        &format!(
            "SELECT incident_id, step_id, target, chain, sender, nonce, tx_hash, raw, sent_ms, \
             replaces, status, block FROM incident_transactions WHERE {filter} \
             ORDER BY sent_ms, nonce, tx_hash"
        ),
        args,
        |r| {
            Ok(SignedTransaction {
                incident_id: r.get(0)?,
                step_id: r.get(1)?,
                target: r.get(2)?,
                chain: r.get::<_, i64>(3)? as u64,
                sender: r.get(4)?,
                nonce: r.get::<_, i64>(5)? as u64,
                tx_hash: r.get(6)?,
                raw: r.get(7)?,
                sent_ms: r.get(8)?,
                replaces: r.get(9)?,
                status: r.get(10)?,
                block: r.get::<_, Option<i64>>(11)?.map(|b| b as u64),
            })
        },
        "read signed transactions",
    )
}

/// One evidence file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EvidenceFile {
    pub name: String,
    pub sha256: String,
    pub bytes: u64,
}

/// Records an incident's evidence files and the manifest's root hash.
pub fn record_evidence(
    conn: &Connection,
    incident_id: i64,
    files: &[EvidenceFile],
    root: &str,
) -> Result<(), IncidentError> {
    let sql = conn;
    for file in files {
        sql.prepare_cached(
            "INSERT INTO incident_evidence (incident_id, name, sha256, bytes) \
             VALUES (?1, ?2, ?3, ?4) ON CONFLICT (incident_id, name) DO UPDATE SET \
             sha256 = excluded.sha256, bytes = excluded.bytes",
        )
        .and_then(|mut s| {
            s.execute(params![
                incident_id,
                file.name,
                file.sha256,
                file.bytes as i64
            ])
        })
        .map_err(IncidentError::db("record evidence"))?;
    }
    sql.prepare_cached("UPDATE incidents SET evidence_root = ?2 WHERE id = ?1")
        .and_then(|mut s| s.execute(params![incident_id, root]))
        .map_err(IncidentError::db("record evidence"))?;
    Ok(())
}

/// An incident's evidence files by name.
pub fn evidence_of(conn: &Connection, id: i64) -> Result<Vec<EvidenceFile>, IncidentError> {
    rows(
        conn,
        "SELECT name, sha256, bytes FROM incident_evidence WHERE incident_id = ?1 ORDER BY name",
        [id],
        |r| {
            Ok(EvidenceFile {
                name: r.get(0)?,
                sha256: r.get(1)?,
                bytes: r.get::<_, i64>(2)? as u64,
            })
        },
        "read evidence",
    )
}

/// Sets (or replaces) an operator's judgement of an alert.
pub fn set_disposition(
    conn: &Connection,
    alert_id: &str,
    disposition: Disposition,
    actor: &str,
    at_ms: i64,
    reason: Option<&str>,
) -> Result<(), IncidentError> {
    conn.prepare_cached(
        "INSERT INTO alert_dispositions (alert_id, disposition, actor, at_ms, reason) \
             VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (alert_id) DO UPDATE SET \
             disposition = excluded.disposition, actor = excluded.actor, \
             at_ms = excluded.at_ms, reason = excluded.reason",
    )
    .and_then(|mut s| {
        s.execute(params![
            alert_id,
            disposition.as_str(),
            actor,
            at_ms,
            reason
        ])
    })
    .map_err(IncidentError::db("record a disposition"))?;
    Ok(())
}

/// An alert's disposition, if judged.
pub fn disposition_of(
    conn: &Connection,
    alert_id: &str,
) -> Result<Option<Disposition>, IncidentError> {
    let text: Option<String> = conn
        .prepare_cached("SELECT disposition FROM alert_dispositions WHERE alert_id = ?1")
        .and_then(|mut s| s.query_row([alert_id], |r| r.get(0)).optional())
        .map_err(IncidentError::db("read a disposition"))?;
    text.map(|t| {
        t.parse().map_err(|detail| IncidentError::Corrupt {
            what: "disposition",
            detail,
        })
    })
    .transpose()
}

/// A standing order to a bot to stop: a succeeded `stop_bot` step of an
/// incident that is not resolved. What `/killswitch/NAME` answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KillSwitchOrder {
    pub bot: String,
    pub incident_id: i64,
    /// When the step succeeded.
    pub since_ms: i64,
}

/// The standing stop orders, oldest first (one per bot: its oldest).
pub fn kill_switch_orders(conn: &Connection) -> Result<Vec<KillSwitchOrder>, IncidentError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT s.spec, s.incident_id, COALESCE(s.finished_ms, 0) FROM incident_steps s \
             JOIN incidents i ON i.id = s.incident_id \
             WHERE s.action = 'stop_bot' AND s.state = 'succeeded' AND i.state != 'resolved' \
             ORDER BY s.finished_ms, s.incident_id",
        )
        .map_err(IncidentError::db("read the kill switch orders"))?;
    let rows: Vec<(String, i64, i64)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .and_then(|rows| rows.collect())
        .map_err(IncidentError::db("read the kill switch orders"))?;
    let mut orders: Vec<KillSwitchOrder> = Vec::new();
    for (spec, incident_id, since_ms) in rows {
        let bot = serde_json::from_str::<serde_json::Value>(&spec)
            .ok()
            .and_then(|v| v["action"]["stop_bot"]["bot"].as_str().map(str::to_owned));
        if let Some(bot) = bot
            && !orders.iter().any(|o| o.bot == bot)
        {
            orders.push(KillSwitchOrder {
                bot,
                incident_id,
                since_ms,
            });
        }
    }
    Ok(orders)
}

/// A drill's kept scorecard.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DrillRun {
    pub id: i64,
    pub scenario: String,
    pub started_ms: i64,
    pub finished_ms: i64,
    pub passed: bool,
    pub scorecard: serde_json::Value,
}

/// Keeps a drill's scorecard.
pub fn record_drill_run(
    conn: &Connection,
    scenario: &str,
    started_ms: i64,
    finished_ms: i64,
    passed: bool,
    scorecard: &serde_json::Value,
) -> Result<i64, IncidentError> {
    conn.prepare_cached(
        "INSERT INTO drill_runs (scenario, started_ms, finished_ms, passed, scorecard) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
    )
    .and_then(|mut s| {
        s.execute(params![
            scenario,
            started_ms,
            finished_ms,
            passed,
            scorecard.to_string()
        ])
    })
    .map_err(IncidentError::db("keep a drill's scorecard"))?;
    conn.last_insert_rowid()
        .map_err(IncidentError::db("read a new row's id"))
}

/// Kept drill scorecards, newest first (of one scenario when given).
pub fn drill_runs(
    conn: &Connection,
    scenario: Option<&str>,
) -> Result<Vec<DrillRun>, IncidentError> {
    rows(
        conn,
        "SELECT id, scenario, started_ms, finished_ms, passed, scorecard FROM drill_runs \
             WHERE CAST(?1 AS TEXT) IS NULL OR scenario = ?1 ORDER BY id DESC",
        [scenario],
        |r| {
            let scorecard: String = r.get(5)?;
            Ok(DrillRun {
                id: r.get(0)?,
                scenario: r.get(1)?,
                started_ms: r.get(2)?,
                finished_ms: r.get(3)?,
                passed: r.get(4)?,
                scorecard: serde_json::from_str(&scorecard).unwrap_or(serde_json::Value::Null),
            })
        },
        "read drill scorecards",
    )
}

/// Which of `hashes` Argus's responders signed (`incident_transactions`,
/// written before the broadcast): the key-use check's "signed through the
/// vault".
pub fn signed_by_argus(
    conn: &Connection,
    hashes: &[alloy_primitives::B256],
) -> Result<std::collections::HashSet<alloy_primitives::B256>, IncidentError> {
    let mut known = std::collections::HashSet::new();
    let mut stmt = conn
        .prepare_cached("SELECT 1 FROM incident_transactions WHERE tx_hash = ?1")
        .map_err(IncidentError::db("look up signed transactions"))?;
    for hash in hashes {
        if stmt
            .exists([hash.to_string()])
            .map_err(IncidentError::db("look up signed transactions"))?
        {
            known.insert(*hash);
        }
    }
    Ok(known)
}
