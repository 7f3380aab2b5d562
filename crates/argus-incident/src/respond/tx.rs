//! The one path of every transaction a responder sends: simulate, sign,
//! record, send, replace, confirm.
//!
//! The order is what makes a re-run safe (see the parent module):
//!
//! 1. **Look in the store first.** A transaction this step signed for the
//!    same target is followed, whatever its state: its receipt is asked for,
//!    its raw bytes re-broadcast when the node does not know them (the run
//!    that signed it may have died before broadcasting), and it is replaced
//!    when it has waited longer than `replace_after`. No new signature is
//!    made for a target that has one, except a replacement (same nonce, so
//!    at most one of them can be mined).
//! 2. A new transaction is **simulated** (`eth_call` from the key's address)
//!    first: a call that would revert fails the step with the decoded reason
//!    and nothing is signed. Its nonce is the pending count, its gas the
//!    estimate ×1.2, its fees EIP-1559 from the node (tip suggestion, base
//!    fee ×2 + tip), capped by `max_fee_gwei`, its chain id checked against
//!    the node's.
//! 3. The key's access policy is checked **at every signature**, by the
//!    injected clock.
//! 4. The signed bytes are **recorded (status `signed`) and committed before
//!    they are broadcast**, then marked `sent`; the receipt is awaited within
//!    the run (tokio time). Status 1 is `confirmed` with its block, status 0
//!    `reverted` (a failure no retry can fix).
//!
//! How long one run waits: until the receipt, or four `replace_after`
//! periods (at least 10 s) by the runtime's clock, after which the run
//! fails as retryable and the next run follows the same transaction. How
//! long a transaction has waited is measured by the injected clock from the
//! moment it was signed, so it carries across runs and restarts.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use alloy_consensus::{SignableTransaction, Signed, TxEip1559, TxEnvelope};
use alloy_eips::eip2718::{Decodable2718, Encodable2718};
use alloy_primitives::{Address, B256, Bytes, TxKind, U256, hex};
use alloy_signer::SignerSync;
use argus_abi::decode::{DecodeError, DecodedRevert};
use argus_chain::{BlockId, CallRequest, RpcError, RpcPool, TransactionOutcome};
use argus_core::ChainId;
use argus_vault::Permit;
use serde_json::json;

use super::{GuardianKey, RespondError, Responders, StepJob};
use crate::db::{self, SignedTransaction};

/// The default highest fee per gas: 500 gwei.
const DEFAULT_MAX_FEE_GWEI: u64 = 500;
/// The default wait before a replacement: 30 s.
const DEFAULT_REPLACE_AFTER_MS: i64 = 30_000;
/// How often a pending transaction is looked at.
const POLL: Duration = Duration::from_millis(200);
const GWEI: u128 = 1_000_000_000;
/// The target name of a native transfer.
pub(crate) const NATIVE: &str = "native";

/// What one transaction should do.
#[derive(Debug, Clone)]
pub(crate) struct Intent {
    /// What it acts on, as recorded (`incident_transactions.target`).
    pub target: String,
    pub to: Address,
    pub data: Bytes,
    pub value: U256,
    /// For messages: `pause()`, `transfer(address,uint256)`, `native transfer`.
    pub function: String,
}

/// Fees per gas, in wei.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Fees {
    pub max_fee: u128,
    pub tip: u128,
}

/// What became of a target's transaction.
#[derive(Debug, Clone)]
pub(crate) struct TxReport {
    pub tx_hash: String,
    pub block: Option<u64>,
    pub nonce: u64,
    /// The transactions it replaced (or that replaced it), by hash.
    pub others: Vec<String>,
    /// Found in the store rather than signed by this run.
    pub resumed: bool,
    pub value: Option<U256>,
}

