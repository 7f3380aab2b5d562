//! The API inside the daemon: an in-process node on a real anvil, its
//! `NodeView` in the state. Not ready before the first block; an alert
//! reaches the event stream woken by the node's event; the chain route
//! and `/metrics` show the live tip and the endpoint's figures; a reorg's
//! retraction is streamed.

use std::time::Duration;

use argus_node::{NodeBuilder, NodeConfig};
use argus_server::{AppState, app};
use argus_testkit::{Anvil, DEPLOYER, abi_string, noter_init_code};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt as _;
use serde_json::json;
use tower::ServiceExt as _;

use crate::fixture::{get, ok};

/// Reads the stream until `done` holds for what was read (30 s at most).
async fn read_until(body: &mut Body, text: &mut String, done: impl Fn(&str) -> bool) {
    let read = tokio::time::timeout(Duration::from_secs(30), async {
        while !done(text) {
            let Some(frame) = body.frame().await else {
                break;
            };
            if let Ok(data) = frame.unwrap().into_data() {
                text.push_str(&String::from_utf8_lossy(&data));
            }
        }
    })
    .await;
    assert!(
        read.is_ok() && done(text),
        "the stream did not deliver in time: {text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inside_the_daemon_readiness_chains_and_the_stream_follow_the_node() {
    let anvil = Anvil::start();
    let noter = anvil.deploy(&noter_init_code());
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
        "server": { "listen": "127.0.0.1:0" },
    });
    let path = dir.path().join("argus.yaml");
    std::fs::write(&path, config.to_string()).unwrap();
    let loaded = argus_node::config::load(&path).expect("a valid config");
    let server = loaded.server.clone().expect("a server section");
    let data_dir = loaded.data_dir.clone().unwrap();
    let node = NodeBuilder::new(NodeConfig::from(&loaded), &data_dir)
        .start()
        .unwrap();
    crate::fixture::grant_viewer(node.store());
    let state = AppState::new(node.store().clone(), &data_dir)
        .with_node(node.view())
        .with_rules(&loaded.rules)
        .with_ready_max_lag(server.ready_max_lag);
    let app = app(state);

    // No block finished yet: alive, not ready.
    assert_eq!(ok(&app, "/healthz").await["status"], "ok");
    let unready = get(&app, "/readyz").await;
    assert_eq!(
        unready.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        unready.text
    );
    // Before its chain task starts the node follows no chain; then the
    // chain has no tip: either way a failing chain check says why.
    assert!(
        unready.text.contains("no block finished yet")
            || unready.text.contains("follows no chain yet"),
        "{}",
        unready.text
    );

    let response = app
        .clone()
        .oneshot(
            crate::fixture::authorized(Request::get("/api/events"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    let mut body = response.into_body();
    let mut text = String::new();

    let tx = anvil.send(
        json!({ "from": DEPLOYER, "to": format!("{noter:#x}"), "data": abi_string("hi"), "gas": "0x100000" }),
    );
    let number = argus_testkit::hex_u64(&anvil.receipt(&tx)["blockNumber"]);
    read_until(&mut body, &mut text, |t| t.contains("note: hi")).await;
    assert!(text.contains("event: alert"), "{text}");

    let ready = ok(&app, "/readyz").await;
    assert_eq!(ready["status"], "ready", "{ready}");
    assert_eq!(ready["node"], true);
    let chains = ok(&app, "/api/chains").await;
    assert_eq!(chains["live"], true);
    let chain = &chains["chains"][0];
    assert!(
        chain["tip"]["number"].as_u64().unwrap() >= number,
        "{chain}"
    );
    let endpoints = chain["endpoints"].as_array().unwrap();
    assert_eq!(endpoints.len(), 1, "{chain}");
    assert!(endpoints[0]["requests"].as_u64().unwrap() > 0, "{chain}");
    assert!(
        !chains.to_string().contains(&anvil.http_url()),
        "endpoints are named, never shown by URL"
    );
    assert_eq!(ok(&app, "/api/rules").await["rules"][0]["id"], "note");

    // `/metrics` reads the node's live tip and endpoint figures.
    let scraped = get(&app, "/metrics").await;
    assert_eq!(scraped.status, StatusCode::OK, "{}", scraped.text);
    let samples = crate::metrics::parse(&scraped.text);
    let tips = crate::metrics::values(&samples, "argus_chain_tip_block", &[("chain", "anvil")]);
    assert_eq!(tips.len(), 1, "{}", scraped.text);
    assert!(
        tips[0] >= chain["tip"]["number"].as_u64().unwrap() as f64,
        "the tip series is behind the node's: {}",
        scraped.text
    );
    let processed = crate::metrics::values(
        &samples,
        "argus_blocks_processed_total",
        &[("chain", "anvil")],
    );
    assert_eq!(processed.len(), 1, "{}", scraped.text);
    assert!(processed[0] >= 1.0, "{}", scraped.text);
    let requests =
        crate::metrics::values(&samples, "argus_rpc_requests_total", &[("chain", "anvil")]);
    assert_eq!(requests.len(), 1, "{}", scraped.text);
    assert!(requests[0] > 0.0, "{}", scraped.text);
    assert_eq!(
        crate::metrics::values(&samples, "argus_alerts_total", &[("rule", "note")])
            .iter()
            .sum::<f64>(),
        1.0,
        "{}",
        scraped.text
    );
    assert!(
        !scraped.text.contains(&anvil.http_url()),
        "endpoints are named, never shown by URL"
    );

    // The alert's block leaves the chain: the retraction is streamed.
    anvil.reorg(anvil.block_number() + 1 - number, json!([]));
    let retracted = |t: &str| {
        t.split("\n\n")
            .any(|e| e.starts_with("event: retraction") && e.contains("\"alerts\":1"))
    };
    read_until(&mut body, &mut text, retracted).await;
    let retraction = text
        .split("\n\n")
        .find(|e| e.starts_with("event: retraction") && e.contains("\"alerts\":1"))
        .unwrap_or_else(|| panic!("no retraction of the alert: {text}"));
    assert!(
        retraction.contains(&format!("\"number\":{number}")),
        "{retraction}"
    );
    node.stop().await;
}
