//! The commands that only read, end to end on the real binary: they create
//! nothing (a mistyped --data-dir is named, not made), write nothing (every
//! file's size and mtime stay), and work on a data directory the user may
//! read but not write. Root ignores permissions, so the last is run as
//! `nobody` through `setpriv` (skipped, saying why, where that cannot run).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::SystemTime;

use argus_testkit::testdata;

/// Unseals the checkpoint signing key the vault holds.
const MASTER: &str = "q7Vd0mJ3xR9sL2kP8wZ4tY6uB1nC5eA0fG3hI7jK9lM=";

/// Every command of the issue that only reads.
const READERS: &[&[&str]] = &[
    &["registry", "list", "--json"],
    &["registry", "show", "Token", "--json"],
    &["registry", "export"],
    &["registry", "changes", "--json"],
    &["lint", "--json"],
    &["alerts", "list", "--json"],
    &["alerts", "silence", "list"],
    &["status", "--json"],
    &["metrics", "--json"],
    &["audit", "verify"],
    &["audit", "tail"],
    &["audit", "query", "--actor", "alice"],
];

fn argus(binary: &Path, data_dir: &Path) -> Command {
    let mut command = Command::new(binary);
    command
        .env("ARGUS_DATA_DIR", data_dir)
        .env_remove("ARGUS_MASTER_KEY")
        .env_remove("ARGUS_LOG")
        .env_remove("ARGUS_LINT_ALLOW");
    command
}

fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_argus"))
}

fn text(output: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// A data directory with the sample project registered and an audit log of
/// one entry.
fn populated(data: &Path) {
    let out = argus(&bin(), data)
        .args(["registry", "import"])
        .arg(testdata("foundry-project"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let out = argus(&bin(), data)
        .env("ARGUS_MASTER_KEY", MASTER)
        .args([
            "audit", "record", "--actor", "alice", "--action", "key.sign",
        ])
        .args(["--class", "security", "--reason", "test"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
}

/// Every file under `dir` with its size and mtime.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, (u64, SystemTime)> {
    let mut out = BTreeMap::new();
    let mut todo = vec![dir.to_owned()];
    while let Some(dir) = todo.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            let meta = entry.metadata().unwrap();
            if meta.is_dir() {
                todo.push(entry.path());
            } else {
                out.insert(entry.path(), (meta.len(), meta.modified().unwrap()));
            }
        }
    }
    out
}

/// Runs every reader; each must succeed (lint: not fail to run).
fn run_readers(binary: &Path, data: &Path, wrap: fn(Command) -> Command) {
    for args in READERS {
        let mut command = argus(binary, data);
        command.args(*args);
        let out = wrap(command).output().unwrap();
        let ok = if args[0] == "lint" {
            out.status.code() != Some(2)
        } else {
            out.status.success()
        };
        assert!(ok, "argus {}: {}", args.join(" "), text(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !stderr.contains("readonly") && !stderr.contains("read-only"),
            "argus {}: {}",
            args.join(" "),
            text(&out)
        );
    }
}

#[test]
fn a_mistyped_data_directory_is_named_and_not_created() {
    let dir = tempfile::tempdir().unwrap();
    let typo = dir.path().join("dtaa");
    for args in READERS {
        let out = argus(&bin(), &typo).args(*args).output().unwrap();
        assert!(
            !typo.exists(),
            "argus {} created {}",
            args.join(" "),
            typo.display()
        );
        if args[0] == "lint" {
            // Lint of no registry lints nothing; it creates none either.
            continue;
        }
        assert_eq!(
            out.status.code(),
            Some(2),
            "argus {}: {}",
            args.join(" "),
            text(&out)
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(&typo.display().to_string()),
            "argus {}: the error names the directory: {}",
            args.join(" "),
            text(&out)
        );
    }
    // The registry's readers say how to make one.
    let out = argus(&bin(), &typo)
        .args(["registry", "list"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("does not exist") && stderr.contains("argus registry import"),
        "{stderr}"
    );
}

#[test]
fn the_readers_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    populated(&data);
    let before = snapshot(&data);
    // mtimes are compared exactly: give a write the chance to show.
    std::thread::sleep(std::time::Duration::from_millis(20));
    run_readers(&bin(), &data, |c| c);
    let after = snapshot(&data);
    for (path, was) in &before {
        assert_eq!(after.get(path), Some(was), "{} changed", path.display());
    }
    for (path, (len, _)) in &after {
        if !before.contains_key(path) {
            // SQLite's WAL index may appear beside the database; nothing
            // is logged in a -wal, and nothing else appears.
            let name = path.file_name().unwrap().to_string_lossy();
            assert!(
                name.ends_with("-shm") || (name.ends_with("-wal") && *len == 0),
                "a reader left {}",
                path.display()
            );
        }
    }
}

/// Whether `setpriv` can run a program as `nobody` here; the reason when not.
fn as_nobody_available() -> Result<(), String> {
    // Only root can switch users.
    let uid = Command::new("id")
        .arg("-u")
        .output()
        .map_err(|e| format!("id: {e}"))?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return Err("not root: cannot switch to nobody".into());
    }
    let probe = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "true"])
        .status()
        .map_err(|e| format!("setpriv: {e}"))?;
    if !probe.success() {
        return Err(format!("setpriv cannot switch to nobody ({probe})"));
    }
    Ok(())
}

