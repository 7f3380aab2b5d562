//! The audit-log reader gets whatever bytes are on disk, tampered or torn.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = argus_audit::parse_log(data);
});
