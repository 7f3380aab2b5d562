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
//! A process opens the database once, as a [`Store`]: the handle that is
//! cloned into every stage and task. Whoever queries asks it for a
//! [`Connection`] of its own ([`Store::connect`]), and writes in a
//! [`Transaction`] of that connection. Stages take these types in their
//! public functions, never a `rusqlite` one: each stage keeps its SQL in one
//! module of its own crate (the registry's is `argus_registry::db`) and
//! reaches SQLite through [`Connection::sqlite`], so that a PostgreSQL
//! backend can later be a second variant inside these types without changing
//! any stage's signature.
//!
//! Commands that only read ([`Store::open_read_only_in_dir`]) open the file
//! read-only: nothing is created, migrated or written, so they work on a
//! data directory the user may read but not write (a backup, another
//! user's daemon). SQLite reads a WAL database read-only when its `-shm`
//! file exists or can be created; in a directory it cannot write, with no
//! `-shm` and no `-wal` file (the last writer closed cleanly, so the whole
//! database is in the main file), the store opens it `immutable`, which
//! needs neither. With a `-wal` file left but no `-shm` and no way to make
//! one, SQLite cannot read it (the WAL index is missing); the error says to
//! run a writing command once, or to read a copy.
//!
//! The daemon claims its data directory with a [`RunLock`] (`run.lock`, an
//! exclusive `flock` held for its life, the holder's pid inside): SQLite
//! would let two daemons write the same file, and they would each deliver
//! every alert.

mod connection;
pub mod copy;
pub mod lease;
mod lock;
mod migrate;
pub mod notify;
mod pg;
pub mod sql;
mod sqlite;
pub mod testing;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::OpenFlags;
use rusqlite::config::DbConfig;

pub use connection::{Connection, ReadSnapshot, Statement, Transaction};
pub use lock::{RUN_LOCK_FILE, RunLock};
pub use migrate::{MIGRATIONS, Migration, PG_MIGRATIONS, latest_version};
use migrate::{migrate, user_version};
pub use sql::Dialect;

/// The database file's name inside the data directory.
pub const DATABASE_FILE: &str = "argus.db";

/// How long a writer waits for another process holding the database.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

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
    /// A command that only reads found no database.
    #[error(
        "there is no Argus database in {}{}; create one with `argus registry import <files>` \
         (or start the daemon, `argus run -c argus.yaml`), or point --data-dir (or \
         ARGUS_DATA_DIR) at the directory it uses",
        dir.display(),
        if *dir_exists { "" } else { " (the directory does not exist)" }
    )]
    Missing { dir: PathBuf, dir_exists: bool },
    /// A command that only reads found a database of an older schema; it
    /// does not migrate.
    #[error(
        "the database {} has schema version {found}, older than this argus ({supported}), and \
         this command only reads; run a command that writes once to upgrade it (`argus run`, \
         `argus registry import`), or use the argus that wrote it",
        path.display()
    )]
    TooOld {
        path: PathBuf,
        found: u32,
        supported: u32,
    },
    /// Another process holds the data directory's run lock.
    #[error(
        "another argus run{} holds {}; stop it first (one daemon per data directory)",
        pid.map(|pid| format!(" (pid {pid})")).unwrap_or_default(),
        dir.display()
    )]
    Locked { dir: PathBuf, pid: Option<u32> },
    /// The run lock could not be taken for another reason.
    #[error("cannot lock {}: {source}; check the data directory's permissions", path.display())]
    Lock {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Any other SQLite failure.
    #[error("database error: {source}")]
    Sqlite {
        #[from]
        source: rusqlite::Error,
    },
    /// A PostgreSQL failure (the server's message, or what the client met
    /// on the way: refused, TLS, timeout; never the password).
    #[error("database error: {}", postgres_message(source))]
    Postgres { source: postgres::Error },
    /// PostgreSQL cannot be reached now; trying again later may succeed.
    #[error("the database is unavailable: {detail}")]
    Unavailable { detail: String },
    /// A query that must return a row returned none.
    #[error("the query returned no row")]
    NoRows,
    /// A value could not be bound, or a column read, as the type asked.
    #[error("database value: {detail}")]
    Conversion { detail: String },
    /// What only the SQLite backend does was asked of PostgreSQL.
    #[error("{what} is only possible on the embedded SQLite store")]
    Unsupported { what: String },
    /// A write of a lease holder whose lease is gone (expired, or another
    /// instance holds it at a later epoch): the transaction is refused.
    #[error("the lease {lease} is no longer this instance's: {detail}; its writes are refused")]
    Fenced { lease: String, detail: String },
    /// The `store:` setting is not a database this argus can open.
    #[error("{detail}")]
    Config { detail: String },
}

