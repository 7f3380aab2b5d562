//! The daemon end to end, on real parts: anvil, the sample project deployed
//! on it, `argus run` as a real process, and a real HTTP receiver standing in
//! for the webhook sink. What is asserted is what a user relies on: every
//! matching event of the canonical chain reaches the sink exactly once per
//! idempotency key — across `kill -9`, reorgs of depth 1, 5 and 30, a dead
//! RPC endpoint and a sink outage — and alerts of orphaned blocks are
//! retracted.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::Duration;

use argus_testkit::{
    ALICE, Anvil, BOB, DEPLOYER, Receiver, TOKEN, cast, free_port, hex_u64, testdata, wait_for,
    workspace_root,
};
use serde_json::{Value, json};

const SECRET_ENV: &str = "ARGUS_TEST_WEBHOOK_SECRET";
const SECRET: &str = "whsec-test-0123456789abcdef";

const RULES: &str = r#"
rules:
  - id: large-transfer
    description: A Token transfer of at least 1 ATT
    severity: high
    match:
      event:
        contract: Token
        signature: Transfer(address,address,uint256)
    condition: args.value >= uint256("1000000000000000000")
"#;

/// `argus`, run as a real process (so a test can kill it with -9), with the
/// data directory set.
fn argus(data_dir: &Path) -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_argus"));
    command
        .env("ARGUS_DATA_DIR", data_dir)
        .env_remove("ARGUS_LOG");
    command
}

struct Setup {
    _dir: tempfile::TempDir,
    data_dir: PathBuf,
    config: PathBuf,
}

/// A data directory with the sample project registered, and a config that
/// follows `rpc` and posts to `receiver`.
fn setup(anvil: &Anvil, rpc: &[String], receiver: &Receiver) -> Setup {
    setup_with(anvil, rpc, receiver, RULES)
}

fn setup_with(anvil: &Anvil, rpc: &[String], receiver: &Receiver, rules: &str) -> Setup {
    let dir = tempfile::tempdir().expect("tempdir");
    let data_dir = dir.path().join("data");
    let out = argus(&data_dir)
        .args(["registry", "import"])
        .arg(testdata("foundry-project"))
        .output()
        .expect("run argus registry import");
    assert!(out.status.success(), "import: {out:?}");
    std::fs::write(dir.path().join("rules.yaml"), rules).expect("write rules");
    let rpc: Vec<Value> = rpc.iter().map(|u| json!(u)).collect();
    let config = json!({
        "data_dir": data_dir,
        "chains": [{
            "chain": "anvil",
            "rpc": rpc,
            "confirmations": 0,
            "fetch": "full",
            // Everything after the deployment, however late the daemon starts.
            "start": anvil.block_number() + 1,
            "poll_interval": "200ms",
            "pool": { "poll_interval": "200ms", "backoff": "50ms", "bench_for": "2s" },
        }],
        "rules": ["rules.yaml"],
        "alerting": {
            "dedup_window": "0s",
            "notifiers": {
                "hook": { "type": "webhook", "url": receiver.url("/hook"), "secret": { "env": SECRET_ENV } },
            },
            "retry": { "initial": "50ms", "max": "500ms" },
        },
    });
    let path = dir.path().join("argus.yaml");
    // JSON is YAML.
    std::fs::write(&path, serde_json::to_string_pretty(&config).expect("json")).expect("write");
    Setup {
        data_dir,
        config: path,
        _dir: dir,
    }
}

struct Daemon {
    child: Child,
}

impl Daemon {
    fn start(setup: &Setup) -> Daemon {
        Self::start_with(setup, &[(SECRET_ENV, SECRET)])
    }

    /// Starts the daemon with extra environment variables.
    fn start_with(setup: &Setup, env: &[(&str, &str)]) -> Daemon {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(setup.data_dir.join("daemon.log"))
            .expect("log file");
        let child = argus(&setup.data_dir)
            .args(["run", "--json", "-v", "-c"])
            .arg(&setup.config)
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start argus run");
        Daemon { child }
    }

    /// SIGTERM, as systemd stops it; returns whether it exited cleanly.
    fn stop(mut self) -> bool {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let status = wait_for("the daemon to stop", Duration::from_secs(20), || {
            self.child.try_wait().ok().flatten()
        });
        status.success()
    }

