//! Vault keys held in a real PKCS#11 token (Debian's SoftHSM): generated
//! and imported non-extractable, signing messages that `cast wallet verify`
//! accepts and transactions that anvil mines from the key's address, under
//! the same policy as file keys.
//!
//! Each test runs in a child of this binary whose environment points
//! SoftHSM at a token of its own (`SoftHsm::in_child`). A missing SoftHSM
//! fails them, unless `ARGUS_TEST_ALLOW_NO_SOFTHSM=1`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use alloy_consensus::{SignableTransaction as _, TxEip1559};
use alloy_eips::eip2718::Encodable2718 as _;
use alloy_primitives::{Address, TxKind, U256, hex};
use alloy_signer::SignerSync as _;
use argus_testkit::{Anvil, SoftHsm, cast, hex_u64};
use argus_vault::{
    AccessPolicy, Action, ArgonCost, HsmToken, KdfParams, Keystore, MasterKey, PinSource,
    PrivateKeySigner, Vault, VaultError, VaultSigner,
};
use serde_json::json;

const CHEAP: ArgonCost = ArgonCost {
    m_cost: 1024,
    t_cost: 1,
    p_cost: 1,
};
const MASTER: &str = "q7Vd0mJ3xR9sL2kP8wZ4tY6uB1nC5eA0fG3hI7jK9lM=";

fn vault(dir: &std::path::Path) -> Vault {
    Vault::init(
        &dir.join("keystore"),
        &MasterKey::new(MASTER.to_owned()).unwrap(),
        CHEAP,
    )
    .unwrap()
}

fn token(hsm: &SoftHsm) -> HsmToken {
    HsmToken {
        module: hsm.module.clone(),
        token: hsm.token.clone(),
        pin: PinSource::Env("ARGUS_HSM_PIN".to_owned()),
    }
}

fn sign_any() -> AccessPolicy {
    AccessPolicy {
        actions: vec![Action::SignAny],
        window: None,
        rotate_every_secs: None,
    }
}

fn cast_verifies(address: Address, message: &str, signature: &[u8]) -> bool {
    let out = Command::new(cast::path())
        .args(["wallet", "verify", "--address"])
        .arg(address.to_string())
        .arg(message)
        .arg(hex::encode_prefixed(signature))
        .output()
        .unwrap();
    out.status.success()
}

