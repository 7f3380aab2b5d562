//! Operations signals: what the daemon measures besides the chain, so that
//! rules on `signal:` (and the procedure's thresholds on network latency,
//! memory and authentication failures) fire in a running deployment.
//!
//! Sources (the `signals:` section of the config), each a task that sends
//! [`Signal`]s to one channel:
//!
//! | source | signals (labels) |
//! |---|---|
//! | `rpc` | per endpoint: `network_latency` seconds of an `eth_getBlockByNumber(latest)` round trip (the timeout when it times out), `head_age` seconds of the latest block behind the wall clock, `head_lag` blocks behind the best endpoint, `rpc_errors` 1 per failed probe (with `kind`), and `rpc_disagreement` 1 when its hash of a block all endpoints have differs from the others' (0 when it agrees; with `block`) (`chain`, `endpoint`) |
//! | `host` | `memory_usage` and `cpu_usage`, percent (`host`) |
//! | `processes` | `process_up` 1 or 0, `process_memory` percent of the host's memory (`process`) |
//! | `logs` | one signal of value 1 per line matching a pattern, named by the pattern (`file`, plus the source's labels) |
//! | `wallets` | `wallet_balance` in ether (`chain`, `wallet`, `address`) |
//!
//! One task evaluates the signal rules and records their findings in the
//! outbox, like the chain tasks do for blocks. The samples that windowed
//! rules read are stored with those findings (`signal_samples`) and refill
//! the windows at the next start. Where each log source has read up to moves
//! in that same transaction (`signal_log_positions`), so a line is counted
//! once across crashes, and lines written while the daemon was down are read
//! when it starts again; a rotated or truncated file is read from its start.

use std::collections::BTreeMap;
use std::io::{Read as _, Seek as _, SeekFrom};
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use argus_alerting::{Clock, DispatchHandle, Routing, outbox};
use argus_chain::{BlockId, EndpointConfig, PoolConfig, RpcPool};
use argus_core::{ChainId, Signal};
use argus_rules::{ContractDirectory, Engine, RuleSet};
use argus_store::Store;
use futures_util::future::join_all;
use serde::Deserialize;
use tokio::sync::{mpsc, watch};

use super::{AlertOutput, ChainSetup, all_findings};

/// The `signals:` section.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SignalsConfig {
    /// Probes every endpoint of every chain.
    #[serde(default)]
    pub(crate) rpc: Option<RpcProbe>,
    /// This machine's memory and CPU.
    #[serde(default)]
    pub(crate) host: Option<HostProbe>,
    /// Processes to watch (the bots).
    #[serde(default)]
    pub(crate) processes: Vec<ProcessProbe>,
    /// Log files to read.
    #[serde(default)]
    pub(crate) logs: Vec<LogSource>,
    /// The bots' wallets: their balance.
    #[serde(default)]
    pub(crate) wallets: Vec<WalletProbe>,
}

impl SignalsConfig {
    /// Whether any source is configured.
    pub(crate) fn is_empty(&self) -> bool {
        self.rpc.is_none()
            && self.host.is_none()
            && self.processes.is_empty()
            && self.logs.is_empty()
            && self.wallets.is_empty()
    }

    /// The names of the signals the configured sources produce.
    pub(crate) fn produced(&self) -> std::collections::BTreeSet<String> {
        let mut names = std::collections::BTreeSet::new();
        if self.rpc.is_some() {
            names.extend(["network_latency", "head_age", "rpc_errors"].map(String::from));
        }
        if self.host.is_some() {
            names.extend(["memory_usage", "cpu_usage"].map(String::from));
        }
        if !self.processes.is_empty() {
            names.extend(["process_up", "process_memory"].map(String::from));
        }
        if !self.wallets.is_empty() {
            names.insert("wallet_balance".to_owned());
        }
        for log in &self.logs {
            names.extend(log.patterns.keys().cloned());
        }
        names
    }

    /// Every problem the types cannot catch, as (path, message).
    pub(crate) fn problems(&self) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        let mut intervals: Vec<(String, Duration)> = Vec::new();
        if let Some(rpc) = &self.rpc {
            intervals.push(("signals.rpc".into(), rpc.every));
        }
        if let Some(host) = &self.host {
            intervals.push(("signals.host".into(), host.every));
        }
        for (i, process) in self.processes.iter().enumerate() {
            intervals.push((format!("signals.processes[{i}]"), process.every));
        }
        for (i, wallet) in self.wallets.iter().enumerate() {
            intervals.push((format!("signals.wallets[{i}]"), wallet.every));
        }
        for (path, every) in intervals {
            if every < Duration::from_millis(100) {
                problems.push((path, "`every` must be at least 100ms".to_owned()));
            }
        }
        for (i, process) in self.processes.iter().enumerate() {
            if process.matches.trim().is_empty() {
                problems.push((
                    format!("signals.processes[{i}].match"),
                    "must name part of the process's command line".to_owned(),
                ));
            }
        }
        for (i, log) in self.logs.iter().enumerate() {
            if log.patterns.is_empty() {
                problems.push((
                    format!("signals.logs[{i}].patterns"),
                    "give at least one `signal_name: regex`".to_owned(),
                ));
            }
            for (name, pattern) in &log.patterns {
                if let Err(error) = regex::Regex::new(pattern) {
                    let first = error.to_string();
                    let first = first.lines().last().unwrap_or("invalid").trim().to_owned();
                    problems.push((
                        format!("signals.logs[{i}].patterns.{name}"),
                        format!("not a regular expression: {first}"),
                    ));
                }
            }
        }
        problems
    }
}

