//! The rule file: its schema, read from the positioned YAML tree with every
//! error collected (file, line, column), and the seed's `thresholds:`
//! shorthand turned into ordinary rules.
//!
//! A file has `rules:` (a list of rules) and may have `thresholds:` (alias
//! `alerts:`, as the operators' procedure writes it) with `wallets:`. See the
//! crate docs for the fields of a rule.

use std::fmt;

use alloy_json_abi::{Event, Function};
use alloy_primitives::{Address, B256, Selector};
use argus_core::{ChainId, Diagnostic, Severity};

use crate::expression::{Expression, Template, Vocabulary};
use crate::threshold::{Comparison, Threshold, parse_threshold, window_ms};
use crate::yaml::{self, Node, NodeValue};

/// Where a rule was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceLocation {
    pub path: String,
    pub line: u64,
    pub column: u64,
}

impl fmt::Display for SourceLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.path, self.line, self.column)
    }
}

/// A contract as a rule names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContractRef {
    Any,
    Address(Address),
    /// A registry label.
    Label(String),
    /// `tag:<tag>`: every contract of the registry with that tag.
    Tag(String),
}

/// An event or function as a rule names it.
#[derive(Debug, Clone, PartialEq)]
pub enum ItemRef {
    /// Just a name: every event (function) of that name in the contract's ABI.
    Name(String),
    /// A signature. For events written with `indexed` (and names), the rule's
    /// own declaration decodes logs of contracts without an ABI.
    Event {
        signature: String,
        topic: B256,
        declared: Option<Event>,
    },
    Function {
        signature: String,
        selector: Selector,
    },
}

/// What a rule looks at.
#[derive(Debug, Clone, PartialEq)]
pub enum Matcher {
    Event {
        chain: Option<ChainId>,
        contract: ContractRef,
        event: ItemRef,
    },
    Call {
        chain: Option<ChainId>,
        contract: ContractRef,
        function: ItemRef,
    },
    /// Empty `from` / `to` lists mean any.
    Transaction {
        chain: Option<ChainId>,
        from: Vec<ContractRef>,
        to: Vec<ContractRef>,
        /// `Some(true)` for `status: success`, `Some(false)` for `failed`.
        success: Option<bool>,
    },
    Signal {
        name: String,
    },
}

/// How matches are aggregated before a finding.
#[derive(Debug, Clone, PartialEq)]
pub enum Aggregate {
    /// Matches (or the sum of `value:`) in a sliding window.
    Count {
        op: Comparison,
        limit: u64,
        within_ms: u64,
    },
    /// `value:` against a percentage of its median over a baseline window.
    Baseline {
        op: Comparison,
        percent_milli: u64,
        within_ms: u64,
    },
    /// The condition held for every sample over `for_ms`.
    Sustained { for_ms: u64 },
}

impl Aggregate {
    /// How far back the aggregate looks: the window of a count or a
    /// baseline, the duration of a sustained condition.
    pub fn span_ms(&self) -> u64 {
        match self {
            Aggregate::Count { within_ms, .. } | Aggregate::Baseline { within_ms, .. } => {
                *within_ms
            }
            Aggregate::Sustained { for_ms } => *for_ms,
        }
    }
}

/// A checked, compiled rule.
#[derive(Debug, Clone)]
pub struct Rule {
    pub id: String,
    pub description: Option<String>,
    pub severity: Severity,
    pub matcher: Matcher,
    pub aggregate: Option<Aggregate>,
    pub location: SourceLocation,
    pub(crate) condition: Option<Expression>,
    pub(crate) value: Option<Expression>,
    pub(crate) group_by: Option<Expression>,
    pub(crate) title: Option<Template>,
    pub(crate) dedup: Option<Template>,
}

/// A set of rules from one or more files, ids unique.
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    pub(crate) rules: Vec<Rule>,
}

