//! The master key: validated for strength, then stretched with Argon2id into
//! one root key from which every purpose gets its own key (HMAC-SHA256 of the
//! purpose name), so the keystore password, the vault verifier and the key
//! that will seal notifier tokens are independent.

use argon2::{Algorithm, Argon2, Params, Version};
use hmac::{KeyInit as _, Mac as _};
use zeroize::{Zeroize as _, Zeroizing};

use crate::error::{Result, VaultError};

/// Shortest master key accepted, in characters.
pub const MIN_MASTER_KEY_CHARS: usize = 32;
/// Least estimated entropy accepted, in bits (Shannon estimate over the key's
/// own characters; a 32-character hex key scores about 115, a 44-character
/// `openssl rand -base64 32` key about 200).
pub const MIN_MASTER_KEY_BITS: f64 = 100.0;

/// A master key that passed the strength rules. Its `Debug` shows nothing.
pub struct MasterKey(Zeroizing<String>);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(…)")
    }
}

/// What the strength rules measured in a master key they accepted.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MasterKeyStrength {
    /// Length in characters (a trailing newline not counted).
    pub chars: usize,
    /// The entropy estimate, in bits.
    pub bits: f64,
}

/// The one master-key strength check: what `argus keys create` (through
/// [`MasterKey::new`]) accepts is what `argus doctor` accepts.
///
/// The key is judged as the vault uses it (trailing newline ignored): at least
/// 32 characters, no whitespace or control characters, at least 10 distinct
/// characters, no more than half of it repeated or consecutive characters,
/// and an entropy estimate of at least 100 bits. The reason for a refusal
/// ([`VaultError::WeakMasterKey`]) never quotes the key.
pub fn check_master_key(secret: &str) -> Result<MasterKeyStrength> {
    let secret = secret.trim_end_matches(['\n', '\r']);
    let weak = |reason: String| Err(VaultError::WeakMasterKey { reason });
    let chars: Zeroizing<Vec<char>> = Zeroizing::new(secret.chars().collect());
    if chars.len() < MIN_MASTER_KEY_CHARS {
        return weak(format!(
            "it has {} characters, at least {MIN_MASTER_KEY_CHARS} are required",
            chars.len()
        ));
    }
    if chars.iter().any(|c| c.is_whitespace() || c.is_control()) {
        return weak("it contains whitespace or control characters".into());
    }
    let mut counts = std::collections::HashMap::new();
    for c in chars.iter() {
        *counts.entry(*c).or_insert(0usize) += 1;
    }
    if counts.len() < 10 {
        return weak(format!(
            "it uses only {} distinct characters, at least 10 are required",
            counts.len()
        ));
    }
    let steady = chars
        .windows(2)
        .filter(|w| {
            let d = i64::from(u32::from(w[1])) - i64::from(u32::from(w[0]));
            (-1..=1).contains(&d)
        })
        .count();
    if steady * 2 > chars.len() {
        return weak("more than half of it is repeated or consecutive characters".into());
    }
    let bits = entropy_bits(&counts, chars.len());
    counts.clear();
    if bits < MIN_MASTER_KEY_BITS {
        return weak(format!(
            "its estimated entropy is {bits:.0} bits, at least {MIN_MASTER_KEY_BITS:.0} are required"
        ));
    }
    Ok(MasterKeyStrength {
        chars: chars.len(),
        bits,
    })
}

/// Shannon entropy of the character distribution times the length: a rough
/// upper bound that catches repeated and low-variety keys.
fn entropy_bits(counts: &std::collections::HashMap<char, usize>, len: usize) -> f64 {
    if len == 0 {
        return 0.0;
    }
    let n = len as f64;
    let per_char: f64 = counts
        .values()
        .map(|&k| {
            let p = k as f64 / n;
            -p * p.log2()
        })
        .sum();
    per_char * n
}

impl MasterKey {
    /// Accepts `secret` when it passes [`check_master_key`] (trailing newline
    /// ignored).
    pub fn new(mut secret: String) -> Result<Self> {
        let trimmed = secret.trim_end_matches(['\n', '\r']).len();
        secret.truncate(trimmed);
        let secret = Zeroizing::new(secret);
        check_master_key(&secret)?;
        Ok(Self(secret))
    }

    /// Stretches the master key with Argon2id under `salt`.
    pub(crate) fn derive_root(&self, salt: &[u8], kdf: &ArgonCost) -> Result<RootKey> {
        let params = Params::new(kdf.m_cost, kdf.t_cost, kdf.p_cost, Some(32)).map_err(|e| {
            VaultError::KeyDerivation {
                reason: format!("argon2 parameters refused: {e}"),
            }
        })?;
        let mut root = Zeroizing::new([0u8; 32]);
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password_into(self.0.as_bytes(), salt, root.as_mut_slice())
            .map_err(|e| VaultError::KeyDerivation {
                reason: format!("argon2 failed: {e}"),
            })?;
        Ok(RootKey(root))
    }
}

