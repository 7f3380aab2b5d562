//! `FuzzKeyValidation` of the seed: keystore JSON (Web3 Secret Storage v3)
//! and master-key strength checks over arbitrary input. Decryption is not
//! attempted: the parser bounds the KDF parameters before any work, and this
//! target checks it never panics on what it is given.
#![no_main]

use argus_vault::{Keystore, MasterKey};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = Keystore::parse(data);
    let _ = MasterKey::new(String::from_utf8_lossy(data).into_owned());
});
