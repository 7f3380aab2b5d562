//! Recovering from a torn tail: what a crash or a full disk in the middle of a
//! commit leaves at the end of the log.
//!
//! A commit is one `write` of its entries and checkpoints, then one
//! `fdatasync`; only then is the commit acknowledged and the head file moved
//! to its last checkpoint. A write cut short leaves a partial record, or whole
//! entries with no checkpoint after them. No caller was told those entries
//! were recorded, but the log no longer verifies, and a log that does not
//! verify is never opened for appending.
//!
//! [`recover`] cuts such a tail off, and nothing else. The kept part must
//! verify on its own, end on a checkpoint, and contain the checkpoint the head
//! file names (so nothing acknowledged is cut); the tail must be what one
//! interrupted commit writes: entries that carry on the chain (next sequence
//! numbers, links to the entry before, one commit time), then at most one
//! record cut short whose bytes agree with what the writer would have written
//! there. Anything else is tampering or corruption, which recovery must not
//! paper over: it refuses with the error [`crate::verify`] would give and
//! changes nothing. The cut bytes are kept as evidence in a file beside the
//! log before the log is truncated.

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::{Read as _, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::format::{
    Form, HEADER_LEN, Hash, RawEntry, RawRecord, TAG_CHECKPOINT, TAG_ENTRY, checkpoint_signed_body,
    header, parse_record, parse_records,
};
use crate::{
    AuditError, AuditPaths, CheckpointVerifier, Clock, Payload, RetentionClass, merkle_root,
    verify_bytes,
};

/// What [`recover`] found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RecoverReport {
    /// Length of the log kept (all of it when nothing was torn).
    pub kept_bytes: u64,
    /// Bytes cut off the end (0 when the log already verified).
    pub cut_bytes: u64,
    /// Whole entry records among the cut bytes (never acknowledged).
    pub cut_entries: u64,
    /// The file the cut bytes were saved to, when something was cut.
    pub evidence: Option<PathBuf>,
    /// The sequence number the next entry will get.
    pub next_seq: u64,
}

/// Cuts a torn tail off the log at `paths`, after saving it to
/// `audit.log.torn-<unix seconds>` beside the log.
///
/// Holds the writer's lock while it works. A log that verifies is left alone
/// (`cut_bytes` 0). Refuses, changing nothing, when the end of the log is not
/// the torn tail of one interrupted commit, or when cutting it would remove
/// entries the head file vouches for.
pub fn recover(
    paths: &AuditPaths,
    verifier: &CheckpointVerifier,
) -> Result<RecoverReport, AuditError> {
    let _lock = paths.lock_exclusive()?;
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&paths.log)
        .map_err(AuditError::io("open", &paths.log))?;
    let mut log = Vec::new();
    file.read_to_end(&mut log)
        .map_err(AuditError::io("read", &paths.log))?;
    let head = match std::fs::read(&paths.head) {
        Ok(head) => Some(head),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(AuditError::io("read", &paths.head)(e)),
    };
    let mut report = plan_recovery(&log, head.as_deref(), verifier)?;
    let kept = usize::try_from(report.kept_bytes).unwrap_or(usize::MAX);
    let Some(cut) = log.get(kept..).filter(|cut| !cut.is_empty()) else {
        return Ok(report);
    };
    let dir = paths
        .log
        .parent()
        .filter(|dir| !dir.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    // The evidence must be on disk, name included, before the log loses it.
    let evidence = save_evidence(&paths.log, cut)?;
    sync_dir(dir)?;
    file.set_len(report.kept_bytes)
        .and_then(|()| file.sync_all())
        .map_err(AuditError::io("truncate", &paths.log))?;
    sync_dir(dir)?;
    report.evidence = Some(evidence);
    Ok(report)
}

