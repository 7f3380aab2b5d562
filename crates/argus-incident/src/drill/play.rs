//! Playing a scenario: each step executed against the drill's node through
//! `argus_chain::RpcPool::request`, each `expect` checked against what the
//! monitor stored.
//!
//! The player owns no clock of the monitor's and no shortcut into it: a
//! transaction goes to the node, the monitor sees it the way it sees any
//! block, and an expectation holds only once the alert or incident is in
//! the store (polled every 100 ms until its `within` runs out). A step that
//! fails stops the play (later steps would run on a state the scenario did
//! not mean) and is recorded with the node's own error; an expectation that
//! does not hold is recorded and the play goes on, so one run reports every
//! expectation.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use alloy_dyn_abi::{DynSolValue, FunctionExt, JsonAbiExt, Specifier};
use alloy_json_abi::JsonAbi;
use alloy_primitives::{Address, hex};
use argus_alerting::{AlertFilter, AlertState, outbox};
use argus_chain::{BlockId, RpcPool};
use argus_core::Clock;
use argus_store::Store;
use serde::Serialize;
use serde_json::{Value, json};

use super::DrillError;
use super::scenario::{Account, Action, Expect, Scenario, Send, expected_value};
use super::values;
use crate::db::{self, IncidentFilter};
use crate::policy::glob_match;

/// How often an expectation looks at the store again.
const POLL: Duration = Duration::from_millis(100);
/// How long a sent transaction may take to be mined.
const MINED_WITHIN: Duration = Duration::from_secs(30);

/// A contract the drill deployed.
#[derive(Debug, Clone, Serialize)]
pub struct Deployed {
    pub label: String,
    pub address: Address,
    pub artifact: PathBuf,
    pub block: u64,
}

/// How a step went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    /// Done, and for an `expect`, everything held.
    Passed,
    Failed,
    /// Not played: a step before it failed.
    NotRun,
}

/// One part of an `expect` step.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub what: String,
    pub held: bool,
    /// What was found (or what was not).
    pub detail: String,
    /// When it held, after the step started.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after_ms: Option<i64>,
}

/// One played step.
#[derive(Debug, Clone, Serialize)]
pub struct StepOutcome {
    pub index: usize,
    pub line: u64,
    pub step: String,
    pub status: StepStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_ms: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_ms: Option<i64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub transactions: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<Check>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Plays one scenario on one node.
#[derive(Debug)]
pub struct Player {
    pool: RpcPool,
    clock: Clock,
    names: BTreeMap<String, Address>,
    abis: BTreeMap<String, JsonAbi>,
}

impl Player {
    /// A player of `scenario` on the node behind `pool`: the scenario's
    /// account indexes resolved through the node's `eth_accounts`.
    pub async fn new(
        pool: RpcPool,
        scenario: &Scenario,
        clock: Clock,
    ) -> Result<Player, DrillError> {
        let accounts = pool.request("eth_accounts", Value::Null).await?;
        let unlocked: Vec<Address> = accounts
            .as_array()
            .map(|list| {
                list.iter()
                    .filter_map(|a| a.as_str().and_then(|a| a.parse().ok()))
                    .collect()
            })
            .unwrap_or_default();
        let mut names = BTreeMap::new();
        for (name, account) in &scenario.accounts {
            let address = match account {
                Account::Address(address) => *address,
                Account::Index(i) => *unlocked.get(*i).ok_or_else(|| DrillError::Setup {
                    what: format!("account {name}"),
                    detail: format!(
                        "the node has {} unlocked accounts, the scenario asks for number {i}",
                        unlocked.len()
                    ),
                })?,
            };
            names.insert(name.clone(), address);
        }
        Ok(Player {
            pool,
            clock,
            names,
            abis: BTreeMap::new(),
        })
    }

    /// The address a name (or an address written out) stands for.
    pub fn resolve(&self, reference: &str) -> Option<Address> {
        self.names
            .get(reference)
            .copied()
            .or_else(|| argus_core::parse_address(reference).ok())
    }

