//! The store's own tests: migrations, connections, in-memory stores.
#![allow(clippy::unwrap_used, clippy::expect_used)]
use super::*;

/// Marks the SQLite file of `store` as schema `version` (as a newer argus
/// would have left it).
fn set_schema_version(store: &Store, version: u32) {
    store
        .connect()
        .unwrap()
        .sqlite_only("a test")
        .unwrap()
        .pragma_update(None, "user_version", version)
        .unwrap();
}

fn tables(conn: &Connection) -> Vec<String> {
    let mut stmt = conn
        .sqlite_only("a test")
        .unwrap()
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .unwrap();
    stmt.query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[test]
fn migrations_apply_on_a_fresh_file_and_reopen_is_a_no_op() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("nested/data");
    let store = Store::open_in_dir(&data).unwrap();
    let conn = store.connect().unwrap();
    assert_eq!(conn.schema_version().unwrap(), latest_version());
    assert!(tables(&conn).contains(&"registry_entries".to_owned()));
    let journal: String = conn
        .sqlite_only("a test")
        .unwrap()
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(journal, "wal");
    let fk: i64 = conn
        .sqlite_only("a test")
        .unwrap()
        .query_row("PRAGMA foreign_keys", [], |r| r.get(0))
        .unwrap();
    assert_eq!(fk, 1);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(&data).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
    }
    let before = tables(&conn);
    drop((conn, store));
    let again = Store::open_in_dir(&data).unwrap().connect().unwrap();
    assert_eq!(again.schema_version().unwrap(), latest_version());
    assert_eq!(tables(&again), before);
}

#[test]
fn a_later_migration_is_applied_on_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("argus.db");
    drop(Store::open(&path).unwrap());
    let next = latest_version() + 1;
    let mut more = MIGRATIONS.to_vec();
    more.push(Migration {
        version: next,
        name: "extra",
        sql: "CREATE TABLE extra (id INTEGER PRIMARY KEY);",
    });
    let store = Store::open_with(&path, &more).unwrap().connect().unwrap();
    assert_eq!(store.schema_version().unwrap(), next);
    assert!(tables(&store).contains(&"extra".to_owned()));
}

#[test]
fn a_failed_migration_leaves_the_previous_version() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("argus.db");
    drop(Store::open(&path).unwrap());
    let latest = latest_version();
    let mut broken = MIGRATIONS.to_vec();
    broken.push(Migration {
        version: latest + 1,
        name: "broken",
        sql: "CREATE TABLE half (id INTEGER); THIS IS NOT SQL;",
    });
    let error = Store::open_with(&path, &broken).unwrap_err();
    assert!(matches!(
        error,
        StoreError::Migration { version, previous, .. } if version == latest + 1 && previous == latest
    ));
    let store = Store::open(&path).unwrap().connect().unwrap();
    assert_eq!(store.schema_version().unwrap(), latest);
    assert!(!tables(&store).contains(&"half".to_owned()));
}

#[test]
fn a_database_from_a_newer_argus_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("argus.db");
    set_schema_version(&Store::open(&path).unwrap(), 999);
    let error = Store::open(&path).unwrap_err();
    assert!(matches!(error, StoreError::TooNew { found: 999, .. }));
    assert!(error.to_string().contains("upgrade argus"));
}

#[test]
fn a_file_that_is_not_a_database_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("argus.db");
    fs::write(
        &path,
        b"this is not sqlite, just some text that is long enough",
    )
    .unwrap();
    assert!(Store::open(&path).is_err());
}

#[test]
fn in_memory_is_migrated() {
    let store = Store::open_in_memory().unwrap();
    let conn = store.connect().unwrap();
    assert_eq!(conn.schema_version().unwrap(), latest_version());
    assert!(tables(&conn).contains(&"registry_entries".to_owned()));
}

#[test]
fn the_handle_is_shared_across_threads() {
    fn shared<T: Send + Sync + Clone + 'static>() {}
    shared::<Store>();
}

