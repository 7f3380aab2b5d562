//! `argus validate` refuses rules that would fail at run time (issue 12,
//! "validate passes rules that fail at run time"): the real binary on one
//! rule file holding every such mistake, each reported at its file and line,
//! all at once.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use argus_testkit::workspace_root;

const CONFIG: &str = "chains: [{ chain: anvil, rpc: [http://127.0.0.1:1] }]\nrules: [rules.yaml]\n";

/// Each rule holds one mistake; the line each is reported on, and what the
/// report must say.
const RULES: &str = r#"rules:
  - id: unknown-function
    match: { event: { contract: Token, signature: "Transfer(address indexed from, address indexed to, uint256 value)" } }
    condition: nosuchfunc(args.value)
  - id: string-condition
    match: { event: { contract: any, signature: "Transfer(address indexed from, address indexed to, uint256 value)" } }
    condition: "'yes'"
  - id: number-condition
    match: { event: { contract: any, signature: "Transfer(address indexed from, address indexed to, uint256 value)" } }
    condition: args.value
  - id: bad-uint256
    match: { transaction: { from: any } }
    condition: tx.value > uint256("not a number")
  - id: bad-ether
    match: { transaction: { from: any } }
    condition: tx.value > ether("abc")
  - id: string-plus
    match: { event: { contract: any, signature: "Transfer(address indexed from, address indexed to, uint256 value)" } }
    condition: args.value + "abc" > 0
  - id: address-vs-number
    match: { event: { contract: NotInTheRegistry, signature: "Transfer(address indexed from, address indexed to, uint256 value)" } }
    condition: args.from > 3
  - id: no-such-field
    match: { event: { contract: any, signature: "Transfer(address indexed from, address indexed to, uint256 value)" } }
    condition: args.nosuchfield > 1
  - id: no-such-field-in-title
    match: { event: { contract: any, signature: "Transfer(address indexed from, address indexed to, uint256 value)" } }
    title: "Moved {{args.nosuch}}"
  - id: bad-type
    match: { event: { contract: any, signature: "Transfer(address,address,uint257)" } }
"#;

const EXPECTED: &[(u64, &str)] = &[
    (4, "`nosuchfunc()` is not a known function"),
    (7, "a condition must give a bool"),
    (10, "a condition must give a bool"),
    (13, "`not a number` is not an integer"),
    (16, "`ether(...)` cannot convert its argument"),
    (19, "`+` cannot be applied to `args.value`"),
    (22, "`>` cannot compare `args.from` (a string) with an int"),
    (25, "`args` has no field `nosuchfield`"),
    (28, "`args` has no field `nosuch`"),
    (30, "`uint257` is not an ABI type"),
];

fn validate(dir: &Path, json: bool) -> std::process::Output {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_argus"));
    command
        .arg("--data-dir")
        .arg(dir.join("data"))
        .arg("validate")
        .args(json.then_some("--json"))
        .arg("-c")
        .arg(dir.join("argus.yaml"))
        .env_remove("ARGUS_DATA_DIR")
        .env("NO_COLOR", "1");
    command.output().expect("run argus validate")
}

#[test]
fn validate_refuses_every_rule_that_would_fail_at_run_time_at_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("argus.yaml"), CONFIG).unwrap();
    std::fs::write(dir.path().join("rules.yaml"), RULES).unwrap();

    let out = validate(dir.path(), false);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let file = dir.path().join("rules.yaml").display().to_string();
    for (line, needle) in EXPECTED {
        assert!(
            stderr
                .lines()
                .any(|l| l.trim_start().starts_with(&format!("{file}:{line}:"))
                    && l.contains(needle)),
            "no problem reported at {file}:{line} saying {needle}:\n{stderr}"
        );
    }

    // The same as JSON: one problem per mistake, each with its line.
    let out = validate(dir.path(), true);
    assert_eq!(out.status.code(), Some(2));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(report["valid"], false);
    let problems = report["problems"].as_array().expect("problems");
    let lines: Vec<u64> = problems
        .iter()
        .filter(|p| {
            p["file"]
                .as_str()
                .is_some_and(|f| f.ends_with("rules.yaml"))
        })
        .map(|p| p["line"].as_u64().expect("line"))
        .collect();
    let wanted: Vec<u64> = EXPECTED.iter().map(|(line, _)| *line).collect();
    assert_eq!(lines, wanted, "{problems:#?}");
}

