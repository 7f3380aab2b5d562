//! Several instances on one PostgreSQL: three `argus run` processes share a
//! database (a real PostgreSQL started by the test on a private port),
//! follow two anvils, and deliver to two webhook notifiers on one receiver
//! (each notifier's dispatch is a lease of its own). Lease holders are
//! killed with -9 at random points (the seed is printed; `ARGUS_TEST_SEED`
//! repeats a run), another one is paused past its lease and resumed, the
//! database is restarted, and a reorg orphans an alerted block; every
//! transfer of the canonical chains reaches both notifiers, each
//! idempotency key at most twice (only a send a disruption interrupted is
//! repeated), and the orphan's alert is retracted once per notifier.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant, SystemTime};

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
                "notifiers": {
                    "hook": {
                        "type": "webhook", "url": receiver.url("/hook"), "secret": { "env": SECRET_ENV },
                    },
                    "audit": {
                        "type": "webhook", "url": receiver.url("/audit"), "secret": { "env": SECRET_ENV },
                    },
                },
                // A claim outlasts the slowest send by this plus 6 s: what a
                // killed dispatcher had claimed is sent again that soon.
                "retry": { "initial": "50ms", "max": "500ms", "request_timeout": "2s" },
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
fn wait_for_or_logs<T>(instances: &[Instance], what: &str, probe: impl FnMut() -> Option<T>) -> T {
    wait_for_or_logs_within(instances, what, Duration::from_secs(30), probe)
}

