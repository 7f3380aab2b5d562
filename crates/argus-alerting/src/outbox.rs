//! The alert store and its outbox: the exactly-once half of Argus.
//!
//! The daemon opens one SQLite transaction per chain event, calls
//! [`record`] / [`retract_block`] with it together with the follower's
//! checkpoint update, and commits. Nothing here commits: an alert, its
//! deliveries and the cursor that says "this block is done" become durable
//! together or not at all. (A peer tool advanced its cursor before sending and
//! lost alerts on a crash.)
//!
//! Delivery is *exactly once per idempotency key*: a delivery row is marked
//! `delivered` only after the sink accepted it. A crash between the sink's
//! acceptance and [`mark_delivered`] re-sends the same request with the same
//! `Idempotency-Key` after restart, and receivers drop a key they have seen.
//!
//! Reorgs: alerts made from a block that left the canonical chain are
//! retracted. A `fire` delivery not yet sent is cancelled (never sent); one
//! already delivered gets a `retract` delivery to the same notifier. A fire
//! that was in flight while the retraction happened is noticed by
//! [`mark_delivered`], which queues the retraction then, so a retraction is
//! never sent before its fire and never forgotten.

use std::str::FromStr;

use alloy_primitives::{B256, keccak256};
use argus_core::{ChainId, Finding, Severity};
use argus_store::Connection;
use rusqlite::{OptionalExtension, Row, params};
use serde::Serialize;

use crate::error::AlertError;
use crate::routing::Routing;
use crate::silence::matching_silence;

/// Where an alert stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertState {
    /// Notified (or being notified).
    Firing,
    /// A duplicate within the dedup window of a firing alert; not notified.
    Suppressed,
    /// Matched a silence; stored, not notified.
    Silenced,
    /// Its block left the canonical chain (or it was retracted by hand).
    Retracted,
}

impl AlertState {
    /// The name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Firing => "firing",
            AlertState::Suppressed => "suppressed",
            AlertState::Silenced => "silenced",
            AlertState::Retracted => "retracted",
        }
    }

    pub(crate) fn parse(text: &str) -> Option<Self> {
        [
            Self::Firing,
            Self::Suppressed,
            Self::Silenced,
            Self::Retracted,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }
}

/// What a delivery tells the sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryKind {
    Fire,
    Retract,
}

impl DeliveryKind {
    /// The name stored and sent.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryKind::Fire => "fire",
            DeliveryKind::Retract => "retract",
        }
    }
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    /// Waiting for its next attempt.
    Pending,
    /// The sink accepted it.
    Delivered,
    /// Its alert was retracted before it was sent.
    Cancelled,
    /// The sink refused it for good (a 4xx other than 408/429); kept visible
    /// until requeued with [`requeue`].
    Failed,
}

impl DeliveryStatus {
    /// The name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Cancelled => "cancelled",
            DeliveryStatus::Failed => "failed",
        }
    }

    pub(crate) fn parse(text: &str) -> Option<Self> {
        [
            Self::Pending,
            Self::Delivered,
            Self::Cancelled,
            Self::Failed,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }
}

/// A stored alert.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertRecord {
    pub id: String,
    pub rule_id: String,
    pub severity: Severity,
    pub title: String,
    pub dedup_key: String,
    pub chain_id: Option<u64>,
    pub block_number: Option<u64>,
    pub block_hash: Option<String>,
    pub tx_hash: Option<String>,
    pub log_index: Option<u64>,
    pub at_ms: i64,
    pub fields: serde_json::Value,
    pub state: AlertState,
    /// For a suppressed alert: the alert of its group that notified.
    pub group_head: Option<String>,
    /// For a group head: how many alerts were suppressed into it.
    pub duplicates: u64,
    pub silence_id: Option<i64>,
    pub created_at_ms: i64,
    pub retracted_at_ms: Option<i64>,
    pub reason: Option<String>,
}

