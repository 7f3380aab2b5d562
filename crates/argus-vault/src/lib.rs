//! `argus-vault`: the keys Argus signs with.
//!
//! - [`Keystore`]: Web3 Secret Storage v3 files, read and written exactly as
//!   geth and Foundry's `cast wallet` do (scrypt or PBKDF2, AES-128-CTR,
//!   keccak MAC), with bounded KDF costs and an address check on read.
//! - [`MasterKey`]: the operator's master secret, refused when weak.
//! - [`Vault`]: a directory of keystores, each re-encrypted under a password
//!   derived from the master key, with labels and an [`AccessPolicy`] per
//!   key; [`Vault::rotate_master`] re-encrypts everything under a new master
//!   key without ever leaving a state that neither key opens.
//! - [`hsm`]: keys held in a PKCS#11 token instead of a file, generated or
//!   imported non-extractable, signing through the token.
//! - [`VaultSigner`]: what a key becomes to sign, file or token alike, as
//!   alloy's `Signer`/`SignerSync`.
//!
//! No secret appears in any `Debug`, `Display` or error of this crate.

mod durable;
mod error;
pub mod hsm;
mod keystore;
mod master;
mod policy;
mod sealed;
mod signer;
mod vault;

pub use durable::{check_private_file, read_private_file, shred};
pub use error::{Result, VaultError};
pub use hsm::{HsmKey, HsmSigner, HsmToken, KeyProtection, PinSource};
pub use keystore::{
    KdfParams, Keystore, MAX_PBKDF2_ROUNDS, MAX_SCRYPT_LOG_N, MAX_SCRYPT_MEMORY,
    MAX_SCRYPT_R_TIMES_P,
};
pub use master::{
    ArgonCost, MIN_MASTER_KEY_BITS, MIN_MASTER_KEY_CHARS, MasterKey, MasterKeyStrength,
    check_master_key,
};
pub use policy::{
    AccessPolicy, Action, DEFAULT_ROTATE_EVERY_SECS, OutsideWindow, Permit, TimeWindow,
};
pub use sealed::{seal, unseal};
pub use signer::VaultSigner;
pub use vault::{KeyEntry, Vault, snapshot};

/// Re-exported so callers name the signer type without another dependency.
pub use alloy_signer_local::PrivateKeySigner;
