//! The figures `argus status` shows, read from a real SQLite file after the
//! outbox went through deliveries, retries, refusals and a retraction.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use alloy_primitives::B256;
use argus_alerting::outbox;
use argus_alerting::stats::{self, AlertCounts, DeliveryCounts, NotifierDeliveries};
use argus_alerting::{AlertState, Routing};
use argus_core::ChainId;
use argus_store::Connection;
use common::*;

/// The delivery of `rule`'s finding (block `block`) to `notifier`.
fn delivery(conn: &Connection, block: u8, rule: &str, notifier: &str) -> i64 {
    let alert = format!("{:#x}", finding(rule, block, 0).id);
    outbox::list_deliveries(conn, None)
        .unwrap()
        .into_iter()
        .find(|d| d.alert_id == alert && d.notifier == notifier)
        .expect("the delivery was queued")
        .id
}

#[test]
fn an_empty_store_has_no_figures() {
    let db = Db::new();
    let conn = db.open();
    assert!(stats::deliveries_by_notifier(&conn).unwrap().is_empty());
    assert_eq!(stats::oldest_pending_at_ms(&conn).unwrap(), None);
    assert_eq!(
        stats::alerts_since(&conn, 0).unwrap(),
        AlertCounts::default()
    );
    assert_eq!(stats::newest_alert_at_ms(&conn).unwrap(), None);
}

#[test]
fn figures_follow_deliveries_refusals_and_retractions() {
    let db = Db::new();
    let mut conn = db.open();
    let routing = Routing::to_all(&["hook", "ops"], 0);
    let findings = [finding("a", 1, 0), finding("b", 2, 0), finding("c", 3, 0)];
    record_all(&mut conn, &findings, &routing, T0);

    outbox::mark_delivered(&conn, delivery(&conn, 1, "a", "hook"), T0 + 5).unwrap();
    outbox::mark_delivered(&conn, delivery(&conn, 2, "b", "hook"), T0 + 9).unwrap();
    outbox::mark_retry(&conn, delivery(&conn, 3, "c", "hook"), T0 + 60, "timeout").unwrap();
    outbox::mark_failed(&conn, delivery(&conn, 1, "a", "ops"), "410 gone").unwrap();
    outbox::mark_retry(&conn, delivery(&conn, 2, "b", "ops"), T0 + 60, "503 first").unwrap();
    outbox::mark_retry(&conn, delivery(&conn, 3, "c", "ops"), T0 + 60, "503 later").unwrap();
    // Block 3 leaves the chain: c's pending fires are cancelled, and their
    // errors no longer count as the notifiers' last.
    let tx = conn.transaction().unwrap();
    outbox::retract_block(&tx, ChainId::LOCAL, B256::repeat_byte(3), T0 + 20).unwrap();
    tx.commit().unwrap();

    assert_eq!(
        stats::deliveries_by_notifier(&conn).unwrap(),
        vec![
            NotifierDeliveries {
                notifier: "hook".to_owned(),
                counts: DeliveryCounts {
                    pending: 0,
                    delivered: 2,
                    cancelled: 1,
                    failed: 0,
                    digested: 0,
                },
                // Two accepted at their first attempt, one failed once.
                attempts: 3,
                retries: 0,
                failed_attempts: 1,
                last_delivered_at_ms: Some(T0 + 9),
                last_error: None,
            },
            NotifierDeliveries {
                notifier: "ops".to_owned(),
                counts: DeliveryCounts {
                    pending: 1,
                    delivered: 0,
                    cancelled: 1,
                    failed: 1,
                    digested: 0,
                },
                attempts: 3,
                retries: 0,
                failed_attempts: 3,
                last_delivered_at_ms: None,
                last_error: Some("503 first".to_owned()),
            },
        ]
    );
    assert_eq!(stats::oldest_pending_at_ms(&conn).unwrap(), Some(T0));
    let counts = stats::alerts_since(&conn, T0).unwrap();
    assert_eq!(counts.of(AlertState::Firing), 2);
    assert_eq!(counts.of(AlertState::Retracted), 1);
    assert_eq!(
        counts.nonzero().collect::<Vec<_>>(),
        vec![(AlertState::Firing, 2), (AlertState::Retracted, 1)]
    );
    assert_eq!(
        stats::alerts_since(&conn, T0 + 1).unwrap(),
        AlertCounts::default()
    );
    assert_eq!(stats::newest_alert_at_ms(&conn).unwrap(), Some(T0));

    record_all(&mut conn, &[finding("d", 4, 0)], &routing, T0 + 100);
    assert_eq!(stats::newest_alert_at_ms(&conn).unwrap(), Some(T0 + 100));
    assert_eq!(stats::alerts_since(&conn, T0 + 1).unwrap().firing, 1);
    assert_eq!(stats::oldest_pending_at_ms(&conn).unwrap(), Some(T0));

    // b's second attempt at ops fails too, its third is accepted: two
    // retries, two failed attempts more, one accepted.
    let b_ops = delivery(&conn, 2, "b", "ops");
    outbox::mark_retry(&conn, b_ops, T0 + 90, "503 again").unwrap();
    outbox::mark_delivered(&conn, b_ops, T0 + 120).unwrap();
    let ops = stats::deliveries_by_notifier(&conn).unwrap().remove(1);
    assert_eq!((ops.attempts, ops.retries, ops.failed_attempts), (5, 2, 4));
}