/// A row of the outbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Delivery {
    pub id: i64,
    pub alert_id: String,
    pub notifier: String,
    pub kind: DeliveryKind,
    pub idempotency_key: String,
    pub status: DeliveryStatus,
    pub attempts: u32,
    pub next_attempt_at_ms: i64,
    pub last_error: Option<String>,
    pub created_at_ms: i64,
    pub delivered_at_ms: Option<i64>,
}

/// Why a new alert was not notified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase", tag = "by")]
pub enum Suppression {
    /// Grouped into the firing alert `of` (same dedup key, within the window).
    Duplicate { of: String },
    /// Matched silence `silence_id`.
    Silenced { silence_id: i64 },
}

/// What [`record`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Recorded {
    /// `false` when the finding was already stored (nothing changed).
    pub new: bool,
    /// Deliveries queued.
    pub deliveries: usize,
    pub suppressed_by: Option<Suppression>,
}

/// What a retraction did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Retracted {
    /// Alerts retracted.
    pub alerts: usize,
    /// Fire deliveries cancelled before they were sent.
    pub cancelled: usize,
    /// Retract deliveries queued for fires already delivered.
    pub retractions_queued: usize,
    /// Suppressed duplicates promoted to firing because their group's first
    /// alert was retracted.
    pub promoted: usize,
}

/// The idempotency key of a delivery: the same alert, kind and notifier always
/// give the same key, across restarts and machines.
pub fn idempotency_key(alert_id: &str, kind: DeliveryKind, notifier: &str) -> String {
    let mut buf = Vec::with_capacity(alert_id.len() + notifier.len() + 32);
    buf.extend_from_slice(b"argus/delivery/v1\0");
    buf.extend_from_slice(alert_id.as_bytes());
    buf.push(0);
    buf.extend_from_slice(kind.as_str().as_bytes());
    buf.push(0);
    buf.extend_from_slice(notifier.as_bytes());
    hex::encode(keccak256(&buf))
}

/// The stored id of a finding.
pub fn alert_id(id: &B256) -> String {
    format!("{id:#x}")
}

/// Stores a finding as an alert and queues its deliveries, inside the
/// caller's transaction (pass `&tx`; nothing here commits).
///
/// Recording a finding already stored is a no-op (`new: false`). A finding
/// matching an active silence is stored as `silenced`; one sharing its dedup
/// key with a firing alert whose event time is within the dedup window is
/// stored as `suppressed` and counted on that alert. Otherwise it fires: one
/// `fire` delivery per notifier the routing names.
pub fn record(
    conn: &Connection,
    finding: &Finding,
    routing: &Routing,
    now_ms: i64,
) -> Result<Recorded, AlertError> {
    let id = alert_id(&finding.id);
    let exists = query_row_cached(
        conn,
        "SELECT 1 FROM alerts WHERE id = ?1",
        [&id],
        |_| Ok(()),
    )
    .optional()
    .map_err(AlertError::db("look up an alert"))?
    .is_some();
    if exists {
        return Ok(Recorded {
            new: false,
            deliveries: 0,
            suppressed_by: None,
        });
    }
    let suppressed_by = match matching_silence(conn, finding, now_ms)? {
        Some(silence_id) => Some(Suppression::Silenced { silence_id }),
        None => group_head_for(
            conn,
            &finding.dedup_key,
            finding.at_ms,
            routing.dedup_window_ms(),
        )?
        .map(|of| Suppression::Duplicate { of }),
    };
    let (state, group_head, silence_id, reason) = match &suppressed_by {
        None => (AlertState::Firing, None, None, None),
        Some(Suppression::Duplicate { of }) => (
            AlertState::Suppressed,
            Some(of.as_str()),
            None,
            Some("duplicate within the dedup window".to_owned()),
        ),
        Some(Suppression::Silenced { silence_id }) => (
            AlertState::Silenced,
            None,
            Some(*silence_id),
            Some(format!("silence {silence_id}")),
        ),
    };
    let origin = finding.origin.as_ref();
    let fields = serde_json::to_string(&finding.fields).unwrap_or_else(|_| "{}".to_owned());
    execute_cached(
        conn,
        "INSERT INTO alerts (id, rule_id, severity, title, dedup_key, chain_id, block_number,
             block_hash, tx_hash, log_index, at_ms, fields, state, group_head, silence_id,
             created_at_ms, reason)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
        params![
            id,
            finding.rule_id,
            finding.severity.as_str(),
            finding.title,
            finding.dedup_key,
            origin.map(|o| o.chain.0 as i64),
            origin.map(|o| o.block.number as i64),
            origin.map(|o| format!("{:#x}", o.block.hash)),
            origin.and_then(|o| o.tx_hash).map(|h| format!("{h:#x}")),
            origin.and_then(|o| o.log_index).map(|i| i as i64),
            finding.at_ms,
            fields,
            state.as_str(),
            group_head,
            silence_id,
            now_ms,
            reason,
        ],
    )
    .map_err(AlertError::db("store an alert"))?;
    let mut deliveries = 0;
    match &suppressed_by {
        None => {
            for notifier in routing.notifiers_for(&finding.rule_id, finding.severity) {
                deliveries += queue(conn, &id, &notifier, DeliveryKind::Fire, now_ms)?;
            }
        }
        Some(Suppression::Duplicate { of }) => {
            execute_cached(
                conn,
                "UPDATE alerts SET duplicates = duplicates + 1 WHERE id = ?1",
                [of],
            )
            .map_err(AlertError::db("count a duplicate"))?;
        }
        Some(Suppression::Silenced { .. }) => {}
    }
    Ok(Recorded {
        new: true,
        deliveries,
        suppressed_by,
    })
}

