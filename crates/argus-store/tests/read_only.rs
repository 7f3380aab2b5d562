//! `Store::open_read_only_in_dir` on real SQLite files: it creates nothing,
//! migrates nothing and writes nothing. Root ignores permissions, so these
//! tests assert on the files themselves (mtime, size, what the directory
//! holds); `argus-cli`'s `read_only` tests run the binary as another user
//! on a directory it truly cannot write.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::time::SystemTime;

use argus_store::{DATABASE_FILE, Store, StoreError, latest_version};

/// Every file of `dir` with its size and mtime.
fn snapshot(dir: &Path) -> BTreeMap<String, (u64, SystemTime)> {
    fs::read_dir(dir)
        .unwrap()
        .map(|entry| {
            let entry = entry.unwrap();
            let meta = entry.metadata().unwrap();
            (
                entry.file_name().to_string_lossy().into_owned(),
                (meta.len(), meta.modified().unwrap()),
            )
        })
        .collect()
}

fn count(store: &Store) -> i64 {
    store
        .connect()
        .unwrap()
        .sqlite_only("a test")
        .unwrap()
        .query_row("SELECT count(*) FROM chain_checkpoints", [], |r| r.get(0))
        .unwrap()
}

/// A data directory with a database holding one checkpoint, closed cleanly.
fn written() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_in_dir(dir.path()).unwrap();
    store
        .connect()
        .unwrap()
        .sqlite_only("a test")
        .unwrap()
        .execute(
            "INSERT INTO chain_checkpoints (chain_id, next_block) VALUES (1, 7)",
            [],
        )
        .unwrap();
    drop(store);
    dir
}

#[test]
fn a_mistyped_data_directory_is_not_created_and_the_error_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let typo = dir.path().join("dtaa");
    let error = Store::open_read_only_in_dir(&typo).unwrap_err();
    assert!(!typo.exists(), "the directory was created");
    assert!(matches!(error, StoreError::Missing { .. }), "{error:?}");
    let message = error.to_string();
    assert!(
        message.contains(&typo.display().to_string())
            && message.contains("does not exist")
            && message.contains("argus registry import"),
        "{message}"
    );
}

#[test]
fn a_directory_without_a_database_stays_empty() {
    let dir = tempfile::tempdir().unwrap();
    let error = Store::open_read_only_in_dir(dir.path()).unwrap_err();
    assert!(matches!(
        error,
        StoreError::Missing {
            dir_exists: true,
            ..
        }
    ));
    assert!(!error.to_string().contains("does not exist"), "{error}");
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn reading_writes_nothing_and_a_write_is_refused() {
    let dir = written();
    let before = snapshot(dir.path());
    assert_eq!(
        before.keys().collect::<Vec<_>>(),
        [DATABASE_FILE],
        "a clean close leaves the main file alone"
    );
    // mtimes are compared exactly: give a write the chance to show.
    std::thread::sleep(std::time::Duration::from_millis(20));
    let store = Store::open_read_only_in_dir(dir.path()).unwrap();
    assert!(store.is_read_only());
    assert_eq!(count(&store), 1);
    let mut conn = store.connect().unwrap();
    assert_eq!(conn.schema_version().unwrap(), latest_version());
    let write = conn
        .sqlite_only("a test")
        .unwrap()
        .execute("DELETE FROM chain_checkpoints", []);
    assert!(
        matches!(&write, Err(e) if e.sqlite_error_code() == Some(rusqlite::ErrorCode::ReadOnly)),
        "{write:?}"
    );
    // SQLite begins a transaction on a read-only connection; its writes fail.
    if let Ok(tx) = conn.transaction() {
        assert!(
            tx.sqlite_only("a test")
                .unwrap()
                .execute("DELETE FROM chain_checkpoints", [])
                .is_err()
        );
    }
    drop((conn, store));
    let after = snapshot(dir.path());
    assert_eq!(
        after.get(DATABASE_FILE),
        before.get(DATABASE_FILE),
        "the database's size or mtime changed"
    );
    for (name, (len, _)) in &after {
        assert!(
            !name.ends_with("-wal") || *len == 0,
            "a reader left a write-ahead log: {after:?}"
        );
    }
    // Still the same database for a writer.
    assert_eq!(count(&Store::open_in_dir(dir.path()).unwrap()), 1);
}

#[test]
fn a_reader_sees_what_a_running_writer_committed_and_leaves_its_log_alone() {
    let dir = written();
    let writer = Store::open_in_dir(dir.path()).unwrap();
    let conn = writer.connect().unwrap();
    conn.sqlite_only("a test")
        .unwrap()
        .execute(
            "INSERT INTO chain_checkpoints (chain_id, next_block) VALUES (2, 9)",
            [],
        )
        .unwrap();
    let wal = dir.path().join(format!("{DATABASE_FILE}-wal"));
    let before = snapshot(dir.path());
    assert!(before.contains_key(&format!("{DATABASE_FILE}-wal")));
    std::thread::sleep(std::time::Duration::from_millis(20));
    let reader = Store::open_read_only_in_dir(dir.path()).unwrap();
    assert_eq!(count(&reader), 2, "the committed row in the WAL is seen");
    drop(reader);
    let after = snapshot(dir.path());
    assert_eq!(after.get(DATABASE_FILE), before.get(DATABASE_FILE));
    assert_eq!(
        fs::metadata(&wal).unwrap().len(),
        before[&format!("{DATABASE_FILE}-wal")].0
    );
    drop((conn, writer));
}

#[test]
fn an_older_schema_is_refused_unmigrated_with_what_to_run() {
    let dir = written();
    let old = latest_version() - 1;
    Store::open_in_dir(dir.path())
        .unwrap()
        .connect()
        .unwrap()
        .sqlite_only("a test")
        .unwrap()
        .pragma_update(None, "user_version", old)
        .unwrap();
    let error = Store::open_read_only_in_dir(dir.path()).unwrap_err();
    assert!(
        matches!(error, StoreError::TooOld { found, supported, .. } if found == old && supported == latest_version()),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(
        message.contains("only reads") && message.contains("argus run"),
        "{message}"
    );
    let version: u32 = rusqlite::Connection::open(dir.path().join(DATABASE_FILE))
        .unwrap()
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, old, "not migrated");
}

#[test]
fn a_newer_schema_is_refused() {
    let dir = written();
    Store::open_in_dir(dir.path())
        .unwrap()
        .connect()
        .unwrap()
        .sqlite_only("a test")
        .unwrap()
        .pragma_update(None, "user_version", 999)
        .unwrap();
    let error = Store::open_read_only_in_dir(dir.path()).unwrap_err();
    assert!(
        matches!(error, StoreError::TooNew { found: 999, .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("upgrade argus"));
}
