//! Reading stored alerts back: [`list_alerts`] with an [`AlertFilter`] and
//! [`get_alert`], for the CLI, the API and the other outbox parts. Kept apart
//! because it only reads, and holds the one mapping from an `alerts` row to an
//! [`AlertRecord`].

use std::str::FromStr;

use argus_core::Severity;
use argus_store::Connection;
use argus_store::sql::{OptionalExtension, Result as SqlResult, Row, params};

use super::{AlertRecord, AlertState, query_row_cached};
use crate::error::AlertError;

/// Which alerts [`list_alerts`] returns.
#[derive(Debug, Clone, Default)]
pub struct AlertFilter {
    pub state: Option<AlertState>,
    pub rule_id: Option<String>,
    pub min_severity: Option<Severity>,
    /// Created at or after this time.
    pub since_ms: Option<i64>,
    /// At most this many (default 100).
    pub limit: Option<usize>,
}

const ALERT_COLUMNS: &str =
    "SELECT id, rule_id, severity, title, dedup_key, chain_id, block_number,
    block_hash, tx_hash, log_index, at_ms, fields, state, group_head, duplicates, silence_id,
    created_at_ms, retracted_at_ms, reason FROM alerts";

/// Alerts, newest first.
pub fn list_alerts(
    conn: &Connection,
    filter: &AlertFilter,
) -> Result<Vec<AlertRecord>, AlertError> {
    let sql = format!(
        "{ALERT_COLUMNS} WHERE (CAST(?1 AS TEXT) IS NULL OR state = ?1)
         AND (CAST(?2 AS TEXT) IS NULL OR rule_id = ?2)
         AND (CAST(?3 AS BIGINT) IS NULL OR created_at_ms >= ?3)
         ORDER BY rowid DESC LIMIT ?4"
    );
    let limit = filter.limit.unwrap_or(100);
    let mut out = Vec::new();
    if limit == 0 {
        return Ok(out);
    }
    // The severity filter is applied here (severities order by rank, not by
    // name), so the query is bounded only when there is none: the rows are
    // read before they are filtered.
    let sql_limit = if filter.min_severity.is_some() {
        i64::MAX
    } else {
        i64::try_from(limit).unwrap_or(i64::MAX)
    };
    let mut stmt = conn
        .prepare_cached(&sql)
        .map_err(AlertError::db("list alerts"))?;
    let rows = stmt
        .query_map(
            params![
                filter.state.map(AlertState::as_str),
                filter.rule_id,
                filter.since_ms,
                sql_limit
            ],
            alert_row,
        )
        .map_err(AlertError::db("list alerts"))?;
    for row in rows {
        let alert = parse_alert(row.map_err(AlertError::db("list alerts"))?)?;
        if filter.min_severity.is_some_and(|min| alert.severity > min) {
            continue;
        }
        out.push(alert);
        if out.len() >= limit {
            break;
        }
    }
    Ok(out)
}

/// One alert by id (`0x…` hex of the finding id).
pub fn get_alert(conn: &Connection, id: &str) -> Result<Option<AlertRecord>, AlertError> {
    let raw = query_row_cached(
        conn,
        &format!("{ALERT_COLUMNS} WHERE id = ?1"),
        [id],
        alert_row,
    )
    .optional()
    .map_err(AlertError::db("read an alert"))?;
    raw.map(parse_alert).transpose()
}

/// The position of the newest alert in the order alerts were stored (0
/// when there is none): a cursor for [`alerts_after`].
pub fn last_alert_seq(conn: &Connection) -> Result<i64, AlertError> {
    query_row_cached(
        conn,
        "SELECT COALESCE(MAX(rowid), 0) FROM alerts",
        [],
        |r| r.get(0),
    )
    .map_err(AlertError::db("read the newest alert"))
}

