//! Several instances on one PostgreSQL: three `argus run` processes share a
//! database (a real PostgreSQL started by the test on a private port),
//! follow two anvils, and deliver to one webhook receiver. The lease holder
//! is killed with -9, another one is paused past its lease and resumed,
//! the database is restarted, and a reorg orphans an alerted block; every
//! transfer of the canonical chains reaches the sink, each idempotency key
//! at most twice (only a send a disruption interrupted is repeated), and
//! the orphan's alert is retracted.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use argus_testkit::{ALICE, Anvil, BOB, DEPLOYER, Postgres, Receiver, TOKEN, cast, wait_for};
use serde_json::{Value, json};

/// Short, so the test is quick: a dead holder's work moves within it.
const LEASE: Duration = Duration::from_secs(3);
const ATT: u128 = 1_000_000_000_000_000_000;
const SECRET_ENV: &str = "ARGUS_TEST_WEBHOOK_SECRET";

fn rules() -> String {
    format!(
        r#"
rules:
  - id: large-transfer
    severity: high
    match:
      event:
        contract: "{TOKEN}"
        signature: Transfer(address,address,uint256)
    condition: args.value >= uint256("1000000000000000000")
"#
    )
}

struct Instance {
    name: String,
    dir: PathBuf,
    config: PathBuf,
    child: Option<Child>,
}

impl Instance {
    fn new(
        root: &Path,
        name: &str,
        url: &str,
        anvils: &[(&Anvil, &str)],
        receiver: &Receiver,
    ) -> Self {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("rules.yaml"), rules()).unwrap();
        let chains: Vec<Value> = anvils
            .iter()
            .map(|(anvil, chain)| {
                json!({
                    "chain": chain,
                    "rpc": [anvil.http_url()],
                    "confirmations": 0,
                    "fetch": "full",
                    "start": anvil.block_number() + 1,
                    "poll_interval": "200ms",
                    "pool": { "poll_interval": "200ms", "backoff": "50ms", "bench_for": "2s" },
                })
            })
            .collect();
        let config = json!({
            "data_dir": dir.join("data"),
            "store": { "url": url, "instance": name, "lease": format!("{}s", LEASE.as_secs()) },
            "chains": chains,
            "rules": ["rules.yaml"],
            "alerting": {
                "dedup_window": "0s",
                "notifiers": { "hook": {
                    "type": "webhook", "url": receiver.url("/hook"), "secret": { "env": SECRET_ENV },
                } },
                "retry": { "initial": "50ms", "max": "500ms" },
            },
        });
        let path = dir.join("argus.yaml");
        std::fs::write(&path, serde_json::to_string_pretty(&config).unwrap()).unwrap();
        Self {
            name: name.to_owned(),
            dir,
            config: path,
            child: None,
        }
    }

    fn start(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("daemon.log"))
            .unwrap();
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_argus"))
            .args(["run", "--json", "-v", "-c"])
            .arg(&self.config)
            .env_remove("ARGUS_LOG")
            .env_remove("ARGUS_STORE_PASSWORD")
            .env(SECRET_ENV, "whsec-test-0123456789abcdef")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start argus run");
        self.child = Some(child);
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).unwrap()
    }

    fn signal(&self, signal: &str) {
        let status = std::process::Command::new("kill")
            .args([signal, &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("daemon.log")).unwrap_or_default()
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.kill9();
    }
}

