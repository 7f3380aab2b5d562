//! `argus store migrate`: a SQLite data directory moved into a real
//! PostgreSQL (started by the test), all or nothing, counts compared; a
//! non-empty target and a password on the command line are refused.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use argus_testkit::{Postgres, testdata};

fn argus(data_dir: &Path) -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_argus"));
    command
        .env("ARGUS_DATA_DIR", data_dir)
        .env_remove("ARGUS_LOG")
        .env_remove("ARGUS_STORE_PASSWORD");
    command
}

fn sqlite_count(data_dir: &Path, table: &str) -> i64 {
    let conn = rusqlite::Connection::open(data_dir.join("argus.db")).unwrap();
    conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
        .unwrap()
}

#[test]
fn a_data_directory_moves_into_an_empty_postgres_database_and_only_an_empty_one() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = argus(&data)
        .args(["registry", "import"])
        .arg(testdata("foundry-project"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    // A silence and its id sequence come along too.
    let out = argus(&data)
        .args([
            "alerts",
            "silence",
            "add",
            "--rule",
            "large-*",
            "--for",
            "1h",
            "--reason",
            "maintenance",
            "--author",
            "ops",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let entries = sqlite_count(&data, "registry_entries");
    let versions = sqlite_count(&data, "registry_abi_versions");
    assert!(entries > 0 && versions > 0);

    let pg = Postgres::start();
    let url = pg.create_database();
    let db = url.rsplit('/').next().unwrap().to_owned();
    let out = argus(&data)
        .args(["store", "migrate", "--from"])
        .arg(format!("sqlite:{}", data.display()))
        .args(["--to", &url])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("migrated"), "{stdout}");
    let count = |table: &str| -> i64 {
        pg.psql(&db, &format!("SELECT count(*) FROM {table}"))
            .unwrap()
            .parse()
            .unwrap()
    };
    assert_eq!(count("registry_entries"), entries);
    assert_eq!(count("registry_abi_versions"), versions);
    assert_eq!(count("alert_silences"), 1);
    // The ids go on after the copied ones.
    pg.psql(
        &db,
        "INSERT INTO alert_silences (rule_id, starts_at_ms, ends_at_ms, created_by, reason, created_at_ms) \
         VALUES ('x', 0, 1, 'ops', 'test', 0)",
    )
    .unwrap();
    let ids = pg
        .psql(
            &db,
            "SELECT string_agg(id::text, ',' ORDER BY id) FROM alert_silences",
        )
        .unwrap();
    assert_eq!(ids, "1,2");

    // The one-shot commands read (and write) the shared database with
    // --store, from a data directory that has no database at all.
    let elsewhere = dir.path().join("elsewhere");
    let out = argus(&elsewhere)
        .args(["registry", "list", "--json", "--store", &url])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let listed = listed["contracts"].as_array().map_or(0, Vec::len);
    assert!(listed > 0, "{}", String::from_utf8_lossy(&out.stdout));
    let out = argus(&elsewhere)
        .args(["alerts", "silence", "list", "--store", &url])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("maintenance"));
    assert!(
        !elsewhere.join("argus.db").exists(),
        "nothing was written to the data directory"
    );
    // `status --store` reads the shared database: its instances and leases
    // (none running here: a problem, exit status 1), no SQLite file needed.
    let out = argus(&dir.path().join("nowhere"))
        .args(["status", "--json", "--store", &url])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["instances"], serde_json::json!([]), "{status:#}");
    assert!(
        status["problems"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["what"]
                .as_str()
                .unwrap_or_default()
                .contains("no instance")),
        "{status:#}"
    );

    // Again into the same database: refused, nothing added.
    let out = argus(&data)
        .args(["store", "migrate", "--from"])
        .arg(format!("sqlite:{}", data.display()))
        .args(["--to", &url])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("is not empty"),
        "{out:?}"
    );
    assert_eq!(count("registry_entries"), entries);

    // A password in the URL is refused without being echoed.
    let out = argus(&data)
        .args(["store", "migrate", "--from"])
        .arg(format!("sqlite:{}", data.display()))
        .args(["--to", "postgres://argus:hunter2@127.0.0.1:1/x"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("holds a password") && !stderr.contains("hunter2"),
        "{stderr}"
    );
}
