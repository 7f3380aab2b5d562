//! `argus checks run|report|list`: the procedure's checklists on demand,
//! and the compliance evidence of every run.
//!
//! `run` opens the vault when a master key is given (the vault's checks
//! say `skipped` otherwise, never `ok`), runs the checklist or check,
//! keeps the run and its results in the store with an alert for each
//! failure, and records the run in the audit log. The daemon runs the same
//! function on its schedule ([`runner`]). Exit status 1 when a check
//! failed, so cron or CI can act on it.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use argus_alerting::Routing;
use argus_audit::{NewEntry, RetentionClass};
use argus_checks::run::{ConfigHash, TokenUse, config_hash};
use argus_checks::{
    Cadence, CheckContext, CheckResult, ChecksConfig, Plugins, RunReport, Status, Trigger,
};
use argus_store::Store;
use serde_json::json;

use crate::trail::{self, daemon::DaemonAudit};
use crate::{GlobalArgs, config, output};

#[derive(Debug, clap::Subcommand)]
pub(crate) enum ChecksCommand {
    /// Run a checklist (daily, weekly, monthly) or one check by name; exit
    /// status 1 when a check failed.
    Run(RunArgs),
    /// The compliance evidence: every run, result and failure with its
    /// follow-up since a time (Markdown, or `--json`).
    Report(ReportArgs),
    /// The checks and their checklists.
    List(ListArgs),
}

