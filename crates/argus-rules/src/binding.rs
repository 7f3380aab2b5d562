//! Binding rules to the contract directory: labels and tags become
//! addresses, event names topics, function names selectors, and each rule is
//! filed under the keys a log, call or transaction is looked up by, so the
//! engine never loops over all rules.

use hashbrown::HashMap;

use alloy_primitives::{Address, B256, Selector};
use argus_abi::AbiIndex;
use argus_core::ChainId;

use crate::directory::ContractDirectory;
use crate::engine::RuleError;
use crate::schema::{ContractRef, ItemRef, Matcher, Rule};

pub(crate) type ChainKey = Option<ChainId>;

/// Resolved addresses of a `from` / `to` filter.
pub(crate) type AddressSet = Vec<(ChainKey, Address)>;

#[derive(Debug, Default)]
pub(crate) struct Bindings {
    pub(crate) abi: HashMap<ChainId, AbiIndex>,
    /// Events that rules declare with `indexed`, for logs of unknown contracts.
    pub(crate) declared: AbiIndex,
    pub(crate) labels: HashMap<(ChainId, Address), (String, Vec<String>)>,
    pub(crate) logs: HashMap<(ChainKey, Address, B256), Vec<usize>>,
    pub(crate) logs_any: HashMap<(ChainKey, B256), Vec<usize>>,
    pub(crate) calls: HashMap<(ChainKey, Address, Selector), Vec<usize>>,
    pub(crate) calls_any: HashMap<(ChainKey, Selector), Vec<usize>>,
    pub(crate) tx_from: HashMap<(ChainKey, Address), Vec<usize>>,
    pub(crate) tx_to: HashMap<(ChainKey, Address), Vec<usize>>,
    pub(crate) tx_any: Vec<usize>,
    /// Per rule: the resolved `from` / `to` filters of transaction rules.
    pub(crate) tx_filters: HashMap<usize, (AddressSet, AddressSet)>,
    pub(crate) signals: HashMap<String, Vec<usize>>,
    pub(crate) problems: Vec<RuleError>,
    /// Rules whose signature names no parameters that read what the ABI
    /// items they bound to do not have (`crate::recheck`).
    pub(crate) type_problems: Vec<RuleError>,
    /// State rules bound per chain (`crate::state`).
    pub(crate) state: crate::state::StateBindings,
}

fn push(map_entry: &mut Vec<usize>, rule: usize) {
    if !map_entry.contains(&rule) {
        map_entry.push(rule);
    }
}

