use alloy_primitives::B256;
use argus_alerting::Routing;
use argus_core::{BlockRef, ChainId, ChainOrigin, Finding, Severity, finding_id};
use argus_store::{Connection, Store};
use serde_json::json;

use super::*;
use crate::db::SignedTransaction;

/// The instants of a test incident.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Times {
    pub(crate) first_event: i64,
    pub(crate) first_alert: i64,
    pub(crate) opened: i64,
    pub(crate) acknowledged: Option<i64>,
    pub(crate) contained: Option<i64>,
    pub(crate) resolved: Option<i64>,
}

/// Inserts an incident as intake would leave it (intake is another stage).
pub(crate) fn insert_incident(conn: &Connection, id: i64, title: &str, t: Times) {
    let state = match (t.acknowledged, t.contained, t.resolved) {
        (_, _, Some(_)) => "resolved",
        (_, Some(_), None) => "contained",
        (Some(_), None, None) => "acknowledged",
        _ => "open",
    };
    conn.execute(
        "INSERT INTO incidents (id, kind, group_key, severity, state, title, playbook, \
             opened_ms, first_event_ms, first_alert_ms, acknowledged_ms, contained_ms, \
             resolved_ms, assignee) VALUES (?1, 'funds-drained', ?10, 'P0', ?2, ?3, \
             'contain', ?4, ?5, ?6, ?7, ?8, ?9, 'alice')",
        argus_store::sql::params![
            id,
            state,
            title,
            t.opened,
            t.first_event,
            t.first_alert,
            t.acknowledged,
            t.contained,
            t.resolved,
            format!("anvil-{id}")
        ],
    )
    .unwrap();
}

/// Records an alert through the outbox and adds it to incident `id`.
pub(crate) fn add_alert(
    conn: &Connection,
    id: i64,
    rule: &str,
    title: &str,
    n: u8,
    at_ms: i64,
) -> String {
    let origin = ChainOrigin {
        chain: ChainId::LOCAL,
        block: BlockRef {
            number: u64::from(n),
            hash: B256::repeat_byte(n),
            parent_hash: B256::ZERO,
            timestamp: 1,
        },
        tx_hash: Some(B256::repeat_byte(0xee)),
        log_index: Some(0),
    };
    let fid = finding_id(rule, Some(&origin), &[n]);
    let finding = Finding {
        id: fid,
        rule_id: rule.to_owned(),
        severity: Severity::Critical,
        title: title.to_owned(),
        dedup_key: format!("{fid:#x}"),
        origin: Some(origin),
        at_ms,
        fields: json!({}).into(),
    };
    argus_alerting::outbox::record(conn, &finding, &Routing::to_all(&[], 0), at_ms).unwrap();
    let alert_id = format!("{fid:#x}");
    if id > 0 {
        conn.execute(
            "INSERT INTO incident_alerts (incident_id, alert_id, rule_id, event_ms, added_ms) \
                 VALUES (?1, ?2, ?3, ?4, ?4)",
            argus_store::sql::params![id, alert_id, rule, at_ms],
        )
        .unwrap();
    }
    alert_id
}

const MIN: i64 = 60_000;

fn scene() -> (Store, Connection) {
    let store = argus_store::testing::store().unwrap();
    let conn = store.connect().unwrap();
    let t0 = 1_767_225_600_000;
    insert_incident(
        &conn,
        3,
        "Drain | of `vault` <script>alert(1)</script>\nnext line",
        Times {
            first_event: t0,
            first_alert: t0 + 12_000,
            opened: t0 + 13_000,
            acknowledged: Some(t0 + 13_000 + 4 * MIN),
            contained: Some(t0 + 13_000 + 9 * MIN),
            resolved: Some(t0 + 13_000 + 180 * MIN),
        },
    );
    add_alert(
        &conn,
        3,
        "large-outflow",
        "5,000,000 TKN | left **vault**",
        1,
        t0,
    );
    db::add_event(
        &conn,
        3,
        t0 + 13_000,
        "argus",
        "incident.open",
        None,
        &json!({}),
    )
    .unwrap();
    db::add_event(
        &conn,
        3,
        t0 + 13_000 + 4 * MIN,
        "bob",
        "incident.ack",
        Some("on it\n| injected | row |"),
        &json!({}),
    )
    .unwrap();
    db::add_event(
        &conn,
        3,
        t0 + 14_000,
        "argus",
        "evidence.captured",
        None,
        &json!({ "root": "ab".repeat(32), "balances": [{
            "chain": 31337, "block": 1, "address": "0x00000000000000000000000000000000000000aa",
            "role": "affected contract", "wei": "1500000000000000000"
        }]}),
    )
    .unwrap();
    conn.execute(
        "INSERT INTO incident_steps (incident_id, step_id, position, action, spec, after, \
             state, max_attempts, attempts, result, started_ms, finished_ms) VALUES \
             (3, 'pause', 0, 'pause', '{}', '[]', 'succeeded', 5, 1, '{\"tx\":\"0x01\"}', ?1, ?2)",
        argus_store::sql::params![t0 + 20_000, t0 + 40_000],
    )
    .unwrap();
    conn.execute(
        "INSERT INTO incident_approvals (incident_id, step_id, approver, at_ms, reason) \
             VALUES (3, 'pause', 'carol', ?1, 'confirmed on call')",
        [t0 + 15_000],
    )
    .unwrap();
    db::record_transaction(
        &conn,
        &SignedTransaction {
            incident_id: 3,
            step_id: "pause".into(),
            target: "vault".into(),
            chain: 31337,
            sender: "0x00000000000000000000000000000000000000bb".into(),
            nonce: 4,
            tx_hash: format!("0x{}", "01".repeat(32)),
            raw: "0x00".into(),
            sent_ms: t0 + 21_000,
            replaces: None,
            status: "confirmed".into(),
            block: Some(9),
        },
    )
    .unwrap();
    db::record_evidence(
        &conn,
        3,
        &[db::EvidenceFile {
            name: "balances.json".into(),
            sha256: "cd".repeat(32),
            bytes: 10,
        }],
        &"ab".repeat(32),
    )
    .unwrap();
    (store, conn)
}

