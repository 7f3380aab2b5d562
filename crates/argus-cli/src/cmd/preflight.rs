//! `argus preflight`: the procedure's pre-deployment checklist, for a CI
//! job to gate on. Each item is a check result (ok, warn, fail, skipped);
//! the exit status is 1 when any item failed, 0 otherwise. An item whose
//! part of Argus is not in this build (coverage, planned addresses) says
//! `skipped`, which does not fail the gate but is printed.
//!
//! Items: the project's own tests (`preflight.test_command`, argv without a
//! shell, run in the config file's folder), `argus lint` clean at
//! `preflight.lint_severity`, coverage, planned addresses registered and
//! watched, the daemon alive (each chain's newest recorded block within
//! `checks.max_lag`), the incident playbooks' guardian keys present with
//! policies, the configuration approved (`argus config approve`).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use argus_audit::{NewEntry, RetentionClass};
use argus_checks::{CheckContext, CheckResult, Status};
use argus_core::Severity;
use argus_store::Store;
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
    results.push(coverage());
    results.push(planned_addresses());
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
    let store = Store::open_in_dir(&data_dir);
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

/// Coverage of the planned contracts (`argus coverage`): plugs in here
/// when it exists; skipped until then.
fn coverage() -> CheckResult {
    CheckResult::skipped(
        "coverage",
        "`argus coverage` is not available in this build",
    )
}

/// Planned addresses registered and watched: plugs in here once the
/// registry holds `planned` entries; skipped until then.
fn planned_addresses() -> CheckResult {
    CheckResult::skipped(
        "planned-addresses",
        "the registry has no planned entries in this build",
    )
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
