//! The registry on a real SQLite file.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use alloy_primitives::{Address, address};
use argus_core::ChainId;
use argus_registry::{
    ChangeKind, ContractKind, ImportHints, ImportOptions, ImportStatus, ListFilter, Registry,
    RegistryError, Scope, load_path, load_paths,
};

const TOKEN: Address = address!("0x5FbDB2315678afecb367f032d93F642f64180aa3");
const PROXY: Address = address!("0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512");

fn testdata(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(rel)
}

fn open(store: &argus_store::Store) -> Registry {
    Registry::open(store).unwrap()
}

fn import(
    registry: &mut Registry,
    rel: &str,
    hints: &ImportHints,
) -> argus_registry::ImportSummary {
    let contracts = load_path(&testdata(rel), hints).unwrap();
    registry
        .import(&contracts, ImportOptions::default())
        .unwrap()
}

fn abi_as(chain: u64, at: Address, label: &str) -> ImportHints {
    ImportHints {
        chain: Some(ChainId(chain)),
        address: Some(at),
        label: Some(label.to_owned()),
        ..ImportHints::default()
    }
}

#[test]
fn foundry_import_is_idempotent_and_feeds_changes() {
    let store = argus_store::testing::store().unwrap();
    let mut registry = open(&store);
    let first = import(&mut registry, "foundry", &ImportHints::default());
    assert_eq!(
        (first.added(), first.new_versions(), first.unchanged()),
        (4, 0, 0)
    );
    // Helper was deployed twice on the same chain: the second gets Helper_2.
    assert_eq!(first.notices.len(), 1, "{:?}", first.notices);
    assert!(first.notices[0].contains("Helper_2"));
    let labels: Vec<_> = first.outcomes.iter().map(|o| o.label.as_str()).collect();
    assert_eq!(labels, ["Token", "ERC1967Proxy", "Helper", "Helper_2"]);

    let changes = registry.changes_since(0).unwrap();
    assert_eq!(changes.len(), 4);
    assert!(changes.iter().all(|c| c.kind == ChangeKind::Added));
    let last = changes.last().unwrap().id;

    drop(registry);
    let mut registry = open(&store);
    let again = import(&mut registry, "foundry", &ImportHints::default());
    assert_eq!(
        (again.added(), again.new_versions(), again.unchanged()),
        (0, 0, 4)
    );
    assert!(again.notices.is_empty());
    assert!(registry.changes_since(last).unwrap().is_empty());

    let proxy = registry.find("ERC1967Proxy", Scope::Any).unwrap();
    assert_eq!(proxy.implementation, Some(TOKEN));
    let token = registry
        .find(&TOKEN.to_string(), Scope::Chain(ChainId::LOCAL))
        .unwrap();
    assert_eq!(registry.proxies_of(&token).unwrap(), vec![PROXY]);
}

#[test]
fn a_changed_abi_becomes_a_new_version_and_the_old_one_is_kept() {
    let store = argus_store::testing::store().unwrap();
    let mut registry = open(&store);
    let hints = abi_as(1, TOKEN, "USDx");
    let first = import(&mut registry, "abi/erc20.json", &hints);
    assert_eq!(first.outcomes[0].status, ImportStatus::Added);
    let second = import(&mut registry, "abi/token_v2.json", &hints);
    assert_eq!(second.outcomes[0].status, ImportStatus::NewVersion);
    assert_eq!(second.outcomes[0].abi_version, 2);
    let third = import(&mut registry, "abi/token_v2.json", &hints);
    assert_eq!(third.outcomes[0].status, ImportStatus::Unchanged);

    let entry = registry.find("USDx", Scope::Any).unwrap();
    assert_eq!(entry.abi_version, 2);
    assert!(entry.abi.function("mint").is_some());
    assert!(entry.source.path.ends_with("token_v2.json"));
    let versions = registry.versions(&entry).unwrap();
    assert_eq!(versions.len(), 2);
    assert!(versions[0].abi.function("mint").is_none());
    assert!(versions[0].source.path.ends_with("erc20.json"));
    assert_ne!(versions[0].abi_hash, versions[1].abi_hash);

    let kinds: Vec<_> = registry
        .changes_since(0)
        .unwrap()
        .iter()
        .map(|c| c.kind)
        .collect();
    assert_eq!(kinds, [ChangeKind::Added, ChangeKind::NewVersion]);
}

