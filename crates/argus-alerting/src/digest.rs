//! Digests: one notification that carries many alerts.
//!
//! Two things fold fires into a digest, both in the dispatcher's claim
//! transaction ([`fold_due`], called before the claim):
//!
//! - a group whose flush time came ([`crate::grouping`]): every held fire of
//!   the group and notifier becomes one digest (a group of one is sent as
//!   the fire it is);
//! - a notifier's backlog over what its rate limit sends in a minute
//!   ([`crate::limits`]): its due single fires become one digest (group
//!   `backlog`), instead of a queue that drains for an hour.
//!
//! A digest is a delivery of kind `digest` in the same outbox (so leases,
//! retries, `Retry-After`, `failed` and requeue work for it unchanged); its
//! alert is its first member, its idempotency key is derived from its
//! notifier, group key and first member ([`digest_key`]), and each folded
//! fire is marked `digested` with the digest's id (`argus alerts show` says
//! which digest carried it). The fold and the marks commit together: a
//! crash leaves either the held fires or the digest, never both.
//!
//! Retractions keep "never before its fire": a member retracted before the
//! digest is sent is dropped from it ([`load_for_send`] cancels it; a digest
//! left empty is cancelled); one retracted while the digest was in flight,
//! or after it was delivered, gets its own `retract` delivery once the digest
//! is marked delivered ([`after_delivered`]). On PagerDuty a digest
//! triggers the group's one incident (its dedup key is the group's), and a
//! member's retraction resolves only that member's own key: the group's
//! incident stays open for a person to close, since its other alerts stand.

use std::collections::{BTreeMap, BTreeSet};

use alloy_primitives::keccak256;
use argus_core::Severity;
use argus_store::sql::{OptionalExtension, params};
use argus_store::{Connection, Dialect};
use serde::Serialize;

use crate::config::AlertingConfig;
use crate::error::AlertError;
use crate::outbox::{
    AlertRecord, Delivery, DeliveryKind, execute_cached, get_alert, query_row_cached, queue,
};

/// How many alerts a digest shows; the count says how many it carries.
pub const SHOWN: usize = 10;

/// The group key of a folded backlog (group keys are `label=value` lists,
/// so no group is named this).
pub const BACKLOG_GROUP: &str = "backlog";

/// What a digest carries, loaded when it is claimed for sending.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Digest {
    /// The group key (`rule=…,chain=…`), or `backlog`.
    pub group: String,
    /// How many alerts it carries.
    pub count: u64,
    /// The worst severity among them.
    pub severity: Severity,
    /// The first [`SHOWN`] of them, oldest first.
    pub alerts: Vec<AlertRecord>,
}

/// Which notifiers fold their backlog, and above how many pending sends.
#[derive(Debug, Clone, Default)]
pub struct FoldPlan {
    backlog_caps: BTreeMap<String, usize>,
}

impl FoldPlan {
    /// From the notifiers' rate limits (their own or their kind's default).
    pub fn from_config(config: &AlertingConfig) -> Self {
        Self {
            backlog_caps: config
                .notifiers
                .iter()
                .filter_map(|(name, n)| {
                    crate::limits::effective(n).map(|l| (name.clone(), l.per_minute_capacity()))
                })
                .collect(),
        }
    }
}

/// The idempotency key of a digest: the same notifier, group and first
/// member always give the same key.
pub fn digest_key(notifier: &str, group_key: &str, first_alert_id: &str) -> String {
    let mut buf = Vec::with_capacity(notifier.len() + group_key.len() + first_alert_id.len() + 20);
    buf.extend_from_slice(b"argus/digest/v1\0");
    buf.extend_from_slice(notifier.as_bytes());
    buf.push(0);
    buf.extend_from_slice(group_key.as_bytes());
    buf.push(0);
    buf.extend_from_slice(first_alert_id.as_bytes());
    hex::encode(keccak256(&buf))
}

