//! `argus init`: a starting config and rule files, from a Foundry or Hardhat
//! project (its deployments and build output) or from the registry.
//!
//! What it writes, each rule with a comment saying why it is there:
//! - `argus.yaml`: the chains the deployments are on (the RPC URL is a local
//!   node's: replace it), the data directory, the rule files;
//! - `rules/privileged.yaml`: ownership, role and upgrade events
//!   (`OwnershipTransferred`, `RoleGranted`, `Upgraded`, `AdminChanged`,
//!   `Paused`…) of every contract that declares them, and a rule for every
//!   privileged function (from the AST's guards with `--build` output or a
//!   project, else by name): through the event it emits when it emits one a
//!   rule can see, else on the call;
//! - `rules/events.yaml`: every other event of each contract at `info`, to
//!   narrow with a condition or delete;
//! - `rules/bots.yaml`: the operators' procedure's thresholds for the bots'
//!   wallets (`--wallet`), as the procedure writes them.
//!
//! Nothing is overwritten unless `--force`; the written config passes
//! `argus validate`, and the coverage of the new rules is printed at the end.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use alloy_primitives::B256;
use anyhow::{Context as _, bail};
use argus_abi::ast::ContractFacts;
use argus_core::{ChainId, parse_address};
use argus_registry::{ImportHints, load_paths};
use argus_rules::{ContractDirectory, ContractEntry};

use crate::{GlobalArgs, output};

