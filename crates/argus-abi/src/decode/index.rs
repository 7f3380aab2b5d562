//! Building the [`AbiIndex`]: each ABI item is resolved once into alloy's
//! dynamic types when it is inserted (per address, events by topic0,
//! functions and errors by selector, plus the by-topic table for addresses
//! without an ABI), and the name lookups rules compile against
//! ([`AbiIndex::events_named`], [`AbiIndex::topics_named`],
//! [`AbiIndex::functions_named`]). Decoding with the index is in `decoding`.

use hashbrown::HashMap;

use alloy_dyn_abi::{DynSolEvent, DynSolType, Specifier};
use alloy_json_abi::{Event, EventParam, JsonAbi, Param};
use alloy_primitives::{Address, B256, Selector};

use super::SkippedItem;

/// An event resolved for decoding.
#[derive(Debug, Clone)]
pub(super) struct EventEntry {
    pub(super) name: String,
    pub(super) signature: String,
    pub(super) anonymous: bool,
    pub(super) inputs: Vec<EventParam>,
    pub(super) resolved: DynSolEvent,
}

/// A function or an error resolved for decoding.
#[derive(Debug, Clone)]
pub(super) struct CallableEntry {
    pub(super) name: String,
    pub(super) signature: String,
    pub(super) inputs: Vec<Param>,
    pub(super) body: DynSolType,
}

#[derive(Debug, Clone, Default)]
pub(super) struct ContractAbi {
    /// Several events may share a topic0 with different indexing (ERC-20 and
    /// ERC-721 `Transfer`): each is tried in turn.
    pub(super) events: HashMap<B256, Vec<EventEntry>>,
    pub(super) anonymous: Vec<EventEntry>,
    pub(super) functions: HashMap<Selector, CallableEntry>,
    pub(super) errors: HashMap<Selector, CallableEntry>,
}

/// Every ABI of a set of contracts (one chain), ready to decode with.
#[derive(Debug, Clone, Default)]
pub struct AbiIndex {
    pub(super) contracts: HashMap<Address, ContractAbi>,
    /// Every non-anonymous event of every ABI, by topic0, for logs of
    /// addresses without an ABI.
    pub(super) by_topic: HashMap<B256, Vec<EventEntry>>,
}

impl AbiIndex {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or extends) the ABI of `address`. Items whose types cannot be
    /// resolved are skipped and returned.
    pub fn insert(&mut self, address: Address, abi: &JsonAbi) -> Vec<SkippedItem> {
        let mut skipped = Vec::new();
        let contract = self.contracts.entry(address).or_default();
        for event in abi.events() {
            match resolve_event(event) {
                Ok(entry) => {
                    if entry.anonymous {
                        if !contract
                            .anonymous
                            .iter()
                            .any(|e| e.signature == entry.signature)
                        {
                            contract.anonymous.push(entry);
                        }
                    } else {
                        let topic = event.selector();
                        push_unique(self.by_topic.entry(topic).or_default(), entry.clone());
                        push_unique(contract.events.entry(topic).or_default(), entry);
                    }
                }
                Err(reason) => skipped.push(SkippedItem {
                    signature: event.signature(),
                    reason,
                }),
            }
        }
        for function in abi.functions() {
            match resolve_callable(&function.name, function.signature(), &function.inputs) {
                Ok(entry) => {
                    contract
                        .functions
                        .entry(function.selector())
                        .or_insert(entry);
                }
                Err(reason) => skipped.push(SkippedItem {
                    signature: function.signature(),
                    reason,
                }),
            }
        }
        for error in abi.errors() {
            match resolve_callable(&error.name, error.signature(), &error.inputs) {
                Ok(entry) => {
                    contract.errors.entry(error.selector()).or_insert(entry);
                }
                Err(reason) => skipped.push(SkippedItem {
                    signature: error.signature(),
                    reason,
                }),
            }
        }
        skipped
    }

    /// Adds an event to the table used for addresses without an ABI (e.g. an
    /// event a rule declares with its full signature).
    pub fn insert_fallback_event(&mut self, event: &Event) -> Result<(), SkippedItem> {
        if event.anonymous {
            return Err(SkippedItem {
                signature: event.signature(),
                reason: "an anonymous event can only be decoded with the emitting contract's ABI"
                    .to_owned(),
            });
        }
        let entry = resolve_event(event).map_err(|reason| SkippedItem {
            signature: event.signature(),
            reason,
        })?;
        push_unique(self.by_topic.entry(event.selector()).or_default(), entry);
        Ok(())
    }

    /// Whether the index holds an ABI for `address`.
    pub fn knows(&self, address: &Address) -> bool {
        self.contracts.contains_key(address)
    }

    /// Every event known for `address` with the given name: (topic0 or
    /// `None` for anonymous, signature).
    pub fn events_named(&self, address: &Address, name: &str) -> Vec<(Option<B256>, String)> {
        let Some(contract) = self.contracts.get(address) else {
            return Vec::new();
        };
        let mut out: Vec<(Option<B256>, String)> = contract
            .events
            .iter()
            .flat_map(|(topic, entries)| {
                entries
                    .iter()
                    .filter(|e| e.name == name)
                    .map(|e| (Some(*topic), e.signature.clone()))
            })
            .chain(
                contract
                    .anonymous
                    .iter()
                    .filter(|e| e.name == name)
                    .map(|e| (None, e.signature.clone())),
            )
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// Every topic0 of any ABI whose event has the given name.
    pub fn topics_named(&self, name: &str) -> Vec<(B256, String)> {
        let mut out: Vec<(B256, String)> = self
            .by_topic
            .iter()
            .flat_map(|(topic, entries)| {
                entries
                    .iter()
                    .filter(|e| e.name == name)
                    .map(|e| (*topic, e.signature.clone()))
            })
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// Every function selector known for `address` with the given name.
    pub fn functions_named(&self, address: &Address, name: &str) -> Vec<(Selector, String)> {
        let Some(contract) = self.contracts.get(address) else {
            return Vec::new();
        };
        let mut out: Vec<(Selector, String)> = contract
            .functions
            .iter()
            .filter(|(_, f)| f.name == name)
            .map(|(s, f)| (*s, f.signature.clone()))
            .collect();
        out.sort();
        out
    }
}

fn push_unique(entries: &mut Vec<EventEntry>, entry: EventEntry) {
    let layout = |e: &EventEntry| e.inputs.iter().map(|p| p.indexed).collect::<Vec<_>>();
    if !entries
        .iter()
        .any(|e| e.signature == entry.signature && layout(e) == layout(&entry))
    {
        entries.push(entry);
    }
}
fn resolve_event(event: &Event) -> Result<EventEntry, String> {
    let resolved: DynSolEvent = event.resolve().map_err(|e| e.to_string())?;
    Ok(EventEntry {
        name: event.name.clone(),
        signature: event.signature(),
        anonymous: event.anonymous,
        inputs: event.inputs.clone(),
        resolved,
    })
}

fn resolve_callable(
    name: &str,
    signature: String,
    inputs: &[Param],
) -> Result<CallableEntry, String> {
    let types = inputs
        .iter()
        .map(|p| p.resolve())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    Ok(CallableEntry {
        name: name.to_owned(),
        signature,
        inputs: inputs.to_vec(),
        body: DynSolType::Tuple(types),
    })
}

/// A function's outputs resolved for decoding its return data.
pub(super) fn resolve_outputs(
    function: &alloy_json_abi::Function,
) -> Result<CallableEntry, String> {
    resolve_callable(&function.name, function.signature(), &function.outputs)
}
