//! Verification: framing, sequence numbers, hash links, Merkle roots,
//! signatures, and the head checkpoint kept outside the log.
//!
//! Hashing and signature checks run in parallel (rayon); the links between
//! records are checked in one sequential pass over the hashes.

use std::fs;

use rayon::prelude::*;
use serde::Serialize;

use crate::format::{Hash, RawCheckpoint, RawEntry, RawRecord, parse_record, parse_records};
use crate::{AuditError, AuditPaths, CheckpointVerifier, merkle_root};

/// What a successful verification found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// Entries in the log.
    pub entries: u64,
    /// Of which pruned (payload removed by retention, hash kept).
    pub pruned: u64,
    /// Signed checkpoints.
    pub checkpoints: u64,
    /// The next sequence number.
    pub next_seq: u64,
    /// Hash of the last entry (zeros when empty), hex.
    #[serde(serialize_with = "hex_ser")]
    pub chain_head: Hash,
    /// Hash of the last checkpoint (zeros when none), hex.
    #[serde(serialize_with = "hex_ser")]
    pub last_checkpoint: Hash,
    /// The last entry the head file vouches for.
    pub head_last_seq: Option<u64>,
    /// Bytes read.
    pub bytes: u64,
}

fn hex_ser<S: serde::Serializer>(h: &Hash, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&hex::encode(h))
}

/// Verifies the log and its head file in `paths`.
pub fn verify(
    paths: &AuditPaths,
    verifier: &CheckpointVerifier,
) -> Result<VerifyReport, AuditError> {
    let log = fs::read(&paths.log).map_err(AuditError::io("read", &paths.log))?;
    let head = match fs::read(&paths.head) {
        Ok(head) => Some(head),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(AuditError::io("read", &paths.head)(e)),
    };
    verify_bytes(&log, head.as_deref(), verifier)
}

