//! One connection to the store, and a write transaction on it.
//!
//! Stages take `&Connection` for reads and single statements, and
//! `&Transaction<'_>` when what they write must commit together with the
//! caller's other writes (a [`Transaction`] is also a [`Connection`], through
//! `Deref`, so a function taking `&Connection` runs inside it as well).
//! Neither type shows the backend in its signature: a stage's query module
//! runs its SQL through the methods here ([`Connection::execute`],
//! [`Connection::query_row`], [`Connection::prepare_cached`]), written once
//! in the dialect of [`crate::sql`].

use std::cell::Cell;
use std::ops::Deref;

use crate::StoreError;
use crate::pg::PgConn;
use crate::sql::{Dialect, Params, Result, Row, RowInner};

/// A connection to the store, made by [`Store::connect`](crate::Store::connect).
/// Not shared between threads: each task that queries holds its own.
#[derive(Debug)]
pub struct Connection {
    pub(crate) inner: Inner,
    /// Whether a transaction is open on it (PostgreSQL: the worker's
    /// connection must not be swapped for a new one inside it).
    in_transaction: Cell<bool>,
    /// Whether the open transaction sent its `NOTIFY` already
    /// ([`Connection::notify_once`]).
    notified: Cell<bool>,
}

#[derive(Debug)]
pub(crate) enum Inner {
    Sqlite(rusqlite::Connection),
    Postgres(PgConn),
}

impl Connection {
    pub(crate) fn new(sqlite: rusqlite::Connection) -> Self {
        Self {
            inner: Inner::Sqlite(sqlite),
            in_transaction: Cell::new(false),
            notified: Cell::new(false),
        }
    }

    pub(crate) fn postgres(conn: PgConn) -> Self {
        Self {
            inner: Inner::Postgres(conn),
            in_transaction: Cell::new(false),
            notified: Cell::new(false),
        }
    }

    /// Which dialect this connection speaks, for the rare statement that
    /// must be written twice.
    pub fn dialect(&self) -> Dialect {
        match &self.inner {
            Inner::Sqlite(_) => Dialect::Sqlite,
            Inner::Postgres(_) => Dialect::Postgres,
        }
    }

    /// The SQLite connection underneath, for what only SQLite does (a
    /// snapshot with `VACUUM INTO`, pragmas); on PostgreSQL,
    /// [`StoreError::Unsupported`] naming `what`.
    pub fn sqlite_only(&self, what: &str) -> Result<&rusqlite::Connection> {
        match &self.inner {
            Inner::Sqlite(conn) => Ok(conn),
            Inner::Postgres(_) => Err(StoreError::Unsupported {
                what: what.to_owned(),
            }),
        }
    }

    /// Runs one statement; the number of rows it changed.
    pub fn execute<P: Params>(&self, sql: &str, params: P) -> Result<usize> {
        let values = params.values()?;
        match &self.inner {
            Inner::Sqlite(conn) => {
                let mut statement = conn.prepare_cached(sql)?;
                Ok(statement.execute(rusqlite::params_from_iter(
                    values.iter().map(crate::sqlite::Bind),
                ))?)
            }
            Inner::Postgres(conn) => {
                let n = conn.execute(sql, values, self.in_transaction.get())?;
                usize::try_from(n).map_err(|_| StoreError::Conversion {
                    detail: format!("{n} rows changed"),
                })
            }
        }
    }

    /// Runs statements without parameters, one after another.
    pub fn execute_batch(&self, sql: &str) -> Result<()> {
        match &self.inner {
            Inner::Sqlite(conn) => Ok(conn.execute_batch(sql)?),
            Inner::Postgres(conn) => conn.batch(sql, self.in_transaction.get()),
        }
    }

    /// The first row of a query, mapped by `f`; [`StoreError::NoRows`]
    /// when there is none (see [`OptionalExtension`](crate::sql::OptionalExtension)).
    pub fn query_row<P, T, F>(&self, sql: &str, params: P, f: F) -> Result<T>
    where
        P: Params,
        F: FnOnce(&Row<'_>) -> Result<T>,
    {
        let mut f = Some(f);
        let mut first = None;
        self.each_row(sql, params, true, |row| {
            if let Some(f) = f.take() {
                first = Some(f(row));
            }
            Ok(())
        })?;
        first.unwrap_or(Err(StoreError::NoRows))
    }

    /// A statement to run once or more (SQLite keeps it in the
    /// connection's cache of prepared statements; PostgreSQL prepares it
    /// on first use and keeps it for the connection's life).
    pub fn prepare_cached(&self, sql: &str) -> Result<Statement<'_>> {
        Ok(Statement {
            conn: self,
            sql: sql.to_owned(),
        })
    }

