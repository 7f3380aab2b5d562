#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Writes the golden log with the code before the move to jiff.
use argus_audit::{AuditPaths, CheckpointKey, Clock, NewEntry, RetentionClass};
use time::macros::datetime;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

#[test]
fn write_golden() {
    let times = [
        datetime!(2026-11-05 10:00:00 +01:00),
        datetime!(2026-11-05 09:00:00.123456789 UTC),
        datetime!(2026-03-29 01:59:59.999999999 +02:00),
        datetime!(1999-12-31 23:59:59.000001 -05:30),
        datetime!(2026-06-01 12:00:00.5 -00:30),
        datetime!(2026-06-01 12:00:00.000000999 +05:45),
        datetime!(2026-06-01 12:00:00 +01:02:03),
        datetime!(0999-01-01 00:00:00 +23:59),
    ];
    let out = std::path::Path::new("/tmp/argus-old/out");
    let _ = std::fs::remove_dir_all(out.join("audit"));
    let paths = AuditPaths::new(out);
    let clock = Clock::manual(times[0]);
    let mut log = argus_audit::AuditLog::open_with_key(paths, CheckpointKey::from_bytes(&[0x42; 32]), clock.clone()).unwrap();
    for (i, t) in times.iter().enumerate() {
        clock.set(*t);
        let entry = NewEntry::new(RetentionClass::ALL[i % 4], format!("user{i}"), "key.sign")
            .at("host-a", "vault")
            .because("golden")
            .details(serde_json::json!({"i": i}));
        if i == 2 {
            log.append_batch(&[entry.clone(), entry]).unwrap();
        } else {
            log.append(&entry).unwrap();
        }
    }
    drop(log);
    let mut lines = String::new();
    for t in times {
        lines.push_str(&argus_audit::format::format_time(t));
        lines.push('\n');
    }
    std::fs::write(out.join("times.txt"), lines).unwrap();
    // parse errors
    let bad = ["", "yesterday", "2026-11-05", "2026-11-05T10:00:00", "2026-00-05T10:00:00Z", "2026-13-05T10:00:00Z",
        "2026-02-30T10:00:00Z", "2026-11-05T24:00:00Z", "2026-11-05T10:60:00Z", "2026-11-05T10:00:61Z",
        "2026-11-05T10:00:60Z", "2026-12-31T23:59:60Z", "2026-11-05T10:00:00.Z", "2026-11-05T10:00:00+24:00",
        "2026-11-05T10:00:00+01:60", "2026-11-05T10:00:00+0100", "2026-11-05T10:00:00+01:00x", "2026-11-05x10:00:00Z",
        "2026-11-05 10:00:00z", "2026-11-05T10:00:00.1234567891234-00:00", "26-11-05T10:00:00Z", "2026/11/05T10:00:00Z",
        "2026-11-05T10:00Z", "2026-06-30T21:59:60-02:00", "2026-11-05T1:00:00Z",
        "2016-12-31T23:59:60Z", "2017-01-01T00:59:60+01:00", "2016-12-31T23:59:60.5Z", "2016-06-30T23:59:60-00:00",
        "2016-12-30T23:59:60Z", "2024-02-29T12:00:00Z", "2023-02-29T12:00:00Z", "2026-11-05t10:00:00.000000+01:00",
        "2026-11-05T10:00:00.123456789+02:00", "2026-11-05T10:00:00-00:00", "2026-11-05T10:00:00+00:00", "0000-01-01T00:00:00+01:00",
        "2026-11-05T10:00:00.000000+01:00", "2026-11-05\u{e9}10:00:00Z", "2026-11-05T10:00:00+1:00", "2026-11-05T10:00:00+01:0",
        "2026-11-05T10:00:00 +01:00", "2026-11-05T10:00:00+01:00\n", "-2026-11-05T10:00:00Z", "+2026-11-05T10:00:00Z"];
    let mut cases = Vec::new();
    for b in bad {
        let r = OffsetDateTime::parse(b, &Rfc3339);
        cases.push(serde_json::json!([b, match r { Ok(t) => format!("ok {}", argus_audit::format::format_time(t)), Err(e) => format!("err {e}") }]));
    }
    std::fs::write(out.join("parse.json"), serde_json::to_string_pretty(&cases).unwrap()).unwrap();
}
