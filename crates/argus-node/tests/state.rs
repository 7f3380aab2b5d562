//! State rules in-process on real anvils: an invariant over `eth_call`
//! results broken by a transaction alerts at exactly that block (not
//! before), a read that reverts is a rule-error alert, a reorg that removes
//! the breaking block retracts its alert, and a cross-chain invariant over
//! two anvils alerts when one side breaks it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::Duration;

use argus_core::{ChainId, Finding};
use argus_node::{NodeBuilder, NodeConfig, NodeEvent};
use argus_registry::{ImportHints, ImportOptions, Registry, load_path};
use argus_testkit::{ALICE, Anvil, DEPLOYER, TOKEN, cast, hex_u64, testdata};
use serde_json::{Value, json};
use tokio::sync::broadcast;

async fn next_event(events: &mut broadcast::Receiver<NodeEvent>) -> NodeEvent {
    tokio::time::timeout(Duration::from_secs(30), events.recv())
        .await
        .expect("an event within 30 s")
        .expect("the node is running")
}

/// The next alert of `rule`, with every alert seen before it.
async fn next_alert_of(
    events: &mut broadcast::Receiver<NodeEvent>,
    rule: &str,
    before: &mut Vec<Finding>,
) -> Finding {
    loop {
        if let NodeEvent::Alert { finding, .. } = next_event(events).await {
            if finding.rule_id == rule {
                return *finding;
            }
            before.push(*finding);
        }
    }
}

fn total_supply(anvil: &Anvil) -> u128 {
    let answer = anvil.rpc(
        "eth_call",
        json!([{ "to": TOKEN, "data": cast::calldata("totalSupply()", &[]) }, "latest"]),
    );
    u128::from_str_radix(answer.as_str().unwrap().trim_start_matches("0x"), 16).unwrap()
}

fn mint(anvil: &Anvil, amount: &str) -> u64 {
    let tx = anvil.send(json!({
        "from": DEPLOYER,
        "to": TOKEN,
        "data": cast::calldata("mint(address,uint256)", &[ALICE, amount]),
        "gas": "0x100000",
    }));
    let receipt = anvil.receipt(&tx);
    assert_eq!(receipt["status"], "0x1");
    hex_u64(&receipt["blockNumber"])
}

/// Writes the config and rules, imports the sample project into the
/// registry, and builds the node.
fn node(dir: &Path, chains: Value, rules: &str) -> NodeBuilder {
    std::fs::write(dir.join("rules.yaml"), rules).unwrap();
    let config = json!({ "data_dir": "data", "chains": chains, "rules": ["rules.yaml"] });
    let path = dir.join("argus.yaml");
    std::fs::write(&path, config.to_string()).unwrap();
    let loaded = argus_node::config::load(&path).expect("a valid config");
    let data_dir = loaded.data_dir.clone().unwrap();
    let mut registry =
        Registry::open(&argus_store::testing::store_in_dir(&data_dir).unwrap()).unwrap();
    let contracts = load_path(&testdata("foundry-project"), &ImportHints::default()).unwrap();
    registry
        .import(&contracts, ImportOptions::default())
        .unwrap();
    drop(registry);
    NodeBuilder::new(NodeConfig::from(&loaded), &data_dir)
        .store(argus_store::testing::store_in_dir(&data_dir).unwrap())
}