    /// SIGKILL: no chance to flush or clean up.
    fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn daemon_log(setup: &Setup) -> String {
    std::fs::read_to_string(setup.data_dir.join("daemon.log")).unwrap_or_default()
}

/// Sends `Token.transfer(ALICE, amount)` from the deployer; one block each.
fn transfer(anvil: &Anvil, amount: u128) -> String {
    let data = cast::calldata("transfer(address,uint256)", &[ALICE, &amount.to_string()]);
    anvil.send(json!({ "from": DEPLOYER, "to": TOKEN, "data": data, "gas": "0x30000" }))
}

const ATT: u128 = 1_000_000_000_000_000_000;

/// The deliveries of one kind, by idempotency key, with how often each key
/// arrived.
fn by_key(receiver: &Receiver, kind: &str) -> BTreeMap<String, (usize, Value)> {
    let mut out: BTreeMap<String, (usize, Value)> = BTreeMap::new();
    for request in receiver.accepted() {
        if request.json()["kind"] != kind {
            continue;
        }
        let key = request
            .header("Idempotency-Key")
            .expect("every delivery has an idempotency key")
            .to_owned();
        out.entry(key).or_insert((0, request.json())).0 += 1;
    }
    out
}

fn fired_txs(receiver: &Receiver) -> BTreeSet<String> {
    by_key(receiver, "fire")
        .values()
        .map(|(_, body)| {
            body["alert"]["tx_hash"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

fn wait_for_fires(receiver: &Receiver, setup: &Setup, count: usize) {
    let start = std::time::Instant::now();
    while by_key(receiver, "fire").len() < count {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "timed out waiting for {count} distinct alerts at the receiver (got {}); daemon log:\n{}",
            by_key(receiver, "fire").len(),
            daemon_log(setup)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn exactly_once_across_kill_9_and_restart() {
    let anvil = Anvil::start();
    anvil.deploy_sample_project();
    let receiver = Receiver::start();
    let setup = setup(&anvil, &[anvil.ws_url()], &receiver);
    let daemon = Daemon::start(&setup);

    let mut sent = Vec::new();
    sent.push(transfer(&anvil, ATT));
    wait_for_fires(&receiver, &setup, 1);
    for i in 0..10 {
        sent.push(transfer(&anvil, ATT + i));
    }
    // Kill in the middle of the stream: some of these are delivered, some
    // recorded but not sent, some not yet read from the chain.
    wait_for_fires(&receiver, &setup, 4);
    daemon.kill9();
    let killed_at = std::time::Instant::now();
    for i in 0..10 {
        sent.push(transfer(&anvil, 2 * ATT + i));
    }
    let daemon = Daemon::start(&setup);
    for i in 0..5 {
        sent.push(transfer(&anvil, 3 * ATT + i));
    }
    wait_for_fires(&receiver, &setup, sent.len());
    // Anything extra would show up now.
    std::thread::sleep(Duration::from_millis(500));
    drop(daemon);

    let fires = by_key(&receiver, "fire");
    assert_eq!(
        fires.len(),
        sent.len(),
        "one alert per transfer; log:\n{}",
        daemon_log(&setup)
    );
    let expected: BTreeSet<String> = sent.iter().map(|h| h.to_lowercase()).collect();
    assert_eq!(
        fired_txs(&receiver),
        expected,
        "every transfer alerted, nothing else"
    );
    // A repeat is allowed only for a send the kill interrupted (accepted by
    // the sink, not yet marked): it carries the same key, its first copy
    // reached the sink before the kill, and it is sent again once. The
    // dispatcher holds up to the webhook's `max_in_flight` (64) sends whose
    // outcome is not yet committed, so that many can be interrupted at most.
    let mut first_seen: BTreeMap<String, (usize, std::time::Instant)> = BTreeMap::new();
    for request in receiver.accepted() {
        if request.json()["kind"] != "fire" {
            continue;
        }
        let key = request
            .header("Idempotency-Key")
            .unwrap_or_default()
            .to_owned();
        let seen = first_seen.entry(key).or_insert((0, request.at));
        seen.0 += 1;
        seen.1 = seen.1.min(request.at);
    }
    let mut repeats = 0;
    for (key, (count, first)) in &first_seen {
        if *count > 1 {
            assert_eq!(*count, 2, "{key} delivered {count} times");
            assert!(
                *first < killed_at,
                "{key} repeated although its first send came after the kill"
            );
            repeats += 1;
        }
    }
    assert!(repeats <= 64, "{repeats} repeated deliveries");
    // Every delivery is signed.
    for request in receiver.accepted() {
        let signature = request.header("X-Argus-Signature").unwrap_or_default();
        assert!(signature.starts_with("sha256="), "unsigned delivery");
    }
}

#[test]
fn reorgs_of_depth_1_5_and_30_retract_orphaned_alerts_and_alert_the_new_chain_once() {
    let anvil = Anvil::start();
    anvil.deploy_sample_project();
    let receiver = Receiver::start();
    let setup = setup(&anvil, &[anvil.ws_url()], &receiver);
    let _daemon = Daemon::start(&setup);

    let mut canonical: BTreeSet<String> = BTreeSet::new();
    let mut orphaned: BTreeSet<String> = BTreeSet::new();
    let mut amount = ATT;
    for depth in [1u64, 5, 30] {
        // `depth` blocks, each with one alerting transfer.
        let mut recent = Vec::new();
        for _ in 0..depth {
            amount += 1;
            recent.push(transfer(&anvil, amount).to_lowercase());
        }
        canonical.extend(recent.iter().cloned());
        wait_for_fires(&receiver, &setup, canonical.len() + orphaned.len());

        // Replace those blocks: one new transfer in the first new block.
        amount += 1;
        let data = cast::calldata("transfer(address,uint256)", &[BOB, &amount.to_string()]);
        anvil.reorg(
            depth,
            json!([[{ "from": DEPLOYER, "to": TOKEN, "data": data, "gas": "0x30000" }, 0]]),
        );
        for hash in recent {
            canonical.remove(&hash);
            orphaned.insert(hash);
        }
        let retracts_expected = orphaned.len();
        wait_for(
            &format!("{retracts_expected} retractions after the reorg of depth {depth}"),
            Duration::from_secs(60),
            || (by_key(&receiver, "retract").len() >= retracts_expected).then_some(()),
        );
        // The transfer of the new branch alerts once.
        let new_branch = wait_for("the new branch's alert", Duration::from_secs(60), || {
            let fired = fired_txs(&receiver);
            let new: Vec<String> = fired
                .iter()
                .filter(|tx| !canonical.contains(*tx) && !orphaned.contains(*tx))
                .cloned()
                .collect();
            (!new.is_empty()).then_some(new)
        });
        assert_eq!(
            new_branch.len(),
            1,
            "one alert for the new branch's transfer"
        );
        canonical.extend(new_branch);
    }
    std::thread::sleep(Duration::from_millis(500));

    let fires = by_key(&receiver, "fire");
    let retracts = by_key(&receiver, "retract");
    assert_eq!(
        fires.len(),
        canonical.len() + orphaned.len(),
        "log:\n{}",
        daemon_log(&setup)
    );
    assert!(
        fires.values().all(|(n, _)| *n == 1),
        "no fire delivered twice"
    );
    assert!(
        retracts.values().all(|(n, _)| *n == 1),
        "no retraction delivered twice"
    );
    let retracted_txs: BTreeSet<String> = retracts
        .values()
        .map(|(_, body)| {
            body["alert"]["tx_hash"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    assert_eq!(
        retracted_txs, orphaned,
        "exactly the orphaned blocks' alerts are retracted"
    );
    // A retraction always follows its fire.
    let requests = receiver.accepted();
    for request in requests.iter().filter(|r| r.json()["kind"] == "retract") {
        let id = request.json()["alert"]["id"].clone();
        let fire = requests
            .iter()
            .find(|r| r.json()["kind"] == "fire" && r.json()["alert"]["id"] == id)
            .expect("a retracted alert was fired first");
        assert!(fire.at <= request.at);
    }
}

#[test]
fn a_dead_endpoint_and_a_sink_outage_lose_nothing() {
    let anvil = Anvil::start();
    anvil.deploy_sample_project();
    let receiver = Receiver::start();
    receiver.set_status(503);
    // The first endpoint listens nowhere: the pool fails over to anvil.
    let dead = format!("http://127.0.0.1:{}", free_port());
    let setup = setup(&anvil, &[dead, anvil.http_url()], &receiver);
    let daemon = Daemon::start(&setup);

    let sent: BTreeSet<String> = (0..3)
        .map(|i| transfer(&anvil, ATT + i).to_lowercase())
        .collect();
    // The sink refuses for a while: the daemon keeps retrying.
    wait_for(
        "retries against the refusing sink",
        Duration::from_secs(60),
        || (receiver.refused() >= 6).then_some(()),
    );
    assert!(receiver.accepted().is_empty());
    receiver.set_status(200);
    wait_for_fires(&receiver, &setup, sent.len());
    std::thread::sleep(Duration::from_millis(500));
    drop(daemon);

    let fires = by_key(&receiver, "fire");
    assert_eq!(fires.len(), 3, "log:\n{}", daemon_log(&setup));
    assert!(fires.values().all(|(n, _)| *n == 1), "each delivered once");
    assert_eq!(fired_txs(&receiver), sent);
}

#[test]
fn validate_reports_every_problem_with_its_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("argus.yaml");
    std::fs::write(
        &config,
        "chains:\n  - chain: anvil\n    rpc: [ftp://nowhere]\n  - chain: mainet\n    rpc: [http://127.0.0.1:1]\nrules: [missing.yaml]\nalerting:\n  notifiers:\n    hook: { type: webhook, url: 'http://127.0.0.1:1', secret: { env: ARGUS_TEST_UNSET_VARIABLE } }\n",
    )
    .expect("write");
    let out = argus(dir.path())
        .args(["validate", "-c"])
        .arg(&config)
        .env_remove("ARGUS_TEST_UNSET_VARIABLE")
        .output()
        .expect("run validate");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let file = config.display().to_string();
    for (line, needle) in [
        (2, "unsupported URL scheme"),
        (4, "mainet"),
        (6, "missing.yaml"),
        (8, "ARGUS_TEST_UNSET_VARIABLE"),
    ] {
        assert!(
            stderr
                .lines()
                .any(|l| l.starts_with(&format!("  {file}:{line}:")) && l.contains(needle)),
            "no problem reported on line {line} mentioning {needle}:\n{stderr}"
        );
    }
    let _ = Path::new("");
}

#[test]
fn rules_test_runs_cases_as_data_and_fails_on_a_wrong_expectation() {
    let testdata = workspace_root().join("crates/argus-rules/testdata");
    let dir = tempfile::tempdir().expect("tempdir");
    let out = argus(dir.path())
        .args(["rules", "test"])
        .arg(testdata.join("seed.test.yaml"))
        .arg(testdata.join("contracts.test.yaml"))
        .output()
        .expect("run rules test");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("passed, 0 failed"), "{stdout}");

    // The same seed rules, with a case that expects the wrong thing.
    std::fs::copy(testdata.join("seed.yaml"), dir.path().join("seed.yaml")).expect("copy");
    std::fs::write(
        dir.path().join("wrong.test.yaml"),
        "rules: [seed.yaml]\ncases:\n  - name: latency of 6 s wrongly expected to pass\n    input:\n      - signal: { name: network_latency, value: 6.0, at: 1s }\n    expect:\n      findings: 0\n",
    )
    .expect("write");
    let out = argus(dir.path())
        .args(["rules", "test"])
        .arg(dir.path().join("wrong.test.yaml"))
        .output()
        .expect("run rules test");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("FAIL"), "{stdout}");
}

#[test]
fn replay_shows_what_the_rules_would_have_said_without_storing_or_sending() {
    let anvil = Anvil::start();
    anvil.deploy_sample_project();
    let receiver = Receiver::start();
    let setup = setup(&anvil, &[anvil.http_url()], &receiver);
    let from = anvil.block_number() + 1;
    let sent: BTreeSet<String> = (0..7)
        .map(|i| transfer(&anvil, ATT + i).to_lowercase())
        .collect();
    // A small transfer the rule ignores.
    transfer(&anvil, 5);
    let to = anvil.block_number();
    let out = argus(&setup.data_dir)
        .args([
            "replay",
            "--json",
            "--from",
            &from.to_string(),
            "--to",
            &to.to_string(),
            "-c",
        ])
        .arg(&setup.config)
        .env(SECRET_ENV, SECRET)
        .output()
        .expect("run replay");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let findings: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON finding per line"))
        .collect();
    let txs: BTreeSet<String> = findings
        .iter()
        .map(|f| f["tx"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(txs, sent);
    assert_eq!(findings.len(), sent.len());
    assert!(stderr.contains("replayed"), "{stderr}");
    // A dry run: nobody was notified and nothing was stored.
    assert!(receiver.accepted().is_empty());
    let alerts = rusqlite_count(
        &setup.data_dir.join("argus.db"),
        "SELECT count(*) FROM alerts",
    );
    assert_eq!(alerts, 0);
}

fn rusqlite_count(db: &Path, sql: &str) -> i64 {
    let conn = rusqlite::Connection::open(db).expect("open the database");
    conn.query_row(sql, [], |row| row.get(0)).expect("count")
}

/// The next block the daemon will read, from its store.
fn checkpoint(setup: &Setup) -> i64 {
    let db = setup.data_dir.join("argus.db");
    if !db.exists() {
        return 0;
    }
    let conn = rusqlite::Connection::open(db).expect("open the database");
    conn.query_row(
        "SELECT coalesce(max(next_block), 0) FROM chain_checkpoints",
        [],
        |row| row.get(0),
    )
    .unwrap_or(0)
}

/// A transaction from the bot's wallet that reverts (BOB holds no tokens).
fn failing_transfer(anvil: &Anvil) -> String {
    let data = cast::calldata("transfer(address,uint256)", &[ALICE, "1"]);
    let hash = anvil.send(json!({ "from": BOB, "to": TOKEN, "data": data, "gas": "0x30000" }));
    assert_eq!(
        anvil.receipt(&hash)["status"],
        "0x0",
        "the transfer must revert"
    );
    hash
}

#[test]
fn a_window_counts_across_a_kill_9() {
    let anvil = Anvil::start();
    anvil.deploy_sample_project();
    let receiver = Receiver::start();
    let rules =
        format!("thresholds:\n  failed_transactions: \">5 in 5 minutes\"\nwallets: [\"{BOB}\"]\n");
    let setup = setup_with(&anvil, &[anvil.http_url()], &receiver, &rules);
    let daemon = Daemon::start(&setup);
    for _ in 0..3 {
        failing_transfer(&anvil);
    }
    let read_through = anvil.block_number() as i64;
    wait_for(
        "the daemon to read the first failures",
        Duration::from_secs(60),
        || (checkpoint(&setup) > read_through).then_some(()),
    );
    daemon.kill9();
    for _ in 0..3 {
        failing_transfer(&anvil);
    }
    let _daemon = Daemon::start(&setup);
    // 3 before the kill + 3 after = 6 > 5 within 5 minutes: one alert.
    wait_for_fires(&receiver, &setup, 1);
    std::thread::sleep(Duration::from_millis(500));
    let fires = by_key(&receiver, "fire");
    assert_eq!(fires.len(), 1, "log:\n{}", daemon_log(&setup));
    let (_, body) = fires.values().next().expect("one alert");
    assert_eq!(body["alert"]["rule_id"], "seed-failed-transactions");
    let title = body["alert"]["title"].as_str().unwrap_or_default();
    assert!(title.ends_with("— 6 in the last 300 s"), "{title}");
}

#[test]
fn a_key_used_outside_its_window_alerts_through_the_running_daemon() {
    const MASTER: &str = "q7Vd0mJ3xR9sL2kP8wZ4tY6uB1nC5eA0fG3hI7jK9lM=";
    let anvil = Anvil::start();
    anvil.deploy_sample_project();
    let receiver = Receiver::start();
    let setup = setup(&anvil, &[anvil.http_url()], &receiver);
    let _daemon = Daemon::start(&setup);
    let keys = |args: &[&str]| {
        argus(&setup.data_dir)
            .arg("keys")
            .args(args)
            .env("ARGUS_MASTER_KEY", MASTER)
            .env(SECRET_ENV, SECRET)
            .output()
            .expect("run argus keys")
    };
    let created = keys(&["create", "--label", "guardian", "--json"]);
    assert!(created.status.success(), "{created:?}");
    let address = serde_json::from_slice::<Value>(&created.stdout).expect("json")["address"]
        .as_str()
        .expect("address")
        .to_lowercase();
    // A window that does not include the current hour (UTC).
    let hour = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .as_secs()
        / 3600
        % 24;
    // An end of 0 is written 24 (a window ends at 1–24).
    let end = match (hour + 3) % 24 {
        0 => 24,
        end => end,
    };
    let hours = format!("{}-{end}", (hour + 2) % 24);
    let policy = |outside: &str| {
        keys(&[
            "policy",
            "guardian",
            "--allow",
            "sign-containment",
            "--hours",
            &hours,
            "--time-zone",
            "UTC",
            "--outside",
            outside,
        ])
    };
    assert!(policy("allow-with-critical-signal").status.success());

    let config = setup.config.to_string_lossy().into_owned();
    let signed = keys(&[
        "sign",
        "guardian",
        "--message",
        "pause the vault",
        "--reason",
        "drill",
        "--json",
        "-c",
        &config,
    ]);
    assert!(signed.status.success(), "{signed:?}");
    assert!(String::from_utf8_lossy(&signed.stderr).contains("CRITICAL"));
    let doc: Value = serde_json::from_slice(&signed.stdout).expect("json");
    assert_eq!(doc["outside_window"], true);
    let signature: alloy_primitives::Signature = doc["signature"]
        .as_str()
        .expect("signature")
        .parse()
        .expect("a signature");
    let signer = signature
        .recover_address_from_msg("pause the vault")
        .expect("recoverable");
    assert_eq!(
        format!("{signer:#x}"),
        address,
        "signed by the guardian key"
    );

    // The running daemon sends the critical alert the CLI queued.
    let alert = wait_for(
        "the critical alert at the receiver",
        Duration::from_secs(30),
        || {
            receiver
                .accepted()
                .into_iter()
                .find(|r| r.json()["alert"]["rule_id"] == "argus.key-outside-window")
        },
    );
    assert_eq!(alert.json()["alert"]["severity"], "critical");
    assert!(
        alert.json()["alert"]["title"]
            .as_str()
            .unwrap_or_default()
            .contains("guardian")
    );

    // Refused when the policy says so, and audited either way.
    assert!(policy("refuse").status.success());
    let refused = keys(&["sign", "guardian", "--message", "pause the vault"]);
    assert!(!refused.status.success());
    let audit = argus(&setup.data_dir)
        .args(["audit", "query", "--action", "key.use*", "--json"])
        .output()
        .expect("audit query");
    let audit = String::from_utf8_lossy(&audit.stdout);
    assert!(
        audit.contains("key.use-outside-window") && audit.contains("key.use-refused"),
        "{audit}"
    );
}

#[test]
fn validate_warns_about_a_rule_naming_a_contract_the_registry_lacks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let out = argus(&data)
        .args(["registry", "import"])
        .arg(testdata("foundry-project"))
        .output()
        .expect("import");
    assert!(out.status.success());
    std::fs::write(
        dir.path().join("rules.yaml"),
        "rules:\n  - id: typo\n    match: { event: { contract: Tokn, signature: \"Transfer(address,address,uint256)\" } }\n\
         thresholds:\n  memory_usage: \">90% for 1 minute\"\n  authentication_failures: \">3 in 1 minute\"\n",
    )
    .expect("write");
    std::fs::write(
        dir.path().join("argus.yaml"),
        "chains: [{ chain: anvil, rpc: [http://127.0.0.1:1] }]\nrules: [rules.yaml]\n\
         signals: { host: {} }\n",
    )
    .expect("write");
    let out = argus(&data)
        .args(["validate", "--json", "-c"])
        .arg(dir.path().join("argus.yaml"))
        .output()
        .expect("validate");
    assert!(out.status.success(), "a warning is not a refusal");
    let doc: Value = serde_json::from_slice(&out.stdout).expect("json");
    let warnings = doc["warnings"].to_string();
    assert!(
        warnings.contains("typo") && warnings.contains("Tokn"),
        "{warnings}"
    );
    // The host source feeds memory_usage; nothing feeds the failures.
    assert!(
        warnings.contains("produces signal authentication_failures"),
        "{warnings}"
    );
    assert!(!warnings.contains("signal memory_usage"), "{warnings}");
}

#[test]
fn a_failed_transaction_alert_says_why_it_reverted() {
    let anvil = Anvil::start();
    anvil.deploy_sample_project();
    let receiver = Receiver::start();
    let rules = format!(
        "rules:\n  - id: bot-failure\n    severity: high\n    match:\n      transaction: {{ from: \"{BOB}\", status: failed }}\n    title: \"bot transaction reverted: {{{{tx.revert.name}}}}\"\n"
    );
    let setup = setup_with(&anvil, &[anvil.http_url()], &receiver, &rules);
    let _daemon = Daemon::start(&setup);
    failing_transfer(&anvil);
    wait_for_fires(&receiver, &setup, 1);
    let fires = by_key(&receiver, "fire");
    let (_, body) = fires.values().next().expect("one alert");
    let alert = &body["alert"];
    assert_eq!(
        alert["title"], "bot transaction reverted: InsufficientBalance",
        "{alert}"
    );
    let revert = &alert["fields"]["tx"]["revert"];
    assert_eq!(revert["kind"], "custom", "{revert}");
    assert_eq!(
        revert["signature"], "InsufficientBalance(address,uint256,uint256)",
        "{revert}"
    );
}

/// A webhook secret sealed in the vault signs the deliveries, the daemon
/// refuses to start without the master key that unseals it, and the
/// daemon's starts, stops and configuration changes are audit entries.
#[test]
fn vault_sealed_secrets_and_an_audited_daemon_lifecycle() {
    const MASTER: &str = "q7Vd0mJ3xR9sL2kP8wZ4tY6uB1nC5eA0fG3hI7jK9lM=";
    const SEALED: &str = "whsec-sealed-canary-5f1e9c27";
    let anvil = Anvil::start();
    anvil.deploy_sample_project();
    let receiver = Receiver::start();
    let setup = setup(&anvil, &[anvil.http_url()], &receiver);
    let text = std::fs::read_to_string(&setup.config).unwrap();
    let text = text.replace(
        &format!(r#""env": "{SECRET_ENV}""#),
        r#""vault": "hook-key""#,
    );
    assert!(text.contains("hook-key"));
    std::fs::write(&setup.config, text).unwrap();
    let sealed = argus(&setup.data_dir)
        .args(["keys", "secret", "set", "hook-key"])
        .env("ARGUS_MASTER_KEY", MASTER)
        .env("ARGUS_SECRET_VALUE", SEALED)
        .output()
        .unwrap();
    assert!(sealed.status.success(), "{sealed:?}");

    // Without the master key: refused, naming the secret and the fix.
    let refused = argus(&setup.data_dir)
        .args(["run", "-c"])
        .arg(&setup.config)
        .env_remove("ARGUS_MASTER_KEY")
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("hook-key") && stderr.contains("ARGUS_MASTER_KEY"),
        "{stderr}"
    );

    let daemon = Daemon::start_with(&setup, &[("ARGUS_MASTER_KEY", MASTER)]);
    transfer(&anvil, 2 * ATT);
    wait_for_fires(&receiver, &setup, 1);
    let delivery = receiver.accepted().into_iter().next().unwrap();
    assert!(
        delivery.signed_with(SEALED),
        "signed with the sealed secret"
    );
    assert!(!delivery.signed_with(SECRET));
    assert!(daemon.stop(), "a clean stop: {}", daemon_log(&setup));

    // A changed rule file is a configuration change at the next start.
    let rules = setup.config.with_file_name("rules.yaml");
    let changed = std::fs::read_to_string(&rules).unwrap() + "# raised by ops\n";
    std::fs::write(&rules, changed).unwrap();
    let daemon = Daemon::start_with(&setup, &[("ARGUS_MASTER_KEY", MASTER)]);
    wait_for(
        "the second start in the audit log",
        Duration::from_secs(20),
        || {
            let out = argus(&setup.data_dir)
                .args(["audit", "query", "--action", "system.start", "--json"])
                .output()
                .ok()?;
            (String::from_utf8_lossy(&out.stdout).lines().count() == 2).then_some(())
        },
    );
    assert!(daemon.stop());

    let out = argus(&setup.data_dir)
        .args(["audit", "export"])
        .output()
        .unwrap();
    let entries: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let daemon_actions: Vec<&str> = entries
        .iter()
        .filter(|e| e["component"] == "daemon")
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        daemon_actions,
        [
            "system.start",
            "system.stop",
            "config.change",
            "system.start",
            "system.stop"
        ]
    );
    let change = entries
        .iter()
        .find(|e| e["action"] == "config.change")
        .unwrap();
    let rules_hash = &change["details"]["rules_sha256"];
    assert_ne!(rules_hash["before"], rules_hash["after"]);
    assert_eq!(
        change["details"]["config_sha256"]["before"], change["details"]["config_sha256"]["after"],
        "the config file itself did not change"
    );
    let start = entries
        .iter()
        .find(|e| e["action"] == "system.start")
        .unwrap();
    assert_eq!(start["details"]["notifiers"], json!(["hook"]));
    assert!(
        argus(&setup.data_dir)
            .args(["audit", "verify"])
            .output()
            .unwrap()
            .status
            .success()
    );

    // The sealed secret is nowhere in the clear: not in the log, the
    // database, the audit log or anything else the daemon wrote.
    let mut stack = vec![setup.data_dir.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let bytes = std::fs::read(&path).unwrap();
                assert!(
                    !String::from_utf8_lossy(&bytes).contains(SEALED),
                    "the sealed secret is in {} in the clear",
                    path.display()
                );
            }
        }
    }
}

/// Accepts connections and never answers: an endpoint that hangs.
fn blackhole() -> u16 {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    port
}

fn alerts_of(receiver: &Receiver, rule: &str) -> Vec<Value> {
    receiver
        .accepted()
        .into_iter()
        .filter(|r| r.json()["kind"] == "fire" && r.json()["alert"]["rule_id"] == rule)
        .map(|r| r.json()["alert"].clone())
        .collect()
}

/// The daemon's own signals reach the rules: a bot's log lines (the
/// procedure's `authentication_failures: ">3 in 1 minute"`, counted from the
/// log), a bot process that dies, an RPC endpoint that hangs, and the host's
/// memory.
#[test]
fn operations_signals_from_logs_processes_endpoints_and_the_host_alert() {
    let anvil = Anvil::start();
    anvil.deploy_sample_project();
    let receiver = Receiver::start();
    let rules = r#"
rules:
  - id: rpc-slow
    severity: high
    match: { signal: network_latency }
    condition: value >= 0.4
    title: "{{labels.endpoint}} answered in {{value}} s"
  - id: bot-down
    severity: critical
    match: { signal: process_up }
    condition: value == 0.0
    title: "{{labels.process}} is down"
  - id: host-memory
    severity: info
    match: { signal: memory_usage }
    condition: value >= 0.0
    title: "memory in use on {{labels.host}}: {{value}}%"
thresholds:
  authentication_failures: ">3 in 1 minute"
"#;
    let setup = setup_with(&anvil, &[anvil.http_url()], &receiver, rules);
    let log = setup.data_dir.join("bot.log");
    std::fs::write(&log, "INFO bot started\n").unwrap();
    let mut bot = std::process::Command::new("sleep")
        .arg("302.5")
        .spawn()
        .unwrap();
    let mut config: Value =
        serde_json::from_str(&std::fs::read_to_string(&setup.config).unwrap()).unwrap();
    config["chains"][0]["rpc"] = json!([
        { "name": "live", "url": anvil.http_url() },
        { "name": "blackhole", "url": format!("http://127.0.0.1:{}", blackhole()), "timeout": "1s" },
    ]);
    config["alerting"]["dedup_window"] = json!("10m");
    config["signals"] = json!({
        "rpc": { "every": "300ms", "timeout": "400ms" },
        "host": { "every": "1s" },
        "processes": [{ "name": "arb-bot", "match": "sleep 302.5", "every": "200ms" }],
        "logs": [{
            "path": log,
            "patterns": { "authentication_failures": "WARN.*(?i)auth" },
            "labels": { "bot": "arb-1" },
            "every": "100ms",
        }],
    });
    std::fs::write(
        &setup.config,
        serde_json::to_string_pretty(&config).unwrap(),
    )
    .unwrap();
    let _daemon = Daemon::start(&setup);

    // The hanging endpoint, named; the live one never.
    let slow = wait_for("the slow-endpoint alert", Duration::from_secs(30), || {
        alerts_of(&receiver, "rpc-slow").into_iter().next()
    });
    assert!(
        slow["title"]
            .as_str()
            .unwrap()
            .starts_with("blackhole answered in 0.4"),
        "{slow}"
    );
    let memory = wait_for("the host memory alert", Duration::from_secs(30), || {
        alerts_of(&receiver, "host-memory").into_iter().next()
    });
    let percent: f64 = memory["title"]
        .as_str()
        .unwrap()
        .rsplit(": ")
        .next()
        .unwrap()
        .trim_end_matches('%')
        .parse()
        .unwrap();
    assert!(percent > 0.0 && percent < 100.0, "{memory}");

    // Three authentication failures in the bot's log: under the threshold.
    let append = |text: &str| {
        use std::io::Write as _;
        let mut file = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
        file.write_all(text.as_bytes()).unwrap();
    };
    append("WARN auth failed: bad signature\nINFO trade ok\nWARN AUTH failed\nWARN Auth failed\n");
    std::thread::sleep(Duration::from_millis(1500));
    assert!(alerts_of(&receiver, "seed-authentication-failures").is_empty());
    assert!(alerts_of(&receiver, "bot-down").is_empty(), "the bot runs");
    // The fourth in the minute crosses it.
    append("WARN auth failed again\n");
    let auth = wait_for("the authentication alert", Duration::from_secs(30), || {
        alerts_of(&receiver, "seed-authentication-failures")
            .into_iter()
            .next()
    });
    assert_eq!(auth["severity"], "high", "{auth}");

    // The bot dies.
    bot.kill().unwrap();
    bot.wait().unwrap();
    let down = wait_for("the bot-down alert", Duration::from_secs(30), || {
        alerts_of(&receiver, "bot-down").into_iter().next()
    });
    assert_eq!(down["title"], "arb-bot is down");
    assert_eq!(down["severity"], "critical");
    assert!(
        alerts_of(&receiver, "rpc-slow")
            .iter()
            .all(|a| a["title"].as_str().unwrap().starts_with("blackhole")),
        "the live endpoint is never slow"
    );
}

/// A node on another branch (here: another chain altogether, behind an
/// endpoint of this one) is named by the cross-check: the endpoints are
/// asked for the hash of one block they all have, and the one that differs
/// from the majority alerts. The two that agree never do.
#[test]
fn an_endpoint_that_disagrees_on_a_block_hash_is_named() {
    let anvil = Anvil::start();
    anvil.deploy_sample_project();
    let impostor = Anvil::start();
    impostor.mine(anvil.block_number() + 20);
    let receiver = Receiver::start();
    let rules = r#"
rules:
  - id: rpc-disagreement
    severity: critical
    match: { signal: rpc_disagreement }
    condition: value > 0.0
    title: "{{labels.endpoint}} disagrees at block {{labels.block}}"
  - id: rpc-lagging
    severity: medium
    match: { signal: head_lag }
    condition: value > 10.0
    title: "{{labels.endpoint}} is {{value}} blocks behind"
"#;
    let setup = setup_with(&anvil, &[anvil.http_url()], &receiver, rules);
    let mut config: Value =
        serde_json::from_str(&std::fs::read_to_string(&setup.config).unwrap()).unwrap();
    config["chains"][0]["rpc"] = json!([
        { "name": "primary", "url": anvil.http_url() },
        { "name": "mirror", "url": anvil.ws_url() },
        { "name": "impostor", "url": impostor.http_url() },
    ]);
    config["alerting"]["dedup_window"] = json!("10m");
    config["signals"] = json!({ "rpc": { "every": "300ms", "timeout": "2s" } });
    std::fs::write(
        &setup.config,
        serde_json::to_string_pretty(&config).unwrap(),
    )
    .unwrap();
    let _daemon = Daemon::start(&setup);

    let disagreement = wait_for("the disagreement alert", Duration::from_secs(30), || {
        alerts_of(&receiver, "rpc-disagreement").into_iter().next()
    });
    let title = disagreement["title"].as_str().unwrap();
    assert!(title.starts_with("impostor disagrees at block "), "{title}");
    // The other two are behind the impostor's longer chain, by the same count.
    let lagging = wait_for("both lagging alerts", Duration::from_secs(30), || {
        let alerts = alerts_of(&receiver, "rpc-lagging");
        (alerts.len() >= 2).then_some(alerts)
    });
    let mut named: Vec<&str> = lagging
        .iter()
        .map(|a| a["title"].as_str().unwrap().split(' ').next().unwrap())
        .collect();
    named.sort_unstable();
    named.dedup();
    assert_eq!(named, ["mirror", "primary"]);
    std::thread::sleep(Duration::from_millis(900));
    for alert in alerts_of(&receiver, "rpc-disagreement") {
        assert!(
            alert["title"].as_str().unwrap().starts_with("impostor"),
            "only the impostor disagrees: {alert}"
        );
    }
}

/// The demo's rules (`scripts/demo`, the README's first command) stay valid.
#[test]
fn the_demo_rules_are_valid() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rules = workspace_root().join("examples/demo/rules.yaml");
    std::fs::write(
        dir.path().join("argus.yaml"),
        format!(
            "chains: [{{ chain: anvil, rpc: [http://127.0.0.1:1] }}]\nrules: [{}]\n\
             signals: {{ logs: [{{ path: bot.log, patterns: {{ authentication_failures: auth }} }}] }}\n",
            rules.display()
        ),
    )
    .expect("write");
    let out = argus(&dir.path().join("data"))
        .args(["validate", "--json", "-c"])
        .arg(dir.path().join("argus.yaml"))
        .output()
        .expect("validate");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(doc["rules"], 5);
    assert_eq!(doc["warnings"], json!([]), "every signal rule has a source");
}

fn status(setup: &Setup, extra: &[&str]) -> (Option<i32>, Value) {
    let out = argus(&setup.data_dir)
        .args(["status", "--json", "-c"])
        .arg(&setup.config)
        .args(extra)
        .output()
        .unwrap();
    let doc = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code(), doc)
}

/// `argus status` tells whether the monitor keeps up: healthy while it does;
/// unhealthy, with the sink's error, when a delivery waits; unhealthy when
/// the daemon is down and the chain moves on.
#[test]
fn status_says_when_the_monitor_falls_behind() {
    let anvil = Anvil::start();
    anvil.deploy_sample_project();
    let receiver = Receiver::start();
    let setup = setup(&anvil, &[anvil.http_url()], &receiver);
    let daemon = Daemon::start(&setup);
    let tx = transfer(&anvil, 2 * ATT);
    wait_for_fires(&receiver, &setup, 1);
    let block = hex_u64(&anvil.receipt(&tx)["blockNumber"]);
    let (code, doc) = wait_for("the daemon's checkpoint", Duration::from_secs(20), || {
        let (code, doc) = status(&setup, &[]);
        (doc["notifiers"]["hook"]["delivered"] == 1).then_some((code, doc))
    });
    assert_eq!(code, Some(0), "{doc:#}");
    assert_eq!(doc["healthy"], true);
    let chain = &doc["chains"][0];
    assert_eq!(chain["chain_id"], 31337);
    assert!(chain["last_block"].as_u64().unwrap() >= block, "{chain}");
    assert!(chain["behind"].as_u64().unwrap() <= 1, "{chain}");
    assert_eq!(doc["audit"]["present"], false);

    // The sink refuses: the delivery waits, with the sink's answer.
    receiver.set_status(503);
    transfer(&anvil, 3 * ATT);
    let (code, doc) = wait_for("a pending delivery", Duration::from_secs(20), || {
        let (code, doc) = status(&setup, &["--max-delivery-age", "0s"]);
        (doc["notifiers"]["hook"]["pending"] == 1
            && !doc["notifiers"]["hook"]["last_error"].is_null())
        .then_some((code, doc))
    });
    assert_eq!(code, Some(1), "{doc:#}");
    assert!(
        doc["notifiers"]["hook"]["last_error"]
            .as_str()
            .unwrap()
            .contains("503"),
        "{doc:#}"
    );
    assert!(doc["problems"].to_string().contains("waited"), "{doc:#}");
    receiver.set_status(200);
    wait_for_fires(&receiver, &setup, 2);

    // The daemon stops; the chain goes on.
    daemon.kill9();
    anvil.mine(30);
    let (code, doc) = status(&setup, &[]);
    assert_eq!(code, Some(1), "{doc:#}");
    assert!(
        doc["chains"][0]["behind"].as_u64().unwrap() >= 30,
        "{doc:#}"
    );
    assert!(
        doc["problems"].to_string().contains("blocks behind"),
        "{doc:#}"
    );
    // Human output says the same.
    let out = argus(&setup.data_dir)
        .args(["status", "-c"])
        .arg(&setup.config)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("PROBLEM") && text.contains("blocks behind"),
        "{text}"
    );
}

/// Signal windows count across `kill -9` as chain windows do: two
/// authentication failures before the kill and two after make four in the
/// minute, so `> 3 in 1 minute` fires once.
#[test]
fn a_signal_window_counts_across_a_kill_9() {
    let anvil = Anvil::start();
    anvil.deploy_sample_project();
    let receiver = Receiver::start();
    let rules = "thresholds:\n  authentication_failures: \">3 in 1 minute\"\n";
    let setup = setup_with(&anvil, &[anvil.http_url()], &receiver, rules);
    let log = setup.data_dir.join("bot.log");
    std::fs::write(&log, "").unwrap();
    let mut config: Value =
        serde_json::from_str(&std::fs::read_to_string(&setup.config).unwrap()).unwrap();
    config["signals"] = json!({
        "logs": [{ "path": log, "patterns": { "authentication_failures": "auth failed" }, "every": "100ms" }],
    });
    std::fs::write(
        &setup.config,
        serde_json::to_string_pretty(&config).unwrap(),
    )
    .unwrap();
    let append = |text: &str| {
        use std::io::Write as _;
        let mut file = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
        file.write_all(text.as_bytes()).unwrap();
    };
    let db = setup.data_dir.join("argus.db");
    let daemon = Daemon::start(&setup);
    // The reader has looked at the file once (it starts at its end).
    wait_for("the log reader to start", Duration::from_secs(20), || {
        (db.exists() && rusqlite_count(&db, "SELECT count(*) FROM signal_log_positions") == 1)
            .then_some(())
    });
    append("auth failed 1\nauth failed 2\n");
    wait_for("two stored samples", Duration::from_secs(20), || {
        (rusqlite_count(&db, "SELECT count(*) FROM signal_samples") == 2).then_some(())
    });
    daemon.kill9();
    let _daemon = Daemon::start(&setup);
    append("auth failed 3\nauth failed 4\n");
    let alert = wait_for("the alert across the kill", Duration::from_secs(30), || {
        alerts_of(&receiver, "seed-authentication-failures")
            .into_iter()
            .next()
    });
    assert!(
        alert["title"]
            .as_str()
            .unwrap()
            .contains("4 in the last 60 s"),
        "{alert}"
    );
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        alerts_of(&receiver, "seed-authentication-failures").len(),
        1
    );
}

/// A bot's wallet running low alerts (read through the chain's nodes), and a
/// wallet the config gets wrong is named by `validate`.
#[test]
fn a_bot_wallet_running_low_alerts() {
    let anvil = Anvil::start();
    anvil.deploy_sample_project();
    let receiver = Receiver::start();
    let rules = r#"
rules:
  - id: wallet-low
    severity: high
    match: { signal: wallet_balance }
    condition: value < 1.0
    title: "{{labels.wallet}} has {{value}} ETH left"
"#;
    let setup = setup_with(&anvil, &[anvil.http_url()], &receiver, rules);
    let mut config: Value =
        serde_json::from_str(&std::fs::read_to_string(&setup.config).unwrap()).unwrap();
    config["signals"] =
        json!({ "wallets": [{ "name": "arb-bot", "address": BOB, "every": "200ms" }] });
    std::fs::write(
        &setup.config,
        serde_json::to_string_pretty(&config).unwrap(),
    )
    .unwrap();
    let _daemon = Daemon::start(&setup);
    std::thread::sleep(Duration::from_millis(1000));
    assert!(
        alerts_of(&receiver, "wallet-low").is_empty(),
        "10,000 ETH is plenty"
    );
    // Half an ether left.
    anvil.rpc("anvil_setBalance", json!([BOB, "0x6f05b59d3b20000"]));
    let alert = wait_for("the low-wallet alert", Duration::from_secs(30), || {
        alerts_of(&receiver, "wallet-low").into_iter().next()
    });
    assert_eq!(alert["title"], "arb-bot has 0.5 ETH left");

    // A bad checksum and a chain the config does not follow.
    config["signals"] = json!({ "wallets": [
        { "name": "typo", "address": BOB.replace('C', "c").replace("3c44", "3C44") },
        { "name": "elsewhere", "address": BOB, "chain": "mainnet" },
    ] });
    std::fs::write(
        &setup.config,
        serde_json::to_string_pretty(&config).unwrap(),
    )
    .unwrap();
    let out = argus(&setup.data_dir)
        .args(["validate", "-c"])
        .arg(&setup.config)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("signals.wallets[0]") && stderr.contains("checksum"),
        "{stderr}"
    );
    assert!(
        stderr.contains("signals.wallets[1]") && stderr.contains("not one of `chains:`"),
        "{stderr}"
    );
}

