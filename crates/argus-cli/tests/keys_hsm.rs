//! `argus keys` with keys in a real PKCS#11 token (Debian's SoftHSM): the
//! binary on a real vault directory and a token directory of its own.
//! A missing SoftHSM fails these tests unless `ARGUS_TEST_ALLOW_NO_SOFTHSM=1`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use argus_testkit::{SoftHsm, cast};
use argus_vault::{KdfParams, Keystore, PrivateKeySigner};
use assert_cmd::Command;
use serde_json::Value;

const MASTER: &str = "q7Vd0mJ3xR9sL2kP8wZ4tY6uB1nC5eA0fG3hI7jK9lM=";

fn argus(data: &Path, hsm: &SoftHsm) -> Command {
    let mut cmd = Command::cargo_bin("argus").unwrap();
    cmd.arg("--data-dir")
        .arg(data)
        .env_remove("ARGUS_DATA_DIR")
        .env_remove("ARGUS_KEYSTORE_PASSWORD")
        .env_remove("ARGUS_TEST_CRASH_AT")
        .env("ARGUS_MASTER_KEY", MASTER)
        .envs(hsm.envs());
    cmd
}

fn ok(cmd: &mut Command) -> std::process::Output {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{:?} failed: {}",
        cmd,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn json(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap()
}

fn audit(data: &Path, hsm: &SoftHsm, action: &str) -> Vec<Value> {
    let out = ok(argus(data, hsm).args(["audit", "query", "--action", action, "--json"]));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .flat_map(|l| match serde_json::from_str::<Value>(l).unwrap() {
            Value::Array(items) => items,
            one => vec![one],
        })
        .collect()
}

#[test]
fn a_key_created_in_the_token_is_listed_signs_and_is_refused_like_a_file_key() {
    let Some(hsm) = SoftHsm::start("argus-cli-create") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let created = json(&ok(argus(data, &hsm).args([
        "keys", "create", "--label", "guardian", "--hsm", &hsm.token, "--json",
    ])));
    let address = created["address"].as_str().unwrap().to_owned();
    assert_eq!(created["location"]["kind"], "hsm");
    assert_eq!(created["location"]["token"], hsm.token.as_str());
    assert_eq!(created["location"]["pin"]["env"], "ARGUS_HSM_PIN");
    ok(argus(data, &hsm).args(["keys", "create", "--label", "hot"]));

    // `keys list` says where each key lives.
    let list = ok(argus(data, &hsm).args(["keys", "list"]));
    let text = String::from_utf8_lossy(&list.stdout);
    let line = |label: &str| {
        text.lines()
            .find(|l| l.starts_with(label))
            .unwrap_or_else(|| panic!("{label} not listed: {text}"))
            .to_owned()
    };
    assert!(
        line("guardian").contains(&format!("hsm:{}", hsm.token)),
        "{text}"
    );
    assert!(line("hot").contains("file"), "{text}");
    let vault_json = std::fs::read_to_string(data.join("keystore/gen-000001/vault.json")).unwrap();
    assert!(!vault_json.contains(&hsm.pin), "the PIN is never stored");

    // A message signed in the token verifies with cast for the address.
    let signed = json(&ok(argus(data, &hsm).args([
        "keys",
        "sign",
        "guardian",
        "--message",
        "pause 0xabc",
        "--reason",
        "INC-7",
        "--json",
    ])));
    let signature = signed["signature"].as_str().unwrap();
    let verify = std::process::Command::new(cast::path())
        .args([
            "wallet",
            "verify",
            "--address",
            &address,
            "pause 0xabc",
            signature,
        ])
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "cast wallet verify refused: {}{}",
        String::from_utf8_lossy(&verify.stdout),
        String::from_utf8_lossy(&verify.stderr)
    );

    // The policy refuses an HSM key's use as a file key's, and the refusal
    // is audited.
    let refused = argus(data, &hsm)
        .args([
            "keys",
            "sign",
            "guardian",
            "--action",
            "sign-any",
            "--message",
            "transfer",
        ])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("policy"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    let refusals = audit(data, &hsm, "key.use-refused");
    assert!(
        refusals
            .iter()
            .any(|e| e.to_string().contains("guardian") && e.to_string().contains("sign-any")),
        "{refusals:?}"
    );
    let uses = audit(data, &hsm, "key.use");
    assert!(
        uses.iter().any(|e| {
            let text = e.to_string();
            text.contains("guardian") && text.contains("\"hsm\"") && text.contains("INC-7")
        }),
        "{uses:?}"
    );

    // Without the PIN the key does not open, and the error says which
    // variable to set.
    let no_pin = argus(data, &hsm)
        .env_remove("ARGUS_HSM_PIN")
        .args(["keys", "sign", "guardian", "--message", "m"])
        .output()
        .unwrap();
    assert!(!no_pin.status.success());
    assert!(String::from_utf8_lossy(&no_pin.stderr).contains("ARGUS_HSM_PIN"));

    // `keys verify` opens the token key and checks it is not extractable;
    // the audit log verifies.
    ok(argus(data, &hsm).args(["keys", "verify"]));
    ok(argus(data, &hsm).args(["audit", "verify"]));
}

#[test]
fn import_to_the_token_keeps_the_address_and_removes_the_file_only_when_asked() {
    let Some(hsm) = SoftHsm::start("argus-cli-import") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let write = |name: &str, signer: &PrivateKeySigner| {
        let path = dir.path().join(name);
        let keystore = Keystore::encrypt(signer, b"pw", KdfParams::LIGHT).unwrap();
        std::fs::write(&path, keystore.to_json()).unwrap();
        path
    };
    let kept = PrivateKeySigner::random();
    let kept_file = write("kept.json", &kept);
    let out = json(&ok(argus(&data, &hsm)
        .env("ARGUS_KEYSTORE_PASSWORD", "pw")
        .args(["keys", "import"])
        .arg(&kept_file)
        .args(["--label", "kept", "--to-hsm", &hsm.token, "--json"])));
    assert_eq!(
        out["address"].as_str().unwrap().to_lowercase(),
        format!("{:#x}", kept.address())
    );
    assert_eq!(out["location"]["kind"], "hsm");
    assert!(kept_file.exists(), "the file is kept unless --remove-file");

    let moved = PrivateKeySigner::random();
    let moved_file = write("moved.json", &moved);
    ok(argus(&data, &hsm)
        .env("ARGUS_KEYSTORE_PASSWORD", "pw")
        .args(["keys", "import"])
        .arg(&moved_file)
        .args(["--label", "moved", "--to-hsm", &hsm.token, "--remove-file"]));
    assert!(!moved_file.exists(), "--remove-file shreds the keystore");
    let public = json(&ok(argus(&data, &hsm).args([
        "keys",
        "export-public",
        "moved",
        "--json",
    ])));
    assert_eq!(
        public["address"].as_str().unwrap().to_lowercase(),
        format!("{:#x}", moved.address())
    );
    assert!(
        audit(&data, &hsm, "key.import-file-removed")
            .iter()
            .any(|e| e.to_string().contains("moved.json"))
    );
    // --remove-file without --to-hsm is refused by the parser.
    let refused = argus(&data, &hsm)
        .env("ARGUS_KEYSTORE_PASSWORD", "pw")
        .args(["keys", "import"])
        .arg(&kept_file)
        .args(["--label", "x", "--remove-file"])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(kept_file.exists());
}

#[test]
fn rotating_a_token_key_disables_the_old_one_or_destroys_it_on_request() {
    let Some(hsm) = SoftHsm::start("argus-cli-rotate") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let first = json(&ok(argus(data, &hsm).args([
        "keys", "create", "--label", "guardian", "--hsm", &hsm.token, "--json",
    ])));
    let rotated = json(&ok(
        argus(data, &hsm).args(["keys", "rotate", "guardian", "--json"])
    ));
    assert_eq!(rotated["retired"]["address"], first["address"]);
    assert_eq!(rotated["location"]["kind"], "hsm");
    assert_eq!(rotated["retired"]["destroyed"], false);
    let list = json(&ok(argus(data, &hsm).args(["keys", "list", "--json"])));
    let labels: Vec<&str> = list["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["label"].as_str().unwrap())
        .collect();
    assert_eq!(labels, ["guardian.retired-1", "guardian"]);
    let old = argus(data, &hsm)
        .args(["keys", "sign", "guardian.retired-1", "--message", "m"])
        .output()
        .unwrap();
    assert!(!old.status.success(), "a retired key does not sign");

    let again = json(&ok(argus(data, &hsm).args([
        "keys",
        "rotate",
        "guardian",
        "--destroy-old",
        "--json",
    ])));
    assert_eq!(again["retired"]["destroyed"], true);
    let list = json(&ok(argus(data, &hsm).args(["keys", "list", "--json"])));
    let labels: Vec<&str> = list["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["label"].as_str().unwrap())
        .collect();
    assert_eq!(
        labels,
        ["guardian.retired-1", "guardian"],
        "the destroyed key is gone"
    );
    assert_eq!(list["keys"][1]["address"], again["address"]);
    let rotations = audit(data, &hsm, "key.rotate");
    assert_eq!(rotations.len(), 2, "{rotations:?}");
}

#[test]
fn the_pin_can_be_a_sealed_vault_secret_instead_of_an_environment_variable() {
    let Some(hsm) = SoftHsm::start("argus-cli-sealed-pin") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    ok(argus(data, &hsm)
        .env("ARGUS_SECRET_VALUE", &hsm.pin)
        .args(["keys", "secret", "set", "hsm-pin"]));
    let created = json(&ok(argus(data, &hsm).env_remove("ARGUS_HSM_PIN").args([
        "keys",
        "create",
        "--label",
        "guardian",
        "--hsm",
        &hsm.token,
        "--hsm-pin-secret",
        "hsm-pin",
        "--json",
    ])));
    assert_eq!(created["location"]["pin"]["secret"], "hsm-pin");
    let signed = json(&ok(argus(data, &hsm).env_remove("ARGUS_HSM_PIN").args([
        "keys",
        "sign",
        "guardian",
        "--message",
        "m",
        "--json",
    ])));
    assert_eq!(signed["address"], created["address"]);
    // A wrong sealed PIN is the token's refusal, named, and never quoted.
    ok(argus(data, &hsm)
        .env("ARGUS_SECRET_VALUE", "99999999")
        .args(["keys", "secret", "set", "hsm-pin"]));
    let refused = argus(data, &hsm)
        .env_remove("ARGUS_HSM_PIN")
        .args(["keys", "sign", "guardian", "--message", "m"])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("C_Login"), "{stderr}");
    assert!(
        !stderr.contains("99999999") && !stderr.contains(&hsm.pin),
        "{stderr}"
    );
}
