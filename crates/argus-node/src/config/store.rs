//! `store:`: where the daemon keeps its state. Absent, it is the embedded
//! SQLite file `argus.db` in the data directory (one instance per
//! directory). A PostgreSQL URL shares one database between several
//! instances, which split the chains and the dispatching between them by
//! leases (`docs/scaling.md`):
//!
//! ```yaml
//! store: postgres://argus@db.internal:5432/argus       # password from ARGUS_STORE_PASSWORD
//! # or
//! store:
//!   url: postgres://argus@db.internal:5432/argus
//!   password: { vault: store-password }                # or { env: NAME }
//!   instance: eu-west-1a                               # default: <host>-<pid>
//!   lease: 9s                                          # a dead instance's work moves within 10 s
//! ```
//!
//! The password is never written in the config: a URL holding one is
//! refused, as a literal backup passphrase is.

use std::time::Duration;

use serde::Deserialize;
use serde_saphyr::Spanned;

use super::Collector;

/// The default environment variable holding the store's password.
pub const STORE_PASSWORD_ENV: &str = "ARGUS_STORE_PASSWORD";

/// A PostgreSQL store, as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreConfig {
    /// `postgres://user@host:port/database` (no password).
    pub url: String,
    /// Where the password comes from.
    pub password: StorePassword,
    /// This instance's id among those sharing the database.
    pub instance: Option<String>,
    /// How long a lease lasts without renewal.
    pub lease: Duration,
}

