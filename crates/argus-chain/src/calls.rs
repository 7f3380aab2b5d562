//! The typed calls the follower and the rules need.
//!
//! Every call returns checked Argus types, so nothing above this module sees
//! raw JSON. `eth_getLogs` over a range splits itself when a provider refuses
//! the range (each provider words it differently; see
//! [`RpcError::is_range_too_large`]) and remembers the span that worked, so a
//! long replay does not relearn the limit on every call.

use std::sync::atomic::Ordering;

use alloy_primitives::{Address, B256, Bytes, U64, U128, U256};
use argus_core::{Block, BlockRef, Log};
use serde_json::json;

use crate::error::RpcError;
use crate::parse::{self, BlockLog, ParseError, ReceiptWithLogs};
use crate::pool::{BlockId, RpcPool};

/// Which logs to ask for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogFilter {
    /// `None` for every address; `Some(empty)` matches nothing.
    pub addresses: Option<Vec<Address>>,
    /// Per position, the accepted topics (`None` for any).
    pub topics: Vec<Option<Vec<B256>>>,
}

impl LogFilter {
    /// Logs of these addresses.
    pub fn addresses(addresses: Option<Vec<Address>>) -> Self {
        Self {
            addresses,
            topics: Vec::new(),
        }
    }

    fn matches_nothing(&self) -> bool {
        self.addresses.as_ref().is_some_and(Vec::is_empty)
    }

    fn to_json(&self, mut object: serde_json::Map<String, serde_json::Value>) -> String {
        if let Some(addresses) = &self.addresses {
            object.insert("address".into(), json!(addresses));
        }
        if !self.topics.is_empty() {
            object.insert("topics".into(), json!(self.topics));
        }
        serde_json::Value::Array(vec![serde_json::Value::Object(object)]).to_string()
    }
}

/// A call to simulate (`eth_call`) or estimate (`eth_estimateGas`): who
/// sends what to whom.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallRequest {
    pub from: Option<Address>,
    pub to: Address,
    pub data: Bytes,
    pub value: U256,
}

impl CallRequest {
    fn to_json(&self) -> serde_json::Value {
        let mut call = json!({
            "to": format!("{:#x}", self.to),
            "data": alloy_primitives::hex::encode_prefixed(&self.data),
        });
        if let Some(from) = self.from {
            call["from"] = json!(format!("{from:#x}"));
        }
        if !self.value.is_zero() {
            call["value"] = json!(format!("{:#x}", self.value));
        }
        call
    }
}

/// What became of a mined transaction (`eth_getTransactionReceipt`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransactionOutcome {
    pub tx_hash: B256,
    /// Status 1: it did what it was asked; 0: it reverted.
    pub success: bool,
    pub block_number: u64,
    pub block_hash: B256,
    pub gas_used: u64,
    pub effective_gas_price: u128,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawOutcome {
    transaction_hash: B256,
    status: Option<U64>,
    block_number: Option<U64>,
    block_hash: Option<B256>,
    gas_used: U64,
    effective_gas_price: Option<U128>,
}

fn outcome(raw: &serde_json::value::RawValue) -> Result<Option<TransactionOutcome>, ParseError> {
    let found: Option<RawOutcome> =
        serde_json::from_str(raw.get()).map_err(|e| ParseError::Malformed {
            what: "receipt",
            detail: e.to_string(),
        })?;
    let Some(found) = found else { return Ok(None) };
    // A receipt without a block is a pending one (some nodes answer so).
    let (Some(number), Some(hash)) = (found.block_number, found.block_hash) else {
        return Ok(None);
    };
    let status = found.status.ok_or_else(|| ParseError::Malformed {
        what: "receipt",
        detail: "no status (a pre-Byzantium receipt)".into(),
    })?;
    Ok(Some(TransactionOutcome {
        tx_hash: found.transaction_hash,
        success: status == U64::from(1),
        block_number: number.to::<u64>(),
        block_hash: hash,
        gas_used: found.gas_used.to::<u64>(),
        effective_gas_price: found.effective_gas_price.map_or(0, |p| p.to::<u128>()),
    }))
}

fn quantity_u128(raw: &serde_json::value::RawValue) -> Result<u128, ParseError> {
    let value: U128 = serde_json::from_str(raw.get()).map_err(|e| ParseError::Malformed {
        what: "quantity",
        detail: e.to_string(),
    })?;
    Ok(value.to::<u128>())
}

fn hex(n: u64) -> String {
    format!("{n:#x}")
}

