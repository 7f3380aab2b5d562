//! Reading `match.state` from the positioned YAML tree: every read checked
//! (its kind, contract, function signature, arguments against the
//! parameter types, slot), every problem located, and the type of `reads`
//! the condition is checked against.

use alloy_dyn_abi::{DynSolType, Specifier};
use alloy_json_abi::Function;
use alloy_primitives::U256;
use argus_core::ChainId;

use super::{StateArg, StateReadKind, StateReadSpec, StateSpec};
use crate::cel_type::{self, CelType, Layout, ParamInfo, Record};
use crate::schema::{ContractRef, Loader, Matcher, entries, field};
use crate::yaml::{Node, NodeValue};

/// The most reads one rule may make (one batch per evaluation).
const MAX_READS: usize = 64;

impl Loader {
    /// `match.state`: the matcher and the type of `reads`.
    pub(crate) fn state_matcher(&mut self, body: &Node) -> Option<(Matcher, CelType)> {
        if !self.mapping(body, "`match.state`", &["reads", "every", "chain"]) {
            return None;
        }
        let before = self.diagnostics.len();
        let chain = self.state_chain(body)?;
        let every = match field(body, "every") {
            None => 1,
            Some(node) => {
                let text = self.text(node, "`every`")?;
                match text.trim().parse::<u64>() {
                    Ok(n) if n > 0 => n,
                    _ => {
                        self.error(
                            node,
                            format!("`every: {text}` is not a number of blocks; write 1 or more"),
                        );
                        return None;
                    }
                }
            }
        };
        let Some(reads_node) = field(body, "reads") else {
            self.error(
                body,
                "`match.state` needs `reads` (e.g. `supply: { contract: Token, call: totalSupply() }`)",
            );
            return None;
        };
        let NodeValue::Map(list) = &reads_node.value else {
            self.error(
                reads_node,
                "`reads` must be a mapping of names to reads (`supply: { contract: Token, call: totalSupply() }`)",
            );
            return None;
        };
        if list.is_empty() {
            self.error(reads_node, "`reads` is empty; name at least one read");
            return None;
        }
        if list.len() > MAX_READS {
            self.error(
                reads_node,
                format!("at most {MAX_READS} reads per rule; split the rule"),
            );
            return None;
        }
        let mut reads = Vec::new();
        let mut fields = Vec::new();
        for (key, value) in list {
            let Some(name) = self.text(key, "a read's name") else {
                continue;
            };
            let valid = name
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                self.error(
                    key,
                    format!(
                        "`{name}` is not a read name: letters, digits and `_`, not first a digit"
                    ),
                );
                continue;
            }
            if fields.iter().any(|(n, _): &(String, CelType)| *n == name) {
                self.error(key, format!("the read `{name}` is named twice"));
                continue;
            }
            if let Some((read, ty)) = self.state_read(&name, value, chain) {
                fields.push((name, ty));
                reads.push(read);
            }
        }
        if self.diagnostics.len() > before {
            return None;
        }
        let spec = StateSpec {
            every,
            reads,
            invariant: false,
        };
        let chains = spec.chains();
        if chains.len() > 1 && spec.reads.iter().any(|r| r.chain.is_none()) {
            self.error(
                reads_node,
                "a cross-chain rule (reads on several chains) names the `chain` of every read, or one `chain` for the rest under `match.state`",
            );
            return None;
        }
        if chains.len() > 1 && every != 1 {
            self.error(
                body,
                "`every` applies to single-chain rules; a cross-chain rule runs when a chain's committed height moves",
            );
            return None;
        }
        let reads_type = CelType::Record(Record {
            fields,
            closed: true,
            what: Some("`reads`".to_owned()),
        });
        Some((Matcher::State(Box::new(spec)), reads_type))
    }

    fn state_chain(&mut self, node: &Node) -> Option<Option<ChainId>> {
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

    /// One read: its model and the type its value has in `reads`.
    fn state_read(
        &mut self,
        name: &str,
        node: &Node,
        default_chain: Option<ChainId>,
    ) -> Option<(StateReadSpec, CelType)> {
        let what = format!("the read `{name}`");
        if !self.mapping(
            node,
            &what,
            &["call", "balance", "storage", "contract", "args", "chain"],
        ) {
            return None;
        }
        let chain = self.state_chain(node)?.or(default_chain);
        let kinds: Vec<&str> = entries(node)
            .iter()
            .filter_map(|(k, _)| k.as_str())
            .filter(|k| ["call", "balance", "storage"].contains(k))
            .collect();
        if kinds.len() != 1 {
            self.error(
                node,
                format!("{what} takes exactly one of `call`, `balance`, `storage`"),
            );
            return None;
        }
        let (kind, ty) = match kinds[0] {
            "call" => self.call_read(name, node)?,
            "balance" => {
                if let Some(extra) = field(node, "contract").or(field(node, "args")) {
                    self.error(
                        extra,
                        format!("{what}: a `balance` read names its account in `balance:` alone"),
                    );
                    return None;
                }
                let account = self.single_contract(field(node, "balance")?)?;
                (StateReadKind::Balance { account }, CelType::Exact)
            }
            _ => {
                if let Some(args) = field(node, "args") {
                    self.error(args, format!("{what}: a `storage` read takes no `args`"));
                    return None;
                }
                let Some(contract) = field(node, "contract") else {
                    self.error(node, format!("{what}: say which `contract` holds the slot"));
                    return None;
                };
                let contract = self.single_contract(contract)?;
                let slot_node = field(node, "storage")?;
                let text = self.text(slot_node, "`storage` (a slot number)")?;
                let slot = match text.trim().parse::<U256>() {
                    Ok(slot) => slot,
                    Err(_) => {
                        self.error(
                            slot_node,
                            format!("`storage: {text}` is not a slot: write a number or 0x hex (quote hex and long numbers)"),
                        );
                        return None;
                    }
                };
                (StateReadKind::Storage { contract, slot }, CelType::Exact)
            }
        };
        Some((
            StateReadSpec {
                name: name.to_owned(),
                chain,
                kind,
            },
            ty,
        ))
    }

    fn call_read(&mut self, name: &str, node: &Node) -> Option<(StateReadKind, CelType)> {
        let Some(contract_node) = field(node, "contract") else {
            self.error(
                node,
                format!("the read `{name}`: say which `contract` to call (a label or an address)"),
            );
            return None;
        };
        let contract = self.single_contract(contract_node)?;
        let call_node = field(node, "call")?;
        let text = self.text(call_node, "`call` (a function signature)")?;
        let parsed =
            Function::parse(&text).or_else(|_| Function::parse(&format!("function {text}")));
        let function = match parsed {
            Ok(function) => function,
            Err(e) => {
                let reason = e.to_string();
                let reason = reason
                    .lines()
                    .rev()
                    .find(|l| l.chars().any(char::is_alphanumeric))
                    .unwrap_or("unreadable");
                self.error(
                    call_node,
                    format!("`{text}` is not a function signature (e.g. `balanceOf(address)`, `cap() returns (uint256)`): {}", reason.trim()),
                );
                return None;
            }
        };
        let returns_given = !function.outputs.is_empty();
        let ty = if returns_given {
            match returns_type(&function) {
                Ok(ty) => ty,
                Err(e) => {
                    self.error(call_node, format!("`{text}`: {e}"));
                    return None;
                }
            }
        } else {
            CelType::Dyn
        };
        let arg_nodes: &[Node] = match field(node, "args") {
            None => &[],
            Some(Node {
                value: NodeValue::Seq(items),
                ..
            }) => items,
            Some(other) => {
                self.error(other, "`args` must be a list (`args: [0xabc…, 100]`)");
                return None;
            }
        };
        if arg_nodes.len() != function.inputs.len() {
            self.error(
                field(node, "args").unwrap_or(call_node),
                format!(
                    "`{}` takes {} argument(s) and `args` gives {}",
                    function.signature(),
                    function.inputs.len(),
                    arg_nodes.len()
                ),
            );
            return None;
        }
        let mut args = Vec::with_capacity(arg_nodes.len());
        for (param, arg) in function.inputs.iter().zip(arg_nodes) {
            let resolved = match param.resolve() {
                Ok(t) => t,
                Err(_) => {
                    self.error(call_node, format!("`{}` is not an ABI type", param.ty));
                    return None;
                }
            };
            let text = self.text(arg, "an argument")?;
            let text = text.trim();
            if resolved == DynSolType::Address && !text.starts_with("0x") {
                if text.is_empty() || text.bytes().all(|b| b.is_ascii_digit()) {
                    // YAML reads an unquoted 0x… as a number.
                    self.error(
                        arg,
                        format!("`{text}` is not an address: quote 0x addresses (\"0xAbC…\") or name a registry label"),
                    );
                    return None;
                }
                args.push(StateArg::Label(text.to_owned()));
                continue;
            }
            if resolved == DynSolType::Address
                && let Err(e) = argus_core::parse_address(text)
            {
                self.error(arg, e.to_string());
                return None;
            }
            match resolved.coerce_str(text) {
                Ok(value) => args.push(StateArg::Value(value)),
                Err(e) => {
                    let reason = e.to_string();
                    let reason = reason
                        .lines()
                        .rev()
                        .find(|l| l.chars().any(char::is_alphanumeric))
                        .unwrap_or("unreadable");
                    self.error(
                        arg,
                        format!(
                            "`{text}` is not a `{}` argument: {}",
                            param.ty,
                            reason.trim()
                        ),
                    );
                    return None;
                }
            }
        }
        Some((
            StateReadKind::Call {
                contract,
                function,
                returns_given,
                args,
            },
            ty,
        ))
    }

    /// A label or an address: a read is of one contract.
    fn single_contract(&mut self, node: &Node) -> Option<ContractRef> {
        match self.contract_ref(node, false)? {
            ContractRef::Any => {
                self.error(
                    node,
                    "a read is of one contract: a label or an address, not `any`",
                );
                None
            }
            other => Some(other),
        }
    }
}

/// The type of a call read's value: its one output, or a record of them
/// (by name and `_0`, `_1`…).
pub(crate) fn returns_type(function: &Function) -> Result<CelType, String> {
    let params: Vec<ParamInfo<'_>> = function.outputs.iter().map(ParamInfo::from).collect();
    let layout = Layout {
        names: params.iter().all(|p| !p.name.is_empty()),
        indexing: true,
    };
    let record = cel_type::args_type(
        &params,
        layout,
        format!("what `{}` returns", function.signature()),
    )?;
    if function.outputs.len() == 1
        && let CelType::Record(fields) = &record
    {
        return Ok(fields.field("_0").unwrap_or(CelType::Dyn));
    }
    Ok(record)
}