/// `rpc: { every: 15s, timeout: 10s }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RpcProbe {
    #[serde(
        default = "every_15s",
        deserialize_with = "argus_chain::deserialize_duration"
    )]
    pub(crate) every: Duration,
    /// A probe that takes longer counts as the timeout and as an error.
    #[serde(
        default = "ten_s",
        deserialize_with = "argus_chain::deserialize_duration"
    )]
    pub(crate) timeout: Duration,
    /// Compare the endpoints' hashes of one block (a chain with several).
    #[serde(default = "yes")]
    pub(crate) cross_check: bool,
    /// How far under the lowest head the compared block is, so an endpoint
    /// that is a block behind is not taken for one on another branch.
    #[serde(default = "two")]
    pub(crate) depth: u64,
}

fn yes() -> bool {
    true
}
fn two() -> u64 {
    2
}

/// `host: { every: 10s }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HostProbe {
    #[serde(
        default = "ten_s",
        deserialize_with = "argus_chain::deserialize_duration"
    )]
    pub(crate) every: Duration,
}

/// `{ name: arb-1, match: "mev-bot --strategy arb", every: 10s }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ProcessProbe {
    /// The `process` label.
    pub(crate) name: String,
    /// A part of the command line that picks the process out.
    #[serde(rename = "match")]
    pub(crate) matches: String,
    #[serde(
        default = "ten_s",
        deserialize_with = "argus_chain::deserialize_duration"
    )]
    pub(crate) every: Duration,
}

/// `{ name: arb-1, address: "0x…", chain: mainnet, every: 30s }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WalletProbe {
    /// The `wallet` label.
    pub(crate) name: String,
    pub(crate) address: String,
    /// A chain of `chains:`; may be left out when there is only one.
    #[serde(default)]
    pub(crate) chain: Option<String>,
    #[serde(
        default = "thirty_s",
        deserialize_with = "argus_chain::deserialize_duration"
    )]
    pub(crate) every: Duration,
}

impl WalletProbe {
    /// The address and the chain among `chains`, or what is wrong.
    pub(crate) fn resolve(
        &self,
        chains: &[ChainId],
    ) -> Result<(alloy_primitives::Address, ChainId), String> {
        let address = argus_core::parse_address(&self.address).map_err(|e| e.to_string())?;
        let chain = match &self.chain {
            Some(text) => {
                let chain = ChainId::parse(text, true).map_err(|e| e.to_string())?;
                if !chains.contains(&chain) {
                    return Err(format!(
                        "chain {} is not one of `chains:`; the wallet is read through its nodes",
                        chain.name()
                    ));
                }
                chain
            }
            None => match chains {
                [only] => *only,
                _ => {
                    return Err("say which chain (`chain:`): the config follows several".into());
                }
            },
        };
        Ok((address, chain))
    }
}

fn thirty_s() -> Duration {
    Duration::from_secs(30)
}

/// `{ path: /var/log/mev-bot.log, patterns: { authentication_failures: "WARN.*auth" } }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LogSource {
    pub(crate) path: PathBuf,
    /// Signal name → regular expression; a line may match several.
    pub(crate) patterns: BTreeMap<String, String>,
    /// Labels added to every signal of this file.
    #[serde(default)]
    pub(crate) labels: BTreeMap<String, String>,
    /// How often the file is checked for new lines.
    #[serde(
        default = "half_s",
        deserialize_with = "argus_chain::deserialize_duration"
    )]
    pub(crate) every: Duration,
}

fn every_15s() -> Duration {
    Duration::from_secs(15)
}
fn ten_s() -> Duration {
    Duration::from_secs(10)
}
fn half_s() -> Duration {
    Duration::from_millis(500)
}

/// What the sources send to the signal task.
#[derive(Debug)]
enum Sample {
    Signal(Signal),
    /// A log source read up to here; stored with the samples of its lines.
    LogRead {
        source: String,
        position: LogPosition,
    },
}

/// What the signal task needs from the daemon.
#[derive(Debug, Clone)]
pub(crate) struct SignalContext {
    pub(crate) data_dir: PathBuf,
    pub(crate) rules: RuleSet,
    pub(crate) routing: Arc<Routing>,
    pub(crate) wake: DispatchHandle,
    pub(crate) output: AlertOutput,
}

