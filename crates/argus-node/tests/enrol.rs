//! The registry following the chain, on a real anvil with the node
//! in-process: a factory's clone and a deployer's creation enrolled and
//! alerted, the clone's events matched from the next block, a reorg taking
//! the enrolment back; planned CREATE2 addresses judged by their code; a
//! contract of an unknown deployer calling ours reported; an import during
//! the run signalled and watched from the next block; creations enrolled by
//! their code hash whoever sent them, by a deployer tagged in the registry,
//! and clones of a factory tagged while the node runs.
//!
//! No compiler: the factory and the caller are hand-written EVM bytecode,
//! each opcode commented below; the clones are `argus_testkit`'s noter.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use alloy_json_abi::JsonAbi;
use alloy_primitives::{Address, B256, hex, keccak256};
use argus_core::{ChainId, Finding, Severity};
use argus_node::{NodeBuilder, NodeConfig, NodeEvent, NodeHandle};
use argus_registry::derive::{CREATE2_DEPLOYER, Derivation};
use argus_registry::onchain::PlanRequest;
use argus_registry::{
    Contract, Deployment, ImportOptions, ListFilter, Registry, Source, SourceFormat,
};
use argus_testkit::{ALICE, Anvil, BOB, DEPLOYER, abi_string, noter_init_code};
use serde_json::{Value, json};
use tokio::sync::broadcast;

const ANVIL: ChainId = ChainId(31337);

/// The noter's ABI: one event, `Note(string message)`.
fn noter_abi() -> JsonAbi {
    serde_json::from_value(json!([{
        "type": "event", "name": "Note", "anonymous": false,
        "inputs": [{ "name": "message", "type": "string", "indexed": false }]
    }]))
    .unwrap()
}

/// The noter's runtime code: what its init code returns.
fn noter_runtime() -> Vec<u8> {
    let init = hex::decode(noter_init_code()).unwrap();
    init[10..].to_vec()
}

/// A factory: every call creates a noter and logs
/// `CloneCreated(address clone)` (the address in the data).
///
/// Runtime (51 bytes, then the noter's 51-byte init code):
/// ```text
/// 60 33  PUSH1 0x33   size of the embedded init code
/// 60 33  PUSH1 0x33   where it starts in this code
/// 5f     PUSH0        memory destination
/// 39     CODECOPY     memory[0..0x33] = the noter's init code
/// 60 33  PUSH1 0x33   size
/// 5f     PUSH0        offset
/// 5f     PUSH0        value
/// f0     CREATE       → the clone's address
/// 5f     PUSH0
/// 52     MSTORE       memory[0..32] = the address
/// 7f ..  PUSH32       keccak256("CloneCreated(address)")
/// 60 20  PUSH1 32     size
/// 5f     PUSH0        offset
/// a1     LOG1
/// 00     STOP
/// ```
/// Init code: `60 66 60 0a 5f 39` CODECOPY(0, 10, 0x66) of the runtime,
/// `60 66 5f f3` RETURN(0, 0x66).
fn factory_init_code() -> String {
    let topic = keccak256("CloneCreated(address)");
    let noter = noter_init_code();
    let runtime = format!(
        "603360335f3960335f5ff05f527f{}60205fa100{}",
        hex::encode(topic),
        noter.trim_start_matches("0x")
    );
    assert_eq!(runtime.len() / 2, 0x66);
    format!("0x6066600a5f3960665ff3{runtime}")
}

/// A contract that forwards its calldata to `target`.
///
/// Runtime (33 bytes):
/// ```text
/// 36 5f 5f 37   CALLDATACOPY(0, 0, CALLDATASIZE)
/// 5f 5f         retSize 0, retOffset 0
/// 36 5f 5f      argsSize CALLDATASIZE, argsOffset 0, value 0
/// 73 <target>   PUSH20 target
/// 5a f1         GAS, CALL
/// 00            STOP
/// ```
/// Init code: CODECOPY(0, 10, 0x21), RETURN(0, 0x21).
fn caller_init_code(target: Address) -> String {
    let runtime = format!("365f5f375f5f365f5f73{}5af100", hex::encode(target));
    assert_eq!(runtime.len() / 2, 0x21);
    format!("0x6021600a5f3960215ff3{runtime}")
}

