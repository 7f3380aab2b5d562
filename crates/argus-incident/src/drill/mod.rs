//! Drills: an attack written as data, played for real against a chain the
//! drill owns, with the monitor, its playbooks and its notifiers running,
//! and a scorecard of what the response did.
//!
//! ```text
//!  scenario.yaml ──► scenario::load (every problem at once, file:line:col)
//!                       │
//!  anvil (its own) ◄── play::Player: deploy, then each step over JSON-RPC
//!                       │      (send, impersonate, fund, warp, mine, wait, expect)
//!                       │   expect: polls the drill's store (alerts, incidents)
//!                       ▼
//!  scorecard::Scorecard::compute (from the store after the run) ──► db::record_drill_run
//! ```
//!
//! Why a drill is played and not simulated: what an operator needs to know
//! is whether *this* config, *these* rules and *this* policy catch the
//! attack, and how fast. A simulation of the pipeline would answer for the
//! simulation. So the player talks to a real node (a local anvil, or an
//! anvil fork of the operator's chain) through the same `RpcPool` the
//! monitor uses, and the expectations read only what the monitor stored:
//! an alert in the outbox, an incident in the incident tables. A drill that
//! passes proves the path end to end; one that fails names the step.
//!
//! The parts are kept apart so each can be tested on its own: `scenario`
//! is the checked model, `load` reads and checks the file (no I/O but
//! reading it and its artifacts),
//! `values` turns the file's arguments into ABI values, `anvil` owns the
//! node process, `play` executes steps, `scorecard` computes the result.
//! Composing them with a node is the caller's job (`argus drill`), since
//! the node crate depends on this one.

pub mod anvil;
pub mod load;
pub mod play;
pub mod scenario;
pub mod scorecard;
pub mod values;

pub use anvil::{AnvilProcess, find_anvil};
pub use play::{Deployed, Player, StepOutcome, StepStatus};
pub use scenario::{Scenario, ScenarioError};
pub use scorecard::Scorecard;

/// What stops a drill from being played (a step's own failure is not an
/// error: it is a line of the scorecard).
#[derive(Debug, thiserror::Error)]
pub enum DrillError {
    /// No anvil binary was found.
    #[error(
        "no anvil binary: pass --anvil PATH, put `anvil` on PATH (foundryup installs it), \
         or run from a directory with node_modules/.bin/anvil (`npm ci`)"
    )]
    NoAnvil,
    /// The anvil binary could not be started or did not come up.
    #[error("cannot start anvil ({bin}): {detail}")]
    AnvilStart { bin: String, detail: String },
    /// The drill's node answered a setup call with an error.
    #[error("the drill's node refused {what}: {detail}")]
    Setup { what: String, detail: String },
    /// The node runs another chain than the scenario needs.
    #[error(
        "the drill's node runs chain {found}, the config's chain is {wanted}; \
         fork a node of chain {wanted} (--fork-url) or name another chain in the scenario"
    )]
    WrongChain { wanted: u64, found: u64 },
    /// A scenario's deployment did not happen.
    #[error("deploying {label}: {detail}")]
    Deploy { label: String, detail: String },
    #[error(transparent)]
    Rpc(#[from] argus_chain::RpcError),
    #[error(transparent)]
    Incident(#[from] crate::IncidentError),
}
