//! The rule loader: reads a rule file's positioned YAML tree into [`Rule`]s.
//! Every key is checked (unknown keys, wrong kinds, keys given twice), each
//! rule's `match:`, `threshold:` / `for:`, expressions and templates are
//! compiled, and every problem is collected as a [`Diagnostic`] with its
//! file, line and column rather than stopping at the first. The seed's
//! `thresholds:` shorthand (`crate::seed`) extends this same [`Loader`].

use std::fmt;

use alloy_json_abi::{Event, Function};
use argus_core::{ChainId, Diagnostic, Severity};

use super::{Aggregate, ContractRef, ItemRef, Matcher, OpenArgs, Rule, SourceLocation};
use crate::cel_type::{self, CelType, Layout, ParamInfo};
use crate::expression::{Expect, Expression, Template, Vocabulary, with_window};
use crate::threshold::{Comparison, Threshold, parse_threshold, window_ms};
use crate::yaml::{Node, NodeValue};

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
            "cooldown",
            "invariant",
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
        let cooldown_ms = field(node, "cooldown").and_then(|c| self.cooldown(c));
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
        let (mut matcher, args) = match field(node, "match").map(|m| self.matcher(m)) {
            Some(Some((matcher, args))) => (Some(matcher), args),
            Some(None) => (None, cel_type::unknown_args()),
            None => {
                self.error(
                    node,
                    "a rule needs a `match` (event, call, transaction, signal or state)",
                );
                (None, cel_type::unknown_args())
            }
        };
        let vocabulary = match &matcher {
            Some(Matcher::Event { .. }) => Vocabulary::EVENT,
            Some(Matcher::Call { .. }) => Vocabulary::CALL,
            Some(Matcher::Transaction { .. }) => Vocabulary::TRANSACTION,
            Some(Matcher::Signal { .. }) => Vocabulary::SIGNAL,
            Some(Matcher::State(_)) => Vocabulary::STATE,
            None => Vocabulary::EVENT,
        };
        let is_signal = matches!(matcher, Some(Matcher::Signal { .. }));
        let variables = vocabulary.variables(&args);
        let compile = |loader: &mut Loader, key: &str, expect: Expect| -> Option<Expression> {
            let node = field(node, key)?;
            let text = loader.text(node, &format!("`{key}`"))?;
            match Expression::compile(&text, &variables, expect) {
                Ok(e) => Some(e),
                Err(e) => {
                    loader.error(node, format!("`{key}`: {e}"));
                    None
                }
            }
        };
        let is_state = matches!(matcher, Some(Matcher::State(_)));
        let condition = if is_state {
            self.state_condition(node, &mut matcher)
                .and_then(|key| compile(self, key, Expect::Bool))
        } else {
            if let Some(invariant) = field(node, "invariant").filter(|_| matcher.is_some()) {
                self.error(
                    invariant,
                    "`invariant` belongs to state rules (`match: state:`); other rules fire when `condition` holds",
                );
            }
            compile(self, "condition", Expect::Bool)
        };
        let value = compile(self, "value", Expect::Number);
        let group_by = compile(self, "group_by", Expect::Any);
        let has_value = value.is_some() || field(node, "value").is_some();
        let aggregate = self.aggregate(node, is_signal, has_value);
        let template_vars = if aggregate.is_some() {
            with_window(&variables)
        } else {
            variables.clone()
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
        let args_open = matches!(&args, CelType::Record(record) if !record.closed);
        let open_args = (args_open
            && matches!(matcher, Some(Matcher::Event { .. } | Matcher::Call { .. })))
        .then(|| {
            let text = |key: &str| field(node, key).and_then(|n| n.as_str().map(str::to_owned));
            OpenArgs {
                vocabulary,
                expressions: [
                    ("condition", Expect::Bool),
                    ("value", Expect::Number),
                    ("group_by", Expect::Any),
                ]
                .into_iter()
                .filter_map(|(key, expect)| text(key).map(|t| (key, t, expect)))
                .collect(),
                templates: ["title", "dedup"]
                    .into_iter()
                    .filter_map(|key| text(key).map(|t| (key, t)))
                    .collect(),
                windowed: aggregate.is_some(),
            }
        });
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
            open_args,
            cooldown_ms,
        })
    }

    /// A state rule has `invariant:` (fires when false) or `condition:`
    /// (fires when true), and no window: each evaluation is one block's
    /// state. Returns the key holding the expression.
    fn state_condition(
        &mut self,
        node: &Node,
        matcher: &mut Option<Matcher>,
    ) -> Option<&'static str> {
        for key in ["threshold", "for", "value", "group_by"] {
            if let Some(extra) = field(node, key) {
                self.error(
                    extra,
                    format!("`{key}` does not apply to state rules: each evaluation is the state at one block"),
                );
            }
        }
        let key = match (field(node, "invariant"), field(node, "condition")) {
            (Some(_), Some(c)) => {
                self.error(c, "a state rule has `invariant` (alert when false) or `condition` (alert when true), not both");
                return None;
            }
            (Some(_), None) => "invariant",
            (None, Some(_)) => "condition",
            (None, None) => {
                self.error(node, "a state rule needs an `invariant` (what must hold, e.g. `reads.supply <= reads.cap`) or a `condition` (when to alert)");
                return None;
            }
        };
        if let Some(Matcher::State(spec)) = matcher {
            spec.invariant = key == "invariant";
        }
        Some(key)
    }

    /// `cooldown:` — no new notification for the same dedup key within it.
    fn cooldown(&mut self, node: &Node) -> Option<u64> {
        const MAX: std::time::Duration = std::time::Duration::from_secs(30 * 24 * 3600);
        let text = self.text(node, "`cooldown`")?;
        match argus_core::duration::parse_duration(&text) {
            Ok(d) if d.is_zero() => {
                self.error(
                    node,
                    "`cooldown`: must be more than 0s, e.g. 10m (or remove it)",
                );
                None
            }
            Ok(d) if d > MAX => {
                self.error(node, "`cooldown`: at most 30 days, e.g. 1h");
                None
            }
            Ok(d) => u64::try_from(d.as_millis()).ok(),
            Err(e) => {
                self.error(node, format!("`cooldown`: {e}"));
                None
            }
        }
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

    /// The `match:` of a rule, and the type of `args` its signature gives.
    fn matcher(&mut self, node: &Node) -> Option<(Matcher, CelType)> {
        if !self.mapping(
            node,
            "`match`",
            &["event", "call", "transaction", "signal", "state"],
        ) {
            return None;
        }
        let kinds: Vec<&(Node, Node)> = entries(node).iter().collect();
        if kinds.len() != 1 {
            self.error(
                node,
                "`match` takes exactly one of event, call, transaction, signal, state",
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
                let (event, args) = self.event_ref(sig, &text)?;
                Some((
                    Matcher::Event {
                        chain,
                        contract,
                        event,
                    },
                    args,
                ))
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
                let (function, args) = if text.contains('(') {
                    let parsed = Function::parse(&text)
                        .or_else(|_| Function::parse(&format!("function {text}")));
                    match parsed {
                        Ok(function) => {
                            let params: Vec<ParamInfo<'_>> =
                                function.inputs.iter().map(ParamInfo::from).collect();
                            let layout = Layout {
                                names: params.iter().all(|p| !p.name.is_empty()),
                                indexing: true,
                            };
                            let what = format!("the function `{}`", function.signature());
                            let args = match cel_type::args_type(&params, layout, what) {
                                Ok(args) => args,
                                Err(e) => {
                                    self.error(f, format!("`{text}`: {e}"));
                                    return None;
                                }
                            };
                            let item = ItemRef::Function {
                                signature: function.signature(),
                                selector: function.selector(),
                            };
                            (item, args)
                        }
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
                    (ItemRef::Name(text), cel_type::unknown_args())
                };
                Some((
                    Matcher::Call {
                        chain,
                        contract,
                        function,
                    },
                    args,
                ))
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
                Some((
                    Matcher::Transaction {
                        chain,
                        from,
                        to,
                        success,
                    },
                    cel_type::unknown_args(),
                ))
            }
            Some("state") => self.state_matcher(body),
            Some("signal") => {
                let name = self.text(body, "`match.signal` (the signal's name)")?;
                self.identifier(body, &name)?;
                Some((Matcher::Signal { name }, cel_type::unknown_args()))
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

    /// The event a rule names, and the type of `args` its signature gives.
    fn event_ref(&mut self, node: &Node, text: &str) -> Option<(ItemRef, CelType)> {
        if !text.contains('(') {
            self.identifier(node, text)?;
            return Some((ItemRef::Name(text.to_owned()), cel_type::unknown_args()));
        }
        let parsed = Event::parse(text).or_else(|_| Event::parse(&format!("event {text}")));
        match parsed {
            Ok(event) => {
                // `indexed` or parameter names say the writer gave the
                // layout (`Note(string message)`: nothing indexed); a bare
                // type list (`Transfer(address,address,uint256)`) does not.
                let declares_layout = event.inputs.iter().any(|p| p.indexed || !p.name.is_empty())
                    || event.inputs.is_empty();
                let params: Vec<ParamInfo<'_>> = event.inputs.iter().map(ParamInfo::from).collect();
                let layout = Layout {
                    names: params.iter().all(|p| !p.name.is_empty()),
                    indexing: declares_layout,
                };
                let what = format!("the event `{}`", event.signature());
                let args = match cel_type::args_type(&params, layout, what) {
                    Ok(args) => args,
                    Err(e) => {
                        self.error(node, format!("`{text}`: {e}"));
                        return None;
                    }
                };
                Some((
                    ItemRef::Event {
                        signature: event.signature(),
                        topic: event.selector(),
                        declared: declares_layout.then_some(event),
                    },
                    args,
                ))
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
