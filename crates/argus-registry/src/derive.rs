//! Where a deterministic deployment will land, computed before it exists
//! (`argus registry plan`): `CREATE` from a deployer and nonce, `CREATE2`
//! from a factory, salt and init code hash, and CreateX's `CREATE2` and
//! `CREATE3` with its salt guards. alloy computes the addresses; this module
//! only applies CreateX's salt rules, taken from its `guard` modifier
//! (`pcaversaccio/createx`, `src/CreateX.sol`):
//!
//! | salt's first 20 bytes | 21st byte | salt used |
//! |---|---|---|
//! | the sender | `0x01` | `keccak256(abi.encode(sender, chainid, salt))` |
//! | the sender | `0x00` | `keccak256(bytes32(bytes20(sender)) ‖ salt)` |
//! | the sender | other | refused (CreateX reverts `InvalidSalt`) |
//! | zero | `0x01` | `keccak256(bytes32(chainid) ‖ salt)` |
//! | zero | `0x00` | the salt as is |
//! | zero | other | refused (CreateX reverts `InvalidSalt`) |
//! | anything else | any | the salt as is |
//!
//! The pseudo-random salt of CreateX's salt-less overloads cannot be known
//! in advance and is not supported.

use alloy_primitives::{Address, B256, U256, address, b256, keccak256};
use serde::Serialize;

/// CreateX's address (the same on every chain it is deployed on).
pub const CREATEX: Address = address!("0xba5Ed099633D3B313e4D5F7bdc1305d3c28ba5Ed");

/// The deterministic-deployment proxy most tools use (Arachnid's; present
/// on anvil): calldata `salt ‖ init code`.
pub const CREATE2_DEPLOYER: Address = address!("0x4e59b44847b379578588920ca78fbf26c0b4956c");

/// keccak256 of the proxy CreateX's CREATE3 deploys first
/// (`67363d3d37363d34f03d5260086018f3`).
const CREATE3_PROXY_HASH: B256 =
    b256!("0x21c35dbe1b344a2488cf3321d6ce542f8e9f305544ff09e4993a62319a497c1f");

/// How an address is derived.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Derivation {
    /// `CREATE`: the deployer's `nonce`th creation.
    Create { deployer: Address, nonce: u64 },
    /// `CREATE2` by `factory` (the deterministic deployer, or any factory
    /// that passes the salt through unchanged).
    Create2 {
        factory: Address,
        salt: B256,
        init_code_hash: B256,
    },
    /// CreateX's `deployCreate2*` with its salt guard.
    CreatexCreate2 {
        sender: Address,
        chain_id: u64,
        salt: B256,
        init_code_hash: B256,
    },
    /// CreateX's `deployCreate3*` with its salt guard.
    CreatexCreate3 {
        sender: Address,
        chain_id: u64,
        salt: B256,
    },
    /// An address given as is (computed elsewhere).
    Given { address: Address },
}

/// Why a derivation cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeriveError {
    /// CreateX would revert `InvalidSalt`.
    #[error(
        "CreateX refuses this salt: when its first 20 bytes are {who}, the 21st byte must be 0x00 \
         (no cross-chain redeploy protection) or 0x01 (protection); it is {byte:#04x}"
    )]
    InvalidCreatexSalt { who: &'static str, byte: u8 },
}

impl Derivation {
    /// The address.
    pub fn address(&self) -> Result<Address, DeriveError> {
        Ok(match self {
            Self::Create { deployer, nonce } => deployer.create(*nonce),
            Self::Create2 {
                factory,
                salt,
                init_code_hash,
            } => factory.create2(salt, init_code_hash),
            Self::CreatexCreate2 {
                sender,
                chain_id,
                salt,
                init_code_hash,
            } => CREATEX.create2(
                createx_guarded_salt(*sender, *chain_id, *salt)?,
                init_code_hash,
            ),
            Self::CreatexCreate3 {
                sender,
                chain_id,
                salt,
            } => {
                let guarded = createx_guarded_salt(*sender, *chain_id, *salt)?;
                CREATEX.create2(guarded, CREATE3_PROXY_HASH).create(1)
            }
            Self::Given { address } => *address,
        })
    }
}