/// Folds what is due into digests (call inside the claim transaction,
/// before claiming), for the notifiers in `only` (`None`: every notifier;
/// a dispatcher sharing the store folds only for the notifiers it holds).
/// Returns the digests made.
pub fn fold_due(
    conn: &Connection,
    now_ms: i64,
    plan: &FoldPlan,
    only: Option<&BTreeSet<String>>,
) -> Result<usize, AlertError> {
    let ours = |notifier: &str| only.is_none_or(|only| only.contains(notifier));
    let groups: Vec<(String, String)> = {
        // Only the held fires that are due are read (a held fire's next
        // attempt is its group's flush), so a burst held for its group's
        // wait costs nothing here until the flush. SQLite is told which
        // index to use (its planner would scan by status); `INDEXED BY` is
        // SQLite's own, PostgreSQL plans alone.
        let sql = match conn.dialect() {
            Dialect::Sqlite => {
                "SELECT DISTINCT notifier, group_key FROM alert_deliveries
                     INDEXED BY alert_deliveries_held_due
                 WHERE status = 'pending' AND kind = 'fire' AND group_key IS NOT NULL
                   AND next_attempt_at_ms <= ?1 AND attempts = 0"
            }
            Dialect::Postgres => {
                "SELECT DISTINCT notifier, group_key FROM alert_deliveries
                 WHERE status = 'pending' AND kind = 'fire' AND group_key IS NOT NULL
                   AND next_attempt_at_ms <= ?1 AND attempts = 0"
            }
        };
        let mut stmt = conn
            .prepare_cached(sql)
            .map_err(AlertError::db("find due groups"))?;
        stmt.query_map([now_ms], |row| Ok((row.get(0)?, row.get(1)?)))
            .map_err(AlertError::db("find due groups"))?
            .collect::<Result<_, _>>()
            .map_err(AlertError::db("find due groups"))?
    };
    let mut made = 0;
    for (notifier, group_key) in groups {
        if ours(&notifier) {
            made += fold(conn, &notifier, &group_key, Members::Held, now_ms)?;
        }
    }
    for (notifier, cap) in plan.backlog_caps.iter().filter(|(n, _)| ours(n)) {
        // A backlog fold takes the due single fires, and needs two: with
        // fewer there is nothing to fold, and the backlog is not counted
        // (a count reads the notifier's whole queue, its held fires too,
        // on every pass of a burst).
        if foldable_fires(conn, notifier, now_ms)? && backlog(conn, notifier)? > *cap {
            made += fold(conn, notifier, BACKLOG_GROUP, Members::Backlog, now_ms)?;
        }
    }
    Ok(made)
}

/// Whether `notifier` has at least two fires a backlog fold would take
/// ([`Members::Backlog`]). Reads the due part of its queue only, and stops
/// at the second: a burst's held fires wait for their group's flush, so
/// they are not due and not read.
fn foldable_fires(conn: &Connection, notifier: &str, now_ms: i64) -> Result<bool, AlertError> {
    let found: i64 = query_row_cached(
        conn,
        "SELECT count(*) FROM (SELECT 1 FROM alert_deliveries
             WHERE notifier = ?1 AND status = 'pending' AND next_attempt_at_ms <= ?2
               AND group_key IS NULL AND kind = 'fire' AND attempts = 0
             LIMIT 2) AS due",
        params![notifier, now_ms],
        |row| row.get(0),
    )
    .map_err(AlertError::db("look for a backlog"))?;
    Ok(found >= 2)
}

/// How many messages `notifier` has waiting to be sent: its pending
/// deliveries less its held fires, which leave as their groups' digests.
/// Two counts that read an index each, not the rows: a burst held for its
/// group's wait must not cost a row read per held fire on every pass.
fn backlog(conn: &Connection, notifier: &str) -> Result<usize, AlertError> {
    let pending: i64 = query_row_cached(
        conn,
        "SELECT (SELECT count(*) FROM alert_deliveries
                  WHERE notifier = ?1 AND status = 'pending')
              - (SELECT count(*) FROM alert_deliveries
                  WHERE notifier = ?1 AND status = 'pending' AND kind = 'fire'
                    AND group_key IS NOT NULL)",
        [notifier],
        |row| row.get(0),
    )
    .map_err(AlertError::db("count a backlog"))?;
    Ok(usize::try_from(pending).unwrap_or(0))
}

