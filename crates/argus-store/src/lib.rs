//! Persistence for Argus.
//!
//! The embedded default is one SQLite file, `argus.db`, in the data directory:
//! no server to start, WAL mode so readers never block the writer, foreign keys
//! enforced, and a busy timeout so two `argus` processes on the same file wait
//! for each other instead of failing.
//!
//! The schema evolves through numbered migrations embedded in the binary
//! (`migrations/NNNN_name.sql`). Each one is applied in its own transaction and
//! the schema version is kept in `PRAGMA user_version`, so a half-applied
//! migration never exists. A database written by a newer Argus is refused
//! rather than guessed at.
//!
//! The store hands out a plain [`rusqlite::Connection`]; each stage keeps its
//! SQL in one module of its own crate (the registry's is `argus_registry::db`)
//! so that a PostgreSQL backend can later slot in behind one interface.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};

/// The database file's name inside the data directory.
pub const DATABASE_FILE: &str = "argus.db";

/// How long a writer waits for another process holding the database.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

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
];

/// What went wrong with the database.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The data directory could not be created or secured.
    #[error("cannot prepare the data directory {}: {source}; check the path and its permissions", path.display())]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    /// SQLite could not open the file.
    #[error("cannot open the database {}: {source}; check that it is an Argus database and that it is readable", path.display())]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    /// The database was written by a newer Argus.
    #[error(
        "the database {} has schema version {found}, newer than this argus supports ({supported}); \
         upgrade argus, or point --data-dir at another directory",
        path.display()
    )]
    TooNew {
        path: PathBuf,
        found: u32,
        supported: u32,
    },
    /// A migration failed; the database is left at the previous version.
    #[error(
        "migration {version} ({name}) failed: {source}; the database was left at version {previous}"
    )]
    Migration {
        version: u32,
        name: &'static str,
        previous: u32,
        source: rusqlite::Error,
    },
    /// Any other SQLite failure.
    #[error("database error: {source}")]
    Sqlite {
        #[from]
        source: rusqlite::Error,
    },
}

/// An open, migrated database.
#[derive(Debug)]
pub struct Store {
    conn: Connection,
    path: Option<PathBuf>,
}

impl Store {
    /// Opens (creating if needed) `argus.db` in `data_dir`, creating the
    /// directory with mode 0700 when it does not exist.
    pub fn open_in_dir(data_dir: &Path) -> Result<Self, StoreError> {
        create_private_dir(data_dir)?;
        Self::open(&data_dir.join(DATABASE_FILE))
    }

    /// Opens (creating if needed) the database file at `path` and brings its
    /// schema up to date.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Self::open_with(path, MIGRATIONS)
    }

    /// A private database in memory, for tests and dry runs.
    pub fn open_in_memory() -> Result<Self, StoreError> {
        let conn = Connection::open_in_memory().map_err(|source| StoreError::Open {
            path: PathBuf::from(":memory:"),
            source,
        })?;
        let mut store = Self { conn, path: None };
        store.configure()?;
        migrate(&mut store.conn, MIGRATIONS, Path::new(":memory:"))?;
        Ok(store)
    }

    fn open_with(path: &Path, migrations: &[Migration]) -> Result<Self, StoreError> {
        let existed = path.exists();
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI;
        let conn = Connection::open_with_flags(path, flags).map_err(|source| StoreError::Open {
            path: path.to_owned(),
            source,
        })?;
        if !existed {
            restrict_file(path)?;
        }
        let mut store = Self {
            conn,
            path: Some(path.to_owned()),
        };
        store.configure().map_err(|error| match error {
            StoreError::Sqlite { source } => StoreError::Open {
                path: path.to_owned(),
                source,
            },
            other => other,
        })?;
        migrate(&mut store.conn, migrations, path)?;
        Ok(store)
    }

    fn configure(&mut self) -> Result<(), StoreError> {
        self.conn.busy_timeout(BUSY_TIMEOUT)?;
        // The daemon's hot path (chain cursor, alerts, outbox) keeps a few
        // dozen statements prepared on one connection.
        self.conn.set_prepared_statement_cache_capacity(64);
        // `journal_mode` answers with a row; in memory it stays "memory".
        let _mode: String = self
            .conn
            .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
        self.conn.execute_batch(
            "PRAGMA foreign_keys = ON;
             PRAGMA synchronous = NORMAL;",
            // NORMAL in WAL mode: a commit survives a killed process, not a
            // power cut. After a power cut the chain checkpoint may be a few
            // commits behind; the blocks are read again and, finding ids
            // being deterministic, recorded and sent again under the same
            // idempotency keys: re-sent, never lost.
        )?;
        Ok(())
    }

    /// The file behind this store (`None` in memory).
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The connection, for reads.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// Starts a write transaction. It takes the write lock at once
    /// (`BEGIN IMMEDIATE`) so two writers queue instead of deadlocking; it
    /// rolls back when dropped without `commit`.
    pub fn transaction(&mut self) -> Result<Transaction<'_>, StoreError> {
        Ok(self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?)
    }

    /// The schema version of the open database.
    pub fn schema_version(&self) -> Result<u32, StoreError> {
        Ok(user_version(&self.conn)?)
    }
}

/// The highest schema version this binary knows.
pub fn latest_version() -> u32 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

fn user_version(conn: &Connection) -> Result<u32, rusqlite::Error> {
    conn.query_row("PRAGMA user_version", [], |row| row.get(0))
}

fn migrate(conn: &mut Connection, migrations: &[Migration], path: &Path) -> Result<(), StoreError> {
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

fn create_private_dir(path: &Path) -> Result<(), StoreError> {
    if path.is_dir() {
        return Ok(());
    }
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(path).map_err(|source| StoreError::DataDir {
        path: path.to_owned(),
        source,
    })
}

fn restrict_file(path: &Path) -> Result<(), StoreError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(0o600)).map_err(|source| {
            StoreError::DataDir {
                path: path.to_owned(),
                source,
            }
        })?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn tables(store: &Store) -> Vec<String> {
        let mut stmt = store
            .connection()
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
        assert_eq!(store.schema_version().unwrap(), latest_version());
        assert!(tables(&store).contains(&"registry_entries".to_owned()));
        let journal: String = store
            .connection()
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(journal, "wal");
        let fk: i64 = store
            .connection()
            .query_row("PRAGMA foreign_keys", [], |r| r.get(0))
            .unwrap();
        assert_eq!(fk, 1);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&data).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o700);
        }
        let before = tables(&store);
        drop(store);
        let again = Store::open_in_dir(&data).unwrap();
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
        let store = Store::open_with(&path, &more).unwrap();
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
        let store = Store::open(&path).unwrap();
        assert_eq!(store.schema_version().unwrap(), latest);
        assert!(!tables(&store).contains(&"half".to_owned()));
    }

    #[test]
    fn a_database_from_a_newer_argus_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("argus.db");
        {
            let store = Store::open(&path).unwrap();
            store
                .connection()
                .pragma_update(None, "user_version", 999)
                .unwrap();
        }
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
        assert_eq!(store.schema_version().unwrap(), latest_version());
    }
}
