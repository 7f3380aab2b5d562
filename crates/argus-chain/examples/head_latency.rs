//! Head-to-event latency on a local anvil: how long after `anvil_mine` is
//! sent (while the follower waits) the follower hands out the block, with new heads over a WebSocket
//! and with HTTP polling only.
//!
//! `cargo run --release -p argus-chain --example head_latency`

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use argus_chain::{
    BlockFollower, ChainEvent, Cursor, EndpointConfig, FollowerConfig, PoolConfig, RpcPool,
};
use argus_core::ChainId;
use serde_json::json;

const ROUNDS: usize = 50;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let anvil = concat!(env!("CARGO_MANIFEST_DIR"), "/../../node_modules/.bin/anvil");
    let mut child = Command::new(anvil)
        .args(["--port", &port.to_string(), "--silent", "--no-mining"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("anvil");
    let http = format!("http://127.0.0.1:{port}");
    let control = RpcPool::new(
        ChainId::LOCAL,
        vec![EndpointConfig::new("control", http.clone())],
        PoolConfig::default(),
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while control.block_number().await.is_err() {
        assert!(Instant::now() < deadline, "anvil did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for (label, ws) in [("websocket heads", true), ("http polling (1 s)", false)] {
        let endpoint = EndpointConfig {
            ws_url: ws.then(|| format!("ws://127.0.0.1:{port}")),
            ..EndpointConfig::new("anvil", http.clone())
        };
        let pool = RpcPool::new(ChainId::LOCAL, vec![endpoint], PoolConfig::default()).unwrap();
        let mut follower = BlockFollower::new(
            pool.clone(),
            FollowerConfig {
                poll_interval: Duration::from_secs(5),
                ..FollowerConfig::new(ChainId::LOCAL)
            },
            Cursor::new(ChainId::LOCAL),
        );
        follower.next().await.unwrap();
        while ws && !pool.heads_via_websocket() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let rounds = if ws { ROUNDS } else { 10 };
        let mut samples = Vec::with_capacity(rounds);
        for _ in 0..rounds {
            // Mine while the follower is already waiting for a head.
            let control = control.clone();
            let miner = tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(30)).await;
                let started = Instant::now();
                control.request("anvil_mine", json!(["0x1"])).await.unwrap();
                started
            });
            let ChainEvent::Committed(_) = follower.next().await.unwrap() else {
                panic!("no reorg expected")
            };
            let delivered = Instant::now();
            samples.push(delivered - miner.await.unwrap());
        }
        samples.sort();
        println!(
            "{label}: median {:?}, p90 {:?}, max {:?} over {rounds} blocks",
            samples[rounds / 2],
            samples[rounds * 9 / 10],
            samples[rounds - 1]
        );
    }
    let _ = child.kill();
    let _ = child.wait();
}
