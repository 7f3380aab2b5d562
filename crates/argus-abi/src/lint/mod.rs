//! The interface linter.
//!
//! The seed procedure asks that "hexadecimal signatures of principally
//! different interfaces do not collide", that "principally different
//! interfaces are named differently across the whole infrastructure", and that
//! "parameters and indexed arguments across infrastructure are the same for the
//! same interfaces with the same signature". Each of those is one [`Rule`]
//! here; [`lint`] runs them all over an [`InterfaceSet`] in one pass.
//!
//! The pass interns every distinct signature once (one keccak per distinct
//! signature, not per occurrence), records each occurrence with a fingerprint
//! of what must agree between occurrences (parameter names, indexing, outputs),
//! and sorts occurrences by signature so that every check is a walk over
//! contiguous groups. Details of an item are only looked up again for the few
//! occurrences that end up in a finding.

mod allow;
mod index;
mod rules;
mod standard;

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use crate::interface::{InterfaceSet, Origin};

pub use allow::{AllowEntry, AllowList, AllowListError};
pub use standard::{StandardSignature, standard_signatures};

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Breaks calls, decoding or monitoring; fails the lint.
    Error,
    /// Likely a mistake or a trap for whoever writes filters and rules.
    Warning,
    /// Worth knowing.
    Note,
}

impl Level {
    /// The lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warning => "warning",
            Level::Note => "note",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Level {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim().to_ascii_lowercase().as_str() {
            "error" => Ok(Level::Error),
            "warning" | "warn" => Ok(Level::Warning),
            "note" | "info" => Ok(Level::Note),
            _ => Err(format!(
                "`{text}` is not a level; use error, warning or note"
            )),
        }
    }
}

/// The checks the linter runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rule {
    /// Different function or error signatures share a 4-byte selector.
    SelectorCollision,
    /// Different event signatures share a topic.
    EventTopicCollision,
    /// A proxy and its implementation both have a function with one selector.
    ProxySelectorClash,
    /// A signature shares a selector with a standard interface's, but differs.
    StandardSelectorCollision,
    /// A signature shares a selector with one of a reference list, but differs.
    ReferenceSelectorCollision,
    /// One event signature declared with different `indexed` flags or `anonymous`.
    EventLayoutMismatch,
    /// A state-changing function that emits no event on any path (from the
    /// compiler's AST, see [`crate::ast`]).
    FunctionWithoutEvent,
    /// One event name declared with different parameter types.
    EventSignatureMismatch,
    /// One function signature declared with different return types.
    ReturnTypeMismatch,
    /// One signature declared with different parameter names.
    ParamNameMismatch,
    /// Different function or error signatures share a name across contracts.
    NameReuse,
    /// A standard event declared with indexing no standard uses.
    StandardEventLayout,
}

impl Rule {
    /// Every rule, in report order.
    pub const ALL: [Rule; 12] = [
        Rule::SelectorCollision,
        Rule::EventTopicCollision,
        Rule::ProxySelectorClash,
        Rule::StandardSelectorCollision,
        Rule::ReferenceSelectorCollision,
        Rule::EventLayoutMismatch,
        Rule::EventSignatureMismatch,
        Rule::ReturnTypeMismatch,
        Rule::ParamNameMismatch,
        Rule::NameReuse,
        Rule::StandardEventLayout,
        Rule::FunctionWithoutEvent,
    ];

