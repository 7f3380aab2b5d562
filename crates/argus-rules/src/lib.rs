//! Detectors: rules written in YAML, conditions in CEL, windows over time.
//!
//! A rule says what it looks at (`match`: an event, a call, a transaction or
//! a signal), what must hold (`condition`, a CEL expression), and optionally
//! how matches aggregate (`threshold: "> 5 in 5m"`, `"> 200% of 1h median"`,
//! or `for: 1m`). The [`Engine`] takes blocks and signals and gives
//! [`Finding`](argus_core::Finding)s and [`RuleError`]s.
//!
//! Why these choices:
//! - **CEL, not a home-made language**: sandboxed by construction, and its
//!   errors are values, so a rule that cannot evaluate (a misspelt argument,
//!   a string compared with a number) is reported as a [`RuleError`] rather
//!   than silently counting as "no match". Every expression is also checked
//!   when the file loads, and type-checked (`typecheck`) against the types
//!   the engine gives each variable (`cel_type`; `args` from the rule's own
//!   signature): unknown variables, functions and fields, non-bool
//!   conditions, operators on the wrong types and literals that cannot
//!   convert (`uint256("abc")`) fail `argus validate` with their column.
//! - **Exact integers**: token amounts are `uint256`; they never become
//!   floats. [`ExactInt`] compares exactly with itself, CEL `int` and `uint`,
//!   on either side of the operator (see `exact_int`'s module docs).
//! - **All errors at once**: a file is read into a positioned YAML tree and
//!   checked by hand, so [`RuleSet::from_yaml`] returns every [`argus_core::Diagnostic`]
//!   with its file, line and column.
//! - **Indexed rules**: rules are filed by `(chain, address, topic0)`,
//!   `(chain, address, selector)`, sender/recipient and signal name; a log
//!   costs the rules that match it, not a loop over all rules.
//! - **No clock**: windows use block timestamps and signal times, so
//!   replaying blocks gives the same findings with the same ids.
//!
//! # Rule schema
//!
//! ```yaml
//! rules:
//!   - id: large-transfer                # unique, [a-z0-9-_]
//!     description: Transfer of more than 1M tokens
//!     severity: high                    # critical|high|medium|low|info (default medium)
//!     match:
//!       event:
//!         contract: Token               # a label, an address, "tag:<tag>" or "any"
//!         signature: Transfer(address,address,uint256)   # or just Transfer
//!         chain: mainnet                # optional
//!     condition: args.value > uint256("1000000000000000000000000")
//!     dedup: "{{rule}}:{{tx.hash}}"     # default: the finding id
//!     title: "Large transfer of {{args.value}} from {{args.from}}"
//! ```
//!
//! State rules (`match: { state: { reads: … } }` with `invariant:` or
//! `condition:`) read contract state at a block; see the `state` module.
//!
//! Other match kinds: `call: { contract, function }` (top-level calldata),
//! `transaction: { from, to, status: success|failed }` (address, label, list,
//! or any), `signal: <name>`. Aggregation: `threshold: "> N in <duration>"`
//! (with `value:` it sums the value), `threshold: "> P% of <duration> median"`
//! with `value:`, `for: <duration>` (signals), and `group_by:` (a CEL
//! expression; signals default to one window per label set). For an event of
//! a contract outside the registry, write the signature with `indexed` and
//! names so the rule can decode it.
//!
//! Variables: `event` (name, signature, address, label, log_index), `args`
//! (by name and `_0`, `_1`...), `tx` (hash, index, from, to, value,
//! gas_price, gas, nonce, input, status, success, gas_used), `block` (number,
//! hash, timestamp, base_fee, chain), `contract` (label, tags, address),
//! `call` (name, signature, selector, address, label); for signals `value`,
//! `labels`, `name`; `rule` everywhere, and `window` in templates of
//! windowed rules. Addresses are lower-case hex strings: compare with
//! `address("0xAbC…")`. Functions: `uint256("…")` (decimal or 0x hex),
//! `int256("…")`, `ether("1.5")`, `gwei("30")`, `string(x)`, `address(…)`.
//!
//! The seed's `thresholds:` section (see the `seed` module) and rule tests
//! as data ([`run_test_file`]) complete the crate. Window semantics are in
//! the `window` module.
mod behaviour;
mod binding;
mod cel_type;
mod directory;
mod engine;
mod exact_int;
mod expression;
mod lookback;
mod recheck;
mod schema;
mod seed;
mod state;
pub mod threshold;
mod typecheck;
mod watch;
mod window;
mod yaml;

pub use behaviour::{CaseReport, TestFileError, TestReport, run_test_file};
pub use directory::{ContractDirectory, ContractEntry};
pub use engine::{Engine, Outcome, RuleError};
pub use exact_int::ExactInt;
pub use lookback::Lookback;
pub use schema::{Aggregate, ContractRef, ItemRef, Matcher, Rule, RuleSet, SourceLocation};
pub use state::{
    StateAnswer, StateArg, StateAt, StatePlan, StateQuery, StateReadKind, StateReadSpec, StateSpec,
};
pub use watch::{RuleWatch, Watched};
pub use window::MAX_BASELINE_SAMPLES;
