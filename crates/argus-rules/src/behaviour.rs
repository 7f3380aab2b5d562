//! Rule tests as data, like Vector's behaviour tests: a YAML file of cases,
//! each a compact list of inputs (blocks with transactions and logs, reverts,
//! signals) and the findings they must produce. `argus rules test` runs them
//! with [`run_test_file`].
//!
//! ```yaml
//! rules: [rules.yaml]                # rule files, relative to this file
//! contracts:                         # added to the caller's directory
//!   - { label: Token, address: "0x10…01", tags: [erc20],
//!       abi: ["event Transfer(address indexed from, address indexed to, uint256 value)"] }
//! cases:
//!   - name: a large transfer
//!     input:
//!       - block: { number: 1, timestamp: 1000 }
//!         logs:
//!           - { contract: Token, event: Transfer, args: ["0x…", "0x…", "2000000000000000000000000"] }
//!         transactions:
//!           - { from: "0x…", to: Token, status: failed, gas_price: "30000000000",
//!               call: "withdraw(uint256)", args: ["5"] }
//!       - revert: { number: 1 }
//!       - signal: { name: memory_usage, value: 91, at: 0s, labels: { bot: arb-1 } }
//!       - signals: { name: memory_usage, value: 91, from: 0s, to: 60s, every: 1s }
//!     expect:
//!       findings: 1                  # how many in all
//!       rules: { large-transfer: 1 } # how many per rule
//!       errors: 0
//!       contains:                    # findings that must be there
//!         - { rule: large-transfer, title: "…", fields: { args.value: "2000…" } }
//! ```
//!
//! Block hashes are derived from the chain, number and `fork` (default 0), so
//! a reorg is a revert then the same number with another fork.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use alloy_dyn_abi::{DynSolType, DynSolValue, JsonAbiExt, Specifier};
use alloy_json_abi::{Event, Function, JsonAbi};
use alloy_primitives::{Address, B256, Bytes, U256, keccak256};
use argus_core::file::{MAX_IMPORT_BYTES, MAX_RULES_BYTES, ReadFileError, read_to_string_capped};
use argus_core::{Block, BlockRef, ChainId, Finding, Log, Receipt, Signal, Transaction};
use serde::Deserialize;

use crate::threshold::window_ms;
use crate::{ContractDirectory, ContractEntry, Engine, RuleSet};

/// Why a test file could not be run at all (its cases' failures are in the
/// [`TestReport`]). Not worth retrying: the file must change.
#[derive(Debug, thiserror::Error)]
pub enum TestFileError {
    /// The file is unreadable, not a regular file, or over its size cap; the
    /// source names the path.
    #[error("{source}")]
    Read { path: String, source: ReadFileError },
    #[error("{path} is not a rule test file: {message}")]
    Format { path: String, message: String },
    #[error("the rules of {path} do not load:\n{}", diagnostics.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("\n"))]
    Rules {
        path: String,
        diagnostics: Vec<argus_core::Diagnostic>,
    },
}

/// The result of one test file.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TestReport {
    pub path: String,
    pub cases: Vec<CaseReport>,
}

impl TestReport {
    pub fn passed(&self) -> bool {
        self.cases.iter().all(|c| c.passed)
    }
}

