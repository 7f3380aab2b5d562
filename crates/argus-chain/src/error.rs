//! What can go wrong when talking to nodes, and whether it is worth trying
//! again.
//!
//! The pool decides between "try the next endpoint", "give up now" and "the
//! caller must change its request" (a log range too wide) from these
//! variants alone, so the classification lives here, in one place.
//! Endpoints are named by their configured `name`, never by URL: provider URLs
//! carry API keys, and an error message ends up in logs and alerts.

use std::time::Duration;

use crate::parse::ParseError;

/// The kinds of failure counted per endpoint in [`crate::EndpointStats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    Timeout,
    Connection,
    HttpStatus,
    Malformed,
    Rpc,
}

/// A failed request to one endpoint, or to the whole pool.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RpcError {
    /// No answer within the endpoint's timeout.
    #[error(
        "endpoint `{endpoint}` did not answer {method} within {after:?}; it is retried on another endpoint, raise `timeout` if the node is just slow"
    )]
    Timeout {
        endpoint: String,
        method: String,
        after: Duration,
    },
    /// The connection could not be made or broke.
    #[error(
        "endpoint `{endpoint}` could not be reached for {method}: {detail}; check that the node is up and the URL is right"
    )]
    Connection {
        endpoint: String,
        method: String,
        detail: String,
    },
    /// The HTTP layer answered with a non-success status and no JSON-RPC error.
    #[error(
        "endpoint `{endpoint}` answered {method} with HTTP status {status}; 429 and 5xx are retried, others usually mean a wrong URL or key"
    )]
    HttpStatus {
        endpoint: String,
        method: String,
        status: u16,
    },
    /// The answer was not a valid JSON-RPC response, or its content failed
    /// validation (wrong sizes, missing fields, a hash that does not match).
    #[error(
        "endpoint `{endpoint}` gave a malformed answer to {method}: {source}; the endpoint is treated as faulty and another one is asked"
    )]
    Malformed {
        endpoint: String,
        method: String,
        #[source]
        source: ParseError,
    },
    /// The node answered with a JSON-RPC error object.
    #[error("endpoint `{endpoint}` refused {method}: code {code}: {message}")]
    Rpc {
        endpoint: String,
        method: String,
        code: i64,
        message: String,
        /// The error's `data` when it is hex bytes: a revert's data.
        data: Option<alloy_primitives::Bytes>,
    },
    /// The pool has no endpoint to ask.
    #[error("the RPC pool has no endpoint configured; add at least one http(s) or ws(s) URL")]
    NoEndpoints,
    /// Every endpoint failed, through every retry round.
    #[error("every endpoint failed {method} after {attempts} attempts; last error: {last}")]
    Exhausted {
        method: String,
        attempts: u32,
        last: Box<RpcError>,
    },
}

impl RpcError {
    /// Whether asking again (the same or another endpoint) can succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Timeout { .. } | Self::Connection { .. } | Self::Malformed { .. } => true,
            Self::HttpStatus { status, .. } => *status == 429 || *status == 408 || *status >= 500,
            Self::Rpc { code, message, .. } => {
                // Rate limits and internal errors are transient; a refused
                // range is not: the caller has to narrow it.
                if self.is_range_too_large() || self.is_method_unsupported() {
                    return false;
                }
                let lower = message.to_ascii_lowercase();
                matches!(code, -32603 | -32000 | 429)
                    && !lower.contains("execution reverted")
                    && !lower.contains("invalid")
                    || lower.contains("rate limit")
                    || lower.contains("too many requests")
                    || lower.contains("header not found")
                    || lower.contains("unknown block")
            }
            Self::NoEndpoints => false,
            Self::Exhausted { .. } => true,
        }
    }

    /// Whether the error is the endpoint's fault (counts towards benching it)
    /// rather than a deterministic refusal of this request.
    pub(crate) fn is_endpoint_fault(&self) -> bool {
        match self {
            Self::Rpc { .. } => {
                self.is_retryable() && !self.is_range_too_large() && !self.is_method_unsupported()
            }
            other => other.is_retryable(),
        }
    }

    /// Whether a provider refused an `eth_getLogs` range as too wide or too
    /// heavy; the caller should split the range.
    ///
    /// The wordings are the ones providers really send: geth and Infura
    /// (`query returned more than 10000 results`, code -32005), Alchemy
    /// (`Log response size exceeded`), Infura's range limit (`range N
    /// exceeds limit of 10000`), Tenderly (`is bigger than range limit`),
    /// Ankr and others (`exceed maximum block range`, `block range is too
    /// large`), Erigon (`query block range exceeds server limit`, `query
    /// returns too many logs`), QuickNode (`eth_getLogs is limited to a
    /// 10,000 range`).
    pub fn is_range_too_large(&self) -> bool {
        let Self::Rpc {
            code,
            message,
            method,
            ..
        } = self
        else {
            return false;
        };
        if method != "eth_getLogs" {
            return false;
        }
        let lower = message.to_ascii_lowercase();
        // -32005 is "limit exceeded" in EIP-1474: Infura uses it both for too
        // many results and for its request rate; only the former is ours.
        let rate_limited = lower.contains("rate") || lower.contains("per second");
        if *code == -32005 && !rate_limited {
            return true;
        }
        const NEEDLES: &[&str] = &[
            "query returned more than",
            "log response size exceeded",
            "response size exceeded",
            "block range is too large",
            "block range too large",
            "range too large",
            "range is too large",
            "exceed maximum block range",
            "exceeds maximum block range",
            "maximum block range",
            "exceeds limit of",
            "bigger than range limit",
            "range limit",
            "block range exceeds",
            "range exceeds",
            "too many logs",
            "too many results",
            "is limited to a",
            "max results",
        ];
        NEEDLES.iter().any(|needle| lower.contains(needle))
    }

    /// Whether the node does not offer the method (so a fallback is needed).
    pub fn is_method_unsupported(&self) -> bool {
        let Self::Rpc { code, message, .. } = self else {
            return false;
        };
        let lower = message.to_ascii_lowercase();
        *code == -32601
            || lower.contains("method not found")
            || lower.contains("does not exist")
            || lower.contains("not supported")
            || lower.contains("unsupported method")
    }

    /// The kind under which the error is counted.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Timeout { .. } => ErrorKind::Timeout,
            Self::Connection { .. } | Self::NoEndpoints => ErrorKind::Connection,
            Self::HttpStatus { .. } => ErrorKind::HttpStatus,
            Self::Malformed { .. } => ErrorKind::Malformed,
            Self::Rpc { .. } => ErrorKind::Rpc,
            Self::Exhausted { last, .. } => last.kind(),
        }
    }

    /// The revert data a node sent with its error (`eth_call`,
    /// `eth_estimateGas`), when the request reverted.
    pub fn revert_data(&self) -> Option<&alloy_primitives::Bytes> {
        match self.root() {
            Self::Rpc { data, .. } => data.as_ref(),
            _ => None,
        }
    }

    /// Whether the node refused the request because executing it reverted
    /// (so asking again cannot help).
    pub fn is_revert(&self) -> bool {
        match self.root() {
            Self::Rpc { code, message, .. } => {
                *code == 3 || message.to_ascii_lowercase().contains("revert")
            }
            _ => false,
        }
    }

    /// The innermost error, unwrapping [`RpcError::Exhausted`].
    pub fn root(&self) -> &RpcError {
        match self {
            Self::Exhausted { last, .. } => last.root(),
            other => other,
        }
    }
}

