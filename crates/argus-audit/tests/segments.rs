//! The log rotated into sealed segments: it verifies across them, reopens
//! and goes on, prunes across them, and every kind of damage to an old
//! segment (a byte flipped, a segment removed, the first one removed) is
//! caught and named; a witnessed head still checks across segments.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::Path;

use argus_audit::{
    AuditError, AuditLog, AuditPaths, CheckpointVerifier, Clock, NewEntry, RetentionClass,
    RetentionPolicy, SegmentPolicy, WitnessError, WitnessedHead, check_extends, log_files, prune,
    read_head, read_log, read_log_bytes, verify,
};
use jiff::SignedDuration;

const START_MS: i64 = 1_790_000_000_000;

fn entry(i: u64) -> NewEntry {
    NewEntry::new(RetentionClass::System, "alice", format!("act.{i}"))
        .because("a test of segments")
        .details(serde_json::json!({ "n": i, "pad": "x".repeat(64) }))
}

/// Appends `n` entries, one commit each, an hour apart, to a log sealing
/// segments at 1 KiB.
fn write(dir: &Path, clock: &Clock, from: u64, n: u64) {
    let mut log = AuditLog::open(dir, clock.clone())
        .unwrap()
        .with_segments(SegmentPolicy {
            max_bytes: 1024,
            max_age: None,
        });
    for i in from..from + n {
        log.append(&entry(i)).unwrap();
        clock.advance(SignedDuration::from_hours(1));
    }
}

fn rotated_log(dir: &Path) -> (AuditPaths, CheckpointVerifier) {
    let clock = Clock::manual_ms(START_MS);
    write(dir, &clock, 0, 20);
    // Reopened, it goes on in the active segment and seals again.
    write(dir, &clock, 20, 20);
    let paths = AuditPaths::new(dir);
    let verifier = CheckpointVerifier::load(&paths.public_key).unwrap();
    (paths, verifier)
}

fn tampered_reason(result: Result<argus_audit::VerifyReport, AuditError>) -> String {
    match result {
        Err(e @ (AuditError::Tampered { .. } | AuditError::Corrupt { .. })) => e.to_string(),
        other => panic!("expected tampering to be caught, got {other:?}"),
    }
}

#[test]
fn a_rotated_log_verifies_across_its_segments_and_reads_as_one() {
    let dir = tempfile::tempdir().unwrap();
    let (paths, verifier) = rotated_log(dir.path());
    let files = log_files(&paths).unwrap();
    assert!(files.len() >= 4, "expected several segments, got {files:?}");
    assert_eq!(files[0].first_seq, Some(0));
    let report = verify(&paths, &verifier).unwrap();
    assert_eq!(report.entries, 40);
    assert_eq!(report.next_seq, 40);
    assert_eq!(report.segments, files.len() as u64 - 1);
    assert_eq!(report.head_last_seq, Some(39));
    let actions: Vec<String> = read_log(&paths)
        .unwrap()
        .entries()
        .map(|e| e.payload.as_ref().unwrap().action.clone())
        .collect();
    let expected: Vec<String> = (0..40).map(|i| format!("act.{i}")).collect();
    assert_eq!(actions, expected);
}

#[test]
fn a_byte_flipped_in_an_old_segment_is_caught_and_the_segment_named() {
    let dir = tempfile::tempdir().unwrap();
    let (paths, verifier) = rotated_log(dir.path());
    let files = log_files(&paths).unwrap();
    let old = &files[1].path;
    let mut bytes = fs::read(old).unwrap();
    // Inside the first entry's payload (after header, carry, entry framing).
    let at = bytes
        .windows(5)
        .position(|w| w == b"alice")
        .expect("a payload in the segment");
    bytes[at] ^= 0x01;
    fs::write(old, &bytes).unwrap();
    let reason = tampered_reason(verify(&paths, &verifier));
    assert!(reason.contains(&old.display().to_string()), "{reason}");
    assert!(
        reason.contains("(entry ") || reason.contains("checkpoint of entries "),
        "{reason}"
    );
}

#[test]
fn a_segment_removed_is_caught() {
    let dir = tempfile::tempdir().unwrap();
    let (paths, verifier) = rotated_log(dir.path());
    let files = log_files(&paths).unwrap();
    fs::remove_file(&files[1].path).unwrap();
    let reason = tampered_reason(verify(&paths, &verifier));
    assert!(reason.contains("does not continue from"), "{reason}");
    assert!(
        reason.contains(&files[2].path.display().to_string()),
        "{reason}"
    );
}

#[test]
fn the_first_segment_removed_is_caught() {
    let dir = tempfile::tempdir().unwrap();
    let (paths, verifier) = rotated_log(dir.path());
    let files = log_files(&paths).unwrap();
    fs::remove_file(&files[0].path).unwrap();
    let reason = tampered_reason(verify(&paths, &verifier));
    assert!(
        reason.contains("segments before it are missing"),
        "{reason}"
    );
}

