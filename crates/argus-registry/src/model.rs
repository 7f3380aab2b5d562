//! What the registry holds: contracts as importers read them, and entries as
//! the registry keeps them.

use std::collections::BTreeSet;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use alloy_json_abi::JsonAbi;
use alloy_primitives::{Address, B256, keccak256};
use argus_core::ChainId;
use serde::{Deserialize, Serialize};

/// Where a contract lives: a chain and an address on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Deployment {
    /// The chain.
    pub chain: ChainId,
    /// The contract's address on that chain.
    pub address: Address,
}

/// Whether an entry is deployed somewhere or only an interface from build output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContractKind {
    /// Has a chain and an address.
    Deployment,
    /// Known only from build artifacts; keyed by its label.
    Artifact,
}

impl ContractKind {
    /// The name stored and printed.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Deployment => "deployment",
            Self::Artifact => "artifact",
        }
    }
}

impl fmt::Display for ContractKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ContractKind {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "deployment" => Ok(Self::Deployment),
            "artifact" => Ok(Self::Artifact),
            other => Err(format!("unknown contract kind `{other}`")),
        }
    }
}

/// The file formats the importers read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SourceFormat {
    /// `broadcast/<script>/<chain>/run-latest.json` from `forge script`.
    FoundryBroadcast,
    /// `out/<File>.sol/<Name>.json` from `forge build`.
    FoundryArtifact,
    /// `artifacts/**/<Name>.json` from Hardhat (`hh-sol-artifact-1`).
    HardhatArtifact,
    /// `deployments/<network>/<Name>.json` from hardhat-deploy.
    HardhatDeploy,
    /// A bare ABI: a JSON array, or an object with an `abi` key.
    Abi,
    /// Enrolled by the daemon from the chain (a watched deployer's or
    /// factory's new contract); the ABI is another entry's. Never detected
    /// in a file.
    OnChain,
    /// Registered by `argus registry plan` before any code is at the
    /// address. Never detected in a file.
    Planned,
}

impl SourceFormat {
    /// Every format, in the order detection tries them.
    pub const ALL: [SourceFormat; 5] = [
        Self::FoundryBroadcast,
        Self::FoundryArtifact,
        Self::HardhatArtifact,
        Self::HardhatDeploy,
        Self::Abi,
    ];

    /// The name used on the command line and in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::FoundryBroadcast => "foundry-broadcast",
            Self::FoundryArtifact => "foundry-artifact",
            Self::HardhatArtifact => "hardhat-artifact",
            Self::HardhatDeploy => "hardhat-deploy",
            Self::Abi => "abi",
            Self::OnChain => "on-chain",
            Self::Planned => "planned",
        }
    }
}

impl fmt::Display for SourceFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SourceFormat {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .chain([Self::OnChain, Self::Planned])
            .find(|format| format.as_str() == text)
            .ok_or_else(|| {
                format!(
                    "unknown format `{text}`; expected one of foundry-broadcast, foundry-artifact, \
                     hardhat-artifact, hardhat-deploy, abi"
                )
            })
    }
}

/// The file a contract (or one ABI version of it) came from.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Source {
    /// Its format.
    pub format: SourceFormat,
    /// The path as it was given to the importer.
    pub path: PathBuf,
}

/// One contract read from a file, before it enters the registry.
#[derive(Debug, Clone, PartialEq)]
pub struct Contract {
    /// `Some` for a deployed contract, `None` for an interface from build output.
    pub deployment: Option<Deployment>,
    /// A human name: the contract name or file stem unless told otherwise.
    pub label: String,
    /// The interface.
    pub abi: JsonAbi,
    /// Where it came from.
    pub source: Source,
    /// Tags to attach.
    pub tags: BTreeSet<String>,
    /// For a proxy: the implementation's address on the same chain.
    pub implementation: Option<Address>,
    /// The label was given by the user (`--label`, a config's `label:`), not
    /// read from the file: the user names the entry this file belongs to, so
    /// a changed ABI from another file may become its new version.
    pub label_given: bool,
    /// keccak256 of the runtime code in the build output
    /// (`deployedBytecode`), when the file has it: a contract enrolled from
    /// the chain with the same code takes this entry's ABI.
    pub runtime_code_hash: Option<B256>,
}

/// The longest label the registry files: a label is a name people type and
/// read in a table.
pub(crate) const MAX_LABEL_CHARS: usize = 128;

