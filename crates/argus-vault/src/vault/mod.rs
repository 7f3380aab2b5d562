//! The vault: a directory of v3 keystores under one master key.
//!
//! ```text
//! <data_dir>/keystore/            0700
//!   CURRENT                       "gen-000002": the generation in use
//!   LOCK                          held by the process using the vault
//!   gen-000002/                   0700
//!     vault.json                  labels, addresses, policies, Argon2 salt, verifier,
//!                                 other secrets sealed (ChaCha20-Poly1305)
//!     <uuid>.json                 one Web3 Secret Storage v3 file per key
//! ```
//!
//! Each key file is an ordinary v3 keystore encrypted under a password
//! derived from the master key (Argon2id, then HMAC per purpose), so `cast
//! wallet` can read it given that password, and the master key itself is
//! never stored. `vault.json` holds no secret: its `verifier` is an HMAC of
//! the derived root, which tells a wrong master key apart without revealing
//! anything.
//!
//! Rotation writes a whole new generation beside the current one, fsyncs and
//! verifies it, then switches `CURRENT` with one `rename` — the commit point
//! — and only then shreds the old generation. Opening the vault finishes or
//! undoes whatever a crash interrupted: a generation newer than `CURRENT` was
//! never committed and is removed; an older one is removed once the current
//! one has opened. At every instant exactly one generation is named by
//! `CURRENT`, complete and readable with exactly one master key.

use std::fs;
use std::path::{Path, PathBuf};

use alloy_primitives::{Address, hex};
use alloy_signer_local::PrivateKeySigner;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq as _;
use zeroize::Zeroizing;

use crate::durable::{self, crash_point};
use crate::error::{Result, VaultError};
use crate::hsm::{self, HsmKey, HsmSigner};
use crate::keystore::{KdfParams, Keystore, random};
use crate::master::{ArgonCost, MasterKey, RootKey};
use crate::policy::{AccessPolicy, Action, Permit};
use crate::signer::VaultSigner;

mod files;
mod token;

pub use files::snapshot;
use files::{gen_name, generations, lock, read_current, read_metadata};

const FORMAT: u32 = 1;
const CURRENT: &str = "CURRENT";
const METADATA: &str = "vault.json";
/// KDF of the key files inside the vault. Their password is already a
/// 256-bit derived key, so stretching it again adds nothing but time.
const INNER_KDF: KdfParams = KdfParams::Scrypt {
    log_n: 12,
    r: 8,
    p: 1,
};
const PURPOSE_KEYSTORE: &str = "argus-vault/keystore-password/v1";
const PURPOSE_VERIFIER: &str = "argus-vault/verifier/v1";
const PURPOSE_SEALED: &str = "argus-vault/sealed-secrets/v1";

/// One key as listed: no secret in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyEntry {
    /// The operator's name for the key.
    pub label: String,
    /// Its address.
    pub address: Address,
    /// Its keystore file name inside the generation directory.
    pub file: String,
    /// Seconds since the Unix epoch when it entered the vault.
    pub created_at: u64,
    /// What it may be used for.
    pub policy: AccessPolicy,
    /// Seconds since the Unix epoch when [`Vault::rotate_key`] replaced it;
    /// a retired key no longer signs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retired_at: Option<u64>,
    /// Where the key lives when it is held in a PKCS#11 token (then `file`
    /// is empty: there is no keystore file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hsm: Option<HsmKey>,
}

impl KeyEntry {
    /// Where the key lives, in a word: `file` or `hsm`.
    pub fn location(&self) -> &'static str {
        if self.hsm.is_some() { "hsm" } else { "file" }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Metadata {
    format: u32,
    generation: u64,
    argon2: ArgonCost,
    salt: String,
    verifier: String,
    keys: Vec<KeyEntry>,
    /// Other secrets, sealed (name → hex of nonce, ciphertext, tag).
    #[serde(default)]
    secrets: std::collections::BTreeMap<String, String>,
}

/// An open vault. Holds the derived keystore password (zeroized on drop)
/// and an exclusive lock on the directory.
pub struct Vault {
    dir: PathBuf,
    meta: Metadata,
    root: RootKey,
    password: Zeroizing<String>,
    notices: Vec<String>,
    _lock: fs::File,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault")
            .field("dir", &self.dir)
            .field("generation", &self.meta.generation)
            .field("keys", &self.meta.keys)
            .finish_non_exhaustive()
    }
}

