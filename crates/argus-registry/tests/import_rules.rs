//! The import's rules against careless and hostile inputs, on a real SQLite
//! file with files each test writes: two contracts at one address from two
//! projects are refused (not filed as alternating versions), a rebuilt file
//! is still a new version, a repeated import changes nothing, entries a
//! file cannot be read without are errors naming the file and field, and a
//! label read from a file passes the rules of `registry label`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::{Path, PathBuf};

use alloy_primitives::{Address, address};
use argus_core::ChainId;
use argus_registry::{
    ChangeKind, ImportHints, ImportOptions, ImportStatus, ListFilter, Registry, RegistryError,
    Scope, load_path, load_paths,
};
use serde_json::{Value, json};

const AT: Address = address!("0x5FbDB2315678afecb367f032d93F642f64180aa3");

fn function(name: &str) -> Value {
    json!({"type": "function", "name": name, "inputs": [], "outputs": [],
           "stateMutability": "nonpayable"})
}

fn abi(names: &[&str]) -> Value {
    Value::Array(names.iter().map(|n| function(n)).collect())
}

/// `root/deployments/mainnet/<name>.json`, a hardhat-deploy file at `AT`.
fn deployment(root: &Path, name: &str, functions: &[&str]) -> PathBuf {
    let dir = root.join("deployments").join("mainnet");
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join(".chainId"), "1").unwrap();
    let path = dir.join(format!("{name}.json"));
    let doc = json!({
        "address": AT.to_checksum(None),
        "abi": abi(functions),
        "transactionHash": format!("0x{}", "ab".repeat(32)),
        "numDeployments": 1,
    });
    fs::write(&path, doc.to_string()).unwrap();
    path
}

fn import(registry: &mut Registry, path: &Path) -> Result<argus_registry::ImportSummary, String> {
    let contracts = load_path(path, &ImportHints::default()).map_err(|e| e.to_string())?;
    registry
        .import(&contracts, ImportOptions::default())
        .map_err(|e| e.to_string())
}

fn feed(registry: &Registry) -> Vec<(i64, ChangeKind)> {
    registry
        .changes_since(0)
        .unwrap()
        .iter()
        .map(|c| (c.id, c.kind))
        .collect()
}

#[test]
fn two_projects_at_one_address_are_refused_naming_both_sources() {
    let dir = tempfile::tempdir().unwrap();
    let store = argus_store::testing::store().unwrap();
    let fresh_store = argus_store::testing::store().unwrap();
    let mut registry = Registry::open(&store).unwrap();
    let token = deployment(&dir.path().join("a"), "Token", &["transfer"]);
    let vault = deployment(&dir.path().join("b"), "Vault", &["deposit"]);

    let first = import(&mut registry, &token).unwrap();
    assert_eq!(first.outcomes[0].status, ImportStatus::Added);
    let before = feed(&registry);

    // Before the rule, Vault became "version 2" of Token, and every import
    // of either project flipped the label's ABI again.
    for _ in 0..2 {
        let error = import(&mut registry, &vault).unwrap_err();
        for needle in [
            token.to_str().unwrap(),
            vault.to_str().unwrap(),
            "`Token`",
            "`Vault`",
            "--label Token",
            "argus registry remove",
        ] {
            assert!(error.contains(needle), "{needle} missing from: {error}");
        }
        assert!(
            import(&mut registry, &token).unwrap().outcomes[0].status == ImportStatus::Unchanged
        );
        assert_eq!(
            feed(&registry),
            before,
            "a refused or repeated import changed the feed"
        );
    }
    let entry = registry.find("Token", Scope::Any).unwrap();
    assert_eq!(entry.abi_version, 1);
    assert!(entry.abi.function("deposit").is_none());

    // Both in one batch, on a fresh registry: refused, nothing written.
    let mut fresh = Registry::open(&fresh_store).unwrap();
    let both = load_paths(
        [dir.path().join("a"), dir.path().join("b")]
            .iter()
            .map(PathBuf::as_path),
        &ImportHints::default(),
    )
    .unwrap();
    let error = fresh.import(&both, ImportOptions::default()).unwrap_err();
    assert!(
        matches!(error, RegistryError::SourceConflict { .. }),
        "{error}"
    );
    let text = error.to_string();
    assert!(
        text.contains("in one import") && text.contains("Vault.json"),
        "{text}"
    );
    assert!(fresh.list(&ListFilter::default()).unwrap().is_empty());
    assert!(fresh.changes_since(0).unwrap().is_empty());

    // The way out the message names: remove the entry, then the address is
    // the other contract's, under its own name.
    registry.remove("Token", Scope::Any).unwrap();
    let summary = import(&mut registry, &vault).unwrap();
    assert_eq!(summary.outcomes[0].status, ImportStatus::Revived);
    assert_eq!(summary.outcomes[0].label, "Vault");
    let entry = registry.find("Vault", Scope::Chain(ChainId(1))).unwrap();
    assert!(entry.abi.function("deposit").is_some());
    // And it stays put: Token's file is now the other source.
    assert!(import(&mut registry, &token).is_err());
}

