//! `argus preflight`: the procedure's pre-deployment checklist, for a CI
//! job to gate on. Each item is a check result (ok, warn, fail, skipped);
//! the exit status is 1 when any item failed, 0 otherwise. An item with
//! nothing to look at (no test command, an empty registry, no plans) says
//! `skipped`, which does not fail the gate but is printed.
//!
//! Items: the project's own tests (`preflight.test_command`, argv without a
//! shell, run in the config file's folder), `argus lint` clean at
//! `preflight.lint_severity`, coverage at or above
//! `preflight.min_coverage`, planned addresses registered and watched, the daemon alive (each chain's newest recorded block within
//! `checks.max_lag`), the incident playbooks' guardian keys present with
//! policies, the configuration approved (`argus config approve`).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use argus_audit::{NewEntry, RetentionClass};
use argus_checks::{CheckContext, CheckResult, Status};
use argus_core::Severity;
use serde_json::json;

use crate::cmd::checks::{plugins, running_config};
use crate::{GlobalArgs, config, output, trail};

#[derive(Debug, clap::Args)]
pub(crate) struct PreflightArgs {
    /// The config file.
    #[arg(short, long, default_value = "argus.yaml")]
    config: PathBuf,
    /// Read the master key from this file (mode 0600) instead of
    /// `ARGUS_MASTER_KEY` (to look at the guardian keys' policies).
    #[arg(long, value_name = "FILE")]
    master_key_file: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(global: &GlobalArgs, args: PreflightArgs) -> anyhow::Result<ExitCode> {
    let Some((loaded, data_dir)) = config::load_for_reading(&args.config, global) else {
        return Ok(ExitCode::from(2));
    };
    // `argus lint` runs in the config's folder: give it the directory as
    // this process sees it.
    let data_dir = std::path::absolute(&data_dir).unwrap_or(data_dir);
    let started_ms = jiff::Timestamp::now().as_millisecond();
    let config_dir = args
        .config
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let mut results = vec![test_command(&loaded.preflight.test_command, &config_dir)];
    results.push(lint(&loaded.preflight, &config_dir, &data_dir));
    results.push(coverage(&loaded, &config_dir, &data_dir));
    results.push(planned_addresses(&loaded, &data_dir));
    let mut vault = if trail::master_key_given(args.master_key_file.as_deref())
        && argus_vault::Vault::exists(&trail::vault_dir(&data_dir))
    {
        Some(trail::open_vault(
            &data_dir,
            args.master_key_file.as_deref(),
            false,
        )?)
    } else {
        None
    };
    let store = crate::stores::open(&data_dir);
    let mut run_id = None;
    match &store {
        Ok(store) => {
            let mut files = vec![args.config.clone()];
            files.extend(loaded.rule_files.iter().cloned());
            let running = running_config(&files);
            let checks = loaded.checks.clone().unwrap_or_default();
            let plugins = plugins(&loaded);
            let clock = argus_core::Clock::system();
            let ctx = CheckContext {
                store,
                clock: &clock,
                config: &checks,
                data_dir: &data_dir,
                vault: vault.as_ref(),
                witness: None,
                config_hash: running.as_ref(),
                api_tokens: None,
                plugins: &plugins,
            };
            results.push(daemon_alive(&ctx));
            let labels: BTreeSet<String> = loaded.incidents.key_labels().into_iter().collect();
            results.push(argus_checks::checks::guardian_keys(vault.as_ref(), &labels));
            results.push(argus_checks::checks::config_audit(&ctx));
            // Kept as evidence beside the scheduled runs (never alerted).
            let routing = argus_alerting::Routing::to_all(&[], 0);
            let actor = trail::actor();
            let kept = argus_checks::keep_run(
                &ctx,
                "preflight",
                argus_checks::Trigger::Preflight,
                &actor,
                &routing,
                started_ms,
                results.clone(),
            )?;
            run_id = Some(kept.run_id);
            if let Some(vault) = vault.as_mut() {
                let entry = NewEntry::new(RetentionClass::Audit, actor, "preflight.run")
                    .at(trail::host_name(), "preflight")
                    .details(kept.audit_details());
                trail::append(vault, &data_dir, &entry)?;
            }
        }
        Err(error) => results.push(CheckResult::fail(
            "store",
            Severity::High,
            format!("the store in {} does not open: {error}", data_dir.display()),
        )),
    }
    let failed = results.iter().any(|r| r.status == Status::Fail);
    if args.json {
        output::json_pretty(&json!({ "passed": !failed, "run": run_id, "items": results }))?;
    } else {
        crate::cmd::checks::print_results(&results, "preflight")?;
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// How much of a failing command's output is shown.
const OUTPUT_LINES: usize = 20;

fn test_command(argv: &[String], dir: &Path) -> CheckResult {
    const NAME: &str = "tests";
    let Some((program, rest)) = argv.split_first() else {
        return CheckResult::skipped(NAME, "no preflight.test_command configured");
    };
    let outcome = Command::new(program)
        .args(rest)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output();
    let shown = argv.join(" ");
    match outcome {
        Err(error) => CheckResult::fail(
            NAME,
            Severity::High,
            format!("`{shown}` could not start: {error}"),
        ),
        Ok(out) if out.status.success() => CheckResult::ok(NAME, format!("`{shown}` passed")),
        Ok(out) => {
            let text = String::from_utf8_lossy(if out.stderr.is_empty() {
                &out.stdout
            } else {
                &out.stderr
            })
            .into_owned();
            let lines: Vec<String> = text
                .lines()
                .rev()
                .take(OUTPUT_LINES)
                .map(str::to_owned)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            CheckResult::fail(
                NAME,
                Severity::High,
                format!("`{shown}` failed ({})", out.status),
            )
            .with_details(lines)
        }
    }
}

fn lint(preflight: &argus_checks::PreflightConfig, dir: &Path, data_dir: &Path) -> CheckResult {
    const NAME: &str = "lint";
    let severity = preflight.lint_severity.as_deref().unwrap_or("error");
    let Ok(argus) = std::env::current_exe() else {
        return CheckResult::fail(
            NAME,
            Severity::High,
            "cannot find the argus binary to run `argus lint`",
        );
    };
    let mut command = Command::new(argus);
    command
        .arg("--data-dir")
        .arg(data_dir)
        .arg("lint")
        .arg("--json")
        .arg("--severity")
        .arg(severity);
    if preflight.lint_paths.is_empty() {
        command.arg("--registry");
    } else {
        command.args(&preflight.lint_paths);
    }
    let out = match command.current_dir(dir).stdin(Stdio::null()).output() {
        Ok(out) => out,
        Err(error) => {
            return CheckResult::fail(
                NAME,
                Severity::High,
                format!("`argus lint` could not start: {error}"),
            );
        }
    };
    let doc: Option<serde_json::Value> = serde_json::from_slice(&out.stdout).ok();
    let findings = doc
        .as_ref()
        .and_then(|d| d.get("findings")?.as_array().map(Vec::len));
    match (out.status.code(), findings) {
        (Some(0 | 1), Some(0)) => CheckResult::ok(
            NAME,
            format!("`argus lint` found nothing at or above {severity}"),
        ),
        (Some(0 | 1), Some(n)) => CheckResult::fail(
            NAME,
            Severity::High,
            format!("`argus lint` found {n} findings at or above {severity}"),
        ),
        _ => {
            let text = String::from_utf8_lossy(&out.stderr)
                .lines()
                .take(OUTPUT_LINES)
                .collect::<Vec<_>>()
                .join("\n");
            CheckResult::fail(
                NAME,
                Severity::High,
                format!("`argus lint` did not run ({})", out.status),
            )
            .with_details(vec![text])
        }
    }
}

/// Coverage of the registry, planned contracts included (`argus coverage`,
/// not recorded in its history): fails below `preflight.min_coverage`;
/// without a minimum the figure is shown and never fails. Skipped when
/// there is nothing to cover yet.
fn coverage(loaded: &config::Loaded, config_dir: &Path, data_dir: &Path) -> CheckResult {
    const NAME: &str = "coverage";
    let build: Vec<PathBuf> = loaded
        .preflight
        .coverage_build
        .iter()
        .map(|p| config_dir.join(p))
        .collect();
    let report = match crate::cmd::coverage::measure(&loaded.rules, data_dir, &build) {
        Ok(report) => report,
        Err(error) => return CheckResult::skipped(NAME, format!("{error:#}")),
    };
    let figure = f64::from(report.figure_bp) / 100.0;
    let unwatched: Vec<String> = report
        .contracts
        .iter()
        .flat_map(|c| {
            c.unwatched_privileged().map(move |item| {
                format!("privileged and unwatched: {} {}", c.label, item.signature)
            })
        })
        .collect();
    let evidence = json!({
        "figure_bp": report.figure_bp,
        "watched_weight": report.watched_weight,
        "total_weight": report.total_weight,
        "privileged_unwatched": report.privileged_unwatched(),
    });
    let shown = argus_coverage::percent(report.figure_bp);
    let result = match loaded.preflight.min_coverage {
        Some(min) if figure < min => CheckResult::fail(
            NAME,
            Severity::High,
            format!("coverage {shown}, below preflight.min_coverage {min}%"),
        ),
        Some(min) => CheckResult::ok(NAME, format!("coverage {shown} (minimum {min}%)")),
        None => CheckResult::ok(
            NAME,
            format!("coverage {shown} (no preflight.min_coverage: shown, not gated)"),
        ),
    };
    result.with_details(unwatched).with_evidence(evidence)
}

/// Planned addresses (`argus registry plan`) registered and watched: each
/// on a chain the config follows (else nobody sees code appear there), and
/// none where code with another hash than planned appeared. Skipped when
/// nothing is planned.
fn planned_addresses(loaded: &config::Loaded, data_dir: &Path) -> CheckResult {
    const NAME: &str = "planned-addresses";
    let plans =
        match crate::stores::registry_read_only(data_dir).and_then(|registry| registry.planned()) {
            Ok(plans) => plans,
            Err(error) => {
                return CheckResult::skipped(NAME, format!("the registry cannot be read: {error}"));
            }
        };
    if plans.is_empty() {
        return CheckResult::skipped(NAME, "no planned address is registered");
    }
    let followed: BTreeSet<u64> = loaded.chains.iter().map(|c| c.follower.chain.0).collect();
    let mut problems = Vec::new();
    let mut mismatched = false;
    for plan in &plans {
        let label = output::escaped(&plan.label);
        if !followed.contains(&plan.chain.0) {
            problems.push(format!(
                "{label} at {} on chain {}: no chain in the config follows it",
                plan.address, plan.chain.0
            ));
        }
        if let (Some(expected), Some(seen)) = (plan.expected_code_hash, plan.seen_code_hash)
            && expected != seen
        {
            mismatched = true;
            problems.push(format!(
                "{label} at {}: code {seen} appeared, {expected} was planned",
                plan.address
            ));
        }
    }
    let waiting = plans
        .iter()
        .filter(|p| p.status == argus_registry::onchain::PlannedStatus::Planned)
        .count();
    let evidence = json!({ "planned": plans.len(), "waiting": waiting });
    if problems.is_empty() {
        CheckResult::ok(
            NAME,
            format!(
                "{} planned address(es) on followed chains ({waiting} still waiting for code)",
                plans.len()
            ),
        )
        .with_evidence(evidence)
    } else {
        let severity = if mismatched {
            Severity::Critical
        } else {
            Severity::High
        };
        CheckResult::fail(
            NAME,
            severity,
            format!(
                "{} of {} planned address(es) not safely watched",
                problems.len(),
                plans.len()
            ),
        )
        .with_details(problems)
        .with_evidence(evidence)
    }
}

/// The daemon at work: the daily chain-lag check, where "no chain has
/// been followed" is a failure, not a skip (nothing is watching).
fn daemon_alive(ctx: &CheckContext<'_>) -> CheckResult {
    let lag = argus_checks::checks::REGISTRY
        .iter()
        .find(|c| c.name == "chain-lag")
        .map(|c| (c.run)(ctx));
    match lag {
        Some(mut result) => {
            result.name = "monitoring".to_owned();
            if result.status == Status::Skipped {
                result.status = Status::Fail;
                result.severity = Severity::High;
                result.summary =
                    "the daemon has not followed any chain: start `argus run` before deploying"
                        .to_owned();
            }
            result
        }
        None => CheckResult::skipped("monitoring", "no chain-lag check in this build"),
    }
}
