//! The checkpoint signing key.
//!
//! An ed25519 key. Argus keeps it sealed in the vault under the master key
//! (`argus-cli` hands its 32 bytes over with [`CheckpointKey::from_bytes`]
//! and seals new ones from [`CheckpointKey::secret_bytes`]); its public half
//! goes to `<data_dir>/audit/checkpoint.pub` so a verifier needs no secret.
//!
//! [`CheckpointKey::load_or_create`] keeps the key in a 0600 file beside the
//! log instead: for tools and tests without a vault, and for logs made before
//! the vault held the key (the CLI moves such a file into the vault and
//! shreds it on first use).

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::Path;

use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};

use crate::AuditError;

/// Signs checkpoints.
#[derive(Debug)]
pub struct CheckpointKey {
    signing: SigningKey,
}

impl CheckpointKey {
    /// A key from its 32 secret bytes (how the vault will hand it over).
    pub fn from_bytes(secret: &[u8; 32]) -> Self {
        Self {
            signing: SigningKey::from_bytes(secret),
        }
    }

    /// A new random key.
    pub fn generate() -> Result<Self, AuditError> {
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret).map_err(|e| AuditError::Random {
            reason: e.to_string(),
        })?;
        let key = Self::from_bytes(&secret);
        secret.fill(0);
        Ok(key)
    }

    /// Loads the key at `path`, or makes one there (0600) and writes its
    /// public half to `public_path`.
    pub fn load_or_create(path: &Path, public_path: &Path) -> Result<Self, AuditError> {
        if path.exists() {
            return Self::load(path);
        }
        let key = Self::generate()?;
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(AuditError::io("create", path))?;
        let mut text = hex::encode(key.signing.to_bytes());
        text.push('\n');
        file.write_all(text.as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(AuditError::io("write", path))?;
        let public = format!("{}\n", hex::encode(key.verifying_key().as_bytes()));
        fs::write(public_path, public).map_err(AuditError::io("write", public_path))?;
        Ok(key)
    }

    /// Loads the key at `path`, refusing it if others may read it.
    pub fn load(path: &Path) -> Result<Self, AuditError> {
        let meta = fs::metadata(path).map_err(AuditError::io("read", path))?;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(AuditError::Key {
                path: path.to_owned(),
                reason: format!(
                    "its permissions are {mode:03o}, others may read it; run `chmod 600 {}`, and \
                     consider the key exposed",
                    path.display()
                ),
            });
        }
        let text = read_key_file(path)?;
        let bytes = hex::decode(text.trim())
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b).ok());
        match bytes {
            Some(mut secret) => {
                let key = Self::from_bytes(&secret);
                secret.fill(0);
                Ok(key)
            }
            None => Err(AuditError::Key {
                path: path.to_owned(),
                reason: "it is not 64 hex digits; restore it from a backup (a new key cannot \
                         re-sign old checkpoints)"
                    .into(),
            }),
        }
    }

    /// The 32 secret bytes, to seal them elsewhere (the vault); wiped on drop.
    pub fn secret_bytes(&self) -> zeroize::Zeroizing<[u8; 32]> {
        zeroize::Zeroizing::new(self.signing.to_bytes())
    }

    /// The public half.
    pub fn verifying_key(&self) -> VerifyingKey {
        self.signing.verifying_key()
    }

    /// A verifier for this key's signatures.
    pub fn verifier(&self) -> CheckpointVerifier {
        CheckpointVerifier {
            key: self.verifying_key(),
        }
    }

    /// Signs a checkpoint hash.
    pub(crate) fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.signing.sign(message).to_bytes()
    }
}

/// Checks checkpoint signatures against one trusted public key.
#[derive(Debug, Clone)]
pub struct CheckpointVerifier {
    key: VerifyingKey,
}

impl CheckpointVerifier {
    /// A verifier from a hex public key (as in `checkpoint.pub`).
    pub fn from_hex(text: &str) -> Result<Self, AuditError> {
        let bytes = hex::decode(text.trim())
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .ok_or_else(|| AuditError::Key {
                path: "<public key>".into(),
                reason: "a public key is 64 hex digits".into(),
            })?;
        let key = VerifyingKey::from_bytes(&bytes).map_err(|e| AuditError::Key {
            path: "<public key>".into(),
            reason: format!("not an ed25519 public key: {e}"),
        })?;
        Ok(Self { key })
    }

    /// Loads the public key file.
    pub fn load(path: &Path) -> Result<Self, AuditError> {
        let text = read_key_file(path)?;
        Self::from_hex(&text).map_err(|_| AuditError::Key {
            path: path.to_owned(),
            reason:
                "it is not a hex ed25519 public key; restore it from checkpoint.key or a backup"
                    .into(),
        })
    }

    /// The public key, hex.
    pub fn to_hex(&self) -> String {
        hex::encode(self.key.as_bytes())
    }

    pub(crate) fn verify(&self, message: &[u8], signature: &[u8; 64]) -> bool {
        let signature = Signature::from_bytes(signature);
        self.key.verify_strict(message, &signature).is_ok()
    }
}

/// A key file, through the one capped reader: a regular file of at most a
/// few hundred bytes (a FIFO or a device is refused, not waited on).
fn read_key_file(path: &Path) -> Result<String, AuditError> {
    use argus_core::file::{MAX_KEY_BYTES, ReadFileError, read_to_string_capped};
    read_to_string_capped(path, MAX_KEY_BYTES, "key file").map_err(|error| match error {
        ReadFileError::Io { source, .. } => AuditError::io("read", path)(source),
        other => AuditError::Key {
            path: path.to_owned(),
            reason: other.reason(),
        },
    })
}
