//! `argus registry …`: import contracts from build and deployment files, list,
//! show, relabel, tag, link proxies, remove (soft) and export.
//!
//! stdout carries the result (a table, a summary, a JSON document); notices
//! and errors go to stderr. Every subcommand takes `--json`.
//!
//! Exit status: 0 on success; 2 when the input could not be read (an import
//! with any bad file writes nothing and exits 2) or the target is unknown.

use std::collections::BTreeSet;
use std::fs;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use argus_core::{ChainId, parse_address};
use argus_registry::{
    Contract, Entry, ImportHints, ImportOptions, ImportSummary, ListFilter, Registry, Scope,
    SourceFormat, load_paths,
};
use serde_json::{Value, json};

use super::registry_show::{ShowArgs, show};
use crate::{GlobalArgs, output};

#[derive(Debug, clap::Subcommand)]
pub(crate) enum RegistryCommand {
    /// Import contracts from files or folders: Foundry broadcasts and `out/`,
    /// Hardhat artifacts, hardhat-deploy `deployments/`, plain ABI JSON.
    /// All or nothing: any bad file is reported and nothing is written.
    Import(ImportArgs),
    /// List registry entries.
    List(ListArgs),
    /// Show one entry: its versions, functions, events and errors with
    /// selectors.
    Show(ShowArgs),
    /// Give an entry a new label (unique per chain).
    Label(LabelArgs),
    /// Add tags to an entry (or remove them with --remove).
    Tag(TagArgs),
    /// Record that a proxy's implementation is another contract or address on
    /// the same chain.
    Link(LinkArgs),
    /// Remove an entry: hidden from list, export and lint, but kept in the
    /// database with its history; importing it again brings it back.
    Remove(RemoveArgs),
    /// Export the registry as one JSON document (`argus-registry/1`).
    Export(ExportArgs),
    /// Print the change feed (what was added, changed, removed).
    Changes(ChangesArgs),
    /// Register a planned deterministic deployment (CREATE with a nonce,
    /// CREATE2, CreateX) before it exists: `argus run` alerts when code
    /// appears there, critically when its hash is not the expected one.
    Plan(super::registry_plan::PlanArgs),
}

/// Which file format to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum FormatArg {
    Auto,
    FoundryBroadcast,
    FoundryArtifact,
    HardhatArtifact,
    HardhatDeploy,
    Abi,
}

impl FormatArg {
    fn source_format(self) -> Option<SourceFormat> {
        match self {
            Self::Auto => None,
            Self::FoundryBroadcast => Some(SourceFormat::FoundryBroadcast),
            Self::FoundryArtifact => Some(SourceFormat::FoundryArtifact),
            Self::HardhatArtifact => Some(SourceFormat::HardhatArtifact),
            Self::HardhatDeploy => Some(SourceFormat::HardhatDeploy),
            Self::Abi => Some(SourceFormat::Abi),
        }
    }
}

#[derive(Debug, clap::Args)]
pub(crate) struct ImportArgs {
    /// Files or folders (folders are walked; node_modules, lib, cache and
    /// dot-folders are skipped).
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Read the files as this format instead of detecting it.
    #[arg(long, value_enum, default_value = "auto")]
    format: FormatArg,
    /// Chain (name or id) for plain ABIs and hardhat-deploy networks without
    /// `.chainId`.
    #[arg(long)]
    chain: Option<String>,
    /// Address of the one ABI or artifact imported (needs --chain).
    #[arg(long)]
    address: Option<String>,
    /// Label of the one ABI or artifact imported (default: the file name).
    #[arg(long)]
    label: Option<String>,
    /// Implementation behind --address, when it is a proxy.
    #[arg(long)]
    implementation: Option<String>,
    /// Tag every imported contract (repeatable).
    #[arg(long = "tag")]
    tags: Vec<String>,
    /// Where a Foundry broadcast's ABIs are (default: `out/` beside `broadcast/`).
    #[arg(long, value_name = "DIR")]
    artifacts: Option<PathBuf>,
    /// Accept chain ids alloy does not know (private networks).
    #[arg(long)]
    allow_unknown_chain: bool,
    /// Show what would change and write nothing.
    #[arg(long)]
    dry_run: bool,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
}

/// How a label or address is narrowed down.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct ScopeArgs {
    /// The chain (name or id) of the entry.
    #[arg(long)]
    chain: Option<String>,
    /// Look among artifacts (interfaces without a deployment) only.
    #[arg(long, conflicts_with = "chain")]
    artifact: bool,
}

impl ScopeArgs {
    pub(super) fn scope(&self) -> anyhow::Result<Scope> {
        if self.artifact {
            return Ok(Scope::Artifacts);
        }
        // Looking up never files anything, so unknown chain ids are fine here.
        Ok(match &self.chain {
            Some(chain) => Scope::Chain(ChainId::parse(chain, true)?),
            None => Scope::Any,
        })
    }
}

