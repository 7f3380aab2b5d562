//! `argus alerts`: the alerts Argus recorded, their deliveries, and silences.
//!
//! The daemon (`argus run`) keeps alerts and the delivery outbox in
//! `<data_dir>/argus.db`; this command reads them, and adds and ends
//! silences, so nobody has to write SQL during an incident.
//!
//! Muting alerts is the first thing an intruder would do, so every silence
//! added or ended is also a security-class entry in the tamper-evident audit
//! log (`silence.add`, `silence.end`). Writing the log needs the master key;
//! without one the silence is still made (an operator in an incident must be
//! able to stop a flood of pages), and stderr says plainly that it is not in
//! the log and gives the `argus audit record` line that puts it there.
//!
//! stdout carries only the result (a line per alert or silence, or one JSON
//! document per line with `--json`); notices and warnings go to stderr. Text
//! that comes from the chain (titles, fields) is printed with control and
//! bidi characters escaped, so an alert cannot rewrite the operator's
//! terminal.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use alloy_primitives::Address;
use anyhow::{Context as _, bail};
use argus_alerting::outbox::{self, AlertFilter};
use argus_alerting::silence::end_silence;
use argus_alerting::{
    AlertRecord, AlertState, Delivery, NewSilence, Silence, SilenceMatcher, add_silence,
    list_silences,
};
use argus_audit::{NewEntry, RetentionClass};
use argus_core::{ChainId, Severity, parse_address};
use argus_store::{Connection, Store};
use argus_vault::Vault;
use jiff::Timestamp;
use serde_json::json;

use crate::{GlobalArgs, output, trail};

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

#[derive(Debug, clap::Subcommand)]
pub(crate) enum SilenceCommand {
    /// Silence matching alerts for a time; prints the silence's id.
    Add(SilenceAddArgs),
    /// The silences in force now (all of them with --all).
    List(SilenceListArgs),
    /// End a silence now: matching alerts are sent again.
    End(SilenceEndArgs),
}

