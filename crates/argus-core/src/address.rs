//! Parsing addresses from untrusted text.
//!
//! EIP-55 makes the letter case of an address a checksum. An address written
//! all in lower case (or all in upper case) carries no checksum and is taken as
//! it is; an address in mixed case must carry a valid checksum, because a typo
//! in one is exactly what the checksum exists to catch.

use alloy_primitives::Address;

/// Why a piece of text is not an address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    /// Not 20 bytes of hexadecimal, with or without `0x`.
    #[error("`{text}` is not an address: expected 0x followed by 40 hexadecimal digits")]
    Malformed { text: String },
    /// Mixed case whose EIP-55 checksum does not match.
    #[error(
        "`{text}` has a bad EIP-55 checksum (did you mean {expected}?); \
         check the address for a typo"
    )]
    BadChecksum { text: String, expected: String },
}

/// Parses an address, enforcing the EIP-55 checksum when the text is in mixed case.
pub fn parse_address(text: &str) -> Result<Address, AddressError> {
    let trimmed = text.trim();
    let digits = trimmed
        .strip_prefix("0x")
        .or_else(|| trimmed.strip_prefix("0X"))
        .unwrap_or(trimmed);
    let shown = || truncate(trimmed);
    if digits.len() != 40 || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(AddressError::Malformed { text: shown() });
    }
    let address: Address = digits
        .parse()
        .map_err(|_| AddressError::Malformed { text: shown() })?;
    let has_lower = digits.bytes().any(|b| b.is_ascii_lowercase());
    let has_upper = digits.bytes().any(|b| b.is_ascii_uppercase());
    if has_lower && has_upper {
        let expected = address.to_checksum(None);
        if expected[2..] != *digits {
            return Err(AddressError::BadChecksum {
                text: shown(),
                expected,
            });
        }
    }
    Ok(address)
}

/// Keeps error messages short when the input is long garbage.
fn truncate(text: &str) -> String {
    const MAX: usize = 66;
    if text.chars().count() <= MAX {
        text.to_owned()
    } else {
        let mut short: String = text.chars().take(MAX).collect();
        short.push('…');
        short
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_checksummed_lower_and_upper_case() {
        let good = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed";
        let a = parse_address(good).unwrap();
        assert_eq!(a.to_checksum(None), good);
        assert_eq!(parse_address(&good.to_lowercase()).unwrap(), a);
        assert_eq!(
            parse_address(&format!("0x{}", &good[2..].to_uppercase())).unwrap(),
            a
        );
    }

    #[test]
    fn refuses_a_bad_checksum_and_names_the_right_one() {
        let bad = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD";
        let err = parse_address(bad).unwrap_err();
        assert!(matches!(err, AddressError::BadChecksum { .. }));
        assert!(
            err.to_string()
                .contains("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed")
        );
    }

    #[test]
    fn refuses_malformed_text() {
        for text in [
            "",
            "0x",
            "0x1234",
            "0xzz",
            &"0".repeat(41),
            "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed00",
        ] {
            assert!(
                matches!(parse_address(text), Err(AddressError::Malformed { .. })),
                "{text}"
            );
        }
    }

    proptest! {
        #[test]
        fn never_panics(text in ".{0,80}") {
            let _ = parse_address(&text);
        }

        #[test]
        fn checksum_round_trips(bytes in any::<[u8; 20]>()) {
            let address = Address::from(bytes);
            prop_assert_eq!(parse_address(&address.to_checksum(None)).unwrap(), address);
        }
    }
}
