//! `argus drill` on real parts: the shipped scenarios checked, two of them
//! played end to end on a real anvil that the drill starts itself, with the
//! node running in the drill's process, and the scorecard kept in the
//! config's data directory for `argus drill history`.
//!
//! Until the incident stage runs inside the node, the played scenarios are
//! the shipped ones without their `incident` expectations, and detection is
//! asserted through alerts; the shipped files keep them, for the day the
//! node opens incidents.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use argus_testkit::{npm_bin, testdata, workspace_root};
use assert_cmd::Command;
use serde_json::Value;

fn drills() -> PathBuf {
    workspace_root().join("examples/drills")
}

fn shipped_scenarios() -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(drills())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.extension().is_some_and(|e| e == "yaml")
                && !matches!(
                    p.file_name().and_then(|n| n.to_str()),
                    Some("argus.yaml" | "rules.yaml")
                )
        })
        .collect();
    found.sort();
    found
}

fn argus(data_dir: &Path) -> Command {
    let mut command = Command::cargo_bin("argus").unwrap();
    command
        .env("ARGUS_DATA_DIR", data_dir)
        .env_remove("ARGUS_LOG");
    command
}

/// The shipped config and rules copied into `dir` (so the config's relative
/// data directory is the test's).
fn config_in(dir: &Path) -> PathBuf {
    for name in ["argus.yaml", "rules.yaml"] {
        std::fs::copy(drills().join(name), dir.join(name)).unwrap();
    }
    dir.join("argus.yaml")
}

/// A shipped scenario without its `incident`/`contained` expectations, its
/// artifacts made absolute, written into `dir` (JSON is YAML).
fn playable(dir: &Path, name: &str) -> PathBuf {
    let text = std::fs::read_to_string(drills().join(name)).unwrap();
    let mut scenario: Value = serde_saphyr::from_str(&text).unwrap();
    if let Some(deploy) = scenario["deploy"].as_array_mut() {
        for item in deploy {
            let artifact = item["artifact"].as_str().unwrap();
            let absolute = testdata(artifact.trim_start_matches("../../testdata/"));
            assert!(absolute.is_file(), "{}", absolute.display());
            item["artifact"] = Value::from(absolute.display().to_string());
        }
    }
    let steps = scenario["steps"].as_array().unwrap();
    assert!(steps.iter().any(|s| s.get("expect").is_some()));
    let path = dir.join(name);
    std::fs::write(&path, scenario.to_string()).unwrap();
    path
}

#[test]
fn every_shipped_scenario_and_its_config_check() {
    let scenarios = shipped_scenarios();
    assert!(scenarios.len() >= 5, "{scenarios:?}");
    let data = tempfile::tempdir().unwrap();
    for scenario in &scenarios {
        let out = argus(data.path())
            .args(["drill", "--check"])
            .arg(scenario)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{}: {}",
            scenario.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains(": ok ("), "{stdout}");
    }
    argus(data.path())
        .args(["validate", "-c"])
        .arg(drills().join("argus.yaml"))
        .assert()
        .success();
}

