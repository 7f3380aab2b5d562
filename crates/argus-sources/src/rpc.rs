//! `rpc`: each endpoint of each chain, probed on its own: `network_latency`
//! of an `eth_getBlockByNumber(latest)` round trip (the timeout when it
//! times out), `head_age` behind the clock, `head_lag` behind the best
//! endpoint, `rpc_errors` with their `kind`, and `rpc_disagreement` when an
//! endpoint's hash of a block every endpoint has differs from the majority's
//! (a node on another branch, or one that lies).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use alloy_primitives::B256;
use argus_chain::{BlockId, ChainSetup, EndpointConfig, PoolConfig, RpcPool};
use argus_core::{ChainId, Clock, Signal};
use futures_util::future::join_all;
use serde::Deserialize;

use crate::{Source, SourceContext, signal, ten_s};

/// `rpc: { every: 15s, timeout: 10s }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RpcProbe {
    #[serde(
        default = "every_15s",
        deserialize_with = "argus_core::duration::deserialize"
    )]
    pub every: Duration,
    /// A probe that takes longer counts as the timeout and as an error.
    #[serde(
        default = "ten_s",
        deserialize_with = "argus_core::duration::deserialize"
    )]
    pub timeout: Duration,
    /// Compare the endpoints' hashes of one block (a chain with several).
    #[serde(default = "yes")]
    pub cross_check: bool,
    /// How far under the lowest head the compared block is, so an endpoint
    /// that is a block behind is not taken for one on another branch.
    #[serde(default = "two")]
    pub depth: u64,
}

impl RpcProbe {
    /// One probe of every endpoint of `chain`, every `every`.
    pub fn build(&self, chain: &ChainSetup, context: &SourceContext) -> Source {
        let probe = chain_probe(
            chain.chain(),
            chain.endpoints.clone(),
            self.clone(),
            context.clock.clone(),
        );
        Source::signals(
            format!("rpc probe of {}", chain.chain().name()),
            self.every,
            probe,
        )
    }
}

fn every_15s() -> Duration {
    Duration::from_secs(15)
}
fn yes() -> bool {
    true
}
fn two() -> u64 {
    2
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
    clock: Clock,
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
        let clock = clock.clone();
        Box::pin(async move {
            let mut out = Vec::new();
            let heads = join_all(probed.iter().map(|p| probe_head(p, probe.timeout, &clock))).await;
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
                out.push(signal(
                    &clock,
                    "head_lag",
                    (best - number) as f64,
                    &p.labels,
                ));
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
            let answered: Vec<(&Probed, B256)> = numbers
                .iter()
                .zip(hashes)
                .filter_map(|((p, _), hash)| Some((*p, hash?)))
                .collect();
            if answered.len() < 2 {
                return out;
            }
            let verdicts = disagreements(answered.iter().map(|(_, hash)| *hash));
            for ((p, _), disagrees) in answered.into_iter().zip(verdicts) {
                let mut labels = p.labels.clone();
                labels.insert("block".into(), at.to_string());
                out.push(signal(
                    &clock,
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
async fn probe_head(p: &Probed, timeout: Duration, clock: &Clock) -> (HeadAnswer, Vec<Signal>) {
    let labels = &p.labels;
    let Some(pool) = &p.pool else {
        let mut labels = labels.clone();
        labels.insert("kind".into(), "config".into());
        return (
            HeadAnswer::Failed,
            vec![signal(clock, "rpc_errors", 1.0, &labels)],
        );
    };
    let started = Instant::now();
    let answer = tokio::time::timeout(timeout, pool.header(BlockId::Latest)).await;
    let took = started.elapsed().as_secs_f64();
    let now_s = clock.now_ms() as f64 / 1000.0;
    match answer {
        Ok(Ok(Some(block))) => (
            HeadAnswer::Head {
                number: block.header.number,
            },
            vec![
                signal(clock, "network_latency", took, labels),
                signal(
                    clock,
                    "head_age",
                    (now_s - block.header.timestamp as f64).max(0.0),
                    labels,
                ),
            ],
        ),
        Ok(Ok(None)) => (
            HeadAnswer::Failed,
            vec![signal(clock, "network_latency", took, labels)],
        ),
        Ok(Err(error)) => {
            let mut errors = labels.clone();
            let kind = serde_json::to_value(error.kind())
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_else(|| "other".to_owned());
            let timed_out = kind == "timeout";
            errors.insert("kind".into(), kind);
            let mut out = vec![signal(clock, "rpc_errors", 1.0, &errors)];
            if timed_out {
                out.push(signal(
                    clock,
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
                    signal(clock, "network_latency", timeout.as_secs_f64(), labels),
                    signal(clock, "rpc_errors", 1.0, &errors),
                ],
            )
        }
    }
}

/// For each answer, whether it disagrees with the others: with more than
/// one hash among the answers, every endpoint not giving the hash most of
/// them give disagrees; on a tie nobody is the majority, so all do.
fn disagreements(hashes: impl Iterator<Item = B256> + Clone) -> Vec<bool> {
    let mut counts: BTreeMap<B256, usize> = BTreeMap::new();
    for hash in hashes.clone() {
        *counts.entry(hash).or_default() += 1;
    }
    let top = counts.values().copied().max().unwrap_or(0);
    let majority = (counts.values().filter(|c| **c == top).count() == 1)
        .then(|| counts.iter().find(|(_, c)| **c == top).map(|(h, _)| *h))
        .flatten();
    hashes
        .map(|hash| counts.len() > 1 && majority != Some(hash))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_odd_endpoint_out_disagrees_and_a_tie_has_no_majority() {
        let (a, b) = (B256::repeat_byte(1), B256::repeat_byte(2));
        assert_eq!(disagreements([a, a, a].into_iter()), [false, false, false]);
        assert_eq!(disagreements([a, b, a].into_iter()), [false, true, false]);
        assert_eq!(disagreements([a, b].into_iter()), [true, true]);
    }
}