/// Starts every source and the task that evaluates what they send; all stop
/// when `shutdown` flips.
pub(crate) fn spawn(
    config: &SignalsConfig,
    chains: &[ChainSetup],
    context: SignalContext,
    shutdown: &watch::Receiver<bool>,
    tasks: &mut tokio::task::JoinSet<anyhow::Result<()>>,
) {
    let (tx, rx) = mpsc::channel::<Sample>(1024);
    if let Some(rpc) = &config.rpc {
        for chain in chains {
            let probe = chain_probe(chain.follower.chain, chain.endpoints.clone(), rpc.clone());
            spawn_source(tasks, shutdown, tx.clone(), rpc.every, probe);
        }
    }
    if let Some(host) = &config.host {
        let mut cpu = CpuSampler::default();
        let name = crate::trail::host_name();
        spawn_source(tasks, shutdown, tx.clone(), host.every, move || {
            let mut out = Vec::new();
            let labels = BTreeMap::from([("host".to_owned(), name.clone())]);
            if let Some(memory) = memory_usage() {
                out.push(signal("memory_usage", memory, &labels));
            }
            if let Some(busy) = cpu.sample() {
                out.push(signal("cpu_usage", busy, &labels));
            }
            std::future::ready(out)
        });
    }
    for process in &config.processes {
        let process = process.clone();
        let every = process.every;
        spawn_source(tasks, shutdown, tx.clone(), every, move || {
            std::future::ready(process_signals(&process))
        });
    }
    for wallet in &config.wallets {
        let ids: Vec<ChainId> = chains.iter().map(|c| c.follower.chain).collect();
        let Ok((address, chain)) = wallet.resolve(&ids) else {
            continue; // reported by the config loader
        };
        let Some(setup) = chains.iter().find(|c| c.follower.chain == chain) else {
            continue;
        };
        let labels = BTreeMap::from([
            ("chain".to_owned(), chain.name()),
            ("wallet".to_owned(), wallet.name.clone()),
            ("address".to_owned(), format!("{address:#x}")),
        ]);
        let pool = RpcPool::new(chain, setup.endpoints.clone(), setup.pool.clone())
            .map_err(|error| tracing::warn!("wallet {}: {error}", wallet.name))
            .ok();
        spawn_source(tasks, shutdown, tx.clone(), wallet.every, move || {
            let pool = pool.clone();
            let labels = labels.clone();
            async move {
                let Some(pool) = pool else {
                    return Vec::new();
                };
                match wallet_balance(&pool, address).await {
                    Ok(ether) => vec![signal("wallet_balance", ether, &labels)],
                    Err(error) => {
                        tracing::warn!("balance of {}: {error}", labels["wallet"]);
                        Vec::new()
                    }
                }
            }
        });
    }
    let positions = if config.logs.is_empty() {
        BTreeMap::new()
    } else {
        load_log_positions(&context.data_dir).unwrap_or_else(|error| {
            tracing::warn!("cannot read where the log sources stopped: {error:#}; they start at the end of their files");
            BTreeMap::new()
        })
    };
    for log in &config.logs {
        let key = log.path.display().to_string();
        let mut reader = LogReader::new(log, positions.get(&key).copied());
        let mut sent = reader.position();
        let every = log.every;
        spawn_samples(tasks, shutdown, tx.clone(), every, move || {
            let mut out: Vec<Sample> = reader.read_new().into_iter().map(Sample::Signal).collect();
            if let Some(position) = reader.position()
                && sent != Some(position)
            {
                sent = Some(position);
                out.push(Sample::LogRead {
                    source: reader.key(),
                    position,
                });
            }
            std::future::ready(out)
        });
    }
    drop(tx);
    let mut stop = shutdown.clone();
    tasks.spawn(async move {
        tokio::select! {
            result = evaluate(context, rx) => result,
            _ = stop.wait_for(|s| *s) => Ok(()),
        }
    });
}

/// Runs `measure` every `every` and sends the signals it returns.
fn spawn_source<F, Fut>(
    tasks: &mut tokio::task::JoinSet<anyhow::Result<()>>,
    shutdown: &watch::Receiver<bool>,
    tx: mpsc::Sender<Sample>,
    every: Duration,
    mut measure: F,
) where
    F: FnMut() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Vec<Signal>> + Send + 'static,
{
    spawn_samples(tasks, shutdown, tx, every, move || {
        let measured = measure();
        async move {
            measured
                .await
                .into_iter()
                .map(Sample::Signal)
                .collect::<Vec<_>>()
        }
    });
}

/// Runs `sample` every `every` and sends what it returns.
fn spawn_samples<F, Fut>(
    tasks: &mut tokio::task::JoinSet<anyhow::Result<()>>,
    shutdown: &watch::Receiver<bool>,
    tx: mpsc::Sender<Sample>,
    every: Duration,
    mut sample: F,
) where
    F: FnMut() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Vec<Sample>> + Send,
{
    let mut stop = shutdown.clone();
    tasks.spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.wait_for(|s| *s) => return Ok(()),
                _ = ticks.tick() => {}
            }
            for signal in sample().await {
                if tx.send(signal).await.is_err() {
                    return Ok(());
                }
            }
        }
    });
}

