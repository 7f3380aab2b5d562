//! Decoding what contracts say: logs, calldata and revert data.
//!
//! The monitor sees raw logs and transactions; rules speak of `Transfer` and
//! `args.value`. [`AbiIndex`] turns the first into the second with the ABIs
//! of the registry: per address, the events by topic0 and the functions and
//! errors by selector, each resolved once into alloy's dynamic types when the
//! index is built, so decoding a log costs one hash lookup and the decoding
//! itself. A table of every event of every ABI, by topic0, serves logs of
//! contracts that are not in the registry (a rule on "any contract emitting
//! `OwnershipTransferred`").
//!
//! Decoded values are converted to [`AbiValue`], a small owned model: integers
//! stay exact (`U256` / `I256`, never a float), addresses stay addresses, and
//! tuples keep their component names. Logs, calldata and revert data come from
//! the network and are untrusted: every failure is a [`DecodeError`] value,
//! never a panic. ABI coding is alloy's (`alloy-dyn-abi`); nothing here
//! re-implements it.
//!
//! Split by job: this module holds the value model every caller sees
//! ([`AbiValue`], the decoded log / call / revert, [`DecodeError`],
//! [`panic_meaning`]); `index` builds the [`AbiIndex`] from ABIs (resolving
//! each item once) and answers which events and functions a name refers to;
//! `decoding` turns raw logs, calldata and revert data into the model with
//! that index. Everything public is re-exported here: `argus_abi::decode::X`
//! paths are unchanged.

mod decoding;
mod index;

use alloy_primitives::{Address, B256, I256, Selector, U256, hex};

pub use decoding::decode_returns;
pub use index::AbiIndex;

/// A decoded value, owned and exact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AbiValue {
    Bool(bool),
    /// `uintN`, exact.
    Uint(U256),
    /// `intN`, exact.
    Int(I256),
    Address(Address),
    /// `bytesN` (N ≤ 32): exactly N bytes.
    FixedBytes(Vec<u8>),
    /// `bytes`.
    Bytes(Vec<u8>),
    String(String),
    /// `T[]` and `T[N]`.
    Array(Vec<AbiValue>),
    /// A tuple (a struct): components with their names (empty when unnamed).
    Tuple(Vec<(String, AbiValue)>),
    /// An indexed argument of a dynamic type (`string`, `bytes`, arrays,
    /// tuples): a log only carries the keccak hash of its encoding.
    Hashed(B256),
    /// A `function` value: address and selector, 24 bytes.
    Function(Vec<u8>),
}

impl AbiValue {
    /// The value as JSON: integers as decimal strings (exact), addresses
    /// EIP-55 checksummed, bytes as `0x` hex.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match self {
            AbiValue::Bool(b) => J::Bool(*b),
            AbiValue::Uint(u) => J::String(u.to_string()),
            AbiValue::Int(i) => J::String(i.to_string()),
            AbiValue::Address(a) => J::String(a.to_checksum(None)),
            AbiValue::FixedBytes(b) | AbiValue::Bytes(b) | AbiValue::Function(b) => {
                J::String(hex::encode_prefixed(b))
            }
            AbiValue::String(s) => J::String(s.clone()),
            AbiValue::Hashed(h) => J::String(h.to_string()),
            AbiValue::Array(items) => J::Array(items.iter().map(AbiValue::to_json).collect()),
            AbiValue::Tuple(items) => {
                let mut map = serde_json::Map::new();
                for (i, (name, value)) in items.iter().enumerate() {
                    let key = if name.is_empty() {
                        format!("_{i}")
                    } else {
                        name.clone()
                    };
                    map.insert(key, value.to_json());
                }
                J::Object(map)
            }
        }
    }
}

/// One decoded argument of an event, call or error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedArg {
    /// The parameter's name in the ABI; empty when unnamed.
    pub name: String,
    /// The canonical Solidity type, e.g. `uint256`, `(address,uint256)[]`.
    pub ty: String,
    /// For events: whether the argument came from a topic.
    pub indexed: bool,
    pub value: AbiValue,
}

/// A decoded log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedLog {
    pub name: String,
    /// Canonical signature, e.g. `Transfer(address,address,uint256)`.
    pub signature: String,
    pub anonymous: bool,
    /// Arguments in declaration order (indexed and data interleaved as
    /// declared).
    pub args: Vec<DecodedArg>,
    /// `true` when the emitting address has no ABI in the index and the log
    /// was decoded with an event of another contract that has the same topic.
    pub by_topic_only: bool,
}

/// A decoded function call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedCall {
    pub name: String,
    pub signature: String,
    pub selector: Selector,
    pub args: Vec<DecodedArg>,
}

/// What a revert said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodedRevert {
    /// No revert data at all (`revert()`, `require(cond)` without message,
    /// out of gas).
    Empty,
    /// `Error(string)`: `require(cond, "reason")`.
    Reason(String),
    /// `Panic(uint256)`: an assertion, overflow, division by zero, ...
    Panic { code: U256, meaning: &'static str },
    /// A custom error declared in the contract's ABI.
    Custom {
        name: String,
        signature: String,
        args: Vec<DecodedArg>,
    },
}

/// Why something could not be decoded. None of these is worth retrying with
/// the same input: the data or the ABI must change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("the log has no topics and {address} declares no anonymous event that fits it")]
    NoTopics { address: Address },
    #[error(
        "no ABI in the registry declares an event with topic {topic} (emitted by {address}); add the contract's ABI to the registry"
    )]
    UnknownEvent { address: Address, topic: B256 },
    #[error(
        "no ABI for {address} declares a function with selector {selector}; add the contract's ABI to the registry"
    )]
    UnknownFunction {
        address: Address,
        selector: Selector,
    },
    #[error(
        "no ABI for {address} declares an error with selector {selector}; add the contract's ABI to the registry"
    )]
    UnknownError {
        address: Address,
        selector: Selector,
    },
    #[error("{what} is {len} bytes long, shorter than the 4-byte selector")]
    TooShort { what: &'static str, len: usize },
    #[error(
        "the data does not decode as `{signature}`: {reason}; the ABI in the registry may not match the deployed contract"
    )]
    Malformed { signature: String, reason: String },
}
/// An item of an ABI that alloy could not resolve into a type (a malformed
/// type string in a hand-written ABI). It is left out of the index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedItem {
    pub signature: String,
    pub reason: String,
}
/// What a `Panic(uint256)` code means, from the Solidity documentation.
pub fn panic_meaning(code: U256) -> &'static str {
    match u64::try_from(code) {
        Ok(0x00) => "generic compiler panic",
        Ok(0x01) => "assertion failed",
        Ok(0x11) => "arithmetic overflow or underflow",
        Ok(0x12) => "division or modulo by zero",
        Ok(0x21) => "conversion to an invalid enum value",
        Ok(0x22) => "incorrectly encoded storage byte array",
        Ok(0x31) => "pop() on an empty array",
        Ok(0x32) => "array index out of bounds",
        Ok(0x41) => "too much memory allocated",
        Ok(0x51) => "call to a zero-initialized internal function",
        _ => "unknown panic code",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_keeps_integers_exact() {
        let value = AbiValue::Tuple(vec![
            ("".into(), AbiValue::Uint(U256::MAX)),
            ("x".into(), AbiValue::Int(I256::MINUS_ONE)),
        ]);
        assert_eq!(
            value.to_json(),
            serde_json::json!({"_0": U256::MAX.to_string(), "x": "-1"})
        );
    }
}
