#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Recovering from a torn tail: every way a commit can be cut short is cut
//! off (with the cut bytes kept as evidence) and the log opens again; anything
//! else at the end of the log, or anything acknowledged missing, is refused
//! and the files are left exactly as they were.

use std::fs;
use std::ops::Range;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use argus_audit::{
    AuditError, AuditLog, AuditPaths, CheckpointKey, Clock, DEFAULT_GROUP_SIZE, NewEntry,
    RecoverReport, RetentionClass, recover, verify,
};
use jiff::SignedDuration;
use jiff::civil::datetime;
use jiff::tz::{Offset, TimeZone};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

/// The log's signing key. Fixed, so a test can reopen the log it built.
fn key() -> CheckpointKey {
    CheckpointKey::from_bytes(&[0x42; 32])
}

fn clock() -> Clock {
    let at = datetime(2026, 11, 5, 10, 0, 0, 0)
        .to_zoned_datetime(TimeZone::fixed(Offset::constant(1)))
        .unwrap();
    Clock::manual(at)
}

fn entry(i: usize) -> NewEntry {
    NewEntry::new(RetentionClass::Audit, format!("u{i}"), "key.sign").at("h", "vault")
}

fn open(paths: &AuditPaths, clock: &Clock) -> AuditLog {
    AuditLog::open_with_key(paths.clone(), key(), clock.clone()).unwrap()
}

/// Three acknowledged commits: 2 entries, 1 entry, 3 entries in groups of 2.
fn committed_log(dir: &Path) -> AuditPaths {
    let paths = AuditPaths::new(dir);
    let clock = clock();
    let mut log = open(&paths, &clock).with_group_size(2);
    log.append_batch(&[entry(0), entry(1)]).unwrap();
    clock.advance(SignedDuration::from_mins(1));
    log.append(&entry(2)).unwrap();
    clock.advance(SignedDuration::from_mins(1));
    log.append_batch(&[entry(3), entry(4), entry(5)]).unwrap();
    paths
}

/// A copy of the log and head files under `to`.
fn copy(paths: &AuditPaths, to: &Path) -> AuditPaths {
    let copy = AuditPaths::new(to);
    fs::create_dir_all(&copy.dir).unwrap();
    fs::copy(&paths.log, &copy.log).unwrap();
    if paths.head.exists() {
        fs::copy(&paths.head, &copy.head).unwrap();
    }
    copy
}

/// The bytes the next commit of `count` entries would append, made in a copy
/// (with the clock moved on, so the commit has a time of its own).
fn next_commit(paths: &AuditPaths, count: usize, group_size: usize) -> Vec<u8> {
    let scratch = tempfile::tempdir().unwrap();
    let copy = copy(paths, scratch.path());
    let before = fs::read(&copy.log).unwrap().len();
    let clock = clock();
    clock.advance(SignedDuration::from_hours(1));
    let mut log = open(&copy, &clock).with_group_size(group_size);
    let batch: Vec<_> = (100..100 + count).map(entry).collect();
    log.append_batch(&batch).unwrap();
    drop(log);
    fs::read(&copy.log).unwrap()[before..].to_vec()
}

/// The records of `bytes` (no header): tag and byte range.
fn records(bytes: &[u8]) -> Vec<(u8, Range<usize>)> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < bytes.len() {
        let len = u32::from_le_bytes(bytes[pos + 1..pos + 5].try_into().unwrap()) as usize;
        out.push((bytes[pos], pos..pos + 5 + len));
        pos += 5 + len;
    }
    out
}

/// The log and head bytes.
fn snapshot(paths: &AuditPaths) -> (Vec<u8>, Option<Vec<u8>>) {
    (fs::read(&paths.log).unwrap(), fs::read(&paths.head).ok())
}

/// The evidence files beside the log.
fn torn_files(paths: &AuditPaths) -> Vec<PathBuf> {
    let mut files: Vec<_> = fs::read_dir(&paths.dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("audit.log.torn-")
        })
        .collect();
    files.sort();
    files
}