    /// The rule's id, as used in output and allow-lists.
    pub fn id(self) -> &'static str {
        match self {
            Rule::SelectorCollision => "selector-collision",
            Rule::EventTopicCollision => "event-topic-collision",
            Rule::ProxySelectorClash => "proxy-selector-clash",
            Rule::StandardSelectorCollision => "standard-selector-collision",
            Rule::ReferenceSelectorCollision => "reference-selector-collision",
            Rule::EventLayoutMismatch => "event-layout-mismatch",
            Rule::EventSignatureMismatch => "event-signature-mismatch",
            Rule::ReturnTypeMismatch => "return-type-mismatch",
            Rule::ParamNameMismatch => "param-name-mismatch",
            Rule::NameReuse => "name-reuse",
            Rule::StandardEventLayout => "standard-event-layout",
            Rule::FunctionWithoutEvent => "function-without-event",
        }
    }

    /// The level a finding of this rule has.
    pub fn level(self) -> Level {
        match self {
            Rule::ParamNameMismatch
            | Rule::NameReuse
            | Rule::StandardEventLayout
            | Rule::FunctionWithoutEvent => Level::Warning,
            _ => Level::Error,
        }
    }

    /// One line on what the rule finds.
    pub fn summary(self) -> &'static str {
        match self {
            Rule::SelectorCollision => {
                "different function or error signatures share a 4-byte selector"
            }
            Rule::EventTopicCollision => "different event signatures share a topic",
            Rule::ProxySelectorClash => {
                "a proxy and its implementation both have a function with the same selector"
            }
            Rule::StandardSelectorCollision => {
                "a signature shares its selector with a standard interface's, but differs from it"
            }
            Rule::ReferenceSelectorCollision => {
                "a signature shares its selector with one of a reference list, but differs from it"
            }
            Rule::EventLayoutMismatch => {
                "one event signature is declared with different indexed flags or anonymity"
            }
            Rule::EventSignatureMismatch => {
                "one event name is declared with different parameter types"
            }
            Rule::ReturnTypeMismatch => {
                "one function signature is declared with different return types"
            }
            Rule::ParamNameMismatch => "one signature is declared with different parameter names",
            Rule::NameReuse => {
                "different function or error signatures share one name across contracts"
            }
            Rule::StandardEventLayout => {
                "a standard event is declared with indexing that no standard uses"
            }
            Rule::FunctionWithoutEvent => {
                "an external state-changing function emits no event on any path"
            }
        }
    }

    /// Why it matters and what to do.
    pub fn help(self) -> &'static str {
        match self {
            Rule::SelectorCollision => {
                "a call or revert meant for one signature is taken for the other wherever both \
                 can be reached, and decoders cannot tell them apart; rename one of them"
            }
            Rule::EventTopicCollision => {
                "a log filter on this topic matches both events; rename one of them"
            }
            Rule::ProxySelectorClash => {
                "calls with this selector stop at the proxy and never reach the implementation; \
                 rename the implementation's function or use a transparent proxy pattern"
            }
            Rule::StandardSelectorCollision => {
                "wallets, indexers and monitors decode this selector as the standard function; \
                 rename the function"
            }
            Rule::ReferenceSelectorCollision => {
                "tools that decode with the reference list show the other signature; rename the \
                 function or accept the finding in the allow-list"
            }
            Rule::EventLayoutMismatch => {
                "the topic is the same but the data layout differs, so a filter or decoder \
                 written for one declaration misreads or misses the other; declare it identically"
            }
            Rule::EventSignatureMismatch => {
                "a monitor that watches the event by name watches only one of the signatures; \
                 use one declaration or give the variants different names"
            }
            Rule::ReturnTypeMismatch => {
                "callers decode the return data of one declaration with the types of the other; \
                 declare one interface"
            }
            Rule::ParamNameMismatch => {
                "rules and dashboards that refer to arguments by name work for one declaration \
                 only; use the same names"
            }
            Rule::NameReuse => {
                "people and rules that refer to the function by name mean different interfaces; \
                 give different interfaces different names"
            }
            Rule::StandardEventLayout => {
                "indexers expect the standard indexing and misread this event; index it as the \
                 standard does"
            }
            Rule::FunctionWithoutEvent => {
                "a monitor sees such a call only in calldata, never through a log filter, and \
                 misses it when it comes through a multisig, a timelock or another contract; \
                 emit an event describing the change, or accept the finding in the allow-list"
            }
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

impl FromStr for Rule {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Rule::ALL
            .into_iter()
            .find(|rule| rule.id() == text.trim())
            .ok_or_else(|| format!("`{text}` is not a lint rule"))
    }
}

/// One place an item is declared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Location {
    /// Which source of the report's origins.
    pub origin: usize,
    /// The declaration as written there (with names, `indexed`, outputs).
    pub declaration: String,
    /// The line, for signature lists.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
}

/// The places that agree with each other, within a finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Group {
    /// What they share: a signature, a layout, a set of names.
    pub title: String,
    pub locations: Vec<Location>,
    /// Locations left out to keep the report readable.
    #[serde(skip_serializing_if = "is_zero")]
    pub omitted: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// One problem the linter found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub rule: Rule,
    pub level: Level,
    /// What identifies the finding across runs, e.g. the selector; with the
    /// rule, what an allow-list entry names.
    pub key: String,
    pub message: String,
    pub groups: Vec<Group>,
}

/// Figures on what was linted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LintStats {
    pub sources: usize,
    pub occurrences: usize,
    pub distinct_signatures: usize,
    pub proxies: usize,
}

