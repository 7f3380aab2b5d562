//! Reading a scenario file into a checked [`Scenario`].
//!
//! The file is read in two passes, as `argus.yaml` is (`argus_node::config`):
//! serde-saphyr keeps where each account, deployment and step starts, then
//! each is typed on its own, so one bad step does not hide the next. The
//! cross-checks come last: names that resolve, artifacts that exist and hold
//! bytecode, signatures that parse, arguments that fit their types, a
//! function a labelled contract has, and an `equals` that fits what the
//! function returns. A scenario that loads plays without a typing surprise.
//! The small collector here repeats `argus_node::config::Collector`'s few
//! lines: the node crate depends on this one, not the other way round.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use alloy_dyn_abi::{DynSolType, Specifier};
use alloy_json_abi::{Function, JsonAbi};
use alloy_primitives::{Address, Bytes, U256};
use argus_core::Diagnostic;
use argus_core::file::{MAX_CONFIG_BYTES, MAX_IMPORT_BYTES, read_to_string_capped};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_saphyr::Spanned;

use super::scenario::{
    Account, Action, DEFAULT_WITHIN, Deploy, Expect, ExpectAlert, ExpectCall, ExpectIncident,
    MAX_WITHIN, Scenario, ScenarioError, Send, Step,
};
use super::values;

