//! How much of an infrastructure the rules watch, as one figure, and that
//! figure over time.
//!
//! The operators' procedure asks for "a coverage metric for your smart
//! contracts infrastructure". The figure is computed over the registry's
//! deployed contracts (as the rules see them: a proxy carries its
//! implementation's ABI) from what each rule watches once bound to the
//! registry ([`argus_rules::Engine::watches`]), so it counts exactly what the
//! engine would match.
//!
//! **The figure.** Every contract contributes its items: each event of its
//! ABI (weight 1) and each state-changing function (not `view`/`pure`;
//! weight 1, or [`PRIVILEGED_WEIGHT`] when privileged). An item is watched
//! when a rule matches it:
//! - an event, by an event rule on its topic at the contract's address (or
//!   on any address);
//! - a function, by a call rule on its selector there, or by an event rule on
//!   an event the function emits: from the AST where the build output has one
//!   (`argus_abi::ast`), else the standard pairs ([`standard_events`]:
//!   `transferOwnership` → `OwnershipTransferred`, `pause` → `Paused`,
//!   `grantRole` → `RoleGranted`, `upgradeTo` → `Upgraded`…). Event rules
//!   count because a call rule sees top-level calldata only, and privileged
//!   functions are usually called through a multisig or a timelock.
//!
//! The figure is `100 × Σ weight(watched) / Σ weight(all)`, kept in
//! hundredths of a percent (basis points), floor-rounded. Transaction rules
//! (`to:`/`from:` a contract) make a contract "have a rule" but watch no
//! particular item; signal rules watch no contract.
//!
//! **Privileged** means guarded by an owner or role check in the AST
//! (`onlyOwner`, `onlyRole(..)`, any `only*` modifier, `_checkOwner`,
//! `_checkRole`; `whenNotPaused` and `nonReentrant` are not privilege), else,
//! without an AST, named like one ([`privileged_by_name`]).

mod db;
mod names;
mod report;

use std::collections::BTreeMap;

use alloy_json_abi::StateMutability;
use alloy_primitives::{Address, B256, Selector};
use argus_abi::ast::ContractFacts;
use argus_core::ChainId;
use argus_rules::{ContractDirectory, ContractEntry, RuleWatch, Watched};
use serde::{Deserialize, Serialize};

pub use db::{CoverageRun, DbError, history, last_run, record};
pub use names::{privileged_by_name, standard_events};
pub use report::{Change, Diff, diff, render_sarif};

/// The weight of a privileged function in the figure; events and other
/// functions weigh 1.
pub const PRIVILEGED_WEIGHT: u64 = 3;

/// Where a function's privilege was judged from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Judged {
    /// The compiler's AST: its modifiers and checks.
    Ast,
    /// The function's name.
    Name,
}

/// One event or function of a contract.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    /// `Transfer(address,address,uint256)`, `pause()`.
    pub signature: String,
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    pub privileged: bool,
    pub weight: u64,
    /// The rules that watch it (empty: unwatched).
    pub rules: Vec<String>,
    /// For a function watched through an event it emits: that event.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub via: Option<String>,
}

impl Item {
    pub fn watched(&self) -> bool {
        !self.rules.is_empty()
    }
}

/// One contract's coverage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContractCoverage {
    pub label: String,
    pub chain: ChainId,
    pub address: Address,
    /// At least one rule matches something of it.
    pub has_rule: bool,
    /// Where privilege was judged from for its functions.
    pub judged: Judged,
    pub events: Vec<Item>,
    pub functions: Vec<Item>,
    pub watched_weight: u64,
    pub total_weight: u64,
}

impl ContractCoverage {
    /// The contract's own figure, in basis points.
    pub fn figure_bp(&self) -> u32 {
        figure_bp(self.watched_weight, self.total_weight)
    }

    /// Privileged functions no rule watches.
    pub fn unwatched_privileged(&self) -> impl Iterator<Item = &Item> {
        self.functions
            .iter()
            .filter(|f| f.privileged && !f.watched())
    }
}

/// The coverage of the whole registry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CoverageReport {
    /// The figure in basis points (6250 = 62.50 %).
    pub figure_bp: u32,
    pub watched_weight: u64,
    pub total_weight: u64,
    /// Rules loaded, and how many watch at least one contract item.
    pub rules: usize,
    pub contracts: Vec<ContractCoverage>,
}

impl CoverageReport {
    pub fn contracts_without_rule(&self) -> impl Iterator<Item = &ContractCoverage> {
        self.contracts.iter().filter(|c| !c.has_rule)
    }

    pub fn privileged_unwatched(&self) -> usize {
        self.contracts
            .iter()
            .map(|c| c.unwatched_privileged().count())
            .sum()
    }
}

/// Whether a function can change state (not `view` or `pure`).
pub fn is_state_changing(function: &alloy_json_abi::Function) -> bool {
    !matches!(
        function.state_mutability,
        StateMutability::View | StateMutability::Pure
    )
}

/// `watched / total` in basis points, floor-rounded; 0 when there is nothing.
pub fn figure_bp(watched: u64, total: u64) -> u32 {
    if total == 0 {
        return 0;
    }
    let bp = u128::from(watched) * 10_000 / u128::from(total);
    u32::try_from(bp).unwrap_or(10_000)
}

