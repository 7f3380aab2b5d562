//! `argus lint` end to end: the real binary on the real fixtures.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use argus_testkit::workspace_root;
use assert_cmd::Command;
use serde_json::Value;

/// `argus` run from the workspace root, with a scratch data directory.
fn argus(data_dir: &Path) -> Command {
    let mut cmd = Command::cargo_bin("argus").unwrap();
    cmd.current_dir(workspace_root())
        .env("ARGUS_DATA_DIR", data_dir)
        .env_remove("ARGUS_LINT_ALLOW");
    cmd
}

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

#[test]
fn the_sample_project_shows_every_planted_problem() {
    let data = tempfile::tempdir().unwrap();
    let output = argus(data.path())
        .args(["lint", "testdata/foundry-project"])
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(1),
        "errors found → exit 1\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = stdout(&output);
    insta::assert_snapshot!("foundry_project_human", text);
}

#[test]
fn json_output_is_one_document_with_the_findings() {
    let data = tempfile::tempdir().unwrap();
    let output = argus(data.path())
        .args(["lint", "testdata/foundry-project", "--json"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let doc: Value = serde_json::from_str(&stdout(&output)).expect("stdout is JSON only");
    assert_eq!(doc["format"], "argus-lint/1");
    let keys: Vec<(String, String)> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["rule"].as_str().unwrap().to_owned(),
                f["key"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    for expected in [
        ("selector-collision", "0x42966c68"),
        ("proxy-selector-clash", "ERC1967Proxy>VaultV2:0x3659cfe6"),
        ("event-layout-mismatch", "Transfer(address,address,uint256)"),
    ] {
        assert!(
            keys.contains(&(expected.0.to_owned(), expected.1.to_owned())),
            "{expected:?} missing from {keys:?}"
        );
    }
    // Every location names where it comes from.
    let burn = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["key"] == "0x42966c68")
        .unwrap();
    let labels: Vec<&str> = burn["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["locations"].as_array().unwrap())
        .map(|l| l["label"].as_str().unwrap())
        .collect();
    assert!(
        labels.contains(&"Token") && labels.contains(&"Collider"),
        "{labels:?}"
    );
}

#[test]
fn sarif_output_is_valid_sarif_with_file_locations() {
    let data = tempfile::tempdir().unwrap();
    let out = data.path().join("lint.sarif");
    let output = argus(data.path())
        .args(["lint", "testdata/foundry-project", "--sarif", "-o"])
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(stdout(&output).is_empty(), "the report went to the file");
    let log: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(log["version"], "2.1.0");
    let run = &log["runs"][0];
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    let results = run["results"].as_array().unwrap();
    assert!(!results.is_empty());
    for result in results {
        let index = result["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(
            rules[index]["id"], result["ruleId"],
            "ruleIndex points at the rule"
        );
        assert!(["error", "warning", "note"].contains(&result["level"].as_str().unwrap()));
        assert!(result["partialFingerprints"]["argusFinding/v1"].is_string());
        let uri = result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"].as_str();
        assert!(
            uri.is_some_and(|u| u.starts_with("testdata/foundry-project/")),
            "{result}"
        );
    }
}

#[test]
fn the_allow_list_and_threshold_shape_the_exit_status() {
    let data = tempfile::tempdir().unwrap();
    let allow = data.path().join("allow.yaml");
    // Accept every error the sample project has; warnings remain.
    let output = argus(data.path())
        .args(["lint", "testdata/foundry-project", "--json"])
        .output()
        .unwrap();
    let doc: Value = serde_json::from_str(&stdout(&output)).unwrap();
    let mut yaml = String::from("allow:\n");
    for f in doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["level"] == "error")
    {
        yaml.push_str(&format!(
            "  - rule: {}\n    key: '{}'\n    reason: planted in the fixture\n",
            f["rule"].as_str().unwrap(),
            f["key"].as_str().unwrap()
        ));
    }
    yaml.push_str("  - rule: name-reuse\n    key: never-matches\n    reason: stale\n");
    std::fs::write(&allow, yaml).unwrap();
    let output = argus(data.path())
        .args(["lint", "testdata/foundry-project", "--allow"])
        .arg(&allow)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    let text = stdout(&output);
    assert!(text.contains("allowed"), "{text}");
    assert!(text.contains("never-matches matched nothing"), "{text}");

    let output = argus(data.path())
        .args([
            "lint",
            "testdata/foundry-project",
            "--severity",
            "error",
            "--allow",
        ])
        .arg(&allow)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    assert!(stdout(&output).contains("below the threshold"));
}

#[test]
fn known_collisions_in_a_signature_list_are_found_with_their_lines() {
    let data = tempfile::tempdir().unwrap();
    let output = argus(data.path())
        .args([
            "lint",
            "--json",
            "--no-standard",
            "testdata/signatures/known-collisions.txt",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let doc: Value = serde_json::from_str(&stdout(&output)).unwrap();
    let burn = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["key"] == "0x42966c68")
        .expect("burn / collate_propagate_storage");
    let lines: Vec<u64> = burn["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["locations"].as_array().unwrap())
        .map(|l| l["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, vec![1, 2]);
}

#[test]
fn the_openzeppelin_abis_checked_against_a_reference_list() {
    let data = tempfile::tempdir().unwrap();
    let output = argus(data.path())
        .args([
            "lint",
            "--json",
            "testdata/abi/openzeppelin",
            "--reference",
            "testdata/signatures/known-collisions.txt",
        ])
        .output()
        .unwrap();
    let doc: Value = serde_json::from_str(&stdout(&output)).unwrap();
    let reference: Vec<&str> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == "reference-selector-collision")
        .map(|f| f["key"].as_str().unwrap())
        .collect();
    // ERC-20's transfer, approve, balanceOf … all have a decoy in the list.
    for key in ["0xa9059cbb", "0x095ea7b3", "0x70a08231", "0x23b872dd"] {
        assert!(reference.contains(&key), "{key} missing: {reference:?}");
    }
    // No real selector collision inside OpenZeppelin itself.
    assert!(
        doc["findings"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["rule"] != "selector-collision")
    );
}

#[test]
fn bad_input_is_refused_with_the_file_and_nothing_linted() {
    let data = tempfile::tempdir().unwrap();
    let output = argus(data.path())
        .args(["lint", "testdata/signatures/malformed.txt"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("testdata/signatures/malformed.txt:"),
        "{stderr}"
    );
    assert!(stdout(&output).is_empty());

    let output = argus(data.path())
        .args(["lint", "no/such/dir"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));

    // An empty registry and no paths: a hint, not an empty report.
    let output = argus(data.path()).args(["lint"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("argus registry import"));
}

#[test]
fn the_registry_is_linted_when_no_path_is_given() {
    let data = tempfile::tempdir().unwrap();
    argus(data.path())
        .args(["registry", "import", "testdata/foundry-project"])
        .assert()
        .success();
    let output = argus(data.path())
        .args(["lint", "--json"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let doc: Value = serde_json::from_str(&stdout(&output)).unwrap();
    let keys: Vec<&str> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["key"].as_str().unwrap())
        .collect();
    assert!(keys.contains(&"0x42966c68"), "{keys:?}");
    // The proxy link recorded at import reaches the linter.
    assert!(
        keys.contains(&"ERC1967Proxy>VaultV2:0x3659cfe6"),
        "{keys:?}"
    );
}

#[test]
fn a_hardhat_deploy_proxy_is_checked_with_its_own_abi_not_the_merged_one() {
    let data = tempfile::tempdir().unwrap();
    let output = argus(data.path())
        .args(["lint", "--json", "testdata/hardhat-project"])
        .output()
        .unwrap();
    let doc: Value = serde_json::from_str(&stdout(&output)).unwrap();
    // hardhat-deploy's Box.json merges the implementation's ABI into the
    // proxy's; checked against Box_Implementation, every function would clash.
    assert!(
        doc["findings"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["rule"] != "proxy-selector-clash"),
        "{doc:#}"
    );
    assert_eq!(
        doc["stats"]["proxies"], 1,
        "the Box proxy is linked to its implementation"
    );
    assert_eq!(output.status.code(), Some(0));
}

/// A signature dump as databases publish it, about 1,000 lines: plain
/// signatures, the specification's fixed-point types (an alias with its
/// stated selector among them), lines that are not signatures, and one
/// real selector collision. Returns the text and the bad lines' numbers.
fn signature_dump() -> (String, Vec<usize>) {
    let mut lines: Vec<String> = Vec::new();
    let mut bad = Vec::new();
    for i in 0..960 {
        let line = match i % 8 {
            0 => format!("transferTo{i}(address,uint256)"),
            1 => format!("price{i}(fixed128x18)"),
            2 => format!("rate{i}(ufixed80x80,address)"),
            3 => format!("function setFee{i}(fixed fee, ufixed cap)"),
            4 => format!("event Priced{i}(ufixed256x80 indexed value)"),
            5 => format!(
                "0x{}\tquote{i}(int128)",
                selector(&format!("quote{i}(int128)"))
            ),
            6 => format!("lerp{i}((fixed8x0,ufixed248x2)[])"),
            _ => format!("claim{i}(bytes32[],uint256)"),
        };
        lines.push(line);
        if i % 97 == 50 {
            // Debris a scraped dump really holds, and types that are not real.
            let garbage = [
                "<html><body>502 Bad Gateway</body></html>",
                "transfer(address,uint257)",
                "f(fixed7x18)",
                "g(ufixed128x81)",
                "swap(uint256,",
                "0x1234 short_selector()",
                "h(fixed128)",
                "\u{1b}[2Jclear(uint256)",
                "0xdeadbeef price(fixed)",
                "k(fixed0128x18)",
            ];
            lines.push(garbage[bad.len() % garbage.len()].to_owned());
            bad.push(lines.len());
        }
    }
    // The stated selector is that of the canonical form of `fixed`.
    lines.push(format!(
        "0x{},setRate(fixed)",
        selector("setRate(fixed128x18)")
    ));
    // A real collision: both hash to 0x42966c68.
    lines.push("burn(uint256)".to_owned());
    lines.push("collate_propagate_storage(bytes16)".to_owned());
    (lines.join("\n") + "\n", bad)
}

fn selector(signature: &str) -> String {
    alloy_primitives::hex::encode(&alloy_primitives::keccak256(signature)[..4])
}

#[test]
fn a_signature_dump_with_fixed_types_and_debris_lints_and_finds_the_collision() {
    let dir = tempfile::tempdir().unwrap();
    let (text, bad) = signature_dump();
    assert!(
        text.lines().count() > 950 && bad.len() == 10,
        "{}",
        bad.len()
    );
    let dump = dir.path().join("4byte.txt");
    std::fs::write(&dump, &text).unwrap();
    let data = dir.path().join("data");

    let output = argus(&data)
        .args(["lint", "--json", "--no-standard"])
        .arg(&dump)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    // Skipped with a count; the first few named by line, the rest counted.
    assert!(stderr.contains("skipped 10 lines"), "{stderr}");
    for line in &bad[..5] {
        assert!(
            stderr.contains(&format!("4byte.txt:{line}: ")),
            "{line}: {stderr}"
        );
    }
    assert!(
        !stderr.contains(&format!("4byte.txt:{}: ", bad[5])),
        "{stderr}"
    );
    assert!(stderr.contains("and 5 more"), "{stderr}");
    assert!(!stderr.contains('\u{1b}'), "{stderr}");
    let doc: Value = serde_json::from_str(&stdout(&output)).unwrap();
    let findings = doc["findings"].as_array().unwrap();
    let burn = findings
        .iter()
        .find(|f| f["key"] == "0x42966c68")
        .expect("the burn / collate_propagate_storage collision");
    assert_eq!(burn["rule"], "selector-collision", "{burn}");
    let collisions = findings
        .iter()
        .filter(|f| f["rule"] == "selector-collision")
        .count();
    assert_eq!(collisions, 1, "{findings:#?}");

    // --strict refuses the same dump, naming the lines, and lints nothing.
    let output = argus(&data)
        .args(["lint", "--json", "--no-standard", "--strict"])
        .arg(&dump)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("10 lines that are not signatures (--strict)"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("4byte.txt:{}: ", bad[9])),
        "{stderr}"
    );
    assert!(stdout(&output).is_empty());

    // As a reference: an ABI's burn(uint256) meets the dump's decoy.
    let abi = dir.path().join("Token.json");
    std::fs::write(
        &abi,
        r#"[{"type":"function","name":"burn","stateMutability":"nonpayable",
            "inputs":[{"name":"amount","type":"uint256"}],"outputs":[]}]"#,
    )
    .unwrap();
    let output = argus(&data)
        .args(["lint", "--json", "--no-standard"])
        .arg(&abi)
        .arg("--reference")
        .arg(&dump)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("skipped 10 lines of the reference list"),
        "{stderr}"
    );
    let doc: Value = serde_json::from_str(&stdout(&output)).unwrap();
    let decoy = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "reference-selector-collision" && f["key"] == "0x42966c68");
    assert!(decoy.is_some(), "{doc:#}");
}

/// The `function-without-event` findings of a report, by key.
fn silent_keys(doc: &Value) -> Vec<String> {
    let mut keys: Vec<String> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == "function-without-event")
        .map(|f| f["key"].as_str().unwrap().to_owned())
        .collect();
    keys.sort();
    keys
}

#[test]
fn functions_without_an_event_are_found_in_compiled_output_and_allow_listed() {
    let data = tempfile::tempdir().unwrap();
    // Foundry artifacts with the AST, OpenZeppelin 4.9.6 bases included.
    let output = argus(data.path())
        .args(["lint", "testdata/events-project", "--json", "--no-standard"])
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "warnings only → exit 0\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let doc: Value = serde_json::from_str(&stdout(&output)).unwrap();
    // setFee/setSink/setCap change state in silence and forward's only event
    // would be another contract's; setLimit (an internal function), bump (a
    // modifier), rawLog (assembly log1), poke (a virtual hook's override) and
    // every OpenZeppelin function (transfer, pause, grantRole…) emit.
    assert_eq!(
        silent_keys(&doc),
        [
            "PausableToken.setCap(uint256)",
            "Settings.forward(uint256)",
            "Settings.setFee(uint256)",
            "Settings.setSink(address)"
        ]
    );
    let finding = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["key"] == "Settings.setFee(uint256)")
        .unwrap();
    assert_eq!(finding["level"], "warning");

    // Hardhat's build-info of the same contract gives the same answer.
    let output = argus(data.path())
        .args(["lint", "testdata/events-project/artifacts", "--json"])
        .output()
        .unwrap();
    let doc: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(
        silent_keys(&doc),
        [
            "Settings.forward(uint256)",
            "Settings.setFee(uint256)",
            "Settings.setSink(address)"
        ]
    );

    // SARIF points at the Solidity line.
    let output = argus(data.path())
        .args(["lint", "testdata/events-project/out", "--sarif"])
        .output()
        .unwrap();
    let sarif: Value = serde_json::from_str(&stdout(&output)).unwrap();
    let result = sarif["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["ruleId"] == "function-without-event")
        .unwrap();
    let physical = &result["locations"][0]["physicalLocation"];
    assert!(
        physical["artifactLocation"]["uri"]
            .as_str()
            .unwrap()
            .ends_with(".sol"),
        "{physical}"
    );
    assert!(physical["region"]["startLine"].as_u64().unwrap() > 1);

    // The allow-list accepts them like any finding.
    let allow = data.path().join("allow.yaml");
    std::fs::write(
        &allow,
        "allow:\n  - rule: function-without-event\n    key: Settings.forward(uint256)\n    \
         reason: the sink emits\n",
    )
    .unwrap();
    let output = argus(data.path())
        .args(["lint", "testdata/events-project", "--json", "--allow"])
        .arg(&allow)
        .output()
        .unwrap();
    let doc: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert!(!silent_keys(&doc).contains(&"Settings.forward(uint256)".to_owned()));
    assert_eq!(silent_keys(&doc).len(), 3);
    assert_eq!(doc["summary"]["allowed"], 1);

    // Build output without an AST (the sample project) gives none.
    let output = argus(data.path())
        .args(["lint", "testdata/foundry-project", "--json"])
        .output()
        .unwrap();
    let doc: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert!(silent_keys(&doc).is_empty());
}