/// Evaluates the signal rules on what the sources send and records the
/// findings in the outbox, a batch of signals per SQLite transaction. The
/// samples windowed rules read are stored in that same transaction and read
/// back at the next start, so a window counts across a restart.
async fn evaluate(context: SignalContext, mut rx: mpsc::Receiver<Sample>) -> anyhow::Result<()> {
    let mut engine = Engine::new(context.rules.clone(), &ContractDirectory::default());
    let mut store = Store::open_in_dir(&context.data_dir)?.connect()?;
    let windows = SignalWindows::of(&context.rules);
    let refilled = windows.refill(&store, &mut engine, Clock::system().now_ms())?;
    if refilled > 0 {
        tracing::info!(samples = refilled, "signal windows refilled from the store");
    }
    let mut batch = Vec::new();
    while rx.recv_many(&mut batch, 256).await > 0 {
        let mut findings = Vec::new();
        let mut positions: BTreeMap<&str, LogPosition> = BTreeMap::new();
        let mut signals = Vec::new();
        for sample in &batch {
            match sample {
                Sample::Signal(signal) => signals.push(signal),
                Sample::LogRead { source, position } => {
                    positions.insert(source, *position);
                }
            }
        }
        for signal in signals.iter().copied() {
            tracing::trace!(name = %signal.name, value = signal.value, "signal");
            findings.extend(all_findings(engine.on_signal(signal), "signals"));
        }
        let kept: Vec<&Signal> = signals
            .iter()
            .copied()
            .filter(|s| windows.keeps(s))
            .collect();
        if findings.is_empty() && kept.is_empty() && positions.is_empty() {
            batch.clear();
            continue;
        }
        let now = Clock::system().now_ms();
        let tx = store.transaction()?;
        windows.store(tx.sqlite(), &kept, now)?;
        // Where each log was read up to moves with what its lines made: a
        // crash before this commit reads those lines again.
        for (source, position) in &positions {
            tx.sqlite().execute(
                "INSERT INTO signal_log_positions (source, inode, offset) VALUES (?1, ?2, ?3)
                 ON CONFLICT (source) DO UPDATE SET inode = excluded.inode, offset = excluded.offset",
                (
                    source,
                    position.inode as i64,
                    i64::try_from(position.offset).unwrap_or(i64::MAX),
                ),
            )?;
        }
        let mut fired = Vec::new();
        for finding in &findings {
            let recorded = outbox::record(&tx, finding, &context.routing, now)?;
            if recorded.new {
                fired.push((finding, recorded));
            }
        }
        tx.commit()?;
        drop(signals);
        batch.clear();
        if fired.is_empty() {
            continue;
        }
        context.wake.wake();
        for (finding, recorded) in fired {
            context.output.fired(finding, &recorded);
        }
    }
    Ok(())
}

/// Which signals windowed rules read, and for how long.
#[derive(Debug, Default)]
struct SignalWindows {
    names: std::collections::BTreeSet<String>,
    horizon_ms: i64,
}

impl SignalWindows {
    fn of(rules: &RuleSet) -> Self {
        let mut windows = Self::default();
        for rule in rules.rules() {
            let argus_rules::Matcher::Signal { name } = &rule.matcher else {
                continue;
            };
            let Some(span) = rule.aggregate.as_ref().map(argus_rules::Aggregate::span_ms) else {
                continue;
            };
            windows.names.insert(name.clone());
            windows.horizon_ms = windows
                .horizon_ms
                .max(i64::try_from(span).unwrap_or(i64::MAX));
        }
        windows
    }

    fn keeps(&self, signal: &Signal) -> bool {
        self.names.contains(&signal.name)
    }

    /// Stores `samples` and forgets those older than the longest window.
    fn store(
        &self,
        tx: &rusqlite::Transaction<'_>,
        samples: &[&Signal],
        now_ms: i64,
    ) -> anyhow::Result<()> {
        if self.names.is_empty() {
            return Ok(());
        }
        let mut insert = tx.prepare_cached(
            "INSERT INTO signal_samples (name, value, labels, at_ms) VALUES (?1, ?2, ?3, ?4)",
        )?;
        for sample in samples {
            let labels = serde_json::to_string(&sample.labels)?;
            insert.execute((&sample.name, sample.value, &labels, sample.at_ms))?;
        }
        tx.execute(
            "DELETE FROM signal_samples WHERE at_ms < ?1",
            [now_ms.saturating_sub(self.horizon_ms)],
        )?;
        Ok(())
    }

    /// Feeds the stored samples still inside the longest window to `engine`;
    /// what they fire was recorded when they first came. Returns how many.
    fn refill(
        &self,
        store: &argus_store::Connection,
        engine: &mut Engine,
        now_ms: i64,
    ) -> anyhow::Result<usize> {
        if self.names.is_empty() {
            return Ok(0);
        }
        let mut stmt = store.sqlite().prepare(
            "SELECT name, value, labels, at_ms FROM signal_samples WHERE at_ms >= ?1 ORDER BY id",
        )?;
        let rows = stmt.query_map([now_ms.saturating_sub(self.horizon_ms)], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, f64>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, i64>(3)?,
            ))
        })?;
        let mut count = 0;
        for row in rows {
            let (name, value, labels, at_ms) = row?;
            // A row this build cannot read is skipped, not fatal: it only
            // makes a window start a little emptier.
            let Ok(labels) = serde_json::from_str(&labels) else {
                continue;
            };
            let _already_recorded = engine.on_signal(&Signal {
                name,
                value,
                labels,
                at_ms,
            });
            count += 1;
        }
        Ok(count)
    }
}

fn signal(name: &str, value: f64, labels: &BTreeMap<String, String>) -> Signal {
    Signal {
        name: name.to_owned(),
        value,
        labels: labels.clone(),
        at_ms: Clock::system().now_ms(),
    }
}

