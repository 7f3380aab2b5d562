//! The dispatcher's side of the outbox: claim due deliveries with a lease
//! ([`claim_due`]), record what the sink answered ([`mark_delivered`],
//! [`mark_retry`], [`mark_failed`]), put a failed one back ([`requeue`]), and
//! read the queue ([`pending`], [`list_deliveries`], ...).
//!
//! Kept apart from the event writes (`write`) because it runs on the
//! dispatcher's own connection. Nothing here commits: the dispatcher claims
//! (per notifier, [`claim_due_for`]) and marks a whole batch of outcomes in
//! one transaction of its own, so a burst costs one commit per batch, not
//! one per delivery.

use argus_store::Connection;
use argus_store::sql::{OptionalExtension, Result as SqlResult, Row, ToSql, params};

use super::read::{ALERT_COLUMNS_OF_A, alert_row_at, parse_alert};
use super::write::queue;
use super::{
    AlertRecord, AlertState, Delivery, DeliveryKind, DeliveryStatus, execute_cached,
    query_row_cached,
};
use crate::error::AlertError;

/// Marks a delivery accepted by its sink. Call only after the sink said yes.
/// A fire whose alert was retracted while it was in flight gets its retract
/// delivery queued now.
pub fn mark_delivered(conn: &Connection, delivery_id: i64, now_ms: i64) -> Result<(), AlertError> {
    // One statement marks it and says what it was; a fire then needs one
    // look at its alert, a digest its members. A burst writes thousands.
    let marked: Option<(String, String, String)> = query_row_cached(
        conn,
        "UPDATE alert_deliveries SET status = 'delivered', delivered_at_ms = ?2,
                 attempts = attempts + 1, last_error = NULL
             WHERE id = ?1 AND status IN ('pending', 'cancelled')
             RETURNING kind, alert_id, notifier",
        params![delivery_id, now_ms],
        |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
    )
    .optional()
    .map_err(AlertError::db("mark a delivery delivered"))?;
    let Some((kind, alert_id, notifier)) = marked else {
        return Ok(());
    };
    match DeliveryKind::parse(&kind) {
        Some(DeliveryKind::Fire) => {
            let state: Option<String> = query_row_cached(
                conn,
                "SELECT state FROM alerts WHERE id = ?1",
                [&alert_id],
                |row| row.get(0),
            )
            .optional()
            .map_err(AlertError::db("check a retraction"))?;
            if state.as_deref() == Some(AlertState::Retracted.as_str()) {
                queue(conn, &alert_id, &notifier, DeliveryKind::Retract, now_ms)?;
            }
            Ok(())
        }
        Some(DeliveryKind::Digest) => crate::digest::after_delivered(conn, delivery_id, now_ms),
        Some(DeliveryKind::Retract) | None => Ok(()),
    }
}

/// Records a failed attempt that is worth retrying at `next_attempt_at_ms`.
/// `error` must hold no secret (notifier errors never do).
pub fn mark_retry(
    conn: &Connection,
    delivery_id: i64,
    next_attempt_at_ms: i64,
    error: &str,
) -> Result<(), AlertError> {
    execute_cached(
        conn,
        "UPDATE alert_deliveries SET attempts = attempts + 1, next_attempt_at_ms = ?2,
             last_error = ?3
         WHERE id = ?1 AND status = 'pending'",
        params![delivery_id, next_attempt_at_ms, truncate(error)],
    )
    .map_err(AlertError::db("schedule a retry"))?;
    Ok(())
}

/// Moves a claimed delivery's next attempt to `at_ms` without counting an
/// attempt: its notifier's rate limit did not let it go now.
pub fn postpone(conn: &Connection, delivery_id: i64, at_ms: i64) -> Result<(), AlertError> {
    execute_cached(
        conn,
        "UPDATE alert_deliveries SET next_attempt_at_ms = ?2 WHERE id = ?1 AND status = 'pending'",
        params![delivery_id, at_ms],
    )
    .map_err(AlertError::db("postpone a delivery"))?;
    Ok(())
}

