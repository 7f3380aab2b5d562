//! The report as Markdown (GitHub-flavoured: tables, task lists).
//!
//! Every value that did not come from this file goes through
//! [`escape_markdown`] (or is a number or a hex hash Argus formatted), so a
//! chain-made title such as ``x | y`<script>`` stays text in one cell.

use std::fmt::Write as _;

use alloy_primitives::U256;
use alloy_primitives::utils::format_ether;

use super::{IncidentReport, human_ms};
use crate::evidence::rfc3339;

/// The longest outside text kept in one cell (details, results, errors).
const MAX_CELL_CHARS: usize = 400;

/// Makes outside text inert inside a Markdown table cell or paragraph:
/// HTML's `&`, `<`, `>` become entities, Markdown's punctuation
/// (`\`, `` ` ``, `|`, `*`, `_`, `[`, `]`, `#`, `!`, `~`) is backslash-escaped,
/// a line break becomes `<br>` (so it cannot end a table row), a tab a space,
/// and other control, bidi and line-separator characters a visible
/// `\u{…}`.
pub fn escape_markdown(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\\' | '`' | '|' | '*' | '_' | '[' | ']' | '#' | '!' | '~' => {
                out.push('\\');
                out.push(c);
            }
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                out.push_str("<br>");
            }
            '\n' => out.push_str("<br>"),
            '\t' => out.push(' '),
            c if is_invisible(c) => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out
}

/// C0/C1 controls, DEL, bidi controls, zero-width marks and the Unicode
/// line and paragraph separators.
fn is_invisible(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{2028}' | '\u{2029}' | '\u{feff}')
}

/// [`escape_markdown`] of at most [`MAX_CELL_CHARS`] characters.
fn cell(text: &str) -> String {
    let mut short: String = text.chars().take(MAX_CELL_CHARS).collect();
    if short.len() < text.len() {
        short.push('…');
    }
    escape_markdown(&short)
}

fn opt_time(ms: Option<i64>) -> String {
    ms.map_or_else(|| "—".to_owned(), rfc3339)
}

fn wei_cell(wei: &str) -> String {
    match wei.parse::<U256>() {
        Ok(value) => format!("{} ({} ETH)", value, format_ether(value)),
        Err(_) => cell(wei),
    }
}

impl IncidentReport {
    /// The report as Markdown.
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        let i = &self.incident;
        let _ = writeln!(out, "# Incident {}: {}\n", i.id, cell(&i.title));
        out.push_str("| | |\n|---|---|\n");
        let mut row = |label: &str, value: String| {
            let _ = writeln!(out, "| {label} | {value} |");
        };
        row("Kind", cell(&i.kind));
        row("Severity", i.severity.to_string());
        row("State", i.state.to_string());
        row(
            "Assignee",
            i.assignee.as_deref().map_or_else(|| "—".to_owned(), cell),
        );
        row(
            "Playbook",
            i.playbook.as_deref().map_or_else(|| "—".to_owned(), cell),
        );
        row("Group", cell(&i.group_key));
        row("First malicious block", rfc3339(i.first_event_ms));
        row("First alert recorded", rfc3339(i.first_alert_ms));
        row("Opened", rfc3339(i.opened_ms));
        row("Acknowledged", opt_time(i.acknowledged_ms));
        row("Contained", opt_time(i.contained_ms));
        row("Resolved", opt_time(i.resolved_ms));
        if i.reopened > 0 {
            row("Reopened", format!("{} times", i.reopened));
        }
        if let Some(status) = &i.public_status {
            row("Public status", cell(status));
        }
        self.figures_section(&mut out);
        self.alerts_section(&mut out);
        self.timeline_section(&mut out);
        self.steps_section(&mut out);
        self.evidence_section(&mut out);
        self.impact_section(&mut out);
        out.push_str("\n## Post-incident review\n\nTo be completed by the responders.\n");
        for section in &self.post_incident {
            let _ = writeln!(out, "\n### {}\n", section.title);
            for prompt in &section.prompts {
                let _ = writeln!(out, "- [ ] {prompt}");
            }
            out.push_str("\n_To be filled in._\n");
        }
        out
    }

    fn figures_section(&self, out: &mut String) {
        out.push_str("\n## Response figures\n\n");
        out.push_str("| Figure | Value | Measured from | To |\n|---|---|---|---|\n");
        for (name, figure) in self.figures.named() {
            let value = figure.ms.map_or_else(|| "not reached".to_owned(), human_ms);
            let from = match figure.from {
                "first_event_ms" => "the first malicious block's time (`first_event_ms`)",
                _ => "the incident's opening (`opened_ms`)",
            };
            let _ = writeln!(out, "| {name} | {value} | {from} | `{}` |", figure.to);
        }
        out.push_str(
            "\nDetection is measured on the chain's clock (block time) to Argus's; the \
             response figures on Argus's clock from the incident's opening.\n",
        );
    }

    fn alerts_section(&self, out: &mut String) {
        let _ = writeln!(out, "\n## Alerts ({})\n", self.alerts.len());
        if self.alerts.is_empty() {
            out.push_str("None.\n");
            return;
        }
        out.push_str("| Event time | Rule | Severity | Title | Where | Alert |\n");
        out.push_str("|---|---|---|---|---|---|\n");
        for a in &self.alerts {
            let place = match (a.chain_id, a.block_number, &a.tx_hash) {
                (Some(c), Some(b), Some(tx)) => format!("chain {c} block {b} tx {}", cell(tx)),
                (Some(c), Some(b), None) => format!("chain {c} block {b}"),
                _ => "—".to_owned(),
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {place} | {} |",
                rfc3339(a.event_ms),
                cell(&a.rule_id),
                a.severity.as_deref().unwrap_or("—"),
                a.title
                    .as_deref()
                    .map_or_else(|| "(not in the outbox)".to_owned(), cell),
                cell(&a.alert_id),
            );
        }
    }

    fn timeline_section(&self, out: &mut String) {
        out.push_str("\n## Timeline\n\n");
        if self.timeline.is_empty() {
            out.push_str("No entries.\n");
            return;
        }
        out.push_str("| Time | Actor | Action | Reason | Details |\n|---|---|---|---|---|\n");
        for e in &self.timeline {
            let details = if e.details.as_object().is_some_and(|o| o.is_empty()) {
                String::new()
            } else {
                cell(&e.details.to_string())
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {details} |",
                rfc3339(e.at_ms),
                cell(&e.actor),
                cell(&e.action),
                e.reason.as_deref().map(cell).unwrap_or_default(),
            );
        }
    }

    fn steps_section(&self, out: &mut String) {
        out.push_str("\n## Playbook steps\n\n");
        if self.steps.is_empty() {
            out.push_str("No playbook ran.\n");
        } else {
            out.push_str(
                "| Step | Action | State | Attempts | Started | Finished | Result or error |\n",
            );
            out.push_str("|---|---|---|---|---|---|---|\n");
            for s in &self.steps {
                let outcome = match (&s.result, &s.last_error) {
                    (Some(result), _) => cell(&result.to_string()),
                    (None, Some(error)) => cell(error),
                    (None, None) => String::new(),
                };
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {}/{} | {} | {} | {outcome} |",
                    cell(&s.step_id),
                    cell(&s.action),
                    s.state,
                    s.attempts,
                    s.max_attempts,
                    opt_time(s.started_ms),
                    opt_time(s.finished_ms),
                );
            }
        }
        if !self.transactions.is_empty() {
            out.push_str("\n### Transactions signed\n\n");
            out.push_str("| Step | Chain | Target | Sender | Nonce | Hash | Status | Block |\n");
            out.push_str("|---|---|---|---|---|---|---|---|\n");
            for t in &self.transactions {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} | {} | {} | {} | {} |",
                    cell(&t.step_id),
                    t.chain,
                    cell(&t.target),
                    cell(&t.sender),
                    t.nonce,
                    cell(&t.tx_hash),
                    cell(&t.status),
                    t.block.map_or_else(|| "—".to_owned(), |b| b.to_string()),
                );
            }
        }
        out.push_str("\n## Approvals\n\n");
        if self.approvals.is_empty() {
            out.push_str("None.\n");
        } else {
            out.push_str("| Step | Approver | Time | Reason |\n|---|---|---|---|\n");
            for a in &self.approvals {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} |",
                    cell(&a.step_id),
                    cell(&a.approver),
                    rfc3339(a.at_ms),
                    a.reason.as_deref().map(cell).unwrap_or_default(),
                );
            }
        }
    }

    fn evidence_section(&self, out: &mut String) {
        out.push_str("\n## Evidence\n\n");
        match &self.evidence.root {
            Some(root) => {
                let _ = writeln!(
                    out,
                    "Root: `{}` (SHA-256 of the bundle's `manifest.json`; `argus incidents \
                     evidence verify {}` checks every file against it).\n",
                    cell(root),
                    self.incident.id
                );
            }
            None => out.push_str("No evidence was captured.\n"),
        }
        if !self.evidence.files.is_empty() {
            out.push_str("| File | Bytes | SHA-256 |\n|---|---|---|\n");
            for f in &self.evidence.files {
                let _ = writeln!(
                    out,
                    "| {} | {} | `{}` |",
                    cell(&f.name),
                    f.bytes,
                    cell(&f.sha256)
                );
            }
        }
    }

    fn impact_section(&self, out: &mut String) {
        out.push_str("\n## Impact assessment\n\n");
        if self.impact.is_empty() {
            out.push_str("No balances were captured with the evidence.\n");
            return;
        }
        out.push_str("Balances at the alerts' blocks, as read by the evidence capture.\n\n");
        out.push_str("| Chain | Block | Address | Role | Balance (wei) |\n|---|---|---|---|---|\n");
        for b in &self.impact {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} |",
                b.chain,
                b.block,
                cell(&b.address),
                cell(&b.role),
                wei_cell(&b.wei),
            );
        }
    }
}
