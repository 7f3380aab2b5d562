//! Drill scenarios (`argus_incident::drill::Scenario::parse`): any text is
//! read into a scenario or a list of located problems, never a panic.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(scenario) =
        argus_incident::drill::Scenario::parse(Path::new("drill.yaml"), text)
    {
        let _ = scenario.expectations().count();
        for step in &scenario.steps {
            let _ = step.action.summary();
        }
    }
});