/// `6250` as `62.50%`.
pub fn percent(bp: u32) -> String {
    format!("{}.{:02}%", bp / 100, bp % 100)
}

fn matches_contract(
    entry: &ContractEntry,
    chain: &Option<ChainId>,
    address: &Option<Address>,
) -> bool {
    chain.is_none_or(|c| c == entry.chain) && address.is_none_or(|a| a == entry.address)
}

/// Measures the registry's coverage by the rules' watches. `facts` are the
/// AST facts of the contracts whose build output had one, matched to the
/// registry by label (the contract's name).
pub fn measure(
    directory: &ContractDirectory,
    facts: &[ContractFacts],
    watches: &[RuleWatch],
) -> CoverageReport {
    let mut contracts = Vec::new();
    for entry in &directory.entries {
        contracts.push(measure_contract(
            entry,
            facts.iter().find(|f| f.name == entry.label),
            watches,
        ));
    }
    contracts
        .sort_by(|a, b| (a.chain.0, &a.label, a.address).cmp(&(b.chain.0, &b.label, b.address)));
    let watched_weight = contracts.iter().map(|c| c.watched_weight).sum();
    let total_weight = contracts.iter().map(|c| c.total_weight).sum();
    CoverageReport {
        figure_bp: figure_bp(watched_weight, total_weight),
        watched_weight,
        total_weight,
        rules: watches.len(),
        contracts,
    }
}

fn measure_contract(
    entry: &ContractEntry,
    facts: Option<&ContractFacts>,
    watches: &[RuleWatch],
) -> ContractCoverage {
    // Rules watching each topic / selector at this contract.
    let mut by_topic: BTreeMap<B256, Vec<String>> = BTreeMap::new();
    let mut by_selector: BTreeMap<Selector, Vec<String>> = BTreeMap::new();
    let mut has_rule = false;
    for watch in watches {
        for watched in &watch.watched {
            match watched {
                Watched::Event {
                    chain,
                    address,
                    topic,
                } if matches_contract(entry, chain, address) => {
                    by_topic
                        .entry(*topic)
                        .or_default()
                        .push(watch.rule_id.clone());
                }
                Watched::Call {
                    chain,
                    address,
                    selector,
                } if matches_contract(entry, chain, address) => {
                    by_selector
                        .entry(*selector)
                        .or_default()
                        .push(watch.rule_id.clone());
                }
                Watched::Transactions { chain, address } | Watched::State { chain, address }
                    if matches_contract(entry, chain, &Some(*address)) =>
                {
                    has_rule = true;
                }
                _ => {}
            }
        }
    }
    for rules in by_topic.values_mut().chain(by_selector.values_mut()) {
        rules.sort();
        rules.dedup();
    }

    let mut events = Vec::new();
    let mut event_names: BTreeMap<B256, String> = BTreeMap::new();
    for event in entry.abi.events().filter(|e| !e.anonymous) {
        let topic = event.selector();
        event_names.insert(topic, event.name.clone());
        let rules = by_topic.get(&topic).cloned().unwrap_or_default();
        has_rule |= !rules.is_empty();
        events.push(Item {
            signature: event.signature(),
            privileged: false,
            weight: 1,
            rules,
            via: None,
        });
    }

    let mut functions = Vec::new();
    let mut judged = Judged::Name;
    for function in entry.abi.functions() {
        if !is_state_changing(function) {
            continue;
        }
        let selector = function.selector();
        let from_ast = facts.and_then(|f| {
            f.functions
                .iter()
                .find(|fact| fact.selector == Some(selector))
        });
        let (privileged, emitted): (bool, Vec<B256>) = match from_ast {
            Some(fact) => {
                judged = Judged::Ast;
                (fact.privileged, fact.events.clone())
            }
            None => {
                let emitted = standard_events(&function.name)
                    .iter()
                    .flat_map(|name| entry.abi.events.get(*name).into_iter().flatten())
                    .map(|e| e.selector())
                    .collect();
                (privileged_by_name(&function.name), emitted)
            }
        };
        let mut rules = by_selector.get(&selector).cloned().unwrap_or_default();
        let mut via = None;
        for topic in &emitted {
            if let Some(event_rules) = by_topic.get(topic) {
                if via.is_none() {
                    via = event_names.get(topic).cloned();
                }
                rules.extend(event_rules.iter().cloned());
            }
        }
        rules.sort();
        rules.dedup();
        has_rule |= !rules.is_empty();
        functions.push(Item {
            signature: function.signature(),
            privileged,
            weight: if privileged { PRIVILEGED_WEIGHT } else { 1 },
            rules,
            via: if by_selector.contains_key(&selector) {
                None
            } else {
                via
            },
        });
    }
    events.sort_by(|a, b| a.signature.cmp(&b.signature));
    functions.sort_by(|a, b| a.signature.cmp(&b.signature));
    let items = events.iter().chain(&functions);
    let total_weight = items.clone().map(|i| i.weight).sum();
    let watched_weight = items.filter(|i| i.watched()).map(|i| i.weight).sum();
    ContractCoverage {
        label: entry.label.clone(),
        chain: entry.chain,
        address: entry.address,
        has_rule,
        judged,
        events,
        functions,
        watched_weight,
        total_weight,
    }
}

#[cfg(test)]
mod tests;
