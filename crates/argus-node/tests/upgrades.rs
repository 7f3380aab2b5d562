//! Upgrades on a real anvil: a registered proxy upgraded to an
//! implementation nobody registered is critical; upgraded to a registered
//! one, the registry's link follows and the rules decode the proxy's events
//! with the new implementation's ABI; an EIP-1967 slot changed while the
//! node was stopped is caught at its next start.
//!
//! No compiler: the "proxy" is a hand-written contract that plays an
//! upgrade. Called with `topic ‖ value ‖ slot` (three words), it stores
//! `value` in storage `slot` and emits a log with topics `[topic, value]`:
//! with the `Upgraded(address)` topic and the EIP-1967 implementation slot,
//! exactly what an OpenZeppelin proxy's `upgradeTo` leaves on chain.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::Duration;

use alloy_json_abi::JsonAbi;
use alloy_primitives::{Address, keccak256};
use argus_core::{ChainId, Severity};
use argus_node::{NodeBuilder, NodeConfig, NodeEvent};
use argus_registry::{Contract, Deployment, ImportOptions, Registry, Scope, Source, SourceFormat};
use argus_testkit::{Anvil, abi_string, noter_init_code};
use serde_json::json;
use tokio::sync::broadcast;

/// `keccak256("eip1967.proxy.implementation") - 1`.
const IMPLEMENTATION_SLOT: &str =
    "360894a13ba1a3210667c828492db98dca3e2076cc3735a920a3ca505d382bbc";

/// The upgrade player's creation code. Runtime (14 bytes):
/// `PUSH1 0x20 CALLDATALOAD` (value), `DUP1`, `PUSH1 0x40 CALLDATALOAD`
/// (slot), `SSTORE`, `PUSH0 CALLDATALOAD` (topic), `PUSH0 PUSH0`, `LOG2`
/// (no data; topics: topic, value), `STOP`. The init code copies the
/// runtime (at offset 10) to memory and returns it.
fn upgrade_player_init_code() -> String {
    let runtime = "6020358060403555 5f355f5fa200".replace(' ', "");
    assert_eq!(runtime.len() / 2, 0x0e);
    format!("0x600e600a5f39600e5ff3{runtime}")
}

/// The calldata that makes the player emit `Upgraded(implementation)` and
/// store it in the EIP-1967 slot.
fn upgrade_to(implementation: Address) -> String {
    let topic = keccak256("Upgraded(address)");
    format!(
        "0x{}{:0>64}{IMPLEMENTATION_SLOT}",
        alloy_primitives::hex::encode(topic),
        alloy_primitives::hex::encode(implementation)
    )
}

fn abi(json: serde_json::Value) -> JsonAbi {
    serde_json::from_value(json).unwrap()
}

fn deployment(label: &str, address: Address, abi: JsonAbi) -> Contract {
    Contract {
        deployment: Some(Deployment {
            chain: ChainId(31337),
            address,
        }),
        label: label.to_owned(),
        abi,
        source: Source {
            format: SourceFormat::Abi,
            path: format!("{label}.json").into(),
        },
        tags: Default::default(),
        implementation: None,
        label_given: true,
        runtime_code_hash: None,
    }
}

fn proxy_abi() -> JsonAbi {
    abi(json!([
        { "type": "event", "name": "Upgraded", "anonymous": false,
          "inputs": [{ "name": "implementation", "type": "address", "indexed": true }] },
        { "type": "function", "name": "upgradeTo", "stateMutability": "nonpayable",
          "inputs": [{ "name": "implementation", "type": "address" }], "outputs": [] },
    ]))
}

fn note_abi() -> JsonAbi {
    abi(json!([
        { "type": "event", "name": "Note", "anonymous": false,
          "inputs": [{ "name": "message", "type": "string", "indexed": false }] },
    ]))
}

fn write_config(dir: &Path, anvil: &Anvil, start: u64) -> NodeConfig {
    std::fs::write(
        dir.join("rules.yaml"),
        r#"
rules:
  - id: vault-note
    match: { event: { contract: Vault, signature: Note } }
    title: "vault note: {{args.message}}"
"#,
    )
    .unwrap();
    let mut chain = anvil.follow_config();
    chain["start"] = json!(start);
    chain["poll_interval"] = json!("100ms");
    let config = json!({
        "data_dir": "data",
        "chains": [chain],
        "rules": ["rules.yaml"],
        "upgrades": { "registered": "medium" },
    });
    let path = dir.join("argus.yaml");
    std::fs::write(&path, config.to_string()).unwrap();
    let loaded = argus_node::config::load(&path).expect("a valid config");
    NodeConfig::from(&loaded)
}

