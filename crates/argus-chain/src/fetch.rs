//! Fetching a run of blocks so that everything in it belongs to one branch.
//!
//! A node can switch branches between two of our requests. The rule here:
//! headers first (they must link parent to child), then the contents by
//! block hash or checked against the hashes, then one more look at the last
//! header. If it has not changed, no block below it has either (each header
//! commits to its parent), so the run is consistent; if anything disagrees
//! the run is dropped as [`Fetched::Moved`] and the caller re-evaluates
//! instead of emitting a block with another branch's logs.

use alloy_primitives::Address;
use argus_core::Block;
use serde::Deserialize;

use crate::calls::LogFilter;
use crate::error::RpcError;
use crate::parse;
use crate::pool::{BlockId, RpcPool};

/// What the follower fetches for each block.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum FetchMode {
    /// Headers and logs (of these addresses, or of every contract when
    /// `None`); blocks carry no transactions. The cheap mode.
    Logs {
        #[serde(default)]
        addresses: Option<Vec<Address>>,
    },
    /// Headers, transactions and their receipts; the logs come from the
    /// receipts (every log of the block).
    Full,
}

impl Default for FetchMode {
    fn default() -> Self {
        Self::Logs { addresses: None }
    }
}

/// The outcome of one fetch.
#[derive(Debug)]
pub(crate) enum Fetched {
    /// The blocks, ascending and linked parent to child.
    Blocks(Vec<Block>),
    /// The node has no block at some height in the range (it is behind, or
    /// shortened its chain).
    Missing(u64),
    /// The node changed branch during the fetch; nothing is usable.
    Moved,
}

fn linked(blocks: &[Block]) -> bool {
    blocks
        .windows(2)
        .all(|pair| pair[1].header.parent_hash == pair[0].header.hash)
}

fn collect(found: Vec<Option<Block>>, from: u64) -> Result<Vec<Block>, u64> {
    found
        .into_iter()
        .enumerate()
        .map(|(at, block)| block.ok_or(from + at as u64))
        .collect()
}

/// The most blocks of a run whose receipts are asked beside the blocks; the
/// rest (a backfill's long runs) are asked one block after another.
const MAX_EARLY_RECEIPTS: usize = 4;

/// How hard a fetch presses the node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pace {
    /// Asked now: the blocks and (in full mode) their receipts at once.
    Urgent,
    /// Asked ahead of need: one request at a time, so that a node on the
    /// same machine leaves the rest of it to the alerts going out.
    Gentle,
}

/// Fetches `from..=to` (ascending, `from <= to`).
pub(crate) async fn fetch_range(
    pool: &RpcPool,
    from: u64,
    to: u64,
    mode: &FetchMode,
    pace: Pace,
) -> Result<Fetched, RpcError> {
    let early = match pace {
        Pace::Urgent => MAX_EARLY_RECEIPTS,
        Pace::Gentle => 0,
    };
    // In full mode the receipts are asked by number beside the blocks
    // rather than by hash after them: on a block of a thousand transactions
    // each answer takes a node hundreds of milliseconds to write, and that
    // time no longer adds up. They are checked against the blocks' hashes
    // below.
    let (mut blocks, mut early_receipts) = match mode {
        FetchMode::Logs { .. } => (pool.headers(from, to).await?, Vec::new()),
        FetchMode::Full => {
            let receipts = futures_util::future::join_all(
                (from..=to)
                    .take(early)
                    .map(|number| pool.block_receipts_by_number(number)),
            );
            let (blocks, receipts) = tokio::join!(pool.full_blocks(from, to), receipts);
            (blocks?, receipts)
        }
    };
    let mut blocks = match collect(std::mem::take(&mut blocks), from) {
        Ok(blocks) => blocks,
        Err(number) => return Ok(Fetched::Missing(number)),
    };
    if !linked(&blocks) {
        return Ok(Fetched::Moved);
    }
    match mode {
        FetchMode::Logs { addresses } => {
            let filter = LogFilter::addresses(addresses.clone());
            if let [block] = blocks.as_mut_slice() {
                block.logs = pool.logs_at(&block.header, &filter).await?;
            } else {
                let logs = pool.logs_between(from, to, &filter).await?;
                for entry in logs {
                    let Some(block) = entry
                        .block_number
                        .checked_sub(from)
                        .and_then(|at| usize::try_from(at).ok())
                        .and_then(|at| blocks.get_mut(at))
                    else {
                        return Ok(Fetched::Moved);
                    };
                    if block.header.hash != entry.block_hash {
                        return Ok(Fetched::Moved);
                    }
                    block.logs.push(entry.log);
                }
            }
        }
        FetchMode::Full => {
            let mut early = early_receipts.drain(..);
            for block in &mut blocks {
                let receipts = match early.next() {
                    Some(Ok(Some(raw))) => match parse::receipts_of(&raw, &block.header) {
                        Ok(Some(receipts)) => Some(receipts),
                        // Another branch's receipts at this height.
                        Ok(None) => return Ok(Fetched::Moved),
                        // Asked again by hash, where a faulty answer counts
                        // against the endpoint that gave it.
                        Err(_) => pool.block_receipts(block).await?,
                    },
                    Some(Err(error)) => return Err(error),
                    // Past the early ones, or the node lacks the method.
                    Some(Ok(None)) | None => pool.block_receipts(block).await?,
                };
                let Some(receipts) = receipts else {
                    return Ok(Fetched::Moved);
                };
                if parse::attach_receipts(block, receipts).is_err() {
                    // The receipts disagree with the transactions: the node
                    // answered from two branches.
                    return Ok(Fetched::Moved);
                }
            }
        }
    }
    if matches!(mode, FetchMode::Full) {
        for block in &mut blocks {
            attach_revert_data(pool, block).await;
        }
    }
    // Still the same branch at the top of the run?
    let last = blocks.last().map(|b| b.header);
    let now = pool.header(BlockId::Number(to)).await?;
    if now.map(|b| b.header.hash) != last.map(|h| h.hash) {
        return Ok(Fetched::Moved);
    }
    Ok(Fetched::Blocks(blocks))
}

/// Asks the node's call tracer what each failed transaction of `block`
/// reverted with. Best effort: a node without `debug_traceTransaction` (many
/// public providers) or an answer without `output` leaves `revert_data`
/// unset; the failure itself is in the receipt either way.
async fn attach_revert_data(pool: &RpcPool, block: &mut Block) {
    for tx in &mut block.transactions {
        let Some(receipt) = tx.receipt.as_mut() else {
            continue;
        };
        if receipt.success || pool.tracing_unsupported() {
            continue;
        }
        let params = serde_json::json!([
            format!("{:#x}", tx.hash),
            { "tracer": "callTracer", "tracerConfig": { "onlyTopCall": true } }
        ]);
        match pool.request("debug_traceTransaction", params).await {
            Ok(trace) => receipt.revert_data = parse::revert_output(&trace),
            Err(error) if error.is_method_unsupported() => pool.mark_tracing_unsupported(),
            Err(_) => {}
        }
    }
}
