//! `argus incidents`: what operators do during an incident.
//!
//! The daemon opens incidents from alerts (by the `incidents:` policy of
//! `argus.yaml`), runs their playbooks and escalates them; this command
//! lists and shows them (read only) and acts on them ([`act`]): acknowledge,
//! contain, resolve, reopen, note, assign, approve a step, ask for an
//! unpause, set the public status line, judge an alert. Every act is a row
//! of the incident's timeline, written with the act, and copied into the
//! audit log at once when the master key is at hand (else by the daemon, or
//! the next command that has it).

mod act;

use std::fmt::Write as _;
use std::process::ExitCode;

use argus_incident::db::{self, IncidentFilter};
use argus_incident::{IncidentSeverity, IncidentState};
use argus_store::Connection;
use jiff::Timestamp;

use crate::cmd::records::{Since, parse_since, read_store, rfc3339};
use crate::{GlobalArgs, output};

#[derive(Debug, clap::Subcommand)]
pub(crate) enum IncidentsCommand {
    /// The incidents, newest first.
    List(ListArgs),
    /// One incident in full: alerts, playbook steps, approvals, signed
    /// transactions, evidence and the timeline.
    Show(ShowArgs),
    /// Acknowledge: you are on it. Stops the escalation timer.
    Ack(act::ReasonArgs),
    /// Mark the incident contained: the harm is stopped.
    Contain(act::ReasonArgs),
    /// Resolve the incident; its steps that have not run are skipped.
    Resolve(act::ReasonArgs),
    /// Reopen a resolved incident.
    Reopen(act::ReasonArgs),
    /// Add a note to the timeline.
    Note(act::NoteArgs),
    /// Assign the incident to someone.
    Assign(act::AssignArgs),
    /// Approve a step that needs approvals (an unpause needs two different
    /// operators).
    Approve(act::ApproveArgs),
    /// Ask for contracts to be unpaused: a step that runs after two
    /// different operators approved it.
    Unpause(act::UnpauseArgs),
    /// Set the line the public status view shows for the incident.
    Status(act::StatusArgs),
    /// Judge an alert: true-positive, false-positive or benign (for the
    /// false-positive rate of `argus metrics`).
    Disposition(act::DispositionArgs),
    /// The evidence bundle and the incident report.
    #[command(flatten)]
    Documents(crate::cmd::incident_report::IncidentReportCommand),
}

#[derive(Debug, clap::Args)]
pub(crate) struct ListArgs {
    /// Only incidents in this state: open, acknowledged, contained, resolved.
    #[arg(long)]
    state: Option<IncidentState>,
    /// Only incidents not resolved.
    #[arg(long, conflicts_with = "state")]
    open: bool,
    /// Only incidents of this severity: P0, P1, P2, P3.
    #[arg(long)]
    severity: Option<IncidentSeverity>,
    /// Only incidents opened since then: an RFC 3339 time or a duration ago
    /// (90m, 2h, 1d).
    #[arg(long, value_name = "WHEN", value_parser = parse_since)]
    since: Option<Since>,
    /// At most this many.
    #[arg(short = 'n', long = "limit", value_name = "N", default_value_t = 20,
          value_parser = clap::value_parser!(u32).range(1..))]
    limit: u32,
    /// One JSON document per line.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub(crate) struct ShowArgs {
    /// The incident's number.
    id: i64,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(global: &GlobalArgs, command: IncidentsCommand) -> anyhow::Result<ExitCode> {
    match command {
        IncidentsCommand::List(args) => list(global, &args),
        IncidentsCommand::Show(args) => show(global, &args),
        IncidentsCommand::Documents(command) => crate::cmd::incident_report::run(global, command),
        other => act::run(global, other),
    }
}

