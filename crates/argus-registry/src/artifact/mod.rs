//! Reading contracts out of build and deployment files.
//!
//! This is a pure API — files in, [`Contract`]s out, no database — so the
//! interface linter can read a project without a registry. [`load_path`] takes
//! a file or a directory; a directory is walked recursively in a fixed order,
//! skipping `node_modules`, `lib`, `cache`, `build-info`, `dry-run`,
//! `solcInputs` and dot-directories. The format of each JSON file is detected
//! from its content unless [`ImportHints::format`] forces it.
//!
//! Every bad file is reported, not only the first: the result is either every
//! contract or every error (Vector's config compiler does the same), so a user
//! fixes a whole project in one round and a half-read project never reaches
//! the registry.

pub mod ast;
mod error;
mod foundry;
mod hardhat;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::path::{Path, PathBuf};

use alloy_json_abi::{JsonAbi, Param};
use alloy_primitives::Address;
use alloy_sol_type_parser::TypeSpecifier;
use argus_core::{ChainId, parse_address};
use serde_json::Value;

pub use error::{ImportError, ImportErrors, ImportProblem};

use crate::model::{Contract, Deployment, Source, SourceFormat};

/// Files larger than this are refused: no build artifact comes near it, and
/// reading one whole into memory must stay cheap.
pub const MAX_FILE_SIZE: u64 = argus_core::file::MAX_IMPORT_BYTES;

/// Directories a walk never enters.
const SKIPPED_DIRS: &[&str] = &[
    "node_modules",
    "lib",
    "cache",
    "build-info",
    "dry-run",
    "solcInputs",
];

/// What the user told the importer beyond the files themselves.
#[derive(Debug, Clone, Default)]
pub struct ImportHints {
    /// Read every file as this format instead of detecting it. In a directory
    /// walk, files recognised as another format are still skipped.
    pub format: Option<SourceFormat>,
    /// The chain for files that do not carry one (a plain ABI, a
    /// hardhat-deploy network without `.chainId`).
    pub chain: Option<ChainId>,
    /// Makes the one artifact or plain ABI being imported a deployment at this
    /// address (needs `chain`).
    pub address: Option<Address>,
    /// The label for the one artifact or plain ABI being imported.
    pub label: Option<String>,
    /// The implementation behind the address given in `address`.
    pub implementation: Option<Address>,
    /// Tags added to every contract read.
    pub tags: BTreeSet<String>,
    /// Where a Foundry broadcast's ABIs are (default: `out/` beside `broadcast/`).
    pub artifacts_dir: Option<PathBuf>,
    /// Accept chain ids alloy does not know (private networks).
    pub allow_unknown_chain: bool,
}

/// Reads every contract under `path` (a file or a directory).
pub fn load_path(path: &Path, hints: &ImportHints) -> Result<Vec<Contract>, ImportErrors> {
    load_paths([path], hints)
}

/// Reads every contract under each of `paths`, reporting every bad file.
pub fn load_paths<'a, I>(paths: I, hints: &ImportHints) -> Result<Vec<Contract>, ImportErrors>
where
    I: IntoIterator<Item = &'a Path>,
{
    let mut loader = Loader::new(hints);
    let mut seen = BTreeSet::new();
    for path in paths {
        for (file, explicit) in loader.collect_files(path) {
            if seen.insert(file.clone()) {
                loader.load_file(&file, explicit);
            }
        }
    }
    loader.finish()
}

/// Reads contracts from the bytes of one file, as [`load_path`] would. `path`
/// names the file in messages and locates related files (a broadcast's build
/// output, a hardhat-deploy network's `.chainId`).
pub fn load_bytes(
    path: &Path,
    bytes: &[u8],
    hints: &ImportHints,
) -> Result<Vec<Contract>, ImportErrors> {
    let mut loader = Loader::new(hints);
    loader.load_document(path, bytes, true);
    loader.finish()
}

