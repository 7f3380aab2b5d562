//! `argus audit` end to end: the real binary on a scratch data directory.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::Path;

use assert_cmd::Command;
use serde_json::Value;

/// Unseals the checkpoint signing key the vault holds.
const MASTER: &str = "q7Vd0mJ3xR9sL2kP8wZ4tY6uB1nC5eA0fG3hI7jK9lM=";

fn argus(data_dir: &Path) -> Command {
    let mut cmd = Command::cargo_bin("argus").unwrap();
    cmd.env("ARGUS_DATA_DIR", data_dir)
        .env("ARGUS_MASTER_KEY", MASTER)
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

/// Runs `argus` with `args`, which must succeed, and parses its JSON output.
fn json_ok(data_dir: &Path, args: &[&str]) -> Value {
    let out = argus(data_dir).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
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
    // Four entries within an hour: one file (`small_log` spans two years,
    // so its active file has been sealed into a segment by then).
    for (i, action) in ["key.sign", "config.change", "tx.submit", "system.start"]
        .iter()
        .enumerate()
    {
        record(
            data.path(),
            &format!("2024-01-01T09:0{i}:00+01:00"),
            "alice",
            action,
            "audit",
        );
    }
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
    let doc = json_ok(
        data.path(),
        &["audit", "prune", "--now", "2026-07-01T00:00:00Z", "--json"],
    );
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

/// The checkpoint key is sealed in the vault: nothing secret sits beside the
/// log, and a write without the master key is refused.
#[test]
fn the_checkpoint_key_lives_in_the_vault() {
    let data = tempfile::tempdir().unwrap();
    small_log(data.path());
    let audit = data.path().join("audit");
    assert!(!audit.join("checkpoint.key").exists());
    assert!(audit.join("checkpoint.pub").exists());
    let out = argus(data.path())
        .args(["keys", "secret", "list", "--json"])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("argus.audit-checkpoint"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // No master key: no signature, no entry.
    let before = fs::read(audit.join("audit.log")).unwrap();
    let out = argus(data.path())
        .env_remove("ARGUS_MASTER_KEY")
        .args(["audit", "record", "--actor", "ops", "--action", "x.y"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("ARGUS_MASTER_KEY"));
    assert_eq!(fs::read(audit.join("audit.log")).unwrap(), before);

    // Argus manages the key: an operator cannot remove or replace it.
    for args in [
        &["keys", "secret", "remove", "argus.audit-checkpoint"][..],
        &["keys", "secret", "set", "argus.audit-checkpoint"][..],
    ] {
        let out = argus(data.path())
            .args(args)
            .env("ARGUS_SECRET_VALUE", "x")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("checkpoint signing key"));
    }

    // A replaced public key is noticed before anything is written.
    let public = fs::read_to_string(audit.join("checkpoint.pub")).unwrap();
    fs::write(
        audit.join("checkpoint.pub"),
        format!("{}\n", "ab".repeat(32)),
    )
    .unwrap();
    let out = argus(data.path())
        .args(["audit", "record", "--actor", "ops", "--action", "x.y"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("not the public half"), "{stderr}");
    assert!(
        stderr.contains(public.trim()),
        "names the vault's key: {stderr}"
    );
    assert_eq!(fs::read(audit.join("audit.log")).unwrap(), before);
    fs::write(audit.join("checkpoint.pub"), &public).unwrap();
    assert_eq!(verify_code(data.path()), Some(0));
}

/// A log started by an older Argus, its key in `checkpoint.key`: the first
/// write with the master key seals the key into the vault, shreds the file,
/// and the whole log (old entries and new) verifies under the same key.
#[test]
fn a_checkpoint_key_file_moves_into_the_vault() {
    let data = tempfile::tempdir().unwrap();
    {
        let mut log =
            argus_audit::AuditLog::open(data.path(), argus_audit::Clock::system()).unwrap();
        let entry =
            argus_audit::NewEntry::new(argus_audit::RetentionClass::Audit, "ops", "old.entry");
        log.append(&entry).unwrap();
    }
    let audit = data.path().join("audit");
    let public = fs::read_to_string(audit.join("checkpoint.pub")).unwrap();
    assert!(audit.join("checkpoint.key").exists());

    let doctor = argus(data.path())
        .args(["doctor", "--json"])
        .output()
        .unwrap();
    let doc: Value = serde_json::from_slice(&doctor.stdout).unwrap();
    let check = doc["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "audit-key")
        .unwrap()
        .clone();
    assert_eq!(check["status"], "warn", "{check}");
    assert!(check["fix"].as_str().unwrap().contains("ARGUS_MASTER_KEY"));

    let out = argus(data.path())
        .args([
            "audit",
            "record",
            "--actor",
            "ops",
            "--action",
            "audit.key-sealed",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("moved the audit checkpoint key"));
    assert!(
        !audit.join("checkpoint.key").exists(),
        "the file is shredded"
    );
    assert_eq!(
        fs::read_to_string(audit.join("checkpoint.pub")).unwrap(),
        public
    );
    let out = argus(data.path())
        .args(["audit", "verify", "--public-key", public.trim()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let out = argus(data.path())
        .args(["audit", "tail", "--json"])
        .output()
        .unwrap();
    let actions: Vec<String> = json_lines(&out.stdout)
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(actions, ["old.entry", "audit.key-sealed"]);
}

/// A log whose key was lost cannot be extended (a new key would not verify
/// its old checkpoints); the error says what to do.
#[test]
fn a_log_whose_key_is_lost_is_not_extended() {
    let data = tempfile::tempdir().unwrap();
    small_log(data.path());
    fs::remove_dir_all(data.path().join("keystore")).unwrap();
    let before = fs::read(data.path().join("audit/audit.log")).unwrap();
    let out = argus(data.path())
        .args(["audit", "record", "--actor", "ops", "--action", "x.y"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot be extended"));
    assert_eq!(
        fs::read(data.path().join("audit/audit.log")).unwrap(),
        before
    );
    assert_eq!(verify_code(data.path()), Some(0), "it still verifies");
}

/// A crash in the middle of a commit leaves a torn tail: verify and every
/// writer refuse the log until `argus audit recover` cuts the tail off
/// (keeping it as evidence) and records that it did. An edited entry is
/// never "recovered".
#[test]
fn recover_cuts_a_torn_commit_and_refuses_tampering() {
    let data = tempfile::tempdir().unwrap();
    small_log(data.path());
    let log = data.path().join("audit/audit.log");
    let original = fs::read(&log).unwrap();
    // The bytes of one more commit, from a copy of the data directory.
    let copy = tempfile::tempdir().unwrap();
    let status = std::process::Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", data.path().display()))
        .arg(copy.path())
        .status()
        .unwrap();
    assert!(status.success());
    record(
        copy.path(),
        "2025-06-03T10:00:00Z",
        "bot",
        "tx.submit",
        "transaction",
    );
    let longer = fs::read(copy.path().join("audit/audit.log")).unwrap();
    let commit = &longer[original.len()..];
    let torn = &commit[..commit.len() / 2];
    fs::write(&log, [&original[..], torn].concat()).unwrap();

    let out = argus(data.path())
        .args(["audit", "verify"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("argus audit recover"));
    let out = argus(data.path())
        .args(["audit", "record", "--actor", "ops", "--action", "x.y"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "a torn log is not extended");

    let plan = json_ok(data.path(), &["audit", "recover", "--dry-run", "--json"]);
    assert_eq!(plan["cut_bytes"], torn.len());
    assert_eq!(
        fs::read(&log).unwrap(),
        [&original[..], torn].concat(),
        "a dry run changes nothing"
    );
    let report = json_ok(
        data.path(),
        &["audit", "recover", "--reason", "power loss", "--json"],
    );
    assert_eq!(report["cut_bytes"], torn.len());
    assert_eq!(report["kept_bytes"], original.len());
    assert_eq!(report["recorded_seq"], 4);
    let evidence = report["evidence"].as_str().unwrap();
    assert_eq!(fs::read(evidence).unwrap(), torn, "the cut bytes are kept");
    assert_eq!(verify_code(data.path()), Some(0));
    let out = argus(data.path())
        .args(["audit", "tail", "-n", "1", "--json"])
        .output()
        .unwrap();
    let last = &json_lines(&out.stdout)[0];
    assert_eq!(last["action"], "audit.recovered");
    assert_eq!(last["reason"], "power loss");
    assert_eq!(last["details"]["cut_bytes"], torn.len());

    // Nothing to do on a log that verifies.
    let out = argus(data.path())
        .args(["audit", "recover"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("nothing to recover"));

    // An edited entry followed by a torn tail: refused, nothing changed.
    let mut edited = fs::read(&log).unwrap();
    edited[40] ^= 1;
    edited.extend_from_slice(torn);
    fs::write(&log, &edited).unwrap();
    let out = argus(data.path())
        .args(["audit", "recover"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("REFUSED"));
    assert_eq!(fs::read(&log).unwrap(), edited);
}

#[test]
fn a_rollback_to_a_checkpoint_boundary_is_caught_by_a_published_head() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    for i in 0..5 {
        record(
            data,
            &format!("2026-11-0{}T10:00:00+00:00", i + 1),
            "alice",
            &format!("act.{i}"),
            "audit",
        );
    }
    // The head published before the attack, kept elsewhere.
    let published = dir.path().join("published-head.json");
    let out = argus(data)
        .args(["audit", "head", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    fs::write(&published, &out.stdout).unwrap();
    argus(data)
        .args(["audit", "verify", "--head"])
        .arg(&published)
        .assert()
        .success()
        .stdout(predicates::str::contains(
            "extends the witnessed head of 5 entries",
        ));

    // The attack: cut audit.log right after its third checkpoint record and
    // copy that record into audit/head.
    argus_testkit::audit::roll_back_to_checkpoint(&data.join("audit"), 3);

    // Local files alone cannot tell.
    argus(data)
        .args(["audit", "verify"])
        .assert()
        .success()
        .stdout(predicates::str::contains("ok: 3 entries"));

    // Against the published head, it fails with what happened and what to do.
    let out = argus(data)
        .args(["audit", "verify", "--head"])
        .arg(&published)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "the log is behind the witnessed head (3 entries, the head has 5): it was rolled \
             back or truncated"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("open an incident"), "{stderr}");
    let out = argus(data)
        .args(["audit", "verify", "--json", "--head"])
        .arg(&published)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["ok"], false);

    // Appending on does not hide it: the log now diverges.
    for i in 0..2 {
        record(
            data,
            &format!("2026-11-1{i}T10:00:00+00:00"),
            "mallory",
            "act.forged",
            "audit",
        );
    }
    let out = argus(data)
        .args(["audit", "verify", "--head"])
        .arg(&published)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("the log diverges from the witnessed head at or before entry 4"),
        "{stderr}"
    );
}

#[test]
fn verify_head_refuses_what_is_not_a_head_of_this_log() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    small_log(data);
    // The human form carries no signature: exit 2, saying what to give.
    let human = dir.path().join("human.txt");
    let out = argus(data).args(["audit", "head"]).output().unwrap();
    fs::write(&human, &out.stdout).unwrap();
    let out = argus(data)
        .args(["audit", "verify", "--head"])
        .arg(&human)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("argus audit head --json"), "{stderr}");

    // A head of another log (another key): exit 1.
    let other = tempfile::tempdir().unwrap();
    small_log(other.path());
    let foreign = dir.path().join("foreign.json");
    let out = argus(other.path())
        .args(["audit", "head", "--json"])
        .output()
        .unwrap();
    fs::write(&foreign, &out.stdout).unwrap();
    let out = argus(data)
        .args(["audit", "verify", "--head"])
        .arg(&foreign)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("the head is not signed by this log's key"),
        "{stderr}"
    );

    // A missing file: exit 2, naming it.
    let out = argus(data)
        .args(["audit", "verify", "--head"])
        .arg(dir.path().join("nope.json"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope.json"));
}