/// Where the store's password comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorePassword {
    /// An environment variable (`ARGUS_STORE_PASSWORD` by default; unset:
    /// no password, e.g. trust or peer authentication).
    Env(String),
    /// A secret sealed in the vault, unsealed with the master key.
    Vault(String),
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum StoreSection {
    Url(String),
    Full(FullSection),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FullSection {
    url: String,
    #[serde(default)]
    password: Option<PasswordSection>,
    #[serde(default)]
    instance: Option<String>,
    #[serde(default, deserialize_with = "argus_core::duration::deserialize_option")]
    lease: Option<Duration>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PasswordSection {
    #[serde(default)]
    env: Option<String>,
    #[serde(default)]
    vault: Option<String>,
}

/// Types and checks the section; every problem is reported at it.
pub(super) fn store_config(
    out: &mut Collector,
    raw: &Spanned<serde_json::Value>,
) -> Option<StoreConfig> {
    let section = out.item::<StoreSection>("store", raw)?;
    let before = out.diagnostics.len();
    let (url, password, instance, lease) = match section {
        StoreSection::Url(url) => (url, None, None, None),
        StoreSection::Full(full) => (full.url, full.password, full.instance, full.lease),
    };
    let url = url.trim().to_owned();
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        out.at(
            raw,
            "store: give a PostgreSQL URL (postgres://user@host:port/database); leave `store` out for the embedded SQLite file in the data directory",
        );
    } else if argus_store::redact_url(&url) != url {
        out.at(
            raw,
            format!(
                "store: the URL holds a password ({}); take it out and give `password: {{ env: NAME }}` or `password: {{ vault: NAME }}` (by default the password is read from {STORE_PASSWORD_ENV})",
                argus_store::redact_url(&url)
            ),
        );
    } else if url.parse::<postgres_url::Checked>().is_err() {
        out.at(
            raw,
            "store: not a PostgreSQL connection URL (postgres://user@host:port/database)",
        );
    }
    let password = match password {
        None => StorePassword::Env(STORE_PASSWORD_ENV.to_owned()),
        Some(PasswordSection {
            env: Some(name),
            vault: None,
        }) if !name.trim().is_empty() => StorePassword::Env(name.trim().to_owned()),
        Some(PasswordSection {
            env: None,
            vault: Some(name),
        }) if !name.trim().is_empty() => StorePassword::Vault(name.trim().to_owned()),
        Some(_) => {
            out.at(
                raw,
                "store.password: give exactly one of `env: VARIABLE` or `vault: SECRET_NAME` (never the password itself)",
            );
            StorePassword::Env(STORE_PASSWORD_ENV.to_owned())
        }
    };
    if let Some(id) = &instance
        && (id.trim().is_empty()
            || id.len() > 128
            || id.chars().any(|c| c.is_control() || c.is_whitespace()))
    {
        out.at(
            raw,
            "store.instance: a name of 1 to 128 characters without spaces",
        );
    }
    let lease = lease.unwrap_or(argus_store::lease::DEFAULT_LEASE);
    if lease < Duration::from_secs(2) || lease > Duration::from_secs(300) {
        out.at(
            raw,
            format!(
                "store.lease: {} s is out of range; give 2 s to 5 min (default 9 s)",
                lease.as_secs_f64()
            ),
        );
    }
    (out.diagnostics.len() == before).then_some(StoreConfig {
        url,
        password,
        instance,
        lease,
    })
}

mod postgres_url {
    //! Whether a URL parses as PostgreSQL's connection URL, without
    //! taking the client crate into the config's dependencies: the store
    //! parses it again when it opens (and reports the same).
    #[derive(Debug)]
    pub(super) struct Checked;

    impl std::str::FromStr for Checked {
        type Err = ();

        fn from_str(url: &str) -> Result<Self, ()> {
            let rest = url
                .strip_prefix("postgres://")
                .or_else(|| url.strip_prefix("postgresql://"))
                .ok_or(())?;
            let authority = rest.split(['/', '?']).next().unwrap_or("");
            let host = authority.rsplit('@').next().unwrap_or("");
            if host.is_empty() {
                return Err(());
            }
            Ok(Checked)
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn check(yaml: &str) -> (Option<StoreConfig>, Vec<String>) {
        let raw: Spanned<serde_json::Value> = serde_saphyr::from_str(yaml).unwrap();
        let mut out = Collector::new(std::path::Path::new("argus.yaml"));
        let config = store_config(&mut out, &raw);
        (
            config,
            out.diagnostics.iter().map(|d| d.message.clone()).collect(),
        )
    }

    #[test]
    fn a_url_alone_reads_the_password_from_the_default_variable() {
        let (config, problems) = check("postgres://argus@db:5432/argus");
        assert!(problems.is_empty(), "{problems:?}");
        let config = config.unwrap();
        assert_eq!(
            config.password,
            StorePassword::Env(STORE_PASSWORD_ENV.into())
        );
        assert_eq!(config.lease, argus_store::lease::DEFAULT_LEASE);
    }

    #[test]
    fn the_full_form_names_its_secret_instance_and_lease() {
        let (config, problems) = check(
            "{ url: 'postgres://argus@db/argus', password: { vault: pg }, instance: a-1, lease: 4s }",
        );
        assert!(problems.is_empty(), "{problems:?}");
        let config = config.unwrap();
        assert_eq!(config.password, StorePassword::Vault("pg".into()));
        assert_eq!(config.instance.as_deref(), Some("a-1"));
        assert_eq!(config.lease, Duration::from_secs(4));
    }

    #[test]
    fn a_password_in_the_url_is_refused_without_being_echoed() {
        let (config, problems) = check("postgres://argus:hunter2@db/argus");
        assert!(config.is_none());
        assert!(problems[0].contains("holds a password"), "{problems:?}");
        assert!(!problems[0].contains("hunter2"));
    }

    #[test]
    fn other_schemes_and_bad_values_are_refused() {
        assert!(check("sqlite:argus.db").0.is_none());
        assert!(
            check("{ url: 'postgres://argus@db/a', lease: 1s }")
                .0
                .is_none()
        );
        assert!(
            check("{ url: 'postgres://argus@db/a', instance: 'a b' }")
                .0
                .is_none()
        );
        assert!(
            check("{ url: 'postgres://argus@db/a', password: { env: A, vault: B } }")
                .0
                .is_none()
        );
        assert!(check("postgres:///nohost").0.is_none());
    }
}