/// The firing alert a new one with `dedup_key` at `at_ms` groups into.
fn group_head_for(
    conn: &Connection,
    dedup_key: &str,
    at_ms: i64,
    window_ms: i64,
) -> Result<Option<String>, AlertError> {
    if window_ms <= 0 {
        return Ok(None);
    }
    query_row_cached(
        conn,
        "SELECT id FROM alerts
         WHERE dedup_key = ?1 AND state = 'firing' AND at_ms > ?2 - ?3 AND at_ms < ?2 + ?3
         ORDER BY at_ms, created_at_ms LIMIT 1",
        params![dedup_key, at_ms, window_ms],
        |row| row.get(0),
    )
    .optional()
    .map_err(AlertError::db("look up a dedup group"))
}

/// Queues one delivery; 0 when the same key is already queued.
fn queue(
    conn: &Connection,
    alert_id: &str,
    notifier: &str,
    kind: DeliveryKind,
    now_ms: i64,
) -> Result<usize, AlertError> {
    execute_cached(
        conn,
        "INSERT INTO alert_deliveries (alert_id, notifier, kind, idempotency_key, status,
             next_attempt_at_ms, created_at_ms)
         VALUES (?1, ?2, ?3, ?4, 'pending', ?5, ?5)
         ON CONFLICT (alert_id, notifier, kind) DO NOTHING",
        params![
            alert_id,
            notifier,
            kind.as_str(),
            idempotency_key(alert_id, kind, notifier),
            now_ms
        ],
    )
    .map_err(AlertError::db("queue a delivery"))
}