    /// The node's head.
    pub async fn head(&self) -> Result<u64, DrillError> {
        Ok(self.pool.block_number().await?)
    }

    /// Deploys the scenario's contracts in order; each one's label names
    /// its address from then on.
    pub async fn deploy(&mut self, scenario: &Scenario) -> Result<Vec<Deployed>, DrillError> {
        let mut deployed = Vec::new();
        for item in &scenario.deploy {
            let failed = |detail: String| DrillError::Deploy {
                label: item.label.clone(),
                detail,
            };
            let mut code = item.bytecode.to_vec();
            if let Some(constructor) = &item.abi.constructor {
                let args = self
                    .arguments(&constructor.inputs, &item.args)
                    .map_err(failed)?;
                let encoded = constructor
                    .abi_encode_input(&args)
                    .map_err(|e| failed(e.to_string()))?;
                code.extend_from_slice(&encoded);
            }
            let from = self
                .resolve(&item.from)
                .ok_or_else(|| failed(format!("`{}` does not resolve", item.from)))?;
            let receipt = self
                .transact(json!({
                    "from": from,
                    "data": hex::encode_prefixed(&code),
                    "value": format!("{:#x}", item.value),
                }))
                .await
                .map_err(failed)?;
            if receipt.status != Some(true) {
                return Err(failed(format!(
                    "the creation transaction {} reverted",
                    receipt.hash
                )));
            }
            let address = receipt
                .contract
                .ok_or_else(|| failed("the receipt names no contract address".to_owned()))?;
            self.names.insert(item.label.clone(), address);
            self.abis.insert(item.label.clone(), item.abi.clone());
            deployed.push(Deployed {
                label: item.label.clone(),
                address,
                artifact: item.artifact.clone(),
                block: receipt.block,
            });
        }
        Ok(deployed)
    }

    /// Plays every step; `store` is the monitor's, `since_ms` when the
    /// drill started (older alerts and incidents do not count).
    pub async fn play(
        &mut self,
        scenario: &Scenario,
        store: &Store,
        since_ms: i64,
    ) -> Vec<StepOutcome> {
        let mut outcomes = Vec::new();
        let mut stopped = false;
        for (index, step) in scenario.steps.iter().enumerate() {
            let mut outcome = StepOutcome {
                index: index + 1,
                line: step.line,
                step: step.action.summary(),
                status: StepStatus::NotRun,
                started_ms: None,
                finished_ms: None,
                transactions: Vec::new(),
                checks: Vec::new(),
                error: None,
            };
            if stopped {
                outcomes.push(outcome);
                continue;
            }
            outcome.started_ms = Some(self.clock.now_ms());
            let result = match &step.action {
                Action::Expect(expect) => {
                    outcome.checks = self.check(expect, store, since_ms).await;
                    if outcome.checks.iter().all(|c| c.held) {
                        Ok(())
                    } else {
                        Err(String::from("an expectation did not hold"))
                    }
                }
                action => self.act(action, &mut outcome.transactions).await,
            };
            outcome.finished_ms = Some(self.clock.now_ms());
            match result {
                Ok(()) => outcome.status = StepStatus::Passed,
                Err(error) => {
                    outcome.status = StepStatus::Failed;
                    stopped = !matches!(step.action, Action::Expect(_));
                    if stopped {
                        outcome.error = Some(error);
                    }
                }
            }
            outcomes.push(outcome);
        }
        outcomes
    }

