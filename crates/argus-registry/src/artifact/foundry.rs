//! Foundry: `forge script` broadcasts and `forge build` artifacts.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::path::{Component, Path, PathBuf};

use serde_json::Value;

use super::{
    ImportHints, ImportProblem, Loaded, chain_from_id, file_stem, parse_abi, parse_address_field,
    read_limited,
};
use crate::model::{Contract, Deployment, Source, abi_hash};
use alloy_json_abi::JsonAbi;

/// Build artifacts found under one `out/` directory, by contract name.
#[derive(Debug, Default)]
pub(crate) struct OutIndex {
    by_name: BTreeMap<String, Vec<PathBuf>>,
}

impl OutIndex {
    /// Lists `out/*/<Name>.json` (Foundry's layout), skipping `build-info`.
    fn build(out: &Path) -> Self {
        let mut by_name: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
        let Ok(dirs) = fs::read_dir(out) else {
            return Self::default();
        };
        let mut dirs: Vec<PathBuf> = dirs
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .filter(|path| path.is_dir() && !path.ends_with("build-info"))
            .collect();
        dirs.sort();
        for dir in dirs {
            let Ok(files) = fs::read_dir(&dir) else {
                continue;
            };
            let mut files: Vec<PathBuf> = files
                .filter_map(Result::ok)
                .map(|entry| entry.path())
                .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
                .collect();
            files.sort();
            for file in files {
                by_name.entry(file_stem(&file)).or_default().push(file);
            }
        }
        Self { by_name }
    }
}

/// In each `broadcast/<script>/<chain>/` directory keep only `run-latest.json`,
/// or, without it, the newest `run-<timestamp>.json`. Other files pass through.
pub(crate) fn keep_latest_broadcasts(files: Vec<PathBuf>) -> Vec<PathBuf> {
    let mut newest: HashMap<PathBuf, (u64, PathBuf)> = HashMap::new();
    let mut has_latest: BTreeSet<PathBuf> = BTreeSet::new();
    for file in &files {
        let (Some(dir), Some(name)) = (file.parent(), file.file_name()) else {
            continue;
        };
        let name = name.to_string_lossy();
        if name == "run-latest.json" {
            has_latest.insert(dir.to_owned());
        } else if let Some(stamp) = run_timestamp(&name) {
            let slot = newest
                .entry(dir.to_owned())
                .or_insert((stamp, file.clone()));
            if stamp > slot.0 {
                *slot = (stamp, file.clone());
            }
        }
    }
    files
        .into_iter()
        .filter(|file| {
            let name = file
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let Some(_) = run_timestamp(&name) else {
                return true;
            };
            let dir = file.parent().unwrap_or(Path::new(""));
            !has_latest.contains(dir) && newest.get(dir).is_some_and(|(_, keep)| keep == file)
        })
        .collect()
}

fn run_timestamp(name: &str) -> Option<u64> {
    name.strip_prefix("run-")?
        .strip_suffix(".json")?
        .parse()
        .ok()
}

/// The project root of a broadcast: the folder that holds `broadcast/`.
fn project_root(path: &Path) -> Option<PathBuf> {
    let mut root = PathBuf::new();
    for component in path.components() {
        if component == Component::Normal("broadcast".as_ref()) {
            return Some(if root.as_os_str().is_empty() {
                PathBuf::from(".")
            } else {
                root
            });
        }
        root.push(component);
    }
    None
}

/// The chain folder: `broadcast/<script>/<chain>/run-latest.json`.
fn chain_from_folder(path: &Path) -> Option<u64> {
    path.parent()?.file_name()?.to_str()?.parse().ok()
}

/// How forge names the kind of each broadcast transaction (its `CallKind`).
const CREATE_KINDS: [&str; 2] = ["CREATE", "CREATE2"];
/// Transactions that call existing contracts: they deploy nothing, so they
/// are skipped by design.
const CALL_KINDS: [&str; 5] = ["CALL", "STATICCALL", "DELEGATECALL", "CALLCODE", "AUTHCALL"];

