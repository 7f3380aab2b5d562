//! The scheduled checks' task on a manual clock: the daily, weekly and
//! monthly checklists fire at their local times in an IANA zone across a
//! daylight-saving change, each once, and every run is kept in the real
//! SQLite store.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use argus_checks::{Cadence, ChecksConfig, Plugins, Trigger};
use argus_node::{Clock, NodeBuilder, NodeConfig};
use argus_testkit::wait_for_async;
use jiff::ZonedDateTime;

fn at(text: &str) -> ZonedDateTime {
    let ts: jiff::Timestamp = text.parse().unwrap();
    ts.to_zoned_datetime(jiff::tz::TimeZone::UTC)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_checklists_fire_at_their_local_times_across_daylight_saving() {
    let dir = tempfile::tempdir().unwrap();
    let store = argus_store::testing::store_in_dir(dir.path()).unwrap();
    // Saturday 2027-03-27, 13:00 in Paris; the clocks go forward that night.
    let clock = Clock::manual(at("2027-03-27T12:00:00Z"));
    let checks = ChecksConfig {
        time_zone: "Europe/Paris".into(),
        ..ChecksConfig::default()
    };
    let fired: Arc<Mutex<Vec<(Cadence, String)>>> = Arc::default();
    let runner = {
        let (store, clock, fired, checks) =
            (store.clone(), clock.clone(), fired.clone(), checks.clone());
        let data_dir = dir.path().to_path_buf();
        Arc::new(move |cadence: Cadence| {
            fired
                .lock()
                .unwrap()
                .push((cadence, clock.now().timestamp().to_string()));
            let plugins = Plugins::default();
            let ctx = argus_checks::CheckContext {
                store: &store,
                clock: &clock,
                config: &checks,
                data_dir: &data_dir,
                vault: None,
                witness: None,
                config_hash: None,
                api_tokens: None,
                plugins: &plugins,
            };
            argus_checks::run_checks(
                &ctx,
                cadence.as_str(),
                Trigger::Schedule,
                "argus",
                &argus_alerting::Routing::to_all(&[], 0),
            )
            .map_err(|e| e.to_string())
        })
    };
    let config = NodeConfig {
        checks: Some(checks),
        ..NodeConfig::default()
    };
    let node = NodeBuilder::new(config, dir.path())
        .store(store.clone())
        .clock(clock.clone())
        .check_runner(runner)
        .start()
        .unwrap();

    let wait_calls = |n: usize| {
        let fired = fired.clone();
        async move {
            wait_for_async(
                &format!("{n} checklist runs"),
                Duration::from_secs(20),
                || {
                    let calls = fired.lock().unwrap().clone();
                    (calls.len() >= n).then_some(calls)
                },
            )
            .await
        }
    };
    // 06:00 in Paris on the first day of summer time is 04:00 UTC (it was
    // 05:00 UTC the day before).
    clock.set(at("2027-03-28T04:00:00Z"));
    wait_calls(1).await;
    // Monday 07:00 (CEST): the daily (06:00, passed) and the weekly.
    clock.set(at("2027-03-29T05:00:00Z"));
    wait_calls(3).await;
    // Thursday the 1st, 08:00: the daily and the monthly.
    clock.set(at("2027-04-01T06:00:00Z"));
    let calls = wait_calls(5).await;
    node.stop().await;
    assert_eq!(
        calls,
        vec![
            (Cadence::Daily, "2027-03-28T04:00:00Z".to_owned()),
            (Cadence::Daily, "2027-03-29T05:00:00Z".to_owned()),
            (Cadence::Weekly, "2027-03-29T05:00:00Z".to_owned()),
            (Cadence::Daily, "2027-04-01T06:00:00Z".to_owned()),
            (Cadence::Monthly, "2027-04-01T06:00:00Z".to_owned()),
        ]
    );
    let conn = store.connect().unwrap();
    let runs = argus_checks::db::runs_since(&conn, 0).unwrap();
    let selections: Vec<&str> = runs.iter().map(|r| r.selection.as_str()).collect();
    assert_eq!(selections, ["daily", "daily", "weekly", "daily", "monthly"]);
    assert!(runs.iter().all(|r| r.trigger == "schedule"));
    // Where each schedule last fired is kept for the next start.
    assert_eq!(
        argus_checks::db::last_fired(&conn, Cadence::Monthly).unwrap(),
        Some(at("2027-04-01T06:00:00Z").timestamp().as_millisecond())
    );
}

#[test]
fn a_bad_checks_section_is_refused_at_its_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rules.yaml"), "rules: []\n").unwrap();
    let path = dir.path().join("argus.yaml");
    std::fs::write(
        &path,
        "chains: [{ chain: anvil, rpc: [\"http://127.0.0.1:9\"] }]\nrules: [rules.yaml]\nchecks:\n  time_zone: Mars/Olympus\n  daily: \"0 25 * * *\"\npreflight:\n  lint_severity: loud\n",
    )
    .unwrap();
    let problems = argus_node::config::load_without_secrets(&path)
        .unwrap_err()
        .to_string();
    assert!(problems.contains("argus.yaml:4:"), "{problems}");
    assert!(
        problems.contains("checks.time_zone: unknown zone \"Mars/Olympus\""),
        "{problems}"
    );
    assert!(
        problems.contains("checks.daily: hour: \"25\" is outside 0-23"),
        "{problems}"
    );
    assert!(problems.contains("preflight.lint_severity"), "{problems}");
}