/// One endpoint, probed on a pool of its own that never retries or fails
/// over, so every figure is this endpoint's.
#[derive(Clone)]
struct Probed {
    labels: BTreeMap<String, String>,
    pool: Option<RpcPool>,
}

/// What one endpoint said about the head.
enum HeadAnswer {
    Head { number: u64 },
    Failed,
}

/// The probe of one chain's endpoints: each endpoint's latency and head age,
/// how far it lags the best of them, and whether they agree on the hash of
/// a block they all have (`depth` blocks under the lowest head).
fn chain_probe(
    chain: ChainId,
    endpoints: Vec<EndpointConfig>,
    probe: RpcProbe,
) -> impl FnMut() -> std::pin::Pin<Box<dyn std::future::Future<Output = Vec<Signal>> + Send>> {
    let probed: Vec<Probed> = endpoints
        .iter()
        .map(|endpoint| {
            let labels = BTreeMap::from([
                ("chain".to_owned(), chain.name()),
                ("endpoint".to_owned(), endpoint.name.clone()),
            ]);
            // The probe's own timeout (below) decides; the pool's is a bound.
            let single = EndpointConfig {
                timeout: probe.timeout + Duration::from_secs(1),
                ..endpoint.clone()
            };
            let pool = RpcPool::new(
                chain,
                vec![single],
                PoolConfig {
                    rounds: 1,
                    ..PoolConfig::default()
                },
            )
            .map_err(|error| tracing::warn!("rpc probe of {}: {error}", endpoint.name))
            .ok();
            Probed { labels, pool }
        })
        .collect();
    move || {
        let probed = probed.clone();
        let probe = probe.clone();
        Box::pin(async move {
            let mut out = Vec::new();
            let heads = join_all(probed.iter().map(|p| probe_head(p, probe.timeout))).await;
            let mut numbers = Vec::new();
            for (p, (answer, signals)) in probed.iter().zip(heads) {
                out.extend(signals);
                if let HeadAnswer::Head { number } = answer {
                    numbers.push((p, number));
                }
            }
            let Some(best) = numbers.iter().map(|(_, n)| *n).max() else {
                return out;
            };
            for (p, number) in &numbers {
                out.push(signal("head_lag", (best - number) as f64, &p.labels));
            }
            if numbers.len() < 2 || !probe.cross_check {
                return out;
            }
            let lowest = numbers.iter().map(|(_, n)| *n).min().unwrap_or(0);
            let Some(at) = lowest.checked_sub(probe.depth) else {
                return out;
            };
            let hashes = join_all(numbers.iter().map(|(p, _)| async move {
                let pool = p.pool.as_ref()?;
                match tokio::time::timeout(probe.timeout, pool.header(BlockId::Number(at))).await {
                    Ok(Ok(Some(block))) => Some(block.header.hash),
                    _ => None,
                }
            }))
            .await;
            let answered: Vec<(&Probed, alloy_primitives::B256)> = numbers
                .iter()
                .zip(hashes)
                .filter_map(|((p, _), hash)| Some((*p, hash?)))
                .collect();
            if answered.len() < 2 {
                return out;
            }
            // The hash most endpoints give; on a tie, nobody is the majority.
            let mut counts: BTreeMap<alloy_primitives::B256, usize> = BTreeMap::new();
            for (_, hash) in &answered {
                *counts.entry(*hash).or_default() += 1;
            }
            let top = counts.values().copied().max().unwrap_or(0);
            let majority = (counts.values().filter(|c| **c == top).count() == 1)
                .then(|| counts.iter().find(|(_, c)| **c == top).map(|(h, _)| *h))
                .flatten();
            for (p, hash) in answered {
                let disagrees = counts.len() > 1 && majority != Some(hash);
                let mut labels = p.labels.clone();
                labels.insert("block".into(), at.to_string());
                out.push(signal(
                    "rpc_disagreement",
                    if disagrees { 1.0 } else { 0.0 },
                    &labels,
                ));
            }
            out
        })
    }
}

/// `eth_getBlockByNumber(latest)` on one endpoint, timed.
async fn probe_head(p: &Probed, timeout: Duration) -> (HeadAnswer, Vec<Signal>) {
    let labels = &p.labels;
    let Some(pool) = &p.pool else {
        let mut labels = labels.clone();
        labels.insert("kind".into(), "config".into());
        return (HeadAnswer::Failed, vec![signal("rpc_errors", 1.0, &labels)]);
    };
    let started = Instant::now();
    let answer = tokio::time::timeout(timeout, pool.header(BlockId::Latest)).await;
    let took = started.elapsed().as_secs_f64();
    let now_s = Clock::system().now_ms() as f64 / 1000.0;
    match answer {
        Ok(Ok(Some(block))) => (
            HeadAnswer::Head {
                number: block.header.number,
            },
            vec![
                signal("network_latency", took, labels),
                signal(
                    "head_age",
                    (now_s - block.header.timestamp as f64).max(0.0),
                    labels,
                ),
            ],
        ),
        Ok(Ok(None)) => (
            HeadAnswer::Failed,
            vec![signal("network_latency", took, labels)],
        ),
        Ok(Err(error)) => {
            let mut errors = labels.clone();
            let kind = serde_json::to_value(error.kind())
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_else(|| "other".to_owned());
            let timed_out = kind == "timeout";
            errors.insert("kind".into(), kind);
            let mut out = vec![signal("rpc_errors", 1.0, &errors)];
            if timed_out {
                out.push(signal(
                    "network_latency",
                    took.max(timeout.as_secs_f64()),
                    labels,
                ));
            }
            (HeadAnswer::Failed, out)
        }
        Err(_) => {
            let mut errors = labels.clone();
            errors.insert("kind".into(), "timeout".into());
            (
                HeadAnswer::Failed,
                vec![
                    signal("network_latency", timeout.as_secs_f64(), labels),
                    signal("rpc_errors", 1.0, &errors),
                ],
            )
        }
    }
}

