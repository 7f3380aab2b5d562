//! The signer a vault key becomes, wherever the key lives.
//!
//! Callers (`argus keys sign`, the incident responders) sign through
//! alloy's [`SignerSync`]/[`Signer`] traits and never learn where the key
//! is: a keystore file decrypted into memory, or a PKCS#11 token that signs
//! without ever giving the key out. So the policy checks, audit entries and
//! playbook steps are the same code for both.

use alloy_primitives::{Address, B256, ChainId, Signature};
use alloy_signer::{Signer, SignerSync};
use alloy_signer_local::PrivateKeySigner;

use crate::hsm::HsmSigner;

/// A vault key opened for signing.
#[derive(Clone)]
pub enum VaultSigner {
    /// A key decrypted from its keystore file.
    Local(PrivateKeySigner),
    /// A key held in a PKCS#11 token.
    Hsm(HsmSigner),
}

impl std::fmt::Debug for VaultSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Local(signer) => f
                .debug_struct("VaultSigner::Local")
                .field("address", &signer.address())
                .finish_non_exhaustive(),
            Self::Hsm(signer) => signer.fmt(f),
        }
    }
}

impl From<PrivateKeySigner> for VaultSigner {
    fn from(signer: PrivateKeySigner) -> Self {
        Self::Local(signer)
    }
}

impl VaultSigner {
    /// The key's address.
    pub fn address(&self) -> Address {
        match self {
            Self::Local(signer) => signer.address(),
            Self::Hsm(signer) => signer.address(),
        }
    }

    /// Where the key lives, in a word: `file` or `hsm`.
    pub fn location(&self) -> &'static str {
        match self {
            Self::Local(_) => "file",
            Self::Hsm(_) => "hsm",
        }
    }
}

impl SignerSync for VaultSigner {
    fn sign_hash_sync(&self, hash: &B256) -> alloy_signer::Result<Signature> {
        match self {
            Self::Local(signer) => signer.sign_hash_sync(hash),
            Self::Hsm(signer) => signer.sign_hash(hash).map_err(alloy_signer::Error::other),
        }
    }

    fn chain_id_sync(&self) -> Option<ChainId> {
        match self {
            Self::Local(signer) => signer.chain_id_sync(),
            Self::Hsm(signer) => signer.chain_id(),
        }
    }
}

#[async_trait::async_trait]
impl Signer for VaultSigner {
    async fn sign_hash(&self, hash: &B256) -> alloy_signer::Result<Signature> {
        self.sign_hash_sync(hash)
    }

    fn address(&self) -> Address {
        VaultSigner::address(self)
    }

    fn chain_id(&self) -> Option<ChainId> {
        self.chain_id_sync()
    }

    fn set_chain_id(&mut self, chain_id: Option<ChainId>) {
        match self {
            Self::Local(signer) => Signer::set_chain_id(signer, chain_id),
            Self::Hsm(signer) => signer.set_chain_id(chain_id),
        }
    }
}
