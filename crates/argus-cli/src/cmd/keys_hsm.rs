//! The flags that put a key into a PKCS#11 token (`keys create --hsm`,
//! `keys import --to-hsm`), and how `keys list` names where a key lives.
//!
//! The PIN never comes from the command line: the vault records the name of
//! the environment variable (`--hsm-pin-env`, default `ARGUS_HSM_PIN`) or of
//! the sealed vault secret (`--hsm-pin-secret`) it is read from at each use,
//! so the daemon and every command find it the same way.

use std::path::PathBuf;

use anyhow::bail;
use argus_vault::{HsmToken, KeyEntry, PinSource};
use serde_json::json;

/// Where a new HSM key goes, besides the token's label.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct HsmArgs {
    /// The PKCS#11 module (absolute path), e.g.
    /// `/usr/lib/softhsm/libsofthsm2.so` for SoftHSM.
    #[arg(long, value_name = "PATH", env = "ARGUS_PKCS11_MODULE")]
    hsm_module: Option<PathBuf>,
    /// The environment variable the token's user PIN is read from at each
    /// use (default `ARGUS_HSM_PIN`).
    #[arg(long, value_name = "VAR", conflicts_with = "hsm_pin_secret")]
    hsm_pin_env: Option<String>,
    /// The sealed vault secret (`argus keys secret set NAME`) holding the
    /// token's user PIN, instead of an environment variable.
    #[arg(long, value_name = "NAME")]
    hsm_pin_secret: Option<String>,
}

impl HsmArgs {
    /// The token `label` as these flags describe it.
    pub(crate) fn token(&self, label: &str) -> anyhow::Result<HsmToken> {
        let Some(module) = self.hsm_module.clone() else {
            bail!(
                "an HSM key needs the token's PKCS#11 module: pass --hsm-module PATH or set \
                 ARGUS_PKCS11_MODULE (SoftHSM's is /usr/lib/softhsm/libsofthsm2.so)"
            )
        };
        if !module.is_absolute() {
            bail!("--hsm-module {}: give an absolute path", module.display())
        }
        if label.is_empty() || label.len() > 32 {
            bail!("the token label must be 1 to 32 bytes (a PKCS#11 token label's size)")
        }
        let pin = match (&self.hsm_pin_env, &self.hsm_pin_secret) {
            (_, Some(secret)) => PinSource::Secret(secret.clone()),
            (Some(env), None) => PinSource::Env(env.clone()),
            (None, None) => PinSource::Env("ARGUS_HSM_PIN".to_owned()),
        };
        Ok(HsmToken {
            module,
            token: label.to_owned(),
            pin,
        })
    }
}

/// Where a key lives, for `keys list`: `file`, or `hsm:TOKEN`.
pub(crate) fn location(entry: &KeyEntry) -> String {
    match &entry.hsm {
        None => "file".to_owned(),
        Some(key) => format!("hsm:{}", key.token.token),
    }
}

/// The same, as JSON: `{"kind": "file"}` or the token's module, label, the
/// key's id and the PIN's source (never the PIN).
pub(crate) fn location_json(entry: &KeyEntry) -> serde_json::Value {
    match &entry.hsm {
        None => json!({ "kind": "file" }),
        Some(key) => json!({
            "kind": "hsm",
            "module": key.token.module,
            "token": key.token.token,
            "id": key.id,
            "pin": key.token.pin,
        }),
    }
}
