//! What each rule watches, as bound to the registry: the (contract, event)
//! and (contract, function) pairs a coverage figure counts.
//!
//! Every match kind declares what it watches in [`watched_by`], one arm per
//! [`Matcher`] variant: the `match` is exhaustive, so a new kind of rule does
//! not compile until it says what it watches (an event topic or a function
//! selector at an address, or a whole contract for a rule on its
//! transactions). The answer comes from the same bindings the engine files
//! rules under, so coverage counts exactly what the engine would match: a
//! rule on a label the registry lacks watches nothing.
//!
//! What "watches" means is the match only: a rule's `condition` narrows what
//! fires, not what is looked at, and coverage cannot judge a condition.

use alloy_primitives::{Address, B256, Selector};
use argus_core::ChainId;

use crate::binding::Bindings;
use crate::schema::{Matcher, Rule};

/// One thing a rule looks at.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Watched {
    /// Logs with this topic0, at this address (`None`: any address,
    /// `contract: any`), on this chain (`None`: every chain).
    Event {
        chain: Option<ChainId>,
        address: Option<Address>,
        topic: B256,
    },
    /// Top-level calls with this selector.
    Call {
        chain: Option<ChainId>,
        address: Option<Address>,
        selector: Selector,
    },
    /// Transactions to or from the contract, whatever they call.
    Transactions {
        chain: Option<ChainId>,
        address: Address,
    },
    /// The contract's state, read by a state rule (a call, its balance or a
    /// storage slot): a rule on the contract, on no particular item, as for
    /// [`Watched::Transactions`].
    State {
        chain: Option<ChainId>,
        address: Address,
    },
    /// A signal by name (not a contract's: counts for no contract).
    Signal { name: String },
}

/// What one rule watches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleWatch {
    pub rule_id: String,
    pub watched: Vec<Watched>,
}

/// What the rule at `index` watches, from the bindings.
pub(crate) fn watched_by(index: usize, rule: &Rule, bindings: &Bindings) -> Vec<Watched> {
    let mut watched = Vec::new();
    match &rule.matcher {
        Matcher::Event { .. } => {
            for ((chain, address, topic), rules) in &bindings.logs {
                if rules.contains(&index) {
                    watched.push(Watched::Event {
                        chain: *chain,
                        address: Some(*address),
                        topic: *topic,
                    });
                }
            }
            for ((chain, topic), rules) in &bindings.logs_any {
                if rules.contains(&index) {
                    watched.push(Watched::Event {
                        chain: *chain,
                        address: None,
                        topic: *topic,
                    });
                }
            }
        }
        Matcher::Call { .. } => {
            for ((chain, address, selector), rules) in &bindings.calls {
                if rules.contains(&index) {
                    watched.push(Watched::Call {
                        chain: *chain,
                        address: Some(*address),
                        selector: *selector,
                    });
                }
            }
            for ((chain, selector), rules) in &bindings.calls_any {
                if rules.contains(&index) {
                    watched.push(Watched::Call {
                        chain: *chain,
                        address: None,
                        selector: *selector,
                    });
                }
            }
        }
        Matcher::Transaction { .. } => {
            if let Some((from, to)) = bindings.tx_filters.get(&index) {
                for (chain, address) in from.iter().chain(to) {
                    watched.push(Watched::Transactions {
                        chain: *chain,
                        address: *address,
                    });
                }
            }
        }
        Matcher::Signal { name } => watched.push(Watched::Signal { name: name.clone() }),
        Matcher::State(_) => {
            for binding in bindings.state.bindings.iter().filter(|b| b.rule == index) {
                for read in &binding.reads {
                    let address = match &read.query {
                        crate::StateQuery::Call { to, .. } => *to,
                        crate::StateQuery::Balance { address }
                        | crate::StateQuery::Storage { address, .. } => *address,
                    };
                    watched.push(Watched::State {
                        chain: read.chain,
                        address,
                    });
                }
            }
        }
    }
    watched.sort();
    watched.dedup();
    watched
}

impl crate::Engine {
    /// What every rule watches, in rule order.
    pub fn watches(&self) -> Vec<RuleWatch> {
        self.rules()
            .iter()
            .enumerate()
            .map(|(index, rule)| RuleWatch {
                rule_id: rule.id.clone(),
                watched: watched_by(index, rule, self.bindings()),
            })
            .collect()
    }
}
