//! Retention: each class keeps its payloads for a period; [`prune`] replaces
//! older payloads with their hash, so the chain and every checkpoint still
//! verify. The log is rewritten to a new file and renamed over the old one, so
//! a crash leaves either the old or the new log, never a mix.

use std::fs;

use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp, ToSpan as _, ZonedDateTime};
use serde::Serialize;

use crate::format::{Form, RawRecord, header, parse_records, put_entry};
use crate::rfc3339::parse_time;
use crate::{AuditError, AuditPaths, CheckpointVerifier, RetentionClass, verify_bytes};

/// A retention period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Retention {
    /// Calendar years (a 29 February moves to 1 March).
    Years(u16),
    /// Days of 24 hours.
    Days(u32),
}

impl Retention {
    /// Parses `7y` or `90d`.
    pub fn parse(text: &str) -> Result<Self, AuditError> {
        let bad = |reason: &str| AuditError::Retention {
            text: text.to_owned(),
            reason: reason.to_owned(),
        };
        let text = text.trim();
        let (number, unit) = text.split_at(text.len().saturating_sub(1));
        let number: u32 = number
            .parse()
            .map_err(|_| bad("write a number and a unit: `7y` or `90d`"))?;
        match unit {
            "y" => u16::try_from(number)
                .ok()
                .filter(|y| *y <= 1000)
                .map(Self::Years)
                .ok_or_else(|| bad("at most 1000 years")),
            "d" => Ok(Self::Days(number)),
            _ => Err(bad("the unit is `y` (years) or `d` (days)")),
        }
    }

    /// When something made at `at` expires (`None`: beyond the calendar).
    /// Years count on the calendar in `at`'s offset; the result keeps that
    /// offset.
    pub fn expiry(self, at: &ZonedDateTime) -> Option<ZonedDateTime> {
        let offset = at.offset();
        let expiry = match self {
            Self::Days(days) => at
                .timestamp()
                .checked_add(SignedDuration::from_hours(i64::from(days) * 24))
                .ok()?,
            Self::Years(years) => {
                let year = i16::try_from(i32::from(at.year()) + i32::from(years)).ok()?;
                let date = match Date::new(year, at.month(), at.day()) {
                    Ok(date) => date,
                    // 29 February in a year without one.
                    Err(_) => Date::new(year, at.month(), 28)
                        .ok()?
                        .checked_add(1.day())
                        .ok()?,
                };
                offset
                    .to_timestamp(DateTime::from_parts(date, at.time()))
                    .ok()?
            }
        };
        Some(expiry.to_zoned_datetime(TimeZone::fixed(offset)))
    }
}

impl std::fmt::Display for Retention {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Years(y) => write!(f, "{y}y"),
            Self::Days(d) => write!(f, "{d}d"),
        }
    }
}

/// How long each class keeps its payloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RetentionPolicy {
    /// Security events: 7 years by default.
    pub security: Retention,
    /// Audit events: 5 years.
    pub audit: Retention,
    /// Transactions: 3 years.
    pub transaction: Retention,
    /// System events: 1 year.
    pub system: Retention,
}

impl Default for RetentionPolicy {
    fn default() -> Self {
        Self {
            security: Retention::Years(7),
            audit: Retention::Years(5),
            transaction: Retention::Years(3),
            system: Retention::Years(1),
        }
    }
}

impl RetentionPolicy {
    /// The period of a class.
    pub fn get(&self, class: RetentionClass) -> Retention {
        match class {
            RetentionClass::Security => self.security,
            RetentionClass::Audit => self.audit,
            RetentionClass::Transaction => self.transaction,
            RetentionClass::System => self.system,
        }
    }

    /// Sets the period of a class.
    pub fn set(&mut self, class: RetentionClass, retention: Retention) {
        match class {
            RetentionClass::Security => self.security = retention,
            RetentionClass::Audit => self.audit = retention,
            RetentionClass::Transaction => self.transaction = retention,
            RetentionClass::System => self.system = retention,
        }
    }

    /// Applies `class=period` (e.g. `system=90d`).
    pub fn apply(&mut self, setting: &str) -> Result<(), AuditError> {
        let (class, period) = setting
            .split_once('=')
            .ok_or_else(|| AuditError::Retention {
                text: setting.to_owned(),
                reason: "write `class=period`, e.g. `system=90d` or `security=10y`".into(),
            })?;
        let class: RetentionClass = class.trim().parse()?;
        self.set(class, Retention::parse(period)?);
        Ok(())
    }
}

/// What [`prune`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PruneReport {
    /// Payloads removed now.
    pub pruned: u64,
    /// Entries pruned before.
    pub already_pruned: u64,
    /// Entries whose payload is kept.
    pub kept: u64,
}

/// Removes the payloads that expired at `now`, keeping their hashes, in
/// every sealed segment and the active file. The log is verified first and
/// never pruned if it does not verify; each rewritten file is verified
/// before it replaces the old one. Holds the writer's lock while it works.
pub fn prune(
    paths: &AuditPaths,
    verifier: &CheckpointVerifier,
    policy: &RetentionPolicy,
    now: Timestamp,
) -> Result<PruneReport, AuditError> {
    let _lock = paths.lock_exclusive()?;
    crate::verify(paths, verifier)?;
    let head = fs::read(&paths.head).ok();
    let mut report = PruneReport::default();
    for file in crate::log_files(paths)? {
        let bytes = fs::read(&file.path).map_err(AuditError::io("read", &file.path))?;
        let before = report.pruned;
        let out = prune_bytes(&bytes, policy, now, &mut report)?;
        if report.pruned == before {
            continue;
        }
        // Check the result before it replaces the file.
        let tmp = file.path.with_extension("log.prune");
        if file.first_seq.is_some() {
            crate::verify::verify_sealed(&out, verifier)?;
        } else {
            verify_bytes(&out, head.as_deref(), verifier)?;
        }
        crate::log::replace_file(&tmp, &file.path, &out)?;
    }
    Ok(report)
}

/// One file with its expired payloads replaced by their hashes.
fn prune_bytes(
    bytes: &[u8],
    policy: &RetentionPolicy,
    now: Timestamp,
    report: &mut PruneReport,
) -> Result<Vec<u8>, AuditError> {
    let mut out = Vec::with_capacity(bytes.len());
    out.extend_from_slice(&header());
    for record in parse_records(bytes)? {
        match record {
            RawRecord::Checkpoint(c) => out.extend_from_slice(c.record),
            RawRecord::Entry(e) => {
                let expired = std::str::from_utf8(e.time)
                    .ok()
                    .and_then(|t| parse_time(t).ok())
                    .and_then(|at| policy.get(e.class()).expiry(&at))
                    .is_some_and(|expiry| expiry.timestamp() <= now);
                match e.form {
                    Form::Pruned(_) => {
                        report.already_pruned += 1;
                        out.extend_from_slice(e.record);
                    }
                    Form::Payload(_) if expired => {
                        report.pruned += 1;
                        let hash = e.payload_hash();
                        put_entry(
                            &mut out,
                            e.seq,
                            e.prev,
                            e.time,
                            e.class(),
                            Form::Pruned(&hash),
                        );
                    }
                    Form::Payload(_) => {
                        report.kept += 1;
                        out.extend_from_slice(e.record);
                    }
                }
            }
        }
    }
    Ok(out)
}
