//! The registry as the rules see it: every live deployment with its label,
//! tags and ABI. A proxy's events and calls are its implementation's, so a
//! proxy's entry carries the union of its own ABI and its implementation's.

use std::collections::HashMap;

use alloy_json_abi::JsonAbi;
use alloy_primitives::Address;
use argus_core::ChainId;
use argus_registry::{Entry, ListFilter, Registry};
use argus_rules::{ContractDirectory, ContractEntry};

/// Reads every live deployment of the registry into a directory.
pub fn load(registry: &Registry) -> Result<ContractDirectory, argus_registry::RegistryError> {
    let entries = registry.list(&ListFilter::default())?;
    Ok(from_entries(&entries))
}

pub fn from_entries(entries: &[Entry]) -> ContractDirectory {
    let by_address: HashMap<(ChainId, Address), &Entry> = entries
        .iter()
        .filter(|e| e.removed_at.is_none())
        .filter_map(|e| Some(((e.chain?, e.address?), e)))
        .collect();
    let mut directory = ContractDirectory::default();
    for entry in entries.iter().filter(|e| e.removed_at.is_none()) {
        let (Some(chain), Some(address)) = (entry.chain, entry.address) else {
            continue;
        };
        let mut abi = entry.abi.clone();
        if let Some(implementation) = entry
            .implementation
            .and_then(|imp| by_address.get(&(chain, imp)))
        {
            merge(&mut abi, &implementation.abi);
        }
        directory.entries.push(ContractEntry {
            chain,
            address,
            label: entry.label.clone(),
            tags: entry.tags.iter().cloned().collect(),
            abi,
        });
    }
    directory
}

/// The addresses the directory holds on `chain`: "ours".
pub fn addresses_on(
    directory: &ContractDirectory,
    chain: ChainId,
) -> std::collections::HashSet<Address> {
    directory
        .entries
        .iter()
        .filter(|e| e.chain == chain)
        .map(|e| e.address)
        .collect()
}

/// Adds `other`'s functions, events and errors that `abi` lacks (a proxy's
/// entry gets its implementation's this way).
pub fn merge(abi: &mut JsonAbi, other: &JsonAbi) {
    for (name, functions) in &other.functions {
        let mine = abi.functions.entry(name.clone()).or_default();
        for function in functions {
            if !mine.iter().any(|f| f.selector() == function.selector()) {
                mine.push(function.clone());
            }
        }
    }
    for (name, events) in &other.events {
        let mine = abi.events.entry(name.clone()).or_default();
        for event in events {
            if !mine.iter().any(|e| e.selector() == event.selector()) {
                mine.push(event.clone());
            }
        }
    }
    for (name, errors) in &other.errors {
        let mine = abi.errors.entry(name.clone()).or_default();
        for error in errors {
            if !mine.iter().any(|e| e.selector() == error.selector()) {
                mine.push(error.clone());
            }
        }
    }
}
