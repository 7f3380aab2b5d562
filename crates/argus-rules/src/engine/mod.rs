//! The engine: blocks and signals in, findings and rule errors out.
//!
//! Rules are bound to the contract directory once (labels and tags become
//! addresses, event names become topics, function names selectors) and
//! indexed by what they match: `(chain, address, topic0)` and `(chain,
//! topic0)` for events, `(chain, address, selector)` and `(chain, selector)`
//! for calls, sender / recipient / any for transactions, the name for
//! signals. A log costs a handful of hash lookups plus the rules that match
//! it, however many rules there are; it is decoded only when some rule wants
//! it. When the registry changes, [`Engine::set_directory`] binds again, so a
//! new deployment is watched from the next block on; window state is kept.

use hashbrown::HashMap;

use alloy_primitives::{Address, B256, Selector};
use argus_abi::DecodedLog;
use argus_core::{Block, BlockRef, ChainId, ChainOrigin, Finding, Signal, Transaction, finding_id};
use cel::Context;

use crate::binding::{Bindings, ChainKey, bind};
use crate::directory::ContractDirectory;
use crate::expression::{Fact, Number, Scope};
use crate::schema::{Aggregate, ContractRef, Matcher, Rule, RuleSet};
use crate::window::{Baseline, CountWindow, Level, Sustained};

mod facts;

pub(crate) use facts::{args_fact, tx_fact};
use facts::{block_fact, number_fact};

/// A rule that could not be evaluated (or bound): reported, never taken
/// for "no match".
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RuleError {
    pub rule_id: String,
    pub message: String,
    /// Where it happened, for chain rules.
    pub origin: Option<ChainOrigin>,
    pub at_ms: i64,
}

/// What the engine made of a block or a signal.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub findings: Vec<Finding>,
    pub errors: Vec<RuleError>,
}

#[derive(Debug, Default)]
struct WindowStates {
    counts: HashMap<(usize, String), CountWindow>,
    baselines: HashMap<(usize, String), Baseline>,
    sustained: HashMap<(usize, String), Sustained>,
    levels: HashMap<(usize, String), Level>,
}

/// The rule engine of one process.
#[derive(Debug)]
pub struct Engine {
    pub(crate) rules: Vec<Rule>,
    pub(crate) bindings: Bindings,
    windows: WindowStates,
}

impl Engine {
    pub fn new(rules: RuleSet, directory: &ContractDirectory) -> Engine {
        let mut engine = Engine {
            rules: rules.rules,
            bindings: Bindings::default(),
            windows: WindowStates::default(),
        };
        engine.set_directory(directory);
        engine
    }

    /// Binds the rules to a new directory (the registry changed).
    pub fn set_directory(&mut self, directory: &ContractDirectory) {
        self.bindings = bind(&self.rules, directory);
    }

    /// Rules that name something the directory does not have (a label, a
    /// tag with no contract, an event the ABI lacks). They match nothing
    /// until the directory has it.
    pub fn binding_problems(&self) -> &[RuleError] {
        &self.bindings.problems
    }

    /// Rules whose signature names no parameters (`Transfer`) that read
    /// what the ABI items they bound to do not have (`args.nosuch`, a
    /// string compared with a number): they would fail on every event they
    /// match. `argus validate` refuses them.
    pub fn type_problems(&self) -> &[RuleError] {
        &self.bindings.type_problems
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    pub(crate) fn bindings(&self) -> &Bindings {
        &self.bindings
    }

    /// Evaluates every rule on a block.
    pub fn on_block(&mut self, block: &Block) -> Outcome {
        let mut outcome = Outcome::default();
        for log in &block.logs {
            self.on_log(block, log, &mut outcome);
        }
        for tx in &block.transactions {
            self.on_transaction(block, tx, &mut outcome);
        }
        outcome
    }

    /// Takes the contributions of a reverted block out of every window.
    pub fn on_revert(&mut self, block: &BlockRef) {
        for ((rule, _), window) in self.windows.counts.iter_mut() {
            if let Some(Aggregate::Count { op, limit, .. }) =
                self.rules.get(*rule).and_then(|r| r.aggregate.clone())
            {
                window.revert(block.hash, op, limit);
            }
        }
        self.windows.counts.retain(|_, w| !w.is_empty());
        for baseline in self.windows.baselines.values_mut() {
            baseline.revert(block.hash);
        }
        self.windows.baselines.retain(|_, b| !b.is_empty());
    }

    /// Evaluates the rules on a signal.
    pub fn on_signal(&mut self, signal: &Signal) -> Outcome {
        let mut outcome = Outcome::default();
        let Some(candidates) = self.bindings.signals.get(&signal.name).cloned() else {
            return outcome;
        };
        let mut scope = Scope::default();
        scope.set("name", Fact::str(signal.name.clone()));
        scope.set("value", Fact::Double(signal.value));
        scope.set(
            "labels",
            Fact::Map(
                signal
                    .labels
                    .iter()
                    .map(|(k, v)| (k.clone(), Fact::str(v.clone())))
                    .collect(),
            ),
        );
        let mut context = scope.context();
        let default_group: String = signal
            .labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",");
        let mut extra = signal.name.as_bytes().to_vec();
        extra.extend_from_slice(default_group.as_bytes());
        extra.extend_from_slice(&signal.at_ms.to_be_bytes());
        let item = Item {
            origin: None,
            at_ms: signal.at_ms,
            block: None,
            default_group,
            extra,
        };
        for rule in candidates {
            self.evaluate(rule, &item, &mut scope, &mut context, &mut outcome);
        }
        outcome
    }