impl RpcPool {
    /// Any method, with failover; the result as plain JSON. For calls this
    /// crate has no typed form of (`eth_call`, `anvil_*` in tests).
    pub async fn request(
        &self,
        method: &str,
        params: serde_json::Value,
    ) -> Result<serde_json::Value, RpcError> {
        let params = match params {
            serde_json::Value::Array(_) => params,
            serde_json::Value::Null => serde_json::Value::Array(Vec::new()),
            other => serde_json::Value::Array(vec![other]),
        };
        self.call(method, &params.to_string(), |raw| {
            serde_json::from_str(raw.get()).map_err(|e| ParseError::Malformed {
                what: "result",
                detail: e.to_string(),
            })
        })
        .await
    }

    /// `eth_chainId`.
    pub async fn chain_id(&self) -> Result<u64, RpcError> {
        self.call("eth_chainId", "[]", parse::quantity).await
    }

    /// `eth_blockNumber`.
    pub async fn block_number(&self) -> Result<u64, RpcError> {
        self.call("eth_blockNumber", "[]", parse::quantity).await
    }

    /// `eth_getBalance` at `at` (`BlockId::Latest` for the head), in wei.
    pub async fn balance(
        &self,
        address: Address,
        at: BlockId,
    ) -> Result<alloy_primitives::U256, RpcError> {
        let params = format!("[\"{address:#x}\",{}]", at.tag_param());
        self.call("eth_getBalance", &params, parse::quantity_u256)
            .await
    }

    /// `eth_getCode` of each address at `at`, in JSON-RPC batches: the
    /// runtime code (empty where there is none), in the order asked.
    pub async fn codes(
        &self,
        addresses: &[Address],
        at: BlockId,
    ) -> Result<Vec<alloy_primitives::Bytes>, RpcError> {
        let params: Vec<String> = addresses
            .iter()
            .map(|address| format!("[\"{address:#x}\",{}]", at.tag_param()))
            .collect();
        self.call_batch("eth_getCode", &params, |_, raw| parse::bytes(raw))
            .await
    }

    /// `eth_call` of `data` on `to` at `at`: the return data. A revert is
    /// the node's error (`RpcError::Rpc`, with its data).
    pub async fn eth_call(
        &self,
        to: Address,
        data: &[u8],
        at: BlockId,
    ) -> Result<alloy_primitives::Bytes, RpcError> {
        let call = json!({ "to": format!("{to:#x}"), "data": alloy_primitives::hex::encode_prefixed(data) });
        let params = format!("[{call},{}]", at.tag_param());
        self.call("eth_call", &params, parse::bytes).await
    }

    /// `eth_call` of `call` (with its sender and value) at `at`: the return
    /// data. A revert is the node's error; [`RpcError::revert_data`] holds
    /// its data.
    pub async fn call_as(&self, call: &CallRequest, at: BlockId) -> Result<Bytes, RpcError> {
        let params = format!("[{},{}]", call.to_json(), at.tag_param());
        self.call("eth_call", &params, parse::bytes).await
    }

    /// `eth_getStorageAt` of `slot` of `address` at `at`: the 32-byte word.
    pub async fn storage_at(
        &self,
        address: Address,
        slot: B256,
        at: BlockId,
    ) -> Result<B256, RpcError> {
        let params = format!("[\"{address:#x}\",\"{slot}\",{}]", at.tag_param());
        self.call("eth_getStorageAt", &params, parse::hash).await
    }

    /// `eth_estimateGas` of `call` against the latest state.
    pub async fn estimate_gas(&self, call: &CallRequest) -> Result<u64, RpcError> {
        let params = format!("[{}]", call.to_json());
        self.call("eth_estimateGas", &params, parse::quantity).await
    }

    /// `eth_getTransactionCount` of `address` at `at`: the transactions it
    /// sent that are mined there.
    pub async fn transaction_count(&self, address: Address, at: BlockId) -> Result<u64, RpcError> {
        let params = format!("[\"{address:#x}\",{}]", at.tag_param());
        self.call("eth_getTransactionCount", &params, parse::quantity)
            .await
    }

    /// `eth_getTransactionCount(address, "pending")`: the next nonce, counting
    /// the node's pending transactions of `address`.
    pub async fn pending_transaction_count(&self, address: Address) -> Result<u64, RpcError> {
        let params = format!("[\"{address:#x}\",\"pending\"]");
        self.call("eth_getTransactionCount", &params, parse::quantity)
            .await
    }

    /// `eth_maxPriorityFeePerGas`: the node's suggested tip, in wei.
    pub async fn max_priority_fee_per_gas(&self) -> Result<u128, RpcError> {
        self.call("eth_maxPriorityFeePerGas", "[]", quantity_u128)
            .await
    }