fn abi_artifact(label: &str) -> Contract {
    Contract {
        deployment: None,
        label: label.to_owned(),
        abi: noter_abi(),
        source: Source {
            format: SourceFormat::Abi,
            path: format!("{label}.json").into(),
        },
        tags: BTreeSet::new(),
        implementation: None,
        label_given: true,
        // The noter's build output: a clone with this code takes its ABI.
        runtime_code_hash: Some(keccak256(noter_runtime())),
    }
}

fn deployment(label: &str, address: Address) -> Contract {
    Contract {
        deployment: Some(Deployment {
            chain: ANVIL,
            address,
        }),
        ..abi_artifact(label)
    }
}

/// Writes `argus.yaml` (and `rules.yaml`) into `dir` and loads it with the
/// node's own loader.
fn load(dir: &Path, anvil: &Anvil, registry: Value, rules: &str) -> argus_node::config::Loaded {
    load_following(dir, anvil.follow_config(), registry, rules)
}

/// As [`load`], with the `chains:` entry given.
fn load_following(
    dir: &Path,
    chain: Value,
    registry: Value,
    rules: &str,
) -> argus_node::config::Loaded {
    std::fs::write(dir.join("rules.yaml"), rules).unwrap();
    let config = json!({
        "data_dir": "data",
        "chains": [chain],
        "registry": registry,
        "rules": ["rules.yaml"],
    });
    let path = dir.join("argus.yaml");
    std::fs::write(&path, config.to_string()).unwrap();
    argus_node::config::load(&path).expect("a valid config")
}

fn start(loaded: &argus_node::config::Loaded) -> (NodeHandle, broadcast::Receiver<NodeEvent>) {
    let builder = NodeBuilder::new(NodeConfig::from(loaded), loaded.data_dir.as_ref().unwrap())
        .store(argus_store::testing::store_in_dir(loaded.data_dir.as_ref().unwrap()).unwrap());
    let events = builder.subscribe();
    (builder.start().unwrap(), events)
}

/// The next alert `wanted` accepts (others are passed over), within 30 s.
async fn alert(
    events: &mut broadcast::Receiver<NodeEvent>,
    wanted: impl Fn(&Finding) -> bool,
) -> Finding {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let event = tokio::time::timeout(left, events.recv())
            .await
            .expect("the alert within 30 s")
            .expect("the node is running");
        if let NodeEvent::Alert { finding, .. } = event
            && wanted(&finding)
        {
            return *finding;
        }
    }
}

