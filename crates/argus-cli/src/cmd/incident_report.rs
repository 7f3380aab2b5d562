//! `argus incidents evidence verify N` and `argus incidents report N`: the
//! read-only half of incident response that works on the record after the
//! fact, kept apart from the commands that change an incident
//! (`ack|contain|resolve|…`).
//!
//! Both open the store read-only, so they work on a copy of the data
//! directory or one the user may only read. `evidence verify` re-hashes the
//! bundle against its manifest and the store and exits 1 when anything was
//! changed, is missing or was added. `report` prints the Markdown report (or
//! JSON with `--json`), or with `--out DIR` writes `incident-N.md` and
//! `incident-N.json` there; the Markdown escapes outside text itself, and the
//! output module escapes terminal controls on top.

use std::fmt::Write as _;
use std::fs;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use argus_incident::evidence::{self, VerifyReport};
use argus_incident::report;

use crate::cmd::records::read_store;
use crate::{GlobalArgs, output};

/// The subcommands of `argus incidents` defined here (the lead's
/// `incidents` group flattens them in).
#[derive(Debug, clap::Subcommand)]
pub(crate) enum IncidentReportCommand {
    /// The evidence bundle captured when an incident opened.
    #[command(subcommand)]
    Evidence(EvidenceCommand),
    /// The incident report: summary, figures, alerts, timeline, steps,
    /// approvals, evidence, impact and the post-incident sections to fill.
    Report(ReportArgs),
}

#[derive(Debug, clap::Subcommand)]
pub(crate) enum EvidenceCommand {
    /// Re-hash every file of an incident's bundle against its manifest and
    /// the store; exit 1 when anything changed, is missing or was added.
    Verify(VerifyArgs),
}

#[derive(Debug, clap::Args)]
pub(crate) struct VerifyArgs {
    /// The incident's number.
    id: i64,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub(crate) struct ReportArgs {
    /// The incident's number.
    id: i64,
    /// Write `incident-N.md` and `incident-N.json` into this directory
    /// (made if missing) instead of printing.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Print JSON instead of Markdown.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(global: &GlobalArgs, command: IncidentReportCommand) -> anyhow::Result<ExitCode> {
    match command {
        IncidentReportCommand::Evidence(EvidenceCommand::Verify(args)) => verify(global, &args),
        IncidentReportCommand::Report(args) => write_report(global, &args),
    }
}

fn verify(global: &GlobalArgs, args: &VerifyArgs) -> anyhow::Result<ExitCode> {
    let conn = read_store(&global.data_dir)?;
    let report = evidence::verify(&global.data_dir, &conn, args.id)?;
    if args.json {
        output::json_pretty(&report)?;
    } else {
        output::stdout_text(&verify_text(&report))?;
    }
    Ok(if report.is_intact() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn verify_text(report: &VerifyReport) -> String {
    let mut out = String::new();
    let root = report
        .recorded_root
        .as_deref()
        .or(report.manifest_root.as_deref())
        .unwrap_or("none");
    if report.is_intact() {
        let _ = writeln!(
            out,
            "incident {}: evidence intact: {} files, root {root}",
            report.incident_id,
            report.intact.len()
        );
        return out;
    }
    let _ = writeln!(
        out,
        "incident {}: evidence NOT intact (root {root}, {} files intact)",
        report.incident_id,
        report.intact.len()
    );
    for changed in &report.changed {
        let found = changed
            .found_sha256
            .as_deref()
            .or(changed.detail.as_deref())
            .unwrap_or("unreadable");
        let _ = writeln!(
            out,
            "changed  {}  expected {} found {}",
            output::escape(&changed.name),
            changed.expected_sha256,
            output::escape(found)
        );
    }
    for name in &report.missing {
        let _ = writeln!(out, "missing  {}", output::escape(name));
    }
    for name in &report.extra {
        let _ = writeln!(out, "extra    {}", output::escape(name));
    }
    for problem in &report.problems {
        let _ = writeln!(out, "problem  {}", output::escape(problem));
    }
    out
}

fn write_report(global: &GlobalArgs, args: &ReportArgs) -> anyhow::Result<ExitCode> {
    let conn = read_store(&global.data_dir)?;
    let report = report::report(&conn, args.id)?;
    match &args.out {
        Some(dir) => {
            fs::create_dir_all(dir)
                .with_context(|| format!("cannot create the directory {}", dir.display()))?;
            let md = dir.join(format!("incident-{}.md", args.id));
            let json = dir.join(format!("incident-{}.json", args.id));
            fs::write(&md, report.markdown())
                .with_context(|| format!("cannot write {}", md.display()))?;
            let mut doc = serde_json::to_string_pretty(&report)?;
            doc.push('\n');
            fs::write(&json, doc).with_context(|| format!("cannot write {}", json.display()))?;
            sh_eprintln!("wrote {} and {}", md.display(), json.display());
        }
        None if args.json => output::json_pretty(&report)?,
        None => output::stdout_text(&report.markdown())?,
    }
    Ok(ExitCode::SUCCESS)
}
