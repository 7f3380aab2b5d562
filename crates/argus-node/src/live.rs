//! The running node's live figures: each chain's committed tip, its RPC
//! pool (with the endpoints' figures) and the blocks counted since start.

use std::collections::BTreeMap;
use std::sync::Mutex;

use argus_chain::{EndpointStats, RpcPool};
use argus_core::{BlockRef, ChainId};

/// The figures of the running node that a server and metrics read.
#[derive(Debug, Default)]
pub(crate) struct Live {
    tips: Mutex<BTreeMap<ChainId, Option<BlockRef>>>,
    pools: Mutex<BTreeMap<ChainId, RpcPool>>,
    blocks: Mutex<BTreeMap<ChainId, BlockCounts>>,
    /// Told when a chain's committed tip moves (the cross-chain state
    /// rules' task waits on it).
    pub(crate) tips_moved: tokio::sync::Notify,
}

/// Blocks a chain task recorded since the node started (a process-local
/// counter: Prometheus reads a restart's reset as one; the store keeps
/// only the recent canonical blocks, so it cannot count them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BlockCounts {
    /// Blocks evaluated and committed.
    pub committed: u64,
    /// Blocks unwound by a reorg.
    pub reverted: u64,
}

impl Live {
    /// Counts blocks of `chain` recorded (called once their transaction
    /// committed).
    pub(crate) fn count_blocks(&self, chain: ChainId, committed: u64, reverted: u64) {
        let mut blocks = self.blocks.lock().unwrap_or_else(|p| p.into_inner());
        let counts = blocks.entry(chain).or_default();
        counts.committed = counts.committed.saturating_add(committed);
        counts.reverted = counts.reverted.saturating_add(reverted);
    }

    pub(crate) fn block_counts(&self) -> BTreeMap<ChainId, BlockCounts> {
        self.blocks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub(crate) fn set_tip(&self, chain: ChainId, tip: Option<BlockRef>) {
        let mut tips = self.tips.lock().unwrap_or_else(|p| p.into_inner());
        if tips.insert(chain, tip) != Some(tip) {
            self.tips_moved.notify_one();
        }
    }

    pub(crate) fn pool(&self, chain: ChainId) -> Option<RpcPool> {
        self.pools
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&chain)
            .cloned()
    }

    pub(crate) fn tips(&self) -> BTreeMap<ChainId, Option<BlockRef>> {
        self.tips.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub(crate) fn endpoint_stats(&self) -> BTreeMap<ChainId, Vec<EndpointStats>> {
        self.pools
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(chain, pool)| (*chain, pool.stats()))
            .collect()
    }

    pub(crate) fn set_pool(&self, chain: ChainId, pool: RpcPool) {
        let mut pools = self.pools.lock().unwrap_or_else(|p| p.into_inner());
        pools.insert(chain, pool);
    }
}