#[test]
fn a_rebuilt_file_is_a_new_version_and_a_repeat_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = argus_store::testing::store().unwrap();
    let mut registry = Registry::open(&store).unwrap();
    let root = dir.path().join("project");
    let token = deployment(&root, "Token", &["transfer"]);
    import(&mut registry, &token).unwrap();

    // The tool rewrote the same file with a new ABI.
    deployment(&root, "Token", &["transfer", "mint"]);
    let summary = import(&mut registry, &token).unwrap();
    assert_eq!(summary.outcomes[0].status, ImportStatus::NewVersion);
    assert_eq!(summary.outcomes[0].abi_version, 2);
    let before = feed(&registry);

    // The same file again, once by the same path and once spelled with `./`
    // through its folder: nothing changes.
    let again = import(&mut registry, &token).unwrap();
    assert_eq!(again.outcomes[0].status, ImportStatus::Unchanged);
    let dotted = root.join(".").join("deployments");
    let again = import(&mut registry, &dotted).unwrap();
    assert_eq!(again.outcomes[0].status, ImportStatus::Unchanged);
    assert_eq!(feed(&registry), before);

    // Another file, filed under this entry's label on purpose (`--label`),
    // is a new version too: the user said which entry it belongs to.
    let other = dir.path().join("Token_v3.json");
    fs::write(&other, abi(&["transfer", "mint", "burn"]).to_string()).unwrap();
    let hints = ImportHints {
        chain: Some(ChainId(1)),
        address: Some(AT),
        label: Some("Token".to_owned()),
        ..ImportHints::default()
    };
    let contracts = load_path(&other, &hints).unwrap();
    let summary = registry
        .import(&contracts, ImportOptions::default())
        .unwrap();
    assert_eq!(summary.outcomes[0].status, ImportStatus::NewVersion);
    assert_eq!(summary.outcomes[0].abi_version, 3);
    // Another file under another label is another contract at Token's address.
    let hints = ImportHints {
        label: Some("Other".to_owned()),
        ..hints
    };
    let stranger = dir.path().join("Other.json");
    fs::write(&stranger, abi(&["burn"]).to_string()).unwrap();
    let contracts = load_path(&stranger, &hints).unwrap();
    let error = registry
        .import(&contracts, ImportOptions::default())
        .unwrap_err();
    assert!(
        matches!(error, RegistryError::SourceConflict { .. }),
        "{error}"
    );
}

#[test]
fn two_artifacts_under_one_name_with_different_abis_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = argus_store::testing::store().unwrap();
    let mut registry = Registry::open(&store).unwrap();
    for (project, functions) in [("a", &["transfer"][..]), ("b", &["deposit"][..])] {
        let folder = dir.path().join(project);
        fs::create_dir_all(&folder).unwrap();
        fs::write(folder.join("Token.json"), abi(functions).to_string()).unwrap();
    }
    import(&mut registry, &dir.path().join("a/Token.json")).unwrap();
    let before = feed(&registry);
    let error = import(&mut registry, &dir.path().join("b/Token.json")).unwrap_err();
    assert!(
        error.contains("artifact `Token`")
            && error.contains("a/Token.json")
            && error.contains("b/Token.json"),
        "{error}"
    );
    assert!(error.contains("--artifact"), "{error}");
    assert_eq!(feed(&registry), before);
}

/// Writes `rel` under `root` with `doc`.
fn write(root: &Path, rel: &str, doc: &Value) -> PathBuf {
    let path = root.join(rel);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(&path, doc.to_string()).unwrap();
    path
}

