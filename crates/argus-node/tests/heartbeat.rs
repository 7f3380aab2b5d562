//! The heartbeat on real parts: a node following a real anvil pings a real
//! HTTP receiver with its health on an interval; a bad section is refused
//! by the loader at its line.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use argus_node::{NodeBuilder, NodeConfig};
use argus_testkit::{Anvil, Receiver, wait_for_async};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_node_pings_its_health_on_an_interval() {
    let anvil = Anvil::start();
    anvil.mine(3);
    let receiver = Receiver::start();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rules.yaml"), "rules: []\n").unwrap();
    let config = json!({
        "data_dir": "data",
        "chains": [{ "chain": "anvil", "rpc": [anvil.http_url()], "confirmations": 0,
                     "start": 1, "poll_interval": "100ms" }],
        "rules": ["rules.yaml"],
        "heartbeat": { "urls": [receiver.url("/ping")], "every": "1s", "timeout": "1s" },
    });
    let path = dir.path().join("argus.yaml");
    std::fs::write(&path, config.to_string()).unwrap();
    let loaded = argus_node::config::load(&path).expect("a valid config");
    let data_dir = loaded.data_dir.clone().unwrap();
    let node = NodeBuilder::new(NodeConfig::from(&loaded), &data_dir)
        .store(argus_store::testing::store_in_dir(&data_dir).unwrap())
        .start()
        .unwrap();

    // Two pings, the second after the follower has a tip.
    let pings = wait_for_async("two pings with a tip", Duration::from_secs(30), || {
        let bodies: Vec<Value> = receiver
            .requests()
            .iter()
            .filter(|r| r.path == "/ping" && r.method == "POST")
            .filter_map(|r| serde_json::from_slice(&r.body).ok())
            .collect();
        let ready = bodies.len() >= 2 && !bodies.last()?["chains"][0]["block"].is_null();
        ready.then_some(bodies)
    })
    .await;
    node.stop().await;
    let last = pings.last().unwrap();
    assert_eq!(last["chains"][0]["chain"], 31337, "{last:#}");
    assert!(
        last["chains"][0]["block"].as_u64().unwrap() >= 3,
        "{last:#}"
    );
    assert!(last["chains"][0]["lag_ms"].is_i64(), "{last:#}");
    assert_eq!(last["outbox"]["pending"], 0, "{last:#}");
    assert_eq!(last["status"], "ok", "{last:#}");
    let at: Vec<i64> = pings.iter().map(|p| p["at_ms"].as_i64().unwrap()).collect();
    assert!(
        at.windows(2).all(|w| w[1] >= w[0] + 900),
        "about a second apart: {at:?}"
    );
}

#[test]
fn a_bad_heartbeat_section_is_refused_at_its_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rules.yaml"), "rules: []\n").unwrap();
    let path = dir.path().join("argus.yaml");
    std::fs::write(
        &path,
        "chains: [{ chain: anvil, rpc: [\"http://127.0.0.1:1\"] }]\nrules: [rules.yaml]\nheartbeat:\n  urls: [\"ftp://example.org/x\", \"not a url\"]\n  every: 100ms\n",
    )
    .unwrap();
    let problems = argus_node::config::load(&path).unwrap_err().to_string();
    for needle in [
        "argus.yaml:4:",
        "urls[0]",
        "not http or https",
        "urls[1]",
        "at least 1s",
    ] {
        assert!(problems.contains(needle), "no {needle:?} in {problems}");
    }
}