/// A balance in ether (as a float: thresholds, not accounting).
async fn wallet_balance(pool: &RpcPool, address: alloy_primitives::Address) -> Result<f64, String> {
    let answer = pool
        .request(
            "eth_getBalance",
            serde_json::json!([format!("{address:#x}"), "latest"]),
        )
        .await
        .map_err(|e| e.to_string())?;
    let text = answer
        .as_str()
        .ok_or("the node's balance is not a string")?;
    let wei: alloy_primitives::U256 = text
        .parse()
        .map_err(|_| format!("the node's balance `{text}` is not a quantity"))?;
    let wei: f64 = wei
        .to_string()
        .parse()
        .map_err(|_| "a balance beyond f64".to_owned())?;
    Ok(wei / 1e18)
}

/// Percent of the host's memory in use: `1 - MemAvailable / MemTotal`.
fn memory_usage() -> Option<f64> {
    let (total, available) = meminfo()?;
    Some(100.0 * (total.saturating_sub(available)) as f64 / total as f64)
}

/// `MemTotal` and `MemAvailable` in KiB.
fn meminfo() -> Option<(u64, u64)> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let field = |name: &str| -> Option<u64> {
        let line = text.lines().find(|l| l.starts_with(name))?;
        line.split_whitespace().nth(1)?.parse().ok()
    };
    let total = field("MemTotal:").filter(|t| *t > 0)?;
    Some((total, field("MemAvailable:")?))
}

/// CPU busy percent between two reads of `/proc/stat`.
#[derive(Debug, Default)]
struct CpuSampler {
    last: Option<(u64, u64)>,
}

impl CpuSampler {
    fn sample(&mut self) -> Option<f64> {
        let text = std::fs::read_to_string("/proc/stat").ok()?;
        let line = text.lines().find(|l| l.starts_with("cpu "))?;
        let fields: Vec<u64> = line
            .split_whitespace()
            .skip(1)
            .filter_map(|f| f.parse().ok())
            .collect();
        let total: u64 = fields.iter().sum();
        // idle + iowait
        let idle = fields.get(3).copied().unwrap_or(0) + fields.get(4).copied().unwrap_or(0);
        let previous = self.last.replace((total, idle));
        let (last_total, last_idle) = previous?;
        let dt = total.checked_sub(last_total).filter(|d| *d > 0)?;
        let di = idle.saturating_sub(last_idle).min(dt);
        Some(100.0 * (dt - di) as f64 / dt as f64)
    }
}

/// `process_up`, and `process_memory` for a process that runs.
fn process_signals(probe: &ProcessProbe) -> Vec<Signal> {
    let labels = BTreeMap::from([("process".to_owned(), probe.name.clone())]);
    let own = std::process::id();
    let found = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| *pid != own)
        .find(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|raw| {
                let line: Vec<u8> = raw
                    .iter()
                    .map(|b| if *b == 0 { b' ' } else { *b })
                    .collect();
                String::from_utf8_lossy(&line).contains(&probe.matches)
            })
        });
    let Some(pid) = found else {
        return vec![signal("process_up", 0.0, &labels)];
    };
    let mut out = vec![signal("process_up", 1.0, &labels)];
    let rss_kib = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
            line.split_whitespace().nth(1)?.parse::<u64>().ok()
        });
    if let (Some(rss), Some((total, _))) = (rss_kib, meminfo()) {
        out.push(signal(
            "process_memory",
            100.0 * rss as f64 / total as f64,
            &labels,
        ));
    }
    out
}

/// Where a log source stopped reading: the file (by inode) and the offset
/// of the first byte not yet part of a whole line.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LogPosition {
    inode: u64,
    offset: u64,
}

/// The positions of every log source, as the last commit left them.
fn load_log_positions(data_dir: &Path) -> anyhow::Result<BTreeMap<String, LogPosition>> {
    let store = Store::open_in_dir(data_dir)?.connect()?;
    let mut stmt = store
        .sqlite()
        .prepare("SELECT source, inode, offset FROM signal_log_positions")?;
    let rows = stmt.query_map([], |row| {
        Ok((
            row.get::<_, String>(0)?,
            row.get::<_, i64>(1)?,
            row.get::<_, i64>(2)?,
        ))
    })?;
    let mut out = BTreeMap::new();
    for row in rows {
        let (source, inode, offset) = row?;
        // Stored as the same 64 bits: an inode above i64::MAX survives.
        out.insert(
            source,
            LogPosition {
                inode: inode as u64,
                offset: u64::try_from(offset).unwrap_or(0),
            },
        );
    }
    Ok(out)
}