#[derive(Debug, clap::Args)]
pub(crate) struct InitArgs {
    /// A Foundry or Hardhat project (or its build and deployment folders).
    /// Without one, the registry in the data directory is the source.
    pub(crate) paths: Vec<PathBuf>,
    /// Where to write `argus.yaml` and `rules/`.
    #[arg(long, default_value = ".")]
    pub(crate) out: PathBuf,
    /// A bot's wallet address: the procedure's thresholds watch its
    /// transactions (repeat for several bots).
    #[arg(long, value_name = "ADDRESS")]
    pub(crate) wallet: Vec<String>,
    /// With the registry as the source: build output with the compiler's
    /// AST, for privilege by modifier.
    #[arg(long, value_name = "PATH")]
    pub(crate) build: Vec<PathBuf>,
    /// Overwrite files that exist.
    #[arg(long)]
    pub(crate) force: bool,
    /// Print what was written and the coverage as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Events that change who controls a contract or its code, with the
/// severity a rule on them gets and why.
const CONTROL_EVENTS: &[(&str, &str, &str)] = &[
    ("OwnershipTransferred", "critical", "the owner changed"),
    (
        "OwnershipTransferStarted",
        "high",
        "an ownership transfer started",
    ),
    ("RoleGranted", "high", "a role was granted"),
    ("RoleRevoked", "medium", "a role was revoked"),
    ("RoleAdminChanged", "high", "a role's admin role changed"),
    (
        "Upgraded",
        "critical",
        "the implementation changed (an upgrade)",
    ),
    ("AdminChanged", "critical", "the proxy admin changed"),
    ("BeaconUpgraded", "critical", "the beacon changed"),
    ("Paused", "high", "the contract was paused"),
    ("Unpaused", "high", "the contract was unpaused"),
];

pub(crate) fn run(global: &GlobalArgs, args: InitArgs) -> anyhow::Result<ExitCode> {
    let wallets = args
        .wallet
        .iter()
        .map(|w| parse_address(w).with_context(|| format!("--wallet {w}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let (directory, facts, source, data_dir) = if args.paths.is_empty() {
        from_registry(global, &args.build)?
    } else {
        from_project(&args.paths)?
    };
    if directory.entries.is_empty() {
        bail!("{source} holds no deployed contract: nothing to watch");
    }

    let config_path = args.out.join("argus.yaml");
    let rules_dir = args.out.join("rules");
    let files = [
        config_path.clone(),
        rules_dir.join("privileged.yaml"),
        rules_dir.join("events.yaml"),
        rules_dir.join("bots.yaml"),
    ];
    let existing: Vec<String> = files
        .iter()
        .filter(|f| f.exists())
        .map(|f| f.display().to_string())
        .collect();
    if !existing.is_empty() && !args.force {
        bail!(
            "{} already exist{}; nothing was written (--force overwrites)",
            existing.join(", "),
            if existing.len() == 1 { "s" } else { "" }
        );
    }

    let texts = [
        config_text(&directory, &source, &data_dir),
        privileged_rules(&directory, &facts, &source),
        event_rules(&directory, &source),
        bot_rules(&wallets),
    ];
    std::fs::create_dir_all(&rules_dir)
        .with_context(|| format!("cannot create {}", rules_dir.display()))?;
    for (file, text) in files.iter().zip(&texts) {
        std::fs::write(file, text).with_context(|| format!("cannot write {}", file.display()))?;
        if !args.json {
            sh_eprintln!("wrote {}", file.display());
        }
    }

    // The rules as the daemon will load them, measured on the contracts.
    let rule_files: Vec<PathBuf> = files[1..].to_vec();
    let rules = argus_rules::RuleSet::from_files(&rule_files).map_err(|diagnostics| {
        let text: Vec<String> = diagnostics.iter().map(ToString::to_string).collect();
        anyhow::anyhow!(
            "the written rules do not load (a bug in argus init):\n{}",
            text.join("\n")
        )
    })?;
    let engine = argus_rules::Engine::new(rules.clone(), &directory);
    let report = argus_coverage::measure(&directory, &facts, &engine.watches());
    if args.json {
        output::json_pretty(&serde_json::json!({
            "files": files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>(),
            "rules": rules.len(),
            "figure": argus_coverage::percent(report.figure_bp),
            "coverage": report,
        }))?;
    } else {
        sh_println!(
            "{} rule(s) for {} contract(s) from {}; coverage {} ({} of {} weighted items \
             watched, {} privileged function(s) unwatched)",
            rules.len(),
            directory.entries.len(),
            output::escaped(&source),
            argus_coverage::percent(report.figure_bp),
            report.watched_weight,
            report.total_weight,
            report.privileged_unwatched()
        )?;
        for contract in &report.contracts {
            sh_println!(
                "  {:<24} {:>7}",
                output::escaped(&contract.label),
                argus_coverage::percent(contract.figure_bp())
            )?;
        }
        sh_eprintln!(
            "next: set the RPC URLs in {}, then `argus validate -c {0}`{}",
            config_path.display(),
            if args.paths.is_empty() {
                String::new()
            } else {
                format!(
                    ", `argus registry import {}` into the data directory, `argus coverage -c {}`",
                    args.paths
                        .iter()
                        .map(|p| p.display().to_string())
                        .collect::<Vec<_>>()
                        .join(" "),
                    config_path.display()
                )
            }
        );
    }
    Ok(ExitCode::SUCCESS)
}

type Source = (ContractDirectory, Vec<ContractFacts>, String, String);

fn from_registry(global: &GlobalArgs, build: &[PathBuf]) -> anyhow::Result<Source> {
    if !crate::stores::exists(&global.data_dir) {
        bail!(
            "no registry in {} and no project given: run `argus init <project>` or import the \
             contracts first (`argus registry import <path>`)",
            global.data_dir.display()
        );
    }
    let registry = crate::stores::registry_read_only(&global.data_dir)?;
    let directory = argus_node::directory::load(&registry)?;
    let facts = crate::cmd::lint::contract_facts(build).context("--build")?;
    let data_dir = std::path::absolute(&global.data_dir)
        .unwrap_or_else(|_| global.data_dir.clone())
        .display()
        .to_string();
    Ok((
        directory,
        facts,
        format!("the registry in {}", global.data_dir.display()),
        data_dir,
    ))
}

fn from_project(paths: &[PathBuf]) -> anyhow::Result<Source> {
    for path in paths {
        if !path.exists() {
            bail!("{}: no such file or directory", path.display());
        }
    }
    let contracts = load_paths(paths.iter().map(PathBuf::as_path), &ImportHints::default())
        .map_err(|errors| anyhow::anyhow!("{errors}\nnothing was written"))?;
    // As the registry will show them to the rules: a proxy with its
    // implementation's ABI as well (`argus_node::directory`).
    let mut directory = ContractDirectory::default();
    for contract in &contracts {
        if let Some(deployment) = &contract.deployment {
            let mut abi = contract.abi.clone();
            if let Some(implementation) = contracts.iter().find(|c| {
                contract.implementation.is_some_and(|address| {
                    c.deployment
                        .as_ref()
                        .is_some_and(|d| d.chain == deployment.chain && d.address == address)
                })
            }) {
                argus_node::directory::merge(&mut abi, &implementation.abi);
            }
            directory.entries.push(ContractEntry {
                chain: deployment.chain,
                address: deployment.address,
                label: contract.label.clone(),
                tags: contract.tags.iter().cloned().collect(),
                abi,
            });
        }
    }
    let source = paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    // Labels go into rule files: they pass the registry's rules first (no
    // blanks, control or bidi characters), as an import would require.
    for entry in &directory.entries {
        argus_registry::validate_label(&entry.label)?;
    }
    if directory.entries.is_empty() {
        bail!(
            "{source}: no deployment found (a Foundry broadcast or hardhat-deploy deployments); \
             import the deployed contracts with `argus registry import` and run `argus init` \
             without a path to start from the registry"
        );
    }
    let facts = crate::cmd::lint::contract_facts(paths)?;
    Ok((directory, facts, source, ".argus".to_owned()))
}

/// Whether an ABI item's name is a Solidity identifier: an ABI is a file
/// from outside, and a name that is not one is left out of the rules
/// rather than written into YAML and comments.
fn is_identifier(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
}

/// A YAML double-quoted scalar (JSON's string syntax is YAML's).
fn quoted(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| "\"\"".to_owned())
}

/// A rule id from parts: lower case, `[a-z0-9-]`.
fn rule_id(parts: &[&str]) -> String {
    let mut id = String::new();
    for part in parts {
        let mut previous_lower = false;
        if !id.is_empty() {
            id.push('-');
        }
        for c in part.chars() {
            if c.is_ascii_uppercase() && previous_lower {
                id.push('-');
            }
            if c.is_ascii_alphanumeric() {
                id.push(c.to_ascii_lowercase());
                previous_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
            } else {
                if !id.ends_with('-') {
                    id.push('-');
                }
                previous_lower = false;
            }
        }
    }
    id.trim_matches('-').to_owned()
}

/// Ids made unique within a file.
#[derive(Default)]
struct Ids(BTreeSet<String>);

impl Ids {
    fn take(&mut self, id: String) -> String {
        let mut candidate = id.clone();
        let mut n = 2;
        while !self.0.insert(candidate.clone()) {
            candidate = format!("{id}-{n}");
            n += 1;
        }
        candidate
    }
}

fn header(out: &mut String, what: &str, source: &str) {
    let _ = writeln!(
        out,
        "# {what}\n# Written by `argus init` from {} on {}. Edit freely: it is a start.\n",
        source.replace('\n', " "),
        jiff::Timestamp::now().strftime("%Y-%m-%d")
    );
}

fn config_text(directory: &ContractDirectory, source: &str, data_dir: &str) -> String {
    let mut out = String::new();
    header(&mut out, "Argus config.", source);
    let chains: BTreeSet<u64> = directory.entries.iter().map(|e| e.chain.0).collect();
    let _ = writeln!(
        out,
        "# The registry (contracts, labels, ABIs), alerts and history live here.\ndata_dir: {}\n",
        quoted(data_dir)
    );
    let _ = writeln!(
        out,
        "# The chains the deployments are on. REPLACE the RPC URL with your nodes\n\
         # (several, for failover; a ws:// URL beside an http:// one for new heads)."
    );
    out.push_str("chains:\n");
    for chain in chains {
        let _ = writeln!(
            out,
            "  - chain: {}\n    rpc: [http://127.0.0.1:8545]\n    confirmations: 2",
            ChainId(chain).name()
        );
    }
    out.push_str(
        "\n# privileged.yaml: control events and privileged functions (keep);\n\
         # events.yaml: every other event at info (narrow or drop);\n\
         # bots.yaml: the procedure's thresholds for the bots' wallets.\n\
         rules:\n  - rules/privileged.yaml\n  - rules/events.yaml\n  - rules/bots.yaml\n",
    );
    out
}

fn privileged_rules(
    directory: &ContractDirectory,
    facts: &[ContractFacts],
    source: &str,
) -> String {
    let mut out = String::new();
    header(
        &mut out,
        "Who controls the contracts: ownership, roles, upgrades, pauses, and every\n# privileged function.",
        source,
    );
    out.push_str("rules:\n");
    let mut ids = Ids::default();
    let mut written = 0usize;
    // One rule per (label, item): a label deployed on several chains is one rule.
    let mut seen_labels = BTreeSet::new();
    for entry in &directory.entries {
        if !seen_labels.insert(entry.label.clone()) {
            continue;
        }
        let label = &entry.label;
        let mut watched_topics: BTreeMap<B256, String> = BTreeMap::new();
        for (name, severity, why) in CONTROL_EVENTS {
            let Some(events) = entry.abi.events.get(*name) else {
                continue;
            };
            for event in events.iter().filter(|e| !e.anonymous) {
                let signature = event.signature();
                if !is_identifier(&event.name) {
                    continue;
                }
                let id = ids.take(rule_id(&[label, name]));
                watched_topics.insert(event.selector(), signature.clone());
                let _ = writeln!(
                    out,
                    "  # {label}: {why}. Expected only in a planned change; anything else is an incident.\n  \
                     - id: {id}\n    description: {}\n    severity: {severity}\n    match:\n      \
                     event: {{ contract: {}, signature: {} }}\n    title: {}\n",
                    quoted(&format!("{label}: {why}")),
                    quoted(label),
                    quoted(&signature),
                    quoted(&format!(
                        "{name} on {{{{contract.label}}}} in {{{{tx.hash}}}}"
                    )),
                );
                written += 1;
            }
        }
        let contract_facts = facts.iter().find(|f| f.name == *label);
        for function in entry.abi.functions() {
            if !argus_coverage::is_state_changing(function) || !is_identifier(&function.name) {
                continue;
            }
            let selector = function.selector();
            let fact = contract_facts
                .and_then(|c| c.functions.iter().find(|f| f.selector == Some(selector)));
            let (privileged, judged, emitted): (bool, String, Vec<B256>) = match fact {
                Some(fact) => (
                    fact.privileged,
                    // Modifier names come from the AST, a file from outside.
                    format!("guarded by {}", output::escape(&fact.guards.join(", "))),
                    fact.events.clone(),
                ),
                None => (
                    argus_coverage::privileged_by_name(&function.name),
                    "privileged by its name (no AST)".to_owned(),
                    argus_coverage::standard_events(&function.name)
                        .iter()
                        .flat_map(|n| entry.abi.events.get(*n).into_iter().flatten())
                        .map(|e| e.selector())
                        .collect(),
                ),
            };
            if !privileged {
                continue;
            }
            let signature = function.signature();
            if let Some(event) = emitted.iter().find_map(|t| watched_topics.get(t)) {
                let _ = writeln!(
                    out,
                    "  # {label}.{signature}, {judged}, is watched through the rule on {event} above.\n"
                );
                continue;
            }
            let id = ids.take(rule_id(&[label, "call", &function.name]));
            let _ = writeln!(
                out,
                "  # {label}.{signature}: {judged}. A call rule sees top-level calls only: a call\n  \
                 # through a multisig or timelock is not seen; an event the function emits is better.\n  \
                 - id: {id}\n    description: {}\n    severity: high\n    match:\n      \
                 call: {{ contract: {}, function: {} }}\n    title: {}\n",
                quoted(&format!("privileged {signature} called on {label}")),
                quoted(label),
                quoted(&signature),
                quoted(&format!(
                    "{signature} called on {{{{contract.label}}}} by {{{{tx.from}}}}"
                )),
            );
            written += 1;
        }
    }
    if written == 0 {
        out.push_str("  []\n");
        out = out.replace("rules:\n  []\n", "rules: []\n");
    }
    out
}

fn event_rules(directory: &ContractDirectory, source: &str) -> String {
    let mut out = String::new();
    header(
        &mut out,
        "Every other event of each contract, at info: each occurrence alerts.\n# Add a `condition:` (a large transfer, an unknown sender) or delete the rule.",
        source,
    );
    out.push_str("rules:\n");
    let mut ids = Ids::default();
    let mut written = 0usize;
    let mut seen_labels = BTreeSet::new();
    for entry in &directory.entries {
        if !seen_labels.insert(entry.label.clone()) {
            continue;
        }
        for event in entry
            .abi
            .events()
            .filter(|e| !e.anonymous && is_identifier(&e.name))
        {
            if CONTROL_EVENTS
                .iter()
                .any(|(name, _, _)| *name == event.name)
            {
                continue;
            }
            let label = &entry.label;
            let signature = event.signature();
            let id = ids.take(rule_id(&[label, &event.name]));
            let _ = writeln!(
                out,
                "  # {label} emitted {}.\n  - id: {id}\n    severity: info\n    match:\n      \
                 event: {{ contract: {}, signature: {} }}\n    title: {}\n",
                event.name,
                quoted(label),
                quoted(&signature),
                quoted(&format!("{} on {{{{contract.label}}}}", event.name)),
            );
            written += 1;
        }
    }
    if written == 0 {
        out = out.replace("rules:\n", "rules: []\n");
    }
    out
}

fn bot_rules(wallets: &[alloy_primitives::Address]) -> String {
    let mut out = String::from(
        "# The MEV-bot procedure's thresholds, as it writes them, for the bots' wallets.\n\
         # Written by `argus init`. failed_transactions and gas_price_spike read the\n\
         # wallets' transactions; authentication_failures, network_latency and\n\
         # memory_usage read signals: enable them once `signals:` sources feed them\n\
         # (see the README's signals section).\n",
    );
    if wallets.is_empty() {
        out.push_str(
            "# No --wallet was given: add the bots' addresses under `wallets:` and\n\
             # uncomment the thresholds.\n\
             rules: []\n\
             # thresholds:\n\
             #   failed_transactions: \">5 in 5 minutes\"\n\
             #   gas_price_spike: \">200% of normal\"\n\
             # wallets: [\"0x…\"]\n",
        );
        return out;
    }
    out.push_str(
        "rules: []\nthresholds:\n  failed_transactions: \">5 in 5 minutes\"\n  \
         gas_price_spike: \">200% of normal\"\n  \
         # authentication_failures: \">3 in 1 minute\"\n  \
         # network_latency: \">5 seconds\"\n  \
         # memory_usage: \">90% for 1 minute\"\nwallets:\n",
    );
    for wallet in wallets {
        let _ = writeln!(out, "  - {}", quoted(&wallet.to_checksum(None)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_kebab_case_and_unique() {
        assert_eq!(
            rule_id(&["Token", "OwnershipTransferred"]),
            "token-ownership-transferred"
        );
        assert_eq!(
            rule_id(&["ERC1967Proxy", "call", "upgradeTo"]),
            "erc1967-proxy-call-upgrade-to"
        );
        let mut ids = Ids::default();
        assert_eq!(ids.take("a".into()), "a");
        assert_eq!(ids.take("a".into()), "a-2");
    }

    #[test]
    fn only_identifiers_make_rules() {
        assert!(is_identifier("setFee") && is_identifier("_x$1"));
        assert!(!is_identifier("a\n  - id: evil") && !is_identifier("1x") && !is_identifier(""));
    }

    #[test]
    fn quoting_is_yaml_safe() {
        assert_eq!(quoted("a: #b\"c"), "\"a: #b\\\"c\"");
    }
}
