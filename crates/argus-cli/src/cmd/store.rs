//! The store the config names, and `argus store migrate`: an existing data
//! directory's SQLite database moved into PostgreSQL.
//!
//! `argus store migrate --from sqlite:DATA_DIR/argus.db --to postgres://…`
//! copies every table in one PostgreSQL transaction (all or nothing), in
//! the order SQLite created them (a table after those it references), with
//! the two self-references (`alerts.group_head`, `alert_deliveries.digest_id`)
//! set once their rows exist; identity sequences continue after the copied
//! ids, and alerts keep their recording order. The source is opened
//! read-only under its run lock (no daemon may write it meanwhile); the
//! target must be empty. Each table's row count is compared at the end.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use argus_node::config::{StoreConfig, StorePassword};
use argus_store::sql::{Value, params_from_iter};
use argus_store::{RunLock, Store};
use zeroize::Zeroizing;

use crate::GlobalArgs;
use crate::trail;

#[derive(Debug, clap::Subcommand)]
pub(crate) enum StoreCommand {
    /// Copy a SQLite data directory's database into an empty PostgreSQL
    /// database (all or nothing), then compare every table's row count.
    Migrate(MigrateArgs),
}

#[derive(Debug, clap::Args)]
pub(crate) struct MigrateArgs {
    /// The SQLite database: `sqlite:PATH` (a file, or a data directory
    /// holding argus.db).
    #[arg(long, value_name = "sqlite:PATH")]
    from: String,
    /// The PostgreSQL database: `postgres://user@host:port/database`
    /// (the password from --password-env's variable).
    #[arg(long, value_name = "postgres://…")]
    to: String,
    /// The environment variable holding the PostgreSQL password.
    #[arg(long, default_value = argus_node::config::STORE_PASSWORD_ENV)]
    password_env: String,
}

pub(crate) fn run(_global: &GlobalArgs, command: StoreCommand) -> anyhow::Result<ExitCode> {
    match command {
        StoreCommand::Migrate(args) => migrate(&args),
    }
}

/// Opens the store a config names: PostgreSQL for `store:`, else the
/// SQLite file in `data_dir`. A vault password is unsealed with the master
/// key (`ARGUS_MASTER_KEY` or `master_key_file`).
pub(crate) fn open_configured(
    store: Option<&StoreConfig>,
    data_dir: &Path,
    master_key_file: Option<&Path>,
) -> anyhow::Result<Store> {
    let Some(config) = store else {
        return Ok(Store::open_in_dir(data_dir)?);
    };
    let password: Option<Zeroizing<String>> = match &config.password {
        StorePassword::Env(name) => std::env::var(name)
            .ok()
            .filter(|p| !p.is_empty())
            .map(Zeroizing::new),
        StorePassword::Vault(name) => {
            if !trail::master_key_given(master_key_file) {
                bail!(
                    "store.password is in the vault ({name}): set ARGUS_MASTER_KEY (or pass \
                     --master-key-file) so argus can unseal it"
                );
            }
            let vault = trail::open_vault(data_dir, master_key_file, false)?;
            let mut bytes = vault.secret(name).with_context(|| {
                format!("the store needs vault secret {name}: `argus keys secret set {name}`")
            })?;
            let text = String::from_utf8(std::mem::take(&mut *bytes))
                .map_err(|_| anyhow::anyhow!("vault secret {name} is not UTF-8 text"))?;
            Some(Zeroizing::new(text))
        }
    };
    Store::open_postgres(&config.url, password.as_ref().map(|p| p.as_str())).with_context(|| {
        format!(
            "cannot open the store {}",
            argus_store::redact_url(&config.url)
        )
    })
}

/// The tables copied, in SQLite's creation order; the lease and instance
/// tables are each deployment's own and are not copied.
fn tables(source: &argus_store::Connection) -> anyhow::Result<Vec<String>> {
    Ok(source.query_map(
        "SELECT name FROM sqlite_master WHERE type = 'table' \
         AND name NOT IN ('sqlite_sequence', 'leases', 'instances') ORDER BY rowid",
        [],
        |row| row.get(0),
    )?)
}

/// Columns set after every row exists: they point at rows of the same
/// table that may come later.
const SELF_REFERENCES: &[(&str, &str, &str)] = &[
    ("alerts", "group_head", "id"),
    ("alert_deliveries", "digest_id", "id"),
];

fn source_path(from: &str) -> anyhow::Result<PathBuf> {
    let Some(path) = from.strip_prefix("sqlite:") else {
        bail!("--from takes sqlite:PATH (the database file, or the data directory holding it)");
    };
    let path = PathBuf::from(path);
    Ok(if path.is_dir() {
        path.join(argus_store::DATABASE_FILE)
    } else {
        path
    })
}

