#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use alloy_primitives::address;
use proptest::prelude::*;

use super::*;
use crate::model::ContractKind;

fn testdata(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(rel)
}

fn labels(contracts: &[Contract]) -> Vec<(String, ContractKind)> {
    contracts
        .iter()
        .map(|c| (c.label.clone(), c.kind()))
        .collect()
}

fn errors_of(result: Result<Vec<Contract>, ImportErrors>) -> Vec<String> {
    result
        .unwrap_err()
        .errors
        .iter()
        .map(ToString::to_string)
        .collect()
}

#[test]
fn foundry_project_yields_broadcast_deployments_and_own_artifacts() {
    let contracts = load_path(&testdata("foundry"), &ImportHints::default()).unwrap();
    // The broadcast's deployments; forge-std's Test and the
    // dependency-compiled ERC1967Proxy are skipped as artifacts; the artifacts
    // of deployed contracts (Helper, Token) are not repeated; the older run
    // and the dry run are ignored.
    assert_eq!(
        labels(&contracts),
        vec![
            ("Token".into(), ContractKind::Deployment),
            ("ERC1967Proxy".into(), ContractKind::Deployment),
            ("Helper".into(), ContractKind::Deployment),
            ("Helper".into(), ContractKind::Deployment),
        ]
    );
    let token = &contracts[0];
    assert_eq!(
        token.deployment,
        Some(Deployment {
            chain: ChainId::LOCAL,
            address: address!("0x5FbDB2315678afecb367f032d93F642f64180aa3"),
        })
    );
    assert_eq!(token.source.format, SourceFormat::FoundryBroadcast);
    assert!(token.abi.function("transfer").is_some());
    let proxy = &contracts[1];
    assert_eq!(proxy.implementation, token.address());
    assert!(proxy.abi.event("Upgraded").is_some());
    assert_eq!(
        contracts[3].address(),
        Some(address!("0xCf7Ed3AccA5a467e9e704C703E8D87F634fB0Fc9"))
    );
}

#[test]
fn a_timestamped_run_named_explicitly_is_read() {
    let path = testdata("foundry/broadcast/Deploy.s.sol/31337/run-1600000000.json");
    let contracts = load_path(&path, &ImportHints::default()).unwrap();
    assert_eq!(
        labels(&contracts),
        vec![("Token".into(), ContractKind::Deployment)]
    );
}

#[test]
fn broadcast_abi_comes_from_the_artifacts_override() {
    let path = testdata("bad/broadcast/Missing.s.sol/31337/run-latest.json");
    let error = errors_of(load_path(&path, &ImportHints::default()));
    assert_eq!(error.len(), 1);
    assert!(error[0].contains("no ABI for `Nowhere`"), "{error:?}");
    assert!(error[0].contains("run-latest.json"), "{error:?}");
    assert!(error[0].contains("Nowhere.json"), "{error:?}");

    let hints = ImportHints {
        artifacts_dir: Some(testdata("foundry/out")),
        ..ImportHints::default()
    };
    let path = testdata("foundry/broadcast/Deploy.s.sol/31337/run-latest.json");
    assert_eq!(load_path(&path, &hints).unwrap().len(), 4);
}

#[test]
fn hardhat_project_yields_artifacts_and_linked_deployments() {
    let contracts = load_path(&testdata("hardhat"), &ImportHints::default()).unwrap();
    // `Vault` (merged ABI) and `Vault_Proxy` (the proxy's own ABI, same
    // address) become one entry `Vault` with the proxy's own ABI.
    assert_eq!(
        labels(&contracts),
        vec![
            ("Vault".into(), ContractKind::Artifact),
            ("Vault_Implementation".into(), ContractKind::Deployment),
            ("Vault".into(), ContractKind::Deployment),
        ]
    );
    let vault = &contracts[2];
    assert_eq!(vault.chain(), Some(ChainId(11_155_111)));
    assert_eq!(vault.implementation, contracts[1].address());
    let own = serde_json::to_string(&vault.abi).unwrap();
    let implementation = &contracts[1].abi;
    assert!(
        implementation
            .functions()
            .all(|f| vault.abi.function(&f.name).is_none()),
        "the proxy entry carries the proxy's own ABI, not the merged one: {own}"
    );
    assert_eq!(vault.source.format, SourceFormat::HardhatDeploy);
    assert_eq!(contracts[0].source.format, SourceFormat::HardhatArtifact);
}

