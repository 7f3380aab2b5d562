//! A dispatcher sharing its store with other instances (on SQLite, or on
//! PostgreSQL with `ARGUS_TEST_POSTGRES`): it sends only for the duties it
//! holds, a duty whose lease moved is left to its new holder at once, and
//! the duty of unconfigured notifiers leaves alone a notifier another
//! instance holds.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use argus_alerting::{Clock, DeliveryStatus, Duty, FenceHook, Routing, outbox};
use argus_store::lease;
use argus_testkit::Receiver;
use common::*;

const SECRET: &str = "whsec-test-0123456789";

fn hooks(names: &[(&str, &Receiver)]) -> argus_alerting::AlertingConfig {
    let mut yaml = String::from("notifiers:\n");
    for (name, receiver) in names {
        yaml.push_str(&format!(
            "  {name}: {{ type: webhook, url: \"{}\", secret: {{ env: S }} }}\n",
            receiver.url(&format!("/{name}"))
        ));
    }
    config(&yaml)
}

/// Takes `duty`'s lease for `holder` and gives its fence.
fn take(db: &Db, duty: &Duty, holder: &str) -> FenceHook {
    let mut conn = db.open();
    let held = lease::acquire(
        &mut conn,
        &duty.lease_name(),
        holder,
        Duration::from_secs(60),
        Duration::ZERO,
    )
    .unwrap()
    .expect("the lease is free");
    Arc::new(move |tx: &argus_store::Transaction<'_>| lease::fence(tx, &held))
}

fn count(db: &Db, notifier: &str, status: DeliveryStatus) -> usize {
    outbox::list_deliveries(&db.open(), Some(status))
        .unwrap()
        .iter()
        .filter(|d| d.notifier == notifier)
        .count()
}

#[tokio::test]
async fn a_shared_dispatcher_sends_only_for_the_notifiers_whose_lease_it_holds() {
    let (a, b) = (Receiver::start(), Receiver::start());
    let cfg = hooks(&[("a", &a), ("b", &b)]);
    let db = Db::new();
    let mut store = db.open();
    let routing = Routing::from_config(&cfg).unwrap();
    let findings: Vec<_> = (0..4).map(|i| finding("token.transfer", 1, i)).collect();
    record_all(&mut store, &findings, &routing, T0);
    let clock = Clock::manual_ms(T0);
    let dispatcher = dispatcher(&db, &cfg, &[("S", SECRET)], &clock);
    dispatcher.share();
    assert_eq!(dispatcher.notifiers(), ["a", "b"]);

    // Holding nothing, it sends nothing.
    assert_eq!(dispatcher.run_once().await.unwrap().attempted(), 0);
    // Holding `a`, only `a`'s deliveries.
    dispatcher.hold(
        Duty::Notifier("a".into()),
        take(&db, &Duty::Notifier("a".into()), "me"),
    );
    assert_eq!(dispatcher.run_once().await.unwrap().delivered, 4);
    assert_eq!((a.requests().len(), b.requests().len()), (4, 0));
    assert_eq!(count(&db, "b", DeliveryStatus::Pending), 4);

    // Another instance takes `a` over (as after a pause past the lease):
    // this one's fence refuses, so it neither claims nor sends for `a`.
    db.open()
        .execute(
            "UPDATE leases SET holder = 'other', epoch = epoch + 1 WHERE name = 'dispatch:a'",
            [],
        )
        .unwrap();
    let more: Vec<_> = (4..6).map(|i| finding("token.transfer", 1, i)).collect();
    record_all(&mut store, &more, &routing, T0);
    assert_eq!(dispatcher.run_once().await.unwrap().attempted(), 0);
    assert_eq!(a.requests().len(), 4);
    assert_eq!(count(&db, "a", DeliveryStatus::Pending), 2);

    // Taking `b` on sends `b`'s backlog; `a` still waits for its holder.
    dispatcher.hold(
        Duty::Notifier("b".into()),
        take(&db, &Duty::Notifier("b".into()), "me"),
    );
    assert_eq!(dispatcher.run_once().await.unwrap().delivered, 6);
    assert_eq!((a.requests().len(), b.requests().len()), (4, 6));
    // Letting it go stops it again.
    dispatcher.let_go(&Duty::Notifier("b".into()));
    record_all(&mut store, &[finding("token.transfer", 2, 0)], &routing, T0);
    assert_eq!(dispatcher.run_once().await.unwrap().attempted(), 0);
}

#[tokio::test]
async fn the_unconfigured_duty_fails_only_what_no_instance_has_configured() {
    let (a, b, c) = (Receiver::start(), Receiver::start(), Receiver::start());
    let before = hooks(&[("a", &a), ("b", &b), ("c", &c)]);
    let db = Db::new();
    let mut store = db.open();
    record_all(
        &mut store,
        &[finding("token.transfer", 1, 0)],
        &Routing::from_config(&before).unwrap(),
        T0,
    );
    // This instance has only `a` configured; another instance (a newer
    // config) holds `b`'s lease; no one has `c`.
    let after = hooks(&[("a", &a)]);
    let dispatcher = dispatcher(&db, &after, &[("S", SECRET)], &Clock::manual_ms(T0));
    dispatcher.share();
    let _other = take(&db, &Duty::Notifier("b".into()), "other");
    dispatcher.hold(Duty::Unconfigured, take(&db, &Duty::Unconfigured, "me"));

    let pass = dispatcher.run_once().await.unwrap();
    assert_eq!((pass.delivered, pass.failed), (0, 1));
    assert_eq!(count(&db, "c", DeliveryStatus::Failed), 1);
    assert_eq!(
        count(&db, "b", DeliveryStatus::Pending),
        1,
        "left to its holder"
    );
    assert_eq!(
        count(&db, "a", DeliveryStatus::Pending),
        1,
        "`a` is not held"
    );
    assert!(a.requests().is_empty() && b.requests().is_empty() && c.requests().is_empty());
}
