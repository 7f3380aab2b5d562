//! `registry.enrol`: which new contracts on a followed chain join the
//! registry by themselves, under which label, tags and ABI; and
//! `registry.unknown_callers`, whether contracts created by anybody else are
//! remembered so one calling ours is reported.
//!
//! ```yaml
//! registry:
//!   enrol:
//!     - deployer: 0xDeployer…           # its contract creations (receipts' contractAddress)
//!       label: "vault-{n}"              # {n} 1, 2, … per policy; {address}; {block}
//!       tags: [vault]
//!       abi: Vault                      # a registry entry (artifact or deployment) whose ABI it takes
//!       code_hash: 0x…                  # optional: other code is alerted, not enrolled
//!     - factory: 0xFactory…
//!       event: "CloneCreated(address indexed clone, address owner)"
//!       field: clone                    # the argument naming the new contract (default: the first address)
//!       label: "clone-{n}"
//!       abi: Clone
//!     - create2_deployer: 0x4e59b44847b379578588920ca78fbf26c0b4956c   # calldata = salt ‖ init code
//!       label: "det-{n}"
//!     - code_hash: 0x…                  # alone: any account's creation with this runtime code
//!       label: "safe-{n}"
//!     - factory_tag: factory            # every registry entry on the chain tagged `factory`
//!       event: "CloneCreated(address clone)"
//!       label: "clone-{n}"
//!     - deployer_tag: deployer          # creations sent by any entry tagged `deployer`
//!       label: "release-{n}"
//!   unknown_callers: true               # default: on with a policy and a `fetch: full` chain
//! ```
//!
//! `code_hash` has two meanings: alone it is the trigger (every successful
//! creation, by anybody, whose runtime code hashes to it); beside another
//! trigger it is a filter (other code is alerted, not enrolled).
//!
//! A policy is one item; every problem is reported at the `registry:`
//! section with its key path (`registry.enrol[1].event`), all at once.

use std::collections::BTreeSet;

use alloy_json_abi::Event;
use alloy_primitives::{Address, B256};
use argus_core::{ChainId, Severity, parse_address};
use serde::Deserialize;

/// The enrolment policy of the whole node.
#[derive(Debug, Clone, Default)]
pub struct EnrolConfig {
    /// The policies, in file order.
    pub policies: Vec<EnrolPolicy>,
    /// Remember contracts created by deployers no policy watches and report
    /// one that calls ours (needs `fetch: full`).
    pub unknown_callers: bool,
}

impl EnrolConfig {
    /// Nothing to do.
    pub fn is_empty(&self) -> bool {
        self.policies.is_empty() && !self.unknown_callers
    }

    /// The policies that apply to `chain`.
    pub fn for_chain(&self, chain: ChainId) -> Vec<EnrolPolicy> {
        self.policies
            .iter()
            .filter(|p| p.chain.is_none_or(|c| c == chain))
            .cloned()
            .collect()
    }
}

/// What makes a new contract one of ours.
#[derive(Debug, Clone)]
pub enum Trigger {
    /// A creation transaction sent by this account (the receipt's
    /// `contractAddress`).
    Deployer(Address),
    /// A log of `event` from this factory; the new contract is the
    /// argument at `field` (an index into the event's inputs).
    Factory {
        factory: Address,
        event: Event,
        field: usize,
    },
    /// A call to a deterministic-deployment proxy whose calldata is
    /// `salt (32 bytes) ‖ init code` (Arachnid's, at
    /// `0x4e59b44847b379578588920ca78fbf26c0b4956c` on most chains and on
    /// anvil): the address is `CREATE2(proxy, salt, keccak(init code))`.
    Create2Deployer(Address),
    /// Any successful creation transaction (the receipt's
    /// `contractAddress`, whoever sent it) whose runtime code hashes to
    /// this: `code_hash` given alone.
    CodeHash(B256),
    /// A log of `event` from any registry entry on the chain carrying this
    /// tag, read from the registry as it is at each block.
    FactoryTag {
        tag: String,
        event: Event,
        field: usize,
    },
    /// A creation transaction sent by any registry entry on the chain
    /// carrying this tag (an EOA is registered with an empty ABI).
    DeployerTag(String),
}

