//! Per-endpoint figures: how much each provider is used, how it fails and
//! how fast it answers. They feed `argus doctor`, the metrics endpoint and
//! the pool's own choice of endpoint (benching).

use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

use crate::error::{ErrorKind, RpcError};

/// Upper bounds (ms) of the latency histogram's buckets; the last is open.
const BUCKETS_MS: [f64; 14] = [
    1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0, 10000.0, 30000.0,
];
/// Weight of the newest sample in the moving average.
const EWMA_WEIGHT: f64 = 0.2;

/// Failures of one endpoint, by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ErrorCounts {
    pub timeout: u64,
    pub connection: u64,
    pub http_status: u64,
    pub malformed: u64,
    pub rpc: u64,
}

impl ErrorCounts {
    /// All failures.
    pub fn total(&self) -> u64 {
        self.timeout + self.connection + self.http_status + self.malformed + self.rpc
    }
}

/// What `RpcPool::stats` reports for one endpoint.
#[derive(Debug, Clone, Serialize)]
pub struct EndpointStats {
    pub name: String,
    pub requests: u64,
    pub errors: ErrorCounts,
    /// Exponentially weighted moving average of answer times.
    pub latency_ewma_ms: Option<f64>,
    /// Upper bound of the histogram bucket holding the median.
    pub latency_p50_ms: Option<f64>,
    pub latency_p99_ms: Option<f64>,
    /// The last failure's message (endpoint name, never its URL).
    pub last_error: Option<String>,
    pub consecutive_failures: u32,
    /// How much longer the endpoint is skipped, when benched.
    pub benched_for_ms: Option<u64>,
}

#[derive(Debug, Default)]
pub(crate) struct EndpointState {
    requests: u64,
    errors: ErrorCounts,
    ewma_ms: Option<f64>,
    histogram: [u64; BUCKETS_MS.len() + 1],
    max_ms: f64,
    last_error: Option<String>,
    consecutive_failures: u32,
    benched_until: Option<Instant>,
    /// How many times in a row the endpoint was benched (doubles the time).
    benchings: u32,
}

impl EndpointState {
    fn observe(&mut self, elapsed: Duration) {
        self.requests += 1;
        let ms = elapsed.as_secs_f64() * 1000.0;
        self.ewma_ms = Some(match self.ewma_ms {
            None => ms,
            Some(previous) => previous + EWMA_WEIGHT * (ms - previous),
        });
        let bucket = BUCKETS_MS
            .iter()
            .position(|bound| ms <= *bound)
            .unwrap_or(BUCKETS_MS.len());
        self.histogram[bucket] += 1;
        self.max_ms = self.max_ms.max(ms);
    }

    pub(crate) fn record_success(&mut self, elapsed: Duration) {
        self.observe(elapsed);
        self.consecutive_failures = 0;
        self.benched_until = None;
        self.benchings = 0;
    }

    pub(crate) fn record_failure(
        &mut self,
        elapsed: Duration,
        error: &RpcError,
        now: Instant,
        bench_after: u32,
        bench_for: Duration,
    ) {
        self.observe(elapsed);
        match error.kind() {
            ErrorKind::Timeout => self.errors.timeout += 1,
            ErrorKind::Connection => self.errors.connection += 1,
            ErrorKind::HttpStatus => self.errors.http_status += 1,
            ErrorKind::Malformed => self.errors.malformed += 1,
            ErrorKind::Rpc => self.errors.rpc += 1,
        }
        self.last_error = Some(error.to_string());
        if !error.is_endpoint_fault() {
            return;
        }
        self.consecutive_failures += 1;
        if self.consecutive_failures >= bench_after.max(1) {
            let factor = 1u32 << self.benchings.min(4);
            self.benched_until = Some(now + bench_for.saturating_mul(factor));
            self.benchings += 1;
            self.consecutive_failures = 0;
        }
    }

    /// When the endpoint comes back, if it is benched at `now`.
    pub(crate) fn benched_until(&self, now: Instant) -> Option<Instant> {
        self.benched_until.filter(|until| *until > now)
    }

    fn quantile(&self, q: f64) -> Option<f64> {
        let total: u64 = self.histogram.iter().sum();
        if total == 0 {
            return None;
        }
        let wanted = ((total as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (index, count) in self.histogram.iter().enumerate() {
            seen += count;
            if seen >= wanted {
                return Some(BUCKETS_MS.get(index).copied().unwrap_or(self.max_ms));
            }
        }
        Some(self.max_ms)
    }

    pub(crate) fn snapshot(&self, name: &str, now: Instant) -> EndpointStats {
        EndpointStats {
            name: name.to_owned(),
            requests: self.requests,
            errors: self.errors,
            latency_ewma_ms: self.ewma_ms,
            latency_p50_ms: self.quantile(0.5),
            latency_p99_ms: self.quantile(0.99),
            last_error: self.last_error.clone(),
            consecutive_failures: self.consecutive_failures,
            benched_for_ms: self
                .benched_until(now)
                .map(|until| (until - now).as_millis() as u64),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_and_benching() {
        let mut state = EndpointState::default();
        for ms in [1, 3, 3, 3, 40, 40, 40, 40, 40, 900] {
            state.record_success(Duration::from_millis(ms));
        }
        assert_eq!(state.quantile(0.5), Some(50.0));
        assert_eq!(state.quantile(0.99), Some(1000.0));
        let now = Instant::now();
        let error = RpcError::Timeout {
            endpoint: "a".into(),
            method: "m".into(),
            after: Duration::from_secs(1),
        };
        for _ in 0..3 {
            state.record_failure(
                Duration::from_secs(1),
                &error,
                now,
                3,
                Duration::from_secs(30),
            );
        }
        assert!(state.benched_until(now).is_some());
        let stats = state.snapshot("a", now);
        assert_eq!(stats.errors.timeout, 3);
        assert_eq!(stats.requests, 13);
        assert!(stats.benched_for_ms.is_some());
        state.record_success(Duration::from_millis(1));
        assert!(state.benched_until(now).is_none());
    }
}
