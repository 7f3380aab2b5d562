//! Turning a node's answers into Argus blocks, checking them on the way.
//!
//! A node's answer is untrusted input: a misbehaving or compromised provider
//! can send anything, and a forged block becomes a forged alert. Everything
//! here is pure (bytes in, values or a [`ParseError`] out), never panics, and
//! rejects what does not hold together: a header whose fields do not hash to
//! its `hash` (when verification is on), a log that names another block, logs
//! out of order, a receipt list that does not match the block's transactions.
//! A rejected answer is the endpoint's fault; the pool asks another one.
//!
//! The shapes are alloy's RPC types (`alloy-rpc-types-eth`, and `AnyNetwork`'s
//! transaction and receipt so an L2 deposit transaction still parses); this
//! module only converts and cross-checks.

use alloy_consensus::Transaction as _;
use alloy_json_rpc::{Id, Response, ResponsePayload};
use alloy_network::{AnyRpcTransaction, AnyTransactionReceipt, TransactionResponse as _};
use alloy_primitives::{B256, U64};
use alloy_rpc_types_eth::{BlockTransactions, Header};
use argus_core::{Block, BlockRef, ChainId, Log, Receipt, Transaction};
use serde_json::value::RawValue;

mod stream;

/// Longest error message kept from a node (they can be arbitrarily long).
const MAX_MESSAGE: usize = 300;

/// Why an answer was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Not a JSON-RPC response at all.
    #[error("not a JSON-RPC response: {detail}")]
    Envelope { detail: String },
    /// A response to another request.
    #[error("the response carries id {found}, not the request's id {expected}")]
    WrongId { expected: u64, found: String },
    /// A field is missing, has the wrong size or type.
    #[error("malformed {what}: {detail}")]
    Malformed { what: &'static str, detail: String },
    /// The fields are well formed but contradict each other or the request.
    #[error("inconsistent {what}: {detail}")]
    Inconsistent { what: &'static str, detail: String },
}

/// The payload of one JSON-RPC response.
#[derive(Debug)]
pub enum Answer {
    /// The `result` member, unparsed.
    Result(Box<RawValue>),
    /// The `error` member. `data` is its `data` when that is hex bytes
    /// (a revert's data, at most 64 KiB), kept whole for decoding.
    Error {
        code: i64,
        message: String,
        data: Option<alloy_primitives::Bytes>,
    },
}

/// A log with the block it claims to belong to (as `eth_getLogs` returns it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockLog {
    pub block_number: u64,
    pub block_hash: B256,
    pub log: Log,
}

/// One receipt with the logs it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptWithLogs {
    pub tx_hash: B256,
    pub tx_index: u64,
    pub receipt: Receipt,
    pub logs: Vec<Log>,
}

fn short(text: &str) -> String {
    let mut out: String = text.chars().take(MAX_MESSAGE).collect();
    if out.len() < text.len() {
        out.push('…');
    }
    out
}

fn malformed(what: &'static str, error: impl std::fmt::Display) -> ParseError {
    ParseError::Malformed {
        what,
        detail: short(&error.to_string()),
    }
}

fn inconsistent(what: &'static str, detail: String) -> ParseError {
    ParseError::Inconsistent { what, detail }
}

fn answer_of(response: Response) -> Answer {
    match response.payload {
        ResponsePayload::Success(raw) => Answer::Result(raw),
        ResponsePayload::Failure(error) => {
            // Some providers put the useful part in `data` (Tenderly's
            // "range ... is bigger than range limit" lives there).
            let mut message = short(&error.message);
            if let Some(data) = error.data.as_ref() {
                let text = data.get();
                if text != "null" {
                    message.push_str(" (");
                    message.push_str(&short(text));
                    message.push(')');
                }
            }
            Answer::Error {
                code: error.code,
                message,
                data: error_data(error.data.as_deref()),
            }
        }
    }
}

/// An error's `data` member when it is hex bytes of at most 64 KiB (the
/// revert data of `eth_call` and `eth_estimateGas`).
fn error_data(data: Option<&RawValue>) -> Option<alloy_primitives::Bytes> {
    let text: &str = serde_json::from_str(data?.get()).ok()?;
    let hex = text.strip_prefix("0x")?;
    if hex.len() > 2 * 64 * 1024 {
        return None;
    }
    alloy_primitives::hex::decode(hex).ok().map(Into::into)
}

