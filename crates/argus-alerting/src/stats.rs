//! Figures about the alerts and the outbox, for health checks (`argus
//! status`): how much each notifier delivered, holds or gave up on, how long
//! the oldest delivery has waited, and how many alerts were made lately;
//! and for `/metrics`, the alerts by rule, severity and state and the
//! delivery latency as a fixed-bucket [`Histogram`] (each one grouped query,
//! so a scrape over 100,000 alerts stays cheap).
//!
//! These are reads of this crate's own tables, kept beside the writes in
//! [`outbox`](crate::outbox) so that no other crate needs to know the schema
//! or the names a state is stored under.

use std::collections::BTreeMap;

use argus_store::Connection;

use crate::error::AlertError;
use crate::outbox::{AlertState, DeliveryStatus};

/// How many deliveries are in each [`DeliveryStatus`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryCounts {
    pub pending: u64,
    pub delivered: u64,
    pub cancelled: u64,
    pub failed: u64,
    /// Fires carried by a digest (counted once more as the digest).
    pub digested: u64,
}

impl DeliveryCounts {
    /// The count of one status.
    pub fn of(&self, status: DeliveryStatus) -> u64 {
        match status {
            DeliveryStatus::Pending => self.pending,
            DeliveryStatus::Delivered => self.delivered,
            DeliveryStatus::Cancelled => self.cancelled,
            DeliveryStatus::Failed => self.failed,
            DeliveryStatus::Digested => self.digested,
        }
    }

    fn slot(&mut self, status: DeliveryStatus) -> &mut u64 {
        match status {
            DeliveryStatus::Pending => &mut self.pending,
            DeliveryStatus::Delivered => &mut self.delivered,
            DeliveryStatus::Cancelled => &mut self.cancelled,
            DeliveryStatus::Failed => &mut self.failed,
            DeliveryStatus::Digested => &mut self.digested,
        }
    }
}

/// One notifier's part of the outbox.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NotifierDeliveries {
    /// The notifier's name, as the config calls it.
    pub notifier: String,
    /// Its deliveries, by status.
    pub counts: DeliveryCounts,
    /// Attempts made, over all its deliveries.
    pub attempts: u64,
    /// Attempts after a delivery's first (retries of a failed attempt).
    pub retries: u64,
    /// Attempts that failed (every attempt but the accepted ones).
    pub failed_attempts: u64,
    /// When its latest delivered delivery was accepted.
    pub last_delivered_at_ms: Option<i64>,
    /// The error of its newest delivery still pending or failed that has one.
    pub last_error: Option<String>,
}

/// Every notifier that has a delivery in the outbox (whatever its status),
/// by name.
pub fn deliveries_by_notifier(conn: &Connection) -> Result<Vec<NotifierDeliveries>, AlertError> {
    let mut out: BTreeMap<String, NotifierDeliveries> = BTreeMap::new();
    let mut stmt = conn
        .prepare_cached(
            "SELECT notifier, status, count(*), max(delivered_at_ms), coalesce(sum(attempts), 0),
                    coalesce(sum(max(attempts - 1, 0)), 0)
             FROM alert_deliveries GROUP BY notifier, status",
        )
        .map_err(AlertError::db("count deliveries"))?;
    let rows = stmt
        .query_map([], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, i64>(2)?,
                row.get::<_, Option<i64>>(3)?,
                row.get::<_, i64>(4)?,
                row.get::<_, i64>(5)?,
            ))
        })
        .map_err(AlertError::db("count deliveries"))?;
    for row in rows {
        let (notifier, status, count, delivered_at, attempts, retries) =
            row.map_err(AlertError::db("count deliveries"))?;
        let status = DeliveryStatus::parse(&status).ok_or_else(|| AlertError::CorruptRow {
            table: "alert_deliveries",
            id: format!("of notifier {notifier}"),
            detail: format!("unknown status `{status}`"),
        })?;
        let entry = out
            .entry(notifier)
            .or_insert_with_key(|name| NotifierDeliveries {
                notifier: name.clone(),
                ..NotifierDeliveries::default()
            });
        let count = u64::try_from(count).unwrap_or(0);
        let attempts = u64::try_from(attempts).unwrap_or(0);
        *entry.counts.slot(status) = count;
        entry.attempts += attempts;
        entry.retries += u64::try_from(retries).unwrap_or(0);
        // A delivered delivery's last attempt is the one that was accepted.
        entry.failed_attempts += if status == DeliveryStatus::Delivered {
            attempts.saturating_sub(count)
        } else {
            attempts
        };
        if status == DeliveryStatus::Delivered {
            entry.last_delivered_at_ms = delivered_at;
        }
    }
    let mut stmt = conn
        .prepare_cached(
            "SELECT notifier, last_error FROM alert_deliveries
             WHERE last_error IS NOT NULL AND status IN ('pending', 'failed')
             ORDER BY id DESC",
        )
        .map_err(AlertError::db("read delivery errors"))?;
    let rows = stmt
        .query_map([], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
        })
        .map_err(AlertError::db("read delivery errors"))?;
    for row in rows {
        let (notifier, error) = row.map_err(AlertError::db("read delivery errors"))?;
        let entry = out
            .entry(notifier)
            .or_insert_with_key(|name| NotifierDeliveries {
                notifier: name.clone(),
                ..NotifierDeliveries::default()
            });
        if entry.last_error.is_none() {
            entry.last_error = Some(error);
        }
    }
    Ok(out.into_values().collect())
}

