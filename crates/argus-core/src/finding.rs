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
    pub fields: Fields,
}

/// A finding's facts: a JSON object, held as its compact text.
///
/// A block of a thousand matches makes a thousand findings, all alive at
/// once in the record step and the announcements; as `serde_json::Value`
/// trees (a map node and an allocation per key and value) their facts took
/// about 5 KB each, as text about 1.2 KB. The store keeps the same text, and
/// the few readers of single facts (grouping, silences, incident kinds)
/// parse it when they ask ([`Fields::to_value`], [`Fields::get`]).
#[derive(Clone, PartialEq, Eq)]
pub struct Fields(Box<str>);

impl Fields {
    /// The facts as a JSON value (an object; `{}` when empty).
    pub fn to_value(&self) -> serde_json::Value {
        // Always valid: the text is only ever written by `From<Value>`.
        serde_json::from_str(&self.0)
            .unwrap_or_else(|_| serde_json::Value::Object(Default::default()))
    }

    /// One top-level fact, if present.
    pub fn get(&self, key: &str) -> Option<serde_json::Value> {
        match self.to_value() {
            serde_json::Value::Object(mut map) => map.remove(key),
            _ => None,
        }
    }

    /// The compact JSON text, as stored.
    pub fn as_json(&self) -> &str {
        &self.0
    }
}

impl Default for Fields {
    fn default() -> Self {
        Self("{}".into())
    }
}

impl From<serde_json::Value> for Fields {
    fn from(value: serde_json::Value) -> Self {
        // Serializing a `Value` cannot fail (its map keys are strings).
        Self(
            serde_json::to_string(&value)
                .unwrap_or_else(|_| "{}".to_owned())
                .into_boxed_str(),
        )
    }
}

/// The JSON text (both).
impl std::fmt::Debug for Fields {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::fmt::Display for Fields {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for Fields {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_value().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Fields {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        serde_json::Value::deserialize(deserializer).map(Self::from)
    }
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

#[cfg(test)]
mod fields_tests {
    #![allow(clippy::unwrap_used)]
    use serde_json::json;

    use super::Fields;

    #[test]
    fn fields_keep_their_facts_as_compact_text_and_give_them_back() {
        let value = json!({"args": {"value": "5", "to": "0xbb"}, "address": "0xaa", "n": 3});
        let fields = Fields::from(value.clone());
        assert_eq!(fields.to_value(), value);
        assert_eq!(fields.get("address"), Some(json!("0xaa")));
        assert_eq!(
            fields.get("args"),
            Some(json!({"value": "5", "to": "0xbb"}))
        );
        assert_eq!(fields.get("missing"), None);
        assert!(!fields.as_json().contains(' '), "{fields}");
        assert_eq!(fields.to_string(), fields.as_json());
        // Serialized as the object it holds, not as a string of it.
        assert_eq!(serde_json::to_value(&fields).unwrap(), value);
        let back: Fields = serde_json::from_value(value).unwrap();
        assert_eq!(back, fields);
        assert_eq!(Fields::default().to_value(), json!({}));
        assert_eq!(Fields::default().get("anything"), None);
    }
}