#[test]
fn one_bad_file_among_good_ones_writes_nothing_and_reports_all() {
    let store = argus_store::testing::store().unwrap();
    let mut registry = open(&store);
    let paths = [
        testdata("foundry"),
        testdata("bad/broken.json"),
        testdata("bad/uint257.json"),
    ];
    let errors =
        load_paths(paths.iter().map(PathBuf::as_path), &ImportHints::default()).unwrap_err();
    assert_eq!(errors.errors.len(), 2);
    assert!(errors.to_string().contains("nothing was imported"));
    assert!(registry.list(&ListFilter::default()).unwrap().is_empty());

    // A dry run computes the summary and writes nothing either.
    let contracts = load_path(&testdata("foundry"), &ImportHints::default()).unwrap();
    let summary = registry
        .import(&contracts, ImportOptions { dry_run: true })
        .unwrap();
    assert_eq!(summary.added(), 4);
    assert!(registry.list(&ListFilter::default()).unwrap().is_empty());
    assert!(registry.changes_since(0).unwrap().is_empty());
}

#[test]
fn labels_tags_links_and_soft_removal() {
    let store = argus_store::testing::store().unwrap();
    let mut registry = open(&store);
    import(&mut registry, "foundry", &ImportHints::default());
    import(&mut registry, "hardhat", &ImportHints::default());
    // Token is an anvil deployment; its build artifact duplicates it and is
    // not kept. Vault is a sepolia deployment and (with another ABI, the
    // implementation's) an artifact: a label finds the deployment first.
    assert_eq!(
        registry.find("Token", Scope::Any).unwrap().kind,
        ContractKind::Deployment
    );
    assert!(registry.find("Token", Scope::Artifacts).is_err());
    assert_eq!(
        registry.find("Vault", Scope::Artifacts).unwrap().kind,
        ContractKind::Artifact
    );

    // The same label on two chains is ambiguous without a chain.
    import(
        &mut registry,
        "abi/wrapped.json",
        &abi_as(1, TOKEN, "Vault"),
    );
    let error = registry.find("Vault", Scope::Any).unwrap_err();
    assert!(matches!(error, RegistryError::Ambiguous { .. }));
    assert!(error.to_string().contains("--chain"), "{error}");
    let sepolia = Scope::Chain(ChainId(11_155_111));
    let vault = registry.find("Vault", sepolia).unwrap();
    assert_eq!(vault.implementation, Some(TOKEN));

    // Relabel; a taken label is refused.
    let renamed = registry.set_label("Vault", sepolia, "VaultProxy").unwrap();
    assert_eq!(renamed.label, "VaultProxy");
    let taken = registry
        .set_label("VaultProxy", sepolia, "Vault_Implementation")
        .unwrap_err();
    assert!(matches!(taken, RegistryError::LabelTaken { .. }));
    assert!(
        registry
            .set_label("VaultProxy", sepolia, "has space")
            .is_err()
    );

    // Tags.
    let tags = ["core".to_owned(), "upgradeable".to_owned()];
    registry.add_tags("VaultProxy", Scope::Any, &tags).unwrap();
    let entry = registry
        .remove_tags("VaultProxy", Scope::Any, &tags[..1])
        .unwrap();
    assert_eq!(entry.tags.iter().collect::<Vec<_>>(), ["upgradeable"]);
    let tagged = ListFilter {
        tag: Some("upgradeable".into()),
        ..ListFilter::default()
    };
    assert_eq!(registry.list(&tagged).unwrap().len(), 1);

    // Link by label on the proxy's chain.
    let linked = registry
        .link_implementation("Helper", "Token", Scope::Chain(ChainId::LOCAL))
        .unwrap();
    assert_eq!(linked.implementation, Some(TOKEN));
    assert!(
        registry
            .link_implementation("Token", "Token", Scope::Chain(ChainId::LOCAL))
            .is_err()
    );

    // Soft removal hides, keeps, and a re-import revives.
    let before = registry.list(&ListFilter::default()).unwrap().len();
    registry
        .remove("Helper", Scope::Chain(ChainId::LOCAL))
        .unwrap();
    assert_eq!(
        registry.list(&ListFilter::default()).unwrap().len(),
        before - 1
    );
    let all = ListFilter {
        include_removed: true,
        ..ListFilter::default()
    };
    assert_eq!(registry.list(&all).unwrap().len(), before);
    assert!(
        registry
            .find("Helper", Scope::Chain(ChainId::LOCAL))
            .is_err()
    );
    assert!(
        !registry
            .export(false)
            .unwrap()
            .contracts
            .iter()
            .any(|c| c.label == "Helper" && c.chain_id == Some(31337))
    );
    let revived = import(&mut registry, "foundry", &ImportHints::default());
    assert_eq!(revived.revived(), 1);
    assert_eq!(registry.list(&ListFilter::default()).unwrap().len(), before);

    let kinds: Vec<_> = registry
        .changes_since(0)
        .unwrap()
        .iter()
        .map(|c| c.kind)
        .collect();
    for kind in [
        ChangeKind::Relabeled,
        ChangeKind::Tagged,
        ChangeKind::Untagged,
        ChangeKind::Linked,
        ChangeKind::Removed,
        ChangeKind::Revived,
    ] {
        assert!(kinds.contains(&kind), "{kind:?} missing from {kinds:?}");
    }
}

