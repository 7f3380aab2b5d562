//! The reorg-safe block follower.
//!
//! It turns a node's moving head into an ordered stream of
//! [`ChainEvent::Committed`] (new canonical blocks, ascending) and
//! [`ChainEvent::Reverted`] (blocks it delivered that are no longer
//! canonical, newest first), the model of reth's execution-extension
//! notifications. Every block it delivers is eventually either kept or
//! explicitly reverted, so the alert pipeline can retract exactly the alerts
//! of orphaned blocks.
//!
//! # Exactly once
//! The follower never writes its position anywhere. It keeps an in-memory
//! [`Cursor`], moves it when it hands out an event, and the *caller* stores
//! the event with [`crate::db::apply`] in the same SQLite transaction as the
//! alerts the event produced. The checkpoint therefore passes a block only
//! in the transaction that records its alerts: a crash before the commit
//! replays the block, a crash after it does not. If the caller fails to
//! persist an event, it must drop the follower and build a new one from
//! [`crate::db::load_cursor`]; the in-memory cursor is then ahead of the
//! store and would skip the event.
//!
//! # Reorgs
//! A new block whose parent is not our tip, or a tip the node no longer has
//! at its height, means a reorg. The follower walks back from its tip,
//! comparing its stored hashes with the node's canonical ones, until they
//! match; the blocks passed on the way are reverted, then the new branch is
//! committed from the common ancestor on. A walk longer than
//! `max_reorg_depth` is a fatal [`FollowError::ReorgTooDeep`]: the follower
//! would have to guess which delivered blocks were orphaned.

use std::time::Duration;

use alloy_primitives::{Address, B256};
use argus_core::{Block, BlockRef, ChainId};
use serde::{Deserialize, Deserializer};
use tokio::sync::watch;

use crate::error::FollowError;
use crate::fetch::{FetchMode, Fetched, Pace, fetch_range};
use crate::heads::Head;
use crate::pool::{BlockId, RpcPool};

/// Blocks kept beyond `max_reorg_depth`, so a reorg of exactly that depth
/// still finds its common ancestor.
pub const RETAIN_MARGIN: u64 = 16;

/// The most blocks fetched ahead, before they are deep enough to deliver.
/// With `confirmations: N` the block that becomes deliverable at the next
/// head is already in the node; fetching it while waiting takes the fetch
/// (hundreds of milliseconds for a block of a thousand transactions) out of
/// the time from finality to alert. In steady state one block is fetched
/// per head; the bound keeps memory small when many blocks wait.
const MAX_PREFETCH: usize = 4;

/// What the follower tells its caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainEvent {
    /// New canonical blocks, ascending, each the parent of the next; the
    /// first one's parent is the previous tip.
    Committed(Vec<Block>),
    /// Delivered blocks that left the canonical chain, newest first.
    Reverted(Vec<BlockRef>),
}

/// How deep a block must be before it is delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirmations {
    /// `head − n` (0: deliver the head at once, and revert on reorgs).
    Blocks(u64),
    /// The node's `safe` block.
    Safe,
    /// The node's `finalized` block (no reorg expected below it).
    Finalized,
}

impl<'de> Deserialize<'de> for Confirmations {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        const WANTED: &str = "a number of blocks (0 or more), \"safe\" or \"finalized\"";
        let field = "confirmations";
        match deserializer.deserialize_any(BlockOrTag {
            field,
            wanted: WANTED,
        })? {
            Written::Number(n) => Ok(Self::Blocks(n)),
            Written::Tag(tag) => match tag.as_str() {
                "safe" => Ok(Self::Safe),
                "finalized" => Ok(Self::Finalized),
                _ => Err(serde::de::Error::custom(format!(
                    "`confirmations`: `{tag}` is not {WANTED}"
                ))),
            },
        }
    }
}

/// A block count or number, or a tag, as written; anything else (a
/// negative or fractional number, a list) is refused naming what is wanted
/// rather than with serde's "did not match any variant".
enum Written {
    Number(u64),
    Tag(String),
}

struct BlockOrTag {
    field: &'static str,
    wanted: &'static str,
}

