//! What a contract's functions do, read from the compiler's AST: whether a
//! function emits an event on some path, which events it can emit, and
//! whether an owner or role guards it.
//!
//! The operators' procedure asks that "every executable method should emit an
//! event in such format that it is convenient for monitoring", and a coverage
//! figure has to know which functions are privileged. An ABI says neither;
//! the solc AST that Foundry (`out/<File>.sol/<Name>.json`, key `ast`, with
//! `ast = true`) and Hardhat (`artifacts/build-info/<id>.json`,
//! `output.sources[..].ast`) keep does.
//!
//! How it works: every function and modifier body is walked once and reduced
//! to a few facts (events emitted directly, an inline-assembly `log0`..`log4`,
//! the functions and modifiers it refers to). Whether a contract's external
//! function emits is then a search over those facts from the function through
//! its modifiers and every internal function it reaches, resolved the way the
//! compiler dispatches them: a call to a virtual function goes to the most
//! derived override in the contract's linearization, `super.f()` to the next
//! one after the caller's contract. The search is "on any path": one
//! reachable `emit` is enough.
//!
//! What it does not see: an event emitted by *another* contract the function
//! calls (an external call: `token.transfer(..)`) is not the function's
//! event; a `delegatecall` to code outside the compilation; function pointers
//! stored in state. Those functions are reported as silent, which is the safe
//! side for a lint and what an allow-list entry is for.
//!
//! Pure: the caller reads the files (see `argus_registry::artifact::ast`) and
//! hands over the JSON; nothing here reads a file, and no input panics.

mod walk;

use std::collections::{HashMap, HashSet};

use alloy_primitives::{B256, Selector};
use serde::Serialize;
use serde_json::Value;

use walk::{Body, Ref, reduce_body};

/// One compiler run's ASTs, as read from build output.
#[derive(Debug, Clone, Default)]
pub struct Compilation {
    /// Where it was read from (a Foundry `out/` folder, a build-info file).
    pub origin: String,
    /// The `SourceUnit` nodes, one per source file.
    pub units: Vec<Value>,
    /// Per `(source path, contract name)`: the contract's method identifiers
    /// (`"transfer(address,uint256)" → "a9059cbb"`), from the same output.
    pub method_ids: HashMap<(String, String), HashMap<String, String>>,
    /// Source texts by path, where known, to turn offsets into lines.
    pub sources: HashMap<String, String>,
}

/// How a function can be reached from outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Entry {
    Function,
    Fallback,
    Receive,
}

/// What the AST says of one externally callable function of a contract.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FunctionFacts {
    /// `name(types)`, canonical as in the ABI (`fallback()` / `receive()`).
    pub signature: String,
    pub selector: Option<Selector>,
    pub entry: Entry,
    /// Not `view` or `pure`.
    pub state_changing: bool,
    /// The modifiers that guard it (`onlyOwner`, `onlyRole`), and internal
    /// checks it reaches (`_checkOwner`, `_checkRole`).
    pub guards: Vec<String>,
    /// Guarded by an owner or a role.
    pub privileged: bool,
    /// An `emit` or an assembly `log*` is reachable from it.
    pub emits: bool,
    /// The topics of the events it can emit (assembly logs have none here).
    pub events: Vec<B256>,
    /// The contract that declares the function (a base, for inherited ones).
    pub declared_in: String,
    /// The source file and 1-based line of the declaration, when known.
    pub source: String,
    pub line: Option<u32>,
}

/// One deployable contract (not an interface, a library or abstract).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContractFacts {
    pub name: String,
    /// The source path as the compiler saw it (`src/Token.sol`).
    pub source: String,
    pub functions: Vec<FunctionFacts>,
}

impl ContractFacts {
    /// The state-changing functions from which no event is reachable.
    pub fn silent_functions(&self) -> impl Iterator<Item = &FunctionFacts> {
        self.functions
            .iter()
            .filter(|f| f.state_changing && !f.emits)
    }
}

