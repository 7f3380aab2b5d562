//! State rules: invariants over contract state read at a block.
//!
//! Event, call and transaction rules see what a block *did*; a state rule
//! sees what the chain *holds* after it: `totalSupply() <= cap()`, a vault's
//! `totalAssets()` against the balances it owns, a guardian that still has
//! its role. A rule names its reads (`eth_call` of a function, a balance, a
//! storage slot), each by a name the condition uses (`reads.supply`):
//!
//! ```yaml
//! - id: supply-under-cap
//!   severity: critical
//!   match:
//!     state:
//!       every: 1                      # blocks; default 1
//!       reads:
//!         supply: { contract: Token, call: totalSupply() }
//!         cap:    { contract: Token, call: "cap() returns (uint256)" }
//!         held:   { contract: Token, call: "balanceOf(address)", args: [Treasury] }
//!         gas:    { balance: Keeper }
//!         owner:  { contract: Token, storage: 5 }
//!   invariant: reads.supply <= reads.cap   # alert when false (or `condition:`, alert when true)
//! ```
//!
//! **The engine has no I/O**, so the work is split: the engine says which
//! reads are due at a block ([`crate::Engine::state_plan`], deduplicated
//! [`StateQuery`]s), the node performs them in one JSON-RPC batch at that
//! block's hash, and hands the answers back ([`crate::Engine::on_state`]),
//! which evaluates each rule and gives findings and rule errors like any
//! other rule. A read that fails (a revert, an RPC error after retries, an
//! answer that does not decode) is a [`crate::RuleError`] of that rule at
//! that block: never a silent pass.
//!
//! **Cross-chain rules**: reads on two or more chains (each read's
//! `chain:`). They are not evaluated per block of one chain but by the node
//! at each chain's latest *committed* block (its follower's confirmations
//! deep), whenever one of them moves ([`crate::Engine::cross_chain_plan`]).
//!
//! Split by job: this module holds the model ([`StateSpec`] and its reads)
//! and the plan/answer types; `load` reads a `match.state` section, `bind`
//! resolves labels, functions and arguments against the registry, `eval`
//! turns answers into facts and evaluates.

mod bind;
mod eval;
mod load;

use alloy_dyn_abi::DynSolValue;
use alloy_json_abi::Function;
use alloy_primitives::{Bytes, U256};
use argus_core::{BlockRef, ChainId};

pub(crate) use bind::{StateBindings, bind_state};
pub(crate) use eval::encode_answer;

use crate::schema::ContractRef;

/// The `match.state` of a rule.
#[derive(Debug, Clone, PartialEq)]
pub struct StateSpec {
    /// Evaluated at blocks whose number is a multiple of `every`.
    pub every: u64,
    pub reads: Vec<StateReadSpec>,
    /// `invariant:` (fires when the expression is false) rather than
    /// `condition:` (fires when true).
    pub invariant: bool,
}

impl StateSpec {
    /// The chains the reads name; two or more make a cross-chain rule.
    pub fn chains(&self) -> Vec<ChainId> {
        let mut chains: Vec<ChainId> = self.reads.iter().filter_map(|r| r.chain).collect();
        chains.sort_by_key(|c| c.0);
        chains.dedup();
        chains
    }

    pub fn is_cross_chain(&self) -> bool {
        self.chains().len() > 1
    }
}

/// One named read.
#[derive(Debug, Clone, PartialEq)]
pub struct StateReadSpec {
    pub name: String,
    pub chain: Option<ChainId>,
    pub kind: StateReadKind,
}

/// What a read asks the node.
#[derive(Debug, Clone, PartialEq)]
pub enum StateReadKind {
    /// `eth_call` of `function` with `args`. `returns_given`: the rule
    /// wrote the outputs (`cap() returns (uint256)`), else they come from
    /// the registry's ABI when the rule binds.
    Call {
        contract: ContractRef,
        function: Function,
        returns_given: bool,
        args: Vec<StateArg>,
    },
    /// `eth_getBalance` of an address or a label, in wei.
    Balance { account: ContractRef },
    /// `eth_getStorageAt` of one slot, as a uint256.
    Storage { contract: ContractRef, slot: U256 },
}

/// An argument of a call read.
#[derive(Debug, Clone, PartialEq)]
pub enum StateArg {
    /// A value, already checked against the parameter's type.
    Value(DynSolValue),
    /// An `address` parameter given as a registry label, resolved on the
    /// read's chain when the rule binds.
    Label(String),
}

/// One request to a node, as the engine plans it.
pub use argus_core::StateQuery;

/// What the node answered to one [`StateQuery`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateAnswer {
    /// A call's return data.
    Returned(Bytes),
    /// A balance, or a storage slot read as a big-endian uint256.
    Word(U256),
}

/// The reads due at one point, deduplicated: the node performs
/// [`StatePlan::queries`] (one batch per chain) and answers them in order.
#[derive(Debug, Clone, Default)]
pub struct StatePlan {
    /// Each query with the chain it goes to.
    pub queries: Vec<(ChainId, StateQuery)>,
    pub(crate) evaluations: Vec<PlannedEvaluation>,
}

impl StatePlan {
    pub fn is_empty(&self) -> bool {
        self.evaluations.is_empty()
    }

    /// The queries of one chain, with their positions in
    /// [`StatePlan::queries`].
    pub fn queries_on(&self, chain: ChainId) -> Vec<(usize, &StateQuery)> {
        self.queries
            .iter()
            .enumerate()
            .filter(|(_, (c, _))| *c == chain)
            .map(|(i, (_, q))| (i, q))
            .collect()
    }

    /// The chains the plan reads.
    pub fn chains(&self) -> Vec<ChainId> {
        let mut chains: Vec<ChainId> = self.queries.iter().map(|(c, _)| *c).collect();
        chains.sort_by_key(|c| c.0);
        chains.dedup();
        chains
    }
}

/// One rule to evaluate with the answers of its queries.
#[derive(Debug, Clone)]
pub(crate) struct PlannedEvaluation {
    /// Index into the bindings' list.
    pub(crate) binding: usize,
    /// Per read, the index of its query in the plan.
    pub(crate) queries: Vec<usize>,
}

/// The blocks an evaluation read: one for a single-chain rule; for a
/// cross-chain rule each chain's committed block, the one whose move
/// triggered the evaluation first (the alert's origin).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateAt {
    pub blocks: Vec<(ChainId, BlockRef)>,
}