#[test]
fn a_key_generated_in_the_token_signs_what_cast_and_anvil_accept() {
    let Some(hsm) = SoftHsm::in_child(
        "a_key_generated_in_the_token_signs_what_cast_and_anvil_accept",
        "argus-generate",
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut vault = vault(dir.path());
    let entry = vault
        .create_in_hsm("guardian", sign_any(), &token(&hsm))
        .unwrap()
        .clone();
    assert_eq!(entry.location(), "hsm");
    assert!(entry.file.is_empty(), "no keystore file for an HSM key");
    let signer = vault.signer("guardian", Action::SignAny).unwrap();
    assert!(matches!(signer, VaultSigner::Hsm(_)), "{signer:?}");
    assert_eq!(signer.address(), entry.address);

    // The token will not give the key out.
    let VaultSigner::Hsm(hsm_signer) = &signer else {
        unreachable!()
    };
    let protection = hsm_signer.protection().unwrap();
    assert!(
        !protection.value_readable,
        "C_GetAttributeValue(CKA_VALUE) answered the key"
    );
    assert!(
        protection.sensitive && !protection.extractable,
        "{protection:?}"
    );
    assert!(
        protection.never_extractable,
        "generated in the token: {protection:?}"
    );
    assert!(protection.can_sign);

    // A message: cast verifies it for the key's address; a signature
    // over another message does not verify.
    let signature = signer.sign_message_sync(b"pause the vault").unwrap();
    assert!(
        signature.s()
            <= U256::from_be_slice(
                &hex::decode("7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0")
                    .unwrap()
            ),
        "low s (EIP-2)"
    );
    assert!(cast_verifies(
        entry.address,
        "pause the vault",
        &signature.as_bytes()
    ));
    assert!(!cast_verifies(
        entry.address,
        "drain the vault",
        &signature.as_bytes()
    ));

    // A transaction: anvil accepts it and it comes from the key's address.
    let anvil = Anvil::start();
    anvil.rpc(
        "anvil_setBalance",
        json!([format!("{:#x}", entry.address), "0x8ac7230489e80000"]),
    );
    let to = PrivateKeySigner::random().address();
    let chain_id = hex_u64(&anvil.rpc("eth_chainId", json!([])));
    let tx = TxEip1559 {
        chain_id,
        nonce: 0,
        gas_limit: 21_000,
        max_fee_per_gas: 100_000_000_000,
        max_priority_fee_per_gas: 1_000_000_000,
        to: TxKind::Call(to),
        value: U256::from(12_345u64),
        access_list: Default::default(),
        input: Default::default(),
    };
    let signature = signer.sign_hash_sync(&tx.signature_hash()).unwrap();
    let signed = tx.into_signed(signature);
    let hash = anvil.rpc(
        "eth_sendRawTransaction",
        json!([hex::encode_prefixed(signed.encoded_2718())]),
    );
    let receipt = anvil.receipt(hash.as_str().unwrap());
    assert_eq!(receipt["status"], "0x1", "{receipt}");
    assert_eq!(
        receipt["from"]
            .as_str()
            .unwrap()
            .parse::<Address>()
            .unwrap(),
        entry.address
    );
    assert_eq!(
        anvil.rpc("eth_getBalance", json!([format!("{to:#x}"), "latest"])),
        json!("0x3039")
    );

    // The vault verifies (the key opens and is protected), and a second
    // open of the vault finds the key in the token again.
    assert_eq!(vault.verify().unwrap(), 1);
    drop(vault);
    let vault = Vault::open(
        &dir.path().join("keystore"),
        &MasterKey::new(MASTER.to_owned()).unwrap(),
    )
    .unwrap();
    assert_eq!(
        vault.public_key("guardian").unwrap().len(),
        65,
        "the uncompressed public key from CKA_EC_POINT"
    );
}

#[test]
fn an_imported_key_keeps_its_address_and_cannot_leave_the_token() {
    let Some(hsm) = SoftHsm::in_child(
        "an_imported_key_keeps_its_address_and_cannot_leave_the_token",
        "argus-import",
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut vault = vault(dir.path());
    let outside = PrivateKeySigner::random();
    let keystore = Keystore::encrypt(&outside, b"pw", KdfParams::LIGHT).unwrap();
    let err = vault
        .import_to_hsm(&keystore, b"wrong", "bot", sign_any(), &token(&hsm))
        .unwrap_err();
    assert!(matches!(err, VaultError::WrongPassword), "{err}");
    let entry = vault
        .import_to_hsm(&keystore, b"pw", "bot", sign_any(), &token(&hsm))
        .unwrap()
        .clone();
    assert_eq!(entry.address, outside.address(), "the address is preserved");
    let files: Vec<_> = std::fs::read_dir(dir.path().join("keystore/gen-000001"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(
        files,
        ["vault.json"],
        "nothing of the key is written to the vault's directory"
    );

    let signer = vault.signer("bot", Action::SignAny).unwrap();
    let VaultSigner::Hsm(in_token) = &signer else {
        panic!("not in the token: {signer:?}")
    };
    let protection = in_token.protection().unwrap();
    assert!(!protection.value_readable && protection.sensitive && !protection.extractable);
    assert!(
        !protection.never_extractable,
        "it existed outside the token once"
    );
    let hash = alloy_primitives::keccak256(b"x");
    let signature = signer.sign_hash_sync(&hash).unwrap();
    assert_eq!(
        signature.recover_address_from_prehash(&hash).unwrap(),
        outside.address()
    );
    // The same key again, in the vault or the token, is refused.
    let again = vault
        .import_to_hsm(&keystore, b"pw", "bot2", sign_any(), &token(&hsm))
        .unwrap_err();
    assert!(
        matches!(again, VaultError::DuplicateAddress { .. }),
        "{again}"
    );
}

#[test]
fn the_policy_and_rotation_apply_to_token_keys_as_to_file_keys() {
    let Some(hsm) = SoftHsm::in_child(
        "the_policy_and_rotation_apply_to_token_keys_as_to_file_keys",
        "argus-policy",
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut vault = vault(dir.path());
    let old = vault
        .create_in_hsm("guardian", AccessPolicy::default(), &token(&hsm))
        .unwrap()
        .clone();
    let refused = vault.signer("guardian", Action::SignAny).unwrap_err();
    assert!(
        matches!(&refused, VaultError::PolicyDenied { label, .. } if label == "guardian"),
        "{refused}"
    );
    vault.signer("guardian", Action::SignContainment).unwrap();

    let (retired, new) = vault.rotate_key("guardian").unwrap();
    assert_eq!(retired.address, old.address);
    assert_ne!(new.address, old.address);
    assert_eq!(
        new.location(),
        "hsm",
        "the new key goes into the same token"
    );
    assert_eq!(new.policy, old.policy);
    let refused = vault
        .signer(&retired.label, Action::SignContainment)
        .unwrap_err();
    assert!(
        matches!(refused, VaultError::PolicyDenied { .. }),
        "{refused}"
    );
    let disabled = vault.hsm_protection(&retired.label).unwrap().unwrap();
    assert!(
        !disabled.can_sign,
        "the token itself refuses the old key: {disabled:?}"
    );
    assert_eq!(
        vault
            .signer("guardian", Action::SignContainment)
            .unwrap()
            .address(),
        new.address
    );

    // Removing the retired key destroys it in the token.
    vault.remove(&retired.label).unwrap();
    assert!(matches!(
        vault.hsm_protection(&retired.label),
        Err(VaultError::UnknownLabel { .. })
    ));

    // Without the PIN, the key does not open; the error names the variable
    // and never a PIN.
    let mut wrong = token(&hsm);
    wrong.pin = PinSource::Env("ARGUS_TEST_NO_SUCH_PIN".to_owned());
    let err = vault
        .create_in_hsm("other", AccessPolicy::default(), &wrong)
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("ARGUS_TEST_NO_SUCH_PIN"), "{text}");
    assert!(!text.contains(&hsm.pin), "{text}");
}