    /// The same as [`Connection::prepare_cached`].
    pub fn prepare(&self, sql: &str) -> Result<Statement<'_>> {
        self.prepare_cached(sql)
    }

    /// Every row of a query, each mapped by `f`.
    pub fn query_map<P, T, F>(&self, sql: &str, params: P, mut f: F) -> Result<Vec<T>>
    where
        P: Params,
        F: FnMut(&Row<'_>) -> Result<T>,
    {
        let mut out = Vec::new();
        self.each_row(sql, params, false, |row| {
            out.push(f(row)?);
            Ok(())
        })?;
        Ok(out)
    }

    /// Runs a query and hands each row (only the first with `first_only`)
    /// to `each`.
    fn each_row<P: Params>(
        &self,
        sql: &str,
        params: P,
        first_only: bool,
        mut each: impl FnMut(&Row<'_>) -> Result<()>,
    ) -> Result<()> {
        let values = params.values()?;
        match &self.inner {
            Inner::Sqlite(conn) => {
                let mut statement = conn.prepare_cached(sql)?;
                let mut rows = statement.query(rusqlite::params_from_iter(
                    values.iter().map(crate::sqlite::Bind),
                ))?;
                while let Some(row) = rows.next()? {
                    each(&Row {
                        inner: RowInner::Sqlite(row),
                    })?;
                    if first_only {
                        break;
                    }
                }
            }
            Inner::Postgres(conn) => {
                let rows = conn.query(sql, values, self.in_transaction.get())?;
                let take = if first_only { 1 } else { rows.len() };
                for row in rows.iter().take(take) {
                    each(&Row {
                        inner: RowInner::Postgres(row),
                    })?;
                }
            }
        }
        Ok(())
    }

    /// The id the last `INSERT` on this connection gave its row (SQLite's
    /// rowid; PostgreSQL's `lastval()`, the last value of an identity
    /// column's sequence in this session).
    pub fn last_insert_rowid(&self) -> Result<i64> {
        match &self.inner {
            Inner::Sqlite(conn) => Ok(conn.last_insert_rowid()),
            Inner::Postgres(_) => self.query_row("SELECT lastval()", [], |row| row.get(0)),
        }
    }

    /// Starts a write transaction; it rolls back when dropped without
    /// [`Transaction::commit`]. On SQLite it takes the write lock at once
    /// (`BEGIN IMMEDIATE`) so two writers queue instead of deadlocking;
    /// on PostgreSQL it takes the store's write lock (a transaction-level
    /// advisory lock), so writers queue the same way across every instance
    /// on the database.
    pub fn transaction(&mut self) -> Result<Transaction<'_>> {
        let conn: &Self = self;
        match &conn.inner {
            Inner::Sqlite(sqlite) => sqlite.execute_batch("BEGIN IMMEDIATE")?,
            Inner::Postgres(pg) => pg.begin()?,
        }
        conn.in_transaction.set(true);
        conn.notified.set(false);
        Ok(Transaction {
            conn,
            open: Cell::new(true),
        })
    }

    /// `NOTIFY channel`, once per transaction: the server delivers a
    /// transaction's notifications at its commit and folds the same one
    /// sent twice, so every further call would be a round trip for
    /// nothing (a burst queues thousands of deliveries in one
    /// transaction). Outside a transaction each call sends.
    pub(crate) fn notify_once(&self, channel: &str) -> Result<()> {
        if self.in_transaction.get() && self.notified.get() {
            return Ok(());
        }
        self.execute_batch(&format!("NOTIFY {channel}"))?;
        self.notified.set(self.in_transaction.get());
        Ok(())
    }

    /// Starts a read transaction: every query until [`ReadSnapshot`] is
    /// dropped sees one consistent state of the database.
    pub fn read_snapshot(&self) -> Result<ReadSnapshot<'_>> {
        match &self.inner {
            Inner::Sqlite(sqlite) => sqlite.execute_batch("BEGIN")?,
            Inner::Postgres(pg) => {
                pg.batch("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", false)?;
            }
        }
        self.in_transaction.set(true);
        Ok(ReadSnapshot { conn: self })
    }

    /// Writes one consistent copy of the database to `target` (a new file)
    /// with `VACUUM INTO`: it reads inside one read transaction, so a daemon
    /// writing meanwhile neither blocks it nor tears it, and the copy is a
    /// plain database (no WAL beside it). SQLite only.
    pub fn snapshot_into(&self, target: &std::path::Path) -> Result<()> {
        let sqlite = self.sqlite_only("a snapshot of the database file (VACUUM INTO)")?;
        let target = target.to_str().ok_or_else(|| StoreError::DataDir {
            path: target.to_path_buf(),
            source: std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "the snapshot path is not UTF-8",
            ),
        })?;
        sqlite.execute("VACUUM INTO ?1", [target])?;
        Ok(())
    }

    /// The schema version of the open database.
    pub fn schema_version(&self) -> Result<u32> {
        match &self.inner {
            Inner::Sqlite(sqlite) => Ok(crate::user_version(sqlite)?),
            Inner::Postgres(_) => crate::migrate::pg_version(self),
        }
    }

    fn finish(&self, sql: &str) -> Result<()> {
        self.in_transaction.set(false);
        match &self.inner {
            Inner::Sqlite(sqlite) => Ok(sqlite.execute_batch(sql)?),
            Inner::Postgres(pg) => pg.batch(sql, true),
        }
    }
}

