//! The daemon: the stages of the pipeline composed into one running node.
//!
//! One task per chain follows the chain and evaluates the rules; one
//! dispatcher sends the outbox. The exactly-once rule is kept here, in
//! [`follow_chain`]: for each event the follower hands out, the findings are
//! recorded in the outbox (or the alerts of orphaned blocks retracted) *and*
//! the chain's checkpoint is moved, in one SQLite transaction. A crash before
//! the commit leaves the checkpoint behind the block, so the block is read
//! again on restart and its findings, whose ids are deterministic, are
//! recorded exactly once; a crash after it leaves nothing to redo.
//!
//! The follower and the rule engine keep state in memory that mirrors the
//! store (the cursor; the windows). When anything fails after the follower
//! handed out an event, the chain task is rebuilt from the store rather than
//! trusting that state.

pub(crate) mod directory;
mod output;
pub(crate) mod signals;
pub(crate) mod trail;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use argus_alerting::{AlertingConfig, Clock, DispatchHandle, Dispatcher, Routing, outbox};
use argus_chain::{BlockFollower, ChainEvent, EndpointConfig, FollowerConfig, PoolConfig, RpcPool};
use argus_core::{Finding, Severity, finding_id};
use argus_registry::Registry;
use argus_rules::{Engine, RuleSet};
use argus_store::Store;
use tokio::sync::watch;

pub(crate) use output::{AlertOutput, finding_json};

/// One chain to follow.
#[derive(Debug, Clone)]
pub(crate) struct ChainSetup {
    pub(crate) follower: FollowerConfig,
    pub(crate) endpoints: Vec<EndpointConfig>,
    pub(crate) pool: PoolConfig,
}

/// Everything the daemon runs.
#[derive(Debug)]
pub(crate) struct NodeConfig {
    pub(crate) data_dir: PathBuf,
    pub(crate) chains: Vec<ChainSetup>,
    pub(crate) rules: RuleSet,
    pub(crate) alerting: AlertingConfig,
    /// What the daemon measures besides the chains.
    pub(crate) signals: signals::SignalsConfig,
    /// Notifier secrets unsealed from the vault, by name.
    pub(crate) vault_secrets: std::collections::BTreeMap<String, argus_alerting::Secret>,
}

/// Runs until `shutdown` flips to `true` or a chain fails for good.
pub(crate) async fn run(
    config: NodeConfig,
    output: AlertOutput,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let vault = |name: &str| config.vault_secrets.get(name).cloned();
    let notifiers = argus_alerting::build_notifiers_with(
        &config.alerting,
        &argus_alerting::Secrets {
            env: &|name| std::env::var(name).ok(),
            vault: Some(&vault),
        },
    )?;
    let routing = Arc::new(Routing::from_config(&config.alerting)?);
    let dispatcher = Dispatcher::new(
        &Store::open_in_dir(&config.data_dir)?,
        notifiers,
        &config.alerting,
        Clock::system(),
    )?;
    let wake = dispatcher.handle();
    let mut tasks = tokio::task::JoinSet::new();
    {
        let mut stop = shutdown.clone();
        tasks.spawn(async move {
            dispatcher
                .run(async move {
                    let _ = stop.wait_for(|s| *s).await;
                })
                .await
                .context("the alert dispatcher stopped")
        });
    }
    if !config.signals.is_empty() {
        signals::spawn(
            &config.signals,
            &config.chains,
            signals::SignalContext {
                data_dir: config.data_dir.clone(),
                rules: config.rules.clone(),
                routing: routing.clone(),
                wake: wake.clone(),
                output: output.clone(),
            },
            &shutdown,
            &mut tasks,
        );
    }
    for setup in config.chains {
        let context = ChainContext {
            data_dir: config.data_dir.clone(),
            rules: config.rules.clone(),
            routing: routing.clone(),
            wake: wake.clone(),
            output: output.clone(),
        };
        let stop = shutdown.clone();
        tasks.spawn(async move { supervise_chain(setup, context, stop).await });
    }
    loop {
        tokio::select! {
            _ = shutdown.wait_for(|s| *s) => break,
            joined = tasks.join_next() => match joined {
                None => break,
                Some(Ok(Ok(()))) => {}
                Some(Ok(Err(error))) => return Err(error),
                Some(Err(error)) => return Err(anyhow::anyhow!("a task of the daemon failed: {error}")),
            },
        }
    }
    tasks.shutdown().await;
    Ok(())
}

#[derive(Debug, Clone)]
struct ChainContext {
    data_dir: PathBuf,
    rules: RuleSet,
    routing: Arc<Routing>,
    wake: DispatchHandle,
    output: AlertOutput,
}

