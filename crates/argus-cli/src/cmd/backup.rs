//! `argus backup create|list|verify|restore`: encrypted backups of the data
//! directory and the config (the work is `argus-backup`'s).
//!
//! Exit status: 0 when the command did its work; 1 when `create` could not
//! deliver to every destination, or `verify`/`restore` found a backup that
//! does not open or does not match its manifest; 2 for every other error
//! (a bad config, a missing file, a folder that is not empty).
//!
//! Secrets: the identity file is read from a 0600 file, the passphrase from
//! a 0600 file or the environment (`ARGUS_BACKUP_PASSPHRASE`), never from
//! the command line; neither is printed or recorded.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use argus_audit::{NewEntry, RetentionClass};
use argus_backup::{BackupError, Encryption, Source, Targets, Unlock};
use argus_node::config::{BackupConfig, PassphraseSource};
use jiff::Timestamp;
use serde_json::json;
use zeroize::Zeroizing;

use crate::{GlobalArgs, config, output, trail};

/// The variable a passphrase is read from when no file is given.
const PASSPHRASE_ENV: &str = "ARGUS_BACKUP_PASSPHRASE";

#[derive(Debug, clap::Subcommand)]
pub(crate) enum BackupCommand {
    /// Take one consistent snapshot (database, vault, audit log, config and
    /// rule files), encrypt it to the configured recipients or passphrase,
    /// copy it to every destination and apply retention in folders.
    Create(CreateArgs),
    /// The backups in a folder (the config's first folder destination, or
    /// --dir), oldest first.
    List(ListArgs),
    /// Decrypt a backup and check every file against its manifest, writing
    /// nothing (the newest in the config's first folder when no FILE).
    Verify(VerifyArgs),
    /// Restore a backup into a new or empty data directory; the restored
    /// database is opened and its audit log verified.
    Restore(RestoreArgs),
}

