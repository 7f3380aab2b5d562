//! What a rule reports: a finding, before the alert pipeline dedups, routes
//! and delivers it.

use alloy_primitives::B256;
use serde::{Deserialize, Serialize};

use crate::{BlockRef, ChainId, Severity};

/// Where on chain a finding comes from. Signals have no chain origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ChainOrigin {
    pub chain: ChainId,
    pub block: BlockRef,
    pub tx_hash: Option<B256>,
    pub log_index: Option<u64>,
}

/// One rule firing once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// A deterministic identity: the same rule firing on the same event of the
    /// same block always has the same id, so storing a finding twice (after a
    /// restart re-reads a block) is a no-op. See [`finding_id`].
    pub id: B256,
    pub rule_id: String,
    pub severity: Severity,
    /// One line for humans, e.g. "Token: Transfer of 5,000,000 TKN".
    pub title: String,
    /// The key the alert pipeline dedups on (the rule's `dedup` template,
    /// rendered); defaults to the id in hex.
    pub dedup_key: String,
    /// `None` for findings made from signals.
    pub origin: Option<ChainOrigin>,
    /// Milliseconds since the Unix epoch of the event (the block's timestamp
    /// for chain events, the signal's time otherwise).
    pub at_ms: i64,
    /// The decoded facts the rule saw: event arguments, transaction fields,
    /// window figures. A JSON object.
    pub fields: serde_json::Value,
}

/// The id of a finding: keccak256 over the rule id and the parts that make an
/// event unique (chain, block hash, transaction hash, log index, and an extra
/// discriminator such as the window position).
pub fn finding_id(rule_id: &str, origin: Option<&ChainOrigin>, extra: &[u8]) -> B256 {
    let mut buf = Vec::with_capacity(rule_id.len() + 96 + extra.len());
    buf.extend_from_slice(&(rule_id.len() as u64).to_be_bytes());
    buf.extend_from_slice(rule_id.as_bytes());
    if let Some(origin) = origin {
        buf.push(1);
        buf.extend_from_slice(&origin.chain.0.to_be_bytes());
        buf.extend_from_slice(origin.block.hash.as_slice());
        match origin.tx_hash {
            Some(hash) => {
                buf.push(1);
                buf.extend_from_slice(hash.as_slice());
            }
            None => buf.push(0),
        }
        match origin.log_index {
            Some(index) => {
                buf.push(1);
                buf.extend_from_slice(&index.to_be_bytes());
            }
            None => buf.push(0),
        }
    } else {
        buf.push(0);
    }
    buf.extend_from_slice(extra);
    alloy_primitives::keccak256(&buf)
}
