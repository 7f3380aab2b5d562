//! The vault's checks: keys decrypt, rotation due dates, access review,
//! guardian keys present with policies.

use std::collections::{BTreeMap, BTreeSet};

use argus_core::Severity;
use argus_vault::{Action, KeyEntry, Vault};
use jiff::{SignedDuration, Timestamp};
use serde_json::json;

use crate::rotation::{self, Stage};
use crate::{CheckContext, CheckResult};

const NO_VAULT: &str =
    "no master key: the vault was not opened (set ARGUS_MASTER_KEY or pass --master-key-file)";

pub(super) fn decrypt(ctx: &CheckContext<'_>) -> CheckResult {
    const NAME: &str = "keys-decrypt";
    let Some(vault) = ctx.vault else {
        return CheckResult::skipped(NAME, NO_VAULT);
    };
    match vault.verify() {
        Ok(count) => CheckResult::ok(
            NAME,
            format!(
                "{count} keys and {} sealed secrets decrypt",
                vault.secret_names().len()
            ),
        )
        .with_evidence(json!({ "keys": count, "generation": vault.generation() })),
        Err(error) => CheckResult::fail(
            NAME,
            Severity::Critical,
            format!("the vault does not decrypt whole: {error}"),
        )
        .with_details(vec![
            "restore the vault from the newest backup, then `argus keys verify`".to_owned(),
        ]),
    }
}

fn lead(ctx: &CheckContext<'_>) -> SignedDuration {
    SignedDuration::try_from(ctx.config.rotation_lead).unwrap_or(SignedDuration::ZERO)
}

pub(super) fn rotation(ctx: &CheckContext<'_>) -> CheckResult {
    const NAME: &str = "key-rotation";
    let Some(vault) = ctx.vault else {
        return CheckResult::skipped(NAME, NO_VAULT);
    };
    rotation_of(vault.keys(), ctx.clock.now().timestamp(), lead(ctx))
}

/// The rotation check over a key list (pure, for tests and `keys list`).
pub(crate) fn rotation_of(keys: &[KeyEntry], now: Timestamp, lead: SignedDuration) -> CheckResult {
    const NAME: &str = "key-rotation";
    let mut details = Vec::new();
    let mut alerts = Vec::new();
    let mut evidence = Vec::new();
    let mut worst = Stage::Current;
    for key in keys {
        let Some((stage, due)) = rotation::stage(key, now, lead) else {
            continue;
        };
        evidence.push(json!({
            "label": key.label,
            "address": key.address,
            "due_at": due.to_string(),
            "stage": stage.as_str(),
        }));
        if stage != Stage::Current {
            details.push(format!(
                "{} ({}): {} ({})",
                key.label,
                key.address,
                stage.as_str(),
                due
            ));
        }
        if let Some(alert) = rotation::alert(key, stage, due) {
            alerts.push(alert);
        }
        worst = match (worst, stage) {
            (_, Stage::Overdue) | (Stage::Overdue, _) => Stage::Overdue,
            (_, Stage::DueSoon) | (Stage::DueSoon, _) => Stage::DueSoon,
            _ => Stage::Current,
        };
    }
    let mut result = match worst {
        Stage::Current => CheckResult::ok(
            NAME,
            format!("{} keys within their rotation period", evidence.len()),
        ),
        Stage::DueSoon => CheckResult::warn(
            NAME,
            Severity::High,
            format!("{} keys due for rotation soon", details.len()),
        ),
        Stage::Overdue => {
            CheckResult::fail(NAME, Severity::Critical, "keys are overdue for rotation")
        }
    }
    .with_details(details)
    .with_evidence(json!({ "keys": evidence }));
    result.alerts = alerts;
    result
}

pub(super) fn access_review(ctx: &CheckContext<'_>) -> CheckResult {
    const NAME: &str = "access-review";
    let now = ctx.clock.now().timestamp();
    let unused = SignedDuration::try_from(ctx.config.unused_after).unwrap_or(SignedDuration::MAX);
    let cutoff = now.checked_sub(unused).unwrap_or(Timestamp::MIN);
    let mut details = Vec::new();
    let mut looked = Vec::new();
    if let Some(tokens) = &ctx.api_tokens {
        looked.push("api tokens");
        for token in tokens {
            let last = token.last_used_at_ms.unwrap_or(token.created_at_ms);
            if last < cutoff.as_millisecond() {
                details.push(format!(
                    "API token {} ({}, {}) unused since {}: revoke it with `argus tokens revoke {}`",
                    token.name,
                    token.id,
                    token.role,
                    ms_date(last),
                    token.id
                ));
            }
        }
    }
    if let Some(vault) = ctx.vault {
        looked.push("keys");
        let used = super::audit::key_uses_since(ctx, cutoff);
        for key in vault.keys().iter().filter(|k| k.retired_at.is_none()) {
            let created = i64::try_from(key.created_at).unwrap_or(i64::MAX);
            if created < cutoff.as_second() && !used.contains(&key.label) {
                details.push(format!(
                    "key {} ({}) has no recorded use since {}",
                    key.label,
                    key.address,
                    cutoff.to_zoned_datetime(jiff::tz::TimeZone::UTC).date()
                ));
            }
            if key.policy.actions.contains(&Action::SignAny) && key.policy.window.is_none() {
                details.push(format!(
                    "key {} may sign anything at any hour: narrow it with `argus keys policy {} \
                     --allow sign-containment` or give it `--hours`",
                    key.label, key.label
                ));
            }
        }
        let retired: Vec<&KeyEntry> = vault
            .keys()
            .iter()
            .filter(|k| k.retired_at.is_some())
            .collect();
        for key in retired {
            details.push(format!(
                "retired key {} ({}) is still in the vault: move what it holds, then `argus keys remove {}`",
                key.label, key.address, key.label
            ));
        }
    }
    if looked.is_empty() {
        return CheckResult::skipped(NAME, format!("{NO_VAULT}; and no API token table to read"));
    }
    let summary = format!(
        "reviewed {}: {} findings",
        looked.join(" and "),
        details.len()
    );
    let mut result = if details.is_empty() {
        CheckResult::ok(NAME, summary)
    } else {
        CheckResult::warn(NAME, Severity::Medium, summary)
    };
    if ctx.vault.is_none() {
        details.push(format!("keys not reviewed: {NO_VAULT}"));
    }
    result.details = details;
    result.evidence = json!({ "reviewed": looked, "unused_since": cutoff.to_string() });
    result
}

