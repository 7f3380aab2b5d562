//! The second type check, at binding time, of rules whose signature names
//! no parameters.
//!
//! A rule may watch `Transfer` or `Transfer(address,address,uint256)` and
//! read `args.value`: the loader cannot tell whether `value` exists, since
//! the names live in the ABI, so it lets `args.*` through (an open record).
//! The registry's ABIs do name them. When the rules bind to the directory,
//! every such rule is checked again against each event or function it was
//! bound to, with `args` typed from that ABI item: `args.nosuch`,
//! `args.from > 3` or a title reading a missing field are then refused the
//! way the loader refuses them for rules that spell their parameters, and
//! `argus validate` reports them as errors (a rule that fails on every
//! event it matches), not as the warnings of a label the registry does not
//! hold yet.
//!
//! Items whose own ABI leaves a parameter unnamed stay open (nothing more
//! is known); an ABI item whose types do not resolve is skipped (the ABI
//! linter reports those).

use std::collections::BTreeSet;

use alloy_json_abi::JsonAbi;
use alloy_primitives::{B256, Selector};
use argus_core::ChainId;

use crate::binding::{Bindings, ChainKey};
use crate::cel_type::{self, Layout, ParamInfo};
use crate::directory::ContractDirectory;
use crate::engine::RuleError;
use crate::expression::{Expression, Template, with_window};
use crate::schema::{OpenArgs, Rule};

/// One ABI item a rule is bound to: where it is declared, and the
/// parameters it names.
struct BoundItem<'a> {
    /// "the event `Transfer(address from,address to,uint256 value)` of Token".
    what: String,
    params: Vec<ParamInfo<'a>>,
}

/// Every type problem of the open-argument rules against what they bound
/// to, one per rule, item and problem.
pub(crate) fn check(
    rules: &[Rule],
    directory: &ContractDirectory,
    bindings: &Bindings,
) -> Vec<RuleError> {
    let mut problems = Vec::new();
    for (index, rule) in rules.iter().enumerate() {
        let Some(open) = &rule.open_args else {
            continue;
        };
        let mut seen = BTreeSet::new();
        for item in bound_items(index, directory, bindings) {
            if !item.params.iter().all(|p| !p.name.is_empty()) {
                continue;
            }
            let layout = Layout {
                names: true,
                indexing: true,
            };
            let Ok(args) = cel_type::args_type(&item.params, layout, item.what.clone()) else {
                continue;
            };
            for message in problems_with(open, &args) {
                let message = format!("with {}: {message}", item.what);
                if seen.insert(message.clone()) {
                    problems.push(RuleError {
                        rule_id: rule.id.clone(),
                        message,
                        origin: None,
                        at_ms: 0,
                    });
                }
            }
        }
    }
    problems
}

/// What fails of a rule's texts with `args` of type `args`.
fn problems_with(open: &OpenArgs, args: &cel_type::CelType) -> Vec<String> {
    let variables = open.vocabulary.variables(args);
    let mut problems = Vec::new();
    for (key, text, expect) in &open.expressions {
        if let Err(e) = Expression::compile(text, &variables, *expect) {
            problems.push(format!("`{key}`: {e}"));
        }
    }
    let template_vars = if open.windowed {
        with_window(&variables)
    } else {
        variables
    };
    for (key, text) in &open.templates {
        if let Err(e) = Template::compile(text, &template_vars) {
            problems.push(format!("`{key}`: {e}"));
        }
    }
    problems
}

/// The ABI items rule `index` was filed under: events by topic, functions
/// by selector, looked up in the ABIs of the addresses they were filed for
/// (any contract's ABI for rules on `any`).
fn bound_items<'d>(
    index: usize,
    directory: &'d ContractDirectory,
    bindings: &Bindings,
) -> Vec<BoundItem<'d>> {
    let mut items = Vec::new();
    let entries = |chain: ChainKey, address: Option<alloy_primitives::Address>| {
        directory.entries.iter().filter(move |e| {
            chain.is_none_or(|c: ChainId| c == e.chain) && address.is_none_or(|a| a == e.address)
        })
    };
    let mut events = |chain: ChainKey, address, topic: &B256| {
        for entry in entries(chain, address) {
            items.extend(events_of(&entry.abi, topic, &entry.label));
        }
    };
    for ((chain, address, topic), rules) in &bindings.logs {
        if rules.contains(&index) {
            events(*chain, Some(*address), topic);
        }
    }
    for ((chain, topic), rules) in &bindings.logs_any {
        if rules.contains(&index) {
            events(*chain, None, topic);
        }
    }
    let mut functions = |chain: ChainKey, address, selector: &Selector| {
        for entry in entries(chain, address) {
            items.extend(functions_of(&entry.abi, selector, &entry.label));
        }
    };
    for ((chain, address, selector), rules) in &bindings.calls {
        if rules.contains(&index) {
            functions(*chain, Some(*address), selector);
        }
    }
    for ((chain, selector), rules) in &bindings.calls_any {
        if rules.contains(&index) {
            functions(*chain, None, selector);
        }
    }
    items
}

fn events_of<'a>(abi: &'a JsonAbi, topic: &B256, label: &str) -> Vec<BoundItem<'a>> {
    abi.events()
        .filter(|e| !e.anonymous && e.selector() == *topic)
        .map(|event| BoundItem {
            what: format!("the event `{}` of {label}", full_signature(event)),
            params: event.inputs.iter().map(ParamInfo::from).collect(),
        })
        .collect()
}

fn functions_of<'a>(abi: &'a JsonAbi, selector: &Selector, label: &str) -> Vec<BoundItem<'a>> {
    abi.functions()
        .filter(|f| f.selector() == *selector)
        .map(|function| BoundItem {
            what: format!(
                "the function `{}({})` of {label}",
                function.name,
                named_params(
                    function
                        .inputs
                        .iter()
                        .map(|p| (p.ty.as_str(), p.name.as_str()))
                )
            ),
            params: function.inputs.iter().map(ParamInfo::from).collect(),
        })
        .collect()
}

/// `Transfer(address from,address to,uint256 value)`: the names a rule
/// can read, in the message.
fn full_signature(event: &alloy_json_abi::Event) -> String {
    format!(
        "{}({})",
        event.name,
        named_params(
            event
                .inputs
                .iter()
                .map(|p| (p.ty.as_str(), p.name.as_str()))
        )
    )
}

fn named_params<'a>(params: impl Iterator<Item = (&'a str, &'a str)>) -> String {
    params
        .map(|(ty, name)| {
            if name.is_empty() {
                ty.to_owned()
            } else {
                format!("{ty} {name}")
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}
