//! `argus metrics`: the response metrics of a period — mean and median time
//! to detect, acknowledge, contain and resolve, and the false-positive rate
//! per rule over the alerts operators judged.
//!
//! Read-only (the store is opened read-only). The figures and what each is
//! measured from are `argus_incident::metrics`'; this module only prints
//! them, as a table or with `--json` one document.

use std::fmt::Write as _;
use std::process::ExitCode;

use anyhow::bail;
use argus_incident::metrics::{self, FigureStats, ResponseMetrics, RuleJudgements};
use argus_incident::report::human_ms;
use jiff::Timestamp;

use crate::cmd::records::{self, read_store};
use crate::{GlobalArgs, output};

#[derive(Debug, clap::Args)]
pub(crate) struct MetricsArgs {
    /// The period: incidents opened and alerts recorded since then, a
    /// duration ago (30d, 12h) or an RFC 3339 time. Default: everything.
    #[arg(long, value_name = "WHEN")]
    since: Option<String>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(global: &GlobalArgs, args: MetricsArgs) -> anyhow::Result<ExitCode> {
    let now_ms = Timestamp::now().as_millisecond();
    let since_ms = args
        .since
        .as_deref()
        .map(|text| parse_since(text, now_ms))
        .transpose()?;
    let conn = read_store(&global.data_dir)?;
    let metrics = metrics::metrics(&conn, since_ms, None)?;
    if args.json {
        output::json_pretty(&metrics)?;
    } else {
        output::stdout_text(&table(&metrics))?;
    }
    Ok(ExitCode::SUCCESS)
}

fn parse_since(text: &str, now_ms: i64) -> anyhow::Result<i64> {
    match records::parse_since(text) {
        Ok(since) => Ok(since.at_ms(now_ms)),
        Err(_) => bail!(
            "--since `{}` is neither a duration ago (30d, 12h) nor an RFC 3339 time \
             (2026-11-05T10:00:00Z)",
            records::shorten(text)
        ),
    }
}

fn table(m: &ResponseMetrics) -> String {
    let mut out = String::new();
    let period = match m
        .since_ms
        .and_then(|ms| Timestamp::from_millisecond(ms).ok())
    {
        Some(at) => format!("since {}", at.strftime("%Y-%m-%dT%H:%M:%SZ")),
        None => "all time".to_owned(),
    };
    let _ = writeln!(
        out,
        "incidents opened {period}: {} ({} resolved)\n",
        m.incidents, m.resolved
    );
    let _ = writeln!(
        out,
        "{:<26} {:>9} {:>10} {:>10}  measured",
        "figure", "incidents", "mean", "median"
    );
    let figure = |out: &mut String, name: &str, stats: &FigureStats, what: &str| {
        let show = |ms: Option<i64>| ms.map_or_else(|| "-".to_owned(), human_ms);
        let _ = writeln!(
            out,
            "{name:<26} {:>9} {:>10} {:>10}  {what}",
            stats.count,
            show(stats.mean_ms),
            show(stats.median_ms)
        );
    };
    figure(
        &mut out,
        "time to detect (MTTD)",
        &m.mttd,
        "first malicious block -> first alert",
    );
    figure(
        &mut out,
        "time to acknowledge (MTTA)",
        &m.mtta,
        "opened -> acknowledged",
    );
    figure(
        &mut out,
        "time to contain (MTTC)",
        &m.mttc,
        "opened -> contained",
    );
    figure(
        &mut out,
        "time to resolve (MTTR)",
        &m.mttr,
        "opened -> resolved",
    );
    let _ = writeln!(
        out,
        "\nfalse positives (judged alerts only; retracted alerts not counted)"
    );
    let _ = writeln!(
        out,
        "{:<32} {:>7} {:>7} {:>7} {:>7} {:>7} {:>9} {:>8}",
        "rule", "alerts", "judged", "false+", "true+", "benign", "unjudged", "FP rate"
    );
    let line = |out: &mut String, name: &str, r: &RuleJudgements| {
        let rate = r
            .false_positive_rate
            .map_or_else(|| "-".to_owned(), |rate| format!("{:.1}%", rate * 100.0));
        let _ = writeln!(
            out,
            "{:<32} {:>7} {:>7} {:>7} {:>7} {:>7} {:>9} {:>8}",
            output::escape(name),
            r.alerts,
            r.judged,
            r.false_positive,
            r.true_positive,
            r.benign,
            r.unjudged,
            rate
        );
    };
    for rule in &m.per_rule {
        line(&mut out, rule.rule_id.as_deref().unwrap_or("-"), rule);
    }
    line(&mut out, "(all rules)", &m.false_positives);
    out
}
