//! Loading rule files: every error at once, with file, line and column.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use argus_rules::{Aggregate, Matcher, RuleSet};
use proptest::prelude::*;

#[test]
fn every_error_is_reported_with_its_position() {
    let text = r#"rules:
  - id: Bad Id
    severity: urgent
    match: { event: { contract: Token, signature: "Transfer(address,address" } }
  - id: typo
    match: { transaction: { from: any } }
    condition: tx.gasprice > 5
    colour: red
  - id: unknown-var
    match: { signal: memory_usage }
    condition: args.value > 1
    threshold: "> 5 bananas"
"#;
    let errors = RuleSet::from_yaml(text, "rules/bad.yaml").unwrap_err();
    let shown: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
    let expect = [
        ("rules/bad.yaml:2:9:", "rule id `Bad Id`"),
        ("rules/bad.yaml:3:15:", "`urgent` is not a severity"),
        (
            "rules/bad.yaml:4:51:",
            "not an event signature: expected `)`",
        ),
        ("rules/bad.yaml:7:16:", "no field `gasprice`"),
        ("rules/bad.yaml:8:5:", "unknown key `colour`"),
        ("rules/bad.yaml:11:16:", "`args` is not a variable"),
        ("rules/bad.yaml:12:16:", "threshold"),
    ];
    assert_eq!(errors.len(), expect.len(), "{shown:#?}");
    for ((position, text), shown) in expect.iter().zip(&shown) {
        assert!(
            shown.starts_with(position) && shown.contains(text),
            "{shown} should be {position} … {text}"
        );
    }
}

#[test]
fn yaml_syntax_errors_have_a_position() {
    let errors = RuleSet::from_yaml("rules:\n  - id: a\n   bad: [\n", "x.yaml").unwrap_err();
    assert_eq!(errors.len(), 1);
    assert!(errors[0].line >= 2, "{:?}", errors[0]);
    assert!(errors[0].message.starts_with("not valid YAML"));
}

#[test]
fn duplicate_ids_name_both_places() {
    let a =
        RuleSet::from_yaml("rules:\n  - id: same\n    match: { signal: x }\n", "a.yaml").unwrap();
    let b = RuleSet::from_yaml(
        "rules:\n\n  - id: same\n    match: { signal: y }\n",
        "b.yaml",
    )
    .unwrap();
    let errors = RuleSet::merge([a, b]).unwrap_err();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].file, "b.yaml");
    assert_eq!(errors[0].line, 3);
    assert!(
        errors[0].message.contains("already used at a.yaml:2:5"),
        "{}",
        errors[0].message
    );
    let within = RuleSet::from_yaml(
        "rules:\n  - id: same\n    match: { signal: x }\n  - id: same\n    match: { signal: x }\n",
        "c.yaml",
    )
    .unwrap_err();
    assert!(within[0].message.contains("c.yaml:2:5"));
}

#[test]
fn the_brief_schema_loads() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/testdata/contracts.yaml"
    ))
    .unwrap();
    let set = RuleSet::from_yaml(&text, "contracts.yaml").unwrap();
    assert_eq!(set.len(), 6);
    let gas = set.get("gas-spike").unwrap();
    assert_eq!(
        gas.aggregate,
        Some(Aggregate::Baseline {
            op: argus_rules::threshold::Comparison::Greater,
            percent_milli: 200_000,
            within_ms: 3_600_000
        })
    );
    assert!(matches!(
        set.get("memory").unwrap().aggregate,
        Some(Aggregate::Sustained { for_ms: 60_000 })
    ));
    assert!(matches!(
        set.get("ownership-change").unwrap().matcher,
        Matcher::Event { .. }
    ));
}

#[test]
fn the_seed_section_becomes_five_rules() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/seed.yaml"))
        .unwrap();
    let set = RuleSet::from_yaml(&text, "seed.yaml").unwrap();
    let ids: Vec<&str> = set.rules().iter().map(|r| r.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "seed-failed-transactions",
            "seed-authentication-failures",
            "seed-gas-price-spike",
            "seed-network-latency",
            "seed-memory-usage"
        ]
    );
    let bad = RuleSet::from_yaml(
        "thresholds:\n  memory_usage: \">5 in 5m\"\n  disk: \">1\"\n",
        "s.yaml",
    )
    .unwrap_err();
    assert_eq!(bad.len(), 2, "{bad:?}");
}

#[test]
fn semantic_mistakes_are_refused() {
    for (text, needle) in [
        (
            "rules:\n  - id: a\n    match: { signal: m }\n    threshold: \"< 5 in 5m\"\n",
            "count window",
        ),
        (
            "rules:\n  - id: a\n    match: { signal: m }\n    threshold: \"> 200% of 1h median\"\n",
            "value:",
        ),
        (
            "rules:\n  - id: a\n    match: { transaction: { from: any } }\n    for: 1m\n",
            "signal rules",
        ),
        (
            "rules:\n  - id: a\n    match: { event: { contract: any } }\n",
            "signature",
        ),
        (
            "rules:\n  - id: a\n    match: { signal: m, event: {} }\n",
            "exactly one",
        ),
        (
            "rules:\n  - id: a\n    match: { signal: m }\n    title: \"{{ value\"\n",
            "`{{`",
        ),
        (
            "rules:\n  - id: a\n    match: { transaction: { status: pending } }\n",
            "not a status",
        ),
    ] {
        let errors = RuleSet::from_yaml(text, "t.yaml").unwrap_err();
        assert!(
            errors.iter().any(|e| e.message.contains(needle)),
            "{text}: {errors:?}"
        );
        assert!(errors.iter().all(|e| e.line > 0), "{errors:?}");
    }
}

proptest! {
    #[test]
    fn the_loader_never_panics(text in "(rules|thresholds|match|id|- |: |\\{|\\}|\\[|\\]|\"|>|5|in|5m|%|of|normal|for|\n|  |signal|event|condition|args\\.value|uint256\\(\"1\"\\)){0,60}") {
        let _ = RuleSet::from_yaml(&text, "p.yaml");
    }

    #[test]
    fn arbitrary_text_never_panics(text in ".{0,200}") {
        let _ = RuleSet::from_yaml(&text, "p.yaml");
    }
}

#[test]
fn a_cooldown_is_a_duration_and_bad_ones_are_placed() {
    let set = RuleSet::from_yaml(
        "rules:\n  - id: calm\n    match: { signal: x }\n    cooldown: 10m\n  - id: plain\n    match: { signal: y }\n",
        "r.yaml",
    )
    .unwrap();
    assert_eq!(set.get("calm").unwrap().cooldown_ms, Some(600_000));
    assert_eq!(set.get("plain").unwrap().cooldown_ms, None);
    let errors = RuleSet::from_yaml(
        "rules:\n  - id: a\n    match: { signal: x }\n    cooldown: soon\n  - id: b\n    match: { signal: x }\n    cooldown: 0s\n",
        "r.yaml",
    )
    .unwrap_err();
    let shown: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
    assert_eq!(shown.len(), 2, "{shown:#?}");
    assert!(
        shown[0].starts_with("r.yaml:4:15:") && shown[0].contains("`cooldown`"),
        "{shown:#?}"
    );
    assert!(
        shown[1].starts_with("r.yaml:7:15:") && shown[1].contains("more than 0s"),
        "{shown:#?}"
    );
}