#[derive(Debug, clap::Args)]
pub(crate) struct SilenceAddArgs {
    /// Alerts of this rule: an exact id, or a prefix ending in `*` (`bot.*`).
    #[arg(long, value_name = "ID_OR_PREFIX*", value_parser = parse_rule_pattern)]
    rule: Option<String>,
    /// Alerts of this severity or milder: critical, high, medium, low, info.
    #[arg(long, value_name = "SEVERITY")]
    max_severity: Option<Severity>,
    /// Alerts from this chain: a name (mainnet, base…) or a chain id.
    #[arg(long, value_name = "NAME_OR_ID", value_parser = parse_chain)]
    chain: Option<ChainId>,
    /// Alerts about this contract (the finding's `address` or `contract`).
    #[arg(long, value_name = "0x…", value_parser = parse_address_arg)]
    address: Option<Address>,
    /// How long, from the start: 90m, 2h, 1d.
    #[arg(long = "for", value_name = "DURATION", value_parser = argus_core::parse_window_ms,
          conflicts_with = "until")]
    for_ms: Option<u64>,
    /// Until this RFC 3339 time (2026-11-05T18:00:00Z).
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    until: Option<Timestamp>,
    /// From this RFC 3339 time instead of now.
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    starts: Option<Timestamp>,
    /// Why (kept with the silence and in the audit log).
    #[arg(long, value_name = "TEXT")]
    reason: String,
    /// Who asks for it (default: `$USER`, `$LOGNAME` or the user id).
    #[arg(long)]
    author: Option<String>,
    #[command(flatten)]
    audit: AuditArgs,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub(crate) struct SilenceListArgs {
    /// Every silence, also expired and pending ones.
    #[arg(long)]
    all: bool,
    /// One JSON document per line.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub(crate) struct SilenceEndArgs {
    /// The silence's id (`argus alerts silence list` shows it).
    id: i64,
    /// Why it ends early (kept in the audit log).
    #[arg(long, value_name = "TEXT", default_value = "")]
    reason: String,
    #[command(flatten)]
    audit: AuditArgs,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub(crate) struct AuditArgs {
    /// Read the master key (needed to write the audit log) from this file
    /// (mode 0600) instead of `ARGUS_MASTER_KEY`.
    #[arg(long, value_name = "FILE")]
    master_key_file: Option<PathBuf>,
}

pub(crate) fn run(global: &GlobalArgs, command: AlertsCommand) -> anyhow::Result<ExitCode> {
    match command {
        AlertsCommand::List(args) => list(global, args),
        AlertsCommand::Show(args) => show(global, &args),
        AlertsCommand::Silence(SilenceCommand::Add(args)) => silence_add(global, args),
        AlertsCommand::Silence(SilenceCommand::List(args)) => silence_list(global, &args),
        AlertsCommand::Silence(SilenceCommand::End(args)) => silence_end(global, &args),
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
        if let Some(error) = &d.last_error {
            let _ = write!(out, "  last error: {}", output::escape(error));
        }
        out.push('\n');
    }
    out
}

// --------------------------------------------------------------- silences

fn silence_add(global: &GlobalArgs, args: SilenceAddArgs) -> anyhow::Result<ExitCode> {
    let matcher = SilenceMatcher {
        rule_id: args.rule,
        max_severity: args.max_severity,
        chain: args.chain,
        address: args.address,
    };
    refuse_muting_everything(&matcher)?;
    let reason = args.reason.trim().to_owned();
    if reason.is_empty() {
        bail!("--reason is empty: say why these alerts are muted (it is kept in the audit log)")
    }
    let author = args.author.unwrap_or_else(trail::actor).trim().to_owned();
    if author.is_empty() {
        bail!("--author is empty: name who asks for the silence")
    }
    let now_ms = Timestamp::now().as_millisecond();
    let starts_at_ms = args.starts.map_or(now_ms, Timestamp::as_millisecond);
    let ends_at_ms = match (args.for_ms, args.until) {
        (Some(for_ms), None) => i64::try_from(for_ms)
            .ok()
            .and_then(|ms| starts_at_ms.checked_add(ms))
            .filter(|&ms| Timestamp::from_millisecond(ms).is_ok())
            .context("--for is too long a duration")?,
        (None, Some(until)) => until.as_millisecond(),
        (Some(_), Some(_)) => bail!("give --for or --until, not both"),
        (None, None) => bail!(
            "say how long the silence lasts: --for 2h (from its start), or --until \
             2026-11-05T18:00:00Z"
        ),
    };
    if ends_at_ms <= starts_at_ms {
        bail!(
            "the silence would end ({}) before it starts ({}); check --until and --starts",
            rfc3339(ends_at_ms),
            rfc3339(starts_at_ms)
        )
    }
    if ends_at_ms <= now_ms {
        bail!(
            "the silence would end at {}, which has passed; a silence mutes only alerts recorded \
             while it is in force",
            rfc3339(ends_at_ms)
        )
    }

    let conn = open_store(&global.data_dir)?;
    // The vault first: a wrong master key stops here, before anything changed.
    let mut vault = audit_vault(&global.data_dir, &args.audit)?;
    let silence = NewSilence {
        matcher,
        starts_at_ms,
        ends_at_ms,
        created_by: author,
        reason,
    };
    let id = add_silence(&conn, &silence, now_ms)?;
    let details = json!({
        "silence_id": id,
        "matcher": silence.matcher,
        "starts_at": rfc3339(starts_at_ms),
        "ends_at": rfc3339(ends_at_ms),
        "author": silence.created_by,
    });
    let seq = audit(
        global,
        vault.as_mut(),
        "silence.add",
        &silence.reason,
        details,
    )
    .with_context(|| format!("silence {id} was added"))?;
    let stored = Silence {
        id,
        matcher: silence.matcher,
        starts_at_ms,
        ends_at_ms,
        created_by: silence.created_by,
        reason: silence.reason,
        created_at_ms: now_ms,
    };
    sh_eprintln!(
        "silence {id}: {} from {} until {}{}",
        describe_matcher(&stored.matcher),
        rfc3339(starts_at_ms),
        rfc3339(ends_at_ms),
        seq.map_or_else(String::new, |seq| format!(" (audit log entry {seq})")),
    );
    if args.json {
        let mut doc = silence_json(&stored, now_ms)?;
        doc["audit_seq"] = json!(seq);
        output::json(&doc)?;
    } else {
        sh_println!("{id}")?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The library refuses a silence with no matcher; a rule of `*` or a
/// maximum severity of `critical` matches everything too, so a silence
/// made only of those would mute every alert just the same.
fn refuse_muting_everything(matcher: &SilenceMatcher) -> anyhow::Result<()> {
    if *matcher == SilenceMatcher::default() {
        bail!(
            "a silence needs at least one matcher: --rule, --max-severity, --chain or --address \
             (without one it would mute every alert)"
        )
    }
    if matcher.matches_everything() {
        bail!(
            "this silence would mute every alert (`--rule '*'` matches every rule, \
             `--max-severity critical` every severity); narrow it with a rule, a milder \
             severity, a chain or an address"
        )
    }
    Ok(())
}

fn silence_list(global: &GlobalArgs, args: &SilenceListArgs) -> anyhow::Result<ExitCode> {
    let conn = read_store(&global.data_dir)?;
    let now_ms = Timestamp::now().as_millisecond();
    let silences = list_silences(&conn, (!args.all).then_some(now_ms))?;
    let mut out = String::new();
    for silence in &silences {
        if args.json {
            out.push_str(&silence_json(silence, now_ms)?.to_string());
        } else {
            let _ = write!(
                out,
                "{}  {:<7}  {}  {}  {}  by {}: {}",
                silence.id,
                status(silence, now_ms),
                rfc3339(silence.starts_at_ms),
                rfc3339(silence.ends_at_ms),
                describe_matcher(&silence.matcher),
                output::escape(&silence.created_by),
                output::escape(&silence.reason),
            );
        }
        out.push('\n');
    }
    if silences.is_empty() && !args.json {
        if args.all {
            sh_eprintln!("no silences");
        } else {
            sh_eprintln!("no silence is in force (--all shows expired and pending ones)");
        }
    }
    if args.json {
        output::json_text(&out)?;
    } else {
        output::stdout_text(&out)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn silence_end(global: &GlobalArgs, args: &SilenceEndArgs) -> anyhow::Result<ExitCode> {
    let conn = open_store(&global.data_dir)?;
    let now_ms = Timestamp::now().as_millisecond();
    let no_such = || {
        anyhow::anyhow!(
            "there is no silence {}; `argus alerts silence list --all` shows them all (and check \
             --data-dir)",
            args.id
        )
    };
    let before = find_silence(&conn, args.id)?.ok_or_else(no_such)?;
    if status(&before, now_ms) == "expired" {
        sh_eprintln!(
            "silence {} had already ended at {}; nothing changed",
            before.id,
            rfc3339(before.ends_at_ms)
        );
        if args.json {
            let mut doc = silence_json(&before, now_ms)?;
            doc["ended_now"] = json!(false);
            output::json(&doc)?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let mut vault = audit_vault(&global.data_dir, &args.audit)?;
    if !end_silence(&conn, args.id, now_ms)? {
        return Err(no_such());
    }
    let after = find_silence(&conn, args.id)?.ok_or_else(no_such)?;
    let details = json!({
        "silence_id": after.id,
        "matcher": after.matcher,
        "starts_at": rfc3339(after.starts_at_ms),
        "ends_at": rfc3339(after.ends_at_ms),
        "was_to_end_at": rfc3339(before.ends_at_ms),
        "author": after.created_by,
        "silence_reason": after.reason,
    });
    let seq = audit(global, vault.as_mut(), "silence.end", &args.reason, details)
        .with_context(|| format!("silence {} was ended", args.id))?;
    let recorded = seq.map_or_else(String::new, |seq| format!(" (audit log entry {seq})"));
    if status(&before, now_ms) == "pending" {
        sh_eprintln!(
            "silence {} had not started yet; it is cancelled and will never start{recorded}",
            after.id
        );
    } else {
        sh_eprintln!(
            "silence {} ended at {}; matching alerts are sent again (those it silenced stay \
             unsent){recorded}",
            after.id,
            rfc3339(after.ends_at_ms),
        );
    }
    if args.json {
        let mut doc = silence_json(&after, now_ms)?;
        doc["ended_now"] = json!(true);
        doc["audit_seq"] = json!(seq);
        output::json(&doc)?;
    } else {
        sh_println!("{}", after.id)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn find_silence(conn: &Connection, id: i64) -> anyhow::Result<Option<Silence>> {
    Ok(list_silences(conn, None)?.into_iter().find(|s| s.id == id))
}

/// `active` (in force now), `pending` (starts later) or `expired`.
fn status(silence: &Silence, now_ms: i64) -> &'static str {
    if silence.is_active(now_ms) {
        "active"
    } else if now_ms < silence.starts_at_ms && silence.starts_at_ms < silence.ends_at_ms {
        "pending"
    } else {
        "expired"
    }
}

fn silence_json(silence: &Silence, now_ms: i64) -> anyhow::Result<serde_json::Value> {
    let mut doc = serde_json::to_value(silence)?;
    doc["status"] = json!(status(silence, now_ms));
    doc["starts_at"] = json!(rfc3339(silence.starts_at_ms));
    doc["ends_at"] = json!(rfc3339(silence.ends_at_ms));
    Ok(doc)
}

fn describe_matcher(matcher: &SilenceMatcher) -> String {
    let mut parts = Vec::new();
    if let Some(rule) = &matcher.rule_id {
        parts.push(format!("rule={}", output::escape(rule)));
    }
    if let Some(severity) = matcher.max_severity {
        parts.push(format!("max-severity={severity}"));
    }
    if let Some(chain) = matcher.chain {
        parts.push(format!("chain={}", chain.name()));
    }
    if let Some(address) = matcher.address {
        parts.push(format!("address={address:#x}"));
    }
    parts.join(" ")
}

// ------------------------------------------------------------- audit log

/// The vault, when a master key is available to write the audit log.
fn audit_vault(data_dir: &Path, args: &AuditArgs) -> anyhow::Result<Option<Vault>> {
    if !trail::master_key_given(args.master_key_file.as_deref()) {
        return Ok(None);
    }
    trail::open_vault(data_dir, args.master_key_file.as_deref(), true).map(Some)
}

/// Records a silence change as a security entry; without a vault, warns
/// that it is not in the log and prints the line that records it. The
/// entry's sequence number when recorded.
fn audit(
    global: &GlobalArgs,
    vault: Option<&mut Vault>,
    action: &str,
    reason: &str,
    details: serde_json::Value,
) -> anyhow::Result<Option<u64>> {
    let Some(vault) = vault else {
        sh_eprintln!(
            "warning: {action} is NOT recorded in the audit log: there is no master key (set \
             ARGUS_MASTER_KEY or pass --master-key-file). Silences are security events; record \
             this one with:\n  argus --data-dir {} audit record --class security --component \
             alerts --action {action} --reason {} --details {}",
            shell_quote(&global.data_dir.display().to_string()),
            shell_quote(reason),
            shell_quote(&details.to_string()),
        );
        return Ok(None);
    };
    let entry = NewEntry::new(RetentionClass::Security, trail::actor(), action)
        .at(trail::host_name(), "alerts")
        .because(reason)
        .details(details);
    trail::append(vault, &global.data_dir, &entry).map(Some)
}

/// `text` as one POSIX shell word.
fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

// ---------------------------------------------------------------- shared

/// A connection to the daemon's database; refuses to create one where none is.
fn open_store(data_dir: &Path) -> anyhow::Result<Connection> {
    require_database(data_dir)?;
    Ok(Store::open_in_dir(data_dir)?.connect()?)
}

/// A read-only connection, for the subcommands that write nothing: they
/// work on a data directory the user may read but not write.
fn read_store(data_dir: &Path) -> anyhow::Result<Connection> {
    require_database(data_dir)?;
    Ok(Store::open_read_only_in_dir(data_dir)?.connect()?)
}

fn require_database(data_dir: &Path) -> anyhow::Result<()> {
    let path = data_dir.join(argus_store::DATABASE_FILE);
    if !path.exists() {
        bail!(
            "there is no Argus database at {}: alerts and silences live in the daemon's data \
             directory; start the daemon once (`argus run -c argus.yaml`), or point --data-dir \
             (or ARGUS_DATA_DIR) at the directory it uses",
            path.display()
        )
    }
    Ok(())
}

/// `0x` and the first 8 hex digits: enough for `argus alerts show`.
fn short_id(id: &str) -> &str {
    id.get(..10).unwrap_or(id)
}

/// RFC 3339 in UTC, to the second.
fn rfc3339(ms: i64) -> String {
    match Timestamp::from_millisecond(ms) {
        Ok(at) => at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        Err(_) => format!("{ms} ms after the epoch"),
    }
}

fn shorten(text: &str) -> String {
    let mut short: String = text.chars().take(70).collect();
    if text.chars().count() > 70 {
        short.push('…');
    }
    output::escape(&short).into_owned()
}

// --------------------------------------------------------- argument parsers

/// `--since`: a time, or a duration before now.
#[derive(Debug, Clone, Copy)]
enum Since {
    At(Timestamp),
    Ago { ms: u64 },
}

impl Since {
    fn at_ms(self, now_ms: i64) -> i64 {
        match self {
            Since::At(at) => at.as_millisecond(),
            Since::Ago { ms } => now_ms.saturating_sub(i64::try_from(ms).unwrap_or(i64::MAX)),
        }
    }
}

fn parse_since(text: &str) -> Result<Since, String> {
    if let Ok(ms) = argus_core::parse_window_ms(text) {
        return Ok(Since::Ago { ms });
    }
    parse_time(text).map(Since::At).map_err(|_| {
        format!(
            "`{}` is neither an RFC 3339 time (2026-11-05T10:00:00Z) nor a duration ago (90m, \
             2h, 1d)",
            shorten(text)
        )
    })
}

fn parse_time(text: &str) -> Result<Timestamp, String> {
    text.trim().parse::<Timestamp>().map_err(|_| {
        format!(
            "`{}` is not an RFC 3339 time; write e.g. 2026-11-05T10:00:00Z or \
             2026-11-05T11:00:00+01:00",
            shorten(text)
        )
    })
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

fn parse_rule_pattern(text: &str) -> Result<String, String> {
    let rule = text.trim();
    if rule.is_empty() {
        return Err("the rule id is empty".to_owned());
    }
    if rule.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("`{}`: a rule id has no spaces", shorten(rule)));
    }
    if rule.find('*').is_some_and(|at| at + 1 != rule.len()) {
        return Err(format!(
            "`{}`: `*` may only end a rule prefix, as in `bot.*`",
            shorten(rule)
        ));
    }
    Ok(rule.to_owned())
}

fn parse_chain(text: &str) -> Result<ChainId, String> {
    // A private network's id is fine: a silence on a chain nobody follows
    // mutes nothing.
    ChainId::parse(text, true).map_err(|error| error.to_string())
}

fn parse_address_arg(text: &str) -> Result<Address, String> {
    parse_address(text).map_err(|error| error.to_string())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn since_takes_a_duration_or_a_time() {
        assert!(matches!(
            parse_since("2h"),
            Ok(Since::Ago { ms: 7_200_000 })
        ));
        assert!(matches!(
            parse_since("1d"),
            Ok(Since::Ago { ms: 86_400_000 })
        ));
        let at = parse_since("2026-11-05T10:00:00Z").unwrap();
        assert_eq!(at.at_ms(0), 1_793_872_800_000);
        assert_eq!(parse_since("90m").unwrap().at_ms(6_000_000), 600_000);
        for bad in ["", "soon", "2h later", "2026-11-05", "-5m", "0m"] {
            assert!(parse_since(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn rule_patterns_end_in_a_star_if_anywhere() {
        assert_eq!(parse_rule_pattern(" bot.* ").unwrap(), "bot.*");
        assert_eq!(
            parse_rule_pattern("large-transfer").unwrap(),
            "large-transfer"
        );
        for bad in ["", "  ", "bot.*.x", "*bot", "a b"] {
            assert!(parse_rule_pattern(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_silence_that_matches_everything_is_refused() {
        let everything = [
            SilenceMatcher::default(),
            SilenceMatcher {
                rule_id: Some("*".to_owned()),
                ..SilenceMatcher::default()
            },
            SilenceMatcher {
                max_severity: Some(Severity::Critical),
                ..SilenceMatcher::default()
            },
            SilenceMatcher {
                rule_id: Some("*".to_owned()),
                max_severity: Some(Severity::Critical),
                ..SilenceMatcher::default()
            },
        ];
        for matcher in everything {
            assert!(refuse_muting_everything(&matcher).is_err(), "{matcher:?}");
        }
        let narrow = SilenceMatcher {
            rule_id: Some("*".to_owned()),
            max_severity: Some(Severity::High),
            ..SilenceMatcher::default()
        };
        assert!(refuse_muting_everything(&narrow).is_ok());
    }

    #[test]
    fn shell_words_survive_quotes() {
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }

    #[test]
    fn times_print_as_utc_to_the_second() {
        assert_eq!(rfc3339(1_793_872_800_123), "2026-11-05T10:00:00Z");
    }
}
