//! Interoperability with Foundry's real `cast wallet`, both directions.
//!
//! `cast` comes from the npm package the project installs (`npm ci`), or
//! from `ARGUS_CAST`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use alloy_primitives::Address;
use argus_testkit::cast;
use argus_vault::{KdfParams, Keystore, PrivateKeySigner};

fn cast_address(keystore: &std::path::Path, password: &str) -> Address {
    let out = Command::new(cast::path())
        .args(["wallet", "address", "--keystore"])
        .arg(keystore)
        .args(["--password", password])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cast failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn argus_reads_what_cast_wallet_new_writes() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(cast::path())
        .args(["wallet", "new"])
        .arg(dir.path())
        .args(["--unsafe-password", "pw"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let file = std::fs::read_dir(dir.path())
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let keystore = Keystore::parse(&std::fs::read(&file).unwrap()).unwrap();
    let signer = keystore.decrypt(b"pw").unwrap();
    assert_eq!(signer.address(), cast_address(&file, "pw"));
}

#[test]
fn cast_reads_what_argus_writes() {
    let dir = tempfile::tempdir().unwrap();
    let signer = PrivateKeySigner::random();
    for (name, kdf) in [
        ("scrypt.json", KdfParams::LIGHT),
        ("pbkdf2.json", KdfParams::Pbkdf2 { c: 10_000 }),
    ] {
        let path = dir.path().join(name);
        let keystore = Keystore::encrypt(&signer, b"pw", kdf).unwrap();
        std::fs::write(&path, keystore.to_json()).unwrap();
        assert_eq!(cast_address(&path, "pw"), signer.address(), "{name}");
    }
}