/// What a PostgreSQL error says: the server's message (with its detail
/// and hint), or the client's error and each cause under it (postgres's own
/// `Display` stops at "db error").
fn postgres_message(error: &postgres::Error) -> String {
    use std::fmt::Write as _;
    if let Some(db) = error.as_db_error() {
        let mut text = format!("{}: {}", db.severity(), db.message());
        if let Some(detail) = db.detail() {
            let _ = write!(text, " ({detail})");
        }
        if let Some(hint) = db.hint() {
            let _ = write!(text, "; hint: {hint}");
        }
        return text;
    }
    argus_core::error_chain(error)
}

impl StoreError {
    /// Whether another connection held the database past the busy timeout:
    /// trying again later may succeed.
    pub fn is_busy(&self) -> bool {
        match self {
            StoreError::Sqlite { source } => matches!(
                source.sqlite_error_code(),
                Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
            ),
            // A fenced write is refused until this instance holds the lease
            // again: its task winds down as its term ends.
            StoreError::Unavailable { .. } | StoreError::Fenced { .. } => true,
            StoreError::Postgres { source } => {
                source.is_closed()
                    || source.code().is_some_and(|code| {
                        use postgres::error::SqlState;
                        [
                            SqlState::T_R_SERIALIZATION_FAILURE,
                            SqlState::T_R_DEADLOCK_DETECTED,
                            SqlState::LOCK_NOT_AVAILABLE,
                            SqlState::ADMIN_SHUTDOWN,
                            SqlState::CRASH_SHUTDOWN,
                            SqlState::CANNOT_CONNECT_NOW,
                            SqlState::IDLE_IN_TRANSACTION_SESSION_TIMEOUT,
                        ]
                        .contains(code)
                    })
                    || source.as_db_error().is_none()
            }
            _ => false,
        }
    }

    /// Whether a constraint (unique, foreign key, check, not null) refused
    /// the write.
    pub fn is_constraint_violation(&self) -> bool {
        match self {
            StoreError::Sqlite { source } => matches!(
                source.sqlite_error_code(),
                Some(rusqlite::ErrorCode::ConstraintViolation)
            ),
            StoreError::Postgres { source } => source
                .code()
                .is_some_and(|code| code.code().starts_with("23")),
            _ => false,
        }
    }

    /// The same error, saying which column it was about.
    pub(crate) fn in_column(self, at: usize) -> Self {
        match self {
            StoreError::Conversion { detail } => StoreError::Conversion {
                detail: format!("column {at}: {detail}"),
            },
            other => other,
        }
    }
}

/// The process-wide handle on the database: opened and migrated once, then
/// cloned (cheaply: it is an `Arc`) into every stage and task that needs it.
/// Each user asks it for its own [`Connection`] with [`Store::connect`].
#[derive(Debug, Clone)]
pub struct Store {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    target: Target,
}

/// How the connections of a file store open it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    /// Read and write (and create).
    ReadWrite,
    /// `SQLITE_OPEN_READ_ONLY`: a write fails, nothing is created.
    ReadOnly,
    /// Read-only and `immutable=1`: for a directory where the `-shm` file
    /// can neither be found nor created and there is no `-wal` (see the
    /// module docs).
    Immutable,
}