#[test]
fn hardhat_deploy_without_chain_id_needs_chain() {
    let path = testdata("bad/deployments/nochain/Thing.json");
    let error = errors_of(load_path(&path, &ImportHints::default()));
    assert!(error[0].contains("pass --chain"), "{error:?}");
    let hints = ImportHints {
        chain: Some(ChainId(1)),
        ..ImportHints::default()
    };
    let contracts = load_path(&path, &hints).unwrap();
    assert_eq!(contracts[0].chain(), Some(ChainId(1)));
}

#[test]
fn plain_abi_is_an_artifact_or_a_deployment_with_hints() {
    let path = testdata("abi/erc20.json");
    let contracts = load_path(&path, &ImportHints::default()).unwrap();
    assert_eq!(
        labels(&contracts),
        vec![("erc20".into(), ContractKind::Artifact)]
    );

    let hints = ImportHints {
        chain: Some(ChainId(1)),
        address: Some(address!("0x5FbDB2315678afecb367f032d93F642f64180aa3")),
        label: Some("USDx".into()),
        implementation: Some(address!("0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512")),
        tags: ["stable".to_owned()].into(),
        ..ImportHints::default()
    };
    let contracts = load_path(&path, &hints).unwrap();
    assert_eq!(
        labels(&contracts),
        vec![("USDx".into(), ContractKind::Deployment)]
    );
    assert_eq!(contracts[0].chain(), Some(ChainId(1)));
    assert!(contracts[0].implementation.is_some());
    assert!(contracts[0].tags.contains("stable"));

    let wrapped = load_path(&testdata("abi/wrapped.json"), &ImportHints::default()).unwrap();
    assert!(wrapped[0].abi.function("ping").is_some());
}

#[test]
fn address_hint_needs_exactly_one_contract_and_a_chain() {
    let hints = ImportHints {
        address: Some(address!("0x5FbDB2315678afecb367f032d93F642f64180aa3")),
        chain: Some(ChainId(1)),
        ..ImportHints::default()
    };
    let error = errors_of(load_path(&testdata("abi"), &hints));
    assert_eq!(error.len(), 3, "{error:?}");
    assert!(error[0].contains("describe one contract"));

    let hints = ImportHints {
        chain: None,
        ..hints
    };
    let error = errors_of(load_path(&testdata("abi/erc20.json"), &hints));
    assert!(error[0].contains("--address needs --chain"), "{error:?}");
}

#[test]
fn every_bad_file_is_reported_with_its_path() {
    let errors = errors_of(load_path(&testdata("bad"), &ImportHints::default()));
    let joined = errors.join("\n");
    assert_eq!(errors.len(), 6, "{joined}");
    let has = |file: &str, what: &str| {
        assert!(
            errors.iter().any(|e| e.contains(file) && e.contains(what)),
            "no error for {file} containing {what}:\n{joined}"
        );
    };
    has(
        "987654321/run-latest.json",
        "chain id 987654321 is not a known chain",
    );
    has("Missing.s.sol", "no ABI for `Nowhere`");
    has("BadChecksum.json", "bad EIP-55 checksum");
    has("nochain/Thing.json", "no .chainId");
    has("broken.json", "broken JSON at line 4");
    has("uint257.json", "not a valid Solidity ABI");
}

#[test]
fn unknown_chain_is_accepted_when_allowed() {
    let hints = ImportHints {
        allow_unknown_chain: true,
        artifacts_dir: Some(testdata("foundry/out")),
        ..ImportHints::default()
    };
    let path = testdata("bad/broadcast/Deploy.s.sol/987654321/run-latest.json");
    let contracts = load_path(&path, &hints).unwrap();
    assert_eq!(contracts[0].chain(), Some(ChainId(987_654_321)));
}

#[test]
fn explicit_unknown_json_is_refused_but_skipped_in_a_walk() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("package.json");
    std::fs::write(&file, r#"{"name":"x"}"#).unwrap();
    let error = errors_of(load_path(&file, &ImportHints::default()));
    assert!(error[0].contains("pass --format"), "{error:?}");
    assert!(
        load_path(dir.path(), &ImportHints::default())
            .unwrap()
            .is_empty()
    );
}

#[test]
fn forced_format_reads_an_undetected_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("Thing.json");
    std::fs::write(&file, r#"{"abi":[],"name":"x"}"#).unwrap();
    let hints = ImportHints {
        format: Some(SourceFormat::HardhatArtifact),
        ..ImportHints::default()
    };
    let contracts = load_path(&file, &hints).unwrap();
    assert_eq!(contracts[0].source.format, SourceFormat::HardhatArtifact);
}