impl TxReport {
    pub(crate) fn to_json(&self) -> serde_json::Value {
        let mut out = json!({
            "outcome": "confirmed",
            "tx_hash": self.tx_hash,
            "block": self.block,
            "nonce": self.nonce,
            "resumed": self.resumed,
        });
        if !self.others.is_empty() {
            out["replaced"] = json!(self.others);
        }
        if let Some(value) = self.value {
            out["value_wei"] = json!(value.to_string());
        }
        out
    }
}

/// A chain and a key, ready to send one step's transactions.
#[derive(Debug)]
pub(crate) struct TxPath<'a> {
    responders: &'a Responders,
    job: &'a StepJob,
    pub chain: ChainId,
    pub pool: &'a RpcPool,
    key_label: &'a str,
    key: &'a GuardianKey,
    max_fee: u128,
    replace_after_ms: i64,
    /// A signature was allowed outside the key's time window: the caller
    /// must raise the critical signal the policy asks for.
    outside_window: AtomicBool,
}

impl<'a> TxPath<'a> {
    /// Checks that the chain's nodes serve the configured chain.
    pub(crate) async fn open(
        responders: &'a Responders,
        job: &'a StepJob,
        chain_name: &str,
        key_label: &'a str,
        max_fee_gwei: Option<u64>,
        replace_after_ms: Option<i64>,
    ) -> Result<TxPath<'a>, RespondError> {
        let (chain, pool) = responders.chain_by_name(chain_name)?;
        let key = responders.key_by_label(key_label)?;
        let found = pool
            .chain_id()
            .await
            .map_err(RespondError::rpc("read the chain id", chain))?;
        if found != chain.0 {
            return Err(RespondError::WrongChain {
                name: chain_name.to_owned(),
                expected: chain.0,
                found,
            });
        }
        Ok(TxPath {
            responders,
            job,
            chain,
            pool,
            key_label,
            key,
            max_fee: u128::from(max_fee_gwei.unwrap_or(DEFAULT_MAX_FEE_GWEI)) * GWEI,
            replace_after_ms: replace_after_ms.unwrap_or(DEFAULT_REPLACE_AFTER_MS).max(0),
            outside_window: AtomicBool::new(false),
        })
    }

    /// The key's address.
    pub(crate) fn sender(&self) -> Address {
        self.key.signer.address()
    }

    /// Whether a signature of this path was made outside the key's window.
    pub(crate) fn signed_outside_window(&self) -> bool {
        self.outside_window.load(Ordering::Relaxed)
    }

    fn rpc(&self, action: &'static str) -> impl FnOnce(RpcError) -> RespondError {
        RespondError::rpc(action, self.chain)
    }

    /// This step's recorded transactions for `target` on this chain.
    pub(crate) fn recorded(&self, target: &str) -> Result<Vec<SignedTransaction>, RespondError> {
        let conn = self
            .responders
            .store()
            .connect()
            .map_err(crate::IncidentError::from)?;
        let all = db::transactions_of_step(&conn, self.job.incident.id, &self.job.step_id)?;
        Ok(all
            .into_iter()
            .filter(|tx| tx.target == target && tx.chain == self.chain.0)
            .collect())
    }

    /// Sends `intent` once: follows this step's recorded transaction for the
    /// target if there is one, else simulates, signs, records and sends a new
    /// one. Returns when it is mined.
    pub(crate) async fn send(&self, intent: &Intent) -> Result<TxReport, RespondError> {
        if let Some(report) = self.resume(&intent.target).await? {
            return Ok(report);
        }
        let fees = self.fees().await?;
        self.send_new(intent, fees, None).await
    }

    /// Follows the recorded transactions of `target`, if any: `None` when
    /// this step never signed one for it.
    pub(crate) async fn resume(&self, target: &str) -> Result<Option<TxReport>, RespondError> {
        let recorded = self.recorded(target)?;
        if recorded.is_empty() {
            return Ok(None);
        }
        if let Some(done) = recorded.iter().find(|tx| tx.status == "confirmed") {
            return Ok(Some(TxReport {
                tx_hash: done.tx_hash.clone(),
                block: done.block,
                nonce: done.nonce,
                others: others(&recorded, &done.tx_hash),
                resumed: true,
                value: None,
            }));
        }
        let nonce = recorded.iter().map(|tx| tx.nonce).max().unwrap_or_default();
        let live: Vec<SignedTransaction> = recorded
            .into_iter()
            .filter(|tx| tx.nonce == nonce)
            .collect();
        if let Some(reverted) = live.iter().find(|tx| tx.status == "reverted") {
            return Err(RespondError::Reverted {
                target: target.to_owned(),
                tx_hash: reverted.tx_hash.clone(),
                block: reverted.block.unwrap_or_default(),
            });
        }
        let mut report = self.follow(target, live).await?;
        report.resumed = true;
        Ok(Some(report))
    }

    /// The node's fees: its tip suggestion and twice the latest base fee
    /// plus the tip, within the cap.
    pub(crate) async fn fees(&self) -> Result<Fees, RespondError> {
        let tip = self
            .pool
            .max_priority_fee_per_gas()
            .await
            .map_err(self.rpc("read the suggested tip"))?;
        let base = self
            .pool
            .header(BlockId::Latest)
            .await
            .map_err(self.rpc("read the latest base fee"))?
            .and_then(|block| block.base_fee_per_gas)
            .unwrap_or(0);
        let max_fee = base.saturating_mul(2).saturating_add(tip).min(self.max_fee);
        Ok(Fees {
            max_fee,
            tip: tip.min(max_fee),
        })
    }

    /// Simulates `intent` from the key's address: the reason when it would
    /// revert.
    pub(crate) async fn simulate(&self, intent: &Intent) -> Result<(), RespondError> {
        let call = self.call_request(intent);
        match self.pool.call_as(&call, BlockId::Latest).await {
            Ok(_) => Ok(()),
            Err(error) if error.is_revert() => Err(self.would_revert(intent, &error)),
            Err(error) => Err(self.rpc("simulate the call")(error)),
        }
    }

    fn call_request(&self, intent: &Intent) -> CallRequest {
        CallRequest {
            from: Some(self.sender()),
            to: intent.to,
            data: intent.data.clone(),
            value: intent.value,
        }
    }

    fn would_revert(&self, intent: &Intent, error: &RpcError) -> RespondError {
        RespondError::WouldRevert {
            target: intent.target.clone(),
            function: intent.function.clone(),
            sender: self.sender(),
            reason: self.revert_reason(intent.to, error),
        }
    }

    /// The revert reason, decoded when the node sent the data.
    fn revert_reason(&self, to: Address, error: &RpcError) -> String {
        let message = match error.root() {
            RpcError::Rpc { message, .. } => message.clone(),
            other => other.to_string(),
        };
        let Some(data) = error.revert_data() else {
            return format!("the node says: {message}");
        };
        match self.responders.abi_index().decode_revert(to, data) {
            Ok(DecodedRevert::Reason(reason)) => format!("reverted with reason \"{reason}\""),
            Ok(DecodedRevert::Empty) => "reverted without a reason".to_owned(),
            Ok(DecodedRevert::Panic { code, meaning }) => {
                format!("panicked with code {code:#x} ({meaning})")
            }
            Ok(DecodedRevert::Custom {
                signature, args, ..
            }) => {
                let values: Vec<String> =
                    args.iter().map(|a| a.value.to_json().to_string()).collect();
                format!(
                    "reverted with custom error {signature} ({})",
                    values.join(", ")
                )
            }
            Err(DecodeError::UnknownError { selector, .. }) => format!(
                "reverted with custom error {selector} (data {}); add the contract's ABI to the registry to decode it",
                hex::encode_prefixed(data)
            ),
            Err(other) => format!("reverted ({other}); data {}", hex::encode_prefixed(data)),
        }
    }

    /// Simulates, signs, records and sends a new transaction with `fees`
    /// (and `gas`, else the estimate ×1.2), then waits for it.
    pub(crate) async fn send_new(
        &self,
        intent: &Intent,
        fees: Fees,
        gas: Option<u64>,
    ) -> Result<TxReport, RespondError> {
        self.simulate(intent).await?;
        let gas_limit = match gas {
            Some(gas) => gas,
            None => {
                let estimate = match self.pool.estimate_gas(&self.call_request(intent)).await {
                    Ok(estimate) => estimate,
                    Err(error) if error.is_revert() => {
                        return Err(self.would_revert(intent, &error));
                    }
                    Err(error) => return Err(self.rpc("estimate the gas")(error)),
                };
                estimate.saturating_mul(6) / 5
            }
        };
        let nonce = self
            .pool
            .pending_transaction_count(self.sender())
            .await
            .map_err(self.rpc("read the key's nonce"))?;
        let tx = TxEip1559 {
            chain_id: self.chain.0,
            nonce,
            gas_limit,
            max_fee_per_gas: fees.max_fee,
            max_priority_fee_per_gas: fees.tip,
            to: TxKind::Call(intent.to),
            value: intent.value,
            access_list: Default::default(),
            input: intent.data.clone(),
        };
        let record = self.sign_and_record(&intent.target, tx, None)?;
        self.broadcast(&record).await?;
        let mut report = self.follow(&intent.target, vec![record]).await?;
        report.value = (intent.target == NATIVE).then_some(intent.value);
        Ok(report)
    }

    /// Signs `tx` (the key's policy permitting) and records it, committed,
    /// with status `signed`.
    fn sign_and_record(
        &self,
        target: &str,
        tx: TxEip1559,
        replaces: Option<String>,
    ) -> Result<SignedTransaction, RespondError> {
        if self.responders.permit(self.key_label, self.key)? == Permit::OutsideWindow {
            self.outside_window.store(true, Ordering::Relaxed);
        }
        let nonce = tx.nonce;
        let signature = self
            .key
            .signer
            .sign_hash_sync(&tx.signature_hash())
            .map_err(|e| RespondError::Policy {
                key: self.key_label.to_owned(),
                reason: format!("the signer failed: {e}"),
            })?;
        let signed: Signed<TxEip1559> = tx.into_signed(signature);
        let record = SignedTransaction {
            incident_id: self.job.incident.id,
            step_id: self.job.step_id.clone(),
            target: target.to_owned(),
            chain: self.chain.0,
            sender: format!("{:#x}", self.sender()),
            nonce,
            tx_hash: signed.hash().to_string(),
            raw: hex::encode_prefixed(signed.encoded_2718()),
            sent_ms: self.responders.clock().now_ms(),
            replaces,
            status: "signed".to_owned(),
            block: None,
        };
        let conn = self
            .responders
            .store()
            .connect()
            .map_err(crate::IncidentError::from)?;
        db::record_transaction(&conn, &record)?;
        Ok(record)
    }

    fn set_status(
        &self,
        tx_hash: &str,
        status: &str,
        block: Option<u64>,
    ) -> Result<(), RespondError> {
        let conn = self
            .responders
            .store()
            .connect()
            .map_err(crate::IncidentError::from)?;
        db::set_transaction_status(&conn, tx_hash, status, block)?;
        Ok(())
    }

    /// Sends a recorded transaction's bytes and marks it `sent`. A node that
    /// refuses them because it has them already (or has mined them) is fine:
    /// the receipt tells.
    async fn broadcast(&self, record: &SignedTransaction) -> Result<(), RespondError> {
        let raw = decode_hex(record)?;
        match self.pool.send_raw_transaction(&raw).await {
            Ok(_) => {}
            Err(error) if !error.is_retryable() => {
                tracing::debug!(tx = %record.tx_hash, %error, "the node refused a broadcast; following the receipt");
            }
            Err(error) => return Err(self.rpc("broadcast the transaction")(error)),
        }
        if record.status == "signed" {
            self.set_status(&record.tx_hash, "sent", None)?;
        }
        Ok(())
    }

    /// Waits for one of `live` (same nonce, oldest first) to be mined,
    /// re-broadcasting and replacing the newest as needed.
    async fn follow(
        &self,
        target: &str,
        mut live: Vec<SignedTransaction>,
    ) -> Result<TxReport, RespondError> {
        let budget = Duration::from_millis(u64::try_from(self.replace_after_ms).unwrap_or(0) * 4)
            .max(Duration::from_secs(10));
        let started = tokio::time::Instant::now();
        loop {
            if let Some(done) = self.mined(target, &live).await? {
                return Ok(done);
            }
            let Some(newest) = live.last().cloned() else {
                return Err(RespondError::config("no transaction to follow"));
            };
            let mined_nonce = self
                .pool
                .transaction_count(self.sender(), BlockId::Latest)
                .await
                .map_err(self.rpc("read the key's nonce"))?;
            if mined_nonce > newest.nonce {
                // A block may have come between the receipts and the count.
                if let Some(done) = self.mined(target, &live).await? {
                    return Ok(done);
                }
                return Err(RespondError::NonceTaken {
                    target: target.to_owned(),
                    sender: self.sender(),
                    nonce: newest.nonce,
                    hashes: live
                        .iter()
                        .map(|tx| tx.tx_hash.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            }
            let hash = parse_hash(&newest)?;
            let known = self
                .pool
                .knows_transaction(hash)
                .await
                .map_err(self.rpc("look up the transaction"))?;
            if !known {
                self.broadcast(&newest).await?;
            } else if newest.status == "signed" {
                self.set_status(&newest.tx_hash, "sent", None)?;
            }
            if let Some(last) = live.last_mut()
                && last.status == "signed"
            {
                last.status = "sent".to_owned();
            }
            let waited = self.responders.clock().now_ms() - newest.sent_ms;
            if waited >= self.replace_after_ms
                && let Some(replacement) = self.replace(target, &newest).await?
            {
                live.push(replacement);
                continue;
            }
            if started.elapsed() >= budget {
                return Err(RespondError::Pending {
                    target: target.to_owned(),
                    tx_hash: newest.tx_hash.clone(),
                    fee_gwei: fee_gwei_of(&newest),
                });
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// The receipt of whichever of `live` was mined, settled in the store.
    async fn mined(
        &self,
        target: &str,
        live: &[SignedTransaction],
    ) -> Result<Option<TxReport>, RespondError> {
        for candidate in live.iter().rev() {
            let hash = parse_hash(candidate)?;
            let outcome = self
                .pool
                .transaction_outcome(hash)
                .await
                .map_err(self.rpc("read a receipt"))?;
            if let Some(outcome) = outcome {
                return self.settle(target, live, candidate, outcome).map(Some);
            }
        }
        Ok(None)
    }

    fn settle(
        &self,
        target: &str,
        live: &[SignedTransaction],
        winner: &SignedTransaction,
        outcome: TransactionOutcome,
    ) -> Result<TxReport, RespondError> {
        let status = if outcome.success {
            "confirmed"
        } else {
            "reverted"
        };
        self.set_status(&winner.tx_hash, status, Some(outcome.block_number))?;
        for other in live.iter().filter(|tx| tx.tx_hash != winner.tx_hash) {
            self.set_status(&other.tx_hash, "replaced", None)?;
        }
        if !outcome.success {
            return Err(RespondError::Reverted {
                target: target.to_owned(),
                tx_hash: winner.tx_hash.clone(),
                block: outcome.block_number,
            });
        }
        Ok(TxReport {
            tx_hash: winner.tx_hash.clone(),
            block: Some(outcome.block_number),
            nonce: winner.nonce,
            others: others(live, &winner.tx_hash),
            resumed: false,
            value: None,
        })
    }

    /// Replaces `old` with the same transaction at a higher fee: ×1.25 at
    /// least and 10 % over the node's suggestion, within the cap. `None`
    /// when the cap leaves no room for a bump the node would accept.
    async fn replace(
        &self,
        target: &str,
        old: &SignedTransaction,
    ) -> Result<Option<SignedTransaction>, RespondError> {
        let mut tx = decode_record(old)?;
        let suggested = self.fees().await?;
        let bump = |old: u128, suggested: u128| {
            old.saturating_mul(5)
                .div_ceil(4)
                .max(suggested.saturating_mul(11).div_ceil(10))
                .min(self.max_fee)
        };
        let max_fee = bump(tx.max_fee_per_gas, suggested.max_fee);
        let tip = bump(tx.max_priority_fee_per_gas, suggested.tip).min(max_fee);
        // Nodes take a replacement only 10 % above both fees.
        let least = |old: u128| old.saturating_mul(11).div_ceil(10);
        if max_fee < least(tx.max_fee_per_gas) || tip < least(tx.max_priority_fee_per_gas) {
            tracing::warn!(tx = %old.tx_hash, "a stuck transaction is at the fee cap; waiting without replacing it");
            return Ok(None);
        }
        if target == NATIVE {
            // A sweep pays the higher fee out of the amount it moves.
            let extra = U256::from(u128::from(tx.gas_limit) * (max_fee - tx.max_fee_per_gas));
            if tx.value <= extra {
                return Ok(None);
            }
            tx.value -= extra;
        }
        tx.max_fee_per_gas = max_fee;
        tx.max_priority_fee_per_gas = tip;
        let record = self.sign_and_record(target, tx, Some(old.tx_hash.clone()))?;
        self.broadcast(&record).await?;
        self.set_status(&old.tx_hash, "replaced", None)?;
        tracing::info!(old = %old.tx_hash, new = %record.tx_hash, "replaced a stuck transaction with a higher fee");
        Ok(Some(record))
    }
}

fn others(all: &[SignedTransaction], winner: &str) -> Vec<String> {
    all.iter()
        .filter(|tx| tx.tx_hash != winner)
        .map(|tx| tx.tx_hash.clone())
        .collect()
}

fn parse_hash(record: &SignedTransaction) -> Result<B256, RespondError> {
    record.tx_hash.parse().map_err(|_| RespondError::BadRecord {
        target: record.target.clone(),
        tx_hash: record.tx_hash.clone(),
        detail: "the hash is not 32 bytes of hex".to_owned(),
    })
}

fn decode_hex(record: &SignedTransaction) -> Result<Vec<u8>, RespondError> {
    hex::decode(&record.raw).map_err(|e| RespondError::BadRecord {
        target: record.target.clone(),
        tx_hash: record.tx_hash.clone(),
        detail: e.to_string(),
    })
}

/// The EIP-1559 transaction inside a record's raw bytes.
fn decode_record(record: &SignedTransaction) -> Result<TxEip1559, RespondError> {
    let raw = decode_hex(record)?;
    let bad = |detail: String| RespondError::BadRecord {
        target: record.target.clone(),
        tx_hash: record.tx_hash.clone(),
        detail,
    };
    match TxEnvelope::decode_2718(&mut raw.as_slice()).map_err(|e| bad(e.to_string()))? {
        TxEnvelope::Eip1559(signed) => Ok(signed.tx().clone()),
        _ => Err(bad("not an EIP-1559 transaction".to_owned())),
    }
}

fn fee_gwei_of(record: &SignedTransaction) -> String {
    match decode_record(record) {
        Ok(tx) => format!("{:.3}", tx.max_fee_per_gas as f64 / GWEI as f64),
        Err(_) => "?".to_owned(),
    }
}