fn chain(anvil: &Anvil, name: &str) -> Value {
    json!({
        "chain": name,
        "rpc": [anvil.http_url()],
        "confirmations": 0,
        "fetch": "full",
        "start": anvil.block_number() + 1,
        "poll_interval": "100ms",
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invariant_broken_by_a_transaction_alerts_at_that_block_and_a_reorg_retracts_it() {
    let anvil = Anvil::start();
    anvil.deploy_sample_project();
    let cap = total_supply(&anvil);
    let dir = tempfile::tempdir().unwrap();
    let rules = format!(
        r#"
rules:
  - id: supply-cap
    severity: critical
    match:
      state:
        reads:
          supply: {{ contract: Token, call: totalSupply() }}
          alice: {{ contract: Token, call: "balanceOf(address)", args: ["{ALICE}"] }}
    invariant: reads.supply <= uint256("{cap}")
    title: "supply {{{{reads.supply}}}} over {cap} at block {{{{block.number}}}}"
  - id: reverting-read
    match:
      state:
        reads:
          gone: {{ contract: Token, call: "nosuch() returns (uint256)" }}
    invariant: reads.gone == 0
"#
    );
    let builder = node(dir.path(), json!([chain(&anvil, "anvil")]), &rules);
    let mut events = builder.subscribe();
    let node = builder.start().unwrap();

    // An empty block: the supply holds, the reverting read is a rule error.
    anvil.mine(1);
    let mut before = Vec::new();
    let error = next_alert_of(&mut events, "argus.rule-error.reverting-read", &mut before).await;
    assert!(
        error.title.contains("nosuch()") && error.title.contains("revert"),
        "{}",
        error.title
    );
    let quiet_block = error.origin.unwrap().block.number;

    // The mint breaks the invariant at its own block, not before.
    let broken_at = mint(&anvil, "1");
    let alert = next_alert_of(&mut events, "supply-cap", &mut before).await;
    let origin = alert.origin.unwrap();
    assert_eq!(origin.chain, ChainId(31337));
    assert_eq!(
        origin.block.number, broken_at,
        "the alert is at the breaking block"
    );
    assert!(broken_at > quiet_block);
    assert_eq!(origin.block.hash, anvil.block_hash(broken_at));
    assert_eq!(
        alert.title,
        format!("supply {} over {cap} at block {broken_at}", cap + 1)
    );
    assert_eq!(alert.fields.to_value()["reads"]["alice"], "1");
    assert!(
        before.iter().all(|f| f.rule_id != "supply-cap"),
        "no supply alert before the mint: {before:?}"
    );

    // The breaking block leaves the chain: its alerts are retracted.
    anvil.reorg(anvil.block_number() + 1 - broken_at, json!([]));
    let retracted = loop {
        match next_event(&mut events).await {
            NodeEvent::Retraction {
                block, retracted, ..
            } if block.number == broken_at => break retracted,
            NodeEvent::Alert { finding, .. } => assert_ne!(
                finding.rule_id, "supply-cap",
                "the new branch has no mint: {finding:?}"
            ),
            _ => {}
        }
    };
    // The supply alert and the block's rule error.
    assert_eq!(retracted.alerts, 2);
    assert_eq!(total_supply(&anvil), cap);
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cross_chain_invariant_alerts_when_one_side_breaks_it() {
    let l1 = Anvil::start();
    let l2 = Anvil::start_with(&["--chain-id", "10"]);
    l1.deploy_sample_project();
    l2.deploy_sample_project();
    let dir = tempfile::tempdir().unwrap();
    let rules = format!(
        r#"
rules:
  - id: bridge-backed
    severity: critical
    match:
      state:
        reads:
          locked: {{ chain: anvil, contract: "{TOKEN}", call: "totalSupply() returns (uint256)" }}
          minted: {{ chain: optimism, contract: "{TOKEN}", call: "totalSupply() returns (uint256)" }}
    invariant: reads.locked >= reads.minted
"#
    );
    let builder = node(
        dir.path(),
        json!([chain(&l1, "anvil"), chain(&l2, "optimism")]),
        &rules,
    );
    let mut events = builder.subscribe();
    let node = builder.start().unwrap();
    // Both sides move with equal supplies: nothing.
    l1.mine(1);
    l2.mine(1);
    let minted_at = mint(&l2, "5");
    let mut before = Vec::new();
    let alert = next_alert_of(&mut events, "bridge-backed", &mut before).await;
    assert!(before.is_empty(), "{before:?}");
    let origin = alert.origin.unwrap();
    assert_eq!(origin.chain, ChainId(10), "the chain that moved");
    assert_eq!(origin.block.number, minted_at);
    let supply = total_supply(&l1);
    assert_eq!(
        alert.fields.to_value()["reads"]["locked"],
        supply.to_string()
    );
    assert_eq!(
        alert.fields.to_value()["reads"]["minted"],
        (supply + 5).to_string()
    );
    assert!(alert.fields.to_value()["blocks"]["31337"]["number"].is_u64());
    node.stop().await;
}
