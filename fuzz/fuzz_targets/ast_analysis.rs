//! The compiler's AST comes from build output a stranger may have written:
//! indexing and analysing any JSON must end without a panic.
#![no_main]

use argus_abi::ast::{AstIndex, Compilation};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(unit) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let compilation = Compilation {
        units: vec![unit],
        ..Compilation::default()
    };
    for contract in AstIndex::new(&compilation).contracts() {
        let _ = contract.silent_functions().count();
    }
});
