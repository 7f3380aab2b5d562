//! The Web3 Secret Storage Definition's own test vectors, and hostile input.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use alloy_primitives::{address, hex};
use argus_vault::{KdfParams, Keystore, VaultError};
use proptest::prelude::*;

const SECRET: &str = "7a28b5ba57c53603b0b07b56bba752f7784bf506fa95edc395f5cf6c7514fe9d";

fn vector(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(name);
    std::fs::read(path).unwrap()
}

fn check_vector(name: &str) {
    let keystore = Keystore::parse(&vector(name)).unwrap();
    let signer = keystore.decrypt(b"testpassword").unwrap();
    assert_eq!(hex::encode(signer.to_bytes()), SECRET, "{name}");
    assert_eq!(
        signer.address(),
        address!("008aeeda4d805471df9b2a5b0f38a0c3bcba786b")
    );
    assert!(matches!(
        keystore.decrypt(b"testpasswore"),
        Err(VaultError::WrongPassword)
    ));
}

#[test]
fn spec_vector_pbkdf2() {
    check_vector("pbkdf2-spec.json");
}

/// The ethereum.org scrypt vector (n=2^18, r=8, p=1) is internally
/// inconsistent: its listed derived key (7446f59e…) is not what scrypt gives
/// for its salt and parameters (b4130dc8…, confirmed with OpenSSL through
/// Python's `hashlib.scrypt`), so its MAC cannot match. We must refuse it as
/// every correct implementation does; the key itself is proven by the
/// pbkdf2 and the r=1, p=8 scrypt vectors.
#[test]
fn spec_vector_scrypt_r8_p1_is_refused_as_published() {
    let keystore = Keystore::parse(&vector("scrypt-spec.json")).unwrap();
    assert_eq!(keystore.kdf(), KdfParams::STANDARD);
    assert!(matches!(
        keystore.decrypt(b"testpassword"),
        Err(VaultError::WrongPassword)
    ));
}

#[test]
fn spec_vector_scrypt_r1_p8() {
    let keystore = Keystore::parse(&vector("scrypt-r1-p8.json")).unwrap();
    assert_eq!(
        keystore.kdf(),
        KdfParams::Scrypt {
            log_n: 18,
            r: 1,
            p: 8
        }
    );
    check_vector("scrypt-r1-p8.json");
}

#[test]
fn declared_address_must_match_the_key() {
    let mut doc: serde_json::Value = serde_json::from_slice(&vector("pbkdf2-spec.json")).unwrap();
    doc["address"] = "0x0000000000000000000000000000000000000001".into();
    let keystore = Keystore::parse(doc.to_string().as_bytes()).unwrap();
    let err = keystore.decrypt(b"testpassword").unwrap_err();
    assert!(matches!(err, VaultError::AddressMismatch { .. }), "{err}");
    doc["address"] = "008aeeda4d805471df9b2a5b0f38a0c3bcba786b".into();
    let keystore = Keystore::parse(doc.to_string().as_bytes()).unwrap();
    keystore.decrypt(b"testpassword").unwrap();
}

#[test]
fn malformed_fields_are_named() {
    let base: serde_json::Value = serde_json::from_slice(&vector("pbkdf2-spec.json")).unwrap();
    type Edit = fn(&mut serde_json::Value);
    let cases: &[(&str, Edit)] = &[
        ("version", |d| d["version"] = 2.into()),
        ("iv", |d| d["crypto"]["cipherparams"]["iv"] = "6087".into()),
        ("ciphertext", |d| d["crypto"]["ciphertext"] = "zz".into()),
        ("mac", |d| d["crypto"]["mac"] = serde_json::Value::Null),
        ("cipher", |d| d["crypto"]["cipher"] = "aes-128-cbc".into()),
        ("prf", |d| {
            d["crypto"]["kdfparams"]["prf"] = "hmac-sha512".into()
        }),
        ("dklen", |d| d["crypto"]["kdfparams"]["dklen"] = 16.into()),
        ("c=", |d| {
            d["crypto"]["kdfparams"]["c"] = 100_000_000u64.into()
        }),
        ("kdf", |d| d["crypto"]["kdf"] = "argon2".into()),
        ("crypto", |d| d["crypto"] = 5.into()),
    ];
    for (needle, edit) in cases {
        let mut doc = base.clone();
        edit(&mut doc);
        let err = Keystore::parse(doc.to_string().as_bytes())
            .unwrap_err()
            .to_string();
        assert!(err.contains(needle), "{needle}: {err}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = Keystore::parse(&bytes);
    }

    #[test]
    fn parse_never_panics_on_mutated_vectors(pos in 0usize..700, byte in any::<u8>()) {
        let mut bytes = vector("scrypt-spec.json");
        let at = pos % bytes.len();
        bytes[at] = byte;
        // Parsing only: decryption of a valid mutation would be slow.
        let _ = Keystore::parse(&bytes);
    }
}