    /// `eth_getTransactionReceipt`: `None` while the transaction is not mined
    /// (or unknown).
    pub async fn transaction_outcome(
        &self,
        hash: B256,
    ) -> Result<Option<TransactionOutcome>, RpcError> {
        let params = format!("[\"{hash}\"]");
        self.call("eth_getTransactionReceipt", &params, outcome)
            .await
    }

    /// Whether the node knows the transaction (pending or mined), by
    /// `eth_getTransactionByHash`.
    pub async fn knows_transaction(&self, hash: B256) -> Result<bool, RpcError> {
        let params = format!("[\"{hash}\"]");
        self.call("eth_getTransactionByHash", &params, |raw| {
            Ok(raw.get().trim() != "null")
        })
        .await
    }

    /// `eth_sendRawTransaction` of a signed transaction: its hash. Not
    /// retried on another endpoint blindly by the caller: the pool's own
    /// failover resends the same bytes, which a node accepts once.
    pub async fn send_raw_transaction(&self, signed: &[u8]) -> Result<B256, RpcError> {
        let params = format!("[\"{}\"]", alloy_primitives::hex::encode_prefixed(signed));
        self.call("eth_sendRawTransaction", &params, parse::hash)
            .await
    }

    /// A header (as a [`Block`] without logs or transactions); `None` when
    /// the node has no such block.
    pub async fn header(&self, id: BlockId) -> Result<Option<Block>, RpcError> {
        let (method, param) = id.method_and_param();
        let chain = self.chain();
        let verify = self.config().verify_block_hash;
        let params = format!("[{param},false]");
        self.call(method, &params, |raw| {
            same_block(id, parse::header(raw, chain, verify)?)
        })
        .await
    }

    /// Headers of `from..=to`, in JSON-RPC batches; `None` where the node
    /// has no block.
    pub async fn headers(&self, from: u64, to: u64) -> Result<Vec<Option<Block>>, RpcError> {
        let chain = self.chain();
        let verify = self.config().verify_block_hash;
        let params: Vec<String> = (from..=to).map(|n| format!("[\"{n:#x}\",false]")).collect();
        self.call_batch("eth_getBlockByNumber", &params, |at, raw| {
            same_block(
                BlockId::Number(from + at as u64),
                parse::header(raw, chain, verify)?,
            )
        })
        .await
    }

    /// A block with its transactions (no receipts yet).
    pub async fn full_block(&self, id: BlockId) -> Result<Option<Block>, RpcError> {
        let (method, param) = id.method_and_param();
        let chain = self.chain();
        let verify = self.config().verify_block_hash;
        let params = format!("[{param},true]");
        self.call(method, &params, |raw| {
            same_block(id, parse::full_block(raw, chain, verify)?)
        })
        .await
    }

    /// Full blocks `from..=to`, batched.
    pub async fn full_blocks(&self, from: u64, to: u64) -> Result<Vec<Option<Block>>, RpcError> {
        let chain = self.chain();
        let verify = self.config().verify_block_hash;
        let params: Vec<String> = (from..=to).map(|n| format!("[\"{n:#x}\",true]")).collect();
        self.call_batch("eth_getBlockByNumber", &params, |at, raw| {
            same_block(
                BlockId::Number(from + at as u64),
                parse::full_block(raw, chain, verify)?,
            )
        })
        .await
    }

    /// The receipts of `block` (a full block), from `eth_getBlockReceipts`
    /// or, where the node lacks it, one `eth_getTransactionReceipt` per
    /// transaction. `None` when the node no longer knows the block.
    pub async fn block_receipts(
        &self,
        block: &Block,
    ) -> Result<Option<Vec<ReceiptWithLogs>>, RpcError> {
        let header = block.header;
        if !self.inner.no_block_receipts.load(Ordering::Relaxed) {
            let params = format!("[\"{}\"]", header.hash);
            match self
                .call("eth_getBlockReceipts", &params, |raw| {
                    parse::receipts(raw, &header)
                })
                .await
            {
                Ok(found) => return Ok(found),
                Err(error) if error.root().is_method_unsupported() => {
                    tracing::info!(
                        "the node lacks eth_getBlockReceipts; fetching receipts one by one"
                    );
                    self.inner.no_block_receipts.store(true, Ordering::Relaxed);
                }
                Err(error) => return Err(error),
            }
        }
        let params: Vec<String> = block
            .transactions
            .iter()
            .map(|tx| format!("[\"{}\"]", tx.hash))
            .collect();
        let found = self
            .call_batch("eth_getTransactionReceipt", &params, |_, raw| {
                parse::receipt(raw, &header)
            })
            .await?;
        Ok(found.into_iter().collect())
    }

