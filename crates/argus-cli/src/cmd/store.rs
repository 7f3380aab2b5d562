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
    let failed = || {
        format!(
            "cannot open the store {}",
            argus_store::redact_url(&config.url)
        )
    };
    match &config.password {
        StorePassword::Env(name) => {
            crate::stores::open_postgres(&config.url, "store.url", name).with_context(failed)
        }
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
            let password = Zeroizing::new(
                String::from_utf8(std::mem::take(&mut *bytes))
                    .map_err(|_| anyhow::anyhow!("vault secret {name} is not UTF-8 text"))?,
            );
            Store::open_postgres(&config.url, Some(&password)).with_context(failed)
        }
    }
}

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
    let target = crate::stores::open_postgres(&args.to, "--to", &args.password_env)
        .with_context(|| format!("cannot open {}", argus_store::redact_url(&args.to)))?;
    let copied = argus_store::copy::sqlite_into_postgres(&source, &target, |table, rows| {
        sh_eprintln!("  {table}: {rows} rows");
    })?;
    let total: usize = copied.iter().map(|(_, n)| n).sum();
    sh_println!(
        "migrated {total} rows in {} tables from {} to {}; point `store:` at it and start the instances",
        copied.len(),
        path.display(),
        argus_store::redact_url(&args.to)
    )?;
    Ok(ExitCode::SUCCESS)
}
