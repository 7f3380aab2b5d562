//! The daemon's config (`argus_node::config`): any text is parsed into the
//! document's shape without a panic, and the sections typed from it (the
//! signal sources, alerting, the incident policy with its playbooks) are
//! checked without a panic either. Rule files
//! and registry imports are files of their own, fuzzed by their own targets.
#![no_main]

use std::path::Path;

use argus_alerting::AlertingConfig;
use argus_node::config::ConfigDocument;
use argus_sources::SignalsConfig;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(doc) = ConfigDocument::parse(Path::new("argus.yaml"), text) else {
        return;
    };
    if let Some(raw) = &doc.signals
        && let Ok(signals) = serde_json::from_value::<SignalsConfig>(raw.value.clone())
    {
        let _ = signals.problems();
        for wallet in &signals.wallets {
            let _ = wallet.resolve(&[argus_core::ChainId(1)]);
        }
    }
    if let Some(raw) = &doc.alerting
        && let Ok(alerting) = serde_json::from_value::<AlertingConfig>(raw.value.clone())
    {
        let _ = alerting.validate("alerting");
    }
    if let Some(raw) = &doc.incidents {
        let refs = argus_incident::loader::References {
            notifiers: Some(["ops".to_owned()].into()),
            chains: vec![argus_core::ChainId(1)],
            rules: Some(["drain".to_owned()].into()),
        };
        if let Ok(policy) = argus_incident::loader::load(raw, "argus.yaml", &refs) {
            let _ = policy.key_labels();
            let _ = policy.kind_for("drain", argus_core::Severity::High, &serde_json::Value::Null);
        }
    }
    for item in &doc.chains {
        let _ = serde_json::to_string(&item.value);
    }
});