/// Reads the lines appended to a log file since the last call.
struct LogReader {
    path: PathBuf,
    patterns: Vec<(String, regex::Regex)>,
    labels: BTreeMap<String, String>,
    /// Where the next read starts.
    read: Option<LogPosition>,
    /// The start of the line not yet ended (what a restart resumes from).
    durable: Option<LogPosition>,
    partial: Vec<u8>,
    /// Bytes since the last newline (`partial` keeps at most `MAX_LINE`).
    partial_len: u64,
    warned: bool,
}

/// The longest line kept whole; longer ones are matched on their first part.
const MAX_LINE: usize = 64 * 1024;

impl LogReader {
    /// A reader that resumes at `saved`, or starts at the file's end.
    fn new(source: &LogSource, saved: Option<LogPosition>) -> Self {
        let patterns = source
            .patterns
            .iter()
            .filter_map(|(name, p)| Some((name.clone(), regex::Regex::new(p).ok()?)))
            .collect();
        let mut labels = source.labels.clone();
        labels
            .entry("file".to_owned())
            .or_insert_with(|| source.path.display().to_string());
        Self {
            path: source.path.clone(),
            patterns,
            labels,
            read: saved,
            durable: saved,
            partial: Vec::new(),
            partial_len: 0,
            warned: false,
        }
    }

    /// The source's key in `signal_log_positions`.
    fn key(&self) -> String {
        self.path.display().to_string()
    }

    /// Where a restart should resume.
    fn position(&self) -> Option<LogPosition> {
        self.durable
    }

    fn read_new(&mut self) -> Vec<Signal> {
        match self.read_lines() {
            Ok(lines) => {
                self.warned = false;
                let mut out = Vec::new();
                for line in lines {
                    let text = String::from_utf8_lossy(&line);
                    for (name, pattern) in &self.patterns {
                        if pattern.is_match(&text) {
                            out.push(signal(name, 1.0, &self.labels));
                        }
                    }
                }
                out
            }
            Err(error) => {
                if !self.warned {
                    tracing::warn!("log source {}: {error}", self.path.display());
                    self.warned = true;
                }
                Vec::new()
            }
        }
    }