impl serde::de::Visitor<'_> for BlockOrTag {
    type Value = Written;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "`{}`: {}", self.field, self.wanted)
    }

    fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<Written, E> {
        Ok(Written::Number(n))
    }

    fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<Written, E> {
        u64::try_from(n).map(Written::Number).map_err(|_| {
            E::custom(format!(
                "`{}`: {n} is negative; write {}",
                self.field, self.wanted
            ))
        })
    }

    fn visit_str<E: serde::de::Error>(self, tag: &str) -> Result<Written, E> {
        Ok(Written::Tag(tag.to_owned()))
    }
}

/// Where to begin when the store has no cursor for the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// The confirmed head at the first call.
    Latest,
    /// This block number.
    Block(u64),
}

impl<'de> Deserialize<'de> for Start {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        const WANTED: &str = "\"latest\" or a block number";
        let field = "start";
        match deserializer.deserialize_any(BlockOrTag {
            field,
            wanted: WANTED,
        })? {
            Written::Number(n) => Ok(Self::Block(n)),
            Written::Tag(tag) if tag == "latest" => Ok(Self::Latest),
            Written::Tag(tag) => Err(serde::de::Error::custom(format!(
                "`start`: `{tag}` is not {WANTED}"
            ))),
        }
    }
}

/// How a follower runs.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FollowerConfig {
    pub chain: ChainId,
    #[serde(default = "default_confirmations")]
    pub confirmations: Confirmations,
    #[serde(default = "default_max_reorg_depth")]
    pub max_reorg_depth: u64,
    #[serde(default = "default_start")]
    pub start: Start,
    #[serde(default)]
    pub fetch: FetchMode,
    /// Most blocks in one `Committed` while catching up.
    #[serde(default = "default_batch")]
    pub batch: u64,
    /// Longest sleep between two looks at the head when no new-head signal
    /// arrives (a safety net under the pool's heads).
    #[serde(
        default = "default_poll",
        deserialize_with = "argus_core::duration::deserialize"
    )]
    pub poll_interval: Duration,
}

fn default_confirmations() -> Confirmations {
    Confirmations::Blocks(0)
}
fn default_max_reorg_depth() -> u64 {
    64
}
fn default_start() -> Start {
    Start::Latest
}
fn default_batch() -> u64 {
    100
}
fn default_poll() -> Duration {
    Duration::from_secs(1)
}

impl FollowerConfig {
    /// A configuration with the defaults: no confirmations, depth 64, start
    /// at the latest block, logs of every contract.
    pub fn new(chain: ChainId) -> Self {
        Self {
            chain,
            confirmations: default_confirmations(),
            max_reorg_depth: default_max_reorg_depth(),
            start: default_start(),
            fetch: FetchMode::default(),
            batch: default_batch(),
            poll_interval: default_poll(),
        }
    }

    /// How many recent blocks the cursor (and the store) keeps.
    pub fn retained_blocks(&self) -> u64 {
        self.max_reorg_depth.saturating_add(RETAIN_MARGIN)
    }
}

/// Where a follower stands: the recent canonical blocks it delivered
/// (ascending, linked) and the next block number to deliver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub chain: ChainId,
    /// The next block to deliver; `None` before anything was delivered.
    pub next: Option<u64>,
    /// Recently delivered canonical blocks, ascending.
    pub recent: Vec<BlockRef>,
}

impl Cursor {
    /// A cursor that has delivered nothing.
    pub fn new(chain: ChainId) -> Self {
        Self {
            chain,
            next: None,
            recent: Vec::new(),
        }
    }

    /// The newest delivered block.
    pub fn tip(&self) -> Option<&BlockRef> {
        self.recent.last()
    }