impl Trigger {
    /// How alerts name it.
    pub fn describe(&self) -> String {
        match self {
            Self::Deployer(a) => format!("deployer {}", a.to_checksum(None)),
            Self::Factory { factory, event, .. } => {
                format!("factory {} ({})", factory.to_checksum(None), event.name)
            }
            Self::Create2Deployer(a) => format!("CREATE2 deployer {}", a.to_checksum(None)),
            Self::CodeHash(hash) => format!("a creation with code hash {hash}"),
            Self::FactoryTag { tag, event, .. } => {
                format!("a factory tagged `{tag}` ({})", event.name)
            }
            Self::DeployerTag(tag) => format!("a deployer tagged `{tag}`"),
        }
    }

    /// Whether it reads transactions and receipts (`fetch: full`).
    pub fn needs_full_blocks(&self) -> bool {
        !matches!(self, Self::Factory { .. } | Self::FactoryTag { .. })
    }

    /// The key that names it in config problems.
    fn key(&self) -> &'static str {
        match self {
            Self::Deployer(_) => "deployer",
            Self::Factory { .. } => "factory",
            Self::Create2Deployer(_) => "create2_deployer",
            Self::CodeHash(_) => "code_hash",
            Self::FactoryTag { .. } => "factory_tag",
            Self::DeployerTag(_) => "deployer_tag",
        }
    }

    /// The registry tag it follows, if it is keyed by one.
    pub fn tag(&self) -> Option<&str> {
        match self {
            Self::FactoryTag { tag, .. } | Self::DeployerTag(tag) => Some(tag),
            _ => None,
        }
    }
}

/// One `registry.enrol` item, checked.
#[derive(Debug, Clone)]
pub struct EnrolPolicy {
    /// `name`, or `enrol[i]`: the key enrolments are counted under.
    pub name: String,
    /// Only on this chain (none: every followed chain).
    pub chain: Option<ChainId>,
    pub trigger: Trigger,
    /// Only code hashing to this is enrolled; other code is alerted
    /// (`high`) and not enrolled. For a [`Trigger::CodeHash`] policy, its
    /// hash (other code is neither enrolled nor alerted).
    pub code_hash: Option<B256>,
    /// The label pattern: `{n}`, `{address}`, `{block}`.
    pub label: String,
    pub tags: BTreeSet<String>,
    /// The registry entry whose ABI the new contract takes.
    pub abi: Option<String>,
    /// The alert's severity (default `medium`).
    pub severity: Severity,
}

impl EnrolPolicy {
    /// The label of the `n`th contract this policy enrolls.
    pub fn label_for(&self, n: u64, address: Address, block: u64) -> String {
        let short = address.to_checksum(None);
        let short = short.get(..10).unwrap_or(&short).to_owned();
        self.label
            .replace("{n}", &n.to_string())
            .replace("{address}", &short)
            .replace("{block}", &block.to_string())
    }
}

/// The `registry.enrol` item as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    chain: Option<serde_json::Value>,
    #[serde(default)]
    deployer: Option<String>,
    #[serde(default)]
    factory: Option<String>,
    #[serde(default)]
    event: Option<String>,
    #[serde(default)]
    field: Option<String>,
    #[serde(default)]
    create2_deployer: Option<String>,
    #[serde(default)]
    factory_tag: Option<String>,
    #[serde(default)]
    deployer_tag: Option<String>,
    #[serde(default)]
    code_hash: Option<String>,
    #[serde(default)]
    label: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    abi: Option<String>,
    #[serde(default)]
    severity: Option<Severity>,
}

