//! A bot's key used elsewhere: a transaction from a watched bot wallet that
//! the bot did not report and Argus's vault did not sign is critical, in
//! the block that holds it.
//!
//! The rule, exactly: a bot with `key_use:` (in `incidents.bots`) has its
//! `wallets` watched on its `chain`. Each transaction of block N whose
//! `from` is such a wallet is judged when the chain task commits block
//! N + `grace_blocks` (default 0: block N itself). Known are the hashes
//! reported by then — the bot's `submissions_file`, read up to its end
//! just before the judgement, and `POST /api/bots/{bot}/submissions`
//! committed before it (`bot_submissions`) — and the transactions Argus's
//! responders signed (`incident_transactions`, written before their
//! broadcast). Anything else is `argus.key-use.<bot>`, critical, with the
//! block and transaction as its origin: it is recorded in the same
//! transaction as the block's checkpoint, so "within one block" holds for
//! `grace_blocks` 0 or 1.
//!
//! Reports are kept 7 days (`bot_submissions`, pruned as blocks are
//! committed); a lookup is one primary-key probe per bot transaction. The
//! file's position moves in the same transaction as the reports it gave,
//! so a crash reads those lines again (and files them once: the hash is
//! the key). Transactions waiting for their grace live in memory; after a
//! restart the last `grace_blocks` blocks are read again so none escapes
//! judgement. A reorg drops the waiting transactions of orphaned blocks,
//! and the alerts of orphaned blocks are retracted with the others.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;

use alloy_primitives::{Address, B256};
use argus_chain::{BlockId, FetchMode, RpcPool};
use argus_core::{Block, BlockRef, ChainId, ChainOrigin, Finding, Severity, finding_id};
use argus_incident::policy::BotConfig;
use argus_sources::LogPosition;
use argus_sources::db::SubmissionVia;
use argus_sources::submissions::{Submission, SubmissionsFile};
use argus_store::{Connection, Transaction};
use serde_json::json;

use crate::NodeError;

/// How long reports are kept.
const RETENTION_MS: i64 = 7 * 24 * 3600 * 1000;

#[derive(Debug)]
struct WatchedBot {
    name: String,
    grace: u64,
    file: Option<SubmissionsFile>,
}

/// A bot transaction waiting for its judgement.
#[derive(Debug, Clone)]
struct Suspect {
    block: BlockRef,
    tx_hash: B256,
    from: Address,
    to: Option<Address>,
    nonce: u64,
    bot: usize,
    due: u64,
}

/// What one pass read and must store with the block's checkpoint.
#[derive(Debug, Default)]
pub(crate) struct KeyUseProgress {
    reports: Vec<(String, Vec<Submission>)>,
    positions: Vec<(String, LogPosition)>,
    now_ms: i64,
}

impl KeyUseProgress {
    /// Stores the reports read and where each file was read up to, and
    /// prunes reports past the retention.
    pub(crate) fn save(&self, tx: &Transaction<'_>) -> Result<(), NodeError> {
        for (bot, submissions) in &self.reports {
            argus_sources::db::record_submissions(
                tx,
                bot,
                SubmissionVia::File,
                submissions,
                self.now_ms,
            )?;
        }
        for (key, position) in &self.positions {
            argus_sources::db::save_log_position(tx, key, *position)?;
        }
        if self.now_ms > 0 {
            argus_sources::db::prune_submissions(tx, self.now_ms.saturating_sub(RETENTION_MS))?;
        }
        Ok(())
    }
}

/// One chain's key-use watch, owned by its chain task.
#[derive(Debug)]
pub(crate) struct KeyUseWatch {
    chain: ChainId,
    bots: Vec<WatchedBot>,
    by_wallet: HashMap<Address, usize>,
    waiting: Vec<Suspect>,
    fetch_full: bool,
}

impl KeyUseWatch {
    /// The bots of `bots` watching this chain (none: an idle watch).
    pub(crate) fn new(
        chain: ChainId,
        bots: &BTreeMap<String, BotConfig>,
        fetch: &FetchMode,
        positions: &BTreeMap<String, LogPosition>,
    ) -> Self {
        let mut watched = Vec::new();
        let mut by_wallet = HashMap::new();
        for (name, bot) in bots {
            let Some(key_use) = &bot.key_use else {
                continue;
            };
            let on_chain = bot
                .chain
                .as_deref()
                .and_then(|c| ChainId::parse(c, true).ok())
                == Some(chain);
            if !on_chain {
                continue;
            }
            let file = key_use.submissions_file.clone().map(|path: PathBuf| {
                let key = format!("submissions:{}", path.display());
                SubmissionsFile::new(path, positions.get(&key).copied())
            });
            let index = watched.len();
            watched.push(WatchedBot {
                name: name.clone(),
                grace: key_use.grace_blocks,
                file,
            });
            for wallet in &bot.wallets {
                by_wallet.insert(*wallet, index);
            }
        }
        Self {
            chain,
            bots: watched,
            by_wallet,
            waiting: Vec::new(),
            fetch_full: matches!(fetch, FetchMode::Full),
        }
    }

    pub(crate) fn is_idle(&self) -> bool {
        self.bots.is_empty()
    }

    fn max_grace(&self) -> u64 {
        self.bots.iter().map(|b| b.grace).max().unwrap_or(0)
    }