#[test]
fn a_revived_entry_whose_label_was_taken_gets_a_new_one() {
    let store = argus_store::testing::store().unwrap();
    let mut registry = open(&store);
    import(&mut registry, "abi/erc20.json", &abi_as(1, TOKEN, "Token"));
    registry.remove("Token", Scope::Any).unwrap();
    import(&mut registry, "abi/erc20.json", &abi_as(1, PROXY, "Token"));
    let summary = import(&mut registry, "abi/erc20.json", &abi_as(1, TOKEN, "Token"));
    assert_eq!(summary.outcomes[0].status, ImportStatus::Revived);
    assert_eq!(summary.outcomes[0].label, "Token_2");
    assert_eq!(summary.notices.len(), 1);
}

#[test]
fn export_and_abi_sources() {
    let store = argus_store::testing::store().unwrap();
    let mut registry = open(&store);
    import(&mut registry, "foundry", &ImportHints::default());
    import(
        &mut registry,
        "abi/token_v2.json",
        &abi_as(31337, TOKEN, "Token"),
    );
    let document = registry.export(true).unwrap();
    let text = serde_json::to_string(&document).unwrap();
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(value["format"], "argus-registry/1");
    let token = value["contracts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["label"] == "Token" && c["kind"] == "deployment")
        .unwrap();
    assert_eq!(token["chain"], "anvil");
    assert_eq!(token["chain_id"], 31337);
    assert_eq!(token["address"], TOKEN.to_checksum(None));
    assert_eq!(token["abi_version"], 2);
    assert_eq!(token["versions"].as_array().unwrap().len(), 2);
    assert_eq!(token["proxies"][0], PROXY.to_checksum(None));
    assert_eq!(token["source"]["format"], "abi");
    // Without versions the key is absent; the document reads back.
    let short = registry.export(false).unwrap();
    let text = serde_json::to_string(&short).unwrap();
    assert!(!text.contains("\"versions\""));
    let back: argus_registry::ExportDocument = serde_json::from_str(&text).unwrap();
    assert_eq!(back.contracts.len(), 4);

    let sources = registry.abi_sources().unwrap();
    assert_eq!(sources.sources.len(), 4);
    assert_eq!(sources.proxies.len(), 1);
    let link = sources.proxies[0];
    assert_eq!(sources.sources[link.proxy].label, "ERC1967Proxy");
    assert_eq!(sources.sources[link.implementation.unwrap()].label, "Token");
}

/// An ABI no compiler writes (an unnamed function, an event with more
/// indexed parameters than a log has topics) is refused, naming the file.
#[test]
fn an_impossible_abi_is_refused_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = argus_store::testing::store().unwrap();
    let mut registry = open(&store);
    let at = Address::repeat_byte(0x42);
    for (name, abi, says) in [
        (
            "Unnamed.json",
            r#"[{"type":"function","name":"","inputs":[],"outputs":[],"stateMutability":"view"}]"#,
            "empty name",
        ),
        (
            "Wide.json",
            r#"[{"type":"event","name":"Wide","anonymous":false,"inputs":[
                {"name":"a","type":"uint256","indexed":true},{"name":"b","type":"uint256","indexed":true},
                {"name":"c","type":"uint256","indexed":true},{"name":"d","type":"uint256","indexed":true}]}]"#,
            "4 indexed parameters",
        ),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, abi).unwrap();
        let contracts = load_path(&path, &abi_as(1, at, "Odd")).unwrap();
        let error = registry
            .import(&contracts, ImportOptions::default())
            .unwrap_err()
            .to_string();
        assert!(error.contains(name) && error.contains(says), "{error}");
    }
    assert!(registry.list(&ListFilter::default()).unwrap().is_empty());
}