/// Where the connections of a store go. A PostgreSQL backend would be a
/// second variant here (a pool and a schema), leaving every stage's
/// signature as it is.
#[derive(Debug)]
enum Target {
    /// A file on disk.
    File { path: PathBuf, access: Access },
    /// A database in this process's memory, shared by every connection that
    /// opens `uri` (SQLite's `memdb` VFS with a name starting with `/`). It
    /// lives as long as one connection to it is open: `_keep` is that one.
    Memory {
        uri: String,
        _keep: Mutex<rusqlite::Connection>,
    },
    /// A PostgreSQL database: a pool of connections, and where it is
    /// (without the password) for messages.
    Postgres {
        pool: Arc<pg::PgPool>,
        display: String,
    },
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

    /// A private database in memory, for tests and dry runs. Every
    /// [`Connection`] of the returned store (and of its clones) sees the same
    /// data; it is gone once the store and all its connections are dropped.
    /// Without a WAL in memory, a connection that reads while another holds
    /// a write transaction waits (up to the busy timeout) for its commit.
    pub fn open_in_memory() -> Result<Self, StoreError> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let uri = format!(
            "file:/argus-memory-{}-{}?vfs=memdb",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let mut conn = connect_sqlite(Path::new(&uri))?;
        migrate(&mut conn, MIGRATIONS, Path::new(":memory:"))?;
        let connection::Inner::Sqlite(keep) = conn.inner else {
            return Err(StoreError::Unsupported {
                what: "a PostgreSQL connection for an in-memory store".to_owned(),
            });
        };
        Ok(Self {
            shared: Arc::new(Shared {
                target: Target::Memory {
                    uri,
                    _keep: Mutex::new(keep),
                },
            }),
        })
    }

    /// Opens `argus.db` in `data_dir` for reading only, for the commands
    /// that write nothing: the directory and the file are not created, the
    /// schema is not migrated, and every [`Connection`] of the store is
    /// read-only (a write fails). Refuses a missing database
    /// ([`StoreError::Missing`], naming the directory), one older than this
    /// binary ([`StoreError::TooOld`]: it would have to be migrated) and one
    /// newer ([`StoreError::TooNew`]).
    pub fn open_read_only_in_dir(data_dir: &Path) -> Result<Self, StoreError> {
        let path = data_dir.join(DATABASE_FILE);
        if !path.is_file() {
            return Err(StoreError::Missing {
                dir: data_dir.to_owned(),
                dir_exists: data_dir.is_dir(),
            });
        }
        let (conn, access) = match connect_file(&path, Access::ReadOnly).and_then(|conn| {
            let version = conn.schema_version()?;
            Ok((conn, version))
        }) {
            Ok((conn, _)) => (conn, Access::ReadOnly),
            Err(error) if needs_immutable(&path, &error) => {
                (connect_file(&path, Access::Immutable)?, Access::Immutable)
            }
            Err(error) => return Err(read_only_failure(&path, error)),
        };
        let found = conn.schema_version()?;
        let supported = latest_version();
        if found > supported {
            return Err(StoreError::TooNew {
                path,
                found,
                supported,
            });
        }
        if found < supported {
            return Err(StoreError::TooOld {
                path,
                found,
                supported,
            });
        }
        Ok(Self {
            shared: Arc::new(Shared {
                target: Target::File { path, access },
            }),
        })
    }

    fn open_with(path: &Path, migrations: &[Migration]) -> Result<Self, StoreError> {
        let existed = path.exists();
        let mut conn = connect_sqlite(path)?;
        if !existed {
            restrict_file(path)?;
        }
        migrate(&mut conn, migrations, path)?;
        Ok(Self {
            shared: Arc::new(Shared {
                target: Target::File {
                    path: path.to_owned(),
                    access: Access::ReadWrite,
                },
            }),
        })
    }

    /// A new connection to the database, configured (WAL, foreign keys, busy
    /// timeout, statement cache) but not migrated again: the store was when
    /// it was opened. Each thread or task that writes takes its own. A store
    /// opened read-only gives read-only connections.
    pub fn connect(&self) -> Result<Connection, StoreError> {
        match &self.shared.target {
            Target::File { path, access } => connect_file(path, *access),
            Target::Memory { uri, .. } => connect_sqlite(Path::new(uri)),
            Target::Postgres { pool, .. } => Ok(Connection::postgres(pool.get()?)),
        }
    }

