//! The store on a real PostgreSQL server (Debian's `postgresql`, started
//! by the test on a private port): migrations, values both ways, the
//! dialect rewrite, transactions and their write lock, and a server
//! restart under an open store.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Barrier, OnceLock};
use std::time::{Duration, Instant};

use argus_store::sql::{OptionalExtension as _, Value, params};
use argus_store::{Dialect, Store, StoreError, latest_version};
use argus_testkit::Postgres;

fn server() -> &'static Postgres {
    static SERVER: OnceLock<Postgres> = OnceLock::new();
    SERVER.get_or_init(Postgres::start)
}

fn fresh() -> Store {
    Store::open_postgres(&server().create_database(), None).unwrap()
}

#[test]
fn a_new_database_is_migrated_to_the_same_version_as_sqlite_and_reopen_is_a_no_op() {
    let url = server().create_database();
    let store = Store::open_postgres(&url, None).unwrap();
    assert_eq!(store.dialect(), Dialect::Postgres);
    let conn = store.connect().unwrap();
    assert_eq!(conn.schema_version().unwrap(), latest_version());
    let tables: i64 = conn
        .query_row(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'",
            [],
            |row| row.get(0),
        )
        .unwrap();
    // SQLite's tables (less sqlite_sequence) and argus_schema.
    let sqlite = Store::open_in_memory().unwrap();
    let sqlite_tables: i64 = sqlite
        .connect()
        .unwrap()
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name != 'sqlite_sequence'",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(tables, sqlite_tables + 1);
    drop((conn, store));
    let again = Store::open_postgres(&url, None).unwrap();
    assert_eq!(
        again.connect().unwrap().schema_version().unwrap(),
        latest_version()
    );
    // A database from a newer argus is refused.
    server()
        .psql(
            url.rsplit('/').next().unwrap(),
            "UPDATE argus_schema SET version = 999",
        )
        .unwrap();
    let error = Store::open_postgres(&url, None).unwrap_err();
    assert!(
        matches!(error, StoreError::TooNew { found: 999, .. }),
        "{error}"
    );
}

#[test]
fn values_round_trip_in_sqlites_five_classes() {
    let store = fresh();
    let conn = store.connect().unwrap();
    conn.execute(
        "INSERT INTO signal_samples (name, value, labels, at_ms) VALUES (?1, ?2, ?3, ?4)",
        params!["latency", 1.25f64, "{}", i64::MAX],
    )
    .unwrap();
    let id = conn.last_insert_rowid().unwrap();
    assert!(id >= 1);
    let (name, value, at): (String, f64, i64) = conn
        .query_row(
            "SELECT name, value, at_ms FROM signal_samples WHERE id = ?1",
            [id],
            |row| Ok((row.get(0)?, row.get(1)?, row.get("at_ms")?)),
        )
        .unwrap();
    assert_eq!((name.as_str(), value, at), ("latency", 1.25, i64::MAX));
    // sum() of a bigint is a numeric on PostgreSQL: it reads as an integer.
    let total: i64 = conn
        .query_row("SELECT sum(at_ms / 2) FROM signal_samples", [], |row| {
            row.get(0)
        })
        .unwrap();
    assert_eq!(total, i64::MAX / 2);
    let nothing: Option<i64> = conn
        .query_row(
            "SELECT at_ms FROM signal_samples WHERE id = ?1",
            [-1],
            |row| row.get(0),
        )
        .optional()
        .unwrap();
    assert_eq!(nothing, None);
    let null: Value = conn
        .query_row("SELECT max(id) FROM drill_runs", [], |row| row.get(0))
        .unwrap();
    assert_eq!(null, Value::Null);
    // A number out of 64-bit range is refused before it reaches the server.
    assert!(
        conn.execute("UPDATE signal_samples SET at_ms = ?1", [u64::MAX])
            .is_err()
    );
}

