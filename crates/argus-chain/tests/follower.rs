//! The block follower on a real anvil, with its state in a real SQLite file.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use alloy_primitives::B256;
use argus_chain::{
    BlockFollower, ChainEvent, Cursor, EndpointConfig, FetchMode, FollowerConfig, Start, db,
};
use argus_core::ChainId;
use argus_store::{Connection, Store};
use argus_testkit::{ALICE, Anvil, DEPLOYER};
use common::*;
use serde_json::json;

/// The caller's side: applies each event to the store in one transaction
/// (where the alerts would be stored too) and keeps what was delivered.
struct Sink {
    store: Connection,
    /// Every block number committed and not reverted, with its hash.
    canonical: BTreeMap<u64, B256>,
    committed: Vec<u64>,
    events: Vec<ChainEvent>,
}

impl Sink {
    fn new(dir: &tempfile::TempDir) -> Self {
        Self {
            store: Store::open(&dir.path().join("argus.db"))
                .unwrap()
                .connect()
                .unwrap(),
            canonical: BTreeMap::new(),
            committed: Vec::new(),
            events: Vec::new(),
        }
    }

    fn cursor(&self) -> Cursor {
        db::load_cursor(&self.store, ChainId::LOCAL).unwrap()
    }

    fn apply(&mut self, event: ChainEvent, retain: u64) {
        let tx = self.store.transaction().unwrap();
        db::apply(&tx, ChainId::LOCAL, &event, retain).unwrap();
        tx.commit().unwrap();
        match &event {
            ChainEvent::Committed(blocks) => {
                for block in blocks {
                    self.committed.push(block.header.number);
                    self.canonical
                        .insert(block.header.number, block.header.hash);
                }
            }
            ChainEvent::Reverted(refs) => {
                for r in refs {
                    assert_eq!(self.canonical.remove(&r.number), Some(r.hash));
                }
            }
        }
        self.events.push(event);
    }

    /// Runs the follower until its tip is `head`.
    async fn follow_to(&mut self, follower: &mut BlockFollower, head: u64) {
        let retain = follower.config().retained_blocks();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while follower.cursor().tip().map(|t| t.number) != Some(head) {
            let event = tokio::time::timeout_at(deadline, follower.next())
                .await
                .expect("the follower reaches the head")
                .expect("no follower error");
            self.apply(event, retain);
        }
    }
}

fn config(start: Start, fetch: FetchMode) -> FollowerConfig {
    FollowerConfig {
        start,
        fetch,
        batch: 7,
        poll_interval: Duration::from_millis(100),
        ..FollowerConfig::new(ChainId::LOCAL)
    }
}

