//! Pause and unpause: one guardian call per target contract.
//!
//! Targets are the step's registry labels or addresses, or `affected`: the
//! contracts on the step's chain the incident's alerts came from. The
//! function is a signature without arguments (`pause()` by default); its
//! selector is alloy's. Before anything is signed the contract is asked
//! `paused()`: a contract already in the wanted state gets nothing (so a
//! second run of a step, or a pause the team did by hand, sends nothing).
//! Everything after that is the transaction path's (`tx`).

use alloy_dyn_abi::{DynSolType, DynSolValue, JsonAbiExt as _};
use alloy_json_abi::Function;
use alloy_primitives::{Address, Bytes, U256};
use argus_chain::BlockId;
use serde_json::json;

use super::tx::{Intent, TxPath};
use super::{RespondError, Responders, StepJob};
use crate::policy::{ContractCallStep, Targets};

/// Runs a pause (`pausing`) or an unpause step.
pub(super) async fn call(
    responders: &Responders,
    job: &StepJob,
    step: &ContractCallStep,
    default_function: &str,
    pausing: bool,
) -> Result<serde_json::Value, RespondError> {
    let function = step.function_or(default_function);
    let data = encode_call(&function, &[])?;
    let path = TxPath::open(
        responders,
        job,
        &step.chain,
        &step.key,
        step.max_fee_gwei,
        step.replace_after_ms,
    )
    .await?;
    let targets: Vec<(String, Address)> = match &step.contracts {
        Targets::Affected(_) => job
            .affected
            .iter()
            .filter(|(chain, _)| *chain == path.chain)
            .map(|(_, address)| (format!("{address:#x}"), *address))
            .collect(),
        Targets::Listed(list) => list
            .iter()
            .map(|label| Ok((label.clone(), responders.resolve(path.chain, label)?)))
            .collect::<Result<_, RespondError>>()?,
    };
    if targets.is_empty() {
        return Err(RespondError::config(format!(
            "the step has no contract to {} on chain `{}` (no affected contract there)",
            if pausing { "pause" } else { "unpause" },
            step.chain
        )));
    }
    let mut results = Vec::with_capacity(targets.len());
    for (label, address) in targets {
        let mut result = if paused(&path, address).await? == Some(pausing) {
            json!({ "outcome": if pausing { "already paused" } else { "already unpaused" } })
        } else {
            let intent = Intent {
                target: format!("{address:#x}"),
                to: address,
                data: data.clone(),
                value: U256::ZERO,
                function: function.clone(),
            };
            path.send(&intent).await?.to_json()
        };
        result["contract"] = json!(label);
        result["address"] = json!(address.to_checksum(None));
        results.push(result);
    }
    Ok(json!({
        "action": if pausing { "pause" } else { "unpause" },
        "chain": step.chain,
        "function": function,
        "sender": path.sender().to_checksum(None),
        "targets": results,
        "signed_outside_key_window": path.signed_outside_window(),
    }))
}

/// What `paused()` answers; `None` when the contract has no such function.
async fn paused(path: &TxPath<'_>, address: Address) -> Result<Option<bool>, RespondError> {
    let data = encode_call("paused()", &[])?;
    match path.pool.eth_call(address, &data, BlockId::Latest).await {
        Ok(answer) => Ok(match DynSolType::Bool.abi_decode(&answer) {
            Ok(DynSolValue::Bool(paused)) => Some(paused),
            _ => None,
        }),
        Err(error) if error.is_revert() => Ok(None),
        Err(error) => Err(RespondError::rpc("read paused()", path.chain)(error)),
    }
}

/// The calldata of `signature` (`transfer(address,uint256)`) with `args`.
pub(super) fn encode_call(signature: &str, args: &[DynSolValue]) -> Result<Bytes, RespondError> {
    let function = Function::parse(signature).map_err(|e| {
        RespondError::config(format!(
            "`{signature}` is not a function signature ({e}); write it as `pause()`"
        ))
    })?;
    if function.inputs.len() != args.len() {
        return Err(RespondError::config(format!(
            "`{signature}` takes {} arguments, and {} are given; a guardian function is called without arguments",
            function.inputs.len(),
            args.len()
        )));
    }
    function
        .abi_encode_input(args)
        .map(Bytes::from)
        .map_err(|e| RespondError::config(format!("cannot encode a call of `{signature}`: {e}")))
}
