//! The audit log end to end through the library: append, reopen, verify,
//! tampering of every kind, retention, group commit.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::Path;

use argus_audit::{
    AuditError, AuditLog, AuditPaths, CheckpointKey, CheckpointVerifier, Clock, GroupCommitWriter,
    NewEntry, Query, RetentionClass, RetentionPolicy, parse_log, prune, read_log, verify,
    verify_bytes,
};
use jiff::tz::{Offset, TimeZone};
use jiff::{SignedDuration, Timestamp, ZonedDateTime};
use proptest::prelude::*;

/// `y-m-d h:min` in a fixed offset of whole hours.
fn at(y: i16, m: i8, d: i8, h: i8, min: i8, offset_hours: i8) -> ZonedDateTime {
    jiff::civil::datetime(y, m, d, h, min, 0, 0)
        .to_zoned_datetime(TimeZone::fixed(Offset::constant(offset_hours)))
        .unwrap()
}

fn instant(y: i16, m: i8, d: i8, h: i8, min: i8, offset_hours: i8) -> Timestamp {
    at(y, m, d, h, min, offset_hours).timestamp()
}

fn entry(i: usize, class: RetentionClass) -> NewEntry {
    NewEntry::new(
        class,
        format!("user{}", i % 3),
        format!("key.sign.{}", i % 2),
    )
    .at("host-a", "vault")
    .because("scheduled rotation")
    .reference(format!("INC-{i}"))
    .details(serde_json::json!({"n": i, "addr": "0xabc"}))
}

fn open(dir: &Path, clock: &Clock) -> AuditLog {
    AuditLog::open(dir, clock.clone()).unwrap()
}

fn verifier(dir: &Path) -> CheckpointVerifier {
    CheckpointVerifier::load(&AuditPaths::new(dir).public_key).unwrap()
}

/// Three commits: 2 entries, 1 entry, 3 entries split in groups of 2.
fn small_log(dir: &Path) -> AuditPaths {
    let clock = Clock::manual(at(2026, 11, 5, 10, 0, 1));
    let mut log = open(dir, &clock).with_group_size(2);
    log.append_batch(&[
        entry(0, RetentionClass::Security),
        entry(1, RetentionClass::System),
    ])
    .unwrap();
    clock.advance(SignedDuration::from_mins(5));
    log.append(&entry(2, RetentionClass::Audit)).unwrap();
    let batch: Vec<_> = (3..6)
        .map(|i| entry(i, RetentionClass::Transaction))
        .collect();
    log.append_batch(&batch).unwrap();
    log.paths().clone()
}

fn is_detected(paths: &AuditPaths, v: &CheckpointVerifier) -> bool {
    match verify(paths, v) {
        Ok(_) => false,
        Err(AuditError::Corrupt { .. } | AuditError::Tampered { .. }) => true,
        Err(other) => panic!("unexpected error kind: {other}"),
    }
}

#[test]
fn a_fresh_log_verifies_and_reopening_continues_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let paths = small_log(dir.path());
    let v = verifier(dir.path());
    let report = verify(&paths, &v).unwrap();
    assert_eq!(report.entries, 6);
    assert_eq!(report.checkpoints, 4);
    assert_eq!(report.head_last_seq, Some(5));

    let mut log = open(dir.path(), &Clock::system());
    assert_eq!(log.next_seq(), 6);
    assert_eq!(log.append(&entry(6, RetentionClass::Audit)).unwrap(), 6);
    drop(log);
    assert_eq!(verify(&paths, &v).unwrap().entries, 7);

    let parsed = read_log(&paths).unwrap();
    let first = parsed.entries().next().unwrap();
    assert_eq!(first.time, "2026-11-05T10:00:00.000000+01:00");
    assert_eq!(
        first.payload.as_ref().unwrap().reference.as_deref(),
        Some("INC-0")
    );
}

#[test]
fn the_key_file_is_private_and_a_second_writer_is_refused() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), &Clock::system());
    let mode = fs::metadata(&log.paths().key).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let dir_mode = fs::metadata(&log.paths().dir).unwrap().permissions().mode() & 0o777;
    assert_eq!(dir_mode, 0o700);
    assert!(matches!(
        AuditLog::open(dir.path(), Clock::system()),
        Err(AuditError::Locked { .. })
    ));
}

#[test]
fn every_one_byte_change_in_log_or_head_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let paths = small_log(dir.path());
    let v = verifier(dir.path());
    verify(&paths, &v).unwrap();
    for file in [&paths.log, &paths.head] {
        let original = fs::read(file).unwrap();
        for i in 0..original.len() {
            for mask in [0x01u8, 0x20, 0x80, 0xff] {
                let mut bytes = original.clone();
                bytes[i] ^= mask;
                fs::write(file, &bytes).unwrap();
                assert!(
                    is_detected(&paths, &v),
                    "flipping byte {i} of {} with {mask:#04x} went unnoticed",
                    file.display()
                );
            }
        }
        fs::write(file, &original).unwrap();
    }
    verify(&paths, &v).unwrap();
}

