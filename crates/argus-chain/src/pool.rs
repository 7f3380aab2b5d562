//! Several endpoints of one chain behind one caller.
//!
//! A request goes to the first healthy endpoint in configuration order (the
//! user lists the preferred provider first). A failure worth retrying moves
//! to the next one; after a full round with no success the pool pauses
//! (exponential backoff with jitter, so many Argus instances do not hammer a
//! recovering provider in step) and tries another round. An endpoint that
//! fails `bench_after` times in a row is skipped for `bench_for`, then tried
//! again; while every endpoint is benched they are still tried, soonest
//! first, because a late answer beats none.
//!
//! An answer that fails validation counts against the endpoint exactly like
//! a timeout: a node that serves a forged block is a faulty node.

use std::hash::{BuildHasher as _, Hasher as _};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use alloy_primitives::B256;
use argus_core::ChainId;
use serde_json::value::RawValue;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::config::{EndpointConfig, PoolConfig, is_ws_url};
use crate::error::RpcError;
use crate::heads::Head;
use crate::parse::{self, Answer, ParseError};
use crate::stats::{EndpointState, EndpointStats};
use crate::transport::{self, TransportError, WsLink};

/// Which block to ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockId {
    Number(u64),
    Hash(B256),
    Latest,
    Safe,
    Finalized,
}

impl BlockId {
    /// The method and its first parameter.
    /// The block as the parameter of `eth_call`/`eth_getBalance`: a number,
    /// a tag, or an EIP-1898 hash object.
    pub(crate) fn tag_param(self) -> String {
        match self {
            Self::Number(n) => format!("\"{n:#x}\""),
            Self::Hash(hash) => format!("{{\"blockHash\":\"{hash}\"}}"),
            Self::Latest => "\"latest\"".into(),
            Self::Safe => "\"safe\"".into(),
            Self::Finalized => "\"finalized\"".into(),
        }
    }

    pub(crate) fn method_and_param(self) -> (&'static str, String) {
        match self {
            Self::Number(n) => ("eth_getBlockByNumber", format!("\"{n:#x}\"")),
            Self::Hash(hash) => ("eth_getBlockByHash", format!("\"{hash}\"")),
            Self::Latest => ("eth_getBlockByNumber", "\"latest\"".into()),
            Self::Safe => ("eth_getBlockByNumber", "\"safe\"".into()),
            Self::Finalized => ("eth_getBlockByNumber", "\"finalized\"".into()),
        }
    }
}

/// Why a pool could not be built from its configuration.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    #[error("the RPC pool of chain {chain} has no endpoint; add at least one http(s) or ws(s) URL")]
    NoEndpoints { chain: u64 },
    #[error("endpoint `{name}`: {reason}; URLs start with http://, https://, ws:// or wss://")]
    BadUrl { name: String, reason: String },
    #[error("two endpoints are named `{name}`; give each a distinct name")]
    DuplicateName { name: String },
    #[error("cannot set up TLS: {detail}")]
    Tls { detail: String },
}

pub(crate) struct Endpoint {
    pub(crate) config: EndpointConfig,
    /// The socket of a ws(s) endpoint, or the heads socket of an http one.
    socket: OnceLock<WsLink>,
    state: Mutex<EndpointState>,
}

pub(crate) struct PoolInner {
    pub(crate) chain: ChainId,
    pub(crate) config: PoolConfig,
    pub(crate) endpoints: Vec<Endpoint>,
    http: reqwest::Client,
    tls: Arc<argus_core::tls::ClientConfig>,
    next_id: AtomicU64,
    pub(crate) heads: watch::Sender<Head>,
    pub(crate) poller_running: AtomicBool,
    /// The widest `eth_getLogs` range that worked since a refusal (u64::MAX
    /// until a provider refuses one).
    pub(crate) log_span: AtomicU64,
    /// Set once a node refused `eth_getBlockReceipts`.
    pub(crate) no_block_receipts: AtomicBool,
    /// The nodes refused `debug_traceTransaction`: revert data is not asked
    /// for again.
    pub(crate) no_tracing: AtomicBool,
}

/// The RPC pool of one chain; cheap to clone (the clones share everything).
#[derive(Clone)]
pub struct RpcPool {
    pub(crate) inner: Arc<PoolInner>,
}

