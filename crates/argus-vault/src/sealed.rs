//! Sealing of the other secrets Argus keeps (notifier tokens, webhook
//! secrets, the API tokens' pepper) under a key derived from the master key:
//! ChaCha20-Poly1305 with a random nonce, the secret's name as associated
//! data (a sealed value moved to another name does not open).

use alloy_primitives::hex;
use chacha20poly1305::aead::{Aead as _, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, KeyInit as _, Nonce};
use zeroize::Zeroizing;

use crate::error::{Result, VaultError};
use crate::keystore::random;

/// Seals `value` under `key`; the result is `hex(nonce ‖ ciphertext ‖ tag)`.
pub fn seal(key: &[u8; 32], name: &str, value: &[u8]) -> Result<String> {
    let cipher = ChaCha20Poly1305::new(&Key::from(*key));
    let mut nonce = [0u8; 12];
    random(&mut nonce)?;
    let sealed = cipher
        .encrypt(
            &Nonce::from(nonce),
            Payload {
                msg: value,
                aad: name.as_bytes(),
            },
        )
        .map_err(|_| VaultError::SealedSecret {
            name: name.to_string(),
            reason: "the value is too long to seal".into(),
        })?;
    let mut out = nonce.to_vec();
    out.extend_from_slice(&sealed);
    Ok(hex::encode(out))
}

/// Opens what [`seal`] made.
pub fn unseal(key: &[u8; 32], name: &str, sealed: &str) -> Result<Zeroizing<Vec<u8>>> {
    let damaged = |reason: &str| VaultError::SealedSecret {
        name: name.to_string(),
        reason: reason.to_string(),
    };
    let bytes = hex::decode(sealed).map_err(|_| damaged("not hex"))?;
    if bytes.len() < 12 + 16 {
        return Err(damaged("too short"));
    }
    let (nonce, body) = bytes.split_at(12);
    let nonce = <[u8; 12]>::try_from(nonce).map_err(|_| damaged("bad nonce"))?;
    let cipher = ChaCha20Poly1305::new(&Key::from(*key));
    cipher
        .decrypt(
            &Nonce::from(nonce),
            Payload {
                msg: body,
                aad: name.as_bytes(),
            },
        )
        .map(Zeroizing::new)
        .map_err(|_| damaged("authentication failed (altered, or sealed under another key)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_round_trip_binds_the_name() {
        let key = [7u8; 32];
        let sealed = seal(&key, "slack", b"xoxb-token").unwrap();
        assert_eq!(
            unseal(&key, "slack", &sealed).unwrap().as_slice(),
            b"xoxb-token"
        );
        assert!(unseal(&key, "pagerduty", &sealed).is_err());
        assert!(unseal(&[8u8; 32], "slack", &sealed).is_err());
        assert!(!sealed.contains(&hex::encode(b"xoxb-token")));
    }
}