impl RuleSet {
    /// Reads one rule file. Every problem of the file is reported.
    pub fn from_yaml(
        text: &str,
        path: impl AsRef<std::path::Path>,
    ) -> Result<RuleSet, Vec<Diagnostic>> {
        let path = path.as_ref().display().to_string();
        let mut loader = Loader {
            path,
            diagnostics: Vec::new(),
        };
        let root = match yaml::parse(text) {
            Ok(root) => root,
            Err(error) => {
                return Err(vec![Diagnostic::new(
                    loader.path,
                    error.line,
                    error.column,
                    format!("not valid YAML: {}", error.message),
                )]);
            }
        };
        let rules = loader.file(&root);
        let set = RuleSet { rules };
        if let Err(mut duplicates) = set.check_duplicates() {
            loader.diagnostics.append(&mut duplicates);
        }
        if loader.diagnostics.is_empty() {
            Ok(set)
        } else {
            loader.diagnostics.sort_by_key(|d| (d.line, d.column));
            Err(loader.diagnostics)
        }
    }

    /// Reads several files; every problem of every file is reported, and a
    /// rule id used twice is an error naming both places.
    pub fn from_files<P: AsRef<std::path::Path>>(paths: &[P]) -> Result<RuleSet, Vec<Diagnostic>> {
        let mut sets = Vec::new();
        let mut diagnostics = Vec::new();
        for path in paths {
            let path = path.as_ref();
            let read = argus_core::file::read_to_string_capped(
                path,
                argus_core::file::MAX_RULES_BYTES,
                "rule file",
            );
            match read {
                Ok(text) => match RuleSet::from_yaml(&text, path) {
                    Ok(set) => sets.push(set),
                    Err(mut d) => diagnostics.append(&mut d),
                },
                Err(error) => diagnostics.push(Diagnostic::in_file(
                    path.display().to_string(),
                    error.to_string(),
                )),
            }
        }
        match RuleSet::merge(sets) {
            Ok(set) if diagnostics.is_empty() => Ok(set),
            Ok(_) => Err(diagnostics),
            Err(mut d) => {
                diagnostics.append(&mut d);
                Err(diagnostics)
            }
        }
    }

    /// Merges sets; a rule id used twice is an error naming both places.
    pub fn merge(sets: impl IntoIterator<Item = RuleSet>) -> Result<RuleSet, Vec<Diagnostic>> {
        let merged = RuleSet {
            rules: sets.into_iter().flat_map(|s| s.rules).collect(),
        };
        merged.check_duplicates().map(|()| merged)
    }

    fn check_duplicates(&self) -> Result<(), Vec<Diagnostic>> {
        let mut seen: std::collections::HashMap<&str, &SourceLocation> = Default::default();
        let mut diagnostics = Vec::new();
        for rule in &self.rules {
            if let Some(first) = seen.get(rule.id.as_str()) {
                diagnostics.push(Diagnostic::new(
                    rule.location.path.clone(),
                    rule.location.line,
                    rule.location.column,
                    format!(
                        "rule id `{}` is already used at {first}; rule ids must be unique",
                        rule.id
                    ),
                ));
            } else {
                seen.insert(&rule.id, &rule.location);
            }
        }
        if diagnostics.is_empty() {
            Ok(())
        } else {
            Err(diagnostics)
        }
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    pub fn get(&self, id: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.id == id)
    }
}

pub(crate) struct Loader {
    pub(crate) path: String,
    pub(crate) diagnostics: Vec<Diagnostic>,
}

/// alloy's parser errors draw the input over several lines; keep the reason.
fn parser_message(error: &impl fmt::Display) -> String {
    let text = error.to_string();
    text.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("unreadable")
        .trim()
        .to_owned()
}

pub(crate) fn entries(node: &Node) -> &[(Node, Node)] {
    match &node.value {
        NodeValue::Map(entries) => entries,
        _ => &[],
    }
}