    fn read_lines(&mut self) -> std::io::Result<Vec<Vec<u8>>> {
        let mut file = std::fs::File::open(&self.path)?;
        let meta = file.metadata()?;
        let start = match self.read {
            // The same file, not truncated: carry on.
            Some(p) if p.inode == meta.ino() && p.offset <= meta.len() => p.offset,
            // Rotated or truncated: the new file from its start.
            Some(_) => {
                self.partial.clear();
                self.partial_len = 0;
                0
            }
            // Never read: from its end (what came before is history).
            None => meta.len(),
        };
        file.seek(SeekFrom::Start(start))?;
        let mut bytes = Vec::new();
        file.by_ref()
            .take(16 * 1024 * 1024)
            .read_to_end(&mut bytes)?;
        let end = start + bytes.len() as u64;
        let mut lines = Vec::new();
        let mut rest = &bytes[..];
        while let Some(at) = rest.iter().position(|b| *b == b'\n') {
            let mut line = std::mem::take(&mut self.partial);
            line.extend_from_slice(&rest[..at]);
            line.truncate(MAX_LINE);
            lines.push(line);
            self.partial_len = 0;
            rest = &rest[at + 1..];
        }
        if self.partial.len() < MAX_LINE {
            let room = MAX_LINE - self.partial.len();
            self.partial
                .extend_from_slice(&rest[..rest.len().min(room)]);
        }
        self.partial_len += rest.len() as u64;
        self.read = Some(LogPosition {
            inode: meta.ino(),
            offset: end,
        });
        self.durable = Some(LogPosition {
            inode: meta.ino(),
            offset: end - self.partial_len.min(end),
        });
        Ok(lines)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn source(dir: &Path) -> LogSource {
        LogSource {
            path: dir.join("bot.log"),
            patterns: BTreeMap::from([
                (
                    "authentication_failures".to_owned(),
                    "WARN.*(?i)auth".to_owned(),
                ),
                ("bot_errors".to_owned(), "ERROR".to_owned()),
            ]),
            labels: BTreeMap::from([("bot".to_owned(), "arb-1".to_owned())]),
            every: half_s(),
        }
    }

    fn names(signals: &[Signal]) -> Vec<&str> {
        signals.iter().map(|s| s.name.as_str()).collect()
    }

    fn append(path: &Path, text: &str) {
        use std::io::Write as _;
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        file.write_all(text.as_bytes()).unwrap();
    }

    #[test]
    fn new_lines_partial_lines_rotation_and_restart() {
        let dir = tempfile::tempdir().unwrap();
        let log = source(dir.path());
        append(&log.path, "ERROR before argus ever looked\n");
        let mut reader = LogReader::new(&log, None);
        assert!(reader.read_new().is_empty(), "history is not replayed");
        append(
            &log.path,
            "INFO ok\nWARN Auth failed for key 3\nERROR x\nWARN auth",
        );
        let got = reader.read_new();
        assert_eq!(names(&got), ["authentication_failures", "bot_errors"]);
        assert_eq!(got[0].labels["bot"], "arb-1");
        assert!(got[0].labels["file"].ends_with("bot.log"));
        // The line finishes later: matched once, whole.
        append(&log.path, " again\n");
        assert_eq!(names(&reader.read_new()), ["authentication_failures"]);

        // A restart carries on where the last one stopped, from the start of
        // a line it had only begun.
        append(&log.path, "ERROR before the crash\nERR");
        assert_eq!(names(&reader.read_new()), ["bot_errors"]);
        let mut restarted = LogReader::new(&log, reader.position());
        append(&log.path, "OR finished after the restart\n");
        // "ERR" + "OR…" is read whole again: it matches `ERROR`.
        assert_eq!(names(&restarted.read_new()), ["bot_errors"]);

        // Rotation: the old file moves away, a new one starts.
        std::fs::rename(&log.path, dir.path().join("bot.log.1")).unwrap();
        append(&log.path, "ERROR first line of the new file\n");
        assert_eq!(names(&restarted.read_new()), ["bot_errors"]);
        // Truncation in place.
        std::fs::write(&log.path, "").unwrap();
        append(&log.path, "ERROR after truncation\n");
        assert_eq!(names(&restarted.read_new()), ["bot_errors"]);
        // A missing file is no signal and no panic.
        std::fs::remove_file(&log.path).unwrap();
        assert!(restarted.read_new().is_empty());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        /// However the writer's bytes are split between reads, every whole
        /// line is matched exactly once and a partial one waits for its end.
        #[test]
        fn any_split_of_the_bytes_reads_each_line_once(
            chunks in proptest::collection::vec(
                proptest::collection::vec(
                    proptest::sample::select(vec![b'E', b'R', b'O', b'x', b'\n', 0xff]),
                    0..40,
                ),
                1..12,
            )
        ) {
            let dir = tempfile::tempdir().unwrap();
            let log = LogSource {
                path: dir.path().join("bot.log"),
                patterns: BTreeMap::from([("hits".to_owned(), "ERR".to_owned())]),
                labels: BTreeMap::new(),
                every: half_s(),
            };
            std::fs::write(&log.path, b"").unwrap();
            let mut reader = LogReader::new(&log, None);
            assert!(reader.read_new().is_empty());
            let mut seen = 0;
            for chunk in &chunks {
                let mut file = std::fs::OpenOptions::new().append(true).open(&log.path).unwrap();
                std::io::Write::write_all(&mut file, chunk).unwrap();
                seen += reader.read_new().len();
            }
            let all: Vec<u8> = chunks.concat();
            let whole = match all.iter().rposition(|b| *b == b'\n') {
                Some(end) => &all[..end],
                None => &all[..0],
            };
            let expected = if all.contains(&b'\n') {
                whole
                    .split(|b| *b == b'\n')
                    .filter(|line| String::from_utf8_lossy(line).contains("ERR"))
                    .count()
            } else {
                0
            };
            proptest::prop_assert_eq!(seen, expected);
        }
    }

    #[test]
    fn bad_patterns_and_intervals_are_reported() {
        let config: SignalsConfig = serde_json::from_value(serde_json::json!({
            "host": { "every": "10ms" },
            "processes": [{ "name": "bot", "match": " " }],
            "logs": [{ "path": "/x", "patterns": { "a": "(unclosed" } }],
        }))
        .unwrap();
        let problems = config.problems();
        let paths: Vec<&str> = problems.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            paths,
            [
                "signals.host",
                "signals.processes[0].match",
                "signals.logs[0].patterns.a"
            ]
        );
        assert!(problems[2].1.contains("regular expression"), "{problems:?}");
    }

    #[test]
    fn host_figures_are_percentages() {
        let memory = memory_usage().unwrap();
        assert!((0.0..=100.0).contains(&memory), "{memory}");
        let mut cpu = CpuSampler::default();
        assert!(cpu.sample().is_none(), "one read is no rate");
        std::thread::sleep(Duration::from_millis(50));
        if let Some(busy) = cpu.sample() {
            assert!((0.0..=100.0).contains(&busy), "{busy}");
        }
    }

    #[test]
    fn a_process_is_found_by_its_command_line() {
        let mut child = std::process::Command::new("sleep")
            .arg("301.25")
            .spawn()
            .unwrap();
        let probe = ProcessProbe {
            name: "sleeper".into(),
            matches: "sleep 301.25".into(),
            every: ten_s(),
        };
        // Right after the exec the kernel may not report its memory yet.
        std::thread::sleep(Duration::from_millis(100));
        let up = process_signals(&probe);
        assert_eq!(names(&up), ["process_up", "process_memory"]);
        assert_eq!(up[0].value, 1.0);
        assert!(up[1].value > 0.0 && up[1].value < 100.0);
        child.kill().unwrap();
        child.wait().unwrap();
        let down = process_signals(&probe);
        assert_eq!(names(&down), ["process_up"]);
        assert_eq!(down[0].value, 0.0);
        assert_eq!(down[0].labels["process"], "sleeper");
    }
}
