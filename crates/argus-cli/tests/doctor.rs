//! `argus doctor` end to end.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use assert_cmd::Command;
use serde_json::Value;

fn argus(data_dir: &Path) -> Command {
    let mut cmd = Command::cargo_bin("argus").unwrap();
    cmd.env("ARGUS_DATA_DIR", data_dir)
        .env_remove("ARGUS_MASTER_KEY");
    cmd
}

fn chmod(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

fn checks(out: &std::process::Output) -> HashMap<String, Value> {
    let doc: Value = serde_json::from_slice(&out.stdout).expect("stdout is JSON");
    doc["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["id"].as_str().unwrap().to_owned(), c.clone()))
        .collect()
}

/// A deployment set up as the procedures ask.
fn hardened() -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    argus(&data)
        .args([
            "audit",
            "record",
            "--actor",
            "ops",
            "--action",
            "audit.enable",
        ])
        .env(
            "ARGUS_MASTER_KEY",
            "q7Vd0mJ3xR9sL2kP8wZ4tY6uB1nC5eA0fG3hI7jK9lM=",
        )
        .assert()
        .success();
    chmod(&data, 0o700);
    fs::create_dir_all(data.join("keystore")).unwrap();
    chmod(&data.join("keystore"), 0o700);
    // A witness on "another mount" holding the head the daemon published.
    let witness = root.path().join("witness-mount/argus-heads.jsonl");
    fs::create_dir_all(witness.parent().unwrap()).unwrap();
    let head = argus(&data)
        .args(["audit", "head", "--json"])
        .output()
        .unwrap();
    assert!(head.status.success());
    fs::write(&witness, &head.stdout).unwrap();
    fs::write(
        root.path().join("argus.yaml"),
        format!(
            "chains: [{{ chain: anvil, rpc: [http://127.0.0.1:8545] }}]\nrules: []\naudit:\n  witnesses:\n    - file: {}\n",
            witness.display()
        ),
    )
    .unwrap();
    chmod(&root.path().join("argus.yaml"), 0o600);
    fs::write(root.path().join(".env.production"), "ARGUS_MASTER_KEY=x\n").unwrap();
    chmod(&root.path().join(".env.production"), 0o600);
    root
}

fn doctor(root: &Path) -> Command {
    let mut cmd = argus(&root.join("data"));
    cmd.arg("doctor")
        .arg("--config")
        .arg(root.join("argus.yaml"))
        .arg("--env-file")
        .arg(root.join(".env.production"))
        .args([
            "--rpc",
            "http://127.0.0.1:8545",
            "--rpc",
            "wss://eth.example/ws/s3cr3tpath",
            "--json",
        ])
        .env(
            "ARGUS_MASTER_KEY",
            "q7Xk2pR9vLm3Tz8WcYb1Nf6Hd4Gs0JeUaK5Vw+Q=",
        );
    cmd
}

#[test]
fn a_hardened_deployment_passes() {
    let root = hardened();
    let out = doctor(root.path()).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let checks = checks(&out);
    for id in [
        "data-dir",
        "config-file",
        "env-file",
        "keystore",
        "keystore-files",
        "master-key",
        "audit-log",
        "audit-key",
        "audit-files",
        "audit-witness",
        "notifier-secrets",
        "rpc-tls",
    ] {
        assert_eq!(checks[id]["status"], "ok", "{id}: {}", checks[id]);
    }
    assert!(!checks.contains_key("config-valid"), "the config loads");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        !text.contains("q7Xk2pR9"),
        "the master key is never printed"
    );
    assert!(
        !text.contains("s3cr3tpath"),
        "RPC URL paths are never printed"
    );
}

#[test]
fn each_weakness_fails_with_its_fix() {
    let root = hardened();
    chmod(&root.path().join("data"), 0o755);
    chmod(&root.path().join(".env.production"), 0o644);
    chmod(&root.path().join("data/keystore"), 0o750);
    let out = doctor(root.path())
        .args(["--rpc", "http://node.example:8545"])
        .env("ARGUS_MASTER_KEY", "password")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let checks = checks(&out);
    assert_eq!(checks["data-dir"]["status"], "fail");
    assert!(
        checks["data-dir"]["fix"]
            .as_str()
            .unwrap()
            .starts_with("chmod 700 ")
    );
    assert!(
        checks["env-file"]["fix"]
            .as_str()
            .unwrap()
            .starts_with("chmod 600 ")
    );
    assert!(
        checks["keystore"]["fix"]
            .as_str()
            .unwrap()
            .starts_with("chmod 700 ")
    );
    assert_eq!(checks["master-key"]["status"], "fail");
    assert!(
        checks["master-key"]["fix"]
            .as_str()
            .unwrap()
            .contains("openssl rand -base64 32")
    );
    assert_eq!(checks["rpc-tls"]["status"], "fail");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("password"));
}