/// Retracts every alert made from block `block_hash` of `chain` (it left the
/// canonical chain), inside the caller's transaction.
pub fn retract_block(
    conn: &Connection,
    chain: ChainId,
    block_hash: B256,
    now_ms: i64,
) -> Result<Retracted, AlertError> {
    let hash = format!("{block_hash:#x}");
    let ids: Vec<String> = {
        let mut stmt = conn
            .sqlite()
            .prepare_cached(
                "SELECT id FROM alerts WHERE chain_id = ?1 AND block_hash = ?2
                 AND state != 'retracted' ORDER BY at_ms, id",
            )
            .map_err(AlertError::db("find the alerts of a block"))?;
        stmt.query_map(params![chain.0 as i64, hash], |row| row.get(0))
            .map_err(AlertError::db("find the alerts of a block"))?
            .collect::<Result<_, _>>()
            .map_err(AlertError::db("find the alerts of a block"))?
    };
    let reason = format!("reorg: block {hash} left the canonical chain");
    let mut total = Retracted::default();
    for id in ids {
        let one = retract_alert(conn, &id, &reason, now_ms)?;
        total.alerts += one.alerts;
        total.cancelled += one.cancelled;
        total.retractions_queued += one.retractions_queued;
        total.promoted += one.promoted;
    }
    Ok(total)
}

/// Retracts one alert (a reorg, or a person marking a false positive), inside
/// the caller's transaction. Retracting a retracted alert does nothing.
pub fn retract_alert(
    conn: &Connection,
    id: &str,
    reason: &str,
    now_ms: i64,
) -> Result<Retracted, AlertError> {
    let Some(alert) = get_alert(conn, id)? else {
        return Ok(Retracted::default());
    };
    let mut out = Retracted::default();
    if alert.state == AlertState::Retracted {
        return Ok(out);
    }
    execute_cached(
        conn,
        "UPDATE alerts SET state = 'retracted', retracted_at_ms = ?2, reason = ?3 WHERE id = ?1",
        params![id, now_ms, reason],
    )
    .map_err(AlertError::db("retract an alert"))?;
    out.alerts = 1;
    match alert.state {
        AlertState::Firing => {
            out.cancelled = execute_cached(
                conn,
                "UPDATE alert_deliveries SET status = 'cancelled'
                     WHERE alert_id = ?1 AND kind = 'fire' AND status = 'pending'",
                [id],
            )
            .map_err(AlertError::db("cancel deliveries"))?;
            for notifier in delivered_fire_notifiers(conn, id)? {
                out.retractions_queued +=
                    queue(conn, id, &notifier, DeliveryKind::Retract, now_ms)?;
            }
            out.promoted = promote_next_in_group(conn, &alert, now_ms)?;
        }
        AlertState::Suppressed => {
            if let Some(head) = &alert.group_head {
                execute_cached(
                    conn,
                    "UPDATE alerts SET duplicates = max(duplicates - 1, 0) WHERE id = ?1",
                    [head],
                )
                .map_err(AlertError::db("uncount a duplicate"))?;
            }
        }
        AlertState::Silenced | AlertState::Retracted => {}
    }
    Ok(out)
}

fn delivered_fire_notifiers(conn: &Connection, id: &str) -> Result<Vec<String>, AlertError> {
    let mut stmt = conn
        .sqlite()
        .prepare_cached(
            "SELECT notifier FROM alert_deliveries
             WHERE alert_id = ?1 AND kind = 'fire' AND status = 'delivered' ORDER BY id",
        )
        .map_err(AlertError::db("read deliveries"))?;
    stmt.query_map([id], |row| row.get(0))
        .map_err(AlertError::db("read deliveries"))?
        .collect::<Result<_, _>>()
        .map_err(AlertError::db("read deliveries"))
}

