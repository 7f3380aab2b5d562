//! The node in-process, on a manual clock: a window that spans minutes runs
//! in milliseconds, and a restart refills it from the store.
//!
//! Real parts: a real SQLite data directory, a real log file read by the
//! real log source, the real rule engine and outbox. Only time is driven.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use argus_node::{Clock, NodeBuilder, NodeConfig, NodeEvent, NodeHandle};
use argus_rules::RuleSet;
use argus_sources::{LogSource, SignalsConfig};
use argus_testkit::wait_for_async;
use tokio::sync::broadcast;

const RULES: &str = r#"
rules:
  - id: auth-failures
    severity: high
    match: { signal: authentication_failures }
    threshold: "> 3 in 1 minute"
"#;

/// Monday 2026-11-30 12:00:00 UTC.
const START_MS: i64 = 1_796_040_000_000;

fn config(log: &Path) -> NodeConfig {
    let log: LogSource = serde_json::from_value(serde_json::json!({
        "path": log,
        "patterns": { "authentication_failures": "WARN .*auth" },
        "every": "20ms",
    }))
    .unwrap();
    NodeConfig {
        rules: RuleSet::from_yaml(RULES, "rules.yaml").unwrap(),
        signals: SignalsConfig {
            logs: vec![log],
            ..SignalsConfig::default()
        },
        ..NodeConfig::default()
    }
}

fn append(path: &Path, lines: usize) {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    for i in 0..lines {
        writeln!(file, "WARN auth failed for key {i}").unwrap();
    }
}

/// Where the node's log source stands, as committed.
fn committed_offset(data_dir: &Path, log: &Path) -> Option<u64> {
    let store = argus_store::testing::store_in_dir(data_dir).unwrap();
    let positions = argus_sources::db::log_positions(&store.connect().unwrap()).unwrap();
    positions.get(&log.display().to_string()).map(|p| p.offset)
}

/// Waits until the node has committed what every line written so far made:
/// its log position is the file's end. Those lines were read at the clock's
/// current time.
async fn until_read(data_dir: &Path, log: &Path) {
    let end = std::fs::metadata(log).unwrap().len();
    let what = format!("the node to commit {end} bytes of {}", log.display());
    wait_for_async(&what, Duration::from_secs(5), || {
        (committed_offset(data_dir, log) == Some(end)).then_some(())
    })
    .await;
}

struct Running {
    node: NodeHandle,
    events: broadcast::Receiver<NodeEvent>,
}

/// Starts a node and waits until its log source has read the file once
/// (a file never read before is read from its end: what came before is
/// history) and stored where it stands.
async fn start(data_dir: &Path, log: &Path, clock: &Clock) -> Running {
    let builder = NodeBuilder::new(config(log), data_dir)
        .store(argus_store::testing::store_in_dir(data_dir).unwrap())
        .clock(clock.clone());
    let events = builder.subscribe();
    let node = builder.start().unwrap();
    until_read(data_dir, log).await;
    Running { node, events }
}

fn alerts(events: &mut broadcast::Receiver<NodeEvent>) -> Vec<(String, String, i64)> {
    let mut out = Vec::new();
    while let Ok(event) = events.try_recv() {
        if let NodeEvent::Alert { finding, .. } = event {
            out.push((finding.rule_id, finding.title, finding.at_ms));
        }
    }
    out
}

fn setup() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let log = dir.path().join("bot.log");
    std::fs::write(&log, "").unwrap();
    (dir, data_dir, log)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_minute_window_slides_on_the_test_clock() {
    let (_dir, data_dir, log) = setup();
    let clock = Clock::manual_ms(START_MS);
    let mut running = start(&data_dir, &log, &clock).await;

    // Three failures at 12:00:00: not more than three in a minute.
    append(&log, 3);
    until_read(&data_dir, &log).await;
    // A minute and a second later the first three have left the window:
    // one more is one in the window.
    clock.advance_ms(61_000);
    append(&log, 1);
    until_read(&data_dir, &log).await;
    assert!(alerts(&mut running.events).is_empty());

    // Thirty seconds on, three more: four within the minute.
    clock.advance_ms(30_000);
    append(&log, 3);
    until_read(&data_dir, &log).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let fired = alerts(&mut running.events);
    assert_eq!(fired.len(), 1, "{fired:?}");
    let (rule, title, at_ms) = &fired[0];
    assert_eq!(rule, "auth-failures");
    assert!(title.contains("4 in the last 60 s"), "{title}");
    assert_eq!(*at_ms, START_MS + 91_000, "stamped by the injected clock");
    running.node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_refills_the_window_from_the_store() {
    let (_dir, data_dir, log) = setup();
    let clock = Clock::manual_ms(START_MS);
    let running = start(&data_dir, &log, &clock).await;
    append(&log, 3);
    until_read(&data_dir, &log).await;
    running.node.stop().await;

    // Twenty seconds later a new node on the same data directory: the three
    // failures are still in its window, so one more fires. The log is read
    // on from where the first node stopped: the three lines count once.
    clock.advance_ms(20_000);
    let mut running = start(&data_dir, &log, &clock).await;
    append(&log, 1);
    until_read(&data_dir, &log).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let fired = alerts(&mut running.events);
    assert_eq!(fired.len(), 1, "{fired:?}");
    assert!(fired[0].1.contains("4 in the last 60 s"), "{}", fired[0].1);
    assert_eq!(
        running.node.tips(),
        BTreeMap::new(),
        "no chain is followed here"
    );
    running.node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_node_per_data_directory_until_it_stops() {
    let (_dir, data_dir, log) = setup();
    let clock = Clock::manual_ms(START_MS);
    let running = start(&data_dir, &log, &clock).await;
    let second = NodeBuilder::new(config(&log), &data_dir)
        .store(argus_store::testing::store_in_dir(&data_dir).unwrap())
        .clock(clock.clone())
        .start()
        .expect_err("a second node on the same data directory");
    let pid = std::process::id();
    assert!(
        matches!(
            &second,
            argus_node::NodeError::Store(argus_store::StoreError::Locked { pid: Some(p), dir })
                if *p == pid && *dir == data_dir
        ),
        "{second:?}"
    );
    assert!(
        second
            .to_string()
            .contains(&format!("another argus run (pid {pid}) holds")),
        "{second}"
    );
    // A node handed the SQLite store (as `argus run` does) is refused the
    // same: the lock is the store file's directory. (A PostgreSQL store is
    // shared by design; each node locks its own data directory.)
    let store = argus_store::testing::store_in_dir(&data_dir).unwrap();
    if store.dialect() == argus_store::Dialect::Sqlite {
        assert!(
            NodeBuilder::new(config(&log), "elsewhere")
                .store(store)
                .start()
                .is_err()
        );
    }
    running.node.stop().await;
    // Stopped, the directory is free again.
    let running = start(&data_dir, &log, &clock).await;
    running.node.stop().await;
}