impl Vault {
    /// Whether `dir` holds a vault.
    pub fn exists(dir: &Path) -> bool {
        dir.join(CURRENT).is_file()
    }

    /// Opens the vault in `dir`, creating an empty one if there is none.
    pub fn open_or_init(dir: &Path, master: &MasterKey) -> Result<Self> {
        if Self::exists(dir) {
            Self::open(dir, master)
        } else {
            Self::init(dir, master, ArgonCost::DEFAULT)
        }
    }

    /// Creates an empty vault in `dir`.
    pub fn init(dir: &Path, master: &MasterKey, cost: ArgonCost) -> Result<Self> {
        durable::private_dir(dir)?;
        let lock = lock(dir)?;
        if Self::exists(dir) {
            return Err(VaultError::Corrupted {
                dir: dir.to_path_buf(),
                reason: "a vault already exists here".into(),
            });
        }
        // Leftovers of an initialisation that crashed before CURRENT existed.
        for (_, path) in generations(dir)? {
            durable::shred_dir(&path)?;
        }
        let (meta, root) = new_metadata(1, master, cost, Vec::new())?;
        let gen_dir = dir.join(gen_name(1));
        durable::private_dir(&gen_dir)?;
        durable::write_new(&gen_dir.join(METADATA), &to_json(&meta))?;
        durable::sync_dir(&gen_dir)?;
        durable::replace(&dir.join(CURRENT), gen_name(1).as_bytes())?;
        Ok(Self::assemble(dir, meta, root, Vec::new(), lock))
    }

    /// Opens the vault in `dir` with `master`, then completes or undoes
    /// whatever an interrupted rotation or write left behind.
    pub fn open(dir: &Path, master: &MasterKey) -> Result<Self> {
        let lock = lock(dir)?;
        let current = read_current(dir)?;
        let gen_dir = dir.join(gen_name(current));
        let meta = read_metadata(dir, &gen_dir, current)?;
        let root = unlock(dir, &meta, master)?;
        let mut notices = Vec::new();
        let _ = fs::remove_file(dir.join(format!("{CURRENT}.tmp")));
        for (generation, path) in generations(dir)? {
            if generation > current {
                durable::shred_dir(&path)?;
                notices.push(format!(
                    "removed generation {generation}: an interrupted master-key rotation never \
                     switched to it; the vault still uses the master key it opened with"
                ));
            } else if generation < current {
                durable::shred_dir(&path)?;
                notices.push(format!(
                    "shredded generation {generation}: left over by a master-key rotation that \
                     had already switched to generation {current}"
                ));
            }
        }
        let _ = fs::remove_file(gen_dir.join("vault.tmp"));
        for entry in fs::read_dir(&gen_dir).map_err(VaultError::io("cannot read", &gen_dir))? {
            let entry = entry.map_err(VaultError::io("cannot read", &gen_dir))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name != METADATA && !meta.keys.iter().any(|k| k.file == name) {
                durable::shred(&entry.path())?;
                notices.push(format!(
                    "removed {name}: a key file no entry names (an interrupted create or import)"
                ));
            }
        }
        Ok(Self::assemble(dir, meta, root, notices, lock))
    }

    fn assemble(
        dir: &Path,
        meta: Metadata,
        root: RootKey,
        notices: Vec<String>,
        lock: fs::File,
    ) -> Self {
        let password = Zeroizing::new(hex::encode(root.purpose(PURPOSE_KEYSTORE).as_slice()));
        Self {
            dir: dir.to_path_buf(),
            meta,
            root,
            password,
            notices,
            _lock: lock,
        }
    }

