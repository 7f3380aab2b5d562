//! State rules in the node: the reads the engine plans, performed through
//! the chains' RPC pools, the answers handed back for evaluation.
//!
//! The engine is pure, so it only says which reads are due
//! ([`Engine::state_plan`], [`Engine::cross_chain_plan`]); this module
//! performs them, one JSON-RPC batch per chain, at the block by hash
//! (EIP-1898), and gives the engine the answers. Every failure becomes an
//! answer the engine turns into a rule-error alert: a revert, an RPC
//! failure after the pool's retries and failover, an answer that does not
//! decode. Nothing is retried here and nothing passes in silence.
//!
//! Single-chain rules run inside the chain task, for each committed block,
//! before that block's record transaction: their findings go into the same
//! commit as the block's checkpoint (a replayed block gives the same ids; a
//! reverted block's alerts are retracted like any other).
//!
//! Cross-chain rules run in their own task ([`cross_chain`]): woken when a
//! chain task commits, it reads each chain at that chain's latest committed
//! block (its `confirmations`: N blocks, `safe` or `finalized`) whenever the
//! tuple of those blocks changed, and records through the same record step.
//! The alert's origin is the block of the chain that moved, so a reorg of
//! that chain retracts it.

use std::collections::BTreeMap;
use std::sync::Arc;

use argus_chain::{BlockId, RpcPool, StateValue};
use argus_core::{BlockRef, ChainId};
use argus_registry::Registry;
use argus_rules::{Engine, Outcome, StateAnswer, StateAt, StatePlan, StateQuery};
use tokio::sync::watch;

use crate::record::Recorder;
use crate::{Live, NodeError, all_findings, directory};

/// The single-chain state rules due at `block`, read and evaluated. Empty
/// when none is due (no request is made). `argus replay` uses it too.
pub async fn evaluate_block(
    engine: &mut Engine,
    pool: &RpcPool,
    chain: ChainId,
    block: &BlockRef,
) -> Outcome {
    let plan = engine.state_plan(chain, block.number);
    if plan.is_empty() {
        return Outcome::default();
    }
    let answers = perform(&plan, &BTreeMap::from([(chain, (pool.clone(), *block))])).await;
    engine.on_state(
        &plan,
        &answers,
        &StateAt {
            blocks: vec![(chain, *block)],
        },
    )
}

/// Performs every query of `plan`: one batch per chain at that chain's
/// block. A chain without a pool or a block, or a batch that failed after
/// the pool's retries, answers each of its queries with the reason.
async fn perform(
    plan: &StatePlan,
    at: &BTreeMap<ChainId, (RpcPool, BlockRef)>,
) -> Vec<Result<StateAnswer, String>> {
    let mut answers: Vec<Result<StateAnswer, String>> = plan
        .queries
        .iter()
        .map(|_| Err("not read".to_owned()))
        .collect();
    for chain in plan.chains() {
        let queries = plan.queries_on(chain);
        let Some((pool, block)) = at.get(&chain) else {
            for (index, _) in queries {
                answers[index] = Err(format!("no committed block of {} yet", chain.name()));
            }
            continue;
        };
        let reads: Vec<StateQuery> = queries.iter().map(|(_, q)| (*q).clone()).collect();
        match pool.read_state(&reads, BlockId::Hash(block.hash)).await {
            Ok(results) => {
                for ((index, _), result) in queries.iter().zip(results) {
                    answers[*index] = result
                        .map(|value| match value {
                            StateValue::Returned(data) => StateAnswer::Returned(data),
                            StateValue::Balance(wei) => StateAnswer::Word(wei),
                            StateValue::Slot(word) => {
                                StateAnswer::Word(alloy_primitives::U256::from_be_bytes(word.0))
                            }
                        })
                        .map_err(|error| describe(&error));
                }
            }
            Err(error) => {
                let message = describe(&error);
                for (index, _) in queries {
                    answers[index] = Err(message.clone());
                }
            }
        }
    }
    answers
}

