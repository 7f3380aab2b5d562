#![allow(clippy::unwrap_used, clippy::expect_used)]
//! `argus metrics`, `argus incidents report` and `argus incidents evidence
//! verify` end to end: the real binary on a real SQLite file prepared with
//! the libraries (alerts through the outbox, incidents as intake leaves
//! them, evidence through the real capture).

use std::collections::BTreeMap;
use std::path::Path;

use alloy_primitives::B256;
use argus_alerting::{Routing, outbox};
use argus_core::{BlockRef, ChainId, ChainOrigin, Clock, Finding, Severity, finding_id};
use argus_incident::evidence::{self, EvidenceSources};
use argus_incident::policy::EvidenceConfig;
use argus_incident::{Disposition, db};
use argus_store::Store;
use assert_cmd::Command;
use serde_json::{Value, json};

const MIN: i64 = 60_000;

fn argus(data: &Path) -> Command {
    let mut cmd = Command::cargo_bin("argus").unwrap();
    cmd.arg("--data-dir")
        .arg(data)
        .env_remove("ARGUS_DATA_DIR")
        .env_remove("ARGUS_LOG");
    cmd
}

fn run(data: &Path, args: &[&str]) -> std::process::Output {
    argus(data).args(args).output().unwrap()
}

fn ok(output: std::process::Output) -> String {
    assert!(
        output.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

/// Records an alert (from the chain when `block` is given) and returns its id.
fn alert(store: &Store, rule: &str, title: &str, n: u8, at_ms: i64) -> String {
    let origin = ChainOrigin {
        chain: ChainId::LOCAL,
        block: BlockRef {
            number: u64::from(n),
            hash: B256::repeat_byte(n),
            parent_hash: B256::ZERO,
            timestamp: 1,
        },
        tx_hash: None,
        log_index: None,
    };
    let id = finding_id(rule, Some(&origin), &[n]);
    let finding = Finding {
        id,
        rule_id: rule.to_owned(),
        severity: Severity::High,
        title: title.to_owned(),
        dedup_key: format!("{id:#x}"),
        origin: None,
        at_ms,
        fields: json!({}).into(),
    };
    let mut conn = store.connect().unwrap();
    let tx = conn.transaction().unwrap();
    outbox::record(&tx, &finding, &Routing::to_all(&[], 0), at_ms).unwrap();
    tx.commit().unwrap();
    format!("{id:#x}")
}

/// An incident as intake leaves it, holding `alert_id`.
#[allow(clippy::too_many_arguments)]
fn incident(
    store: &Store,
    id: i64,
    title: &str,
    alert_id: &str,
    first_event: i64,
    opened: i64,
    acknowledged: Option<i64>,
    resolved: Option<i64>,
) {
    let conn = store.connect().unwrap();
    let state = if resolved.is_some() {
        "resolved"
    } else if acknowledged.is_some() {
        "acknowledged"
    } else {
        "open"
    };
    conn.execute(
        "INSERT INTO incidents (id, kind, group_key, severity, state, title, opened_ms, \
             first_event_ms, first_alert_ms, acknowledged_ms, resolved_ms) VALUES \
             (?1, 'funds-drained', 'g' || ?1, 'P1', ?2, ?3, ?4, ?5, ?4, ?6, ?7)",
        argus_store::sql::params![
            id,
            state,
            title,
            opened,
            first_event,
            acknowledged,
            resolved
        ],
    )
    .unwrap();
    conn.execute(
        "INSERT INTO incident_alerts (incident_id, alert_id, rule_id, event_ms, added_ms) \
             SELECT ?1, id, rule_id, at_ms, created_at_ms FROM alerts WHERE id = ?2",
        argus_store::sql::params![id, alert_id],
    )
    .unwrap();
    db::add_event(
        &conn,
        id,
        opened,
        "argus",
        "incident.open",
        None,
        &json!({}),
    )
    .unwrap();
}

/// Two incidents: one three hours old (detected in 30 s, acknowledged in
/// 10 min, resolved in 2 h), one ten minutes old (detected in 10 s,
/// acknowledged in 2 min). Three alerts, two judged.
fn prepare(data: &Path) -> (Store, i64) {
    let store = Store::open_in_dir(data).unwrap();
    let now = now_ms();
    let old = now - 180 * MIN;
    let a1 = alert(&store, "large-outflow", "old drain", 1, old);
    incident(
        &store,
        1,
        "Old drain",
        &a1,
        old - 30_000,
        old,
        Some(old + 10 * MIN),
        Some(old + 120 * MIN),
    );
    let recent = now - 10 * MIN;
    let title = "Drain | `vault` <img src=x>\nsecond line";
    let a2 = alert(&store, "large-outflow", title, 2, recent);
    incident(
        &store,
        2,
        title,
        &a2,
        recent - 10_000,
        recent,
        Some(recent + 2 * MIN),
        None,
    );
    let a3 = alert(&store, "bot-memory", "memory high", 3, recent);
    let conn = store.connect().unwrap();
    db::set_disposition(&conn, &a1, Disposition::TruePositive, "op", now, None).unwrap();
    db::set_disposition(&conn, &a3, Disposition::FalsePositive, "op", now, None).unwrap();
    drop(conn);
    (store, now)
}

#[test]
fn metrics_json_and_table_over_a_prepared_data_dir() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path();
    prepare(data);

    let all: Value = serde_json::from_str(&ok(run(data, &["metrics", "--json"]))).unwrap();
    assert_eq!(all["incidents"], json!(2));
    assert_eq!(all["resolved"], json!(1));
    assert_eq!(all["mttd"]["count"], json!(2));
    assert_eq!(all["mttd"]["mean_ms"], json!(20_000));
    assert_eq!(all["mtta"]["mean_ms"], json!(6 * MIN));
    assert_eq!(all["mtta"]["median_ms"], json!(6 * MIN));
    assert_eq!(all["mttr"]["count"], json!(1));
    assert_eq!(all["mttr"]["mean_ms"], json!(120 * MIN));
    assert_eq!(all["false_positives"]["judged"], json!(2));
    assert_eq!(all["false_positives"]["unjudged"], json!(1));
    assert_eq!(all["false_positives"]["false_positive_rate"], json!(0.5));
    let rules: Vec<&str> = all["per_rule"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["rule_id"].as_str().unwrap())
        .collect();
    assert_eq!(rules, ["bot-memory", "large-outflow"]);

    // The last hour: the recent incident and its alerts only.
    let hour: Value =
        serde_json::from_str(&ok(run(data, &["metrics", "--since", "1h", "--json"]))).unwrap();
    assert_eq!(hour["incidents"], json!(1));
    assert_eq!(hour["mttd"]["mean_ms"], json!(10_000));
    assert_eq!(hour["mttr"]["count"], json!(0));
    assert_eq!(hour["false_positives"]["alerts"], json!(2));

    let table = ok(run(data, &["metrics", "--since", "30d"]));
    assert!(table.contains("incidents opened since"), "{table}");
    assert!(table.contains("time to detect (MTTD)"), "{table}");
    assert!(table.contains("50.0%"), "{table}");

    let bad = run(data, &["metrics", "--since", "yesterday"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("neither a duration"));
}

#[test]
fn report_prints_markdown_or_json_and_writes_both_files() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    prepare(&data);

    let md = ok(run(&data, &["incidents", "report", "2"]));
    let heading = md.lines().next().unwrap();
    assert_eq!(
        heading,
        "# Incident 2: Drain \\| \\`vault\\` &lt;img src=x&gt;<br>second line"
    );
    assert!(md.contains("| time to detect | 10s |"), "{md}");
    assert!(md.contains("| time to resolve | not reached |"), "{md}");
    assert!(md.contains("### Lessons learned"), "{md}");

    let doc: Value =
        serde_json::from_str(&ok(run(&data, &["incidents", "report", "2", "--json"]))).unwrap();
    assert_eq!(doc["incident"]["id"], json!(2));
    assert_eq!(doc["figures"]["time_to_acknowledge"]["ms"], json!(2 * MIN));
    assert_eq!(doc["alerts"][0]["rule_id"], json!("large-outflow"));

    let out = tmp.path().join("reports");
    let output = run(
        &data,
        &["incidents", "report", "1", "--out", out.to_str().unwrap()],
    );
    assert!(ok(output).is_empty());
    let md = std::fs::read_to_string(out.join("incident-1.md")).unwrap();
    assert!(md.starts_with("# Incident 1: Old drain"));
    let doc: Value =
        serde_json::from_slice(&std::fs::read(out.join("incident-1.json")).unwrap()).unwrap();
    assert_eq!(doc["figures"]["time_to_resolve"]["ms"], json!(120 * MIN));

    let missing = run(&data, &["incidents", "report", "99"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("there is no incident 99"));
}

#[test]
fn evidence_verify_exits_1_when_a_file_changed() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path();
    let (store, now) = prepare(data);
    let sources = EvidenceSources {
        data_dir: data.to_owned(),
        chains: BTreeMap::new(),
        config: EvidenceConfig {
            system_state: false,
            ..EvidenceConfig::default()
        },
        bots: BTreeMap::new(),
        config_files: Vec::new(),
        clock: Clock::manual_ms(now),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let bundle = runtime
        .block_on(evidence::capture(&sources, &store, 2))
        .unwrap();
    drop(store);

    let text = ok(run(data, &["incidents", "evidence", "verify", "2"]));
    assert!(
        text.contains(&format!(
            "evidence intact: {} files, root {}",
            bundle.files.len(),
            bundle.root
        )),
        "{text}"
    );
    let doc: Value = serde_json::from_str(&ok(run(
        data,
        &["incidents", "evidence", "verify", "2", "--json"],
    )))
    .unwrap();
    assert_eq!(doc["recorded_root"], json!(bundle.root));

    std::fs::write(bundle.dir.join("incident.json"), b"{}").unwrap();
    let output = run(data, &["incidents", "evidence", "verify", "2"]);
    assert_eq!(output.status.code(), Some(1));
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(text.contains("NOT intact"), "{text}");
    assert!(text.contains("changed  incident.json"), "{text}");

    // The report lists the evidence with its root.
    let md = ok(run(data, &["incidents", "report", "2"]));
    assert!(md.contains(&format!("Root: `{}`", bundle.root)), "{md}");
    assert!(md.contains("| incident.json |"), "{md}");

    let none = run(data, &["incidents", "evidence", "verify", "1"]);
    assert_eq!(none.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&none.stderr).contains("no evidence bundle"));
}
