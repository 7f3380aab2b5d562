//! Rule files (`argus_rules::RuleSet::from_yaml`): any text is read into
//! rules or a list of located problems, never a panic; rules that load bind
//! to an empty registry without one either.
#![no_main]

use argus_rules::{ContractDirectory, Engine, RuleSet};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match RuleSet::from_yaml(text, "rules.yaml") {
        Ok(set) => {
            let engine = Engine::new(set, &ContractDirectory::new());
            let _ = engine.binding_problems().len();
        }
        Err(diagnostics) => {
            for diagnostic in &diagnostics {
                let _ = diagnostic.to_string();
            }
        }
    }
});