/// The result of one case.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CaseReport {
    pub name: String,
    pub passed: bool,
    /// What did not match, one line each.
    pub failures: Vec<String>,
    pub findings: Vec<String>,
    pub errors: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TestFile {
    rules: Vec<String>,
    #[serde(default)]
    contracts: Vec<ContractSpec>,
    cases: Vec<Case>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ContractSpec {
    label: String,
    address: String,
    #[serde(default)]
    chain: Option<u64>,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    abi: Vec<String>,
    #[serde(default)]
    abi_file: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    input: Vec<Input>,
    expect: Expect,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Input {
    #[serde(default)]
    block: Option<BlockSpec>,
    #[serde(default)]
    logs: Vec<LogSpec>,
    #[serde(default)]
    transactions: Vec<TxSpec>,
    #[serde(default)]
    revert: Option<BlockSpec>,
    #[serde(default)]
    signal: Option<SignalSpec>,
    #[serde(default)]
    signals: Option<SeriesSpec>,
    /// With `block:`: what the state rules' reads answer at that block, by
    /// read name (`supply: "1001"`, `gone: { revert: "…" }`).
    #[serde(default)]
    state: BTreeMap<String, StateSpecValue>,
}

/// One read's answer in a test: a value (decimal or 0x for numbers, an
/// address, `true`), or a failure.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum StateSpecValue {
    Value(String),
    Failed { revert: String },
}

#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct BlockSpec {
    number: u64,
    #[serde(default)]
    timestamp: Option<u64>,
    #[serde(default)]
    chain: Option<u64>,
    #[serde(default)]
    fork: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LogSpec {
    contract: String,
    event: String,
    #[serde(default)]
    args: Vec<String>,
    #[serde(default)]
    tx: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TxSpec {
    from: String,
    #[serde(default)]
    to: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    gas_price: Option<String>,
    #[serde(default)]
    value: Option<String>,
    #[serde(default)]
    nonce: u64,
    #[serde(default)]
    call: Option<String>,
    #[serde(default)]
    args: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SignalSpec {
    name: String,
    value: f64,
    at: String,
    #[serde(default)]
    labels: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SeriesSpec {
    name: String,
    value: f64,
    from: String,
    to: String,
    every: String,
    #[serde(default)]
    labels: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Expect {
    #[serde(default)]
    findings: Option<usize>,
    #[serde(default)]
    rules: BTreeMap<String, usize>,
    #[serde(default)]
    errors: Option<usize>,
    #[serde(default)]
    contains: Vec<Expected>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expected {
    rule: String,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    dedup: Option<String>,
    #[serde(default)]
    fields: BTreeMap<String, String>,
}

/// Runs a test file against its rules, with `directory` plus the file's own
/// `contracts`.
pub fn run_test_file(
    path: &Path,
    directory: &ContractDirectory,
) -> Result<TestReport, TestFileError> {
    let shown = path.display().to_string();
    let text =
        read_to_string_capped(path, MAX_RULES_BYTES, "rule test file").map_err(|source| {
            TestFileError::Read {
                path: shown.clone(),
                source,
            }
        })?;
    let format = |message: String| TestFileError::Format {
        path: shown.clone(),
        message,
    };
    let file: TestFile = serde_saphyr::from_str(&text).map_err(|e| format(e.to_string()))?;
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let rule_paths: Vec<PathBuf> = file.rules.iter().map(|r| base.join(r)).collect();
    let rules = RuleSet::from_files(&rule_paths).map_err(|diagnostics| TestFileError::Rules {
        path: shown.clone(),
        diagnostics,
    })?;
    let mut directory = directory.clone();
    for spec in &file.contracts {
        directory
            .entries
            .push(contract_entry(spec, &base).map_err(format)?);
    }
    let mut cases = Vec::new();
    for case in &file.cases {
        let mut engine = Engine::new(rules.clone(), &directory);
        cases.push(run_case(case, &mut engine, &directory));
    }
    Ok(TestReport { path: shown, cases })
}

fn contract_entry(spec: &ContractSpec, base: &Path) -> Result<ContractEntry, String> {
    let address = argus_core::parse_address(&spec.address)
        .map_err(|e| format!("contract {}: {e}", spec.label))?;
    let mut abi = if spec.abi.is_empty() {
        JsonAbi::new()
    } else {
        JsonAbi::parse(spec.abi.iter().map(String::as_str))
            .map_err(|e| format!("contract {}: {e}", spec.label))?
    };
    if let Some(file) = &spec.abi_file {
        let text = read_to_string_capped(&base.join(file), MAX_IMPORT_BYTES, "ABI file")
            .map_err(|e| e.to_string())?;
        let loaded = JsonAbi::from_json_str(&text).map_err(|e| format!("{file}: {e}"))?;
        for (name, items) in loaded.functions {
            abi.functions.entry(name).or_default().extend(items);
        }
        for (name, items) in loaded.events {
            abi.events.entry(name).or_default().extend(items);
        }
        for (name, items) in loaded.errors {
            abi.errors.entry(name).or_default().extend(items);
        }
    }
    Ok(ContractEntry {
        chain: ChainId(spec.chain.unwrap_or(ChainId::LOCAL.0)),
        address,
        label: spec.label.clone(),
        tags: spec.tags.clone(),
        abi,
    })
}

fn block_ref(spec: &BlockSpec) -> BlockRef {
    let chain = spec.chain.unwrap_or(ChainId::LOCAL.0);
    let hash = |number: u64| {
        keccak256(
            [
                &chain.to_be_bytes()[..],
                &number.to_be_bytes(),
                &spec.fork.to_be_bytes(),
            ]
            .concat(),
        )
    };
    BlockRef {
        number: spec.number,
        hash: hash(spec.number),
        parent_hash: hash(spec.number.saturating_sub(1)),
        timestamp: spec.timestamp.unwrap_or(spec.number * 12),
    }
}

fn run_case(case: &Case, engine: &mut Engine, directory: &ContractDirectory) -> CaseReport {
    let mut findings: Vec<Finding> = Vec::new();
    let mut errors: Vec<String> = Vec::new();
    let mut failures: Vec<String> = Vec::new();
    for (position, input) in case.input.iter().enumerate() {
        if let Some(spec) = &input.block {
            match build_block(spec, input, directory) {
                Ok(block) => {
                    let mut outcome = engine.on_block(&block);
                    let plan = engine.state_plan(block.chain, block.header.number);
                    if !plan.is_empty() {
                        let answers = state_answers(engine, &plan, &input.state);
                        let at = crate::StateAt {
                            blocks: vec![(block.chain, block.header)],
                        };
                        let state = engine.on_state(&plan, &answers, &at);
                        outcome.findings.extend(state.findings);
                        outcome.errors.extend(state.errors);
                    }
                    findings.extend(outcome.findings);
                    errors.extend(
                        outcome
                            .errors
                            .into_iter()
                            .map(|e| format!("{}: {}", e.rule_id, e.message)),
                    );
                }
                Err(message) => failures.push(format!("input {}: {message}", position + 1)),
            }
        }
        if let Some(spec) = &input.revert {
            engine.on_revert(&block_ref(spec));
        }
        let mut signals = Vec::new();
        if let Some(s) = &input.signal {
            match parse_at(&s.at) {
                Ok(at_ms) => signals.push(Signal {
                    name: s.name.clone(),
                    value: s.value,
                    labels: s.labels.clone(),
                    at_ms,
                }),
                Err(e) => failures.push(format!("input {}: {e}", position + 1)),
            }
        }
        if let Some(s) = &input.signals {
            match (parse_at(&s.from), parse_at(&s.to), window_ms(&s.every)) {
                (Ok(from), Ok(to), Ok(every)) => {
                    let mut at = from;
                    while at <= to && signals.len() < 100_000 {
                        signals.push(Signal {
                            name: s.name.clone(),
                            value: s.value,
                            labels: s.labels.clone(),
                            at_ms: at,
                        });
                        at += i64::try_from(every).unwrap_or(i64::MAX / 2);
                    }
                }
                _ => failures.push(format!(
                    "input {}: `signals` needs from/to times and an `every` duration",
                    position + 1
                )),
            }
        }
        for signal in signals {
            let outcome = engine.on_signal(&signal);
            findings.extend(outcome.findings);
            errors.extend(
                outcome
                    .errors
                    .into_iter()
                    .map(|e| format!("{}: {}", e.rule_id, e.message)),
            );
        }
    }
    check(&case.expect, &findings, &errors, &mut failures);
    CaseReport {
        name: case.name.clone(),
        passed: failures.is_empty(),
        failures,
        findings: findings
            .iter()
            .map(|f| format!("{} [{}] {}", f.rule_id, f.severity, f.title))
            .collect(),
        errors,
    }
}

/// The answers a case gives the reads of `plan`, by read name; a read the
/// case does not answer fails (the rule reports an error, as it would on a
/// node that could not answer).
fn state_answers(
    engine: &Engine,
    plan: &crate::StatePlan,
    given: &BTreeMap<String, StateSpecValue>,
) -> Vec<Result<crate::StateAnswer, String>> {
    let mut answers: Vec<Result<crate::StateAnswer, String>> = plan
        .queries
        .iter()
        .map(|_| Err("the test gives no answer for this read".to_owned()))
        .collect();
    for (query, name, decode) in engine.planned_reads(plan) {
        let Some(value) = given.get(&name) else {
            continue;
        };
        let Some(slot) = answers.get_mut(query) else {
            continue;
        };
        *slot = match value {
            StateSpecValue::Failed { revert } => Err(revert.clone()),
            StateSpecValue::Value(text) => crate::state::encode_answer(&decode, text),
        };
    }
    answers
}

/// `0s`, `61s`, `5m`, or plain milliseconds.
fn parse_at(text: &str) -> Result<i64, String> {
    if let Ok(ms) = text.trim().parse::<i64>() {
        return Ok(ms);
    }
    if text.trim().trim_start_matches('0').is_empty() || text.trim() == "0s" {
        return Ok(0);
    }
    window_ms(text).map(|ms| i64::try_from(ms).unwrap_or(i64::MAX))
}

fn check(expect: &Expect, findings: &[Finding], errors: &[String], failures: &mut Vec<String>) {
    if let Some(n) = expect.findings
        && findings.len() != n
    {
        failures.push(format!("expected {n} findings, got {}", findings.len()));
    }
    for (rule, n) in &expect.rules {
        let got = findings.iter().filter(|f| f.rule_id == *rule).count();
        if got != *n {
            failures.push(format!("expected {n} findings of `{rule}`, got {got}"));
        }
    }
    match expect.errors {
        Some(n) if errors.len() != n => failures.push(format!(
            "expected {n} rule errors, got {}: {errors:?}",
            errors.len()
        )),
        None if !errors.is_empty() => failures.push(format!("unexpected rule errors: {errors:?}")),
        _ => {}
    }
    for wanted in &expect.contains {
        let found = findings.iter().any(|f| {
            f.rule_id == wanted.rule
                && wanted.title.as_ref().is_none_or(|t| *t == f.title)
                && wanted.dedup.as_ref().is_none_or(|d| *d == f.dedup_key)
                && wanted.fields.iter().all(|(path, value)| {
                    field_at(&f.fields.to_value(), path).is_some_and(|v| v == *value)
                })
        });
        if !found {
            failures.push(format!("no finding of `{}` with {:?}", wanted.rule, wanted));
        }
    }
}

fn field_at(fields: &serde_json::Value, path: &str) -> Option<String> {
    let mut value = fields;
    for part in path.split('.') {
        value = value.get(part)?;
    }
    Some(match value {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    })
}

fn resolve_address(
    text: &str,
    chain: ChainId,
    directory: &ContractDirectory,
) -> Result<(Address, Option<JsonAbi>), String> {
    if text.starts_with("0x") {
        let address = argus_core::parse_address(text).map_err(|e| e.to_string())?;
        let abi = directory
            .entries
            .iter()
            .find(|e| e.address == address && e.chain == chain)
            .map(|e| e.abi.clone());
        return Ok((address, abi));
    }
    directory
        .entries
        .iter()
        .find(|e| e.label == text && e.chain == chain)
        .map(|e| (e.address, Some(e.abi.clone())))
        .ok_or_else(|| format!("no contract labelled `{text}` on chain {}", chain.0))
}

fn build_block(
    spec: &BlockSpec,
    input: &Input,
    directory: &ContractDirectory,
) -> Result<Block, String> {
    let chain = ChainId(spec.chain.unwrap_or(ChainId::LOCAL.0));
    let header = block_ref(spec);
    let mut transactions = Vec::new();
    for (index, tx) in input.transactions.iter().enumerate() {
        let from = argus_core::parse_address(&tx.from).map_err(|e| e.to_string())?;
        let (to, abi) = match &tx.to {
            Some(t) => {
                let (a, abi) = resolve_address(t, chain, directory)?;
                (Some(a), abi)
            }
            None => (None, None),
        };
        let input_bytes = match &tx.call {
            Some(call) => encode_call(call, &tx.args, abi.as_ref())?,
            None => Vec::new(),
        };
        let hash = keccak256([header.hash.as_slice(), &(index as u64).to_be_bytes()].concat());
        let number = |t: &Option<String>| -> Result<U256, String> {
            t.as_deref()
                .map(|v| v.parse::<U256>().map_err(|e| format!("`{v}`: {e}")))
                .unwrap_or(Ok(U256::ZERO))
        };
        let gas_price =
            u128::try_from(number(&tx.gas_price)?).map_err(|_| "gas_price too large".to_owned())?;
        let success = match tx.status.as_deref() {
            None | Some("success") => true,
            Some("failed") => false,
            Some(other) => return Err(format!("status `{other}`: use success or failed")),
        };
        transactions.push(Transaction {
            hash,
            index: index as u64,
            from,
            to,
            value: number(&tx.value)?,
            input: Bytes::from(input_bytes),
            nonce: tx.nonce,
            gas: 100_000,
            gas_price,
            receipt: Some(Receipt {
                success,
                gas_used: 21_000,
                effective_gas_price: gas_price,
                contract_address: None,
                revert_data: None,
            }),
        });
    }
    let mut logs = Vec::new();
    for (log_index, log) in input.logs.iter().enumerate() {
        let (address, abi) = resolve_address(&log.contract, chain, directory)?;
        let (topics, data) = encode_log(&log.event, &log.args, abi.as_ref())?;
        let tx_index = log.tx.unwrap_or(0) as u64;
        let tx_hash = transactions
            .get(tx_index as usize)
            .map(|t: &Transaction| t.hash)
            .unwrap_or_else(|| {
                keccak256(
                    [
                        header.hash.as_slice(),
                        b"log",
                        &(log_index as u64).to_be_bytes(),
                    ]
                    .concat(),
                )
            });
        logs.push(Log {
            address,
            topics,
            data: Bytes::from(data),
            log_index: log_index as u64,
            tx_index,
            tx_hash,
        });
    }
    Ok(Block {
        chain,
        header,
        base_fee_per_gas: None,
        gas_used: 0,
        gas_limit: 30_000_000,
        logs,
        transactions,
    })
}

fn find_event(text: &str, abi: Option<&JsonAbi>) -> Result<Event, String> {
    if let Some(abi) = abi {
        let name = text.split('(').next().unwrap_or(text).trim();
        if let Some(events) = abi.event(name) {
            let canonical = Event::parse(text).ok().map(|e| e.signature());
            if let Some(e) = events
                .iter()
                .find(|e| canonical.as_ref().is_none_or(|c| *c == e.signature()))
            {
                return Ok(e.clone());
            }
        }
    }
    Event::parse(text).map_err(|e| {
        format!("event `{text}`: {e}; declare it with `indexed` or add it to the contract's ABI")
    })
}

fn coerce_args(
    types: &[DynSolType],
    args: &[String],
    what: &str,
) -> Result<Vec<DynSolValue>, String> {
    if types.len() != args.len() {
        return Err(format!(
            "{what} takes {} arguments, {} given",
            types.len(),
            args.len()
        ));
    }
    types
        .iter()
        .zip(args)
        .map(|(ty, arg)| {
            ty.coerce_str(arg)
                .map_err(|e| format!("{what}: `{arg}` is not a {ty}: {e}"))
        })
        .collect()
}

fn encode_log(
    event: &str,
    args: &[String],
    abi: Option<&JsonAbi>,
) -> Result<(Vec<B256>, Vec<u8>), String> {
    let event = find_event(event, abi)?;
    let types = event
        .inputs
        .iter()
        .map(|p| p.resolve())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    let values = coerce_args(&types, args, &event.signature())?;
    let mut topics = Vec::new();
    if !event.anonymous {
        topics.push(event.selector());
    }
    let mut body = Vec::new();
    for (param, value) in event.inputs.iter().zip(values) {
        if param.indexed {
            let topic = match &value {
                DynSolValue::String(s) => keccak256(s.as_bytes()),
                DynSolValue::Bytes(b) => keccak256(b),
                other if other.as_word().is_some() => other.as_word().unwrap_or_default(),
                _ => return Err(format!("cannot encode indexed `{}` in a test", param.ty)),
            };
            topics.push(topic);
        } else {
            body.push(value);
        }
    }
    Ok((topics, DynSolValue::Tuple(body).abi_encode_params()))
}

fn encode_call(call: &str, args: &[String], abi: Option<&JsonAbi>) -> Result<Vec<u8>, String> {
    let parsed = Function::parse(call).map_err(|e| format!("call `{call}`: {e}"))?;
    let function = abi
        .and_then(|abi| abi.function(&parsed.name))
        .and_then(|fs| {
            fs.iter()
                .find(|f| f.signature() == parsed.signature())
                .cloned()
        })
        .unwrap_or(parsed);
    let types = function
        .inputs
        .iter()
        .map(|p| p.resolve())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    let values = coerce_args(&types, args, &function.signature())?;
    function
        .abi_encode_input(&values)
        .map_err(|e| e.to_string())
}
