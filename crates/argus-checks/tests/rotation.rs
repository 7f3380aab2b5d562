//! Key rotation due dates on real parts: a real vault directory, a real
//! SQLite store with its outbox, and a manual clock moved past the due
//! dates. Each stage (due soon, overdue) alerts once per key generation,
//! however many monthly runs see it; a rotation starts a new generation.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use argus_alerting::Routing;
use argus_checks::{CheckContext, ChecksConfig, Plugins, RunReport, Status, Trigger, run_checks};
use argus_core::Clock;
use argus_store::Store;
use argus_vault::{AccessPolicy, ArgonCost, MasterKey, Vault};

const MASTER: &str = "q7Vd0mJ3xR9sL2kP8wZ4tY6uB1nC5eA0fG3hI7jK9lM=";
const CHEAP: ArgonCost = ArgonCost {
    m_cost: 1024,
    t_cost: 1,
    p_cost: 1,
};
const DAY_MS: i64 = 86_400_000;

fn monthly(store: &Store, clock: &Clock, vault: &Vault, dir: &Path) -> RunReport {
    let config = ChecksConfig::default();
    let plugins = Plugins::default();
    let ctx = CheckContext {
        store,
        clock,
        config: &config,
        data_dir: dir,
        vault: Some(vault),
        witness: None,
        config_hash: None,
        api_tokens: None,
        plugins: &plugins,
    };
    run_checks(
        &ctx,
        "key-rotation",
        Trigger::Schedule,
        "test",
        &Routing::to_all(&["ops"], 0),
    )
    .unwrap()
}

fn rotation_alerts(store: &Store) -> Vec<(String, String)> {
    let conn = store.connect().unwrap();
    let mut stmt = conn
        .prepare("SELECT severity, dedup_key FROM alerts WHERE rule_id = 'argus.check.key-rotation' ORDER BY at_ms, dedup_key")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[test]
fn a_key_past_rotate_every_is_alerted_once_per_stage_and_generation() {
    let dir = tempfile::tempdir().unwrap();
    let store = argus_store::testing::store().unwrap();
    let mut vault = Vault::init(
        &dir.path().join("keystore"),
        &MasterKey::new(MASTER.to_owned()).unwrap(),
        CHEAP,
    )
    .unwrap();
    let guardian = vault
        .create("guardian", AccessPolicy::default())
        .unwrap()
        .clone();
    vault
        .create(
            "yearly",
            AccessPolicy {
                rotate_every_secs: Some(365 * 86_400),
                ..AccessPolicy::default()
            },
        )
        .unwrap();
    let created_ms = i64::try_from(guardian.created_at).unwrap() * 1000;
    let clock = Clock::manual_ms(created_ms + 10 * DAY_MS);

    let fresh = monthly(&store, &clock, &vault, dir.path());
    assert_eq!(fresh.results[0].status, Status::Ok);
    assert!(rotation_alerts(&store).is_empty());

    // 80 days in: within the default 14-day lead of the 90-day period.
    clock.set_ms(created_ms + 80 * DAY_MS);
    for _ in 0..3 {
        let run = monthly(&store, &clock, &vault, dir.path());
        assert_eq!(run.results[0].status, Status::Warn);
    }
    let alerts = rotation_alerts(&store);
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0].0, "high");
    assert!(
        alerts[0].1.starts_with("key-rotation:guardian:") && alerts[0].1.ends_with(":due-soon")
    );

    // Past the due date: one critical alert more, however many runs.
    clock.set_ms(created_ms + 91 * DAY_MS);
    for _ in 0..3 {
        let run = monthly(&store, &clock, &vault, dir.path());
        assert_eq!(run.results[0].status, Status::Fail);
    }
    let alerts = rotation_alerts(&store);
    assert_eq!(alerts.len(), 2, "{alerts:?}");
    assert_eq!(alerts[1].0, "critical");
    assert!(alerts[1].1.ends_with(":overdue"));
    // Each run is kept, with the alert ids of its result.
    let conn = store.connect().unwrap();
    let results = argus_checks::db::results_since(&conn, 0).unwrap();
    assert_eq!(results.len(), 7);
    assert_eq!(results[6].alert_ids.len(), 1);

    // Rotated: the new generation is current; the retired one alerts no more.
    let (_, new) = vault.rotate_key("guardian").unwrap();
    // (The vault dates a generation by the system clock.)
    clock.set_ms(i64::try_from(new.created_at).unwrap() * 1000 + DAY_MS);
    let rotated = monthly(&store, &clock, &vault, dir.path());
    assert_eq!(
        rotated.results[0].status,
        Status::Ok,
        "{:?}",
        rotated.results[0]
    );
    assert_eq!(rotation_alerts(&store).len(), 2);
    // The deliveries were queued once per alert.
    let deliveries: i64 = conn
        .query_row("SELECT COUNT(*) FROM alert_deliveries d JOIN alerts a ON a.id = d.alert_id WHERE a.rule_id = 'argus.check.key-rotation'", [], |r| r.get(0))
        .unwrap();
    assert_eq!(deliveries, 2);
}
