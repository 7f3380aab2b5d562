//! `argus audit` end to end: the real binary on a scratch data directory.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::Path;

use assert_cmd::Command;
use serde_json::Value;

fn argus(data_dir: &Path) -> Command {
    let mut cmd = Command::cargo_bin("argus").unwrap();
    cmd.env("ARGUS_DATA_DIR", data_dir)
        .env_remove("ARGUS_AUDIT_NOW");
    cmd
}

fn record(data_dir: &Path, now: &str, actor: &str, action: &str, class: &str) {
    argus(data_dir)
        .args([
            "audit", "record", "--actor", actor, "--action", action, "--class", class,
        ])
        .args(["--reason", "test", "--reference", "INC-7", "--host", "h1"])
        .args(["--details", r#"{"key":"0xabc"}"#])
        .env("ARGUS_AUDIT_NOW", now)
        .assert()
        .success();
}

/// Four entries over two years, one of each class.
fn small_log(data_dir: &Path) {
    record(
        data_dir,
        "2024-01-01T09:00:00+01:00",
        "alice",
        "key.sign",
        "security",
    );
    record(
        data_dir,
        "2024-01-01T10:00:00+01:00",
        "bob",
        "config.change",
        "audit",
    );
    record(
        data_dir,
        "2025-06-01T10:00:00+00:00",
        "bot",
        "tx.submit",
        "transaction",
    );
    record(
        data_dir,
        "2025-06-02T10:00:00-04:00",
        "argus",
        "system.start",
        "system",
    );
}

fn verify_code(data_dir: &Path) -> Option<i32> {
    argus(data_dir)
        .args(["audit", "verify"])
        .output()
        .unwrap()
        .status
        .code()
}

fn json_lines(out: &[u8]) -> Vec<Value> {
    String::from_utf8(out.to_vec())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect()
}

#[test]
fn verify_reports_a_whole_log_as_ok() {
    let data = tempfile::tempdir().unwrap();
    small_log(data.path());
    let out = argus(data.path())
        .args(["audit", "verify", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["ok"], true);
    assert_eq!(doc["entries"], 4);
    assert_eq!(doc["head_last_seq"], 3);
}

#[test]
fn verify_catches_every_one_byte_change_in_every_file() {
    let data = tempfile::tempdir().unwrap();
    small_log(data.path());
    let audit = data.path().join("audit");
    for name in ["audit.log", "head"] {
        let path = audit.join(name);
        let original = fs::read(&path).unwrap();
        for i in 0..original.len() {
            let mut bytes = original.clone();
            bytes[i] ^= 0xff;
            fs::write(&path, &bytes).unwrap();
            assert_eq!(
                verify_code(data.path()),
                Some(1),
                "byte {i} of {name} flipped unnoticed"
            );
        }
        fs::write(&path, &original).unwrap();
    }
    assert_eq!(verify_code(data.path()), Some(0));
}

#[test]
fn deleting_swapping_and_truncating_are_caught() {
    let data = tempfile::tempdir().unwrap();
    small_log(data.path());
    let log = data.path().join("audit/audit.log");
    let original = fs::read(&log).unwrap();
    // Records after the 10-byte header: tag, u32 length, body.
    let mut ranges = Vec::new();
    let mut pos = 10;
    while pos < original.len() {
        let len = u32::from_le_bytes(original[pos + 1..pos + 5].try_into().unwrap()) as usize;
        ranges.push(pos..pos + 5 + len);
        pos += 5 + len;
    }
    assert_eq!(
        ranges.len(),
        8,
        "4 entries, each committed with its checkpoint"
    );
    // Delete entry 1 with its checkpoint: the sequence numbers jump.
    let cut = [&original[..ranges[2].start], &original[ranges[3].end..]].concat();
    fs::write(&log, cut).unwrap();
    assert_eq!(verify_code(data.path()), Some(1));
    // Swap commits 1 and 2.
    let swapped = [
        &original[..ranges[2].start],
        &original[ranges[4].start..ranges[5].end],
        &original[ranges[2].start..ranges[3].end],
        &original[ranges[6].start..],
    ]
    .concat();
    fs::write(&log, swapped).unwrap();
    assert_eq!(verify_code(data.path()), Some(1));
    // Truncate the last commit cleanly: only the head checkpoint can tell.
    fs::write(&log, &original[..ranges[5].end]).unwrap();
    let out = argus(data.path())
        .args(["audit", "verify"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cut off"));
    fs::write(&log, &original).unwrap();
    assert_eq!(verify_code(data.path()), Some(0));
}

#[test]
fn prune_removes_expired_payloads_and_keeps_the_chain() {
    let data = tempfile::tempdir().unwrap();
    small_log(data.path());
    // 2026-07: the system entry (1 year) has expired, nothing else.
    let out = argus(data.path())
        .args(["audit", "prune", "--now", "2026-07-01T00:00:00Z", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["report"]["pruned"], 1);
    assert_eq!(verify_code(data.path()), Some(0));
    // security kept 10 years instead of 7: in 2031 all but it are gone.
    let out = argus(data.path())
        .args([
            "audit",
            "prune",
            "--now",
            "2031-06-01T00:00:00Z",
            "--retain",
            "security=10y",
            "--json",
        ])
        .output()
        .unwrap();
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["report"]["pruned"], 2);
    assert_eq!(doc["report"]["kept"], 1);
    assert_eq!(verify_code(data.path()), Some(0));
    let out = argus(data.path())
        .args(["audit", "export"])
        .output()
        .unwrap();
    let entries = json_lines(&out.stdout);
    let pruned: Vec<bool> = entries
        .iter()
        .map(|e| e["pruned"].as_bool().unwrap())
        .collect();
    assert_eq!(pruned, [false, true, true, true]);
    assert!(
        entries[1].get("actor").is_none(),
        "a pruned entry keeps no payload"
    );
    assert_eq!(entries[0]["actor"], "alice");
}

#[test]
fn export_tail_and_query() {
    let data = tempfile::tempdir().unwrap();
    small_log(data.path());
    let out = argus(data.path())
        .args(["audit", "export", "--checkpoints"])
        .output()
        .unwrap();
    let records = json_lines(&out.stdout);
    assert_eq!(records.len(), 8);
    assert_eq!(records[0]["record"], "entry");
    assert_eq!(records[0]["time"], "2024-01-01T09:00:00.000000+01:00");
    assert_eq!(records[0]["details"]["key"], "0xabc");
    assert_eq!(records[1]["record"], "checkpoint");

    let out = argus(data.path())
        .args(["audit", "tail", "-n", "2", "--json"])
        .output()
        .unwrap();
    let seqs: Vec<u64> = json_lines(&out.stdout)
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, [2, 3]);

    let out = argus(data.path())
        .args(["audit", "tail", "-n", "1"])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("system.start") && text.contains("[INC-7]"),
        "{text}"
    );

    let query = |args: &[&str]| -> Vec<u64> {
        let out = argus(data.path())
            .args(["audit", "query", "--json"])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        json_lines(&out.stdout)
            .iter()
            .map(|e| e["seq"].as_u64().unwrap())
            .collect()
    };
    assert_eq!(query(&["--actor", "bob"]), [1]);
    assert_eq!(query(&["--action", "key.*"]), [0]);
    assert_eq!(query(&["--since", "2025-01-01T00:00:00Z"]), [2, 3]);
    assert_eq!(
        query(&[
            "--since",
            "2024-01-01T08:30:00Z",
            "--until",
            "2025-06-01T10:00:00Z"
        ]),
        [1]
    );
}

#[test]
fn a_missing_log_is_an_error_that_says_what_to_do() {
    let data = tempfile::tempdir().unwrap();
    let out = argus(data.path())
        .args(["audit", "verify"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no audit log"));
}
