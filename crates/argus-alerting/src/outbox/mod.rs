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
//!
//! The outbox is split by job. This module holds the model (alert and
//! delivery states, the stored rows, what a write reports), the keys and the
//! statement-cache helpers; `write` is what a chain event writes inside the
//! daemon's transaction ([`record`], [`retract_block`], [`retract_alert`]);
//! `delivery` is the dispatcher's side ([`claim_due`] with a lease,
//! [`mark_delivered`] / [`mark_retry`] / [`mark_failed`], [`requeue`], the
//! queue's reads); `read` reads stored alerts back ([`list_alerts`],
//! [`get_alert`]). Every public item is re-exported here, so callers keep
//! writing `outbox::record`, `outbox::claim_due`, `outbox::list_alerts`.

mod delivery;
mod read;
mod write;

use alloy_primitives::{B256, keccak256};
use argus_core::Severity;
use argus_store::Connection;
use argus_store::sql::{Params, Result as SqlResult, Row};
use serde::Serialize;

pub use delivery::{
    claim_due, claim_due_for, claim_due_unknown, deliveries_of, get_delivery, list_deliveries,
    mark_delivered, mark_failed, mark_retry, next_due_at, next_due_at_for, pending, postpone,
    requeue,
};
pub use read::{AlertFilter, alerts_after, get_alert, last_alert_seq, list_alerts};
pub(crate) use write::queue;
pub use write::{Recording, record, retract_alert, retract_block};

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
    /// One notification for a group of fires (or a notifier's folded
    /// backlog); its alert is the group's first. See [`crate::digest`].
    Digest,
}

impl DeliveryKind {
    /// The name stored and sent.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryKind::Fire => "fire",
            DeliveryKind::Retract => "retract",
            DeliveryKind::Digest => "digest",
        }
    }

    pub(crate) fn parse(text: &str) -> Option<Self> {
        [Self::Fire, Self::Retract, Self::Digest]
            .into_iter()
            .find(|k| k.as_str() == text)
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
    /// Folded into a digest delivery (`digest_id`), which carries it.
    Digested,
}

impl DeliveryStatus {
    /// The name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Cancelled => "cancelled",
            DeliveryStatus::Failed => "failed",
            DeliveryStatus::Digested => "digested",
        }
    }

    pub(crate) fn parse(text: &str) -> Option<Self> {
        [
            Self::Pending,
            Self::Delivered,
            Self::Cancelled,
            Self::Failed,
            Self::Digested,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }
}

/// A stored alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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
    /// A grouped fire or a digest: its group (see [`crate::grouping`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_key: Option<String>,
    /// A `digested` fire: the digest delivery that carried it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest_id: Option<i64>,
    /// A digest being sent: what it carries (loaded by [`claim_due`]).
    #[serde(skip)]
    pub digest: Option<std::sync::Arc<crate::digest::Digest>>,
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

/// `execute` through the connection's statement cache: the daemon records
/// on every event, and preparing a statement costs as much as running it.
pub(crate) fn execute_cached(
    conn: &Connection,
    sql: &str,
    params: impl Params,
) -> SqlResult<usize> {
    conn.prepare_cached(sql)?.execute(params)
}

/// `query_row` through the statement cache.
pub(crate) fn query_row_cached<T>(
    conn: &Connection,
    sql: &str,
    params: impl Params,
    map: impl FnOnce(&Row<'_>) -> SqlResult<T>,
) -> SqlResult<T> {
    conn.prepare_cached(sql)?.query_row(params, map)
}