/// The salt CreateX uses for `salt` sent by `sender` on `chain_id` (its
/// `guard` modifier; see the module's table).
pub fn createx_guarded_salt(
    sender: Address,
    chain_id: u64,
    salt: B256,
) -> Result<B256, DeriveError> {
    let first = Address::from_slice(&salt[..20]);
    let flag = salt[20];
    let chain = B256::from(U256::from(chain_id));
    if first == sender {
        return match flag {
            0x01 => {
                let mut encoded = Vec::with_capacity(96);
                encoded.extend_from_slice(B256::left_padding_from(sender.as_slice()).as_slice());
                encoded.extend_from_slice(chain.as_slice());
                encoded.extend_from_slice(salt.as_slice());
                Ok(keccak256(encoded))
            }
            0x00 => {
                let mut encoded = [0u8; 64];
                // bytes32(bytes20(sender)): the address first, zeros after.
                encoded[..20].copy_from_slice(sender.as_slice());
                encoded[32..].copy_from_slice(salt.as_slice());
                Ok(keccak256(encoded))
            }
            byte => Err(DeriveError::InvalidCreatexSalt {
                who: "the sender",
                byte,
            }),
        };
    }
    if first == Address::ZERO {
        return match flag {
            0x01 => {
                let mut encoded = [0u8; 64];
                encoded[..32].copy_from_slice(chain.as_slice());
                encoded[32..].copy_from_slice(salt.as_slice());
                Ok(keccak256(encoded))
            }
            0x00 => Ok(salt),
            byte => Err(DeriveError::InvalidCreatexSalt { who: "zero", byte }),
        };
    }
    Ok(salt)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use alloy_primitives::hex;

    #[test]
    fn the_create3_proxy_hash_is_the_hash_of_createx_s_proxy() {
        let proxy = hex::decode("67363d3d37363d34f03d5260086018f3").unwrap();
        assert_eq!(keccak256(proxy), CREATE3_PROXY_HASH);
    }

    #[test]
    fn create_and_create2_are_alloy_s() {
        // The first contract anvil's first account creates.
        let deployer = address!("0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266");
        let created = Derivation::Create { deployer, nonce: 0 }.address().unwrap();
        assert_eq!(
            created,
            address!("0x5FbDB2315678afecb367f032d93F642f64180aa3")
        );
        // EIP-1014's first example.
        let example = Derivation::Create2 {
            factory: Address::ZERO,
            salt: B256::ZERO,
            init_code_hash: keccak256([0u8]),
        };
        assert_eq!(
            example.address().unwrap(),
            address!("0x4D1A2e2bB4F88F0250f26Ffff098B0b30B26BF38")
        );
    }

    #[test]
    fn createx_guards_follow_its_modifier() {
        let sender = address!("0x00000000000000000000000000000000000000aa");
        let mut salt = [0x12u8; 32];
        salt[..20].copy_from_slice(sender.as_slice());
        // The sender, protected across chains: the chain id changes the address.
        salt[20] = 0x01;
        let protected = B256::from(salt);
        let on = |chain| createx_guarded_salt(sender, chain, protected).unwrap();
        assert_ne!(on(1), on(10));
        // The sender, no cross-chain protection: the chain does not matter,
        // and another sender's salt is used as is.
        salt[20] = 0x00;
        let permissioned = B256::from(salt);
        assert_eq!(
            createx_guarded_salt(sender, 1, permissioned).unwrap(),
            createx_guarded_salt(sender, 10, permissioned).unwrap()
        );
        let other = address!("0x00000000000000000000000000000000000000bb");
        assert_eq!(
            createx_guarded_salt(other, 1, permissioned).unwrap(),
            permissioned
        );
        // A flag CreateX refuses.
        salt[20] = 0x02;
        assert!(createx_guarded_salt(sender, 1, B256::from(salt)).is_err());
        // Zero sender bytes: 0x00 leaves the salt, 0x01 mixes the chain in.
        let mut zero = [0u8; 32];
        zero[31] = 7;
        assert_eq!(
            createx_guarded_salt(sender, 1, B256::from(zero)).unwrap(),
            B256::from(zero)
        );
        zero[20] = 0x01;
        let mut expected = [0u8; 64];
        expected[31] = 1;
        expected[32..].copy_from_slice(&zero);
        assert_eq!(
            createx_guarded_salt(sender, 1, B256::from(zero)).unwrap(),
            keccak256(expected)
        );
    }
}
