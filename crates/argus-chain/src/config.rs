//! What a user writes to point Argus at nodes.
//!
//! Every field has a default that suits a public provider, so the smallest
//! configuration is a list of `{ name, url }`. Durations are written in the
//! one duration grammar ([`argus_core::duration`]): `"500ms"`, `"10s"`,
//! `"2m"`, `"1h30m"` or a number of seconds. URLs are secrets (a
//! provider key usually sits in the path or the query), so `Debug` shows only
//! the scheme and host.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;

/// One node endpoint.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointConfig {
    /// The name used in errors, logs and statistics (never the URL).
    pub name: String,
    /// `http(s)://…` or `ws(s)://…`. A WebSocket endpoint serves requests
    /// and the new-heads subscription over the same connection.
    pub url: String,
    /// For an HTTP endpoint, a WebSocket URL of the same node to receive new
    /// heads from (requests still go over HTTP).
    #[serde(default)]
    pub ws_url: Option<String>,
    /// How long one request may take, including reading the answer.
    #[serde(
        default = "default_timeout",
        deserialize_with = "argus_core::duration::deserialize"
    )]
    pub timeout: Duration,
}

impl EndpointConfig {
    /// An endpoint with the default timeout.
    pub fn new(name: impl Into<String>, url: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            url: url.into(),
            ws_url: None,
            timeout: default_timeout(),
        }
    }

    /// Whether requests go over a WebSocket.
    pub fn is_ws(&self) -> bool {
        is_ws_url(&self.url)
    }

    /// The URL to subscribe to new heads on, if any.
    pub(crate) fn heads_url(&self) -> Option<&str> {
        if self.is_ws() {
            Some(&self.url)
        } else {
            self.ws_url.as_deref()
        }
    }
}

impl fmt::Debug for EndpointConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EndpointConfig")
            .field("name", &self.name)
            .field("url", &redacted_url(&self.url))
            .field("ws_url", &self.ws_url.as_deref().map(redacted_url))
            .field("timeout", &self.timeout)
            .finish()
    }
}

pub(crate) fn is_ws_url(url: &str) -> bool {
    let lower = url.get(..6).unwrap_or(url).to_ascii_lowercase();
    lower.starts_with("ws://") || lower.starts_with("wss://")
}

/// `scheme://host[:port]` of a URL, without path, query or credentials:
/// what may be shown.
pub fn redacted_url(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("?", url));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit('@').next().unwrap_or("");
    let hidden = if rest.len() > authority.len() || authority.contains('@') {
        "/…"
    } else {
        ""
    };
    format!("{scheme}://{host}{hidden}")
}

/// How the pool retries, fails over and benches endpoints.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PoolConfig {
    /// Rounds over all endpoints before a request fails.
    pub rounds: u32,
    /// The pause after the first failed round; doubled each round, with
    /// jitter, up to `backoff_max`.
    #[serde(deserialize_with = "argus_core::duration::deserialize")]
    pub backoff: Duration,
    #[serde(deserialize_with = "argus_core::duration::deserialize")]
    pub backoff_max: Duration,
    /// Consecutive failures after which an endpoint is benched.
    pub bench_after: u32,
    /// How long a benched endpoint is skipped (while another one works).
    #[serde(deserialize_with = "argus_core::duration::deserialize")]
    pub bench_for: Duration,
    /// Interval of the `eth_getBlockByNumber("latest")` poll when no
    /// WebSocket delivers new heads.
    #[serde(deserialize_with = "argus_core::duration::deserialize")]
    pub poll_interval: Duration,
    /// Check that every header's fields hash to its `hash`. Turn off only for
    /// a chain whose header hashing is not Ethereum's.
    pub verify_block_hash: bool,
    /// Most requests in one JSON-RPC batch.
    pub batch_size: usize,
    /// Largest answer read from a node.
    pub max_response_bytes: usize,
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            rounds: 3,
            backoff: Duration::from_millis(200),
            backoff_max: Duration::from_secs(5),
            bench_after: 3,
            bench_for: Duration::from_secs(30),
            poll_interval: Duration::from_secs(1),
            verify_block_hash: true,
            batch_size: 50,
            max_response_bytes: 64 << 20,
        }
    }
}

fn default_timeout() -> Duration {
    Duration::from_secs(10)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_keys() {
        assert_eq!(
            redacted_url("https://eth-mainnet.g.alchemy.com/v2/SECRETKEY"),
            "https://eth-mainnet.g.alchemy.com/…"
        );
        assert_eq!(
            redacted_url("http://127.0.0.1:8545"),
            "http://127.0.0.1:8545"
        );
        assert_eq!(
            redacted_url("wss://user:pass@node.example/ws"),
            "wss://node.example/…"
        );
        let config = EndpointConfig::new("a", "https://x.io/v3/SECRETKEY?k=SECRET2");
        let debug = format!("{config:?}");
        assert!(!debug.contains("SECRET"), "{debug}");
    }

    #[test]
    fn durations() {
        use argus_core::parse_duration;
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("ten").is_err());
        assert!(parse_duration("-1s").is_err());
        let config: EndpointConfig =
            serde_json::from_str(r#"{"name":"a","url":"ws://x","timeout":"3s"}"#).unwrap();
        assert_eq!(config.timeout, Duration::from_secs(3));
        assert!(config.is_ws());
        let pool: PoolConfig = serde_json::from_str(r#"{"poll_interval": 0.5}"#).unwrap();
        assert_eq!(pool.poll_interval, Duration::from_millis(500));
        assert_eq!(pool.rounds, 3);
    }
}