/// The revert data in a `callTracer` trace (`output` of a call that has an
/// `error`), at most 64 KiB of it; `None` when the trace has none.
pub fn revert_output(trace: &serde_json::Value) -> Option<alloy_primitives::Bytes> {
    trace.get("error")?;
    let output = trace.get("output")?.as_str()?;
    let hex = output.strip_prefix("0x")?;
    if hex.len() > 2 * 64 * 1024 {
        return None;
    }
    alloy_primitives::hex::decode(hex).ok().map(Into::into)
}

/// Parses one JSON-RPC response and checks that it answers request `expected_id`.
pub fn response(bytes: &[u8], expected_id: u64) -> Result<Answer, ParseError> {
    let response: Response =
        serde_json::from_slice(bytes).map_err(|error| ParseError::Envelope {
            detail: short(&error.to_string()),
        })?;
    match &response.id {
        Id::Number(id) if *id == expected_id => {}
        // A node may answer an error it could not attribute with id null.
        Id::None if matches!(response.payload, ResponsePayload::Failure(_)) => {}
        other => {
            return Err(ParseError::WrongId {
                expected: expected_id,
                found: short(&format!("{other:?}")),
            });
        }
    }
    Ok(answer_of(response))
}

/// Parses the answer to a batch request whose ids were `first_id..first_id +
/// count`, returning the answers in request order.
pub fn batch_response(
    bytes: &[u8],
    first_id: u64,
    count: usize,
) -> Result<Vec<Answer>, ParseError> {
    let responses: Vec<Response> = match serde_json::from_slice(bytes) {
        Ok(list) => list,
        Err(error) => {
            // A node that refuses the whole batch answers with one error object.
            if let Ok(Answer::Error {
                code,
                message,
                data,
            }) = response(bytes, first_id)
            {
                return Ok((0..count)
                    .map(|_| Answer::Error {
                        code,
                        message: message.clone(),
                        data: data.clone(),
                    })
                    .collect());
            }
            return Err(ParseError::Envelope {
                detail: short(&error.to_string()),
            });
        }
    };
    let mut slots: Vec<Option<Answer>> = (0..count).map(|_| None).collect();
    for response in responses {
        let Id::Number(id) = response.id else {
            return Err(ParseError::WrongId {
                expected: first_id,
                found: short(&format!("{:?}", response.id)),
            });
        };
        let slot = id
            .checked_sub(first_id)
            .and_then(|at| usize::try_from(at).ok())
            .and_then(|at| slots.get_mut(at))
            .ok_or_else(|| ParseError::WrongId {
                expected: first_id,
                found: id.to_string(),
            })?;
        if slot.is_some() {
            return Err(inconsistent("batch", format!("id {id} answered twice")));
        }
        *slot = Some(answer_of(response));
    }
    slots
        .into_iter()
        .enumerate()
        .map(|(at, slot)| {
            slot.ok_or_else(|| {
                inconsistent(
                    "batch",
                    format!("no answer for id {}", first_id + at as u64),
                )
            })
        })
        .collect()
}

/// A hex quantity (`eth_blockNumber`, `eth_chainId`).
pub fn quantity(raw: &RawValue) -> Result<u64, ParseError> {
    let value: U64 = serde_json::from_str(raw.get()).map_err(|e| malformed("quantity", e))?;
    Ok(value.to::<u64>())
}

/// A 256-bit hex quantity (`eth_getBalance`).
pub fn quantity_u256(raw: &RawValue) -> Result<alloy_primitives::U256, ParseError> {
    serde_json::from_str(raw.get()).map_err(|e| malformed("quantity", e))
}

/// Hex bytes (`eth_call`'s return data).
pub fn bytes(raw: &RawValue) -> Result<alloy_primitives::Bytes, ParseError> {
    serde_json::from_str(raw.get()).map_err(|e| malformed("bytes", e))
}

/// A 32-byte hash (`eth_sendRawTransaction`).
pub fn hash(raw: &RawValue) -> Result<B256, ParseError> {
    serde_json::from_str(raw.get()).map_err(|e| malformed("hash", e))
}

fn is_null(raw: &RawValue) -> bool {
    raw.get().trim() == "null"
}

fn shell_of(header: &Header, chain: ChainId, verify_hash: bool) -> Result<Block, ParseError> {
    if verify_hash {
        let computed = header.inner.hash_slow();
        if computed != header.hash {
            return Err(inconsistent(
                "header",
                format!(
                    "block {} claims hash {} but its fields hash to {computed}",
                    header.inner.number, header.hash
                ),
            ));
        }
    }
    Ok(Block {
        chain,
        header: BlockRef {
            number: header.inner.number,
            hash: header.hash,
            parent_hash: header.inner.parent_hash,
            timestamp: header.inner.timestamp,
        },
        base_fee_per_gas: header.inner.base_fee_per_gas.map(u128::from),
        gas_used: header.inner.gas_used,
        gas_limit: header.inner.gas_limit,
        logs: Vec::new(),
        transactions: Vec::new(),
    })
}

