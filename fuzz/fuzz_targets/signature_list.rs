//! Signature lists are untrusted text (dumps of public signature databases):
//! parsing and linting them must never panic.
#![no_main]

use argus_abi::lint::LintOptions;
use argus_abi::{InterfaceSet, ItemKind, Origin, Role, lint, parse_signature_list};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (list, _errors) = parse_signature_list(&text, ItemKind::Function);
    let mut set = InterfaceSet::new();
    set.add_signature_list(Origin::labelled("fuzz.txt"), list, Role::SignatureList);
    let _ = lint(&set, &LintOptions::default());
});
