//! Web3 Secret Storage v3: the JSON keystore that geth, Foundry's `cast
//! wallet`, ethers and web3.py read and write.
//!
//! Composed from RustCrypto primitives (scrypt, PBKDF2-HMAC-SHA256,
//! AES-128-CTR) and alloy's keccak; nothing cryptographic is written here.
//! We do not use `eth-keystore`: its scrypt refuses the specification's own
//! r=1, p=8 vector.
//!
//! Reading is defensive, because a keystore may come from anywhere: every
//! field is checked for presence, type, hex and length, and the KDF costs are
//! bounded (scrypt n ≤ 2^20 and at most 1 GiB of memory, r·p ≤ 256, pbkdf2
//! c ≤ 10,000,000) before any work is done, so a hostile file cannot make us
//! allocate gigabytes or spin for hours. The MAC is compared in constant time.

use aes::cipher::{KeyIvInit as _, StreamCipher as _};
use alloy_primitives::{Address, hex, keccak256};
use alloy_signer_local::PrivateKeySigner;
use serde_json::{Map, Value, json};
use subtle::ConstantTimeEq as _;
use zeroize::Zeroizing;

use crate::error::{Result, VaultError};

type Aes128Ctr = ctr::Ctr128BE<aes::Aes128>;

/// Largest scrypt `n` we accept (2^20).
pub const MAX_SCRYPT_LOG_N: u8 = 20;
/// Largest scrypt `r · p` we accept.
pub const MAX_SCRYPT_R_TIMES_P: u64 = 256;
/// Largest scrypt memory (128 · n · r bytes) we accept: 1 GiB.
pub const MAX_SCRYPT_MEMORY: u64 = 1 << 30;
/// Largest PBKDF2 iteration count we accept.
pub const MAX_PBKDF2_ROUNDS: u32 = 10_000_000;
const MAX_SALT_LEN: usize = 1024;

/// Key-derivation parameters of a keystore.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KdfParams {
    /// scrypt with `n = 2^log_n`.
    Scrypt {
        /// log2 of the cost `n`.
        log_n: u8,
        /// Block size.
        r: u32,
        /// Parallelism.
        p: u32,
    },
    /// PBKDF2 with HMAC-SHA256.
    Pbkdf2 {
        /// Iterations.
        c: u32,
    },
}

impl KdfParams {
    /// What geth writes by default (`StandardScryptN`): n = 2^18, r = 8, p = 1.
    pub const STANDARD: Self = Self::Scrypt {
        log_n: 18,
        r: 8,
        p: 1,
    };
    /// What `cast wallet new` writes (n = 2^13, r = 8, p = 1).
    pub const LIGHT: Self = Self::Scrypt {
        log_n: 13,
        r: 8,
        p: 1,
    };

    fn derive(&self, password: &[u8], salt: &[u8]) -> Result<Zeroizing<[u8; 32]>> {
        let mut key = Zeroizing::new([0u8; 32]);
        match *self {
            Self::Scrypt { log_n, r, p } => {
                let params =
                    scrypt::Params::new(log_n, r, p).map_err(|_| VaultError::KdfParamsRefused {
                        reason: format!("scrypt rejects n=2^{log_n}, r={r}, p={p}"),
                    })?;
                scrypt::scrypt(password, salt, &params, key.as_mut_slice())
                    .map_err(|_| VaultError::invalid("scrypt output length"))?;
            }
            Self::Pbkdf2 { c } => {
                pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password, salt, c, key.as_mut_slice());
            }
        }
        Ok(key)
    }

    fn check_bounds(&self) -> Result<()> {
        let refuse = |reason: String| Err(VaultError::KdfParamsRefused { reason });
        match *self {
            Self::Scrypt { log_n, r, p } => {
                if log_n == 0 || log_n > MAX_SCRYPT_LOG_N {
                    return refuse(format!("scrypt n=2^{log_n} is outside 2^1..2^20"));
                }
                if r == 0 || p == 0 {
                    return refuse("scrypt r and p must be at least 1".into());
                }
                if u64::from(r) * u64::from(p) > MAX_SCRYPT_R_TIMES_P {
                    return refuse(format!(
                        "scrypt r·p = {} is too large",
                        u64::from(r) * u64::from(p)
                    ));
                }
                let memory = 128u64 * (1u64 << log_n) * u64::from(r);
                if memory > MAX_SCRYPT_MEMORY {
                    return refuse(format!("scrypt would need {} MiB of memory", memory >> 20));
                }
            }
            Self::Pbkdf2 { c } => {
                if c == 0 || c > MAX_PBKDF2_ROUNDS {
                    return refuse(format!("pbkdf2 c={c} is outside 1..=10,000,000"));
                }
            }
        }
        Ok(())
    }
}