/// When the oldest delivery still pending was queued, if one is.
pub fn oldest_pending_at_ms(conn: &Connection) -> Result<Option<i64>, AlertError> {
    conn.prepare_cached("SELECT min(created_at_ms) FROM alert_deliveries WHERE status = 'pending'")
        .and_then(|mut stmt| stmt.query_row([], |row| row.get(0)))
        .map_err(AlertError::db("find the oldest pending delivery"))
}

/// Per notifier with pending deliveries, when its oldest one was queued
/// (what a shared store's `argus status` reports as each dispatching
/// instance's lag).
pub fn oldest_pending_by_notifier(
    conn: &Connection,
) -> Result<std::collections::BTreeMap<String, i64>, AlertError> {
    conn.query_map(
        "SELECT notifier, min(created_at_ms) FROM alert_deliveries
         WHERE status = 'pending' GROUP BY notifier",
        [],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )
    .map(|rows| rows.into_iter().collect())
    .map_err(AlertError::db(
        "find the oldest pending delivery per notifier",
    ))
}

/// How many alerts are in each [`AlertState`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AlertCounts {
    pub firing: u64,
    pub suppressed: u64,
    pub silenced: u64,
    pub retracted: u64,
}

impl AlertCounts {
    /// The count of one state.
    pub fn of(&self, state: AlertState) -> u64 {
        match state {
            AlertState::Firing => self.firing,
            AlertState::Suppressed => self.suppressed,
            AlertState::Silenced => self.silenced,
            AlertState::Retracted => self.retracted,
        }
    }

    /// Each state with at least one alert, with its count.
    pub fn nonzero(&self) -> impl Iterator<Item = (AlertState, u64)> + '_ {
        [
            AlertState::Firing,
            AlertState::Suppressed,
            AlertState::Silenced,
            AlertState::Retracted,
        ]
        .into_iter()
        .map(|state| (state, self.of(state)))
        .filter(|&(_, count)| count > 0)
    }

    fn slot(&mut self, state: AlertState) -> &mut u64 {
        match state {
            AlertState::Firing => &mut self.firing,
            AlertState::Suppressed => &mut self.suppressed,
            AlertState::Silenced => &mut self.silenced,
            AlertState::Retracted => &mut self.retracted,
        }
    }
}

/// The alerts recorded at or after `since_ms`, counted by their state now.
pub fn alerts_since(conn: &Connection, since_ms: i64) -> Result<AlertCounts, AlertError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT state, count(*) FROM alerts WHERE created_at_ms >= ?1 GROUP BY state",
        )
        .map_err(AlertError::db("count alerts"))?;
    let rows = stmt
        .query_map([since_ms], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
        })
        .map_err(AlertError::db("count alerts"))?;
    let mut counts = AlertCounts::default();
    for row in rows {
        let (state, count) = row.map_err(AlertError::db("count alerts"))?;
        let state = AlertState::parse(&state).ok_or_else(|| AlertError::CorruptRow {
            table: "alerts",
            id: format!("in state `{state}`"),
            detail: "unknown state".to_owned(),
        })?;
        *counts.slot(state) = u64::try_from(count).unwrap_or(0);
    }
    Ok(counts)
}