/// What [`recover`] would do to a log with these bytes and this head file,
/// without touching anything (`evidence` is `None`): a dry run, and the pure
/// part the fuzzer drives.
pub fn plan_recovery(
    log: &[u8],
    head: Option<&[u8]>,
    verifier: &CheckpointVerifier,
) -> Result<RecoverReport, AuditError> {
    let tail = find_torn_tail(log, head, verifier)?;
    Ok(RecoverReport {
        kept_bytes: tail.kept as u64,
        cut_bytes: log.len().saturating_sub(tail.kept) as u64,
        cut_entries: tail.cut_entries,
        evidence: None,
        next_seq: tail.next_seq,
    })
}

/// Where the verified part of a log ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct TornTail {
    /// Bytes to keep; the log's length when nothing is torn.
    kept: usize,
    /// Whole entry records after `kept`.
    cut_entries: u64,
    /// The next sequence number once the tail is cut.
    next_seq: u64,
}

/// Finds the torn tail of `log`, or says why the end of the log is not one.
fn find_torn_tail(
    log: &[u8],
    head: Option<&[u8]>,
    verifier: &CheckpointVerifier,
) -> Result<TornTail, AuditError> {
    // A crash while the log was being created: the header is cut short. The
    // log is empty, as far as anyone was told; opening it writes a new header.
    if log.len() < HEADER_LEN && header().starts_with(log) {
        verify_bytes(&header(), head, verifier).map_err(refused)?;
        return Ok(TornTail {
            kept: 0,
            cut_entries: 0,
            next_seq: 0,
        });
    }
    parse_records(log.get(..HEADER_LEN).unwrap_or(log)).map_err(refused)?;

    // Frame the records; only the last may be cut short.
    let mut records = Vec::new();
    let mut partial = None;
    let mut pos = HEADER_LEN;
    while pos < log.len() {
        match parse_record(log, pos) {
            Ok((record, next)) => {
                records.push(record);
                pos = next;
            }
            Err(_) if runs_past_end(log, pos) => {
                partial = Some(pos);
                break;
            }
            Err(e) => return Err(refused(e)),
        }
    }

    // The kept part ends on the last whole checkpoint and must verify with
    // the head, so nothing acknowledged is cut. A torn commit may leave only a
    // partial checkpoint, so no checkpoint after this one can be kept either.
    let split = records
        .iter()
        .rposition(|r| matches!(r, RawRecord::Checkpoint(_)))
        .map_or(0, |i| i + 1);
    let kept = match split.checked_sub(1).and_then(|i| records.get(i)) {
        Some(RawRecord::Checkpoint(c)) => c.offset + c.record.len(),
        _ => HEADER_LEN,
    };
    let report = verify_bytes(log.get(..kept).unwrap_or(log), head, verifier).map_err(refused)?;

    // The rest must be what one interrupted commit writes.
    let mut commit = Commit {
        first_seq: report.next_seq,
        next_seq: report.next_seq,
        chain_head: report.chain_head,
        last_checkpoint: report.last_checkpoint,
        time: None,
        leaves: Vec::new(),
    };
    for record in records.get(split..).unwrap_or_default() {
        match record {
            RawRecord::Entry(e) => commit.push(e)?,
            RawRecord::Checkpoint(c) => {
                return Err(refused(AuditError::tampered(
                    c.offset,
                    None,
                    "a checkpoint after the last one kept",
                )));
            }
        }
    }
    if let Some(at) = partial {
        commit.check_partial(log.get(at..).unwrap_or_default(), at)?;
    }
    Ok(TornTail {
        kept,
        cut_entries: commit.leaves.len() as u64,
        next_seq: report.next_seq,
    })
}

/// Whether the record at `pos` is cut short by the end of the log (rather
/// than malformed within it).
fn runs_past_end(log: &[u8], pos: usize) -> bool {
    let rest = log.get(pos..).unwrap_or_default();
    match rest.get(1..5) {
        Some(&[a, b, c, d]) => u32::from_le_bytes([a, b, c, d]) as usize > rest.len() - 5,
        _ => true,
    }
}

/// The entries of the interrupted commit, as they are checked.
#[derive(Debug)]
struct Commit<'a> {
    first_seq: u64,
    next_seq: u64,
    chain_head: Hash,
    last_checkpoint: Hash,
    /// The commit's time: every entry and checkpoint of a commit has it.
    time: Option<&'a [u8]>,
    leaves: Vec<Hash>,
}

