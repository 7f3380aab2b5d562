//! Hardhat: compiler artifacts (`hh-sol-artifact-1`) and hardhat-deploy
//! deployments (`deployments/<network>/<Name>.json`).

use std::collections::BTreeSet;

use serde_json::Value;

use super::{
    ImportHints, ImportProblem, Loaded, chain_from_id, file_stem, parse_abi, parse_address_field,
};
use crate::model::{Contract, Deployment, Source};

/// A Hardhat compiler artifact: an interface labelled by its contract name.
pub(crate) fn load_artifact(value: &Value, source: Source) -> Result<Loaded, ImportProblem> {
    let abi = value
        .get("abi")
        .ok_or_else(|| ImportProblem::MissingField {
            field: "abi".to_owned(),
        })?;
    let abi = parse_abi(abi)?;
    let label = value
        .get("contractName")
        .and_then(Value::as_str)
        .filter(|name| !name.trim().is_empty())
        .map_or_else(|| file_stem(&source.path), str::to_owned);
    Ok(Loaded::Contracts(vec![Contract {
        deployment: None,
        label,
        abi,
        source,
        tags: BTreeSet::new(),
        implementation: None,
        label_given: false,
        runtime_code_hash: super::runtime_code_hash(value),
    }]))
}

/// A hardhat-deploy deployment. The chain comes from the network folder's
/// `.chainId` file, else from `--chain`.
pub(crate) fn load_deployment(
    value: &Value,
    source: Source,
    hints: &ImportHints,
) -> Result<Loaded, ImportProblem> {
    let address = value
        .get("address")
        .ok_or_else(|| ImportProblem::MissingField {
            field: "address".to_owned(),
        })?;
    let address = parse_address_field(address, "address")?;
    let abi = value
        .get("abi")
        .ok_or_else(|| ImportProblem::MissingField {
            field: "abi".to_owned(),
        })?;
    let abi = parse_abi(abi)?;
    let implementation = match value.get("implementation") {
        None | Some(Value::Null) => None,
        Some(implementation) => Some(parse_address_field(implementation, "implementation")?),
    };
    let chain_file = source.path.parent().map(|dir| dir.join(".chainId"));
    let read = chain_file.as_deref().map(|path| {
        argus_core::file::read_to_string_capped(
            path,
            argus_core::file::MAX_KEY_BYTES,
            ".chainId file",
        )
    });
    let from_file = match read {
        Some(Err(error)) if !error.is_not_found() => {
            return Err(ImportProblem::Io {
                message: format!("the network's .chainId: {}", error.reason()),
            });
        }
        Some(Ok(text)) => Some(
            text.trim()
                .parse::<u64>()
                .map_err(|_| ImportProblem::Shape {
                    message: format!(
                        "the network's .chainId holds `{}`, not a chain id number",
                        text.trim().chars().take(40).collect::<String>()
                    ),
                })?,
        ),
        _ => None,
    };
    let chain = match (from_file, hints.chain) {
        (Some(file), Some(hint)) if file != hint.0 => {
            return Err(ImportProblem::ChainMismatch { file, hint: hint.0 });
        }
        (Some(file), _) => chain_from_id(file, hints)?,
        (None, Some(hint)) => hint,
        (None, None) => {
            return Err(ImportProblem::MissingChain {
                what: "the deployment's network folder has no .chainId file".to_owned(),
                remedy: "pass --chain <name|id>".to_owned(),
            });
        }
    };
    Ok(Loaded::Contracts(vec![Contract {
        deployment: Some(Deployment { chain, address }),
        label: file_stem(&source.path),
        abi,
        source,
        tags: BTreeSet::new(),
        implementation,
        label_given: false,
        runtime_code_hash: super::runtime_code_hash(value),
    }]))
}