    /// The keystore directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The generation in use (1 for a new vault, +1 per rotation).
    pub fn generation(&self) -> u64 {
        self.meta.generation
    }

    /// What opening had to repair, for the operator.
    pub fn notices(&self) -> &[String] {
        &self.notices
    }

    /// Every key, in the order they were added.
    pub fn keys(&self) -> &[KeyEntry] {
        &self.meta.keys
    }

    /// The key labelled `label`.
    pub fn key(&self, label: &str) -> Result<&KeyEntry> {
        self.meta
            .keys
            .iter()
            .find(|k| k.label == label)
            .ok_or_else(|| VaultError::UnknownLabel {
                label: label.to_string(),
            })
    }

    /// A 32-byte key for another purpose (sealing notifier tokens, the audit
    /// checkpoint key …), derived from the master key; it changes with each
    /// master-key rotation.
    pub fn purpose_key(&self, purpose: &str) -> Zeroizing<[u8; 32]> {
        self.root.purpose(&format!("argus/{purpose}"))
    }

    /// Generates a new key under `label`.
    pub fn create(&mut self, label: &str, policy: AccessPolicy) -> Result<&KeyEntry> {
        self.add(PrivateKeySigner::random(), label, policy)
    }

    /// Imports a keystore (any v3 file, e.g. from `cast wallet new`) after
    /// decrypting it with its own password; the key is re-encrypted under
    /// the vault's password.
    pub fn import(
        &mut self,
        keystore: &Keystore,
        password: &[u8],
        label: &str,
        policy: AccessPolicy,
    ) -> Result<&KeyEntry> {
        let signer = keystore.decrypt(password)?;
        self.add(signer, label, policy)
    }

    /// Refuses a label or policy a new key cannot have.
    fn check_new_label(&self, label: &str, policy: &AccessPolicy) -> Result<()> {
        check_label(label)?;
        check_policy(label, policy)?;
        if self.meta.keys.iter().any(|k| k.label == label) {
            return Err(VaultError::DuplicateLabel {
                label: label.to_string(),
            });
        }
        Ok(())
    }

    /// Refuses an address already in the vault.
    fn check_new_address(&self, address: Address) -> Result<()> {
        if let Some(existing) = self.meta.keys.iter().find(|k| k.address == address) {
            return Err(VaultError::DuplicateAddress {
                address,
                label: existing.label.clone(),
            });
        }
        Ok(())
    }

    fn add(
        &mut self,
        signer: PrivateKeySigner,
        label: &str,
        policy: AccessPolicy,
    ) -> Result<&KeyEntry> {
        self.check_new_label(label, &policy)?;
        self.check_new_address(signer.address())?;
        let keystore = Keystore::encrypt(&signer, self.password.as_bytes(), INNER_KDF)?;
        let file = format!("{}.json", keystore.id());
        let gen_dir = self.gen_dir();
        durable::write_new(&gen_dir.join(&file), keystore.to_json().as_bytes())?;
        crash_point("wrote a new key file");
        let mut meta = self.meta.clone();
        meta.keys.push(KeyEntry {
            label: label.to_string(),
            address: signer.address(),
            file,
            created_at: now(),
            policy,
            retired_at: None,
            hsm: None,
        });
        durable::replace(&gen_dir.join(METADATA), &to_json(&meta))?;
        self.meta = meta;
        Ok(&self.meta.keys[self.meta.keys.len() - 1])
    }