/// A `forge script` broadcast: every CREATE/CREATE2 transaction, each with
/// its contract name, and the named contracts it created on the way
/// (`additionalContracts`; one without a name, made by a factory, is left
/// out with a warning saying how to add it). Calls are skipped; a transaction of no kind
/// forge writes, or a creation without a name, is an error naming its field:
/// a deployment left out in silence is one nobody watches.
pub(crate) fn load_broadcast(
    value: &Value,
    source: Source,
    hints: &ImportHints,
    out_index: &mut HashMap<PathBuf, OutIndex>,
) -> Result<Loaded, ImportProblem> {
    let transactions = match value.get("transactions") {
        None => {
            return Err(ImportProblem::MissingField {
                field: "transactions".to_owned(),
            });
        }
        Some(transactions) => transactions
            .as_array()
            .ok_or_else(|| ImportProblem::Shape {
                message: "`transactions` must be an array of the broadcast's transactions"
                    .to_owned(),
            })?,
    };
    let chain_number = match value.get("chain") {
        Some(chain) => Some(chain.as_u64().ok_or_else(|| ImportProblem::Shape {
            message: "`chain` must be a chain id number".to_owned(),
        })?),
        None => chain_from_folder(&source.path),
    };
    let Some(chain_number) = chain_number else {
        return Err(ImportProblem::MissingChain {
            what: "the broadcast has no `chain` field and is not in a broadcast/<script>/<chain id>/ folder".to_owned(),
            remedy: "import it from its place in the broadcast folder".to_owned(),
        });
    };
    let chain = chain_from_id(chain_number, hints)?;
    let out_dir = match (&hints.artifacts_dir, project_root(&source.path)) {
        (Some(dir), _) => dir.clone(),
        (None, Some(root)) => root.join("out"),
        (None, None) => source
            .path
            .parent()
            .map_or_else(|| PathBuf::from("out"), |dir| dir.join("out")),
    };

    // (name, address field, address value, constructor arguments)
    let mut created: Vec<(String, String, &Value, Option<&Value>)> = Vec::new();
    for (i, tx) in transactions.iter().enumerate() {
        let kind = tx.get("transactionType").and_then(Value::as_str);
        match kind {
            Some(kind) if CREATE_KINDS.contains(&kind) => {
                let name = tx
                    .get("contractName")
                    .and_then(Value::as_str)
                    .filter(|name| !name.trim().is_empty())
                    .ok_or_else(|| ImportProblem::UnnamedCreation {
                        field: format!("transactions[{i}].contractName"),
                        address: tx
                            .get("contractAddress")
                            .and_then(Value::as_str)
                            .map(|a| a.chars().take(42).collect()),
                    })?;
                let field = format!("transactions[{i}].contractAddress");
                let address = tx.get("contractAddress").unwrap_or(&Value::Null);
                created.push((name.to_owned(), field, address, tx.get("arguments")));
            }
            Some(kind) if CALL_KINDS.contains(&kind) => {}
            other => {
                return Err(ImportProblem::UnknownTransactionType {
                    field: format!("transactions[{i}].transactionType"),
                    found: other.map(|kind| kind.chars().take(40).collect()),
                });
            }
        }
        let additional = tx.get("additionalContracts").and_then(Value::as_array);
        for (j, extra) in additional.into_iter().flatten().enumerate() {
            let field = format!("transactions[{i}].additionalContracts[{j}].address");
            let address = extra.get("address").unwrap_or(&Value::Null);
            match extra.get("contractName").and_then(Value::as_str) {
                Some(name) => created.push((name.to_owned(), field, address, None)),
                // Forge leaves the name out for contracts a factory made:
                // refusing them would refuse real broadcasts, so they are
                // left out loudly, with the way to add them.
                None => tracing::warn!(
                    "{}: {field}: a contract created on the way (by a factory) has no \
                     contractName, so it is not imported and nothing watches it; add it with \
                     `argus registry import --address {} --label NAME <its artifact or ABI>`",
                    source.path.display(),
                    address
                        .as_str()
                        .and_then(|text| argus_core::parse_address(text).ok())
                        .map_or_else(|| "0x…".to_owned(), |a| a.to_checksum(None)),
                ),
            }
        }
    }
    if created.is_empty() {
        return Ok(Loaded::Skipped("the broadcast creates no named contract"));
    }

    let index = out_index
        .entry(out_dir.clone())
        .or_insert_with(|| OutIndex::build(&out_dir));
    let mut contracts = Vec::new();
    for (name, field, address, arguments) in created {
        let address = parse_address_field(address, &field)?;
        let (abi, runtime_code_hash) = find_abi(index, &out_dir, &name)?;
        let implementation = if name.ends_with("Proxy") {
            arguments
                .and_then(Value::as_array)
                .and_then(|args| args.first())
                .and_then(Value::as_str)
                .and_then(|text| argus_core::parse_address(text).ok())
        } else {
            None
        };
        contracts.push(Contract {
            deployment: Some(Deployment { chain, address }),
            label: name,
            abi,
            source: source.clone(),
            tags: BTreeSet::new(),
            implementation,
            label_given: false,
            runtime_code_hash,
        });
    }
    Ok(Loaded::Contracts(contracts))
}