/// Byte ranges of the records (tag, length, body) after the header.
fn record_ranges(bytes: &[u8]) -> Vec<(u8, std::ops::Range<usize>)> {
    let mut out = Vec::new();
    let mut pos = 10;
    while pos < bytes.len() {
        let len = u32::from_le_bytes(bytes[pos + 1..pos + 5].try_into().unwrap()) as usize;
        out.push((bytes[pos], pos..pos + 5 + len));
        pos += 5 + len;
    }
    out
}

fn rewrite(
    paths: &AuditPaths,
    f: impl FnOnce(&[u8], Vec<(u8, std::ops::Range<usize>)>) -> Vec<u8>,
) {
    let bytes = fs::read(&paths.log).unwrap();
    let ranges = record_ranges(&bytes);
    fs::write(&paths.log, f(&bytes, ranges)).unwrap();
}

#[test]
fn deleting_an_entry_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let paths = small_log(dir.path());
    rewrite(&paths, |bytes, ranges| {
        let (_, r) = ranges
            .iter()
            .filter(|(t, _)| *t == b'E')
            .nth(3)
            .unwrap()
            .clone();
        [&bytes[..r.start], &bytes[r.end..]].concat()
    });
    let err = verify(&paths, &verifier(dir.path())).unwrap_err();
    assert!(err.to_string().contains("deleted"), "{err}");
}

#[test]
fn swapping_two_entries_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let paths = small_log(dir.path());
    rewrite(&paths, |bytes, ranges| {
        let entries: Vec<_> = ranges
            .iter()
            .filter(|(t, _)| *t == b'E')
            .map(|(_, r)| r.clone())
            .collect();
        // entries 0 and 1 are adjacent (one commit, one group)
        let (a, b) = (entries[0].clone(), entries[1].clone());
        [
            &bytes[..a.start],
            &bytes[b.clone()],
            &bytes[a],
            &bytes[b.end..],
        ]
        .concat()
    });
    assert!(is_detected(&paths, &verifier(dir.path())));
}

#[test]
fn truncating_the_tail_is_detected_by_the_head_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let paths = small_log(dir.path());
    let v = verifier(dir.path());
    let original = fs::read(&paths.log).unwrap();
    let ranges = record_ranges(&original);
    // Cut at every record boundary: the log stays well formed, only the head
    // knows it is short.
    for (_, r) in &ranges[..ranges.len() - 1] {
        fs::write(&paths.log, &original[..r.end]).unwrap();
        let err = verify(&paths, &v).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("cut off") || text.contains("not signed"),
            "{text}"
        );
    }
    // Cut inside a record.
    fs::write(&paths.log, &original[..original.len() - 3]).unwrap();
    assert!(is_detected(&paths, &v));
    // Both files cut back together to an earlier checkpoint is the one attack
    // the head cannot see: it needs a head published elsewhere.
    fs::write(&paths.log, &original).unwrap();
    verify(&paths, &v).unwrap();
}

/// An emptied (or deleted) log beside a head that names a checkpoint is not
/// a new log: opening it for writing is refused, so the head is not
/// overwritten and the truncation stays visible.
#[test]
fn an_emptied_log_is_not_reopened_as_a_new_one() {
    let dir = tempfile::tempdir().unwrap();
    let paths = small_log(dir.path());
    let head = fs::read(&paths.head).unwrap();
    for emptied in [true, false] {
        if emptied {
            fs::write(&paths.log, b"").unwrap();
        } else {
            fs::remove_file(&paths.log).unwrap();
        }
        let error = AuditLog::open(dir.path(), Clock::system()).unwrap_err();
        assert!(matches!(error, AuditError::Tampered { .. }), "{error}");
        assert!(
            error.to_string().contains("truncated or replaced"),
            "{error}"
        );
        assert_eq!(fs::read(&paths.head).unwrap(), head, "the head is kept");
    }
}

#[test]
fn a_log_signed_with_another_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let paths = small_log(dir.path());
    let other = CheckpointKey::generate().unwrap();
    assert!(is_detected(&paths, &other.verifier()));
}