fn migrate(args: &MigrateArgs) -> anyhow::Result<ExitCode> {
    let path = source_path(&args.from)?;
    let dir = path.parent().unwrap_or(Path::new("."));
    if !path.is_file() {
        bail!("there is no database at {}", path.display());
    }
    // No daemon writes the source while it is copied.
    let _lock = RunLock::acquire(dir)
        .with_context(|| format!("the data directory {} is in use", dir.display()))?;
    let source = Store::open_read_only_in_dir(dir)?;
    let password = std::env::var(&args.password_env)
        .ok()
        .filter(|p| !p.is_empty())
        .map(Zeroizing::new);
    if argus_store::redact_url(&args.to) != args.to {
        bail!(
            "--to holds a password; give it in {} instead (it would be seen in the process list)",
            args.password_env
        );
    }
    let target = Store::open_postgres(&args.to, password.as_ref().map(|p| p.as_str()))
        .with_context(|| format!("cannot open {}", argus_store::redact_url(&args.to)))?;
    let from = source.connect()?;
    let mut to = target.connect()?;
    let names = tables(&from)?;
    // An empty target only: a merge would break ids and exactly-once.
    for table in &names {
        let rows: i64 = to.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))?;
        if rows > 0 {
            bail!(
                "{} is not empty ({table} has {rows} rows); migrate into a new database",
                argus_store::redact_url(&args.to)
            );
        }
    }
    let snapshot = from.read_snapshot()?;
    let tx = to.transaction()?;
    let mut copied = Vec::new();
    for table in &names {
        let columns = target_columns(&tx, table)?;
        let selfs: Vec<&str> = SELF_REFERENCES
            .iter()
            .filter(|(t, _, _)| t == table)
            .map(|(_, column, _)| *column)
            .collect();
        let order = if table == "alerts" { "rowid" } else { "1" };
        let rows: Vec<Vec<Value>> = snapshot.query_map(
            &format!(
                "SELECT {} FROM {table} ORDER BY {order}",
                quoted(&columns).join(", ")
            ),
            [],
            |row| (0..columns.len()).map(|i| row.get(i)).collect(),
        )?;
        let insert_columns: Vec<&str> = columns.iter().map(String::as_str).collect();
        let insert_list = quoted(&columns).join(", ");
        for batch in rows.chunks(200) {
            let mut values = Vec::with_capacity(batch.len() * columns.len());
            let mut tuples = Vec::with_capacity(batch.len());
            for row in batch {
                let mut marks = Vec::with_capacity(row.len());
                for (column, value) in insert_columns.iter().zip(row) {
                    values.push(if selfs.contains(column) {
                        Value::Null
                    } else {
                        value.clone()
                    });
                    marks.push(format!("?{}", values.len()));
                }
                tuples.push(format!("({})", marks.join(", ")));
            }
            tx.execute(
                &format!(
                    "INSERT INTO {table} ({insert_list}) VALUES {}",
                    tuples.join(", ")
                ),
                params_from_iter(values.iter()),
            )?;
        }
        for (_, column, key) in SELF_REFERENCES.iter().filter(|(t, _, _)| t == table) {
            let (at_column, at_key) = (
                columns.iter().position(|c| c == column),
                columns.iter().position(|c| c == key),
            );
            if let (Some(at_column), Some(at_key)) = (at_column, at_key) {
                for row in rows.iter().filter(|r| r[at_column] != Value::Null) {
                    tx.execute(
                        &format!("UPDATE {table} SET {column} = ?1 WHERE {key} = ?2"),
                        params_from_iter([&row[at_column], &row[at_key]]),
                    )?;
                }
            }
        }
        if columns.iter().any(|c| c == "id") && identity(&tx, table)? {
            tx.execute_batch(&format!(
                "SELECT setval(pg_get_serial_sequence('{table}', 'id'), \
                 COALESCE((SELECT max(id) FROM {table}), 0) + 1, false)"
            ))?;
        }
        sh_eprintln!("  {table}: {} rows", rows.len());
        copied.push((table.clone(), rows.len()));
    }
    tx.commit()?;
    drop(snapshot);
    // Compare every table's count.
    let mut mismatched = Vec::new();
    for (table, rows) in &copied {
        let there: i64 =
            to.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))?;
        if usize::try_from(there).ok() != Some(*rows) {
            mismatched.push(format!("{table}: {rows} copied, {there} found"));
        }
    }
    if !mismatched.is_empty() {
        bail!("the copy does not match: {}", mismatched.join("; "));
    }
    let total: usize = copied.iter().map(|(_, n)| n).sum();
    sh_println!(
        "migrated {total} rows in {} tables from {} to {}; point `store:` at it and start the instances",
        copied.len(),
        path.display(),
        argus_store::redact_url(&args.to)
    )?;
    Ok(ExitCode::SUCCESS)
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
fn target_columns(tx: &argus_store::Connection, table: &str) -> anyhow::Result<Vec<String>> {
    Ok(tx.query_map(
        "SELECT column_name FROM information_schema.columns \
         WHERE table_schema = current_schema() AND table_name = ?1 AND is_generated = 'NEVER' \
         AND NOT (is_identity = 'YES' AND identity_generation = 'ALWAYS') \
         ORDER BY ordinal_position",
        [table],
        |row| row.get(0),
    )?)
}

fn identity(tx: &argus_store::Connection, table: &str) -> anyhow::Result<bool> {
    let found: i64 = tx.query_row(
        "SELECT count(*) FROM information_schema.columns \
         WHERE table_schema = current_schema() AND table_name = ?1 AND column_name = 'id' \
         AND is_identity = 'YES'",
        [table],
        |row| row.get(0),
    )?;
    Ok(found > 0)
}