/// Which pending fires a fold takes. Never one in flight or retrying
/// (`attempts = 0`, and a claimed one's next attempt is its lease's end).
#[derive(Debug, Clone, Copy)]
enum Members {
    /// Every held fire of the group.
    Held,
    /// The notifier's due single fires.
    Backlog,
}

impl Members {
    fn filter(self) -> &'static str {
        match self {
            Members::Held => {
                "notifier = ?1 AND group_key = ?2 AND group_key IS NOT NULL
                 AND status = 'pending' AND kind = 'fire' AND attempts = 0 AND CAST(?3 AS BIGINT) IS NOT NULL"
            }
            Members::Backlog => {
                "notifier = ?1 AND CAST(?2 AS TEXT) IS NOT NULL AND group_key IS NULL AND status = 'pending'
                 AND kind = 'fire' AND attempts = 0 AND next_attempt_at_ms <= ?3"
            }
        }
    }
}

fn fold(
    conn: &Connection,
    notifier: &str,
    group_key: &str,
    members: Members,
    now_ms: i64,
) -> Result<usize, AlertError> {
    let filter = members.filter();
    let (first, count): (Option<String>, i64) = query_row_cached(
        conn,
        &format!(
            "SELECT (SELECT alert_id FROM alert_deliveries WHERE {filter} ORDER BY id LIMIT 1),
                    (SELECT count(*) FROM alert_deliveries WHERE {filter})"
        ),
        params![notifier, group_key, now_ms],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )
    .map_err(AlertError::db("read a group's fires"))?;
    let Some(first) = first else {
        return Ok(0);
    };
    // A group (or a backlog) of one is sent as it is: the fire, claimed
    // right after this fold, reads like any alert.
    if count < 2 {
        return Ok(0);
    }
    // `RETURNING id`: no row when the digest was queued already.
    let inserted: Option<i64> = query_row_cached(
        conn,
        "INSERT INTO alert_deliveries (alert_id, notifier, kind, idempotency_key, status,
             next_attempt_at_ms, created_at_ms, group_key)
         VALUES (?1, ?2, 'digest', ?3, 'pending', ?4, ?4, ?5)
         ON CONFLICT (alert_id, notifier, kind) DO NOTHING RETURNING id",
        params![
            first,
            notifier,
            digest_key(notifier, group_key, &first),
            now_ms,
            group_key
        ],
        |row| row.get(0),
    )
    .optional()
    .map_err(AlertError::db("queue a digest"))?;
    let Some(digest_id) = inserted else {
        return Ok(0);
    };
    execute_cached(
        conn,
        &format!("UPDATE alert_deliveries SET status = 'digested', digest_id = ?4 WHERE {filter}"),
        params![notifier, group_key, now_ms, digest_id],
    )
    .map_err(AlertError::db("fold fires into a digest"))?;
    tracing::debug!(
        notifier,
        group = group_key,
        alerts = count,
        "folded into a digest"
    );
    Ok(1)
}

