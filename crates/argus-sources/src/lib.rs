//! The signal sources: what the daemon measures besides the chain, so that
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
//! Each source is a module with its config and a `build()` that gives a
//! [`Source`]: a name, an interval and a sampler. The node runs every source
//! with [`Source::run`], which sends [`Sample`]s to one channel; one task of
//! the node evaluates the signal rules on them and records their findings
//! (the node's `signals` module). This crate does no evaluation and opens no
//! database: what it stores (the samples windowed rules read, where each log
//! was read up to) goes through [`db`] inside the node's transaction.
//!
//! Every signal is stamped by the injected [`Clock`], so a test that drives
//! the clock drives the windows.

pub mod db;
pub mod host;
pub mod logs;
pub mod process;
pub mod rpc;
pub mod submissions;
pub mod wallet;

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use argus_chain::ChainSetup;
use argus_core::{Clock, Diagnostic, Signal};
use serde::Deserialize;
use tokio::sync::{mpsc, watch};

pub use host::HostProbe;
pub use logs::{LogPosition, LogSource};
pub use process::ProcessProbe;
pub use rpc::RpcProbe;
pub use wallet::WalletProbe;

/// The `signals:` section.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignalsConfig {
    /// Probes every endpoint of every chain.
    #[serde(default)]
    pub rpc: Option<RpcProbe>,
    /// This machine's memory and CPU.
    #[serde(default)]
    pub host: Option<HostProbe>,
    /// Processes to watch (the bots).
    #[serde(default)]
    pub processes: Vec<ProcessProbe>,
    /// Log files to read.
    #[serde(default)]
    pub logs: Vec<LogSource>,
    /// The bots' wallets: their balance.
    #[serde(default)]
    pub wallets: Vec<WalletProbe>,
}

impl SignalsConfig {
    /// Whether any source is configured.
    pub fn is_empty(&self) -> bool {
        self.rpc.is_none()
            && self.host.is_none()
            && self.processes.is_empty()
            && self.logs.is_empty()
            && self.wallets.is_empty()
    }

    /// The names of the signals the configured sources produce.
    pub fn produced(&self) -> std::collections::BTreeSet<String> {
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

    /// Every problem the types cannot catch, each at its key path.
    pub fn problems(&self) -> Vec<Diagnostic> {
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
                problems.push(Diagnostic::at_path(path, "`every` must be at least 100ms"));
            }
        }
        for (i, process) in self.processes.iter().enumerate() {
            if process.matches.trim().is_empty() {
                problems.push(Diagnostic::at_path(
                    format!("signals.processes[{i}].match"),
                    "must name part of the process's command line".to_owned(),
                ));
            }
        }
        for (i, log) in self.logs.iter().enumerate() {
            if log.patterns.is_empty() {
                problems.push(Diagnostic::at_path(
                    format!("signals.logs[{i}].patterns"),
                    "give at least one `signal_name: regex`".to_owned(),
                ));
            }
            for (name, pattern) in &log.patterns {
                if let Err(error) = regex::Regex::new(pattern) {
                    let first = error.to_string();
                    let first = first.lines().last().unwrap_or("invalid").trim().to_owned();
                    problems.push(Diagnostic::at_path(
                        format!("signals.logs[{i}].patterns.{name}"),
                        format!("not a regular expression: {first}"),
                    ));
                }
            }
        }
        problems
    }
}

impl SignalsConfig {
    /// Every source of the section, built. `positions` are where the log
    /// sources stopped (by [`LogSource::key`]), as [`db::log_positions`]
    /// reads them.
    pub fn build(
        &self,
        chains: &[ChainSetup],
        positions: &BTreeMap<String, LogPosition>,
        context: &SourceContext,
    ) -> Vec<Source> {
        let mut sources = Vec::new();
        if let Some(rpc) = &self.rpc {
            sources.extend(chains.iter().map(|chain| rpc.build(chain, context)));
        }
        if let Some(host) = &self.host {
            sources.push(host.build(context));
        }
        sources.extend(self.processes.iter().map(|p| p.build(context)));
        sources.extend(self.wallets.iter().filter_map(|w| w.build(chains, context)));
        sources.extend(
            self.logs
                .iter()
                .map(|log| log.build(positions.get(&log.key()).copied(), context)),
        );
        sources
    }
}

