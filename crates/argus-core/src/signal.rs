//! Measurements from outside the chain: a bot's memory, an RPC endpoint's
//! latency, an authentication failure. Rules treat them like chain events.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One measurement or occurrence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Signal {
    /// What was measured, e.g. `memory_usage`, `network_latency`,
    /// `authentication_failures`.
    pub name: String,
    /// The measured value in the unit the signal's name implies (percent for
    /// `memory_usage`, seconds for `network_latency`); `1` for an occurrence.
    pub value: f64,
    /// Where it comes from, e.g. `{"bot": "arb-1", "endpoint": "main"}`.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// When, in milliseconds since the Unix epoch.
    pub at_ms: i64,
}
