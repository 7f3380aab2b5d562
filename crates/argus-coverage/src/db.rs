//! The coverage history: one row of `coverage_runs` per `argus coverage`
//! run, written in the caller's transaction.

use argus_store::StoreError;
use argus_store::sql::{OptionalExtension as _, Row, params};
use argus_store::{Connection, Transaction};
use serde::{Deserialize, Serialize};

use crate::CoverageReport;
use crate::report::Breakdown;

/// A query of the coverage history failed.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("cannot read or write the coverage history (coverage_runs): {source}")]
    Store {
        #[from]
        source: StoreError,
    },
    #[error("a coverage run's breakdown (coverage_runs.breakdown) is not readable: {source}")]
    Breakdown {
        #[from]
        source: serde_json::Error,
    },
}

/// One recorded run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CoverageRun {
    pub id: i64,
    pub at_ms: i64,
    pub figure_bp: u32,
    pub watched_weight: u64,
    pub total_weight: u64,
    pub contracts: u64,
    pub contracts_without_rule: u64,
    pub privileged_unwatched: u64,
    pub rules: u64,
    pub breakdown: Breakdown,
}

fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn to_u64(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

/// Records a run; returns its id.
pub fn record(tx: &Transaction<'_>, report: &CoverageReport, at_ms: i64) -> Result<i64, DbError> {
    let breakdown = serde_json::to_string(&Breakdown::of(report))?;
    tx.execute(
        "INSERT INTO coverage_runs (at_ms, figure_bp, watched_weight, total_weight, contracts, \
         contracts_without_rule, privileged_unwatched, rules, breakdown) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            at_ms,
            report.figure_bp,
            to_i64(report.watched_weight),
            to_i64(report.total_weight),
            to_i64(report.contracts.len() as u64),
            to_i64(report.contracts_without_rule().count() as u64),
            to_i64(report.privileged_unwatched() as u64),
            to_i64(report.rules as u64),
            breakdown,
        ],
    )?;
    Ok(tx.last_insert_rowid()?)
}

const COLUMNS: &str = "id, at_ms, figure_bp, watched_weight, total_weight, contracts, \
                       contracts_without_rule, privileged_unwatched, rules, breakdown";

fn read_row(row: &Row<'_>) -> argus_store::sql::Result<(CoverageRun, String)> {
    Ok((
        CoverageRun {
            id: row.get(0)?,
            at_ms: row.get(1)?,
            figure_bp: row.get(2)?,
            watched_weight: to_u64(row.get(3)?),
            total_weight: to_u64(row.get(4)?),
            contracts: to_u64(row.get(5)?),
            contracts_without_rule: to_u64(row.get(6)?),
            privileged_unwatched: to_u64(row.get(7)?),
            rules: to_u64(row.get(8)?),
            breakdown: Breakdown::default(),
        },
        row.get(9)?,
    ))
}

fn with_breakdown((mut run, text): (CoverageRun, String)) -> Result<CoverageRun, DbError> {
    run.breakdown = serde_json::from_str(&text)?;
    Ok(run)
}

/// The latest run, if any.
pub fn last_run(conn: &Connection) -> Result<Option<CoverageRun>, DbError> {
    let row = conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM coverage_runs ORDER BY id DESC LIMIT 1"),
            [],
            read_row,
        )
        .optional()?;
    row.map(with_breakdown).transpose()
}

/// The latest `limit` runs, newest first.
pub fn history(conn: &Connection, limit: usize) -> Result<Vec<CoverageRun>, DbError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM coverage_runs ORDER BY id DESC LIMIT ?1"
    ))?;
    let rows = stmt.query_map([to_i64(limit as u64)], read_row)?;
    let mut runs = Vec::new();
    for row in rows {
        runs.push(with_breakdown(row?)?);
    }
    Ok(runs)
}
