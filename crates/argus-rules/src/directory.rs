//! The contracts the rules can name, as the caller reads them from the
//! registry. A plain struct, so the engine does not depend on the registry's
//! storage: the caller fills it and hands a new one over when the registry
//! changes ([`crate::Engine::set_directory`]).

use alloy_json_abi::JsonAbi;
use alloy_primitives::Address;
use argus_core::ChainId;

/// One deployed contract.
#[derive(Debug, Clone)]
pub struct ContractEntry {
    pub chain: ChainId,
    pub address: Address,
    /// The registry label rules use, e.g. `Token`.
    pub label: String,
    pub tags: Vec<String>,
    pub abi: JsonAbi,
}

/// Every contract the rules may name.
#[derive(Debug, Clone, Default)]
pub struct ContractDirectory {
    pub entries: Vec<ContractEntry>,
}

impl ContractDirectory {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with(mut self, entry: ContractEntry) -> Self {
        self.entries.push(entry);
        self
    }
}
