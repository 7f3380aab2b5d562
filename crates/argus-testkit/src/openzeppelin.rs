//! OpenZeppelin's compiled contracts from `testdata/abi/openzeppelin/`,
//! deployed on a test's anvil: real access control and pausing, not a
//! hand-written stand-in.

use std::process::Command;

use alloy_primitives::{Address, keccak256};
use serde_json::Value;

use crate::{Anvil, testdata};

/// `keccak256("PAUSER_ROLE")`, the role `pause()` and `unpause()` require.
pub fn pauser_role() -> String {
    keccak256("PAUSER_ROLE").to_string()
}

/// Deploys OpenZeppelin's `ERC20PresetMinterPauser` (v4.9.6) from
/// [`crate::DEPLOYER`], which holds its admin, minter and pauser roles;
/// the token's address. Its constructor's arguments are encoded by `cast
/// abi-encode`.
///
/// # Panics
/// When the artifact is missing or the deployment fails.
pub fn deploy_pausable_token(anvil: &Anvil, name: &str, symbol: &str) -> Address {
    let path = testdata("abi/openzeppelin/ERC20PresetMinterPauser.json");
    let artifact: Value = std::fs::read(&path)
        .map_err(|e| e.to_string())
        .and_then(|bytes| serde_json::from_slice(&bytes).map_err(|e| e.to_string()))
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let bytecode = artifact["bytecode"]
        .as_str()
        .unwrap_or_else(|| panic!("{} has no bytecode", path.display()));
    let out = Command::new(crate::cast::path())
        .args(["abi-encode", "constructor(string,string)", name, symbol])
        .output()
        .unwrap_or_else(|error| panic!("cannot run cast: {error}"));
    assert!(out.status.success(), "cast abi-encode: {out:?}");
    let args = String::from_utf8_lossy(&out.stdout);
    let args = args.trim().trim_start_matches("0x");
    anvil.deploy(&format!("{bytecode}{args}"))
}