#[test]
fn a_missing_path_is_an_error() {
    let error = errors_of(load_path(
        &testdata("does/not/exist"),
        &ImportHints::default(),
    ));
    assert!(error[0].contains("cannot read"), "{error:?}");
}

#[test]
fn detection() {
    let detect = |text: &str| detect_format(&serde_json::from_str(text).unwrap());
    assert_eq!(detect("[]"), Some(SourceFormat::Abi));
    assert_eq!(
        detect(r#"{"transactions":[]}"#),
        Some(SourceFormat::FoundryBroadcast)
    );
    assert_eq!(
        detect(r#"{"_format":"hh-sol-artifact-1","abi":[]}"#),
        Some(SourceFormat::HardhatArtifact)
    );
    assert_eq!(
        detect(r#"{"abi":[],"address":"0x"}"#),
        Some(SourceFormat::HardhatDeploy)
    );
    assert_eq!(
        detect(r#"{"abi":[],"bytecode":{"object":"0x"}}"#),
        Some(SourceFormat::FoundryArtifact)
    );
    assert_eq!(detect(r#"{"abi":[]}"#), Some(SourceFormat::Abi));
    assert_eq!(detect(r#"{"name":"x"}"#), None);
    // Recognised by what only the tool writes, so a missing field is an
    // error naming it rather than a file skipped or read as a plain ABI.
    assert_eq!(
        detect(r#"{"receipts":[],"chain":1}"#),
        Some(SourceFormat::FoundryBroadcast)
    );
    assert_eq!(
        detect(r#"{"transactions":null}"#),
        Some(SourceFormat::FoundryBroadcast)
    );
    assert_eq!(
        detect(r#"{"abi":[],"receipt":{}}"#),
        Some(SourceFormat::HardhatDeploy)
    );
    assert_eq!(
        detect(r#"{"address":"0x","numDeployments":1}"#),
        Some(SourceFormat::HardhatDeploy)
    );
    assert_eq!(
        detect(r#"{"_format":"hh-sol-artifact-1"}"#),
        Some(SourceFormat::HardhatArtifact)
    );
    assert_eq!(detect("3"), None);
}

/// Small documents shaped like the real formats, with random values inside.
fn json_like() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("null".to_owned()),
        Just("\"0x5FbDB2315678afecb367f032d93F642f64180aa3\"".to_owned()),
        Just("\"CREATE\"".to_owned()),
        Just("\"uint257\"".to_owned()),
        Just("\"function\"".to_owned()),
        any::<i64>().prop_map(|n| n.to_string()),
        "[a-zA-Z0-9_]{0,8}".prop_map(|s| format!("\"{s}\"")),
    ];
    let keys = prop_oneof![
        Just("abi"),
        Just("transactions"),
        Just("transactionType"),
        Just("contractName"),
        Just("contractAddress"),
        Just("arguments"),
        Just("additionalContracts"),
        Just("address"),
        Just("implementation"),
        Just("chain"),
        Just("_format"),
        Just("bytecode"),
        Just("type"),
        Just("name"),
        Just("inputs"),
        Just("metadata"),
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5)
                .prop_map(|items| format!("[{}]", items.join(","))),
            prop::collection::vec((keys.clone(), inner), 0..6).prop_map(|pairs| {
                let body: Vec<String> = pairs
                    .into_iter()
                    .map(|(k, v)| format!("\"{k}\":{v}"))
                    .collect();
                format!("{{{}}}", body.join(","))
            }),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let path = Path::new("broadcast/S/1/run-latest.json");
        let _ = load_bytes(path, &bytes, &ImportHints::default());
    }

    #[test]
    fn json_shaped_input_never_panics(text in json_like(), format in prop::option::of(0usize..5)) {
        let hints = ImportHints {
            format: format.map(|i| SourceFormat::ALL[i]),
            ..ImportHints::default()
        };
        let path = Path::new("broadcast/S/1/run-latest.json");
        let _ = load_bytes(path, text.as_bytes(), &hints);
    }

    #[test]
    fn mutated_fixtures_never_panic(index in any::<prop::sample::Index>(), byte in any::<u8>(), which in 0usize..4) {
        let files = [
            "foundry/broadcast/Deploy.s.sol/31337/run-latest.json",
            "foundry/out/Token.sol/Token.json",
            "hardhat/artifacts/contracts/Vault.sol/Vault.json",
            "hardhat/deployments/sepolia/Vault.json",
        ];
        let path = testdata(files[which]);
        let mut bytes = std::fs::read(&path).unwrap();
        let at = index.index(bytes.len());
        bytes[at] = byte;
        let _ = load_bytes(&path, &bytes, &ImportHints::default());
    }
}
