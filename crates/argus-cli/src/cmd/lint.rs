//! `argus lint`: the united-interface check over the registry, over files, or
//! both.
//!
//! What is linted: the registry when no path is given (or with `--registry`);
//! every ABI-bearing file under the given paths (Foundry and Hardhat output,
//! hardhat-deploy deployments, Foundry broadcasts, plain ABIs); plain-text
//! signature lists (`*.txt`, one `name(types)` a line) as part of the
//! infrastructure; and `--reference` lists that the infrastructure is checked
//! against without linting them.
//!
//! A signature list is what a database publishes, and a real dump holds
//! lines that are not signatures (HTML debris, truncated entries, types no
//! compiler knows). Those lines are skipped, counted, and the first few named
//! with their line numbers on stderr, so an 800,000-line dump lints instead
//! of being refused for 13 lines; `--strict` refuses such a list instead
//! (exit 2), for a list the user maintains and wants kept clean.
//!
//! Build output that carries the compiler's AST (Foundry with `ast = true`,
//! Hardhat's `build-info`) is also checked for the events requirement:
//! `function-without-event`, a warning for each external state-changing
//! function of the project's own contracts that emits no event on any path.
//!
//! Exit status: 0 when no error-level finding remains, 1 when one does, 2 when
//! the input could not be read.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context as _, bail};
use argus_abi::ast::{AstIndex, ContractFacts, is_dependency_source};
use argus_abi::lint::{AllowList, Level, LintOptions};
use argus_abi::report::{render_human, render_json, render_sarif};
use argus_abi::{
    InterfaceSet, ItemKind, Origin, Role, SilentFunction, SourceId, lint_with_functions,
    parse_signature_list,
};
use argus_core::ChainId;
use argus_core::file::{MAX_SIGNATURE_LIST_BYTES, read_capped, read_to_string_capped};
use argus_registry::{Contract, ImportHints, load_compilations, load_paths};

use crate::{GlobalArgs, output};

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Format {
    Human,
    Json,
    Sarif,
}

#[derive(Debug, clap::Args)]
pub(crate) struct LintArgs {
    /// ABI files, build or deployment folders, or signature lists (`.txt`).
    /// Without paths, the registry is linted.
    pub(crate) paths: Vec<PathBuf>,
    /// Lint the registry too, with the paths.
    #[arg(long)]
    pub(crate) registry: bool,
    /// A signature list to check the infrastructure against (a signature
    /// database, known phishing selectors); collisions inside it are ignored.
    #[arg(long, value_name = "FILE")]
    pub(crate) reference: Vec<PathBuf>,
    /// Accepted findings (YAML: `allow: [{rule, key, reason}]`).
    #[arg(long, value_name = "FILE", env = "ARGUS_LINT_ALLOW")]
    pub(crate) allow: Option<PathBuf>,
    /// Report findings at this level and above.
    #[arg(long, value_name = "LEVEL", default_value = "note")]
    pub(crate) severity: Level,
    /// Output format.
    #[arg(long, value_enum, default_value = "human")]
    pub(crate) format: Format,
    /// Shorthand for `--format json`.
    #[arg(long, conflicts_with_all = ["format", "sarif"])]
    pub(crate) json: bool,
    /// Shorthand for `--format sarif`.
    #[arg(long, conflicts_with = "format")]
    pub(crate) sarif: bool,
    /// Write the report to this file instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    pub(crate) output: Option<PathBuf>,
    /// Do not check against the bundled standard interfaces.
    #[arg(long)]
    pub(crate) no_standard: bool,
    /// Locations listed per signature (the rest are counted).
    #[arg(long, default_value_t = 5)]
    pub(crate) max_locations: usize,
    /// Chain for plain ABIs and hardhat-deploy networks without `.chainId`.
    #[arg(long)]
    pub(crate) chain: Option<String>,
    /// Accept chain ids alloy does not know (private networks).
    #[arg(long)]
    pub(crate) allow_unknown_chain: bool,
    /// Refuse a signature list (or a --reference list) holding lines that are
    /// not signatures, instead of skipping them (exit 2).
    #[arg(long)]
    pub(crate) strict: bool,
}

