#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Evidence end to end on a real anvil: a real transfer, an alert recorded
//! through the outbox with that origin, an incident holding it, a capture,
//! and verification catching a changed, a missing and an extra file.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use alloy_primitives::{Address, B256, U256};
use argus_alerting::Routing;
use argus_alerting::outbox;
use argus_chain::{EndpointConfig, PoolConfig, RpcPool};
use argus_core::{BlockRef, ChainId, ChainOrigin, Clock, Finding, Severity, finding_id};
use argus_incident::db;
use argus_incident::evidence::{self, EvidenceError, EvidenceSources, MANIFEST, Manifest};
use argus_incident::policy::{BotConfig, EvidenceConfig};
use argus_store::Store;
use argus_testkit::{ALICE, Anvil, hex_u64};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

const INCIDENT: i64 = 7;

/// The incident's number is whatever the test says: intake is another stage.
fn insert_incident(store: &Store, alert_id: &str, rule: &str, event_ms: i64, now_ms: i64) {
    let mut conn = store.connect().unwrap();
    let tx = conn.transaction().unwrap();
    tx.execute(
        "INSERT INTO incidents (id, kind, group_key, severity, state, title, opened_ms, \
             first_event_ms, first_alert_ms) VALUES (?1, 'funds-drained', 'anvil', 'P0', 'open', \
             'Drain of the vault', ?2, ?3, ?2)",
        argus_store::sql::params![INCIDENT, now_ms, event_ms],
    )
    .unwrap();
    tx.execute(
        "INSERT INTO incident_alerts (incident_id, alert_id, rule_id, event_ms, added_ms) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
        argus_store::sql::params![INCIDENT, alert_id, rule, event_ms, now_ms],
    )
    .unwrap();
    db::add_event(
        &tx,
        INCIDENT,
        now_ms,
        "argus",
        "incident.open",
        None,
        &json!({ "alert": alert_id }),
    )
    .unwrap();
    tx.commit().unwrap();
}

fn pool(url: String) -> RpcPool {
    let config = PoolConfig {
        rounds: 1,
        backoff: Duration::from_millis(5),
        backoff_max: Duration::from_millis(10),
        ..PoolConfig::default()
    };
    let mut endpoint = EndpointConfig::new("anvil", url);
    endpoint.timeout = Duration::from_secs(10);
    RpcPool::new(ChainId::LOCAL, vec![endpoint], config).unwrap()
}

/// A real transfer to ALICE, recorded as an alert of incident 7.
struct Scene {
    anvil: Anvil,
    tmp: tempfile::TempDir,
    store: Store,
    tx_hash: String,
    block: BlockRef,
    now_ms: i64,
}

fn scene() -> Scene {
    let anvil = Anvil::start();
    let tx_hash = anvil.send(json!({ "to": ALICE, "value": "0xde0b6b3a7640000" }));
    let receipt = anvil.receipt(&tx_hash);
    let number = hex_u64(&receipt["blockNumber"]);
    let header = anvil.rpc(
        "eth_getBlockByNumber",
        json!([format!("{number:#x}"), false]),
    );
    let block = BlockRef {
        number,
        hash: header["hash"].as_str().unwrap().parse().unwrap(),
        parent_hash: header["parentHash"].as_str().unwrap().parse().unwrap(),
        timestamp: hex_u64(&header["timestamp"]),
    };
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open_in_dir(tmp.path()).unwrap();
    let now_ms = jiff::Timestamp::now().as_millisecond();
    let origin = ChainOrigin {
        chain: ChainId::LOCAL,
        block,
        tx_hash: Some(tx_hash.parse::<B256>().unwrap()),
        log_index: None,
    };
    let rule = "large-outflow";
    let id = finding_id(rule, Some(&origin), &[]);
    let finding = Finding {
        id,
        rule_id: rule.to_owned(),
        severity: Severity::Critical,
        title: "1 ETH left the vault".to_owned(),
        dedup_key: format!("{id:#x}"),
        origin: Some(origin),
        at_ms: i64::try_from(block.timestamp).unwrap() * 1000,
        fields: json!({ "to": ALICE }).into(),
    };
    {
        let mut conn = store.connect().unwrap();
        let tx = conn.transaction().unwrap();
        outbox::record(&tx, &finding, &Routing::to_all(&[], 0), now_ms).unwrap();
        tx.commit().unwrap();
    }
    insert_incident(&store, &format!("{id:#x}"), rule, finding.at_ms, now_ms);
    Scene {
        anvil,
        tmp,
        store,
        tx_hash,
        block,
        now_ms,
    }
}

