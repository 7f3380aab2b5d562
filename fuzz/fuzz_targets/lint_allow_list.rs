//! The lint allow-list is a user-edited YAML file.
#![no_main]

use argus_abi::lint::AllowList;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = AllowList::parse(&String::from_utf8_lossy(data));
});
