//! Silences: "store these alerts, but do not send them", for a time.
//!
//! A silence matches on any of rule id (exact, or a prefix written `bot.*`),
//! severity (this severity or milder), chain and contract address (the
//! finding's `fields.address` or `fields.contract`); every matcher given must
//! match. A silence without any matcher is refused: it would mute everything.
//! A silenced alert is stored with state `silenced` and the silence's id; it
//! is never delivered, even after the silence ends.

use std::str::FromStr;

use alloy_primitives::Address;
use argus_core::{ChainId, Finding, Severity};
use argus_store::Connection;
use argus_store::sql::{OptionalExtension, params};
use serde::Serialize;

use crate::error::AlertError;
use crate::outbox::{execute_cached, query_row_cached};

/// The prefix of the rule ids no silence matches: the audit log's own
/// notices (`argus.audit.head`, the signed heads sent to witnesses).
pub const NEVER_SILENCED: &str = "argus.audit.";

/// What a silence matches. Unset fields match anything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SilenceMatcher {
    /// An exact rule id, or a prefix ending in `*`.
    pub rule_id: Option<String>,
    /// Alerts of this severity or milder.
    pub max_severity: Option<Severity>,
    pub chain: Option<ChainId>,
    /// Matched against the finding's `fields.address` / `fields.contract`.
    pub address: Option<Address>,
}

impl SilenceMatcher {
    /// Whether every alert matches: no matcher, or only a rule of `*` and a
    /// maximum severity of `critical`, which match everything too.
    pub fn matches_everything(&self) -> bool {
        self.rule_id.as_deref().is_none_or(|rule| rule == "*")
            && self.max_severity.is_none_or(|s| s == Severity::Critical)
            && self.chain.is_none()
            && self.address.is_none()
    }

    /// Whether `finding` is matched. The audit log's heads sent to witness
    /// notifiers ([`NEVER_SILENCED`]) never are: a silence must not be a way
    /// to keep a rollback of the log from being witnessed.
    pub fn matches(&self, finding: &Finding) -> bool {
        if finding.rule_id.starts_with(NEVER_SILENCED) {
            return false;
        }
        if let Some(pattern) = &self.rule_id {
            let hit = match pattern.strip_suffix('*') {
                Some(prefix) => finding.rule_id.starts_with(prefix),
                None => finding.rule_id == *pattern,
            };
            if !hit {
                return false;
            }
        }
        // Severity orders worst first, so "milder or equal" is `>=`.
        if self.max_severity.is_some_and(|max| finding.severity < max) {
            return false;
        }
        if let Some(chain) = self.chain
            && finding.origin.map(|o| o.chain) != Some(chain)
        {
            return false;
        }
        if let Some(address) = self.address
            && finding_address(finding) != Some(address)
        {
            return false;
        }
        true
    }
}

/// The contract a finding is about, when its fields name one.
pub(crate) fn finding_address(finding: &Finding) -> Option<Address> {
    let fields = finding.fields.to_value();
    ["address", "contract"]
        .iter()
        .filter_map(|key| fields.get(key)?.as_str())
        .find_map(|text| Address::from_str(text.trim()).ok())
}

/// A silence to add.
#[derive(Debug, Clone)]
pub struct NewSilence {
    pub matcher: SilenceMatcher,
    pub starts_at_ms: i64,
    pub ends_at_ms: i64,
    pub created_by: String,
    pub reason: String,
}

/// A stored silence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Silence {
    pub id: i64,
    pub matcher: SilenceMatcher,
    pub starts_at_ms: i64,
    pub ends_at_ms: i64,
    pub created_by: String,
    pub reason: String,
    pub created_at_ms: i64,
}

impl Silence {
    /// Whether the silence is in force at `now_ms`.
    pub fn is_active(&self, now_ms: i64) -> bool {
        self.starts_at_ms <= now_ms && now_ms < self.ends_at_ms
    }
}

/// Adds a silence; returns its id. Refuses one without matchers or that ends
/// before it starts.
pub fn add_silence(
    conn: &Connection,
    silence: &NewSilence,
    now_ms: i64,
) -> Result<i64, AlertError> {
    if silence.matcher.matches_everything() {
        return Err(AlertError::BadSilence {
            reason: "it would mute every alert; narrow it with a rule id, a milder severity than \
                     critical, a chain or an address"
                .to_owned(),
        });
    }
    if silence.ends_at_ms <= silence.starts_at_ms {
        return Err(AlertError::BadSilence {
            reason: "it ends before it starts; check the duration".to_owned(),
        });
    }
    if silence.reason.trim().is_empty() || silence.created_by.trim().is_empty() {
        return Err(AlertError::BadSilence {
            reason: "a silence needs a reason and an author, for the record".to_owned(),
        });
    }
    let m = &silence.matcher;
    query_row_cached(
        conn,
        "INSERT INTO alert_silences (rule_id, max_severity, chain_id, address, starts_at_ms,
             ends_at_ms, created_by, reason, created_at_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) RETURNING id",
        params![
            m.rule_id,
            m.max_severity.map(Severity::as_str),
            m.chain.map(|c| c.0 as i64),
            m.address.map(|a| format!("{a:#x}")),
            silence.starts_at_ms,
            silence.ends_at_ms,
            silence.created_by,
            silence.reason,
            now_ms,
        ],
        |row| row.get(0),
    )
    .map_err(AlertError::db("add a silence"))
}

