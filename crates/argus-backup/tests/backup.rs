//! Backups end to end on real parts: a migrated store written to while the
//! snapshot is taken, a vault, an audit log rotated into segments, Debian's
//! `age` and `age-keygen`, GNU tar, a folder and a command destination.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use argus_audit::{AuditLog, AuditPaths, Clock, NewEntry, RetentionClass, SegmentPolicy};
use argus_backup::{
    BackupError, Destination, Encryption, Retention, Source, Targets, Unlock, create, list,
    restore, verify, verify_newest,
};
use argus_vault::{AccessPolicy, ArgonCost, MasterKey, Vault};
use jiff::{SignedDuration, Timestamp};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

const MASTER: &str = "q7Vd0mJ3xR9sL2kP8wZ4tY6uB1nC5eA0fG3hI7jK9lM=";
const CHEAP: ArgonCost = ArgonCost {
    m_cost: 1024,
    t_cost: 1,
    p_cost: 1,
};

/// A data directory: migrated store with a probe table, a vault with one
/// key, an audit log sealed into several segments, and a config file.
struct Node {
    _dir: tempfile::TempDir,
    data: PathBuf,
    config: PathBuf,
    key_address: String,
}

fn node() -> Node {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    drop(argus_store::Store::open_in_dir(&data).unwrap());
    let db = rusqlite::Connection::open(data.join("argus.db")).unwrap();
    db.execute_batch("CREATE TABLE probe (n INTEGER NOT NULL); INSERT INTO probe VALUES (0);")
        .unwrap();
    let mut vault = Vault::init(
        &data.join("keystore"),
        &MasterKey::new(MASTER.into()).unwrap(),
        CHEAP,
    )
    .unwrap();
    let key_address = vault
        .create("guardian", AccessPolicy::default())
        .unwrap()
        .address
        .to_string();
    drop(vault);
    let clock = Clock::manual_ms(1_790_000_000_000);
    let mut log = AuditLog::open(&data, clock.clone())
        .unwrap()
        .with_segments(SegmentPolicy {
            max_bytes: 1024,
            max_age: None,
        });
    for i in 0..30 {
        log.append(&NewEntry::new(
            RetentionClass::Audit,
            "alice",
            format!("act.{i}"),
        ))
        .unwrap();
    }
    drop(log);
    let config = dir.path().join("argus.yaml");
    fs::write(&config, "data_dir: data\nchains: []\n").unwrap();
    Node {
        data,
        config,
        key_address,
        _dir: dir,
    }
}

/// A fresh identity from the real `age-keygen`: (identity file, recipient).
fn keygen(dir: &Path, name: &str) -> (PathBuf, String) {
    let path = dir.join(name);
    let out = Command::new("age-keygen")
        .arg("-o")
        .arg(&path)
        .output()
        .expect("age-keygen (Debian's `age` package) must be installed");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let recipient = Command::new("age-keygen")
        .arg("-y")
        .arg(&path)
        .output()
        .unwrap();
    (
        path,
        String::from_utf8(recipient.stdout)
            .unwrap()
            .trim()
            .to_owned(),
    )
}

fn identity(path: &Path) -> Unlock {
    Unlock::Identity(Zeroizing::new(fs::read_to_string(path).unwrap()))
}