/// Verifies a log held in memory, with the head checkpoint if there is one.
///
/// A log with entries must have a head: without it, a log cut back to an
/// earlier checkpoint would look whole.
pub fn verify_bytes(
    log: &[u8],
    head: Option<&[u8]>,
    verifier: &CheckpointVerifier,
) -> Result<VerifyReport, AuditError> {
    let records = parse_records(log)?;
    let entries: Vec<&RawEntry<'_>> = records
        .iter()
        .filter_map(|r| match r {
            RawRecord::Entry(e) => Some(e),
            RawRecord::Checkpoint(_) => None,
        })
        .collect();
    let hashes: Vec<Hash> = entries
        .par_iter()
        .with_min_len(4096)
        .map(|e| e.hash())
        .collect();

    let mut report = VerifyReport {
        bytes: log.len() as u64,
        ..VerifyReport::default()
    };
    // Sequential pass: sequence numbers, links, checkpoint coverage.
    let mut groups: Vec<(&RawCheckpoint<'_>, std::ops::Range<usize>)> = Vec::new();
    let mut index = 0usize; // entries seen
    let mut group_start = 0usize;
    let mut prev: Hash = [0; 32];
    let mut last_checkpoint: Hash = [0; 32];
    for record in &records {
        match record {
            RawRecord::Entry(e) => {
                if e.seq != index as u64 {
                    return Err(AuditError::tampered(
                        e.offset,
                        Some(e.seq),
                        format!(
                            "entry {} stands where entry {index} should be: entries were deleted, \
                             reordered or inserted",
                            e.seq
                        ),
                    ));
                }
                if e.prev != &prev {
                    return Err(AuditError::tampered(
                        e.offset,
                        Some(e.seq),
                        "its link to the previous entry does not match that entry's hash: the \
                         previous entry was edited",
                    ));
                }
                prev = hashes[index];
                if matches!(e.form, crate::format::Form::Pruned(_)) {
                    report.pruned += 1;
                }
                index += 1;
            }
            RawRecord::Checkpoint(c) => {
                let bad = |why: &str| {
                    Err(AuditError::tampered(
                        c.offset,
                        None,
                        format!("checkpoint: {why}"),
                    ))
                };
                if index == group_start {
                    return bad("it covers no entry");
                }
                if c.first_seq != group_start as u64 || c.last_seq != (index - 1) as u64 {
                    return bad(&format!(
                        "it covers entries {}..={} but entries {group_start}..={} precede it",
                        c.first_seq,
                        c.last_seq,
                        index - 1
                    ));
                }
                if c.head != &prev {
                    return bad("its chain head is not the hash of the last entry");
                }
                if c.prev_checkpoint != &last_checkpoint {
                    return bad("its link to the previous checkpoint does not match");
                }
                last_checkpoint = c.hash();
                groups.push((c, group_start..index));
                group_start = index;
                report.checkpoints += 1;
            }
        }
    }
    if group_start != index {
        let offset = entries.get(group_start).map_or(log.len(), |e| e.offset);
        return Err(AuditError::tampered(
            offset,
            Some(group_start as u64),
            format!(
                "{} entries after the last checkpoint are not signed (a crash mid-commit: \
                 `argus audit recover` cuts such a tail off; or entries added by hand)",
                index - group_start
            ),
        ));
    }
    // Parallel: Merkle roots and signatures.
    let failure = groups
        .par_iter()
        .filter_map(|(c, range)| {
            if merkle_root(&hashes[range.clone()]) != *c.root {
                Some((
                    c.offset,
                    "its Merkle root does not match the entries it covers",
                ))
            } else if !verifier.verify(&c.hash(), c.signature) {
                Some((
                    c.offset,
                    "its signature does not verify with the checkpoint key",
                ))
            } else {
                None
            }
        })
        .min_by_key(|(offset, _)| *offset);
    if let Some((offset, why)) = failure {
        return Err(AuditError::tampered(
            offset,
            None,
            format!("checkpoint: {why}"),
        ));
    }
    report.entries = index as u64;
    report.next_seq = index as u64;
    report.chain_head = prev;
    report.last_checkpoint = last_checkpoint;
    report.head_last_seq = check_head(head, &groups, verifier, log.len())?;
    Ok(report)
}

/// The head file must hold one of the log's checkpoints, byte for byte.
fn check_head(
    head: Option<&[u8]>,
    groups: &[(&RawCheckpoint<'_>, std::ops::Range<usize>)],
    verifier: &CheckpointVerifier,
    log_len: usize,
) -> Result<Option<u64>, AuditError> {
    let Some(head) = head else {
        if groups.is_empty() {
            return Ok(None);
        }
        return Err(AuditError::tampered(
            log_len,
            None,
            "the head file (the last signed checkpoint, kept beside the log) is missing; compare \
             the log with a published `argus audit head`",
        ));
    };
    let head_error = |reason: String| AuditError::Tampered {
        offset: log_len as u64,
        seq: None,
        reason: format!("head file: {reason}"),
    };
    let (record, end) = parse_record(head, 0).map_err(|e| head_error(e.to_string()))?;
    let RawRecord::Checkpoint(h) = record else {
        return Err(head_error("it does not hold a checkpoint".into()));
    };
    if end != head.len() {
        return Err(head_error("it has stray bytes after the checkpoint".into()));
    }
    if !verifier.verify(&h.hash(), h.signature) {
        return Err(head_error("its signature does not verify".into()));
    }
    match groups.iter().find(|(c, _)| c.last_seq == h.last_seq) {
        Some((c, _)) if c.record == h.record => Ok(Some(h.last_seq)),
        Some(_) => Err(head_error(format!(
            "the log's checkpoint for entry {} differs from the head's: the log was rewritten",
            h.last_seq
        ))),
        None => Err(head_error(format!(
            "it vouches for entries up to {} but the log {}: entries were cut off the end",
            h.last_seq,
            match groups.last() {
                Some((c, _)) => format!("ends at entry {}", c.last_seq),
                None => "has no checkpoint".into(),
            }
        ))),
    }
}
