#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The time in entries and checkpoints, pinned byte for byte.
//!
//! The time string is hashed into the chain and signed, so it must never
//! change form. `testdata/audit-v1/` holds a log written by the code before
//! Argus moved from the `time` crate to `jiff` (fixed key, manual clock, times
//! in several offsets, with nanoseconds to truncate), and the answers the old
//! RFC 3339 reader gave for good and bad input. Today's code must read and
//! verify that log, write exactly the same bytes for the same entries, and
//! read times (and word its refusals) as before.

use std::path::Path;

use argus_audit::{
    AuditLog, AuditPaths, CheckpointKey, Clock, NewEntry, RetentionClass, format_time, parse_log,
    parse_time, verify_bytes,
};
use jiff::ZonedDateTime;
use jiff::civil::datetime;
use jiff::tz::{Offset, TimeZone};

const OLD_LOG: &[u8] = include_bytes!("../../../testdata/audit-v1/audit/audit.log");
const OLD_HEAD: &[u8] = include_bytes!("../../../testdata/audit-v1/audit/head");
const OLD_PARSE: &str = include_str!("../../../testdata/audit-v1/parse.json");

/// The times the golden log's commits were stamped with, and how each is
/// written.
fn times() -> Vec<(ZonedDateTime, &'static str)> {
    let at = |y, mo, d, h, mi, s, ns, offset_s| {
        datetime(y, mo, d, h, mi, s, ns)
            .to_zoned_datetime(TimeZone::fixed(Offset::from_seconds(offset_s).unwrap()))
            .unwrap()
    };
    vec![
        (
            at(2026, 11, 5, 10, 0, 0, 0, 3600),
            "2026-11-05T10:00:00.000000+01:00",
        ),
        // UTC is written +00:00, never Z.
        (
            at(2026, 11, 5, 9, 0, 0, 123_456_789, 0),
            "2026-11-05T09:00:00.123456+00:00",
        ),
        // Truncated, never rounded into the next second.
        (
            at(2026, 3, 29, 1, 59, 59, 999_999_999, 7200),
            "2026-03-29T01:59:59.999999+02:00",
        ),
        (
            at(1999, 12, 31, 23, 59, 59, 1_000, -(5 * 3600 + 30 * 60)),
            "1999-12-31T23:59:59.000001-05:30",
        ),
        // A negative offset under an hour keeps its sign.
        (
            at(2026, 6, 1, 12, 0, 0, 500_000_000, -30 * 60),
            "2026-06-01T12:00:00.500000-00:30",
        ),
        (
            at(2026, 6, 1, 12, 0, 0, 999, 5 * 3600 + 45 * 60),
            "2026-06-01T12:00:00.000000+05:45",
        ),
        // An offset's seconds are dropped.
        (
            at(2026, 6, 1, 12, 0, 0, 0, 3600 + 2 * 60 + 3),
            "2026-06-01T12:00:00.000000+01:02",
        ),
        (
            at(999, 1, 1, 0, 0, 0, 0, 23 * 3600 + 59 * 60),
            "0999-01-01T00:00:00.000000+23:59",
        ),
    ]
}

fn key() -> CheckpointKey {
    CheckpointKey::from_bytes(&[0x42; 32])
}

/// What the golden log holds: one commit per time (two entries at the
/// third), as the generator wrote it.
fn write_golden(dir: &Path) -> AuditPaths {
    let times = times();
    let paths = AuditPaths::new(dir);
    let clock = Clock::manual(times[0].0.clone());
    let mut log = AuditLog::open_with_key(paths.clone(), key(), clock.clone()).unwrap();
    for (i, (at, _)) in times.iter().enumerate() {
        clock.set(at.clone());
        let entry = NewEntry::new(RetentionClass::ALL[i % 4], format!("user{i}"), "key.sign")
            .at("host-a", "vault")
            .because("golden")
            .details(serde_json::json!({ "i": i }));
        if i == 2 {
            log.append_batch(&[entry.clone(), entry]).unwrap();
        } else {
            log.append(&entry).unwrap();
        }
    }
    drop(log);
    paths
}

#[test]
fn a_log_written_before_jiff_reads_and_verifies() {
    let report = verify_bytes(OLD_LOG, Some(OLD_HEAD), &key().verifier()).unwrap();
    assert_eq!(report.entries, 9);
    let parsed = parse_log(OLD_LOG).unwrap();
    let mut expected: Vec<&str> = times().iter().map(|(_, text)| *text).collect();
    expected.insert(2, expected[2]);
    let written: Vec<&str> = parsed.entries().map(|e| e.time.as_str()).collect();
    assert_eq!(written, expected);
    for entry in parsed.entries() {
        let at = entry.timestamp().expect("every old time parses");
        assert_eq!(format_time(&at), entry.time, "formats back identically");
    }
    let checkpoint = parsed.last_checkpoint().unwrap();
    assert_eq!(checkpoint.time, "0999-01-01T00:00:00.000000+23:59");
}

#[test]
fn the_same_entries_are_written_byte_for_byte_as_before() {
    let dir = tempfile::tempdir().unwrap();
    let paths = write_golden(dir.path());
    assert!(
        std::fs::read(&paths.log).unwrap() == OLD_LOG,
        "the log differs from the one written before"
    );
    assert_eq!(std::fs::read(&paths.head).unwrap(), OLD_HEAD);
}

#[test]
fn times_are_formatted_as_before() {
    for (at, text) in times() {
        assert_eq!(format_time(&at), text);
    }
    // Parsing keeps the offset it reads; Z and -00:00 are UTC, written +00:00.
    let cases = [
        ("2026-11-05T09:00:00Z", "2026-11-05T09:00:00.000000+00:00"),
        ("2026-11-05t09:00:00z", "2026-11-05T09:00:00.000000+00:00"),
        (
            "2026-11-05T10:00:00-00:00",
            "2026-11-05T10:00:00.000000+00:00",
        ),
        (
            "2026-11-05 10:00:00+02:00",
            "2026-11-05T10:00:00.000000+02:00",
        ),
        (
            "2026-11-05T10:00:00.1234567891+02:00",
            "2026-11-05T10:00:00.123456+02:00",
        ),
        (
            "2026-11-05T10:00:00.5-09:30",
            "2026-11-05T10:00:00.500000-09:30",
        ),
    ];
    for (input, written) in cases {
        assert_eq!(format_time(&parse_time(input).unwrap()), written, "{input}");
    }
}

#[test]
fn times_are_read_and_refused_as_before() {
    let cases: Vec<(String, String)> = serde_json::from_str(OLD_PARSE).unwrap();
    assert!(cases.len() > 40);
    for (input, before) in cases {
        let now = match parse_time(&input) {
            Ok(at) => format!("ok {}", format_time(&at)),
            Err(e) => format!("err {e}"),
        };
        assert_eq!(now, before, "{input:?}");
    }
}