fn address_field(finding: &Finding, key: &str) -> Address {
    finding.fields.to_value()[key]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_factory_clone_and_a_deployer_s_creation_are_enrolled_and_watched_from_the_next_block() {
    let anvil = Anvil::start();
    let factory = anvil.deploy(&factory_init_code());
    let dir = tempfile::tempdir().unwrap();
    let loaded = load(
        dir.path(),
        &anvil,
        json!({
            "enrol": [
                // No `abi:`: the registered build output with the clone's
                // runtime code gives it.
                { "name": "clones", "factory": format!("{factory:#x}"),
                  "event": "CloneCreated(address clone)", "label": "clone-{n}",
                  "tags": ["clone"] },
                { "name": "alice", "deployer": ALICE, "label": "alice-{n}", "abi": "Noter",
                  "severity": "high" },
            ],
        }),
        r#"
rules:
  - id: clone-note
    match: { event: { contract: "tag:clone", signature: "Note(string message)" } }
    title: "clone note: {{args.message}}"
"#,
    );
    let data_dir = loaded.data_dir.clone().unwrap();
    Registry::open(&argus_store::testing::store_in_dir(&data_dir).unwrap())
        .unwrap()
        .import(&[abi_artifact("Noter")], ImportOptions::default())
        .unwrap();
    let (node, mut events) = start(&loaded);

    // The factory makes a clone: enrolled and alerted at that block.
    let tx = anvil.send(json!({ "to": format!("{factory:#x}"), "gas": "0x200000" }));
    let receipt = anvil.receipt(&tx);
    let created_at = argus_testkit::hex_u64(&receipt["blockNumber"]);
    let clone: Address = receipt["logs"][0]["data"].as_str().unwrap()[26..]
        .parse::<Address>()
        .unwrap();
    let enrolled = alert(&mut events, |f| f.rule_id == "argus.registry.enrolled").await;
    assert_eq!(address_field(&enrolled, "address"), clone);
    assert_eq!(enrolled.fields.to_value()["label"], "clone-1");
    assert_eq!(enrolled.severity, Severity::Medium);
    assert_eq!(enrolled.origin.unwrap().block.number, created_at);
    assert_eq!(
        enrolled.fields.to_value()["code_hash"].as_str().unwrap(),
        keccak256(noter_runtime()).to_string()
    );
    let registry = Registry::open(node.store()).unwrap();
    let entry = registry
        .find("clone-1", argus_registry::Scope::Chain(ANVIL))
        .unwrap();
    assert_eq!(entry.address, Some(clone));
    assert!(entry.tags.contains("clone"));
    assert_eq!(
        entry.abi,
        noter_abi(),
        "the ABI of the build with the same code"
    );
    assert!(
        enrolled.fields.to_value()["abi_note"]
            .as_str()
            .unwrap()
            .starts_with("ABI of Noter (the same runtime code)"),
        "{}",
        enrolled.fields
    );

    // Its event in a later block matches the tag rule.
    let note = anvil.send(
        json!({ "to": format!("{clone:#x}"), "data": abi_string("hello"), "gas": "0x100000" }),
    );
    let noted = alert(&mut events, |f| f.rule_id == "clone-note").await;
    assert_eq!(noted.title, "clone note: hello");
    assert_eq!(
        format!("{:#x}", noted.origin.unwrap().tx_hash.unwrap()),
        note
    );

    // A plain creation by the watched deployer: enrolled under its policy.
    let created =
        anvil.send(json!({ "from": ALICE, "data": noter_init_code(), "gas": "0x200000" }));
    let alices: Address = anvil.receipt(&created)["contractAddress"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let enrolled = alert(&mut events, |f| {
        f.rule_id == "argus.registry.enrolled" && f.fields.to_value()["policy"] == "alice"
    })
    .await;
    assert_eq!(address_field(&enrolled, "address"), alices);
    assert_eq!(enrolled.fields.to_value()["label"], "alice-1");
    assert_eq!(enrolled.severity, Severity::High);
    // Another account's creation is not enrolled.
    let other = anvil.send(json!({ "from": BOB, "data": noter_init_code(), "gas": "0x200000" }));
    let others: Address = anvil.receipt(&other)["contractAddress"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();

    // A reorg orphaning the clone's block: its alert is retracted and the
    // entry removed (a removal in the change feed, reason `reorg`).
    let depth = anvil.block_number() + 1 - created_at;
    anvil.reorg(depth, json!([]));
    argus_testkit::wait_for("the clone removed", Duration::from_secs(30), || {
        let live = registry.list(&ListFilter::default()).unwrap();
        (!live.iter().any(|e| e.address == Some(clone))).then_some(())
    });
    let live = registry.list(&ListFilter::default()).unwrap();
    assert!(!live.iter().any(|e| e.address == Some(alices)), "{live:?}");
    assert!(!live.iter().any(|e| e.address == Some(others)));
    let removal = registry
        .changes_since(0)
        .unwrap()
        .into_iter()
        .rev()
        .find(|c| c.kind == argus_registry::ChangeKind::Removed)
        .expect("a removal in the feed");
    assert_eq!(removal.details["reason"], "reorg");
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_planned_create2_address_is_judged_by_the_code_that_appears() {
    let anvil = Anvil::start();
    // The deterministic deployer anvil carries.
    let proxy_code = anvil.rpc(
        "eth_getCode",
        json!([format!("{CREATE2_DEPLOYER:#x}"), "latest"]),
    );
    assert_ne!(proxy_code, json!("0x"), "anvil has the CREATE2 deployer");
    let dir = tempfile::tempdir().unwrap();
    let loaded = load(dir.path(), &anvil, json!({}), "rules: []\n");
    let data_dir = loaded.data_dir.clone().unwrap();
    let expected = keccak256(noter_runtime());
    let right_salt = B256::repeat_byte(0x11);
    let wrong_salt = B256::repeat_byte(0x22);
    let noter_init = hex::decode(noter_init_code()).unwrap();
    // The wrong build: its init code makes a contract that is not the noter.
    let wrong_init = hex::decode(caller_init_code(Address::ZERO)).unwrap();
    let mut registry =
        Registry::open(&argus_store::testing::store_in_dir(&data_dir).unwrap()).unwrap();
    let mut plan = |label: &str, salt: B256, init: &[u8]| {
        let derivation = Derivation::Create2 {
            factory: CREATE2_DEPLOYER,
            salt,
            init_code_hash: keccak256(init),
        };
        registry
            .plan(&PlanRequest {
                chain: ANVIL,
                address: derivation.address().unwrap(),
                label: label.to_owned(),
                tags: BTreeSet::new(),
                abi: noter_abi(),
                derivation: serde_json::to_value(&derivation).unwrap(),
                expected_code_hash: Some(expected),
            })
            .unwrap()
    };
    let right = plan("Noter", right_salt, &noter_init);
    let wrong = plan("NoterWrongBuild", wrong_salt, &wrong_init);
    assert_eq!(registry.planned().unwrap().len(), 2);
    let (node, mut events) = start(&loaded);

    let deploy = |salt: B256, init: &[u8]| {
        let data = format!("0x{}{}", hex::encode(salt), hex::encode(init));
        let tx = anvil.send(
            json!({ "to": format!("{CREATE2_DEPLOYER:#x}"), "data": data, "gas": "0x200000" }),
        );
        assert_eq!(anvil.receipt(&tx)["status"], "0x1");
    };
    deploy(wrong_salt, &wrong_init);
    let mismatch = alert(&mut events, |f| {
        f.rule_id == "argus.registry.planned-code-mismatch"
    })
    .await;
    assert_eq!(mismatch.severity, Severity::Critical);
    assert_eq!(address_field(&mismatch, "address"), wrong.address);
    assert!(
        mismatch.title.contains("NOT the expected"),
        "{}",
        mismatch.title
    );

    deploy(right_salt, &noter_init);
    let deployed = alert(&mut events, |f| {
        f.rule_id == "argus.registry.planned-deployed"
    })
    .await;
    assert_eq!(deployed.severity, Severity::Info);
    assert_eq!(address_field(&deployed, "address"), right.address);

    // Both plans are deployments now: nothing more is alerted for them.
    let registry = Registry::open(node.store()).unwrap();
    argus_testkit::wait_for("both plans deployed", Duration::from_secs(10), || {
        registry
            .planned()
            .unwrap()
            .iter()
            .all(|p| p.status == argus_registry::onchain::PlannedStatus::Deployed)
            .then_some(())
    });

    // A reorg orphaning the right deployment's block: that plan waits again
    // (the code is gone on the new branch), the other stays deployed.
    anvil.reorg(1, json!([]));
    argus_testkit::wait_for("the plan waiting again", Duration::from_secs(30), || {
        let plans = registry.planned().unwrap();
        let status = |label: &str| plans.iter().find(|p| p.label == label).map(|p| p.status);
        (status("Noter") == Some(argus_registry::onchain::PlannedStatus::Planned)
            && status("NoterWrongBuild") == Some(argus_registry::onchain::PlannedStatus::Deployed))
        .then_some(())
    });
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_deployer_s_contract_calling_ours_is_reported_not_enrolled() {
    let anvil = Anvil::start();
    let ours = anvil.deploy(&noter_init_code());
    let dir = tempfile::tempdir().unwrap();
    let loaded = load(
        dir.path(),
        &anvil,
        json!({ "enrol": [{ "deployer": DEPLOYER, "label": "ours-{n}", "abi": "Noter" }] }),
        "rules: []\n",
    );
    assert!(loaded.enrol.unknown_callers, "on with a policy");
    let data_dir = loaded.data_dir.clone().unwrap();
    Registry::open(&argus_store::testing::store_in_dir(&data_dir).unwrap())
        .unwrap()
        .import(&[deployment("Noter", ours)], ImportOptions::default())
        .unwrap();
    let (node, mut events) = start(&loaded);

    // BOB, whom no policy watches, deploys a contract that calls ours.
    let created =
        anvil.send(json!({ "from": BOB, "data": caller_init_code(ours), "gas": "0x200000" }));
    let caller: Address = anvil.receipt(&created)["contractAddress"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let call = anvil.send(json!({ "from": BOB, "to": format!("{caller:#x}"), "data": abi_string("poke"), "gas": "0x100000" }));
    let logs = &anvil.receipt(&call)["logs"];
    assert_eq!(
        logs[0]["address"]
            .as_str()
            .unwrap()
            .parse::<Address>()
            .unwrap(),
        ours,
        "{logs}"
    );
    let reported = alert(&mut events, |f| {
        f.rule_id == "argus.registry.unknown-caller"
    })
    .await;
    assert_eq!(reported.severity, Severity::High);
    assert_eq!(address_field(&reported, "caller"), caller);
    assert_eq!(
        address_field(&reported, "deployer"),
        BOB.parse::<Address>().unwrap()
    );
    assert_eq!(
        reported.fields.to_value()["called"][0],
        ours.to_checksum(None)
    );
    assert_eq!(
        format!("{:#x}", reported.origin.unwrap().tx_hash.unwrap()),
        call
    );
    let registry = Registry::open(node.store()).unwrap();
    assert!(
        !registry
            .list(&ListFilter::default())
            .unwrap()
            .iter()
            .any(|e| e.address == Some(caller)),
        "reported, not enrolled"
    );
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_while_running_is_a_signal_and_watched_from_the_next_block() {
    let anvil = Anvil::start();
    let noter = anvil.deploy(&noter_init_code());
    let dir = tempfile::tempdir().unwrap();
    let loaded = load(
        dir.path(),
        &anvil,
        json!({}),
        r#"
rules:
  - id: new-contract
    match: { signal: registry_change }
    condition: labels.kind == "added" && labels.chain == "anvil"
    title: "{{labels.label}} joined the registry at {{labels.address}} ({{labels.source}})"
    severity: info
  - id: watched-note
    match: { event: { contract: Watched, signature: "Note(string message)" } }
    title: "watched: {{args.message}}"
"#,
    );
    let (node, mut events) = start(&loaded);
    // Before the import, the noter's events match nothing.
    let early = anvil.send(
        json!({ "to": format!("{noter:#x}"), "data": abi_string("early"), "gas": "0x100000" }),
    );
    let early_block = argus_testkit::hex_u64(&anvil.receipt(&early)["blockNumber"]);
    argus_testkit::wait_for(
        "the node past the early note",
        Duration::from_secs(30),
        || {
            node.tips()
                .get(&ANVIL)
                .copied()
                .flatten()
                .filter(|tip| tip.number >= early_block)
        },
    );

    Registry::open(node.store())
        .unwrap()
        .import(&[deployment("Watched", noter)], ImportOptions::default())
        .unwrap();
    let joined = alert(&mut events, |f| f.rule_id == "new-contract").await;
    assert_eq!(
        joined.title,
        format!(
            "Watched joined the registry at {} (abi)",
            noter.to_checksum(None)
        )
    );
    assert_eq!(joined.fields.to_value()["labels"]["kind"], "added");

    anvil.send(
        json!({ "to": format!("{noter:#x}"), "data": abi_string("late"), "gas": "0x100000" }),
    );
    let noted = alert(&mut events, |f| f.rule_id == "watched-note").await;
    assert_eq!(
        noted.title, "watched: late",
        "the early note was not watched"
    );
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clone_used_in_the_same_batch_as_its_creation_is_matched() {
    let anvil = Anvil::start();
    let factory = anvil.deploy(&factory_init_code());
    let dir = tempfile::tempdir().unwrap();
    let loaded = load(
        dir.path(),
        &anvil,
        json!({ "enrol": [{ "factory": format!("{factory:#x}"), "event": "CloneCreated(address)",
                            "label": "clone-{n}", "tags": ["clone"], "abi": "Noter" }] }),
        r#"
rules:
  - id: clone-note
    match: { event: { contract: "tag:clone", signature: "Note(string message)" } }
    title: "clone note: {{args.message}}"
"#,
    );
    Registry::open(&argus_store::testing::store_in_dir(loaded.data_dir.as_ref().unwrap()).unwrap())
        .unwrap()
        .import(&[abi_artifact("Noter")], ImportOptions::default())
        .unwrap();
    // Both blocks exist before the node starts (it starts at the block
    // after the factory's): the backfill reads them in one batch.
    let tx = anvil.send(json!({ "to": format!("{factory:#x}"), "gas": "0x200000" }));
    let clone: Address = anvil.receipt(&tx)["logs"][0]["data"].as_str().unwrap()[26..]
        .parse()
        .unwrap();
    anvil.send(
        json!({ "to": format!("{clone:#x}"), "data": abi_string("at once"), "gas": "0x100000" }),
    );
    let (node, mut events) = start(&loaded);
    let noted = alert(&mut events, |f| f.rule_id == "clone-note").await;
    assert_eq!(noted.title, "clone note: at once");
    node.stop().await;
}

#[test]
fn the_example_registry_rules_load() {
    let path = argus_testkit::workspace_root().join("examples/rules/registry.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let rules = argus_rules::RuleSet::from_yaml(&text, &path).expect("valid rules");
    assert_eq!(rules.rules().len(), 2);
}

/// A registry entry with no ABI at `address` (an EOA, or a factory whose
/// events the policy names), carrying `tags`.
fn bare_entry(label: &str, address: Address, tags: &[&str]) -> Contract {
    Contract {
        deployment: Some(Deployment {
            chain: ANVIL,
            address,
        }),
        label: label.to_owned(),
        abi: JsonAbi::new(),
        source: Source {
            format: SourceFormat::Abi,
            path: format!("{label}.json").into(),
        },
        tags: tags.iter().map(|t| (*t).to_owned()).collect(),
        implementation: None,
        label_given: true,
        runtime_code_hash: None,
    }
}

fn created_address(anvil: &Anvil, tx: &str) -> Address {
    anvil.receipt(tx)["contractAddress"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// Waits until the node recorded block `number` (the enrolments of a block
/// are written in the transaction that records it).
fn wait_recorded(node: &NodeHandle, number: u64) {
    argus_testkit::wait_for("the node past the block", Duration::from_secs(30), || {
        node.tips()
            .get(&ANVIL)
            .copied()
            .flatten()
            .filter(|tip| tip.number >= number)
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creations_are_enrolled_by_code_hash_whoever_sent_them_and_by_a_tagged_deployer() {
    let anvil = Anvil::start();
    let dir = tempfile::tempdir().unwrap();
    let noter_hash = keccak256(noter_runtime());
    let loaded = load(
        dir.path(),
        &anvil,
        json!({
            "enrol": [
                { "name": "alice", "deployer": ALICE, "label": "alice-{n}", "abi": "Noter" },
                // `code_hash` alone: a trigger, not a filter.
                { "name": "noters", "code_hash": noter_hash.to_string(), "label": "noter-{n}",
                  "tags": ["noter"], "severity": "high" },
                { "name": "releases", "deployer_tag": "release", "label": "release-{n}",
                  "abi": "Noter" },
            ],
        }),
        r#"
rules:
  - id: noter-note
    match: { event: { contract: "tag:noter", signature: "Note(string message)" } }
    title: "noter note: {{args.message}}"
"#,
    );
    Registry::open(&argus_store::testing::store_in_dir(loaded.data_dir.as_ref().unwrap()).unwrap())
        .unwrap()
        .import(&[abi_artifact("Noter")], ImportOptions::default())
        .unwrap();
    let (node, mut events) = start(&loaded);

    // BOB, whom no policy names: other code, then the noter's code.
    let other = created_address(
        &anvil,
        &anvil.send(
            json!({ "from": BOB, "data": caller_init_code(Address::ZERO), "gas": "0x200000" }),
        ),
    );
    let bobs = created_address(
        &anvil,
        &anvil.send(json!({ "from": BOB, "data": noter_init_code(), "gas": "0x200000" })),
    );
    // ALICE's noter: her deployer policy comes first.
    let alices = created_address(
        &anvil,
        &anvil.send(json!({ "from": ALICE, "data": noter_init_code(), "gas": "0x200000" })),
    );
    // Every registry alert until ALICE's, in block order.
    let mut seen = Vec::new();
    loop {
        let finding = alert(&mut events, |f| f.rule_id.starts_with("argus.registry.")).await;
        let last = finding.fields.to_value()["policy"] == "alice";
        seen.push(finding);
        if last {
            break;
        }
    }
    assert_eq!(seen.len(), 2, "{seen:#?}");
    let by_code = &seen[0];
    assert_eq!(by_code.rule_id, "argus.registry.enrolled");
    assert_eq!(address_field(by_code, "address"), bobs);
    assert_eq!(by_code.fields.to_value()["policy"], "noters");
    assert_eq!(by_code.fields.to_value()["label"], "noter-1");
    assert_eq!(by_code.severity, Severity::High);
    assert_eq!(
        address_field(by_code, "by"),
        BOB.parse::<Address>().unwrap()
    );
    assert_eq!(
        by_code.fields.to_value()["code_hash"],
        noter_hash.to_string()
    );
    assert_eq!(address_field(&seen[1], "address"), alices);
    assert_eq!(seen[1].fields.to_value()["label"], "alice-1");
    let registry = Registry::open(node.store()).unwrap();
    let live = registry.list(&ListFilter::default()).unwrap();
    assert!(
        !live.iter().any(|e| e.address == Some(other)),
        "other code is not enrolled: {live:?}"
    );
    let entry = registry
        .find("noter-1", argus_registry::Scope::Chain(ANVIL))
        .unwrap();
    assert_eq!(entry.address, Some(bobs));
    assert!(entry.tags.contains("noter"));
    assert_eq!(
        entry.abi,
        noter_abi(),
        "the ABI of the build with that code"
    );
    // Watched from the next block.
    anvil.send(
        json!({ "to": format!("{bobs:#x}"), "data": abi_string("by code"), "gas": "0x100000" }),
    );
    let noted = alert(&mut events, |f| f.rule_id == "noter-note").await;
    assert_eq!(noted.title, "noter note: by code");

    // BOB registered as an account with no ABI, tagged `release`, while the
    // node runs: his next creation is his tag policy's, not the code's.
    Registry::open(node.store())
        .unwrap()
        .import(
            &[bare_entry("bob", BOB.parse().unwrap(), &["release"])],
            ImportOptions::default(),
        )
        .unwrap();
    let released = created_address(
        &anvil,
        &anvil.send(json!({ "from": BOB, "data": noter_init_code(), "gas": "0x200000" })),
    );
    let enrolled = alert(&mut events, |f| f.rule_id == "argus.registry.enrolled").await;
    assert_eq!(address_field(&enrolled, "address"), released);
    assert_eq!(enrolled.fields.to_value()["policy"], "releases");
    assert_eq!(enrolled.fields.to_value()["label"], "release-1");
    assert_eq!(
        enrolled.fields.to_value()["via"],
        "a deployer tagged `release`"
    );
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_factory_tagged_while_running_has_its_clones_enrolled_until_untagged() {
    let anvil = Anvil::start();
    let factory = anvil.deploy(&factory_init_code());
    let dir = tempfile::tempdir().unwrap();
    // Logs of listed addresses only: the tagged factory must join the list.
    let mut chain = anvil.follow_config();
    let unrelated = Address::repeat_byte(0x77);
    chain["fetch"] = json!({ "logs": { "addresses": [format!("{unrelated:#x}")] } });
    let loaded = load_following(
        dir.path(),
        chain,
        json!({
            "enrol": [{ "name": "clones", "factory_tag": "factory",
                        "event": "CloneCreated(address clone)", "label": "clone-{n}",
                        "tags": ["clone"], "abi": "Noter" }],
            "unknown_callers": false,
        }),
        r#"
rules:
  - id: clone-note
    match: { event: { contract: "tag:clone", signature: "Note(string message)" } }
    title: "clone note: {{args.message}}"
"#,
    );
    Registry::open(&argus_store::testing::store_in_dir(loaded.data_dir.as_ref().unwrap()).unwrap())
        .unwrap()
        .import(&[abi_artifact("Noter")], ImportOptions::default())
        .unwrap();
    let (node, mut events) = start(&loaded);
    let make_clone = || {
        let tx = anvil.send(json!({ "to": format!("{factory:#x}"), "gas": "0x200000" }));
        let receipt = anvil.receipt(&tx);
        let clone: Address = receipt["logs"][0]["data"].as_str().unwrap()[26..]
            .parse()
            .unwrap();
        (clone, argus_testkit::hex_u64(&receipt["blockNumber"]))
    };

    // Before the tag: the factory is nobody's.
    let (before, before_block) = make_clone();
    wait_recorded(&node, before_block);

    // Registered with the tag while the node runs: a factory from the next block.
    let mut registry = Registry::open(node.store()).unwrap();
    registry
        .import(
            &[bare_entry("Factory", factory, &["factory"])],
            ImportOptions::default(),
        )
        .unwrap();
    let (clone, clone_block) = make_clone();
    let enrolled = alert(&mut events, |f| f.rule_id == "argus.registry.enrolled").await;
    assert_eq!(address_field(&enrolled, "address"), clone);
    assert_eq!(enrolled.fields.to_value()["label"], "clone-1");
    assert_eq!(address_field(&enrolled, "by"), factory);
    assert_eq!(enrolled.origin.unwrap().block.number, clone_block);
    let live = registry.list(&ListFilter::default()).unwrap();
    assert!(!live.iter().any(|e| e.address == Some(before)), "{live:?}");
    // The clone's logs are fetched and matched from the next block.
    anvil.send(
        json!({ "to": format!("{clone:#x}"), "data": abi_string("tagged"), "gas": "0x100000" }),
    );
    let noted = alert(&mut events, |f| f.rule_id == "clone-note").await;
    assert_eq!(noted.title, "clone note: tagged");

    // Untagged: its clones are nobody's again.
    registry
        .remove_tags(
            "Factory",
            argus_registry::Scope::Chain(ANVIL),
            &["factory".to_owned()],
        )
        .unwrap();
    let (after, after_block) = make_clone();
    wait_recorded(&node, after_block);
    let live = registry.list(&ListFilter::default()).unwrap();
    assert!(!live.iter().any(|e| e.address == Some(after)), "{live:?}");
    assert_eq!(
        live.iter().filter(|e| e.tags.contains("clone")).count(),
        1,
        "{live:?}"
    );
    node.stop().await;
}
