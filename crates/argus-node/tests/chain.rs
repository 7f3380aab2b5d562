//! The node in-process on a real anvil: a config read by the node's own
//! loader, an event recorded and announced once, the live figures a server
//! will read, and a reorg that retracts the alert of the orphaned block.

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

    let builder = NodeBuilder::new(NodeConfig::from(&loaded), &data_dir);
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
