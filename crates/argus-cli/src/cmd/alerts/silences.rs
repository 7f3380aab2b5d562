//! `argus alerts silence add/list/end`: silences, and their audit entries.
//!
//! Muting alerts is the first thing an intruder would do, so every silence
//! added or ended is also a security-class entry in the tamper-evident audit
//! log (`silence.add`, `silence.end`). Writing the log needs the master key;
//! without one the silence is still made (an operator in an incident must be
//! able to stop a flood of pages), and stderr says plainly that it is not in
//! the log and gives the `argus audit record` line that puts it there.
//!
//! Kept apart from `alerts list/show` because this half writes: to the
//! silences table and to the audit log.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use alloy_primitives::Address;
use anyhow::{Context as _, bail};
use argus_alerting::silence::end_silence;
use argus_alerting::{NewSilence, Silence, SilenceMatcher, add_silence, list_silences};
use argus_audit::{NewEntry, RetentionClass};
use argus_core::{ChainId, Severity, parse_address};
use argus_store::Connection;
use argus_vault::Vault;
use jiff::Timestamp;
use serde_json::json;

use crate::cmd::records::{open_store, parse_time, read_store, rfc3339, shorten};
use crate::{GlobalArgs, output, trail};

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
pub(super) fn run(global: &GlobalArgs, command: SilenceCommand) -> anyhow::Result<ExitCode> {
    match command {
        SilenceCommand::Add(args) => silence_add(global, args),
        SilenceCommand::List(args) => silence_list(global, &args),
        SilenceCommand::End(args) => silence_end(global, &args),
    }
}

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
// --------------------------------------------------------- argument parsers

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
}
