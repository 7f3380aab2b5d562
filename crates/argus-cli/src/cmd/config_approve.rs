//! `argus config approve --reason TEXT`: records the running configuration
//! (the config file and its rule files, each hashed) as reviewed and
//! approved, with who approved it and why. The weekly configuration audit
//! and `argus preflight` compare the running configuration with the last
//! approval. The approval is written to the audit log (so the master key
//! is needed) and to the store.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use argus_audit::{NewEntry, RetentionClass};
use argus_checks::db::{self, Approval};
use serde_json::json;

use crate::{GlobalArgs, config, output, trail};

#[derive(Debug, clap::Subcommand)]
pub(crate) enum ConfigCommand {
    /// Approve the running configuration (config and rule files) after
    /// review; audited.
    Approve(ApproveArgs),
}

#[derive(Debug, clap::Args)]
pub(crate) struct ApproveArgs {
    /// Why: the review or change ticket.
    #[arg(long)]
    reason: String,
    /// The config file.
    #[arg(short, long, default_value = "argus.yaml")]
    config: PathBuf,
    /// Read the master key from this file (mode 0600) instead of
    /// `ARGUS_MASTER_KEY`.
    #[arg(long, value_name = "FILE")]
    master_key_file: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(global: &GlobalArgs, command: ConfigCommand) -> anyhow::Result<ExitCode> {
    match command {
        ConfigCommand::Approve(args) => approve(global, args),
    }
}

fn approve(global: &GlobalArgs, args: ApproveArgs) -> anyhow::Result<ExitCode> {
    if args.reason.trim().is_empty() {
        bail!("--reason is empty: say what was reviewed (a ticket, a review)");
    }
    // Only a config that loads is approved.
    let Some((loaded, data_dir)) = config::load_for_reading(&args.config, global) else {
        return Ok(ExitCode::from(2));
    };
    let mut files = vec![args.config.clone()];
    files.extend(loaded.rule_files.iter().cloned());
    let hash = argus_checks::run::config_hash(&files).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut vault = trail::open_vault(&data_dir, args.master_key_file.as_deref(), true)?;
    let store = crate::stores::open(&data_dir)
        .with_context(|| format!("cannot open the store in {}", data_dir.display()))?;
    let approval = Approval {
        id: 0,
        at_ms: jiff::Timestamp::now().as_millisecond(),
        actor: trail::actor(),
        reason: args.reason.clone(),
        hash: hash.hash.clone(),
        files: serde_json::to_value(&hash.files)?,
    };
    let entry = NewEntry::new(
        RetentionClass::Audit,
        approval.actor.clone(),
        "config.approve",
    )
    .at(trail::host_name(), "config")
    .because(&args.reason)
    .details(json!({ "hash": hash.hash, "files": hash.files }));
    // The audit entry first: an approval the log does not hold is not kept.
    trail::append(&mut vault, &data_dir, &entry)?;
    let id = db::approve_config(&store.connect()?, &approval)?;
    if args.json {
        output::json_pretty(
            &json!({ "approval": id, "hash": hash.hash, "files": hash.files, "actor": approval.actor }),
        )?;
    } else {
        output::stdout_line(format_args!(
            "approved configuration {} ({} files) as {}",
            hash.hash,
            hash.files.len(),
            output::escaped(&approval.actor)
        ))?;
    }
    Ok(ExitCode::SUCCESS)
}