#[test]
fn a_tampered_or_missing_audit_log_is_critical() {
    let root = hardened();
    let log = root.path().join("data/audit/audit.log");
    let mut bytes = fs::read(&log).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    fs::write(&log, bytes).unwrap();
    let out = doctor(root.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(checks(&out)["audit-log"]["status"], "fail");

    fs::remove_dir_all(root.path().join("data/audit")).unwrap();
    let out = doctor(root.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let c = &checks(&out)["audit-log"];
    assert!(
        c["message"]
            .as_str()
            .unwrap()
            .contains("audit logging is off")
    );
}

#[test]
fn the_systemd_unit_carries_the_hardening() {
    let data = tempfile::tempdir().unwrap();
    let out = argus(data.path())
        .args(["doctor", "systemd-unit"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let mut sections: HashMap<String, Vec<(String, String)>> = HashMap::new();
    let mut current = None;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            current = Some(name.to_owned());
            continue;
        }
        let (key, value) = line
            .split_once('=')
            .unwrap_or_else(|| panic!("not key=value: {line}"));
        let section = current.clone().expect("a setting before any section");
        sections
            .entry(section)
            .or_default()
            .push((key.to_owned(), value.to_owned()));
    }
    let service: HashMap<_, _> = sections["Service"].iter().cloned().collect();
    assert_eq!(service["NoNewPrivileges"], "yes");
    assert_eq!(service["PrivateTmp"], "yes");
    assert_eq!(service["ProtectSystem"], "strict");
    assert_eq!(service["ProtectHome"], "yes");
    assert_eq!(service["ReadWritePaths"], "/var/lib/argus");
    assert!(service["ExecStart"].starts_with("/usr/local/bin/argus "));
    // The master key arrives as a credential, not in the environment.
    assert_eq!(
        service["LoadCredential"],
        "master-key:/etc/argus/master.key"
    );
    assert!(
        service["ExecStart"].ends_with(" --master-key-file ${CREDENTIALS_DIRECTORY}/master-key"),
        "{}",
        service["ExecStart"]
    );
    assert!(sections.contains_key("Unit") && sections.contains_key("Install"));
    // The command line it runs is one `argus` accepts.
    let args: Vec<String> = service["ExecStart"]
        .split_whitespace()
        .skip(1)
        .map(|a| a.replace("${CREDENTIALS_DIRECTORY}", "/nonexistent"))
        .collect();
    let out = argus(data.path()).args(&args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("unexpected argument") && !stderr.contains("Usage:"),
        "{stderr}"
    );
}

#[test]
fn notifier_secrets_in_plain_text_and_plain_rpc_in_a_daemon_config_are_flagged() {
    let root = tempfile::tempdir().unwrap();
    let canary = "canary-literal-secret-7f3a9c";
    let config = root.path().join("argus.yaml");
    fs::write(
        &config,
        format!(
            "chains:\n  - chain: 1\n    rpc: [http://node.example.com:8545]\nalerting:\n  notifiers:\n    hook: {{ type: webhook, url: \"https://hooks.example.com/x\", secret: \"{canary}\" }}\n    pd: {{ type: pagerduty, routing_key: {{ env: PD_KEY }} }}\n"
        ),
    )
    .unwrap();
    chmod(&config, 0o600);
    let out = argus(&root.path().join("data"))
        .args(["doctor", "--json", "--config"])
        .arg(&config)
        .env("PD_KEY", "from-the-environment")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let found = checks(&out);
    assert_eq!(found["notifier-secrets"]["status"], "fail");
    let message = found["notifier-secrets"]["message"].as_str().unwrap();
    assert!(message.contains("hook.secret"), "{message}");
    assert!(
        !message.contains("pd."),
        "a secret from the environment is fine: {message}"
    );
    assert_eq!(found["rpc-tls"]["status"], "fail");
    let everything = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !everything.contains(canary),
        "the secret itself is never shown"
    );
}

/// Files inside private folders are judged one by one: a key file at 0644
/// or an audit log at 0666 fails even where the folder is 0700.
#[test]
fn loose_files_inside_private_folders_fail() {
    let root = hardened();
    let data = root.path().join("data");
    let vault_file = fs::read_dir(data.join("keystore"))
        .unwrap()
        .flatten()
        .find(|e| e.file_name().to_string_lossy().starts_with("gen-"))
        .map(|e| e.path().join("vault.json"))
        .expect("a vault generation");
    chmod(&vault_file, 0o644);
    chmod(&data.join("audit/audit.log"), 0o666);
    chmod(&data.join("audit/head"), 0o640);
    let out = doctor(root.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "critical");
    let found = checks(&out);
    let keys = &found["keystore-files"];
    assert_eq!(keys["status"], "fail", "{keys}");
    assert!(
        keys["message"]
            .as_str()
            .unwrap()
            .contains("vault.json is 644"),
        "{keys}"
    );
    let audit = &found["audit-files"];
    assert_eq!(audit["status"], "fail", "{audit}");
    let message = audit["message"].as_str().unwrap();
    assert!(
        message.contains("audit.log is 666") && message.contains("head is 640"),
        "{audit}"
    );
    assert!(
        audit["fix"]
            .as_str()
            .unwrap()
            .starts_with("chmod -R go-rwx "),
        "{audit}"
    );

    // Fixed as told: both pass, and checkpoint.pub may stay world-readable.
    for dir in [data.join("keystore"), data.join("audit")] {
        let status = std::process::Command::new("chmod")
            .args(["-R", "go-rwx"])
            .arg(&dir)
            .status()
            .unwrap();
        assert!(status.success());
    }
    chmod(&data.join("audit/checkpoint.pub"), 0o644);
    let out = doctor(root.path()).output().unwrap();
    let found = checks(&out);
    assert_eq!(found["keystore-files"]["status"], "ok");
    assert_eq!(
        found["audit-files"]["status"], "ok",
        "{}",
        found["audit-files"]
    );
}

/// A master key that is not UTF-8 is a key given badly, not a key not given.
#[test]
fn a_master_key_that_is_not_text_is_named_not_taken_for_unset() {
    use std::os::unix::ffi::OsStrExt as _;
    let root = hardened();
    let raw = std::ffi::OsStr::from_bytes(b"q7Vd0mJ3xR9sL2kP8wZ4\xff\xfetY6uB1nC5eA0fG3hI7jK9lM=");
    let out = doctor(root.path())
        .env("ARGUS_MASTER_KEY", raw)
        .output()
        .unwrap();
    let found = checks(&out);
    assert_eq!(
        found["master-key"]["status"], "fail",
        "{}",
        found["master-key"]
    );
    assert!(
        found["master-key"]["message"]
            .as_str()
            .unwrap()
            .contains("not UTF-8")
    );
    let out = argus(&root.path().join("data"))
        .args(["audit", "record", "--actor", "ops", "--action", "x.y"])
        .env("ARGUS_MASTER_KEY", raw)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("not UTF-8"), "{stderr}");
    assert!(!stderr.contains("q7Vd0mJ3"), "the key is never shown");
}

