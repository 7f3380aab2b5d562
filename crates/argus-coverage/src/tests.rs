#![allow(clippy::unwrap_used)]

use alloy_json_abi::JsonAbi;
use argus_rules::{Engine, RuleSet};

use super::*;

const ABI: &str = r#"[
 {"type":"function","name":"pause","inputs":[],"outputs":[],"stateMutability":"nonpayable"},
 {"type":"function","name":"transfer","inputs":[{"name":"to","type":"address"},{"name":"v","type":"uint256"}],"outputs":[{"name":"","type":"bool"}],"stateMutability":"nonpayable"},
 {"type":"function","name":"setFee","inputs":[{"name":"f","type":"uint256"}],"outputs":[],"stateMutability":"nonpayable"},
 {"type":"function","name":"balanceOf","inputs":[{"name":"a","type":"address"}],"outputs":[{"name":"","type":"uint256"}],"stateMutability":"view"},
 {"type":"event","name":"Paused","inputs":[{"name":"account","type":"address","indexed":false}],"anonymous":false},
 {"type":"event","name":"Transfer","inputs":[{"name":"from","type":"address","indexed":true},{"name":"to","type":"address","indexed":true},{"name":"value","type":"uint256","indexed":false}],"anonymous":false}
]"#;

fn directory() -> ContractDirectory {
    ContractDirectory::new()
        .with(ContractEntry {
            chain: ChainId(31337),
            address: Address::repeat_byte(1),
            label: "Token".into(),
            tags: vec![],
            abi: serde_json::from_str::<JsonAbi>(ABI).unwrap(),
        })
        .with(ContractEntry {
            chain: ChainId(31337),
            address: Address::repeat_byte(2),
            label: "Other".into(),
            tags: vec![],
            abi: serde_json::from_str::<JsonAbi>(ABI).unwrap(),
        })
}

fn report(rules: &str) -> CoverageReport {
    let set = RuleSet::from_yaml(rules, "rules.yaml").unwrap();
    let engine = Engine::new(set, &directory());
    measure(&directory(), &[], &engine.watches())
}

#[test]
fn the_figure_weighs_privileged_functions_and_counts_events_that_functions_emit() {
    // Per contract: events Paused, Transfer (1 each); functions pause (3,
    // privileged by name), setFee (3), transfer (1); balanceOf is a view.
    // Total 9 per contract, 18 in all.
    let report = report(
        "rules:\n  - id: paused\n    match:\n      event: {contract: Token, signature: Paused}\n",
    );
    let token = &report
        .contracts
        .iter()
        .find(|c| c.label == "Token")
        .unwrap();
    assert_eq!(token.total_weight, 9);
    // Paused (1) and pause() through the Paused event it emits (3).
    assert_eq!(token.watched_weight, 4);
    let pause = token
        .functions
        .iter()
        .find(|f| f.signature == "pause()")
        .unwrap();
    assert_eq!(pause.rules, ["paused"]);
    assert_eq!(pause.via.as_deref(), Some("Paused"));
    assert_eq!(
        token
            .unwatched_privileged()
            .map(|f| f.signature.as_str())
            .collect::<Vec<_>>(),
        ["setFee(uint256)"]
    );
    assert_eq!(report.total_weight, 18);
    assert_eq!(report.watched_weight, 4);
    assert_eq!(report.figure_bp, 2222); // 4/18 = 22.22 %
    assert_eq!(percent(report.figure_bp), "22.22%");
    assert_eq!(
        report
            .contracts_without_rule()
            .map(|c| c.label.as_str())
            .collect::<Vec<_>>(),
        ["Other"]
    );
    assert_eq!(report.privileged_unwatched(), 3);
}

#[test]
fn call_rules_and_any_contract_rules_count() {
    let report = report(
        "rules:\n  - id: fee\n    match:\n      call: {contract: Token, function: setFee}\n  \
         - id: transfers\n    match:\n      event: {contract: any, signature: Transfer}\n",
    );
    let token = report
        .contracts
        .iter()
        .find(|c| c.label == "Token")
        .unwrap();
    // Transfer event (1) + transfer() via Transfer (1) + setFee call (3).
    assert_eq!(token.watched_weight, 5);
    let other = report
        .contracts
        .iter()
        .find(|c| c.label == "Other")
        .unwrap();
    assert_eq!(other.watched_weight, 2);
    assert!(other.has_rule);
    assert_eq!(report.figure_bp, 3888);
}

#[test]
fn the_diff_names_what_was_lost() {
    let before = report(
        "rules:\n  - id: paused\n    match:\n      event: {contract: Token, signature: Paused}\n",
    );
    let store = argus_store::testing::store().unwrap();
    let mut conn = store.connect().unwrap();
    let tx = conn.transaction().unwrap();
    let id = record(&tx, &before, 1_000).unwrap();
    tx.commit().unwrap();
    let last = last_run(&conn).unwrap().unwrap();
    assert_eq!(last.id, id);
    assert_eq!(last.figure_bp, 2222);
    assert_eq!(last.breakdown, report::Breakdown::of(&before));

    let after = report("rules: []\n");
    let diff = diff(&last, &after);
    assert_eq!(diff.delta_bp, -2222);
    assert_eq!(diff.contracts_lost_rule, ["Token"]);
    let lost: Vec<&str> = diff.lost.iter().map(|c| c.item.as_str()).collect();
    assert_eq!(lost, ["Paused(address)", "pause()"]);
    assert!(
        diff.summary()
            .starts_with("0.00% (was 22.22% at run 1, -22.22 points)"),
        "{}",
        diff.summary()
    );
    assert_eq!(history(&conn, 10).unwrap().len(), 1);
}
