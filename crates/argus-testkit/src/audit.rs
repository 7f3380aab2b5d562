//! The audit-log attacks tests play, written from the file format's framing
//! (a 10-byte header, then records of one kind byte, a little-endian `u32`
//! length and the body; `C` marks a checkpoint) rather than through
//! `argus-audit`'s reader, so an attack does not share the reader's bugs.

use std::ops::Range;
use std::path::Path;

/// The byte ranges of the checkpoint records of an audit log, in order.
///
/// # Panics
/// When the bytes are not framed as an audit log.
pub fn checkpoint_records(log: &[u8]) -> Vec<Range<usize>> {
    let mut pos = 10;
    let mut found = Vec::new();
    while pos < log.len() {
        let len = log
            .get(pos + 1..pos + 5)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_le_bytes)
            .unwrap_or_else(|| panic!("no record length at byte {pos}"));
        let end = pos + 5 + len as usize;
        if log[pos] == b'C' {
            found.push(pos..end);
        }
        pos = end;
    }
    found
}

/// The rollback local files cannot catch: cuts `audit.log` in `audit_dir`
/// right after its `n`th checkpoint record (from 1) and copies that record
/// into `head`. Returns the log's new length.
///
/// # Panics
/// When the log cannot be read or written or has fewer than `n` checkpoints.
pub fn roll_back_to_checkpoint(audit_dir: &Path, n: usize) -> usize {
    let log_path = audit_dir.join("audit.log");
    let log = std::fs::read(&log_path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", log_path.display()));
    let checkpoint = checkpoint_records(&log)
        .get(n.saturating_sub(1))
        .cloned()
        .unwrap_or_else(|| panic!("the log has fewer than {n} checkpoints"));
    let write = |path: &Path, bytes: &[u8]| {
        std::fs::write(path, bytes)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    };
    write(&log_path, &log[..checkpoint.end]);
    write(&audit_dir.join("head"), &log[checkpoint.clone()]);
    checkpoint.end
}
