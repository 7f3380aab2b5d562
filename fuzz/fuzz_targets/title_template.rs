//! Title and dedup templates (`{{ expression }}` parts in text): any text is
//! compiled and checked by the loader, and a template that loads is rendered
//! on signals (a signal rule without a condition fires on the first), never
//! a panic. The first byte picks `title:` or `dedup:`; the rest is the
//! template, written as a YAML block scalar so it arrives unchanged.
#![no_main]

use std::collections::BTreeMap;

use argus_core::Signal;
use argus_rules::{ContractDirectory, Engine, RuleSet};
use libfuzzer_sys::fuzz_target;

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
    let Ok(template) = std::str::from_utf8(rest) else {
        return;
    };
    let key = if place % 2 == 0 { "title" } else { "dedup" };
    let text = format!(
        "rules:\n  - id: fuzz\n    match: {{ signal: fuzz }}\n    {key}: {}",
        block_scalar(template)
    );
    let Ok(set) = RuleSet::from_yaml(&text, "rules.yaml") else {
        return;
    };
    let mut engine = Engine::new(set, &ContractDirectory::new());
    let outcome = engine.on_signal(&Signal {
        name: "fuzz".to_owned(),
        value: 1.0,
        labels: BTreeMap::from([("bot".to_owned(), "arb-1".to_owned())]),
        at_ms: 0,
    });
    for finding in &outcome.findings {
        let _ = (finding.title.len(), finding.dedup_key.len());
    }
});
