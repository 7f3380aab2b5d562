//! `argus registry …` end to end: the real binary on a real SQLite file.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use argus_testkit::testdata;
use assert_cmd::Command;
use predicates::prelude::*;
use serde_json::Value;

fn own(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../argus-registry/testdata")
        .join(rel)
}

fn argus(data: &Path) -> Command {
    let mut cmd = Command::cargo_bin("argus").unwrap();
    cmd.arg("--data-dir").arg(data).env_remove("ARGUS_DATA_DIR");
    cmd
}

fn json_of(data: &Path, args: &[&str]) -> Value {
    let output = argus(data).args(args).arg("--json").assert().success();
    serde_json::from_slice(&output.get_output().stdout).unwrap()
}

fn run_ok(data: &Path, args: &[&str]) -> String {
    let output = argus(data).args(args).assert().success();
    String::from_utf8(output.get_output().stdout.clone()).unwrap()
}

#[test]
fn import_list_show_label_tag_link_remove_export_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let project = testdata("foundry-project");
    let project = project.to_str().unwrap();

    let summary = json_of(&data, &["registry", "import", project, "--tag", "core"]);
    assert_eq!(summary["added"], 7, "{summary:#}");
    assert_eq!(summary["new_versions"], 0);
    let again = json_of(&data, &["registry", "import", project]);
    assert_eq!(again["unchanged"], 7, "{again:#}");
    assert_eq!(again["added"], 0);

    let list = json_of(&data, &["registry", "list", "--chain", "anvil"]);
    let contracts = list["contracts"].as_array().unwrap();
    assert_eq!(contracts.len(), 6);
    let proxy = contracts
        .iter()
        .find(|c| c["label"] == "ERC1967Proxy")
        .unwrap();
    assert_eq!(
        proxy["implementation"],
        "0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0"
    );
    assert_eq!(proxy["tags"][0], "core");
    let table = run_ok(&data, &["registry", "list"]);
    assert!(table.starts_with("CHAIN"), "{table}");
    assert!(
        table.contains("0x5FbDB2315678afecb367f032d93F642f64180aa3"),
        "{table}"
    );

    // A deployed contract is not repeated as an artifact of its build output;
    // interfaces that are never deployed (IERC20Minimal) are artifacts.
    let show = json_of(&data, &["registry", "show", "Token"]);
    assert_eq!(show["kind"], "deployment");
    let burn = show["functions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["signature"] == "burn(uint256)")
        .unwrap();
    assert_eq!(burn["selector"], "0x42966c68");
    assert!(!show["events"].as_array().unwrap().is_empty());
    assert!(!show["errors"].as_array().unwrap().is_empty());
    assert_eq!(show["versions"].as_array().unwrap().len(), 1);
    let token_artifact = argus(&data)
        .args(["registry", "show", "Token", "--artifact"])
        .assert();
    assert_eq!(token_artifact.get_output().status.code(), Some(2));
    let artifact = json_of(&data, &["registry", "show", "IERC20Minimal", "--artifact"]);
    assert_eq!(artifact["kind"], "artifact");
    let human = run_ok(
        &data,
        &[
            "registry",
            "show",
            "0x5FbDB2315678afecb367f032d93F642f64180aa3",
        ],
    );
    assert!(human.contains("0x42966c68  burn(uint256)"), "{human}");

    let labelled = json_of(
        &data,
        &["registry", "label", "Token", "ATT", "--chain", "31337"],
    );
    assert_eq!(labelled["label"], "ATT");
    let tagged = json_of(&data, &["registry", "tag", "ATT", "erc20", "pausable"]);
    assert_eq!(
        tagged["tags"],
        serde_json::json!(["core", "erc20", "pausable"])
    );
    let untagged = json_of(&data, &["registry", "tag", "ATT", "core", "--remove"]);
    assert_eq!(untagged["tags"], serde_json::json!(["erc20", "pausable"]));
    let by_tag = json_of(&data, &["registry", "list", "--tag", "pausable"]);
    assert_eq!(by_tag["contracts"].as_array().unwrap().len(), 1);

    let linked = json_of(&data, &["registry", "link", "Vault", "VaultV2"]);
    assert_eq!(
        linked["implementation"],
        "0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0"
    );

    let removed = json_of(
        &data,
        &["registry", "remove", "Collider", "--chain", "anvil"],
    );
    assert_eq!(removed["removed"], true);
    let live = json_of(&data, &["registry", "list", "--chain", "anvil"]);
    assert_eq!(live["contracts"].as_array().unwrap().len(), 5);
    let all = json_of(&data, &["registry", "list", "--chain", "anvil", "--all"]);
    assert_eq!(all["contracts"].as_array().unwrap().len(), 6);

    let export = run_ok(&data, &["registry", "export", "--all-versions"]);
    let document: Value = serde_json::from_str(&export).unwrap();
    assert_eq!(document["format"], "argus-registry/1");
    let exported = document["contracts"].as_array().unwrap();
    assert_eq!(exported.len(), 6, "7 imported, Collider removed");
    let v2 = exported
        .iter()
        .find(|c| c["label"] == "VaultV2" && c["kind"] == "deployment")
        .unwrap();
    let proxies = v2["proxies"].as_array().unwrap();
    assert_eq!(proxies.len(), 2, "{v2:#}");
    assert_eq!(v2["versions"].as_array().unwrap().len(), 1);
    assert!(
        !exported
            .iter()
            .any(|c| c["label"] == "Collider" && c["kind"] == "deployment")
    );

    let file = dir.path().join("export.json");
    argus(&data)
        .args(["registry", "export", "-o"])
        .arg(&file)
        .assert()
        .success()
        .stdout(predicate::str::is_empty());
    let written: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert!(written.get("contracts").is_some());
    assert!(written["contracts"][0].get("versions").is_none());

    let changes = json_of(&data, &["registry", "changes"]);
    let kinds: Vec<&str> = changes["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["kind"].as_str().unwrap())
        .collect();
    for kind in [
        "added",
        "relabeled",
        "tagged",
        "untagged",
        "linked",
        "removed",
    ] {
        assert!(kinds.contains(&kind), "{kind} not in {kinds:?}");
    }
}

#[test]
fn a_bad_file_among_good_ones_writes_nothing_and_reports_every_error() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    argus(&data)
        .args(["registry", "import"])
        .arg(testdata("foundry-project"))
        .arg(own("bad"))
        .assert()
        .code(2)
        .stdout(predicate::str::is_empty())
        .stderr(
            predicate::str::contains("broken.json: broken JSON at line 4")
                .and(predicate::str::contains("uint257.json"))
                .and(predicate::str::contains("BadChecksum.json"))
                .and(predicate::str::contains(
                    "chain id 987654321 is not a known chain",
                ))
                .and(predicate::str::contains(
                    "6 problems found; nothing was imported",
                )),
        );
    // Nothing was written: not even a database for `registry list` (which
    // only reads, and creates none) to read.
    assert!(!data.join(argus_store::DATABASE_FILE).exists());
    argus(&data)
        .args(["registry", "list", "--all"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no Argus database"));
}

#[test]
fn plain_abi_versions_dry_run_and_ambiguous_labels() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let at = "0x5FbDB2315678afecb367f032d93F642f64180aa3";
    let erc20 = own("abi/erc20.json");
    let v2 = own("abi/token_v2.json");
    let import = |file: &Path, chain: &str, extra: &[&str]| {
        let mut cmd = argus(&data);
        cmd.args(["registry", "import"]).arg(file);
        cmd.args([
            "--chain",
            chain,
            "--address",
            at,
            "--label",
            "USDx",
            "--json",
        ]);
        cmd.args(extra);
        let output = cmd.assert().success();
        serde_json::from_slice::<Value>(&output.get_output().stdout).unwrap()
    };
    assert_eq!(import(&erc20, "mainnet", &[])["added"], 1);
    let dry = import(&v2, "mainnet", &["--dry-run"]);
    assert_eq!(dry["new_versions"], 1);
    assert_eq!(dry["dry_run"], true);
    assert_eq!(
        json_of(&data, &["registry", "show", "USDx"])["abi_version"],
        1
    );
    assert_eq!(
        import(&v2, "mainnet", &[])["contracts"][0]["status"],
        "new_version"
    );
    let show = json_of(&data, &["registry", "show", "USDx"]);
    assert_eq!(show["abi_version"], 2);
    assert_eq!(show["versions"].as_array().unwrap().len(), 2);

    // The same label on another chain: a bare label is now ambiguous.
    import(&erc20, "base", &[]);
    argus(&data)
        .args(["registry", "show", "USDx"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--chain"));
    assert_eq!(
        json_of(&data, &["registry", "show", "USDx", "--chain", "base"])["chain"],
        "base"
    );

    // A bad checksum on the command line is refused before anything is read.
    argus(&data)
        .args(["registry", "import"])
        .arg(&erc20)
        .args([
            "--chain",
            "1",
            "--address",
            "0x5FbDB2315678afecb367f032d93F642f64180aA3",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("checksum"));
}

/// A contract a factory made in a broadcast (`additionalContracts` without
/// a `contractName`, as forge writes them) is not imported, but not in
/// silence: the import warns with the field, the address and the command
/// that adds it. The named contracts of the broadcast are imported.
#[test]
fn a_factory_made_contract_without_a_name_is_left_out_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let broadcast = dir
        .path()
        .join("broadcast/Deploy.s.sol/31337/run-latest.json");
    std::fs::create_dir_all(broadcast.parent().unwrap()).unwrap();
    let made = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512";
    std::fs::write(
        &broadcast,
        serde_json::json!({"chain": 31337, "transactions": [{
            "transactionType": "CREATE",
            "contractName": "Token",
            "contractAddress": "0x5FbDB2315678afecb367f032d93F642f64180aa3",
            "additionalContracts": [{"address": made, "initCode": "0x00"}],
        }]})
        .to_string(),
    )
    .unwrap();
    let out = argus(&data)
        .args(["registry", "import", "--artifacts"])
        .arg(testdata("foundry-project").join("out"))
        .arg(&broadcast)
        .assert()
        .success();
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        stderr.contains("transactions[0].additionalContracts[0].address")
            && stderr.contains("has no contractName")
            && stderr.contains(&format!("argus registry import --address {made}")),
        "{stderr}"
    );
    let listed = json_of(&data, &["registry", "list"]);
    let text = listed.to_string();
    assert!(text.contains("Token"), "{text}");
    assert!(
        !text.to_lowercase().contains(&made.to_lowercase()),
        "{text}"
    );
}

#[test]
fn planned_addresses_are_computed_listed_and_a_salt_createx_refuses_is_refused() {
    use alloy_primitives::{Address, B256, Bytes, keccak256};
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let artifact = testdata("foundry-project/out/Token.sol/Token.json");
    let parsed: Value = serde_json::from_slice(&std::fs::read(&artifact).unwrap()).unwrap();
    let code = |key: &str| {
        parsed[key]["object"]
            .as_str()
            .unwrap()
            .parse::<Bytes>()
            .unwrap()
    };
    let salt = format!("0x{}", "11".repeat(32));

    // CREATE2 through the deterministic deployer, the init code and the
    // expected runtime hash from the artifact.
    let plan = json_of(
        &data,
        &[
            "registry",
            "plan",
            "--chain",
            "anvil",
            "--label",
            "TokenV2",
            "--create2",
            "--salt",
            &salt,
            "--artifact",
            artifact.to_str().unwrap(),
            "--tag",
            "planned",
        ],
    );
    let deployer: Address = "0x4e59b44847b379578588920ca78fbf26c0b4956c"
        .parse()
        .unwrap();
    let expected = deployer.create2(salt.parse::<B256>().unwrap(), keccak256(code("bytecode")));
    assert_eq!(plan["address"], expected.to_checksum(None), "{plan:#}");
    assert_eq!(
        plan["expected_code_hash"],
        keccak256(code("deployedBytecode")).to_string()
    );
    assert_eq!(plan["status"], "planned");
    assert_eq!(plan["derivation"]["kind"], "create2");

    // CREATE by a deployer at a nonce: anvil's first deployment address.
    let first = run_ok(
        &data,
        &[
            "registry",
            "plan",
            "--chain",
            "anvil",
            "--label",
            "First",
            "--deployer",
            "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
            "--nonce",
            "0",
            "--code-hash",
            &format!("0x{}", "ab".repeat(32)),
        ],
    );
    assert!(
        first.contains("planned First at 0x5FbDB2315678afecb367f032d93F642f64180aa3 on anvil"),
        "{first}"
    );

    // Listed as planned, with the plan in the JSON.
    let table = run_ok(&data, &["registry", "list"]);
    let row = table.lines().find(|l| l.contains("TokenV2")).unwrap();
    assert!(row.contains("planned"), "{table}");
    let list = json_of(&data, &["registry", "list"]);
    let token = list["contracts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["label"] == "TokenV2")
        .unwrap();
    assert_eq!(token["planned"]["status"], "planned");
    assert_eq!(token["tags"][0], "planned");
    assert!(!token["abi_hash"].is_null());

    // CreateX reverts on a sender-protected salt whose 21st byte is 0x02:
    // refused, nothing filed.
    let sender = "f39fd6e51aad88f6f4ce6ab8827279cfffb92266";
    let bad_salt = format!("0x{sender}02{}", "00".repeat(11));
    argus(&data)
        .args([
            "registry",
            "plan",
            "--chain",
            "anvil",
            "--label",
            "Bad",
            "--createx",
            "create3",
            "--sender",
        ])
        .arg(format!("0x{sender}"))
        .args(["--salt", &bad_salt])
        .assert()
        .failure()
        .stderr(predicate::str::contains("CreateX refuses this salt"));
    let list = json_of(&data, &["registry", "list"]);
    assert_eq!(list["contracts"].as_array().unwrap().len(), 2);
}
