//! The registry of named checks: each is a function from the
//! [`CheckContext`] to a [`CheckResult`], in a module by subject (`keys`,
//! `audit`, `operations`). A check that cannot look says `skipped` and why.

mod audit;
mod keys;
mod operations;

use crate::{Cadence, CheckContext, CheckResult};

pub use keys::guardian_keys;
pub use operations::config_audit;

/// One named check.
#[derive(Debug, Clone, Copy)]
pub struct CheckDef {
    pub name: &'static str,
    pub cadence: Cadence,
    /// What it looks at, for `argus checks list` and the report.
    pub about: &'static str,
    pub run: fn(&CheckContext<'_>) -> CheckResult,
}

/// Every check, in the order a checklist runs them.
pub const REGISTRY: &[CheckDef] = &[
    CheckDef {
        name: "keys-decrypt",
        cadence: Cadence::Daily,
        about: "every vault key and sealed secret decrypts under the master key",
        run: keys::decrypt,
    },
    CheckDef {
        name: "audit-log",
        cadence: Cadence::Daily,
        about: "the audit log verifies, and extends the head its first witness holds",
        run: audit::verify_log,
    },
    CheckDef {
        name: "audit-log-rotation",
        cadence: Cadence::Daily,
        about: "the audit log's sealed segments verify across rotation",
        run: audit::log_rotation,
    },
    CheckDef {
        name: "unusual-access",
        cadence: Cadence::Daily,
        about: "the last day's audit entries: key use outside its window, new actors, bursts of \
                refused uses or failed logins",
        run: audit::unusual_access,
    },
    CheckDef {
        name: "chain-lag",
        cadence: Cadence::Daily,
        about: "each followed chain's newest recorded block is within `checks.max_lag`",
        run: operations::chain_lag,
    },
    CheckDef {
        name: "backup",
        cadence: Cadence::Daily,
        about: "the newest backup exists, decrypts and restores into a scratch directory",
        run: operations::backup,
    },
    CheckDef {
        name: "access-review",
        cadence: Cadence::Weekly,
        about: "API tokens and keys unused for `checks.unused_after`, policies wider than needed",
        run: keys::access_review,
    },
    CheckDef {
        name: "config-audit",
        cadence: Cadence::Weekly,
        about: "the running config's hash against the last `argus config approve`",
        run: operations::config_audit,
    },
    CheckDef {
        name: "incident-review",
        cadence: Cadence::Weekly,
        about: "the week's incidents and alerts, with their dispositions",
        run: operations::incident_review,
    },
    CheckDef {
        name: "key-rotation",
        cadence: Cadence::Monthly,
        about: "keys due (within `checks.rotation_lead`) or overdue for rotation",
        run: keys::rotation,
    },
    CheckDef {
        name: "drills",
        cadence: Cadence::Monthly,
        about: "this month's drill scorecards against last month's",
        run: operations::drills,
    },
];

/// The checks `selection` names: a checklist (`daily`…) or one check.
pub fn select(selection: &str) -> Option<Vec<&'static CheckDef>> {
    if let Some(cadence) = Cadence::parse(selection) {
        return Some(REGISTRY.iter().filter(|c| c.cadence == cadence).collect());
    }
    REGISTRY
        .iter()
        .find(|c| c.name == selection)
        .map(|c| vec![c])
}

/// The names a selection may take, for errors.
pub fn names() -> String {
    REGISTRY
        .iter()
        .map(|c| c.name)
        .collect::<Vec<_>>()
        .join(", ")
}
