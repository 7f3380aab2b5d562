//! One task per chain: follow it, evaluate the rules, record.
//!
//! The follower and the rule engine keep state in memory that mirrors the
//! store (the cursor; the windows). When anything fails after the follower
//! handed out an event, the chain task is rebuilt from the store rather than
//! trusting that state: only a reorg deeper than the store keeps, a node on
//! the wrong chain or a broken config stop the node.

use std::time::Duration;

use argus_chain::{BlockFollower, ChainEvent, ChainSetup, RpcPool};
use argus_registry::Registry;
use argus_rules::Engine;
use tokio::sync::watch;

use crate::enrol::{self, Enroller};
use crate::record::Recorder;
use crate::upgrades::UpgradesConfig;
use crate::watches::Watches;
use crate::{Live, NodeError, all_findings, directory};

/// What a chain task needs from the node.
#[derive(Debug, Clone)]
pub(crate) struct ChainContext {
    pub(crate) store: argus_store::Store,
    pub(crate) rules: argus_rules::RuleSet,
    pub(crate) recorder: Recorder,
    pub(crate) live: std::sync::Arc<Live>,
    /// How upgrades of registered proxies are judged.
    pub(crate) upgrades: UpgradesConfig,
    /// The bots, whose wallets the key-use watch reads.
    pub(crate) bots:
        std::sync::Arc<std::collections::BTreeMap<String, argus_incident::policy::BotConfig>>,
    /// `registry.enrol`: new contracts that join the registry by themselves.
    pub(crate) enrol: std::sync::Arc<crate::config::EnrolConfig>,
    /// The chain lease's fence: every commit of the task checks it first
    /// (open on a store of one instance).
    pub(crate) fence: crate::leases::Fence,
}

/// Follows one chain, rebuilding from the store after a retryable failure
/// (with a growing pause) and giving up on a fatal one.
pub(crate) async fn supervise_chain(
    setup: ChainSetup,
    context: ChainContext,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), NodeError> {
    let chain = setup.follower.chain;
    let mut pause = Duration::from_millis(200);
    loop {
        let outcome = tokio::select! {
            _ = shutdown.wait_for(|s| *s) => return Ok(()),
            outcome = follow_chain(&setup, &context) => outcome,
        };
        match outcome {
            Ok(()) => return Ok(()),
            Err(ChainFailure::Fatal(error)) => {
                return Err(NodeError::Chain {
                    chain: chain.name(),
                    source: Box::new(error),
                });
            }
            Err(ChainFailure::Retry(error)) => {
                tracing::warn!(
                    chain = chain.0,
                    "{error}; rebuilding from the store in {pause:?}"
                );
                tokio::select! {
                    _ = shutdown.wait_for(|s| *s) => return Ok(()),
                    () = tokio::time::sleep(pause) => {}
                }
                pause = (pause * 2).min(Duration::from_secs(30));
            }
        }
    }
}

/// How a chain task ended: worth rebuilding from the store, or not.
#[derive(Debug)]
enum ChainFailure {
    Retry(NodeError),
    Fatal(NodeError),
}

fn retry(error: impl Into<NodeError>) -> ChainFailure {
    ChainFailure::Retry(error.into())
}