/// The next alert (retractions and incidents skipped).
async fn next_alert(events: &mut broadcast::Receiver<NodeEvent>) -> argus_core::Finding {
    loop {
        let event = tokio::time::timeout(Duration::from_secs(30), events.recv())
            .await
            .expect("an alert within 30 s")
            .expect("the node is running");
        if let NodeEvent::Alert { finding, .. } = event {
            return *finding;
        }
    }
}

/// Mines a block and waits until the node recorded it: its start (the
/// slot reads) is over.
async fn wait_following(node: &argus_node::NodeHandle, anvil: &Anvil) {
    anvil.mine(1);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while node
        .tips()
        .get(&ChainId(31337))
        .copied()
        .flatten()
        .is_none()
    {
        assert!(tokio::time::Instant::now() < deadline, "no block recorded");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn link(data_dir: &Path, label: &str) -> Option<Address> {
    let registry = Registry::open(&argus_store::testing::store_in_dir(data_dir).unwrap()).unwrap();
    registry
        .find(label, Scope::Chain(ChainId(31337)))
        .unwrap()
        .implementation
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upgrade_is_followed_and_judged_and_the_new_abi_decodes() {
    let anvil = Anvil::start();
    let proxy = anvil.deploy(&upgrade_player_init_code());
    let registered = anvil.deploy(&noter_init_code());
    let stranger = Address::repeat_byte(0x5e);
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    {
        let mut registry =
            Registry::open(&argus_store::testing::store_in_dir(&data_dir).unwrap()).unwrap();
        registry
            .import(
                &[
                    deployment("Vault", proxy, proxy_abi()),
                    deployment("VaultV2", registered, note_abi()),
                ],
                ImportOptions::default(),
            )
            .unwrap();
    }
    let config = write_config(dir.path(), &anvil, anvil.block_number() + 1);
    let builder = NodeBuilder::new(config, &data_dir)
        .store(argus_store::testing::store_in_dir(&data_dir).unwrap());
    let mut events = builder.subscribe();
    let node = builder.start().unwrap();
    wait_following(&node, &anvil).await;

    // Upgraded to code nobody registered: critical, and the link follows.
    let tx = anvil.send(
        json!({ "to": format!("{proxy:#x}"), "data": upgrade_to(stranger), "gas": "0x100000" }),
    );
    let block = argus_testkit::hex_u64(&anvil.receipt(&tx)["blockNumber"]);
    let alert = next_alert(&mut events).await;
    assert_eq!(alert.rule_id, "argus.upgrade.implementation");
    assert_eq!(alert.severity, Severity::Critical, "{}", alert.title);
    assert!(
        alert.title.contains("NOT in the registry"),
        "{}",
        alert.title
    );
    assert_eq!(alert.origin.unwrap().block.number, block);
    assert_eq!(format!("{:#x}", alert.origin.unwrap().tx_hash.unwrap()), tx);
    assert_eq!(alert.fields.to_value()["registered"], false);
    assert_eq!(link(&data_dir, "Vault"), Some(stranger));

    // Upgraded to a registered implementation: the configured severity.
    anvil.send(
        json!({ "to": format!("{proxy:#x}"), "data": upgrade_to(registered), "gas": "0x100000" }),
    );
    let alert = next_alert(&mut events).await;
    assert_eq!(alert.severity, Severity::Medium, "{}", alert.title);
    assert!(alert.title.contains("VaultV2"), "{}", alert.title);
    assert_eq!(
        alert.fields.to_value()["previous"],
        stranger.to_checksum(None)
    );
    assert_eq!(link(&data_dir, "Vault"), Some(registered));
    // The change feed audits both moves, with the block they came from.
    let changes = Registry::open(&argus_store::testing::store_in_dir(&data_dir).unwrap())
        .unwrap()
        .changes_since(0)
        .unwrap();
    let linked: Vec<_> = changes
        .iter()
        .filter(|c| c.kind == argus_registry::ChangeKind::Linked)
        .collect();
    assert_eq!(linked.len(), 2);
    assert_eq!(linked[0].details["on_chain"]["block"], block);
    assert_eq!(linked[0].details["on_chain"]["seen_as"], "Upgraded");

    // The proxy now runs the implementation's code (played by replacing
    // its code with the noter's): its `Note` is decoded through the
    // implementation's ABI, which the Vault's own ABI lacks.
    let runtime = anvil.rpc("eth_getCode", json!([format!("{registered:#x}"), "latest"]));
    anvil.rpc("anvil_setCode", json!([format!("{proxy:#x}"), runtime]));
    anvil.send(
        json!({ "to": format!("{proxy:#x}"), "data": abi_string("hello"), "gas": "0x100000" }),
    );
    let alert = next_alert(&mut events).await;
    assert_eq!(alert.rule_id, "vault-note");
    assert_eq!(alert.title, "vault note: hello");
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slot_changed_while_the_node_was_stopped_is_caught_at_start() {
    let anvil = Anvil::start();
    let proxy = anvil.deploy(&upgrade_player_init_code());
    let registered = anvil.deploy(&noter_init_code());
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    // Registered with its link, and the chain agrees.
    anvil.send(
        json!({ "to": format!("{proxy:#x}"), "data": upgrade_to(registered), "gas": "0x100000" }),
    );
    {
        let mut registry =
            Registry::open(&argus_store::testing::store_in_dir(&data_dir).unwrap()).unwrap();
        let mut vault = deployment("Vault", proxy, proxy_abi());
        vault.implementation = Some(registered);
        registry
            .import(
                &[vault, deployment("VaultV2", registered, note_abi())],
                ImportOptions::default(),
            )
            .unwrap();
    }
    let config = write_config(dir.path(), &anvil, anvil.block_number() + 1);
    let node = NodeBuilder::new(config.clone(), &data_dir)
        .store(argus_store::testing::store_in_dir(&data_dir).unwrap())
        .start()
        .unwrap();
    // The node is following (a block recorded), and said nothing.
    let mut quiet = node.subscribe();
    wait_following(&node, &anvil).await;
    assert!(quiet.try_recv().is_err(), "the link agrees with the chain");
    node.stop().await;

    // While it is stopped, the slot moves with no event (a storage write,
    // as a hand-rolled proxy or a `selfdestruct`-and-redeploy would).
    let stranger = Address::repeat_byte(0x77);
    anvil.rpc(
        "anvil_setStorageAt",
        json!([
            format!("{proxy:#x}"),
            format!("0x{IMPLEMENTATION_SLOT}"),
            format!("0x{:0>64}", alloy_primitives::hex::encode(stranger))
        ]),
    );
    anvil.mine(1);

    let builder = NodeBuilder::new(config, &data_dir)
        .store(argus_store::testing::store_in_dir(&data_dir).unwrap());
    let mut events = builder.subscribe();
    let node = builder.start().unwrap();
    let alert = next_alert(&mut events).await;
    assert_eq!(alert.rule_id, "argus.upgrade.slot");
    assert_eq!(alert.severity, Severity::Critical, "{}", alert.title);
    assert_eq!(
        alert.fields.to_value()["previous"],
        registered.to_checksum(None)
    );
    assert_eq!(
        alert.fields.to_value()["implementation"],
        stranger.to_checksum(None)
    );
    assert_eq!(link(&data_dir, "Vault"), Some(stranger));
    node.stop().await;
}

/// A beacon: `implementation()` (any call) returns `implementation`.
/// Runtime (27 bytes): `PUSH20 implementation`, `PUSH0 MSTORE`,
/// `PUSH1 0x20 PUSH0 RETURN`.
fn beacon_init_code(implementation: Address) -> String {
    let runtime = format!(
        "73{}5f5260205ff3",
        alloy_primitives::hex::encode(implementation)
    );
    assert_eq!(runtime.len() / 2, 0x1b);
    format!("0x601b600a5f39601b5ff3{runtime}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_beacon_upgrade_is_followed_and_an_orphaned_upgrade_is_undone() {
    let anvil = Anvil::start();
    let proxy = anvil.deploy(&upgrade_player_init_code());
    let registered = anvil.deploy(&noter_init_code());
    let beacon = anvil.deploy(&beacon_init_code(registered));
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    {
        let mut registry =
            Registry::open(&argus_store::testing::store_in_dir(&data_dir).unwrap()).unwrap();
        registry
            .import(
                &[
                    deployment("Vault", proxy, proxy_abi()),
                    deployment("VaultV2", registered, note_abi()),
                ],
                ImportOptions::default(),
            )
            .unwrap();
    }
    let config = write_config(dir.path(), &anvil, anvil.block_number() + 1);
    let builder = NodeBuilder::new(config, &data_dir)
        .store(argus_store::testing::store_in_dir(&data_dir).unwrap());
    let mut events = builder.subscribe();
    let node = builder.start().unwrap();
    wait_following(&node, &anvil).await;

    // BeaconUpgraded(beacon): followed to the beacon's implementation().
    let beacon_slot = "a3f0ad74e5423aebfd80d3ef4346578335a9a72aeaee59ff6cb3582b35133d50";
    let data = format!(
        "0x{}{:0>64}{beacon_slot}",
        alloy_primitives::hex::encode(keccak256("BeaconUpgraded(address)")),
        alloy_primitives::hex::encode(beacon)
    );
    anvil.send(json!({ "to": format!("{proxy:#x}"), "data": data, "gas": "0x100000" }));
    let alert = next_alert(&mut events).await;
    assert_eq!(alert.fields.to_value()["seen_as"], "BeaconUpgraded");
    assert_eq!(alert.fields.to_value()["beacon"], beacon.to_checksum(None));
    assert_eq!(
        alert.fields.to_value()["implementation"],
        registered.to_checksum(None)
    );
    assert_eq!(alert.severity, Severity::Medium);
    assert_eq!(link(&data_dir, "Vault"), Some(registered));

    // An upgrade whose block is orphaned: its alert is retracted and the
    // link goes back to what the chain says.
    let stranger = Address::repeat_byte(0x42);
    let tx = anvil.send(
        json!({ "to": format!("{proxy:#x}"), "data": upgrade_to(stranger), "gas": "0x100000" }),
    );
    let number = argus_testkit::hex_u64(&anvil.receipt(&tx)["blockNumber"]);
    let alert = next_alert(&mut events).await;
    assert_eq!(alert.severity, Severity::Critical);
    assert_eq!(link(&data_dir, "Vault"), Some(stranger));
    anvil.reorg(anvil.block_number() + 1 - number, json!([]));
    let retracted = loop {
        let event = tokio::time::timeout(Duration::from_secs(30), events.recv())
            .await
            .expect("a retraction within 30 s")
            .unwrap();
        if let NodeEvent::Retraction {
            block, retracted, ..
        } = event
            && retracted.alerts > 0
        {
            break (block, retracted);
        }
    };
    assert_eq!(retracted.0.number, number);
    // Through the beacon again, as the remaining chain says.
    assert_eq!(link(&data_dir, "Vault"), Some(registered));
    let changes = Registry::open(&argus_store::testing::store_in_dir(&data_dir).unwrap())
        .unwrap()
        .changes_since(0)
        .unwrap();
    let last = changes.last().unwrap();
    assert_eq!(last.details["on_chain"]["reverted"], true);
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_enrolled_while_running_has_its_slot_read_at_once() {
    let anvil = Anvil::start();
    let proxy = anvil.deploy(&upgrade_player_init_code());
    let stranger = Address::repeat_byte(0x99);
    // Upgraded before Argus knows the proxy at all.
    anvil.send(
        json!({ "to": format!("{proxy:#x}"), "data": upgrade_to(stranger), "gas": "0x100000" }),
    );
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let config = write_config(dir.path(), &anvil, anvil.block_number() + 1);
    let builder = NodeBuilder::new(config, &data_dir)
        .store(argus_store::testing::store_in_dir(&data_dir).unwrap());
    let mut events = builder.subscribe();
    let node = builder.start().unwrap();
    wait_following(&node, &anvil).await;

    // Imported while the node runs, without a link: the next block's
    // registry check reads its slot.
    Registry::open(node.store())
        .unwrap()
        .import(
            &[deployment("Vault", proxy, proxy_abi())],
            ImportOptions::default(),
        )
        .unwrap();
    anvil.mine(1);
    let alert = next_alert(&mut events).await;
    assert_eq!(alert.rule_id, "argus.upgrade.slot");
    assert_eq!(alert.severity, Severity::Critical, "{}", alert.title);
    assert_eq!(alert.fields.to_value()["previous"], serde_json::Value::Null);
    assert_eq!(link(&data_dir, "Vault"), Some(stranger));
    node.stop().await;
}