/// Directories 0755 and files 0644 (keys and the vault stay private), so
/// `nobody` may read what the readers need and write nothing.
fn readable_by_others(dir: &Path) {
    use std::os::unix::fs::PermissionsExt as _;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o755)).unwrap();
    for entry in fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if entry.metadata().unwrap().is_dir() {
            if name != "vault" {
                readable_by_others(&path);
            }
        } else if !name.ends_with(".key") {
            fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        }
    }
}

/// `command` run as `nobody`, with its program, arguments and the
/// environment it sets.
fn nobody(command: Command) -> Command {
    let mut wrapped = Command::new("setpriv");
    wrapped
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(command.get_program())
        .args(command.get_args())
        .env_clear()
        .env("PATH", "/usr/bin:/bin");
    for (key, value) in command.get_envs() {
        if let Some(value) = value {
            wrapped.env(key, value);
        }
    }
    wrapped
}

#[test]
fn the_readers_work_in_a_directory_the_user_cannot_write() {
    if let Err(reason) = as_nobody_available() {
        eprintln!("skipped: {reason}");
        return;
    }
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    // The binary where nobody may run it (the target directory may be
    // under a private home).
    let binary = dir.path().join("argus");
    fs::copy(bin(), &binary).unwrap();
    fs::set_permissions(&binary, fs::Permissions::from_mode(0o755)).unwrap();
    let data = dir.path().join("data");
    populated(&data);
    readable_by_others(&data);
    let mut touch = Command::new("touch");
    touch.arg(data.join("probe"));
    let probe = nobody(touch).output().unwrap();
    assert!(
        !probe.status.success(),
        "nobody can write {}",
        data.display()
    );

    // Closed cleanly: no -wal, no -shm, and none can be made.
    let before = snapshot(&data);
    run_readers(&binary, &data, nobody);
    assert_eq!(snapshot(&data), before);

    // A writer holds the database open (a running daemon): its -wal and
    // -shm are there, readable, not writable by the reader.
    let writer = argus_store::Store::open_in_dir(&data).unwrap();
    let conn = writer.connect().unwrap();
    conn.execute(
        "INSERT INTO chain_checkpoints (chain_id, next_block) VALUES (1, 7)",
        [],
    )
    .unwrap();
    readable_by_others(&data);
    run_readers(&binary, &data, nobody);
    drop((conn, writer));
}

/// `rules test --registry` and `validate` read the registry and write
/// nothing; on a mistyped data directory they create nothing.
#[test]
fn rule_tests_and_validate_read_the_registry_without_writing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    populated(&data);
    let cases = argus_testkit::workspace_root().join("crates/argus-rules/testdata/seed.test.yaml");
    let rules = argus_testkit::workspace_root().join("crates/argus-rules/testdata/seed.yaml");
    let config = dir.path().join("argus.yaml");
    std::fs::write(
        &config,
        format!(
            "data_dir: {}\nchains: [{{ chain: anvil, rpc: [\"http://127.0.0.1:9\"] }}]\nrules: [{}]\n",
            data.display(),
            rules.display()
        ),
    )
    .unwrap();
    let before = snapshot(&data);
    std::thread::sleep(std::time::Duration::from_millis(20));
    let out = argus(&bin(), &data)
        .args(["rules", "test", "--registry"])
        .arg(&cases)
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(2), "{}", text(&out));
    let out = argus(&bin(), &data)
        .arg("validate")
        .arg("-c")
        .arg(&config)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let after = snapshot(&data);
    for (path, was) in &before {
        assert_eq!(after.get(path), Some(was), "{} changed", path.display());
    }

    let typo = dir.path().join("typo");
    let out = argus(&bin(), &typo)
        .args(["rules", "test", "--registry"])
        .arg(&cases)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(!typo.exists(), "a mistyped data directory is not created");
}
