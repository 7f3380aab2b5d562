//! `argus audit`: record, verify, prune, export, tail, query, recover and
//! show the head of the tamper-evident audit log in `<data_dir>/audit/`.
//!
//! Exit status: 0 when the command did its work (for `verify`: the log
//! verifies), 1 when `verify` finds the log modified or damaged, 2 when the
//! command could not run.

use std::fs;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use argus_audit::{
    AuditError, AuditPaths, CheckpointKey, CheckpointVerifier, Clock, Entry, MAX_WITNESS_BYTES,
    NewEntry, Query, RetentionClass, RetentionPolicy, WitnessError, WitnessedHead, check_extends,
    parse_log, parse_witness, plan_recovery, prune, read_log, recover, verify,
};

use crate::{GlobalArgs, output, trail};

#[derive(Debug, clap::Subcommand)]
pub(crate) enum AuditCommand {
    /// Append one entry (for scripts and manual actions).
    Record(RecordArgs),
    /// Check the whole log: framing, hash chain, Merkle roots, signatures and
    /// the head checkpoint.
    Verify(VerifyArgs),
    /// Remove payloads past their class's retention, keeping their hashes.
    Prune(PruneArgs),
    /// Every entry as JSON lines.
    Export(ExportArgs),
    /// The last entries.
    Tail(TailArgs),
    /// Entries by time, actor and action.
    Query(QueryArgs),
    /// The last signed checkpoint and the public key: publish it elsewhere so
    /// even a rewrite of both files is caught.
    Head(JsonArg),
    /// Cut off the torn tail a crash mid-commit leaves (entries never
    /// acknowledged), keeping the cut bytes as evidence; refuses anything
    /// that is not a torn tail.
    Recover(RecoverArgs),
}