fn sources(scene: &Scene, url: String) -> EvidenceSources {
    let data = scene.tmp.path();
    let config_file = data.join("argus.yaml");
    std::fs::write(&config_file, "chains: {}\n").unwrap();
    let log = data.join("bot.log");
    std::fs::write(&log, "line one\nline two\n").unwrap();
    let alice: Address = ALICE.parse().unwrap();
    let bots = BTreeMap::from([(
        "arb".to_owned(),
        BotConfig {
            wallets: vec![alice],
            unit: Some("argus-evidence-test-bot.service".to_owned()),
            ..BotConfig::default()
        },
    )]);
    EvidenceSources {
        data_dir: data.to_owned(),
        chains: BTreeMap::from([(ChainId::LOCAL, pool(url))]),
        config: EvidenceConfig {
            system_state: true,
            log_files: vec![log],
            recent_blocks: 10,
        },
        bots,
        config_files: vec![config_file],
        clock: Clock::manual_ms(scene.now_ms),
    }
}

fn read_json(dir: &Path, name: &str) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join(name)).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_capture_holds_the_real_transaction_and_verify_catches_every_change() {
    let scene = scene();
    let sources = sources(&scene, scene.anvil.http_url());
    let bundle = evidence::capture(&sources, &scene.store, INCIDENT)
        .await
        .unwrap();
    let dir = &bundle.dir;
    assert_eq!(*dir, scene.tmp.path().join("evidence").join("7"));

    // The node's own answers, for the real transaction.
    let prefix = format!("chain-31337-tx-{}", scene.tx_hash);
    let tx = read_json(dir, &format!("{prefix}.json"));
    assert_eq!(tx["hash"], json!(scene.tx_hash));
    let receipt = read_json(dir, &format!("{prefix}-receipt.json"));
    assert_eq!(receipt["transactionHash"], json!(scene.tx_hash));
    assert_eq!(receipt["status"], json!("0x1"));
    let header = read_json(
        dir,
        &format!("chain-31337-block-{}.json", scene.block.number),
    );
    assert_eq!(header["hash"], json!(format!("{:#x}", scene.block.hash)));
    // Anvil gives call traces.
    let trace = read_json(dir, &format!("{prefix}-trace.json"));
    assert_eq!(
        trace["to"].as_str().unwrap().to_lowercase(),
        ALICE.to_lowercase()
    );

    // Balances at the block: the recipient (affected) and the bot's wallet,
    // as the node says at that block.
    let expected = scene.anvil.rpc(
        "eth_getBalance",
        json!([ALICE, format!("{:#x}", scene.block.number)]),
    );
    let expected = U256::from_str_radix(expected.as_str().unwrap().trim_start_matches("0x"), 16)
        .unwrap()
        .to_string();
    let roles: Vec<&str> = bundle
        .balances
        .iter()
        .filter(|b| b.address.eq_ignore_ascii_case(ALICE))
        .map(|b| {
            assert_eq!(b.wei, expected);
            b.role.as_str()
        })
        .collect();
    assert_eq!(roles, ["affected contract", "wallet of bot arb"]);
    // The bot's wallet received the transfer within the recent blocks.
    let bot_txs = read_json(dir, "chain-31337-bot-transactions.json");
    let hashes: Vec<&str> = bot_txs["transactions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["transaction"]["hash"].as_str().unwrap())
        .collect();
    assert!(hashes.contains(&scene.tx_hash.as_str()), "{bot_txs}");

    // Argus's record, the host, the config hashes and the log tail.
    let incident = read_json(dir, "incident.json");
    assert_eq!(incident["alerts"][0]["tx_hash"], json!(scene.tx_hash));
    let last_hour = read_json(dir, "argus-alerts-last-hour.json");
    assert_eq!(last_hour.as_array().unwrap().len(), 1);
    let processes = read_json(dir, "processes.json");
    let me = std::process::id();
    assert!(
        processes["processes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["pid"] == json!(me))
    );
    assert!(read_json(dir, "sockets.json")["tcp"].is_array());
    let config = read_json(dir, "config-files.json");
    let want = alloy_primitives::hex::encode(Sha256::digest(b"chains: {}\n"));
    assert_eq!(config[0]["sha256"], json!(want));
    assert_eq!(
        std::fs::read(dir.join("log-0-bot.log")).unwrap(),
        b"line one\nline two\n"
    );

    // The manifest lists every file with its hash; its own hash is the root
    // the store and the timeline hold.
    let manifest_bytes = std::fs::read(dir.join(MANIFEST)).unwrap();
    let root = alloy_primitives::hex::encode(Sha256::digest(&manifest_bytes));
    assert_eq!(bundle.root, root);
    let manifest: Manifest = serde_json::from_slice(&manifest_bytes).unwrap();
    // The journal is either captured or its absence noted.
    let journal_captured = manifest.files.iter().any(|f| f.name == "journal-arb.jsonl");
    let journal_noted = manifest.notes.iter().any(|n| n.contains("journalctl"));
    assert!(journal_captured || journal_noted, "{:?}", manifest.notes);
    for file in &manifest.files {
        let bytes = std::fs::read(dir.join(&file.name)).unwrap();
        assert_eq!(file.bytes, bytes.len() as u64, "{}", file.name);
        assert_eq!(
            file.sha256,
            alloy_primitives::hex::encode(Sha256::digest(&bytes))
        );
    }
    let conn = scene.store.connect().unwrap();
    assert_eq!(
        db::incident(&conn, INCIDENT).unwrap().evidence_root,
        Some(root.clone())
    );
    assert_eq!(
        db::evidence_of(&conn, INCIDENT).unwrap().len(),
        manifest.files.len()
    );
    let captured = db::events_of(&conn, INCIDENT)
        .unwrap()
        .into_iter()
        .find(|e| e.action == "evidence.captured")
        .unwrap();
    assert_eq!(captured.details["root"], json!(root));
    // Modes: 0700 directory, 0600 files.
    use std::os::unix::fs::PermissionsExt as _;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(dir), 0o700);
    assert_eq!(mode(&dir.join(MANIFEST)), 0o600);

    // Intact as written.
    let report = evidence::verify(scene.tmp.path(), &conn, INCIDENT).unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.intact.len(), manifest.files.len());

    // Written once: a second capture is refused and changes nothing.
    let again = evidence::capture(&sources, &scene.store, INCIDENT).await;
    assert!(
        matches!(&again, Err(EvidenceError::AlreadyCaptured { root: Some(r), .. }) if *r == root),
        "{again:?}"
    );
    assert_eq!(std::fs::read(dir.join(MANIFEST)).unwrap(), manifest_bytes);

    // One byte changed.
    let tx_file = dir.join(format!("{prefix}.json"));
    let mut bytes = std::fs::read(&tx_file).unwrap();
    bytes[10] ^= 0x01;
    std::fs::write(&tx_file, &bytes).unwrap();
    let report = evidence::verify(scene.tmp.path(), &conn, INCIDENT).unwrap();
    assert!(!report.is_intact());
    let changed: Vec<&str> = report.changed.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(changed, [format!("{prefix}.json")]);
    assert!(report.missing.is_empty() && report.extra.is_empty());

    // One file deleted, one planted.
    std::fs::remove_file(dir.join(format!("{prefix}-receipt.json"))).unwrap();
    std::fs::write(dir.join("planted.txt"), b"x").unwrap();
    let report = evidence::verify(scene.tmp.path(), &conn, INCIDENT).unwrap();
    assert_eq!(report.missing, [format!("{prefix}-receipt.json")]);
    assert_eq!(report.extra, ["planted.txt"]);

    // A rewritten manifest no longer matches the stored root.
    let mut manifest_edit = manifest_bytes.clone();
    manifest_edit.push(b'\n');
    std::fs::write(dir.join(MANIFEST), &manifest_edit).unwrap();
    let report = evidence::verify(scene.tmp.path(), &conn, INCIDENT).unwrap();
    assert!(
        report.problems.iter().any(|p| p.contains("recorded root")),
        "{:?}",
        report.problems
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_does_not_answer_is_noted_and_the_rest_is_captured() {
    let scene = scene();
    // A port nothing listens on.
    let dead = format!("http://127.0.0.1:{}", argus_testkit::free_port());
    let sources = sources(&scene, dead);
    let bundle = evidence::capture(&sources, &scene.store, INCIDENT)
        .await
        .unwrap();
    let names: Vec<&str> = bundle.files.iter().map(|f| f.name.as_str()).collect();
    assert!(names.contains(&"incident.json"), "{names:?}");
    assert!(names.contains(&"config-files.json"), "{names:?}");
    assert!(!names.iter().any(|n| n.contains("-tx-")), "{names:?}");
    assert!(
        bundle
            .notes
            .iter()
            .any(|n| n.contains("eth_getTransactionByHash failed")),
        "{:?}",
        bundle.notes
    );
    let conn = scene.store.connect().unwrap();
    assert!(
        evidence::verify(scene.tmp.path(), &conn, INCIDENT)
            .unwrap()
            .is_intact()
    );
}

#[test]
fn verify_without_a_bundle_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open_in_dir(tmp.path()).unwrap();
    insert_incident(&store, "0x01", "r", 0, 0);
    let conn = store.connect().unwrap();
    let error = evidence::verify(tmp.path(), &conn, INCIDENT).unwrap_err();
    assert!(matches!(error, EvidenceError::NoBundle { .. }), "{error}");
    assert!(error.to_string().contains("no evidence bundle"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_evidence_directory_that_is_a_link_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let store = Store::open_in_dir(&data).unwrap();
    insert_incident(&store, "0x01", "r", 0, 0);
    let elsewhere = tmp.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, data.join("evidence")).unwrap();
    let sources = EvidenceSources {
        data_dir: data.clone(),
        chains: BTreeMap::new(),
        config: EvidenceConfig {
            system_state: false,
            ..EvidenceConfig::default()
        },
        bots: BTreeMap::new(),
        config_files: Vec::new(),
        clock: Clock::manual_ms(0),
    };
    let error = evidence::capture(&sources, &store, INCIDENT)
        .await
        .unwrap_err();
    assert!(matches!(error, EvidenceError::Unsafe { .. }), "{error}");
    assert!(error.to_string().contains("symbolic link"), "{error}");
    assert_eq!(std::fs::read_dir(&elsewhere).unwrap().count(), 0);
    let conn = store.connect().unwrap();
    assert_eq!(db::incident(&conn, INCIDENT).unwrap().evidence_root, None);
}
