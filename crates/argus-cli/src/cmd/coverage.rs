//! `argus coverage`: how much of the registry the config's rules watch, as
//! one figure (defined in `argus_coverage`), per contract, and against the
//! last recorded run; `argus coverage history` lists the recorded runs.
//!
//! Each run is recorded in the data directory (`coverage_runs`) unless
//! `--no-record`, so the next run says what was lost. For CI, `--min PCT`
//! fails with exit status 1 below a figure, and `--max-drop POINTS` on a
//! drop since the last run. `--build PATH` reads the compiler's AST from
//! build output so privilege is judged from modifiers, and functions are
//! counted watched through the events they really emit; without it, by name.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use argus_coverage::{CoverageReport, Diff, Judged, percent};

use crate::{GlobalArgs, config, output};

#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub(crate) struct CoverageArgs {
    #[command(subcommand)]
    command: Option<CoverageCommand>,
    /// The config whose rules are measured (its data directory holds the
    /// registry and the history).
    #[arg(short, long, default_value = "argus.yaml")]
    pub(crate) config: PathBuf,
    /// Build output with the compiler's AST (Foundry `out/` built with
    /// `ast = true`, Hardhat `artifacts/build-info`), for privilege by
    /// modifier and the events each function emits.
    #[arg(long, value_name = "PATH")]
    pub(crate) build: Vec<PathBuf>,
    /// The report as JSON.
    #[arg(long, conflicts_with = "sarif")]
    pub(crate) json: bool,
    /// The gaps as SARIF (unwatched privileged functions, contracts with no
    /// rule).
    #[arg(long)]
    pub(crate) sarif: bool,
    /// Exit 1 when the figure is below this percentage.
    #[arg(long, value_name = "PCT")]
    pub(crate) min: Option<f64>,
    /// Exit 1 when the figure dropped by more than this many points since
    /// the last recorded run.
    #[arg(long, value_name = "POINTS")]
    pub(crate) max_drop: Option<f64>,
    /// Record an alert (`argus.coverage-drop`, high) in the data
    /// directory's outbox when the figure dropped by more than this many
    /// points since the last run: the daemon delivers it through the
    /// config's notifiers.
    #[arg(long, value_name = "POINTS", conflicts_with = "no_record")]
    pub(crate) alert_drop: Option<f64>,
    /// Do not record this run in the history.
    #[arg(long)]
    pub(crate) no_record: bool,
}

#[derive(Debug, clap::Subcommand)]
enum CoverageCommand {
    /// The recorded runs, newest first.
    History(HistoryArgs),
}

