//! Text from outside cannot drive the operator's terminal: labels made from
//! imported file names and `contractName`, and audit entries written by
//! anyone, reach stdout with their control and bidi characters escaped, on
//! the line they belong to. The real binary on scratch data directories.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::Path;

use assert_cmd::Command;
use serde_json::{Value, json};

/// Clears the screen, homes the cursor, returns to the start of the line and
/// forges a line of its own.
const HOSTILE: &str = "Evil\u{1b}[2J\u{1b}[H\rCRITICAL_ALL_CLEAR\nLOW\u{202e}";
/// How [`HOSTILE`] must be shown.
const SHOWN: &str = r"Evil\u{1b}[2J\u{1b}[H\rCRITICAL_ALL_CLEAR\nLOW\u{202e}";
const MASTER: &str = "q7Vd0mJ3xR9sL2kP8wZ4tY6uB1nC5eA0fG3hI7jK9lM=";
const AT: &str = "0x5FbDB2315678afecb367f032d93F642f64180aa3";

fn argus(data: &Path) -> Command {
    let mut cmd = Command::cargo_bin("argus").unwrap();
    cmd.env("ARGUS_DATA_DIR", data)
        .env("ARGUS_MASTER_KEY", MASTER)
        .env_remove("ARGUS_AUDIT_NOW")
        .env_remove("ARGUS_LOG");
    cmd
}

/// Runs a command that must succeed; its stdout and stderr.
fn run(data: &Path, args: &[&str]) -> (String, String) {
    let out = argus(data).args(args).output().unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(out.status.success(), "{args:?}: {stderr}");
    (stdout, stderr)
}

/// Nothing in `text` can move the cursor, clear the screen, overwrite a line
/// or reorder it.
fn assert_inert(what: &str, text: &str) {
    for c in text.chars() {
        assert!(
            c == '\n' || !(c.is_control() || ('\u{202a}'..='\u{202e}').contains(&c)),
            "{what}: raw {c:?} in\n{text}"
        );
    }
}

const ABI: &str = r#"[{"type":"function","name":"transfer","stateMutability":"nonpayable",
    "inputs":[{"name":"to","type":"address"},{"name":"amount","type":"uint256"}],
    "outputs":[{"name":"","type":"bool"}]}]"#;

#[test]
fn labels_from_file_names_and_contract_names_are_escaped_in_the_registry() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let files = dir.path().join("files");
    fs::create_dir_all(&files).unwrap();

    // A Hardhat artifact whose contractName is hostile.
    let artifact = files.join("Artifact.json");
    let abi: Value = serde_json::from_str(ABI).unwrap();
    let doc = json!({
        "_format": "hh-sol-artifact-1",
        "contractName": HOSTILE,
        "abi": abi,
    });
    fs::write(&artifact, doc.to_string()).unwrap();
    // A plain ABI whose file name is hostile: the label is the file's stem.
    let named = files.join(format!("{}.json", HOSTILE.replace('\n', "_")));
    fs::write(&named, ABI).unwrap();

    for (file, extra) in [
        (&artifact, &[][..]),
        (&named, &["--chain", "anvil", "--address", AT][..]),
    ] {
        let out = argus(&data)
            .args(["registry", "import"])
            .arg(file)
            .args(extra)
            .output()
            .unwrap();
        let stdout = String::from_utf8(out.stdout).unwrap();
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert!(out.status.success(), "{stderr}");
        assert_inert("import stdout", &stdout);
        assert_inert("import stderr", &stderr);
        assert!(stdout.contains(r"Evil\u{1b}[2J\u{1b}[H\r"), "{stdout}");
    }

    let (list, _) = run(&data, &["registry", "list"]);
    assert_inert("list", &list);
    // A header and one row each: the LF inside the label made no line.
    assert_eq!(list.lines().count(), 3, "{list}");
    assert!(list.contains(SHOWN), "{list}");
    assert!(list.contains(r"\rCRITICAL_ALL_CLEAR_LOW\u{202e}"), "{list}");

    let (show, _) = run(&data, &["registry", "show", HOSTILE]);
    assert_inert("show", &show);
    assert!(show.starts_with(&format!("{SHOWN} (artifact)\n")), "{show}");
    let (show, _) = run(&data, &["registry", "show", AT, "--chain", "anvil"]);
    assert_inert("show by address", &show);
    // The source line names the hostile file, escaped.
    assert!(show.contains(r"Evil\u{1b}[2J\u{1b}[H\r"), "{show}");

    // JSON keeps the exact label, and shows no raw bidi control either.
    let out = argus(&data)
        .args(["registry", "list", "--json"])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert_inert("list --json", &text);
    let doc: Value = serde_json::from_str(&text).unwrap();
    let labels: Vec<&str> = doc["contracts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["label"].as_str().unwrap())
        .collect();
    assert!(labels.contains(&HOSTILE), "{labels:?}");
}

#[test]
fn audit_tail_and_query_escape_actor_reason_and_reference() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    run(
        data,
        &[
            "audit", "record", "--actor", "alice", "--action", "key.sign",
        ],
    );
    run(
        data,
        &[
            "audit",
            "record",
            "--actor",
            HOSTILE,
            "--action",
            "config.change",
            "--reason",
            "why\u{1b}]0;owned\u{7}\r\nseq 9 forged",
            "--reference",
            "INC\u{1b}[31m-7",
        ],
    );

    for args in [
        &["audit", "tail", "-n", "5"][..],
        &["audit", "query", "--action", "config.*"][..],
        &["audit", "query", "--actor", HOSTILE][..],
    ] {
        let (text, stderr) = run(data, args);
        assert_inert("stdout", &text);
        assert_inert("stderr", &stderr);
        assert!(text.contains(SHOWN), "{args:?}: {text}");
        assert!(
            text.contains(r#""why\u{1b}]0;owned\u{7}\r\nseq 9 forged""#),
            "{text}"
        );
        assert!(text.contains(r"[INC\u{1b}[31m-7]"), "{text}");
        let expected = if args[1] == "tail" { 2 } else { 1 };
        assert_eq!(text.lines().count(), expected, "{args:?}: {text}");
    }

    // JSON lines: still one valid document per entry, holding the exact value.
    let (text, _) = run(data, &["audit", "tail", "--json"]);
    assert_inert("tail --json", &text);
    let last: Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(last["actor"], HOSTILE, "{last}");
}
