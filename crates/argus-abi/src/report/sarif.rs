//! The report as SARIF 2.1.0, the format code-scanning services read.
//!
//! Every finding is one result. Locations that come from a file carry a
//! `physicalLocation` (the path as given, relative paths kept relative so the
//! service can map them onto the repository); every location also carries a
//! `logicalLocation` naming the contract and declaration. The finding's rule
//! and key form a `partialFingerprints` entry, so a service tracks one finding
//! across runs even when the message changes.

use serde_json::{Value, json};

use super::location_origin;
use crate::lint::{Finding, Level, LintReport, Rule};

const SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

fn sarif_level(level: Level) -> &'static str {
    match level {
        Level::Error => "error",
        Level::Warning => "warning",
        Level::Note => "note",
    }
}

fn rule_descriptor(rule: Rule) -> Value {
    json!({
        "id": rule.id(),
        "name": rule.id(),
        "shortDescription": { "text": rule.summary() },
        "fullDescription": { "text": format!("{}. {}", rule.summary(), rule.help()) },
        "help": { "text": rule.help() },
        "defaultConfiguration": { "level": sarif_level(rule.level()) },
    })
}

fn result(report: &LintReport, finding: &Finding) -> Value {
    let rule_index = Rule::ALL
        .iter()
        .position(|r| *r == finding.rule)
        .unwrap_or(0);
    let mut locations = Vec::new();
    let mut related = Vec::new();
    for group in &finding.groups {
        for location in &group.locations {
            let Some(origin) = location_origin(&report.origins, location) else {
                continue;
            };
            let mut entry = json!({
                "logicalLocations": [{
                    "name": origin.label,
                    "fullyQualifiedName": format!("{}::{}", origin.label, location.declaration),
                    "kind": "member",
                }],
                "message": { "text": format!("{} in {}", location.declaration, origin.label) },
            });
            if let Some(path) = &origin.path {
                let mut physical = json!({
                    "artifactLocation": { "uri": path.display().to_string().replace('\\', "/") },
                });
                if let Some(line) = location.line {
                    physical["region"] = json!({ "startLine": line });
                }
                entry["physicalLocation"] = physical;
            }
            if locations.is_empty() {
                locations.push(entry);
            } else {
                entry["id"] = json!(related.len() + 1);
                related.push(entry);
            }
        }
    }
    json!({
        "ruleId": finding.rule.id(),
        "ruleIndex": rule_index,
        "level": sarif_level(finding.level),
        "message": { "text": finding.message },
        "locations": locations,
        "relatedLocations": related,
        "partialFingerprints": { "argusFinding/v1": format!("{}:{}", finding.rule.id(), finding.key) },
        "properties": { "key": finding.key },
    })
}

/// Renders the report as a SARIF 2.1.0 log.
pub fn render_sarif(report: &LintReport) -> String {
    let mut results: Vec<Value> = report.findings.iter().map(|f| result(report, f)).collect();
    for finding in &report.allowed {
        let mut suppressed = result(report, finding);
        suppressed["suppressions"] =
            json!([{ "kind": "external", "justification": "argus lint allow-list" }]);
        results.push(suppressed);
    }
    let log = json!({
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "argus",
                    "semanticVersion": env!("CARGO_PKG_VERSION"),
                    "rules": Rule::ALL.map(rule_descriptor).to_vec(),
                }
            },
            "results": results,
        }]
    });
    serde_json::to_string_pretty(&log).unwrap_or_default()
}