async fn follow_chain(setup: &ChainSetup, context: &ChainContext) -> Result<(), ChainFailure> {
    let chain = setup.follower.chain;
    let retain = setup.follower.retained_blocks();
    let mut conn = context.store.connect().map_err(retry)?;
    let mut registry = Registry::open(&context.store).map_err(retry)?;
    let mut seen_change = latest_change(&registry).map_err(retry)?;
    let directory = directory::load(&registry).map_err(retry)?;
    let mut ours = directory::addresses_on(&directory, chain);
    let mut enroller = Enroller::new(chain, &context.enrol);
    enroller.follow_registry(&directory);
    let mut engine = Engine::new(context.rules.clone(), &directory);
    for problem in engine.binding_problems() {
        tracing::warn!(
            chain = chain.0,
            "rule {}: {}",
            problem.rule_id,
            problem.message
        );
    }
    for problem in engine.type_problems() {
        tracing::error!(
            chain = chain.0,
            "rule {}: {}; it fails on every event it matches (`argus validate` refuses it)",
            problem.rule_id,
            problem.message
        );
    }
    let cursor = argus_chain::db::load_cursor(&conn, chain).map_err(retry)?;
    let pool = setup.connect().map_err(|e| ChainFailure::Fatal(e.into()))?;
    context.live.set_pool(chain, pool.clone());
    context.live.set_tip(chain, cursor.tip().copied());
    let lookback_ms = context.rules.lookback().chain_ms;
    let warmed = warm_windows(&mut engine, &pool, setup, &cursor, lookback_ms).await?;
    if warmed > 0 {
        tracing::info!(
            chain = chain.0,
            blocks = warmed,
            "window rules refilled from the chain"
        );
    }
    // The node's own watches (upgrades, key use): a proxy moved while
    // Argus was down is judged now, at the head.
    let head = pool
        .header(argus_chain::BlockId::Latest)
        .await
        .map_err(retry)?
        .map(|b| b.header);
    let positions = argus_sources::db::log_positions(&conn).map_err(retry)?;
    let (mut watches, start_findings) = Watches::start(
        chain,
        context.upgrades.clone(),
        &context.bots,
        &setup.follower.fetch,
        &positions,
        &pool,
        &mut registry,
        head,
        cursor.tip().copied(),
    )
    .await
    .map_err(retry)?;
    if !start_findings.is_empty() {
        seen_change = latest_change(&registry).map_err(retry)?;
        let directory = directory::load(&registry).map_err(retry)?;
        ours = directory::addresses_on(&directory, chain);
        engine.set_directory(&directory);
        enroller.follow_registry(&directory);
        context
            .recorder
            .commit(
                &mut conn,
                start_findings,
                &[],
                |tx| Ok::<(), NodeError>(context.fence.check(tx)?),
                || {},
            )
            .map_err(retry)?;
    }
    let mut follower = BlockFollower::new(pool.clone(), setup.follower.clone(), cursor);
    // A log filter by address follows the registry.
    follower.watch_addresses(ours.iter().copied());
    tracing::info!(chain = chain.0, "following {}", chain.name());
    loop {
        let mut event = match follower.next().await {
            Ok(event) => {
                tracing::debug!(chain = chain.0, event = %describe(&event), "chain event");
                event
            }
            Err(error) if error.is_retryable() => return Err(retry(error)),
            Err(error) => return Err(ChainFailure::Fatal(error.into())),
        };
        // A deployment registered since the last event is watched from this
        // event on.
        let changes = registry.changes_since(seen_change).map_err(retry)?;
        let mut watch_findings = Vec::new();
        if let Some(last) = changes.last() {
            seen_change = last.id;
            // A proxy that joined is checked at once (its EIP-1967 slots).
            let tip = follower.cursor().tip().copied();
            watch_findings.extend(
                watches
                    .registry_changed(&pool, &mut registry, tip)
                    .await
                    .map_err(retry)?,
            );
            let directory = directory::load(&registry).map_err(retry)?;
            ours = directory::addresses_on(&directory, chain);
            // Tagged factories are registry entries, so in `ours` too. The
            // event's blocks were fetched before the change was read: their
            // logs of the newly listed addresses are fetched now.
            let unlisted = unlisted(&follower, &ours);
            follower.watch_addresses(unlisted.iter().copied());
            if let ChainEvent::Committed(blocks) = &mut event {
                add_logs_of(&pool, blocks, &unlisted).await.map_err(retry)?;
            }
            engine.set_directory(&directory);
            enroller.follow_registry(&directory);
            tracing::info!(chain = chain.0, "registry changed; watching its contracts");
        }
        let mut key_use_progress = None;
        let mut enrolled = enrol::Work::default();
        let (findings, reverted) = match &event {
            ChainEvent::Committed(blocks) => {
                let scope = chain.0.to_string();
                let mut findings = watch_findings;
                // Deployments seen on chain, planned addresses, unknown callers.
                let prepared = enroller.prepare(blocks, &conn, &ours).map_err(retry)?;
                let codes = enroller
                    .read_codes(blocks, &prepared, &pool)
                    .await
                    .map_err(retry)?;
                enrolled = enroller
                    .finish(blocks, prepared, codes, &conn, &registry, &ours)
                    .map_err(retry)?;
                findings.append(&mut enrolled.findings);
                // The watches next: an upgrade moves the directory the
                // rules then decode with.
                let seen = watches
                    .committed(&pool, &mut registry, blocks)
                    .await
                    .map_err(retry)?;
                if seen.registry_moved {
                    seen_change = latest_change(&registry).map_err(retry)?;
                    let directory = directory::load(&registry).map_err(retry)?;
                    ours = directory::addresses_on(&directory, chain);
                    follower.watch_addresses(ours.iter().copied());
                    engine.set_directory(&directory);
                    enroller.follow_registry(&directory);
                }
                findings.extend(seen.findings);
                let now_ms = context.recorder.clock.now_ms();
                let (used_elsewhere, progress) =
                    watches.judge(&conn, blocks, now_ms).map_err(retry)?;
                findings.extend(used_elsewhere);
                key_use_progress = Some(progress);
                for block in blocks {
                    findings.extend(all_findings(engine.on_block(block), &scope));
                    // State rules due at this block: read at its hash.
                    let state =
                        crate::state::evaluate_block(&mut engine, &pool, chain, &block.header);
                    findings.extend(all_findings(state.await, &scope));
                    // A contract enrolled in this block is watched in the
                    // batch's next blocks too, before the registry is read.
                    if enrolled.enrolled_in(block.header.hash) {
                        let mut directory = directory::load(&registry).map_err(retry)?;
                        directory.entries.extend(enrolled.directory_entries(chain));
                        engine.set_directory(&directory);
                    }
                }
                (findings, Vec::new())
            }
            ChainEvent::Reverted(blocks) => {
                for block in blocks {
                    engine.on_revert(block);
                }
                let tip = follower.cursor().tip().copied();
                watches
                    .reverted(&pool, &mut registry, blocks, tip)
                    .await
                    .map_err(retry)?;
                (watch_findings, blocks.iter().map(|b| (chain, *b)).collect())
            }
        };
        // Everything has read the blocks' contents; the record step writes
        // their headers only. A burst block's thousand transactions, with
        // their receipts and logs, are not held through it.
        if let ChainEvent::Committed(blocks) = &mut event {
            for block in blocks {
                block.transactions = Vec::new();
                block.logs = Vec::new();
            }
        }
        let tip = follower.cursor().tip().copied();
        let (blocks_committed, blocks_reverted) = match &event {
            ChainEvent::Committed(blocks) => (blocks.len() as u64, 0),
            ChainEvent::Reverted(blocks) => (0, blocks.len() as u64),
        };
        let committed = context
            .recorder
            .commit(
                &mut conn,
                findings,
                &reverted,
                |tx| {
                    context.fence.check(tx)?;
                    if let Some(progress) = &key_use_progress {
                        progress.save(tx)?;
                    }
                    argus_chain::db::apply(tx, chain, &event, retain)?;
                    enrolled.write(tx, chain)?;
                    if let ChainEvent::Reverted(blocks) = &event {
                        enrol::unwind(tx, chain, blocks)?;
                    }
                    Ok::<(), NodeError>(())
                },
                || {
                    context.live.set_tip(chain, tip);
                    context
                        .live
                        .count_blocks(chain, blocks_committed, blocks_reverted);
                },
            )
            .map_err(retry)?;
        tracing::debug!(chain = chain.0, new = committed.new, "recorded");
    }
}