/// Alerts stored after position `after` (see [`last_alert_seq`]), oldest
/// first, each with its position: what a reader that polls for new alerts
/// (the HTTP server's event stream without a node) asks.
pub fn alerts_after(
    conn: &Connection,
    after: i64,
    limit: usize,
) -> Result<Vec<(i64, AlertRecord)>, AlertError> {
    let sql = format!("{ALERT_COLUMNS_WITH_SEQ} WHERE rowid > ?1 ORDER BY rowid LIMIT ?2");
    let mut stmt = conn
        .prepare_cached(&sql)
        .map_err(AlertError::db("read new alerts"))?;
    let rows = stmt
        .query_map(
            params![after, i64::try_from(limit).unwrap_or(i64::MAX)],
            |row| Ok((row.get::<_, i64>(19)?, alert_row(row)?)),
        )
        .map_err(AlertError::db("read new alerts"))?;
    let mut out = Vec::new();
    for row in rows {
        let (seq, raw) = row.map_err(AlertError::db("read new alerts"))?;
        out.push((seq, parse_alert(raw)?));
    }
    Ok(out)
}

const ALERT_COLUMNS_WITH_SEQ: &str =
    "SELECT id, rule_id, severity, title, dedup_key, chain_id, block_number,
    block_hash, tx_hash, log_index, at_ms, fields, state, group_head, duplicates, silence_id,
    created_at_ms, retracted_at_ms, reason, rowid FROM alerts";

pub(super) type RawAlert = (
    String,
    String,
    String,
    String,
    String,
    [Option<i64>; 2],
    [Option<String>; 2],
    Option<i64>,
    i64,
    String,
    String,
    Option<String>,
    i64,
    Option<i64>,
    i64,
    Option<i64>,
    Option<String>,
);

/// The columns of [`ALERT_COLUMNS`], of the table named `a` (for a join).
pub(super) const ALERT_COLUMNS_OF_A: &str =
    "a.id, a.rule_id, a.severity, a.title, a.dedup_key, a.chain_id, a.block_number,
    a.block_hash, a.tx_hash, a.log_index, a.at_ms, a.fields, a.state, a.group_head, a.duplicates,
    a.silence_id, a.created_at_ms, a.retracted_at_ms, a.reason";

fn alert_row(row: &Row<'_>) -> SqlResult<RawAlert> {
    alert_row_at(row, 0)
}

/// The alert columns of a row, from column `at` on.
pub(super) fn alert_row_at(row: &Row<'_>, at: usize) -> SqlResult<RawAlert> {
    Ok((
        row.get(at)?,
        row.get(at + 1)?,
        row.get(at + 2)?,
        row.get(at + 3)?,
        row.get(at + 4)?,
        [row.get(at + 5)?, row.get(at + 6)?],
        [row.get(at + 7)?, row.get(at + 8)?],
        row.get(at + 9)?,
        row.get(at + 10)?,
        row.get(at + 11)?,
        row.get(at + 12)?,
        row.get(at + 13)?,
        row.get(at + 14)?,
        row.get(at + 15)?,
        row.get(at + 16)?,
        row.get(at + 17)?,
        row.get(at + 18)?,
    ))
}

pub(super) fn parse_alert(raw: RawAlert) -> Result<AlertRecord, AlertError> {
    let (
        id,
        rule_id,
        severity,
        title,
        dedup_key,
        [chain_id, block_number],
        [block_hash, tx_hash],
        log_index,
        at_ms,
        fields,
        state,
        group_head,
        duplicates,
        silence_id,
        created_at_ms,
        retracted_at_ms,
        reason,
    ) = raw;
    let corrupt = AlertError::corrupt_row("alerts", &id);
    let severity = Severity::from_str(&severity).map_err(|_| corrupt("unknown severity"))?;
    let state = AlertState::parse(&state).ok_or_else(|| corrupt("unknown state"))?;
    let fields = serde_json::from_str(&fields).map_err(|_| corrupt("fields are not JSON"))?;
    Ok(AlertRecord {
        id: id.clone(),
        rule_id,
        severity,
        title,
        dedup_key,
        chain_id: chain_id.map(|c| c as u64),
        block_number: block_number.map(|n| n as u64),
        block_hash,
        tx_hash,
        log_index: log_index.map(|i| i as u64),
        at_ms,
        fields,
        state,
        group_head,
        duplicates: u64::try_from(duplicates).unwrap_or(0),
        silence_id,
        created_at_ms,
        retracted_at_ms,
        reason,
    })
}
