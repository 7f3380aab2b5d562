//! The report for a terminal: grouped by finding, each side with where it is
//! declared, the help line, and the allow-list entry that would accept it.

use std::fmt::Write as _;

use super::{describe_origin, location_origin};
use crate::lint::{Finding, Level, LintReport};

/// Renders the report as text. `max_shown` caps the locations shown per group.
pub fn render_human(report: &LintReport, max_shown: usize) -> String {
    let mut out = String::new();
    for finding in &report.findings {
        render_finding(&mut out, report, finding, max_shown);
        out.push('\n');
    }
    let errors = report.count(Level::Error);
    let warnings = report.count(Level::Warning);
    let notes = report.count(Level::Note);
    let _ = write!(
        out,
        "{} {}, {} {}, {} {}",
        errors,
        plural(errors, "error", "errors"),
        warnings,
        plural(warnings, "warning", "warnings"),
        notes,
        plural(notes, "note", "notes"),
    );
    if !report.allowed.is_empty() {
        let _ = write!(out, " ({} allowed)", report.allowed.len());
    }
    if report.below_threshold > 0 {
        let _ = write!(out, " ({} below the threshold)", report.below_threshold);
    }
    let stats = &report.stats;
    let _ = writeln!(
        out,
        " in {} {}, {} distinct signatures",
        stats.sources,
        plural(stats.sources, "interface", "interfaces"),
        stats.distinct_signatures
    );
    for entry in &report.unused_allow_entries {
        let _ = writeln!(
            out,
            "note: allow-list entry {} {} matched nothing; remove it",
            entry.rule, entry.key
        );
    }
    out
}

fn render_finding(out: &mut String, report: &LintReport, finding: &Finding, max_shown: usize) {
    let _ = writeln!(
        out,
        "{}[{}]: {}",
        finding.level, finding.rule, finding.message
    );
    for group in &finding.groups {
        let _ = writeln!(out, "  --> {}", group.title);
        let shown = group.locations.len().min(max_shown.max(1));
        for location in &group.locations[..shown] {
            let origin = location_origin(&report.origins, location)
                .map(|o| describe_origin(o, location.line))
                .unwrap_or_default();
            if location.declaration == group.title {
                let _ = writeln!(out, "      {origin}");
            } else {
                let _ = writeln!(out, "      {origin}: {}", location.declaration);
            }
        }
        let hidden = group.locations.len() - shown + group.omitted;
        if hidden > 0 {
            let _ = writeln!(out, "      … and {hidden} more");
        }
    }
    let _ = writeln!(out, "  = help: {}", finding.rule.help());
    let _ = writeln!(
        out,
        "  = to accept, add to the allow-list: - {{rule: {}, key: \"{}\", reason: \"…\"}}",
        finding.rule, finding.key
    );
}

fn plural(n: usize, one: &'static str, many: &'static str) -> &'static str {
    if n == 1 { one } else { many }
}