pub(crate) fn field<'n>(node: &'n Node, name: &str) -> Option<&'n Node> {
    entries(node)
        .iter()
        .find(|(k, _)| k.as_str() == Some(name))
        .map(|(_, v)| v)
}

impl Loader {
    pub(crate) fn error(&mut self, node: &Node, message: impl Into<String>) {
        self.diagnostics.push(Diagnostic::new(
            self.path.clone(),
            node.line,
            node.column,
            message,
        ));
    }

    pub(crate) fn location(&self, node: &Node) -> SourceLocation {
        SourceLocation {
            path: self.path.clone(),
            line: node.line,
            column: node.column,
        }
    }

    /// Checks that `node` is a mapping whose keys are all in `known`.
    pub(crate) fn mapping(&mut self, node: &Node, what: &str, known: &[&str]) -> bool {
        let NodeValue::Map(entries) = &node.value else {
            self.error(
                node,
                format!("{what} must be a mapping, not {}", node.kind()),
            );
            return false;
        };
        let mut seen: Vec<&str> = Vec::new();
        for (key, _) in entries {
            match key.as_str() {
                Some(k) if known.contains(&k) => {
                    if seen.contains(&k) {
                        self.error(key, format!("`{k}` is given twice in {what}"));
                    }
                    seen.push(k);
                }
                Some(k) => self.error(
                    key,
                    format!(
                        "unknown key `{k}` in {what}; expected one of {}",
                        known.join(", ")
                    ),
                ),
                None => self.error(key, format!("keys of {what} must be text")),
            }
        }
        true
    }

    pub(crate) fn text(&mut self, node: &Node, what: &str) -> Option<String> {
        match node.as_str() {
            Some(t) => Some(t.to_owned()),
            None => {
                self.error(node, format!("{what} must be text, not {}", node.kind()));
                None
            }
        }
    }

    pub(crate) fn file(&mut self, root: &Node) -> Vec<Rule> {
        if root.value == NodeValue::Null {
            return Vec::new();
        }
        if !self.mapping(
            root,
            "a rule file",
            &["rules", "thresholds", "alerts", "wallets"],
        ) {
            return Vec::new();
        }
        let mut rules = Vec::new();
        if let Some(list) = field(root, "rules") {
            match &list.value {
                NodeValue::Seq(items) => {
                    for item in items {
                        if let Some(rule) = self.rule(item) {
                            rules.push(rule);
                        }
                    }
                }
                NodeValue::Null => {}
                _ => self.error(list, "`rules` must be a list of rules"),
            }
        }
        let wallets = field(root, "wallets")
            .map(|w| self.wallets(w))
            .unwrap_or_default();
        let thresholds = [field(root, "thresholds"), field(root, "alerts")];
        for section in thresholds.into_iter().flatten() {
            rules.extend(self.seed_thresholds(section, &wallets));
        }
        rules
    }

    pub(crate) fn wallets(&mut self, node: &Node) -> Vec<ContractRef> {
        let NodeValue::Seq(items) = &node.value else {
            self.error(node, "`wallets` must be a list of addresses or labels");
            return Vec::new();
        };
        items
            .iter()
            .filter_map(|item| self.contract_ref(item, false))
            .collect()
    }