    /// Replaces the key labelled `label` with a new random key under the same
    /// label and policy. The old key stays in the vault, retired under
    /// `<label>.retired-<n>`: it no longer signs, but its file and address
    /// stay so that funds and roles can be moved off it; [`Vault::remove`]
    /// shreds it once that is done. One metadata replacement switches both,
    /// so a crash leaves either the old key current or the new one (an
    /// orphan key file at worst).
    pub fn rotate_key(&mut self, label: &str) -> Result<(KeyEntry, KeyEntry)> {
        let old = self.key(label)?.clone();
        if old.retired_at.is_some() {
            return Err(VaultError::PolicyDenied {
                label: label.to_string(),
                reason: "the key is already retired; rotate the current key instead".to_owned(),
            });
        }
        let mut n = 1u32;
        let retired_label = loop {
            let candidate = format!("{label}.retired-{n}");
            if !self.meta.keys.iter().any(|k| k.label == candidate) {
                break candidate;
            }
            n += 1;
        };
        check_label(&retired_label)?;
        let gen_dir = self.gen_dir();
        let (address, file, hsm_key) = match &old.hsm {
            None => {
                let signer = PrivateKeySigner::random();
                let keystore = Keystore::encrypt(&signer, self.password.as_bytes(), INNER_KDF)?;
                let file = format!("{}.json", keystore.id());
                durable::write_new(&gen_dir.join(&file), keystore.to_json().as_bytes())?;
                crash_point("wrote the rotated key's new file");
                (signer.address(), file, None)
            }
            Some(old_key) => {
                // The new key goes into the same token; the old one is
                // disabled there (CKA_SIGN false) once the switch is written.
                let pin = self.pin(&old_key.token)?;
                let (key, address) = hsm::generate(&old_key.token, &pin, label)?;
                (address, String::new(), Some(key))
            }
        };
        let at = now();
        let mut meta = self.meta.clone();
        for entry in meta.keys.iter_mut().filter(|k| k.label == label) {
            entry.label.clone_from(&retired_label);
            entry.retired_at = Some(at);
        }
        let new = KeyEntry {
            label: label.to_string(),
            address,
            file,
            created_at: at,
            policy: old.policy.clone(),
            retired_at: None,
            hsm: hsm_key,
        };
        meta.keys.push(new.clone());
        durable::replace(&gen_dir.join(METADATA), &to_json(&meta))?;
        self.meta = meta;
        if let Some(old_key) = &old.hsm {
            let pin = self.pin(&old_key.token)?;
            HsmSigner::open(old_key, &pin, old.address)?.disable()?;
        }
        let retired = self.key(&retired_label)?.clone();
        Ok((retired, new))
    }

    /// Removes the key labelled `label` and shreds its file.
    /// An HSM key's objects are destroyed in its token (it is opened first,
    /// so a missing PIN or token leaves the vault unchanged).
    pub fn remove(&mut self, label: &str) -> Result<KeyEntry> {
        let entry = self.key(label)?.clone();
        let in_token = match &entry.hsm {
            None => None,
            Some(key) => {
                let pin = self.pin(&key.token)?;
                Some(HsmSigner::open(key, &pin, entry.address)?)
            }
        };
        let mut meta = self.meta.clone();
        meta.keys.retain(|k| k.label != label);
        let gen_dir = self.gen_dir();
        durable::replace(&gen_dir.join(METADATA), &to_json(&meta))?;
        self.meta = meta;
        crash_point("removed a key from the metadata");
        match in_token {
            Some(signer) => signer.destroy()?,
            None => durable::shred(&gen_dir.join(&entry.file))?,
        }
        Ok(entry)
    }

    /// Seals `value` under the master key as secret `name` (replacing any
    /// previous value); rotation re-seals it under the new master key.
    pub fn set_secret(&mut self, name: &str, value: &[u8]) -> Result<()> {
        check_label(name)?;
        let sealed = crate::sealed::seal(&self.root.purpose(PURPOSE_SEALED), name, value)?;
        let mut meta = self.meta.clone();
        meta.secrets.insert(name.to_string(), sealed);
        durable::replace(&self.gen_dir().join(METADATA), &to_json(&meta))?;
        self.meta = meta;
        Ok(())
    }

    /// Opens the sealed secret `name`.
    pub fn secret(&self, name: &str) -> Result<Zeroizing<Vec<u8>>> {
        let sealed = self
            .meta
            .secrets
            .get(name)
            .ok_or_else(|| VaultError::UnknownSecret {
                name: name.to_string(),
            })?;
        crate::sealed::unseal(&self.root.purpose(PURPOSE_SEALED), name, sealed)
    }