/// A block header (`eth_getBlockByNumber(_, false)`, `eth_getBlockByHash`),
/// as a [`Block`] without logs or transactions; `None` when the node has no
/// such block. With `verify_hash`, the header's fields must hash to its
/// `hash` (turn it off only for chains whose header hashing is not
/// Ethereum's).
pub fn header(
    raw: &RawValue,
    chain: ChainId,
    verify_hash: bool,
) -> Result<Option<Block>, ParseError> {
    if is_null(raw) {
        return Ok(None);
    }
    let header: Header = serde_json::from_str(raw.get()).map_err(|e| malformed("header", e))?;
    shell_of(&header, chain, verify_hash).map(Some)
}

/// A block with its transactions (`eth_getBlockByNumber(_, true)`); the
/// transactions carry no receipt yet.
pub fn full_block(
    raw: &RawValue,
    chain: ChainId,
    verify_hash: bool,
) -> Result<Option<Block>, ParseError> {
    if is_null(raw) {
        return Ok(None);
    }
    // One transaction at a time; the whole-value parse below only for what
    // that path does not take (see `stream`).
    if let Some(block) = stream::full_block(raw, chain, verify_hash) {
        return Ok(Some(block));
    }
    full_block_whole(raw, chain, verify_hash).map(Some)
}

/// [`full_block`] from alloy's whole block (not `null`): what decides, and
/// words, every answer the one-transaction-at-a-time path does not take.
fn full_block_whole(
    raw: &RawValue,
    chain: ChainId,
    verify_hash: bool,
) -> Result<Block, ParseError> {
    let block: alloy_rpc_types_eth::Block<AnyRpcTransaction, Header> =
        serde_json::from_str(raw.get()).map_err(|e| malformed("block", e))?;
    let mut out = shell_of(&block.header, chain, verify_hash)?;
    let BlockTransactions::Full(transactions) = block.transactions else {
        if block.transactions.is_empty() {
            return Ok(out);
        }
        return Err(malformed(
            "block",
            "transactions came as hashes although full transactions were asked for",
        ));
    };
    out.transactions.reserve(transactions.len());
    for (position, tx) in transactions.iter().enumerate() {
        out.transactions
            .push(transaction(tx, position as u64, &out.header)?);
    }
    Ok(out)
}

fn transaction(
    tx: &AnyRpcTransaction,
    position: u64,
    block: &BlockRef,
) -> Result<Transaction, ParseError> {
    let index = tx.transaction_index().unwrap_or(position);
    if index != position {
        return Err(inconsistent(
            "transaction",
            format!("transaction at position {position} claims index {index}"),
        ));
    }
    if let Some(hash) = tx.block_hash()
        && hash != block.hash
    {
        return Err(inconsistent(
            "transaction",
            format!("transaction {index} names block {hash}, not {}", block.hash),
        ));
    }
    let gas_price = tx
        .effective_gas_price
        .or_else(|| alloy_consensus::Transaction::gas_price(tx))
        .unwrap_or_else(|| alloy_consensus::Transaction::max_fee_per_gas(tx));
    Ok(Transaction {
        hash: tx.tx_hash(),
        index,
        from: tx.from(),
        to: tx.to(),
        value: tx.value(),
        input: tx.input().clone(),
        nonce: tx.nonce(),
        gas: tx.gas_limit(),
        gas_price,
        receipt: None,
    })
}

fn log_of(
    log: &alloy_rpc_types_eth::Log,
    what: &'static str,
) -> Result<(u64, B256, Log), ParseError> {
    if log.removed {
        return Err(inconsistent(
            what,
            "a log marked removed in a canonical answer".into(),
        ));
    }
    let missing = |field: &str| malformed(what, format!("a log has no {field}"));
    let block_number = log.block_number.ok_or_else(|| missing("blockNumber"))?;
    let block_hash = log.block_hash.ok_or_else(|| missing("blockHash"))?;
    let topics = log.inner.data.topics();
    if topics.len() > 4 {
        return Err(malformed(
            what,
            format!("a log has {} topics", topics.len()),
        ));
    }
    Ok((
        block_number,
        block_hash,
        Log {
            address: log.inner.address,
            topics: topics.to_vec(),
            data: log.inner.data.data.clone(),
            log_index: log.log_index.ok_or_else(|| missing("logIndex"))?,
            tx_index: log
                .transaction_index
                .ok_or_else(|| missing("transactionIndex"))?,
            tx_hash: log
                .transaction_hash
                .ok_or_else(|| missing("transactionHash"))?,
        },
    ))
}

