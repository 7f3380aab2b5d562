//! Binding state rules to the registry: labels become addresses on each
//! chain, call reads take the function's outputs from the contract's ABI
//! (unless the rule wrote them), arguments are encoded, and the condition
//! is type-checked again with `reads` typed from those outputs. What cannot
//! bind is a problem of the rule: a label the registry lacks is a binding
//! problem (a warning: the rule waits for it), a function the ABI does not
//! have or a condition that does not fit the outputs is a type problem
//! (`argus validate` refuses it).

use alloy_dyn_abi::{DynSolValue, JsonAbiExt as _};
use alloy_json_abi::Function;
use alloy_primitives::Address;
use argus_core::ChainId;

use super::load::returns_type;
use super::{StateArg, StateQuery, StateReadKind, StateSpec};
use crate::cel_type::{CelType, Record};
use crate::directory::ContractDirectory;
use crate::engine::RuleError;
use crate::expression::{Expect, Expression, Vocabulary};
use crate::schema::{ContractRef, Matcher, Rule};

/// One state rule bound on one chain (or, cross-chain, on its chains).
#[derive(Debug, Clone)]
pub(crate) struct StateBinding {
    pub(crate) rule: usize,
    /// `None`: a single-chain rule naming only addresses and no chain, due
    /// on every chain; for cross-chain rules, `None` as well.
    pub(crate) chain: Option<ChainId>,
    pub(crate) cross: bool,
    pub(crate) reads: Vec<BoundRead>,
}

/// A read with its address, encoded call and decoder.
#[derive(Debug, Clone)]
pub(crate) struct BoundRead {
    /// The read's chain; `None` for a rule due on every chain.
    pub(crate) chain: Option<ChainId>,
    pub(crate) query: StateQuery,
    pub(crate) decode: ReadDecode,
    /// For messages: `Token.totalSupply()`, `the balance of 0xab…`.
    pub(crate) what: String,
}

#[derive(Debug, Clone)]
pub(crate) enum ReadDecode {
    /// A call's return data, with the outputs of this function.
    Returns(Function),
    /// A balance or a storage slot.
    Word,
}

#[derive(Debug, Default)]
pub(crate) struct StateBindings {
    pub(crate) bindings: Vec<StateBinding>,
    pub(crate) problems: Vec<RuleError>,
    pub(crate) type_problems: Vec<RuleError>,
}

fn rule_error(rule: &Rule, message: String) -> RuleError {
    RuleError {
        rule_id: rule.id.clone(),
        message,
        origin: None,
        at_ms: 0,
    }
}

/// Binds every state rule.
pub(crate) fn bind_state(rules: &[Rule], directory: &ContractDirectory) -> StateBindings {
    let mut out = StateBindings::default();
    for (index, rule) in rules.iter().enumerate() {
        let Matcher::State(spec) = &rule.matcher else {
            continue;
        };
        let cross = spec.is_cross_chain();
        let candidates: Vec<Option<ChainId>> = if cross {
            vec![None]
        } else if let Some(chain) = spec.chains().first() {
            vec![Some(*chain)]
        } else {
            let labels = labels_of(spec);
            match labels.first() {
                None => vec![None],
                Some(first) => {
                    let mut chains: Vec<ChainId> = directory
                        .entries
                        .iter()
                        .filter(|e| e.label == *first)
                        .map(|e| e.chain)
                        .collect();
                    chains.sort_by_key(|c| c.0);
                    chains.dedup();
                    chains.retain(|c| {
                        labels
                            .iter()
                            .all(|l| find_label(directory, *c, l).is_some())
                    });
                    if chains.is_empty() {
                        out.problems.push(rule_error(
                            rule,
                            format!(
                                "no chain on which the registry holds every contract the reads name ({}); the rule reads nothing until they are added",
                                labels.join(", ")
                            ),
                        ));
                    }
                    chains.into_iter().map(Some).collect()
                }
            }
        };
        for chain in candidates {
            let mut reads = Vec::with_capacity(spec.reads.len());
            let mut types = Vec::with_capacity(spec.reads.len());
            let mut failed = false;
            for read in &spec.reads {
                let on = if cross { read.chain } else { chain };
                match bind_read(directory, on, &read.kind) {
                    Ok(BindOutcome::Bound(bound, ty)) => {
                        types.push((read.name.clone(), ty));
                        reads.push(*bound);
                    }
                    Ok(BindOutcome::Waiting(message)) => {
                        out.problems
                            .push(rule_error(rule, format!("read `{}`: {message}", read.name)));
                        failed = true;
                    }
                    Err(message) => {
                        out.type_problems
                            .push(rule_error(rule, format!("read `{}`: {message}", read.name)));
                        failed = true;
                    }
                }
            }
            if failed {
                continue;
            }
            // The outputs are now known: check the texts again with them.
            let reads_type = CelType::Record(Record {
                fields: types,
                closed: true,
                what: Some("`reads`".to_owned()),
            });
            let variables = Vocabulary::STATE.variables(&reads_type);
            if let Some(condition) = &rule.condition
                && let Err(message) =
                    Expression::compile(&condition.source, &variables, Expect::Bool)
            {
                let key = if spec.invariant {
                    "invariant"
                } else {
                    "condition"
                };
                let on = chain
                    .map(|c| format!(" on {}", c.name()))
                    .unwrap_or_default();
                out.type_problems.push(rule_error(
                    rule,
                    format!("`{key}`{on}, with the outputs of the registry's ABI: {message}"),
                ));
                continue;
            }
            out.bindings.push(StateBinding {
                rule: index,
                chain,
                cross,
                reads,
            });
        }
    }
    out
}

