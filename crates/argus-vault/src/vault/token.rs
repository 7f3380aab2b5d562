//! The vault's keys held in a PKCS#11 token: made or imported there, found
//! again by the entry that records where they are.

use alloy_primitives::Address;
use zeroize::Zeroizing;

use super::{KeyEntry, METADATA, Vault, now, to_json};
use crate::durable;
use crate::error::{Result, VaultError};
use crate::hsm::{self, HsmKey, HsmSigner, HsmToken, KeyProtection, PinSource};
use crate::keystore::Keystore;
use crate::policy::AccessPolicy;

impl Vault {
    /// Generates a new key inside the PKCS#11 token `token` (sensitive,
    /// never extractable) under `label`; the vault records where it is.
    pub fn create_in_hsm(
        &mut self,
        label: &str,
        policy: AccessPolicy,
        token: &HsmToken,
    ) -> Result<&KeyEntry> {
        self.check_new_label(label, &policy)?;
        let pin = self.pin(token)?;
        let (key, address) = hsm::generate(token, &pin, label)?;
        self.add_hsm(key, address, label, policy)
    }

    /// Imports a keystore's key into the token `token` (sensitive, not
    /// extractable); nothing of it is written to the vault's directory.
    pub fn import_to_hsm(
        &mut self,
        keystore: &Keystore,
        password: &[u8],
        label: &str,
        policy: AccessPolicy,
        token: &HsmToken,
    ) -> Result<&KeyEntry> {
        self.check_new_label(label, &policy)?;
        let signer = keystore.decrypt(password)?;
        self.check_new_address(signer.address())?;
        let pin = self.pin(token)?;
        let (key, address) = hsm::import(token, &pin, label, signer.credential())?;
        drop(signer);
        self.add_hsm(key, address, label, policy)
    }

    pub(super) fn add_hsm(
        &mut self,
        key: HsmKey,
        address: Address,
        label: &str,
        policy: AccessPolicy,
    ) -> Result<&KeyEntry> {
        if let Err(error) = self.check_new_address(address) {
            let _ = self.destroy_in_token(&key, address);
            return Err(error);
        }
        let mut meta = self.meta.clone();
        meta.keys.push(KeyEntry {
            label: label.to_string(),
            address,
            file: String::new(),
            created_at: now(),
            policy,
            retired_at: None,
            hsm: Some(key),
        });
        durable::replace(&self.gen_dir().join(METADATA), &to_json(&meta))?;
        self.meta = meta;
        Ok(&self.meta.keys[self.meta.keys.len() - 1])
    }

    pub(super) fn destroy_in_token(&self, key: &HsmKey, address: Address) -> Result<()> {
        let pin = self.pin(&key.token)?;
        HsmSigner::open(key, &pin, address)?.destroy()
    }

    /// The user PIN of `token`, from the environment or a sealed secret.
    pub(super) fn pin(&self, token: &HsmToken) -> Result<Zeroizing<String>> {
        match &token.pin {
            PinSource::Env(name) => hsm::pin_from_env(token, name),
            PinSource::Secret(name) => {
                let mut bytes = self.secret(name)?;
                let text = String::from_utf8(std::mem::take(&mut *bytes)).map_err(|e| {
                    let mut raw = e.into_bytes();
                    zeroize::Zeroize::zeroize(&mut raw);
                    VaultError::SealedSecret {
                        name: name.clone(),
                        reason: "the PIN is not UTF-8 text; seal it again".to_owned(),
                    }
                })?;
                Ok(Zeroizing::new(text))
            }
        }
    }

    /// What the token says about the protection of the HSM key `label`
    /// (`None` for a key in a file).
    pub fn hsm_protection(&self, label: &str) -> Result<Option<KeyProtection>> {
        let entry = self.key(label)?;
        match &entry.hsm {
            None => Ok(None),
            Some(key) => {
                let pin = self.pin(&key.token)?;
                Ok(Some(
                    HsmSigner::open(key, &pin, entry.address)?.protection()?,
                ))
            }
        }
    }
}