    fn on_log(&mut self, block: &Block, log: &argus_core::Log, outcome: &mut Outcome) {
        let chain = block.chain;
        let b = &self.bindings;
        let mut candidates: Vec<usize> = Vec::new();
        if let Some(topic) = log.topics.first() {
            for key in [Some(chain), None] {
                for hit in [
                    b.logs.get(&(key, log.address, *topic)),
                    b.logs_any.get(&(key, *topic)),
                ]
                .into_iter()
                .flatten()
                {
                    candidates.extend(hit);
                }
            }
        }
        if candidates.is_empty() {
            return;
        }
        candidates.sort_unstable();
        candidates.dedup();
        let origin = ChainOrigin {
            chain,
            block: block.header,
            tx_hash: Some(log.tx_hash),
            log_index: Some(log.log_index),
        };
        let at_ms = block_ms(&block.header);
        // The registry's ABI of the address first; for an address it does
        // not know, the events of other ABIs and those rules declare.
        let index = self.bindings.abi.get(&chain);
        let decoded = match index.map(|i| {
            (
                i.knows(&log.address),
                i.decode_log(log.address, &log.topics, &log.data),
            )
        }) {
            Some((_, Ok(decoded))) => Ok(decoded),
            Some((true, Err(error))) => Err(error),
            other => self
                .bindings
                .declared
                .decode_log(log.address, &log.topics, &log.data)
                .map_err(|fallback| match other {
                    Some((_, Err(error))) => error,
                    _ => fallback,
                }),
        };
        let decoded = match decoded {
            Ok(decoded) => decoded,
            Err(error) => {
                for rule in candidates {
                    let specific = matches!(
                        &self.rules[rule].matcher,
                        Matcher::Event { contract, .. } if *contract != ContractRef::Any
                    );
                    // For `contract: any`, a log of the same topic with another
                    // layout (ERC-721 `Transfer` for an ERC-20 rule) is another
                    // event, not this one.
                    if specific {
                        outcome.errors.push(RuleError {
                            rule_id: self.rules[rule].id.clone(),
                            message: error.to_string(),
                            origin: Some(origin),
                            at_ms,
                        });
                    }
                }
                return;
            }
        };
        let mut scope = Scope::default();
        scope.set("event", self.event_fact(chain, log, &decoded));
        scope.set("args", args_fact(&decoded.args));
        scope.set(
            "tx",
            block
                .transaction(log.tx_index)
                .map(tx_fact)
                .unwrap_or_else(|| {
                    Fact::map(vec![
                        ("hash", Fact::str(log.tx_hash.to_string())),
                        ("index", Fact::UInt(log.tx_index)),
                    ])
                }),
        );
        scope.set("block", block_fact(block));
        scope.set("contract", self.contract_fact(chain, log.address));
        let needed = self.needed_variables(&candidates);
        let mut context = scope.context_with(&needed);
        let item = Item {
            origin: Some(origin),
            at_ms,
            block: Some(block.header.hash),
            default_group: String::new(),
            extra: Vec::new(),
        };
        for rule in candidates {
            self.evaluate(rule, &item, &mut scope, &mut context, outcome);
        }
    }

