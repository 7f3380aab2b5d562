//! The RPC pool against a real anvil and a misbehaving proxy in front of it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use argus_chain::{
    BlockFollower, BlockId, ChainEvent, Cursor, EndpointConfig, FetchMode, FollowerConfig,
    LogFilter, RpcError, Start, range,
};
use argus_core::ChainId;
use argus_testkit::{ALICE, Anvil};
use common::*;
use serde_json::json;

fn endpoint(name: &str, url: String) -> EndpointConfig {
    EndpointConfig {
        timeout: Duration::from_millis(500),
        ..EndpointConfig::new(name, url)
    }
}

async fn fails_over(fault: Fault) -> argus_chain::EndpointStats {
    let node = Anvil::start_with(&["--no-mining"]);
    node.mine(3);
    let bad = proxy(node.port(), fault).await;
    let pool = pool(vec![
        endpoint("bad", bad.url()),
        endpoint("anvil", node.http_url()),
    ]);
    for n in 1..=3 {
        let block = pool
            .header(BlockId::Number(n))
            .await
            .expect("failover")
            .expect("block");
        assert_eq!(block.header.hash, node.block_hash(n));
    }
    let headers = pool.headers(1, 3).await.expect("batch failover");
    assert_eq!(headers.len(), 3);
    let stats = pool.stats();
    assert_eq!(stats[1].errors.total(), 0);
    assert!(stats[1].requests >= 1);
    assert!(bad.requests.load(Ordering::Relaxed) >= 1);
    stats[0].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fails_over_from_http_500() {
    let stats = fails_over(Fault::Status500).await;
    assert!(stats.errors.http_status >= 3, "{stats:?}");
    assert!(stats.last_error.unwrap().contains("`bad`"));
    // Three failures in a row bench it.
    assert!(stats.benched_for_ms.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fails_over_from_a_hanging_endpoint() {
    let stats = fails_over(Fault::Hang).await;
    assert!(stats.errors.timeout >= 1, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fails_over_from_malformed_json() {
    let stats = fails_over(Fault::MalformedJson).await;
    assert!(stats.errors.malformed >= 1, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejects_a_block_with_a_forged_hash() {
    let stats = fails_over(Fault::WrongHash).await;
    assert!(stats.errors.malformed >= 1, "{stats:?}");
    assert!(
        stats.last_error.unwrap().contains("hash"),
        "the error says what was wrong"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_of_only_faulty_endpoints_fails_with_a_clear_error() {
    let node = Anvil::start_with(&["--no-mining"]);
    let bad = proxy(node.port(), Fault::Status500).await;
    let pool = pool(vec![endpoint("bad", bad.url())]);
    let error = pool.block_number().await.unwrap_err();
    assert!(
        matches!(error, RpcError::Exhausted { attempts: 3, .. }),
        "{error}"
    );
    assert!(error.is_retryable());
    assert!(matches!(
        error.root(),
        RpcError::HttpStatus { status: 500, .. }
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn splits_refused_log_ranges_and_returns_every_log_once() {
    let node = Anvil::start_with(&["--no-mining"]);
    let emitter = node.deploy(EMITTER_INIT);
    // 40 blocks, a log in every third one.
    for n in 0..40u64 {
        if n % 3 == 0 {
            node.send(json!({"to": format!("{emitter}"), "gas": "0x10000"}));
        }
        node.mine(1);
    }
    let limited = proxy(node.port(), Fault::LogRangeLimit(8)).await;
    let pool = pool(vec![endpoint("limited", limited.url())]);
    let filter = LogFilter::addresses(Some(vec![emitter]));
    let logs = pool.logs_between(2, 41, &filter).await.expect("split");
    let blocks: Vec<u64> = logs.iter().map(|l| l.block_number).collect();
    let expected: Vec<u64> = (0..40u64).filter(|n| n % 3 == 0).map(|n| n + 2).collect();
    assert_eq!(blocks, expected);
    let span = pool.log_span().expect("a span was learnt");
    assert!(span <= 8, "{span}");
    // The refusals are counted as RPC errors but do not bench the endpoint.
    let stats = &pool.stats()[0];
    assert!(stats.errors.rpc >= 1);
    assert!(stats.benched_for_ms.is_none());

    // A replay over the same proxy sees the same logs.
    let mut reader = range(
        pool,
        2,
        41,
        FetchMode::Logs {
            addresses: Some(vec![emitter]),
        },
    )
    .batch(16);
    let mut seen = Vec::new();
    while let Some(batch) = reader.next_batch().await {
        for block in batch.unwrap() {
            seen.extend(block.logs.iter().map(|_| block.header.number));
        }
    }
    assert_eq!(seen, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn falls_back_to_receipts_one_by_one() {
    let node = Anvil::start_with(&["--no-mining"]);
    let emitter = node.deploy(EMITTER_INIT);
    node.send(json!({"to": format!("{emitter}"), "gas": "0x10000"}));
    node.send(json!({"to": ALICE, "value": "0x1"}));
    node.mine(1);
    let limited = proxy(node.port(), Fault::NoBlockReceipts).await;
    let pool = pool(vec![endpoint("old-node", limited.url())]);
    let block = pool.full_block(BlockId::Number(2)).await.unwrap().unwrap();
    let receipts = pool.block_receipts(&block).await.unwrap().unwrap();
    assert_eq!(receipts.len(), 2);
    assert_eq!(receipts[0].logs.len(), 1);
    assert!(receipts.iter().all(|r| r.receipt.success));
}

async fn wait_for_ws(pool: &argus_chain::RpcPool, up: bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while pool.heads_via_websocket() != up {
        assert!(
            tokio::time::Instant::now() < deadline,
            "websocket up = {up} in time"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_heads_over_websocket_then_polling_when_it_is_gone() {
    let node = Anvil::start_with(&["--no-mining"]);
    // The socket goes through a TCP relay we can cut.
    let relay = tcp_relay(node.port()).await;
    let config = EndpointConfig {
        ws_url: Some(format!("ws://127.0.0.1:{}", relay.port)),
        ..endpoint("anvil", node.http_url())
    };
    let pool = pool(vec![config]);
    let mut heads = pool.heads();
    wait_for_ws(&pool, true).await;
    node.mine(1);
    tokio::time::timeout(Duration::from_secs(10), heads.wait_for(|h| h.number == 1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(heads.borrow().source, argus_chain::HeadSource::WebSocket);

    // The follower sees the next block through the socket.
    let mut follower = BlockFollower::new(
        pool.clone(),
        FollowerConfig {
            start: Start::Latest,
            poll_interval: Duration::from_secs(60),
            ..FollowerConfig::new(ChainId::LOCAL)
        },
        Cursor::new(ChainId::LOCAL),
    );
    let ChainEvent::Committed(first) = follower.next().await.unwrap() else {
        panic!()
    };
    assert_eq!(first[0].header.number, 1);
    node.mine(1);
    let ChainEvent::Committed(next) =
        tokio::time::timeout(Duration::from_secs(10), follower.next())
            .await
            .unwrap()
            .unwrap()
    else {
        panic!()
    };
    assert_eq!(next[0].header.number, 2);

    // Cut the socket: heads keep coming, by polling.
    drop(relay);
    wait_for_ws(&pool, false).await;
    node.mine(1);
    tokio::time::timeout(Duration::from_secs(10), heads.wait_for(|h| h.number == 3))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(heads.borrow().source, argus_chain::HeadSource::Polling);
    let ChainEvent::Committed(polled) =
        tokio::time::timeout(Duration::from_secs(10), follower.next())
            .await
            .unwrap()
            .unwrap()
    else {
        panic!()
    };
    assert_eq!(polled[0].header.number, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_over_a_websocket_endpoint() {
    let node = Anvil::start_with(&["--no-mining"]);
    node.mine(2);
    let pool = pool(vec![endpoint("anvil-ws", node.ws_url())]);
    assert_eq!(pool.chain_id().await.unwrap(), 31337);
    assert_eq!(pool.block_number().await.unwrap(), 2);
    let headers = pool.headers(1, 2).await.unwrap();
    assert_eq!(headers[1].as_ref().unwrap().header.hash, node.block_hash(2));
    let mut heads = pool.heads();
    node.mine(1);
    tokio::time::timeout(Duration::from_secs(10), heads.wait_for(|h| h.number == 3))
        .await
        .unwrap()
        .unwrap();
}

/// A TCP relay to anvil that stops (closing every connection) when dropped.
struct Relay {
    port: u16,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn tcp_relay(upstream: u16) -> Relay {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        let mut connections = tokio::task::JoinSet::new();
        loop {
            let Ok((mut inbound, _)) = listener.accept().await else {
                return;
            };
            connections.spawn(async move {
                if let Ok(mut outbound) =
                    tokio::net::TcpStream::connect(("127.0.0.1", upstream)).await
                {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    });
    Relay { port, task }
}

/// The state rules' reads: a call, a balance, a slot and a call that
/// reverts, in one batch at a block by hash; the revert is that read's
/// error with its data, the others answer; the block named by hash is the
/// state read (a later block's change is not seen).
#[tokio::test]
async fn state_reads_are_one_batch_at_a_block_with_per_read_errors() {
    use alloy_primitives::{Address, Bytes, U256};
    use argus_chain::StateValue;
    use argus_core::StateQuery;

    let node = Anvil::start();
    node.deploy_sample_project();
    let token: Address = argus_testkit::TOKEN.parse().unwrap();
    let alice: Address = ALICE.parse().unwrap();
    let at = node.block_number();
    let hash = node.block_hash(at);
    let pool = pool(vec![endpoint("anvil", node.http_url())]);
    let calldata = |sig: &str, args: &[&str]| -> Bytes {
        argus_testkit::cast::calldata(sig, args).parse().unwrap()
    };
    let reads = vec![
        StateQuery::Call {
            to: token,
            data: calldata("totalSupply()", &[]),
        },
        StateQuery::Balance { address: alice },
        // Slot 2 is `totalSupply` in Token's layout (name, symbol, totalSupply).
        StateQuery::Storage {
            address: token,
            slot: U256::from(2u64),
        },
        StateQuery::Call {
            to: token,
            data: calldata("burn(uint256)", &["1"]),
        },
    ];
    // A later block changes Alice's balance: the read at `hash` does not see it.
    // The block is mined before the read: while anvil mines it, its state is
    // already changed but `at` is still its head, and a read at the head's
    // hash then sees the change (a race of anvil's, not of the read).
    let later = node.send(json!({ "to": ALICE, "value": "0x1" }));
    node.receipt(&later);
    let answers = pool
        .read_state(&reads, BlockId::Hash(hash))
        .await
        .expect("the batch");
    assert_eq!(answers.len(), 4);
    let Ok(StateValue::Returned(supply)) = &answers[0] else {
        panic!("{:?}", answers[0]);
    };
    let supply = U256::from_be_slice(supply);
    assert!(supply > U256::ZERO);
    let balance = node.rpc("eth_getBalance", json!([ALICE, format!("{at:#x}")]));
    let balance: U256 = balance.as_str().unwrap().parse().unwrap();
    assert_eq!(answers[1].as_ref().unwrap(), &StateValue::Balance(balance));
    let latest = node.rpc("eth_getBalance", json!([ALICE, "latest"]));
    let latest: U256 = latest.as_str().unwrap().parse().unwrap();
    assert_eq!(
        latest,
        balance + U256::from(1u64),
        "the later block is not read"
    );
    let Ok(StateValue::Slot(word)) = &answers[2] else {
        panic!("{:?}", answers[2]);
    };
    assert_eq!(U256::from_be_bytes(word.0), supply, "slot 2 is the supply");
    // The deployer-less call burns from address 0, which holds nothing.
    let Err(error) = &answers[3] else {
        panic!("burn from nobody reverts: {:?}", answers[3]);
    };
    assert!(
        matches!(error, RpcError::Rpc { .. }) && error.revert_data().is_some(),
        "{error:?}"
    );
}
