//! The rule file: its schema, read from the positioned YAML tree with every
//! error collected (file, line, column), and the seed's `thresholds:`
//! shorthand turned into ordinary rules.
//!
//! A file has `rules:` (a list of rules) and may have `thresholds:` (alias
//! `alerts:`, as the operators' procedure writes it) with `wallets:`. See the
//! crate docs for the fields of a rule.
//!
//! Split by job: this module holds the model a rule file compiles to
//! ([`Rule`], its [`Matcher`], [`ContractRef`], [`ItemRef`], [`Aggregate`],
//! [`SourceLocation`]) and the [`RuleSet`] callers load and query; `loader`
//! reads the positioned YAML tree into that model, collecting every
//! problem as a located diagnostic (the seed's `thresholds:` shorthand is
//! read by the same loader, in `crate::seed`).

mod loader;

use std::fmt;

use alloy_json_abi::Event;
use alloy_primitives::{Address, B256, Selector};
use argus_core::{ChainId, Diagnostic, Severity};

use crate::expression::{Expression, Template};
use crate::threshold::Comparison;
use crate::yaml;

pub(crate) use loader::{Loader, entries, field};

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
    /// State read at a block (`crate::state`).
    State(Box<crate::state::StateSpec>),
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
    /// For event and call rules whose signature does not name every
    /// parameter (`Transfer`, `Transfer(address,address,uint256)`): what
    /// is checked again against each ABI item the rule binds to.
    pub(crate) open_args: Option<OpenArgs>,
    /// `cooldown:` in milliseconds: the alert pipeline notifies a dedup key
    /// of this rule at most once within it (the others are suppressed as
    /// duplicates).
    pub cooldown_ms: Option<u64>,
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

/// The texts of a rule whose `args` the loader could not type (the
/// signature names no parameters), kept to be checked again when the rule
/// binds to the registry's ABIs, which do name them (`crate::recheck`).
#[derive(Debug, Clone)]
pub(crate) struct OpenArgs {
    pub(crate) vocabulary: crate::expression::Vocabulary,
    /// `condition`, `value`, `group_by`: key, text, what it must give.
    pub(crate) expressions: Vec<(&'static str, String, crate::expression::Expect)>,
    /// `title`, `dedup`: key, text.
    pub(crate) templates: Vec<(&'static str, String)>,
    /// Templates of windowed rules also read `window`.
    pub(crate) windowed: bool,
}