    /// The raw answer of `eth_getBlockReceipts` for block `number`, asked by
    /// number so that it can run beside the request for the block itself;
    /// the caller checks it against the block's hash
    /// ([`parse::receipts_of`]). `None` when the node lacks the method (the
    /// caller then falls back to [`block_receipts`](Self::block_receipts)).
    pub(crate) async fn block_receipts_by_number(
        &self,
        number: u64,
    ) -> Result<Option<Box<serde_json::value::RawValue>>, RpcError> {
        if self.inner.no_block_receipts.load(Ordering::Relaxed) {
            return Ok(None);
        }
        let params = format!("[\"{number:#x}\"]");
        match self
            .call("eth_getBlockReceipts", &params, |raw| Ok(raw.to_owned()))
            .await
        {
            Ok(raw) => Ok(Some(raw)),
            Err(error) if error.root().is_method_unsupported() => {
                tracing::info!("the node lacks eth_getBlockReceipts; fetching receipts one by one");
                self.inner.no_block_receipts.store(true, Ordering::Relaxed);
                Ok(None)
            }
            Err(error) => Err(error),
        }
    }

    /// The logs of one block, asked by its hash so they cannot come from
    /// another branch.
    pub async fn logs_at(
        &self,
        block: &BlockRef,
        filter: &LogFilter,
    ) -> Result<Vec<Log>, RpcError> {
        if filter.matches_nothing() {
            return Ok(Vec::new());
        }
        let mut object = serde_json::Map::new();
        object.insert("blockHash".into(), json!(block.hash));
        let params = filter.to_json(object);
        let logs = self
            .call("eth_getLogs", &params, |raw| parse::logs(raw, Some(block)))
            .await?;
        Ok(logs.into_iter().map(|entry| entry.log).collect())
    }

    /// The logs of `from..=to`, in order, each with its block. A range the
    /// provider refuses is halved until it passes; the working span is kept
    /// for later calls.
    pub async fn logs_between(
        &self,
        from: u64,
        to: u64,
        filter: &LogFilter,
    ) -> Result<Vec<BlockLog>, RpcError> {
        let mut out = Vec::new();
        if filter.matches_nothing() || from > to {
            return Ok(out);
        }
        let mut start = from;
        while start <= to {
            let span = self.inner.log_span.load(Ordering::Relaxed).max(1);
            let end = start.saturating_add(span - 1).min(to);
            let mut object = serde_json::Map::new();
            object.insert("fromBlock".into(), json!(hex(start)));
            object.insert("toBlock".into(), json!(hex(end)));
            let params = filter.to_json(object);
            let answer = self
                .call("eth_getLogs", &params, |raw| {
                    let logs = parse::logs(raw, None)?;
                    if let Some(stray) = logs
                        .iter()
                        .find(|l| l.block_number < start || l.block_number > end)
                    {
                        return Err(ParseError::Inconsistent {
                            what: "log list",
                            detail: format!(
                                "a log of block {} in the answer for {start}..={end}",
                                stray.block_number
                            ),
                        });
                    }
                    Ok(logs)
                })
                .await;
            match answer {
                Ok(logs) => {
                    out.extend(logs);
                    start = end + 1;
                }
                Err(error) if error.root().is_range_too_large() && end > start => {
                    // Half the refused span, rounded down (at least 1).
                    let narrower = (end - start).div_ceil(2);
                    tracing::debug!(
                        from = start,
                        to = end,
                        narrower,
                        "log range refused; halving it"
                    );
                    self.inner
                        .log_span
                        .store(narrower.max(1), Ordering::Relaxed);
                }
                Err(error) => return Err(error),
            }
        }
        Ok(out)
    }

    /// The span `logs_between` currently uses (`None` until a provider
    /// refused one).
    pub fn log_span(&self) -> Option<u64> {
        Some(self.inner.log_span.load(Ordering::Relaxed)).filter(|span| *span != u64::MAX)
    }
}

/// A node that answers with another block than the one asked for is faulty.
fn same_block(id: BlockId, found: Option<Block>) -> Result<Option<Block>, ParseError> {
    let Some(block) = found else { return Ok(None) };
    let wrong = match id {
        BlockId::Number(n) => block.header.number != n,
        BlockId::Hash(hash) => block.header.hash != hash,
        BlockId::Latest | BlockId::Safe | BlockId::Finalized => false,
    };
    if wrong {
        return Err(ParseError::Inconsistent {
            what: "block",
            detail: format!(
                "asked for {id:?}, got block {} ({})",
                block.header.number, block.header.hash
            ),
        });
    }
    Ok(Some(block))
}