    /// The names of the sealed secrets.
    pub fn secret_names(&self) -> Vec<&str> {
        self.meta.secrets.keys().map(String::as_str).collect()
    }

    /// Removes the sealed secret `name`.
    pub fn remove_secret(&mut self, name: &str) -> Result<()> {
        let mut meta = self.meta.clone();
        if meta.secrets.remove(name).is_none() {
            return Err(VaultError::UnknownSecret {
                name: name.to_string(),
            });
        }
        durable::replace(&self.gen_dir().join(METADATA), &to_json(&meta))?;
        self.meta = meta;
        Ok(())
    }

    /// Changes the access policy of a key.
    pub fn set_policy(&mut self, label: &str, policy: AccessPolicy) -> Result<&KeyEntry> {
        self.key(label)?;
        check_policy(label, &policy)?;
        let mut meta = self.meta.clone();
        for key in &mut meta.keys {
            if key.label == label {
                key.policy = policy.clone();
            }
        }
        durable::replace(&self.gen_dir().join(METADATA), &to_json(&meta))?;
        self.meta = meta;
        self.key(label)
    }

    /// The uncompressed SEC1 public key (65 bytes, `04…`) of `label`. Not a
    /// use of the key: no policy check.
    pub fn public_key(&self, label: &str) -> Result<Vec<u8>> {
        Ok(match self.open_signer(self.key(label)?)? {
            VaultSigner::Local(signer) => signer
                .credential()
                .verifying_key()
                .to_encoded_point(false)
                .as_bytes()
                .to_vec(),
            VaultSigner::Hsm(signer) => signer.public_key(),
        })
    }

    /// The signer for `label`, if its policy allows `action` now. A use
    /// outside the time window is refused here even when the policy allows it
    /// with a critical signal: only [`Vault::signer_at`] callers, who get the
    /// [`Permit`] and raise the signal, may make such a use.
    pub fn signer(&self, label: &str, action: Action) -> Result<VaultSigner> {
        match self.signer_at(label, action, jiff::Timestamp::now())? {
            (signer, Permit::Allowed) => Ok(signer),
            // A use outside the window is only allowed together with the
            // critical signal; a caller that cannot raise one must not get
            // the key silently. Such callers use `signer_at`.
            (_, Permit::OutsideWindow) => Err(VaultError::PolicyDenied {
                label: label.to_string(),
                reason: "outside the key's time window; this use needs the critical signal \
                         that only `signer_at` callers raise"
                    .to_owned(),
            }),
        }
    }

    /// The signer for `label` if its policy allows `action` at `at`, with
    /// the verdict ([`Permit::OutsideWindow`] asks for a critical signal).
    pub fn signer_at(
        &self,
        label: &str,
        action: Action,
        at: jiff::Timestamp,
    ) -> Result<(VaultSigner, Permit)> {
        let entry = self.signing_entry(label)?;
        let permit = entry
            .policy
            .check(action, at)
            .map_err(|reason| VaultError::PolicyDenied {
                label: label.to_string(),
                reason,
            })?;
        Ok((self.open_signer(entry)?, permit))
    }

    /// The signer for `label` and its policy, for a process that holds the
    /// key for later uses (the daemon's responders): the action and the
    /// key's retirement are checked now, the time window at each use with
    /// [`AccessPolicy::check`], since the key is unsealed once at start.
    pub fn signer_held(&self, label: &str, action: Action) -> Result<(VaultSigner, AccessPolicy)> {
        let entry = self.signing_entry(label)?;
        let policy = entry.policy.clone();
        if !(policy.actions.contains(&Action::SignAny) || policy.actions.contains(&action)) {
            return Err(VaultError::PolicyDenied {
                label: label.to_string(),
                reason: format!("its policy does not allow {action}"),
            });
        }
        Ok((self.open_signer(entry)?, policy))
    }

    /// The entry of `label`, refused when a rotation retired it.
    fn signing_entry(&self, label: &str) -> Result<&KeyEntry> {
        let entry = self.key(label)?;
        if entry.retired_at.is_some() {
            return Err(VaultError::PolicyDenied {
                label: label.to_string(),
                reason: "the key was retired by a rotation and no longer signs; use the \
                         current key of its label"
                    .to_owned(),
            });
        }
        Ok(entry)
    }

