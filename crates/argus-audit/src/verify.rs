//! Verification: framing, sequence numbers, hash links, Merkle roots,
//! signatures, and the head checkpoint kept outside the log.
//!
//! Hashing and signature checks run in parallel (rayon); the links between
//! records are checked in one sequential pass over the hashes.
//!
//! A log may span sealed segments ([`crate::segment`]): [`verify`] checks
//! each file on its own (naming the file in any error) and that each one
//! continues from the one before it, byte for byte through the carried
//! checkpoint.

use std::fs;
use std::path::Path;

use rayon::prelude::*;
use serde::Serialize;

use crate::format::{Hash, RawCheckpoint, RawRecord, parse_record, parse_records};
use crate::segment::{SegmentFile, log_files};
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
    /// Sealed segments before the active file (0 for a log never rotated).
    pub segments: u64,
}

fn hex_ser<S: serde::Serializer>(h: &Hash, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&hex::encode(h))
}

/// Verifies the log and its head file in `paths`: every sealed segment, the
/// active file, the links between them, and the head.
pub fn verify(
    paths: &AuditPaths,
    verifier: &CheckpointVerifier,
) -> Result<VerifyReport, AuditError> {
    let head = match fs::read(&paths.head) {
        Ok(head) => Some(head),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(AuditError::io("read", &paths.head)(e)),
    };
    let files = log_files(paths)?;
    let head_record = head
        .as_deref()
        .map(|h| parse_head(h, verifier, 0))
        .transpose()?;
    let mut report = VerifyReport::default();
    let mut previous: Option<(&SegmentFile, FileCheck)> = None;
    let mut head_found = None;
    let mut any_checkpoint = false;
    let last = files.len().saturating_sub(1);
    for (i, file) in files.iter().enumerate() {
        let bytes = fs::read(&file.path).map_err(AuditError::io("read", &file.path))?;
        let check = verify_file(&bytes, head_record.as_ref(), verifier)
            .map_err(|e| within(e, &file.path))?;
        let continuity = |reason: String| within(AuditError::tampered(0, None, reason), &file.path);
        match (&previous, &check.carry) {
            (None, Some(_)) => {
                return Err(continuity(format!(
                    "the log starts at entry {}: the segments before it are missing",
                    check.first_seq
                )));
            }
            (Some((before, prev)), carry) => {
                if carry.as_deref() != prev.last_record.as_deref() || prev.last_record.is_none() {
                    return Err(continuity(format!(
                        "it does not continue from {} (its first record is not that segment's \
                         last checkpoint): a segment between them was removed, or one was \
                         replaced",
                        before.path.display()
                    )));
                }
            }
            (None, None) => {}
        }
        if let Some(first) = file.first_seq
            && first != check.first_seq
        {
            return Err(continuity(format!(
                "its name says it starts at entry {first} but it starts at entry {}: it was \
                 renamed or replaced",
                check.first_seq
            )));
        }
        if i < last && check.entries == 0 {
            return Err(continuity("a sealed segment without entries".into()));
        }
        any_checkpoint |= check.last_record.is_some();
        if check.head_match.is_some() {
            head_found = check.head_match;
        }
        report.entries += check.entries;
        report.pruned += check.pruned;
        report.checkpoints += check.checkpoints;
        report.next_seq = check.next_seq;
        report.chain_head = check.chain_head;
        report.last_checkpoint = check.last_checkpoint;
        report.bytes += bytes.len() as u64;
        previous = Some((file, check));
    }
    report.segments = files.len().saturating_sub(1) as u64;
    report.head_last_seq = finish_head(
        head_record.as_ref(),
        head_found,
        any_checkpoint,
        report.next_seq,
        report.bytes as usize,
    )?;
    Ok(report)
}

