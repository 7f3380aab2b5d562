//! What a chain event writes: [`record`] a finding as an alert (dedup group,
//! silence, one `fire` delivery per routed notifier) and retract the alerts of
//! a block that left the canonical chain ([`retract_block`], [`retract_alert`]),
//! cancelling unsent fires, queueing retractions of sent ones and promoting
//! the next duplicate of a retracted group head.
//!
//! Kept apart from the dispatcher's side (`delivery`) because these run inside
//! the daemon's per-event transaction with the checkpoint: nothing here
//! commits.

use std::collections::HashMap;

use alloy_primitives::B256;
use argus_core::{ChainId, Finding};
use argus_store::Connection;
use argus_store::sql::{OptionalExtension, params};

use super::{
    AlertRecord, AlertState, DeliveryKind, Recorded, Retracted, Suppression, alert_id,
    execute_cached, get_alert, idempotency_key, query_row_cached,
};
use crate::error::AlertError;
use crate::routing::Routing;
use crate::silence::list_silences;

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
    Recording::new(routing, now_ms).record(conn, finding)
}

/// [`record`] for the findings of one transaction (a chain event's), with
/// what they share read once: the silences in force, and each group's due
/// time once one of its fires is held (its later fires join it). A block of
/// a thousand matches then costs its inserts, not a thousand reads of the
/// silences and of each group.
#[derive(Debug)]
pub struct Recording<'r> {
    routing: &'r Routing,
    now_ms: i64,
    silences: Option<Vec<crate::silence::Silence>>,
    group_due: HashMap<(String, String), i64>,
}

impl<'r> Recording<'r> {
    pub fn new(routing: &'r Routing, now_ms: i64) -> Self {
        Self {
            routing,
            now_ms,
            silences: None,
            group_due: HashMap::new(),
        }
    }

    /// Records one finding; see [`record`]. Call with the same transaction
    /// every time.
    pub fn record(&mut self, conn: &Connection, finding: &Finding) -> Result<Recorded, AlertError> {
        let (routing, now_ms) = (self.routing, self.now_ms);
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
        let silences = match &mut self.silences {
            Some(silences) => silences,
            unread => unread.insert(list_silences(conn, Some(now_ms))?),
        };
        // Newest first: the oldest silence that matches is named.
        let silence = silences
            .iter()
            .rev()
            .find(|s| s.matcher.matches(finding))
            .map(|s| s.id);
        let suppressed_by = match silence {
            Some(silence_id) => Some(Suppression::Silenced { silence_id }),
            None => group_head_for(
                conn,
                &finding.dedup_key,
                finding.at_ms,
                routing
                    .dedup_window_ms()
                    .max(routing.cooldown_ms(&finding.rule_id)),
            )?
            .map(|of| Suppression::Duplicate { of }),
        };
        insert(conn, &id, finding, routing, now_ms, &suppressed_by)?;
        let mut deliveries = 0;
        match &suppressed_by {
            None => {
                for (notifier, grouping) in
                    routing.deliveries_for(&finding.rule_id, finding.severity)
                {
                    deliveries += match grouping {
                        None => queue(conn, &id, &notifier, DeliveryKind::Fire, now_ms)?,
                        Some(policy) => {
                            let group_key = policy.key(finding);
                            let memo = (notifier, group_key);
                            let due = match self.group_due.get(&memo) {
                                Some(due) => *due,
                                None => policy.due_at(conn, &memo.0, &memo.1, now_ms)?,
                            };
                            let queued = queue_held(conn, &id, &memo.0, &memo.1, due, now_ms)?;
                            // Held now, so the group's next fire joins it.
                            self.group_due.insert(memo, due);
                            queued
                        }
                    };
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
}

/// The `alerts` row of a new finding.
fn insert(
    conn: &Connection,
    id: &str,
    finding: &Finding,
    routing: &Routing,
    now_ms: i64,
    suppressed_by: &Option<Suppression>,
) -> Result<(), AlertError> {
    let (state, group_head, silence_id, reason) = match suppressed_by {
        None => (AlertState::Firing, None, None, None),
        Some(Suppression::Duplicate { of }) => (
            AlertState::Suppressed,
            Some(of.as_str()),
            None,
            Some(
                if routing.cooldown_ms(&finding.rule_id) > routing.dedup_window_ms() {
                    "duplicate within the rule's cooldown".to_owned()
                } else {
                    "duplicate within the dedup window".to_owned()
                },
            ),
        ),
        Some(Suppression::Silenced { silence_id }) => (
            AlertState::Silenced,
            None,
            Some(*silence_id),
            Some(format!("silence {silence_id}")),
        ),
    };
    let origin = finding.origin.as_ref();
    let fields = finding.fields.as_json();
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
    Ok(())
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
         WHERE dedup_key = ?1 AND state = 'firing' AND at_ms > ?2 AND at_ms < ?3
         ORDER BY at_ms, created_at_ms LIMIT 1",
        params![
            dedup_key,
            at_ms.saturating_sub(window_ms),
            at_ms.saturating_add(window_ms)
        ],
        |row| row.get(0),
    )
    .optional()
    .map_err(AlertError::db("look up a dedup group"))
}

/// Queues one delivery; 0 when the same key is already queued.
pub(crate) fn queue(
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
    .and_then(|queued| {
        if queued > 0 {
            argus_store::notify::outbox_changed(conn)?;
        }
        Ok(queued)
    })
    .map_err(AlertError::db("queue a delivery"))
}

/// Queues a grouped fire, held until `due_ms` (its group's flush).
fn queue_held(
    conn: &Connection,
    alert_id: &str,
    notifier: &str,
    group_key: &str,
    due_ms: i64,
    now_ms: i64,
) -> Result<usize, AlertError> {
    execute_cached(
        conn,
        "INSERT INTO alert_deliveries (alert_id, notifier, kind, idempotency_key, status,
             next_attempt_at_ms, created_at_ms, group_key)
         VALUES (?1, ?2, 'fire', ?3, 'pending', ?4, ?5, ?6)
         ON CONFLICT (alert_id, notifier, kind) DO NOTHING",
        params![
            alert_id,
            notifier,
            idempotency_key(alert_id, DeliveryKind::Fire, notifier),
            due_ms,
            now_ms,
            group_key,
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
        .prepare_cached(
            "SELECT d.notifier FROM alert_deliveries d
             WHERE d.alert_id = ?1 AND d.kind = 'fire'
               AND (d.status = 'delivered'
                    OR (d.status = 'digested' AND EXISTS (SELECT 1 FROM alert_deliveries g
                        WHERE g.id = d.digest_id AND g.status = 'delivered')))
             ORDER BY d.id",
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
         WHERE id = ?1 AND CAST(?2 AS TEXT) IS NOT NULL",
        params![next, head.id, format!("promoted: {} was retracted", head.id)],
    )
    .map_err(AlertError::db("promote a duplicate"))?;
    for notifier in notifiers {
        queue(conn, &next, &notifier, DeliveryKind::Fire, now_ms)?;
    }
    Ok(1)
}
