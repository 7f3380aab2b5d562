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

/// A label read from a file passes the rules of `registry label`, so a
/// hostile `contractName` or file name is refused at import, the error
/// naming it escaped; the file name still reaches the registry as the
/// source of an entry filed with `--label`, and a label written before the
/// check (an older database, a hand edit) is still shown escaped.
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
    // A plain ABI whose file name is hostile: the label would be the stem.
    let stem = HOSTILE.replace('\n', "_");
    let named = files.join(format!("{stem}.json"));
    fs::write(&named, ABI).unwrap();
    let stem_shown = SHOWN.replace(r"\n", "_");

    for (file, extra, says) in [
        (&artifact, &[][..], format!("the contract name `{SHOWN}`")),
        (
            &named,
            &["--chain", "anvil", "--address", AT][..],
            format!("the file name gives the label `{stem_shown}`"),
        ),
    ] {
        let out = argus(&data)
            .args(["registry", "import"])
            .arg(file)
            .args(extra)
            .output()
            .unwrap();
        let stdout = String::from_utf8(out.stdout).unwrap();
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert_inert("import stdout", &stdout);
        assert_inert("import stderr", &stderr);
        assert!(stderr.contains(&says), "{says} not in {stderr}");
        assert!(stderr.contains("--label"), "{stderr}");
        // One line per problem: the LF inside the name made none.
        assert!(!stderr.contains("\nLOW"), "{stderr}");
    }
    let (list, _) = run(&data, &["registry", "list", "--json"]);
    let doc: Value = serde_json::from_str(&list).unwrap();
    assert!(doc["contracts"].as_array().unwrap().is_empty(), "{doc}");

    // Under a label a person chose, the hostile file imports; its name is
    // shown escaped as the source.
    let (stdout, stderr) = run(
        &data,
        &[
            "registry",
            "import",
            named.to_str().unwrap(),
            "--chain",
            "anvil",
            "--address",
            AT,
            "--label",
            "Safe",
        ],
    );
    assert_inert("import stdout", &stdout);
    assert_inert("import stderr", &stderr);
    assert!(stdout.contains(r"Evil\u{1b}[2J\u{1b}[H\r"), "{stdout}");
    let (show, _) = run(&data, &["registry", "show", AT, "--chain", "anvil"]);
    assert_inert("show by address", &show);
    assert!(show.contains(r"Evil\u{1b}[2J\u{1b}[H\r"), "{show}");

    // A hostile label already in the database (written before the check).
    let conn = rusqlite::Connection::open(data.join("argus.db")).unwrap();
    conn.execute("UPDATE registry_entries SET label = ?1", [HOSTILE])
        .unwrap();
    drop(conn);
    let (list, _) = run(&data, &["registry", "list"]);
    assert_inert("list", &list);
    // A header and one row: the LF inside the label made no line.
    assert_eq!(list.lines().count(), 2, "{list}");
    assert!(list.contains(SHOWN), "{list}");
    let (show, _) = run(&data, &["registry", "show", HOSTILE]);
    assert_inert("show", &show);
    assert!(show.contains(SHOWN), "{show}");

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
    assert_eq!(labels, [HOSTILE]);
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