/// Verifies a log held in memory, with the head checkpoint if there is one.
/// The bytes are one file: a log never rotated, or one segment (which then
/// starts with the checkpoint carried over from the segment before it).
///
/// A log with entries must have a head: without it, a log cut back to an
/// earlier checkpoint would look whole.
pub fn verify_bytes(
    log: &[u8],
    head: Option<&[u8]>,
    verifier: &CheckpointVerifier,
) -> Result<VerifyReport, AuditError> {
    let head_record = head
        .map(|h| parse_head(h, verifier, log.len()))
        .transpose()?;
    let check = verify_file(log, head_record.as_ref(), verifier)?;
    let head_last_seq = finish_head(
        head_record.as_ref(),
        check.head_match,
        check.last_record.is_some(),
        check.next_seq,
        log.len(),
    )?;
    Ok(VerifyReport {
        entries: check.entries,
        pruned: check.pruned,
        checkpoints: check.checkpoints,
        next_seq: check.next_seq,
        chain_head: check.chain_head,
        last_checkpoint: check.last_checkpoint,
        head_last_seq,
        bytes: log.len() as u64,
        segments: 0,
    })
}

/// Verifies one file without a head: for sealed segments (retention checks
/// each one before and after it rewrites it).
pub(crate) fn verify_sealed(log: &[u8], verifier: &CheckpointVerifier) -> Result<(), AuditError> {
    verify_file(log, None, verifier).map(|_| ())
}

/// The head checkpoint, parsed and its signature checked.
struct HeadRecord {
    last_seq: u64,
    record: Vec<u8>,
    at: usize,
}

/// What one file holds, verified.
struct FileCheck {
    /// The first entry's sequence number (after the carried checkpoint).
    first_seq: u64,
    next_seq: u64,
    entries: u64,
    pruned: u64,
    checkpoints: u64,
    chain_head: Hash,
    last_checkpoint: Hash,
    /// The checkpoint carried over from the previous segment, bytes.
    carry: Option<Vec<u8>>,
    /// The last checkpoint record (the carry when there is no other), bytes.
    last_record: Option<Vec<u8>>,
    /// `Some(last_seq)` when a checkpoint here is the head's, byte for byte.
    head_match: Option<u64>,
}

