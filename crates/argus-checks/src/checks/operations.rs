//! The node's checks: chains within their lag, the newest backup
//! (pluggable), the configuration against its approval, the week's
//! incidents and alerts, the month's drills.

use argus_core::Severity;
use argus_incident::db::{IncidentFilter, drill_runs, list_incidents};
use jiff::SignedDuration;
use serde_json::json;

use crate::{CheckContext, CheckResult, db};

pub(super) fn chain_lag(ctx: &CheckContext<'_>) -> CheckResult {
    const NAME: &str = "chain-lag";
    let conn = match ctx.store.connect() {
        Ok(conn) => conn,
        Err(error) => {
            return CheckResult::fail(
                NAME,
                Severity::High,
                format!("the store does not open: {error}"),
            );
        }
    };
    let chains = match argus_chain::db::checkpointed_chains(&conn) {
        Ok(chains) => chains,
        Err(error) => {
            return CheckResult::fail(
                NAME,
                Severity::High,
                format!("cannot read the chains: {error}"),
            );
        }
    };
    if chains.is_empty() {
        return CheckResult::skipped(NAME, "no chain has been followed in this data directory");
    }
    let now = ctx.clock.now_ms();
    let max_lag_ms = i64::try_from(ctx.config.max_lag.as_millis()).unwrap_or(i64::MAX);
    let mut lagging = Vec::new();
    let mut evidence = Vec::new();
    for chain in chains {
        let tip = argus_chain::db::load_cursor(&conn, chain)
            .ok()
            .and_then(|cursor| cursor.recent.last().copied());
        let lag = tip.map(|t| t.age_ms(now));
        evidence.push(json!({ "chain": chain.0, "name": chain.name(), "block": tip.map(|t| t.number), "lag_ms": lag }));
        if lag.is_none_or(|lag| lag > max_lag_ms) {
            lagging.push(format!(
                "chain {}: newest recorded block {}",
                chain.name(),
                match (tip, lag) {
                    (Some(t), Some(lag)) => format!(
                        "{} is {} old",
                        t.number,
                        argus_core::HumanDuration(std::time::Duration::from_millis(
                            u64::try_from(lag).unwrap_or(0)
                        ))
                    ),
                    _ => "missing".to_owned(),
                }
            ));
        }
    }
    let evidence = json!({ "chains": evidence, "max_lag_ms": max_lag_ms });
    if lagging.is_empty() {
        CheckResult::ok(NAME, "every chain within its lag").with_evidence(evidence)
    } else {
        CheckResult::fail(
            NAME,
            Severity::High,
            format!("{} chains lag", lagging.len()),
        )
        .with_details(lagging)
        .with_evidence(evidence)
    }
}

pub(super) fn backup(ctx: &CheckContext<'_>) -> CheckResult {
    match &ctx.plugins.backup {
        Some(check) => check(ctx.data_dir),
        None => CheckResult::skipped("backup", "backups not configured"),
    }
}

/// The running config's hash against the last approved one.
pub fn config_audit(ctx: &CheckContext<'_>) -> CheckResult {
    const NAME: &str = "config-audit";
    let Some(running) = ctx.config_hash else {
        return CheckResult::skipped(NAME, "no config file given (--config)");
    };
    let approval = ctx
        .store
        .connect()
        .map_err(crate::ChecksError::from)
        .and_then(|conn| db::last_approval(&conn));
    let evidence = json!({ "running": running.hash, "files": running.files });
    match approval {
        Err(error) => CheckResult::fail(NAME, Severity::High, format!("cannot read the approvals: {error}")),
        Ok(None) => CheckResult::fail(
            NAME,
            Severity::Medium,
            "the configuration was never approved: review it, then `argus config approve --reason TEXT`",
        )
        .with_evidence(evidence),
        Ok(Some(approved)) if approved.hash == running.hash => CheckResult::ok(
            NAME,
            format!("the running configuration is the one {} approved", approved.actor),
        )
        .with_evidence(json!({ "running": running.hash, "approval": approved.id, "approved_by": approved.actor })),
        Ok(Some(approved)) => {
            let mut details = vec![format!(
                "approved: {} by {} ({}); running: {}",
                approved.hash, approved.actor, approved.reason, running.hash
            )];
            if let Some(files) = approved.files.as_object() {
                for (file, hash) in &running.files {
                    if files.get(file).and_then(|h| h.as_str()) != Some(hash.as_str()) {
                        details.push(format!("{file} changed since the approval"));
                    }
                }
            }
            CheckResult::fail(
                NAME,
                Severity::High,
                "the running configuration differs from the last approved one",
            )
            .with_details(details)
            .with_evidence(evidence)
        }
    }
}