/// Whether a source path belongs to a dependency, a test or a script rather
/// than the project's own contracts (`lib/`, `node_modules/`, `*.t.sol`,
/// `*.s.sol`): the lint reports only the project's own.
pub fn is_dependency_source(path: &str) -> bool {
    let path = path.trim_start_matches("./");
    path.starts_with("lib/")
        || path.starts_with("node_modules/")
        || path.contains("node_modules/")
        || path.starts_with('@')
        || path.ends_with(".t.sol")
        || path.ends_with(".s.sol")
}

/// Modifier names that guard by owner or role. `whenNotPaused`,
/// `nonReentrant`, `initializer` guard state, not privilege.
fn is_privilege_guard(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.starts_with("only")
        || matches!(
            lower.as_str(),
            "auth" | "requiresauth" | "ifadmin" | "_checkowner" | "_checkrole" | "_onlyowner"
        )
}

/// Internal functions whose call is an owner or role check.
const GUARD_FUNCTIONS: &[&str] = &["_checkOwner", "_checkRole", "_onlyOwner"];

#[derive(Debug)]
struct ContractNode {
    name: String,
    source: String,
    deployable: bool,
    /// Linearized bases, most derived first (the contract itself first).
    bases: Vec<i64>,
    functions: Vec<i64>,
    modifiers: Vec<i64>,
}

#[derive(Debug)]
struct Callable {
    name: String,
    scope: i64,
    /// `function`, `fallback`, `receive`, `constructor`, `modifier`, `freeFunction`.
    kind: String,
    visibility: String,
    mutability: String,
    selector: Option<String>,
    params: String,
    implemented: bool,
    /// Modifier invocations: the name and the declaration referred to.
    modifiers: Vec<(String, Option<i64>)>,
    body: Body,
    src: Option<(String, usize)>,
}

/// The index over one compilation.
#[derive(Debug, Default)]
pub struct AstIndex {
    contracts: HashMap<i64, ContractNode>,
    /// Contracts in source order, for a stable report.
    order: Vec<i64>,
    callables: HashMap<i64, Callable>,
    /// Event id → topic.
    events: HashMap<i64, B256>,
    method_ids: HashMap<(String, String), HashMap<String, String>>,
    /// Source file index (the third part of `src`) → path.
    file_ids: HashMap<u64, String>,
    sources: HashMap<String, String>,
}

fn int(value: &Value, key: &str) -> Option<i64> {
    value.get(key).and_then(Value::as_i64)
}

fn text<'a>(value: &'a Value, key: &str) -> &'a str {
    value.get(key).and_then(Value::as_str).unwrap_or_default()
}