/// The most blocks read again to refill windows after a start.
const MAX_WARM_BLOCKS: u64 = 50_000;

/// Window state (counts, baselines) lives in memory. After a start, the blocks
/// of the longest chain window before the checkpoint are evaluated again so
/// that "> 5 in 5 minutes" counts the failures from before a restart; their
/// findings were recorded the first time and are dropped here. Returns how
/// many blocks were read.
async fn warm_windows(
    engine: &mut Engine,
    pool: &RpcPool,
    setup: &ChainSetup,
    cursor: &argus_chain::Cursor,
    horizon_ms: u64,
) -> Result<u64, ChainFailure> {
    let Some(tip) = cursor.tip().copied() else {
        return Ok(0);
    };
    if horizon_ms == 0 {
        return Ok(0);
    }
    let floor = tip.timestamp.saturating_sub(horizon_ms.div_ceil(1000));
    // Walk back in growing steps until a block is older than the window.
    let mut from = tip.number;
    let mut step = 16u64;
    while from > 0 && tip.number - from < MAX_WARM_BLOCKS {
        let at = from.saturating_sub(step);
        let header = pool
            .header(argus_chain::BlockId::Number(at))
            .await
            .map_err(retry)?;
        from = at;
        match header {
            Some(block) if block.header.timestamp > floor => step = (step * 2).min(4096),
            _ => break,
        }
    }
    let mut range =
        argus_chain::range(pool.clone(), from, tip.number, setup.follower.fetch.clone())
            .batch(setup.follower.batch);
    let mut blocks = 0;
    while let Some(batch) = range.next_batch().await {
        for block in batch.map_err(retry)? {
            if block.header.timestamp + horizon_ms.div_ceil(1000) >= tip.timestamp {
                let _already_recorded = engine.on_block(&block);
                blocks += 1;
            }
        }
    }
    Ok(blocks)
}