/// A parsed and validated v3 keystore (still encrypted).
#[derive(Clone, PartialEq, Eq)]
pub struct Keystore {
    id: String,
    address: Option<Address>,
    kdf: KdfParams,
    salt: Vec<u8>,
    iv: [u8; 16],
    ciphertext: [u8; 32],
    mac: [u8; 32],
}

impl std::fmt::Debug for Keystore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keystore")
            .field("id", &self.id)
            .field("address", &self.address)
            .field("kdf", &self.kdf)
            .finish_non_exhaustive()
    }
}

impl Keystore {
    /// Parses and validates a keystore; never panics, whatever the bytes.
    pub fn parse(json: &[u8]) -> Result<Self> {
        let value: Value = serde_json::from_slice(json)
            .map_err(|e| VaultError::invalid(format!("not JSON ({e})")))?;
        let root = value
            .as_object()
            .ok_or_else(|| VaultError::invalid("the top level is not an object"))?;
        match root.get("version").and_then(Value::as_u64) {
            Some(3) => {}
            Some(v) => {
                return Err(VaultError::invalid(format!(
                    "version {v}; only version 3 is supported"
                )));
            }
            None => return Err(VaultError::invalid("`version` is missing or not a number")),
        }
        let id = match root.get("id") {
            Some(Value::String(id)) if id.len() <= 64 => id.clone(),
            Some(_) => return Err(VaultError::invalid("`id` is not a short string")),
            None => String::new(),
        };
        let address = match root.get("address") {
            None | Some(Value::Null) => None,
            Some(Value::String(text)) => Some(
                text.trim_start_matches("0x")
                    .parse::<Address>()
                    .map_err(|_| VaultError::invalid("`address` is not a 20-byte hex address"))?,
            ),
            Some(_) => return Err(VaultError::invalid("`address` is not a string")),
        };
        let crypto = root
            .get("crypto")
            .or_else(|| root.get("Crypto"))
            .and_then(Value::as_object)
            .ok_or_else(|| VaultError::invalid("`crypto` is missing or not an object"))?;
        let cipher = string(crypto, "cipher")?;
        if cipher != "aes-128-ctr" {
            return Err(VaultError::invalid(format!(
                "cipher {cipher:?}; only aes-128-ctr is supported"
            )));
        }
        let params = crypto
            .get("cipherparams")
            .and_then(Value::as_object)
            .ok_or_else(|| VaultError::invalid("`cipherparams` is missing or not an object"))?;
        let iv = fixed_hex::<16>(params, "iv")?;
        let ciphertext = fixed_hex::<32>(crypto, "ciphertext")?;
        let mac = fixed_hex::<32>(crypto, "mac")?;
        let kdf_name = string(crypto, "kdf")?;
        let kdfparams = crypto
            .get("kdfparams")
            .and_then(Value::as_object)
            .ok_or_else(|| VaultError::invalid("`kdfparams` is missing or not an object"))?;
        if number(kdfparams, "dklen")? != 32 {
            return Err(VaultError::invalid("`dklen` must be 32"));
        }
        let salt = hex_field(kdfparams, "salt")?;
        if salt.is_empty() || salt.len() > MAX_SALT_LEN {
            return Err(VaultError::invalid("`salt` must be 1 to 1024 bytes"));
        }
        let kdf = match kdf_name {
            "scrypt" => {
                let n = number(kdfparams, "n")?;
                if n < 2 || !n.is_power_of_two() {
                    return Err(VaultError::invalid(format!(
                        "scrypt n={n} is not a power of two ≥ 2"
                    )));
                }
                if n > 1 << MAX_SCRYPT_LOG_N {
                    return Err(VaultError::KdfParamsRefused {
                        reason: format!("scrypt n={n} is above 2^20"),
                    });
                }
                let log_n = u8::try_from(n.trailing_zeros())
                    .map_err(|_| VaultError::invalid("scrypt n"))?;
                let r = bounded_u32(kdfparams, "r")?;
                let p = bounded_u32(kdfparams, "p")?;
                KdfParams::Scrypt { log_n, r, p }
            }
            "pbkdf2" => {
                let prf = string(kdfparams, "prf")?;
                if prf != "hmac-sha256" {
                    return Err(VaultError::invalid(format!(
                        "pbkdf2 prf {prf:?}; only hmac-sha256 is supported"
                    )));
                }
                KdfParams::Pbkdf2 {
                    c: bounded_u32(kdfparams, "c")?,
                }
            }
            other => {
                return Err(VaultError::invalid(format!(
                    "kdf {other:?}; only scrypt and pbkdf2 are supported"
                )));
            }
        };
        kdf.check_bounds()?;
        Ok(Self {
            id,
            address,
            kdf,
            salt,
            iv,
            ciphertext,
            mac,
        })
    }