/// Types `registry.enrol` and `registry.unknown_callers`; every problem is
/// pushed to `problems` with its key path. `full_chains` are the chains
/// followed with `fetch: full`, `followed` every followed chain.
pub(crate) fn enrol_config(
    enrol: &[serde_json::Value],
    unknown_callers: Option<bool>,
    followed: &[ChainId],
    full_chains: &[ChainId],
    problems: &mut Vec<String>,
) -> EnrolConfig {
    let mut policies = Vec::new();
    let mut names = BTreeSet::new();
    for (i, raw) in enrol.iter().enumerate() {
        let at = format!("registry.enrol[{i}]");
        let raw: RawPolicy = match serde_json::from_value(raw.clone()) {
            Ok(raw) => raw,
            Err(error) => {
                problems.push(format!("{at}: {error}"));
                continue;
            }
        };
        if let Some(policy) = policy(&at, i, raw, followed, full_chains, problems) {
            if !names.insert(policy.name.clone()) {
                problems.push(format!(
                    "{at}.name: `{}` names two policies; names must differ",
                    policy.name
                ));
            }
            policies.push(policy);
        }
    }
    // On by default with a policy, where transactions are read.
    let unknown_callers =
        unknown_callers.unwrap_or(!policies.is_empty() && !full_chains.is_empty());
    if unknown_callers && full_chains.is_empty() && !followed.is_empty() {
        problems.push(
            "registry.unknown_callers: needs transactions and receipts; set `fetch: full` on a \
             chain, or `unknown_callers: false`"
                .to_owned(),
        );
    }
    EnrolConfig {
        policies,
        unknown_callers,
    }
}

fn address(at: &str, key: &str, text: &str, problems: &mut Vec<String>) -> Option<Address> {
    match parse_address(text) {
        Ok(address) => Some(address),
        Err(error) => {
            problems.push(format!("{at}.{key}: {error}"));
            None
        }
    }
}

/// What a tag may be (as the registry's `tag` command accepts it).
fn is_tag(tag: &str) -> bool {
    !tag.is_empty()
        && tag.chars().count() <= 64
        && !tag
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == ',')
}

/// A factory policy's `event` and the index of its `field` argument.
fn factory_event(at: &str, raw: &RawPolicy, problems: &mut Vec<String>) -> Option<(Event, usize)> {
    let Some(signature) = &raw.event else {
        problems.push(format!(
            "{at}.event: a factory policy names the event announcing a new contract, e.g. \
             \"CloneCreated(address indexed clone)\""
        ));
        return None;
    };
    let text = signature.trim();
    let text = text.strip_prefix("event ").unwrap_or(text);
    let event = match Event::parse(text) {
        Ok(event) => event,
        Err(error) => {
            // The parser draws a caret over several lines: one line here.
            let error = error
                .to_string()
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
            problems.push(format!(
                "{at}.event: `{signature}` is not an event signature ({error}); write it \
                 like \"CloneCreated(address indexed clone)\""
            ));
            return None;
        }
    };
    let field = match &raw.field {
        Some(name) => event
            .inputs
            .iter()
            .position(|input| input.name == *name)
            .or_else(|| {
                name.parse::<usize>()
                    .ok()
                    .filter(|i| *i < event.inputs.len())
            }),
        None => event.inputs.iter().position(|input| input.ty == "address"),
    };
    let Some(field) = field else {
        problems.push(format!(
            "{at}.field: {} names no argument of `{signature}`; give the name (or position) \
             of the address argument",
            raw.field.as_deref().unwrap_or("(no address argument)")
        ));
        return None;
    };
    if event
        .inputs
        .get(field)
        .is_none_or(|input| input.ty != "address")
    {
        problems.push(format!(
            "{at}.field: argument {field} of `{signature}` is not an `address`"
        ));
        return None;
    }
    Some((event, field))
}