impl std::fmt::Debug for RpcPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self
            .inner
            .endpoints
            .iter()
            .map(|e| e.config.name.as_str())
            .collect();
        f.debug_struct("RpcPool")
            .field("chain", &self.inner.chain)
            .field("endpoints", &names)
            .finish()
    }
}

fn check_url(config: &EndpointConfig, url: &str) -> Result<(), PoolError> {
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    let known = ["http://", "https://", "ws://", "wss://"];
    if !known.iter().any(|scheme| lower.starts_with(scheme)) {
        return Err(PoolError::BadUrl {
            name: config.name.clone(),
            reason: "unsupported URL scheme".into(),
        });
    }
    Ok(())
}

impl RpcPool {
    /// A pool over `endpoints` (in order of preference) for `chain`.
    pub fn new(
        chain: ChainId,
        endpoints: Vec<EndpointConfig>,
        config: PoolConfig,
    ) -> Result<Self, PoolError> {
        if endpoints.is_empty() {
            return Err(PoolError::NoEndpoints { chain: chain.0 });
        }
        let mut names = std::collections::HashSet::new();
        for endpoint in &endpoints {
            check_url(endpoint, &endpoint.url)?;
            if let Some(ws) = &endpoint.ws_url {
                check_url(endpoint, ws)?;
                if !is_ws_url(ws) {
                    return Err(PoolError::BadUrl {
                        name: endpoint.name.clone(),
                        reason: "ws_url must be a ws:// or wss:// URL".into(),
                    });
                }
            }
            if !names.insert(endpoint.name.clone()) {
                return Err(PoolError::DuplicateName {
                    name: endpoint.name.clone(),
                });
            }
        }
        let tls = transport::tls_config().map_err(|detail| PoolError::Tls { detail })?;
        let http = transport::http_client(&tls).map_err(|detail| PoolError::Tls { detail })?;
        let (heads, _) = watch::channel(Head::NONE);
        Ok(Self {
            inner: Arc::new(PoolInner {
                chain,
                config,
                endpoints: endpoints
                    .into_iter()
                    .map(|config| Endpoint {
                        config,
                        socket: OnceLock::new(),
                        state: Mutex::new(EndpointState::default()),
                    })
                    .collect(),
                http,
                tls,
                next_id: AtomicU64::new(1),
                heads,
                poller_running: AtomicBool::new(false),
                log_span: AtomicU64::new(u64::MAX),
                no_block_receipts: AtomicBool::new(false),
                no_tracing: AtomicBool::new(false),
            }),
        })
    }

    /// The chain this pool serves.
    pub fn chain(&self) -> ChainId {
        self.inner.chain
    }

    /// The pool's configuration.
    pub fn config(&self) -> &PoolConfig {
        &self.inner.config
    }