fn array<'a>(value: &'a Value, key: &str) -> &'a [Value] {
    value
        .get(key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

impl AstIndex {
    /// Indexes a compilation. Nodes that do not have the expected shape are
    /// skipped, never a panic.
    pub fn new(compilation: &Compilation) -> Self {
        let mut index = AstIndex {
            method_ids: compilation.method_ids.clone(),
            sources: compilation.sources.clone(),
            ..AstIndex::default()
        };
        let mut seen_units = HashSet::new();
        for unit in &compilation.units {
            let path = text(unit, "absolutePath").to_owned();
            if text(unit, "nodeType") != "SourceUnit" || !seen_units.insert(path.clone()) {
                continue;
            }
            if let Some(file) = text(unit, "src")
                .rsplit(':')
                .next()
                .and_then(|f| f.parse().ok())
            {
                index.file_ids.insert(file, path.clone());
            }
            for node in array(unit, "nodes") {
                match text(node, "nodeType") {
                    "ContractDefinition" => index.add_contract(node, &path),
                    "FunctionDefinition" => index.add_callable(node, -1),
                    "EventDefinition" => index.add_event(node),
                    _ => {}
                }
            }
        }
        index
    }

    fn add_contract(&mut self, node: &Value, path: &str) {
        let Some(id) = int(node, "id") else { return };
        let kind = text(node, "contractKind");
        let is_abstract = node.get("abstract").and_then(Value::as_bool) == Some(true);
        let mut contract = ContractNode {
            name: text(node, "name").to_owned(),
            source: path.to_owned(),
            deployable: kind == "contract" && !is_abstract,
            bases: array(node, "linearizedBaseContracts")
                .iter()
                .filter_map(Value::as_i64)
                .collect(),
            functions: Vec::new(),
            modifiers: Vec::new(),
        };
        if contract.bases.first() != Some(&id) {
            contract.bases.insert(0, id);
        }
        for member in array(node, "nodes") {
            let Some(member_id) = int(member, "id") else {
                continue;
            };
            match text(member, "nodeType") {
                "FunctionDefinition" => {
                    self.add_callable(member, id);
                    contract.functions.push(member_id);
                }
                "ModifierDefinition" => {
                    self.add_callable(member, id);
                    contract.modifiers.push(member_id);
                }
                "EventDefinition" => self.add_event(member),
                _ => {}
            }
        }
        self.order.push(id);
        self.contracts.insert(id, contract);
    }

    fn add_event(&mut self, node: &Value) {
        let (Some(id), Some(selector)) = (int(node, "id"), node.get("eventSelector")) else {
            return;
        };
        if let Some(topic) = selector
            .as_str()
            .and_then(|s| s.trim_start_matches("0x").parse::<B256>().ok())
        {
            self.events.insert(id, topic);
        }
    }

    fn add_callable(&mut self, node: &Value, scope: i64) {
        let Some(id) = int(node, "id") else { return };
        let is_modifier = text(node, "nodeType") == "ModifierDefinition";
        let params = array(node.get("parameters").unwrap_or(&Value::Null), "parameters")
            .iter()
            .map(|p| {
                p.get("typeDescriptions")
                    .map(|t| text(t, "typeString"))
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect::<Vec<_>>()
            .join(",");
        let body_node = node.get("body").filter(|b| !b.is_null());
        let mut body = body_node.map(reduce_body).unwrap_or_default();
        let mut modifiers = Vec::new();
        for invocation in array(node, "modifiers") {
            let name_node = invocation.get("modifierName").unwrap_or(&Value::Null);
            let name = text(name_node, "name");
            // `name` is an IdentifierPath (`onlyRole`) or, in older
            // compilers, an Identifier; a path like `A.m` keeps its last part.
            let name = name.rsplit('.').next().unwrap_or(name).to_owned();
            modifiers.push((name, int(name_node, "referencedDeclaration")));
            if let Some(arguments) = invocation.get("arguments") {
                body.merge(reduce_body(arguments));
            }
        }
        let src = text(node, "src");
        let mut parts = src.split(':');
        let start = parts.next().and_then(|s| s.parse::<usize>().ok());
        let file = parts.nth(1).and_then(|s| s.parse::<u64>().ok());
        self.callables.insert(
            id,
            Callable {
                name: text(node, "name").to_owned(),
                scope,
                kind: if is_modifier {
                    "modifier".to_owned()
                } else if scope < 0 {
                    "freeFunction".to_owned()
                } else {
                    text(node, "kind").to_owned()
                },
                visibility: text(node, "visibility").to_owned(),
                mutability: text(node, "stateMutability").to_owned(),
                selector: node
                    .get("functionSelector")
                    .and_then(Value::as_str)
                    .map(str::to_ascii_lowercase),
                params,
                implemented: body_node.is_some(),
                modifiers,
                body,
                src: start.zip(file).map(|(s, f)| (f.to_string(), s)),
            },
        );
    }

    /// The facts of every deployable contract, in source order.
    pub fn contracts(&self) -> Vec<ContractFacts> {
        self.order
            .iter()
            .filter_map(|id| {
                let contract = self.contracts.get(id)?;
                contract.deployable.then(|| self.contract_facts(contract))
            })
            .collect()
    }

    fn contract_facts(&self, contract: &ContractNode) -> ContractFacts {
        let method_ids = self
            .method_ids
            .get(&(contract.source.clone(), contract.name.clone()));
        let by_selector: HashMap<&str, &str> = method_ids
            .map(|ids| {
                ids.iter()
                    .map(|(signature, selector)| (selector.as_str(), signature.as_str()))
                    .collect()
            })
            .unwrap_or_default();
        let mut seen: HashSet<String> = HashSet::new();
        let mut functions = Vec::new();
        for base in &contract.bases {
            let Some(base_node) = self.contracts.get(base) else {
                continue;
            };
            for function_id in &base_node.functions {
                let Some(function) = self.callables.get(function_id) else {
                    continue;
                };
                let entry = match function.kind.as_str() {
                    "function" => Entry::Function,
                    "fallback" => Entry::Fallback,
                    "receive" => Entry::Receive,
                    _ => continue,
                };
                if !matches!(function.visibility.as_str(), "public" | "external")
                    || !function.implemented
                {
                    continue;
                }
                let key = match (&entry, &function.selector) {
                    (Entry::Function, Some(selector)) => selector.clone(),
                    (Entry::Function, None) => format!("{}({})", function.name, function.params),
                    (Entry::Fallback, _) => "fallback".to_owned(),
                    (Entry::Receive, _) => "receive".to_owned(),
                };
                // The most derived declaration wins (an override hides its base's).
                if !seen.insert(key) {
                    continue;
                }
                functions.push(self.function_facts(
                    contract,
                    base_node,
                    function,
                    entry,
                    &by_selector,
                ));
            }
        }
        ContractFacts {
            name: contract.name.clone(),
            source: contract.source.clone(),
            functions,
        }
    }

    fn function_facts(
        &self,
        contract: &ContractNode,
        declared_in: &ContractNode,
        function: &Callable,
        entry: Entry,
        by_selector: &HashMap<&str, &str>,
    ) -> FunctionFacts {
        let signature = match entry {
            Entry::Fallback => "fallback()".to_owned(),
            Entry::Receive => "receive()".to_owned(),
            Entry::Function => function
                .selector
                .as_deref()
                .and_then(|s| by_selector.get(s))
                .map(|s| (*s).to_owned())
                .unwrap_or_else(|| format!("{}({})", function.name, abi_types(&function.params))),
        };
        let selector = function
            .selector
            .as_deref()
            .and_then(|s| alloy_primitives::hex::decode(s).ok())
            .and_then(|bytes| <[u8; 4]>::try_from(bytes.as_slice()).ok())
            .map(Selector::from);
        let reach = self.reach(contract, function);
        let mut guards: Vec<String> = function
            .modifiers
            .iter()
            .map(|(name, _)| name.clone())
            .filter(|name| is_privilege_guard(name))
            .collect();
        for name in &reach.called {
            if GUARD_FUNCTIONS.contains(&name.as_str()) && !guards.contains(name) {
                guards.push(name.clone());
            }
        }
        let (source, line) = match &function.src {
            Some((file, start)) => {
                let path = self
                    .file_ids
                    .get(&file.parse().unwrap_or(u64::MAX))
                    .cloned()
                    .unwrap_or_else(|| declared_in.source.clone());
                let line = self.sources.get(&path).map(|text| line_of(text, *start));
                (path, line)
            }
            None => (declared_in.source.clone(), None),
        };
        FunctionFacts {
            signature,
            selector,
            entry,
            state_changing: !matches!(function.mutability.as_str(), "view" | "pure"),
            privileged: !guards.is_empty(),
            guards,
            emits: reach.emits,
            events: reach.events,
            declared_in: declared_in.name.clone(),
            source,
            line,
        }
    }

    /// Everything reachable from `function` as compiled into `contract`.
    fn reach(&self, contract: &ContractNode, function: &Callable) -> Reach {
        let mut reach = Reach::default();
        let mut visited: HashSet<i64> = HashSet::new();
        let mut stack: Vec<(&Callable, Option<i64>)> = vec![(function, None)];
        let mut first = true;
        while let Some((callable, id)) = stack.pop() {
            if let Some(id) = id
                && !visited.insert(id)
            {
                continue;
            }
            if !first {
                reach.called.push(callable.name.clone());
            }
            first = false;
            if !callable.body.events.is_empty() || callable.body.assembly_log {
                reach.emits = true;
            }
            for event in &callable.body.events {
                if let Some(topic) = self.events.get(event)
                    && !reach.events.contains(topic)
                {
                    reach.events.push(*topic);
                }
            }
            for (name, declaration) in &callable.modifiers {
                if let Some(target) = self.resolve_modifier(contract, name, *declaration) {
                    stack.push(target);
                }
            }
            for reference in &callable.body.refs {
                if let Some(target) = self.resolve(contract, callable, reference) {
                    stack.push(target);
                }
            }
        }
        reach.events.sort();
        reach
    }

    fn resolve_modifier(
        &self,
        contract: &ContractNode,
        name: &str,
        declaration: Option<i64>,
    ) -> Option<(&Callable, Option<i64>)> {
        let declared = declaration.and_then(|id| self.callables.get(&id));
        if declared.is_some_and(|d| d.kind != "modifier") {
            return None; // a base constructor call in the modifier list
        }
        // Modifiers are virtual: the most derived one of that name runs.
        for base in &contract.bases {
            let Some(node) = self.contracts.get(base) else {
                continue;
            };
            for id in &node.modifiers {
                if let Some(m) = self.callables.get(id)
                    && m.name == name
                    && m.implemented
                {
                    return Some((m, Some(*id)));
                }
            }
        }
        declaration.and_then(|id| self.callables.get(&id).map(|c| (c, Some(id))))
    }

    fn resolve(
        &self,
        contract: &ContractNode,
        caller: &Callable,
        reference: &Ref,
    ) -> Option<(&Callable, Option<i64>)> {
        let target = self.callables.get(&reference.id)?;
        if target.kind == "modifier" {
            return None;
        }
        let in_contract = contract.bases.contains(&target.scope);
        if !in_contract {
            // A library function or a free function: runs as written.
            return Some((target, Some(reference.id)));
        }
        // Virtual dispatch over the linearization: from the start for a plain
        // call, after the caller's own contract for `super.f()`.
        let start = if reference.is_super {
            contract
                .bases
                .iter()
                .position(|b| *b == caller.scope)
                .map_or(contract.bases.len(), |p| p + 1)
        } else {
            0
        };
        for base in contract.bases.iter().skip(start) {
            let Some(node) = self.contracts.get(base) else {
                continue;
            };
            for id in &node.functions {
                if let Some(f) = self.callables.get(id)
                    && f.name == target.name
                    && f.params == target.params
                    && f.implemented
                {
                    return Some((f, Some(*id)));
                }
            }
        }
        Some((target, Some(reference.id)))
    }
}

#[derive(Debug, Default)]
struct Reach {
    emits: bool,
    events: Vec<B256>,
    /// Names of the functions and modifiers reached.
    called: Vec<String>,
}

/// ABI types from solc type strings, for a function without method ids.
fn abi_types(params: &str) -> String {
    params
        .split(',')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let p = p
                .trim_end_matches(" memory")
                .trim_end_matches(" calldata")
                .trim_end_matches(" storage");
            if p.starts_with("contract ") || p.starts_with("address payable") {
                "address".to_owned()
            } else if p.starts_with("enum ") {
                "uint8".to_owned()
            } else {
                p.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// The 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> u32 {
    let end = offset.min(text.len());
    let count = text.as_bytes()[..end]
        .iter()
        .filter(|b| **b == b'\n')
        .count();
    u32::try_from(count + 1).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests;