#[test]
fn a_bad_scenario_is_refused_with_every_position() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.yaml");
    std::fs::write(
        &path,
        "name: bad\naccounts: { me: 0 }\nsteps:\n  - send: { from: you, to: me }\n  - mine: 0\n",
    )
    .unwrap();
    let out = argus(dir.path())
        .args(["drill", "--check"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let shown = path.display().to_string();
    assert!(stderr.contains(&format!("{shown}:4:")), "{stderr}");
    assert!(stderr.contains("`you` is not in `accounts:`"), "{stderr}");
    assert!(stderr.contains(&format!("{shown}:5:")), "{stderr}");
    assert!(
        stderr.contains("no `expect` step") || stderr.contains("mine: between"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn a_missing_anvil_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_in(dir.path());
    let scenario = playable(dir.path(), "funds-drained.yaml");
    let out = argus(dir.path())
        .args(["drill", "-c"])
        .arg(&config)
        .args(["--anvil"])
        .arg(dir.path().join("no-such-anvil"))
        .arg(&scenario)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot start anvil"), "{stderr}");
    assert!(stderr.contains("no such file"), "{stderr}");
}

/// Plays `name` and returns its JSON scorecard, with the exit code.
fn play(dir: &Path, name: &str) -> (Option<i32>, Value) {
    let config = config_in(dir);
    let scenario = playable(dir, name);
    let out = argus(dir)
        .args(["drill", "--json", "-c"])
        .arg(&config)
        .arg("--anvil")
        .arg(npm_bin("anvil"))
        .arg(&scenario)
        .timeout(std::time::Duration::from_secs(180))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let card: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: stdout {stdout} stderr {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code(), card)
}

fn history(dir: &Path) -> Value {
    let out = argus(&dir.join(".argus-drills"))
        .args(["drill", "history", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn assert_detected(card: &Value, rule: &str) {
    assert_eq!(card["detected"], true, "{card:#}");
    assert_eq!(card["passed"], true, "{card:#}");
    let mttd = card["mttd_ms"].as_i64().expect("an MTTD");
    assert!(mttd >= 0, "{card:#}");
    let alerts = card["alerts"].as_array().unwrap();
    assert!(alerts.iter().any(|a| a["rule_id"] == rule), "{card:#}");
    assert!(
        card["steps"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["status"] == "passed"),
        "{card:#}"
    );
    assert_eq!(card["expectations_failed"], 0, "{card:#}");
}

#[test]
fn funds_drained_is_detected_scored_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let (code, card) = play(dir.path(), "funds-drained.yaml");
    assert_eq!(code, Some(0), "{card:#}");
    assert_detected(&card, "large-outflow");
    assert_eq!(card["scenario"], "funds-drained");
    assert_eq!(card["deployed"][0]["label"], "Token");
    // The balance check ran against the drill's chain; the incident opened
    // and was contained with nobody acting: the token paused on chain (the
    // `paused()` expectation), the bot's kill switch written.
    assert_eq!(card["expectations_failed"], 0, "{card:#}");
    assert!(card["expectations_held"].as_u64().unwrap() >= 4, "{card:#}");
    let incident = &card["incidents"][0];
    assert_eq!(incident["kind"], "funds-drained", "{card:#}");
    assert_eq!(incident["state"], "contained", "{card:#}");
    let steps: Vec<(&str, &str)> = incident["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["step"].as_str().unwrap(), s["state"].as_str().unwrap()))
        .collect();
    for step in ["evidence", "pause", "stop-bot"] {
        assert!(steps.contains(&(step, "succeeded")), "{step}: {steps:?}");
    }
    let contain = card["time_to_containment_ms"].as_i64().unwrap();
    assert!(
        (0..60_000).contains(&contain),
        "time to containment {contain} ms"
    );

    let runs = history(dir.path());
    let runs = runs.as_array().unwrap();
    assert_eq!(runs.len(), 1, "{runs:#?}");
    assert_eq!(runs[0]["scenario"], "funds-drained");
    assert_eq!(runs[0]["passed"], true);
    assert_eq!(runs[0]["scorecard"]["mttd_ms"], card["mttd_ms"]);
}

#[test]
fn a_burst_of_failed_bot_transactions_is_detected_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let (code, card) = play(dir.path(), "bot-failures.yaml");
    assert_eq!(code, Some(0), "{card:#}");
    assert_detected(&card, "bot-failed-transactions");
    let send = card["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["step"].as_str().unwrap().starts_with("send bot"))
        .expect("the bot's send step");
    assert_eq!(
        send["transactions"].as_array().unwrap().len(),
        6,
        "{send:#}"
    );
    let runs = history(dir.path());
    assert_eq!(runs.as_array().unwrap().len(), 1);
    assert_eq!(runs[0]["scenario"], "bot-failures");
}

#[test]
fn an_expectation_that_does_not_hold_fails_the_drill() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_in(dir.path());
    let scenario = dir.path().join("quiet.yaml");
    std::fs::write(
        &scenario,
        "name: quiet\naccounts: { a: 0, b: 1 }\nsteps:\n  - send: { from: a, to: b, value: 1 }\n  - expect: { alert: { rule: large-outflow, within: 1s } }\n",
    )
    .unwrap();
    let out = argus(dir.path())
        .args(["drill", "-c"])
        .arg(&config)
        .arg("--anvil")
        .arg(npm_bin("anvil"))
        .arg(&scenario)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("drill quiet: FAILED"), "{stdout}");
    assert!(stdout.contains("detected: no"), "{stdout}");
    assert!(
        stdout.contains("no alert of rule large-outflow"),
        "{stdout}"
    );
    let runs = history(dir.path());
    assert_eq!(runs[0]["passed"], false);
}