/// When a group's first alert is retracted, its earliest remaining duplicate
/// fires in its place (to the same notifiers), so a real event is not lost
/// because the alert it was grouped into came from a reorged block.
fn promote_next_in_group(
    conn: &Connection,
    head: &AlertRecord,
    now_ms: i64,
) -> Result<usize, AlertError> {
    let next: Option<String> = query_row_cached(
        conn,
        "SELECT id FROM alerts WHERE group_head = ?1 AND state = 'suppressed'
             ORDER BY at_ms, created_at_ms, id LIMIT 1",
        [&head.id],
        |row| row.get(0),
    )
    .optional()
    .map_err(AlertError::db("find a duplicate to promote"))?;
    let Some(next) = next else {
        return Ok(0);
    };
    let notifiers: Vec<String> = {
        let mut stmt = conn
            .sqlite()
            .prepare_cached(
                "SELECT DISTINCT notifier FROM alert_deliveries
                 WHERE alert_id = ?1 AND kind = 'fire' ORDER BY notifier",
            )
            .map_err(AlertError::db("read deliveries"))?;
        stmt.query_map([&head.id], |row| row.get(0))
            .map_err(AlertError::db("read deliveries"))?
            .collect::<Result<_, _>>()
            .map_err(AlertError::db("read deliveries"))?
    };
    execute_cached(
        conn,
        "UPDATE alerts SET group_head = ?2 WHERE group_head = ?1 AND id != ?2",
        params![head.id, next],
    )
    .map_err(AlertError::db("regroup duplicates"))?;
    execute_cached(conn,
        "UPDATE alerts SET state = 'firing', group_head = NULL, reason = ?3,
             duplicates = (SELECT count(*) FROM alerts WHERE group_head = ?1 AND state = 'suppressed')
         WHERE id = ?1 AND ?2 IS NOT NULL",
        params![next, head.id, format!("promoted: {} was retracted", head.id)],
    )
    .map_err(AlertError::db("promote a duplicate"))?;
    for notifier in notifiers {
        queue(conn, &next, &notifier, DeliveryKind::Fire, now_ms)?;
    }
    Ok(1)
}

/// Marks a delivery accepted by its sink. Call only after the sink said yes.
/// A fire whose alert was retracted while it was in flight gets its retract
/// delivery queued now.
pub fn mark_delivered(conn: &Connection, delivery_id: i64, now_ms: i64) -> Result<(), AlertError> {
    let changed = execute_cached(
        conn,
        "UPDATE alert_deliveries SET status = 'delivered', delivered_at_ms = ?2,
                 attempts = attempts + 1, last_error = NULL
             WHERE id = ?1 AND status IN ('pending', 'cancelled')",
        params![delivery_id, now_ms],
    )
    .map_err(AlertError::db("mark a delivery delivered"))?;
    if changed == 0 {
        return Ok(());
    }
    let late: Option<(String, String)> = query_row_cached(
        conn,
        "SELECT d.alert_id, d.notifier FROM alert_deliveries d JOIN alerts a ON a.id = d.alert_id
             WHERE d.id = ?1 AND d.kind = 'fire' AND a.state = 'retracted'",
        [delivery_id],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )
    .optional()
    .map_err(AlertError::db("check a retraction"))?;
    if let Some((alert_id, notifier)) = late {
        queue(conn, &alert_id, &notifier, DeliveryKind::Retract, now_ms)?;
    }
    Ok(())
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

/// Pending deliveries due at `now_ms`, oldest due first, at most `limit`.
pub fn due(conn: &Connection, now_ms: i64, limit: usize) -> Result<Vec<Delivery>, AlertError> {
    query_deliveries(
        conn,
        &format!(
            "{DELIVERY_COLUMNS} WHERE status = 'pending' AND next_attempt_at_ms <= ?1
             ORDER BY next_attempt_at_ms, id LIMIT ?2"
        ),
        params![now_ms, i64::try_from(limit).unwrap_or(i64::MAX)],
    )
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
    let deliveries = due(conn, now_ms, limit)?;
    let mut out = Vec::with_capacity(deliveries.len());
    for delivery in deliveries {
        execute_cached(
            conn,
            "UPDATE alert_deliveries SET next_attempt_at_ms = ?2 WHERE id = ?1",
            params![delivery.id, now_ms.saturating_add(lease_ms)],
        )
        .map_err(AlertError::db("claim a delivery"))?;
        let alert = get_alert(conn, &delivery.alert_id)?.ok_or_else(|| AlertError::CorruptRow {
            table: "alert_deliveries",
            id: delivery.id.to_string(),
            detail: "its alert is missing".to_owned(),
        })?;
        out.push((delivery, alert));
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
        &format!("{DELIVERY_COLUMNS} WHERE ?1 IS NULL OR status = ?1 ORDER BY id"),
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
    next_attempt_at_ms, last_error, created_at_ms, delivered_at_ms FROM alert_deliveries";

fn query_deliveries(
    conn: &Connection,
    sql: &str,
    params: &[&dyn rusqlite::ToSql],
) -> Result<Vec<Delivery>, AlertError> {
    let mut stmt = conn
        .sqlite()
        .prepare_cached(sql)
        .map_err(AlertError::db("read deliveries"))?;
    let rows = stmt
        .query_map(params, |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, String>(3)?,
                row.get::<_, String>(4)?,
                row.get::<_, String>(5)?,
                row.get::<_, i64>(6)?,
                row.get::<_, i64>(7)?,
                row.get::<_, Option<String>>(8)?,
                row.get::<_, i64>(9)?,
                row.get::<_, Option<i64>>(10)?,
            ))
        })
        .map_err(AlertError::db("read deliveries"))?;
    let mut out = Vec::new();
    for row in rows {
        let (id, alert_id, notifier, kind, key, status, attempts, next, error, created, delivered) =
            row.map_err(AlertError::db("read deliveries"))?;
        let corrupt = |detail: &str| AlertError::CorruptRow {
            table: "alert_deliveries",
            id: id.to_string(),
            detail: detail.to_owned(),
        };
        let kind = match kind.as_str() {
            "fire" => DeliveryKind::Fire,
            "retract" => DeliveryKind::Retract,
            _ => return Err(corrupt("unknown kind")),
        };
        out.push(Delivery {
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
        });
    }
    Ok(out)
}