    /// Moves the cursor past `event`, keeping `retain` blocks; the same
    /// change [`crate::db::apply`] makes in the store.
    pub fn apply(&mut self, event: &ChainEvent, retain: u64) {
        match event {
            ChainEvent::Committed(blocks) => {
                self.recent.extend(blocks.iter().map(|b| b.header));
                if let Some(last) = blocks.last() {
                    self.next = Some(last.header.number + 1);
                }
            }
            ChainEvent::Reverted(refs) => {
                for reverted in refs {
                    if self.recent.last().map(|b| b.hash) == Some(reverted.hash) {
                        self.recent.pop();
                    }
                }
                if let Some(oldest) = refs.last() {
                    self.next = Some(oldest.number);
                }
            }
        }
        let keep = usize::try_from(retain).unwrap_or(usize::MAX);
        if self.recent.len() > keep {
            let drop = self.recent.len() - keep;
            self.recent.drain(..drop);
        }
    }
}

/// Follows one chain through an [`RpcPool`].
#[derive(Debug)]
pub struct BlockFollower {
    pool: RpcPool,
    config: FollowerConfig,
    cursor: Cursor,
    heads: watch::Receiver<Head>,
    chain_checked: bool,
    /// Blocks above the confirmed head, fetched while waiting (ascending,
    /// linked); delivered once deep enough if the node still has them.
    ahead: Vec<Block>,
}

impl BlockFollower {
    /// A follower resuming from `cursor` (from [`crate::db::load_cursor`],
    /// or [`Cursor::new`] for a first run). Must be called inside a tokio
    /// runtime (it starts the pool's head watch).
    pub fn new(pool: RpcPool, config: FollowerConfig, cursor: Cursor) -> Self {
        let heads = pool.heads();
        Self {
            pool,
            config,
            cursor,
            heads,
            chain_checked: false,
            ahead: Vec::new(),
        }
    }

    /// The in-memory cursor (ahead of the store until the caller persists).
    pub fn cursor(&self) -> &Cursor {
        &self.cursor
    }

    /// The configuration.
    pub fn config(&self) -> &FollowerConfig {
        &self.config
    }

    /// Adds `addresses` to the log filter when the follower fetches the logs
    /// of listed addresses only (`fetch: { logs: { addresses: [...] } }`),
    /// so a contract that joined the registry while running is fetched from
    /// the next block on. Fetching every log, or full blocks, needs nothing.
    /// Returns how many addresses were new.
    pub fn watch_addresses(&mut self, addresses: impl IntoIterator<Item = Address>) -> usize {
        let FetchMode::Logs {
            addresses: Some(list),
        } = &mut self.config.fetch
        else {
            return 0;
        };
        let mut added = 0;
        for address in addresses {
            if !list.contains(&address) {
                list.push(address);
                added += 1;
            }
        }
        if added > 0 {
            // Fetched without the new addresses' logs.
            self.ahead.clear();
        }
        added
    }

    /// The next event; waits for the chain to move when there is none.
    /// After an error the follower is still usable when
    /// [`FollowError::is_retryable`] says so (its cursor has not moved).
    pub async fn next(&mut self) -> Result<ChainEvent, FollowError> {
        if !self.chain_checked {
            let found = self.pool.chain_id().await?;
            if found != self.config.chain.0 {
                return Err(FollowError::WrongChain {
                    expected: self.config.chain.0,
                    found,
                });
            }
            self.chain_checked = true;
        }
        let mut agains = 0;
        loop {
            // Whatever happens from here on is newer than the heads seen so
            // far, so a head arriving meanwhile wakes the next wait at once.
            self.heads.borrow_and_update();
            match self.step().await? {
                Step::Event(event) => {
                    let retain = self.config.retained_blocks();
                    self.cursor.apply(&event, retain);
                    return Ok(event);
                }
                // A node that keeps contradicting itself is not hammered.
                Step::Again if agains < 3 => agains += 1,
                Step::Again | Step::Idle => {
                    agains = 0;
                    self.wait_for_head().await;
                }
            }
        }
    }

    async fn wait_for_head(&mut self) {
        tokio::select! {
            _ = self.heads.changed() => {}
            () = tokio::time::sleep(self.config.poll_interval) => {}
        }
    }