/// Recovery refuses as tampering or corruption, and changes nothing.
#[track_caller]
fn assert_refused(paths: &AuditPaths, what: &str) -> AuditError {
    let before = snapshot(paths);
    let err = match recover(paths, &key().verifier()) {
        Ok(report) => panic!("{what}: recovered {report:?}"),
        Err(err) => err,
    };
    assert!(
        matches!(
            err,
            AuditError::Tampered { .. } | AuditError::Corrupt { .. }
        ),
        "{what}: {err}"
    );
    assert!(snapshot(paths) == before, "{what}: the files changed");
    assert!(torn_files(paths).is_empty(), "{what}: evidence was written");
    err
}

/// Writes `log` + `tail` into a fresh copy of `paths`, recovers, and checks
/// everything that must then hold. `kept` is how much of `tail` must stay,
/// `entries` how many entries the recovered log has.
#[track_caller]
fn recover_torn(
    paths: &AuditPaths,
    log: &[u8],
    tail: &[u8],
    kept: usize,
    entries: u64,
) -> RecoverReport {
    let dir = tempfile::tempdir().unwrap();
    let torn = copy(paths, dir.path());
    fs::write(&torn.log, [log, tail].concat()).unwrap();
    let v = key().verifier();
    assert!(verify(&torn, &v).is_err(), "a torn tail verified");

    let report = recover(&torn, &v).unwrap_or_else(|e| panic!("{} bytes torn: {e}", tail.len()));
    let cut = &tail[kept..];
    assert_eq!(report.kept_bytes, (log.len() + kept) as u64);
    assert_eq!(report.cut_bytes, cut.len() as u64);
    assert_eq!(report.next_seq, entries);
    assert_eq!(fs::read(&torn.log).unwrap(), [log, &tail[..kept]].concat());
    let evidence = report.evidence.clone().expect("an evidence file");
    assert_eq!(torn_files(&torn), std::slice::from_ref(&evidence));
    assert_eq!(fs::read(&evidence).unwrap(), cut);
    let mode = fs::metadata(&evidence).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);

    assert_eq!(verify(&torn, &v).unwrap().entries, entries);
    let mut reopened = open(&torn, &Clock::system());
    assert_eq!(reopened.append(&entry(999)).unwrap(), entries);
    drop(reopened);
    assert_eq!(verify(&torn, &v).unwrap().entries, entries + 1);
    report
}

/// Complete entry records in `bytes`.
fn whole_entries(bytes: &[u8], cut: usize) -> u64 {
    records(bytes)
        .iter()
        .filter(|(tag, r)| *tag == b'E' && r.end <= cut)
        .count() as u64
}

#[test]
fn every_cut_through_an_unfinished_commit_is_recovered() {
    let base = tempfile::tempdir().unwrap();
    let paths = committed_log(base.path());
    let original = fs::read(&paths.log).unwrap();
    assert_eq!(verify(&paths, &key().verifier()).unwrap().entries, 6);
    let extra = next_commit(&paths, 2, DEFAULT_GROUP_SIZE);
    assert_eq!(
        records(&extra).iter().map(|(t, _)| *t).collect::<Vec<_>>(),
        b"EEC"
    );
    for cut in 1..extra.len() {
        let report = recover_torn(&paths, &original, &extra[..cut], 0, 6);
        assert_eq!(
            report.cut_entries,
            whole_entries(&extra, cut),
            "cut at {cut}"
        );
    }
}

#[test]
fn the_signed_groups_of_a_split_commit_are_kept() {
    let base = tempfile::tempdir().unwrap();
    let paths = committed_log(base.path());
    let original = fs::read(&paths.log).unwrap();
    // Three entries in groups of two: E E C E C. A cut in the second group
    // keeps the first, which is signed (though its commit never returned).
    let extra = next_commit(&paths, 3, 2);
    let ranges = records(&extra);
    assert_eq!(ranges.iter().map(|(t, _)| *t).collect::<Vec<_>>(), b"EECEC");
    let first_group = ranges[2].1.end;
    for cut in (1..extra.len())
        .step_by(7)
        .chain([first_group, first_group + 1])
    {
        if cut == first_group {
            // Whole signed records only: the log verifies, nothing to cut.
            let dir = tempfile::tempdir().unwrap();
            let whole = copy(&paths, dir.path());
            fs::write(&whole.log, [&original[..], &extra[..cut]].concat()).unwrap();
            let report = recover(&whole, &key().verifier()).unwrap();
            assert_eq!((report.cut_bytes, report.next_seq), (0, 8));
            continue;
        }
        let (kept, entries) = if cut > first_group {
            (first_group, 8)
        } else {
            (0, 6)
        };
        let report = recover_torn(&paths, &original, &extra[..cut], kept, entries);
        let cut_entries = whole_entries(&extra, cut) - if kept > 0 { 2 } else { 0 };
        assert_eq!(report.cut_entries, cut_entries, "cut at {cut}");
    }
}