    /// Decrypts the key; checks the MAC in constant time, then that the key
    /// is a valid secp256k1 scalar and that it matches the declared address.
    pub fn decrypt(&self, password: &[u8]) -> Result<PrivateKeySigner> {
        let derived = self.kdf.derive(password, &self.salt)?;
        let mac = mac(&derived, &self.ciphertext);
        if !bool::from(mac.ct_eq(&self.mac)) {
            return Err(VaultError::WrongPassword);
        }
        let mut secret = Zeroizing::new(self.ciphertext);
        apply_ctr(&derived, &self.iv, secret.as_mut_slice());
        let signer = PrivateKeySigner::from_slice(secret.as_slice())
            .map_err(|_| VaultError::InvalidPrivateKey)?;
        if let Some(declared) = self.address
            && declared != signer.address()
        {
            return Err(VaultError::AddressMismatch {
                declared,
                derived: signer.address(),
            });
        }
        Ok(signer)
    }

    /// Encrypts `signer`'s key under `password` with fresh salt and IV.
    pub fn encrypt(signer: &PrivateKeySigner, password: &[u8], kdf: KdfParams) -> Result<Self> {
        kdf.check_bounds()?;
        let mut salt = vec![0u8; 32];
        random(&mut salt)?;
        let mut iv = [0u8; 16];
        random(&mut iv)?;
        let derived = kdf.derive(password, &salt)?;
        let mut ciphertext = Zeroizing::new(signer.to_bytes().0);
        apply_ctr(&derived, &iv, ciphertext.as_mut_slice());
        let mac = mac(&derived, ciphertext.as_slice());
        Ok(Self {
            id: uuid_v4()?,
            address: Some(signer.address()),
            kdf,
            salt,
            iv,
            ciphertext: *ciphertext,
            mac,
        })
    }

    /// The declared address, if the file has one.
    pub fn address(&self) -> Option<Address> {
        self.address
    }

    /// The file's UUID (may be empty for files without one).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The KDF parameters.
    pub fn kdf(&self) -> KdfParams {
        self.kdf
    }

    /// The JSON document, as geth and `cast` write it (address without `0x`).
    pub fn to_json(&self) -> String {
        let kdfparams = match self.kdf {
            KdfParams::Scrypt { log_n, r, p } => json!({
                "dklen": 32, "n": 1u64 << log_n, "r": r, "p": p, "salt": hex::encode(&self.salt)
            }),
            KdfParams::Pbkdf2 { c } => json!({
                "c": c, "dklen": 32, "prf": "hmac-sha256", "salt": hex::encode(&self.salt)
            }),
        };
        let kdf = match self.kdf {
            KdfParams::Scrypt { .. } => "scrypt",
            KdfParams::Pbkdf2 { .. } => "pbkdf2",
        };
        let mut doc = json!({
            "crypto": {
                "cipher": "aes-128-ctr",
                "cipherparams": { "iv": hex::encode(self.iv) },
                "ciphertext": hex::encode(self.ciphertext),
                "kdf": kdf,
                "kdfparams": kdfparams,
                "mac": hex::encode(self.mac),
            },
            "id": self.id,
            "version": 3,
        });
        if let (Some(address), Some(object)) = (self.address, doc.as_object_mut()) {
            object.insert("address".into(), Value::String(hex::encode(address)));
        }
        let mut text = serde_json::to_string_pretty(&doc).unwrap_or_default();
        text.push('\n');
        text
    }
}

fn mac(derived: &[u8; 32], ciphertext: &[u8]) -> [u8; 32] {
    let mut body = Zeroizing::new(Vec::with_capacity(16 + ciphertext.len()));
    body.extend_from_slice(&derived[16..32]);
    body.extend_from_slice(ciphertext);
    keccak256(body.as_slice()).0
}

