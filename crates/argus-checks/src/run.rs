//! Running a selection of checks and keeping the run: the results and
//! their alerts are written in one transaction, so a run is in the store
//! exactly when its alerts are in the outbox. An alert's id is derived
//! from the run's id and the check (or, for the key rotation check, from
//! the key generation and stage), so recording it again sends nothing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use argus_alerting::Routing;
use argus_core::{Clock, Finding, finding_id};
use argus_store::Store;
use argus_vault::Vault;
use serde::Serialize;
use serde_json::json;
use sha2::{Digest as _, Sha256};

use crate::checks::{self, CheckDef};
use crate::db::{self, StoredRun};
use crate::{CheckAlert, CheckResult, ChecksConfig, ChecksError, Status};

/// A check supplied by another part of Argus (backups, audit log
/// segments), given the data directory.
pub type PluginCheck = Box<dyn Fn(&Path) -> CheckResult + Send + Sync>;

/// Checks other parts of Argus supply; `None` reports `skipped`.
#[derive(Default)]
pub struct Plugins {
    /// The newest backup exists, decrypts and restores (`backup`).
    pub backup: Option<PluginCheck>,
    /// The audit log's segments verify across rotation (`audit-log-rotation`).
    pub log_rotation: Option<PluginCheck>,
}

impl std::fmt::Debug for Plugins {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugins")
            .field("backup", &self.backup.is_some())
            .field("log_rotation", &self.log_rotation.is_some())
            .finish()
    }
}

/// An API token as the access review sees it (read by the caller from the
/// server's tables).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenUse {
    pub id: String,
    pub name: String,
    pub role: String,
    pub created_at_ms: i64,
    pub last_used_at_ms: Option<i64>,
}

/// The running configuration's identity: SHA-256 over each file's hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConfigHash {
    pub hash: String,
    /// Each file (as given) and the hex SHA-256 of its bytes.
    pub files: BTreeMap<String, String>,
}

/// Hashes the config and rule files (each read through the capped reader).
pub fn config_hash(files: &[PathBuf]) -> Result<ConfigHash, String> {
    let mut each = BTreeMap::new();
    for file in files {
        let bytes =
            argus_core::file::read_capped(file, argus_core::file::MAX_CONFIG_BYTES, "config file")
                .map_err(|e| format!("{}: {}", file.display(), e.reason()))?;
        each.insert(
            file.display().to_string(),
            hex::encode(Sha256::digest(&bytes)),
        );
    }
    let mut all = Sha256::new();
    for (file, hash) in &each {
        all.update(file.as_bytes());
        all.update([0]);
        all.update(hash.as_bytes());
        all.update([b'\n']);
    }
    Ok(ConfigHash {
        hash: hex::encode(all.finalize()),
        files: each,
    })
}

/// What a check looks at.
pub struct CheckContext<'a> {
    pub store: &'a Store,
    pub clock: &'a Clock,
    pub config: &'a ChecksConfig,
    pub data_dir: &'a Path,
    /// The vault, when a master key was given (else the vault's checks say
    /// `skipped`).
    pub vault: Option<&'a Vault>,
    /// The first witness file of the audit log, if configured.
    pub witness: Option<&'a Path>,
    /// The running config's hash, when a config file is known.
    pub config_hash: Option<&'a ConfigHash>,
    /// The API tokens, when their table could be read.
    pub api_tokens: Option<Vec<TokenUse>>,
    pub plugins: &'a Plugins,
}

impl std::fmt::Debug for CheckContext<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckContext")
            .field("data_dir", &self.data_dir)
            .field("vault", &self.vault.is_some())
            .field("witness", &self.witness)
            .field("config_hash", &self.config_hash)
            .finish_non_exhaustive()
    }
}

/// Why a run started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Trigger {
    /// The daemon's schedule.
    Schedule,
    /// `argus checks run`.
    Command,
    /// `argus preflight`: kept as evidence, never alerted (a failing gate
    /// stops a deployment; it does not page anyone).
    Preflight,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Schedule => "schedule",
            Self::Command => "command",
            Self::Preflight => "preflight",
        }
    }
}

/// A finished run.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub run_id: i64,
    pub selection: String,
    pub trigger: Trigger,
    pub started_ms: i64,
    pub finished_ms: i64,
    pub results: Vec<CheckResult>,
    /// Alert ids by check name.
    pub alerts: BTreeMap<String, Vec<String>>,
}

