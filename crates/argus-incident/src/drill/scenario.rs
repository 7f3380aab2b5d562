//! A drill scenario: the YAML file, read and checked with every problem
//! reported at once.
//!
//! ```yaml
//! name: funds-drained
//! description: an attacker drains the treasury's tokens
//! chain: anvil                      # the config's chain to play on (default: its only one)
//! accounts:                         # names for addresses: anvil's accounts by index, or addresses
//!   deployer: 0
//!   attacker: 3
//!   bot: "0x00000000000000000000000000000000000b0700"
//! deploy:                           # artifacts relative to this file, constructor args by name
//!   - { label: Token, artifact: ../../testdata/foundry-project/out/Token.sol/Token.json,
//!       args: [Treasury, TRS, "1000000e18"], from: deployer }
//! steps:
//!   - send: { from: deployer, to: Token, function: "transfer(address,uint256)", args: [attacker, "900000e18"] }
//!   - send: { from: bot, to: Token, function: "transfer(address,uint256)", args: [attacker, 1],
//!             gas: 100000, reverts: true, repeat: 6 }
//!   - impersonate: bot              # anvil_impersonateAccount (then `send: { from: bot }` works)
//!   - stop_impersonating: bot
//!   - fund: { account: bot, amount: "10 ether" }   # anvil_setBalance
//!   - warp: 5m                      # evm_increaseTime, then a block
//!   - mine: 3
//!   - wait: 2s                      # real time, for a window or a timer
//!   - expect:
//!       alert: { rule: large-outflow, within: 30s }
//!       incident: { kind: funds-drained, within: 30s }
//!       contained: { within: 60s }
//!       call: { to: Token, function: "balanceOf(address)", args: [attacker], equals: "900000e18" }
//! ```
//!
//! This module is the checked model a player runs; `load` reads it from
//! the file (`Scenario::load`), reporting every problem at once.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use alloy_dyn_abi::{DynSolType, DynSolValue};
use alloy_json_abi::{Function, JsonAbi};
use alloy_primitives::{Address, Bytes, U256};
use argus_core::Diagnostic;

use super::values;

/// Every problem found in a scenario, in file order.
#[derive(Debug, Clone)]
pub struct ScenarioError(pub Vec<Diagnostic>);

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.0.len();
        writeln!(
            f,
            "{count} problem{} in the scenario:",
            if count == 1 { "" } else { "s" }
        )?;
        for diagnostic in &self.0 {
            writeln!(f, "  {diagnostic}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ScenarioError {}

/// The longest wait an expectation may ask for.
pub(super) const MAX_WITHIN: Duration = Duration::from_secs(3600);
/// Default of `within`.
pub(super) const DEFAULT_WITHIN: Duration = Duration::from_secs(30);

/// A checked scenario.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub name: String,
    pub description: Option<String>,
    /// The file it was read from.
    pub path: PathBuf,
    /// The config's chain to play on (`None`: the config's only chain).
    pub chain: Option<String>,
    /// Names of addresses, in file order.
    pub accounts: Vec<(String, Account)>,
    pub deploy: Vec<Deploy>,
    pub steps: Vec<Step>,
}

impl Scenario {
    /// The expectations of every step, in order.
    pub fn expectations(&self) -> impl Iterator<Item = &Expect> {
        self.steps.iter().filter_map(|s| match &s.action {
            Action::Expect(e) => Some(e),
            _ => None,
        })
    }
}

/// What an account name stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Account {
    /// The node's n-th unlocked account (`eth_accounts`).
    Index(usize),
    Address(Address),
}

/// A contract the scenario deploys.
#[derive(Debug, Clone)]
pub struct Deploy {
    /// The name steps use, and its registry label.
    pub label: String,
    /// The artifact (resolved against the scenario's folder).
    pub artifact: PathBuf,
    pub abi: JsonAbi,
    pub bytecode: Bytes,
    pub args: Vec<serde_json::Value>,
    /// An account name.
    pub from: String,
    pub value: U256,
    pub line: u64,
}

