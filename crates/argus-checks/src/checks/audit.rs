//! The audit log's checks: it verifies against its witnessed head, its
//! segments verify across rotation (pluggable), and the last day holds no
//! unusual access.

use std::collections::{BTreeMap, BTreeSet};

use argus_audit::{
    AuditPaths, CheckpointVerifier, Entry, check_extends, read_log, read_witness, verify,
};
use argus_core::Severity;
use jiff::{SignedDuration, Timestamp};
use serde_json::json;

use crate::{CheckContext, CheckResult};

pub(super) fn verify_log(ctx: &CheckContext<'_>) -> CheckResult {
    const NAME: &str = "audit-log";
    let paths = AuditPaths::new(ctx.data_dir);
    if !paths.log.exists() {
        return CheckResult::skipped(NAME, format!("no audit log at {}", paths.log.display()));
    }
    let verifier = match CheckpointVerifier::load(&paths.public_key) {
        Ok(verifier) => verifier,
        Err(error) => {
            return CheckResult::fail(
                NAME,
                Severity::Critical,
                format!("the log's public key cannot be read: {error}"),
            );
        }
    };
    // The daemon may be appending while this reads: a failure is read
    // again once, after the writer's group commit had time to finish.
    let verified = verify(&paths, &verifier).or_else(|_| {
        std::thread::sleep(std::time::Duration::from_millis(200));
        verify(&paths, &verifier)
    });
    let report = match verified {
        Ok(report) => report,
        Err(error) => {
            return CheckResult::fail(
                NAME,
                Severity::Critical,
                format!("the audit log does not verify: {error}"),
            )
            .with_details(vec![
                "keep the log as evidence; `argus audit verify` shows where it breaks".to_owned(),
            ]);
        }
    };
    let mut evidence = json!({
        "entries": report.entries,
        "checkpoints": report.checkpoints,
        "chain_head": hex::encode(report.chain_head),
        "head_last_seq": report.head_last_seq,
    });
    let Some(witness) = ctx.witness else {
        return CheckResult::ok(
            NAME,
            format!("{} entries verify (no witness configured)", report.entries),
        )
        .with_evidence(evidence);
    };
    let head = match read_witness(witness) {
        Ok(Some(head)) => head,
        Ok(None) => {
            return CheckResult::warn(
                NAME,
                Severity::Medium,
                format!(
                    "{} entries verify; the witness {} holds no head yet",
                    report.entries,
                    witness.display()
                ),
            )
            .with_evidence(evidence);
        }
        Err(error) => {
            return CheckResult::fail(
                NAME,
                Severity::Critical,
                format!("the witness {} cannot be read: {error}", witness.display()),
            )
            .with_evidence(evidence);
        }
    };
    let log = match std::fs::read(&paths.log) {
        Ok(log) => log,
        Err(error) => {
            return CheckResult::fail(
                NAME,
                Severity::Critical,
                format!("cannot read the log: {error}"),
            );
        }
    };
    match check_extends(&log, &head, &verifier) {
        Ok(extension) => {
            evidence["witnessed_entries"] = json!(extension.head_entries);
            CheckResult::ok(
                NAME,
                format!(
                    "{} entries verify and extend the witnessed head ({} entries)",
                    report.entries, extension.head_entries
                ),
            )
            .with_evidence(evidence)
        }
        Err(error) => CheckResult::fail(
            NAME,
            Severity::Critical,
            format!("the log does not extend its witnessed head: {error}"),
        )
        .with_evidence(evidence),
    }
}

pub(super) fn log_rotation(ctx: &CheckContext<'_>) -> CheckResult {
    match &ctx.plugins.log_rotation {
        Some(check) => check(ctx.data_dir),
        None => CheckResult::skipped(
            "audit-log-rotation",
            "audit log segments are not configured in this build",
        ),
    }
}

/// Entries of the log (empty when there is none or it cannot be read:
/// `audit-log` reports that).
fn entries(ctx: &CheckContext<'_>) -> Option<Vec<Entry>> {
    let paths = AuditPaths::new(ctx.data_dir);
    if !paths.log.exists() {
        return None;
    }
    read_log(&paths)
        .ok()
        .map(|log| log.entries().cloned().collect())
}

