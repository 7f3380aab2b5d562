//! `argus coverage` and `argus init` end to end: the real binary on the
//! sample project imported into a scratch registry.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use argus_testkit::workspace_root;
use assert_cmd::Command;
use serde_json::Value;

fn argus(data_dir: &Path) -> Command {
    let mut cmd = Command::cargo_bin("argus").unwrap();
    cmd.current_dir(workspace_root())
        .env("ARGUS_DATA_DIR", data_dir);
    cmd
}

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A scratch data directory with the sample project's deployments, and a
/// config whose rules are `rules`.
fn setup(rules: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let output = argus(&data)
        .args(["registry", "import", "testdata/foundry-project"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    std::fs::write(dir.path().join("rules.yaml"), rules).unwrap();
    let config = dir.path().join("argus.yaml");
    std::fs::write(
        &config,
        format!(
            "data_dir: {}\nchains:\n  - chain: anvil\n    rpc: [http://127.0.0.1:8545]\nrules: [rules.yaml]\n",
            data.display()
        ),
    )
    .unwrap();
    (dir, config)
}

const TWO_RULES: &str = "rules:
  - id: owner
    match:
      event: { contract: Token, signature: OwnershipTransferred }
  - id: mint
    match:
      call: { contract: Token, function: mint }
";

fn coverage_json(data: &Path, config: &Path, extra: &[&str]) -> (Option<i32>, Value) {
    let output = argus(data)
        .args(["coverage", "--json", "-c"])
        .arg(config)
        .args(extra)
        .output()
        .unwrap();
    let doc = serde_json::from_str(&stdout(&output))
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", stdout(&output), stderr(&output)));
    (output.status.code(), doc)
}

#[test]
fn the_sample_projects_coverage_is_what_the_rules_watch_and_gates_ci() {
    let (dir, config) = setup(TWO_RULES);
    let data = dir.path().join("data");
    let (code, doc) = coverage_json(&data, &config, &[]);
    assert_eq!(code, Some(0));
    let report = &doc["report"];
    let contracts = report["contracts"].as_array().unwrap();
    let token = contracts.iter().find(|c| c["label"] == "Token").unwrap();
    // Token: 5 events (1 each); state-changing functions approve, burn,
    // transfer, transferFrom (1 each) and mint, pause, transferOwnership,
    // unpause (privileged by name, 3 each): 5 + 4 + 12 = 21.
    assert_eq!(token["total_weight"], 21);
    // OwnershipTransferred (1), transferOwnership through it (3), mint (3).
    assert_eq!(token["watched_weight"], 7);
    let functions = token["functions"].as_array().unwrap();
    let by_sig = |s: &str| functions.iter().find(|f| f["signature"] == s).unwrap();
    assert_eq!(by_sig("transferOwnership(address)")["rules"][0], "owner");
    assert_eq!(
        by_sig("transferOwnership(address)")["via"],
        "OwnershipTransferred"
    );
    assert_eq!(by_sig("mint(address,uint256)")["rules"][0], "mint");
    assert_eq!(by_sig("pause()")["privileged"], true);
    assert!(by_sig("pause()")["rules"].as_array().unwrap().is_empty());
    // The other contracts have no rule; the figure is over all of them.
    let without: Vec<&str> = doc["contracts_without_rule"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(
        without,
        ["Collider", "ERC1967Proxy", "OtherToken", "Vault", "VaultV2"]
    );
    let total: u64 = contracts
        .iter()
        .map(|c| c["total_weight"].as_u64().unwrap())
        .sum();
    assert_eq!(report["total_weight"], total);
    assert_eq!(report["watched_weight"], 7);
    assert_eq!(report["figure_bp"], 7 * 10_000 / total);
    // pause and unpause on Token, and the other contracts' privileged ones.
    assert!(doc["privileged_unwatched"].as_u64().unwrap() >= 2);

    // Gated: below --min fails with exit 1, at or above passes.
    let figure = report["figure_bp"].as_f64().unwrap() / 100.0;
    let (code, _) = coverage_json(&data, &config, &["--min", &format!("{}", figure + 1.0)]);
    assert_eq!(code, Some(1));
    let (code, _) = coverage_json(&data, &config, &["--min", &format!("{}", figure - 1.0)]);
    assert_eq!(code, Some(0));

    // A rule removed: the drop against the last run names what was lost,
    // and --max-drop fails on it.
    std::fs::write(
        dir.path().join("rules.yaml"),
        "rules:\n  - id: mint\n    match:\n      call: { contract: Token, function: mint }\n",
    )
    .unwrap();
    let (code, doc) = coverage_json(&data, &config, &["--max-drop", "1"]);
    assert_eq!(code, Some(1));
    let previous = &doc["previous"];
    let (before, after) = ((7 * 10_000 / total) as i64, (3 * 10_000 / total) as i64);
    assert_eq!(
        previous["delta_bp"].as_i64().unwrap(),
        after - before,
        "{previous}"
    );
    let lost: Vec<&str> = previous["lost"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["item"].as_str().unwrap())
        .collect();
    assert_eq!(
        lost,
        [
            "OwnershipTransferred(address,address)",
            "transferOwnership(address)"
        ]
    );

    // The history keeps every recorded run, newest first.
    let output = argus(&data)
        .args(["coverage", "history", "--json", "-c"])
        .arg(&config)
        .output()
        .unwrap();
    let runs: Value = serde_json::from_str(&stdout(&output)).unwrap();
    let figures: Vec<u64> = runs
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["figure_bp"].as_u64().unwrap())
        .collect();
    assert_eq!(figures.len(), 4);
    assert_eq!(figures[0], 3 * 10_000 / total);
    assert_eq!(figures[3], 7 * 10_000 / total);
    let output = argus(&data)
        .args(["coverage", "history", "-c"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(stdout(&output).contains("▼ drop"), "{}", stdout(&output));

    // SARIF names the unwatched privileged functions; --no-record keeps
    // the history as it was.
    let output = argus(&data)
        .args(["coverage", "--sarif", "--no-record", "-c"])
        .arg(&config)
        .output()
        .unwrap();
    let sarif: Value = serde_json::from_str(&stdout(&output)).unwrap();
    let names: Vec<&str> = sarif["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["ruleId"] == "coverage-privileged-unwatched")
        .map(|r| {
            r["locations"][0]["logicalLocations"][0]["fullyQualifiedName"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert!(
        names.contains(&"Token::transferOwnership(address)"),
        "{names:?}"
    );
    assert!(!names.contains(&"Token::mint(address,uint256)"));
    let output = argus(&data)
        .args(["coverage", "history", "--json", "-c"])
        .arg(&config)
        .output()
        .unwrap();
    let runs: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(runs.as_array().unwrap().len(), 4);
}

#[test]
fn argus_init_writes_a_config_that_validates_and_prints_its_coverage() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = dir.path().join("setup");
    let output = argus(&data)
        .args(["init", "testdata/foundry-project", "--out"])
        .arg(&out)
        .args(["--wallet", "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let printed = stdout(&output);
    assert!(printed.contains("coverage "), "{printed}");
    assert!(printed.contains("Token"), "{printed}");
    let privileged = std::fs::read_to_string(out.join("rules/privileged.yaml")).unwrap();
    // Ownership and upgrades as event rules, each commented; a privileged
    // function without an event of its own as a call rule.
    assert!(privileged.contains("signature: \"OwnershipTransferred(address,address)\""));
    assert!(privileged.contains("signature: \"Upgraded(address)\""));
    assert!(privileged.contains("function: \"mint(address,uint256)\""));
    assert!(privileged.contains("# Token: the owner changed."));
    let bots = std::fs::read_to_string(out.join("rules/bots.yaml")).unwrap();
    assert!(bots.contains("failed_transactions: \">5 in 5 minutes\""));
    assert!(bots.contains("0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"));

    // `argus validate` is clean on the result.
    let config = out.join("argus.yaml");
    let output = argus(&data)
        .args(["validate", "-c"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}{}",
        stdout(&output),
        stderr(&output)
    );
    assert!(stdout(&output).contains("valid"));

    // Nothing is overwritten without --force.
    let before = std::fs::read_to_string(&config).unwrap();
    let output = argus(&data)
        .args(["init", "testdata/foundry-project", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("already exist"),
        "{}",
        stderr(&output)
    );
    assert_eq!(std::fs::read_to_string(&config).unwrap(), before);
    let output = argus(&data)
        .args([
            "init",
            "testdata/foundry-project",
            "--json",
            "--force",
            "--out",
        ])
        .arg(&out)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let doc: Value = serde_json::from_str(&stdout(&output)).unwrap();

    // The printed figure is the one `argus coverage` measures once the
    // project is in the registry the config names.
    let output = argus(&out.join(".argus"))
        .args(["registry", "import", "testdata/foundry-project"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let output = argus(&data)
        .args(["coverage", "--json", "--no-record", "-c"])
        .arg(&config)
        .output()
        .unwrap();
    let measured: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(measured["figure"], doc["figure"]);
    assert_eq!(measured["privileged_unwatched"], 0);
}

#[test]
fn with_the_ast_privilege_comes_from_modifiers_and_functions_are_watched_through_their_events() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // The compiled Settings contract, filed as deployed.
    let output = argus(&data)
        .args([
            "registry",
            "import",
            "testdata/events-project/out/Settings.sol/Settings.json",
            "--chain",
            "anvil",
            "--address",
            "0x1000000000000000000000000000000000000001",
        ])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    std::fs::write(
        dir.path().join("rules.yaml"),
        "rules:\n  - id: limit\n    match:\n      event: { contract: Settings, signature: LimitChanged }\n",
    )
    .unwrap();
    let config = dir.path().join("argus.yaml");
    std::fs::write(
        &config,
        format!(
            "data_dir: {}\nchains:\n  - chain: anvil\n    rpc: [http://127.0.0.1:8545]\nrules: [rules.yaml]\n",
            data.display()
        ),
    )
    .unwrap();
    let function = |doc: &Value, signature: &str| -> Value {
        doc["report"]["contracts"][0]["functions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["signature"] == signature)
            .unwrap()
            .clone()
    };

    let (_, with_ast) = coverage_json(
        &data,
        &config,
        &["--no-record", "--build", "testdata/events-project"],
    );
    assert_eq!(with_ast["report"]["contracts"][0]["judged"], "ast");
    // setLimit emits LimitChanged through an internal function: watched.
    let set_limit = function(&with_ast, "setLimit(uint256)");
    assert_eq!(set_limit["privileged"], true);
    assert_eq!(set_limit["via"], "LimitChanged");
    // transferOwnership is onlyOwner in the AST; bump (modifier `logged`) is
    // not privileged.
    assert_eq!(
        function(&with_ast, "transferOwnership(address)")["privileged"],
        true
    );
    assert_eq!(function(&with_ast, "bump()").get("privileged"), None);
    // Events 4 (1 each); functions setFee, setLimit, setSink,
    // transferOwnership privileged (3 each), bump, forward, maybeEmit, poke,
    // rawLog (1 each): 4 + 12 + 5 = 21; LimitChanged and setLimit watched.
    assert_eq!(with_ast["report"]["total_weight"], 21);
    assert_eq!(with_ast["report"]["watched_weight"], 4);

    // Without the AST, setLimit is privileged by its name but nothing says
    // it emits LimitChanged.
    let (_, by_name) = coverage_json(&data, &config, &["--no-record"]);
    assert_eq!(by_name["report"]["contracts"][0]["judged"], "name");
    let set_limit = function(&by_name, "setLimit(uint256)");
    assert_eq!(set_limit["privileged"], true);
    assert!(set_limit["rules"].as_array().unwrap().is_empty());
    assert_eq!(by_name["report"]["watched_weight"], 1);
}

#[test]
fn the_human_report_names_every_item_and_who_watches_it() {
    let (dir, config) = setup(TWO_RULES);
    let output = argus(&dir.path().join("data"))
        .args(["coverage", "--no-record", "-c"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    insta::assert_snapshot!("coverage_sample_project_human", stdout(&output));
}

#[test]
fn argus_init_from_the_registry_validates() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let output = argus(&data)
        .args(["registry", "import", "testdata/hardhat-project"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let out = dir.path().join("setup");
    let output = argus(&data)
        .args(["init", "--json", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let doc: Value = serde_json::from_str(&stdout(&output)).unwrap();
    // The hardhat-deploy proxy's upgrade and ownership events are watched.
    let privileged = std::fs::read_to_string(out.join("rules/privileged.yaml")).unwrap();
    assert!(
        privileged
            .contains("contract: \"Box\", signature: \"OwnershipTransferred(address,address)\""),
        "{privileged}"
    );
    assert!(doc["rules"].as_u64().unwrap() > 0);
    // The config names the registry it came from, so `coverage` measures
    // the same figure with the written rules.
    let config = out.join("argus.yaml");
    let output = argus(&data)
        .args(["validate", "-c"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}{}",
        stdout(&output),
        stderr(&output)
    );
    let (code, measured) = coverage_json(&data, &config, &["--no-record"]);
    assert_eq!(code, Some(0));
    assert_eq!(measured["figure"], doc["figure"]);
}

#[test]
fn a_drop_beyond_alert_drop_records_an_alert_for_the_daemon_to_deliver() {
    let (dir, config) = setup(TWO_RULES);
    let data = dir.path().join("data");
    let (code, _) = coverage_json(&data, &config, &["--alert-drop", "1"]);
    assert_eq!(code, Some(0));
    let alerts = |data: &Path| -> Vec<Value> {
        let output = argus(data)
            .args(["alerts", "list", "--json"])
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", stderr(&output));
        stdout(&output)
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    // The first run has nothing to compare with: no alert.
    assert!(alerts(&data).is_empty());
    std::fs::write(dir.path().join("rules.yaml"), "rules: []\n").unwrap();
    let (code, _) = coverage_json(&data, &config, &["--alert-drop", "1"]);
    assert_eq!(
        code,
        Some(0),
        "--alert-drop alerts, it does not fail the run"
    );
    let recorded = alerts(&data);
    assert_eq!(recorded.len(), 1, "{recorded:?}");
    assert_eq!(recorded[0]["rule_id"], "argus.coverage-drop");
    assert_eq!(recorded[0]["severity"], "high");
    // The same figure again is no drop: no second alert.
    let (_, _) = coverage_json(&data, &config, &["--alert-drop", "1"]);
    assert_eq!(alerts(&data).len(), 1);
}