impl<'a> Commit<'a> {
    /// Checks that a whole entry carries on the commit, and takes it.
    fn push(&mut self, e: &RawEntry<'a>) -> Result<(), AuditError> {
        let tampered = |why: String| refused(AuditError::tampered(e.offset, Some(e.seq), why));
        if e.seq != self.next_seq {
            return Err(tampered(format!(
                "entry {} stands where entry {} should be: entries were deleted, reordered or \
                 inserted",
                e.seq, self.next_seq
            )));
        }
        if e.prev != &self.chain_head {
            return Err(tampered(
                "its link to the previous entry does not match that entry's hash: the previous \
                 entry was edited"
                    .into(),
            ));
        }
        if self.time.is_some_and(|time| time != e.time) {
            return Err(tampered(
                "its time differs from the entry before it: the unsigned entries are not one \
                 interrupted commit"
                    .into(),
            ));
        }
        let Form::Payload(payload) = e.form else {
            return Err(tampered(
                "an unsigned entry is pruned, which no commit writes".into(),
            ));
        };
        if std::str::from_utf8(e.time).is_err() {
            return Err(refused(AuditError::corrupt(
                e.offset,
                "an entry's time is not UTF-8",
            )));
        }
        if let Err(why) = Payload::decode(payload) {
            return Err(refused(AuditError::corrupt(
                e.offset,
                format!("entry {}: {why}", e.seq),
            )));
        }
        self.chain_head = e.hash();
        self.leaves.push(self.chain_head);
        self.next_seq = self.next_seq.saturating_add(1);
        self.time = Some(e.time);
        Ok(())
    }

    /// Checks that `bytes` (at offset `at`, running to the end of the log)
    /// could be the start of the record the writer was writing: every byte
    /// the writer's next record is known to have must match.
    fn check_partial(&self, bytes: &[u8], at: usize) -> Result<(), AuditError> {
        let corrupt = |why: &str| {
            refused(AuditError::corrupt(
                at,
                format!("the log ends in part of a record, {why}"),
            ))
        };
        match bytes.first() {
            Some(&TAG_ENTRY) => {
                let mut known = Vec::with_capacity(8 + 32 + 1 + 255);
                known.extend_from_slice(&self.next_seq.to_le_bytes());
                known.extend_from_slice(&self.chain_head);
                if !agrees(bytes, 5, &known) {
                    return Err(corrupt(
                        "an entry whose sequence number or link does not follow the entry before \
                         it",
                    ));
                }
                let declared = bytes
                    .get(1..5)
                    .and_then(|b| <[u8; 4]>::try_from(b).ok())
                    .map(|b| u32::from_le_bytes(b) as usize);
                let time_len = bytes.get(5 + 40).map(|&n| usize::from(n));
                if let Some(time) = self.time {
                    let mut known = Vec::with_capacity(1 + time.len());
                    known.push(time.len() as u8);
                    known.extend_from_slice(time);
                    if !agrees(bytes, 5 + 40, &known) {
                        return Err(corrupt(
                            "an entry whose time differs from the entries before it",
                        ));
                    }
                }
                if declared.is_some_and(|len| len < 40 + 1 + time_len.unwrap_or(0) + 2) {
                    return Err(corrupt("an entry whose length is too short"));
                }
                if let Some(time_len) = time_len {
                    let class = bytes.get(5 + 41 + time_len);
                    if class.is_some_and(|&c| !RetentionClass::ALL.iter().any(|k| k.code() == c)) {
                        return Err(corrupt("an entry with an unknown retention class"));
                    }
                    // A commit writes payloads; only pruning writes hashes.
                    if bytes.get(5 + 42 + time_len).is_some_and(|&form| form != 0) {
                        return Err(corrupt("an entry whose payload form no commit writes"));
                    }
                }
                Ok(())
            }
            Some(&TAG_CHECKPOINT) => {
                let Some(time) = self.time.filter(|_| !self.leaves.is_empty()) else {
                    return Err(corrupt("a checkpoint with no unsigned entry before it"));
                };
                // Everything but the signature is known.
                let signed = checkpoint_signed_body(
                    self.first_seq,
                    self.next_seq.saturating_sub(1),
                    &merkle_root(&self.leaves),
                    &self.chain_head,
                    &self.last_checkpoint,
                    time,
                );
                let mut known = Vec::with_capacity(5 + signed.len());
                known.push(TAG_CHECKPOINT);
                known.extend_from_slice(&((signed.len() + 64) as u32).to_le_bytes());
                known.extend_from_slice(&signed);
                if !agrees(bytes, 0, &known) {
                    return Err(corrupt(
                        "a checkpoint that is not the one over the entries before it",
                    ));
                }
                Ok(())
            }
            Some(&tag) => Err(corrupt(&format!("of unknown type 0x{tag:02x}"))),
            None => Ok(()),
        }
    }
}