    fn rule(&mut self, node: &Node) -> Option<Rule> {
        const KEYS: &[&str] = &[
            "id",
            "description",
            "severity",
            "match",
            "condition",
            "dedup",
            "title",
            "threshold",
            "group_by",
            "value",
            "for",
        ];
        if !self.mapping(node, "a rule", KEYS) {
            return None;
        }
        let before = self.diagnostics.len();
        let id = match field(node, "id") {
            Some(id_node) => self.text(id_node, "`id`").filter(|id| {
                let valid = !id.is_empty()
                    && id.len() <= 128
                    && id.bytes().all(|b| {
                        b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_'
                    });
                if !valid {
                    self.error(
                        id_node,
                        format!("rule id `{id}` may only hold a-z, 0-9, `-` and `_`"),
                    );
                }
                valid
            }),
            None => {
                self.error(node, "a rule needs an `id`");
                None
            }
        };
        let description = field(node, "description").and_then(|d| self.text(d, "`description`"));
        let severity = match field(node, "severity") {
            Some(s) => self
                .text(s, "`severity`")
                .and_then(|text| match text.parse::<Severity>() {
                    Ok(severity) => Some(severity),
                    Err(e) => {
                        self.error(s, e.to_string());
                        None
                    }
                }),
            None => Some(Severity::Medium),
        };
        let matcher = match field(node, "match") {
            Some(m) => self.matcher(m),
            None => {
                self.error(
                    node,
                    "a rule needs a `match` (event, call, transaction or signal)",
                );
                None
            }
        };
        let vocabulary = match &matcher {
            Some(Matcher::Event { .. }) => Vocabulary::EVENT,
            Some(Matcher::Call { .. }) => Vocabulary::CALL,
            Some(Matcher::Transaction { .. }) => Vocabulary::TRANSACTION,
            Some(Matcher::Signal { .. }) => Vocabulary::SIGNAL,
            None => Vocabulary::EVENT,
        };
        let is_signal = matches!(matcher, Some(Matcher::Signal { .. }));
        let compile = |loader: &mut Loader, key: &str| -> Option<Expression> {
            let node = field(node, key)?;
            let text = loader.text(node, &format!("`{key}`"))?;
            match Expression::compile(&text, vocabulary.variables) {
                Ok(e) => Some(e),
                Err(e) => {
                    loader.error(node, format!("`{key}`: {e}"));
                    None
                }
            }
        };
        let condition = compile(self, "condition");
        let value = compile(self, "value");
        let group_by = compile(self, "group_by");
        let aggregate = self.aggregate(node, is_signal, value.is_some());
        let template_vars = if aggregate.is_some() {
            vocabulary.with_window()
        } else {
            vocabulary.variables.to_vec()
        };
        let template = |loader: &mut Loader, key: &str| -> Option<Template> {
            let node = field(node, key)?;
            let text = loader.text(node, &format!("`{key}`"))?;
            match Template::compile(&text, &template_vars) {
                Ok(t) => Some(t),
                Err(e) => {
                    loader.error(node, format!("`{key}`: {e}"));
                    None
                }
            }
        };
        let title = template(self, "title");
        let dedup = template(self, "dedup");
        if self.diagnostics.len() > before {
            return None;
        }
        Some(Rule {
            id: id?,
            description,
            severity: severity?,
            matcher: matcher?,
            aggregate,
            location: self.location(node),
            condition,
            value,
            group_by,
            title,
            dedup,
        })
    }

    fn aggregate(&mut self, rule: &Node, is_signal: bool, has_value: bool) -> Option<Aggregate> {
        let threshold = field(rule, "threshold");
        let sustained = field(rule, "for");
        if let (Some(_), Some(f)) = (threshold, sustained) {
            self.error(f, "a rule has either `threshold` or `for`, not both");
            return None;
        }
        if let Some(f) = sustained {
            let text = self.text(f, "`for`")?;
            if !is_signal {
                self.error(
                    f,
                    "`for` (sustained) applies to signal rules; chain rules use `threshold`",
                );
                return None;
            }
            return match window_ms(&text) {
                Ok(for_ms) => Some(Aggregate::Sustained { for_ms }),
                Err(e) => {
                    self.error(f, format!("`for`: {e}"));
                    None
                }
            };
        }
        let node = threshold?;
        let text = self.text(node, "`threshold`")?;
        match parse_threshold(&text) {
            Ok(Threshold::Count {
                op,
                limit,
                within_ms,
            }) => {
                if matches!(op, Comparison::Less | Comparison::LessOrEqual) {
                    self.error(node, "a count window takes > or >=: a count below a limit would need a heartbeat to fire, which rules do not have yet");
                    return None;
                }
                Some(Aggregate::Count {
                    op,
                    limit,
                    within_ms,
                })
            }
            Ok(Threshold::Baseline {
                op,
                percent_milli,
                baseline_ms,
            }) => {
                if !has_value {
                    self.error(node, "a baseline threshold compares `value:`; add `value:` (e.g. `value: tx.gas_price`)");
                    return None;
                }
                let Some(within_ms) = baseline_ms else {
                    self.error(
                        node,
                        "say how long the baseline is, e.g. \"> 200% of 1h median\"",
                    );
                    return None;
                };
                Some(Aggregate::Baseline {
                    op,
                    percent_milli,
                    within_ms,
                })
            }
            Ok(Threshold::Value { .. }) => {
                self.error(node, "a `threshold` is a count (\"> 5 in 5m\") or a baseline (\"> 200% of 1h median\"); compare a value in `condition:`");
                None
            }
            Err(e) => {
                self.error(node, format!("`threshold`: {e}"));
                None
            }
        }
    }

