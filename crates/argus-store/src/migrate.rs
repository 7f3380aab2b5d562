//! The schema's migrations and how they are applied: each in its own
//! `IMMEDIATE` transaction that also sets `PRAGMA user_version`, so a
//! half-applied migration is impossible and two processes opening the same
//! file at once apply each one once.

use std::path::Path;

use rusqlite::TransactionBehavior;

use crate::{Connection, StoreError};

/// One schema change, applied once, in order.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// The schema version this migration brings the database to (1, 2, ...).
    pub version: u32,
    /// A short name, from the file name.
    pub name: &'static str,
    /// The SQL, run as one batch.
    pub sql: &'static str,
}

/// Every migration this binary knows, in order.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "registry",
        sql: include_str!("../migrations/0001_registry.sql"),
    },
    Migration {
        version: 2,
        name: "chain",
        sql: include_str!("../migrations/0002_chain.sql"),
    },
    Migration {
        version: 3,
        name: "alerting",
        sql: include_str!("../migrations/0003_alerting.sql"),
    },
    Migration {
        version: 4,
        name: "signals",
        sql: include_str!("../migrations/0004_signals.sql"),
    },
    Migration {
        version: 5,
        name: "incidents",
        sql: include_str!("../migrations/0005_incidents.sql"),
    },
    Migration {
        version: 6,
        name: "metrics",
        sql: include_str!("../migrations/0006_metrics.sql"),
    },
    Migration {
        version: 7,
        name: "api_tokens",
        sql: include_str!("../migrations/0007_api_tokens.sql"),
    },
    Migration {
        version: 8,
        name: "delivery attempts",
        sql: include_str!("../migrations/0008_delivery_attempts.sql"),
    },
    Migration {
        version: 9,
        name: "grouping",
        sql: include_str!("../migrations/0009_grouping.sql"),
    },
    Migration {
        version: 10,
        name: "bot submissions",
        sql: include_str!("../migrations/0010_bot_submissions.sql"),
    },
    Migration {
        version: 11,
        name: "registry onchain",
        sql: include_str!("../migrations/0011_registry_onchain.sql"),
    },
    Migration {
        version: 12,
        name: "coverage runs",
        sql: include_str!("../migrations/0012_coverage_runs.sql"),
    },
    Migration {
        version: 13,
        name: "checks",
        sql: include_str!("../migrations/0013_checks.sql"),
    },
    Migration {
        version: 14,
        name: "leases",
        sql: include_str!("../migrations/0014_leases.sql"),
    },
    Migration {
        version: 15,
        name: "instance work",
        sql: include_str!("../migrations/0015_instance_work.sql"),
    },
    Migration {
        version: 16,
        name: "delivery queue",
        sql: include_str!("../migrations/0016_delivery_queue.sql"),
    },
];

/// The highest schema version this binary knows.
pub fn latest_version() -> u32 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

pub(crate) fn user_version(conn: &rusqlite::Connection) -> Result<u32, rusqlite::Error> {
    conn.query_row("PRAGMA user_version", [], |row| row.get(0))
}

pub(crate) fn migrate(
    conn: &mut Connection,
    migrations: &[Migration],
    path: &Path,
) -> Result<(), StoreError> {
    let crate::connection::Inner::Sqlite(conn) = &mut conn.inner else {
        return Err(StoreError::Unsupported {
            what: "SQLite migrations on PostgreSQL".to_owned(),
        });
    };
    let supported = migrations.last().map_or(0, |m| m.version);
    let mut current = user_version(conn)?;
    if current > supported {
        return Err(StoreError::TooNew {
            path: path.to_owned(),
            found: current,
            supported,
        });
    }
    let start = current;
    for migration in migrations.iter().filter(|m| m.version > start) {
        let failed = |source| StoreError::Migration {
            version: migration.version,
            name: migration.name,
            previous: current,
            source,
        };
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(failed)?;
        // Another process may have migrated while we waited for the lock.
        let now = user_version(&tx).map_err(failed)?;
        if now > supported {
            return Err(StoreError::TooNew {
                path: path.to_owned(),
                found: now,
                supported,
            });
        }
        if now >= migration.version {
            current = now;
            continue;
        }
        tx.execute_batch(migration.sql).map_err(failed)?;
        tx.pragma_update(None, "user_version", migration.version)
            .map_err(failed)?;
        tx.commit().map_err(failed)?;
        current = migration.version;
    }
    Ok(())
}

/// The PostgreSQL schema: a baseline equal to SQLite's schema at version
/// 13 (PostgreSQL came then; no older PostgreSQL database exists), then
/// the same numbered changes as SQLite's, written for PostgreSQL.
pub const PG_MIGRATIONS: &[Migration] = &[
    Migration {
        version: 13,
        name: "baseline",
        sql: include_str!("../migrations/postgres/0013_baseline.sql"),
    },
    Migration {
        version: 14,
        name: "leases",
        sql: include_str!("../migrations/postgres/0014_leases.sql"),
    },
    Migration {
        version: 15,
        name: "instance work",
        sql: include_str!("../migrations/postgres/0015_instance_work.sql"),
    },
    Migration {
        version: 16,
        name: "delivery queue",
        sql: include_str!("../migrations/postgres/0016_delivery_queue.sql"),
    },
];

/// The schema version of a PostgreSQL database (0 for an empty one).
pub(crate) fn pg_version(conn: &Connection) -> Result<u32, StoreError> {
    let exists: bool = conn.query_row(
        "SELECT CAST(count(*) AS BIGINT) FROM information_schema.tables \
         WHERE table_schema = current_schema() AND table_name = 'argus_schema'",
        [],
        |row| row.get(0),
    )?;
    if !exists {
        return Ok(0);
    }
    conn.query_row("SELECT version FROM argus_schema", [], |row| row.get(0))
}

/// Brings a PostgreSQL database up to `migrations`' last version, each
/// migration in a transaction of its own under the store's write lock (two
/// instances starting at once apply each once).
pub(crate) fn migrate_pg(
    conn: &mut Connection,
    migrations: &[Migration],
) -> Result<(), StoreError> {
    let supported = migrations.last().map_or(0, |m| m.version);
    let mut current = pg_version(conn)?;
    for migration in migrations {
        let tx = conn.transaction()?;
        let now = pg_version(&tx)?;
        if now > supported {
            return Err(StoreError::TooNew {
                path: "the PostgreSQL database".into(),
                found: now,
                supported,
            });
        }
        if now >= migration.version {
            current = now;
            continue;
        }
        let failed = |error: StoreError| StoreError::Config {
            detail: format!(
                "PostgreSQL migration {} ({}) failed: {error}; the database was left at version {current}",
                migration.version, migration.name
            ),
        };
        tx.execute_batch(migration.sql).map_err(failed)?;
        tx.execute_batch(&format!(
            "CREATE TABLE IF NOT EXISTS argus_schema (version BIGINT NOT NULL); \
             DELETE FROM argus_schema; INSERT INTO argus_schema (version) VALUES ({});",
            migration.version
        ))
        .map_err(failed)?;
        tx.commit().map_err(failed)?;
        current = migration.version;
    }
    if current > supported {
        return Err(StoreError::TooNew {
            path: "the PostgreSQL database".into(),
            found: current,
            supported,
        });
    }
    Ok(())
}