#[derive(Debug, clap::Args)]
pub(crate) struct RecoverArgs {
    /// Trusted public key (hex); default: `<data_dir>/audit/checkpoint.pub`.
    #[arg(long, value_name = "HEX")]
    public_key: Option<String>,
    /// Read the master key from this file (mode 0600) instead of
    /// `ARGUS_MASTER_KEY`, to record the recovery in the log.
    #[arg(long, value_name = "FILE")]
    master_key_file: Option<PathBuf>,
    /// Why (recorded with the recovery).
    #[arg(long, default_value = "")]
    reason: String,
    /// Say what would be cut, and change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub(crate) struct JsonArg {
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub(crate) struct RecordArgs {
    /// Who (default: `$USER`, `$LOGNAME` or the user id).
    #[arg(long)]
    actor: Option<String>,
    /// What (`config.change`, `key.export`…).
    #[arg(long)]
    action: String,
    /// Why.
    #[arg(long, default_value = "")]
    reason: String,
    /// The alert or incident id this is about.
    #[arg(long)]
    reference: Option<String>,
    /// Details, as JSON.
    #[arg(long)]
    details: Option<String>,
    /// Retention class: security, audit, transaction, system.
    #[arg(long, default_value = "audit")]
    class: String,
    /// The component acting.
    #[arg(long, default_value = "cli")]
    component: String,
    /// The host (default: this one).
    #[arg(long)]
    host: Option<String>,
    /// Stamp with this time instead of the clock (tests and imports).
    #[arg(long, hide = true, env = "ARGUS_AUDIT_NOW")]
    now: Option<String>,
    /// Read the master key (which unseals the checkpoint signing key) from
    /// this file (mode 0600) instead of `ARGUS_MASTER_KEY`.
    #[arg(long, value_name = "FILE")]
    master_key_file: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub(crate) struct VerifyArgs {
    /// Trusted public key (hex); default: `<data_dir>/audit/checkpoint.pub`.
    #[arg(long, value_name = "HEX")]
    public_key: Option<String>,
    /// A head published earlier (what `argus audit head --json` printed, or
    /// a daemon's witness file): fail when the log does not extend it, which
    /// catches a rollback of both the log and its head file.
    #[arg(long, value_name = "FILE")]
    head: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub(crate) struct PruneArgs {
    /// Prune as of this time (RFC 3339); default: now.
    #[arg(long)]
    now: Option<String>,
    /// Override a class's retention: `system=90d`, `security=10y` (repeat).
    #[arg(long, value_name = "CLASS=PERIOD")]
    retain: Vec<String>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub(crate) struct ExportArgs {
    /// Include the signed checkpoints as records of their own.
    #[arg(long)]
    checkpoints: bool,
    /// Write to this file instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub(crate) struct TailArgs {
    /// How many entries.
    #[arg(short = 'n', long, default_value_t = 10)]
    lines: usize,
    /// Print JSON lines.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub(crate) struct QueryArgs {
    /// At or after (RFC 3339).
    #[arg(long)]
    since: Option<String>,
    /// Before (RFC 3339).
    #[arg(long)]
    until: Option<String>,
    /// Exactly this actor.
    #[arg(long)]
    actor: Option<String>,
    /// This action, or a prefix ending in `*` (`key.*`).
    #[arg(long)]
    action: Option<String>,
    /// Print JSON lines.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(global: &GlobalArgs, command: AuditCommand) -> anyhow::Result<ExitCode> {
    let paths = AuditPaths::new(&global.data_dir);
    match command {
        AuditCommand::Record(args) => record(&global.data_dir, args),
        AuditCommand::Verify(args) => verify_command(&paths, &args),
        AuditCommand::Prune(args) => prune_command(&paths, &args),
        AuditCommand::Export(args) => export(&paths, &args),
        AuditCommand::Tail(args) => {
            require_log(&paths)?;
            let log = read_log(&paths)?;
            let entries: Vec<&Entry> = log.entries().rev().take(args.lines).collect();
            print_entries(entries.into_iter().rev(), args.json)
        }
        AuditCommand::Query(args) => {
            require_log(&paths)?;
            let query = Query {
                since: args.since.as_deref().map(parse_instant).transpose()?,
                until: args.until.as_deref().map(parse_instant).transpose()?,
                actor: args.actor,
                action: args.action,
            };
            let log = read_log(&paths)?;
            print_entries(log.entries().filter(|e| query.matches(e)), args.json)
        }
        AuditCommand::Head(args) => head(&paths, args.json),
        AuditCommand::Recover(args) => recover_command(&global.data_dir, &paths, &args),
    }
}

fn parse_time(text: &str) -> anyhow::Result<jiff::ZonedDateTime> {
    argus_audit::parse_time(text).with_context(|| {
        format!("`{text}` is not an RFC 3339 time; write e.g. 2026-11-05T10:00:00+01:00")
    })
}

fn parse_instant(text: &str) -> anyhow::Result<jiff::Timestamp> {
    Ok(parse_time(text)?.timestamp())
}

fn require_log(paths: &AuditPaths) -> anyhow::Result<()> {
    if !paths.exists() {
        bail!(
            "no audit log at {}; it is created by the first recorded event (`argus audit record`, \
             or any privileged command), or check --data-dir",
            paths.log.display()
        );
    }
    Ok(())
}

fn record(data_dir: &std::path::Path, args: RecordArgs) -> anyhow::Result<ExitCode> {
    let class: RetentionClass = args.class.parse()?;
    let clock = match &args.now {
        Some(now) => Clock::manual(parse_time(now)?),
        None => Clock::system(),
    };
    let actor = args.actor.unwrap_or_else(trail::actor);
    let mut entry = NewEntry::new(class, actor, args.action)
        .at(args.host.unwrap_or_else(trail::host_name), args.component)
        .because(args.reason);
    entry.payload.reference = args.reference;
    if let Some(details) = &args.details {
        let value: serde_json::Value = serde_json::from_str(details)
            .with_context(|| format!("--details is not JSON: {details}"))?;
        entry.payload.details = Some(value);
    }
    let mut vault = trail::open_vault(data_dir, args.master_key_file.as_deref(), true)?;
    let mut log = trail::open_log(&mut vault, data_dir, clock)?;
    drop(vault);
    let seq = log.append(&entry)?;
    if args.json {
        output::json(&serde_json::json!({ "seq": seq }))?;
    } else {
        sh_println!("{seq}")?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The trusted key: given, or the public key file, or the public half of a
/// legacy key file.
fn verifier(paths: &AuditPaths, given: Option<&str>) -> anyhow::Result<CheckpointVerifier> {
    if let Some(hex) = given {
        return Ok(CheckpointVerifier::from_hex(hex)?);
    }
    if paths.public_key.exists() {
        return Ok(CheckpointVerifier::load(&paths.public_key)?);
    }
    if paths.key.exists() {
        return Ok(CheckpointKey::load(&paths.key)?.verifier());
    }
    bail!(
        "no checkpoint key in {}; pass the public key with --public-key",
        paths.dir.display()
    )
}

fn verify_command(paths: &AuditPaths, args: &VerifyArgs) -> anyhow::Result<ExitCode> {
    require_log(paths)?;
    let verifier = verifier(paths, args.public_key.as_deref())?;
    let witnessed = args.head.as_deref().map(read_witnessed_head).transpose()?;
    match verify(paths, &verifier) {
        Ok(report) => {
            let extension = match &witnessed {
                None => None,
                Some(head) => {
                    let log = argus_audit::read_log_bytes(paths)?;
                    match check_extends(&log, head, &verifier) {
                        Ok(extension) => Some(extension),
                        Err(
                            error @ (WitnessError::Behind { .. }
                            | WitnessError::Diverges { .. }
                            | WitnessError::NotSigned { .. }
                            | WitnessError::Log(
                                AuditError::Corrupt { .. } | AuditError::Tampered { .. },
                            )),
                        ) => {
                            if args.json {
                                output::json(&serde_json::json!({
                                    "ok": false,
                                    "head": args.head,
                                    "error": error.to_string(),
                                }))?;
                            }
                            sh_eprintln!("FAILED: {error}");
                            return Ok(ExitCode::from(1));
                        }
                        Err(other) => return Err(other.into()),
                    }
                }
            };
            if args.json {
                let mut doc = serde_json::to_value(&report)?;
                doc["ok"] = true.into();
                if let Some(extension) = extension {
                    doc["witnessed_head_entries"] = extension.head_entries.into();
                }
                output::json(&doc)?;
            } else {
                sh_println!(
                    "ok: {} entries ({} pruned){} under {} signed checkpoints; head at entry {}{}",
                    report.entries,
                    report.pruned,
                    if report.segments > 0 {
                        format!(
                            " in {} sealed segments and the active file",
                            report.segments
                        )
                    } else {
                        String::new()
                    },
                    report.checkpoints,
                    report
                        .head_last_seq
                        .map_or_else(|| "-".to_owned(), |s| s.to_string()),
                    extension.map_or_else(String::new, |e| format!(
                        "; extends the witnessed head of {} entries",
                        e.head_entries
                    ))
                )?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(error @ (AuditError::Corrupt { .. } | AuditError::Tampered { .. })) => {
            if args.json {
                let offset = match &error {
                    AuditError::Corrupt { offset, .. } | AuditError::Tampered { offset, .. } => {
                        *offset
                    }
                    _ => 0,
                };
                output::json(
                    &serde_json::json!({"ok": false, "offset": offset, "error": error.to_string()}),
                )?;
            }
            sh_eprintln!("FAILED: {error}");
            Ok(ExitCode::from(1))
        }
        Err(other) => Err(other.into()),
    }
}

/// The head in `path`: one JSON document from `argus audit head --json`, or
/// a witness file of such lines (its highest head).
pub(crate) fn read_witnessed_head(path: &std::path::Path) -> anyhow::Result<WitnessedHead> {
    let text = argus_core::file::read_to_string_capped(path, MAX_WITNESS_BYTES, "head file")
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot read the head file {}: {}; give the file `argus audit head --json` was \
                 saved to",
                path.display(),
                e.reason()
            )
        })?;
    match parse_witness(&text, &path.display().to_string())? {
        Some(head) => Ok(head),
        None => bail!(
            "{} holds no head; save one with `argus audit head --json > FILE` and keep FILE \
             where whoever can write the data directory cannot",
            path.display()
        ),
    }
}

fn recover_command(
    data_dir: &std::path::Path,
    paths: &AuditPaths,
    args: &RecoverArgs,
) -> anyhow::Result<ExitCode> {
    require_log(paths)?;
    let verifier = verifier(paths, args.public_key.as_deref())?;
    let planned = if args.dry_run {
        let log =
            fs::read(&paths.log).with_context(|| format!("cannot read {}", paths.log.display()))?;
        let head = match fs::read(&paths.head) {
            Ok(head) => Some(head),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => {
                return Err(e).with_context(|| format!("cannot read {}", paths.head.display()));
            }
        };
        plan_recovery(&log, head.as_deref(), &verifier)
    } else {
        recover(paths, &verifier)
    };
    let report = match planned {
        Ok(report) => report,
        Err(error @ (AuditError::Corrupt { .. } | AuditError::Tampered { .. })) => {
            if args.json {
                output::json(&serde_json::json!({"ok": false, "error": error.to_string()}))?;
            }
            sh_eprintln!("REFUSED: {error}");
            sh_eprintln!("nothing was changed; keep the log as evidence and open an incident");
            return Ok(ExitCode::from(1));
        }
        Err(other) => return Err(other.into()),
    };
    let mut recorded = None;
    if args.dry_run {
        if args.json {
            let mut doc = serde_json::to_value(&report)?;
            doc["ok"] = true.into();
            doc["dry_run"] = true.into();
            output::json(&doc)?;
        } else {
            sh_println!(
                "would cut {} bytes ({} unacknowledged entries) and keep {}; nothing was changed",
                report.cut_bytes,
                report.cut_entries,
                report.kept_bytes
            )?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    if report.cut_bytes > 0 {
        let entry = NewEntry::new(RetentionClass::Security, trail::actor(), "audit.recovered")
            .at(trail::host_name(), "cli")
            .because(args.reason.clone())
            .details(serde_json::json!({
                "cut_bytes": report.cut_bytes,
                "cut_entries": report.cut_entries,
                "kept_bytes": report.kept_bytes,
                "evidence": report.evidence,
            }));
        match trail::open_vault(data_dir, args.master_key_file.as_deref(), false)
            .and_then(|mut vault| trail::append(&mut vault, data_dir, &entry))
        {
            Ok(seq) => recorded = Some(seq),
            Err(error) => sh_eprintln!(
                "warning: the recovery is not in the log yet ({error:#}); record it with `argus \
                 audit record --action audit.recovered --class security --reason …`"
            ),
        }
    }
    if args.json {
        let mut doc = serde_json::to_value(&report)?;
        doc["ok"] = true.into();
        doc["recorded_seq"] = serde_json::json!(recorded);
        output::json(&doc)?;
    } else if report.cut_bytes == 0 {
        sh_println!(
            "nothing to recover: the log verifies ({} bytes)",
            report.kept_bytes
        )?;
    } else {
        sh_println!(
            "cut {} bytes ({} unacknowledged entries) off the end; kept {} bytes; the cut bytes \
             are in {}",
            report.cut_bytes,
            report.cut_entries,
            report.kept_bytes,
            report
                .evidence
                .as_ref()
                .map_or_else(|| "-".to_owned(), |p| p.display().to_string())
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

fn prune_command(paths: &AuditPaths, args: &PruneArgs) -> anyhow::Result<ExitCode> {
    require_log(paths)?;
    let mut policy = RetentionPolicy::default();
    for setting in &args.retain {
        policy.apply(setting)?;
    }
    let now = match &args.now {
        Some(now) => parse_instant(now)?,
        None => jiff::Timestamp::now(),
    };
    let verifier = verifier(paths, None)?;
    let report = prune(paths, &verifier, &policy, now)?;
    if args.json {
        output::json(&serde_json::json!({ "report": report, "policy": policy }))?;
    } else {
        sh_println!(
            "pruned {} payloads ({} pruned before, {} kept); the chain still verifies",
            report.pruned,
            report.already_pruned,
            report.kept
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

fn export(paths: &AuditPaths, args: &ExportArgs) -> anyhow::Result<ExitCode> {
    require_log(paths)?;
    let bytes = argus_audit::read_log_bytes(paths)?;
    let log = parse_log(&bytes)?;
    let mut out = String::new();
    for record in &log.records {
        if !args.checkpoints && matches!(record, argus_audit::AuditRecord::Checkpoint(_)) {
            continue;
        }
        out.push_str(&serde_json::to_string(record)?);
        out.push('\n');
    }
    match &args.output {
        Some(path) => {
            fs::write(path, out).with_context(|| format!("cannot write {}", path.display()))?;
            sh_eprintln!("exported to {}", path.display());
        }
        None => output::json_text(&out)?,
    }
    Ok(ExitCode::SUCCESS)
}

fn print_entries<'a>(
    entries: impl Iterator<Item = &'a Entry>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let mut out = String::new();
    for entry in entries {
        if json {
            out.push_str(&serde_json::to_string(entry)?);
        } else {
            out.push_str(&format!(
                "{:>6}  {}  {:<11}  ",
                entry.seq, entry.time, entry.class
            ));
            match &entry.payload {
                Some(p) => {
                    out.push_str(&format!(
                        "{}  {}  {}@{}",
                        output::escaped(&p.actor),
                        output::escaped(&p.action),
                        output::escaped(&p.component),
                        output::escaped(&p.host)
                    ));
                    if !p.reason.is_empty() {
                        out.push_str(&format!("  \"{}\"", output::escaped(&p.reason)));
                    }
                    if let Some(r) = &p.reference {
                        out.push_str(&format!("  [{}]", output::escaped(r)));
                    }
                }
                None => out.push_str("(pruned)"),
            }
        }
        out.push('\n');
    }
    if json {
        output::json_text(&out)?;
    } else {
        output::stdout_text(&out)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn head(paths: &AuditPaths, json: bool) -> anyhow::Result<ExitCode> {
    require_log(paths)?;
    let log = read_log(paths)?;
    let verifier = verifier(paths, None)?;
    let Some(checkpoint) = log.last_checkpoint() else {
        bail!("the audit log has no checkpoint yet");
    };
    if json {
        output::json(
            &serde_json::json!({"checkpoint": checkpoint, "public_key": verifier.to_hex()}),
        )?;
    } else {
        sh_println!(
            "entries {}..={} root {} signed {} by {}",
            checkpoint.first_seq,
            checkpoint.last_seq,
            hex_of(&checkpoint.root),
            checkpoint.time,
            verifier.to_hex()
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