#[test]
fn a_first_commit_cut_short_leaves_an_empty_log() {
    let base = tempfile::tempdir().unwrap();
    let paths = AuditPaths::new(base.path());
    drop(open(&paths, &clock()));
    let header = fs::read(&paths.log).unwrap();
    assert_eq!(header.len(), 10);
    assert!(!paths.head.exists());
    let extra = next_commit(&paths, 2, DEFAULT_GROUP_SIZE);
    for cut in [1, 4, 5, 60, records(&extra)[0].1.end, extra.len() - 1] {
        let report = recover_torn(&paths, &header, &extra[..cut], 0, 0);
        assert_eq!(report.cut_entries, whole_entries(&extra, cut));
    }
}

#[test]
fn a_log_cut_short_while_it_was_created_is_emptied() {
    let base = tempfile::tempdir().unwrap();
    let paths = AuditPaths::new(base.path());
    fs::create_dir_all(&paths.dir).unwrap();
    fs::write(&paths.log, b"ARGUS").unwrap();
    let report = recover(&paths, &key().verifier()).unwrap();
    assert_eq!(
        (report.kept_bytes, report.cut_bytes, report.next_seq),
        (0, 5, 0)
    );
    assert_eq!(fs::read(report.evidence.unwrap()).unwrap(), b"ARGUS");
    assert!(fs::read(&paths.log).unwrap().is_empty());
    let mut log = open(&paths, &clock());
    log.append(&entry(0)).unwrap();
    drop(log);
    assert_eq!(verify(&paths, &key().verifier()).unwrap().entries, 1);

    // Not the start of a header: refused.
    let other = tempfile::tempdir().unwrap();
    let paths = AuditPaths::new(other.path());
    fs::create_dir_all(&paths.dir).unwrap();
    fs::write(&paths.log, b"ARGUX").unwrap();
    assert_refused(&paths, "a bad partial header");
}

#[test]
fn a_clean_log_is_left_alone() {
    let base = tempfile::tempdir().unwrap();
    let paths = committed_log(base.path());
    let before = snapshot(&paths);
    let report = recover(&paths, &key().verifier()).unwrap();
    assert_eq!(
        report,
        RecoverReport {
            kept_bytes: before.0.len() as u64,
            cut_bytes: 0,
            cut_entries: 0,
            evidence: None,
            next_seq: 6,
        }
    );
    assert!(snapshot(&paths) == before);
    assert!(torn_files(&paths).is_empty());

    // So is a log that was created and never written to.
    let empty = tempfile::tempdir().unwrap();
    let paths = AuditPaths::new(empty.path());
    fs::create_dir_all(&paths.dir).unwrap();
    fs::write(&paths.log, b"").unwrap();
    let report = recover(&paths, &key().verifier()).unwrap();
    assert_eq!((report.kept_bytes, report.cut_bytes), (0, 0));
}

#[test]
fn an_edited_acknowledged_byte_is_refused_even_under_a_torn_tail() {
    let base = tempfile::tempdir().unwrap();
    let paths = committed_log(base.path());
    let original = fs::read(&paths.log).unwrap();
    let extra = next_commit(&paths, 2, DEFAULT_GROUP_SIZE);
    let torn = extra[..extra.len() / 2].to_vec();
    let dir = tempfile::tempdir().unwrap();
    let copy = copy(&paths, dir.path());
    for (tail, masks) in [(&[][..], &[0x01u8][..]), (&torn, &[0x01, 0xff])] {
        for i in 0..original.len() {
            for &mask in masks {
                let mut bytes = [&original[..], tail].concat();
                bytes[i] ^= mask;
                fs::write(&copy.log, &bytes).unwrap();
                assert_refused(
                    &copy,
                    &format!("byte {i} ^ {mask:#04x}, {} torn bytes", tail.len()),
                );
            }
        }
    }
}