pub(crate) fn run(global: &GlobalArgs, args: LintArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let format = if args.json {
        Format::Json
    } else if args.sarif {
        Format::Sarif
    } else {
        args.format
    };
    let allow = match &args.allow {
        Some(path) => {
            let text = read_to_string_capped(path, MAX_SIGNATURE_LIST_BYTES, "allow-list")?;
            AllowList::parse(&text).with_context(|| format!("{}", path.display()))?
        }
        None => AllowList::default(),
    };

    let mut set = InterfaceSet::new();
    if args.paths.is_empty() || args.registry {
        add_registry(global, &mut set)?;
    }
    add_paths(&args, &mut set)?;
    for path in &args.reference {
        add_list(path, Role::Reference, args.strict, &mut set)?;
    }
    let silent = silent_functions(&args.paths)?;
    if set.is_empty() && silent.is_empty() {
        bail!(
            "nothing to lint: the registry in {} is empty and no file was given; import \
             contracts with `argus registry import <path>` or pass ABI files",
            global.data_dir.display()
        );
    }
    tracing::info!(
        "loaded {} interfaces in {:.2?}",
        set.len(),
        started.elapsed()
    );

    let options = LintOptions {
        standard_interfaces: !args.no_standard,
        allow,
        min_level: args.severity,
        max_locations: if format == Format::Human {
            args.max_locations.max(1)
        } else {
            500
        },
    };
    let report = lint_with_functions(&set, &silent, &options);
    tracing::info!("linted in {:.2?}", started.elapsed());

    let rendered = match format {
        Format::Human => render_human(&report, args.max_locations),
        Format::Json => render_json(&report) + "\n",
        Format::Sarif => render_sarif(&report) + "\n",
    };
    match &args.output {
        Some(path) => {
            fs::write(path, rendered)
                .with_context(|| format!("cannot write the report to {}", path.display()))?;
            sh_eprintln!(
                "{} errors, {} warnings, {} notes; report written to {}",
                report.count(Level::Error),
                report.count(Level::Warning),
                report.count(Level::Note),
                path.display()
            );
        }
        None => match format {
            Format::Human => output::stdout_text(&rendered)?,
            Format::Json | Format::Sarif => output::json_text(&rendered)?,
        },
    }
    Ok(if report.has_errors() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn add_registry(global: &GlobalArgs, set: &mut InterfaceSet) -> anyhow::Result<()> {
    let Some(contracts) = crate::cmd::registry::lint_sources(global)? else {
        return Ok(());
    };
    add_contracts(contracts, set);
    Ok(())
}

/// What the AST in the build output under `paths` says of each deployable
/// contract of the project (dependencies, tests and scripts left out).
/// Empty when no file carries an AST.
pub(crate) fn contract_facts(paths: &[PathBuf]) -> anyhow::Result<Vec<ContractFacts>> {
    let paths: Vec<&Path> = paths
        .iter()
        .map(PathBuf::as_path)
        .filter(|p| !is_signature_list(p))
        .collect();
    if paths.is_empty() {
        return Ok(Vec::new());
    }
    let compilations = load_compilations(paths.iter().copied())
        .map_err(|errors| anyhow::anyhow!("{errors}\nfix the files above or leave them out"))?;
    let mut facts: Vec<ContractFacts> = Vec::new();
    for compilation in &compilations {
        for contract in AstIndex::new(compilation).contracts() {
            if is_dependency_source(&contract.source)
                || facts
                    .iter()
                    .any(|c| c.name == contract.name && c.source == contract.source)
            {
                continue;
            }
            facts.push(contract);
        }
    }
    Ok(facts)
}

fn silent_functions(paths: &[PathBuf]) -> anyhow::Result<Vec<SilentFunction>> {
    let facts = contract_facts(paths)?;
    if facts.is_empty() && !paths.is_empty() {
        tracing::info!(
            "no build output with the compiler's AST among the paths: function-without-event \
             needs Foundry's `ast = true` or Hardhat's build-info"
        );
    }
    Ok(facts
        .iter()
        .flat_map(|contract| {
            contract.silent_functions().map(|f| SilentFunction {
                contract: contract.name.clone(),
                signature: f.signature.clone(),
                source: f.source.clone(),
                line: f.line,
            })
        })
        .collect())
}

/// Whether a path is read as a signature list rather than JSON.
fn is_signature_list(path: &Path) -> bool {
    path.is_file()
        && matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("txt" | "sigs" | "signatures")
        )
}

fn add_paths(args: &LintArgs, set: &mut InterfaceSet) -> anyhow::Result<()> {
    let (lists, others): (Vec<&PathBuf>, Vec<&PathBuf>) =
        args.paths.iter().partition(|p| is_signature_list(p));
    for path in &others {
        if !path.exists() {
            bail!("{}: no such file or directory", path.display());
        }
    }
    if !others.is_empty() {
        let hints = ImportHints {
            chain: args
                .chain
                .as_deref()
                .map(|c| ChainId::parse(c, args.allow_unknown_chain))
                .transpose()?,
            allow_unknown_chain: args.allow_unknown_chain,
            ..ImportHints::default()
        };
        let contracts =
            load_paths(others.iter().map(|p| p.as_path()), &hints).map_err(|errors| {
                anyhow::anyhow!(
                    "{errors}\nnothing was linted; fix the files above or leave them out"
                )
            })?;
        add_contracts(contracts, set);
    }
    for path in lists {
        add_list(path, Role::SignatureList, args.strict, set)?;
    }
    Ok(())
}

/// Adds contracts, linking each proxy to its implementation when both are
/// present.
pub(crate) fn add_contracts(contracts: Vec<Contract>, set: &mut InterfaceSet) {
    let mut by_address: HashMap<(ChainId, alloy_primitives::Address), SourceId> = HashMap::new();
    let mut links = Vec::new();
    for contract in contracts {
        let mut origin =
            Origin::labelled(contract.label.clone()).with_path(contract.source.path.clone());
        if let Some(deployment) = contract.deployment {
            origin = origin.deployed_at(deployment.chain, deployment.address);
        }
        let id = set.add_contract(origin, contract.abi);
        if let Some(deployment) = contract.deployment {
            by_address.insert((deployment.chain, deployment.address), id);
            if let Some(implementation) = contract.implementation {
                links.push((id, deployment.chain, implementation));
            }
        }
    }
    for (proxy, chain, implementation) in links {
        match by_address.get(&(chain, implementation)) {
            Some(&target) => set.link_proxy(proxy, target),
            None => tracing::warn!(
                "the implementation {implementation} of a proxy on chain {chain} is not among the \
                 linted contracts; its selectors are not checked against the proxy"
            ),
        }
    }
}

/// Bad lines named on stderr when a list is skipped through; the rest are
/// counted.
const SHOWN_BAD_LINES: usize = 5;
/// Bad lines named when `--strict` refuses a list.
const SHOWN_BAD_LINES_STRICT: usize = 20;

fn add_list(path: &Path, role: Role, strict: bool, set: &mut InterfaceSet) -> anyhow::Result<()> {
    let started = Instant::now();
    let bytes = read_capped(path, MAX_SIGNATURE_LIST_BYTES, "signature list")?;
    let text = String::from_utf8_lossy(&bytes);
    let (list, errors) = parse_signature_list(&text, ItemKind::Function);
    if !errors.is_empty() {
        let named = |most: usize| -> String {
            let mut lines: Vec<String> = errors
                .iter()
                .take(most)
                .map(|e| format!("  {}:{}: {}", path.display(), e.line, e.reason))
                .collect();
            let more = errors.len().saturating_sub(most);
            if more > 0 {
                lines.push(format!("  … and {more} more"));
            }
            lines.join("\n")
        };
        let what = match role {
            Role::Reference => "the reference list ",
            _ => "",
        };
        let count = errors.len();
        let plural = if count == 1 { "" } else { "s" };
        if list.is_empty() {
            bail!(
                "{what}{} holds no signature: none of its {count} line{plural} is one:\n{}\n\
                 nothing was linted",
                path.display(),
                named(SHOWN_BAD_LINES)
            );
        }
        if strict {
            bail!(
                "{what}{} has {count} line{plural} that {} not signatures (--strict):\n{}\n\
                 nothing was linted; fix or delete those lines, or drop --strict to skip them",
                path.display(),
                if count == 1 { "is" } else { "are" },
                named(SHOWN_BAD_LINES_STRICT)
            );
        }
        sh_eprintln!(
            "warning: skipped {count} line{plural} of {what}{} that {} not signatures \
             ({} signatures read; --strict refuses such a list):\n{}",
            path.display(),
            if count == 1 { "is" } else { "are" },
            list.len(),
            named(SHOWN_BAD_LINES)
        );
    }
    tracing::info!(
        "read {} signatures from {} in {:.2?}",
        list.len(),
        path.display(),
        started.elapsed()
    );
    set.add_signature_list(Origin::file(path), list, role);
    Ok(())
}
