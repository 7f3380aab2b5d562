//! The one duration grammar (`argus_core::duration`): any text is judged
//! without a panic, and what it accepts prints back to the same duration.
#![no_main]

use argus_core::{HumanDuration, parse_duration, parse_window};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = parse_window(text);
    if let Ok(duration) = parse_duration(text) {
        let shown = HumanDuration(duration).to_string();
        assert_eq!(parse_duration(&shown), Ok(duration), "{text:?} → {shown}");
    }
});
