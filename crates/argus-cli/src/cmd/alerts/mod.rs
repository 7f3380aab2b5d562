//! `argus alerts`: the alerts Argus recorded, their deliveries, and silences.
//!
//! The daemon (`argus run`) keeps alerts and the delivery outbox in
//! `<data_dir>/argus.db`; this command reads them, and adds and ends
//! silences, so nobody has to write SQL during an incident.
//!
//! stdout carries only the result (a line per alert or silence, or one JSON
//! document per line with `--json`); notices and warnings go to stderr. Text
//! that comes from the chain (titles, fields) is printed with control and
//! bidi characters escaped, so an alert cannot rewrite the operator's
//! terminal.
//!
//! This module holds the command tree, `alerts list` and `alerts show` (read
//! only) and what both halves share (opening the store, times, `--since`);
//! [`silences`] holds `alerts silence add/list/end`, the half that changes
//! what is sent and so writes the audit log.

mod silences;

use std::fmt::Write as _;
use std::process::ExitCode;

use anyhow::bail;
use argus_alerting::outbox::{self, AlertFilter};
use argus_alerting::{AlertRecord, AlertState, Delivery};
use argus_core::{ChainId, Severity};
use argus_store::Connection;
use jiff::Timestamp;
use serde_json::json;

use self::silences::SilenceCommand;
use crate::cmd::records::{Since, parse_since, read_store, rfc3339, shorten};
use crate::{GlobalArgs, output};

#[derive(Debug, clap::Subcommand)]
pub(crate) enum AlertsCommand {
    /// The alerts, newest first.
    List(ListArgs),
    /// One alert in full, with its deliveries.
    Show(ShowArgs),
    /// Silences: matching alerts are stored but not sent, for a time. Each
    /// one added or ended is recorded in the audit log.
    #[command(subcommand)]
    Silence(SilenceCommand),
}