/// Records that the sink refused a delivery for good.
pub fn mark_failed(conn: &Connection, delivery_id: i64, error: &str) -> Result<(), AlertError> {
    execute_cached(
        conn,
        "UPDATE alert_deliveries SET status = 'failed', attempts = attempts + 1, last_error = ?2
         WHERE id = ?1 AND status = 'pending'",
        params![delivery_id, truncate(error)],
    )
    .map_err(AlertError::db("mark a delivery failed"))?;
    Ok(())
}

/// Puts a failed delivery back in the queue (after the sink was fixed).
/// `false` when it was not failed, or when it is the fire of an alert
/// retracted since (it is cancelled instead: a retracted alert never fires).
pub fn requeue(conn: &Connection, delivery_id: i64, now_ms: i64) -> Result<bool, AlertError> {
    let cancelled = execute_cached(
        conn,
        "UPDATE alert_deliveries SET status = 'cancelled'
             WHERE id = ?1 AND status = 'failed' AND kind = 'fire'
               AND alert_id IN (SELECT id FROM alerts WHERE state = 'retracted')",
        params![delivery_id],
    )
    .map_err(AlertError::db("requeue a delivery"))?;
    if cancelled > 0 {
        return Ok(false);
    }
    let changed = execute_cached(
        conn,
        "UPDATE alert_deliveries SET status = 'pending', next_attempt_at_ms = ?2
             WHERE id = ?1 AND status = 'failed'",
        params![delivery_id, now_ms],
    )
    .map_err(AlertError::db("requeue a delivery"))?;
    Ok(changed > 0)
}

const MAX_ERROR_CHARS: usize = 500;