/// The ABI of `name` from the build output, with its runtime code hash.
fn find_abi(
    index: &OutIndex,
    out_dir: &Path,
    name: &str,
) -> Result<(JsonAbi, Option<alloy_primitives::B256>), ImportProblem> {
    let candidates = index.by_name.get(name).map(Vec::as_slice).unwrap_or(&[]);
    let mut found: Vec<(PathBuf, JsonAbi)> = Vec::new();
    let mut runtime_code_hash = None;
    for candidate in candidates {
        let unreadable = |message: String| ImportProblem::ArtifactUnreadable {
            contract: name.to_owned(),
            artifact: candidate.clone(),
            message,
        };
        let bytes = read_limited(candidate).map_err(|p| unreadable(p.to_string()))?;
        let value: Value = serde_json::from_slice(&bytes).map_err(|e| unreadable(e.to_string()))?;
        let abi_value = value
            .get("abi")
            .ok_or_else(|| unreadable("no `abi`".to_owned()))?;
        let abi = parse_abi(abi_value).map_err(|p| unreadable(p.to_string()))?;
        if found.is_empty() {
            runtime_code_hash = super::runtime_code_hash(&value);
        }
        found.push((candidate.clone(), abi));
    }
    let Some((_, first)) = found.first() else {
        return Err(ImportProblem::AbiNotFound {
            contract: name.to_owned(),
            looked_in: out_dir.join("*").join(format!("{name}.json")),
        });
    };
    let hash = abi_hash(first);
    if found.iter().any(|(_, abi)| abi_hash(abi) != hash) {
        return Err(ImportProblem::AmbiguousAbi {
            contract: name.to_owned(),
            candidates: found.into_iter().map(|(path, _)| path).collect(),
        });
    }
    Ok((found.swap_remove(0).1, runtime_code_hash))
}

/// A `forge build` artifact: an interface, labelled by its file stem.
/// Contracts compiled from `lib/` (forge-std and other dependencies) are
/// skipped, and so are Foundry scripts and tests (`*.s.sol`, `*.t.sol`): they
/// are never part of the deployed infrastructure.
pub(crate) fn load_artifact(value: &Value, source: Source) -> Result<Loaded, ImportProblem> {
    let abi = value
        .get("abi")
        .ok_or_else(|| ImportProblem::MissingField {
            field: "abi".to_owned(),
        })?;
    let target = value
        .pointer("/metadata/settings/compilationTarget")
        .and_then(Value::as_object);
    let from_dependency = target.is_some_and(|target| {
        target
            .keys()
            .any(|path| path.starts_with("lib/") || path.starts_with("node_modules/"))
    });
    if from_dependency {
        return Ok(Loaded::Skipped("compiled from a dependency under lib/"));
    }
    let from_script_or_test = target.is_some_and(|target| {
        target
            .keys()
            .any(|path| path.ends_with(".s.sol") || path.ends_with(".t.sol"))
    }) || source
        .path
        .parent()
        .and_then(|dir| dir.file_name())
        .is_some_and(|dir| {
            let dir = dir.to_string_lossy();
            dir.ends_with(".s.sol") || dir.ends_with(".t.sol")
        });
    if from_script_or_test {
        return Ok(Loaded::Skipped(
            "a Foundry script or test, not a deployable contract",
        ));
    }
    let abi = parse_abi(abi)?;
    Ok(Loaded::Contracts(vec![Contract {
        deployment: None,
        label: file_stem(&source.path),
        abi,
        source,
        tags: BTreeSet::new(),
        implementation: None,
        label_given: false,
        runtime_code_hash: super::runtime_code_hash(value),
    }]))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn project_root_is_the_folder_holding_broadcast() {
        assert_eq!(
            project_root(Path::new("/p/broadcast/D.s.sol/1/run-latest.json")),
            Some(PathBuf::from("/p"))
        );
        assert_eq!(
            project_root(Path::new("broadcast/D.s.sol/1/run-latest.json")),
            Some(PathBuf::from("."))
        );
        assert_eq!(project_root(Path::new("/p/x.json")), None);
    }

    #[test]
    fn only_the_latest_run_is_kept() {
        let files = vec![
            PathBuf::from("b/S/1/run-1.json"),
            PathBuf::from("b/S/1/run-2.json"),
            PathBuf::from("b/S/1/run-latest.json"),
            PathBuf::from("b/S/5/run-7.json"),
            PathBuf::from("b/S/5/run-9.json"),
            PathBuf::from("out/A.sol/A.json"),
        ];
        assert_eq!(
            keep_latest_broadcasts(files),
            vec![
                PathBuf::from("b/S/1/run-latest.json"),
                PathBuf::from("b/S/5/run-9.json"),
                PathBuf::from("out/A.sol/A.json"),
            ]
        );
    }
}
