//! The checks' own tables: runs and results (the compliance evidence),
//! approved configuration hashes, and where each schedule last fired.

use argus_store::Connection;
use argus_store::sql::{OptionalExtension as _, params};
use serde::Serialize;

use crate::{Cadence, CheckResult, ChecksError, Status};

/// A kept run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredRun {
    pub id: i64,
    pub started_ms: i64,
    pub finished_ms: i64,
    /// What was asked for: `daily`, `weekly`, `monthly`, a check's name,
    /// `preflight`.
    pub selection: String,
    /// `schedule`, `command` or `preflight`.
    pub trigger: String,
    pub actor: String,
    pub ok: i64,
    pub warn: i64,
    pub fail: i64,
    pub skipped: i64,
}

/// A kept result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredResult {
    pub run_id: i64,
    pub name: String,
    pub status: Status,
    pub severity: String,
    pub summary: String,
    pub details: Vec<String>,
    pub evidence: serde_json::Value,
    /// The alerts this result raised (ids in the outbox).
    pub alert_ids: Vec<String>,
}

/// Keeps a run and its results (inside the caller's transaction).
pub fn insert_run(
    conn: &Connection,
    run: &StoredRun,
    results: &[(CheckResult, Vec<String>)],
) -> Result<i64, ChecksError> {
    let sql = conn;
    sql.execute(
        "INSERT INTO check_runs (id, started_ms, finished_ms, selection, trigger, actor, ok, \
         warn, fail, skipped) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![
            run.id,
            run.started_ms,
            run.finished_ms,
            run.selection,
            run.trigger,
            run.actor,
            run.ok,
            run.warn,
            run.fail,
            run.skipped
        ],
    )
    .map_err(ChecksError::db("keep a check run"))?;
    let id = run.id;
    for (result, alert_ids) in results {
        sql.execute(
            "INSERT INTO check_results (run_id, name, status, severity, summary, details, \
             evidence, alert_ids) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                id,
                result.name,
                result.status.as_str(),
                result.severity.as_str(),
                result.summary,
                serde_json::to_string(&result.details).unwrap_or_else(|_| "[]".into()),
                result.evidence.to_string(),
                serde_json::to_string(alert_ids).unwrap_or_else(|_| "[]".into()),
            ],
        )
        .map_err(ChecksError::db("keep a check result"))?;
    }
    Ok(id)
}

/// The id the next run will get (for alert identities made before the
/// insert, in the same transaction).
pub fn next_run_id(conn: &Connection) -> Result<i64, ChecksError> {
    conn.query_row("SELECT COALESCE(MAX(id), 0) + 1 FROM check_runs", [], |r| {
        r.get(0)
    })
    .map_err(ChecksError::db("number a check run"))
}

/// Runs started at or after `since_ms`, oldest first.
pub fn runs_since(conn: &Connection, since_ms: i64) -> Result<Vec<StoredRun>, ChecksError> {
    let mut stmt = conn
        .prepare(
            "SELECT id, started_ms, finished_ms, selection, trigger, actor, ok, warn, fail, \
             skipped FROM check_runs WHERE started_ms >= ?1 ORDER BY id",
        )
        .map_err(ChecksError::db("read check runs"))?;
    stmt.query_map([since_ms], |r| {
        Ok(StoredRun {
            id: r.get(0)?,
            started_ms: r.get(1)?,
            finished_ms: r.get(2)?,
            selection: r.get(3)?,
            trigger: r.get(4)?,
            actor: r.get(5)?,
            ok: r.get(6)?,
            warn: r.get(7)?,
            fail: r.get(8)?,
            skipped: r.get(9)?,
        })
    })
    .and_then(|rows| rows.collect())
    .map_err(ChecksError::db("read check runs"))
}