/// Verifies one file's records. A file may start with a checkpoint carried
/// over from the previous segment: it is checked for its signature, and the
/// chain goes on from it (its Merkle root is checked in that segment).
fn verify_file(
    log: &[u8],
    head: Option<&HeadRecord>,
    verifier: &CheckpointVerifier,
) -> Result<FileCheck, AuditError> {
    let records = parse_records(log)?;
    let mut body = &records[..];
    let mut check = FileCheck {
        first_seq: 0,
        next_seq: 0,
        entries: 0,
        pruned: 0,
        checkpoints: 0,
        chain_head: [0; 32],
        last_checkpoint: [0; 32],
        carry: None,
        last_record: None,
        head_match: None,
    };
    if let Some((RawRecord::Checkpoint(c), rest)) = records.split_first() {
        if !verifier.verify(&c.hash(), c.signature) {
            return Err(AuditError::tampered(
                c.offset,
                None,
                "the checkpoint carried over from the previous segment: its signature does not \
                 verify with the checkpoint key",
            ));
        }
        check.first_seq = c.last_seq.saturating_add(1);
        check.chain_head = *c.head;
        check.last_checkpoint = c.hash();
        check.carry = Some(c.record.to_vec());
        check.last_record = Some(c.record.to_vec());
        if head.is_some_and(|h| h.last_seq == c.last_seq && h.record == c.record) {
            check.head_match = Some(c.last_seq);
        }
        body = rest;
    }
    let entries: Vec<&crate::format::RawEntry<'_>> = body
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

    // Sequential pass: sequence numbers, links, checkpoint coverage.
    let base = check.first_seq;
    let mut groups: Vec<(&RawCheckpoint<'_>, std::ops::Range<usize>)> = Vec::new();
    let mut index = 0usize; // entries seen
    let mut group_start = 0usize;
    let mut prev: Hash = check.chain_head;
    let mut last_checkpoint: Hash = check.last_checkpoint;
    for record in body {
        match record {
            RawRecord::Entry(e) => {
                let expected = base + index as u64;
                if e.seq != expected {
                    return Err(AuditError::tampered(
                        e.offset,
                        Some(e.seq),
                        format!(
                            "entry {} stands where entry {expected} should be: entries were \
                             deleted, reordered or inserted",
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
                    check.pruned += 1;
                }
                index += 1;
            }
            RawRecord::Checkpoint(c) => {
                let bad = |why: &str| {
                    Err(AuditError::tampered(
                        c.offset,
                        None,
                        format!(
                            "the checkpoint of entries {}..={}: {why}",
                            c.first_seq, c.last_seq
                        ),
                    ))
                };
                if index == group_start {
                    return bad("it covers no entry");
                }
                let (first, last) = (base + group_start as u64, base + index as u64 - 1);
                if c.first_seq != first || c.last_seq != last {
                    return bad(&format!(
                        "it covers entries {}..={} but entries {first}..={last} precede it",
                        c.first_seq, c.last_seq,
                    ));
                }
                if c.head != &prev {
                    return bad("its chain head is not the hash of the last entry");
                }
                if c.prev_checkpoint != &last_checkpoint {
                    return bad("its link to the previous checkpoint does not match");
                }
                last_checkpoint = c.hash();
                if head.is_some_and(|h| h.last_seq == c.last_seq && h.record == c.record) {
                    check.head_match = Some(c.last_seq);
                } else if head.is_some_and(|h| h.last_seq == c.last_seq) {
                    return Err(AuditError::tampered(
                        head.map_or(0, |h| h.at),
                        None,
                        format!(
                            "head file: the log's checkpoint for entry {} differs from the \
                             head's: the log was rewritten",
                            c.last_seq
                        ),
                    ));
                }
                groups.push((c, group_start..index));
                group_start = index;
                check.checkpoints += 1;
            }
        }
    }
    if group_start != index {
        let offset = entries.get(group_start).map_or(log.len(), |e| e.offset);
        return Err(AuditError::tampered(
            offset,
            Some(base + group_start as u64),
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
                    c.first_seq,
                    c.last_seq,
                    "its Merkle root does not match the entries it covers",
                ))
            } else if !verifier.verify(&c.hash(), c.signature) {
                Some((
                    c.offset,
                    c.first_seq,
                    c.last_seq,
                    "its signature does not verify with the checkpoint key",
                ))
            } else {
                None
            }
        })
        .min_by_key(|(offset, ..)| *offset);
    if let Some((offset, first, last, why)) = failure {
        return Err(AuditError::tampered(
            offset,
            None,
            format!("the checkpoint of entries {first}..={last}: {why}"),
        ));
    }
    if let Some((c, _)) = groups.last() {
        check.last_record = Some(c.record.to_vec());
    }
    check.entries = index as u64;
    check.next_seq = base + index as u64;
    check.chain_head = prev;
    check.last_checkpoint = last_checkpoint;
    Ok(check)
}

/// Reads the head file: one checkpoint, nothing else, signed with the key.
fn parse_head(
    head: &[u8],
    verifier: &CheckpointVerifier,
    at: usize,
) -> Result<HeadRecord, AuditError> {
    let head_error = |reason: String| AuditError::Tampered {
        offset: at as u64,
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
    Ok(HeadRecord {
        last_seq: h.last_seq,
        record: h.record.to_vec(),
        at,
    })
}

/// The head file must hold one of the log's checkpoints, byte for byte.
fn finish_head(
    head: Option<&HeadRecord>,
    found: Option<u64>,
    any_checkpoint: bool,
    next_seq: u64,
    log_len: usize,
) -> Result<Option<u64>, AuditError> {
    let Some(head) = head else {
        if !any_checkpoint {
            return Ok(None);
        }
        return Err(AuditError::tampered(
            log_len,
            None,
            "the head file (the last signed checkpoint, kept beside the log) is missing; compare \
             the log with a published `argus audit head`",
        ));
    };
    match found {
        Some(seq) => Ok(Some(seq)),
        None => Err(AuditError::Tampered {
            offset: log_len as u64,
            seq: None,
            reason: format!(
                "head file: it vouches for entries up to {} but the log {}: entries were cut off \
                 the end",
                head.last_seq,
                if any_checkpoint {
                    format!("ends at entry {}", next_seq.saturating_sub(1))
                } else {
                    "has no checkpoint".into()
                }
            ),
        }),
    }
}

/// Names the file an error was found in (a segment, or the active log).
pub(crate) fn within(error: AuditError, file: &Path) -> AuditError {
    let name = file.display();
    error.map_reason(|reason| format!("in {name}: {reason}"))
}