/// When the newest alert was recorded, if there is one.
pub fn newest_alert_at_ms(conn: &Connection) -> Result<Option<i64>, AlertError> {
    conn.prepare_cached("SELECT max(created_at_ms) FROM alerts")
        .and_then(|mut stmt| stmt.query_row([], |row| row.get(0)))
        .map_err(AlertError::db("find the newest alert"))
}

/// How many alerts one rule made at one severity that are in one state now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleAlerts {
    pub rule_id: String,
    /// As stored (`critical`, `high`, `medium`, `low`, `info`).
    pub severity: String,
    pub state: AlertState,
    pub count: u64,
}

/// Every alert ever recorded, counted by rule, severity and state (one
/// grouped scan; rows in rule, severity, state order).
pub fn alerts_by_rule(conn: &Connection) -> Result<Vec<RuleAlerts>, AlertError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT rule_id, severity, state, count(*) FROM alerts
             GROUP BY rule_id, severity, state ORDER BY rule_id, severity, state",
        )
        .map_err(AlertError::db("count alerts by rule"))?;
    let rows = stmt
        .query_map([], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, i64>(3)?,
            ))
        })
        .map_err(AlertError::db("count alerts by rule"))?;
    let mut out = Vec::new();
    for row in rows {
        let (rule_id, severity, state, count) =
            row.map_err(AlertError::db("count alerts by rule"))?;
        let state = AlertState::parse(&state).ok_or_else(|| AlertError::CorruptRow {
            table: "alerts",
            id: format!("of rule {rule_id}"),
            detail: format!("unknown state `{state}`"),
        })?;
        out.push(RuleAlerts {
            rule_id,
            severity,
            state,
            count: u64::try_from(count).unwrap_or(0),
        });
    }
    Ok(out)
}

/// A histogram of durations with fixed upper bounds, Prometheus's way:
/// `cumulative[i]` counts the durations `<= bounds_ms[i]`; `count` all of
/// them (the `+Inf` bucket), `sum_ms` their total.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Histogram {
    pub bounds_ms: Vec<i64>,
    pub cumulative: Vec<u64>,
    pub count: u64,
    pub sum_ms: i64,
}

/// The histogram of the durations (ms, a column named `d`, `NULL`s
/// skipped) that `durations` selects, in one query. `durations` is SQL: callers pass a
/// constant of their own crate over their own table, never input.
pub fn histogram(
    conn: &Connection,
    durations: &str,
    bounds_ms: &[i64],
) -> Result<Histogram, argus_store::StoreError> {
    let mut sql = String::from("SELECT count(d), coalesce(sum(d), 0)");
    for index in 1..=bounds_ms.len() {
        sql.push_str(&format!(
            ", coalesce(sum(CASE WHEN d <= ?{index} THEN 1 ELSE 0 END), 0)"
        ));
    }
    sql.push_str(&format!(
        " FROM ({durations}) AS durations WHERE d IS NOT NULL"
    ));
    let mut stmt = conn.prepare_cached(&sql)?;
    stmt.query_row(argus_store::sql::params_from_iter(bounds_ms), |row| {
        let count: i64 = row.get(0)?;
        let sum_ms: i64 = row.get(1)?;
        let mut cumulative = Vec::with_capacity(bounds_ms.len());
        for index in 0..bounds_ms.len() {
            cumulative.push(u64::try_from(row.get::<_, i64>(index + 2)?).unwrap_or(0));
        }
        Ok(Histogram {
            bounds_ms: bounds_ms.to_vec(),
            cumulative,
            count: u64::try_from(count).unwrap_or(0),
            sum_ms,
        })
    })
}

/// How long delivered deliveries took, from queued to accepted
/// (`delivered_at_ms - created_at_ms`).
pub fn delivery_latency(conn: &Connection, bounds_ms: &[i64]) -> Result<Histogram, AlertError> {
    histogram(
        conn,
        "SELECT max(delivered_at_ms - created_at_ms, 0) AS d FROM alert_deliveries
         WHERE status = 'delivered' AND delivered_at_ms IS NOT NULL",
        bounds_ms,
    )
    .map_err(AlertError::db("measure delivery latency"))
}
