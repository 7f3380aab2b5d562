//! A contract that says whatever it is told: every call logs its calldata as
//! the data of a `Note(string)` log. With [`abi_string`] as the calldata, a
//! test makes a chain event carry any text it likes (control characters, a
//! fake alert line) without a compiler: the bytecode is written out below.

/// `keccak256("Note(string)")`, the log's only topic.
pub const NOTE_TOPIC: &str = "a274a9958297875ddcaa01ef5d7855baca2caf4a9f0aee26d717a4e2a490b6a2";

/// The creation code (`0x…`, for [`crate::Anvil::deploy`]). Runtime:
/// `CALLDATACOPY(0, 0, CALLDATASIZE)`, `LOG1(0, CALLDATASIZE, NOTE_TOPIC)`,
/// `STOP` (41 bytes); the init code copies it to memory and returns it.
pub fn noter_init_code() -> String {
    let runtime = format!("365f5f377f{NOTE_TOPIC}365fa100");
    debug_assert_eq!(runtime.len() / 2, 0x29);
    format!("0x6029600a5f3960295ff3{runtime}")
}

/// The ABI encoding (`0x…`) of one `string` argument: what `Note(string)`'s
/// data holds.
pub fn abi_string(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = format!("0x{:064x}{:064x}", 0x20, bytes.len());
    out.push_str(&alloy_primitives::hex::encode(bytes));
    while !(out.len() - 2).is_multiple_of(64) {
        out.push('0');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_string_is_padded_to_whole_words() {
        let hi = abi_string("hi");
        assert_eq!(hi.len(), 2 + 3 * 64);
        assert!(hi.ends_with(&format!("6869{}", "0".repeat(60))));
        assert_eq!(abi_string("").len(), 2 + 2 * 64);
        assert_eq!(abi_string(&"x".repeat(32)).len(), 2 + 3 * 64);
    }
}
