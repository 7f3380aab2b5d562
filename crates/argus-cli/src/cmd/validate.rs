//! `argus validate -c argus.yaml`: checks a config and every rule file it
//! names, reporting every problem at once with file, line and column.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::config;
use crate::{GlobalArgs, output};

#[derive(Debug, clap::Args)]
pub(crate) struct ValidateArgs {
    /// The config file.
    #[arg(short, long, default_value = "argus.yaml")]
    pub(crate) config: PathBuf,
    /// The result as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

pub(crate) fn run(global: &GlobalArgs, args: ValidateArgs) -> anyhow::Result<ExitCode> {
    match config::load(&args.config) {
        Ok(loaded) => {
            // Rules that name what the registry does not hold (yet) match
            // nothing until it does: worth a warning, not a refusal.
            let data_dir = loaded
                .data_dir
                .clone()
                .unwrap_or_else(|| global.data_dir.clone());
            let mut warnings = Vec::new();
            if crate::stores::exists(&data_dir) {
                let registry = crate::stores::registry_read_only(&data_dir)?;
                let engine = argus_rules::Engine::new(
                    loaded.rules.clone(),
                    &argus_node::directory::load(&registry)?,
                );
                for problem in engine.binding_problems() {
                    warnings.push(format!("rule {}: {}", problem.rule_id, problem.message));
                }
                // A rule reading what the ABI it bound to does not have
                // fails on every event it matches: refused like a load error.
                let refused: Vec<argus_core::Diagnostic> = engine
                    .type_problems()
                    .iter()
                    .map(|problem| {
                        let at = loaded
                            .rules
                            .rules()
                            .iter()
                            .find(|r| r.id == problem.rule_id);
                        argus_core::Diagnostic {
                            file: at.map(|r| r.location.path.clone()).unwrap_or_default(),
                            line: at.map_or(0, |r| r.location.line),
                            column: at.map_or(0, |r| r.location.column),
                            path: None,
                            message: match at.map(|r| &r.matcher) {
                                // State rules' messages say what the ABI lacks.
                                Some(argus_rules::Matcher::State(_)) => {
                                    format!("rule {}: {}", problem.rule_id, problem.message)
                                }
                                _ => format!(
                                    "rule {}: {} (the registry's ABI names the parameters the \
                                     signature leaves out)",
                                    problem.rule_id, problem.message
                                ),
                            },
                        }
                    })
                    .collect();
                if !refused.is_empty() {
                    return refuse(&args, &argus_node::config::Diagnostics(refused));
                }
            }
            // A state rule reading a chain `chains:` does not follow is
            // never evaluated.
            let followed: Vec<argus_core::ChainId> =
                loaded.chains.iter().map(|c| c.follower.chain).collect();
            for rule in loaded.rules.rules() {
                if let argus_rules::Matcher::State(spec) = &rule.matcher {
                    for chain in spec.chains() {
                        if !followed.contains(&chain) {
                            warnings.push(format!(
                                "rule {}: reads chain {} ({}), which `chains:` does not follow, so it is never evaluated",
                                rule.id,
                                chain.0,
                                chain.name()
                            ));
                        }
                    }
                }
            }
            // A signal rule no source feeds never fires in `argus run`.
            let produced = loaded.signals.produced();
            for rule in loaded.rules.rules() {
                if let argus_rules::Matcher::Signal { name } = &rule.matcher
                    && !produced.contains(name)
                {
                    warnings.push(format!(
                        "rule {}: no source of `signals:` produces signal {name}, so it never \
                         fires in `argus run` (see the README's signals section)",
                        rule.id
                    ));
                }
            }
            warnings.extend(vault_secret_warnings(
                &data_dir,
                &loaded.alerting.vault_secret_names(),
            ));
            // A kind whose alerts no rule makes never opens an incident.
            for kind in &loaded.incidents.kinds {
                if kind.playbook.is_none() {
                    warnings.push(format!(
                        "incident kind {}: no playbook, so its incidents are escalated and \
                         evidenced but nothing is contained automatically",
                        kind.name
                    ));
                }
            }
            if let Some(server) = &loaded.server {
                warnings.extend(server.warnings());
            }
            for warning in &warnings {
                sh_eprintln!("warning: {warning}");
            }
            if args.json {
                output::json(&serde_json::json!({
                        "valid": true,
                        "chains": loaded.chains.iter().map(|c| c.follower.chain.0).collect::<Vec<_>>(),
                        "rules": loaded.rules.len(),
                        "rule_files": loaded.rule_files,
                        "notifiers": loaded.alerting.notifiers.keys().collect::<Vec<_>>(),
                        "incident_kinds": loaded.incidents.kinds.iter().map(|k| &k.name).collect::<Vec<_>>(),
                        "playbooks": loaded.incidents.playbooks.keys().collect::<Vec<_>>(),
                        "warnings": warnings,
                }))?;
            } else {
                sh_println!(
                    "{}: valid ({} chain(s), {} rule(s) from {} file(s), {} notifier(s), {} incident kind(s), {} playbook(s))",
                    args.config.display(),
                    loaded.chains.len(),
                    loaded.rules.len(),
                    loaded.rule_files.len(),
                    loaded.alerting.notifiers.len(),
                    loaded.incidents.kinds.len(),
                    loaded.incidents.playbooks.len()
                )?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(diagnostics) => refuse(&args, &diagnostics),
    }
}

/// Prints every problem (JSON with `--json`) and exits 2.
fn refuse(
    args: &ValidateArgs,
    diagnostics: &argus_node::config::Diagnostics,
) -> anyhow::Result<ExitCode> {
    if args.json {
        let problems: Vec<_> = diagnostics
            .0
            .iter()
            .map(|d| {
                serde_json::json!({
                    "file": d.file, "line": d.line, "column": d.column, "message": d.message
                })
            })
            .collect();
        output::json(&serde_json::json!({ "valid": false, "problems": problems }))?;
    } else {
        sh_eprint!("{diagnostics}");
    }
    Ok(ExitCode::from(2))
}

/// The notifier secrets the vault must hold: checked when the master key is
/// at hand (`argus run` refuses to start without them), named otherwise.
fn vault_secret_warnings(data_dir: &std::path::Path, names: &[String]) -> Vec<String> {
    if names.is_empty() {
        return Vec::new();
    }
    if crate::trail::master_key_given(None) {
        match crate::trail::open_vault(data_dir, None, false) {
            Ok(vault) => {
                let held = vault.secret_names();
                names
                    .iter()
                    .filter(|n| !held.contains(&n.as_str()))
                    .map(|n| {
                        format!(
                            "vault secret {n} is not in the vault: `argus keys secret set {n}` \
                             (argus run refuses to start without it)"
                        )
                    })
                    .collect()
            }
            Err(error) => vec![format!(
                "the notifiers take secrets from the vault ({}), which did not open: {error:#}",
                names.join(", ")
            )],
        }
    } else {
        vec![format!(
            "the notifiers take secrets from the vault ({}); set ARGUS_MASTER_KEY to check them \
             here (argus run needs it too)",
            names.join(", ")
        )]
    }
}