fn logs(instances: &[Instance]) -> String {
    instances
        .iter()
        .map(|i| format!("--- {} ---\n{}", i.name, i.log()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The holder of each lease, and its epoch, read from the database.
fn leases(pg: &Postgres, db: &str) -> BTreeMap<String, (String, i64)> {
    let out = pg
        .psql(
            db,
            "SELECT name || '|' || holder || '|' || epoch FROM leases \
             WHERE expires_at_ms > CAST(extract(epoch FROM clock_timestamp()) * 1000 AS BIGINT)",
        )
        .unwrap_or_default();
    out.lines()
        .filter_map(|line| {
            let mut parts = line.split('|');
            Some((
                parts.next()?.to_owned(),
                (parts.next()?.to_owned(), parts.next()?.parse().ok()?),
            ))
        })
        .collect()
}

/// [`wait_for`] for 30 s, with every instance's log when it times out.
fn wait_for_or_logs<T>(
    instances: &[Instance],
    what: &str,
    mut probe: impl FnMut() -> Option<T>,
) -> T {
    let start = Instant::now();
    loop {
        if let Some(value) = probe() {
            return value;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "timed out waiting for {what}\n{}",
            logs(instances)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn transfer(anvil: &Anvil, amount: u128) -> String {
    let data = cast::calldata("transfer(address,uint256)", &[ALICE, &amount.to_string()]);
    anvil
        .send(json!({ "from": DEPLOYER, "to": TOKEN, "data": data, "gas": "0x30000" }))
        .to_lowercase()
}

/// Every delivery of `kind`: idempotency key → (times, first arrival, body).
fn by_key(receiver: &Receiver, kind: &str) -> BTreeMap<String, (usize, Instant, Value)> {
    let mut out: BTreeMap<String, (usize, Instant, Value)> = BTreeMap::new();
    for request in receiver.accepted() {
        let body = request.json();
        if body["kind"] != kind {
            continue;
        }
        let key = request
            .header("Idempotency-Key")
            .unwrap_or_default()
            .to_owned();
        let entry = out.entry(key).or_insert((0, request.at, body));
        entry.0 += 1;
        entry.1 = entry.1.min(request.at);
    }
    out
}

fn fired_txs(receiver: &Receiver) -> BTreeSet<String> {
    by_key(receiver, "fire")
        .values()
        .filter_map(|(_, _, body)| body["alert"]["tx_hash"].as_str().map(str::to_owned))
        .collect()
}

fn wait_for_txs(receiver: &Receiver, expected: &BTreeSet<String>, instances: &[Instance]) {
    let start = Instant::now();
    loop {
        let fired = fired_txs(receiver);
        if expected.is_subset(&fired) {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "timed out: {} of {} transfers alerted; missing {:?}\n{}",
            expected.intersection(&fired).count(),
            expected.len(),
            expected.difference(&fired).take(3).collect::<Vec<_>>(),
            logs(instances)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn three_instances_survive_kill_9_a_pause_and_a_database_restart_with_every_alert_once() {
    let pg = Postgres::start();
    let url = pg.create_database();
    let db = url.rsplit('/').next().unwrap().to_owned();
    let l1 = Anvil::start();
    let l2 = Anvil::start_with(&["--chain-id", "10"]);
    l1.deploy_sample_project();
    l2.deploy_sample_project();
    let receiver = Receiver::start();
    let root = tempfile::tempdir().unwrap();
    let chains = [(&l1, "anvil"), (&l2, "optimism")];
    let mut instances: Vec<Instance> = ["a", "b", "c"]
        .iter()
        .map(|name| Instance::new(root.path(), name, &url, &chains, &receiver))
        .collect();
    for instance in &mut instances {
        instance.start();
    }
    // Every piece of work is taken by one of them.
    let held = wait_for_or_logs(&instances, "the leases to be taken", || {
        let leases = leases(&pg, &db);
        ["follow:31337", "follow:10", "dispatch"]
            .iter()
            .all(|l| leases.contains_key(*l))
            .then_some(leases)
    });

    let mut expected: BTreeSet<String> = BTreeSet::new();
    let mut amount = ATT;
    let mut send = |expected: &mut BTreeSet<String>| {
        amount += 1;
        expected.insert(transfer(&l1, amount));
        expected.insert(transfer(&l2, amount));
    };
    for _ in 0..3 {
        send(&mut expected);
    }
    wait_for_txs(&receiver, &expected, &instances);
    let mut disruptions: Vec<Instant> = Vec::new();

    // 1. kill -9 the follower of chain 31337 in the middle of a stream.
    let (holder, epoch) = held["follow:31337"].clone();
    for _ in 0..3 {
        send(&mut expected);
    }
    let victim = instances.iter_mut().find(|i| i.name == holder).unwrap();
    victim.kill9();
    let killed_at = Instant::now();
    disruptions.push(killed_at);
    for _ in 0..3 {
        send(&mut expected);
    }
    let (next, next_epoch) = wait_for(
        "another instance to follow 31337",
        Duration::from_secs(30),
        || {
            leases(&pg, &db)
                .get("follow:31337")
                .filter(|(h, _)| *h != holder)
                .cloned()
        },
    );
    let failover = killed_at.elapsed();
    eprintln!(
        "failover of follow:31337 after kill -9 of {holder}: {failover:?} (lease {LEASE:?}), to {next}"
    );
    assert!(next_epoch > epoch, "a takeover raises the epoch");
    // Within the lease time, plus a tenth of it (the waiting instances'
    // look), plus the test's own polling.
    assert!(
        failover <= LEASE + LEASE / 10 + Duration::from_millis(300),
        "failover took {failover:?} (lease {LEASE:?}); {holder} -> {next}"
    );
    wait_for_txs(&receiver, &expected, &instances);

    // 2. SIGSTOP the dispatcher's holder past its lease, then SIGCONT.
    let leases_now = leases(&pg, &db);
    let (paused_name, paused_epoch) = leases_now["dispatch"].clone();
    let paused = instances
        .iter()
        .position(|i| i.name == paused_name)
        .unwrap();
    instances[paused].signal("-STOP");
    disruptions.push(Instant::now());
    for _ in 0..3 {
        send(&mut expected);
    }
    let taken = wait_for_or_logs(&instances, "the dispatcher to move", || {
        leases(&pg, &db)
            .get("dispatch")
            .filter(|(h, e)| *h != paused_name && *e > paused_epoch)
            .cloned()
    });
    wait_for_txs(&receiver, &expected, &instances);
    instances[paused].signal("-CONT");
    // The resumed instance learns it lost its leases; whatever it tries to
    // write is refused by epoch (the database checks the fence).
    std::thread::sleep(LEASE);
    let after = leases(&pg, &db);
    assert_eq!(
        after.get("dispatch").map(|(h, _)| h.as_str()),
        Some(taken.0.as_str()),
        "the dispatcher stays with the instance that took it over"
    );

    // 3. The database restarts mid-stream.
    for _ in 0..2 {
        send(&mut expected);
    }
    pg.stop();
    disruptions.push(Instant::now());
    send(&mut expected);
    std::thread::sleep(Duration::from_secs(1));
    pg.start_server();
    for _ in 0..2 {
        send(&mut expected);
    }
    wait_for_txs(&receiver, &expected, &instances);

    // 4. A reorg orphans an alerted block of chain 31337.
    amount += 1;
    let orphan = transfer(&l1, amount);
    expected.insert(orphan.clone());
    wait_for_txs(&receiver, &expected, &instances);
    amount += 1;
    let data = cast::calldata("transfer(address,uint256)", &[BOB, &amount.to_string()]);
    l1.reorg(
        1,
        json!([[{ "from": DEPLOYER, "to": TOKEN, "data": data, "gas": "0x30000" }, 0]]),
    );
    expected.remove(&orphan);
    wait_for("the orphan's retraction", Duration::from_secs(60), || {
        by_key(&receiver, "retract")
            .values()
            .any(|(_, _, body)| body["alert"]["tx_hash"].as_str() == Some(orphan.as_str()))
            .then_some(())
    });
    let replaced = wait_for("the new branch's alert", Duration::from_secs(60), || {
        let fired = fired_txs(&receiver);
        let new: Vec<String> = fired
            .into_iter()
            .filter(|tx| !expected.contains(tx) && *tx != orphan)
            .collect();
        (!new.is_empty()).then_some(new)
    });
    assert_eq!(replaced.len(), 1, "one alert for the new branch's transfer");
    expected.extend(replaced);
    std::thread::sleep(Duration::from_secs(1));

    // Every canonical transfer alerted; nothing else but the orphan.
    let mut all = expected.clone();
    all.insert(orphan.clone());
    assert_eq!(fired_txs(&receiver), all, "{}", logs(&instances));
    // Each key at most twice, and a repeat only for a send that a
    // disruption may have interrupted (its first copy came before one).
    let last_disruption = *disruptions.last().unwrap();
    for (key, (times, first, _)) in by_key(&receiver, "fire") {
        assert!(times <= 2, "{key} delivered {times} times");
        if times == 2 {
            assert!(
                disruptions
                    .iter()
                    .any(|d| first <= *d + Duration::from_secs(1))
                    && first <= last_disruption + Duration::from_secs(1),
                "{key} repeated without a disruption before its first copy"
            );
        }
    }
    let retracts = by_key(&receiver, "retract");
    assert_eq!(retracts.len(), 1, "only the orphan is retracted");
    assert!(retracts.values().all(|(n, _, _)| *n == 1));
    // The paused instance was told its writes were refused, or saw its
    // lease gone, and kept running.
    let resumed = &instances[paused];
    let log = resumed.log();
    assert!(
        log.contains("lease")
            && (log.contains("refused") || log.contains("lost") || log.contains("taken over")),
        "the resumed instance noticed it lost its lease:\n{log}"
    );
}