    /// The signer of `entry`: its keystore decrypted, or its token opened
    /// (the public key checked against the recorded address).
    fn open_signer(&self, entry: &KeyEntry) -> Result<VaultSigner> {
        match &entry.hsm {
            None => self.decrypt(entry).map(VaultSigner::Local),
            Some(key) => {
                let pin = self.pin(&key.token)?;
                HsmSigner::open(key, &pin, entry.address).map(VaultSigner::Hsm)
            }
        }
    }

    fn decrypt(&self, entry: &KeyEntry) -> Result<PrivateKeySigner> {
        let dir = self.gen_dir();
        let path = dir.join(&entry.file);
        let signer = fs::read(&path)
            .map_err(VaultError::io("cannot read", &path))
            .and_then(|bytes| Keystore::parse(&bytes)?.decrypt(self.password.as_bytes()))
            .map_err(|cause| VaultError::KeyFile {
                label: entry.label.clone(),
                file: entry.file.clone(),
                dir,
                cause: Box::new(cause),
            })?;
        if signer.address() != entry.address {
            return Err(VaultError::Corrupted {
                dir: self.dir.clone(),
                reason: format!(
                    "{} holds the key of {}, not of {} ({})",
                    entry.file,
                    signer.address(),
                    entry.address,
                    entry.label
                ),
            });
        }
        Ok(signer)
    }

    /// Decrypts every key (opens every HSM key in its token, and refuses
    /// one whose token would give its value out): proof that the vault is
    /// whole under this master key.
    pub fn verify(&self) -> Result<usize> {
        for entry in &self.meta.keys {
            if let VaultSigner::Hsm(signer) = self.open_signer(entry)? {
                let protection = signer.protection()?;
                if !protection.is_protected() {
                    return Err(VaultError::Hsm {
                        module: signer.key().token.module.clone(),
                        token: signer.key().token.token.clone(),
                        reason: format!(
                            "key {} is not protected by its token (sensitive {}, extractable {}, \
                             value readable {}); move its funds to a new key",
                            entry.label,
                            protection.sensitive,
                            protection.extractable,
                            protection.value_readable
                        ),
                    });
                }
            }
        }
        for name in self.meta.secrets.keys() {
            self.secret(name)?;
        }
        Ok(self.meta.keys.len())
    }