// ---- the file as written ----

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    name: Spanned<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    chain: Option<Spanned<String>>,
    #[serde(default)]
    accounts: BTreeMap<String, Spanned<serde_json::Value>>,
    #[serde(default)]
    deploy: Vec<Spanned<serde_json::Value>>,
    #[serde(default)]
    steps: Vec<Spanned<serde_json::Value>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeployItem {
    label: String,
    artifact: String,
    #[serde(default)]
    args: Vec<serde_json::Value>,
    from: String,
    #[serde(default)]
    value: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
enum StepItem {
    Send(SendItem),
    Impersonate(String),
    StopImpersonating(String),
    Fund(FundItem),
    Warp(DurationItem),
    Mine(u64),
    Wait(DurationItem),
    Expect(ExpectItem),
}

#[derive(Debug, Deserialize)]
#[serde(transparent)]
struct DurationItem(#[serde(deserialize_with = "argus_core::duration::deserialize")] Duration);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SendItem {
    from: String,
    to: String,
    #[serde(default)]
    function: Option<String>,
    #[serde(default)]
    args: Vec<serde_json::Value>,
    #[serde(default)]
    value: Option<serde_json::Value>,
    #[serde(default)]
    gas: Option<u64>,
    #[serde(default)]
    reverts: bool,
    #[serde(default)]
    repeat: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FundItem {
    account: String,
    amount: serde_json::Value,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectItem {
    #[serde(default)]
    alert: Option<AlertItem>,
    #[serde(default)]
    incident: Option<IncidentItem>,
    #[serde(default)]
    contained: Option<WithinItem>,
    #[serde(default)]
    call: Option<CallItem>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AlertItem {
    rule: String,
    #[serde(default, deserialize_with = "argus_core::duration::deserialize_option")]
    within: Option<Duration>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct IncidentItem {
    kind: String,
    #[serde(default, deserialize_with = "argus_core::duration::deserialize_option")]
    within: Option<Duration>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WithinItem {
    #[serde(default, deserialize_with = "argus_core::duration::deserialize_option")]
    within: Option<Duration>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CallItem {
    to: String,
    function: String,
    #[serde(default)]
    args: Vec<serde_json::Value>,
    equals: serde_json::Value,
}

/// Collects the problems of one file.
struct Problems {
    file: String,
    found: Vec<Diagnostic>,
}

impl Problems {
    fn at<T>(&mut self, spanned: &Spanned<T>, message: impl Into<String>) {
        self.push(
            spanned.referenced.line(),
            spanned.referenced.column(),
            message,
        );
    }

    fn push(&mut self, line: u64, column: u64, message: impl Into<String>) {
        self.found
            .push(Diagnostic::new(self.file.clone(), line, column, message));
    }

    fn typed<T: DeserializeOwned>(
        &mut self,
        raw: &Spanned<serde_json::Value>,
        what: &str,
    ) -> Option<T> {
        match serde_json::from_value(raw.value.clone()) {
            Ok(value) => Some(value),
            Err(error) => {
                self.at(raw, format!("{what}: {error}"));
                None
            }
        }
    }
}

impl Scenario {
    /// Reads and checks the scenario at `path`.
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let text =
            read_to_string_capped(path, MAX_CONFIG_BYTES, "scenario file").map_err(|error| {
                ScenarioError(vec![Diagnostic::in_file(
                    path.display().to_string(),
                    format!("cannot read the scenario: {}", error.reason()),
                )])
            })?;
        Self::parse(path, &text)
    }

    /// Checks `text` as the scenario at `path` (artifacts are read relative
    /// to its folder).
    pub fn parse(path: &Path, text: &str) -> Result<Scenario, ScenarioError> {
        let file = path.display().to_string();
        let raw: RawScenario = serde_saphyr::from_str(text).map_err(|error| {
            let (line, column) = error
                .location()
                .map(|l| (l.line(), l.column()))
                .unwrap_or((0, 0));
            let message = error.to_string();
            let first = message.lines().next().unwrap_or("invalid YAML");
            let first = first.trim_start_matches("error: ");
            let first = match first.strip_prefix("line ").and_then(|r| r.split_once(": ")) {
                Some((_, tail)) => tail,
                None => first,
            };
            ScenarioError(vec![Diagnostic::new(file.clone(), line, column, first)])
        })?;
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let mut out = Problems {
            file,
            found: Vec::new(),
        };

        let name = raw.name.value.trim().to_owned();
        if name.is_empty() || name.len() > 128 || name.chars().any(char::is_control) {
            out.at(
                &raw.name,
                "`name` must be 1–128 printable characters; the drill's history groups runs by it",
            );
        }

        // Accounts first: every later reference is checked against them.
        let mut accounts: Vec<(String, Account)> = Vec::new();
        for (key, value) in &raw.accounts {
            let account = match &value.value {
                serde_json::Value::Number(n) => match n.as_u64() {
                    Some(i) if i < 100 => Some(Account::Index(i as usize)),
                    _ => None,
                },
                serde_json::Value::String(s) => {
                    argus_core::parse_address(s).ok().map(Account::Address)
                }
                _ => None,
            };
            match account {
                Some(account) => accounts.push((key.clone(), account)),
                None => out.at(
                    value,
                    format!(
                        "accounts.{key}: write the index of one of the node's accounts (0 is the first) or an address"
                    ),
                ),
            }
        }
        let mut names: BTreeMap<String, Option<JsonAbi>> =
            accounts.iter().map(|(n, _)| (n.clone(), None)).collect();

        let mut deploy = Vec::new();
        for raw_item in &raw.deploy {
            let Some(item) = out.typed::<DeployItem>(raw_item, "deploy") else {
                continue;
            };
            if names.contains_key(&item.label) {
                out.at(
                    raw_item,
                    format!(
                        "deploy: `{}` is already an account or a deployment; labels are unique",
                        item.label
                    ),
                );
                continue;
            }
            let artifact = dir.join(&item.artifact);
            let Some((abi, bytecode)) = read_artifact(&mut out, raw_item, &artifact) else {
                names.insert(item.label.clone(), None);
                continue;
            };
            if !accounts.iter().any(|(n, _)| *n == item.from) {
                out.at(
                    raw_item,
                    format!("deploy.from: `{}` is not in `accounts:`", item.from),
                );
            }
            let inputs: Vec<_> = abi
                .constructor
                .as_ref()
                .map(|c| c.inputs.clone())
                .unwrap_or_default();
            check_args(
                &mut out,
                raw_item,
                &format!("deploy {} (constructor)", item.label),
                &inputs,
                &item.args,
                &names,
            );
            let value = item
                .value
                .as_ref()
                .map(values::wei)
                .transpose()
                .unwrap_or_else(|message| {
                    out.at(raw_item, format!("deploy.value: {message}"));
                    None
                })
                .unwrap_or_default();
            names.insert(item.label.clone(), Some(abi.clone()));
            deploy.push(Deploy {
                label: item.label,
                artifact,
                abi,
                bytecode,
                args: item.args,
                from: item.from,
                value,
                line: raw_item.referenced.line(),
            });
        }

        let mut steps = Vec::new();
        for raw_step in &raw.steps {
            let Some(item) = out.typed::<StepItem>(raw_step, "steps") else {
                continue;
            };
            if let Some(action) = check_step(&mut out, raw_step, item, &names, &accounts) {
                steps.push(Step {
                    line: raw_step.referenced.line(),
                    column: raw_step.referenced.column(),
                    action,
                });
            }
        }
        if raw.steps.is_empty() {
            out.push(
                1,
                1,
                "no `steps:`: a drill plays at least one step and checks one `expect`",
            );
        } else if !steps.iter().any(|s| matches!(s.action, Action::Expect(_)))
            && out.found.is_empty()
        {
            out.push(
                1,
                1,
                "no `expect` step: without one the drill cannot pass or fail; add e.g. `- expect: { alert: { rule: my-rule, within: 30s } }`",
            );
        }

        if out.found.is_empty() {
            Ok(Scenario {
                name,
                description: raw.description,
                path: path.to_path_buf(),
                chain: raw.chain.map(|c| c.value),
                accounts,
                deploy,
                steps,
            })
        } else {
            out.found.sort_by_key(|d| (d.line, d.column));
            Err(ScenarioError(out.found))
        }
    }
}

/// An artifact's ABI and creation bytecode (Foundry's `bytecode.object` or
/// Hardhat's `bytecode` string).
fn read_artifact(
    out: &mut Problems,
    at: &Spanned<serde_json::Value>,
    path: &Path,
) -> Option<(JsonAbi, Bytes)> {
    let text = match read_to_string_capped(path, MAX_IMPORT_BYTES, "artifact") {
        Ok(text) => text,
        Err(error) => {
            out.at(
                at,
                format!(
                    "deploy.artifact: cannot read {}: {}",
                    path.display(),
                    error.reason()
                ),
            );
            return None;
        }
    };
    let json: serde_json::Value = match serde_json::from_str(&text) {
        Ok(json) => json,
        Err(error) => {
            out.at(
                at,
                format!("deploy.artifact: {} is not JSON: {error}", path.display()),
            );
            return None;
        }
    };
    let abi = json
        .get("abi")
        .cloned()
        .and_then(|abi| serde_json::from_value::<JsonAbi>(abi).ok());
    let code = match json.get("bytecode") {
        Some(serde_json::Value::String(code)) => Some(code.as_str()),
        Some(serde_json::Value::Object(o)) => o.get("object").and_then(|c| c.as_str()),
        _ => None,
    };
    let bytecode = code.and_then(|c| alloy_primitives::hex::decode(c).ok());
    match (abi, bytecode) {
        (Some(abi), Some(code)) if !code.is_empty() => Some((abi, Bytes::from(code))),
        (None, _) => {
            out.at(
                at,
                format!("deploy.artifact: {} has no readable `abi`", path.display()),
            );
            None
        }
        _ => {
            out.at(
                at,
                format!(
                    "deploy.artifact: {} has no creation bytecode (`bytecode` or `bytecode.object`); point it at a build output, not a bare ABI",
                    path.display()
                ),
            );
            None
        }
    }
}

/// Resolves a name to a placeholder address (load time: only whether it
/// resolves matters).
fn placeholder(names: &BTreeMap<String, Option<JsonAbi>>) -> impl Fn(&str) -> Option<Address> + '_ {
    move |name| {
        names
            .contains_key(name)
            .then_some(Address::repeat_byte(0x11))
    }
}

fn check_args(
    out: &mut Problems,
    at: &Spanned<serde_json::Value>,
    what: &str,
    inputs: &[alloy_json_abi::Param],
    args: &[serde_json::Value],
    names: &BTreeMap<String, Option<JsonAbi>>,
) {
    if inputs.len() != args.len() {
        out.at(
            at,
            format!(
                "{what} takes {} arguments, {} given",
                inputs.len(),
                args.len()
            ),
        );
        return;
    }
    let resolve = placeholder(names);
    for (i, (param, arg)) in inputs.iter().zip(args).enumerate() {
        let ty = match param.resolve() {
            Ok(ty) => ty,
            Err(error) => {
                out.at(at, format!("{what}: argument {}: {error}", i + 1));
                continue;
            }
        };
        if let Err(message) = values::coerce(&ty, arg, &resolve) {
            out.at(at, format!("{what}: argument {}: {message}", i + 1));
        }
    }
}

/// A reference to an account, a deployment or an address.
fn check_reference(
    out: &mut Problems,
    at: &Spanned<serde_json::Value>,
    what: &str,
    reference: &str,
    names: &BTreeMap<String, Option<JsonAbi>>,
) {
    if !names.contains_key(reference) && argus_core::parse_address(reference).is_err() {
        out.at(
            at,
            format!("{what}: `{reference}` is not an account or deployment of the scenario, nor an address"),
        );
    }
}

/// The function a step names: its signature parsed, with its outputs from
/// the labelled contract's ABI when it has one.
fn check_function(
    out: &mut Problems,
    at: &Spanned<serde_json::Value>,
    what: &str,
    signature: &str,
    to: &str,
    names: &BTreeMap<String, Option<JsonAbi>>,
) -> Option<Function> {
    let parsed = match Function::parse(signature) {
        Ok(f) => f,
        Err(error) => {
            out.at(
                at,
                format!("{what}: `{signature}` is not a function signature such as `transfer(address,uint256)`: {error}"),
            );
            return None;
        }
    };
    match names.get(to) {
        Some(Some(abi)) => {
            let found = abi
                .functions()
                .find(|f| f.selector() == parsed.selector())
                .cloned();
            if found.is_none() {
                out.at(
                    at,
                    format!("{what}: {to} has no function {}", parsed.signature()),
                );
            }
            found
        }
        _ => Some(parsed),
    }
}

fn check_step(
    out: &mut Problems,
    at: &Spanned<serde_json::Value>,
    item: StepItem,
    names: &BTreeMap<String, Option<JsonAbi>>,
    accounts: &[(String, Account)],
) -> Option<Action> {
    let is_account = |name: &str| {
        accounts.iter().any(|(n, _)| n == name) || argus_core::parse_address(name).is_ok()
    };
    Some(match item {
        StepItem::Send(send) => {
            if !is_account(&send.from) {
                out.at(
                    at,
                    format!(
                        "send.from: `{}` is not in `accounts:` nor an address",
                        send.from
                    ),
                );
            }
            check_reference(out, at, "send.to", &send.to, names);
            let function = match &send.function {
                Some(signature) => {
                    let function =
                        check_function(out, at, "send.function", signature, &send.to, names)?;
                    check_args(
                        out,
                        at,
                        &format!("send {}", function.signature()),
                        &function.inputs,
                        &send.args,
                        names,
                    );
                    Some(function)
                }
                None if !send.args.is_empty() => {
                    out.at(
                        at,
                        "send: `args` without a `function`; name the function they are for",
                    );
                    None
                }
                None => None,
            };
            let value = match send.value.as_ref().map(values::wei).transpose() {
                Ok(value) => value.unwrap_or_default(),
                Err(message) => {
                    out.at(at, format!("send.value: {message}"));
                    U256::ZERO
                }
            };
            if send.reverts && send.gas.is_none() {
                out.at(
                    at,
                    "send: a transaction meant to revert needs a `gas` limit, or the node refuses it when it estimates gas",
                );
            }
            let repeat = send.repeat.unwrap_or(1);
            if !(1..=1000).contains(&repeat) {
                out.at(at, "send.repeat: between 1 and 1000");
            }
            Action::Send(Send {
                from: send.from,
                to: send.to,
                function,
                args: send.args,
                value,
                gas: send.gas,
                reverts: send.reverts,
                repeat,
            })
        }
        StepItem::Impersonate(who) | StepItem::StopImpersonating(who) if !is_account(&who) => {
            out.at(at, format!("`{who}` is not in `accounts:` nor an address"));
            return None;
        }
        StepItem::Impersonate(who) => Action::Impersonate(who),
        StepItem::StopImpersonating(who) => Action::StopImpersonating(who),
        StepItem::Fund(fund) => {
            if !is_account(&fund.account) {
                out.at(
                    at,
                    format!(
                        "fund.account: `{}` is not in `accounts:` nor an address",
                        fund.account
                    ),
                );
            }
            match values::wei(&fund.amount) {
                Ok(amount) => Action::Fund {
                    account: fund.account,
                    amount,
                },
                Err(message) => {
                    out.at(at, format!("fund.amount: {message}"));
                    return None;
                }
            }
        }
        StepItem::Warp(by) => Action::Warp(by.0),
        StepItem::Mine(n) if n == 0 || n > 10_000 => {
            out.at(at, "mine: between 1 and 10000 blocks");
            return None;
        }
        StepItem::Mine(n) => Action::Mine(n),
        StepItem::Wait(by) if by.0 > MAX_WITHIN => {
            out.at(at, "wait: at most 1h");
            return None;
        }
        StepItem::Wait(by) => Action::Wait(by.0),
        StepItem::Expect(expect) => Action::Expect(check_expect(out, at, expect, names)?),
    })
}

fn check_expect(
    out: &mut Problems,
    at: &Spanned<serde_json::Value>,
    item: ExpectItem,
    names: &BTreeMap<String, Option<JsonAbi>>,
) -> Option<Expect> {
    let mut within = |what: &str, value: Option<Duration>| {
        let value = value.unwrap_or(DEFAULT_WITHIN);
        if value > MAX_WITHIN {
            out.at(at, format!("expect.{what}.within: at most 1h"));
        }
        value
    };
    let alert = item.alert.map(|a| ExpectAlert {
        within: within("alert", a.within),
        rule: a.rule,
    });
    let incident = item.incident.map(|i| ExpectIncident {
        within: within("incident", i.within),
        kind: i.kind,
    });
    let contained = item.contained.map(|c| within("contained", c.within));
    let call = match item.call {
        None => None,
        Some(call) => {
            check_reference(out, at, "expect.call.to", &call.to, names);
            let function = check_function(
                out,
                at,
                "expect.call.function",
                &call.function,
                &call.to,
                names,
            )?;
            check_args(
                out,
                at,
                &format!("expect.call {}", function.signature()),
                &function.inputs,
                &call.args,
                names,
            );
            let output_types = match function
                .outputs
                .iter()
                .map(|p| p.resolve())
                .collect::<Result<Vec<_>, _>>()
            {
                Ok(types) => types,
                Err(error) => {
                    out.at(
                        at,
                        format!(
                            "expect.call: the outputs of {}: {error}",
                            function.signature()
                        ),
                    );
                    return None;
                }
            };
            match output_types.as_slice() {
                [] => out.at(
                    at,
                    format!(
                        "expect.call: {} returns nothing to compare; write its outputs (`{}(...) returns (bool)`) or deploy it with an ABI",
                        function.signature(), function.name
                    ),
                ),
                [only] => {
                    if let Err(message) = values::coerce(only, &call.equals, &placeholder(names)) {
                        out.at(at, format!("expect.call.equals: {message}"));
                    }
                }
                many => {
                    let tuple = DynSolType::Tuple(many.to_vec());
                    if let Err(message) = values::coerce(&tuple, &call.equals, &placeholder(names)) {
                        out.at(at, format!("expect.call.equals: {message} (a list, one item per output)"));
                    }
                }
            }
            Some(ExpectCall {
                to: call.to,
                function,
                args: call.args,
                equals: call.equals,
                output_types,
            })
        }
    };
    if alert.is_none() && incident.is_none() && contained.is_none() && call.is_none() {
        out.at(
            at,
            "expect: say what must hold: `alert`, `incident`, `contained` or `call`",
        );
        return None;
    }
    Some(Expect {
        alert,
        incident,
        contained,
        call,
    })
}

#[cfg(test)]
mod tests;
