//! A bot's key used elsewhere, on a real anvil: the bot's own transactions,
//! reported in its submissions file, and one Argus signed, raise nothing; a second process
//! (`cast send` from the bot's unlocked account) is critical in the block
//! that holds its transaction, recorded before any later block.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write as _;
use std::path::Path;
use std::time::Duration;

use argus_core::{ChainId, Severity};
use argus_node::{NodeBuilder, NodeConfig, NodeEvent};
use argus_testkit::{ALICE, Anvil, BOB, hex_u64};
use serde_json::json;
use tokio::sync::broadcast;

fn report(file: &Path, tx_hash: &str, nonce: u64) {
    let mut out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(file)
        .unwrap();
    writeln!(
        out,
        r#"{{"tx_hash": "{tx_hash}", "from": "{ALICE}", "nonce": {nonce}, "chain": "anvil"}}"#
    )
    .unwrap();
}

/// The hash a transaction will have: signed by anvil's own key for ALICE
/// (`eth_signTransaction`), so the bot can report it before sending, as a
/// bot that logs before `eth_sendRawTransaction` does.
fn sign(anvil: &Anvil, nonce: u64) -> (String, String) {
    let raw = anvil.rpc(
        "eth_signTransaction",
        json!([{ "from": ALICE, "to": BOB, "value": "0x1", "gas": "0x5208",
                 "nonce": format!("{nonce:#x}"), "maxFeePerGas": "0x3b9aca00",
                 "maxPriorityFeePerGas": "0x1", "chainId": "0x7a69" }]),
    );
    let raw = raw.as_str().unwrap().to_owned();
    let bytes = alloy_primitives::hex::decode(&raw).unwrap();
    let hash = format!("{:#x}", alloy_primitives::keccak256(&bytes));
    (raw, hash)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_sender_of_the_bots_key_is_critical_within_the_block() {
    let anvil = Anvil::start();
    let dir = tempfile::tempdir().unwrap();
    let submissions = dir.path().join("arb-submissions.jsonl");
    std::fs::write(&submissions, "").unwrap();
    let mut chain = anvil.follow_config();
    chain["poll_interval"] = json!("100ms");
    let config = json!({
        "data_dir": "data",
        "chains": [chain],
        "incidents": {
            "bots": {
                "arb": {
                    "kill_switch_file": "arb.stop",
                    "wallets": [ALICE],
                    "chain": "anvil",
                    "key_use": { "submissions_file": "arb-submissions.jsonl" },
                },
            },
        },
    });
    let path = dir.path().join("argus.yaml");
    std::fs::write(&path, config.to_string()).unwrap();
    let loaded = argus_node::config::load(&path).expect("a valid config");
    let data_dir = loaded.data_dir.clone().unwrap();
    let builder = NodeBuilder::new(NodeConfig::from(&loaded), &data_dir)
        .store(argus_store::testing::store_in_dir(&data_dir).unwrap());
    let mut events = builder.subscribe();
    let node = builder.start().unwrap();

    // The bot's own transactions, each reported before it is sent.
    let mut own = Vec::new();
    for nonce in 0..3 {
        let (raw, hash) = sign(&anvil, nonce);
        report(&submissions, &hash, nonce);
        let sent = anvil.rpc("eth_sendRawTransaction", json!([raw]));
        assert_eq!(sent.as_str().unwrap(), hash);
        own.push(hex_u64(&anvil.receipt(&hash)["blockNumber"]));
    }

    // One Argus's responders signed through the vault (recorded before its
    // broadcast, as `respond` does).
    let (raw, hash) = sign(&anvil, 3);
    {
        let store = argus_store::testing::store_in_dir(&data_dir).unwrap();
        let conn = store.connect().unwrap();
        argus_incident::db::record_transaction(
            &conn,
            &argus_incident::db::SignedTransaction {
                incident_id: 1,
                step_id: "drain-guard".to_owned(),
                target: "native".to_owned(),
                chain: 31337,
                sender: ALICE.to_lowercase(),
                nonce: 3,
                tx_hash: hash.clone(),
                raw: raw.clone(),
                sent_ms: 0,
                replaces: None,
                status: "signed".to_owned(),
                block: None,
            },
        )
        .unwrap();
    }
    anvil.rpc("eth_sendRawTransaction", json!([raw]));
    own.push(hex_u64(&anvil.receipt(&hash)["blockNumber"]));

    // Another process sends from the same key.
    let out = std::process::Command::new(argus_testkit::cast::path())
        .args(["send", "--unlocked", "--from", ALICE, "--rpc-url"])
        .arg(anvil.http_url())
        .args([BOB, "--value", "7", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "cast send: {out:?}");
    let receipt: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rogue = receipt["transactionHash"].as_str().unwrap().to_owned();
    let rogue_block = hex_u64(&receipt["blockNumber"]);
    assert!(own.iter().all(|b| *b < rogue_block));

    let finding = next_alert(&mut events).await;
    assert_eq!(finding.rule_id, "argus.key-use.arb");
    assert_eq!(finding.severity, Severity::Critical);
    let origin = finding.origin.unwrap();
    assert_eq!(
        format!("{:#x}", origin.tx_hash.unwrap()),
        rogue,
        "the bot's own raise nothing"
    );
    assert_eq!(origin.block.number, rogue_block);
    assert_eq!(finding.fields.to_value()["bot"], "arb");
    // Within one block: recorded when its own block was, no later block
    // needed (anvil mines only on a transaction, and none came since).
    assert_eq!(anvil.block_number(), rogue_block);
    assert_eq!(
        node.tips()[&ChainId(31337)].map(|t| t.number),
        Some(rogue_block)
    );

    // A later reported transaction still raises nothing.
    let (raw, hash) = sign(&anvil, 5);
    report(&submissions, &hash, 5);
    anvil.rpc("eth_sendRawTransaction", json!([raw]));
    let last = hex_u64(&anvil.receipt(&hash)["blockNumber"]);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while node.tips()[&ChainId(31337)].map(|t| t.number) < Some(last) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "block {last} not recorded"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        !matches!(events.try_recv(), Ok(NodeEvent::Alert { .. })),
        "a reported transaction is no alert"
    );
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_grace_block_a_late_report_counts_and_a_rogue_one_alerts_a_block_later() {
    let anvil = Anvil::start();
    let dir = tempfile::tempdir().unwrap();
    let submissions = dir.path().join("arb-submissions.jsonl");
    let mut chain = anvil.follow_config();
    chain["poll_interval"] = json!("100ms");
    let config = json!({
        "data_dir": "data",
        "chains": [chain],
        "incidents": { "bots": { "arb": {
            "kill_switch_file": "arb.stop",
            "wallets": [ALICE],
            "chain": "anvil",
            "key_use": { "submissions_file": "arb-submissions.jsonl", "grace_blocks": 1 },
        } } },
    });
    let path = dir.path().join("argus.yaml");
    std::fs::write(&path, config.to_string()).unwrap();
    let loaded = argus_node::config::load(&path).expect("a valid config");
    let data_dir = loaded.data_dir.clone().unwrap();
    let builder = NodeBuilder::new(NodeConfig::from(&loaded), &data_dir)
        .store(argus_store::testing::store_in_dir(&data_dir).unwrap());
    let mut events = builder.subscribe();
    let node = builder.start().unwrap();
    let tip = || {
        node.tips()
            .get(&ChainId(31337))
            .copied()
            .flatten()
            .map(|t| t.number)
    };
    let wait_tip = |at: u64| {
        let tip = &tip;
        async move {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
            while tip() < Some(at) {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "block {at} not recorded"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };

    // Sent first, reported only after its block was recorded: within the
    // grace, so nothing.
    let (raw, hash) = sign(&anvil, 0);
    anvil.rpc("eth_sendRawTransaction", json!([raw]));
    let own = hex_u64(&anvil.receipt(&hash)["blockNumber"]);
    wait_tip(own).await;
    report(&submissions, &hash, 0);
    // A rogue transaction in the next block: judged one block later.
    let rogue = anvil.send(json!({ "from": ALICE, "to": BOB, "value": "0x7" }));
    let rogue_block = hex_u64(&anvil.receipt(&rogue)["blockNumber"]);
    wait_tip(rogue_block).await;
    assert!(
        !matches!(events.try_recv(), Ok(NodeEvent::Alert { .. })),
        "nothing before the grace is over"
    );
    anvil.mine(1);
    let finding = next_alert(&mut events).await;
    assert_eq!(
        format!("{:#x}", finding.origin.unwrap().tx_hash.unwrap()),
        rogue
    );
    assert_eq!(finding.origin.unwrap().block.number, rogue_block);
    assert_eq!(tip(), Some(rogue_block + 1), "one block later");
    node.stop().await;
}

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