/// Whether `bytes[at..]` and `known` agree on every byte both have.
fn agrees(bytes: &[u8], at: usize, known: &[u8]) -> bool {
    let got = bytes.get(at..).unwrap_or_default();
    got.iter().zip(known).all(|(a, b)| a == b)
}

/// Says that recovery refused, and left the log alone, because of `error`.
fn refused(error: AuditError) -> AuditError {
    const NOTE: &str = "(not the torn tail a crash leaves, so recovery cut nothing)";
    error.map_reason(|reason| format!("{reason} {NOTE}"))
}

/// Writes `cut` to a new file beside the log (0600) and syncs it.
fn save_evidence(log: &Path, cut: &[u8]) -> Result<PathBuf, AuditError> {
    let base = {
        let mut name = log
            .file_name()
            .map_or_else(|| OsString::from("audit.log"), OsString::from);
        name.push(format!(
            ".torn-{}",
            Clock::system().now().timestamp().as_second()
        ));
        name
    };
    let mut last = log.with_file_name(&base);
    for n in 0..1000u32 {
        let mut name = base.clone();
        if n > 0 {
            name.push(format!(".{n}"));
        }
        let path = log.with_file_name(name);
        let mut file = match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
        {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                last = path;
                continue;
            }
            Err(e) => return Err(AuditError::io("create", &path)(e)),
        };
        if let Err(e) = file.write_all(cut).and_then(|()| file.sync_all()) {
            // A half-written copy is no evidence; the log still has the bytes.
            drop(file);
            let _ = std::fs::remove_file(&path);
            return Err(AuditError::io("write", &path)(e));
        }
        return Ok(path);
    }
    Err(AuditError::io("create", last)(std::io::Error::new(
        std::io::ErrorKind::AlreadyExists,
        "a thousand evidence files of this second already exist; move them away",
    )))
}

fn sync_dir(dir: &Path) -> Result<(), AuditError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(AuditError::io("sync", dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_is_cut_short_only_when_its_length_runs_past_the_end() {
        let log = [b'E', 3, 0, 0, 0, 1, 2];
        assert!(runs_past_end(&log, 0));
        assert!(!runs_past_end(&[b'E', 2, 0, 0, 0, 1, 2], 0));
        assert!(runs_past_end(&log[..4], 0));
        assert!(runs_past_end(&log, 7));
        assert!(runs_past_end(&log, 100));
    }

    #[test]
    fn agreement_covers_only_the_bytes_both_sides_have() {
        assert!(agrees(b"xxabc", 2, b"abcdef"));
        assert!(agrees(b"xxabcdefgh", 2, b"abcdef"));
        assert!(!agrees(b"xxabd", 2, b"abcdef"));
        assert!(agrees(b"x", 2, b"abc"));
    }

    #[test]
    fn refusals_keep_the_kind_and_offset() {
        let err = refused(AuditError::tampered(42, Some(3), "edited"));
        assert!(
            matches!(err, AuditError::Tampered { offset: 42, seq: Some(3), ref reason } if reason.starts_with("edited"))
        );
        let err = refused(AuditError::corrupt(7, "bad"));
        assert!(matches!(err, AuditError::Corrupt { offset: 7, .. }));
    }
}