/// What digest `delivery` carries, for sending; members retracted since the
/// fold are cancelled first. `None` (and the digest cancelled) when none is
/// left. Call inside the claim transaction.
pub fn load_for_send(conn: &Connection, delivery: &Delivery) -> Result<Option<Digest>, AlertError> {
    execute_cached(
        conn,
        "UPDATE alert_deliveries SET status = 'cancelled'
         WHERE digest_id = ?1 AND status = 'digested'
           AND alert_id IN (SELECT id FROM alerts WHERE state = 'retracted')",
        [delivery.id],
    )
    .map_err(AlertError::db("drop retracted alerts from a digest"))?;
    let ids: Vec<String> = {
        let mut stmt = conn
            .prepare_cached(
                "SELECT alert_id FROM alert_deliveries
                 WHERE digest_id = ?1 AND status = 'digested' ORDER BY id",
            )
            .map_err(AlertError::db("read a digest"))?;
        stmt.query_map([delivery.id], |row| row.get(0))
            .map_err(AlertError::db("read a digest"))?
            .collect::<Result<_, _>>()
            .map_err(AlertError::db("read a digest"))?
    };
    if ids.is_empty() {
        execute_cached(
            conn,
            "UPDATE alert_deliveries SET status = 'cancelled' WHERE id = ?1",
            [delivery.id],
        )
        .map_err(AlertError::db("cancel an empty digest"))?;
        return Ok(None);
    }
    let severities: Vec<String> = {
        let mut stmt = conn
            .prepare_cached(
                "SELECT DISTINCT a.severity FROM alert_deliveries d JOIN alerts a ON a.id = d.alert_id
                 WHERE d.digest_id = ?1 AND d.status = 'digested'",
            )
            .map_err(AlertError::db("read a digest"))?;
        stmt.query_map([delivery.id], |row| row.get(0))
            .map_err(AlertError::db("read a digest"))?
            .collect::<Result<_, _>>()
            .map_err(AlertError::db("read a digest"))?
    };
    let mut alerts = Vec::with_capacity(SHOWN.min(ids.len()));
    for id in ids.iter().take(SHOWN) {
        if let Some(alert) = get_alert(conn, id)? {
            alerts.push(alert);
        }
    }
    let severity = severities
        .iter()
        .filter_map(|s| Severity::ALL.into_iter().find(|v| v.as_str() == s))
        .min()
        .unwrap_or(Severity::Info);
    Ok(Some(Digest {
        group: delivery.group_key.clone().unwrap_or_default(),
        count: ids.len() as u64,
        severity,
        alerts,
    }))
}

/// After a delivery was marked delivered: when it is a digest, its members
/// are stamped delivered too, and those retracted meanwhile get their
/// `retract` delivery now (after their fire, never before).
pub(crate) fn after_delivered(
    conn: &Connection,
    delivery_id: i64,
    now_ms: i64,
) -> Result<(), AlertError> {
    let retracted: Vec<(String, String)> = {
        let mut stmt = conn
            .prepare_cached(
                "SELECT d.alert_id, d.notifier FROM alert_deliveries d
                   JOIN alerts a ON a.id = d.alert_id
                 WHERE d.digest_id = ?1 AND d.status = 'digested' AND a.state = 'retracted'
                 ORDER BY d.id",
            )
            .map_err(AlertError::db("check a digest's retractions"))?;
        stmt.query_map([delivery_id], |row| Ok((row.get(0)?, row.get(1)?)))
            .map_err(AlertError::db("check a digest's retractions"))?
            .collect::<Result<_, _>>()
            .map_err(AlertError::db("check a digest's retractions"))?
    };
    execute_cached(
        conn,
        "UPDATE alert_deliveries SET delivered_at_ms = ?2
         WHERE digest_id = ?1 AND status = 'digested'",
        params![delivery_id, now_ms],
    )
    .map_err(AlertError::db("stamp a digest's alerts"))?;
    for (alert_id, notifier) in retracted {
        queue(conn, &alert_id, &notifier, DeliveryKind::Retract, now_ms)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_keys_are_stable_and_distinct() {
        let a = digest_key("slack", "rule=x", "0x01");
        assert_eq!(a, digest_key("slack", "rule=x", "0x01"));
        assert_ne!(a, digest_key("slack", "rule=y", "0x01"));
        assert_ne!(a, digest_key("pager", "rule=x", "0x01"));
        assert_ne!(a, digest_key("slack", "rule=x", "0x02"));
        assert_eq!(a.len(), 64);
    }
}
