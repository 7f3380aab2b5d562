//! The one error type of the vault.
//!
//! No variant carries a secret: not a password, not a master key, not a
//! private key, not a derived key. Fields hold paths, labels, addresses and
//! the names of the parameters that were wrong.

use std::path::PathBuf;

use alloy_primitives::Address;

/// Everything that can go wrong reading, writing or using keys.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// The keystore JSON is malformed or uses something we do not support.
    #[error("not a usable Web3 Secret Storage v3 keystore: {reason}")]
    InvalidKeystore {
        /// What was wrong, in words (never secret material).
        reason: String,
    },
    /// KDF parameters outside the bounds we accept (a denial-of-service guard).
    #[error(
        "keystore KDF parameters refused: {reason}; re-encrypt the key with standard parameters \
         (scrypt n ≤ 2^20, r·p ≤ 256; pbkdf2 c ≤ 10,000,000)"
    )]
    KdfParamsRefused {
        /// Which bound was exceeded.
        reason: String,
    },
    /// The MAC did not match: wrong password or a corrupted file.
    #[error("wrong password for this keystore, or the file is corrupted (the MAC does not match)")]
    WrongPassword,
    /// The decrypted key is not a valid secp256k1 private key.
    #[error("the keystore decrypts to an invalid secp256k1 private key")]
    InvalidPrivateKey,
    /// The file declares one address and the key derives another.
    #[error(
        "the keystore declares address {declared} but its key belongs to {derived}; the file was \
         edited or assembled from two keys — refusing it"
    )]
    AddressMismatch {
        /// The `address` field of the file.
        declared: Address,
        /// The address derived from the decrypted key.
        derived: Address,
    },
    /// The master key does not meet the strength rules.
    #[error(
        "the master key is too weak: {reason}; generate one with `openssl rand -base64 32` and \
         put it in ARGUS_MASTER_KEY or a 0600 file"
    )]
    WeakMasterKey {
        /// Why (never the key itself).
        reason: String,
    },
    /// The master key does not open this vault.
    #[error(
        "the master key does not open the vault in {dir}; check ARGUS_MASTER_KEY (if `argus keys \
         rotate-master` ran, even interrupted after it switched generations, the vault opens with \
         the new master key)"
    )]
    WrongMasterKey {
        /// The keystore directory.
        dir: PathBuf,
    },
    /// A label is not acceptable.
    #[error(
        "invalid label {label:?}: use 1 to 64 characters among letters, digits, '.', '_' and '-'"
    )]
    InvalidLabel {
        /// The label given.
        label: String,
    },
    /// A label is already used.
    #[error("a key labelled {label:?} already exists; pick another label or remove that key first")]
    DuplicateLabel {
        /// The label given.
        label: String,
    },
    /// The same address is already stored.
    #[error("the key for {address} is already in the vault as {label:?}")]
    DuplicateAddress {
        /// The address.
        address: Address,
        /// The label it is stored under.
        label: String,
    },
    /// No key has this label.
    #[error("no key labelled {label:?}; `argus keys list` shows the labels")]
    UnknownLabel {
        /// The label asked for.
        label: String,
    },
    /// The access policy refuses the use.
    #[error("the policy of key {label:?} refuses this use: {reason}")]
    PolicyDenied {
        /// The key's label.
        label: String,
        /// Which rule refused.
        reason: String,
    },
    /// A policy cannot be applied (unknown time zone, bad hours …).
    #[error("the policy for key {label:?} is invalid: {reason}")]
    InvalidPolicy {
        /// The key's label.
        label: String,
        /// What is wrong.
        reason: String,
    },
    /// Another process has the vault open.
    #[error("another argus process is using the vault in {dir}; try again when it has finished", dir = dir.display())]
    Busy {
        /// The keystore directory.
        dir: PathBuf,
    },
    /// The vault's own files are damaged.
    #[error("the vault in {dir} is damaged: {reason}")]
    Corrupted {
        /// The keystore directory.
        dir: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// One key's keystore file could not be used (unreadable, not a
    /// keystore, or it does not decrypt under the vault's password).
    #[error(
        "key `{label}` ({file} in {dir}): {cause}; restore the file from a backup, or remove \
         the key with `argus keys remove {label}`",
        dir = dir.display()
    )]
    KeyFile {
        label: String,
        file: String,
        dir: PathBuf,
        cause: Box<VaultError>,
    },
    /// A file's permissions are too open.
    #[error("{path} is readable by others (mode {mode:o}); run `chmod 600 {path}`", path = path.display())]
    InsecurePermissions {
        /// The file.
        path: PathBuf,
        /// Its mode bits.
        mode: u32,
    },
    /// Argon2 refused its parameters or failed (never the key's fault).
    #[error("cannot derive keys from the master key: {reason}; the vault metadata may be damaged")]
    KeyDerivation {
        /// What Argon2 said.
        reason: String,
    },
    /// A sealed secret cannot be opened or made.
    #[error("the sealed secret {name:?} cannot be used: {reason}")]
    SealedSecret {
        /// The secret's name.
        name: String,
        /// What went wrong.
        reason: String,
    },
    /// No sealed secret has this name.
    #[error("no secret named {name:?} in the vault; `argus keys secret list` shows the names")]
    UnknownSecret {
        /// The name asked for.
        name: String,
    },
    /// The system's random number generator failed.
    #[error("the operating system's random number generator failed: {reason}")]
    Random {
        /// The OS error.
        reason: String,
    },
    /// A PKCS#11 module or token refused or failed (no PIN in any field).
    #[error("PKCS#11 token {token:?} ({module}): {reason}", module = module.display())]
    Hsm {
        /// The module's path.
        module: PathBuf,
        /// The token's label.
        token: String,
        /// What was being done, and what the module answered.
        reason: String,
    },
    /// A file the user named is missing, not a regular file, or too large.
    #[error("{source}")]
    Read {
        #[from]
        source: argus_core::file::ReadFileError,
    },
    /// A file operation failed.
    #[error("{action} {path}: {source}", path = path.display())]
    Io {
        /// What we were doing ("cannot write", "cannot read" …).
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

impl VaultError {
    pub(crate) fn invalid(reason: impl Into<String>) -> Self {
        Self::InvalidKeystore {
            reason: reason.into(),
        }
    }

    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io {
            action,
            path,
            source,
        }
    }
}

/// Result with [`VaultError`].
pub type Result<T, E = VaultError> = std::result::Result<T, E>;