#[derive(Debug, clap::Args)]
pub(crate) struct RunArgs {
    /// `daily`, `weekly`, `monthly`, or a check's name (`argus checks list`).
    selection: String,
    /// The config file (its `checks:` section, its witnesses, its hash for
    /// the configuration audit).
    #[arg(short, long, default_value = "argus.yaml")]
    config: PathBuf,
    /// Read the master key from this file (mode 0600) instead of
    /// `ARGUS_MASTER_KEY`; without one the vault's checks are skipped and
    /// the run is not written to the audit log.
    #[arg(long, value_name = "FILE")]
    master_key_file: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub(crate) struct ReportArgs {
    /// From when: a duration ago (`90d`) or an RFC 3339 time.
    #[arg(long, default_value = "90d")]
    since: String,
    /// Take the data directory from this config file (else --data-dir).
    #[arg(short, long)]
    config: Option<PathBuf>,
    /// Print JSON instead of Markdown.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub(crate) struct ListArgs {
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(global: &GlobalArgs, command: ChecksCommand) -> anyhow::Result<ExitCode> {
    match command {
        ChecksCommand::Run(args) => run_command(global, args),
        ChecksCommand::Report(args) => report(global, args),
        ChecksCommand::List(args) => list(args),
    }
}

/// What a run needs besides the store: resolved once, used by the command
/// and by the daemon at each firing.
pub(crate) struct Inputs {
    pub(crate) data_dir: PathBuf,
    pub(crate) master_key_file: Option<PathBuf>,
    pub(crate) config: ChecksConfig,
    pub(crate) config_files: Vec<PathBuf>,
    pub(crate) witness: Option<PathBuf>,
    pub(crate) routing: Routing,
    pub(crate) plugins: Plugins,
}

impl Inputs {
    pub(crate) fn from_loaded(
        loaded: &config::Loaded,
        data_dir: &Path,
        config_file: &Path,
        master_key_file: Option<&Path>,
    ) -> anyhow::Result<Self> {
        let mut config_files = vec![config_file.to_path_buf()];
        config_files.extend(loaded.rule_files.iter().cloned());
        Ok(Self {
            data_dir: data_dir.to_path_buf(),
            master_key_file: master_key_file.map(Path::to_path_buf),
            config: loaded.checks.clone().unwrap_or_default(),
            config_files,
            witness: loaded.audit.files().first().cloned(),
            routing: Routing::from_config(&loaded.alerting)?,
            plugins: plugins(loaded),
        })
    }
}

/// The running configuration's hash, for the configuration audit.
pub(crate) fn running_config(files: &[PathBuf]) -> Option<ConfigHash> {
    match config_hash(files) {
        Ok(hash) => Some(hash),
        Err(error) => {
            sh_eprintln!("warning: the configuration cannot be hashed: {error}");
            None
        }
    }
}

/// API tokens as the access review reads them.
pub(crate) fn api_tokens(store: &Store) -> Option<Vec<TokenUse>> {
    let conn = store.connect().ok()?;
    let tokens = argus_server::auth::tokens::list(&conn).ok()?;
    let now = jiff::Timestamp::now().as_millisecond();
    Some(
        tokens
            .into_iter()
            .filter(|t| t.is_active(now))
            .map(|t| TokenUse {
                id: t.id,
                name: t.name,
                role: t.role.as_str().to_owned(),
                created_at_ms: t.created_at_ms,
                last_used_at_ms: t.last_used_at_ms,
            })
            .collect(),
    )
}

/// The checks other parts of Argus supply, built from the config. Backups
/// (`argus backup`: the newest backup exists, decrypts and restores into a
/// scratch directory) and audit log segments (verify across rotation) plug
/// in here: closures over what they need from `loaded`, each given the data
/// directory.
pub(crate) fn plugins(loaded: &config::Loaded) -> Plugins {
    let backup = loaded.backup.clone();
    let segments = loaded.audit.segments;
    Plugins {
        backup: Some(Box::new(move |data_dir: &Path| {
            newest_backup(backup.as_ref(), data_dir)
        })),
        log_rotation: Some(Box::new(move |data_dir: &Path| {
            log_rotation(&segments, data_dir)
        })),
    }
}

/// A backup older than this fails the daily check: one missed daily
/// backup is tolerated, two are not.
const BACKUP_STALE_AFTER_SECS: i64 = 2 * 24 * 3600;

/// The daily `backup` check: the newest backup in the first folder
/// destination exists, is at most two days old, decrypts with the
/// configured identity (or the passphrase from its environment variable),
/// matches its manifest and restores into a scratch folder whose database
/// opens and whose audit log verifies.
fn newest_backup(
    backup: Option<&argus_node::config::BackupConfig>,
    data_dir: &Path,
) -> CheckResult {
    const NAME: &str = "backup";
    let Some(backup) = backup else {
        return CheckResult::skipped(NAME, "no `backup:` section: nothing is backed up");
    };
    let Some(dir) = backup.first_dir() else {
        return CheckResult::skipped(
            NAME,
            "no folder destination (only commands): the newest backup cannot be looked at here",
        );
    };
    let unlock = if let Some(identity) = &backup.identity {
        match argus_backup::Unlock::identity_file(identity) {
            Ok(unlock) => unlock,
            Err(error) => {
                return CheckResult::fail(
                    NAME,
                    argus_core::Severity::High,
                    format!("the backup identity cannot be read: {error}"),
                );
            }
        }
    } else if let Some(argus_node::config::PassphraseSource::Env(var)) = &backup.passphrase {
        match std::env::var(var) {
            Ok(value) if !value.is_empty() => {
                argus_backup::Unlock::Passphrase(zeroize::Zeroizing::new(value))
            }
            _ => {
                return CheckResult::skipped(
                    NAME,
                    format!("the passphrase variable {var} is not set in this process"),
                );
            }
        }
    } else {
        return CheckResult::skipped(
            NAME,
            "nothing here opens the backups: set `backup.identity` (an age identity file) \
             for the daily restore check",
        );
    };
    let now = jiff::Timestamp::now();
    match argus_backup::verify_newest(dir, &unlock, data_dir, now) {
        Ok(found) => {
            let evidence = json!({
                "backup": found.backup.name,
                "bytes": found.backup.bytes,
                "age_secs": found.age_secs,
                "schema_version": found.restored.schema_version,
                "audit_entries": found.restored.audit.as_ref().map(|a| a.entries),
            });
            let hours = found.age_secs / 3600;
            if found.age_secs > BACKUP_STALE_AFTER_SECS {
                CheckResult::fail(
                    NAME,
                    argus_core::Severity::High,
                    format!(
                        "the newest backup, {}, is {hours} h old (more than 48 h)",
                        found.backup.name
                    ),
                )
                .with_evidence(evidence)
            } else {
                CheckResult::ok(
                    NAME,
                    format!(
                        "{} ({hours} h old) decrypts, matches its manifest and restores; its audit log verifies",
                        found.backup.name
                    ),
                )
                .with_evidence(evidence)
            }
        }
        Err(argus_backup::BackupError::NoBackup { dir }) => CheckResult::fail(
            NAME,
            argus_core::Severity::High,
            format!("no backup in {}", dir.display()),
        ),
        Err(error) => CheckResult::fail(
            NAME,
            argus_core::Severity::Critical,
            format!("the newest backup does not restore: {error}"),
        ),
    }
}

/// The daily `audit-log-rotation` check ("verify log rotation"): the log
/// verifies across every sealed segment, and the active file is not past
/// twice its size limit (sealing would have happened).
fn log_rotation(policy: &argus_audit::SegmentPolicy, data_dir: &Path) -> CheckResult {
    const NAME: &str = "audit-log-rotation";
    let paths = argus_audit::AuditPaths::new(data_dir);
    if !paths.log.exists() {
        return CheckResult::skipped(NAME, "no audit log in this data directory");
    }
    let verifier = match argus_audit::CheckpointVerifier::load(&paths.public_key) {
        Ok(verifier) => verifier,
        Err(error) => {
            return CheckResult::fail(
                NAME,
                argus_core::Severity::Critical,
                format!("the audit log's public key cannot be read: {error}"),
            );
        }
    };
    let report = match argus_audit::verify(&paths, &verifier) {
        Ok(report) => report,
        Err(error) => {
            return CheckResult::fail(
                NAME,
                argus_core::Severity::Critical,
                format!("the audit log does not verify across its segments: {error}"),
            );
        }
    };
    let active = std::fs::metadata(&paths.log).map_or(0, |m| m.len());
    let evidence = json!({
        "segments": report.segments,
        "entries": report.entries,
        "active_bytes": active,
        "max_bytes": policy.max_bytes,
    });
    if active > policy.max_bytes.saturating_mul(2) {
        return CheckResult::fail(
            NAME,
            argus_core::Severity::High,
            format!(
                "the active audit log holds {active} bytes, over twice its limit of {}: it is not being sealed",
                policy.max_bytes
            ),
        )
        .with_evidence(evidence);
    }
    CheckResult::ok(
        NAME,
        format!(
            "{} entries verify across {} sealed segment(s) and the active file",
            report.entries, report.segments
        ),
    )
    .with_evidence(evidence)
}

/// Runs `selection` once: the vault opened when a master key is at hand,
/// the run kept with its alerts, and written to the audit log (through the
/// daemon's writer when given, else through the vault's key).
pub(crate) fn run_once(
    inputs: &Inputs,
    store: &Store,
    clock: &argus_core::Clock,
    selection: &str,
    trigger: Trigger,
    daemon_audit: Option<&DaemonAudit>,
) -> anyhow::Result<RunReport> {
    let mut vault = if trail::master_key_given(inputs.master_key_file.as_deref())
        && argus_vault::Vault::exists(&trail::vault_dir(&inputs.data_dir))
    {
        Some(trail::open_vault(
            &inputs.data_dir,
            inputs.master_key_file.as_deref(),
            false,
        )?)
    } else {
        None
    };
    let running = running_config(&inputs.config_files);
    let ctx = CheckContext {
        store,
        clock,
        config: &inputs.config,
        data_dir: &inputs.data_dir,
        vault: vault.as_ref(),
        witness: inputs.witness.as_deref(),
        config_hash: running.as_ref(),
        api_tokens: api_tokens(store),
        plugins: &inputs.plugins,
    };
    let report =
        argus_checks::run_checks(&ctx, selection, trigger, &trail::actor(), &inputs.routing)?;
    let entry = NewEntry::new(RetentionClass::Audit, trail::actor(), "check.run")
        .at(trail::host_name(), "checks")
        .details(report.audit_details());
    match (daemon_audit, vault.as_mut()) {
        (Some(audit), _) => audit.append(&[entry])?,
        (None, Some(vault)) => {
            trail::append(vault, &inputs.data_dir, &entry)?;
        }
        (None, None) => sh_eprintln!(
            "notice: no master key: run {} is kept in the store but not in the audit log",
            report.run_id
        ),
    }
    Ok(report)
}

/// The daemon's runner: each firing runs [`run_once`] with the daemon's
/// audit writer.
pub(crate) fn runner(
    inputs: Inputs,
    store: Store,
    clock: argus_core::Clock,
    audit: Option<Arc<DaemonAudit>>,
) -> argus_node::CheckRunner {
    Arc::new(move |cadence: Cadence| {
        run_once(
            &inputs,
            &store,
            &clock,
            cadence.as_str(),
            Trigger::Schedule,
            audit.as_deref(),
        )
        .map_err(|e| format!("{e:#}"))
    })
}

fn run_command(global: &GlobalArgs, args: RunArgs) -> anyhow::Result<ExitCode> {
    let Some((loaded, data_dir)) = config::load_for_reading(&args.config, global) else {
        return Ok(ExitCode::from(2));
    };
    if argus_checks::checks::select(&args.selection).is_none() {
        anyhow::bail!(
            "no check or checklist is named {:?}; name daily, weekly, monthly or one of: {}",
            args.selection,
            argus_checks::checks::names()
        );
    }
    let inputs = Inputs::from_loaded(
        &loaded,
        &data_dir,
        &args.config,
        args.master_key_file.as_deref(),
    )?;
    let store = crate::stores::open(&data_dir)
        .with_context(|| format!("cannot open the store in {}", data_dir.display()))?;
    let clock = argus_core::Clock::system();
    let report = run_once(
        &inputs,
        &store,
        &clock,
        &args.selection,
        Trigger::Command,
        None,
    )?;
    if args.json {
        output::json_pretty(&serde_json::to_value(&report)?)?;
    } else {
        print_results(
            &report.results,
            &format!("run {} ({})", report.run_id, report.selection),
        )?;
    }
    Ok(if report.failed() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// The results as lines: status, name, summary, then the details indented.
pub(crate) fn print_results(results: &[CheckResult], title: &str) -> anyhow::Result<()> {
    let mut out = format!("{}\n", output::escaped(title));
    for result in results {
        out.push_str(&format!(
            "{:<8} {:<20} {}\n",
            result.status.as_str().to_uppercase(),
            result.name,
            output::escaped(&result.summary)
        ));
        for detail in &result.details {
            out.push_str(&format!("         - {}\n", output::escaped(detail)));
        }
    }
    let count = |s: Status| results.iter().filter(|r| r.status == s).count();
    out.push_str(&format!(
        "{} ok, {} warn, {} fail, {} skipped\n",
        count(Status::Ok),
        count(Status::Warn),
        count(Status::Fail),
        count(Status::Skipped)
    ));
    output::stdout_text(&out)
}

fn report(global: &GlobalArgs, args: ReportArgs) -> anyhow::Result<ExitCode> {
    let since =
        super::records::parse_since(&args.since).map_err(|e| anyhow::anyhow!("--since: {e}"))?;
    let now = jiff::Timestamp::now().as_millisecond();
    let since = since.at_ms(now);
    let data_dir = match &args.config {
        Some(path) => match config::load_for_reading(path, global) {
            Some((_, data_dir)) => data_dir,
            None => return Ok(ExitCode::from(2)),
        },
        None => global.data_dir.clone(),
    };
    let conn = super::records::read_store(&data_dir)?;
    let report = argus_checks::report::build(&conn, since, now)?;
    if args.json {
        output::json_pretty(&serde_json::to_value(&report)?)?;
    } else {
        output::stdout_text(&report.markdown())?;
    }
    Ok(ExitCode::SUCCESS)
}

fn list(args: ListArgs) -> anyhow::Result<ExitCode> {
    let checks = argus_checks::checks::REGISTRY;
    if args.json {
        let doc: Vec<_> = checks
            .iter()
            .map(|c| json!({ "name": c.name, "checklist": c.cadence.as_str(), "about": c.about }))
            .collect();
        output::json_pretty(&json!({ "checks": doc }))?;
    } else {
        let mut out = String::new();
        for c in checks {
            out.push_str(&format!(
                "{:<8} {:<20} {}\n",
                c.cadence.as_str(),
                c.name,
                c.about
            ));
        }
        output::stdout_text(&out)?;
    }
    Ok(ExitCode::SUCCESS)
}