/// Why the block follower stopped.
#[derive(Debug, Clone, thiserror::Error)]
pub enum FollowError {
    /// The nodes could not be asked; worth retrying after a pause.
    #[error("cannot read the chain: {source}")]
    Rpc {
        #[from]
        source: RpcError,
    },
    /// A reorg deeper than the follower keeps: the blocks it would revert are
    /// unknown, so it cannot retract their alerts. Fatal.
    #[error(
        "chain {chain}: a reorg deeper than max_reorg_depth ({max_depth}) reached block {number}; \
         the follower cannot tell which delivered blocks were orphaned. Check the endpoints \
         (one may serve another chain), then raise max_reorg_depth or restart from a block \
         with `start`"
    )]
    ReorgTooDeep {
        chain: u64,
        max_depth: u64,
        number: u64,
    },
    /// The endpoints serve another chain than the one configured. Fatal.
    #[error(
        "the endpoints serve chain {found}, not the configured chain {expected}; fix the URLs or the chain id"
    )]
    WrongChain { expected: u64, found: u64 },
    /// The node does not know a block it reported (a tag it does not
    /// support, or a pruned range); worth retrying.
    #[error("the node has no block {what}; it may be syncing or not support that tag")]
    MissingBlock { what: String },
}

impl FollowError {
    /// Whether calling `next()` again may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Rpc { source } => source.is_retryable(),
            Self::MissingBlock { .. } => true,
            Self::ReorgTooDeep { .. } | Self::WrongChain { .. } => false,
        }
    }
}

/// What went wrong reading or writing the follower's state in the store.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("chain state in the database: {source}; check that the store was migrated")]
    Store {
        #[from]
        source: argus_store::StoreError,
    },
    /// The event does not continue the stored chain: it was applied twice,
    /// out of order, or by a follower built from another store.
    #[error(
        "the chain event does not continue the stored chain ({detail}); rebuild the follower from the store (db::load_cursor) instead of reusing it"
    )]
    OutOfOrder { detail: String },
    #[error(
        "chain state in the database is corrupt ({detail}); delete the chain's rows to restart from `start`"
    )]
    Corrupt { detail: String },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rpc(code: i64, message: &str) -> RpcError {
        RpcError::Rpc {
            endpoint: "e".into(),
            method: "eth_getLogs".into(),
            code,
            message: message.into(),
            data: None,
        }
    }

    #[test]
    fn recognises_provider_range_refusals() {
        for (code, msg) in [
            (-32005, "query returned more than 10000 results"),
            (
                -32602,
                "Log response size exceeded. Please reduce query block range.",
            ),
            (-32602, "range 1000000 exceeds limit of 10000"),
            (-32000, "exceed maximum block range: 50000"),
            (-32000, "block range is too large"),
            (-32602, "range 9009594 is bigger than range limit 2000"),
            (
                -32602,
                "query block range exceeds server limit, narrow your filter: 1000",
            ),
            (-32614, "eth_getLogs is limited to a 10,000 range"),
        ] {
            let error = rpc(code, msg);
            assert!(error.is_range_too_large(), "{msg}");
            assert!(!error.is_retryable(), "{msg}");
        }
        assert!(!rpc(-32000, "execution reverted").is_range_too_large());
    }

    #[test]
    fn classifies_retryable() {
        assert!(rpc(-32603, "internal error").is_retryable());
        assert!(rpc(-32000, "header not found").is_retryable());
        assert!(!rpc(-32602, "invalid argument 0").is_retryable());
        assert!(!rpc(-32601, "the method eth_getBlockReceipts does not exist").is_retryable());
        assert!(rpc(-32601, "Method not found").is_method_unsupported());
        let status = |status| RpcError::HttpStatus {
            endpoint: "e".into(),
            method: "m".into(),
            status,
        };
        assert!(status(503).is_retryable());
        assert!(status(429).is_retryable());
        assert!(!status(401).is_retryable());
    }
}
