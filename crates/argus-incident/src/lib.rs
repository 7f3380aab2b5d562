//! Incidents: from an alert to a contained, documented incident.
//!
//! ```text
//!  record step (argus-node) ──► intake: alert → incident (one transaction with the alert)
//!                                 │  timeline rows, escalation timer, playbook steps queued
//!                                 ▼
//!  IncidentRunner (a node task) ── claims due steps ──► responders (pause, stop a bot, …)
//!                                └─ due timers ──────► escalation alert through the outbox
//!  argus incidents ack|contain|resolve|approve … ──► state changes (same tables)
//!  audit trail ◄── incident_events not yet audited (every act, who/what/when/why)
//! ```
//!
//! Everything an incident is lives in the store (`db`): its state, its
//! timers (`escalate_at_ms`, a step's `next_at_ms`), its steps as a durable
//! queue with leases, the transactions a responder signed (written before
//! they are broadcast), so a restart or `kill -9` resumes where the store
//! says and contains exactly once.

pub mod db;
pub mod document;
pub mod drill;
pub mod error;
pub mod evidence;
pub mod intake;
pub mod loader;
pub mod metrics;
pub mod policy;
pub mod report;
pub mod respond;
pub mod state;

pub use error::IncidentError;
pub use policy::{IncidentSeverity, IncidentsConfig};
pub use respond::{GuardianKey, Responders, StepFailure, StepJob};

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Where an incident is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IncidentState {
    Open,
    Acknowledged,
    Contained,
    Resolved,
}

impl IncidentState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Acknowledged => "acknowledged",
            Self::Contained => "contained",
            Self::Resolved => "resolved",
        }
    }
}

impl fmt::Display for IncidentState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for IncidentState {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "open" => Ok(Self::Open),
            "acknowledged" => Ok(Self::Acknowledged),
            "contained" => Ok(Self::Contained),
            "resolved" => Ok(Self::Resolved),
            other => Err(format!(
                "`{other}` is not an incident state; use open, acknowledged, contained or resolved"
            )),
        }
    }
}

/// Where a playbook step is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepState {
    /// Waits for the steps it comes after.
    Waiting,
    /// Waits for operators' approvals.
    NeedsApproval,
    /// Ready to run at `next_at_ms`.
    Pending,
    /// Claimed by a runner until its lease ends.
    Running,
    Succeeded,
    /// Failed its last attempt (escalated).
    Failed,
    /// Not run: its condition did not hold, or a step before it failed.
    Skipped,
}

impl StepState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Waiting => "waiting",
            Self::NeedsApproval => "needs_approval",
            Self::Pending => "pending",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Skipped => "skipped",
        }
    }

    pub fn is_final(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Skipped)
    }
}

impl fmt::Display for StepState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for StepState {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "waiting" => Self::Waiting,
            "needs_approval" => Self::NeedsApproval,
            "pending" => Self::Pending,
            "running" => Self::Running,
            "succeeded" => Self::Succeeded,
            "failed" => Self::Failed,
            "skipped" => Self::Skipped,
            other => return Err(format!("`{other}` is not a step state")),
        })
    }
}

/// What an operator judged an alert to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Disposition {
    TruePositive,
    FalsePositive,
    /// Real, but expected (a planned migration, a drill).
    Benign,
}

impl Disposition {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TruePositive => "true_positive",
            Self::FalsePositive => "false_positive",
            Self::Benign => "benign",
        }
    }
}

impl FromStr for Disposition {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "true_positive" | "true-positive" | "tp" => Ok(Self::TruePositive),
            "false_positive" | "false-positive" | "fp" => Ok(Self::FalsePositive),
            "benign" => Ok(Self::Benign),
            other => Err(format!(
                "`{other}` is not a disposition; use true-positive, false-positive or benign"
            )),
        }
    }
}

impl fmt::Display for Disposition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