/// The pid in the data directory's run lock file.
fn lock_holder(setup: &Setup) -> Option<u32> {
    std::fs::read_to_string(setup.data_dir.join(argus_store::RUN_LOCK_FILE))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// One daemon per data directory: a second `argus run` exits 2 naming the
/// holder's pid while the first runs on; once the first is killed with -9
/// (its lock file left behind), a new one starts and alerts.
#[test]
fn a_second_daemon_on_one_data_directory_is_refused_until_the_first_is_gone() {
    let anvil = Anvil::start();
    anvil.deploy_sample_project();
    let receiver = Receiver::start();
    let setup = setup(&anvil, &[anvil.http_url()], &receiver);
    let first = Daemon::start(&setup);
    let pid = first.child.id();
    wait_for(
        "the first daemon to claim the data directory",
        Duration::from_secs(60),
        || (lock_holder(&setup) == Some(pid)).then_some(()),
    );

    let mut second = Daemon {
        child: argus(&setup.data_dir)
            .args(["run", "-c"])
            .arg(&setup.config)
            .env(SECRET_ENV, SECRET)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start a second argus run"),
    };
    let status = wait_for("the second daemon to exit", Duration::from_secs(30), || {
        second.child.try_wait().ok().flatten()
    });
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut second.child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "another argus run (pid {pid}) holds {}",
            setup.data_dir.display()
        )) && stderr.contains("stop it first"),
        "{stderr}"
    );
    assert_eq!(
        lock_holder(&setup),
        Some(pid),
        "the refused one wrote nothing"
    );

    // The first runs on, alone.
    transfer(&anvil, ATT);
    wait_for_fires(&receiver, &setup, 1);
    first.kill9();
    assert_eq!(lock_holder(&setup), Some(pid), "a stale file is left");

    let third = Daemon::start(&setup);
    let third_pid = third.child.id();
    wait_for(
        "a new daemon to claim the data directory",
        Duration::from_secs(60),
        || (lock_holder(&setup) == Some(third_pid)).then_some(()),
    );
    transfer(&anvil, ATT + 1);
    wait_for_fires(&receiver, &setup, 2);
    assert!(third.stop(), "log:\n{}", daemon_log(&setup));
    assert_eq!(lock_holder(&setup), None, "a clean stop clears the pid");
}