impl RunReport {
    pub fn count(&self, status: Status) -> usize {
        self.results.iter().filter(|r| r.status == status).count()
    }

    /// Whether any check failed.
    pub fn failed(&self) -> bool {
        self.count(Status::Fail) > 0
    }

    /// The run as one audit-log `details` document.
    pub fn audit_details(&self) -> serde_json::Value {
        json!({
            "run": self.run_id,
            "selection": self.selection,
            "trigger": self.trigger,
            "results": self.results.iter().map(|r| json!({
                "name": r.name, "status": r.status, "severity": r.severity.as_str(), "summary": r.summary,
            })).collect::<Vec<_>>(),
        })
    }
}

/// The rule id of a check's alerts.
pub fn rule_id(check: &str) -> String {
    format!("argus.check.{check}")
}

/// Runs the checks `selection` names (`daily`, `weekly`, `monthly` or a
/// check's name), keeps the run and its results, and records an alert for
/// each failure (and each alert a check asks for) through `routing`.
pub fn run_checks(
    ctx: &CheckContext<'_>,
    selection: &str,
    trigger: Trigger,
    actor: &str,
    routing: &Routing,
) -> Result<RunReport, ChecksError> {
    let selected: Vec<&CheckDef> =
        checks::select(selection).ok_or_else(|| ChecksError::UnknownCheck {
            name: selection.to_owned(),
            known: checks::names(),
        })?;
    let started_ms = ctx.clock.now_ms();
    let results: Vec<CheckResult> = selected.iter().map(|check| (check.run)(ctx)).collect();
    keep_run(ctx, selection, trigger, actor, routing, started_ms, results)
}

/// Keeps results made elsewhere (`argus preflight`'s items) as a run: the
/// same tables, the same report; a [`Trigger::Preflight`] run raises no
/// alert.
pub fn keep_run(
    ctx: &CheckContext<'_>,
    selection: &str,
    trigger: Trigger,
    actor: &str,
    routing: &Routing,
    started_ms: i64,
    results: Vec<CheckResult>,
) -> Result<RunReport, ChecksError> {
    let finished_ms = ctx.clock.now_ms().max(started_ms);
    let mut conn = ctx.store.connect()?;
    let tx = conn.transaction()?;
    let run_id = db::next_run_id(&tx)?;
    let mut kept = Vec::new();
    let mut alerts = BTreeMap::new();
    for result in &results {
        let mut wanted: Vec<CheckAlert> = if trigger == Trigger::Preflight {
            Vec::new()
        } else {
            result.alerts.clone()
        };
        if wanted.is_empty() && result.status == Status::Fail && trigger != Trigger::Preflight {
            wanted.push(CheckAlert {
                identity: format!("check-run:{run_id}:{}", result.name),
                severity: result.severity,
                title: format!("check {} failed: {}", result.name, result.summary),
            });
        }
        let mut ids = Vec::new();
        for alert in wanted {
            let rule = rule_id(&result.name);
            let finding = Finding {
                id: finding_id(&rule, None, alert.identity.as_bytes()),
                rule_id: rule,
                severity: alert.severity,
                title: alert.title.clone(),
                dedup_key: alert.identity.clone(),
                origin: None,
                at_ms: finished_ms,
                fields: json!({
                    "check": result.name,
                    "run": run_id,
                    "status": result.status,
                    "summary": result.summary,
                    "details": result.details,
                })
                .into(),
            };
            argus_alerting::outbox::record(&tx, &finding, routing, finished_ms)?;
            ids.push(argus_alerting::outbox::alert_id(&finding.id));
        }
        if !ids.is_empty() {
            alerts.insert(result.name.clone(), ids.clone());
        }
        kept.push((result.clone(), ids));
    }
    let count = |s: Status| {
        i64::try_from(results.iter().filter(|r| r.status == s).count()).unwrap_or(i64::MAX)
    };
    let stored = StoredRun {
        id: run_id,
        started_ms,
        finished_ms,
        selection: selection.to_owned(),
        trigger: trigger.as_str().to_owned(),
        actor: actor.to_owned(),
        ok: count(Status::Ok),
        warn: count(Status::Warn),
        fail: count(Status::Fail),
        skipped: count(Status::Skipped),
    };
    let id = db::insert_run(&tx, &stored, &kept)?;
    tx.commit()?;
    Ok(RunReport {
        run_id: id,
        selection: selection.to_owned(),
        trigger,
        started_ms,
        finished_ms,
        results,
        alerts,
    })
}
