//! One connection to the store, and a write transaction on it.
//!
//! Stages take `&Connection` for reads and single statements, and
//! `&Transaction<'_>` when what they write must commit together with the
//! caller's other writes (a [`Transaction`] is also a [`Connection`], through
//! `Deref`, so a function taking `&Connection` runs inside it as well).
//! Neither type shows SQLite in its signature; a stage's own query module
//! reaches it through [`Connection::sqlite`] / [`Transaction::sqlite`].

use std::ops::Deref;

use rusqlite::TransactionBehavior;

use crate::StoreError;

/// A connection to the store, made by [`Store::connect`](crate::Store::connect).
/// Not shared between threads: each task that queries holds its own.
#[derive(Debug)]
pub struct Connection {
    pub(crate) sqlite: rusqlite::Connection,
}

impl Connection {
    pub(crate) fn new(sqlite: rusqlite::Connection) -> Self {
        Self { sqlite }
    }

    /// The SQLite connection underneath, for the stage crates' own query
    /// modules (each stage keeps its SQL in its crate). Not for anything
    /// outside a stage's query module: code that is not a stage's storage
    /// calls the stage's typed functions instead.
    pub fn sqlite(&self) -> &rusqlite::Connection {
        &self.sqlite
    }

    /// Starts a write transaction. It takes the write lock at once
    /// (`BEGIN IMMEDIATE`) so two writers queue instead of deadlocking; it
    /// rolls back when dropped without [`Transaction::commit`].
    pub fn transaction(&mut self) -> Result<Transaction<'_>, StoreError> {
        let conn: &Self = self;
        let sqlite =
            rusqlite::Transaction::new_unchecked(&conn.sqlite, TransactionBehavior::Immediate)?;
        Ok(Transaction { conn, sqlite })
    }

    /// Writes one consistent copy of the database to `target` (a new file)
    /// with `VACUUM INTO`: it reads inside one read transaction, so a daemon
    /// writing meanwhile neither blocks it nor tears it, and the copy is a
    /// plain database (no WAL beside it).
    pub fn snapshot_into(&self, target: &std::path::Path) -> Result<(), StoreError> {
        let target = target.to_str().ok_or_else(|| StoreError::DataDir {
            path: target.to_path_buf(),
            source: std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "the snapshot path is not UTF-8",
            ),
        })?;
        self.sqlite.execute("VACUUM INTO ?1", [target])?;
        Ok(())
    }

    /// The schema version of the open database.
    pub fn schema_version(&self) -> Result<u32, StoreError> {
        Ok(crate::user_version(&self.sqlite)?)
    }
}

/// A write transaction, from [`Connection::transaction`]: it commits with
/// [`Transaction::commit`] and rolls back when dropped (or with
/// [`Transaction::rollback`]). Derefs to its [`Connection`], so every stage
/// function taking `&Connection` runs inside it.
#[derive(Debug)]
pub struct Transaction<'c> {
    conn: &'c Connection,
    sqlite: rusqlite::Transaction<'c>,
}

impl<'c> Transaction<'c> {
    /// The SQLite transaction underneath, for the stage crates' own query
    /// modules (see [`Connection::sqlite`]).
    pub fn sqlite(&self) -> &rusqlite::Transaction<'c> {
        &self.sqlite
    }

    /// Makes every write of the transaction durable, together.
    pub fn commit(self) -> Result<(), StoreError> {
        Ok(self.sqlite.commit()?)
    }

    /// Undoes every write of the transaction (dropping it does the same).
    pub fn rollback(self) -> Result<(), StoreError> {
        Ok(self.sqlite.rollback()?)
    }
}

impl Deref for Transaction<'_> {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        self.conn
    }
}