/// Labels of keys used (`key.use*`) since `since`.
pub(super) fn key_uses_since(ctx: &CheckContext<'_>, since: Timestamp) -> BTreeSet<String> {
    entries(ctx)
        .unwrap_or_default()
        .iter()
        .filter(|e| e.timestamp().is_some_and(|t| t.timestamp() >= since))
        .filter_map(|e| e.payload.as_ref())
        .filter(|p| p.action.starts_with("key.use") || p.action == "key.sign")
        .filter_map(|p| {
            p.details
                .as_ref()?
                .get("label")?
                .as_str()
                .map(str::to_owned)
        })
        .collect()
}

pub(super) fn unusual_access(ctx: &CheckContext<'_>) -> CheckResult {
    const NAME: &str = "unusual-access";
    let Some(entries) = entries(ctx) else {
        return CheckResult::skipped(NAME, "no audit log to read");
    };
    let now = ctx.clock.now().timestamp();
    let day = now
        .checked_sub(SignedDuration::from_hours(24))
        .unwrap_or(Timestamp::MIN);
    let window =
        SignedDuration::try_from(ctx.config.new_actor_window).unwrap_or(SignedDuration::MAX);
    let history_from = day.checked_sub(window).unwrap_or(Timestamp::MIN);
    let mut known = BTreeSet::new();
    let mut recent = Vec::new();
    for entry in &entries {
        let (Some(at), Some(payload)) = (entry.timestamp(), entry.payload.as_ref()) else {
            continue;
        };
        let at = at.timestamp();
        if at >= day && at <= now {
            recent.push((at, entry.seq, payload));
        } else if at >= history_from && at < day {
            known.insert(payload.actor.clone());
        }
    }
    let mut fails = Vec::new();
    let mut warns = Vec::new();
    let mut refusals: BTreeMap<&str, Vec<Timestamp>> = BTreeMap::new();
    let mut new_actors = BTreeSet::new();
    for (at, seq, payload) in &recent {
        match payload.action.as_str() {
            "key.use-outside-window" => fails.push(format!(
                "entry {seq}: key {} used outside its policy window by {}",
                payload
                    .details
                    .as_ref()
                    .and_then(|d| d.get("label"))
                    .and_then(|l| l.as_str())
                    .unwrap_or("?"),
                payload.actor
            )),
            action @ ("key.use-refused" | "auth.failure") => {
                refusals.entry(action).or_default().push(*at);
            }
            _ => {}
        }
        // Argus's own components act from a first start on; an actor with
        // no entry in the window before the last day is new.
        if !known.is_empty() && !known.contains(&payload.actor) {
            new_actors.insert(payload.actor.clone());
        }
    }
    // A sliding hour: the most entries of each kind within any 60 minutes.
    for (action, times) in &mut refusals {
        times.sort_unstable();
        let burst = usize::try_from(ctx.config.burst).unwrap_or(usize::MAX);
        let mut from = 0;
        let mut worst: Option<(usize, Timestamp)> = None;
        for to in 0..times.len() {
            while times[to].duration_since(times[from]) >= SignedDuration::from_hours(1) {
                from += 1;
            }
            let count = to - from + 1;
            if count >= burst && worst.is_none_or(|(n, _)| count > n) {
                worst = Some((count, times[from]));
            }
        }
        if let Some((count, at)) = worst {
            fails.push(format!("{count} `{action}` entries in the hour from {at}"));
        }
    }
    for actor in &new_actors {
        warns.push(format!(
            "actor {actor} was not seen in the {} before",
            argus_core::HumanDuration(ctx.config.new_actor_window)
        ));
    }
    let evidence = json!({
        "entries_in_last_day": recent.len(),
        "known_actors": known.len(),
        "new_actors": new_actors,
    });
    let mut details = fails.clone();
    details.extend(warns.iter().cloned());
    let result = if !fails.is_empty() {
        CheckResult::fail(
            NAME,
            Severity::High,
            format!("{} unusual accesses in the last day", fails.len()),
        )
    } else if !warns.is_empty() {
        CheckResult::warn(
            NAME,
            Severity::Medium,
            format!("{} new actors in the last day", warns.len()),
        )
    } else {
        CheckResult::ok(
            NAME,
            format!("{} entries in the last day, none unusual", recent.len()),
        )
    };
    result.with_details(details).with_evidence(evidence)
}
