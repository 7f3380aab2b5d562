//! `argus backup` end to end: the real binary, Debian's `age-keygen`, a
//! data directory made by the real commands (a token in the database, a key
//! in the vault, entries in the audit log), restored into a new directory
//! that the real commands then read.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::{Path, PathBuf};

use assert_cmd::Command;

const MASTER: &str = "q7Vd0mJ3xR9sL2kP8wZ4tY6uB1nC5eA0fG3hI7jK9lM=";

fn argus(data_dir: &Path) -> Command {
    let mut cmd = Command::cargo_bin("argus").unwrap();
    cmd.env("ARGUS_DATA_DIR", data_dir)
        .env("ARGUS_MASTER_KEY", MASTER)
        .env_remove("ARGUS_AUDIT_NOW")
        .env_remove("ARGUS_BACKUP_PASSPHRASE");
    cmd
}

fn keygen(path: &Path) -> String {
    let out = std::process::Command::new("age-keygen")
        .arg("-o")
        .arg(path)
        .output()
        .expect("age-keygen (Debian's `age` package) must be installed");
    assert!(out.status.success());
    let out = std::process::Command::new("age-keygen")
        .arg("-y")
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn stdout(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn create_list_verify_restore_and_the_restored_node_reads_as_before() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let offsite = dir.path().join("offsite");
    fs::create_dir_all(&offsite).unwrap();
    let identity = dir.path().join("identity.txt");
    let recipient = keygen(&identity);
    let wrong = dir.path().join("wrong.txt");
    keygen(&wrong);

    // A node's state through the real commands.
    argus(&data)
        .args(["keys", "create", "--label", "guardian"])
        .assert()
        .success();
    argus(&data)
        .args(["tokens", "create", "--name", "alice", "--role", "viewer"])
        .assert()
        .success();
    let config = dir.path().join("argus.yaml");
    fs::write(
        &config,
        format!(
            "data_dir: data\nchains: [{{ chain: anvil, rpc: [ws://127.0.0.1:8545] }}]\nbackup:\n  recipients: [{recipient}]\n  destinations:\n    - dir: offsite\n  retention: {{ keep_last: 5 }}\n"
        ),
    )
    .unwrap();

    let name = stdout(
        argus(&data)
            .args(["backup", "create", "-c"])
            .arg(&config)
            .args(["--reason", "nightly"]),
    );
    let name = name.trim();
    assert!(
        name.starts_with("argus-backup-") && name.ends_with(".tar.age"),
        "{name}"
    );
    let file: PathBuf = offsite.join(name);
    assert!(file.is_file());
    // The act is in the source's audit log, with who and why.
    let log = stdout(argus(&data).args(["audit", "query", "--action", "backup.*", "--json"]));
    assert!(
        log.contains("backup.create") && log.contains("nightly"),
        "{log}"
    );

    let listed = stdout(argus(&data).args(["backup", "list", "-c"]).arg(&config));
    assert!(listed.contains(name), "{listed}");

    let verified = stdout(
        argus(&data)
            .args(["backup", "verify", "-c"])
            .arg(&config)
            .arg("--identity")
            .arg(&identity),
    );
    assert!(verified.starts_with("ok:"), "{verified}");
    // The config's identity (for the daily check) serves without --identity.
    let with_identity = dir.path().join("argus-with-identity.yaml");
    fs::write(
        &with_identity,
        format!(
            "{}  identity: identity.txt\n",
            fs::read_to_string(&config).unwrap()
        ),
    )
    .unwrap();
    let verified = stdout(
        argus(&data)
            .args(["backup", "verify", "-c"])
            .arg(&with_identity),
    );
    assert!(verified.starts_with("ok:"), "{verified}");

    // The wrong identity: exit 1, a clear reason, no secret printed.
    let out = argus(&data)
        .args(["backup", "verify"])
        .arg(&file)
        .arg("--identity")
        .arg(&wrong)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("none of the identities"), "{err}");
    assert!(!err.contains("AGE-SECRET-KEY"), "{err}");

    // Restored into a new directory, the real commands read it as before.
    let restored = dir.path().join("restored");
    argus(&restored)
        .args(["backup", "restore"])
        .arg(&file)
        .arg("--into")
        .arg(&restored)
        .arg("--identity")
        .arg(&identity)
        .args(["--reason", "disaster recovery drill"])
        .assert()
        .success();
    argus(&restored)
        .args(["audit", "verify"])
        .assert()
        .success();
    let keys = stdout(argus(&restored).args(["keys", "list"]));
    assert!(keys.contains("guardian"), "{keys}");
    let tokens = stdout(argus(&restored).args(["tokens", "list"]));
    assert!(tokens.contains("alice"), "{tokens}");
    let log = stdout(argus(&restored).args(["audit", "query", "--action", "backup.*", "--json"]));
    assert!(
        log.contains("backup.restore") && log.contains("disaster recovery drill"),
        "{log}"
    );
    assert!(restored.join("restored-config/0-argus.yaml").is_file());

    // Never over something: the folder now holds a node.
    let out = argus(&restored)
        .args(["backup", "restore"])
        .arg(&file)
        .arg("--into")
        .arg(&restored)
        .arg("--identity")
        .arg(&identity)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not empty"));
}

/// The daily checklist's `backup` check restores the newest backup into a
/// scratch folder and fails (critical) when it does not; `audit-log-rotation`
/// verifies the log across its segments.
#[test]
fn the_daily_backup_check_restores_the_newest_backup_and_fails_on_damage() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let offsite = dir.path().join("offsite");
    fs::create_dir_all(&offsite).unwrap();
    let identity = dir.path().join("identity.txt");
    let recipient = keygen(&identity);
    argus(&data)
        .args(["keys", "create", "--label", "guardian"])
        .assert()
        .success();
    let config = dir.path().join("argus.yaml");
    fs::write(
        &config,
        format!(
            "data_dir: data\nchains: [{{ chain: anvil, rpc: [ws://127.0.0.1:8545] }}]\nbackup:\n  recipients: [{recipient}]\n  destinations:\n    - dir: offsite\n  identity: identity.txt\n"
        ),
    )
    .unwrap();
    let check = |name: &str| {
        let out = argus(&data)
            .args(["checks", "run", name, "--json", "-c"])
            .arg(&config)
            .output()
            .unwrap();
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
        let result = doc["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name)
            .unwrap_or_else(|| panic!("no {name} in {doc:#}"))
            .clone();
        (out.status.code(), result)
    };

    // No backup yet: failed.
    let (code, result) = check("backup");
    assert_eq!(code, Some(1));
    assert_eq!(result["status"], "fail", "{result:#}");

    let name = stdout(argus(&data).args(["backup", "create", "-c"]).arg(&config));
    let (code, result) = check("backup");
    assert_eq!(code, Some(0), "{result:#}");
    assert_eq!(result["status"], "ok", "{result:#}");
    assert_eq!(result["evidence"]["backup"], name.trim());
    // The scratch restore is gone again.
    assert!(fs::read_dir(&data).unwrap().all(|e| {
        !e.unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with(".argus-restore")
    }),);

    // A flipped byte in the newest backup: it does not restore.
    let file = offsite.join(name.trim());
    let mut bytes = fs::read(&file).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    fs::write(&file, bytes).unwrap();
    let (code, result) = check("backup");
    assert_eq!(code, Some(1));
    assert_eq!(result["status"], "fail", "{result:#}");
    assert_eq!(result["severity"], "critical", "{result:#}");

    let (code, result) = check("audit-log-rotation");
    assert_eq!(code, Some(0), "{result:#}");
    assert_eq!(result["status"], "ok", "{result:#}");
}