    fn chain(&mut self, node: &Node) -> Option<Option<ChainId>> {
        let Some(chain) = field(node, "chain") else {
            return Some(None);
        };
        let text = self.text(chain, "`chain`")?;
        match ChainId::parse(&text, true) {
            Ok(id) => Some(Some(id)),
            Err(e) => {
                self.error(chain, e.to_string());
                None
            }
        }
    }

    fn matcher(&mut self, node: &Node) -> Option<Matcher> {
        if !self.mapping(node, "`match`", &["event", "call", "transaction", "signal"]) {
            return None;
        }
        let kinds: Vec<&(Node, Node)> = entries(node).iter().collect();
        if kinds.len() != 1 {
            self.error(
                node,
                "`match` takes exactly one of event, call, transaction, signal",
            );
            return None;
        }
        let (key, body) = kinds[0];
        match key.as_str() {
            Some("event") => {
                if !self.mapping(body, "`match.event`", &["contract", "signature", "chain"]) {
                    return None;
                }
                let chain = self.chain(body)?;
                let contract = self.required_contract(body)?;
                let Some(sig) = field(body, "signature") else {
                    self.error(body, "`match.event` needs a `signature` (e.g. Transfer(address,address,uint256), or just Transfer)");
                    return None;
                };
                let text = self.text(sig, "`signature`")?;
                let event = self.event_ref(sig, &text)?;
                Some(Matcher::Event {
                    chain,
                    contract,
                    event,
                })
            }
            Some("call") => {
                if !self.mapping(body, "`match.call`", &["contract", "function", "chain"]) {
                    return None;
                }
                let chain = self.chain(body)?;
                let contract = self.required_contract(body)?;
                let Some(f) = field(body, "function") else {
                    self.error(body, "`match.call` needs a `function` (e.g. withdraw(uint256), or just withdraw)");
                    return None;
                };
                let text = self.text(f, "`function`")?;
                let function = if text.contains('(') {
                    let parsed = Function::parse(&text)
                        .or_else(|_| Function::parse(&format!("function {text}")));
                    match parsed {
                        Ok(f) => ItemRef::Function {
                            signature: f.signature(),
                            selector: f.selector(),
                        },
                        Err(e) => {
                            self.error(
                                f,
                                format!(
                                    "`{text}` is not a function signature: {}",
                                    parser_message(&e)
                                ),
                            );
                            return None;
                        }
                    }
                } else {
                    self.identifier(f, &text)?;
                    ItemRef::Name(text)
                };
                Some(Matcher::Call {
                    chain,
                    contract,
                    function,
                })
            }
            Some("transaction") => {
                if !self.mapping(
                    body,
                    "`match.transaction`",
                    &["from", "to", "status", "chain"],
                ) {
                    return None;
                }
                let chain = self.chain(body)?;
                let from = field(body, "from")
                    .map(|n| self.address_filter(n))
                    .unwrap_or(Some(Vec::new()))?;
                let to = field(body, "to")
                    .map(|n| self.address_filter(n))
                    .unwrap_or(Some(Vec::new()))?;
                let success = match field(body, "status") {
                    None => None,
                    Some(s) => {
                        match self.text(s, "`status`")?.as_str() {
                            "success" | "succeeded" => Some(true),
                            "failed" | "failure" | "reverted" => Some(false),
                            "any" => None,
                            other => {
                                self.error(s, format!("`status: {other}` is not a status; use success, failed or any"));
                                return None;
                            }
                        }
                    }
                };
                Some(Matcher::Transaction {
                    chain,
                    from,
                    to,
                    success,
                })
            }
            Some("signal") => {
                let name = self.text(body, "`match.signal` (the signal's name)")?;
                self.identifier(body, &name)?;
                Some(Matcher::Signal { name })
            }
            _ => None,
        }
    }