#[derive(Debug, clap::Args)]
pub(crate) struct ListArgs {
    /// Only deployments on this chain.
    #[arg(long)]
    chain: Option<String>,
    /// Only entries with this tag.
    #[arg(long)]
    tag: Option<String>,
    /// Include removed entries.
    #[arg(long)]
    all: bool,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub(crate) struct LabelArgs {
    /// A label or an address.
    target: String,
    /// The new label.
    new_label: String,
    #[command(flatten)]
    scope: ScopeArgs,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub(crate) struct TagArgs {
    /// A label or an address.
    target: String,
    /// Tags to add (or remove).
    #[arg(required = true)]
    tags: Vec<String>,
    /// Remove the tags instead.
    #[arg(long)]
    remove: bool,
    #[command(flatten)]
    scope: ScopeArgs,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub(crate) struct LinkArgs {
    /// The proxy: a label or an address.
    proxy: String,
    /// The implementation: a label or address of an entry on the proxy's
    /// chain, or any address.
    implementation: String,
    /// The proxy's chain.
    #[arg(long)]
    chain: Option<String>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub(crate) struct RemoveArgs {
    /// A label or an address.
    target: String,
    #[command(flatten)]
    scope: ScopeArgs,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub(crate) struct ExportArgs {
    /// Include every ABI version of each entry.
    #[arg(long)]
    all_versions: bool,
    /// Write to this file instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Accepted for symmetry: the export is always JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub(crate) struct ChangesArgs {
    /// Only changes after this id.
    #[arg(long, default_value_t = 0)]
    since: i64,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(global: &GlobalArgs, command: RegistryCommand) -> anyhow::Result<ExitCode> {
    match command {
        RegistryCommand::Import(args) => import(global, args),
        RegistryCommand::List(args) => list(global, args),
        RegistryCommand::Show(args) => show(global, args),
        RegistryCommand::Label(args) => {
            let mut registry = open(global)?;
            let entry = registry.set_label(&args.target, args.scope.scope()?, &args.new_label)?;
            print_entry_result(
                &entry,
                args.json,
                &format!("labelled {}", output::escaped(entry.describe())),
            )
        }
        RegistryCommand::Tag(args) => {
            let mut registry = open(global)?;
            let scope = args.scope.scope()?;
            let entry = if args.remove {
                registry.remove_tags(&args.target, scope, &args.tags)?
            } else {
                registry.add_tags(&args.target, scope, &args.tags)?
            };
            let tags = entry.tags.iter().cloned().collect::<Vec<_>>().join(", ");
            print_entry_result(
                &entry,
                args.json,
                &format!(
                    "{}: tags [{}]",
                    output::escaped(entry.describe()),
                    output::escaped(tags)
                ),
            )
        }
        RegistryCommand::Link(args) => {
            let mut registry = open(global)?;
            let scope = match &args.chain {
                Some(chain) => Scope::Chain(ChainId::parse(chain, true)?),
                None => Scope::Any,
            };
            let entry = registry.link_implementation(&args.proxy, &args.implementation, scope)?;
            let implementation = entry
                .implementation
                .map(|a| a.to_checksum(None))
                .unwrap_or_default();
            print_entry_result(
                &entry,
                args.json,
                &format!(
                    "{} → implementation {implementation}",
                    output::escaped(entry.describe())
                ),
            )
        }
        RegistryCommand::Remove(args) => {
            let mut registry = open(global)?;
            let entry = registry.remove(&args.target, args.scope.scope()?)?;
            print_entry_result(
                &entry,
                args.json,
                &format!(
                    "removed {} (kept in the database; re-import to restore)",
                    output::escaped(entry.describe())
                ),
            )
        }
        RegistryCommand::Export(args) => export(global, args),
        RegistryCommand::Changes(args) => changes(global, args),
        RegistryCommand::Plan(args) => super::registry_plan::plan(global, args),
    }
}

/// The live registry entries for `argus lint`, or `None` when there is no
/// registry in the data directory yet (it is not created just to be read).
pub(crate) fn lint_sources(global: &GlobalArgs) -> anyhow::Result<Option<Vec<Contract>>> {
    if !crate::stores::exists(&global.data_dir) {
        return Ok(None);
    }
    let registry = open_read_only(global)?;
    Ok(Some(registry.contracts()?))
}

fn open(global: &GlobalArgs) -> anyhow::Result<Registry> {
    Ok(crate::stores::registry(&global.data_dir)?)
}

/// For the subcommands that only read: creates nothing (a mistyped
/// --data-dir is named, not made) and works on a directory the user may
/// read but not write.
pub(super) fn open_read_only(global: &GlobalArgs) -> anyhow::Result<Registry> {
    Ok(crate::stores::registry_read_only(&global.data_dir)?)
}

/// A text result on stdout, ending in a newline.
pub(super) fn out(text: &str) -> anyhow::Result<()> {
    if text.ends_with('\n') {
        output::stdout_text(text)
    } else {
        sh_println!("{text}")
    }
}

fn import(global: &GlobalArgs, args: ImportArgs) -> anyhow::Result<ExitCode> {
    let chain = args
        .chain
        .as_deref()
        .map(|c| ChainId::parse(c, args.allow_unknown_chain))
        .transpose()
        .context("--chain")?;
    let address = args
        .address
        .as_deref()
        .map(parse_address)
        .transpose()
        .context("--address")?;
    let implementation = args
        .implementation
        .as_deref()
        .map(parse_address)
        .transpose()
        .context("--implementation")?;
    if let Some(label) = &args.label {
        argus_registry::validate_label(label)?;
    }
    let hints = ImportHints {
        format: args.format.source_format(),
        chain,
        address,
        label: args.label.clone(),
        implementation,
        tags: args.tags.iter().cloned().collect::<BTreeSet<_>>(),
        artifacts_dir: args.artifacts.clone(),
        allow_unknown_chain: args.allow_unknown_chain,
    };
    let contracts = match load_paths(args.paths.iter().map(PathBuf::as_path), &hints) {
        Ok(contracts) => contracts,
        Err(errors) => {
            for error in &errors.errors {
                sh_eprintln!("error: {error}");
            }
            let count = errors.errors.len();
            sh_eprintln!(
                "{count} problem{} found; nothing was imported",
                if count == 1 { "" } else { "s" }
            );
            return Ok(ExitCode::from(2));
        }
    };
    if contracts.is_empty() {
        sh_eprintln!("notice: no contract found under the given paths");
    }
    let mut registry = open(global)?;
    let summary = registry.import(
        &contracts,
        ImportOptions {
            dry_run: args.dry_run,
        },
    )?;
    for notice in &summary.notices {
        sh_eprintln!("notice: {}", output::escaped(notice));
    }
    if args.dry_run {
        sh_eprintln!("dry run: nothing was written");
    }
    if args.json {
        output::json_pretty(&summary_json(&summary))?;
    } else {
        out(&summary_text(&summary))?;
    }
    Ok(ExitCode::SUCCESS)
}

fn summary_json(summary: &ImportSummary) -> Value {
    json!({
        "added": summary.added(),
        "new_versions": summary.new_versions(),
        "unchanged": summary.unchanged(),
        "revived": summary.revived(),
        "dry_run": summary.dry_run,
        "notices": summary.notices,
        "contracts": summary.outcomes.iter().map(|o| json!({
            "status": o.status,
            "label": o.label,
            "kind": o.kind,
            "chain_id": o.chain.map(|c| c.0),
            "chain": o.chain.map(ChainId::name),
            "address": o.address.map(|a| a.to_checksum(None)),
            "abi_version": o.abi_version,
            "source": o.source,
        })).collect::<Vec<_>>(),
    })
}

fn summary_text(summary: &ImportSummary) -> String {
    let rows: Vec<Vec<String>> = summary
        .outcomes
        .iter()
        .map(|o| {
            vec![
                o.status.to_string(),
                o.chain.map(ChainId::name).unwrap_or_else(|| "-".into()),
                o.address
                    .map(|a| a.to_checksum(None))
                    .unwrap_or_else(|| "-".into()),
                o.label.clone(),
                format!("v{}", o.abi_version),
                o.source.path.display().to_string(),
            ]
        })
        .collect();
    let mut text = table(
        &["STATUS", "CHAIN", "ADDRESS", "LABEL", "ABI", "SOURCE"],
        &rows,
    );
    text.push_str(&format!(
        "{} added, {} new versions, {} unchanged, {} revived\n",
        summary.added(),
        summary.new_versions(),
        summary.unchanged(),
        summary.revived()
    ));
    text
}

fn list(global: &GlobalArgs, args: ListArgs) -> anyhow::Result<ExitCode> {
    let registry = open_read_only(global)?;
    let filter = ListFilter {
        chain: args
            .chain
            .as_deref()
            .map(|c| ChainId::parse(c, true))
            .transpose()?,
        tag: args.tag.clone(),
        include_removed: args.all,
    };
    let entries = registry.list(&filter)?;
    let plans: std::collections::HashMap<i64, argus_registry::onchain::Planned> = registry
        .planned()?
        .into_iter()
        .map(|p| (p.entry_id, p))
        .collect();
    if args.json {
        let items: Vec<Value> = entries
            .iter()
            .map(|e| {
                let mut item = entry_json(e);
                if let (Some(plan), Value::Object(map)) = (plans.get(&e.id), &mut item) {
                    map.insert(
                        "planned".to_owned(),
                        super::registry_plan::planned_json(plan),
                    );
                }
                item
            })
            .collect();
        return output::json_pretty(&json!({ "contracts": items })).map(|()| ExitCode::SUCCESS);
    }
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|e| {
            let mut label = e.label.clone();
            if e.removed_at.is_some() {
                label.push_str(" (removed)");
            }
            vec![
                e.chain.map(ChainId::name).unwrap_or_else(|| "-".into()),
                e.address
                    .map(|a| a.to_checksum(None))
                    .unwrap_or_else(|| "-".into()),
                label,
                match plans.get(&e.id).map(|p| p.status) {
                    Some(argus_registry::onchain::PlannedStatus::Planned) => "planned".to_owned(),
                    Some(argus_registry::onchain::PlannedStatus::Deployed) => {
                        "deployment (planned)".to_owned()
                    }
                    None => e.kind.to_string(),
                },
                format!("v{}", e.abi_version),
                e.tags.iter().cloned().collect::<Vec<_>>().join(","),
                e.implementation
                    .map(|a| a.to_checksum(None))
                    .unwrap_or_default(),
            ]
        })
        .collect();
    if rows.is_empty() {
        sh_eprintln!(
            "the registry has no entries{}",
            if args.all {
                ""
            } else {
                " (add --all to include removed ones)"
            }
        );
        return Ok(ExitCode::SUCCESS);
    }
    out(&table(
        &[
            "CHAIN",
            "ADDRESS",
            "LABEL",
            "KIND",
            "ABI",
            "TAGS",
            "IMPLEMENTATION",
        ],
        &rows,
    ))?;
    Ok(ExitCode::SUCCESS)
}

pub(super) fn entry_json(entry: &Entry) -> Value {
    json!({
        "id": entry.id,
        "chain_id": entry.chain.map(|c| c.0),
        "chain": entry.chain.map(ChainId::name),
        "address": entry.address.map(|a| a.to_checksum(None)),
        "label": entry.label,
        "kind": entry.kind,
        "abi_version": entry.abi_version,
        "abi_hash": entry.abi_hash,
        "source": entry.source,
        "tags": entry.tags,
        "implementation": entry.implementation.map(|a| a.to_checksum(None)),
        "removed": entry.removed_at.is_some(),
        "created_at": entry.created_at,
        "updated_at": entry.updated_at,
    })
}

fn print_entry_result(entry: &Entry, json: bool, message: &str) -> anyhow::Result<ExitCode> {
    if json {
        output::json_pretty(&entry_json(entry))?;
    } else {
        out(message)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn export(global: &GlobalArgs, args: ExportArgs) -> anyhow::Result<ExitCode> {
    let registry = open_read_only(global)?;
    let document = registry.export(args.all_versions)?;
    let mut text = serde_json::to_string_pretty(&document)?;
    text.push('\n');
    match &args.output {
        Some(path) => {
            fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
            sh_eprintln!(
                "exported {} contracts to {}",
                document.contracts.len(),
                path.display()
            );
        }
        None => output::json_text(&text)?,
    }
    Ok(ExitCode::SUCCESS)
}

fn changes(global: &GlobalArgs, args: ChangesArgs) -> anyhow::Result<ExitCode> {
    let registry = open_read_only(global)?;
    let changes = registry.changes_since(args.since)?;
    if args.json {
        output::json_pretty(&json!({ "changes": changes }))?;
    } else {
        let rows: Vec<Vec<String>> = changes
            .iter()
            .map(|c| {
                vec![
                    c.id.to_string(),
                    c.time.clone(),
                    c.kind.as_str().to_owned(),
                    c.entry_id.to_string(),
                    c.details.to_string(),
                ]
            })
            .collect();
        out(&table(&["ID", "TIME", "KIND", "ENTRY", "DETAILS"], &rows))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// A plain left-aligned table; every cell is escaped (see
/// [`output::escape`]) before the columns are measured.
fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            row.iter()
                .map(|cell| output::escape(cell).into_owned())
                .collect()
        })
        .collect();
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut text = String::new();
    let mut line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            // Padded by hand: `{:<width$}` panics on a width over 65,535,
            // and a stored label or path can be longer than that.
            .map(|(cell, width)| {
                let pad = width.saturating_sub(cell.chars().count());
                format!("{cell}{}", " ".repeat(pad))
            })
            .collect();
        text.push_str(padded.join("  ").trim_end());
        text.push('\n');
    };
    line(headers.to_vec());
    for row in &rows {
        line(row.iter().map(String::as_str).collect());
    }
    text
}