    /// The file behind this store (`None` in memory).
    pub fn path(&self) -> Option<&Path> {
        match &self.shared.target {
            Target::File { path, .. } => Some(path),
            Target::Memory { .. } | Target::Postgres { .. } => None,
        }
    }

    /// Opens the PostgreSQL database at `url` (`postgres://user@host:port/db`;
    /// the password from the URL or, when it has none, from `password`;
    /// TLS with `?sslmode=verify-full`, and `&sslrootcert=CA.pem` for a
    /// private CA: see `pg::PgTarget::from_url`) and brings its schema up to
    /// date. Connections are made on demand
    /// and the idle ones kept for reuse.
    pub fn open_postgres(url: &str, password: Option<&str>) -> Result<Self, StoreError> {
        let mut target = pg::PgTarget::from_url(url)?;
        let config = &mut target.config;
        if config.get_password().is_none()
            && let Some(password) = password
        {
            config.password(password);
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(std::time::Duration::from_secs(10));
        }
        config.keepalives(true);
        config.keepalives_idle(std::time::Duration::from_secs(10));
        if config.get_application_name().is_none() {
            config.application_name("argus");
        }
        let store = Self {
            shared: Arc::new(Shared {
                target: Target::Postgres {
                    pool: pg::PgPool::new(target),
                    display: redact_url(url),
                },
            }),
        };
        let mut conn = store.connect()?;
        migrate::migrate_pg(&mut conn, migrate::PG_MIGRATIONS)?;
        Ok(store)
    }

    /// A PostgreSQL store whose schema is not touched (an administrative
    /// connection, e.g. to create a database).
    pub fn open_postgres_unmigrated(url: &str) -> Result<Self, StoreError> {
        let target = pg::PgTarget::from_url(url)?;
        Ok(Self {
            shared: Arc::new(Shared {
                target: Target::Postgres {
                    pool: pg::PgPool::new(target),
                    display: redact_url(url),
                },
            }),
        })
    }

    /// The connection settings of a PostgreSQL store.
    pub(crate) fn postgres_target(&self) -> Option<pg::PgTarget> {
        match &self.shared.target {
            Target::Postgres { pool, .. } => Some(pool.target().clone()),
            _ => None,
        }
    }

    /// Which backend the store is on.
    pub fn dialect(&self) -> Dialect {
        match &self.shared.target {
            Target::Postgres { .. } => Dialect::Postgres,
            _ => Dialect::Sqlite,
        }
    }

    /// Where the store is, for messages: the file, `memory`, or the
    /// PostgreSQL URL without its password.
    pub fn describe(&self) -> String {
        match &self.shared.target {
            Target::File { path, .. } => path.display().to_string(),
            Target::Memory { .. } => "memory".to_owned(),
            Target::Postgres { display, .. } => display.clone(),
        }
    }

    /// Whether the store was opened read-only
    /// ([`Store::open_read_only_in_dir`]).
    pub fn is_read_only(&self) -> bool {
        matches!(
            &self.shared.target,
            Target::File { access, .. } if *access != Access::ReadWrite
        )
    }
}

/// `url` with any password replaced by `***`, for messages and logs.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let mut out = url.to_owned();
    if let Some(at) = authority.rfind('@')
        && let Some(colon) = authority[..at].find(':')
    {
        let start = scheme_end + 3 + colon + 1;
        out.replace_range(start..scheme_end + 3 + at, "***");
    }
    // `password=` in the query string.
    if let Some(q) = out.find("password=") {
        let end = out[q..].find('&').map_or(out.len(), |e| q + e);
        out.replace_range(q + "password=".len()..end, "***");
    }
    out
}

/// Whether a read-only open failed only for want of the WAL index (`-shm`)
/// in a directory that cannot take one, with no `-wal` to read: then the
/// main file is the whole database and `immutable` reads it.
fn needs_immutable(path: &Path, error: &StoreError) -> bool {
    let code = match error {
        StoreError::Open { source, .. } | StoreError::Sqlite { source } => {
            source.sqlite_error_code()
        }
        _ => None,
    };
    matches!(
        code,
        Some(rusqlite::ErrorCode::CannotOpen | rusqlite::ErrorCode::ReadOnly)
    ) && !sidecar(path, "-wal").exists()
}

