//! Moving funds to the safe address and revoking allowances.
//!
//! Both are ERC-20 calls (and one native transfer) through the transaction
//! path, one target at a time, each confirmed before the next is read: the
//! native sweep comes last, after the token transfers have paid their gas,
//! and reads the balance that is left. A target this step already signed
//! for is followed from the store, never read and signed again, so a re-run
//! cannot move funds twice. A token with no balance, an allowance already
//! zero, or a native balance below the transfer's fee gets nothing.

use alloy_dyn_abi::{DynSolType, DynSolValue};
use alloy_primitives::{Address, U256};
use argus_chain::{BlockId, CallRequest};
use serde_json::json;

use super::contract::encode_call;
use super::tx::{Intent, NATIVE, TxPath};
use super::{RespondError, Responders, StepJob};
use crate::policy::{MoveFundsStep, RevokeStep};

/// Gas of a plain transfer.
const TRANSFER_GAS: u64 = 21_000;

/// Moves every listed token's balance, then the native balance less the
/// fee, from the key's address to the safe address.
pub(super) async fn move_funds(
    responders: &Responders,
    job: &StepJob,
    step: &MoveFundsStep,
) -> Result<serde_json::Value, RespondError> {
    let path = TxPath::open(responders, job, &step.chain, &step.key, None, None).await?;
    let from = path.sender();
    let mut results = Vec::new();
    for label in &step.tokens {
        let token = responders.resolve(path.chain, label)?;
        let target = format!("{token:#x}");
        let mut result = match path.resume(&target).await? {
            Some(report) => report.to_json(),
            None => {
                let balance = read_uint(
                    &path,
                    token,
                    "balanceOf(address)",
                    &[DynSolValue::Address(from)],
                )
                .await?;
                if balance.is_zero() {
                    json!({ "outcome": "no balance" })
                } else {
                    let intent = Intent {
                        target,
                        to: token,
                        data: encode_call(
                            "transfer(address,uint256)",
                            &[
                                DynSolValue::Address(step.to),
                                DynSolValue::Uint(balance, 256),
                            ],
                        )?,
                        value: U256::ZERO,
                        function: "transfer(address,uint256)".to_owned(),
                    };
                    let mut report = path.send(&intent).await?.to_json();
                    report["amount"] = json!(balance.to_string());
                    report
                }
            }
        };
        result["token"] = json!(label);
        result["address"] = json!(token.to_checksum(None));
        results.push(result);
    }
    let native = if step.native {
        Some(match path.resume(NATIVE).await? {
            Some(report) => report.to_json(),
            None => sweep(&path, step.to).await?,
        })
    } else {
        None
    };
    Ok(json!({
        "action": "move_funds",
        "chain": step.chain,
        "from": from.to_checksum(None),
        "to": step.to.to_checksum(None),
        "tokens": results,
        "native": native,
        "signed_outside_key_window": path.signed_outside_window(),
    }))
}

/// The native balance less the fee of the transfer, to `to`.
async fn sweep(path: &TxPath<'_>, to: Address) -> Result<serde_json::Value, RespondError> {
    let from = path.sender();
    let fees = path.fees().await?;
    let estimate = path
        .pool
        .estimate_gas(&CallRequest {
            from: Some(from),
            to,
            ..CallRequest::default()
        })
        .await
        .map_err(RespondError::rpc("estimate a transfer's gas", path.chain))?;
    // A plain transfer costs exactly its 21,000; a contract's receive
    // function gets the usual margin.
    let gas = if estimate <= TRANSFER_GAS {
        TRANSFER_GAS
    } else {
        estimate.saturating_mul(6) / 5
    };
    let balance = path
        .pool
        .balance(from, BlockId::Latest)
        .await
        .map_err(RespondError::rpc("read the key's balance", path.chain))?;
    let fee = U256::from(u128::from(gas).saturating_mul(fees.max_fee));
    if balance <= fee {
        return Ok(json!({
            "outcome": "below the fee",
            "balance_wei": balance.to_string(),
            "fee_wei": fee.to_string(),
        }));
    }
    let intent = Intent {
        target: NATIVE.to_owned(),
        to,
        data: Default::default(),
        value: balance - fee,
        function: "native transfer".to_owned(),
    };
    Ok(path.send_new(&intent, fees, Some(gas)).await?.to_json())
}

/// Sets every non-zero allowance of the key's address to a listed spender
/// to zero.
pub(super) async fn revoke(
    responders: &Responders,
    job: &StepJob,
    step: &RevokeStep,
) -> Result<serde_json::Value, RespondError> {
    let path = TxPath::open(responders, job, &step.chain, &step.key, None, None).await?;
    let owner = path.sender();
    let mut results = Vec::new();
    for label in &step.tokens {
        let token = responders.resolve(path.chain, label)?;
        for spender in &step.spenders {
            let target = format!("{token:#x}/{spender:#x}");
            let mut result = match path.resume(&target).await? {
                Some(report) => report.to_json(),
                None => {
                    let allowance = read_uint(
                        &path,
                        token,
                        "allowance(address,address)",
                        &[DynSolValue::Address(owner), DynSolValue::Address(*spender)],
                    )
                    .await?;
                    if allowance.is_zero() {
                        json!({ "outcome": "no allowance" })
                    } else {
                        let intent = Intent {
                            target,
                            to: token,
                            data: encode_call(
                                "approve(address,uint256)",
                                &[
                                    DynSolValue::Address(*spender),
                                    DynSolValue::Uint(U256::ZERO, 256),
                                ],
                            )?,
                            value: U256::ZERO,
                            function: "approve(address,uint256)".to_owned(),
                        };
                        let mut report = path.send(&intent).await?.to_json();
                        report["previous_allowance"] = json!(allowance.to_string());
                        report
                    }
                }
            };
            result["token"] = json!(label);
            result["address"] = json!(token.to_checksum(None));
            result["spender"] = json!(spender.to_checksum(None));
            results.push(result);
        }
    }
    Ok(json!({
        "action": "revoke_allowances",
        "chain": step.chain,
        "owner": owner.to_checksum(None),
        "allowances": results,
        "signed_outside_key_window": path.signed_outside_window(),
    }))
}

/// A view function answering one `uint256`.
async fn read_uint(
    path: &TxPath<'_>,
    token: Address,
    signature: &str,
    args: &[DynSolValue],
) -> Result<U256, RespondError> {
    let data = encode_call(signature, args)?;
    let answer = match path.pool.eth_call(token, &data, BlockId::Latest).await {
        Ok(answer) => answer,
        Err(error) if error.is_revert() => {
            return Err(RespondError::config(format!(
                "{token} refuses {signature}; is it an ERC-20 token?"
            )));
        }
        Err(error) => return Err(RespondError::rpc("read a token", path.chain)(error)),
    };
    match DynSolType::Uint(256).abi_decode(&answer) {
        Ok(DynSolValue::Uint(value, _)) => Ok(value),
        _ => Err(RespondError::config(format!(
            "{token} answered {signature} with {} bytes, not a uint256; is it an ERC-20 token?",
            answer.len()
        ))),
    }
}
