//! The report as one JSON document (`argus-lint/1`), origins inlined into
//! every location so a consumer needs no lookups.

use serde::Serialize;

use super::location_origin;
use crate::interface::Origin;
use crate::lint::{Finding, Level, LintReport, LintStats};

#[derive(Serialize)]
struct Document<'a> {
    format: &'static str,
    summary: Summary,
    findings: Vec<FindingView<'a>>,
    allowed: Vec<FindingView<'a>>,
    below_threshold: usize,
    unused_allow_entries: &'a [crate::lint::AllowEntry],
    stats: &'a LintStats,
}

#[derive(Serialize)]
struct Summary {
    errors: usize,
    warnings: usize,
    notes: usize,
    allowed: usize,
}

#[derive(Serialize)]
struct FindingView<'a> {
    rule: &'static str,
    level: Level,
    key: &'a str,
    message: &'a str,
    help: &'static str,
    groups: Vec<GroupView<'a>>,
}

#[derive(Serialize)]
struct GroupView<'a> {
    title: &'a str,
    locations: Vec<LocationView<'a>>,
    #[serde(skip_serializing_if = "is_zero")]
    omitted: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

#[derive(Serialize)]
struct LocationView<'a> {
    #[serde(flatten)]
    origin: Option<&'a Origin>,
    #[serde(skip_serializing_if = "Option::is_none")]
    chain_name: Option<String>,
    declaration: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    line: Option<u32>,
}

fn view<'a>(report: &'a LintReport, finding: &'a Finding) -> FindingView<'a> {
    FindingView {
        rule: finding.rule.id(),
        level: finding.level,
        key: &finding.key,
        message: &finding.message,
        help: finding.rule.help(),
        groups: finding
            .groups
            .iter()
            .map(|group| GroupView {
                title: &group.title,
                omitted: group.omitted,
                locations: group
                    .locations
                    .iter()
                    .map(|location| {
                        let origin = location_origin(&report.origins, location);
                        LocationView {
                            origin,
                            chain_name: origin.and_then(|o| o.chain).map(|c| c.name()),
                            declaration: &location.declaration,
                            line: location.line,
                        }
                    })
                    .collect(),
            })
            .collect(),
    }
}

/// Renders the report as pretty-printed JSON.
pub fn render_json(report: &LintReport) -> String {
    let document = Document {
        format: "argus-lint/1",
        summary: Summary {
            errors: report.count(Level::Error),
            warnings: report.count(Level::Warning),
            notes: report.count(Level::Note),
            allowed: report.allowed.len(),
        },
        findings: report.findings.iter().map(|f| view(report, f)).collect(),
        allowed: report.allowed.iter().map(|f| view(report, f)).collect(),
        below_threshold: report.below_threshold,
        unused_allow_entries: &report.unused_allow_entries,
        stats: &report.stats,
    };
    serde_json::to_string_pretty(&document).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}
