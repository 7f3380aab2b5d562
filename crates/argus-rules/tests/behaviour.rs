//! The shipped rule test files pass, case by case.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use argus_rules::{ContractDirectory, run_test_file};

fn run(name: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(name);
    let report =
        run_test_file(&path, &ContractDirectory::default()).unwrap_or_else(|e| panic!("{e}"));
    assert!(!report.cases.is_empty());
    let failed: Vec<String> = report
        .cases
        .iter()
        .filter(|c| !c.passed)
        .map(|c| {
            format!(
                "{}: {:?} (findings {:?}, errors {:?})",
                c.name, c.failures, c.findings, c.errors
            )
        })
        .collect();
    assert!(failed.is_empty(), "failed cases:\n{}", failed.join("\n"));
}

#[test]
fn seed_thresholds_fire_exactly_when_they_should() {
    run("seed.test.yaml");
}

#[test]
fn contract_rules() {
    run("contracts.test.yaml");
}

#[test]
fn state_rules() {
    run("state.test.yaml");
}

#[test]
fn a_failing_expectation_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/seed.yaml"),
        dir.path().join("seed.yaml"),
    )
    .unwrap();
    let case = "rules: [seed.yaml]\ncases:\n  - name: wrong\n    input:\n      - signal: { name: network_latency, value: 9, at: 0s }\n    expect:\n      findings: 0\n";
    let path = dir.path().join("wrong.test.yaml");
    std::fs::write(&path, case).unwrap();
    let report = run_test_file(&path, &ContractDirectory::default()).unwrap();
    assert!(!report.passed());
    assert_eq!(
        report.cases[0].failures,
        vec!["expected 0 findings, got 1".to_owned()]
    );
}