    /// The highest block that may be delivered now, and the node's head
    /// when it is known without another request (`confirmations: N`).
    async fn target(&self) -> Result<(Option<u64>, Option<u64>), FollowError> {
        Ok(match self.config.confirmations {
            Confirmations::Blocks(n) => {
                let head = self.pool.block_number().await?;
                (head.checked_sub(n), Some(head))
            }
            Confirmations::Safe => (
                self.pool
                    .header(BlockId::Safe)
                    .await?
                    .map(|b| b.header.number),
                None,
            ),
            Confirmations::Finalized => (
                self.pool
                    .header(BlockId::Finalized)
                    .await?
                    .map(|b| b.header.number),
                None,
            ),
        })
    }

    /// One look at the chain.
    async fn step(&mut self) -> Result<Step, FollowError> {
        let (target, head) = self.target().await?;
        let Some(target) = target else {
            return Ok(Step::Idle);
        };
        let tip = self.cursor.tip().copied();
        let from = match (tip, self.cursor.next) {
            (Some(tip), _) => tip.number + 1,
            (None, Some(next)) => next,
            (None, None) => match self.config.start {
                Start::Latest => target,
                Start::Block(n) => n,
            },
        };
        if from > target {
            // Nothing new; but the tip itself may have been replaced (a
            // reorg that keeps the height, or a shorter chain).
            if let Some(tip) = tip {
                let canonical = self.pool.header(BlockId::Number(tip.number)).await?;
                if canonical.map(|b| b.header.hash) != Some(tip.hash) {
                    return self.unwind().await;
                }
            }
            if let Some(head) = head {
                self.fetch_ahead(from, head).await;
            }
            return Ok(Step::Idle);
        }
        let to = target.min(from.saturating_add(self.config.batch.max(1) - 1));
        let fetched = match self.take_ahead(from, to, tip.map(|t| t.hash)).await? {
            Some(blocks) => Fetched::Blocks(blocks),
            None => fetch_range(&self.pool, from, to, &self.config.fetch, Pace::Urgent).await?,
        };
        let blocks = match fetched {
            Fetched::Blocks(blocks) => blocks,
            Fetched::Missing(number) => {
                tracing::debug!(number, "the node has no block there yet; waiting");
                return Ok(Step::Idle);
            }
            Fetched::Moved => {
                tracing::debug!(
                    from,
                    to,
                    "the node changed branch during the fetch; looking again"
                );
                return Ok(Step::Again);
            }
        };
        if let (Some(tip), Some(first)) = (tip, blocks.first())
            && first.header.parent_hash != tip.hash
        {
            return self.unwind().await;
        }
        Ok(Step::Event(ChainEvent::Committed(blocks)))
    }

    /// Fetches the blocks from `from` up to `head` (at most
    /// [`MAX_PREFETCH`]) that are not fetched yet, to deliver them when they
    /// are deep enough. Best effort: a failure leaves them to the fetch at
    /// delivery, which reports it.
    async fn fetch_ahead(&mut self, from: u64, head: u64) {
        self.ahead.retain(|b| b.header.number >= from);
        if self.ahead.first().is_some_and(|b| b.header.number != from) {
            self.ahead.clear();
        }
        let next = self.ahead.last().map_or(from, |b| b.header.number + 1);
        let last = head.min(from.saturating_add(MAX_PREFETCH as u64 - 1));
        if next > last {
            return;
        }
        match fetch_range(&self.pool, next, last, &self.config.fetch, Pace::Gentle).await {
            Ok(Fetched::Blocks(blocks)) => {
                let joins = match (self.ahead.last(), blocks.first()) {
                    (Some(ours), Some(first)) => first.header.parent_hash == ours.header.hash,
                    _ => true,
                };
                if !joins {
                    // The unconfirmed blocks were replaced meanwhile.
                    self.ahead.clear();
                    return;
                }
                self.ahead.extend(blocks);
            }
            Ok(Fetched::Missing(_) | Fetched::Moved) => {}
            Err(error) => tracing::debug!(%error, from = next, to = last, "fetching ahead failed"),
        }
    }

