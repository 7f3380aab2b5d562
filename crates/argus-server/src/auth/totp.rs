//! Time-based one-time passwords (RFC 6238 over RFC 4226's HOTP): HMAC-SHA-1,
//! 30-second steps, 6 digits, the step before and after accepted for clock
//! drift — what every authenticator app speaks by default.
//!
//! A code proves possession of the enrolled phone *now*, so it guards the
//! acts an attacker with a stolen bearer token must not be able to do
//! alone (approvals, admin writes). A code is accepted once: [`Replay`]
//! keeps, per token, the last step accepted, and a code of that step or an
//! earlier one is refused (RFC 6238 §5.2), so a code read over a shoulder
//! or out of a proxy's log is worth nothing.

use std::collections::HashMap;
use std::sync::Mutex;

use hmac::{Hmac, KeyInit as _, Mac as _};
use sha1::Sha1;

/// Seconds per step.
pub const STEP_SECONDS: u64 = 30;
/// Digits of a code.
pub const DIGITS: u32 = 6;
/// Bytes of a new secret (160 bits, RFC 4226's recommendation).
pub const SECRET_BYTES: usize = 20;

/// The HOTP value of `counter` under `secret` (RFC 4226 §5.3), `digits` long.
pub fn hotp(secret: &[u8], counter: u64, digits: u32) -> u32 {
    // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(secret) else {
        return u32::MAX;
    };
    mac.update(&counter.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = usize::from(digest[digest.len() - 1] & 0x0f);
    let binary = (u32::from(digest[offset] & 0x7f) << 24)
        | (u32::from(digest[offset + 1]) << 16)
        | (u32::from(digest[offset + 2]) << 8)
        | u32::from(digest[offset + 3]);
    binary % 10u32.pow(digits)
}

/// The step a Unix time (seconds) falls in.
pub fn step_at(unix_seconds: u64) -> u64 {
    unix_seconds / STEP_SECONDS
}

/// The 6-digit code of `secret` at a Unix time, zero-padded.
pub fn code_at(secret: &[u8], unix_seconds: u64) -> String {
    format!("{:06}", hotp(secret, step_at(unix_seconds), DIGITS))
}

/// The step among now−1, now, now+1 whose code is `code`; `None` when the
/// code is not 6 digits or matches none. Compares in constant time.
pub fn matching_step(secret: &[u8], code: &str, unix_seconds: u64) -> Option<u64> {
    if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let now = step_at(unix_seconds);
    let mut found = None;
    for step in [now.saturating_sub(1), now, now.saturating_add(1)] {
        let expected = format!("{:06}", hotp(secret, step, DIGITS));
        let same: bool = subtle::ConstantTimeEq::ct_eq(expected.as_bytes(), code.as_bytes()).into();
        if same && found.is_none() {
            found = Some(step);
        }
    }
    found
}

/// The last step accepted per token: a code is good once.
#[derive(Debug, Default)]
pub struct Replay {
    last: Mutex<HashMap<String, u64>>,
}

impl Replay {
    /// Records `step` for `token_id`; `false` when that step or a later one
    /// was accepted already (a replay, or an older code after a newer one).
    pub fn accept(&self, token_id: &str, step: u64) -> bool {
        let mut last = self
            .last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match last.get(token_id) {
            Some(&seen) if seen >= step => false,
            _ => {
                last.insert(token_id.to_owned(), step);
                true
            }
        }
    }
}

/// RFC 4648 base32 without padding, as `otpauth://` URIs carry secrets.
pub fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let mut buffer: u64 = 0;
    let mut bits = 0u32;
    for &byte in bytes {
        buffer = (buffer << 8) | u64::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

/// The `otpauth://` URI an authenticator app scans for `name`'s secret.
pub fn otpauth_uri(name: &str, secret: &[u8]) -> String {
    let label: String = form_urlencoded::byte_serialize(name.as_bytes()).collect();
    format!(
        "otpauth://totp/Argus:{label}?secret={}&issuer=Argus&algorithm=SHA1&digits=6&period=30",
        base32(secret)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B, the SHA-1 column (8 digits there; the last 6
    /// are the 6-digit codes).
    #[test]
    fn rfc6238_vectors() {
        let secret = b"12345678901234567890";
        let vectors = [
            (59u64, 94_287_082u32),
            (1_111_111_109, 7_081_804),
            (1_111_111_111, 14_050_471),
            (1_234_567_890, 89_005_924),
            (2_000_000_000, 69_279_037),
            (20_000_000_000, 65_353_130),
        ];
        for (time, expected) in vectors {
            assert_eq!(hotp(secret, step_at(time), 8), expected, "T = {time}");
            assert_eq!(
                code_at(secret, time),
                format!("{:06}", expected % 1_000_000)
            );
        }
    }

    #[test]
    fn drift_of_one_step_is_accepted_not_two() {
        let secret = b"12345678901234567890";
        let now = 1_111_111_111;
        let code = code_at(secret, now);
        assert_eq!(matching_step(secret, &code, now), Some(step_at(now)));
        assert!(matching_step(secret, &code, now + 30).is_some());
        assert!(matching_step(secret, &code, now - 30).is_some());
        assert_eq!(matching_step(secret, &code, now + 90), None);
        assert_eq!(matching_step(secret, "12345", now), None);
        assert_eq!(matching_step(secret, "12345a", now), None);
    }

    #[test]
    fn a_code_is_accepted_once() {
        let replay = Replay::default();
        assert!(replay.accept("a", 10));
        assert!(!replay.accept("a", 10));
        assert!(!replay.accept("a", 9));
        assert!(replay.accept("b", 10));
        assert!(replay.accept("a", 11));
    }

    #[test]
    fn base32_matches_rfc4648() {
        assert_eq!(base32(b""), "");
        assert_eq!(base32(b"f"), "MY");
        assert_eq!(base32(b"fo"), "MZXQ");
        assert_eq!(base32(b"foo"), "MZXW6");
        assert_eq!(base32(b"foob"), "MZXW6YQ");
        assert_eq!(base32(b"fooba"), "MZXW6YTB");
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
    }
}