fn assert_store_matches_node(sink: &Sink, node: &Anvil) {
    let cursor = sink.cursor();
    assert!(!cursor.recent.is_empty());
    for block in &cursor.recent {
        assert_eq!(
            block.hash,
            node.block_hash(block.number),
            "block {}",
            block.number
        );
    }
    assert_eq!(cursor.tip().map(|t| t.number), Some(node.block_number()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfills_follows_and_resumes_without_gaps_or_repeats() {
    let node = Anvil::start_with(&["--no-mining"]);
    node.mine(20);
    let dir = tempfile::tempdir().unwrap();
    let mut sink = Sink::new(&dir);
    let pool = pool(vec![EndpointConfig::new("anvil", node.http_url())]);

    let mut follower = BlockFollower::new(
        pool.clone(),
        config(Start::Block(1), FetchMode::default()),
        sink.cursor(),
    );
    sink.follow_to(&mut follower, 20).await;
    // Backfill came in batches of at most 7.
    assert!(
        sink.events
            .iter()
            .all(|e| matches!(e, ChainEvent::Committed(b) if b.len() <= 7))
    );
    assert_eq!(sink.events.len(), 3);

    // Following: one new block at a time.
    node.mine(1);
    sink.follow_to(&mut follower, 21).await;
    drop(follower);

    // Stopped while 9 blocks are mined; a new follower from the store.
    node.mine(9);
    let mut follower = BlockFollower::new(
        pool.clone(),
        config(Start::Latest, FetchMode::default()),
        sink.cursor(),
    );
    sink.follow_to(&mut follower, 30).await;

    let expected: Vec<u64> = (1..=30).collect();
    assert_eq!(sink.committed, expected, "every block once, in order");
    assert_store_matches_node(&sink, &node);
    for (number, hash) in &sink.canonical {
        assert_eq!(*hash, node.block_hash(*number));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unpersisted_event_is_delivered_again_by_a_rebuilt_follower() {
    let node = Anvil::start_with(&["--no-mining"]);
    node.mine(3);
    let dir = tempfile::tempdir().unwrap();
    let mut sink = Sink::new(&dir);
    let pool = pool(vec![EndpointConfig::new("anvil", node.http_url())]);
    let mut follower = BlockFollower::new(
        pool.clone(),
        config(Start::Block(1), FetchMode::default()),
        sink.cursor(),
    );
    sink.follow_to(&mut follower, 3).await;
    node.mine(2);
    // The caller crashes before storing this event.
    let lost = follower.next().await.unwrap();
    drop(follower);
    let mut follower = BlockFollower::new(
        pool,
        config(Start::Latest, FetchMode::default()),
        sink.cursor(),
    );
    let again = follower.next().await.unwrap();
    assert_eq!(lost, again);
}

async fn reorg_case(depth: u64) {
    let node = Anvil::start_with(&["--no-mining"]);
    node.mine(40);
    let dir = tempfile::tempdir().unwrap();
    let mut sink = Sink::new(&dir);
    let pool = pool(vec![EndpointConfig::new("anvil", node.http_url())]);
    let mut follower = BlockFollower::new(
        pool,
        FollowerConfig {
            batch: 100,
            ..config(Start::Block(1), FetchMode::default())
        },
        sink.cursor(),
    );
    sink.follow_to(&mut follower, 40).await;
    let old: Vec<B256> = ((41 - depth)..=40).map(|n| node.block_hash(n)).collect();
    // Replace the last `depth` blocks; put a transfer in the new branch.
    let tx = json!({"from": DEPLOYER, "to": ALICE, "value": "0x1"});
    node.reorg(depth, json!([[tx, 0]]));
    let head_now = node.block_number();
    assert_eq!(head_now, 40);

    let retain = follower.config().retained_blocks();
    let reverted = follower.next().await.unwrap();
    let ChainEvent::Reverted(refs) = &reverted else {
        panic!("expected Reverted, got {reverted:?}")
    };
    let reverted_hashes: Vec<B256> = refs.iter().map(|r| r.hash).collect();
    let mut expected = old.clone();
    expected.reverse();
    assert_eq!(
        reverted_hashes, expected,
        "Reverted carries exactly the orphaned blocks, newest first"
    );
    sink.apply(reverted, retain);

    let committed = follower.next().await.unwrap();
    let ChainEvent::Committed(blocks) = &committed else {
        panic!("expected Committed, got {committed:?}")
    };
    let numbers: Vec<u64> = blocks.iter().map(|b| b.header.number).collect();
    assert_eq!(numbers, ((41 - depth)..=40).collect::<Vec<_>>());
    for block in blocks {
        assert_eq!(block.header.hash, node.block_hash(block.header.number));
        assert!(!old.contains(&block.header.hash));
    }
    sink.apply(committed, retain);
    assert_store_matches_node(&sink, &node);

    // And it goes on following the new branch.
    node.mine(2);
    sink.follow_to(&mut follower, 42).await;
    assert_store_matches_node(&sink, &node);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reorg_of_depth_1() {
    reorg_case(1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reorg_of_depth_5() {
    reorg_case(5).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reorg_of_depth_30() {
    reorg_case(30).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reorg_deeper_than_the_limit_is_fatal() {
    let node = Anvil::start_with(&["--no-mining"]);
    node.mine(12);
    let pool = pool(vec![EndpointConfig::new("anvil", node.http_url())]);
    let mut follower = BlockFollower::new(
        pool,
        FollowerConfig {
            max_reorg_depth: 4,
            ..config(Start::Block(1), FetchMode::default())
        },
        Cursor::new(ChainId::LOCAL),
    );
    while follower.cursor().tip().map(|t| t.number) != Some(12) {
        follower.next().await.unwrap();
    }
    node.reorg(6, json!([]));
    let error = follower.next().await.unwrap_err();
    assert!(
        matches!(
            error,
            argus_chain::FollowError::ReorgTooDeep { max_depth: 4, .. }
        ),
        "{error}"
    );
    assert!(!error.is_retryable());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_in_full_and_logs_modes() {
    let node = Anvil::start_with(&["--no-mining"]);
    node.mine(1);
    let emitter = node.deploy(EMITTER_INIT); // block 2: the constructor's log
    node.send(json!({"to": ALICE, "value": "0x10"}));
    node.send(json!({"to": format!("{emitter}"), "gas": "0x10000"}));
    node.send(json!({"to": format!("{emitter}"), "gas": "0x10000"}));
    node.mine(1); // block 3: a transfer and two calls
    node.mine(1); // block 4: empty
    let pool = pool(vec![EndpointConfig::new("anvil", node.http_url())]);

    // Full: transactions with receipts, logs from the receipts.
    let mut full = BlockFollower::new(
        pool.clone(),
        config(Start::Block(2), FetchMode::Full),
        Cursor::new(ChainId::LOCAL),
    );
    let ChainEvent::Committed(blocks) = full.next().await.unwrap() else {
        panic!()
    };
    assert_eq!(blocks.len(), 3);
    let deploy = &blocks[0];
    assert_eq!(deploy.transactions.len(), 1);
    let receipt = deploy.transactions[0].receipt.as_ref().unwrap();
    assert_eq!(receipt.contract_address, Some(emitter));
    assert!(receipt.success);
    assert_eq!(deploy.transactions[0].to, None);
    assert_eq!(deploy.logs.len(), 1);
    assert_eq!(deploy.logs[0].topics, vec![topic(0xbb)]);
    let calls = &blocks[1];
    assert_eq!(calls.transactions.len(), 3);
    assert_eq!(
        calls.transactions[0].value,
        alloy_primitives::U256::from(0x10)
    );
    assert_eq!(calls.logs.len(), 2);
    assert!(
        calls
            .logs
            .iter()
            .all(|l| l.address == emitter && l.topics == vec![topic(0xaa)])
    );
    assert_eq!(
        calls.logs.iter().map(|l| l.tx_index).collect::<Vec<_>>(),
        vec![1, 2]
    );
    assert_eq!(
        calls.logs.iter().map(|l| l.log_index).collect::<Vec<_>>(),
        vec![0, 1]
    );
    assert!(blocks[2].logs.is_empty() && blocks[2].transactions.is_empty());

    // Logs mode, filtered on the emitter: the same logs, no transactions,
    // fetched by range (3 blocks) and then one by one.
    let logs_mode = FetchMode::Logs {
        addresses: Some(vec![emitter]),
    };
    let mut by_range = BlockFollower::new(
        pool.clone(),
        config(Start::Block(2), logs_mode.clone()),
        Cursor::new(ChainId::LOCAL),
    );
    let ChainEvent::Committed(ranged) = by_range.next().await.unwrap() else {
        panic!()
    };
    for (a, b) in ranged.iter().zip(&blocks) {
        assert_eq!(a.header, b.header);
        assert_eq!(a.logs, b.logs);
        assert!(a.transactions.is_empty());
    }
    let mut single = BlockFollower::new(
        pool.clone(),
        FollowerConfig {
            batch: 1,
            ..config(Start::Block(3), logs_mode)
        },
        Cursor::new(ChainId::LOCAL),
    );
    let ChainEvent::Committed(one) = single.next().await.unwrap() else {
        panic!()
    };
    assert_eq!(one[0].logs, blocks[1].logs);

    // A filter on another address sees nothing.
    let other = FetchMode::Logs {
        addresses: Some(vec![ALICE.parse().unwrap()]),
    };
    let mut none = BlockFollower::new(
        pool,
        config(Start::Block(2), other),
        Cursor::new(ChainId::LOCAL),
    );
    let ChainEvent::Committed(empty) = none.next().await.unwrap() else {
        panic!()
    };
    assert!(empty.iter().all(|b| b.logs.is_empty()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuses_an_endpoint_of_another_chain() {
    let node = Anvil::start_with(&["--no-mining"]);
    let pool = pool(vec![EndpointConfig::new("anvil", node.http_url())]);
    let mut follower = BlockFollower::new(
        pool,
        FollowerConfig::new(ChainId(1)),
        Cursor::new(ChainId(1)),
    );
    let error = follower.next().await.unwrap_err();
    assert!(matches!(
        error,
        argus_chain::FollowError::WrongChain {
            expected: 1,
            found: 31337
        }
    ));
}

/// With confirmations, the block that the next head makes deliverable is
/// fetched while waiting for that head; once it is deep enough it is
/// delivered after one look at its header, not fetched again. A block
/// fetched ahead and then replaced by a reorg is never delivered: the new
/// branch's block is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocks_fetched_ahead_are_delivered_once_final_and_never_after_a_reorg() {
    let node = Anvil::start_with(&["--no-mining"]);
    node.mine(6);
    let proxied = proxy(node.port(), Fault::None).await;
    let pool = pool(vec![EndpointConfig::new("proxied", proxied.url())]);
    let dir = tempfile::tempdir().unwrap();
    let mut sink = Sink::new(&dir);
    let mut follower = BlockFollower::new(
        pool,
        FollowerConfig {
            confirmations: argus_chain::Confirmations::Blocks(2),
            ..config(Start::Block(1), FetchMode::Full)
        },
        sink.cursor(),
    );
    sink.follow_to(&mut follower, 4).await;
    let retain = follower.config().retained_blocks();
    // The requests for block `number` (by number or by its hash now) since
    // the `from`th call.
    let asked_for = |from: usize, number: u64| {
        let ids = [
            json!(format!("{number:#x}")),
            json!(format!("{:#x}", node.block_hash(number))),
        ];
        proxied.calls.lock().unwrap()[from..]
            .iter()
            .filter(|(method, first)| {
                (method == "eth_getBlockByNumber" || method == "eth_getBlockReceipts")
                    && ids.contains(first)
            })
            .map(|(method, _)| method.clone())
            .collect::<Vec<_>>()
    };

    // Nothing is final above 4; waiting, the follower fetches 5 and 6.
    assert!(
        tokio::time::timeout(Duration::from_millis(800), follower.next())
            .await
            .is_err(),
        "nothing is deliverable before the head moves"
    );
    let mark = proxied.calls.lock().unwrap().len();
    assert!(
        asked_for(0, 5).contains(&"eth_getBlockReceipts".to_owned()),
        "block 5 was fetched ahead: {:?}",
        asked_for(0, 5)
    );

    // Block 7 makes 5 final: it comes after one look at its header.
    node.mine(1);
    let event = follower.next().await.unwrap();
    let ChainEvent::Committed(blocks) = &event else {
        panic!("expected Committed, got {event:?}")
    };
    assert_eq!(blocks.len(), 1);
    assert_eq!(blocks[0].header.number, 5);
    assert_eq!(blocks[0].header.hash, node.block_hash(5));
    assert_eq!(
        asked_for(mark, 5),
        vec!["eth_getBlockByNumber".to_owned()],
        "one header, no second fetch of the block or its receipts"
    );
    sink.apply(event, retain);

    // 6 and 7 are fetched ahead, then replaced; a transfer goes into the
    // new 6. Block 8 makes 6 final: the new 6 is delivered, with it.
    assert!(
        tokio::time::timeout(Duration::from_millis(800), follower.next())
            .await
            .is_err()
    );
    assert!(!asked_for(0, 6).is_empty(), "block 6 was fetched ahead");
    assert!(!asked_for(mark, 7).is_empty(), "block 7 was fetched ahead");
    let old_six = node.block_hash(6);
    let tx = json!({"from": DEPLOYER, "to": ALICE, "value": "0x6"});
    node.reorg(2, json!([[tx, 0]]));
    assert_ne!(node.block_hash(6), old_six);
    node.mine(1);
    let event = follower.next().await.unwrap();
    let ChainEvent::Committed(blocks) = &event else {
        panic!("expected Committed, got {event:?}")
    };
    assert_eq!(blocks.len(), 1);
    assert_eq!(blocks[0].header.number, 6);
    assert_eq!(blocks[0].header.hash, node.block_hash(6));
    assert_eq!(blocks[0].transactions.len(), 1);
    assert!(blocks[0].transactions[0].receipt.is_some());
    sink.apply(event, retain);
    for block in sink.cursor().recent {
        assert_eq!(block.hash, node.block_hash(block.number));
    }
}

/// In full mode the receipts are asked by number beside the block; when they
/// turn out to be another branch's (the node switched between the two
/// answers) the block is not delivered with them: the fetch is made again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipts_of_another_branch_are_never_attached() {
    let node = Anvil::start_with(&["--no-mining"]);
    let emitter = node.deploy(EMITTER_INIT); // block 1
    node.send(json!({"to": format!("{emitter}"), "gas": "0x10000"}));
    node.send(json!({"to": ALICE, "value": "0x1"}));
    node.mine(1); // block 2
    let switching = proxy(node.port(), Fault::ForeignReceiptsOnce).await;
    let pool = pool(vec![EndpointConfig::new("switching", switching.url())]);
    let mut follower = BlockFollower::new(
        pool,
        FollowerConfig {
            batch: 1,
            ..config(Start::Block(2), FetchMode::Full)
        },
        Cursor::new(ChainId::LOCAL),
    );
    let ChainEvent::Committed(blocks) = follower.next().await.unwrap() else {
        panic!()
    };
    assert!(FOREIGN_RECEIPTS_SENT.load(std::sync::atomic::Ordering::SeqCst));
    let [block] = blocks.as_slice() else {
        panic!("one block: {blocks:?}")
    };
    assert_eq!(block.header.number, 2);
    assert_eq!(block.transactions.len(), 2);
    assert!(block.transactions.iter().all(|t| t.receipt.is_some()));
    assert_eq!(block.logs.len(), 1);
    assert_eq!(block.logs[0].address, emitter);
}