#[derive(Debug, clap::Args)]
pub(crate) struct ListArgs {
    /// Only alerts in this state: firing, suppressed, silenced, retracted.
    #[arg(long, value_parser = parse_state)]
    state: Option<AlertState>,
    /// Only alerts of this rule (its exact id).
    #[arg(long, value_name = "ID")]
    rule: Option<String>,
    /// Only alerts this severe or worse: critical, high, medium, low, info.
    #[arg(long, value_name = "SEVERITY")]
    min_severity: Option<Severity>,
    /// Only alerts recorded since then: an RFC 3339 time
    /// (2026-11-05T10:00:00Z) or a duration ago (90m, 2h, 1d).
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
    /// The alert's id (`0x…`), or a unique prefix of at least 8 hex digits.
    id: String,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(global: &GlobalArgs, command: AlertsCommand) -> anyhow::Result<ExitCode> {
    match command {
        AlertsCommand::List(args) => list(global, args),
        AlertsCommand::Show(args) => show(global, &args),
        AlertsCommand::Silence(command) => silences::run(global, command),
    }
}

// ---------------------------------------------------------------- alerts

fn list(global: &GlobalArgs, args: ListArgs) -> anyhow::Result<ExitCode> {
    let conn = read_store(&global.data_dir)?;
    let now_ms = Timestamp::now().as_millisecond();
    let filter = AlertFilter {
        state: args.state,
        rule_id: args.rule,
        min_severity: args.min_severity,
        since_ms: args.since.map(|since| since.at_ms(now_ms)),
        limit: Some(usize::try_from(args.limit).unwrap_or(usize::MAX)),
    };
    let alerts = outbox::list_alerts(&conn, &filter)?;
    let mut out = String::new();
    for alert in &alerts {
        if args.json {
            out.push_str(&serde_json::to_string(alert)?);
        } else {
            out.push_str(&alert_line(alert));
        }
        out.push('\n');
    }
    if alerts.is_empty() && !args.json {
        sh_eprintln!("no alerts match");
    }
    if args.json {
        output::json_text(&out)?;
    } else {
        output::stdout_text(&out)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// One line: id prefix, time recorded, severity, state, rule, where, title.
fn alert_line(alert: &AlertRecord) -> String {
    let place = match (alert.chain_id, alert.block_number) {
        (Some(chain), Some(block)) => format!("{}#{block}", ChainId(chain).name()),
        (Some(chain), None) => ChainId(chain).name(),
        _ => "-".to_owned(),
    };
    let mut line = format!(
        "{}  {}  {:<8}  {:<10}  {}  {}  {}",
        short_id(&alert.id),
        rfc3339(alert.created_at_ms),
        alert.severity.as_str(),
        alert.state.as_str(),
        output::escape(&alert.rule_id),
        place,
        output::escape(&alert.title),
    );
    if alert.duplicates > 0 {
        let _ = write!(line, "  (+{} duplicates)", alert.duplicates);
    }
    if let Some(silence) = alert.silence_id {
        let _ = write!(line, "  (silence {silence})");
    }
    line
}

fn show(global: &GlobalArgs, args: &ShowArgs) -> anyhow::Result<ExitCode> {
    let conn = read_store(&global.data_dir)?;
    let alert = resolve_alert(&conn, &args.id)?;
    let deliveries = outbox::deliveries_of(&conn, &alert.id)?;
    if args.json {
        let doc = json!({ "alert": alert, "deliveries": deliveries });
        output::json(&doc)?;
    } else {
        output::stdout_text(&alert_details(&alert, &deliveries))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Finds an alert by its full id or a unique prefix of 8+ hex digits.
fn resolve_alert(conn: &Connection, text: &str) -> anyhow::Result<AlertRecord> {
    let trimmed = text.trim();
    let digits = trimmed
        .strip_prefix("0x")
        .or_else(|| trimmed.strip_prefix("0X"))
        .unwrap_or(trimmed)
        .to_ascii_lowercase();
    if digits.is_empty() || digits.len() > 64 || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        bail!(
            "`{}` is not an alert id: give the 0x… id that `argus alerts list` shows, or at \
             least 8 of its hex digits",
            shorten(trimmed)
        )
    }
    let unknown = || {
        anyhow::anyhow!(
            "no alert has an id starting with 0x{digits}; `argus alerts list` shows the recent \
             ones (and check --data-dir)"
        )
    };
    if digits.len() == 64 {
        return outbox::get_alert(conn, &format!("0x{digits}"))?.ok_or_else(unknown);
    }
    if digits.len() < 8 {
        bail!(
            "`{}` is too short to name an alert: give at least 8 hex digits of its id (`argus \
             alerts list` shows that many)",
            shorten(trimmed)
        )
    }
    // The outbox has no lookup by prefix; ids are hashes, so every alert is a
    // candidate. Fine for an operator's command on a monitor's alert table.
    let prefix = format!("0x{digits}");
    let everything = AlertFilter {
        limit: Some(usize::MAX),
        ..AlertFilter::default()
    };
    let mut hits: Vec<AlertRecord> = outbox::list_alerts(conn, &everything)?
        .into_iter()
        .filter(|alert| alert.id.starts_with(&prefix))
        .collect();
    match hits.len() {
        0 => Err(unknown()),
        1 => Ok(hits.swap_remove(0)),
        n => {
            let shown: Vec<&str> = hits.iter().take(5).map(|a| a.id.as_str()).collect();
            bail!(
                "{prefix} is ambiguous: {n} alerts have ids starting with it ({}{}); give more \
                 digits",
                shown.join(", "),
                if n > shown.len() { ", …" } else { "" }
            )
        }
    }
}

fn alert_details(alert: &AlertRecord, deliveries: &[Delivery]) -> String {
    let mut out = String::new();
    let mut row = |label: &str, value: &str| {
        let _ = writeln!(out, "{label:<11} {}", output::escape(value));
    };
    row("id", &alert.id);
    row("rule", &alert.rule_id);
    row("severity", alert.severity.as_str());
    row("state", alert.state.as_str());
    row("title", &alert.title);
    row("event at", &rfc3339(alert.at_ms));
    row("recorded", &rfc3339(alert.created_at_ms));
    if let Some(chain) = alert.chain_id {
        row("chain", &format!("{} ({chain})", ChainId(chain).name()));
    }
    if let Some(number) = alert.block_number {
        let hash = alert.block_hash.as_deref().unwrap_or("-");
        row("block", &format!("{number} {hash}"));
    }
    if let Some(tx) = &alert.tx_hash {
        match alert.log_index {
            Some(index) => row("tx", &format!("{tx} (log {index})")),
            None => row("tx", tx),
        }
    }
    row("dedup key", &alert.dedup_key);
    if let Some(head) = &alert.group_head {
        row("group head", head);
    }
    if alert.duplicates > 0 {
        row("duplicates", &alert.duplicates.to_string());
    }
    if let Some(silence) = alert.silence_id {
        row("silence", &silence.to_string());
    }
    if let Some(at) = alert.retracted_at_ms {
        row("retracted", &rfc3339(at));
    }
    if let Some(reason) = &alert.reason {
        row("reason", reason);
    }
    out.push_str("fields\n");
    let fields =
        serde_json::to_string_pretty(&alert.fields).unwrap_or_else(|_| alert.fields.to_string());
    for line in fields.lines() {
        let _ = writeln!(out, "  {}", output::escape(line));
    }
    out.push_str("deliveries\n");
    if deliveries.is_empty() {
        let why = match alert.state {
            AlertState::Silenced => "a silenced alert is never sent",
            AlertState::Suppressed => "a duplicate is counted on its group head, not sent",
            AlertState::Firing | AlertState::Retracted => "no notifier was routed this alert",
        };
        let _ = writeln!(out, "  none: {why}");
    }
    for d in deliveries {
        let _ = write!(
            out,
            "  {}  {}  {}  attempts {}  delivered {}",
            output::escape(&d.notifier),
            d.kind.as_str(),
            d.status.as_str(),
            d.attempts,
            d.delivered_at_ms.map_or_else(|| "-".to_owned(), rfc3339),
        );
        if d.status == argus_alerting::DeliveryStatus::Pending {
            let _ = write!(out, "  next attempt {}", rfc3339(d.next_attempt_at_ms));
        }
        if let Some(digest) = d.digest_id {
            let _ = write!(out, "  in digest {digest}");
        }
        if d.kind == argus_alerting::DeliveryKind::Digest {
            let _ = write!(
                out,
                "  digest {} of group {}",
                d.id,
                output::escape(d.group_key.as_deref().unwrap_or("-"))
            );
        }
        if let Some(error) = &d.last_error {
            let _ = write!(out, "  last error: {}", output::escape(error));
        }
        out.push('\n');
    }
    out
}
/// `0x` and the first 8 hex digits: enough for `argus alerts show`.
fn short_id(id: &str) -> &str {
    id.get(..10).unwrap_or(id)
}

fn parse_state(text: &str) -> Result<AlertState, String> {
    [
        AlertState::Firing,
        AlertState::Suppressed,
        AlertState::Silenced,
        AlertState::Retracted,
    ]
    .into_iter()
    .find(|state| state.as_str().eq_ignore_ascii_case(text.trim()))
    .ok_or_else(|| {
        format!(
            "`{}` is not an alert state; use firing, suppressed, silenced or retracted",
            shorten(text)
        )
    })
}