fn at(hours: i64) -> Timestamp {
    Timestamp::from_second(1_790_000_000).unwrap() + SignedDuration::from_hours(hours)
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[test]
fn a_backup_taken_while_a_writer_writes_opens_with_the_real_age_and_restores() {
    let node = node();
    let work = tempfile::tempdir().unwrap();
    let (identity_file, recipient) = keygen(work.path(), "identity.txt");
    let folder = work.path().join("backups");
    let piped = work.path().join("piped");
    fs::create_dir_all(&folder).unwrap();
    fs::create_dir_all(&piped).unwrap();

    // A daemon-like writer commits to the database during the snapshot.
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        let db_path = node.data.join("argus.db");
        std::thread::spawn(move || {
            let db = rusqlite::Connection::open(db_path).unwrap();
            db.busy_timeout(std::time::Duration::from_secs(10)).unwrap();
            db.pragma_update(None, "journal_mode", "WAL").unwrap();
            let mut n = 1;
            while !stop.load(Ordering::Relaxed) {
                db.execute("INSERT INTO probe VALUES (?1)", [n]).unwrap();
                n += 1;
            }
            n
        })
    };
    let report = create(
        &Source {
            data_dir: node.data.clone(),
            config_files: vec![node.config.clone()],
        },
        &Encryption::recipients(&[recipient]).unwrap(),
        &Targets {
            destinations: vec![
                Destination::Dir(folder.clone()),
                Destination::command(&format!("tee {}/{{name}}", piped.display())).unwrap(),
            ],
            retention: Retention::default(),
        },
        "host-a",
        at(0),
    )
    .unwrap();
    stop.store(true, Ordering::Relaxed);
    let written = writer.join().unwrap();
    assert!(report.all_delivered(), "{:?}", report.deliveries);
    assert_eq!(report.manifest.audit.as_ref().unwrap().entries, 30);
    assert!(report.manifest.audit.as_ref().unwrap().segments >= 2);

    // The command destination received the same bytes.
    let copy = fs::read(folder.join(&report.name)).unwrap();
    assert_eq!(fs::read(piped.join(&report.name)).unwrap(), copy);
    assert_eq!(sha256_hex(&copy), report.sha256);

    // The real age decrypts it; tar unpacks it; every hash matches.
    let plain = work.path().join("plain.tar");
    let out = Command::new("age")
        .arg("-d")
        .arg("-i")
        .arg(&identity_file)
        .arg("-o")
        .arg(&plain)
        .arg(folder.join(&report.name))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let unpacked = work.path().join("unpacked");
    fs::create_dir_all(&unpacked).unwrap();
    let out = Command::new("tar")
        .arg("-xf")
        .arg(&plain)
        .arg("-C")
        .arg(&unpacked)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let manifest: argus_backup::Manifest =
        serde_json::from_slice(&fs::read(unpacked.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest, report.manifest);
    for file in &manifest.files {
        let bytes = fs::read(unpacked.join(&file.path)).unwrap();
        assert_eq!(sha256_hex(&bytes), file.sha256, "{}", file.path);
    }
    let paths: Vec<&str> = manifest.files.iter().map(|f| f.path.as_str()).collect();
    for expected in [
        "data/argus.db",
        "data/keystore/CURRENT",
        "data/audit/audit.log",
        "data/audit/head",
        "data/audit/segments/00000000000000000000.log",
        "config/0-argus.yaml",
    ] {
        assert!(
            paths.contains(&expected),
            "{expected} missing from {paths:?}"
        );
    }

    // Restored into a new folder: the store opens, the audit log verifies,
    // the vault opens with the master key and holds the key, the probe rows
    // are one consistent prefix of what the writer wrote.
    let into = work.path().join("restored");
    let restored = restore(&folder.join(&report.name), &identity(&identity_file), &into).unwrap();
    assert_eq!(restored.audit.as_ref().unwrap().entries, 30);
    assert_eq!(restored.schema_version, argus_store::latest_version());
    let vault = Vault::open(
        &into.join("keystore"),
        &MasterKey::new(MASTER.into()).unwrap(),
    )
    .unwrap();
    assert_eq!(vault.keys()[0].address.to_string(), node.key_address);
    drop(vault);
    let db = rusqlite::Connection::open(into.join("argus.db")).unwrap();
    let (count, max): (i64, i64) = db
        .query_row("SELECT count(*), max(n) FROM probe", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!(count, max + 1, "the rows are 0..=max, no gap");
    assert!(max < written);
    assert_eq!(
        fs::read(into.join("restored-config/0-argus.yaml")).unwrap(),
        fs::read(&node.config).unwrap()
    );
    // The restored log goes on: a new entry appends and verifies.
    let mut log = AuditLog::open(&into, Clock::manual_ms(1_790_000_100_000)).unwrap();
    log.append(&NewEntry::new(
        RetentionClass::Audit,
        "bob",
        "after.restore",
    ))
    .unwrap();
    drop(log);
    let paths = AuditPaths::new(&into);
    let verifier = argus_audit::CheckpointVerifier::load(&paths.public_key).unwrap();
    assert_eq!(argus_audit::verify(&paths, &verifier).unwrap().entries, 31);

    // Restoring again into the same (now full) folder is refused.
    let err = restore(&folder.join(&report.name), &identity(&identity_file), &into).unwrap_err();
    assert!(matches!(err, BackupError::NotEmpty { .. }), "{err}");

    // The newest-backup check the daily checks run.
    let check = verify_newest(&folder, &identity(&identity_file), work.path(), at(2)).unwrap();
    assert_eq!(check.backup.name, report.name);
    assert_eq!(check.age_secs, 7200);
}

#[test]
fn the_wrong_identity_is_a_clear_error_and_a_flipped_byte_is_caught() {
    let node = node();
    let work = tempfile::tempdir().unwrap();
    let (_, recipient) = keygen(work.path(), "right.txt");
    let (wrong, _) = keygen(work.path(), "wrong.txt");
    let folder = work.path().join("backups");
    fs::create_dir_all(&folder).unwrap();
    let report = create(
        &Source {
            data_dir: node.data.clone(),
            config_files: vec![],
        },
        &Encryption::recipients(&[recipient]).unwrap(),
        &Targets {
            destinations: vec![Destination::Dir(folder.clone())],
            retention: Retention::default(),
        },
        "host-a",
        at(0),
    )
    .unwrap();
    let file = folder.join(&report.name);
    let err = verify(&file, &identity(&wrong)).unwrap_err();
    assert!(matches!(err, BackupError::Decrypt { .. }), "{err}");
    assert!(err.to_string().contains("none of the identities"), "{err}");
    let err = verify(&file, &Unlock::Passphrase(Zeroizing::new("x".into()))).unwrap_err();
    assert!(err.to_string().contains("give an identity file"), "{err}");
    let empty = work.path().join("restore-here");
    let err = restore(&file, &identity(&wrong), &empty).unwrap_err();
    assert!(matches!(err, BackupError::Decrypt { .. }));
    assert_eq!(
        fs::read_dir(&empty).unwrap().count(),
        0,
        "nothing left behind"
    );

    let mut bytes = fs::read(&file).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    fs::write(&file, &bytes).unwrap();
    let (right, _) = (work.path().join("right.txt"), ());
    let err = verify(&file, &identity(&right)).unwrap_err();
    assert!(matches!(err, BackupError::Damaged { .. }), "{err}");
}

#[test]
fn a_passphrase_backup_opens_with_the_passphrase_only() {
    let node = node();
    let work = tempfile::tempdir().unwrap();
    let folder = work.path().join("backups");
    fs::create_dir_all(&folder).unwrap();
    let report = create(
        &Source {
            data_dir: node.data.clone(),
            config_files: vec![],
        },
        &Encryption::Passphrase(Zeroizing::new("correct horse battery staple".into())),
        &Targets {
            destinations: vec![Destination::Dir(folder.clone())],
            retention: Retention::default(),
        },
        "host-a",
        at(0),
    )
    .unwrap();
    let file = folder.join(&report.name);
    let ok = verify(
        &file,
        &Unlock::Passphrase(Zeroizing::new("correct horse battery staple".into())),
    )
    .unwrap();
    assert_eq!(ok.manifest, report.manifest);
    let err = verify(&file, &Unlock::Passphrase(Zeroizing::new("wrong".into()))).unwrap_err();
    assert!(matches!(err, BackupError::Decrypt { .. }), "{err}");
    assert!(!err.to_string().contains("correct horse"));
}

#[test]
fn retention_keeps_the_newest_n_and_drops_the_too_old() {
    let node = node();
    let work = tempfile::tempdir().unwrap();
    let (_, recipient) = keygen(work.path(), "id.txt");
    let folder = work.path().join("backups");
    fs::create_dir_all(&folder).unwrap();
    fs::write(folder.join("unrelated.txt"), "kept").unwrap();
    let encryption = Encryption::recipients(&[recipient]).unwrap();
    let targets = Targets {
        destinations: vec![Destination::Dir(folder.clone())],
        retention: Retention {
            keep_last: Some(3),
            max_age: Some(SignedDuration::from_hours(24 * 10)),
        },
    };
    let source = Source {
        data_dir: node.data.clone(),
        config_files: vec![],
    };
    let mut names = Vec::new();
    for day in 0..5 {
        names.push(
            create(&source, &encryption, &targets, "host-a", at(24 * day))
                .unwrap()
                .name,
        );
    }
    let kept: Vec<String> = list(&folder).unwrap().into_iter().map(|b| b.name).collect();
    assert_eq!(kept, names[2..].to_vec());
    assert!(folder.join("unrelated.txt").exists());
    // Twelve days after the last one, all the older ones are past 10 days.
    let last = create(&source, &encryption, &targets, "host-a", at(24 * 16)).unwrap();
    let kept: Vec<String> = list(&folder).unwrap().into_iter().map(|b| b.name).collect();
    assert_eq!(kept, vec![last.name]);
}