/// The result of a lint.
#[derive(Debug, Clone, Serialize)]
pub struct LintReport {
    pub origins: Vec<Origin>,
    pub findings: Vec<Finding>,
    /// Findings the allow-list accepted.
    pub allowed: Vec<Finding>,
    /// Findings below the reporting threshold.
    pub below_threshold: usize,
    /// Allow-list entries that matched nothing.
    pub unused_allow_entries: Vec<AllowEntry>,
    pub stats: LintStats,
}

impl LintReport {
    /// Whether an error-level finding remains.
    pub fn has_errors(&self) -> bool {
        self.findings.iter().any(|f| f.level == Level::Error)
    }

    /// The number of findings at a level.
    pub fn count(&self, level: Level) -> usize {
        self.findings.iter().filter(|f| f.level == level).count()
    }
}

/// What to lint and how.
#[derive(Debug, Clone)]
pub struct LintOptions {
    /// Check against the bundled table of standard interfaces.
    pub standard_interfaces: bool,
    /// Accepted findings.
    pub allow: AllowList,
    /// Findings below this level are counted, not reported.
    pub min_level: Level,
    /// At most this many locations per group in the report.
    pub max_locations: usize,
}

impl Default for LintOptions {
    fn default() -> Self {
        Self {
            standard_interfaces: true,
            allow: AllowList::default(),
            min_level: Level::Note,
            max_locations: 50,
        }
    }
}

/// A state-changing function from which no event is reachable, as
/// [`crate::ast`] found it: the input of `function-without-event`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SilentFunction {
    /// The deployable contract the function is part of.
    pub contract: String,
    /// `name(types)`.
    pub signature: String,
    /// The source file of the declaration, and its line when known.
    pub source: String,
    pub line: Option<u32>,
}

/// Lints every interface of `set` as one infrastructure.
pub fn lint(set: &InterfaceSet, options: &LintOptions) -> LintReport {
    lint_with_functions(set, &[], options)
}

/// [`lint`], and a `function-without-event` finding for each silent
/// function (keyed `Contract.name(types)`, which is what an allow-list
/// entry names).
pub fn lint_with_functions(
    set: &InterfaceSet,
    silent: &[SilentFunction],
    options: &LintOptions,
) -> LintReport {
    let index = index::SignatureIndex::build(set);
    let mut findings = rules::run(set, &index, options);
    let mut origins: Vec<Origin> = set.sources().iter().map(|s| s.origin.clone()).collect();
    for function in silent {
        let origin = origins
            .iter()
            .position(|o| {
                o.label == function.contract
                    && o.path.as_deref() == Some(std::path::Path::new(&function.source))
            })
            .unwrap_or_else(|| {
                origins
                    .push(Origin::labelled(function.contract.clone()).with_path(&function.source));
                origins.len() - 1
            });
        let key = format!("{}.{}", function.contract, function.signature);
        findings.push(Finding {
            rule: Rule::FunctionWithoutEvent,
            level: Rule::FunctionWithoutEvent.level(),
            message: format!("`{key}` changes state and emits no event on any path"),
            key,
            groups: vec![Group {
                title: function.signature.clone(),
                locations: vec![Location {
                    origin,
                    declaration: function.signature.clone(),
                    line: function.line,
                }],
                omitted: 0,
            }],
        });
    }
    findings.sort_by(|a, b| (a.level, a.rule, &a.key).cmp(&(b.level, b.rule, &b.key)));

    let mut used = vec![false; options.allow.entries().len()];
    let mut kept = Vec::new();
    let mut allowed = Vec::new();
    let mut below_threshold = 0;
    for finding in findings {
        if let Some(i) = options.allow.matching(finding.rule, &finding.key) {
            used[i] = true;
            allowed.push(finding);
        } else if finding.level > options.min_level {
            below_threshold += 1;
        } else {
            kept.push(finding);
        }
    }
    let unused_allow_entries = options
        .allow
        .entries()
        .iter()
        .zip(used)
        .filter(|(_, used)| !used)
        .map(|(entry, _)| entry.clone())
        .collect();
    LintReport {
        origins,
        findings: kept,
        allowed,
        below_threshold,
        unused_allow_entries,
        stats: LintStats {
            sources: set.len(),
            occurrences: index.occurrences.len(),
            distinct_signatures: index.signatures.len(),
            proxies: set.proxies().len(),
        },
    }
}