#[test]
fn connections_of_one_store_see_each_others_commits() {
    let dir = tempfile::tempdir().unwrap();
    let on_disk = Store::open(&dir.path().join("argus.db")).unwrap();
    for (store, wal) in [(on_disk, true), (Store::open_in_memory().unwrap(), false)] {
        let mut writer = store.connect().unwrap();
        let reader = store.clone().connect().unwrap();
        let tx = writer.transaction().unwrap();
        tx.sqlite_only("a test")
            .unwrap()
            .execute(
                "INSERT INTO chain_checkpoints (chain_id, next_block) VALUES (1, 7)",
                [],
            )
            .unwrap();
        // Not visible before the commit, visible after.
        let count = |conn: &Connection| -> i64 {
            conn.sqlite_only("a test")
                .unwrap()
                .query_row("SELECT count(*) FROM chain_checkpoints", [], |r| r.get(0))
                .unwrap()
        };
        assert_eq!(count(&tx), 1);
        if wal {
            assert_eq!(count(&reader), 0);
        }
        tx.commit().unwrap();
        assert_eq!(count(&reader), 1);
        // A transaction dropped without commit leaves nothing.
        let tx = writer.transaction().unwrap();
        tx.sqlite_only("a test")
            .unwrap()
            .execute("DELETE FROM chain_checkpoints", [])
            .unwrap();
        drop(tx);
        assert_eq!(count(&reader), 1);
        let fk: i64 = reader
            .sqlite_only("a test")
            .unwrap()
            .query_row("PRAGMA foreign_keys", [], |r| r.get(0))
            .unwrap();
        assert_eq!(fk, 1);
    }
}

#[test]
fn two_stores_in_memory_are_apart() {
    let one = Store::open_in_memory().unwrap();
    let two = Store::open_in_memory().unwrap();
    one.connect()
        .unwrap()
        .sqlite_only("a test")
        .unwrap()
        .execute(
            "INSERT INTO chain_checkpoints (chain_id, next_block) VALUES (1, 7)",
            [],
        )
        .unwrap();
    let count: i64 = two
        .connect()
        .unwrap()
        .sqlite_only("a test")
        .unwrap()
        .query_row("SELECT count(*) FROM chain_checkpoints", [], |r| r.get(0))
        .unwrap();
    assert_eq!(count, 0);
}

#[test]
fn connect_does_not_migrate_again() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("argus.db");
    let store = Store::open(&path).unwrap();
    // Another process moves the file to a newer schema: opening refuses
    // it, but the store already open keeps connecting without a check.
    set_schema_version(&store, 999);
    assert!(Store::open(&path).is_err());
    assert_eq!(store.connect().unwrap().schema_version().unwrap(), 999);
}

#[test]
fn a_statement_is_not_compiled_again_when_its_bound_values_change() {
    // The dispatcher's claim binds its free slots as the LIMIT; SQLite would
    // compile such a statement again for every new value without the
    // planner stability guarantee (measured: every run of 20).
    const CLAIM: &str = "SELECT id FROM alert_deliveries
         WHERE status = 'pending' AND notifier = ?1 AND next_attempt_at_ms <= ?2
         ORDER BY next_attempt_at_ms, id LIMIT ?3";
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("argus.db")).unwrap();
    let read_only = Store::open_read_only_in_dir(dir.path()).unwrap();
    for store in [store, read_only] {
        let conn = store.connect().unwrap();
        let raw = conn.sqlite_only("a test").unwrap();
        for limit in 1..=20i64 {
            let mut stmt = raw.prepare_cached(CLAIM).unwrap();
            let rows: Vec<i64> = stmt
                .query_map(rusqlite::params!["hook", limit * 1_000, limit], |r| {
                    r.get(0)
                })
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            assert!(rows.is_empty());
        }
        let stmt = raw.prepare_cached(CLAIM).unwrap();
        assert_eq!(
            stmt.get_status(rusqlite::StatementStatus::RePrepare),
            0,
            "the claim was compiled again for a new LIMIT"
        );
        // The plan is still the notifier's queue, read in due order.
        let plan: String = raw
            .query_row(
                &format!("EXPLAIN QUERY PLAN {CLAIM}"),
                rusqlite::params!["hook", 0, 1],
                |r| r.get(3),
            )
            .unwrap();
        assert!(plan.contains("alert_deliveries_queue"), "{plan}");
    }
}