/// Refuses, before anything is written, contracts the registry cannot file as
/// they were read: a source file name that is not UTF-8 (the registry stores
/// it as text, and a lossy copy would name no file), an ABI no compiler
/// writes, and a label that `argus registry label` would refuse (longer than
/// [`MAX_LABEL_CHARS`], blanks or control characters, an address). A label
/// read from a file name or a `contractName` is a name a stranger chose: it
/// passes the same rules as one a person types. Every such contract is named.
pub(crate) fn check_storable(contracts: &[Contract]) -> Result<(), crate::RegistryError> {
    let problems: Vec<String> = contracts
        .iter()
        .filter_map(|contract| {
            let path = crate::error::shown(&contract.source.path.display().to_string());
            if contract.source.path.to_str().is_none() {
                return Some(format!(
                    "{path}: the file name is not UTF-8 (shown with replacement characters); \
                     rename the file"
                ));
            }
            if let Some(problem) = abi_problem(&contract.abi) {
                return Some(format!(
                    "{path}: {problem}; fix the ABI and import it again"
                ));
            }
            label_problem(contract).map(|problem| format!("{path}: {problem}"))
        })
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(crate::RegistryError::Unstorable { problems })
    }
}

/// Why the label a contract would be filed under cannot be one, with what to
/// do; `None` when it can.
fn label_problem(contract: &Contract) -> Option<String> {
    let label = effective_label(&contract.label);
    let from = if contract.label_given {
        "the label"
    } else if contract.label == crate::artifact::file_stem(&contract.source.path) {
        "the file name gives the label"
    } else {
        "the contract name"
    };
    let remedy = if contract.label_given {
        "choose another with --label"
    } else {
        "rename it, or import this file alone with --label <name>"
    };
    let chars = label.chars().count();
    if chars > MAX_LABEL_CHARS {
        let start: String = label.chars().take(40).collect();
        return Some(format!(
            "{from} `{}…`, {chars} characters, longer than the {MAX_LABEL_CHARS} a label may \
             have; {remedy}",
            crate::error::shown(&start)
        ));
    }
    let reason = crate::registry::label_rule_broken(label)?;
    Some(format!(
        "{from} `{}`, which cannot be a label: {reason}; {remedy}",
        crate::error::shown(label)
    ))
}

/// The label a contract is filed under: its label trimmed, `contract` when
/// that is empty.
pub(crate) fn effective_label(label: &str) -> &str {
    let label = label.trim();
    if label.is_empty() { "contract" } else { label }
}

/// What makes an ABI one no compiler writes and no decoder can use: a
/// function or event without a name, or an event with more indexed
/// parameters than a log has topics (3, or 4 for an anonymous event).
fn abi_problem(abi: &alloy_json_abi::JsonAbi) -> Option<String> {
    if abi.functions().any(|f| f.name.is_empty()) {
        return Some("a function of the ABI has an empty name".to_owned());
    }
    for event in abi.events() {
        if event.name.is_empty() {
            return Some("an event of the ABI has an empty name".to_owned());
        }
        let indexed = event.inputs.iter().filter(|p| p.indexed).count();
        let most = if event.anonymous { 4 } else { 3 };
        if indexed > most {
            return Some(format!(
                "event {} has {indexed} indexed parameters; a log has room for {most}",
                event.name
            ));
        }
    }
    None
}

impl Contract {
    /// Deployment or artifact.
    pub fn kind(&self) -> ContractKind {
        if self.deployment.is_some() {
            ContractKind::Deployment
        } else {
            ContractKind::Artifact
        }
    }

    /// The chain, for a deployment.
    pub fn chain(&self) -> Option<ChainId> {
        self.deployment.map(|d| d.chain)
    }

    /// The address, for a deployment.
    pub fn address(&self) -> Option<Address> {
        self.deployment.map(|d| d.address)
    }
}

/// The canonical JSON of an ABI: parsed by alloy and written back, so
/// whitespace, key order and extra keys (`internalType` aside) do not matter.
pub fn canonical_abi_json(abi: &JsonAbi) -> String {
    // Serializing a parsed `JsonAbi` into a string cannot fail: every key is a
    // string and every value is plain data.
    serde_json::to_string(abi).unwrap_or_default()
}

/// keccak256 of [`canonical_abi_json`].
pub fn abi_hash(abi: &JsonAbi) -> B256 {
    keccak256(canonical_abi_json(abi).as_bytes())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn the_hash_ignores_formatting() {
        let a: JsonAbi = serde_json::from_str(
            r#"[{"type":"function","name":"f","inputs":[],"outputs":[],"stateMutability":"view"}]"#,
        )
        .unwrap();
        let b: JsonAbi = serde_json::from_str(
            r#"[ { "stateMutability" : "view", "outputs":[], "name":"f", "inputs":[], "type":"function" } ]"#,
        )
        .unwrap();
        assert_eq!(abi_hash(&a), abi_hash(&b));
    }

    #[test]
    fn formats_round_trip() {
        for format in SourceFormat::ALL {
            assert_eq!(format.as_str().parse::<SourceFormat>().unwrap(), format);
        }
        assert!("nope".parse::<SourceFormat>().is_err());
    }
}