    /// Whether the nodes refused `debug_traceTransaction`.
    pub(crate) fn tracing_unsupported(&self) -> bool {
        self.inner
            .no_tracing
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    pub(crate) fn mark_tracing_unsupported(&self) {
        self.inner
            .no_tracing
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Figures per endpoint, in configuration order.
    pub fn stats(&self) -> Vec<EndpointStats> {
        let now = Instant::now();
        self.inner
            .endpoints
            .iter()
            .map(|e| lock(&e.state).snapshot(&e.config.name, now))
            .collect()
    }

    /// Calls `method` with `params` (a JSON array), decoding the result with
    /// `decode`; a decoding failure is the endpoint's fault and fails over.
    pub(crate) async fn call<T>(
        &self,
        method: &str,
        params: &str,
        decode: impl Fn(&RawValue) -> Result<T, ParseError>,
    ) -> Result<T, RpcError> {
        self.with_failover(method, |endpoint| {
            self.inner.attempt(endpoint, method, params, &decode)
        })
        .await
    }

    /// Calls `method` once per entry of `params`, in JSON-RPC batches of
    /// `batch_size` over HTTP (one by one over a WebSocket).
    /// `decode` gets each entry's position in `params`.
    pub(crate) async fn call_batch<T>(
        &self,
        method: &str,
        params: &[String],
        decode: impl Fn(usize, &RawValue) -> Result<T, ParseError>,
    ) -> Result<Vec<T>, RpcError> {
        let mut out = Vec::with_capacity(params.len());
        let size = self.inner.config.batch_size.max(1);
        for (number, chunk) in params.chunks(size).enumerate() {
            let offset = number * size;
            let decode = |at: usize, raw: &RawValue| decode(offset + at, raw);
            let answers = self
                .with_failover(method, |endpoint| {
                    self.inner.attempt_batch(endpoint, method, chunk, &decode)
                })
                .await?;
            out.extend(answers);
        }
        Ok(out)
    }

    /// One JSON-RPC batch of different methods (`(method, params)` each),
    /// chunked by `batch_size` (one by one over a WebSocket). A transport
    /// failure or a malformed envelope fails over like any request; a
    /// JSON-RPC error object in one answer (a revert) is that entry's
    /// `Err`, not the batch's.
    pub(crate) async fn call_mixed_batch<T>(
        &self,
        requests: &[(&'static str, String)],
        decode: impl Fn(usize, &RawValue) -> Result<T, ParseError>,
    ) -> Result<Vec<Result<T, RpcError>>, RpcError> {
        let mut out = Vec::with_capacity(requests.len());
        let size = self.inner.config.batch_size.max(1);
        let label = requests.first().map_or("batch", |(m, _)| *m);
        for (number, chunk) in requests.chunks(size).enumerate() {
            let offset = number * size;
            let decode = |at: usize, raw: &RawValue| decode(offset + at, raw);
            let answers = self
                .with_failover(label, |endpoint| {
                    self.inner.attempt_mixed_batch(endpoint, chunk, &decode)
                })
                .await?;
            out.extend(answers);
        }
        Ok(out)
    }

    async fn with_failover<'a, T, F, Fut>(&'a self, method: &str, attempt: F) -> Result<T, RpcError>
    where
        F: Fn(&'a Endpoint) -> Fut,
        Fut: Future<Output = Result<T, RpcError>>,
    {
        let config = &self.inner.config;
        let mut attempts = 0u32;
        let mut last: Option<RpcError> = None;
        for round in 0..config.rounds.max(1) {
            if round > 0 {
                tokio::time::sleep(backoff(config, round)).await;
            }
            for index in self.inner.order() {
                attempts += 1;
                match attempt(&self.inner.endpoints[index]).await {
                    Ok(value) => return Ok(value),
                    Err(error) if !error.is_retryable() => return Err(error),
                    Err(error) => {
                        tracing::debug!(%error, "request failed; trying the next endpoint");
                        last = Some(error);
                    }
                }
            }
        }
        Err(match last {
            Some(last) => RpcError::Exhausted {
                method: method.to_owned(),
                attempts,
                last: Box::new(last),
            },
            None => RpcError::NoEndpoints,
        })
    }
}

fn lock(state: &Mutex<EndpointState>) -> std::sync::MutexGuard<'_, EndpointState> {
    // The state is plain counters; a panic elsewhere cannot leave it torn.
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The pause before retry round `round` (1-based): `backoff × 2^(round-1)`,
/// capped, with up to ±50 % jitter.
fn backoff(config: &PoolConfig, round: u32) -> Duration {
    let base = config
        .backoff
        .saturating_mul(1u32 << (round - 1).min(16))
        .min(config.backoff_max);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(round);
    let unit = (hasher.finish() % 1000) as f64 / 1000.0;
    base.mul_f64(0.5 + unit)
}

impl PoolInner {
    /// Endpoint indices to try, healthy ones first in configuration order,
    /// then benched ones, soonest back first.
    fn order(&self) -> Vec<usize> {
        let now = Instant::now();
        let mut healthy = Vec::new();
        let mut benched = Vec::new();
        for (index, endpoint) in self.endpoints.iter().enumerate() {
            match lock(&endpoint.state).benched_until(now) {
                None => healthy.push(index),
                Some(until) => benched.push((until, index)),
            }
        }
        benched.sort();
        healthy.extend(benched.into_iter().map(|(_, index)| index));
        healthy
    }

    fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    fn socket<'a>(&self, endpoint: &'a Endpoint, url: &str) -> &'a WsLink {
        endpoint.socket.get_or_init(|| {
            WsLink::spawn(
                endpoint.config.name.clone(),
                url.to_owned(),
                self.tls.clone(),
                self.config.max_response_bytes,
                self.heads.clone(),
            )
        })
    }

    /// The socket delivering heads for `endpoint`, started on first use.
    pub(crate) fn heads_link<'a>(&'a self, endpoint: &'a Endpoint) -> Option<&'a WsLink> {
        let url = endpoint.config.heads_url()?;
        Some(self.socket(endpoint, url))
    }

    pub(crate) fn any_heads_socket_up(&self) -> bool {
        self.endpoints
            .iter()
            .any(|e| e.socket.get().is_some_and(WsLink::is_connected))
    }

    async fn send(
        &self,
        endpoint: &Endpoint,
        id: u64,
        body: String,
    ) -> Result<Vec<u8>, TransportError> {
        if endpoint.config.is_ws() {
            self.socket(endpoint, &endpoint.config.url)
                .request(id, body)
                .await
        } else {
            transport::http_post(
                &self.http,
                &endpoint.config.url,
                body,
                self.config.max_response_bytes,
            )
            .await
        }
    }

    /// Sends one body and maps every failure to an [`RpcError`], recording
    /// the outcome in the endpoint's figures.
    async fn exchange<T>(
        &self,
        endpoint: &Endpoint,
        method: &str,
        body: String,
        id: u64,
        interpret: impl FnOnce(&[u8]) -> Result<T, RpcError>,
    ) -> Result<T, RpcError> {
        let name = &endpoint.config.name;
        let started = Instant::now();
        let sent =
            tokio::time::timeout(endpoint.config.timeout, self.send(endpoint, id, body)).await;
        let result = match sent {
            Err(_) => Err(RpcError::Timeout {
                endpoint: name.clone(),
                method: method.to_owned(),
                after: endpoint.config.timeout,
            }),
            Ok(Err(TransportError::Connection(detail))) => Err(RpcError::Connection {
                endpoint: name.clone(),
                method: method.to_owned(),
                detail,
            }),
            Ok(Err(TransportError::TooLarge(limit))) => Err(RpcError::Malformed {
                endpoint: name.clone(),
                method: method.to_owned(),
                source: ParseError::Malformed {
                    what: "answer",
                    detail: format!("larger than max_response_bytes ({limit})"),
                },
            }),
            Ok(Err(TransportError::Status(status, bytes))) => {
                // Providers often pair a 4xx/5xx with a JSON-RPC error; it is
                // the more precise of the two.
                match parse::response(&bytes, id) {
                    Ok(Answer::Error {
                        code,
                        message,
                        data,
                    }) => Err(RpcError::Rpc {
                        endpoint: name.clone(),
                        method: method.to_owned(),
                        code,
                        message,
                        data,
                    }),
                    _ => Err(RpcError::HttpStatus {
                        endpoint: name.clone(),
                        method: method.to_owned(),
                        status,
                    }),
                }
            }
            Ok(Ok(bytes)) => interpret(&bytes),
        };
        let elapsed = started.elapsed();
        let mut state = lock(&endpoint.state);
        match &result {
            Ok(_) => state.record_success(elapsed),
            Err(error) => state.record_failure(
                elapsed,
                error,
                Instant::now(),
                self.config.bench_after,
                self.config.bench_for,
            ),
        }
        result
    }

    async fn attempt<T>(
        &self,
        endpoint: &Endpoint,
        method: &str,
        params: &str,
        decode: &impl Fn(&RawValue) -> Result<T, ParseError>,
    ) -> Result<T, RpcError> {
        let id = self.next_id();
        let quoted = serde_json::Value::from(method).to_string();
        let body = format!(r#"{{"jsonrpc":"2.0","id":{id},"method":{quoted},"params":{params}}}"#);
        let name = &endpoint.config.name;
        self.exchange(endpoint, method, body, id, |bytes| {
            let malformed = |source| RpcError::Malformed {
                endpoint: name.clone(),
                method: method.to_owned(),
                source,
            };
            match parse::response(bytes, id).map_err(malformed)? {
                Answer::Error {
                    code,
                    message,
                    data,
                } => Err(RpcError::Rpc {
                    endpoint: name.clone(),
                    method: method.to_owned(),
                    code,
                    message,
                    data,
                }),
                Answer::Result(raw) => decode(&raw).map_err(malformed),
            }
        })
        .await
    }

    async fn attempt_mixed_batch<T>(
        &self,
        endpoint: &Endpoint,
        requests: &[(&'static str, String)],
        decode: &impl Fn(usize, &RawValue) -> Result<T, ParseError>,
    ) -> Result<Vec<Result<T, RpcError>>, RpcError> {
        let name = &endpoint.config.name;
        if endpoint.config.is_ws() || requests.len() == 1 {
            let mut out = Vec::with_capacity(requests.len());
            for (at, (method, params)) in requests.iter().enumerate() {
                let decode_one = |raw: &RawValue| decode(at, raw);
                match self.attempt(endpoint, method, params, &decode_one).await {
                    Ok(value) => out.push(Ok(value)),
                    Err(error @ RpcError::Rpc { .. }) => out.push(Err(error)),
                    Err(error) => return Err(error),
                }
            }
            return Ok(out);
        }
        let first = self
            .next_id
            .fetch_add(requests.len() as u64, Ordering::Relaxed);
        let mut body = String::from("[");
        for (offset, (method, params)) in requests.iter().enumerate() {
            if offset > 0 {
                body.push(',');
            }
            let id = first + offset as u64;
            let quoted = serde_json::Value::from(*method).to_string();
            body.push_str(&format!(
                r#"{{"jsonrpc":"2.0","id":{id},"method":{quoted},"params":{params}}}"#
            ));
        }
        body.push(']');
        let label = requests.first().map_or("batch", |(m, _)| *m);
        self.exchange(endpoint, label, body, first, |bytes| {
            let malformed = |method: &str, source| RpcError::Malformed {
                endpoint: name.clone(),
                method: method.to_owned(),
                source,
            };
            let answers = parse::batch_response(bytes, first, requests.len())
                .map_err(|e| malformed(label, e))?;
            let mut out = Vec::with_capacity(answers.len());
            for (at, answer) in answers.into_iter().enumerate() {
                let method = requests.get(at).map_or(label, |(m, _)| *m);
                match answer {
                    Answer::Result(raw) => {
                        out.push(Ok(decode(at, &raw).map_err(|e| malformed(method, e))?));
                    }
                    Answer::Error {
                        code,
                        message,
                        data,
                    } => out.push(Err(RpcError::Rpc {
                        endpoint: name.clone(),
                        method: method.to_owned(),
                        code,
                        message,
                        data,
                    })),
                }
            }
            Ok(out)
        })
        .await
    }

    async fn attempt_batch<T>(
        &self,
        endpoint: &Endpoint,
        method: &str,
        params: &[String],
        decode: &impl Fn(usize, &RawValue) -> Result<T, ParseError>,
    ) -> Result<Vec<T>, RpcError> {
        if endpoint.config.is_ws() || params.len() == 1 {
            let mut out = Vec::with_capacity(params.len());
            for (at, one) in params.iter().enumerate() {
                let decode_one = |raw: &RawValue| decode(at, raw);
                out.push(self.attempt(endpoint, method, one, &decode_one).await?);
            }
            return Ok(out);
        }
        let first = self
            .next_id
            .fetch_add(params.len() as u64, Ordering::Relaxed);
        let quoted = serde_json::Value::from(method).to_string();
        let mut body = String::from("[");
        for (offset, one) in params.iter().enumerate() {
            if offset > 0 {
                body.push(',');
            }
            let id = first + offset as u64;
            body.push_str(&format!(
                r#"{{"jsonrpc":"2.0","id":{id},"method":{quoted},"params":{one}}}"#
            ));
        }
        body.push(']');
        let name = &endpoint.config.name;
        self.exchange(endpoint, method, body, first, |bytes| {
            let malformed = |source| RpcError::Malformed {
                endpoint: name.clone(),
                method: method.to_owned(),
                source,
            };
            let answers = parse::batch_response(bytes, first, params.len()).map_err(malformed)?;
            answers
                .into_iter()
                .enumerate()
                .map(|(at, answer)| match answer {
                    Answer::Error {
                        code,
                        message,
                        data,
                    } => Err(RpcError::Rpc {
                        endpoint: name.clone(),
                        method: method.to_owned(),
                        code,
                        message,
                        data,
                    }),
                    Answer::Result(raw) => decode(at, &raw).map_err(malformed),
                })
                .collect()
        })
        .await
    }
}
