//! The rollback a local check cannot see, caught by a witnessed head: five
//! entries, the log cut right after its third checkpoint and that
//! checkpoint copied into `head`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;

use argus_audit::{
    AuditLog, AuditPaths, CheckpointVerifier, Clock, NewEntry, RetentionClass, WitnessError,
    WitnessedHead, check_extends, read_head, verify,
};

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
    argus_testkit::audit::roll_back_to_checkpoint(paths.log.parent().unwrap(), 3);

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
