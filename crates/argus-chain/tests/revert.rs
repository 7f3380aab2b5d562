//! The revert data read from a node's call trace: only from a call that
//! failed, only well-formed hex, never more than 64 KiB.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use argus_chain::parse::revert_output;
use serde_json::json;

#[test]
fn revert_data_comes_only_from_a_failed_call_with_well_formed_output() {
    let failed = json!({ "error": "execution reverted", "output": "0xdb42144d00" });
    assert_eq!(
        revert_output(&failed).unwrap().as_ref(),
        [0xdb, 0x42, 0x14, 0x4d, 0x00]
    );
    assert!(
        revert_output(&json!({ "output": "0xdb42144d" })).is_none(),
        "a success has no revert data"
    );
    assert!(revert_output(&json!({ "error": "out of gas" })).is_none());
    assert!(
        revert_output(&json!({ "error": "x", "output": "db42" })).is_none(),
        "no 0x prefix"
    );
    assert!(revert_output(&json!({ "error": "x", "output": "0xzz" })).is_none());
    assert!(revert_output(&json!({ "error": "x", "output": 42 })).is_none());
    let huge = format!("0x{}", "00".repeat(64 * 1024 + 1));
    assert!(revert_output(&json!({ "error": "x", "output": huge })).is_none());
    assert!(revert_output(&json!("not an object")).is_none());
}
