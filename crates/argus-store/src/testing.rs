//! The store the tests of every stage run against: SQLite in memory by
//! default, or a new database on the PostgreSQL server named by
//! `ARGUS_TEST_POSTGRES` (a URL whose database is one the role may create
//! databases from, e.g. `postgres://argus@127.0.0.1:5433/postgres`), so the
//! same tests run against both backends (`scripts/test` runs them twice).

use std::sync::atomic::{AtomicU64, Ordering};

use crate::{Store, StoreError};

/// The environment variable naming the PostgreSQL server of the tests.
pub const TEST_POSTGRES_ENV: &str = "ARGUS_TEST_POSTGRES";

/// A fresh, migrated store: in memory, or a new PostgreSQL database when
/// [`TEST_POSTGRES_ENV`] is set.
pub fn store() -> Result<Store, StoreError> {
    match std::env::var(TEST_POSTGRES_ENV) {
        Ok(url) if !url.is_empty() => fresh_postgres(&url),
        _ => Store::open_in_memory(),
    }
}

/// The store of a data directory: its SQLite file (`Store::open_in_dir`),
/// or, when [`TEST_POSTGRES_ENV`] is set, a PostgreSQL database of its own,
/// the same one every time this process asks for the same directory (a
/// test that stops a node and starts another on the same data directory
/// finds its state again).
pub fn store_in_dir(dir: impl AsRef<std::path::Path>) -> Result<Store, StoreError> {
    use std::collections::BTreeMap;
    use std::path::PathBuf;
    use std::sync::Mutex;
    static BY_DIR: Mutex<BTreeMap<PathBuf, Store>> = Mutex::new(BTreeMap::new());
    let dir = dir.as_ref();
    match std::env::var(TEST_POSTGRES_ENV) {
        Ok(url) if !url.is_empty() => {
            let mut by_dir = match BY_DIR.lock() {
                Ok(guard) => guard,
                Err(poisoned) => poisoned.into_inner(),
            };
            if let Some(store) = by_dir.get(dir) {
                return Ok(store.clone());
            }
            crate::create_private_dir(dir)?;
            let store = fresh_postgres(&url)?;
            by_dir.insert(dir.to_owned(), store.clone());
            Ok(store)
        }
        _ => Store::open_in_dir(dir),
    }
}

/// A new database on the server of `admin_url`, opened and migrated.
pub fn fresh_postgres(admin_url: &str) -> Result<Store, StoreError> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let name = format!(
        "argus_test_{}_{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos()),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let admin = Store::open_postgres_unmigrated(admin_url)?;
    admin
        .connect()?
        .execute_batch(&format!("CREATE DATABASE {name}"))?;
    let url = match admin_url.rfind('/') {
        Some(at) if admin_url[..at].contains("://") && !admin_url[..at].ends_with('/') => {
            let query = admin_url[at..]
                .find('?')
                .map_or("", |q| &admin_url[at + q..]);
            format!("{}/{name}{query}", &admin_url[..at])
        }
        _ => {
            return Err(StoreError::Config {
                detail: format!(
                    "{TEST_POSTGRES_ENV} must name a database: postgres://user@host:port/db"
                ),
            });
        }
    };
    Store::open_postgres(&url, None)
}
