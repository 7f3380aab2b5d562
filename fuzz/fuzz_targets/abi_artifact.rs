//! Build artifacts, broadcasts, deployments and ABIs are untrusted JSON: the
//! importer must refuse bad ones with an error, never panic, and what it
//! accepts must lint.
#![no_main]

use std::path::Path;

use argus_abi::lint::LintOptions;
use argus_abi::{InterfaceSet, Origin, lint};
use argus_registry::ImportHints;
use argus_registry::artifact::load_bytes;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let hints = ImportHints::default();
    if let Ok(contracts) = load_bytes(Path::new("fuzz/Contract.json"), data, &hints) {
        let mut set = InterfaceSet::new();
        for contract in contracts {
            set.add_contract(Origin::labelled(contract.label), contract.abi);
        }
        let _ = lint(&set, &LintOptions::default());
    }
});
