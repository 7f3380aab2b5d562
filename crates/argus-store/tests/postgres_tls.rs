//! TLS to a real PostgreSQL server that accepts TCP clients over TLS only
//! (Debian's `postgresql`, a CA and a server certificate made by `openssl`):
//! `sslmode=verify-full` with the CA connects, and the session is
//! encrypted; no TLS, another CA, a missing CA file or a mode that would
//! fall back to plain text are each refused with what to do.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::sync::OnceLock;

use argus_store::{Store, StoreError};
use argus_testkit::Postgres;

struct Tls {
    server: Postgres,
    ca: PathBuf,
    other_ca: PathBuf,
}

fn tls() -> &'static Tls {
    static SERVER: OnceLock<Tls> = OnceLock::new();
    SERVER.get_or_init(|| {
        let server = Postgres::start();
        let (ca, other_ca) = server.enable_tls();
        Tls {
            server,
            ca,
            other_ca,
        }
    })
}

fn database() -> String {
    tls().server.create_database()
}

#[test]
fn verify_full_with_the_ca_connects_encrypted_for_queries_and_notifications() {
    let url = format!(
        "{}?sslmode=verify-full&sslrootcert={}",
        database(),
        tls().ca.display()
    );
    let store = Store::open_postgres(&url, None).unwrap();
    let conn = store.connect().unwrap();
    let encrypted: bool = conn
        .query_row(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert!(encrypted, "the session is over TLS");
    // The outbox listener's own session goes over TLS too.
    let (tx, rx) = std::sync::mpsc::channel();
    let _listener = store
        .listen_outbox(move || {
            let _ = tx.send(());
        })
        .unwrap()
        .expect("a listener on PostgreSQL");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        conn.execute("SELECT pg_notify('argus_outbox', '')", [])
            .unwrap();
        if rx
            .recv_timeout(std::time::Duration::from_millis(200))
            .is_ok()
        {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no notification");
    }
}

#[test]
fn plain_text_is_refused_by_this_server_and_another_ca_by_argus() {
    let url = database();
    let error = Store::open_postgres(&url, None).unwrap_err();
    assert!(
        error.to_string().contains("no encryption") || error.to_string().contains("pg_hba"),
        "{error}"
    );
    let other = format!(
        "{url}?sslmode=verify-full&sslrootcert={}",
        tls().other_ca.display()
    );
    let error = Store::open_postgres(&other, None).unwrap_err();
    let text = error.to_string().to_lowercase();
    assert!(text.contains("certificate"), "{error}");
}

#[test]
fn what_cannot_be_verified_is_refused_before_connecting_with_what_to_do() {
    let url = database();
    for mode in ["prefer", "allow", "bogus"] {
        let error = Store::open_postgres(&format!("{url}?sslmode={mode}"), None).unwrap_err();
        assert!(matches!(error, StoreError::Config { .. }), "{error}");
        assert!(error.to_string().contains("sslmode=verify-full"), "{error}");
    }
    let missing = format!("{url}?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem");
    let error = Store::open_postgres(&missing, None).unwrap_err();
    assert!(error.to_string().contains("/nonexistent/ca.pem"), "{error}");
    let no_mode = format!("{url}?sslrootcert={}", tls().ca.display());
    let error = Store::open_postgres(&no_mode, None).unwrap_err();
    assert!(error.to_string().contains("sslmode=verify-full"), "{error}");
    // A CA file that holds no certificate.
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "not a certificate\n").unwrap();
    let error = Store::open_postgres(
        &format!("{url}?sslmode=verify-full&sslrootcert={}", empty.display()),
        None,
    )
    .unwrap_err();
    assert!(error.to_string().contains("no certificate"), "{error}");
    // `require` verifies too (never TLS to an unverified server).
    let require = format!(
        "{url}?sslmode=require&sslrootcert={}",
        tls().other_ca.display()
    );
    assert!(Store::open_postgres(&require, None).is_err());
}