/// `execute` through the connection's statement cache: the daemon records
/// on every event, and preparing a statement costs as much as running it.
pub(crate) fn execute_cached(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> rusqlite::Result<usize> {
    conn.sqlite().prepare_cached(sql)?.execute(params)
}

/// `query_row` through the statement cache.
pub(crate) fn query_row_cached<T>(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    map: impl FnOnce(&Row<'_>) -> rusqlite::Result<T>,
) -> rusqlite::Result<T> {
    conn.sqlite().prepare_cached(sql)?.query_row(params, map)
}

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
        "{ALERT_COLUMNS} WHERE (?1 IS NULL OR state = ?1) AND (?2 IS NULL OR rule_id = ?2)
         AND (?3 IS NULL OR created_at_ms >= ?3)
         ORDER BY rowid DESC"
    );
    let mut stmt = conn
        .sqlite()
        .prepare_cached(&sql)
        .map_err(AlertError::db("list alerts"))?;
    let rows = stmt
        .query_map(
            params![
                filter.state.map(AlertState::as_str),
                filter.rule_id,
                filter.since_ms
            ],
            alert_row,
        )
        .map_err(AlertError::db("list alerts"))?;
    let limit = filter.limit.unwrap_or(100);
    let mut out = Vec::new();
    if limit == 0 {
        return Ok(out);
    }
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

type RawAlert = (
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

fn alert_row(row: &Row<'_>) -> rusqlite::Result<RawAlert> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
        [row.get(5)?, row.get(6)?],
        [row.get(7)?, row.get(8)?],
        row.get(9)?,
        row.get(10)?,
        row.get(11)?,
        row.get(12)?,
        row.get(13)?,
        row.get(14)?,
        row.get(15)?,
        row.get(16)?,
        row.get(17)?,
        row.get(18)?,
    ))
}

fn parse_alert(raw: RawAlert) -> Result<AlertRecord, AlertError> {
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
    let corrupt = |detail: &str| AlertError::CorruptRow {
        table: "alerts",
        id: id.clone(),
        detail: detail.to_owned(),
    };
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
