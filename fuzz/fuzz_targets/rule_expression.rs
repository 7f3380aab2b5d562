//! Rule expressions through the loader's CEL type checker: the first byte
//! picks where the expression goes (the condition of an event rule whose
//! signature types `args`, a signal rule's condition, `value:` or
//! `group_by:`), the rest is the expression, written as a YAML block scalar
//! so the text reaches the checker unchanged. Whatever loads is then
//! evaluated on signals, so an expression the checker lets through cannot
//! panic the engine either.
#![no_main]

use std::collections::BTreeMap;

use argus_core::Signal;
use argus_rules::{ContractDirectory, Engine, RuleSet};
use libfuzzer_sys::fuzz_target;

const SIGNATURE: &str = "Swap(address indexed sender, uint256 amount, int24 tick, bytes32 id, \
                         string note, string indexed tag, uint256[] amounts, (address,bool) pair)";

/// `text` as a literal block scalar at the indentation of a rule's keys.
fn block_scalar(text: &str) -> String {
    let mut out = String::from("|-\n");
    for line in text.split(['\n', '\r']) {
        out.push_str("      ");
        out.push_str(line);
        out.push('\n');
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&place, rest)) = data.split_first() else {
        return;
    };
    let Ok(expression) = std::str::from_utf8(rest) else {
        return;
    };
    let expression = block_scalar(expression);
    let rule = match place % 4 {
        0 => format!(
            "  - id: fuzz\n    match: {{ event: {{ contract: any, signature: \"{SIGNATURE}\" }} }}\n    condition: {expression}"
        ),
        1 => format!("  - id: fuzz\n    match: {{ signal: fuzz }}\n    condition: {expression}"),
        2 => format!(
            "  - id: fuzz\n    match: {{ signal: fuzz }}\n    threshold: \"> 1 in 5m\"\n    value: {expression}"
        ),
        _ => format!(
            "  - id: fuzz\n    match: {{ signal: fuzz }}\n    threshold: \"> 1 in 5m\"\n    group_by: {expression}"
        ),
    };
    let Ok(set) = RuleSet::from_yaml(&format!("rules:\n{rule}"), "rules.yaml") else {
        return;
    };
    let mut engine = Engine::new(set, &ContractDirectory::new());
    let labels = BTreeMap::from([("host".to_owned(), "a".to_owned())]);
    for at_ms in [0, 1_000, 2_000] {
        let _ = engine.on_signal(&Signal {
            name: "fuzz".to_owned(),
            value: 91.5,
            labels: labels.clone(),
            at_ms,
        });
    }
});
