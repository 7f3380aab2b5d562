//! `argus checks report`: the compliance evidence for a period — every run,
//! every result, every failure with its follow-up (the alert it raised and
//! the first later run of the same check that passed).

use serde::Serialize;

use crate::db::{self, StoredResult, StoredRun};
use crate::{ChecksError, Status};

/// A failure and what followed it.
#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    pub run_id: i64,
    pub at_ms: i64,
    pub check: String,
    pub severity: String,
    pub summary: String,
    pub details: Vec<String>,
    pub alert_ids: Vec<String>,
    /// The first later run in which the check passed, and when.
    pub resolved_by_run: Option<i64>,
    pub resolved_at_ms: Option<i64>,
}

/// The period's evidence.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub since_ms: i64,
    pub until_ms: i64,
    pub runs: Vec<StoredRun>,
    pub results: Vec<StoredResult>,
    pub failures: Vec<Failure>,
}

/// Reads the runs started at or after `since_ms`.
pub fn build(
    conn: &argus_store::Connection,
    since_ms: i64,
    until_ms: i64,
) -> Result<Report, ChecksError> {
    let runs = db::runs_since(conn, since_ms)?;
    let results = db::results_since(conn, since_ms)?;
    let started = |run_id: i64| {
        runs.iter()
            .find(|r| r.id == run_id)
            .map_or(0, |r| r.started_ms)
    };
    let failures = results
        .iter()
        .filter(|r| r.status == Status::Fail)
        .map(|failed| {
            let resolved = results.iter().find(|r| {
                r.name == failed.name && r.run_id > failed.run_id && r.status == Status::Ok
            });
            Failure {
                run_id: failed.run_id,
                at_ms: started(failed.run_id),
                check: failed.name.clone(),
                severity: failed.severity.clone(),
                summary: failed.summary.clone(),
                details: failed.details.clone(),
                alert_ids: failed.alert_ids.clone(),
                resolved_by_run: resolved.map(|r| r.run_id),
                resolved_at_ms: resolved.map(|r| started(r.run_id)),
            }
        })
        .collect();
    Ok(Report {
        since_ms,
        until_ms,
        runs,
        results,
        failures,
    })
}

fn time(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms).map_or_else(|_| ms.to_string(), |t| t.to_string())
}

/// Text from outside (summaries carry labels, file names) kept on its line
/// and out of the table's structure.
fn cell(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '|' => '/',
            c if c.is_control() => ' ',
            c => c,
        })
        .collect()
}

impl Report {
    /// The report as Markdown, for an auditor.
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        out.push_str("# Argus compliance report: scheduled checks\n\n");
        out.push_str(&format!(
            "Period: {} to {}\n\n",
            time(self.since_ms),
            time(self.until_ms)
        ));
        let fails = self.failures.len();
        let open = self
            .failures
            .iter()
            .filter(|f| f.resolved_by_run.is_none())
            .count();
        out.push_str(&format!(
            "{} runs, {} results, {fails} failures ({open} not followed by a passing run).\n\n",
            self.runs.len(),
            self.results.len()
        ));
        out.push_str("## Runs\n\n| run | started | selection | trigger | actor | ok | warn | fail | skipped |\n|---|---|---|---|---|---|---|---|---|\n");
        for run in &self.runs {
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
                run.id,
                time(run.started_ms),
                cell(&run.selection),
                cell(&run.trigger),
                cell(&run.actor),
                run.ok,
                run.warn,
                run.fail,
                run.skipped
            ));
        }
        out.push_str("\n## Failures and follow-up\n\n");
        if self.failures.is_empty() {
            out.push_str("No check failed in the period.\n");
        } else {
            out.push_str("| run | when | check | severity | summary | alert | follow-up |\n|---|---|---|---|---|---|---|\n");
            for f in &self.failures {
                out.push_str(&format!(
                    "| {} | {} | {} | {} | {} | {} | {} |\n",
                    f.run_id,
                    time(f.at_ms),
                    cell(&f.check),
                    cell(&f.severity),
                    cell(&f.summary),
                    cell(&f.alert_ids.join(" ")),
                    match (f.resolved_by_run, f.resolved_at_ms) {
                        (Some(run), Some(at)) => format!("passed in run {run} at {}", time(at)),
                        _ => "**not resolved**".to_owned(),
                    }
                ));
            }
        }
        out.push_str("\n## Results\n\n| run | check | status | summary |\n|---|---|---|---|\n");
        for r in &self.results {
            out.push_str(&format!(
                "| {} | {} | {} | {} |\n",
                r.run_id,
                cell(&r.name),
                r.status.as_str(),
                cell(&r.summary)
            ));
        }
        out
    }
}