fn wait_for_or_logs_within<T>(
    instances: &[Instance],
    what: &str,
    within: Duration,
    mut probe: impl FnMut() -> Option<T>,
) -> T {
    let start = Instant::now();
    loop {
        if let Some(value) = probe() {
            return value;
        }
        assert!(
            start.elapsed() < within,
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

/// The two notifiers' paths at the receiver.
const NOTIFIERS: [&str; 2] = ["/hook", "/audit"];

/// Every delivery of `kind` to the notifier at `path`: idempotency key →
/// (times, first arrival, body).
fn by_key(
    receiver: &Receiver,
    path: &str,
    kind: &str,
) -> BTreeMap<String, (usize, Instant, Value)> {
    let mut out: BTreeMap<String, (usize, Instant, Value)> = BTreeMap::new();
    for request in receiver.accepted() {
        if request.path != path {
            continue;
        }
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

/// The transfers alerted to the notifier at `path`.
fn fired_txs(receiver: &Receiver, path: &str) -> BTreeSet<String> {
    by_key(receiver, path, "fire")
        .values()
        .filter_map(|(_, _, body)| body["alert"]["tx_hash"].as_str().map(str::to_owned))
        .collect()
}

/// Waits until both notifiers have every transfer of `expected`.
fn wait_for_txs(receiver: &Receiver, expected: &BTreeSet<String>, instances: &[Instance]) {
    for path in NOTIFIERS {
        wait_for_txs_at(receiver, path, expected, instances);
    }
}

fn wait_for_txs_at(
    receiver: &Receiver,
    path: &str,
    expected: &BTreeSet<String>,
    instances: &[Instance],
) {
    let start = Instant::now();
    loop {
        let fired = fired_txs(receiver, path);
        if expected.is_subset(&fired) {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "timed out: {} of {} transfers alerted at {path}; missing {:?}\n{}",
            expected.intersection(&fired).count(),
            expected.len(),
            expected.difference(&fired).take(3).collect::<Vec<_>>(),
            logs(instances)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The next number of a xorshift generator (the test's random points).
fn next_random(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// The pieces of work whose holder a kill -9 round may hit.
const KILLED_WORK: [&str; 3] = ["follow:31337", "follow:10", "dispatch:hook"];

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
        [
            "follow:31337",
            "follow:10",
            "dispatch:hook",
            "dispatch:audit",
            "dispatch",
        ]
        .iter()
        .all(|l| leases.contains_key(*l))
        .then_some(leases)
    });
    eprintln!("leases at start: {held:?}");
    let mut expected: BTreeSet<String> = BTreeSet::new();
    let mut amount = ATT;
    let mut send = |expected: &mut BTreeSet<String>| {
        amount += 1;
        expected.insert(transfer(&l1, amount));
        expected.insert(transfer(&l2, amount));
    };
    // The work spreads while transfers stream in: each instance ends up
    // holding some, and none more than one lease above another
    // (hand-overs to the least busy). A hand-over drains the work first,
    // so nothing is delivered twice.
    let started = Instant::now();
    let spread = loop {
        send(&mut expected);
        let leases = leases(&pg, &db);
        let per: Vec<usize> = ["a", "b", "c"]
            .iter()
            .map(|id| leases.values().filter(|(h, _)| h == id).count())
            .collect();
        let (min, max) = (
            per.iter().min().copied().unwrap_or(0),
            per.iter().max().copied().unwrap_or(0),
        );
        if min >= 1 && max - min <= 1 {
            break leases;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the work did not spread: {leases:?}\n{}",
            logs(&instances)
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    eprintln!(
        "spread after {:?}, {} transfers streamed meanwhile: {spread:?}",
        started.elapsed(),
        expected.len()
    );
    wait_for_txs(&receiver, &expected, &instances);
    for path in NOTIFIERS {
        for (key, (times, _, _)) in by_key(&receiver, path, "fire") {
            assert_eq!(
                times, 1,
                "{key} delivered twice at {path} while the work moved"
            );
        }
    }
    for _ in 0..3 {
        send(&mut expected);
    }
    wait_for_txs(&receiver, &expected, &instances);
    let mut disruptions: Vec<Instant> = Vec::new();

    // 1. Three rounds of kill -9 at random points: each picks a piece of
    // work, sends a random number of transfers, waits a random time, kills
    // the work's holder mid-stream, and starts it again once another
    // instance has taken the work over.
    let seed = std::env::var("ARGUS_TEST_SEED")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(1, |d| u64::from(d.subsec_nanos()) | 1)
        });
    eprintln!("kill -9 points from seed {seed} (set ARGUS_TEST_SEED={seed} to repeat them)");
    let mut random = seed;
    for round in 0..3 {
        let work = KILLED_WORK[usize::try_from(next_random(&mut random) % 3).unwrap()];
        let (holder, epoch) = wait_for_or_logs(&instances, "the work to be held", || {
            leases(&pg, &db).get(work).cloned()
        });
        for _ in 0..next_random(&mut random) % 4 {
            send(&mut expected);
        }
        std::thread::sleep(Duration::from_millis(next_random(&mut random) % 800));
        let victim = instances.iter_mut().find(|i| i.name == holder).unwrap();
        victim.kill9();
        let killed_at = Instant::now();
        disruptions.push(killed_at);
        for _ in 0..3 {
            send(&mut expected);
        }
        let (next, next_epoch) =
            wait_for_or_logs(&instances, "another instance to take the work", || {
                leases(&pg, &db)
                    .get(work)
                    .filter(|(h, _)| *h != holder)
                    .cloned()
            });
        let failover = killed_at.elapsed();
        eprintln!(
            "round {round}: failover of {work} after kill -9 of {holder}: {failover:?} (lease {LEASE:?}), to {next}"
        );
        assert!(next_epoch > epoch, "a takeover raises the epoch");
        // Within the lease time, plus a tenth of it (the waiting instances'
        // look), plus the test's own polling.
        assert!(
            failover <= LEASE + LEASE / 10 + Duration::from_millis(300),
            "failover of {work} took {failover:?} (lease {LEASE:?}); {holder} -> {next}"
        );
        wait_for_txs(&receiver, &expected, &instances);
        instances
            .iter_mut()
            .find(|i| i.name == holder)
            .unwrap()
            .start();
    }

    // 2. SIGSTOP the holder of the `hook` notifier's dispatch past its
    // lease, then SIGCONT.
    let (paused_name, paused_epoch) = wait_for_or_logs(&instances, "dispatch:hook held", || {
        leases(&pg, &db).get("dispatch:hook").cloned()
    });
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
            .get("dispatch:hook")
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
        after.get("dispatch:hook").map(|(h, _)| h.as_str()),
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
    for path in NOTIFIERS {
        wait_for("the orphan's retraction", Duration::from_secs(60), || {
            by_key(&receiver, path, "retract")
                .values()
                .any(|(_, _, body)| body["alert"]["tx_hash"].as_str() == Some(orphan.as_str()))
                .then_some(())
        });
    }
    let replaced = wait_for("the new branch's alert", Duration::from_secs(60), || {
        let fired = fired_txs(&receiver, "/hook");
        let new: Vec<String> = fired
            .into_iter()
            .filter(|tx| !expected.contains(tx) && *tx != orphan)
            .collect();
        (!new.is_empty()).then_some(new)
    });
    assert_eq!(replaced.len(), 1, "one alert for the new branch's transfer");
    expected.extend(replaced);
    wait_for_txs(&receiver, &expected, &instances);
    std::thread::sleep(Duration::from_secs(1));

    let last_disruption = *disruptions.last().unwrap();
    for path in NOTIFIERS {
        // Every canonical transfer alerted; nothing else but the orphan.
        let mut all = expected.clone();
        all.insert(orphan.clone());
        assert_eq!(
            fired_txs(&receiver, path),
            all,
            "{path}\n{}",
            logs(&instances)
        );
        // Each key at most twice, and a repeat only for a send that a
        // disruption may have interrupted (its first copy came no later
        // than a second after the last disruption).
        for (key, (times, first, _)) in by_key(&receiver, path, "fire") {
            assert!(times <= 2, "{key} delivered {times} times at {path}");
            if times == 2 {
                assert!(
                    first <= last_disruption + Duration::from_secs(1),
                    "{key} repeated at {path} without a disruption before its first copy"
                );
            }
        }
        let retracts = by_key(&receiver, path, "retract");
        assert_eq!(retracts.len(), 1, "only the orphan is retracted at {path}");
        assert!(retracts.values().all(|(n, _, _)| *n == 1));
    }
    // The paused instance was told its writes were refused, or saw its
    // lease gone, and kept running.
    let resumed = &instances[paused];
    let log = resumed.log();
    assert!(
        log.contains("lease")
            && (log.contains("refused") || log.contains("lost") || log.contains("taken over")),
        "the resumed instance noticed it lost its lease:\n{log}"
    );

    // `argus status` lists the three instances, what each holds and its lag.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_argus"))
        .args(["status", "--json", "-c"])
        .arg(&instances[0].config)
        .env_remove("ARGUS_STORE_PASSWORD")
        .output()
        .unwrap();
    let status: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
        panic!(
            "status --json: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let listed = status["instances"].as_array().unwrap();
    let ids: BTreeSet<&str> = listed.iter().filter_map(|i| i["id"].as_str()).collect();
    assert_eq!(ids, BTreeSet::from(["a", "b", "c"]), "{status:#}");
    assert!(listed.iter().all(|i| i["alive"] == true), "{status:#}");
    let now = leases(&pg, &db);
    for instance in listed {
        let id = instance["id"].as_str().unwrap();
        let held: BTreeSet<&str> = instance["leases"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let expected: BTreeSet<&str> = now
            .iter()
            .filter(|(_, (holder, _))| holder == id)
            .map(|(name, _)| name.as_str())
            .collect();
        assert_eq!(held, expected, "{id}: {status:#}");
        if held.iter().any(|l| l.starts_with("follow:")) {
            // Both anvils answer: the follower's lag in blocks is known.
            assert!(instance["behind_blocks"].as_u64().is_some(), "{status:#}");
            assert!(
                instance["last_block_age_s"].as_i64().is_some(),
                "{status:#}"
            );
        }
    }
}
