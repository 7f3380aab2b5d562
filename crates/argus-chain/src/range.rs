//! Reading a historical range of blocks, for `argus replay --from --to`.
//!
//! No reorg model here: a replay reads blocks that are long final. It still
//! insists on consistency (each batch linked parent to child, logs checked
//! against the hashes, batches linked to each other) and re-reads a batch the
//! node changed under it. Batches are as large as the pool allows in one
//! JSON-RPC batch; `eth_getLogs` spans adapt to the provider (see
//! [`RpcPool::logs_between`]).

use alloy_primitives::B256;
use argus_core::Block;

use crate::error::FollowError;
use crate::fetch::{FetchMode, Fetched, Pace, fetch_range};
use crate::pool::RpcPool;

/// How often a batch is re-read when the node keeps changing it.
const MAX_REREADS: u32 = 5;

/// How far a range read has come.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RangeProgress {
    pub from: u64,
    pub to: u64,
    /// The last block delivered.
    pub done_through: u64,
    pub blocks_delivered: u64,
    pub logs_delivered: u64,
}

/// Blocks `from..=to`, read batch by batch with [`BlockRange::next_batch`].
pub struct BlockRange {
    pool: RpcPool,
    from: u64,
    to: u64,
    next: u64,
    /// Set when the last block delivered was u64::MAX (`next` cannot pass it).
    finished: bool,
    fetch: FetchMode,
    batch: u64,
    previous_hash: Option<B256>,
    blocks: u64,
    logs: u64,
    progress: Option<Box<dyn FnMut(RangeProgress) + Send>>,
}

impl std::fmt::Debug for BlockRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockRange")
            .field("from", &self.from)
            .field("to", &self.to)
            .field("next", &self.next)
            .field("batch", &self.batch)
            .finish()
    }
}

/// Reads blocks `from..=to` (inclusive) through `pool`.
pub fn range(pool: RpcPool, from: u64, to: u64, fetch: FetchMode) -> BlockRange {
    BlockRange {
        pool,
        from,
        to,
        next: from,
        finished: false,
        fetch,
        batch: 100,
        previous_hash: None,
        blocks: 0,
        logs: 0,
        progress: None,
    }
}

impl BlockRange {
    /// Most blocks per batch (default 100).
    pub fn batch(mut self, blocks: u64) -> Self {
        self.batch = blocks.max(1);
        self
    }

    /// Called after every batch.
    pub fn on_progress(mut self, callback: impl FnMut(RangeProgress) + Send + 'static) -> Self {
        self.progress = Some(Box::new(callback));
        self
    }

    /// The next batch, ascending; `None` when the range is done.
    pub async fn next_batch(&mut self) -> Option<Result<Vec<Block>, FollowError>> {
        if self.finished || self.next > self.to {
            return None;
        }
        let from = self.next;
        let to = self.to.min(from.saturating_add(self.batch - 1));
        for _ in 0..MAX_REREADS {
            let fetched = match fetch_range(&self.pool, from, to, &self.fetch, Pace::Urgent).await {
                Ok(fetched) => fetched,
                Err(error) => return Some(Err(error.into())),
            };
            match fetched {
                Fetched::Blocks(blocks) => {
                    let first_parent = blocks.first().map(|b| b.header.parent_hash);
                    if self.previous_hash.is_some() && first_parent != self.previous_hash {
                        return Some(Err(FollowError::MissingBlock {
                            what: format!(
                                "{from} linked to the previous batch (the range is being reorganised; replay older blocks or retry)"
                            ),
                        }));
                    }
                    self.previous_hash = blocks.last().map(|b| b.header.hash);
                    // `to` may be u64::MAX: the range is then done.
                    match to.checked_add(1) {
                        Some(next) => self.next = next,
                        None => self.finished = true,
                    }
                    self.blocks += blocks.len() as u64;
                    self.logs += blocks.iter().map(|b| b.logs.len() as u64).sum::<u64>();
                    if let Some(callback) = self.progress.as_mut() {
                        callback(RangeProgress {
                            from: self.from,
                            to: self.to,
                            done_through: to,
                            blocks_delivered: self.blocks,
                            logs_delivered: self.logs,
                        });
                    }
                    return Some(Ok(blocks));
                }
                Fetched::Missing(number) => {
                    return Some(Err(FollowError::MissingBlock {
                        what: number.to_string(),
                    }));
                }
                Fetched::Moved => continue,
            }
        }
        Some(Err(FollowError::MissingBlock {
            what: format!("{from}..={to} that stays on one branch"),
        }))
    }
}