    fn identifier(&mut self, node: &Node, text: &str) -> Option<()> {
        let valid = !text.is_empty()
            && text
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-');
        if !valid {
            self.error(node, format!("`{text}` is not a name"));
            return None;
        }
        Some(())
    }

    fn event_ref(&mut self, node: &Node, text: &str) -> Option<ItemRef> {
        if !text.contains('(') {
            self.identifier(node, text)?;
            return Some(ItemRef::Name(text.to_owned()));
        }
        let parsed = Event::parse(text).or_else(|_| Event::parse(&format!("event {text}")));
        match parsed {
            Ok(event) => {
                // `indexed` or parameter names say the writer gave the
                // layout (`Note(string message)`: nothing indexed); a bare
                // type list (`Transfer(address,address,uint256)`) does not.
                let declares_layout = event.inputs.iter().any(|p| p.indexed || !p.name.is_empty())
                    || event.inputs.is_empty();
                Some(ItemRef::Event {
                    signature: event.signature(),
                    topic: event.selector(),
                    declared: declares_layout.then_some(event),
                })
            }
            Err(e) => {
                self.error(
                    node,
                    format!("`{text}` is not an event signature: {}", parser_message(&e)),
                );
                None
            }
        }
    }

    fn required_contract(&mut self, body: &Node) -> Option<ContractRef> {
        match field(body, "contract") {
            Some(c) => self.contract_ref(c, true),
            None => {
                self.error(
                    body,
                    "say which `contract` (a label, an address, \"tag:<tag>\", or \"any\")",
                );
                None
            }
        }
    }

    pub(crate) fn contract_ref(&mut self, node: &Node, allow_tag: bool) -> Option<ContractRef> {
        let text = self.text(node, "a contract")?;
        let text = text.trim();
        if text == "any" {
            return Some(ContractRef::Any);
        }
        if let Some(tag) = text.strip_prefix("tag:") {
            if !allow_tag {
                self.error(node, "a tag is not allowed here");
                return None;
            }
            return Some(ContractRef::Tag(tag.trim().to_owned()));
        }
        if text.starts_with("0x") {
            return match argus_core::parse_address(text) {
                Ok(a) => Some(ContractRef::Address(a)),
                Err(e) => {
                    self.error(node, e.to_string());
                    None
                }
            };
        }
        if text.is_empty() {
            self.error(node, "an empty contract name");
            return None;
        }
        Some(ContractRef::Label(text.to_owned()))
    }

    fn address_filter(&mut self, node: &Node) -> Option<Vec<ContractRef>> {
        let items: Vec<&Node> = match &node.value {
            NodeValue::Seq(items) => items.iter().collect(),
            _ => vec![node],
        };
        let mut out = Vec::new();
        let mut ok = true;
        for item in items {
            match self.contract_ref(item, true) {
                Some(ContractRef::Any) => return Some(Vec::new()),
                Some(r) => out.push(r),
                None => ok = false,
            }
        }
        ok.then_some(out)
    }
}