#[test]
fn the_daemon_publishes_heads_to_its_witness_and_refuses_a_rolled_back_log() {
    const MASTER: &str = "q7Vd0mJ3xR9sL2kP8wZ4tY6uB1nC5eA0fG3hI7jK9lM=";
    let anvil = Anvil::start();
    anvil.deploy_sample_project();
    let receiver = Receiver::start();
    let setup = setup(&anvil, &[anvil.http_url()], &receiver);
    let other_mount = tempfile::tempdir().unwrap();
    let witness = other_mount.path().join("argus-heads.jsonl");
    let mut config: Value =
        serde_json::from_str(&std::fs::read_to_string(&setup.config).unwrap()).unwrap();
    config["audit"] = json!({ "witnesses": [ { "file": witness } ] });
    std::fs::write(&setup.config, config.to_string()).unwrap();

    for run in 0..2 {
        let daemon = Daemon::start_with(
            &setup,
            &[("ARGUS_MASTER_KEY", MASTER), (SECRET_ENV, SECRET)],
        );
        // The start's head reaches the witness before the stop is asked.
        for _ in 0..100 {
            let text = std::fs::read_to_string(&witness).unwrap_or_default();
            if text.lines().count() == 2 * run + 1 {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let text = std::fs::read_to_string(&witness).unwrap_or_default();
        assert_eq!(text.lines().count(), 2 * run + 1, "{}", daemon_log(&setup));
        assert!(daemon.stop(), "a clean stop: {}", daemon_log(&setup));
    }
    // One head per append (start, stop, start, stop), each a head of the
    // log that `audit verify --head` accepts.
    let lines = std::fs::read_to_string(&witness).unwrap();
    assert_eq!(lines.lines().count(), 4, "{lines}");
    let verified = argus(&setup.data_dir)
        .args(["audit", "verify", "--head"])
        .arg(&witness)
        .output()
        .unwrap();
    assert!(verified.status.success(), "{verified:?}");

    // Roll the log back to its first checkpoint and copy it into `head`.
    let audit = setup.data_dir.join("audit");
    let rolled_back = argus_testkit::audit::roll_back_to_checkpoint(&audit, 1);
    assert!(
        argus(&setup.data_dir)
            .args(["audit", "verify"])
            .output()
            .unwrap()
            .status
            .success(),
        "local checks cannot see it"
    );
    let refused = argus(&setup.data_dir)
        .args(["run", "-c"])
        .arg(&setup.config)
        .env("ARGUS_MASTER_KEY", MASTER)
        .env(SECRET_ENV, SECRET)
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2), "{refused:?}");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("argus will not start")
            && stderr.contains(&witness.display().to_string())
            && stderr.contains("the log is behind the witnessed head (1 entries, the head has 4)"),
        "{stderr}"
    );
    // Nothing was recorded on top of the rolled-back log.
    let log_after = std::fs::read(audit.join("audit.log")).unwrap();
    assert_eq!(log_after.len(), rolled_back);
}