/// The rules shipped in `examples/` still validate.
#[test]
fn the_example_rules_still_validate() {
    let root = workspace_root();
    for example in ["examples/demo/rules.yaml", "examples/drills/rules.yaml"] {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("argus.yaml"), CONFIG).unwrap();
        std::fs::copy(root.join(example), dir.path().join("rules.yaml")).unwrap();
        let out = validate(dir.path(), false);
        assert!(
            out.status.success(),
            "{example}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn a_registry_import_that_does_not_parse_is_refused_at_validate() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rules.yaml"), "rules: []\n").unwrap();
    let broken = dir.path().join("Broken.json");
    std::fs::write(&broken, "{ \"abi\": [ { \"type\": \"function\", \"name\": ").unwrap();
    let config = dir.path().join("argus.yaml");
    std::fs::write(
        &config,
        format!("{CONFIG}registry:\n  import: [Broken.json]\n"),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_argus"))
        .env("ARGUS_DATA_DIR", dir.path().join("data"))
        .args(["validate", "-c"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let located = format!("{}:4:", config.display());
    assert!(
        stderr.lines().any(|l| l.contains(&located)
            && l.contains("registry.import")
            && l.contains("Broken.json")),
        "{stderr}"
    );
    // Fixed, it is valid.
    std::fs::write(&broken, "[]").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_argus"))
        .env("ARGUS_DATA_DIR", dir.path().join("data"))
        .args(["validate", "-c"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
}

/// Rules whose signature names no parameters (`Transfer`, or the bare
/// types) are checked again against the registry's ABIs when they bind:
/// what the ABI's parameters do not have is refused at the rule's line;
/// what they have passes, and a label the registry lacks stays a warning.
#[test]
fn rules_without_parameter_names_are_checked_against_the_registry_abi() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let imported = std::process::Command::new(env!("CARGO_BIN_EXE_argus"))
        .arg("--data-dir")
        .arg(&data)
        .args(["registry", "import"])
        .arg(workspace_root().join("testdata/foundry-project"))
        .output()
        .unwrap();
    assert!(imported.status.success(), "{imported:?}");
    std::fs::write(dir.path().join("argus.yaml"), CONFIG).unwrap();
    let rules = r#"rules:
  - id: bare-name-no-field
    match: { event: { contract: Token, signature: Transfer } }
    condition: args.nosuch > 0
  - id: bare-types-address-vs-number
    match: { event: { contract: any, signature: "Transfer(address,address,uint256)" } }
    condition: args.from > 3
  - id: call-title-no-field
    match: { call: { contract: Token, function: transfer } }
    title: "sent {{args.amount}}"
  - id: fine
    match: { event: { contract: Token, signature: Transfer } }
    condition: args.value > 0 && args.to != args.from
    title: "{{args.value}} to {{args.to}}"
  - id: not-registered-yet
    match: { event: { contract: NotDeployedYet, signature: Transfer } }
    condition: args.nosuch > 0
"#;
    std::fs::write(dir.path().join("rules.yaml"), rules).unwrap();
    let out = validate(dir.path(), false);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let file = dir.path().join("rules.yaml");
    let at = |line: u64| format!("{}:{line}:", file.display());
    for (line, id, says) in [
        (2, "bare-name-no-field", "`args` has no field `nosuch`"),
        (
            5,
            "bare-types-address-vs-number",
            "cannot compare `args.from`",
        ),
        (8, "call-title-no-field", "`args` has no field `amount`"),
    ] {
        assert!(
            stderr
                .lines()
                .any(|l| l.contains(&at(line)) && l.contains(id) && l.contains(says)),
            "{id} at line {line}: {stderr}"
        );
    }
    assert!(
        stderr.contains("Transfer(address from,address to,uint256 value)"),
        "the message names the ABI item: {stderr}"
    );
    assert!(!stderr.contains("rule fine"), "{stderr}");
    assert!(!stderr.contains("rule not-registered-yet"), "{stderr}");

    // Without the mistakes it is valid; the unknown label is a warning.
    let kept: String = rules
        .split("  - id: ")
        .filter(|r| r.starts_with("fine") || r.starts_with("not-registered-yet"))
        .map(|r| format!("  - id: {r}"))
        .collect();
    std::fs::write(dir.path().join("rules.yaml"), format!("rules:\n{kept}")).unwrap();
    let out = validate(dir.path(), false);
    assert!(out.status.success(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("warning: rule not-registered-yet: no contract labelled `NotDeployedYet`"),
        "{stderr}"
    );
}

#[test]
fn validate_refuses_bad_grouping_rate_limits_and_cooldowns_naming_each() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("argus.yaml"),
        "chains: [{ chain: anvil, rpc: [http://127.0.0.1:1] }]\nrules: [rules.yaml]\nalerting:\n  notifiers:\n    chat: { type: slack, webhook_url: { env: ARGUS_TEST_SLACK_URL }, rate_limit: { per_minute: 0 } }\n  routes:\n    - { notifiers: [chat], group_by: [rules], group_interval: 0s }\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("rules.yaml"),
        "rules:\n  - id: calm\n    match: { signal: x }\n    cooldown: sometimes\n",
    )
    .unwrap();
    let output = validate(dir.path(), false);
    assert!(!output.status.success());
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    for expected in [
        "alerting.notifiers.chat.rate_limit.per_minute: must be 1 to 60000",
        "alerting.routes[0].group_by[0]: `rules` is not a group label",
        "alerting.routes[0].group_interval: at least 1s",
        "rules.yaml:4:15: `cooldown`",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
}

/// State rules (issue 14): a function the registry's ABI lacks, and a
/// condition that does not fit what the ABI says a function returns, are
/// refused at the rule's line; a read of a chain no `chains:` entry follows
/// is a warning.
#[test]
fn state_rules_are_checked_against_the_registry_abi() {
    let dir = tempfile::tempdir().unwrap();
    let imported = std::process::Command::new(env!("CARGO_BIN_EXE_argus"))
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .args(["registry", "import"])
        .arg(workspace_root().join("testdata/foundry-project"))
        .output()
        .unwrap();
    assert!(imported.status.success(), "{imported:?}");
    std::fs::write(dir.path().join("argus.yaml"), CONFIG).unwrap();
    let rules = r#"rules:
  - id: no-such-function
    match: { state: { reads: { x: { contract: Token, call: "cap()" } } } }
    invariant: reads.x > 0
  - id: owner-is-not-a-number
    match: { state: { reads: { owner: { contract: Token, call: owner() } } } }
    invariant: reads.owner > 3
  - id: fine
    match: { state: { reads: { supply: { contract: Token, call: totalSupply() }, paused: { contract: Token, call: paused() } } } }
    invariant: "!reads.paused && reads.supply <= uint256(\"1000000000000000000000000000\")"
"#;
    std::fs::write(dir.path().join("rules.yaml"), rules).unwrap();
    let out = validate(dir.path(), false);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let at = |line: u64| format!("{}:{line}:", dir.path().join("rules.yaml").display());
    for (line, says) in [
        (2, "has no function `cap()`"),
        (5, "cannot compare `reads.owner` (a string)"),
    ] {
        assert!(
            stderr
                .lines()
                .any(|l| l.contains(&at(line)) && l.contains(says)),
            "line {line}: {stderr}"
        );
    }
    assert!(!stderr.contains("rule fine"), "{stderr}");

    let kept = r#"rules:
  - id: fine
    match: { state: { reads: { supply: { contract: Token, call: totalSupply() } } } }
    invariant: reads.supply > 0
  - id: elsewhere
    match: { state: { reads: { a: { chain: 1, balance: "0x0000000000000000000000000000000000000001" }, b: { chain: 31337, balance: "0x0000000000000000000000000000000000000001" } } } }
    invariant: reads.a >= reads.b
"#;
    std::fs::write(dir.path().join("rules.yaml"), kept).unwrap();
    let out = validate(dir.path(), false);
    assert!(out.status.success(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "warning: rule elsewhere: reads chain 1 (mainnet), which `chains:` does not follow"
        ),
        "{stderr}"
    );
}