/// Every label a spec names (contracts, accounts, address arguments).
fn labels_of(spec: &StateSpec) -> Vec<String> {
    let mut labels = Vec::new();
    let mut add = |r: &ContractRef| {
        if let ContractRef::Label(l) = r
            && !labels.contains(l)
        {
            labels.push(l.clone());
        }
    };
    for read in &spec.reads {
        match &read.kind {
            StateReadKind::Call { contract, args, .. } => {
                add(contract);
                for arg in args {
                    if let StateArg::Label(l) = arg {
                        add(&ContractRef::Label(l.clone()));
                    }
                }
            }
            StateReadKind::Balance { account } => add(account),
            StateReadKind::Storage { contract, .. } => add(contract),
        }
    }
    labels
}

fn find_label(directory: &ContractDirectory, chain: ChainId, label: &str) -> Option<Address> {
    directory
        .entries
        .iter()
        .find(|e| e.chain == chain && e.label == label)
        .map(|e| e.address)
}

enum BindOutcome {
    Bound(Box<BoundRead>, CelType),
    /// A label the registry does not hold (yet).
    Waiting(String),
}

fn resolve(
    directory: &ContractDirectory,
    chain: Option<ChainId>,
    contract: &ContractRef,
) -> Result<Address, String> {
    match contract {
        ContractRef::Address(address) => Ok(*address),
        ContractRef::Label(label) => match chain {
            Some(chain) => find_label(directory, chain, label).ok_or_else(|| {
                format!(
                    "no contract labelled `{label}` on {} in the registry",
                    chain.name()
                )
            }),
            None => Err(format!("`{label}` is a label: say the read's `chain`")),
        },
        ContractRef::Any | ContractRef::Tag(_) => {
            Err("a read is of one contract: a label or an address".to_owned())
        }
    }
}

/// `Err` is a type problem; `Waiting` a label not (yet) in the registry.
fn bind_read(
    directory: &ContractDirectory,
    chain: Option<ChainId>,
    kind: &StateReadKind,
) -> Result<BindOutcome, String> {
    let name = |address: Address| -> String {
        chain
            .and_then(|c| {
                directory
                    .entries
                    .iter()
                    .find(|e| e.chain == c && e.address == address)
            })
            .map(|e| e.label.clone())
            .unwrap_or_else(|| format!("{address:#x}"))
    };
    let resolved = |contract: &ContractRef| resolve(directory, chain, contract);
    match kind {
        StateReadKind::Balance { account } => {
            let address = match resolved(account) {
                Ok(a) => a,
                Err(message) => return Ok(BindOutcome::Waiting(message)),
            };
            Ok(BindOutcome::Bound(
                Box::new(BoundRead {
                    chain,
                    query: StateQuery::Balance { address },
                    decode: ReadDecode::Word,
                    what: format!("the balance of {}", name(address)),
                }),
                CelType::Exact,
            ))
        }
        StateReadKind::Storage { contract, slot } => {
            let address = match resolved(contract) {
                Ok(a) => a,
                Err(message) => return Ok(BindOutcome::Waiting(message)),
            };
            Ok(BindOutcome::Bound(
                Box::new(BoundRead {
                    chain,
                    query: StateQuery::Storage {
                        address,
                        slot: *slot,
                    },
                    decode: ReadDecode::Word,
                    what: format!("storage slot {slot} of {}", name(address)),
                }),
                CelType::Exact,
            ))
        }
        StateReadKind::Call {
            contract,
            function,
            returns_given,
            args,
        } => {
            let address = match resolved(contract) {
                Ok(a) => a,
                Err(message) => return Ok(BindOutcome::Waiting(message)),
            };
            let mut values = Vec::with_capacity(args.len());
            for arg in args {
                match arg {
                    StateArg::Value(v) => values.push(v.clone()),
                    StateArg::Label(label) => {
                        match resolve(directory, chain, &ContractRef::Label(label.clone())) {
                            Ok(a) => values.push(DynSolValue::Address(a)),
                            Err(message) => return Ok(BindOutcome::Waiting(message)),
                        }
                    }
                }
            }
            let abi_entries: Vec<_> = directory
                .entries
                .iter()
                .filter(|e| e.address == address && chain.is_none_or(|c| c == e.chain))
                .collect();
            let from_abi = abi_entries
                .iter()
                .flat_map(|e| e.abi.functions())
                .find(|f| f.selector() == function.selector())
                .cloned();
            let what = format!("{}.{}", name(address), function.signature());
            let function = match (returns_given, from_abi) {
                (true, _) => function.clone(),
                (false, Some(f)) => f,
                (false, None) if abi_entries.is_empty() => {
                    return Err(format!(
                        "{what}: {} is not in the registry, so its ABI cannot say what the function returns; write it, e.g. `{}(…) returns (uint256)`",
                        name(address),
                        function.name
                    ));
                }
                (false, None) => {
                    return Err(format!(
                        "{what}: the registry's ABI of {} has no function `{}`",
                        name(address),
                        function.signature()
                    ));
                }
            };
            if function.outputs.is_empty() {
                return Err(format!("{what} returns nothing to compare"));
            }
            let ty = returns_type(&function).map_err(|e| format!("{what}: {e}"))?;
            let data = function
                .abi_encode_input(&values)
                .map_err(|e| format!("{what}: the arguments do not encode: {e}"))?;
            Ok(BindOutcome::Bound(
                Box::new(BoundRead {
                    chain,
                    query: StateQuery::Call {
                        to: address,
                        data: data.into(),
                    },
                    decode: ReadDecode::Returns(function),
                    what,
                }),
                ty,
            ))
        }
    }
}