/// A notifier as witness: each new signed head leaves the host through the
/// alert outbox (here a signed webhook), even under a silence of every
/// rule, and what arrives is a head `argus audit verify --head` accepts.
#[test]
fn heads_reach_a_witness_notifier_through_the_outbox_whatever_is_silenced() {
    const MASTER: &str = "q7Vd0mJ3xR9sL2kP8wZ4tY6uB1nC5eA0fG3hI7jK9lM=";
    let anvil = Anvil::start();
    anvil.deploy_sample_project();
    let receiver = Receiver::start();
    let setup = setup(&anvil, &[anvil.http_url()], &receiver);
    let mut config: Value =
        serde_json::from_str(&std::fs::read_to_string(&setup.config).unwrap()).unwrap();
    config["audit"] = json!({ "witnesses": [ { "notifier": "hook" } ] });
    std::fs::write(&setup.config, config.to_string()).unwrap();
    // A silence of every notice of argus itself, made before the daemon starts.
    let silenced = argus(&setup.data_dir)
        .args([
            "alerts",
            "silence",
            "add",
            "--rule",
            "argus.*",
            "--for",
            "1h",
            "--reason",
            "maintenance",
        ])
        .env("ARGUS_MASTER_KEY", MASTER)
        .output()
        .unwrap();
    assert!(silenced.status.success(), "{silenced:?}");

    // Two runs: the stop's head is queued after the dispatcher stopped, so
    // it leaves with the next start, once.
    let mut heads = Vec::new();
    for run in 0..2 {
        let daemon = Daemon::start_with(
            &setup,
            &[("ARGUS_MASTER_KEY", MASTER), (SECRET_ENV, SECRET)],
        );
        let expected = 2 * run + 1;
        heads = wait_for(
            "the heads at the witness notifier",
            Duration::from_secs(60),
            || {
                let heads = alerts_of(&receiver, "argus.audit.head");
                (heads.len() >= expected).then_some(heads)
            },
        );
        assert!(daemon.stop(), "a clean stop: {}", daemon_log(&setup));
    }
    let seqs: BTreeSet<u64> = heads
        .iter()
        .filter_map(|h| h["fields"]["checkpoint"]["last_seq"].as_u64())
        .collect();
    assert_eq!(seqs.len(), 3, "start, stop, start: each once: {heads:?}");
    assert_eq!(heads[0]["severity"], "info", "{:?}", heads[0]);
    // The newest head is the message's fields, as `audit head --json` prints.
    let newest = heads
        .iter()
        .max_by_key(|h| h["fields"]["checkpoint"]["last_seq"].as_u64())
        .unwrap();
    let file = setup.data_dir.parent().unwrap().join("witnessed-head.json");
    std::fs::write(&file, newest["fields"].to_string()).unwrap();
    let verified = argus(&setup.data_dir)
        .args(["audit", "verify", "--head"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(verified.status.success(), "{verified:?}");
    let text = String::from_utf8_lossy(&verified.stdout);
    assert!(text.contains("extends the witnessed head"), "{text}");
}

/// A state rule in `argus replay` (issue 14): read at each replayed block,
/// it fires from the block whose transfer broke the invariant on, not
/// before.
#[test]
fn replay_reads_state_rules_at_each_block() {
    let anvil = Anvil::start();
    anvil.deploy_sample_project();
    let receiver = Receiver::start();
    let rules = format!(
        r#"rules:
  - id: alice-under-limit
    match:
      state:
        reads:
          alice: {{ contract: Token, call: "balanceOf(address)", args: ["{ALICE}"] }}
    invariant: reads.alice < uint256("{}")
"#,
        3 * ATT
    );
    let setup = setup_with(&anvil, &[anvil.http_url()], &receiver, &rules);
    let from = anvil.block_number() + 1;
    let mut blocks = Vec::new();
    for _ in 0..4 {
        let tx = transfer(&anvil, ATT);
        blocks.push(hex_u64(&anvil.receipt(&tx)["blockNumber"]));
    }
    let to = anvil.block_number();
    let out = argus(&setup.data_dir)
        .args([
            "replay",
            "--json",
            "--from",
            &from.to_string(),
            "--to",
            &to.to_string(),
            "-c",
        ])
        .arg(&setup.config)
        .env(SECRET_ENV, SECRET)
        .output()
        .expect("run replay");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let fired: Vec<u64> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("one JSON finding per line"))
        .map(|f| {
            assert_eq!(f["rule"], "alice-under-limit");
            f["block"].as_u64().expect("a block")
        })
        .collect();
    // The third transfer reaches the limit; the fourth stays over it.
    assert_eq!(fired, blocks[2..].to_vec(), "{stderr}");
}