    async fn act(&mut self, action: &Action, transactions: &mut Vec<String>) -> Result<(), String> {
        let rpc = |e: argus_chain::RpcError| e.to_string();
        match action {
            Action::Send(send) => {
                for _ in 0..send.repeat {
                    let hash = self.send(send).await?;
                    transactions.push(hash);
                }
                Ok(())
            }
            Action::Impersonate(who) => {
                let address = self.must_resolve(who)?;
                self.pool
                    .request("anvil_impersonateAccount", json!([address]))
                    .await
                    .map(drop)
                    .map_err(rpc)
            }
            Action::StopImpersonating(who) => {
                let address = self.must_resolve(who)?;
                self.pool
                    .request("anvil_stopImpersonatingAccount", json!([address]))
                    .await
                    .map(drop)
                    .map_err(rpc)
            }
            Action::Fund { account, amount } => {
                let address = self.must_resolve(account)?;
                self.pool
                    .request("anvil_setBalance", json!([address, format!("{amount:#x}")]))
                    .await
                    .map(drop)
                    .map_err(rpc)
            }
            Action::Warp(by) => {
                self.pool
                    .request("evm_increaseTime", json!([by.as_secs()]))
                    .await
                    .map_err(rpc)?;
                self.pool
                    .request("evm_mine", Value::Null)
                    .await
                    .map(drop)
                    .map_err(rpc)
            }
            Action::Mine(n) => self
                .pool
                .request("anvil_mine", json!([format!("{n:#x}")]))
                .await
                .map(drop)
                .map_err(rpc),
            Action::Wait(by) => {
                tokio::time::sleep(*by).await;
                Ok(())
            }
            Action::Expect(_) => Ok(()),
        }
    }

    fn must_resolve(&self, reference: &str) -> Result<Address, String> {
        self.resolve(reference)
            .ok_or_else(|| format!("`{reference}` does not resolve to an address"))
    }

    fn arguments(
        &self,
        inputs: &[alloy_json_abi::Param],
        args: &[Value],
    ) -> Result<Vec<DynSolValue>, String> {
        let resolve = |name: &str| self.names.get(name).copied();
        inputs
            .iter()
            .zip(args)
            .map(|(param, arg)| {
                let ty = param.resolve().map_err(|e| e.to_string())?;
                values::coerce(&ty, arg, &resolve)
            })
            .collect()
    }

    /// One transaction of a `send` step: its hash once mined as meant.
    async fn send(&self, send: &Send) -> Result<String, String> {
        let from = self.must_resolve(&send.from)?;
        let to = self.must_resolve(&send.to)?;
        let data = match &send.function {
            Some(function) => {
                let args = self.arguments(&function.inputs, &send.args)?;
                function
                    .abi_encode_input(&args)
                    .map_err(|e| e.to_string())?
            }
            None => Vec::new(),
        };
        let mut tx = json!({
            "from": from,
            "to": to,
            "data": hex::encode_prefixed(&data),
            "value": format!("{:#x}", send.value),
        });
        if let Some(gas) = send.gas {
            tx["gas"] = json!(format!("{gas:#x}"));
        }
        let receipt = self.transact(tx).await?;
        match (receipt.status, send.reverts) {
            (Some(true), false) | (Some(false), true) => Ok(receipt.hash),
            (Some(false), false) => Err(format!("transaction {} reverted", receipt.hash)),
            (Some(true), true) => Err(format!(
                "transaction {} succeeded, the scenario meant it to revert",
                receipt.hash
            )),
            (None, _) => Err(format!("the receipt of {} has no status", receipt.hash)),
        }
    }