pub(super) fn incident_review(ctx: &CheckContext<'_>) -> CheckResult {
    const NAME: &str = "incident-review";
    let since = ctx
        .clock
        .now()
        .timestamp()
        .checked_sub(SignedDuration::from_hours(7 * 24))
        .map_or(0, |t| t.as_millisecond());
    let conn = match ctx.store.connect() {
        Ok(conn) => conn,
        Err(error) => {
            return CheckResult::fail(
                NAME,
                Severity::High,
                format!("the store does not open: {error}"),
            );
        }
    };
    let filter = IncidentFilter {
        since_ms: Some(since),
        ..IncidentFilter::default()
    };
    let incidents = match list_incidents(&conn, &filter) {
        Ok(incidents) => incidents,
        Err(error) => {
            return CheckResult::fail(
                NAME,
                Severity::High,
                format!("cannot read incidents: {error}"),
            );
        }
    };
    let alerts = argus_alerting::stats::alerts_since(&conn, since).ok();
    let mut details = Vec::new();
    let mut dispositions: std::collections::BTreeMap<&str, u64> = std::collections::BTreeMap::new();
    for incident in &incidents {
        if incident.resolved_ms.is_none() {
            details.push(format!(
                "incident {} ({}, {}) is still {}",
                incident.id,
                incident.severity.as_str(),
                incident.title,
                incident.state.as_str()
            ));
        }
        let mut undisposed = 0u64;
        for alert in argus_incident::db::alerts_of(&conn, incident.id).unwrap_or_default() {
            match argus_incident::db::disposition_of(&conn, &alert.alert_id) {
                Ok(Some(disposition)) => {
                    *dispositions.entry(disposition.as_str()).or_default() += 1;
                }
                _ => {
                    undisposed += 1;
                    *dispositions.entry("none").or_default() += 1;
                }
            }
        }
        if incident.resolved_ms.is_some() && undisposed > 0 {
            details.push(format!(
                "incident {} is resolved but {undisposed} of its alerts have no disposition \
                 (`argus incidents disposition`)",
                incident.id
            ));
        }
    }
    let alert_counts: serde_json::Value = alerts
        .as_ref()
        .map(|a| {
            a.nonzero()
                .map(|(state, n)| (state.as_str().to_owned(), json!(n)))
                .collect::<serde_json::Map<_, _>>()
                .into()
        })
        .unwrap_or(serde_json::Value::Null);
    let evidence = json!({
        "incidents": incidents.iter().map(|i| json!({
            "id": i.id, "severity": i.severity.as_str(), "state": i.state.as_str(), "title": i.title,
            "opened_ms": i.opened_ms, "resolved_ms": i.resolved_ms,
        })).collect::<Vec<_>>(),
        "alerts": alert_counts,
        "dispositions": dispositions,
    });
    let unresolved = incidents.iter().filter(|i| i.resolved_ms.is_none()).count();
    let summary = format!(
        "{} incidents opened this week, {unresolved} unresolved, {} items to follow up",
        incidents.len(),
        details.len()
    );
    if details.is_empty() {
        CheckResult::ok(NAME, summary).with_evidence(evidence)
    } else {
        CheckResult::warn(NAME, Severity::Medium, summary)
            .with_details(details)
            .with_evidence(evidence)
    }
}

pub(super) fn drills(ctx: &CheckContext<'_>) -> CheckResult {
    const NAME: &str = "drills";
    let now = ctx.clock.now().timestamp();
    let month = SignedDuration::from_hours(30 * 24);
    let this_from = now.checked_sub(month).map_or(0, |t| t.as_millisecond());
    let last_from = now.checked_sub(month * 2).map_or(0, |t| t.as_millisecond());
    let runs = match ctx
        .store
        .connect()
        .map_err(|e| e.to_string())
        .and_then(|c| drill_runs(&c, None).map_err(|e| e.to_string()))
    {
        Ok(runs) => runs,
        Err(error) => {
            return CheckResult::fail(
                NAME,
                Severity::High,
                format!("cannot read drill scorecards: {error}"),
            );
        }
    };
    let this: Vec<_> = runs.iter().filter(|r| r.started_ms >= this_from).collect();
    let last: Vec<_> = runs
        .iter()
        .filter(|r| r.started_ms >= last_from && r.started_ms < this_from)
        .collect();
    let passed = |runs: &[&argus_incident::db::DrillRun]| runs.iter().filter(|r| r.passed).count();
    let evidence = json!({
        "this_month": { "runs": this.len(), "passed": passed(&this) },
        "last_month": { "runs": last.len(), "passed": passed(&last) },
        "scenarios": this.iter().map(|r| json!({ "scenario": r.scenario, "passed": r.passed, "id": r.id })).collect::<Vec<_>>(),
    });
    let failed: Vec<String> = this
        .iter()
        .filter(|r| !r.passed)
        .map(|r| format!("drill {} ({}) failed its scorecard", r.id, r.scenario))
        .collect();
    if this.is_empty() {
        return CheckResult::warn(
            NAME,
            Severity::Medium,
            "no drill ran in the last 30 days: `argus drill run`",
        )
        .with_evidence(evidence);
    }
    if !failed.is_empty() {
        return CheckResult::fail(
            NAME,
            Severity::Medium,
            format!("{} of {} drills failed", failed.len(), this.len()),
        )
        .with_details(failed)
        .with_evidence(evidence);
    }
    let mut result = CheckResult::ok(
        NAME,
        format!(
            "{} drills passed (last month: {} of {})",
            this.len(),
            passed(&last),
            last.len()
        ),
    );
    if passed(&this) < passed(&last) {
        result
            .details
            .push("fewer drills passed than last month".to_owned());
    }
    result.with_evidence(evidence)
}