/// Whether each key `labels` names exists, is current and has a policy
/// that lets it sign containment (the incident playbooks' guardian keys).
pub fn guardian_keys(vault: Option<&Vault>, labels: &BTreeSet<String>) -> CheckResult {
    const NAME: &str = "guardian-keys";
    if labels.is_empty() {
        return CheckResult::skipped(NAME, "the incident playbooks name no key");
    }
    let Some(vault) = vault else {
        return CheckResult::skipped(NAME, NO_VAULT);
    };
    let keys: BTreeMap<&str, &KeyEntry> =
        vault.keys().iter().map(|k| (k.label.as_str(), k)).collect();
    let mut missing = Vec::new();
    for label in labels {
        match keys.get(label.as_str()) {
            None => missing.push(format!(
                "{label}: not in the vault (`argus keys create --label {label}`)"
            )),
            Some(key) if key.retired_at.is_some() => {
                missing.push(format!("{label}: retired"));
            }
            Some(key)
                if !key
                    .policy
                    .actions
                    .iter()
                    .any(|a| matches!(a, Action::SignContainment | Action::SignAny)) =>
            {
                missing.push(format!(
                    "{label}: its policy does not allow sign-containment (`argus keys policy {label} --allow sign-containment`)"
                ));
            }
            Some(_) => {}
        }
    }
    if missing.is_empty() {
        CheckResult::ok(
            NAME,
            format!("{} guardian keys present with policies", labels.len()),
        )
    } else {
        CheckResult::fail(
            NAME,
            Severity::Critical,
            format!("{} guardian keys missing or unusable", missing.len()),
        )
        .with_details(missing)
    }
}

fn ms_date(ms: i64) -> String {
    Timestamp::from_millisecond(ms)
        .map(|t| {
            t.to_zoned_datetime(jiff::tz::TimeZone::UTC)
                .date()
                .to_string()
        })
        .unwrap_or_else(|_| ms.to_string())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::Status;
    use argus_vault::AccessPolicy;

    fn key(label: &str, created_at: u64, every_days: Option<u64>) -> KeyEntry {
        KeyEntry {
            label: label.into(),
            address: alloy_primitives_address(label),
            file: format!("{label}.json"),
            created_at,
            policy: AccessPolicy {
                rotate_every_secs: every_days.map(|d| d * 86_400),
                ..AccessPolicy::default()
            },
            retired_at: None,
            hsm: None,
        }
    }

    fn alloy_primitives_address(label: &str) -> alloy_primitives::Address {
        let mut bytes = [0u8; 20];
        for (i, b) in label.bytes().enumerate().take(20) {
            bytes[i] = b;
        }
        alloy_primitives::Address::from(bytes)
    }

    #[test]
    fn rotation_stages_follow_the_policy_period_and_the_lead() {
        let day = 86_400u64;
        let now = Timestamp::from_second(i64::try_from(200 * day).unwrap()).unwrap();
        let lead = SignedDuration::from_hours(14 * 24);
        let keys = [
            key("fresh", 150 * day, None),     // due day 240
            key("soon", 100 * day, Some(110)), // due day 210: within 14 days
            key("late", 10 * day, None),       // due day 100
        ];
        let result = rotation_of(&keys, now, lead);
        assert_eq!(result.status, Status::Fail);
        assert_eq!(result.severity, Severity::Critical);
        let identities: Vec<&str> = result.alerts.iter().map(|a| a.identity.as_str()).collect();
        assert_eq!(identities.len(), 2, "{identities:?}");
        assert!(
            identities[0].starts_with("key-rotation:soon:") && identities[0].ends_with(":due-soon")
        );
        assert!(
            identities[1].starts_with("key-rotation:late:") && identities[1].ends_with(":overdue")
        );
        assert_eq!(result.alerts[1].severity, Severity::Critical);
        let only_soon = rotation_of(&keys[..2], now, lead);
        assert_eq!(only_soon.status, Status::Warn);
        assert_eq!(rotation_of(&keys[..1], now, lead).status, Status::Ok);
    }
}