    /// Sends through the node's unlocked (or impersonated) account and
    /// waits for the receipt.
    async fn transact(&self, tx: Value) -> Result<Mined, String> {
        let hash = self
            .pool
            .request("eth_sendTransaction", json!([tx]))
            .await
            .map_err(|e| e.to_string())?;
        let hash = hash
            .as_str()
            .ok_or_else(|| format!("the node answered {hash} instead of a transaction hash"))?
            .to_owned();
        let deadline = Instant::now() + MINED_WITHIN;
        loop {
            let receipt = self
                .pool
                .request("eth_getTransactionReceipt", json!([hash]))
                .await
                .map_err(|e| e.to_string())?;
            if !receipt.is_null() {
                let quantity = |key: &str| {
                    receipt
                        .get(key)
                        .and_then(Value::as_str)
                        .and_then(|s| u64::from_str_radix(s.trim_start_matches("0x"), 16).ok())
                };
                return Ok(Mined {
                    status: quantity("status").map(|s| s == 1),
                    block: quantity("blockNumber").unwrap_or_default(),
                    contract: receipt
                        .get("contractAddress")
                        .and_then(Value::as_str)
                        .and_then(|a| a.parse().ok()),
                    hash,
                });
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "transaction {hash} was not mined within {} s (is the node mining?)",
                    MINED_WITHIN.as_secs()
                ));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Polls until every part of `expect` held or its time ran out.
    async fn check(&self, expect: &Expect, store: &Store, since_ms: i64) -> Vec<Check> {
        let started = Instant::now();
        let start_ms = self.clock.now_ms();
        let mut parts: Vec<(Part<'_>, Duration, Option<Check>)> = Vec::new();
        if let Some(alert) = &expect.alert {
            parts.push((Part::Alert(&alert.rule), alert.within, None));
        }
        if let Some(incident) = &expect.incident {
            parts.push((Part::Incident(&incident.kind), incident.within, None));
        }
        if let Some(within) = expect.contained {
            let kind = expect.incident.as_ref().map(|i| i.kind.as_str());
            parts.push((Part::Contained(kind), within, None));
        }
        if let Some(call) = &expect.call {
            parts.push((Part::Call(call), Duration::ZERO, None));
        }
        loop {
            let conn = store.connect();
            for (part, within, done) in parts.iter_mut() {
                if done.as_ref().is_some_and(|c| c.held) {
                    continue;
                }
                let (held, detail) = match &conn {
                    Ok(conn) => self.look(part, conn, since_ms).await,
                    Err(error) => (false, format!("the store could not be read: {error}")),
                };
                let expired = started.elapsed() >= *within;
                if held || expired || done.is_none() {
                    *done = Some(Check {
                        what: part.describe(),
                        held,
                        detail,
                        after_ms: held.then(|| self.clock.now_ms() - start_ms),
                    });
                }
            }
            let open = parts.iter().any(|(_, within, done)| {
                !done.as_ref().is_some_and(|c| c.held) && started.elapsed() < *within
            });
            if !open {
                break;
            }
            tokio::time::sleep(POLL).await;
        }
        parts.into_iter().filter_map(|(_, _, done)| done).collect()
    }

    async fn look(
        &self,
        part: &Part<'_>,
        conn: &argus_store::Connection,
        since_ms: i64,
    ) -> (bool, String) {
        match part {
            Part::Alert(rule) => {
                let filter = AlertFilter {
                    since_ms: Some(since_ms),
                    limit: Some(10_000),
                    ..AlertFilter::default()
                };
                match outbox::list_alerts(conn, &filter) {
                    Ok(alerts) => match alerts
                        .iter()
                        .filter(|a| {
                            a.state != AlertState::Retracted && glob_match(rule, &a.rule_id)
                        })
                        .min_by_key(|a| a.created_at_ms)
                    {
                        Some(alert) => (true, format!("alert {}: {}", alert.rule_id, alert.title)),
                        None => (false, format!("no alert of rule {rule}")),
                    },
                    Err(error) => (false, format!("the alerts could not be read: {error}")),
                }
            }
            Part::Incident(kind) | Part::Contained(Some(kind)) => {
                match incidents_since(conn, since_ms) {
                    Ok(incidents) => {
                        let found = incidents.iter().find(|i| i.kind == *kind);
                        match (part, found) {
                            (Part::Incident(_), Some(i)) => {
                                (true, format!("incident {} ({}) opened", i.id, i.severity))
                            }
                            (Part::Incident(_), None) => {
                                (false, format!("no incident of kind {kind}"))
                            }
                            (_, Some(i)) if i.contained_ms.is_some() => {
                                (true, format!("incident {} contained", i.id))
                            }
                            (_, Some(i)) => (false, format!("incident {} is {}", i.id, i.state)),
                            (_, None) => (false, format!("no incident of kind {kind} to contain")),
                        }
                    }
                    Err(error) => (false, format!("the incidents could not be read: {error}")),
                }
            }
            Part::Contained(None) => match incidents_since(conn, since_ms) {
                Ok(incidents) if incidents.is_empty() => (false, "no incident opened".to_owned()),
                Ok(incidents) => match incidents.iter().find(|i| i.contained_ms.is_some()) {
                    Some(i) => (true, format!("incident {} contained", i.id)),
                    None => (
                        false,
                        format!("{} incident(s), none contained", incidents.len()),
                    ),
                },
                Err(error) => (false, format!("the incidents could not be read: {error}")),
            },
            Part::Call(call) => {
                let resolve = |name: &str| self.resolve(name);
                let outcome = async {
                    let to = self.must_resolve(&call.to)?;
                    let args = self.arguments(&call.function.inputs, &call.args)?;
                    let data = call
                        .function
                        .abi_encode_input(&args)
                        .map_err(|e| e.to_string())?;
                    let answer = self
                        .pool
                        .eth_call(to, &data, BlockId::Latest)
                        .await
                        .map_err(|e| e.to_string())?;
                    let mut got = call
                        .function
                        .abi_decode_output(&answer)
                        .map_err(|e| format!("the answer does not decode: {e}"))?;
                    let want = expected_value(call, &resolve)?;
                    let got = if got.len() == 1 {
                        got.remove(0)
                    } else {
                        DynSolValue::Tuple(got)
                    };
                    Ok::<_, String>((
                        got == want,
                        format!("{} returned {}", call.function.signature(), show(&got)),
                    ))
                };
                match outcome.await {
                    Ok(result) => result,
                    Err(error) => (false, error),
                }
            }
        }
    }
}

/// A receipt's few fields the player reads.
#[derive(Debug)]
struct Mined {
    hash: String,
    status: Option<bool>,
    block: u64,
    contract: Option<Address>,
}

enum Part<'a> {
    Alert(&'a str),
    Incident(&'a str),
    Contained(Option<&'a str>),
    Call(&'a super::scenario::ExpectCall),
}

impl Part<'_> {
    fn describe(&self) -> String {
        match self {
            Self::Alert(rule) => format!("alert {rule}"),
            Self::Incident(kind) => format!("incident {kind}"),
            Self::Contained(Some(kind)) => format!("incident {kind} contained"),
            Self::Contained(None) => "an incident contained".to_owned(),
            Self::Call(call) => format!(
                "{}.{} == {}",
                call.to,
                call.function.signature(),
                call.equals
            ),
        }
    }
}

fn incidents_since(
    conn: &argus_store::Connection,
    since_ms: i64,
) -> Result<Vec<db::Incident>, crate::IncidentError> {
    db::list_incidents(
        conn,
        &IncidentFilter {
            since_ms: Some(since_ms),
            ..IncidentFilter::default()
        },
    )
}

/// A returned value as a person reads it.
fn show(value: &DynSolValue) -> String {
    match value {
        DynSolValue::Bool(b) => b.to_string(),
        DynSolValue::Uint(n, _) => n.to_string(),
        DynSolValue::Int(n, _) => n.to_string(),
        DynSolValue::Address(a) => a.to_checksum(None),
        DynSolValue::String(s) => format!("{s:?}"),
        DynSolValue::Tuple(items) | DynSolValue::Array(items) | DynSolValue::FixedArray(items) => {
            format!(
                "[{}]",
                items.iter().map(show).collect::<Vec<_>>().join(", ")
            )
        }
        other => format!("{other:?}"),
    }
}

/// Waits, at most `within`, until no step of an incident opened since
/// `since_ms` is running or due to run: the scorecard then shows the
/// response as it ended, not a step caught mid-run (an evidence capture
/// may outlast the containment the scenario waited for, on a loaded
/// machine). Whether everything settled; a store that cannot be read is
/// waited out like a busy step.
pub async fn settle(store: &Store, clock: &Clock, since_ms: i64, within: Duration) -> bool {
    let started = Instant::now();
    loop {
        let busy = store
            .connect()
            .ok()
            .and_then(|conn| db::steps_in_flight(&conn, since_ms, clock.now_ms()).ok());
        if busy == Some(0) {
            return true;
        }
        if started.elapsed() >= within {
            return false;
        }
        tokio::time::sleep(POLL).await;
    }
}
