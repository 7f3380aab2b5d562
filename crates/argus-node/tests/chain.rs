//! The node in-process on a real anvil: a config read by the node's own
//! loader, an event recorded and announced once, the live figures a server
//! will read, a reorg that retracts the alert of the orphaned block, and a
//! burst that reaches a Slack-type receiver as one digest while a webhook
//! receives every alert.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use argus_core::ChainId;
use argus_node::{NodeBuilder, NodeConfig, NodeEvent};
use argus_testkit::{Anvil, DEPLOYER, abi_string, noter_init_code};
use serde_json::json;
use tokio::sync::broadcast;

async fn next_event(events: &mut broadcast::Receiver<NodeEvent>) -> NodeEvent {
    tokio::time::timeout(Duration::from_secs(30), events.recv())
        .await
        .expect("an event within 30 s")
        .expect("the node is running")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_is_announced_once_and_retracted_by_a_reorg() {
    let anvil = Anvil::start();
    let noter = anvil.deploy(&noter_init_code());
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("rules.yaml"),
        r#"
rules:
  - id: note
    match: { event: { contract: any, signature: "Note(string message)" } }
    title: "note: {{args.message}}"
"#,
    )
    .unwrap();
    let config = json!({
        "data_dir": "data",
        "chains": [{
            "chain": "anvil",
            "rpc": [anvil.http_url()],
            "confirmations": 0,
            "fetch": "full",
            "start": anvil.block_number() + 1,
            "poll_interval": "100ms",
        }],
        "rules": ["rules.yaml"],
    });
    let path = dir.path().join("argus.yaml");
    std::fs::write(&path, config.to_string()).unwrap();
    let loaded = argus_node::config::load(&path).expect("a valid config");
    let data_dir = loaded.data_dir.clone().unwrap();
    assert_eq!(data_dir, dir.path().join("data"), "relative to the file");

    let builder = NodeBuilder::new(NodeConfig::from(&loaded), &data_dir)
        .store(argus_store::testing::store_in_dir(&data_dir).unwrap());
    let mut events = builder.subscribe();
    let node = builder.start().unwrap();
    let anvil_chain = ChainId(31337);

    let tx = anvil.send(
        json!({ "from": DEPLOYER, "to": format!("{noter:#x}"), "data": abi_string("hi"), "gas": "0x100000" }),
    );
    let number = argus_testkit::hex_u64(&anvil.receipt(&tx)["blockNumber"]);
    let NodeEvent::Alert { finding, recorded } = next_event(&mut events).await else {
        panic!("the first event is the alert");
    };
    assert_eq!(finding.title, "note: hi");
    assert!(recorded.new);
    let origin = finding.origin.unwrap();
    assert_eq!(origin.block.number, number);
    assert_eq!(format!("{:#x}", origin.tx_hash.unwrap()), tx);

    // The live figures: the tip is at least the alert's block, and the
    // endpoint answered.
    let tip = node.tips()[&anvil_chain].expect("a tip after a commit");
    assert!(tip.number >= number, "{tip:?}");
    let stats = &node.endpoint_stats()[&anvil_chain];
    assert_eq!(stats.len(), 1);

    // The block leaves the canonical chain: its alert is retracted, once.
    anvil.reorg(anvil.block_number() + 1 - number, json!([]));
    let retraction = loop {
        match next_event(&mut events).await {
            NodeEvent::Retraction {
                block, retracted, ..
            } if retracted.alerts > 0 => break (block, retracted),
            NodeEvent::Retraction { .. } => {}
            other => panic!("no new alert on an empty branch: {other:?}"),
        }
    };
    assert_eq!(retraction.0.number, number);
    assert_eq!(retraction.1.alerts, 1);
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_reaches_a_chat_sink_as_one_digest_and_a_webhook_alert_by_alert() {
    const BURST: usize = 40;
    let anvil = Anvil::start_with(&["--no-mining"]);
    let noter_tx = anvil.send(json!({ "data": noter_init_code(), "gas": "0x200000" }));
    anvil.mine(1);
    let noter = anvil.receipt(&noter_tx)["contractAddress"]
        .as_str()
        .unwrap()
        .to_owned();
    let slack = argus_testkit::Receiver::start();
    let hook = argus_testkit::Receiver::start();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("rules.yaml"),
        "rules:\n  - id: note\n    match: { event: { contract: any, signature: \"Note(string message)\" } }\n    title: \"note: {{args.message}}\"\n",
    )
    .unwrap();
    let config = json!({
        "data_dir": "data",
        "chains": [{
            "chain": "anvil",
            "rpc": [anvil.http_url()],
            "confirmations": 0,
            "fetch": "full",
            "start": anvil.block_number() + 1,
            "poll_interval": "100ms",
        }],
        "rules": ["rules.yaml"],
        "alerting": {
            "notifiers": {
                "chat": { "type": "slack", "webhook_url": slack.url("/services/T/B/x") },
                "hook": { "type": "webhook", "url": hook.url("/hook"), "secret": "s" },
            },
        },
    });
    let path = dir.path().join("argus.yaml");
    std::fs::write(&path, config.to_string()).unwrap();
    let loaded = argus_node::config::load(&path).expect("a valid config");
    let data_dir = loaded.data_dir.clone().unwrap();
    let node = NodeBuilder::new(NodeConfig::from(&loaded), &data_dir)
        .store(argus_store::testing::store_in_dir(&data_dir).unwrap())
        .start()
        .unwrap();

    // One block holding the whole burst.
    for i in 0..BURST {
        anvil.send(json!({
            "to": noter,
            "data": abi_string(&format!("n{i}")),
            "gas": "0x30000",
        }));
    }
    anvil.mine(1);

    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while hook.accepted().len() < BURST || slack.requests().is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "webhook {} of {BURST}, chat {}",
            hook.accepted().len(),
            slack.requests().len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Past another group wait: still the one message (the group interval
    // holds any later alert of the rule for a minute).
    tokio::time::sleep(argus_alerting::grouping::DEFAULT_GROUP_WAIT + Duration::from_secs(1)).await;
    let chat = slack.requests();
    assert_eq!(chat.len(), 1, "one digest, not {BURST} messages");
    let text = chat[0].json()["text"].as_str().unwrap().to_owned();
    assert!(
        text.starts_with(&format!("[MEDIUM] {BURST} alerts (rule=note)")),
        "{text}"
    );
    assert_eq!(hook.accepted().len(), BURST);
    node.stop().await;
}
