//! What can go wrong in the registry.

use argus_store::StoreError;

/// A registry operation that could not be done.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The database could not be opened or migrated.
    #[error(transparent)]
    Store {
        #[from]
        source: StoreError,
    },
    /// A query failed.
    #[error("registry database error: {source}")]
    Database {
        #[from]
        source: rusqlite::Error,
    },
    /// A row holds something this binary cannot read back.
    #[error("registry entry {entry_id} is corrupt: {what}; re-import it or remove it")]
    Corrupt { entry_id: i64, what: String },
    /// Nothing matches.
    #[error("no registry entry matches `{target}`{}; see `argus registry list`", scope_hint(.scope))]
    NotFound { target: String, scope: String },
    /// Several entries match.
    #[error(
        "`{target}` matches several entries ({}); pass --chain to choose one",
        candidates.join(", ")
    )]
    Ambiguous {
        target: String,
        candidates: Vec<String>,
    },
    /// Contracts read from files that the registry cannot file as they are.
    #[error(
        "{} contract{} cannot be filed; nothing was imported\n  {}",
        problems.len(),
        if problems.len() == 1 { "" } else { "s" },
        problems.join("\n  ")
    )]
    Unstorable { problems: Vec<String> },
    /// A label that cannot be used.
    #[error("`{label}` cannot be a label: {reason}")]
    InvalidLabel { label: String, reason: String },
    /// A label already used on that chain.
    #[error(
        "the label `{label}` is already used by {holder}; choose another or relabel that one first"
    )]
    LabelTaken { label: String, holder: String },
    /// A proxy link that does not make sense.
    #[error("cannot link {proxy} to {implementation}: {reason}")]
    BadLink {
        proxy: String,
        implementation: String,
        reason: String,
    },
}

fn scope_hint(scope: &str) -> String {
    if scope.is_empty() {
        String::new()
    } else {
        format!(" {scope}")
    }
}