pub(crate) fn truncate(text: &str) -> String {
    if text.chars().count() <= MAX_ERROR_CHARS {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(MAX_ERROR_CHARS).collect();
    out.push('…');
    out
}

/// Claims up to `limit` due deliveries for sending, with their alerts: each
/// one's next attempt moves to `now_ms + lease_ms`, so another pass (or
/// another dispatcher) does not send it concurrently, and a dispatcher killed
/// mid-send has it sent again once the lease runs out. Call inside a
/// transaction.
pub fn claim_due(
    conn: &Connection,
    now_ms: i64,
    limit: usize,
    lease_ms: i64,
) -> Result<Vec<(Delivery, AlertRecord)>, AlertError> {
    claim(conn, "", &[], now_ms, limit, lease_ms)
}

/// [`claim_due`] for one notifier: up to `limit` of its due deliveries,
/// oldest due first. The dispatcher claims per notifier, so one sink's
/// backlog never takes the slots of another.
pub fn claim_due_for(
    conn: &Connection,
    notifier: &str,
    now_ms: i64,
    limit: usize,
    lease_ms: i64,
) -> Result<Vec<(Delivery, AlertRecord)>, AlertError> {
    claim(
        conn,
        "AND notifier = ?3",
        &[&notifier],
        now_ms,
        limit,
        lease_ms,
    )
}

/// [`claim_due`] for the deliveries to notifiers *not* in `known` (removed
/// from the config since they were queued): the dispatcher claims them to
/// mark them failed with a message that says so.
pub fn claim_due_unknown(
    conn: &Connection,
    known: &[&str],
    now_ms: i64,
    limit: usize,
    lease_ms: i64,
) -> Result<Vec<(Delivery, AlertRecord)>, AlertError> {
    // `NOT IN (?3, ?4, ...)`, one parameter per known notifier (portable:
    // no JSON table function); no clause at all when none is known.
    let not_known = if known.is_empty() {
        String::new()
    } else {
        let placeholders: Vec<String> = (0..known.len()).map(|i| format!("?{}", i + 3)).collect();
        format!("AND notifier NOT IN ({})", placeholders.join(", "))
    };
    let known: Vec<&dyn ToSql> = known.iter().map(|name| name as &dyn ToSql).collect();
    claim(conn, &not_known, &known, now_ms, limit, lease_ms)
}

/// The claim, in two statements whatever its size: the due deliveries read
/// with their alerts, then their leases written at once. Both name the same
/// rows through the same ordered subquery (one transaction; a total order).
/// `filter` narrows the due deliveries with parameters `?3` on, bound to
/// `filter_params`.
fn claim(
    conn: &Connection,
    filter: &str,
    filter_params: &[&dyn ToSql],
    now_ms: i64,
    limit: usize,
    lease_ms: i64,
) -> Result<Vec<(Delivery, AlertRecord)>, AlertError> {
    let due = format!(
        "SELECT id FROM alert_deliveries
         WHERE status = 'pending' AND next_attempt_at_ms <= ?1 {filter}
         ORDER BY next_attempt_at_ms, id LIMIT ?2"
    );
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let lease_until = now_ms.saturating_add(lease_ms);
    let mut params: Vec<&dyn ToSql> = Vec::with_capacity(filter_params.len() + 3);
    params.push(&now_ms);
    params.push(&limit);
    params.extend_from_slice(filter_params);
    let found = {
        let mut stmt = conn
            .prepare_cached(&format!(
                "SELECT {DELIVERY_COLUMNS_OF_D}, {ALERT_COLUMNS_OF_A}
                 FROM alert_deliveries d LEFT JOIN alerts a ON a.id = d.alert_id
                 WHERE d.id IN ({due}) ORDER BY d.next_attempt_at_ms, d.id"
            ))
            .map_err(AlertError::db("claim deliveries"))?;
        let rows = stmt
            .query_map(params.as_slice(), |row| {
                let delivery = delivery_row_at(row, 0)?;
                let alert = match row.get::<_, Option<String>>(DELIVERY_COLUMN_COUNT)? {
                    Some(_) => Some(alert_row_at(row, DELIVERY_COLUMN_COUNT)?),
                    None => None,
                };
                Ok((delivery, alert))
            })
            .map_err(AlertError::db("claim deliveries"))?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(AlertError::db("claim deliveries"))?
    };
    if found.is_empty() {
        return Ok(Vec::new());
    }
    // The lease's end is the last parameter.
    let lease_param = params.len() + 1;
    params.push(&lease_until);
    execute_cached(
        conn,
        &format!(
            "UPDATE alert_deliveries SET next_attempt_at_ms = ?{lease_param} WHERE id IN ({due})"
        ),
        params.as_slice(),
    )
    .map_err(AlertError::db("claim deliveries"))?;
    let mut out = Vec::with_capacity(found.len());
    for (raw, alert) in found {
        let mut delivery = parse_delivery(raw)?;
        let Some(alert) = alert else {
            return Err(AlertError::corrupt_row("alert_deliveries", delivery.id)(
                "its alert is missing",
            ));
        };
        if delivery.kind == DeliveryKind::Digest {
            match crate::digest::load_for_send(conn, &delivery)? {
                Some(digest) => delivery.digest = Some(std::sync::Arc::new(digest)),
                // Every alert it carried was retracted before it went out
                // (it is cancelled now).
                None => continue,
            }
        }
        out.push((delivery, parse_alert(alert)?));
    }
    Ok(out)
}

/// When the next pending delivery is due, if any.
pub fn next_due_at(conn: &Connection) -> Result<Option<i64>, AlertError> {
    query_row_cached(
        conn,
        "SELECT min(next_attempt_at_ms) FROM alert_deliveries WHERE status = 'pending'",
        [],
        |row| row.get(0),
    )
    .map_err(AlertError::db("find the next due delivery"))
}

/// When the next pending delivery to `notifier` is due, if any.
pub fn next_due_at_for(conn: &Connection, notifier: &str) -> Result<Option<i64>, AlertError> {
    query_row_cached(
        conn,
        "SELECT min(next_attempt_at_ms) FROM alert_deliveries
             WHERE status = 'pending' AND notifier = ?1",
        [notifier],
        |row| row.get(0),
    )
    .map_err(AlertError::db("find the next due delivery"))
}

/// Every pending delivery, due or not, oldest first.
pub fn pending(conn: &Connection) -> Result<Vec<Delivery>, AlertError> {
    list_deliveries(conn, Some(DeliveryStatus::Pending))
}

/// Deliveries, optionally of one status, oldest first.
pub fn list_deliveries(
    conn: &Connection,
    status: Option<DeliveryStatus>,
) -> Result<Vec<Delivery>, AlertError> {
    query_deliveries(
        conn,
        &format!("{DELIVERY_COLUMNS} WHERE CAST(?1 AS TEXT) IS NULL OR status = ?1 ORDER BY id"),
        params![status.map(DeliveryStatus::as_str)],
    )
}

/// The deliveries of one alert, in the order they were queued.
pub fn deliveries_of(conn: &Connection, alert_id: &str) -> Result<Vec<Delivery>, AlertError> {
    query_deliveries(
        conn,
        &format!("{DELIVERY_COLUMNS} WHERE alert_id = ?1 ORDER BY id"),
        params![alert_id],
    )
}

/// One delivery by id.
pub fn get_delivery(conn: &Connection, id: i64) -> Result<Option<Delivery>, AlertError> {
    Ok(query_deliveries(
        conn,
        &format!("{DELIVERY_COLUMNS} WHERE id = ?1"),
        params![id],
    )?
    .into_iter()
    .next())
}

const DELIVERY_COLUMNS: &str =
    "SELECT id, alert_id, notifier, kind, idempotency_key, status, attempts,
    next_attempt_at_ms, last_error, created_at_ms, delivered_at_ms, group_key, digest_id
    FROM alert_deliveries";

/// [`DELIVERY_COLUMNS`]' columns of the table named `d` in a join.
const DELIVERY_COLUMNS_OF_D: &str = "d.id, d.alert_id, d.notifier, d.kind, d.idempotency_key,
    d.status, d.attempts, d.next_attempt_at_ms, d.last_error, d.created_at_ms,
    d.delivered_at_ms, d.group_key, d.digest_id";

/// How many columns [`DELIVERY_COLUMNS`] reads.
const DELIVERY_COLUMN_COUNT: usize = 13;

fn query_deliveries(
    conn: &Connection,
    sql: &str,
    params: &[&dyn ToSql],
) -> Result<Vec<Delivery>, AlertError> {
    let mut stmt = conn
        .prepare_cached(sql)
        .map_err(AlertError::db("read deliveries"))?;
    let rows = stmt
        .query_map(params, |row| delivery_row_at(row, 0))
        .map_err(AlertError::db("read deliveries"))?;
    let mut out = Vec::new();
    for row in rows {
        out.push(parse_delivery(
            row.map_err(AlertError::db("read deliveries"))?,
        )?);
    }
    Ok(out)
}

type RawDelivery = (
    i64,
    [String; 5],
    [i64; 2],
    Option<String>,
    i64,
    Option<i64>,
    Option<String>,
    Option<i64>,
);

/// The delivery columns of a row (in [`DELIVERY_COLUMNS`] order), from
/// column `at` on.
fn delivery_row_at(row: &Row<'_>, at: usize) -> SqlResult<RawDelivery> {
    Ok((
        row.get(at)?,
        [
            row.get(at + 1)?,
            row.get(at + 2)?,
            row.get(at + 3)?,
            row.get(at + 4)?,
            row.get(at + 5)?,
        ],
        [row.get(at + 6)?, row.get(at + 7)?],
        row.get(at + 8)?,
        row.get(at + 9)?,
        row.get(at + 10)?,
        row.get(at + 11)?,
        row.get(at + 12)?,
    ))
}

fn parse_delivery(raw: RawDelivery) -> Result<Delivery, AlertError> {
    let (
        id,
        [alert_id, notifier, kind, key, status],
        [attempts, next],
        error,
        created,
        delivered,
        group_key,
        digest_id,
    ) = raw;
    let corrupt = AlertError::corrupt_row("alert_deliveries", id);
    let kind = DeliveryKind::parse(&kind).ok_or_else(|| corrupt("unknown kind"))?;
    Ok(Delivery {
        id,
        alert_id,
        notifier,
        kind,
        idempotency_key: key,
        status: DeliveryStatus::parse(&status).ok_or_else(|| corrupt("unknown status"))?,
        attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
        next_attempt_at_ms: next,
        last_error: error,
        created_at_ms: created,
        delivered_at_ms: delivered,
        group_key,
        digest_id,
        digest: None,
    })
}
