//! Exactly once under a burst, across `kill -9`: a few hundred alerts from
//! one block, the daemon killed while deliveries to a slow webhook are in
//! flight (taken in by the sink, not yet answered), restarted, and every
//! alert found at the receiver under its idempotency key — none lost, and a
//! key repeated only for a send the kill interrupted. Counts are asserted,
//! never times.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use argus_testkit::{ALICE, Anvil, DEPLOYER, Receiver, TOKEN, cast, testdata};
use serde_json::json;

const SECRET_ENV: &str = "ARGUS_TEST_WEBHOOK_SECRET";
const SECRET: &str = "whsec-test-0123456789abcdef";
const ATT: u128 = 1_000_000_000_000_000_000;
/// The transfers of the burst, all mined in one block.
const BURST: usize = 300;
/// The webhook notifier's default `max_in_flight`.
const WEBHOOK_IN_FLIGHT: usize = 64;

const RULES: &str = r#"
rules:
  - id: large-transfer
    severity: high
    match:
      event:
        contract: Token
        signature: Transfer(address,address,uint256)
    condition: args.value >= uint256("1000000000000000000")
"#;

fn argus(data_dir: &Path) -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_argus"));
    command
        .env("ARGUS_DATA_DIR", data_dir)
        .env_remove("ARGUS_LOG");
    command
}

/// A data directory with the sample project registered, and a config that
/// posts every large transfer to `receiver`. A send may take 1 s, so a claim
/// interrupted by the kill is claimed again 7 s later.
fn setup(dir: &Path, anvil: &Anvil, receiver: &Receiver) -> (PathBuf, PathBuf) {
    let data_dir = dir.join("data");
    let out = argus(&data_dir)
        .args(["registry", "import"])
        .arg(testdata("foundry-project"))
        .output()
        .expect("run argus registry import");
    assert!(out.status.success(), "import: {out:?}");
    std::fs::write(dir.join("rules.yaml"), RULES).expect("write rules");
    let config = json!({
        "data_dir": data_dir,
        "chains": [{
            "chain": "anvil",
            "rpc": [anvil.ws_url()],
            "confirmations": 0,
            "fetch": "full",
            "start": anvil.block_number() + 1,
            "poll_interval": "200ms",
        }],
        "rules": ["rules.yaml"],
        "alerting": {
            "dedup_window": "0s",
            "notifiers": {
                "hook": { "type": "webhook", "url": receiver.url("/hook"), "secret": { "env": SECRET_ENV } },
            },
            "retry": { "initial": "50ms", "max": "500ms", "request_timeout": "1s" },
        },
    });
    let path = dir.join("argus.yaml");
    std::fs::write(&path, serde_json::to_string_pretty(&config).expect("json")).expect("write");
    (data_dir, path)
}

fn start(data_dir: &Path, config: &Path) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(data_dir.join("daemon.log"))
        .expect("log file");
    argus(data_dir)
        .args(["run", "--json", "-c"])
        .arg(config)
        .env(SECRET_ENV, SECRET)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start argus run")
}