#[test]
fn a_deleted_commit_is_refused() {
    let base = tempfile::tempdir().unwrap();
    let paths = committed_log(base.path());
    let original = fs::read(&paths.log).unwrap();
    // Records: E E C | E C | E E C E C. Delete the middle commit.
    let ranges = records(&original[10..]);
    let middle = 10 + ranges[3].1.start..10 + ranges[4].1.end;
    fs::write(
        &paths.log,
        [&original[..middle.start], &original[middle.end..]].concat(),
    )
    .unwrap();
    let err = assert_refused(&paths, "a deleted commit");
    assert!(err.to_string().contains("deleted"), "{err}");
}

#[test]
fn a_log_cut_back_past_the_head_checkpoint_is_refused() {
    let base = tempfile::tempdir().unwrap();
    let paths = committed_log(base.path());
    let original = fs::read(&paths.log).unwrap();
    let extra = next_commit(&paths, 1, DEFAULT_GROUP_SIZE);
    // Every cut, at a record boundary or inside a record, in the last commit
    // or before it, down to an empty file: the head vouches for what was cut.
    for cut in 0..original.len() {
        fs::write(&paths.log, &original[..cut]).unwrap();
        let err = assert_refused(&paths, &format!("log cut at {cut}"));
        assert!(err.to_string().contains("head file"), "{err}");
    }
    // With the head file missing, a torn tail is no excuse either.
    fs::remove_file(&paths.head).unwrap();
    fs::write(&paths.log, [&original[..], &extra[..20]].concat()).unwrap();
    let err = assert_refused(&paths, "head file missing");
    assert!(err.to_string().contains("head file"), "{err}");
}

#[test]
fn a_tail_that_is_not_one_interrupted_commit_is_refused() {
    let base = tempfile::tempdir().unwrap();
    let paths = committed_log(base.path());
    let original = fs::read(&paths.log).unwrap();
    let extra = next_commit(&paths, 2, DEFAULT_GROUP_SIZE);
    let r = records(&extra);
    let (e6, e7, c) = (&extra[r[0].1.clone()], &extra[r[1].1.clone()], &r[2].1);

    let mut bad_signature = extra.clone();
    *bad_signature.last_mut().unwrap() ^= 1;
    let mut bad_root = extra.clone();
    bad_root[c.start + 5 + 16] ^= 1;
    // Two single-entry commits with their first checkpoint taken out: the
    // entries chain, but they are not one commit.
    let two = {
        let dir = tempfile::tempdir().unwrap();
        let copy = copy(&paths, dir.path());
        let clock = clock();
        clock.advance(SignedDuration::from_hours(1));
        let mut log = open(&copy, &clock);
        log.append(&entry(6)).unwrap();
        clock.advance(SignedDuration::from_secs(1));
        log.append(&entry(7)).unwrap();
        drop(log);
        fs::read(&copy.log).unwrap()[original.len()..].to_vec()
    };
    let t = records(&two);
    let unsigned_pair = [&two[t[0].1.clone()], &two[t[2].1.clone()]].concat();
    // Entry 7's record cut short, where entry 7 follows entry 6 in the log:
    // right place; after entry 7 it is the wrong sequence number.
    let e7_again = [e6, e7, &e7[..50]].concat();
    let class_at = 5 + 41 + usize::from(e7[45]);
    let mut wrong_class = [e6, &e7[..class_at + 2]].concat();
    wrong_class[e6.len() + class_at] = 9;

    let mut renumbered = e6.to_vec();
    renumbered[5] = 7;
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "a checkpoint with a bad signature",
            bad_signature,
            "signature",
        ),
        ("a checkpoint with a bad root", bad_root, "Merkle root"),
        (
            "entry 7 without entry 6",
            e7.to_vec(),
            "stands where entry 6",
        ),
        ("entry 6 twice", [e6, e6].concat(), "stands where entry 7"),
        ("entry 6 numbered 7", renumbered, "stands where entry 6"),
        (
            "garbage, then a torn commit",
            [&[0u8; 8][..], e6, &e7[..30]].concat(),
            "unknown record type 0x00",
        ),
        (
            "a torn commit after an unknown record",
            [b"Z\x02\x00\x00\x00ab", e6].concat(),
            "unknown record type 0x5a",
        ),
        (
            "a record of unknown type cut short",
            [e6, b"Z\xff\xff"].concat(),
            "unknown type 0x5a",
        ),
        (
            "entries from two commits",
            unsigned_pair,
            "not one interrupted commit",
        ),
        (
            "a partial entry with the wrong seq",
            e7_again,
            "does not follow",
        ),
        (
            "a partial entry with a bad class",
            wrong_class,
            "retention class",
        ),
        (
            "a partial checkpoint over nothing",
            extra[c.start..c.start + 40].to_vec(),
            "no unsigned entry",
        ),
        (
            "a partial checkpoint over one entry of two",
            [e6, &extra[c.start..c.start + 40]].concat(),
            "not the one over the entries",
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    let torn = copy(&paths, dir.path());
    for (what, tail, expected) in cases {
        fs::write(&torn.log, [&original[..], &tail].concat()).unwrap();
        let err = assert_refused(&torn, what).to_string();
        assert!(err.contains(expected), "{what}: {err}");
        assert!(err.contains("recovery cut nothing"), "{what}: {err}");
    }
}