#[test]
fn entries_a_file_cannot_be_read_without_are_errors_naming_file_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let at = AT.to_checksum(None);
    let receipts = json!([]);
    // A broadcast of calls only: skipped by design, no error.
    write(
        root,
        "broadcast/Calls.s.sol/1/run-latest.json",
        &json!({"chain": 1, "receipts": receipts, "transactions": [
            {"transactionType": "CALL", "contractName": null, "contractAddress": at}]}),
    );
    let cases = [
        (
            "broadcast/Nameless.s.sol/1/run-latest.json",
            json!({"chain": 1, "receipts": receipts, "transactions": [
                {"transactionType": "CALL", "contractAddress": at},
                {"transactionType": "CREATE", "contractName": null, "contractAddress": at}]}),
            "`transactions[1].contractName` is missing",
        ),
        (
            "broadcast/Untyped.s.sol/1/run-latest.json",
            json!({"chain": 1, "receipts": receipts, "transactions": [
                {"transactionType": null, "contractName": "Token", "contractAddress": at}]}),
            "`transactions[0].transactionType` is missing",
        ),
        (
            "broadcast/Odd.s.sol/1/run-latest.json",
            json!({"chain": 1, "receipts": receipts, "transactions": [
                {"transactionType": "SELFDESTRUCT", "contractName": "Token", "contractAddress": at}]}),
            "`transactions[0].transactionType` is `SELFDESTRUCT`",
        ),
        (
            "broadcast/Empty.s.sol/1/run-latest.json",
            json!({"chain": 1, "receipts": receipts, "timestamp": 1}),
            "missing `transactions`",
        ),
        (
            "deployments/mainnet/NoAbi.json",
            json!({"address": at, "transactionHash": "0x00", "receipt": {}}),
            "missing `abi`",
        ),
        (
            "deployments/mainnet/NoAddress.json",
            json!({"abi": abi(&["transfer"]), "transactionHash": "0x00", "receipt": {}}),
            "missing `address`",
        ),
    ];
    fs::create_dir_all(root.join("deployments/mainnet")).unwrap();
    fs::write(root.join("deployments/mainnet/.chainId"), "1").unwrap();
    for (rel, doc, _) in &cases {
        write(root, rel, doc);
    }
    let good = write(root, "abi/Good.json", &abi(&["transfer"]));

    let errors = load_paths([root], &ImportHints::default()).unwrap_err();
    let lines: Vec<String> = errors.errors.iter().map(ToString::to_string).collect();
    assert_eq!(lines.len(), cases.len(), "{lines:#?}");
    for (rel, _, says) in &cases {
        assert!(
            lines
                .iter()
                .any(|line| line.contains(&root.join(rel).display().to_string())
                    && line.contains(says)),
            "{rel}: `{says}` not in {lines:#?}"
        );
    }
    // All or nothing: the good file alone imports; with the others, nothing does.
    assert_eq!(load_path(&good, &ImportHints::default()).unwrap().len(), 1);
    let calls = load_path(
        &root.join("broadcast/Calls.s.sol/1/run-latest.json"),
        &ImportHints::default(),
    )
    .unwrap();
    assert!(calls.is_empty());
}

#[test]
fn a_label_read_from_a_file_passes_the_rules_of_registry_label() {
    let dir = tempfile::tempdir().unwrap();
    let store = argus_store::testing::store().unwrap();
    let mut registry = Registry::open(&store).unwrap();
    let files = dir.path().join("files");
    fs::create_dir_all(&files).unwrap();
    let cases = [
        (
            "Spaced.json",
            json!({"_format": "hh-sol-artifact-1", "contractName": "My Token", "abi": abi(&["f"])}),
            "the contract name `My Token`, which cannot be a label: it contains blanks",
        ),
        (
            "0x5FbDB2315678afecb367f032d93F642f64180aa3.json",
            abi(&["f"]),
            "the file name gives the label `0x5FbDB2315678afecb367f032d93F642f64180aa3`, which \
             cannot be a label: it looks like an address",
        ),
        (
            "Escape.json",
            json!({"_format": "hh-sol-artifact-1", "contractName": "A\u{1b}[2J\nB", "abi": abi(&["f"])}),
            r"the contract name `A\u{1b}[2J\nB`",
        ),
    ];
    for (i, (name, doc, says)) in cases.iter().enumerate() {
        let path = write(&files, name, doc);
        let contracts = load_path(&path, &ImportHints::default()).unwrap();
        let error = registry
            .import(&contracts, ImportOptions::default())
            .unwrap_err()
            .to_string();
        assert!(error.contains(name) && error.contains(says), "{error}");
        assert!(error.contains("--label"), "{error}");
        assert!(!error.contains('\u{1b}'), "raw escape in {error:?}");
        // The way out: the same file under a label a person chose.
        let hints = ImportHints {
            label: Some(format!("Fixed{i}")),
            ..ImportHints::default()
        };
        let contracts = load_path(&path, &hints).unwrap();
        registry
            .import(&contracts, ImportOptions::default())
            .unwrap();
    }
    assert_eq!(registry.list(&ListFilter::default()).unwrap().len(), 3);
}