    /// The variables the conditions, groups and values of `rules` read.
    fn needed_variables(&self, rules: &[usize]) -> Vec<&'static str> {
        const NAMES: [&str; 9] = [
            "event", "args", "tx", "block", "contract", "call", "value", "labels", "name",
        ];
        let mut needed = Vec::new();
        for rule in rules.iter().filter_map(|r| self.rules.get(*r)) {
            for expression in [&rule.condition, &rule.group_by, &rule.value]
                .into_iter()
                .flatten()
            {
                for variable in &expression.variables {
                    if let Some(name) = NAMES.iter().find(|n| **n == variable.as_str())
                        && !needed.contains(name)
                    {
                        needed.push(*name);
                    }
                }
            }
        }
        needed
    }

    fn on_transaction(&mut self, block: &Block, tx: &Transaction, outcome: &mut Outcome) {
        let chain = block.chain;
        let b = &self.bindings;
        let mut candidates: Vec<usize> = b.tx_any.clone();
        for key in [Some(chain), None] {
            candidates.extend(b.tx_from.get(&(key, tx.from)).into_iter().flatten());
            if let Some(to) = tx.to {
                candidates.extend(b.tx_to.get(&(key, to)).into_iter().flatten());
            }
        }
        let selector = tx
            .input
            .get(..4)
            .and_then(|s| <[u8; 4]>::try_from(s).ok())
            .map(Selector::from);
        let mut call_candidates: Vec<usize> = Vec::new();
        if let (Some(to), Some(selector)) = (tx.to, selector) {
            for key in [Some(chain), None] {
                for hit in [
                    b.calls.get(&(key, to, selector)),
                    b.calls_any.get(&(key, selector)),
                ]
                .into_iter()
                .flatten()
                {
                    call_candidates.extend(hit);
                }
            }
        }
        candidates.sort_unstable();
        candidates.dedup();
        candidates.retain(|rule| self.transaction_passes(*rule, chain, tx));
        call_candidates.sort_unstable();
        call_candidates.dedup();
        if candidates.is_empty() && call_candidates.is_empty() {
            return;
        }
        let origin = ChainOrigin {
            chain,
            block: block.header,
            tx_hash: Some(tx.hash),
            log_index: None,
        };
        let at_ms = block_ms(&block.header);
        let item = Item {
            origin: Some(origin),
            at_ms,
            block: Some(block.header.hash),
            default_group: String::new(),
            extra: Vec::new(),
        };
        let mut scope = Scope::default();
        let mut tx_facts = tx_fact(tx);
        if let (Some(revert), Fact::Map(entries)) = (self.revert_fact(chain, tx), &mut tx_facts) {
            entries.push(("revert".to_owned(), revert));
        }
        scope.set("tx", tx_facts);
        scope.set("block", block_fact(block));
        if !candidates.is_empty() {
            let mut context = scope.context();
            for rule in candidates {
                self.evaluate(rule, &item, &mut scope, &mut context, outcome);
            }
        }
        if call_candidates.is_empty() {
            return;
        }
        let Some(to) = tx.to else { return };
        let decoded = self
            .bindings
            .abi
            .get(&chain)
            .map(|index| index.decode_call(to, &tx.input));
        let decoded = match decoded {
            Some(Ok(call)) => call,
            Some(Err(error)) => {
                for rule in call_candidates {
                    outcome.errors.push(RuleError {
                        rule_id: self.rules[rule].id.clone(),
                        message: error.to_string(),
                        origin: Some(origin),
                        at_ms,
                    });
                }
                return;
            }
            None => return,
        };
        let (label, _) = self.label(chain, to);
        scope.set(
            "call",
            Fact::map(vec![
                ("name", Fact::str(decoded.name.clone())),
                ("signature", Fact::str(decoded.signature.clone())),
                ("selector", Fact::str(decoded.selector.to_string())),
                ("address", Fact::str(format!("{to:#x}"))),
                ("label", Fact::str(label)),
            ]),
        );
        scope.set("args", args_fact(&decoded.args));
        scope.set("contract", self.contract_fact(chain, to));
        let mut context = scope.context();
        for rule in call_candidates {
            self.evaluate(rule, &item, &mut scope, &mut context, outcome);
        }
    }

    fn transaction_passes(&self, rule: usize, chain: ChainId, tx: &Transaction) -> bool {
        let Matcher::Transaction {
            chain: rule_chain,
            success,
            ..
        } = &self.rules[rule].matcher
        else {
            return false;
        };
        if rule_chain.is_some_and(|c| c != chain) {
            return false;
        }
        let Some((from, to)) = self.bindings.tx_filters.get(&rule) else {
            return false;
        };
        let in_set = |set: &[(ChainKey, Address)], address: Address| {
            set.iter()
                .any(|(c, a)| *a == address && c.is_none_or(|c| c == chain))
        };
        if !from.is_empty() && !in_set(from, tx.from) {
            return false;
        }
        if !to.is_empty() && !tx.to.is_some_and(|t| in_set(to, t)) {
            return false;
        }
        match success {
            Some(wanted) => tx.receipt.as_ref().is_some_and(|r| r.success == *wanted),
            None => true,
        }
    }

    fn label(&self, chain: ChainId, address: Address) -> (String, Vec<String>) {
        self.bindings
            .labels
            .get(&(chain, address))
            .cloned()
            .unwrap_or_default()
    }

    fn contract_fact(&self, chain: ChainId, address: Address) -> Fact {
        let (label, tags) = self.label(chain, address);
        Fact::map(vec![
            ("label", Fact::str(label)),
            (
                "tags",
                Fact::List(tags.into_iter().map(Fact::Str).collect()),
            ),
            ("address", Fact::str(format!("{address:#x}"))),
        ])
    }

    fn event_fact(&self, chain: ChainId, log: &argus_core::Log, decoded: &DecodedLog) -> Fact {
        let (label, _) = self.label(chain, log.address);
        Fact::map(vec![
            ("name", Fact::str(decoded.name.clone())),
            ("signature", Fact::str(decoded.signature.clone())),
            ("address", Fact::str(format!("{:#x}", log.address))),
            ("label", Fact::str(label)),
            ("log_index", Fact::UInt(log.log_index)),
        ])
    }

    /// Evaluates one rule on one item and records what came of it.
    fn evaluate(
        &mut self,
        index: usize,
        item: &Item,
        scope: &mut Scope,
        context: &mut Context<'static, 'static>,
        outcome: &mut Outcome,
    ) {
        let rule = &self.rules[index];
        let error = |message: String| RuleError {
            rule_id: rule.id.clone(),
            message,
            origin: item.origin,
            at_ms: item.at_ms,
        };
        context.add_variable_as_val("rule", Fact::str(rule.id.clone()).to_val());
        let holds = match &rule.condition {
            Some(condition) => match condition.evaluate_bool(context) {
                Ok(holds) => holds,
                Err(message) => {
                    outcome.errors.push(error(format!(
                        "condition `{}`: {message}",
                        condition.source
                    )));
                    return;
                }
            },
            None => true,
        };
        let group = match &rule.group_by {
            Some(g) => match g.evaluate_text(context) {
                Ok(key) => key,
                Err(message) => {
                    outcome
                        .errors
                        .push(error(format!("group_by `{}`: {message}", g.source)));
                    return;
                }
            },
            None => item.default_group.clone(),
        };
        let is_signal = matches!(rule.matcher, Matcher::Signal { .. });
        let key = (index, group.clone());
        let window: Option<Fact> = match &rule.aggregate {
            None if is_signal => {
                if !self.windows.levels.entry(key).or_default().sample(holds) {
                    return;
                }
                None
            }
            None => {
                if !holds {
                    return;
                }
                None
            }
            Some(Aggregate::Sustained { for_ms }) => {
                let held = self
                    .windows
                    .sustained
                    .entry(key)
                    .or_default()
                    .sample(item.at_ms, holds, *for_ms);
                let Some(held) = held else { return };
                Some(Fact::map(vec![
                    ("since", Fact::Double(held as f64 / 1000.0)),
                    ("within", Fact::UInt(*for_ms / 1000)),
                ]))
            }
            Some(_) if !holds => return,
            Some(Aggregate::Count {
                op,
                limit,
                within_ms,
            }) => {
                let weight = match &rule.value {
                    Some(v) => match v.evaluate_number(context) {
                        Ok(Number::Double(d)) => d,
                        Ok(Number::Exact(e)) => {
                            match e.to_u256().and_then(|u| u64::try_from(u).ok()) {
                                Some(w) => w as f64,
                                None => {
                                    outcome
                                        .errors
                                        .push(error(format!("`value:` {e} is not a count")));
                                    return;
                                }
                            }
                        }
                        Err(message) => {
                            outcome
                                .errors
                                .push(error(format!("value `{}`: {message}", v.source)));
                            return;
                        }
                    },
                    None => 1.0,
                };
                let window = self.windows.counts.entry(key).or_default();
                let Some(count) =
                    window.add(item.at_ms, weight, item.block, *op, *limit, *within_ms)
                else {
                    return;
                };
                Some(Fact::map(vec![
                    ("count", Fact::Double(count)),
                    ("within", Fact::UInt(*within_ms / 1000)),
                ]))
            }
            Some(Aggregate::Baseline {
                op,
                percent_milli,
                within_ms,
            }) => {
                let Some(v) = &rule.value else { return };
                let value = match v.evaluate_number(context) {
                    Ok(value) => value,
                    Err(message) => {
                        outcome
                            .errors
                            .push(error(format!("value `{}`: {message}", v.source)));
                        return;
                    }
                };
                let baseline = self.windows.baselines.entry(key).or_default();
                match baseline.add(
                    item.at_ms,
                    value,
                    item.block,
                    *op,
                    *percent_milli,
                    *within_ms,
                ) {
                    Ok(verdict) if verdict.fires => Some(Fact::map(vec![
                        ("value", number_fact(value)),
                        ("median", Fact::str(verdict.median.unwrap_or_default())),
                        ("count", Fact::UInt(verdict.samples as u64)),
                        ("within", Fact::UInt(*within_ms / 1000)),
                    ])),
                    Ok(_) => return,
                    Err(message) => {
                        outcome.errors.push(error(message));
                        return;
                    }
                }
            }
        };
        // The rule fires: the title, the dedup key and the fields see every
        // variable, not only those the condition read.
        scope.fill(context);
        if let Some(window) = &window {
            context.add_variable_as_val("window", window.to_val());
        }
        let mut extra = item.extra.clone();
        if rule.aggregate.is_some() {
            extra.extend_from_slice(group.as_bytes());
        }
        let id = finding_id(&rule.id, item.origin.as_ref(), &extra);
        let window_json = window.as_ref().map(|w| w.to_json());
        let title = match &rule.title {
            Some(t) => t.render(context).unwrap_or_else(|message| {
                outcome.errors.push(error(format!("title: {message}")));
                default_title(rule, window_json.as_ref())
            }),
            None => default_title(rule, window_json.as_ref()),
        };
        let dedup_key = match &rule.dedup {
            Some(t) => t.render(context).unwrap_or_else(|message| {
                outcome.errors.push(error(format!("dedup: {message}")));
                id.to_string()
            }),
            None => id.to_string(),
        };
        let mut fields = scope.to_json();
        if let (Some(window), serde_json::Value::Object(map)) = (window, &mut fields) {
            map.insert("window".to_owned(), window.to_json());
            if !group.is_empty() {
                map.insert("group".to_owned(), serde_json::Value::String(group));
            }
        }
        outcome.findings.push(Finding {
            id,
            rule_id: rule.id.clone(),
            severity: rule.severity,
            title,
            dedup_key,
            origin: item.origin,
            at_ms: item.at_ms,
            fields: fields.into(),
        });
    }
}

