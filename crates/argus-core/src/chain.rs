//! Chains, named or numbered.
//!
//! Users write `mainnet`, `arbitrum`, `8453` or `31337`; files carry numbers.
//! The table of known chains is alloy's, so Argus never keeps its own list.
//! A number that is not a known chain is refused unless the caller allows
//! private networks, because a mistyped chain id silently files a contract
//! under a network nobody monitors.

use std::fmt;
use std::str::FromStr;

use alloy_chains::{Chain, NamedChain};
use serde::{Deserialize, Serialize};

/// An EIP-155 chain id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ChainId(pub u64);

/// Why a piece of text is not a chain Argus can use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    /// A name that is not in the table of known chains.
    #[error(
        "`{text}` is not a known chain name; use a chain id number or a name such as mainnet, sepolia, arbitrum, base, optimism, polygon, anvil"
    )]
    UnknownName { text: String },
    /// A number that is not in the table of known chains.
    #[error(
        "chain id {id} is not a known chain; if it is a private network, allow unknown chains explicitly"
    )]
    UnknownId { id: u64 },
}

impl ChainId {
    /// Anvil's and Hardhat's default local chain.
    pub const LOCAL: ChainId = ChainId(31337);

    /// Parses a chain name or id; numbers outside the known table are refused
    /// unless `allow_unknown` is set.
    pub fn parse(text: &str, allow_unknown: bool) -> Result<Self, ChainError> {
        let text = text.trim();
        if let Ok(id) = text.parse::<u64>() {
            return Self::from_id(id, allow_unknown);
        }
        let lower = text.to_ascii_lowercase();
        let alias = match lower.as_str() {
            "localhost" | "local" | "hardhat" => Some(NamedChain::AnvilHardhat),
            _ => None,
        };
        alias
            .or_else(|| NamedChain::from_str(&lower).ok())
            .map(|named| ChainId(named as u64))
            .ok_or(ChainError::UnknownName {
                text: text.chars().take(40).collect(),
            })
    }

    /// Accepts a numeric id, refusing unknown ones unless `allow_unknown` is set.
    pub fn from_id(id: u64, allow_unknown: bool) -> Result<Self, ChainError> {
        if allow_unknown || Self(id).is_known() {
            Ok(Self(id))
        } else {
            Err(ChainError::UnknownId { id })
        }
    }

    /// Whether alloy's table names this chain.
    pub fn is_known(self) -> bool {
        Chain::from_id(self.0).named().is_some()
    }

    /// The chain's common name, or its number when it has none.
    pub fn name(self) -> String {
        match Chain::from_id(self.0).named() {
            Some(NamedChain::AnvilHardhat) => "anvil".to_owned(),
            Some(named) => named.to_string(),
            None => self.0.to_string(),
        }
    }
}

impl fmt::Display for ChainId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers() {
        assert_eq!(ChainId::parse("mainnet", false).unwrap(), ChainId(1));
        assert_eq!(ChainId::parse("Arbitrum", false).unwrap(), ChainId(42161));
        assert_eq!(ChainId::parse("8453", false).unwrap(), ChainId(8453));
        assert_eq!(ChainId::parse("anvil", false).unwrap(), ChainId::LOCAL);
        assert_eq!(ChainId::parse("localhost", false).unwrap(), ChainId::LOCAL);
        assert_eq!(ChainId(1).name(), "mainnet");
        assert_eq!(ChainId::LOCAL.name(), "anvil");
    }

    #[test]
    fn refuses_unknown_chains_unless_allowed() {
        assert!(matches!(
            ChainId::parse("mainet", false),
            Err(ChainError::UnknownName { .. })
        ));
        assert!(matches!(
            ChainId::parse("987654321", false),
            Err(ChainError::UnknownId { id: 987654321 })
        ));
        assert_eq!(
            ChainId::parse("987654321", true).unwrap(),
            ChainId(987654321)
        );
        assert_eq!(ChainId(987654321).name(), "987654321");
    }
}