#[test]
fn pruning_removes_expired_payloads_and_the_chain_still_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let paths = small_log(dir.path());
    let v = verifier(dir.path());
    // 2028: only the system entry (1 year) has expired.
    let report = prune(
        &paths,
        &v,
        &RetentionPolicy::default(),
        instant(2028, 1, 1, 0, 0, 0),
    )
    .unwrap();
    assert_eq!((report.pruned, report.kept), (1, 5));
    let verified = verify(&paths, &v).unwrap();
    assert_eq!((verified.entries, verified.pruned), (6, 1));
    let parsed = read_log(&paths).unwrap();
    let pruned: Vec<_> = parsed
        .entries()
        .filter(|e| e.pruned)
        .map(|e| e.seq)
        .collect();
    assert_eq!(pruned, [1]);
    // 2040, with audit kept 20 years: all but the audit entry.
    let mut policy = RetentionPolicy::default();
    policy.apply("audit=20y").unwrap();
    let report = prune(&paths, &v, &policy, instant(2040, 1, 1, 0, 0, 0)).unwrap();
    assert_eq!(
        (report.pruned, report.already_pruned, report.kept),
        (4, 1, 1)
    );
    assert_eq!(verify(&paths, &v).unwrap().pruned, 5);
    // The log can still be appended to.
    let mut log = open(dir.path(), &Clock::system());
    log.append(&entry(9, RetentionClass::System)).unwrap();
    drop(log);
    assert_eq!(verify(&paths, &v).unwrap().entries, 7);
}

#[test]
fn group_commit_from_many_threads_keeps_one_chain() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), &Clock::system());
    let paths = log.paths().clone();
    let writer = GroupCommitWriter::spawn(log).unwrap();
    std::thread::scope(|s| {
        for t in 0..8 {
            let writer = &writer;
            s.spawn(move || {
                for i in 0..50 {
                    writer
                        .append(entry(t * 100 + i, RetentionClass::Audit))
                        .unwrap();
                }
            });
        }
    });
    let bad = NewEntry::new(RetentionClass::Audit, "", "x");
    assert!(matches!(
        writer.append(bad),
        Err(AuditError::InvalidEntry { .. })
    ));
    let log = writer.close().unwrap();
    assert_eq!(log.next_seq(), 400);
    drop(log);
    let report = verify(&paths, &verifier(dir.path())).unwrap();
    assert_eq!(report.entries, 400);
    assert!(report.checkpoints <= 400);
}

#[test]
fn queries_filter_by_time_actor_and_action() {
    let dir = tempfile::tempdir().unwrap();
    let paths = small_log(dir.path());
    let parsed = read_log(&paths).unwrap();
    let count = |q: &Query| parsed.entries().filter(|e| q.matches(e)).count();
    assert_eq!(count(&Query::default()), 6);
    let q = Query {
        actor: Some("user0".into()),
        ..Query::default()
    };
    assert_eq!(count(&q), 2);
    let q = Query {
        action: Some("key.sign.*".into()),
        ..Query::default()
    };
    assert_eq!(count(&q), 6);
    let q = Query {
        since: Some(instant(2026, 11, 5, 10, 1, 1)),
        ..Query::default()
    };
    assert_eq!(count(&q), 4);
    let q = Query {
        until: Some(instant(2026, 11, 5, 9, 1, 0)),
        ..Query::default()
    };
    assert_eq!(count(&q), 2);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn any_bytes_are_read_without_panicking(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let mut with_header = b"ARGUSAUD\x01\x00".to_vec();
        with_header.extend_from_slice(&bytes);
        let _ = parse_log(&bytes);
        let _ = parse_log(&with_header);
        let key = CheckpointKey::from_bytes(&[7; 32]);
        let _ = verify_bytes(&with_header, Some(&bytes), &key.verifier());
    }

    #[test]
    fn entries_read_back_as_written(
        actor in "[a-z]{1,12}",
        action in "[a-z.]{1,16}",
        reason in ".{0,40}",
        reference in proptest::option::of("[A-Z]{3}-[0-9]{1,5}"),
        n in any::<i64>(),
        class in 0usize..4,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let clock = Clock::manual(at(2026, 1, 1, 0, 0, -5));
        let mut log = open(dir.path(), &clock);
        let mut e = NewEntry::new(RetentionClass::ALL[class], actor, action).at("h", "c").because(reason);
        e.payload.reference = reference;
        e.payload.details = Some(serde_json::json!({"n": n, "list": [1, "two"]}));
        log.append(&e).unwrap();
        drop(log);
        let parsed = read_log(&AuditPaths::new(dir.path())).unwrap();
        let back = parsed.entries().next().unwrap();
        prop_assert_eq!(back.payload.as_ref(), Some(&e.payload));
        prop_assert_eq!(back.class, e.class);
        let back_at = back.timestamp().unwrap();
        prop_assert_eq!(back_at.timestamp(), instant(2026, 1, 1, 0, 0, -5));
        prop_assert_eq!(back_at.offset(), Offset::constant(-5));
    }
}