#[test]
fn a_witnessed_head_checks_across_segments() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::manual_ms(START_MS);
    write(dir.path(), &clock, 0, 10);
    let paths = AuditPaths::new(dir.path());
    let verifier = CheckpointVerifier::load(&paths.public_key).unwrap();
    let witnessed = WitnessedHead::new(read_head(&paths).unwrap().unwrap(), &verifier);
    write(dir.path(), &clock, 10, 30);
    assert!(log_files(&paths).unwrap().len() >= 3);

    let extension = check_extends(&read_log_bytes(&paths).unwrap(), &witnessed, &verifier).unwrap();
    assert_eq!((extension.head_entries, extension.log_entries), (10, 40));

    // An old segment cut after its first entry and re-signed is impossible
    // without the key; cutting the log back to the first segment is caught.
    let files = log_files(&paths).unwrap();
    for file in &files[1..] {
        fs::remove_file(&file.path).unwrap();
    }
    fs::rename(&files[0].path, &paths.log).unwrap();
    let entries_left = read_log(&paths).unwrap().entries().count() as u64;
    assert!(entries_left < 10, "the first segment holds {entries_left}");
    let err = check_extends(&read_log_bytes(&paths).unwrap(), &witnessed, &verifier).unwrap_err();
    assert!(matches!(err, WitnessError::Behind { .. }), "{err}");
}

#[test]
fn retention_prunes_payloads_in_sealed_segments_and_the_log_still_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let (paths, verifier) = rotated_log(dir.path());
    let mut policy = RetentionPolicy::default();
    policy.apply("system=1d").unwrap();
    // 40 entries an hour apart from START: at START + 41h + 1d... the first
    // entries are over a day old, the last ones not.
    let now =
        jiff::Timestamp::from_millisecond(START_MS).unwrap() + SignedDuration::from_hours(24 + 20);
    let report = prune(&paths, &verifier, &policy, now).unwrap();
    assert_eq!(report.pruned, 21);
    assert_eq!(report.kept, 19);
    let verified = verify(&paths, &verifier).unwrap();
    assert_eq!((verified.entries, verified.pruned), (40, 21));
    // The first segment's payloads are gone, their hashes kept.
    let first = fs::read(&log_files(&paths).unwrap()[0].path).unwrap();
    assert!(!first.windows(5).any(|w| w == b"alice"));
}

#[test]
fn a_rotation_cut_short_between_its_renames_is_finished_at_the_next_open() {
    let dir = tempfile::tempdir().unwrap();
    let (paths, verifier) = rotated_log(dir.path());
    // Simulate the crash: the active file moved into segments, the new one
    // still named audit.log.next.
    let next = paths.dir.join("audit.log.next");
    fs::rename(&paths.log, &next).unwrap();
    assert_eq!(verify(&paths, &verifier).unwrap().entries, 40);
    let clock = Clock::manual_ms(START_MS + 100 * 3_600_000);
    write(dir.path(), &clock, 40, 1);
    assert!(!next.exists());
    assert_eq!(verify(&paths, &verifier).unwrap().entries, 41);
}

#[test]
fn the_active_segment_seals_when_its_first_entry_is_older_than_max_age() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::manual_ms(START_MS);
    let policy = SegmentPolicy {
        max_bytes: SegmentPolicy::DEFAULT_MAX_BYTES,
        max_age: Some(SignedDuration::from_hours(24)),
    };
    let mut log = AuditLog::open(dir.path(), clock.clone())
        .unwrap()
        .with_segments(policy);
    log.append(&entry(0)).unwrap();
    clock.advance(SignedDuration::from_hours(23));
    log.append(&entry(1)).unwrap();
    assert_eq!(log_files(log.paths()).unwrap().len(), 1);
    clock.advance(SignedDuration::from_hours(1));
    log.append(&entry(2)).unwrap();
    let files = log_files(log.paths()).unwrap();
    assert_eq!(files.len(), 2);
    assert_eq!(files[0].first_seq, Some(0));
    let verifier = CheckpointVerifier::load(&log.paths().public_key).unwrap();
    assert_eq!(verify(log.paths(), &verifier).unwrap().entries, 3);
}

#[test]
fn a_torn_commit_after_a_carry_is_recovered() {
    let dir = tempfile::tempdir().unwrap();
    let (paths, verifier) = rotated_log(dir.path());
    let before = fs::read(&paths.log).unwrap();
    // The same commit made on a copy: its bytes are what a crash cuts short.
    let copy = tempfile::tempdir().unwrap();
    let copy_audit = copy.path().join("audit");
    fs::create_dir_all(copy_audit.join("segments")).unwrap();
    for file in log_files(&paths).unwrap() {
        let relative = file.path.strip_prefix(&paths.dir).unwrap();
        fs::copy(&file.path, copy_audit.join(relative)).unwrap();
    }
    for name in ["head", "checkpoint.key", "checkpoint.pub"] {
        fs::copy(paths.dir.join(name), copy_audit.join(name)).unwrap();
    }
    let mut log = AuditLog::open(copy.path(), Clock::manual_ms(START_MS + 50 * 3_600_000)).unwrap();
    log.append(&entry(40)).unwrap();
    drop(log);
    let after = fs::read(copy_audit.join("audit.log")).unwrap();
    assert!(
        after.starts_with(&before),
        "the copy appended to the same active file"
    );
    fs::write(&paths.log, &after[..after.len() - 10]).unwrap();
    assert!(verify(&paths, &verifier).is_err());
    let report = argus_audit::recover(&paths, &verifier).unwrap();
    assert_eq!(report.cut_entries, 1);
    assert_eq!(report.next_seq, 40);
    assert_eq!(verify(&paths, &verifier).unwrap().entries, 40);
}
