//! The rollback a local check cannot see, caught by a witnessed head: five
//! entries, the log cut right after its third checkpoint and that
//! checkpoint copied into `head`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;

use argus_audit::{
    AuditLog, AuditPaths, CheckpointVerifier, Clock, NewEntry, RetentionClass, WitnessError,
    WitnessedHead, check_extends, read_head, verify,
};

/// The byte offset just after the `n`th checkpoint record (from 1).
fn end_of_checkpoint(log: &[u8], n: usize) -> usize {
    let mut pos = 10;
    let mut seen = 0;
    while pos < log.len() {
        let len = u32::from_le_bytes(log[pos + 1..pos + 5].try_into().unwrap()) as usize;
        let end = pos + 5 + len;
        if log[pos] == b'C' {
            seen += 1;
            if seen == n {
                return end;
            }
        }
        pos = end;
    }
    panic!("the log has fewer than {n} checkpoints");
}

fn record(dir: &std::path::Path, action: &str) {
    let mut log = AuditLog::open(dir, Clock::manual_ms(1_790_000_000_000)).unwrap();
    log.append(&NewEntry::new(RetentionClass::Audit, "alice", action))
        .unwrap();
}

#[test]
fn a_rollback_to_a_checkpoint_boundary_passes_locally_and_fails_against_the_witness() {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..5 {
        record(dir.path(), &format!("act.{i}"));
    }
    let paths = AuditPaths::new(dir.path());
    let verifier = CheckpointVerifier::load(&paths.public_key).unwrap();
    let witnessed = WitnessedHead::new(read_head(&paths).unwrap().unwrap(), &verifier);
    assert_eq!(witnessed.entries(), 5);

    // The attack: cut after the third checkpoint, copy it into `head`.
    let log = fs::read(&paths.log).unwrap();
    let cut = end_of_checkpoint(&log, 3);
    let third_checkpoint_start = {
        let before = end_of_checkpoint(&log, 2);
        // the third entry record, then the third checkpoint
        let len = u32::from_le_bytes(log[before + 1..before + 5].try_into().unwrap()) as usize;
        before + 5 + len
    };
    fs::write(&paths.log, &log[..cut]).unwrap();
    fs::write(&paths.head, &log[third_checkpoint_start..cut]).unwrap();

    // Every local check passes: that is the hole.
    let report = verify(&paths, &verifier).unwrap();
    assert_eq!(report.entries, 3);

    // The witnessed head catches it.
    let rolled_back = fs::read(&paths.log).unwrap();
    let err = check_extends(&rolled_back, &witnessed, &verifier).unwrap_err();
    assert!(
        matches!(
            err,
            WitnessError::Behind {
                log_entries: 3,
                head_entries: 5
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string().starts_with(
            "the log is behind the witnessed head (3 entries, the head has 5): it was rolled back \
             or truncated"
        ),
        "{err}"
    );

    // The writer appends on; the log then has as many entries as the head
    // again, but not the head's: it diverges.
    record(dir.path(), "act.after-1");
    record(dir.path(), "act.after-2");
    verify(&paths, &verifier).unwrap();
    let appended = fs::read(&paths.log).unwrap();
    let err = check_extends(&appended, &witnessed, &verifier).unwrap_err();
    assert!(matches!(err, WitnessError::Diverges { seq: 4 }), "{err}");
    assert!(
        err.to_string()
            .starts_with("the log diverges from the witnessed head at or before entry 4"),
        "{err}"
    );
}
