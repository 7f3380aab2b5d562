//! The daily `unusual-access` check over a real audit log written by the
//! real writer on a manual clock: a burst of failed logins and an actor
//! not seen before are reported; a quiet day passes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use argus_alerting::Routing;
use argus_audit::{AuditLog, AuditPaths, CheckpointKey, NewEntry, RetentionClass};
use argus_checks::{CheckContext, ChecksConfig, Plugins, Status, Trigger, run_checks};
use argus_core::Clock;
use argus_store::Store;

const HOUR_MS: i64 = 3_600_000;

fn check(store: &Store, clock: &Clock, dir: &std::path::Path) -> argus_checks::CheckResult {
    let config = ChecksConfig::default();
    let plugins = Plugins::default();
    let ctx = CheckContext {
        store,
        clock,
        config: &config,
        data_dir: dir,
        vault: None,
        witness: None,
        config_hash: None,
        api_tokens: None,
        plugins: &plugins,
    };
    let run = run_checks(
        &ctx,
        "unusual-access",
        Trigger::Command,
        "test",
        &Routing::to_all(&[], 0),
    )
    .unwrap();
    run.results.into_iter().next().unwrap()
}

#[test]
fn a_burst_of_failed_logins_and_a_new_actor_are_unusual() {
    let dir = tempfile::tempdir().unwrap();
    let store = argus_store::testing::store().unwrap();
    let start = 1_790_000_000_000;
    let clock = Clock::manual_ms(start);
    let mut log = AuditLog::open_with_key(
        AuditPaths::new(dir.path()),
        CheckpointKey::generate().unwrap(),
        clock.clone(),
    )
    .unwrap();
    let entry = |actor: &str, action: &str| {
        NewEntry::new(RetentionClass::Security, actor, action).at("host", "api")
    };
    // Two weeks of alice and the API.
    for _ in 0..14 {
        log.append(&entry("alice", "key.use")).unwrap();
        log.append(&entry("api", "alerts.ack")).unwrap();
        clock.advance_ms(24 * HOUR_MS);
    }
    let quiet = check(&store, &clock, dir.path());
    assert_eq!(quiet.status, Status::Ok, "{quiet:?}");

    // Within one hour: five failed logins, and someone new.
    for _ in 0..5 {
        log.append(&entry("api", "auth.failure")).unwrap();
        clock.advance_ms(60_000);
    }
    log.append(&entry("mallory", "key.use")).unwrap();
    clock.advance_ms(HOUR_MS);
    let found = check(&store, &clock, dir.path());
    assert_eq!(found.status, Status::Fail, "{found:?}");
    let details = found.details.join("\n");
    assert!(
        details.contains("5 `auth.failure` entries in the hour"),
        "{details}"
    );
    assert!(details.contains("actor mallory was not seen"), "{details}");
    assert!(!details.contains("actor alice"), "{details}");

    // A day later the burst is out of the window.
    clock.advance_ms(25 * HOUR_MS);
    assert_eq!(check(&store, &clock, dir.path()).status, Status::Ok);
}