/// Binds every rule to the directory.
pub(crate) fn bind(rules: &[Rule], directory: &ContractDirectory) -> Bindings {
    let mut b = Bindings::default();
    for entry in &directory.entries {
        let skipped = b
            .abi
            .entry(entry.chain)
            .or_default()
            .insert(entry.address, &entry.abi);
        let _ = skipped; // an unresolvable ABI item only fails the rules that need it
        b.labels.insert(
            (entry.chain, entry.address),
            (entry.label.clone(), entry.tags.clone()),
        );
    }
    for (index, rule) in rules.iter().enumerate() {
        let problem = |b: &mut Bindings, message: String| {
            b.problems.push(RuleError {
                rule_id: rule.id.clone(),
                message,
                origin: None,
                at_ms: 0,
            });
        };
        match &rule.matcher {
            Matcher::Event {
                chain,
                contract,
                event,
            } => {
                if let ItemRef::Event {
                    declared: Some(declared),
                    ..
                } = event
                {
                    let _ = b.declared.insert_fallback_event(declared);
                }
                match resolve_contract(directory, *chain, contract) {
                    Err(message) => problem(&mut b, message),
                    Ok(None) => {
                        let topics: Vec<B256> = match event {
                            ItemRef::Event { topic, .. } => vec![*topic],
                            ItemRef::Name(name) => b
                                .abi
                                .values()
                                .flat_map(|i| i.topics_named(name))
                                .map(|(t, _)| t)
                                .collect(),
                            ItemRef::Function { .. } => Vec::new(),
                        };
                        if topics.is_empty() {
                            problem(
                                &mut b,
                                format!(
                                    "no ABI in the registry declares an event named `{}`",
                                    item_name(event)
                                ),
                            );
                        }
                        for topic in topics {
                            push(b.logs_any.entry((*chain, topic)).or_default(), index);
                        }
                    }
                    Ok(Some(targets)) => {
                        for (target_chain, address) in targets {
                            let topics: Vec<B256> = match event {
                                ItemRef::Event { topic, .. } => vec![*topic],
                                ItemRef::Name(name) => target_chain
                                    .and_then(|c| b.abi.get(&c))
                                    .map(|i| {
                                        i.events_named(&address, name)
                                            .into_iter()
                                            .filter_map(|(t, _)| t)
                                            .collect()
                                    })
                                    .unwrap_or_default(),
                                ItemRef::Function { .. } => Vec::new(),
                            };
                            if topics.is_empty() {
                                problem(
                                    &mut b,
                                    format!(
                                        "the ABI of {address} declares no event named `{}`",
                                        item_name(event)
                                    ),
                                );
                            }
                            for topic in topics {
                                push(
                                    b.logs.entry((target_chain, address, topic)).or_default(),
                                    index,
                                );
                            }
                        }
                    }
                }
            }
            Matcher::Call {
                chain,
                contract,
                function,
            } => match resolve_contract(directory, *chain, contract) {
                Err(message) => problem(&mut b, message),
                Ok(None) => match function {
                    ItemRef::Function { selector, .. } => {
                        push(b.calls_any.entry((*chain, *selector)).or_default(), index)
                    }
                    _ => problem(
                        &mut b,
                        "a call rule on any contract needs the full function signature".to_owned(),
                    ),
                },
                Ok(Some(targets)) => {
                    for (target_chain, address) in targets {
                        let selectors: Vec<Selector> = match function {
                            ItemRef::Function { selector, .. } => vec![*selector],
                            ItemRef::Name(name) => target_chain
                                .and_then(|c| b.abi.get(&c))
                                .map(|i| {
                                    i.functions_named(&address, name)
                                        .into_iter()
                                        .map(|(s, _)| s)
                                        .collect()
                                })
                                .unwrap_or_default(),
                            ItemRef::Event { .. } => Vec::new(),
                        };
                        if selectors.is_empty() {
                            problem(
                                &mut b,
                                format!(
                                    "the ABI of {address} declares no function named `{}`",
                                    item_name(function)
                                ),
                            );
                        }
                        for selector in selectors {
                            push(
                                b.calls
                                    .entry((target_chain, address, selector))
                                    .or_default(),
                                index,
                            );
                        }
                    }
                }
            },
            Matcher::Transaction {
                chain, from, to, ..
            } => {
                let mut resolve = |refs: &[ContractRef]| -> Vec<(ChainKey, Address)> {
                    let mut out = Vec::new();
                    for r in refs {
                        match resolve_contract(directory, *chain, r) {
                            Ok(Some(targets)) => out.extend(targets),
                            Ok(None) => {}
                            Err(message) => problem(&mut b, message),
                        }
                    }
                    out
                };
                let from_set = resolve(from);
                let to_set = resolve(to);
                let unresolved = (!from.is_empty() && from_set.is_empty())
                    || (!to.is_empty() && to_set.is_empty());
                if !unresolved {
                    if !from_set.is_empty() {
                        for (c, a) in &from_set {
                            push(b.tx_from.entry((*c, *a)).or_default(), index);
                        }
                    } else if !to_set.is_empty() {
                        for (c, a) in &to_set {
                            push(b.tx_to.entry((*c, *a)).or_default(), index);
                        }
                    } else {
                        b.tx_any.push(index);
                    }
                }
                b.tx_filters.insert(index, (from_set, to_set));
            }
            Matcher::Signal { name } => push(b.signals.entry(name.clone()).or_default(), index),
            // Bound below, per chain.
            Matcher::State(_) => {}
        }
    }
    b.type_problems = crate::recheck::check(rules, directory, &b);
    let mut state = crate::state::bind_state(rules, directory);
    b.problems.append(&mut state.problems);
    b.type_problems.append(&mut state.type_problems);
    b.state = state;
    b
}

fn item_name(item: &ItemRef) -> &str {
    match item {
        ItemRef::Name(name) => name,
        ItemRef::Event { signature, .. } | ItemRef::Function { signature, .. } => signature,
    }
}

/// The addresses a contract reference stands for; `Ok(None)` for `any`.
fn resolve_contract(
    directory: &ContractDirectory,
    chain: Option<ChainId>,
    contract: &ContractRef,
) -> Result<Option<Vec<(ChainKey, Address)>>, String> {
    let on_chain = |c: ChainId| chain.is_none_or(|wanted| wanted == c);
    match contract {
        ContractRef::Any => Ok(None),
        ContractRef::Address(address) => {
            // An address in the directory binds to its chain (so its ABI is
            // used); otherwise to the rule's chain, or any.
            let known: Vec<(ChainKey, Address)> = directory
                .entries
                .iter()
                .filter(|e| e.address == *address && on_chain(e.chain))
                .map(|e| (Some(e.chain), e.address))
                .collect();
            Ok(Some(if known.is_empty() {
                vec![(chain, *address)]
            } else {
                known
            }))
        }
        ContractRef::Label(label) => {
            let found: Vec<(ChainKey, Address)> = directory
                .entries
                .iter()
                .filter(|e| e.label == *label && on_chain(e.chain))
                .map(|e| (Some(e.chain), e.address))
                .collect();
            if found.is_empty() {
                Err(format!(
                    "no contract labelled `{label}` in the registry; the rule matches nothing until one is added"
                ))
            } else {
                Ok(Some(found))
            }
        }
        ContractRef::Tag(tag) => {
            let found: Vec<(ChainKey, Address)> = directory
                .entries
                .iter()
                .filter(|e| e.tags.iter().any(|t| t == tag) && on_chain(e.chain))
                .map(|e| (Some(e.chain), e.address))
                .collect();
            if found.is_empty() {
                Err(format!(
                    "no contract tagged `{tag}` in the registry; the rule matches nothing until one is"
                ))
            } else {
                Ok(Some(found))
            }
        }
    }
}