/// A read-only open that failed, said as what to do.
fn read_only_failure(path: &Path, error: StoreError) -> StoreError {
    let cannot_open = matches!(
        &error,
        StoreError::Open { source, .. } | StoreError::Sqlite { source }
            if matches!(
                source.sqlite_error_code(),
                Some(rusqlite::ErrorCode::CannotOpen | rusqlite::ErrorCode::ReadOnly)
            )
    );
    if cannot_open && sidecar(path, "-wal").exists() && !sidecar(path, "-shm").exists() {
        return StoreError::DataDir {
            path: path.to_owned(),
            source: std::io::Error::other(format!(
                "its write-ahead log ({}) has no index (-shm) and the directory cannot take one; \
                 run a command that writes (e.g. `argus run`) as the directory's owner once, or \
                 read a copy of the three files",
                sidecar(path, "-wal").display()
            )),
        };
    }
    error
}

/// `argus.db-wal`, `argus.db-shm`.
fn sidecar(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// One connection to the database file at `path`.
fn connect_file(path: &Path, access: Access) -> Result<Connection, StoreError> {
    match access {
        Access::ReadWrite => connect_sqlite(path),
        Access::ReadOnly => connect_read_only(path, path),
        Access::Immutable => {
            let uri = format!("file:{}?mode=ro&immutable=1", uri_path(path));
            connect_read_only(path, Path::new(&uri))
        }
    }
}

/// `path` as the path part of a `file:` URI (`%`, `?` and `#` escaped).
fn uri_path(path: &Path) -> String {
    let mut out = String::new();
    for c in path.to_string_lossy().chars() {
        match c {
            '%' => out.push_str("%25"),
            '?' => out.push_str("%3f"),
            '#' => out.push_str("%23"),
            c => out.push(c),
        }
    }
    out
}

/// A read-only connection: nothing is created, and no pragma that writes
/// (the journal mode) is set; the file's own WAL mode is used.
fn connect_read_only(path: &Path, target: &Path) -> Result<Connection, StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_URI;
    let open_failed = |source| StoreError::Open {
        path: path.to_owned(),
        source,
    };
    let conn = rusqlite::Connection::open_with_flags(target, flags).map_err(open_failed)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(open_failed)?;
    conn.set_prepared_statement_cache_capacity(64);
    stable_plans(&conn).map_err(open_failed)?;
    conn.execute_batch("PRAGMA foreign_keys = ON;")
        .map_err(open_failed)?;
    Ok(Connection::new(conn))
}

/// Opens and configures one SQLite connection to `path` (a file, or a
/// `file:` URI).
fn connect_sqlite(path: &Path) -> Result<Connection, StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_URI;
    let open_failed = |source| StoreError::Open {
        path: path.to_owned(),
        source,
    };
    let conn = rusqlite::Connection::open_with_flags(path, flags).map_err(open_failed)?;
    configure(&conn).map_err(open_failed)?;
    Ok(Connection::new(conn))
}

fn configure(conn: &rusqlite::Connection) -> Result<(), rusqlite::Error> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // The daemon's hot path (chain cursor, alerts, outbox) keeps a few
    // dozen statements prepared on one connection.
    conn.set_prepared_statement_cache_capacity(64);
    stable_plans(conn)?;
    // `journal_mode` answers with a row; in memory it stays "memory".
    let _mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
    conn.execute_batch(
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

/// One plan per statement, whatever values are bound (SQLite's query
/// planner stability guarantee). Without it SQLite looks at some bound
/// values while planning (a `LIMIT ?`, among others) and compiles the
/// statement again whenever such a value changes: the dispatcher's claim
/// (`LIMIT` = its free slots, which change from pass to pass) was parsed
/// and planned anew twice a pass, about a tenth of the daemon's CPU time in
/// a burst. The plans themselves are the same (`EXPLAIN QUERY PLAN`): the
/// partial indexes name their conditions as literals, as the queries do.
fn stable_plans(conn: &rusqlite::Connection) -> Result<(), rusqlite::Error> {
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)
        .map(|_| ())
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
mod tests;