#[derive(Debug, clap::Args)]
struct HistoryArgs {
    /// The config whose data directory holds the history.
    #[arg(short, long, default_value = "argus.yaml")]
    config: PathBuf,
    /// At most this many runs.
    #[arg(long, default_value_t = 20)]
    limit: usize,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(global: &GlobalArgs, args: CoverageArgs) -> anyhow::Result<ExitCode> {
    if let Some(CoverageCommand::History(history)) = args.command {
        return show_history(global, &history);
    }
    for (flag, value) in [
        ("--min", args.min),
        ("--max-drop", args.max_drop),
        ("--alert-drop", args.alert_drop),
    ] {
        if let Some(value) = value
            && !(0.0..=100.0).contains(&value)
        {
            bail!("{flag} {value}: give a percentage between 0 and 100");
        }
    }
    let Some((loaded, data_dir)) = config::load_for_reading(&args.config, global) else {
        return Ok(ExitCode::from(2));
    };
    let report = measure(&loaded.rules, &data_dir, &args.build)?;

    let now_ms = jiff::Timestamp::now().as_millisecond();
    let diff;
    if args.no_record {
        let store = crate::stores::open_read_only(&data_dir)?;
        let previous = argus_coverage::last_run(&store.connect()?)?;
        diff = previous.as_ref().map(|p| argus_coverage::diff(p, &report));
    } else {
        let store = crate::stores::open(&data_dir)?;
        let mut conn = store.connect()?;
        let previous = argus_coverage::last_run(&conn)?;
        diff = previous.as_ref().map(|p| argus_coverage::diff(p, &report));
        let tx = conn.transaction()?;
        let run = argus_coverage::record(&tx, &report, now_ms)?;
        // The run and its alert are one transaction: both or neither.
        if let (Some(points), Some(diff)) = (args.alert_drop, &diff)
            && dropped_more_than(diff, points)
        {
            let routing = argus_alerting::Routing::from_config(&loaded.alerting)?;
            let recorded = argus_alerting::outbox::record(
                &tx,
                &drop_finding(diff, run, now_ms),
                &routing,
                now_ms,
            )?;
            sh_eprintln!(
                "coverage dropped more than {points} points: alert argus.coverage-drop recorded \
                 ({} deliver{} queued)",
                recorded.deliveries,
                if recorded.deliveries == 1 { "y" } else { "ies" }
            );
        }
        tx.commit()?;
    }

    if args.sarif {
        output::json_text(&(argus_coverage::render_sarif(&report) + "\n"))?;
    } else if args.json {
        output::json_pretty(&serde_json::json!({
            "format": "argus-coverage/1",
            "figure": percent(report.figure_bp),
            "report": report,
            "contracts_without_rule": report.contracts_without_rule().map(|c| &c.label).collect::<Vec<_>>(),
            "privileged_unwatched": report.privileged_unwatched(),
            "previous": diff,
        }))?;
    } else {
        output::stdout_text(&render_human(&report, diff.as_ref()))?;
    }

    let mut failed = false;
    if let Some(min) = args.min
        && f64::from(report.figure_bp) < min * 100.0
    {
        sh_eprintln!(
            "coverage {} is below the minimum {min}% (--min)",
            percent(report.figure_bp)
        );
        failed = true;
    }
    if let (Some(max_drop), Some(diff)) = (args.max_drop, &diff)
        && dropped_more_than(diff, max_drop)
    {
        sh_eprintln!(
            "coverage dropped more than {max_drop} points since run {}: {}",
            diff.previous_run,
            diff.summary()
        );
        failed = true;
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn dropped_more_than(diff: &Diff, points: f64) -> bool {
    (-diff.delta_bp) as f64 > points * 100.0
}

/// The alert of a drop: one per recorded run, so a repeated drop alerts
/// again and the same run never twice.
fn drop_finding(diff: &Diff, run: i64, now_ms: i64) -> argus_core::Finding {
    let rule_id = "argus.coverage-drop";
    argus_core::Finding {
        id: argus_core::finding_id(rule_id, None, &run.to_be_bytes()),
        rule_id: rule_id.to_owned(),
        severity: argus_core::Severity::High,
        title: format!("monitoring coverage dropped: {}", diff.summary()),
        dedup_key: format!("coverage-drop:{run}"),
        origin: None,
        at_ms: now_ms,
        fields: serde_json::json!({
            "run": run,
            "figure_bp": diff.current_bp,
            "previous_bp": diff.previous_bp,
            "delta_bp": diff.delta_bp,
            "lost": diff.lost,
            "contracts_lost_rule": diff.contracts_lost_rule,
        })
        .into(),
    }
}

/// The coverage of the registry in `data_dir` by `rules`.
pub(crate) fn measure(
    rules: &argus_rules::RuleSet,
    data_dir: &std::path::Path,
    build: &[PathBuf],
) -> anyhow::Result<CoverageReport> {
    if !crate::stores::exists(data_dir) {
        bail!(
            "no registry in {}: import the contracts first (`argus registry import <path>`)",
            data_dir.display()
        );
    }
    let registry = crate::stores::registry_read_only(data_dir)?;
    let directory = argus_node::directory::load(&registry)?;
    if directory.entries.is_empty() {
        bail!(
            "the registry in {} holds no deployed contract, so there is nothing to cover; \
             import deployments (a Foundry broadcast, hardhat-deploy files, or an ABI with \
             --chain and --address)",
            data_dir.display()
        );
    }
    let facts = crate::cmd::lint::contract_facts(build).context("--build")?;
    if !build.is_empty() && facts.is_empty() {
        sh_eprintln!(
            "warning: no build output with the compiler's AST under --build; privilege is \
             judged by name (Foundry: `ast = true` in foundry.toml; Hardhat: artifacts/build-info)"
        );
    }
    let engine = argus_rules::Engine::new(rules.clone(), &directory);
    Ok(argus_coverage::measure(
        &directory,
        &facts,
        &engine.watches(),
    ))
}

fn render_human(report: &CoverageReport, diff: Option<&Diff>) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "coverage {} ({} of {} weighted items watched by {} rule(s); privileged functions weigh {})",
        percent(report.figure_bp),
        report.watched_weight,
        report.total_weight,
        report.rules,
        argus_coverage::PRIVILEGED_WEIGHT
    );
    if let Some(diff) = diff {
        let _ = writeln!(out, "  since the last run: {}", diff.summary());
        for change in &diff.lost {
            let _ = writeln!(
                out,
                "  - no longer watched: {} {}",
                output::escaped(&change.contract),
                output::escaped(&change.item)
            );
        }
        for label in &diff.contracts_lost_rule {
            let _ = writeln!(out, "  - lost every rule: {}", output::escaped(label));
        }
        for label in &diff.contracts_added {
            let _ = writeln!(out, "  + new contract: {}", output::escaped(label));
        }
    }
    for contract in &report.contracts {
        let _ = writeln!(
            out,
            "\n{} ({} {})  {}{}",
            output::escaped(&contract.label),
            contract.chain.name(),
            contract.address.to_checksum(None),
            percent(contract.figure_bp()),
            match (contract.has_rule, contract.judged) {
                (false, _) => "  NO RULE",
                (true, Judged::Ast) => "  (privilege from the AST)",
                (true, Judged::Name) => "",
            }
        );
        for (what, items) in [
            ("events", &contract.events),
            ("functions", &contract.functions),
        ] {
            if items.is_empty() {
                continue;
            }
            let watched: Vec<&argus_coverage::Item> =
                items.iter().filter(|i| i.watched()).collect();
            let _ = writeln!(out, "  {what}: {}/{} watched", watched.len(), items.len());
            for item in items {
                let mark = if item.watched() { "✓" } else { "✗" };
                let privileged = if item.privileged { " [privileged]" } else { "" };
                let by = if item.watched() {
                    format!(
                        "  ← {}{}",
                        item.rules.join(", "),
                        item.via
                            .as_ref()
                            .map(|v| format!(" (via event {v})"))
                            .unwrap_or_default()
                    )
                } else {
                    String::new()
                };
                let _ = writeln!(
                    out,
                    "    {mark} {}{privileged}{}",
                    output::escaped(&item.signature),
                    output::escaped(by)
                );
            }
        }
    }
    let unwatched: Vec<&str> = report
        .contracts_without_rule()
        .map(|c| c.label.as_str())
        .collect();
    let _ = writeln!(
        out,
        "\n{} contract(s), {} with no rule{}; {} privileged function(s) unwatched",
        report.contracts.len(),
        unwatched.len(),
        if unwatched.is_empty() {
            String::new()
        } else {
            format!(" ({})", output::escaped(unwatched.join(", ")))
        },
        report.privileged_unwatched()
    );
    out
}

fn show_history(global: &GlobalArgs, args: &HistoryArgs) -> anyhow::Result<ExitCode> {
    let data_dir = match config::load_for_reading(&args.config, global) {
        Some((_, data_dir)) => data_dir,
        None => return Ok(ExitCode::from(2)),
    };
    let store = crate::stores::open_read_only(&data_dir)?;
    let runs = argus_coverage::history(&store.connect()?, args.limit)?;
    if args.json {
        output::json_pretty(&runs)?;
        return Ok(ExitCode::SUCCESS);
    }
    if runs.is_empty() {
        sh_eprintln!("no coverage run recorded yet: run `argus coverage`");
        return Ok(ExitCode::SUCCESS);
    }
    let mut text = String::from(
        "run  at                        figure   watched/total  no rule  privileged unwatched  rules\n",
    );
    for (i, run) in runs.iter().enumerate() {
        let at = jiff::Timestamp::from_millisecond(run.at_ms)
            .map(|t| t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string())
            .unwrap_or_else(|_| run.at_ms.to_string());
        // Newest first: the change is against the next (older) row.
        let change = runs
            .get(i + 1)
            .map(|older| {
                let delta = i64::from(run.figure_bp) - i64::from(older.figure_bp);
                match delta.signum() {
                    -1 => "  ▼ drop",
                    1 => "  ▲",
                    _ => "",
                }
            })
            .unwrap_or_default();
        text.push_str(&format!(
            "{:<4} {:<25} {:>7}  {:>6}/{:<6}  {:>7}  {:>20}  {:>5}{change}\n",
            run.id,
            at,
            percent(run.figure_bp),
            run.watched_weight,
            run.total_weight,
            run.contracts_without_rule,
            run.privileged_unwatched,
            run.rules
        ));
    }
    output::stdout_text(&text)?;
    Ok(ExitCode::SUCCESS)
}