#[test]
fn recovery_is_refused_while_a_writer_holds_the_log() {
    let base = tempfile::tempdir().unwrap();
    let paths = committed_log(base.path());
    let writer = open(&paths, &clock());
    assert!(matches!(
        recover(&paths, &key().verifier()),
        Err(AuditError::Locked { .. })
    ));
    drop(writer);
    assert_eq!(recover(&paths, &key().verifier()).unwrap().cut_bytes, 0);
}

#[test]
fn a_second_recovery_keeps_the_first_evidence() {
    let base = tempfile::tempdir().unwrap();
    let paths = committed_log(base.path());
    let original = fs::read(&paths.log).unwrap();
    let extra = next_commit(&paths, 2, DEFAULT_GROUP_SIZE);
    let v = key().verifier();
    let mut evidence = Vec::new();
    for cut in [30, 31] {
        fs::write(&paths.log, [&original[..], &extra[..cut]].concat()).unwrap();
        evidence.push(recover(&paths, &v).unwrap().evidence.unwrap());
    }
    assert_ne!(evidence[0], evidence[1]);
    assert_eq!(torn_files(&paths).len(), 2);
    assert_eq!(fs::read(&evidence[0]).unwrap(), &extra[..30]);
    assert_eq!(fs::read(&evidence[1]).unwrap(), &extra[..31]);
}

#[test]
fn any_bytes_after_the_log_are_cut_whole_or_refused_untouched() {
    let base = tempfile::tempdir().unwrap();
    let paths = committed_log(base.path());
    let original = fs::read(&paths.log).unwrap();
    let extra = next_commit(&paths, 2, DEFAULT_GROUP_SIZE);
    let v = key().verifier();
    let dir = tempfile::tempdir().unwrap();
    let torn = copy(&paths, dir.path());
    // A prefix of a real commit (to reach deep into the checks), then noise.
    let tails = (
        0..extra.len(),
        proptest::collection::vec(any::<u8>(), 0..200),
    );
    let mut runner = TestRunner::new(Config::with_cases(128));
    runner
        .run(&tails, |(real, noise)| {
            let tail = [&extra[..real], &noise].concat();
            for file in torn_files(&torn) {
                fs::remove_file(file).unwrap();
            }
            fs::write(&torn.log, [&original[..], &tail].concat()).unwrap();
            let before = snapshot(&torn);
            match recover(&torn, &v) {
                Ok(report) => {
                    prop_assert_eq!(report.kept_bytes, original.len() as u64);
                    let cut = report.evidence.map(|e| fs::read(e).unwrap());
                    prop_assert_eq!(cut.unwrap_or_default(), tail);
                    prop_assert_eq!(verify(&torn, &v).unwrap().entries, 6);
                }
                Err(AuditError::Tampered { .. } | AuditError::Corrupt { .. }) => {
                    prop_assert!(snapshot(&torn) == before);
                    prop_assert!(torn_files(&torn).is_empty());
                }
                Err(other) => prop_assert!(false, "unexpected error: {}", other),
            }
            Ok(())
        })
        .unwrap();
}