/// One step, with where it is written.
#[derive(Debug, Clone)]
pub struct Step {
    pub line: u64,
    pub column: u64,
    pub action: Action,
}

/// What a step does.
#[derive(Debug, Clone)]
pub enum Action {
    Send(Send),
    Impersonate(String),
    StopImpersonating(String),
    Fund { account: String, amount: U256 },
    Warp(Duration),
    Mine(u64),
    Wait(Duration),
    Expect(Expect),
}

impl Action {
    /// A one-line summary for the scorecard.
    pub fn summary(&self) -> String {
        match self {
            Self::Send(send) => {
                let call = send
                    .function
                    .as_ref()
                    .map(|f| format!(".{}", f.signature()))
                    .unwrap_or_default();
                let times = if send.repeat > 1 {
                    format!(" ×{}", send.repeat)
                } else {
                    String::new()
                };
                format!("send {} → {}{call}{times}", send.from, send.to)
            }
            Self::Impersonate(who) => format!("impersonate {who}"),
            Self::StopImpersonating(who) => format!("stop impersonating {who}"),
            Self::Fund { account, amount } => format!("fund {account} with {amount} wei"),
            Self::Warp(by) => format!("warp {}", argus_core::duration::HumanDuration(*by)),
            Self::Mine(n) => format!("mine {n}"),
            Self::Wait(by) => format!("wait {}", argus_core::duration::HumanDuration(*by)),
            Self::Expect(expect) => format!("expect {}", expect.summary()),
        }
    }
}

/// A transaction (or several) to send.
#[derive(Debug, Clone)]
pub struct Send {
    /// An account name or an address.
    pub from: String,
    /// An account, a deployed label or an address.
    pub to: String,
    /// `None`: a plain value transfer.
    pub function: Option<Function>,
    pub args: Vec<serde_json::Value>,
    pub value: U256,
    /// A fixed gas limit (needed to mine a transaction that reverts).
    pub gas: Option<u64>,
    /// The transaction is meant to revert; a success fails the step.
    pub reverts: bool,
    /// How many times it is sent (at least 1).
    pub repeat: u32,
}

/// What must hold, checked against the drill's store and node.
#[derive(Debug, Clone, Default)]
pub struct Expect {
    pub alert: Option<ExpectAlert>,
    pub incident: Option<ExpectIncident>,
    pub contained: Option<Duration>,
    pub call: Option<ExpectCall>,
}

impl Expect {
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        if let Some(alert) = &self.alert {
            parts.push(format!("alert {}", alert.rule));
        }
        if let Some(incident) = &self.incident {
            parts.push(format!("incident {}", incident.kind));
        }
        if self.contained.is_some() {
            parts.push("contained".to_owned());
        }
        if let Some(call) = &self.call {
            parts.push(format!("{}.{}", call.to, call.function.signature()));
        }
        parts.join(", ")
    }
}

#[derive(Debug, Clone)]
pub struct ExpectAlert {
    /// A rule id; `*` matches any run of characters.
    pub rule: String,
    pub within: Duration,
}

#[derive(Debug, Clone)]
pub struct ExpectIncident {
    pub kind: String,
    pub within: Duration,
}

#[derive(Debug, Clone)]
pub struct ExpectCall {
    pub to: String,
    /// With its outputs (from the label's ABI or `returns (...)`).
    pub function: Function,
    pub args: Vec<serde_json::Value>,
    pub equals: serde_json::Value,
    /// `equals` coerced to the function's outputs, with placeholder
    /// addresses for names: compared again at play time with the real ones.
    pub output_types: Vec<DynSolType>,
}

/// `equals` as the value the call must return, with `resolve` for names.
pub fn expected_value(
    call: &ExpectCall,
    resolve: &dyn Fn(&str) -> Option<Address>,
) -> Result<DynSolValue, String> {
    match call.output_types.as_slice() {
        [only] => values::coerce(only, &call.equals, resolve),
        many => values::coerce(&DynSolType::Tuple(many.to_vec()), &call.equals, resolve),
    }
}