/// The node's words for a failed read; a revert with its data.
fn describe(error: &argus_chain::RpcError) -> String {
    match error {
        argus_chain::RpcError::Rpc {
            message,
            data: Some(data),
            ..
        } => format!("{message} (revert data {data})"),
        argus_chain::RpcError::Rpc { message, .. } => message.clone(),
        other => other.to_string(),
    }
}

/// The cross-chain state rules' task: evaluates them whenever a chain they
/// read commits a new block, until `shutdown`. A store failure is logged
/// and the evaluation tried again at the next move (the findings' ids are
/// deterministic, so nothing is recorded twice).
pub(crate) async fn cross_chain(
    store: argus_store::Store,
    rules: argus_rules::RuleSet,
    recorder: Recorder,
    live: Arc<Live>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), NodeError> {
    let mut conn = store.connect()?;
    let registry = Registry::open(&store)?;
    let mut seen_change = registry.changes_since(0)?.last().map_or(0, |c| c.id);
    let mut engine = Engine::new(rules, &directory::load(&registry)?);
    let mut last: BTreeMap<ChainId, BlockRef> = BTreeMap::new();
    loop {
        tokio::select! {
            _ = shutdown.wait_for(|s| *s) => return Ok(()),
            () = live.tips_moved.notified() => {}
        }
        let prepared = prepare_cross_chain(&mut engine, &registry, &mut seen_change, &live, &last);
        let (plan, at, heights) = match prepared {
            Ok(Some(prepared)) => prepared,
            Ok(None) => continue,
            Err(error) => {
                tracing::warn!("cross-chain state rules: {error}; tried again at the next block");
                continue;
            }
        };
        let mut blocks: Vec<(ChainId, BlockRef)> = heights.iter().map(|(c, b)| (*c, *b)).collect();
        // The chain that moved first: its block is the alert's origin.
        if let Some(moved) = blocks.iter().position(|(c, b)| last.get(c) != Some(b)) {
            blocks.swap(0, moved);
        }
        let answers = perform(&plan, &at).await;
        let outcome = engine.on_state(&plan, &answers, &StateAt { blocks });
        let findings = all_findings(outcome, "cross-chain");
        match recorder.commit(&mut conn, findings, &[], |_| Ok::<(), NodeError>(()), || {}) {
            Ok(_) => last = heights,
            Err(error) => {
                tracing::warn!("cross-chain state rules: {error}; tried again at the next block");
            }
        }
    }
}

/// What is due when the committed tips moved: the plan, each chain's pool
/// and block. `None` when there is nothing to do (no cross-chain rule bound,
/// a chain without a committed block yet, or no chain moved).
#[allow(clippy::type_complexity)]
fn prepare_cross_chain(
    engine: &mut Engine,
    registry: &Registry,
    seen_change: &mut i64,
    live: &Live,
    last: &BTreeMap<ChainId, BlockRef>,
) -> Result<
    Option<(
        StatePlan,
        BTreeMap<ChainId, (RpcPool, BlockRef)>,
        BTreeMap<ChainId, BlockRef>,
    )>,
    NodeError,
> {
    let changes = registry.changes_since(*seen_change)?;
    if let Some(change) = changes.last() {
        *seen_change = change.id;
        engine.set_directory(&directory::load(registry)?);
    }
    let plan = engine.cross_chain_plan();
    if plan.is_empty() {
        return Ok(None);
    }
    let tips = live.tips();
    let mut at = BTreeMap::new();
    let mut heights = BTreeMap::new();
    for chain in plan.chains() {
        if let (Some(Some(tip)), Some(pool)) = (tips.get(&chain), live.pool(chain)) {
            at.insert(chain, (pool, *tip));
            heights.insert(chain, *tip);
        }
    }
    if heights.len() < plan.chains().len() || heights == *last {
        return Ok(None);
    }
    Ok(Some((plan, at, heights)))
}
