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
    let conn = &mut conn.sqlite;
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
