//! Reading the log back for export, tail and queries. Reading checks the
//! framing and decodes payloads; it does not verify (see [`crate::verify`]).

use jiff::Timestamp;
use serde::Serialize;

use crate::format::{Form, RawRecord, parse_records};
use crate::{AuditError, AuditPaths, Checkpoint, Entry, Payload};

/// One record of the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "record", rename_all = "lowercase")]
pub enum AuditRecord {
    /// An entry.
    Entry(Entry),
    /// A signed checkpoint.
    Checkpoint(Checkpoint),
}

/// A whole log, decoded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParsedLog {
    /// The records in file order.
    pub records: Vec<AuditRecord>,
}

impl ParsedLog {
    /// The entries in order.
    pub fn entries(&self) -> impl DoubleEndedIterator<Item = &Entry> {
        self.records.iter().filter_map(|r| match r {
            AuditRecord::Entry(e) => Some(e),
            AuditRecord::Checkpoint(_) => None,
        })
    }

    /// The last checkpoint.
    pub fn last_checkpoint(&self) -> Option<&Checkpoint> {
        self.records.iter().rev().find_map(|r| match r {
            AuditRecord::Checkpoint(c) => Some(c),
            AuditRecord::Entry(_) => None,
        })
    }
}

/// Decodes a log from bytes. Never panics, whatever the bytes.
pub fn parse_log(bytes: &[u8]) -> Result<ParsedLog, AuditError> {
    let raw = parse_records(bytes)?;
    let mut records = Vec::with_capacity(raw.len());
    for record in raw {
        records.push(match record {
            RawRecord::Entry(e) => {
                let time = String::from_utf8(e.time.to_vec())
                    .map_err(|_| AuditError::corrupt(e.offset, "an entry's time is not UTF-8"))?;
                let (payload, pruned) = match e.form {
                    Form::Payload(bytes) => (
                        Some(Payload::decode(bytes).map_err(|why| {
                            AuditError::corrupt(e.offset, format!("entry {}: {why}", e.seq))
                        })?),
                        false,
                    ),
                    Form::Pruned(_) => (None, true),
                };
                AuditRecord::Entry(Entry {
                    seq: e.seq,
                    time,
                    class: e.class(),
                    payload,
                    pruned,
                    prev: *e.prev,
                    payload_hash: e.payload_hash(),
                    hash: e.hash(),
                })
            }
            RawRecord::Checkpoint(c) => AuditRecord::Checkpoint(c.into_checkpoint()),
        });
    }
    Ok(ParsedLog { records })
}

/// Reads and decodes the log at `paths`, across its segments.
pub fn read_log(paths: &AuditPaths) -> Result<ParsedLog, AuditError> {
    let bytes = crate::read_log_bytes(paths)?;
    parse_log(&bytes)
}

/// A filter over entries; every field set must match.
#[derive(Debug, Clone, Default)]
pub struct Query {
    /// At or after.
    pub since: Option<Timestamp>,
    /// Before.
    pub until: Option<Timestamp>,
    /// Exactly this actor.
    pub actor: Option<String>,
    /// This action, or, ending in `*`, actions starting with the rest
    /// (`key.*`).
    pub action: Option<String>,
}

impl Query {
    /// Whether `entry` matches. Pruned entries match only time filters.
    pub fn matches(&self, entry: &Entry) -> bool {
        if self.since.is_some() || self.until.is_some() {
            let Some(at) = entry.timestamp().map(|at| at.timestamp()) else {
                return false;
            };
            if self.since.is_some_and(|s| at < s) || self.until.is_some_and(|u| at >= u) {
                return false;
            }
        }
        if self.actor.is_none() && self.action.is_none() {
            return true;
        }
        let Some(payload) = &entry.payload else {
            return false;
        };
        if self.actor.as_ref().is_some_and(|a| *a != payload.actor) {
            return false;
        }
        match &self.action {
            None => true,
            Some(pattern) => match pattern.strip_suffix('*') {
                Some(prefix) => payload.action.starts_with(prefix),
                None => *pattern == payload.action,
            },
        }
    }
}
