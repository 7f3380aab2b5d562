//! The procedure's routines on a schedule.
//!
//! `mev-bot-security-procedures.md` asks for daily, weekly and monthly
//! checklists that nobody runs by hand for long. Each item is a named check
//! ([`checks::REGISTRY`]): a function from a [`CheckContext`] (the store,
//! the clock, the vault when the master key is at hand, the audit log's
//! paths, the running config's hash) to a [`CheckResult`] with a status,
//! a severity, details and evidence. [`run::run_checks`] runs a selection,
//! keeps the run and its results in the store (`check_runs`,
//! `check_results`), and turns each failure into an alert through the
//! normal outbox, under an id derived from the run, so nothing is sent
//! twice. The caller writes the run into the audit log (it holds the
//! checkpoint key); [`report`] reads the runs back as compliance evidence.
//!
//! A check that cannot look (no master key, no backups configured) says
//! `skipped` and why: a skip is never a pass.
//!
//! [`cron`] parses the schedules; [`ChecksConfig`] is the `checks:` section
//! and [`PreflightConfig`] the `preflight:` one.

pub mod checks;
mod config;
pub mod cron;
pub mod db;
pub mod report;
pub mod rotation;
pub mod run;

pub use config::{ChecksConfig, PreflightConfig, Schedules};
pub use run::{CheckContext, Plugins, RunReport, Trigger, keep_run, run_checks};

use argus_core::Severity;
use serde::{Deserialize, Serialize};

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Looked and found nothing wrong.
    Ok,
    /// Could not look (a prerequisite is missing); never counts as a pass.
    Skipped,
    /// Something needs attention soon.
    Warn,
    /// Something is wrong now: alerted.
    Fail,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Skipped => "skipped",
            Self::Warn => "warn",
            Self::Fail => "fail",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "ok" => Some(Self::Ok),
            "skipped" => Some(Self::Skipped),
            "warn" => Some(Self::Warn),
            "fail" => Some(Self::Fail),
            _ => None,
        }
    }
}

/// Which checklist a check belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Cadence {
    Daily,
    Weekly,
    Monthly,
}

impl Cadence {
    pub const ALL: [Cadence; 3] = [Self::Daily, Self::Weekly, Self::Monthly];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Daily => "daily",
            Self::Weekly => "weekly",
            Self::Monthly => "monthly",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == text)
    }
}

/// An alert a check asks for beyond "this run failed": the key rotation
/// check alerts once per key generation and stage, whatever the number of
/// runs that see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckAlert {
    /// What makes it the same alert across runs (the outbox deduplicates
    /// on the id derived from it).
    pub identity: String,
    pub severity: Severity,
    pub title: String,
}

/// One check's outcome.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckResult {
    /// The check's name (`audit-log`, `key-rotation`…).
    pub name: String,
    pub status: Status,
    /// How bad a failure (or warning) is: the alert's severity.
    pub severity: Severity,
    /// One line.
    pub summary: String,
    /// What was found, one item per line.
    pub details: Vec<String>,
    /// What the conclusion rests on (counts, hashes, sequence numbers).
    pub evidence: serde_json::Value,
    /// Alerts with their own identity; when empty, a `fail` is one alert
    /// for the run.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub alerts: Vec<CheckAlert>,
}

impl CheckResult {
    fn new(name: &str, status: Status, severity: Severity, summary: impl Into<String>) -> Self {
        Self {
            name: name.to_owned(),
            status,
            severity,
            summary: summary.into(),
            details: Vec::new(),
            evidence: serde_json::Value::Null,
            alerts: Vec::new(),
        }
    }

    /// Passed.
    pub fn ok(name: &str, summary: impl Into<String>) -> Self {
        Self::new(name, Status::Ok, Severity::Info, summary)
    }

    /// Could not look, and why.
    pub fn skipped(name: &str, why: impl Into<String>) -> Self {
        Self::new(name, Status::Skipped, Severity::Info, why)
    }

    /// Needs attention soon.
    pub fn warn(name: &str, severity: Severity, summary: impl Into<String>) -> Self {
        Self::new(name, Status::Warn, severity, summary)
    }

    /// Wrong now.
    pub fn fail(name: &str, severity: Severity, summary: impl Into<String>) -> Self {
        Self::new(name, Status::Fail, severity, summary)
    }

    pub fn with_details(mut self, details: Vec<String>) -> Self {
        self.details = details;
        self
    }

    pub fn with_evidence(mut self, evidence: serde_json::Value) -> Self {
        self.evidence = evidence;
        self
    }
}

/// Why a run could not be kept or read.
#[derive(Debug, thiserror::Error)]
pub enum ChecksError {
    #[error("the check store: {action}: {source}")]
    Db {
        action: &'static str,
        #[source]
        source: argus_store::StoreError,
    },
    #[error(transparent)]
    Store(#[from] argus_store::StoreError),
    #[error(transparent)]
    Alerting(#[from] argus_alerting::AlertError),
    #[error(
        "no check or checklist is named {name:?}; name daily, weekly, monthly or one of: {known}"
    )]
    UnknownCheck { name: String, known: String },
}

impl ChecksError {
    pub(crate) fn db(action: &'static str) -> impl FnOnce(argus_store::StoreError) -> Self {
        move |source| Self::Db { action, source }
    }
}