/// The answer to `eth_getLogs`: logs in (block number, log index) order,
/// each with its block. With `block`, every log must belong to that block.
pub fn logs(raw: &RawValue, block: Option<&BlockRef>) -> Result<Vec<BlockLog>, ParseError> {
    let list: Vec<alloy_rpc_types_eth::Log> =
        serde_json::from_str(raw.get()).map_err(|e| malformed("log list", e))?;
    let mut out = Vec::with_capacity(list.len());
    let mut previous: Option<(u64, u64)> = None;
    for log in &list {
        let (block_number, block_hash, log) = log_of(log, "log list")?;
        if let Some(expected) = block
            && (expected.hash != block_hash || expected.number != block_number)
        {
            return Err(inconsistent(
                "log list",
                format!(
                    "a log names block {block_number} ({block_hash}), not the requested {} ({})",
                    expected.number, expected.hash
                ),
            ));
        }
        let key = (block_number, log.log_index);
        if let Some(before) = previous
            && key <= before
        {
            return Err(inconsistent(
                "log list",
                format!(
                    "logs out of order: block {} index {} after block {} index {}",
                    key.0, key.1, before.0, before.1
                ),
            ));
        }
        previous = Some(key);
        out.push(BlockLog {
            block_number,
            block_hash,
            log,
        });
    }
    Ok(out)
}

fn receipt_of(r: &AnyTransactionReceipt, block: &BlockRef) -> Result<ReceiptWithLogs, ParseError> {
    let tx_hash = r.transaction_hash;
    let tx_index = r.transaction_index.ok_or_else(|| {
        malformed(
            "receipt",
            format!("receipt of {tx_hash} has no transactionIndex"),
        )
    })?;
    if r.block_hash != Some(block.hash) || r.block_number != Some(block.number) {
        return Err(inconsistent(
            "receipt",
            format!(
                "receipt of {tx_hash} names block {:?} ({:?}), not {} ({})",
                r.block_number, r.block_hash, block.number, block.hash
            ),
        ));
    }
    let envelope = &r.inner.inner;
    let mut logs = Vec::with_capacity(envelope.logs().len());
    for log in envelope.logs() {
        let (number, hash, log) = log_of(log, "receipt")?;
        if hash != block.hash || number != block.number || log.tx_hash != tx_hash {
            return Err(inconsistent(
                "receipt",
                format!("a log in the receipt of {tx_hash} names another block or transaction"),
            ));
        }
        logs.push(log);
    }
    Ok(ReceiptWithLogs {
        tx_hash,
        tx_index,
        receipt: Receipt {
            success: envelope.status(),
            gas_used: r.gas_used,
            effective_gas_price: r.effective_gas_price,
            contract_address: r.contract_address,
            revert_data: None,
        },
        logs,
    })
}

/// The answer to `eth_getBlockReceipts` for `block`, in transaction order.
pub fn receipts(
    raw: &RawValue,
    block: &BlockRef,
) -> Result<Option<Vec<ReceiptWithLogs>>, ParseError> {
    if let Some(list) = stream::receipt_list(raw, block) {
        return Ok(Some(list));
    }
    let Some(list) = receipt_list_json(raw)? else {
        return Ok(None);
    };
    receipt_list(&list, block).map(Some)
}

/// `eth_getBlockReceipts`' answer as alloy's receipts; `None` for `null`.
fn receipt_list_json(raw: &RawValue) -> Result<Option<Vec<AnyTransactionReceipt>>, ParseError> {
    if is_null(raw) {
        return Ok(None);
    }
    serde_json::from_str(raw.get())
        .map(Some)
        .map_err(|e| malformed("receipt list", e))
}

/// The answer to `eth_getBlockReceipts` asked by block *number*, checked
/// against `block`, the block fetched at that number beside it. `None` when
/// the node has no receipts there or they belong to another block of that
/// height: the node switched branches between the two answers, which is not
/// the node's fault and not an error.
pub fn receipts_of(
    raw: &RawValue,
    block: &BlockRef,
) -> Result<Option<Vec<ReceiptWithLogs>>, ParseError> {
    // Every receipt this block's: nothing of another branch among them.
    if let Some(list) = stream::receipt_list(raw, block) {
        return Ok(Some(list));
    }
    let Some(list) = receipt_list_json(raw)? else {
        return Ok(None);
    };
    if list
        .iter()
        .any(|r| r.block_number == Some(block.number) && r.block_hash != Some(block.hash))
    {
        return Ok(None);
    }
    receipt_list(&list, block).map(Some)
}