/// Per idempotency key of a fire: how often it arrived, its first arrival,
/// its transaction.
fn fires(receiver: &Receiver) -> BTreeMap<String, (usize, Instant, String)> {
    let mut out: BTreeMap<String, (usize, Instant, String)> = BTreeMap::new();
    for request in receiver.accepted() {
        let body = request.json();
        if body["kind"] != "fire" {
            continue;
        }
        let key = request
            .header("Idempotency-Key")
            .expect("every delivery has an idempotency key")
            .to_owned();
        let tx = body["alert"]["tx_hash"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let entry = out.entry(key).or_insert((0, request.at, tx));
        entry.0 += 1;
        entry.1 = entry.1.min(request.at);
    }
    out
}

fn wait_for_fires(receiver: &Receiver, data_dir: &Path, count: usize) {
    let start = Instant::now();
    while fires(receiver).len() < count {
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "timed out waiting for {count} distinct alerts (got {}); daemon log:\n{}",
            fires(receiver).len(),
            std::fs::read_to_string(data_dir.join("daemon.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn a_kill_9_in_the_middle_of_a_burst_loses_nothing_and_repeats_only_interrupted_sends() {
    let anvil = Anvil::start();
    anvil.deploy_sample_project();
    let receiver = Receiver::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let (data_dir, config) = setup(dir.path(), &anvil, &receiver);
    let mut daemon = start(&data_dir, &config);

    let send = |amount: u128| {
        let data = cast::calldata("transfer(address,uint256)", &[ALICE, &amount.to_string()]);
        anvil.send(json!({ "from": DEPLOYER, "to": TOKEN, "data": data, "gas": "0x30000" }))
    };
    // The daemon is up once its first alert arrives.
    let mut sent = vec![send(ATT)];
    wait_for_fires(&receiver, &data_dir, 1);

    // A slow sink: each request is taken in, then answered 50 ms later, so a
    // kill lands while up to 64 of them are taken in but unanswered.
    receiver.set_delay(Duration::from_millis(50));
    anvil.rpc("evm_setAutomine", json!([false]));
    for i in 0..BURST {
        sent.push(send(ATT + i as u128));
    }
    anvil.rpc("evm_mine", json!([]));
    anvil.rpc("evm_setAutomine", json!([true]));

    wait_for_fires(&receiver, &data_dir, 1 + BURST / 6);
    daemon.kill().expect("kill -9");
    daemon.wait().expect("reap");
    let killed_at = Instant::now();
    let before = fires(&receiver).len();
    assert!(
        before < sent.len(),
        "the burst was still being delivered at the kill ({before} of {})",
        sent.len()
    );

    receiver.set_delay(Duration::ZERO);
    let mut daemon = start(&data_dir, &config);
    wait_for_fires(&receiver, &data_dir, sent.len());
    // The sends the kill interrupted are sent again once their claims'
    // leases run out: wait until the outbox has every delivery marked.
    let db = data_dir.join("argus.db");
    let count = |sql: &str| -> i64 {
        let conn = rusqlite::Connection::open(&db).expect("open the database");
        conn.query_row(sql, [], |row| row.get(0)).expect("count")
    };
    let start_wait = Instant::now();
    while count("SELECT count(*) FROM alert_deliveries WHERE status = 'delivered'")
        < sent.len() as i64
    {
        assert!(
            start_wait.elapsed() < Duration::from_secs(60),
            "deliveries left unmarked; daemon log:\n{}",
            std::fs::read_to_string(data_dir.join("daemon.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Anything extra would show up now.
    std::thread::sleep(Duration::from_millis(500));
    let _ = daemon.kill();
    let _ = daemon.wait();
    assert_eq!(
        count("SELECT count(*) FROM alert_deliveries"),
        sent.len() as i64,
        "one delivery per alert, all delivered"
    );

    let fires = fires(&receiver);
    assert_eq!(fires.len(), sent.len(), "one idempotency key per alert");
    let txs: BTreeSet<String> = fires.values().map(|(_, _, tx)| tx.clone()).collect();
    let expected: BTreeSet<String> = sent.iter().map(|h| h.to_lowercase()).collect();
    assert_eq!(txs, expected, "every transfer alerted, nothing else");
    let mut repeats = 0;
    for (key, (count, first, _)) in &fires {
        if *count > 1 {
            assert_eq!(*count, 2, "{key} arrived {count} times");
            assert!(
                *first < killed_at,
                "{key} repeated although its first send came after the kill"
            );
            repeats += 1;
        }
    }
    // The sink took in requests the killed daemon never heard back from:
    // those, and only those, are sent again, at most one window of them.
    eprintln!(
        "{before} of {} alerts at the sink at the kill; {repeats} sent again",
        sent.len()
    );
    assert!(repeats >= 1, "no send was in flight at the kill");
    assert!(
        repeats <= WEBHOOK_IN_FLIGHT,
        "{repeats} repeated deliveries, more than one window of {WEBHOOK_IN_FLIGHT}"
    );
}