/// The results of the runs started at or after `since_ms`, by run then name.
pub fn results_since(conn: &Connection, since_ms: i64) -> Result<Vec<StoredResult>, ChecksError> {
    let mut stmt = conn
        .prepare(
            "SELECT r.run_id, r.name, r.status, r.severity, r.summary, r.details, r.evidence, \
             r.alert_ids FROM check_results r JOIN check_runs c ON c.id = r.run_id \
             WHERE c.started_ms >= ?1 ORDER BY r.run_id, r.name",
        )
        .map_err(ChecksError::db("read check results"))?;
    stmt.query_map([since_ms], |r| {
        let status: String = r.get(2)?;
        let details: String = r.get(5)?;
        let evidence: String = r.get(6)?;
        let alerts: String = r.get(7)?;
        Ok(StoredResult {
            run_id: r.get(0)?,
            name: r.get(1)?,
            // A status this binary does not know reads as a failure.
            status: Status::parse(&status).unwrap_or(Status::Fail),
            severity: r.get(3)?,
            summary: r.get(4)?,
            details: serde_json::from_str(&details).unwrap_or_default(),
            evidence: serde_json::from_str(&evidence).unwrap_or(serde_json::Value::Null),
            alert_ids: serde_json::from_str(&alerts).unwrap_or_default(),
        })
    })
    .and_then(|rows| rows.collect())
    .map_err(ChecksError::db("read check results"))
}

/// An approved configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Approval {
    pub id: i64,
    pub at_ms: i64,
    pub actor: String,
    pub reason: String,
    /// SHA-256 over the config and rule files (see [`crate::run::config_hash`]).
    pub hash: String,
    /// The files and their own hashes.
    pub files: serde_json::Value,
}

/// Keeps an approval.
pub fn approve_config(conn: &Connection, approval: &Approval) -> Result<i64, ChecksError> {
    conn.execute(
        "INSERT INTO config_approvals (at_ms, actor, reason, hash, files) VALUES (?1, ?2, ?3, \
             ?4, ?5)",
        params![
            approval.at_ms,
            approval.actor,
            approval.reason,
            approval.hash,
            approval.files.to_string()
        ],
    )
    .map_err(ChecksError::db("keep a configuration approval"))?;
    conn.last_insert_rowid()
        .map_err(ChecksError::db("keep a configuration approval"))
}

/// The newest approval.
pub fn last_approval(conn: &Connection) -> Result<Option<Approval>, ChecksError> {
    conn.query_row(
        "SELECT id, at_ms, actor, reason, hash, files FROM config_approvals ORDER BY id DESC \
             LIMIT 1",
        [],
        |r| {
            let files: String = r.get(5)?;
            Ok(Approval {
                id: r.get(0)?,
                at_ms: r.get(1)?,
                actor: r.get(2)?,
                reason: r.get(3)?,
                hash: r.get(4)?,
                files: serde_json::from_str(&files).unwrap_or(serde_json::Value::Null),
            })
        },
    )
    .optional()
    .map_err(ChecksError::db("read the last configuration approval"))
}

/// When `cadence` last fired (the daemon's schedule), if ever.
pub fn last_fired(conn: &Connection, cadence: Cadence) -> Result<Option<i64>, ChecksError> {
    conn.query_row(
        "SELECT last_fired_ms FROM check_schedule WHERE cadence = ?1",
        [cadence.as_str()],
        |r| r.get(0),
    )
    .optional()
    .map_err(ChecksError::db("read the check schedule"))
}

/// Notes that `cadence` fired at `at_ms`.
pub fn set_fired(conn: &Connection, cadence: Cadence, at_ms: i64) -> Result<(), ChecksError> {
    conn.execute(
        "INSERT INTO check_schedule (cadence, last_fired_ms) VALUES (?1, ?2) \
             ON CONFLICT (cadence) DO UPDATE SET last_fired_ms = excluded.last_fired_ms",
        params![cadence.as_str(), at_ms],
    )
    .map_err(ChecksError::db("write the check schedule"))?;
    Ok(())
}