/// The addresses of `ours` a follower fetching the logs of listed addresses
/// only does not list yet (none when it fetches every log).
fn unlisted(
    follower: &BlockFollower,
    ours: &std::collections::HashSet<alloy_primitives::Address>,
) -> Vec<alloy_primitives::Address> {
    match &follower.config().fetch {
        argus_chain::FetchMode::Logs {
            addresses: Some(list),
        } => ours.iter().filter(|a| !list.contains(a)).copied().collect(),
        _ => Vec::new(),
    }
}

/// Adds to `blocks` the logs of `addresses` (asked per block by its hash,
/// so they cannot come from another branch), in log-index order.
async fn add_logs_of(
    pool: &RpcPool,
    blocks: &mut [argus_core::Block],
    addresses: &[alloy_primitives::Address],
) -> Result<(), argus_chain::RpcError> {
    if addresses.is_empty() {
        return Ok(());
    }
    let filter = argus_chain::LogFilter::addresses(Some(addresses.to_vec()));
    for block in blocks {
        let logs = pool.logs_at(&block.header, &filter).await?;
        if logs.is_empty() {
            continue;
        }
        block.logs.extend(logs);
        block.logs.sort_by_key(|log| log.log_index);
        block.logs.dedup_by_key(|log| log.log_index);
    }
    Ok(())
}

fn describe(event: &ChainEvent) -> String {
    match event {
        ChainEvent::Committed(blocks) => match (blocks.first(), blocks.last()) {
            (Some(first), Some(last)) => {
                format!("committed {}..={}", first.header.number, last.header.number)
            }
            _ => "committed nothing".to_owned(),
        },
        ChainEvent::Reverted(blocks) => format!("reverted {} block(s)", blocks.len()),
    }
}

fn latest_change(registry: &Registry) -> Result<i64, NodeError> {
    Ok(registry.changes_since(0)?.last().map_or(0, |c| c.id))
}