#[test]
fn the_report_computes_each_figure_from_its_stated_instants() {
    let (_store, conn) = scene();
    let r = report(&conn, 3).unwrap();
    assert_eq!(r.figures.time_to_detect.ms, Some(12_000));
    assert_eq!(r.figures.time_to_detect.from, "first_event_ms");
    assert_eq!(r.figures.time_to_acknowledge.ms, Some(4 * MIN));
    assert_eq!(r.figures.time_to_contain.ms, Some(9 * MIN));
    assert_eq!(r.figures.time_to_resolve.ms, Some(180 * MIN));
    assert_eq!(r.figures.time_to_resolve.from, "opened_ms");
    assert_eq!(r.alerts.len(), 1);
    assert_eq!(
        r.alerts[0].title.as_deref(),
        Some("5,000,000 TKN | left **vault**")
    );
    assert_eq!(r.timeline.len(), 3);
    assert_eq!(r.steps.len(), 1);
    assert_eq!(r.transactions.len(), 1);
    assert_eq!(r.approvals.len(), 1);
    assert_eq!(r.evidence.root, Some("ab".repeat(32)));
    assert_eq!(r.impact.len(), 1);
    assert_eq!(r.impact[0].wei, "1500000000000000000");
    assert!(
        r.post_incident
            .iter()
            .any(|s| s.title == "Root cause analysis")
    );
    assert!(r.post_incident.iter().any(|s| s.title == "Lessons learned"));
    assert!(
        r.post_incident
            .iter()
            .any(|s| s.title == "Preventive measures")
    );
}

#[test]
fn unreached_figures_are_none_and_skew_is_never_negative() {
    let store = argus_store::testing::store().unwrap();
    let conn = store.connect().unwrap();
    insert_incident(
        &conn,
        1,
        "t",
        Times {
            first_event: 10_000,
            // Block time ahead of Argus's clock.
            first_alert: 9_000,
            opened: 9_500,
            ..Times::default()
        },
    );
    let r = report(&conn, 1).unwrap();
    assert_eq!(r.figures.time_to_detect.ms, Some(0));
    assert_eq!(r.figures.time_to_acknowledge.ms, None);
    assert_eq!(r.figures.time_to_resolve.ms, None);
    assert!(r.markdown().contains("| time to resolve | not reached |"));
    assert!(matches!(
        report(&conn, 99),
        Err(IncidentError::NotFound { id: 99 })
    ));
}

#[test]
fn markdown_keeps_outside_text_inert() {
    let (_store, conn) = scene();
    let md = report(&conn, 3).unwrap().markdown();
    // The title: no raw pipe, backtick, HTML or line break.
    let heading = md.lines().next().unwrap();
    assert_eq!(
        heading,
        "# Incident 3: Drain \\| of \\`vault\\` &lt;script&gt;alert(1)&lt;/script&gt;<br>next line"
    );
    assert!(!md.contains("<script>"));
    // The injected reason stays inside its cell: every timeline row has the
    // table's five cells.
    let ack = md.lines().find(|l| l.contains("incident.ack")).unwrap();
    assert!(ack.contains("on it<br>\\| injected \\| row \\|"), "{ack}");
    assert_eq!(ack.matches(" | ").count(), 4, "{ack}");
    // The alert's title from the chain.
    assert!(md.contains("5,000,000 TKN \\| left \\*\\*vault\\*\\*"));
    // Figures, evidence, impact, post-incident sections.
    assert!(md.contains("| time to detect | 12s | the first malicious block's time"));
    assert!(md.contains("| time to acknowledge | 4m 00s | the incident's opening"));
    assert!(md.contains(&format!("Root: `{}`", "ab".repeat(32))));
    assert!(md.contains("1500000000000000000 (1.500000000000000000 ETH)"));
    assert!(md.contains("### Root cause analysis"));
    assert!(md.contains("- [ ] Analyse the attack vectors used"));
    assert!(md.contains("| pause | carol |"));
}

#[test]
fn escaping_covers_controls_bidi_and_every_markdown_metacharacter() {
    assert_eq!(escape_markdown("a|b"), "a\\|b");
    assert_eq!(escape_markdown("`x`"), "\\`x\\`");
    assert_eq!(escape_markdown("<b>&"), "&lt;b&gt;&amp;");
    assert_eq!(escape_markdown("a\r\nb\rc\nd"), "a<br>b<br>c<br>d");
    assert_eq!(escape_markdown("[link](http://x)"), "\\[link\\](http://x)");
    assert_eq!(escape_markdown("\u{1b}[31m"), "\\u{1b}\\[31m");
    assert_eq!(escape_markdown("a\u{202e}b"), "a\\u{202e}b");
    assert_eq!(escape_markdown("x\u{2028}y"), "x\\u{2028}y");
    assert_eq!(escape_markdown("# *_~!\\"), "\\# \\*\\_\\~\\!\\\\");
    assert_eq!(escape_markdown("plain text 0xAb"), "plain text 0xAb");
}

#[test]
fn durations_read_like_a_person_writes_them() {
    assert_eq!(human_ms(850), "850ms");
    assert_eq!(human_ms(42_000), "42s");
    assert_eq!(human_ms(185_000), "3m 05s");
    assert_eq!(human_ms(7_440_000), "2h 04m");
    assert_eq!(human_ms(266_400_000), "3d 02h");
}
