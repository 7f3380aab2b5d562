//! Secrets of the notifiers: webhook signing keys, Slack and Discord URLs
//! (whoever knows one can post to the channel), the Telegram bot token, the
//! PagerDuty routing key, the SMTP password.
//!
//! A [`Secret`] prints `[redacted]` under `Debug` and `Display`, is wiped from
//! memory when dropped, and is only read through [`Secret::expose`] at the
//! moment a request is built. Configs name where a secret comes from with a
//! [`SecretSource`]: a secret sealed in the vault under the master key
//! (`{ vault: NAME }`, set with `argus keys secret set NAME`), an environment
//! variable (`{ env: NAME }`), or a literal string (allowed, but `argus
//! doctor` warns: the config file then holds the secret).

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};
use zeroize::Zeroizing;

/// A secret string, redacted in output and zeroized on drop.
#[derive(Clone)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: String) -> Self {
        Self(Zeroizing::new(value))
    }

    /// The value, for building a request; never log or format it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the secret is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Secret::new)
    }
}

/// Where a secret comes from.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum SecretSource {
    /// `{ env: NAME }`: read from the environment when the notifier is built.
    Env {
        /// The variable's name.
        env: String,
    },
    /// `{ vault: NAME }`: a secret sealed in the vault, unsealed with the
    /// master key when the daemon starts.
    Vault {
        /// The sealed secret's name.
        vault: String,
    },
    /// A literal value in the config file (`argus doctor` warns about it).
    Literal(Secret),
}

/// Only the reference is written back, never a literal value.
impl Serialize for SecretSource {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(1))?;
        match self {
            SecretSource::Env { env } => map.serialize_entry("env", env)?,
            SecretSource::Vault { vault } => map.serialize_entry("vault", vault)?,
            SecretSource::Literal(_) => map.serialize_entry("literal", "[redacted]")?,
        }
        map.end()
    }
}

impl SecretSource {
    /// Whether the config file itself holds the secret (`argus doctor` warns).
    pub fn is_literal(&self) -> bool {
        matches!(self, SecretSource::Literal(_))
    }

    /// The name of the vault secret this refers to, if it is one.
    pub fn vault_name(&self) -> Option<&str> {
        match self {
            SecretSource::Vault { vault } => Some(vault),
            _ => None,
        }
    }

    /// The secret's value: environment variables through `env`, vault
    /// secrets through `vault`. `None` when it is unset or empty.
    pub fn resolve_with(
        &self,
        env: &dyn Fn(&str) -> Option<String>,
        vault: &dyn Fn(&str) -> Option<Secret>,
    ) -> Option<Secret> {
        match self {
            SecretSource::Env { env: name } => env(name).filter(|v| !v.is_empty()).map(Secret::new),
            SecretSource::Vault { vault: name } => vault(name).filter(|v| !v.is_empty()),
            SecretSource::Literal(secret) if !secret.is_empty() => Some(secret.clone()),
            SecretSource::Literal(_) => None,
        }
    }

    /// A short description for errors: where the secret was looked for.
    pub fn describe(&self) -> String {
        match self {
            SecretSource::Env { env } => format!("environment variable {env}"),
            SecretSource::Vault { vault } => {
                format!("vault secret {vault} (seal it with `argus keys secret set {vault}`)")
            }
            SecretSource::Literal(_) => "the literal value in the config".to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn debug_and_display_redact() {
        let secret = Secret::new("hunter2-canary".to_owned());
        assert_eq!(format!("{secret:?}"), "[redacted]");
        assert_eq!(format!("{secret}"), "[redacted]");
        let source = SecretSource::Literal(secret);
        assert!(!format!("{source:?}").contains("hunter2"));
        assert!(!serde_json::to_string(&source).unwrap().contains("hunter2"));
    }

    #[test]
    fn env_sources_resolve_and_empty_is_missing() {
        let source = SecretSource::Env {
            env: "X".to_owned(),
        };
        let no_vault = |_: &str| -> Option<Secret> { None };
        let got = source.resolve_with(&|name| (name == "X").then(|| "v".to_owned()), &no_vault);
        assert_eq!(got.unwrap().expose(), "v");
        assert!(
            source
                .resolve_with(&|_| Some(String::new()), &no_vault)
                .is_none()
        );
        assert!(source.resolve_with(&|_| None, &no_vault).is_none());
    }

    #[test]
    fn vault_sources_resolve_from_the_vault_only() {
        let source: SecretSource = serde_json::from_str(r#"{"vault":"hook"}"#).unwrap();
        assert_eq!(source.vault_name(), Some("hook"));
        let env = |_: &str| Some("from-env".to_owned());
        let got = source.resolve_with(&env, &|name| {
            (name == "hook").then(|| Secret::new("sealed".to_owned()))
        });
        assert_eq!(got.unwrap().expose(), "sealed");
        assert!(source.resolve_with(&env, &|_| None).is_none());
        assert_eq!(
            serde_json::to_string(&source).unwrap(),
            r#"{"vault":"hook"}"#
        );
    }
}