/// What is being evaluated, for findings and errors.
struct Item {
    origin: Option<ChainOrigin>,
    at_ms: i64,
    block: Option<B256>,
    default_group: String,
    /// Bytes that make a signal's finding id unique.
    extra: Vec<u8>,
}

/// The rule's description (its id when it has none), followed by what the
/// window saw when the rule is a window: the output already names the rule.
fn default_title(rule: &Rule, window: Option<&serde_json::Value>) -> String {
    let mut title = rule.description.clone().unwrap_or_else(|| rule.id.clone());
    if let Some(window) = window {
        // Counts are kept as doubles (a window may sum `value:`); a whole
        // number is shown as one.
        let figure = |key: &str| {
            window.get(key).map(|v| match v.as_f64() {
                Some(n) if n.fract() == 0.0 && n.abs() < 1e15 => format!("{}", n as i64),
                _ => v.to_string().trim_matches('"').to_owned(),
            })
        };
        if let (Some(count), Some(within)) = (figure("count"), figure("within")) {
            title.push_str(&format!(" — {count} in the last {within} s"));
        } else if let (Some(value), Some(median)) = (figure("value"), figure("median")) {
            title.push_str(&format!(" — {value} against a median of {median}"));
        }
    }
    title
}

fn block_ms(header: &BlockRef) -> i64 {
    i64::try_from(header.timestamp)
        .unwrap_or(i64::MAX / 1000)
        .saturating_mul(1000)
}