#[derive(Debug, clap::Args)]
pub(crate) struct CreateArgs {
    /// The configuration (its `backup:` section; it and its rule files are
    /// backed up too).
    #[arg(short, long, value_name = "FILE")]
    config: PathBuf,
    /// Why (kept in the audit log).
    #[arg(long, value_name = "TEXT", default_value = "")]
    reason: String,
    #[command(flatten)]
    key: KeyArgs,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub(crate) struct ListArgs {
    /// The configuration whose first folder destination is listed.
    #[arg(short, long, value_name = "FILE", required_unless_present = "dir")]
    config: Option<PathBuf>,
    /// A folder to list instead.
    #[arg(long, value_name = "DIR", conflicts_with = "config")]
    dir: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub(crate) struct VerifyArgs {
    /// The backup file (`argus-backup-….tar.age`).
    #[arg(value_name = "FILE", required_unless_present = "config")]
    file: Option<PathBuf>,
    /// Verify the newest backup in this configuration's first folder.
    #[arg(short, long, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(flatten)]
    unlock: UnlockArgs,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub(crate) struct RestoreArgs {
    /// The backup file.
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// The new data directory: must not exist, or be empty.
    #[arg(long, value_name = "DIR")]
    into: PathBuf,
    /// Why (kept in the restored audit log).
    #[arg(long, value_name = "TEXT", default_value = "")]
    reason: String,
    #[command(flatten)]
    unlock: UnlockArgs,
    #[command(flatten)]
    key: KeyArgs,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub(crate) struct UnlockArgs {
    /// An age identity file (mode 0600, as `age-keygen -o` writes it) for
    /// backups encrypted to recipients. Without it, the passphrase is read
    /// from --passphrase-file or ARGUS_BACKUP_PASSPHRASE.
    #[arg(long, value_name = "FILE")]
    identity: Option<PathBuf>,
    /// The passphrase, from a file of mode 0600.
    #[arg(long, value_name = "FILE", conflicts_with = "identity")]
    passphrase_file: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub(crate) struct KeyArgs {
    /// Read the master key (the audit log's signing key; a passphrase kept
    /// in the vault) from this file (mode 0600) instead of
    /// `ARGUS_MASTER_KEY`.
    #[arg(long, value_name = "FILE")]
    master_key_file: Option<PathBuf>,
}

pub(crate) fn run(global: &GlobalArgs, command: BackupCommand) -> anyhow::Result<ExitCode> {
    match command {
        BackupCommand::Create(args) => create(global, &args),
        BackupCommand::List(args) => list(global, &args),
        BackupCommand::Verify(args) => verify(global, &args),
        BackupCommand::Restore(args) => restore(global, &args),
    }
}

/// The config's `backup:` section and data directory, or every problem.
fn backup_config(
    path: &Path,
    global: &GlobalArgs,
) -> anyhow::Result<(BackupConfig, PathBuf, Vec<PathBuf>)> {
    let Some((loaded, data_dir)) = config::load_for_reading(path, global) else {
        bail!("the configuration {} has problems (above)", path.display())
    };
    let Some(backup) = loaded.backup else {
        bail!(
            "{} has no `backup:` section; add one with `recipients` (or a `passphrase`) and \
             `destinations` (docs/architecture.md, \"Backups\")",
            path.display()
        )
    };
    let mut files = vec![path.to_path_buf()];
    files.extend(loaded.rule_files);
    Ok((backup, data_dir, files))
}

fn create(global: &GlobalArgs, args: &CreateArgs) -> anyhow::Result<ExitCode> {
    let (backup, data_dir, config_files) = backup_config(&args.config, global)?;
    let key_given = trail::master_key_given(args.key.master_key_file.as_deref());
    let encryption = if backup.recipients.is_empty() {
        let passphrase = match &backup.passphrase {
            Some(PassphraseSource::Env(name)) => match std::env::var(name) {
                Ok(value) if !value.is_empty() => Zeroizing::new(value),
                _ => bail!(
                    "backup.passphrase names the environment variable {name}, which is not set \
                     (or empty, or not UTF-8); set it in the environment that runs argus"
                ),
            },
            Some(PassphraseSource::Vault(name)) => {
                // Opened and closed again: the snapshot takes the vault's lock.
                let vault =
                    trail::open_vault(&data_dir, args.key.master_key_file.as_deref(), false)?;
                let bytes = vault.secret(name).with_context(|| {
                    format!("the backup passphrase is configured as the vault's secret `{name}`")
                })?;
                Zeroizing::new(
                    String::from_utf8(bytes.to_vec())
                        .map_err(|_| anyhow::anyhow!("the vault's secret `{name}` is not text"))?,
                )
            }
            None => bail!("backup: no recipients and no passphrase"),
        };
        Encryption::Passphrase(passphrase)
    } else {
        Encryption::recipients(&backup.recipients)?
    };
    let host = trail::host_name();
    let report = argus_backup::create(
        &Source {
            data_dir: data_dir.clone(),
            config_files,
        },
        &encryption,
        &Targets {
            destinations: backup.destinations.clone(),
            retention: backup.retention,
        },
        &host,
        Timestamp::now(),
    )?;
    drop(encryption);
    let details = json!({
        "name": report.name,
        "sha256": report.sha256,
        "bytes": report.bytes,
        "audit_entries": report.manifest.audit.as_ref().map(|a| a.entries),
        "delivered": report.deliveries.iter().filter(|d| d.error.is_none()).map(|d| &d.destination).collect::<Vec<_>>(),
        "failed": report.deliveries.iter().filter(|d| d.error.is_some()).map(|d| &d.destination).collect::<Vec<_>>(),
    });
    let seq = record(
        &data_dir,
        key_given,
        args.key.master_key_file.as_deref(),
        "backup.create",
        &args.reason,
        details,
    )?;
    for delivery in &report.deliveries {
        match (&delivery.delivered, &delivery.error) {
            (_, Some(error)) => sh_eprintln!(
                "FAILED {}: {}",
                output::escape(&delivery.destination),
                output::escape(error)
            ),
            (Some(to), None) => sh_eprintln!("copied to {}", output::escape(to)),
            (None, None) => {}
        }
        for removed in &delivery.removed {
            sh_eprintln!("retention removed {}", removed.display());
        }
    }
    if args.json {
        output::json(&json!({ "backup": report, "audit_seq": seq }))?;
    } else {
        sh_eprintln!(
            "backup {} ({} bytes, {} files, sha256 {})",
            report.name,
            report.bytes,
            report.manifest.files.len(),
            report.sha256
        );
        sh_println!("{}", report.name)?;
    }
    Ok(if report.all_delivered() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn list(global: &GlobalArgs, args: &ListArgs) -> anyhow::Result<ExitCode> {
    let dir = match (&args.dir, &args.config) {
        (Some(dir), _) => dir.clone(),
        (None, Some(config)) => first_dir(config, global)?,
        (None, None) => bail!("give --config or --dir"),
    };
    let backups = argus_backup::list(&dir)?;
    if args.json {
        output::json(&backups)?;
    } else if backups.is_empty() {
        sh_eprintln!("no backup in {}", dir.display());
    } else {
        for backup in &backups {
            sh_println!(
                "{}  {:>12} bytes  {}",
                backup.created.strftime("%Y-%m-%dT%H:%M:%SZ"),
                backup.bytes,
                output::escape(&backup.name)
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn first_dir(config: &Path, global: &GlobalArgs) -> anyhow::Result<PathBuf> {
    let (backup, _, _) = backup_config(config, global)?;
    backup.first_dir().map(Path::to_path_buf).with_context(|| {
        format!(
            "{}: backup.destinations has no folder (`dir:`)",
            config.display()
        )
    })
}

/// What opens a backup, from the flags or the environment.
fn unlock(args: &UnlockArgs) -> anyhow::Result<Unlock> {
    if let Some(identity) = &args.identity {
        return Ok(Unlock::Identity(argus_vault::read_private_file(identity)?));
    }
    let passphrase = trail::read_secret(
        args.passphrase_file.as_deref(),
        PASSPHRASE_ENV,
        "an identity (--identity FILE) or the backup passphrase",
        "--passphrase-file",
    )?;
    Ok(Unlock::Passphrase(passphrase))
}

/// A backup that does not open or does not match: exit status 1.
fn integrity_failure(error: &BackupError) -> bool {
    matches!(
        error,
        BackupError::Decrypt { .. } | BackupError::Damaged { .. }
    )
}

fn verify(global: &GlobalArgs, args: &VerifyArgs) -> anyhow::Result<ExitCode> {
    let configured = match &args.config {
        Some(config) => Some(backup_config(config, global)?.0),
        None => None,
    };
    let file = match (&args.file, &configured) {
        (Some(file), _) => file.clone(),
        (None, Some(backup)) => {
            let dir = backup
                .first_dir()
                .map(Path::to_path_buf)
                .context("backup.destinations has no folder (`dir:`)")?;
            argus_backup::list(&dir)?
                .pop()
                .map(|b| b.path)
                .ok_or(BackupError::NoBackup { dir })?
        }
        (None, None) => bail!("give a backup FILE or --config"),
    };
    let identity = configured.as_ref().and_then(|b| b.identity.as_deref());
    let unlock = match (identity, &args.unlock) {
        (
            Some(identity),
            UnlockArgs {
                identity: None,
                passphrase_file: None,
            },
        ) => Unlock::identity_file(identity)?,
        _ => unlock(&args.unlock)?,
    };
    match argus_backup::verify(&file, &unlock) {
        Ok(report) => {
            if args.json {
                output::json(&report)?;
            } else {
                sh_println!(
                    "ok: {} decrypts; {} files ({} bytes) match the manifest; taken {} on {}, schema {}, audit log {} entries",
                    file.display(),
                    report.manifest.files.len(),
                    report.bytes,
                    report.manifest.created,
                    output::escape(&report.manifest.host),
                    report.manifest.schema_version,
                    report.manifest.audit.as_ref().map_or(0, |a| a.entries)
                )?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(error) if integrity_failure(&error) => {
            sh_eprintln!("error: {error}");
            Ok(ExitCode::from(1))
        }
        Err(error) => Err(error.into()),
    }
}

fn restore(_global: &GlobalArgs, args: &RestoreArgs) -> anyhow::Result<ExitCode> {
    let unlock = unlock(&args.unlock)?;
    let report = match argus_backup::restore(&args.file, &unlock, &args.into) {
        Ok(report) => report,
        Err(error) if integrity_failure(&error) => {
            sh_eprintln!("error: {error}");
            return Ok(ExitCode::from(1));
        }
        Err(error) => return Err(error.into()),
    };
    drop(unlock);
    let details = json!({
        "backup": args.file.file_name().map(|n| n.to_string_lossy().into_owned()),
        "created": report.manifest.created,
        "host": report.manifest.host,
        "audit_entries_restored": report.audit.as_ref().map(|a| a.entries),
    });
    let key_given = trail::master_key_given(args.key.master_key_file.as_deref());
    let seq = record(
        &args.into,
        key_given,
        args.key.master_key_file.as_deref(),
        "backup.restore",
        &args.reason,
        details,
    )
    .context("the backup was restored")?;
    if args.json {
        output::json(&json!({ "restore": report, "audit_seq": seq }))?;
    } else {
        sh_eprintln!(
            "restored {} (taken {} on {}) into {}: database schema {}, audit log {} entries verified{}",
            args.file.display(),
            report.manifest.created,
            output::escape(&report.manifest.host),
            args.into.display(),
            report.schema_version,
            report.audit.as_ref().map_or(0, |a| a.entries),
            report
                .config_dir
                .as_ref()
                .map_or_else(String::new, |d| format!(
                    "; config and rule files in {}",
                    d.display()
                ))
        );
        sh_println!("{}", args.into.display())?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Records a backup act in `data_dir`'s audit log; without a master key,
/// warns that it is not recorded.
fn record(
    data_dir: &Path,
    key_given: bool,
    master_key_file: Option<&Path>,
    action: &str,
    reason: &str,
    details: serde_json::Value,
) -> anyhow::Result<Option<u64>> {
    if !key_given {
        sh_eprintln!(
            "warning: {action} is NOT recorded in the audit log: there is no master key (set \
             ARGUS_MASTER_KEY or pass --master-key-file); record it with `argus --data-dir {} \
             audit record --class audit --component backup --action {action}`",
            data_dir.display()
        );
        return Ok(None);
    }
    let mut vault = trail::open_vault(data_dir, master_key_file, false)?;
    let entry = NewEntry::new(RetentionClass::Audit, trail::actor(), action)
        .at(trail::host_name(), "backup")
        .because(reason)
        .details(details);
    trail::append(&mut vault, data_dir, &entry).map(Some)
}