/// Guesses the format of a parsed JSON document; `None` when it is none of them.
///
/// A broadcast and a hardhat-deploy deployment are recognised by the fields
/// only those tools write, not only by the fields the importer needs: a
/// broadcast without `transactions`, or a deployment without `abi` or
/// `address`, is then an error naming the missing field instead of a file
/// skipped in silence or read as a plain ABI without its address.
pub fn detect_format(value: &Value) -> Option<SourceFormat> {
    let object = match value {
        Value::Array(_) => return Some(SourceFormat::Abi),
        Value::Object(object) => object,
        _ => return None,
    };
    if object.contains_key("transactions")
        || (object.contains_key("receipts")
            && ["chain", "timestamp", "libraries", "pending", "returns"]
                .iter()
                .any(|key| object.contains_key(*key)))
    {
        return Some(SourceFormat::FoundryBroadcast);
    }
    if object
        .get("_format")
        .and_then(Value::as_str)
        .is_some_and(|f| f.starts_with("hh-sol-artifact"))
    {
        return Some(SourceFormat::HardhatArtifact);
    }
    let hardhat_deploy_only = [
        "receipt",
        "numDeployments",
        "solcInputHash",
        "transactionHash",
    ];
    if hardhat_deploy_only
        .iter()
        .any(|key| object.contains_key(*key))
        || (object.get("address").is_some_and(Value::is_string)
            && object.get("abi").is_some_and(Value::is_array))
    {
        return Some(SourceFormat::HardhatDeploy);
    }
    if !object.get("abi").is_some_and(Value::is_array) {
        return None;
    }
    if object.get("bytecode").is_some_and(Value::is_object)
        || object.get("methodIdentifiers").is_some()
    {
        return Some(SourceFormat::FoundryArtifact);
    }
    Some(SourceFormat::Abi)
}

/// Parses an ABI value with alloy, which checks every type name.
pub(crate) fn parse_abi(value: &Value) -> Result<JsonAbi, ImportProblem> {
    let abi = <JsonAbi as serde::Deserialize>::deserialize(value).map_err(|error| {
        ImportProblem::NotAnAbi {
            message: error.to_string(),
        }
    })?;
    check_types(&abi).map_err(|message| ImportProblem::NotAnAbi { message })?;
    Ok(abi)
}

/// alloy's JSON parser checks the syntax of type names, not their meaning:
/// `uint257` or `bytes33` would pass. Every elementary type is checked here.
fn check_types(abi: &JsonAbi) -> Result<(), String> {
    fn param(item: &str, name: &str, ty: &str, components: &[Param]) -> Result<(), String> {
        if !components.is_empty() {
            return components
                .iter()
                .try_for_each(|c| param(item, &c.name, &c.ty, &c.components));
        }
        // Library ABIs name enums and types as `Library.Type`; solc wrote them so.
        if ty.split('[').next().is_some_and(|root| root.contains('.')) {
            return Ok(());
        }
        TypeSpecifier::parse(ty)
            .and_then(|spec| spec.try_basic_solidity())
            .map_err(|error| format!("`{item}` parameter `{name}` has type `{ty}`: {error}"))
    }
    let params = |item: &str, list: &[Param]| {
        list.iter()
            .try_for_each(|p| param(item, &p.name, &p.ty, &p.components))
    };
    if let Some(constructor) = &abi.constructor {
        params("constructor", &constructor.inputs)?;
    }
    for function in abi.functions() {
        params(&function.name, &function.inputs)?;
        params(&function.name, &function.outputs)?;
    }
    for error in abi.errors() {
        params(&error.name, &error.inputs)?;
    }
    for event in abi.events() {
        event
            .inputs
            .iter()
            .try_for_each(|p| param(&event.name, &p.name, &p.ty, &p.components))?;
    }
    Ok(())
}

/// Parses an address field, naming the field when it is wrong.
pub(crate) fn parse_address_field(value: &Value, field: &str) -> Result<Address, ImportProblem> {
    let text = value.as_str().ok_or_else(|| ImportProblem::Shape {
        message: format!("`{field}` must be a string holding an address"),
    })?;
    parse_address(text).map_err(|source| ImportProblem::BadAddress {
        field: field.to_owned(),
        source,
    })
}

pub(crate) fn chain_from_id(id: u64, hints: &ImportHints) -> Result<ChainId, ImportProblem> {
    ChainId::from_id(id, hints.allow_unknown_chain)
        .map_err(|source| ImportProblem::BadChain { source })
}

