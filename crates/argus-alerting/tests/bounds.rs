//! The dispatcher's bounds against real receivers and a real SQLite file:
//! each notifier sends at most its own `max_in_flight` per pass, the total
//! (`retry.max_in_flight`) caps the sum, and a delivery to a notifier no
//! longer configured is failed, saying so.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use argus_alerting::outbox;
use argus_alerting::{Clock, DeliveryStatus, Routing};
use argus_testkit::Receiver;
use common::*;

const SECRET: &str = "whsec-test-0123456789";

fn two_hooks(a: &Receiver, b: &Receiver, retry: &str) -> argus_alerting::AlertingConfig {
    config(&format!(
        "notifiers:\n  a: {{ type: webhook, url: \"{}\", secret: {{ env: S }}, max_in_flight: 3 }}\n  b: {{ type: webhook, url: \"{}\", secret: {{ env: S }}, max_in_flight: 5 }}\n{retry}",
        a.url("/a"),
        b.url("/b"),
    ))
}

#[tokio::test]
async fn each_notifier_sends_at_most_its_own_max_in_flight_per_pass() {
    let (a, b) = (Receiver::start(), Receiver::start());
    let cfg = two_hooks(&a, &b, "");
    let db = Db::new();
    let mut store = db.open();
    let clock = Clock::manual_ms(T0);
    let dispatcher = dispatcher(&db, &cfg, &[("S", SECRET)], &clock);
    let findings: Vec<_> = (0..10).map(|i| finding("token.transfer", 1, i)).collect();
    record_all(
        &mut store,
        &findings,
        &Routing::from_config(&cfg).unwrap(),
        T0,
    );

    let pass = dispatcher.run_once().await.unwrap();
    assert_eq!(pass.delivered, 3 + 5);
    assert_eq!((a.requests().len(), b.requests().len()), (3, 5));
    assert_eq!(dispatcher.run_once().await.unwrap().delivered, 3 + 5);
    assert_eq!(dispatcher.run_once().await.unwrap().delivered, 3);
    assert_eq!(dispatcher.run_once().await.unwrap().delivered, 1);
    assert_eq!(dispatcher.run_once().await.unwrap().attempted(), 0);
    assert_eq!((a.requests().len(), b.requests().len()), (10, 10));
    let delivered = outbox::list_deliveries(&store, Some(DeliveryStatus::Delivered)).unwrap();
    assert_eq!(delivered.len(), 20, "every outcome of the batches written");
}

#[tokio::test]
async fn the_total_caps_the_sum_of_the_notifiers_bounds() {
    let (a, b) = (Receiver::start(), Receiver::start());
    let cfg = two_hooks(&a, &b, "retry: { max_in_flight: 4 }\n");
    let db = Db::new();
    let mut store = db.open();
    let clock = Clock::manual_ms(T0);
    let dispatcher = dispatcher(&db, &cfg, &[("S", SECRET)], &clock);
    let findings: Vec<_> = (0..10).map(|i| finding("token.transfer", 1, i)).collect();
    record_all(
        &mut store,
        &findings,
        &Routing::from_config(&cfg).unwrap(),
        T0,
    );

    assert_eq!(dispatcher.run_once().await.unwrap().delivered, 4);
    assert_eq!(
        (a.requests().len(), b.requests().len()),
        (3, 1),
        "the total's slots go in name order"
    );
}

/// The total is spent by what is found: a notifier whose own bound is as
/// large as the total, with nothing due, leaves every slot to the other.
#[tokio::test]
async fn a_notifier_with_nothing_due_holds_none_of_the_total() {
    let (a, b) = (Receiver::start(), Receiver::start());
    let cfg = config(&format!(
        "notifiers:\n  a: {{ type: webhook, url: \"{}\", secret: {{ env: S }}, max_in_flight: 8 }}\n  b: {{ type: webhook, url: \"{}\", secret: {{ env: S }}, max_in_flight: 5 }}\nroutes:\n  - {{ rules: [only.b], notifiers: [b] }}\nretry: {{ max_in_flight: 8 }}\n",
        a.url("/a"),
        b.url("/b"),
    ));
    let db = Db::new();
    let mut store = db.open();
    let clock = Clock::manual_ms(T0);
    let dispatcher = dispatcher(&db, &cfg, &[("S", SECRET)], &clock);
    let findings: Vec<_> = (0..10).map(|i| finding("only.b", 1, i)).collect();
    record_all(
        &mut store,
        &findings,
        &Routing::from_config(&cfg).unwrap(),
        T0,
    );

    assert_eq!(dispatcher.run_once().await.unwrap().delivered, 5);
    assert_eq!((a.requests().len(), b.requests().len()), (0, 5));
}

#[tokio::test]
async fn a_delivery_to_a_notifier_removed_from_the_config_fails_saying_so() {
    let (a, b) = (Receiver::start(), Receiver::start());
    let before = two_hooks(&a, &b, "");
    let db = Db::new();
    let mut store = db.open();
    record_all(
        &mut store,
        &[finding("token.transfer", 1, 0)],
        &Routing::from_config(&before).unwrap(),
        T0,
    );
    let after = config(&format!(
        "notifiers:\n  a: {{ type: webhook, url: \"{}\", secret: {{ env: S }} }}\n",
        a.url("/a")
    ));
    let dispatcher = dispatcher(&db, &after, &[("S", SECRET)], &Clock::manual_ms(T0));
    let pass = dispatcher.run_once().await.unwrap();
    assert_eq!((pass.delivered, pass.failed), (1, 1));
    assert!(b.requests().is_empty());
    let failed = outbox::list_deliveries(&store, Some(DeliveryStatus::Failed)).unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].notifier, "b");
    assert!(
        failed[0]
            .last_error
            .as_deref()
            .unwrap_or_default()
            .contains("no notifier named `b`")
    );
}