fn list(global: &GlobalArgs, args: &ListArgs) -> anyhow::Result<ExitCode> {
    let conn = read_store(&global.data_dir)?;
    let now_ms = Timestamp::now().as_millisecond();
    let filter = IncidentFilter {
        state: args.state,
        open_only: args.open,
        severity: args.severity,
        since_ms: args.since.as_ref().map(|s| s.at_ms(now_ms)),
        limit: Some(usize::try_from(args.limit).unwrap_or(usize::MAX)),
    };
    let incidents = db::list_incidents(&conn, &filter)?;
    let mut out = String::new();
    for incident in &incidents {
        if args.json {
            out.push_str(&serde_json::to_string(incident)?);
        } else {
            let _ = write!(
                out,
                "{:>4}  {}  {}  {:<12}  {}  {}",
                incident.id,
                rfc3339(incident.opened_ms),
                incident.severity,
                incident.state.as_str(),
                output::escape(&incident.kind),
                output::escape(&incident.title),
            );
            if let Some(assignee) = &incident.assignee {
                let _ = write!(out, "  (assigned to {})", output::escape(assignee));
            }
            if incident.escalation_level > 0 {
                let _ = write!(out, "  (escalated to level {})", incident.escalation_level);
            }
        }
        out.push('\n');
    }
    if incidents.is_empty() && !args.json {
        sh_eprintln!("no incidents match");
    }
    if args.json {
        output::json_text(&out)?;
    } else {
        output::stdout_text(&out)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn show(global: &GlobalArgs, args: &ShowArgs) -> anyhow::Result<ExitCode> {
    let conn = read_store(&global.data_dir)?;
    let doc = incident_document(&conn, args.id)?;
    if args.json {
        output::json(&doc)?;
    } else {
        output::stdout_text(&incident_details(&doc))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// An incident and everything about it, as one JSON document (the one
/// the HTTP API serves too).
pub(crate) fn incident_document(conn: &Connection, id: i64) -> anyhow::Result<serde_json::Value> {
    Ok(argus_incident::document::incident_document(conn, id)?)
}

fn incident_details(doc: &serde_json::Value) -> String {
    let mut out = String::new();
    let incident = &doc["incident"];
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => output::escape(s).into_owned(),
        serde_json::Value::Null => "-".to_owned(),
        other => output::escape(&other.to_string()).into_owned(),
    };
    let time = |v: &serde_json::Value| v.as_i64().map_or_else(|| "-".to_owned(), rfc3339);
    let mut row = |label: &str, value: String| {
        let _ = writeln!(out, "{label:<13} {value}");
    };
    row("incident", text(&incident["id"]));
    row("kind", text(&incident["kind"]));
    row("severity", text(&incident["severity"]));
    row("state", text(&incident["state"]));
    row("title", text(&incident["title"]));
    row("playbook", text(&incident["playbook"]));
    row("first event", time(&incident["first_event_ms"]));
    row("opened", time(&incident["opened_ms"]));
    row("acknowledged", time(&incident["acknowledged_ms"]));
    row("contained", time(&incident["contained_ms"]));
    row("resolved", time(&incident["resolved_ms"]));
    row("assignee", text(&incident["assignee"]));
    row(
        "escalation",
        format!("level {}", text(&incident["escalation_level"])),
    );
    row("escalates at", time(&incident["escalate_at_ms"]));
    row("evidence", text(&incident["evidence_root"]));
    row("public status", text(&incident["public_status"]));
    out.push_str("alerts\n");
    for alert in doc["alerts"].as_array().into_iter().flatten() {
        let _ = writeln!(
            out,
            "  {}  {}  {}  {}",
            text(&alert["alert"]),
            text(&alert["rule"]),
            text(&alert["title"]),
            text(&alert["disposition"]),
        );
    }
    out.push_str("steps\n");
    for step in doc["steps"].as_array().into_iter().flatten() {
        let _ = write!(
            out,
            "  {:<16} {:<18} {:<15} attempts {}",
            text(&step["step_id"]),
            text(&step["action"]),
            text(&step["state"]),
            text(&step["attempts"]),
        );
        if step["approvals_needed"].as_i64().unwrap_or(0) > 0 {
            let approvers: Vec<String> = doc["approvals"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|a| a["step_id"] == step["step_id"])
                .map(|a| text(&a["approver"]))
                .collect();
            let _ = write!(
                out,
                "  approvals {}/{} ({})",
                approvers.len(),
                text(&step["approvals_needed"]),
                approvers.join(", ")
            );
        }
        if !step["last_error"].is_null() {
            let _ = write!(out, "  error: {}", text(&step["last_error"]));
        }
        out.push('\n');
    }
    let transactions = doc["transactions"].as_array().cloned().unwrap_or_default();
    if !transactions.is_empty() {
        out.push_str("transactions\n");
        for tx in &transactions {
            let _ = writeln!(
                out,
                "  {}  {}  {}  nonce {}  {}",
                text(&tx["step_id"]),
                text(&tx["target"]),
                text(&tx["tx_hash"]),
                text(&tx["nonce"]),
                text(&tx["status"]),
            );
        }
    }
    out.push_str("timeline\n");
    for event in doc["timeline"].as_array().into_iter().flatten() {
        let _ = write!(
            out,
            "  {}  {:<22} {}",
            time(&event["at_ms"]),
            text(&event["action"]),
            text(&event["actor"]),
        );
        if !event["reason"].is_null() {
            let _ = write!(out, ": {}", text(&event["reason"]));
        }
        out.push('\n');
    }
    out
}
