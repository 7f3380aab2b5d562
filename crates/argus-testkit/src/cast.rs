//! Foundry's `cast`, the reference the tests compare our encodings with.

use std::path::PathBuf;
use std::process::Command;

/// The `cast` to run: `ARGUS_CAST` when set, else the one `npm ci` installs.
///
/// # Panics
/// When neither is there.
pub fn path() -> PathBuf {
    match std::env::var_os("ARGUS_CAST") {
        Some(path) => PathBuf::from(path),
        None => crate::npm_bin("cast"),
    }
}

/// ABI-encodes a call with `cast calldata` (selector and arguments, as
/// `0x…` hex).
///
/// # Panics
/// When `cast` fails (a bad signature or argument), with its output.
pub fn calldata(signature: &str, args: &[&str]) -> String {
    let out = Command::new(path())
        .arg("calldata")
        .arg(signature)
        .args(args)
        .output()
        .unwrap_or_else(|error| panic!("cannot run cast: {error}"));
    assert!(out.status.success(), "cast calldata {signature}: {out:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}