/// What the sources share: the clock that stamps their signals and the
/// host's name (the `host` label).
#[derive(Debug, Clone)]
pub struct SourceContext {
    pub clock: Clock,
    pub host: String,
}

/// What a source sends to the node.
#[derive(Debug, Clone, PartialEq)]
pub enum Sample {
    Signal(Signal),
    /// A log source read up to here; stored with the samples of its lines.
    LogRead {
        source: String,
        position: LogPosition,
    },
}

type Sampler = Box<dyn FnMut() -> Pin<Box<dyn Future<Output = Vec<Sample>> + Send>> + Send>;

/// One built source: what it samples and how often.
pub struct Source {
    name: String,
    every: Duration,
    sample: Sampler,
}

impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Source")
            .field("name", &self.name)
            .field("every", &self.every)
            .finish_non_exhaustive()
    }
}

impl Source {
    /// A source whose sampler gives signals.
    pub(crate) fn signals<F, Fut>(name: impl Into<String>, every: Duration, mut measure: F) -> Self
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future<Output = Vec<Signal>> + Send + 'static,
    {
        Self::samples(name, every, move || {
            let measured = measure();
            async move {
                measured
                    .await
                    .into_iter()
                    .map(Sample::Signal)
                    .collect::<Vec<_>>()
            }
        })
    }

    /// A source whose sampler gives samples (signals and positions).
    pub(crate) fn samples<F, Fut>(name: impl Into<String>, every: Duration, mut sample: F) -> Self
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future<Output = Vec<Sample>> + Send + 'static,
    {
        Self {
            name: name.into(),
            every,
            sample: Box::new(move || Box::pin(sample())),
        }
    }

    /// What the source is, for logs.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// How often it samples.
    pub fn every(&self) -> Duration {
        self.every
    }

    /// One sample, now.
    pub async fn sample_once(&mut self) -> Vec<Sample> {
        (self.sample)().await
    }

    /// Samples every `every` (the first at once) and sends what it gets,
    /// until `shutdown` flips or the receiver is gone.
    pub async fn run(mut self, tx: mpsc::Sender<Sample>, mut shutdown: watch::Receiver<bool>) {
        let mut ticks = tokio::time::interval(self.every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.wait_for(|s| *s) => return,
                _ = ticks.tick() => {}
            }
            for sample in self.sample_once().await {
                if tx.send(sample).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// A signal stamped now.
pub(crate) fn signal(
    clock: &Clock,
    name: &str,
    value: f64,
    labels: &BTreeMap<String, String>,
) -> Signal {
    Signal {
        name: name.to_owned(),
        value,
        labels: labels.clone(),
        at_ms: clock.now_ms(),
    }
}

pub(crate) fn ten_s() -> Duration {
    Duration::from_secs(10)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn bad_patterns_and_intervals_are_reported() {
        let config: SignalsConfig = serde_json::from_value(serde_json::json!({
            "host": { "every": "10ms" },
            "processes": [{ "name": "bot", "match": " " }],
            "logs": [{ "path": "/x", "patterns": { "a": "(unclosed" } }],
        }))
        .unwrap();
        let problems = config.problems();
        let paths: Vec<&str> = problems.iter().filter_map(|p| p.path.as_deref()).collect();
        assert_eq!(
            paths,
            [
                "signals.host",
                "signals.processes[0].match",
                "signals.logs[0].patterns.a"
            ]
        );
        assert!(
            problems[2].message.contains("regular expression"),
            "{problems:?}"
        );
    }
}