fn receipt_list(
    list: &[AnyTransactionReceipt],
    block: &BlockRef,
) -> Result<Vec<ReceiptWithLogs>, ParseError> {
    let mut out = Vec::with_capacity(list.len());
    for (position, r) in list.iter().enumerate() {
        let receipt = receipt_of(r, block)?;
        if receipt.tx_index != position as u64 {
            return Err(inconsistent(
                "receipt list",
                format!(
                    "receipt at position {position} claims index {}",
                    receipt.tx_index
                ),
            ));
        }
        out.push(receipt);
    }
    Ok(out)
}

/// The answer to `eth_getTransactionReceipt`; `None` when the node has none.
pub fn receipt(raw: &RawValue, block: &BlockRef) -> Result<Option<ReceiptWithLogs>, ParseError> {
    if is_null(raw) {
        return Ok(None);
    }
    let r: AnyTransactionReceipt =
        serde_json::from_str(raw.get()).map_err(|e| malformed("receipt", e))?;
    receipt_of(&r, block).map(Some)
}

/// Attaches receipts to a full block's transactions and fills its logs from
/// them, checking that both lists describe the same transactions.
pub fn attach_receipts(
    block: &mut Block,
    receipts: Vec<ReceiptWithLogs>,
) -> Result<(), ParseError> {
    if receipts.len() != block.transactions.len() {
        return Err(inconsistent(
            "receipt list",
            format!(
                "{} receipts for {} transactions in block {}",
                receipts.len(),
                block.transactions.len(),
                block.header.number
            ),
        ));
    }
    let mut logs = Vec::new();
    for (tx, r) in block.transactions.iter_mut().zip(receipts) {
        if tx.hash != r.tx_hash || tx.index != r.tx_index {
            return Err(inconsistent(
                "receipt list",
                format!("receipt of {} stands where {} is", r.tx_hash, tx.hash),
            ));
        }
        tx.gas_price = r.receipt.effective_gas_price;
        tx.receipt = Some(r.receipt);
        logs.extend(r.logs);
    }
    check_log_order(&logs, block.header.number)?;
    block.logs = logs;
    Ok(())
}

/// Logs of one block must come in strictly increasing log index.
pub fn check_log_order(logs: &[Log], number: u64) -> Result<(), ParseError> {
    for pair in logs.windows(2) {
        if pair[1].log_index <= pair[0].log_index {
            return Err(inconsistent(
                "log list",
                format!(
                    "block {number}: log index {} follows {}",
                    pair[1].log_index, pair[0].log_index
                ),
            ));
        }
    }
    Ok(())
}

/// A new-heads notification from an `eth_subscribe("newHeads")` stream:
/// `Some((subscription id, head number, head hash))`, or `None` when the
/// message is something else (a response to a request).
pub fn head_notification(bytes: &[u8]) -> Result<Option<(String, u64, B256)>, ParseError> {
    #[derive(serde::Deserialize)]
    struct Notification {
        method: Option<String>,
        params: Option<Params>,
    }
    #[derive(serde::Deserialize)]
    struct Params {
        subscription: String,
        result: HeadFields,
    }
    #[derive(serde::Deserialize)]
    struct HeadFields {
        number: U64,
        hash: B256,
    }
    let message: Notification =
        serde_json::from_slice(bytes).map_err(|e| malformed("notification", e))?;
    if message.method.as_deref() != Some("eth_subscription") {
        return Ok(None);
    }
    let params = message
        .params
        .ok_or_else(|| malformed("notification", "eth_subscription without params"))?;
    Ok(Some((
        params.subscription,
        params.result.number.to::<u64>(),
        params.result.hash,
    )))
}

/// The `id` of a message on a WebSocket, to route it to its request.
pub fn message_id(bytes: &[u8]) -> Option<u64> {
    #[derive(serde::Deserialize)]
    struct WithId {
        id: Option<Id>,
    }
    match serde_json::from_slice::<WithId>(bytes).ok()?.id? {
        Id::Number(id) => Some(id),
        _ => None,
    }
}

#[cfg(test)]
#[path = "parse_tests.rs"]
mod tests;