    /// Re-encrypts everything under `new_master`; see the module docs for
    /// why a crash at any point leaves a vault that opens with exactly one
    /// of the two keys. Returns the vault opened with the new key.
    pub fn rotate_master(self, new_master: &MasterKey) -> Result<Self> {
        let next = self.meta.generation + 1;
        let next_dir = self.dir.join(gen_name(next));
        if next_dir.exists() {
            durable::shred_dir(&next_dir)?;
        }
        durable::private_dir(&next_dir)?;
        crash_point("created the new generation directory");
        let (mut meta, root) =
            new_metadata(next, new_master, self.meta.argon2, self.meta.keys.clone())?;
        let old_seal = self.root.purpose(PURPOSE_SEALED);
        let new_seal = root.purpose(PURPOSE_SEALED);
        for (name, sealed) in &self.meta.secrets {
            let value = crate::sealed::unseal(&old_seal, name, sealed)?;
            let resealed = crate::sealed::seal(&new_seal, name, &value)?;
            meta.secrets.insert(name.clone(), resealed);
        }
        let password = Zeroizing::new(hex::encode(root.purpose(PURPOSE_KEYSTORE).as_slice()));
        for entry in self.meta.keys.iter().filter(|k| k.hsm.is_none()) {
            let signer = self.decrypt(entry)?;
            let keystore = Keystore::encrypt(&signer, password.as_bytes(), INNER_KDF)?;
            durable::write_new(&next_dir.join(&entry.file), keystore.to_json().as_bytes())?;
            crash_point("wrote a re-encrypted key");
        }
        durable::write_new(&next_dir.join(METADATA), &to_json(&meta))?;
        crash_point("wrote the new metadata");
        durable::sync_dir(&next_dir)?;
        crash_point("synced the new generation");
        // Verify from disk before committing.
        let read_back = read_metadata(&self.dir, &next_dir, next)?;
        unlock(&self.dir, &read_back, new_master)?;
        for entry in read_back.keys.iter().filter(|k| k.hsm.is_none()) {
            let path = next_dir.join(&entry.file);
            let bytes = fs::read(&path).map_err(VaultError::io("cannot read", &path))?;
            let signer = Keystore::parse(&bytes)?.decrypt(password.as_bytes())?;
            if signer.address() != entry.address {
                return Err(VaultError::Corrupted {
                    dir: self.dir.clone(),
                    reason: format!("re-encrypted {} does not read back", entry.label),
                });
            }
        }
        crash_point("verified the new generation");
        let tmp = self.dir.join(format!("{CURRENT}.tmp"));
        let _ = fs::remove_file(&tmp);
        durable::write_new(&tmp, gen_name(next).as_bytes())?;
        crash_point("wrote CURRENT.tmp");
        fs::rename(&tmp, self.dir.join(CURRENT))
            .map_err(VaultError::io("cannot rename into", self.dir.join(CURRENT)))?;
        crash_point("switched CURRENT (commit)");
        durable::sync_dir(&self.dir)?;
        crash_point("synced the keystore directory");
        durable::shred_dir(&self.gen_dir())?;
        crash_point("shredded the old generation");
        let Self { dir, _lock, .. } = self;
        Ok(Self::assemble(&dir, meta, root, Vec::new(), _lock))
    }

    fn gen_dir(&self) -> PathBuf {
        self.dir.join(gen_name(self.meta.generation))
    }
}

fn new_metadata(
    generation: u64,
    master: &MasterKey,
    cost: ArgonCost,
    keys: Vec<KeyEntry>,
) -> Result<(Metadata, RootKey)> {
    let mut salt = [0u8; 32];
    random(&mut salt)?;
    let root = master.derive_root(&salt, &cost)?;
    let verifier = hex::encode(root.purpose(PURPOSE_VERIFIER).as_slice());
    let meta = Metadata {
        format: FORMAT,
        generation,
        argon2: cost,
        salt: hex::encode(salt),
        verifier,
        keys,
        secrets: Default::default(),
    };
    Ok((meta, root))
}

fn unlock(dir: &Path, meta: &Metadata, master: &MasterKey) -> Result<RootKey> {
    let corrupted = |reason: &str| VaultError::Corrupted {
        dir: dir.to_path_buf(),
        reason: reason.to_string(),
    };
    meta.argon2.check().map_err(|r| corrupted(&r))?;
    let salt = hex::decode(&meta.salt).map_err(|_| corrupted("the salt is not hex"))?;
    let expected = hex::decode(&meta.verifier).map_err(|_| corrupted("the verifier is not hex"))?;
    let root = master.derive_root(&salt, &meta.argon2)?;
    let actual = root.purpose(PURPOSE_VERIFIER);
    if !bool::from(actual.as_slice().ct_eq(&expected)) {
        return Err(VaultError::WrongMasterKey {
            dir: dir.to_path_buf(),
        });
    }
    Ok(root)
}

fn check_label(label: &str) -> Result<()> {
    let ok = !label.is_empty()
        && label.len() <= 64
        && label
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(VaultError::InvalidLabel {
            label: label.chars().take(80).collect(),
        })
    }
}

fn check_policy(label: &str, policy: &AccessPolicy) -> Result<()> {
    policy
        .validate()
        .map_err(|reason| VaultError::InvalidPolicy {
            label: label.to_string(),
            reason,
        })
}

fn to_json(meta: &Metadata) -> Vec<u8> {
    let mut text = serde_json::to_vec_pretty(meta).unwrap_or_default();
    text.push(b'\n');
    text
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