/// The file's name without `.json`.
pub(crate) fn file_stem(path: &Path) -> String {
    path.file_stem()
        .map(|stem| stem.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// What a file turned into.
pub(crate) enum Loaded {
    Contracts(Vec<Contract>),
    /// Deliberately left out (a forge-std test contract, a nameless creation).
    Skipped(&'static str),
}

struct Loader<'h> {
    hints: &'h ImportHints,
    contracts: Vec<Contract>,
    errors: Vec<ImportError>,
    /// Files whose contracts may take the address/label hints.
    hintable: Vec<usize>,
    out_index: HashMap<PathBuf, foundry::OutIndex>,
}

impl<'h> Loader<'h> {
    fn new(hints: &'h ImportHints) -> Self {
        Self {
            hints,
            contracts: Vec::new(),
            errors: Vec::new(),
            hintable: Vec::new(),
            out_index: HashMap::new(),
        }
    }

    fn error(&mut self, path: &Path, problem: ImportProblem) {
        self.errors.push(ImportError {
            path: path.to_owned(),
            problem,
        });
    }

    /// The files to read under `path`, each marked whether the user named it.
    fn collect_files(&mut self, path: &Path) -> Vec<(PathBuf, bool)> {
        let metadata = match fs::metadata(path) {
            Ok(metadata) => metadata,
            Err(error) => {
                self.error(
                    path,
                    ImportProblem::Io {
                        message: error.to_string(),
                    },
                );
                return Vec::new();
            }
        };
        if !metadata.is_dir() {
            return vec![(path.to_owned(), true)];
        }
        let walk = walkdir::WalkDir::new(path)
            .follow_links(false)
            .sort_by_file_name()
            .into_iter()
            .filter_entry(|entry| {
                entry.depth() == 0
                    || !entry.file_type().is_dir()
                    || !is_skipped_dir(&entry.file_name().to_string_lossy())
            });
        let mut files = Vec::new();
        for entry in walk {
            match entry {
                Ok(entry) if entry.file_type().is_file() => {
                    let name = entry.file_name().to_string_lossy();
                    if name.ends_with(".json")
                        && !name.ends_with(".dbg.json")
                        && !name.starts_with('.')
                    {
                        files.push(entry.into_path());
                    }
                }
                Ok(_) => {}
                Err(error) => {
                    let at = error.path().unwrap_or(path).to_owned();
                    self.error(
                        &at,
                        ImportProblem::Io {
                            message: error.to_string(),
                        },
                    );
                }
            }
        }
        let files = foundry::keep_latest_broadcasts(files);
        files.into_iter().map(|file| (file, false)).collect()
    }

    fn load_file(&mut self, path: &Path, explicit: bool) {
        match read_limited(path) {
            Ok(bytes) => self.load_document(path, &bytes, explicit),
            Err(problem) => self.error(path, problem),
        }
    }

    fn load_document(&mut self, path: &Path, bytes: &[u8], explicit: bool) {
        let value: Value = match serde_json::from_slice(bytes) {
            Ok(value) => value,
            Err(error) => {
                let (line, column) = (error.line(), error.column());
                let message = error.to_string();
                let suffix = format!(" at line {line} column {column}");
                let message = message.strip_suffix(&suffix).unwrap_or(&message).to_owned();
                return self.error(
                    path,
                    ImportProblem::Json {
                        line,
                        column,
                        message,
                    },
                );
            }
        };
        let detected = detect_format(&value);
        let format = match (self.hints.format, detected) {
            (Some(forced), Some(found)) if !explicit && forced != found => {
                tracing::debug!(path = %path.display(), %found, "skipped: not the forced format");
                return;
            }
            (Some(forced), _) => forced,
            (None, Some(found)) => found,
            (None, None) if explicit => return self.error(path, ImportProblem::UnknownFormat),
            (None, None) => {
                tracing::debug!(path = %path.display(), "skipped: not an artifact, deployment or ABI");
                return;
            }
        };
        let source = Source {
            format,
            path: path.to_owned(),
        };
        let loaded = match format {
            SourceFormat::FoundryBroadcast => {
                foundry::load_broadcast(&value, source, self.hints, &mut self.out_index)
            }
            SourceFormat::FoundryArtifact => foundry::load_artifact(&value, source),
            SourceFormat::HardhatArtifact => hardhat::load_artifact(&value, source),
            SourceFormat::HardhatDeploy => hardhat::load_deployment(&value, source, self.hints),
            // Not file formats; a file is read as the ABI it holds.
            SourceFormat::Abi | SourceFormat::OnChain | SourceFormat::Planned => {
                load_plain_abi(&value, source)
            }
        };
        match loaded {
            Ok(Loaded::Contracts(contracts)) => {
                let hintable = matches!(
                    format,
                    SourceFormat::Abi
                        | SourceFormat::FoundryArtifact
                        | SourceFormat::HardhatArtifact
                );
                for mut contract in contracts {
                    contract.tags.extend(self.hints.tags.iter().cloned());
                    if hintable {
                        self.hintable.push(self.contracts.len());
                    }
                    self.contracts.push(contract);
                }
            }
            Ok(Loaded::Skipped(why)) => {
                tracing::debug!(path = %path.display(), why, "skipped");
            }
            Err(problem) => self.error(path, problem),
        }
    }

    fn apply_hints(&mut self) {
        let hints = self.hints;
        let wants_deployment = hints.address.is_some() || hints.implementation.is_some();
        if !wants_deployment && hints.label.is_none() {
            return;
        }
        if self.hintable.len() != 1 {
            let problem = || ImportProblem::HintsNeedOneContract {
                found: self.hintable.len(),
            };
            let paths: Vec<PathBuf> = if self.hintable.is_empty() {
                Vec::new()
            } else {
                self.hintable
                    .iter()
                    .map(|&i| self.contracts[i].source.path.clone())
                    .collect()
            };
            let mut errors: Vec<ImportError> = paths
                .into_iter()
                .map(|path| ImportError {
                    path,
                    problem: problem(),
                })
                .collect();
            if errors.is_empty() {
                errors.push(ImportError {
                    path: PathBuf::from("(command line)"),
                    problem: problem(),
                });
            }
            self.errors.extend(errors);
            return;
        }
        let index = self.hintable[0];
        let path = self.contracts[index].source.path.clone();
        let contract = &mut self.contracts[index];
        if let Some(label) = &hints.label {
            contract.label = label.clone();
            contract.label_given = true;
        }
        if !wants_deployment {
            return;
        }
        let (Some(address), Some(chain)) = (hints.address, hints.chain) else {
            let problem = if hints.address.is_none() {
                ImportProblem::ImplementationWithoutAddress
            } else {
                ImportProblem::AddressWithoutChain
            };
            return self.error(&path, problem);
        };
        contract.deployment = Some(Deployment { chain, address });
        contract.implementation = hints.implementation;
    }

    /// hardhat-deploy writes a proxied `X` three times: `X` (the proxy address
    /// with the proxy's and the implementation's ABIs merged), `X_Proxy` (same
    /// address, the proxy's own ABI) and `X_Implementation`. The registry keeps
    /// one entry for the proxy address, labelled `X`, with the proxy's *own*
    /// ABI and the link to the implementation: a merged ABI would make every
    /// implementation function look like a proxy selector clash, and the link
    /// already gives monitoring the implementation's interface.
    fn drop_hardhat_deploy_proxy_twins(&mut self) {
        let proxies: BTreeMap<(String, Deployment), usize> = self
            .contracts
            .iter()
            .enumerate()
            .filter(|(_, c)| c.source.format == SourceFormat::HardhatDeploy)
            .filter_map(|(i, c)| {
                let base = c.label.strip_suffix("_Proxy")?;
                Some(((base.to_owned(), c.deployment?), i))
            })
            .collect();
        let mut merged = BTreeSet::new();
        for (i, c) in self.contracts.iter().enumerate() {
            if c.source.format != SourceFormat::HardhatDeploy {
                continue;
            }
            let Some(deployment) = c.deployment else {
                continue;
            };
            if let Some(&proxy) = proxies.get(&(c.label.clone(), deployment)) {
                merged.insert((i, proxy));
            }
        }
        let mut drop = BTreeSet::new();
        for &(whole, proxy) in &merged {
            let (label, implementation, tags) = {
                let c = &self.contracts[whole];
                (c.label.clone(), c.implementation, c.tags.clone())
            };
            let own = &mut self.contracts[proxy];
            own.label = label;
            own.implementation = own.implementation.or(implementation);
            own.tags.extend(tags);
            drop.insert(whole);
        }
        let mut index = 0;
        self.contracts.retain(|_| {
            let keep = !drop.contains(&index);
            index += 1;
            keep
        });
    }

    /// A project folder holds both the deployments (broadcast) and the build
    /// output they came from; an artifact whose label and ABI are those of a
    /// deployment read in the same import adds nothing but a duplicate.
    fn drop_artifacts_of_deployments(&mut self) {
        let deployed: BTreeSet<(String, alloy_primitives::B256)> = self
            .contracts
            .iter()
            .filter(|c| c.deployment.is_some())
            .map(|c| (c.label.clone(), crate::model::abi_hash(&c.abi)))
            .collect();
        if deployed.is_empty() {
            return;
        }
        self.contracts.retain(|c| {
            c.deployment.is_some()
                || !deployed.contains(&(c.label.clone(), crate::model::abi_hash(&c.abi)))
        });
    }

    fn finish(mut self) -> Result<Vec<Contract>, ImportErrors> {
        self.apply_hints();
        self.drop_hardhat_deploy_proxy_twins();
        self.drop_artifacts_of_deployments();
        if self.errors.is_empty() {
            Ok(self.contracts)
        } else {
            Err(ImportErrors {
                errors: self.errors,
            })
        }
    }
}

fn is_skipped_dir(name: &str) -> bool {
    name.starts_with('.') || SKIPPED_DIRS.contains(&name)
}

/// Reads a file through the one capped reader: a regular file of at most
/// [`MAX_FILE_SIZE`] bytes (a FIFO or a device is refused, not waited on).
fn read_limited(path: &Path) -> Result<Vec<u8>, ImportProblem> {
    argus_core::file::read_capped(path, MAX_FILE_SIZE, "import file").map_err(import_problem)
}

/// A read error as the problem of the file it names.
pub(crate) fn import_problem(error: argus_core::file::ReadFileError) -> ImportProblem {
    match error {
        argus_core::file::ReadFileError::TooLarge { size, cap, .. } => {
            ImportProblem::TooLarge { size, limit: cap }
        }
        other => ImportProblem::Io {
            message: other.reason(),
        },
    }
}

/// A bare ABI: a JSON array, or an object with an `abi` array.
fn load_plain_abi(value: &Value, source: Source) -> Result<Loaded, ImportProblem> {
    let abi_value = match value {
        Value::Array(_) => value,
        Value::Object(object) => object.get("abi").ok_or_else(|| ImportProblem::Shape {
            message: "expected a JSON array of ABI items, or an object with an `abi` array"
                .to_owned(),
        })?,
        _ => {
            return Err(ImportProblem::Shape {
                message: "expected a JSON array of ABI items, or an object with an `abi` array"
                    .to_owned(),
            });
        }
    };
    let abi = parse_abi(abi_value)?;
    Ok(Loaded::Contracts(vec![Contract {
        deployment: None,
        label: file_stem(&source.path),
        abi,
        source,
        tags: BTreeSet::new(),
        implementation: None,
        label_given: false,
        runtime_code_hash: runtime_code_hash(value),
    }]))
}

/// keccak256 of a build output's runtime code: `deployedBytecode` as a
/// string (Hardhat) or `{ "object": … }` (Foundry). None when absent,
/// empty (an interface) or not hex (unlinked library placeholders).
pub(crate) fn runtime_code_hash(value: &Value) -> Option<alloy_primitives::B256> {
    let code = match value.get("deployedBytecode")? {
        Value::String(text) => text.as_str(),
        Value::Object(map) => map.get("object")?.as_str()?,
        _ => return None,
    };
    let bytes = code.parse::<alloy_primitives::Bytes>().ok()?;
    (!bytes.is_empty()).then(|| alloy_primitives::keccak256(&bytes))
}

#[cfg(test)]
mod tests;