/// A statement from [`Connection::prepare_cached`].
#[derive(Debug)]
pub struct Statement<'c> {
    conn: &'c Connection,
    sql: String,
}

impl Statement<'_> {
    /// Runs it; the number of rows it changed.
    pub fn execute<P: Params>(&mut self, params: P) -> Result<usize> {
        self.conn.execute(&self.sql, params)
    }

    /// Every row, each mapped by `f`, as an iterator of results (as
    /// rusqlite's `query_map`: the rows are read before it returns).
    pub fn query_map<P, T, F>(
        &mut self,
        params: P,
        mut f: F,
    ) -> Result<std::vec::IntoIter<Result<T>>>
    where
        P: Params,
        F: FnMut(&Row<'_>) -> Result<T>,
    {
        let rows = self.conn.query_map(&self.sql, params, |row| Ok(f(row)))?;
        Ok(rows.into_iter())
    }

    /// The first row, mapped by `f`.
    pub fn query_row<P, T, F>(&mut self, params: P, f: F) -> Result<T>
    where
        P: Params,
        F: FnOnce(&Row<'_>) -> Result<T>,
    {
        self.conn.query_row(&self.sql, params, f)
    }

    /// Whether the query returns a row.
    pub fn exists<P: Params>(&mut self, params: P) -> Result<bool> {
        match self.conn.query_row(&self.sql, params, |_| Ok(())) {
            Ok(()) => Ok(true),
            Err(StoreError::NoRows) => Ok(false),
            Err(error) => Err(error),
        }
    }
}

/// A write transaction, from [`Connection::transaction`]: it commits with
/// [`Transaction::commit`] and rolls back when dropped (or with
/// [`Transaction::rollback`]). Derefs to its [`Connection`], so every stage
/// function taking `&Connection` runs inside it.
#[derive(Debug)]
pub struct Transaction<'c> {
    conn: &'c Connection,
    open: Cell<bool>,
}

impl Transaction<'_> {
    /// Makes every write of the transaction durable, together.
    pub fn commit(self) -> Result<()> {
        self.open.set(false);
        self.conn.finish("COMMIT")
    }

    /// Undoes every write of the transaction (dropping it does the same).
    pub fn rollback(self) -> Result<()> {
        self.open.set(false);
        self.conn.finish("ROLLBACK")
    }
}

impl Drop for Transaction<'_> {
    fn drop(&mut self) {
        if self.open.get() {
            // A failed rollback leaves nothing to undo: the connection
            // (or the server) dropped the transaction already.
            let _ = self.conn.finish("ROLLBACK");
        }
    }
}

impl Deref for Transaction<'_> {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        self.conn
    }
}

/// A read transaction from [`Connection::read_snapshot`]; ends when dropped.
#[derive(Debug)]
pub struct ReadSnapshot<'c> {
    conn: &'c Connection,
}

impl Drop for ReadSnapshot<'_> {
    fn drop(&mut self) {
        let _ = self.conn.finish("COMMIT");
    }
}

impl Deref for ReadSnapshot<'_> {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        self.conn
    }
}