/// Argon2id costs, stored with each vault generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ArgonCost {
    /// Memory in KiB.
    pub m_cost: u32,
    /// Passes.
    pub t_cost: u32,
    /// Lanes.
    pub p_cost: u32,
}

impl ArgonCost {
    /// OWASP's Argon2id recommendation (19 MiB, 2 passes, 1 lane).
    pub const DEFAULT: Self = Self {
        m_cost: 19 * 1024,
        t_cost: 2,
        p_cost: 1,
    };

    pub(crate) fn check(&self) -> Result<(), String> {
        if self.m_cost > 1 << 21 || self.t_cost > 64 || self.p_cost > 16 || self.t_cost == 0 {
            return Err("argon2 costs out of bounds".into());
        }
        Ok(())
    }
}

/// The stretched master key; purposes are derived from it.
pub(crate) struct RootKey(Zeroizing<[u8; 32]>);

impl RootKey {
    /// A 32-byte key for one purpose.
    pub(crate) fn purpose(&self, name: &str) -> Zeroizing<[u8; 32]> {
        let mut out = Zeroizing::new([0u8; 32]);
        if let Ok(mut mac) = hmac::Hmac::<sha2::Sha256>::new_from_slice(self.0.as_slice()) {
            mac.update(name.as_bytes());
            let mut tag: [u8; 32] = mac.finalize().into_bytes().into();
            out.copy_from_slice(&tag);
            tag.zeroize();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strong_keys_pass() {
        for key in [
            "q7Vd0mJ3xR9sL2kP8wZ4tY6uB1nC5eA0fG3hI7jK9lM=",
            "3f9a1c0e7b2d4f6a8c0e2b4d6f8a0c1e",
        ] {
            MasterKey::new(key.to_string()).unwrap();
        }
    }

    proptest::proptest! {
        /// `key_validation`: any string is judged without a panic, and a
        /// refusal never quotes the key.
        #[test]
        fn validation_never_panics_nor_echoes(key in "\\PC{0,80}") {
            if let Err(err) = MasterKey::new(key.clone()) {
                let text = err.to_string();
                proptest::prop_assert!(key.len() < 8 || !text.contains(&key));
            }
        }
    }

    /// Moved from `argus doctor`, which now asks [`check_master_key`].
    #[test]
    fn entropy_separates_random_from_repeated_keys() {
        let bits = |key: &str| {
            let mut counts = std::collections::HashMap::new();
            for c in key.chars() {
                *counts.entry(c).or_insert(0usize) += 1;
            }
            entropy_bits(&counts, key.chars().count())
        };
        assert!(bits(&"a".repeat(64)) < 1.0);
        assert!(bits("abababababababababababababababababab") < 128.0);
        assert!(bits("q7Xk2pR9vLm3Tz8WcYb1Nf6Hd4Gs0JeUaK5Vw+Q=") >= 128.0);
    }

    #[test]
    fn the_check_and_the_constructor_agree() {
        for key in [
            "q7Xk2pR9vLm3Tz8WcYb1Nf6Hd4Gs0JeUaK5Vw+Q=",
            "q7Xk2pR9vLm3Tz8WcYb1Nf6Hd4Gs0JeUaK5Vw+Q=\n",
            "3f9a1c0e7b2d4f6a8c0e2b4d6f8a0c1e",
            "password",
            "abcdefghijklmnopqrstuvwxyz0123456789",
            "has space has space has space has space x",
        ] {
            assert_eq!(
                check_master_key(key).is_ok(),
                MasterKey::new(key.to_owned()).is_ok(),
                "{key}"
            );
        }
        let strength = check_master_key("q7Xk2pR9vLm3Tz8WcYb1Nf6Hd4Gs0JeUaK5Vw+Q=\n").unwrap();
        assert_eq!(strength.chars, 40);
        assert!(strength.bits >= MIN_MASTER_KEY_BITS);
    }

    #[test]
    fn weak_keys_fail_with_reason_but_not_the_key() {
        for key in [
            "short",
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "abcdefghijklmnopqrstuvwxyz0123456789",
            "passwordpasswordpasswordpassword",
            "has space has space has space has space x",
        ] {
            let err = MasterKey::new(key.to_string()).unwrap_err().to_string();
            assert!(err.contains("too weak"), "{key}: {err}");
            assert!(!err.contains(key), "{err}");
        }
    }
}
