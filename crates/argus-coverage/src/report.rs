//! What a run keeps for the next one (the breakdown), the difference between
//! two runs, and the report as SARIF.

use alloy_primitives::Address;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::{CoverageReport, CoverageRun, percent};

/// One contract in a recorded run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContractBreakdown {
    pub label: String,
    pub chain: u64,
    pub address: Address,
    pub figure_bp: u32,
    pub has_rule: bool,
    /// Signatures of the watched events and functions.
    pub watched: Vec<String>,
    /// Signatures of the unwatched ones.
    pub unwatched: Vec<String>,
}

/// Per contract, what was watched.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Breakdown(pub Vec<ContractBreakdown>);

impl Breakdown {
    pub fn of(report: &CoverageReport) -> Self {
        Breakdown(
            report
                .contracts
                .iter()
                .map(|c| {
                    let items = c.events.iter().chain(&c.functions);
                    ContractBreakdown {
                        label: c.label.clone(),
                        chain: c.chain.0,
                        address: c.address,
                        figure_bp: c.figure_bp(),
                        has_rule: c.has_rule,
                        watched: items
                            .clone()
                            .filter(|i| i.watched())
                            .map(|i| i.signature.clone())
                            .collect(),
                        unwatched: items
                            .filter(|i| !i.watched())
                            .map(|i| i.signature.clone())
                            .collect(),
                    }
                })
                .collect(),
        )
    }
}

/// One item whose state changed between two runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    pub contract: String,
    pub chain: u64,
    pub item: String,
}

/// The current run against the last recorded one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diff {
    pub previous_run: i64,
    pub previous_at_ms: i64,
    pub previous_bp: u32,
    pub current_bp: u32,
    /// Current minus previous, in basis points (negative: a drop).
    pub delta_bp: i64,
    /// Items watched then, not now (on contracts in both runs).
    pub lost: Vec<Change>,
    /// Items unwatched then, watched now.
    pub gained: Vec<Change>,
    /// Contracts that had a rule and have none now.
    pub contracts_lost_rule: Vec<String>,
    /// Contracts new to the registry since (each unwatched item counts).
    pub contracts_added: Vec<String>,
    pub contracts_removed: Vec<String>,
}

impl Diff {
    /// A human line: `62.50% (was 70.00%, −7.50 points)`.
    pub fn summary(&self) -> String {
        let sign = if self.delta_bp < 0 { "-" } else { "+" };
        let delta = u32::try_from(self.delta_bp.unsigned_abs()).unwrap_or(u32::MAX);
        format!(
            "{} (was {} at run {}, {sign}{} points)",
            percent(self.current_bp),
            percent(self.previous_bp),
            self.previous_run,
            percent(delta).trim_end_matches('%')
        )
    }
}

/// Compares a report with a recorded run.
pub fn diff(previous: &CoverageRun, current: &CoverageReport) -> Diff {
    let now = Breakdown::of(current);
    let key = |c: &ContractBreakdown| (c.chain, c.address);
    let mut lost = Vec::new();
    let mut gained = Vec::new();
    let mut contracts_lost_rule = Vec::new();
    let mut contracts_added = Vec::new();
    for contract in &now.0 {
        let Some(before) = previous
            .breakdown
            .0
            .iter()
            .find(|b| key(b) == key(contract))
        else {
            contracts_added.push(contract.label.clone());
            continue;
        };
        if before.has_rule && !contract.has_rule {
            contracts_lost_rule.push(contract.label.clone());
        }
        let change = |item: &String| Change {
            contract: contract.label.clone(),
            chain: contract.chain,
            item: item.clone(),
        };
        lost.extend(
            contract
                .unwatched
                .iter()
                .filter(|i| before.watched.contains(i))
                .map(change),
        );
        gained.extend(
            contract
                .watched
                .iter()
                .filter(|i| before.unwatched.contains(i))
                .map(change),
        );
    }
    let contracts_removed = previous
        .breakdown
        .0
        .iter()
        .filter(|b| !now.0.iter().any(|c| key(c) == key(b)))
        .map(|b| b.label.clone())
        .collect();
    Diff {
        previous_run: previous.id,
        previous_at_ms: previous.at_ms,
        previous_bp: previous.figure_bp,
        current_bp: current.figure_bp,
        delta_bp: i64::from(current.figure_bp) - i64::from(previous.figure_bp),
        lost,
        gained,
        contracts_lost_rule,
        contracts_added,
        contracts_removed,
    }
}

const SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

/// The gaps as SARIF 2.1.0: a warning per privileged function no rule
/// watches (`coverage-privileged-unwatched`) and per contract with no rule
/// (`coverage-contract-unwatched`), each with a logical location
/// (`Label::signature`); the figure is in the run's properties.
pub fn render_sarif(report: &CoverageReport) -> String {
    let mut results = Vec::new();
    let logical = |name: &str, full: String| json!([{ "logicalLocations": [{ "name": name, "fullyQualifiedName": full, "kind": "member" }] }]);
    for contract in &report.contracts {
        if !contract.has_rule {
            results.push(json!({
                "ruleId": "coverage-contract-unwatched",
                "ruleIndex": 1,
                "level": "warning",
                "message": { "text": format!(
                    "{} ({} {}) has no rule: none of its events or functions is watched",
                    contract.label, contract.chain.name(), contract.address.to_checksum(None)) },
                "locations": logical(&contract.label, contract.label.clone()),
                "partialFingerprints": { "argusCoverage/v1": format!("{}:{}", contract.chain.0, contract.address) },
            }));
        }
        for function in contract.unwatched_privileged() {
            results.push(json!({
                "ruleId": "coverage-privileged-unwatched",
                "ruleIndex": 0,
                "level": "warning",
                "message": { "text": format!(
                    "privileged function {} of {} is watched by no rule",
                    function.signature, contract.label) },
                "locations": logical(&function.signature, format!("{}::{}", contract.label, function.signature)),
                "partialFingerprints": { "argusCoverage/v1": format!("{}:{}:{}", contract.chain.0, contract.address, function.signature) },
            }));
        }
    }
    let rule = |id: &str, text: &str| -> Value {
        json!({ "id": id, "name": id, "shortDescription": { "text": text },
                "defaultConfiguration": { "level": "warning" } })
    };
    let doc = json!({
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "argus",
                "semanticVersion": env!("CARGO_PKG_VERSION"),
                "rules": [
                    rule("coverage-privileged-unwatched", "a privileged function no rule watches"),
                    rule("coverage-contract-unwatched", "a contract no rule watches"),
                ],
            }},
            "properties": {
                "figure": percent(report.figure_bp),
                "figure_bp": report.figure_bp,
                "watched_weight": report.watched_weight,
                "total_weight": report.total_weight,
            },
            "results": results,
        }],
    });
    serde_json::to_string_pretty(&doc).unwrap_or_default()
}