fn policy(
    at: &str,
    index: usize,
    raw: RawPolicy,
    followed: &[ChainId],
    full_chains: &[ChainId],
    problems: &mut Vec<String>,
) -> Option<EnrolPolicy> {
    let before = problems.len();
    let chain = match &raw.chain {
        None => None,
        Some(value) => {
            let text = match value {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            match ChainId::parse(&text, true) {
                Ok(chain) if followed.contains(&chain) => Some(chain),
                Ok(chain) => {
                    problems.push(format!(
                        "{at}.chain: {} is not one of the followed `chains:`",
                        chain.name()
                    ));
                    None
                }
                Err(error) => {
                    problems.push(format!("{at}.chain: {error}"));
                    None
                }
            }
        }
    };
    let code_hash = raw
        .code_hash
        .as_deref()
        .and_then(|text| match text.parse::<B256>() {
            Ok(hash) => Some(hash),
            Err(_) => {
                problems.push(format!(
                    "{at}.code_hash: `{text}` is not a 32-byte hex hash (keccak256 of the runtime code)"
                ));
                None
            }
        });
    let given = [
        raw.deployer.is_some(),
        raw.factory.is_some(),
        raw.create2_deployer.is_some(),
        raw.factory_tag.is_some(),
        raw.deployer_tag.is_some(),
    ]
    .iter()
    .filter(|g| **g)
    .count();
    if given > 1 || (given == 0 && raw.code_hash.is_none()) {
        problems.push(format!(
            "{at}: give exactly one of `deployer`, `factory` (with `event`), `create2_deployer`, \
             `deployer_tag`, `factory_tag` (with `event`), or `code_hash` alone"
        ));
        return None;
    }
    let is_factory = raw.factory.is_some() || raw.factory_tag.is_some();
    if !is_factory && (raw.event.is_some() || raw.field.is_some()) {
        problems.push(format!(
            "{at}: `event` and `field` belong to a `factory` or `factory_tag` policy"
        ));
    }
    for (key, tag) in [
        ("factory_tag", &raw.factory_tag),
        ("deployer_tag", &raw.deployer_tag),
    ] {
        if let Some(tag) = tag
            && !is_tag(tag)
        {
            problems.push(format!(
                "{at}.{key}: `{tag}` is not a tag (1 to 64 characters, no blanks or commas)"
            ));
            return None;
        }
    }
    let trigger = if let Some(deployer) = &raw.deployer {
        Trigger::Deployer(address(at, "deployer", deployer, problems)?)
    } else if let Some(proxy) = &raw.create2_deployer {
        Trigger::Create2Deployer(address(at, "create2_deployer", proxy, problems)?)
    } else if let Some(tag) = &raw.deployer_tag {
        Trigger::DeployerTag(tag.clone())
    } else if let Some(tag) = &raw.factory_tag {
        let (event, field) = factory_event(at, &raw, problems)?;
        Trigger::FactoryTag {
            tag: tag.clone(),
            event,
            field,
        }
    } else if let Some(factory) = &raw.factory {
        let factory = address(at, "factory", factory, problems);
        let (event, field) = factory_event(at, &raw, problems)?;
        Trigger::Factory {
            factory: factory?,
            event,
            field,
        }
    } else {
        // `code_hash` alone; a malformed one is reported above.
        Trigger::CodeHash(code_hash?)
    };
    if trigger.needs_full_blocks() {
        let missing: Vec<String> = match chain {
            Some(chain) if !full_chains.contains(&chain) => vec![chain.name()],
            Some(_) => Vec::new(),
            None => followed
                .iter()
                .filter(|c| !full_chains.contains(c))
                .map(|c| c.name())
                .collect(),
        };
        if !missing.is_empty() {
            problems.push(format!(
                "{at}: a {} policy reads transactions and receipts; set `fetch: full` on {} \
                 (or limit the policy with `chain:`)",
                trigger.key(),
                missing.join(", ")
            ));
        }
    }
    let label = raw.label.unwrap_or_else(|| "enrolled-{n}".to_owned());
    let rest = label
        .replace("{n}", "")
        .replace("{address}", "")
        .replace("{block}", "");
    if rest.contains('{') || rest.contains('}') {
        problems.push(format!(
            "{at}.label: `{label}` has a placeholder other than {{n}}, {{address}} and {{block}}"
        ));
    } else if !label.contains("{n}") && !label.contains("{address}") {
        problems.push(format!(
            "{at}.label: `{label}` gives every contract the same label; add {{n}} or {{address}}"
        ));
    } else if let Err(error) = argus_registry::validate_label(&label.replace(['{', '}'], "")) {
        problems.push(format!("{at}.label: {error}"));
    }
    for tag in &raw.tags {
        if !is_tag(tag) {
            problems.push(format!(
                "{at}.tags: `{tag}` is not a tag (1 to 64 characters, no blanks or commas)"
            ));
        }
    }
    if problems.len() > before {
        return None;
    }
    Some(EnrolPolicy {
        name: raw.name.unwrap_or_else(|| format!("enrol[{index}]")),
        chain,
        trigger,
        code_hash,
        label,
        tags: raw.tags.into_iter().collect(),
        abi: raw.abi,
        severity: raw.severity.unwrap_or(Severity::Medium),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used)]
    use super::*;
    use serde_json::json;

    const ANVIL: ChainId = ChainId(31337);

    fn check(items: serde_json::Value, full: bool) -> (EnrolConfig, Vec<String>) {
        let mut problems = Vec::new();
        let items = items.as_array().cloned().unwrap_or_default();
        let full_chains = if full { vec![ANVIL] } else { Vec::new() };
        let config = enrol_config(&items, None, &[ANVIL], &full_chains, &mut problems);
        (config, problems)
    }

    #[test]
    fn a_factory_policy_finds_its_address_argument() {
        let (config, problems) = check(
            json!([{ "factory": "0x00000000000000000000000000000000000000aa",
                     "event": "CloneCreated(uint256 id, address indexed clone)",
                     "label": "clone-{n}", "tags": ["clone"], "abi": "Noter" }]),
            false,
        );
        assert!(problems.is_empty(), "{problems:?}");
        assert!(
            !config.unknown_callers,
            "off without a chain of full blocks"
        );
        let policy = &config.policies[0];
        let Trigger::Factory { field, .. } = &policy.trigger else {
            panic!("a factory policy");
        };
        assert_eq!(*field, 1, "the first address argument");
        assert_eq!(policy.name, "enrol[0]");
        let address: Address = "0x00000000000000000000000000000000000000bb"
            .parse()
            .expect("an address");
        assert_eq!(policy.label_for(3, address, 7), "clone-3");
    }

    #[test]
    fn every_problem_is_named_with_its_key_path() {
        let (config, problems) = check(
            json!([
                { "deployer": "0x12", "label": "x-{n}" },
                { "factory": "0x00000000000000000000000000000000000000aa", "event": "Made(uint256 id)" },
                { "factory": "0x00000000000000000000000000000000000000aa", "deployer": "0x00000000000000000000000000000000000000aa" },
                { "deployer": "0x00000000000000000000000000000000000000aa", "label": "same" },
                { "create2_deployer": "0x4e59b44847b379578588920ca78fbf26c0b4956c", "label": "d-{x}" },
                { "deployer": "0x00000000000000000000000000000000000000aa", "colour": 1 },
            ]),
            false,
        );
        assert!(config.policies.is_empty());
        let text = problems.join("\n");
        for needle in [
            "registry.enrol[0].deployer",
            "registry.enrol[1].field",
            "registry.enrol[2]: give exactly one",
            "registry.enrol[3].label: `same` gives every contract the same label",
            "registry.enrol[4].label: `d-{x}` has a placeholder",
            "registry.enrol[4]: a create2_deployer policy reads transactions",
            "registry.enrol[5]: unknown field `colour`",
        ] {
            assert!(text.contains(needle), "{needle} missing from:\n{text}");
        }
    }

    #[test]
    fn unknown_callers_follow_the_policies_and_need_full_blocks() {
        let (config, problems) = check(
            json!([{ "deployer": "0x00000000000000000000000000000000000000aa", "label": "v-{n}" }]),
            true,
        );
        assert!(problems.is_empty(), "{problems:?}");
        assert!(config.unknown_callers, "on by default with a policy");
        let mut problems = Vec::new();
        let config = enrol_config(&[], Some(true), &[ANVIL], &[], &mut problems);
        assert!(config.unknown_callers);
        assert!(
            problems[0].contains("registry.unknown_callers"),
            "{problems:?}"
        );
    }

    #[test]
    fn code_hash_alone_is_a_trigger_and_beside_another_a_filter() {
        let hash = format!("0x{}", "ab".repeat(32));
        let (config, problems) = check(
            json!([
                { "code_hash": hash, "label": "safe-{n}" },
                { "deployer": "0x00000000000000000000000000000000000000aa",
                  "code_hash": hash, "label": "v-{n}" },
            ]),
            true,
        );
        assert!(problems.is_empty(), "{problems:?}");
        let expected: B256 = hash.parse().expect("a hash");
        assert!(
            matches!(config.policies[0].trigger, Trigger::CodeHash(h) if h == expected),
            "{:?}",
            config.policies[0].trigger
        );
        assert_eq!(config.policies[0].code_hash, Some(expected));
        assert!(matches!(config.policies[1].trigger, Trigger::Deployer(_)));
        assert_eq!(config.policies[1].code_hash, Some(expected), "a filter");
    }

    #[test]
    fn tag_triggers_follow_a_registry_tag() {
        let (config, problems) = check(
            json!([
                { "factory_tag": "factory", "event": "CloneCreated(uint256 id, address clone)",
                  "label": "clone-{n}" },
                { "deployer_tag": "deployer", "label": "release-{n}" },
            ]),
            true,
        );
        assert!(problems.is_empty(), "{problems:?}");
        let Trigger::FactoryTag { tag, field, .. } = &config.policies[0].trigger else {
            panic!("a factory_tag policy: {:?}", config.policies[0].trigger);
        };
        assert_eq!((tag.as_str(), *field), ("factory", 1));
        assert_eq!(config.policies[1].trigger.tag(), Some("deployer"));
        assert!(!config.policies[0].trigger.needs_full_blocks());
        assert!(config.policies[1].trigger.needs_full_blocks());
    }

    #[test]
    fn new_trigger_problems_are_located() {
        let (config, problems) = check(
            json!([
                { "code_hash": format!("0x{}", "ab".repeat(32)), "label": "safe-{n}" },
                { "deployer_tag": "deployer", "label": "r-{n}" },
                { "code_hash": "0x12", "label": "s-{n}" },
                { "factory_tag": "bad tag", "event": "Made(address a)", "label": "c-{n}" },
                { "factory_tag": "factory", "label": "c-{n}" },
                { "deployer_tag": "deployer", "event": "Made(address a)", "label": "r-{n}" },
                { "label": "nothing-{n}" },
                { "factory_tag": "factory", "deployer_tag": "deployer", "event": "Made(address a)",
                  "label": "two-{n}" },
                { "factory_tag": "factory", "event": "Made(uint256 id)", "label": "c-{n}" },
            ]),
            false,
        );
        assert!(config.policies.is_empty(), "{:?}", config.policies);
        let text = problems.join("\n");
        for needle in [
            "registry.enrol[0]: a code_hash policy reads transactions and receipts; set `fetch: full` on anvil",
            "registry.enrol[1]: a deployer_tag policy reads transactions and receipts",
            "registry.enrol[2].code_hash: `0x12` is not a 32-byte hex hash",
            "registry.enrol[3].factory_tag: `bad tag` is not a tag",
            "registry.enrol[4].event: a factory policy names the event",
            "registry.enrol[5]: `event` and `field` belong to a `factory` or `factory_tag` policy",
            "registry.enrol[6]: give exactly one of",
            "registry.enrol[7]: give exactly one of",
            "registry.enrol[8].field",
        ] {
            assert!(text.contains(needle), "{needle} missing from:\n{text}");
        }
    }
}
