//! Which store the one-shot commands open: the SQLite file in the data
//! directory, or, with `--store postgres://…` (or `ARGUS_STORE`), the
//! PostgreSQL database several instances share, so that `argus incidents
//! ack`, `argus alerts list` or `argus registry import` act on the state the
//! daemons see. The password comes from `ARGUS_STORE_PASSWORD`. `argus run`
//! and the commands given `-c argus.yaml` follow the config's `store:`.

use std::path::Path;
use std::sync::OnceLock;

use argus_registry::{Registry, RegistryError};
use argus_store::{Store, StoreError};
use zeroize::Zeroizing;

static SHARED: OnceLock<Option<String>> = OnceLock::new();

/// Records `--store` / `ARGUS_STORE` (once, from `main`).
pub(crate) fn init(url: Option<String>) {
    let _ = SHARED.set(url.filter(|u| !u.trim().is_empty()));
}

fn shared() -> Option<&'static str> {
    SHARED.get().and_then(Option::as_deref)
}

/// Whether `--store` (or `ARGUS_STORE`) names a shared database.
pub(crate) fn is_shared() -> bool {
    shared().is_some()
}

fn open_shared(url: &str) -> Result<Store, StoreError> {
    open_postgres(url, "--store", argus_node::config::STORE_PASSWORD_ENV)
}

/// Opens the PostgreSQL store at `url` (named `what` in messages) with the
/// password from the environment variable `password_env` (none when it is
/// unset). A URL holding a password is refused: it would be seen in the
/// process list and in shell histories.
pub(crate) fn open_postgres(
    url: &str,
    what: &str,
    password_env: &str,
) -> Result<Store, StoreError> {
    if argus_store::redact_url(url) != url {
        return Err(StoreError::Config {
            detail: format!(
                "{what} holds a password ({}); give it in {password_env} instead",
                argus_store::redact_url(url)
            ),
        });
    }
    let password = std::env::var(password_env)
        .ok()
        .filter(|p| !p.is_empty())
        .map(Zeroizing::new);
    Store::open_postgres(url, password.as_ref().map(|p| p.as_str()))
}

/// The store to write: the shared one, or `argus.db` in `data_dir`
/// (created and migrated as needed).
pub(crate) fn open(data_dir: &Path) -> Result<Store, StoreError> {
    match shared() {
        Some(url) => open_shared(url),
        None => Store::open_in_dir(data_dir),
    }
}

/// The store to read: the shared one, or `argus.db` in `data_dir` opened
/// read-only (nothing created or migrated).
pub(crate) fn open_read_only(data_dir: &Path) -> Result<Store, StoreError> {
    match shared() {
        Some(url) => open_shared(url),
        None => Store::open_read_only_in_dir(data_dir),
    }
}

/// The registry over [`open`].
pub(crate) fn registry(data_dir: &Path) -> Result<Registry, RegistryError> {
    Registry::open(&open(data_dir)?)
}

/// The registry over [`open_read_only`].
pub(crate) fn registry_read_only(data_dir: &Path) -> Result<Registry, RegistryError> {
    Registry::open(&open_read_only(data_dir)?)
}

/// Whether there is a store to read: the shared one, or `argus.db` in
/// `data_dir`.
pub(crate) fn exists(data_dir: &Path) -> bool {
    shared().is_some() || data_dir.join(argus_store::DATABASE_FILE).exists()
}