/// Silences, newest first; only those in force at `active_at_ms` when given.
pub fn list_silences(
    conn: &Connection,
    active_at_ms: Option<i64>,
) -> Result<Vec<Silence>, AlertError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT id, rule_id, max_severity, chain_id, address, starts_at_ms, ends_at_ms,
                    created_by, reason, created_at_ms
             FROM alert_silences
             WHERE CAST(?1 AS BIGINT) IS NULL OR (starts_at_ms <= ?1 AND ends_at_ms > ?1)
             ORDER BY id DESC",
        )
        .map_err(AlertError::db("list silences"))?;
    let rows = stmt
        .query_map(params![active_at_ms], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, Option<String>>(1)?,
                row.get::<_, Option<String>>(2)?,
                row.get::<_, Option<i64>>(3)?,
                row.get::<_, Option<String>>(4)?,
                row.get::<_, i64>(5)?,
                row.get::<_, i64>(6)?,
                row.get::<_, String>(7)?,
                row.get::<_, String>(8)?,
                row.get::<_, i64>(9)?,
            ))
        })
        .map_err(AlertError::db("list silences"))?;
    let mut out = Vec::new();
    for row in rows {
        let (id, rule_id, severity, chain, address, starts, ends, by, reason, created) =
            row.map_err(AlertError::db("list silences"))?;
        let corrupt = |detail: &str| AlertError::CorruptRow {
            table: "alert_silences",
            id: id.to_string(),
            detail: detail.to_owned(),
        };
        let max_severity = severity
            .map(|s| Severity::from_str(&s).map_err(|_| corrupt("unknown severity")))
            .transpose()?;
        let address = address
            .map(|a| Address::from_str(&a).map_err(|_| corrupt("bad address")))
            .transpose()?;
        out.push(Silence {
            id,
            matcher: SilenceMatcher {
                rule_id,
                max_severity,
                chain: chain.map(|c| ChainId(c as u64)),
                address,
            },
            starts_at_ms: starts,
            ends_at_ms: ends,
            created_by: by,
            reason,
            created_at_ms: created,
        });
    }
    Ok(out)
}

/// Ends a silence now. `false` when it had already ended or does not exist.
pub fn expire_silence(conn: &Connection, id: i64, now_ms: i64) -> Result<bool, AlertError> {
    let changed = execute_cached(
        conn,
        "UPDATE alert_silences SET ends_at_ms = max(starts_at_ms, ?2)
             WHERE id = ?1 AND ends_at_ms > ?2",
        params![id, now_ms],
    )
    .map_err(AlertError::db("expire a silence"))?;
    Ok(changed > 0)
}

/// Ends silence `id` at `now_ms`: its end moves back to `now_ms`, never
/// forward, so ending a silence that already ended changes nothing. A
/// silence that has not started yet ends at its start (an empty window: it
/// never mutes anything), because a silence cannot end before it starts.
/// Returns whether the silence exists.
///
/// Unlike [`expire_silence`], whose `false` mixes "unknown" with "already
/// ended", this tells a caller that names a silence by hand whether the id
/// was right; read the silence first to say whether it had ended.
pub fn end_silence(conn: &Connection, id: i64, now_ms: i64) -> Result<bool, AlertError> {
    let matched = execute_cached(
        conn,
        "UPDATE alert_silences SET ends_at_ms = max(starts_at_ms, min(ends_at_ms, ?2))
             WHERE id = ?1",
        params![id, now_ms],
    )
    .map_err(AlertError::db("end a silence"))?;
    Ok(matched > 0)
}

/// Whether a silence with this id exists (for the CLI's messages).
pub fn silence_exists(conn: &Connection, id: i64) -> Result<bool, AlertError> {
    query_row_cached(
        conn,
        "SELECT 1 FROM alert_silences WHERE id = ?1",
        [id],
        |_| Ok(()),
    )
    .optional()
    .map(|r| r.is_some())
    .map_err(AlertError::db("read a silence"))
}