/// Follows one chain, rebuilding from the store after a retryable failure
/// (with a growing pause) and giving up on a fatal one.
async fn supervise_chain(
    setup: ChainSetup,
    context: ChainContext,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
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
                return Err(error.context(format!("following chain {}", chain.name())));
            }
            Err(ChainFailure::Retry(error)) => {
                tracing::warn!(
                    chain = chain.0,
                    "{error:#}; rebuilding from the store in {pause:?}"
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

#[derive(Debug)]
enum ChainFailure {
    Retry(anyhow::Error),
    Fatal(anyhow::Error),
}

fn retry(error: impl Into<anyhow::Error>) -> ChainFailure {
    ChainFailure::Retry(error.into())
}

async fn follow_chain(setup: &ChainSetup, context: &ChainContext) -> Result<(), ChainFailure> {
    let chain = setup.follower.chain;
    let retain = setup.follower.retained_blocks();
    let mut store = Store::open_in_dir(&context.data_dir)
        .and_then(|store| store.connect())
        .map_err(retry)?;
    let registry = Registry::open_in_dir(&context.data_dir).map_err(retry)?;
    let mut seen_change = latest_change(&registry).map_err(retry)?;
    let directory = directory::load(&registry).map_err(ChainFailure::Retry)?;
    let mut engine = Engine::new(context.rules.clone(), &directory);
    for problem in engine.binding_problems() {
        tracing::warn!(
            chain = chain.0,
            "rule {}: {}",
            problem.rule_id,
            problem.message
        );
    }
    let cursor = argus_chain::db::load_cursor(&store, chain).map_err(retry)?;
    let pool = RpcPool::new(chain, setup.endpoints.clone(), setup.pool.clone())
        .map_err(|e| ChainFailure::Fatal(e.into()))?;
    let warmed = warm_windows(&mut engine, &pool, setup, &cursor, &context.rules).await?;
    if warmed > 0 {
        tracing::info!(
            chain = chain.0,
            blocks = warmed,
            "window rules refilled from the chain"
        );
    }
    let mut follower = BlockFollower::new(pool, setup.follower.clone(), cursor);
    tracing::info!(chain = chain.0, "following {}", chain.name());
    loop {
        let event = match follower.next().await {
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
        if let Some(last) = changes.last() {
            seen_change = last.id;
            engine.set_directory(&directory::load(&registry).map_err(ChainFailure::Retry)?);
            tracing::info!(chain = chain.0, "registry changed; watching its contracts");
        }
        let now = Clock::system().now_ms();
        match &event {
            ChainEvent::Committed(blocks) => {
                let mut findings = Vec::new();
                for block in blocks {
                    findings.extend(all_findings(engine.on_block(block), &chain.0.to_string()));
                }
                let tx = store.transaction().map_err(retry)?;
                let mut fired = Vec::new();
                for finding in &findings {
                    let recorded =
                        outbox::record(&tx, finding, &context.routing, now).map_err(retry)?;
                    if recorded.new {
                        fired.push((finding, recorded));
                    }
                }
                argus_chain::db::apply(&tx, chain, &event, retain).map_err(retry)?;
                tx.commit().map_err(retry)?;
                context.wake.wake();
                tracing::debug!(chain = chain.0, findings = findings.len(), "recorded");
                for (finding, recorded) in fired {
                    context.output.fired(finding, &recorded);
                }
            }
            ChainEvent::Reverted(blocks) => {
                for block in blocks {
                    engine.on_revert(block);
                }
                let tx = store.transaction().map_err(retry)?;
                let mut retracted = Vec::new();
                for block in blocks {
                    let r = outbox::retract_block(&tx, chain, block.hash, now).map_err(retry)?;
                    retracted.push((block, r));
                }
                argus_chain::db::apply(&tx, chain, &event, retain).map_err(retry)?;
                tx.commit().map_err(retry)?;
                context.wake.wake();
                for (block, r) in retracted {
                    context.output.retracted(chain, block, &r);
                }
            }
        }
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
    rules: &RuleSet,
) -> Result<u64, ChainFailure> {
    let horizon_ms = rules
        .rules()
        .iter()
        .filter(|rule| !matches!(rule.matcher, argus_rules::Matcher::Signal { .. }))
        .filter_map(|rule| match &rule.aggregate {
            // A sustained condition is not refilled from the chain.
            Some(argus_rules::Aggregate::Sustained { .. }) | None => None,
            Some(aggregate) => Some(aggregate.span_ms()),
        })
        .max()
        .unwrap_or(0);
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

fn latest_change(registry: &Registry) -> anyhow::Result<i64> {
    Ok(registry.changes_since(0)?.last().map_or(0, |c| c.id))
}

/// A rule that could not evaluate is an alert of its own: silence would
/// read as "nothing happened".
/// What the rules found, with an alert for each rule that could not
/// evaluate; `scope` (a chain id, or `signals`) keeps their dedup keys apart.
fn all_findings(outcome: argus_rules::Outcome, scope: &str) -> Vec<Finding> {
    let mut findings = outcome.findings;
    findings.extend(outcome.errors.iter().map(|e| rule_error_finding(scope, e)));
    findings
}

/// The alert for a rule that could not evaluate; `scope` (a chain id, or
/// `signals`) keeps the dedup keys of different streams apart.
fn rule_error_finding(scope: &str, error: &argus_rules::RuleError) -> Finding {
    let rule_id = format!("argus.rule-error.{}", error.rule_id);
    let origin = error.origin;
    Finding {
        id: finding_id(&rule_id, origin.as_ref(), error.message.as_bytes()),
        rule_id,
        severity: Severity::High,
        title: format!(
            "rule {} could not evaluate: {}",
            error.rule_id, error.message
        ),
        dedup_key: format!("rule-error:{scope}:{}", error.rule_id),
        origin,
        at_ms: error.at_ms,
        fields: serde_json::json!({ "rule": error.rule_id, "error": error.message }),
    }
}
