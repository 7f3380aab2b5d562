//! The chain task's own watches beside the rules: upgrades of registered
//! proxies ([`crate::upgrades`]) and a bot's key used elsewhere
//! ([`crate::keyuse`]). One type so `chain.rs` calls them at four points
//! (start, registry change, committed, reverted) and stays about the
//! follower, the engine and the record step.

use std::collections::BTreeMap;

use argus_chain::{FetchMode, RpcPool};
use argus_core::{Block, BlockRef, ChainId, Finding};
use argus_incident::policy::BotConfig;
use argus_registry::Registry;
use argus_sources::LogPosition;
use argus_store::Connection;

use crate::NodeError;
use crate::keyuse::{KeyUseProgress, KeyUseWatch};
use crate::upgrades::{UpgradeWatch, UpgradesConfig};

#[derive(Debug)]
pub(crate) struct Watches {
    upgrades: UpgradeWatch,
    key_use: KeyUseWatch,
}

/// What the watches made of committed blocks.
#[derive(Debug, Default)]
pub(crate) struct Seen {
    pub(crate) findings: Vec<Finding>,
    /// A proxy's link moved: the directory must be read again.
    pub(crate) registry_moved: bool,
}

impl Watches {
    /// Both watches of `chain`, with the EIP-1967 slots read at `head` (the
    /// findings to record at once) and the blocks of a grace read again
    /// from `tip` (the checkpoint).
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn start(
        chain: ChainId,
        upgrades: UpgradesConfig,
        bots: &BTreeMap<String, BotConfig>,
        fetch: &FetchMode,
        positions: &BTreeMap<String, LogPosition>,
        pool: &RpcPool,
        registry: &mut Registry,
        head: Option<BlockRef>,
        tip: Option<BlockRef>,
    ) -> Result<(Self, Vec<Finding>), NodeError> {
        let mut upgrades = UpgradeWatch::new(chain, upgrades);
        let findings = upgrades.refresh(pool, registry, head).await?;
        let mut key_use = KeyUseWatch::new(chain, bots, fetch, positions);
        key_use.refill(pool, tip).await?;
        Ok((Self { upgrades, key_use }, findings))
    }

    /// The registry changed: proxies that joined have their slots read at
    /// `tip`.
    pub(crate) async fn registry_changed(
        &mut self,
        pool: &RpcPool,
        registry: &mut Registry,
        tip: Option<BlockRef>,
    ) -> Result<Vec<Finding>, NodeError> {
        self.upgrades.refresh(pool, registry, tip).await
    }

    /// Committed blocks, the part that asks the node: upgrades followed
    /// (before the rules run, so they decode with the new ABI) and the
    /// bots' transactions taken. Then [`judge`](Self::judge).
    pub(crate) async fn committed(
        &mut self,
        pool: &RpcPool,
        registry: &mut Registry,
        blocks: &[Block],
    ) -> Result<Seen, NodeError> {
        let findings = self.upgrades.on_blocks(pool, registry, blocks).await?;
        self.key_use.take(pool, blocks).await?;
        Ok(Seen {
            registry_moved: !findings.is_empty(),
            findings,
        })
    }

    /// Committed blocks, the part that reads the store: the bots'
    /// transactions whose grace is over judged; what to write with the
    /// checkpoint.
    pub(crate) fn judge(
        &mut self,
        conn: &Connection,
        blocks: &[Block],
        now_ms: i64,
    ) -> Result<(Vec<Finding>, KeyUseProgress), NodeError> {
        self.key_use.judge(conn, blocks, now_ms)
    }

    /// Orphaned blocks: waiting transactions dropped, moved links put back
    /// as the chain says at `tip`.
    pub(crate) async fn reverted(
        &mut self,
        pool: &RpcPool,
        registry: &mut Registry,
        blocks: &[BlockRef],
        tip: Option<BlockRef>,
    ) -> Result<(), NodeError> {
        self.key_use.on_revert(blocks);
        self.upgrades.on_revert(pool, registry, blocks, tip).await
    }
}