    /// The blocks `from..=to` (or the first of them) fetched ahead, if they
    /// follow `tip` and the node still has the last of them: each header
    /// commits to its parent, so the run below it is canonical too, and the
    /// delivery is what a fetch now would give. `None` sends the caller to
    /// the node.
    async fn take_ahead(
        &mut self,
        from: u64,
        to: u64,
        tip: Option<B256>,
    ) -> Result<Option<Vec<Block>>, FollowError> {
        let ahead = std::mem::take(&mut self.ahead);
        let Some(first) = ahead.first() else {
            return Ok(None);
        };
        if first.header.number != from || tip.is_some_and(|tip| first.header.parent_hash != tip) {
            return Ok(None);
        }
        let mut blocks = ahead;
        let keep = blocks.split_off(
            blocks
                .iter()
                .position(|b| b.header.number > to)
                .unwrap_or(blocks.len()),
        );
        let Some(last) = blocks.last().map(|b| b.header) else {
            return Ok(None);
        };
        let now = self.pool.header(BlockId::Number(last.number)).await?;
        if now.map(|b| b.header.hash) != Some(last.hash) {
            return Ok(None);
        }
        self.ahead = keep;
        Ok(Some(blocks))
    }

    /// Walks back from the tip to the newest block the node still has, and
    /// reverts the ones above it; looks again when the tip turned out
    /// canonical (the node moved back meanwhile).
    async fn unwind(&mut self) -> Result<Step, FollowError> {
        let mut reverted = Vec::new();
        let window_full = self.cursor.recent.len() as u64 >= self.config.retained_blocks();
        for ours in self.cursor.recent.iter().rev() {
            let canonical = self.pool.header(BlockId::Number(ours.number)).await?;
            if canonical.map(|b| b.header.hash) == Some(ours.hash) {
                break;
            }
            if reverted.len() as u64 >= self.config.max_reorg_depth {
                return Err(FollowError::ReorgTooDeep {
                    chain: self.config.chain.0,
                    max_depth: self.config.max_reorg_depth,
                    number: ours.number,
                });
            }
            reverted.push(*ours);
        }
        if reverted.len() == self.cursor.recent.len() && window_full {
            // Every block we know is orphaned: the ancestor is older than
            // what we keep.
            return Err(FollowError::ReorgTooDeep {
                chain: self.config.chain.0,
                max_depth: self.config.max_reorg_depth,
                number: reverted.last().map_or(0, |b| b.number),
            });
        }
        if reverted.is_empty() {
            return Ok(Step::Again);
        }
        self.ahead.clear();
        tracing::info!(
            chain = self.config.chain.0,
            depth = reverted.len(),
            "reorg: reverting orphaned blocks"
        );
        Ok(Step::Event(ChainEvent::Reverted(reverted)))
    }
}

/// What one look at the chain found.
enum Step {
    Event(ChainEvent),
    /// Nothing to deliver until the head moves.
    Idle,
    /// Something changed under us; look again at once.
    Again,
}

#[cfg(test)]
mod written_tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn confirmations(value: serde_json::Value) -> Result<Confirmations, String> {
        serde_json::from_value(value).map_err(|e| e.to_string())
    }

    #[test]
    fn confirmations_and_start_name_the_field_and_the_allowed_values() {
        assert_eq!(
            confirmations(serde_json::json!(3)),
            Ok(Confirmations::Blocks(3))
        );
        assert_eq!(
            confirmations(serde_json::json!("safe")),
            Ok(Confirmations::Safe)
        );
        for bad in [
            serde_json::json!(-1),
            serde_json::json!("soon"),
            serde_json::json!(1.5),
            serde_json::json!([1]),
        ] {
            let error = confirmations(bad.clone()).unwrap_err();
            assert!(error.contains("`confirmations`"), "{bad}: {error}");
            assert!(error.contains("\"finalized\""), "{bad}: {error}");
            assert!(!error.contains("untagged"), "{bad}: {error}");
        }
        let error = serde_json::from_value::<Start>(serde_json::json!(-5))
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("`start`") && error.contains("negative"),
            "{error}"
        );
        assert_eq!(
            serde_json::from_value::<Start>(serde_json::json!("latest")).unwrap(),
            Start::Latest
        );
        assert_eq!(
            serde_json::from_value::<Start>(serde_json::json!(7)).unwrap(),
            Start::Block(7)
        );
    }
}