fn apply_ctr(derived: &[u8; 32], iv: &[u8; 16], buffer: &mut [u8]) {
    let mut key = Zeroizing::new([0u8; 16]);
    key.copy_from_slice(&derived[..16]);
    let mut cipher = Aes128Ctr::new(&(*key).into(), &(*iv).into());
    cipher.apply_keystream(buffer);
}

/// Fills `buffer` from the operating system's generator.
pub(crate) fn random(buffer: &mut [u8]) -> Result<()> {
    getrandom::fill(buffer).map_err(|e| VaultError::Random {
        reason: e.to_string(),
    })
}

/// A random (version 4) UUID, as keystore ids are.
pub(crate) fn uuid_v4() -> Result<String> {
    let mut b = [0u8; 16];
    random(&mut b)?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    ))
}

fn string<'a>(object: &'a Map<String, Value>, field: &str) -> Result<&'a str> {
    object
        .get(field)
        .and_then(Value::as_str)
        .ok_or_else(|| VaultError::invalid(format!("`{field}` is missing or not a string")))
}

fn number(object: &Map<String, Value>, field: &str) -> Result<u64> {
    object
        .get(field)
        .and_then(Value::as_u64)
        .ok_or_else(|| VaultError::invalid(format!("`{field}` is missing or not a whole number")))
}

fn bounded_u32(object: &Map<String, Value>, field: &str) -> Result<u32> {
    let n = number(object, field)?;
    u32::try_from(n).map_err(|_| VaultError::KdfParamsRefused {
        reason: format!("`{field}` = {n} is too large"),
    })
}

fn hex_field(object: &Map<String, Value>, field: &str) -> Result<Vec<u8>> {
    let text = string(object, field)?;
    if text.len() > 2 * MAX_SALT_LEN + 2 {
        return Err(VaultError::invalid(format!("`{field}` is too long")));
    }
    hex::decode(text).map_err(|_| VaultError::invalid(format!("`{field}` is not hex")))
}

fn fixed_hex<const N: usize>(object: &Map<String, Value>, field: &str) -> Result<[u8; N]> {
    let bytes = hex_field(object, field)?;
    <[u8; N]>::try_from(bytes.as_slice()).map_err(|_| {
        VaultError::invalid(format!("`{field}` must be {N} bytes, not {}", bytes.len()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_both_kdfs() {
        let signer = PrivateKeySigner::random();
        for kdf in [
            KdfParams::Scrypt {
                log_n: 10,
                r: 8,
                p: 1,
            },
            KdfParams::Pbkdf2 { c: 1000 },
        ] {
            let keystore = Keystore::encrypt(&signer, b"pw", kdf).unwrap();
            let parsed = Keystore::parse(keystore.to_json().as_bytes()).unwrap();
            assert_eq!(parsed, keystore);
            assert_eq!(parsed.decrypt(b"pw").unwrap().address(), signer.address());
            assert!(matches!(
                parsed.decrypt(b"nope"),
                Err(VaultError::WrongPassword)
            ));
        }
    }

    #[test]
    fn huge_scrypt_params_are_refused_before_any_work() {
        let signer = PrivateKeySigner::random();
        let json = Keystore::encrypt(&signer, b"pw", KdfParams::Pbkdf2 { c: 1 })
            .unwrap()
            .to_json();
        let mut doc: Value = serde_json::from_str(&json).unwrap();
        doc["crypto"]["kdf"] = "scrypt".into();
        for (n, r, p) in [
            (1u64 << 21, 8u64, 1u64),
            (1 << 20, 16, 1),
            (1024, 64, 64),
            (1024, 1u64 << 33, 1),
        ] {
            doc["crypto"]["kdfparams"] = json!({"dklen": 32, "n": n, "r": r, "p": p, "salt": "00"});
            let err = Keystore::parse(doc.to_string().as_bytes()).unwrap_err();
            assert!(
                matches!(err, VaultError::KdfParamsRefused { .. }),
                "{n} {r} {p}: {err}"
            );
        }
        doc["crypto"]["kdfparams"] = json!({"dklen": 32, "n": 1000, "r": 8, "p": 1, "salt": "00"});
        assert!(Keystore::parse(doc.to_string().as_bytes()).is_err());
    }

    #[test]
    fn debug_shows_no_key_material() {
        let signer = PrivateKeySigner::random();
        let keystore = Keystore::encrypt(&signer, b"pw", KdfParams::Pbkdf2 { c: 1 }).unwrap();
        let debug = format!("{keystore:?}");
        assert!(!debug.contains(&hex::encode(keystore.ciphertext)));
        assert!(!debug.contains(&hex::encode(signer.to_bytes())));
    }
}