    /// After a (re)start at `tip`: the blocks still inside a grace are read
    /// again, so their transactions are judged.
    pub(crate) async fn refill(
        &mut self,
        pool: &RpcPool,
        tip: Option<BlockRef>,
    ) -> Result<(), NodeError> {
        let grace = self.max_grace();
        let Some(tip) = tip else { return Ok(()) };
        if self.is_idle() || grace == 0 {
            return Ok(());
        }
        let from = tip.number.saturating_sub(grace - 1);
        for number in from..=tip.number {
            if let Some(block) = pool.full_block(BlockId::Number(number)).await? {
                self.take_suspects(&block);
            }
        }
        Ok(())
    }

    fn take_suspects(&mut self, block: &Block) {
        for tx in &block.transactions {
            if let Some(&bot) = self.by_wallet.get(&tx.from) {
                let due = block.header.number.saturating_add(self.bots[bot].grace);
                if !self
                    .waiting
                    .iter()
                    .any(|s| s.tx_hash == tx.hash && s.block.hash == block.header.hash)
                {
                    self.waiting.push(Suspect {
                        block: block.header,
                        tx_hash: tx.hash,
                        from: tx.from,
                        to: tx.to,
                        nonce: tx.nonce,
                        bot,
                        due,
                    });
                }
            }
        }
    }

    /// Committed blocks: takes the bots' transactions (reading the blocks'
    /// transactions when the chain is followed by logs only).
    pub(crate) async fn take(&mut self, pool: &RpcPool, blocks: &[Block]) -> Result<(), NodeError> {
        if self.is_idle() {
            return Ok(());
        }
        for block in blocks {
            if self.fetch_full {
                self.take_suspects(block);
            } else if let Some(full) = pool.full_block(BlockId::Hash(block.header.hash)).await? {
                self.take_suspects(&full);
            }
        }
        Ok(())
    }

    /// After [`take`](Self::take): reads the bots' files up to their end,
    /// then judges the transactions whose grace is over at `blocks`' last
    /// block. Returns the findings and what to store with the checkpoint.
    pub(crate) fn judge(
        &mut self,
        conn: &Connection,
        blocks: &[Block],
        now_ms: i64,
    ) -> Result<(Vec<Finding>, KeyUseProgress), NodeError> {
        let mut progress = KeyUseProgress {
            now_ms,
            ..KeyUseProgress::default()
        };
        if self.is_idle() {
            return Ok((Vec::new(), KeyUseProgress::default()));
        }
        // The reports written up to now, before anything is judged.
        let mut fresh: HashSet<B256> = HashSet::new();
        for bot in &mut self.bots {
            let Some(file) = &mut bot.file else { continue };
            let read = file.read_new();
            for why in &read.skipped {
                tracing::warn!(bot = %bot.name, "a line of the submissions file is no report: {why}");
            }
            fresh.extend(read.submissions.iter().map(|s| s.tx_hash));
            if !read.submissions.is_empty() {
                progress.reports.push((bot.name.clone(), read.submissions));
            }
            if let Some(position) = file.position() {
                progress.positions.push((file.key(), position));
            }
        }
        let Some(newest) = blocks.last().map(|b| b.header.number) else {
            return Ok((Vec::new(), progress));
        };
        let (due, waiting): (Vec<Suspect>, Vec<Suspect>) =
            self.waiting.drain(..).partition(|s| s.due <= newest);
        self.waiting = waiting;
        if due.is_empty() {
            return Ok((Vec::new(), progress));
        }
        let hashes: Vec<B256> = due.iter().map(|s| s.tx_hash).collect();
        let reported = argus_sources::db::reported_hashes(conn, &hashes)?;
        let signed = argus_incident::db::signed_by_argus(conn, &hashes)?;
        let findings = due
            .iter()
            .filter(|s| {
                !fresh.contains(&s.tx_hash)
                    && !reported.contains(&s.tx_hash)
                    && !signed.contains(&s.tx_hash)
            })
            .map(|s| self.finding(s))
            .collect();
        Ok((findings, progress))
    }

    /// Orphaned blocks: their waiting transactions are dropped.
    pub(crate) fn on_revert(&mut self, reverted: &[BlockRef]) {
        let gone: HashSet<B256> = reverted.iter().map(|b| b.hash).collect();
        self.waiting.retain(|s| !gone.contains(&s.block.hash));
    }

    fn finding(&self, suspect: &Suspect) -> Finding {
        let bot = &self.bots[suspect.bot].name;
        let rule_id = format!("argus.key-use.{bot}");
        let origin = ChainOrigin {
            chain: self.chain,
            block: suspect.block,
            tx_hash: Some(suspect.tx_hash),
            log_index: None,
        };
        Finding {
            id: finding_id(&rule_id, Some(&origin), &[]),
            rule_id,
            severity: Severity::Critical,
            title: format!(
                "bot {bot}: key used elsewhere — {} sent {} (nonce {}) that the bot did not report and Argus did not sign",
                suspect.from.to_checksum(None),
                suspect.tx_hash,
                suspect.nonce
            ),
            dedup_key: format!("key-use:{}:{}", self.chain.0, suspect.tx_hash),
            origin: Some(origin),
            at_ms: i64::try_from(suspect.block.timestamp)
                .unwrap_or(i64::MAX)
                .saturating_mul(1000),
            fields: json!({
                "bot": bot,
                "from": suspect.from.to_checksum(None),
                "to": suspect.to.map(|a| a.to_checksum(None)),
                "nonce": suspect.nonce,
                "tx_hash": suspect.tx_hash.to_string(),
                "block": suspect.block.number,
                "labels": { "bot": bot },
            })
            .into(),
        }
    }
}
