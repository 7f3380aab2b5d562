//! A SQLite database copied into an empty PostgreSQL one (`argus store
//! migrate`): every table in one PostgreSQL transaction (all or nothing),
//! in the order SQLite created them (a table after those it references),
//! the two self-references (`alerts.group_head`,
//! `alert_deliveries.digest_id`) set once their rows exist, identity
//! sequences continued after the copied ids, alerts in their recording
//! order; then each table's row count compared.

use crate::sql::{Value, params_from_iter};
use crate::{Connection, Dialect, Store, StoreError};

/// Columns set after every row exists: they point at rows of the same
/// table that may come later.
const SELF_REFERENCES: &[(&str, &str, &str)] = &[
    ("alerts", "group_head", "id"),
    ("alert_deliveries", "digest_id", "id"),
];

/// Rows per `INSERT`.
const BATCH: usize = 200;

/// Copies `source` (SQLite, read inside one snapshot) into `target`
/// (PostgreSQL, which must be empty), calling `progress` after each table
/// with its name and rows; the tables and their rows.
pub fn sqlite_into_postgres(
    source: &Store,
    target: &Store,
    mut progress: impl FnMut(&str, usize),
) -> Result<Vec<(String, usize)>, StoreError> {
    if source.dialect() != Dialect::Sqlite || target.dialect() != Dialect::Postgres {
        return Err(StoreError::Unsupported {
            what: "a copy other than SQLite into PostgreSQL".to_owned(),
        });
    }
    let from = source.connect()?;
    let mut to = target.connect()?;
    let names = tables(&from)?;
    // An empty target only: a merge would break ids and exactly-once.
    for table in &names {
        let rows = count(&to, table)?;
        if rows > 0 {
            return Err(StoreError::Config {
                detail: format!(
                    "{} is not empty ({table} has {rows} rows); migrate into a new database",
                    target.describe()
                ),
            });
        }
    }
    let snapshot = from.read_snapshot()?;
    let tx = to.transaction()?;
    let mut copied = Vec::new();
    for table in &names {
        let rows = copy_table(&snapshot, &tx, table)?;
        progress(table, rows);
        copied.push((table.clone(), rows));
    }
    tx.commit()?;
    drop(snapshot);
    let mut mismatched = Vec::new();
    for (table, rows) in &copied {
        let there = count(&to, table)?;
        if usize::try_from(there).ok() != Some(*rows) {
            mismatched.push(format!("{table}: {rows} copied, {there} found"));
        }
    }
    if !mismatched.is_empty() {
        return Err(StoreError::Config {
            detail: format!("the copy does not match: {}", mismatched.join("; ")),
        });
    }
    Ok(copied)
}

/// The tables copied, in SQLite's creation order; the lease and instance
/// tables are each deployment's own and are not copied.
fn tables(source: &Connection) -> Result<Vec<String>, StoreError> {
    source.query_map(
        "SELECT name FROM sqlite_master WHERE type = 'table' \
         AND name NOT IN ('sqlite_sequence', 'leases', 'instances') ORDER BY rowid",
        [],
        |row| row.get(0),
    )
}

fn count(conn: &Connection, table: &str) -> Result<i64, StoreError> {
    conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
}

/// One table's rows, in batches; its self-references after; its identity
/// sequence after the copied ids. The number of rows.
fn copy_table(from: &Connection, tx: &Connection, table: &str) -> Result<usize, StoreError> {
    let columns = target_columns(tx, table)?;
    let list = quoted(&columns).join(", ");
    let selfs: Vec<(usize, usize, &str, &str)> = SELF_REFERENCES
        .iter()
        .filter(|(t, _, _)| *t == table)
        .filter_map(|(_, column, key)| {
            let at_column = columns.iter().position(|c| c == column)?;
            let at_key = columns.iter().position(|c| c == key)?;
            Some((at_column, at_key, *column, *key))
        })
        .collect();
    let order = if table == "alerts" { "rowid" } else { "1" };
    let rows: Vec<Vec<Value>> = from.query_map(
        &format!("SELECT {list} FROM {table} ORDER BY {order}"),
        [],
        |row| (0..columns.len()).map(|i| row.get(i)).collect(),
    )?;
    for batch in rows.chunks(BATCH) {
        let mut values = Vec::with_capacity(batch.len() * columns.len());
        let mut tuples = Vec::with_capacity(batch.len());
        for row in batch {
            let mut marks = Vec::with_capacity(row.len());
            for (at, value) in row.iter().enumerate() {
                let later = selfs.iter().any(|(column, ..)| *column == at);
                values.push(if later { Value::Null } else { value.clone() });
                marks.push(format!("?{}", values.len()));
            }
            tuples.push(format!("({})", marks.join(", ")));
        }
        tx.execute(
            &format!("INSERT INTO {table} ({list}) VALUES {}", tuples.join(", ")),
            params_from_iter(values.iter()),
        )?;
    }
    for (at_column, at_key, column, key) in &selfs {
        for row in rows.iter().filter(|r| r[*at_column] != Value::Null) {
            tx.execute(
                &format!("UPDATE {table} SET {column} = ?1 WHERE {key} = ?2"),
                params_from_iter([&row[*at_column], &row[*at_key]]),
            )?;
        }
    }
    if columns.iter().any(|c| c == "id") && has_identity_id(tx, table)? {
        tx.execute_batch(&format!(
            "SELECT setval(pg_get_serial_sequence('{table}', 'id'), \
             COALESCE((SELECT max(id) FROM {table}), 0) + 1, false)"
        ))?;
    }
    Ok(rows.len())
}

/// Column names as quoted identifiers (`offset` is a keyword in
/// PostgreSQL).
fn quoted(columns: &[String]) -> Vec<String> {
    columns
        .iter()
        .map(|c| format!("\"{}\"", c.replace('"', "\"\"")))
        .collect()
}

/// The target table's columns, in order, without generated ones (the
/// alerts' `rowid` is numbered anew, in the copied order).
fn target_columns(tx: &Connection, table: &str) -> Result<Vec<String>, StoreError> {
    tx.query_map(
        "SELECT column_name FROM information_schema.columns \
         WHERE table_schema = current_schema() AND table_name = ?1 AND is_generated = 'NEVER' \
         AND NOT (is_identity = 'YES' AND identity_generation = 'ALWAYS') \
         ORDER BY ordinal_position",
        [table],
        |row| row.get(0),
    )
}

fn has_identity_id(tx: &Connection, table: &str) -> Result<bool, StoreError> {
    let found: i64 = tx.query_row(
        "SELECT count(*) FROM information_schema.columns \
         WHERE table_schema = current_schema() AND table_name = ?1 AND column_name = 'id' \
         AND is_identity = 'YES'",
        [table],
        |row| row.get(0),
    )?;
    Ok(found > 0)
}