#[test]
fn the_sqlite_dialect_runs_rewritten() {
    let store = fresh();
    let conn = store.connect().unwrap();
    conn.execute(
        "INSERT INTO check_schedule (cadence, last_fired_ms) VALUES ('daily', 5)",
        [],
    )
    .unwrap();
    // INSERT OR IGNORE: the duplicate is skipped, not an error.
    let changed = conn
        .execute(
            "INSERT OR IGNORE INTO check_schedule (cadence, last_fired_ms) VALUES (?, ?)",
            params!["daily", 9],
        )
        .unwrap();
    assert_eq!(changed, 0);
    // Two-argument max is GREATEST.
    let at: i64 = conn
        .query_row(
            "SELECT max(last_fired_ms - 10, 0) FROM check_schedule WHERE cadence = ?1",
            ["daily"],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(at, 0);
    // A constraint says so.
    let error = conn
        .execute(
            "INSERT INTO check_schedule (cadence, last_fired_ms) VALUES ('daily', 1)",
            [],
        )
        .unwrap_err();
    assert!(error.is_constraint_violation(), "{error}");
    let mut statement = conn
        .prepare_cached("SELECT cadence FROM check_schedule WHERE last_fired_ms > ?1")
        .unwrap();
    let rows: Vec<String> = statement
        .query_map([0], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(rows, ["daily"]);
}

#[test]
fn a_transaction_commits_together_or_not_at_all_and_writers_queue() {
    let store = fresh();
    let mut writer = store.connect().unwrap();
    let reader = store.connect().unwrap();
    let count = |conn: &argus_store::Connection| -> i64 {
        conn.query_row("SELECT count(*) FROM chain_checkpoints", [], |r| r.get(0))
            .unwrap()
    };
    let tx = writer.transaction().unwrap();
    tx.execute(
        "INSERT INTO chain_checkpoints (chain_id, next_block) VALUES (1, 7)",
        [],
    )
    .unwrap();
    assert_eq!(count(&tx), 1);
    assert_eq!(count(&reader), 0);
    tx.commit().unwrap();
    assert_eq!(count(&reader), 1);
    let tx = writer.transaction().unwrap();
    tx.execute("DELETE FROM chain_checkpoints", []).unwrap();
    drop(tx);
    assert_eq!(count(&reader), 1);

    // A second writer waits for the first one's commit (the write lock),
    // then sees its row.
    let barrier = Arc::new(Barrier::new(2));
    let mut first = store.connect().unwrap();
    let tx = first.transaction().unwrap();
    tx.execute(
        "UPDATE chain_checkpoints SET next_block = 8 WHERE chain_id = 1",
        [],
    )
    .unwrap();
    let other = {
        let store = store.clone();
        let barrier = Arc::clone(&barrier);
        std::thread::spawn(move || {
            let mut second = store.connect().unwrap();
            barrier.wait();
            let started = Instant::now();
            let tx = second.transaction().unwrap();
            let waited = started.elapsed();
            let seen: i64 = tx
                .query_row(
                    "SELECT next_block FROM chain_checkpoints WHERE chain_id = 1",
                    [],
                    |r| r.get(0),
                )
                .unwrap();
            tx.commit().unwrap();
            (waited, seen)
        })
    };
    barrier.wait();
    std::thread::sleep(Duration::from_millis(300));
    tx.commit().unwrap();
    let (waited, seen) = other.join().unwrap();
    assert!(waited >= Duration::from_millis(250), "waited {waited:?}");
    assert_eq!(seen, 8);
}

#[test]
fn an_open_store_survives_a_server_restart() {
    let pg = Postgres::start();
    let store = Store::open_postgres(&pg.create_database(), None).unwrap();
    let conn = store.connect().unwrap();
    conn.execute(
        "INSERT INTO chain_checkpoints (chain_id, next_block) VALUES (1, 1)",
        [],
    )
    .unwrap();
    pg.stop();
    let error = conn
        .execute("UPDATE chain_checkpoints SET next_block = 2", [])
        .unwrap_err();
    assert!(error.is_busy(), "a lost server is worth retrying: {error}");
    pg.start_server();
    // The same connection reconnects on its next statement.
    conn.execute("UPDATE chain_checkpoints SET next_block = 3", [])
        .unwrap();
    let next: i64 = store
        .connect()
        .unwrap()
        .query_row("SELECT next_block FROM chain_checkpoints", [], |r| r.get(0))
        .unwrap();
    assert_eq!(next, 3);
}

#[test]
fn a_password_never_reaches_an_error_message() {
    let error = Store::open_postgres(
        "postgres://argus:hunter2-secret@127.0.0.1:1/nowhere?connect_timeout=1",
        None,
    )
    .unwrap_err();
    let text = format!("{error} {error:?}");
    assert!(!text.contains("hunter2"), "{text}");
    assert_eq!(
        argus_store::redact_url("postgres://u:p%40ss@h:5/db?password=x&sslmode=disable"),
        "postgres://u:***@h:5/db?password=***&sslmode=disable"
    );
}

#[test]
fn a_committed_notify_wakes_the_listener_and_a_rolled_back_one_does_not() {
    let store = fresh();
    let (woke, wakes) = std::sync::mpsc::channel::<()>();
    let _listener = store
        .listen_outbox(move || {
            let _ = woke.send(());
        })
        .unwrap()
        .expect("PostgreSQL listens");
    // The listener wakes once when it starts listening.
    wakes.recv_timeout(Duration::from_secs(10)).unwrap();
    let mut conn = store.connect().unwrap();
    let tx = conn.transaction().unwrap();
    argus_store::notify::outbox_changed(&tx).unwrap();
    drop(tx);
    assert!(
        wakes.recv_timeout(Duration::from_millis(700)).is_err(),
        "a rolled-back NOTIFY is never delivered"
    );
    // A transaction that queues many deliveries notifies once.
    let tx = conn.transaction().unwrap();
    for _ in 0..3 {
        argus_store::notify::outbox_changed(&tx).unwrap();
    }
    let committed = Instant::now();
    tx.commit().unwrap();
    wakes.recv_timeout(Duration::from_secs(5)).unwrap();
    assert!(
        committed.elapsed() < Duration::from_millis(500),
        "{:?}",
        committed.elapsed()
    );
    // SQLite has no one else to hear from.
    let sqlite = Store::open_in_memory().unwrap();
    assert!(sqlite.listen_outbox(|| {}).unwrap().is_none());
}