#[test]
fn no_witness_is_a_warning_and_a_rolled_back_log_fails_against_its_witness() {
    // Without a config: a warning that says what cannot be caught.
    let root = hardened();
    let out = argus(&root.path().join("data"))
        .args(["doctor", "--json"])
        .output()
        .unwrap();
    let found = checks(&out);
    assert_eq!(found["audit-witness"]["status"], "warn");
    let message = found["audit-witness"]["message"].as_str().unwrap();
    assert!(message.contains("cannot be caught"), "{message}");
    assert!(
        found["audit-witness"]["fix"]
            .as_str()
            .unwrap()
            .contains("witnesses"),
        "{}",
        found["audit-witness"]
    );

    // A daemon config without a witness: a warning naming the file.
    let bare = root.path().join("bare.yaml");
    fs::write(
        &bare,
        "chains: [{ chain: anvil, rpc: [http://127.0.0.1:8545] }]\n",
    )
    .unwrap();
    chmod(&bare, 0o600);
    let out = argus(&root.path().join("data"))
        .args(["doctor", "--json", "--config"])
        .arg(&bare)
        .output()
        .unwrap();
    let found = checks(&out);
    assert_eq!(found["audit-witness"]["status"], "warn");
    assert!(
        found["audit-witness"]["message"]
            .as_str()
            .unwrap()
            .contains("bare.yaml names no audit witness")
    );

    // Two more entries published to the witness, then the log rolled back
    // to its first checkpoint with that checkpoint copied into `head`.
    let data = root.path().join("data");
    for _ in 0..2 {
        argus(&data)
            .args(["audit", "record", "--actor", "ops", "--action", "x.y"])
            .env(
                "ARGUS_MASTER_KEY",
                "q7Vd0mJ3xR9sL2kP8wZ4tY6uB1nC5eA0fG3hI7jK9lM=",
            )
            .assert()
            .success();
    }
    let head = argus(&data)
        .args(["audit", "head", "--json"])
        .output()
        .unwrap();
    let witness = root.path().join("witness-mount/argus-heads.jsonl");
    let mut lines = fs::read(&witness).unwrap();
    lines.extend_from_slice(&head.stdout);
    fs::write(&witness, lines).unwrap();
    assert_eq!(
        checks(&doctor(root.path()).output().unwrap())["audit-witness"]["status"],
        "ok"
    );

    argus_testkit::audit::roll_back_to_checkpoint(&data.join("audit"), 1);
    let out = doctor(root.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let found = checks(&out);
    assert_eq!(found["audit-log"]["status"], "ok", "local checks pass");
    let witness_check = &found["audit-witness"];
    assert_eq!(witness_check["status"], "fail");
    assert_eq!(witness_check["critical"], true);
    let message = witness_check["message"].as_str().unwrap();
    assert!(
        message.contains("the log is behind the witnessed head (1 entries, the head has 3)"),
        "{message}"
    );
    assert!(message.contains("argus-heads.jsonl"), "{message}");
}
