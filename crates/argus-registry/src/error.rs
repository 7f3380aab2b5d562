//! What can go wrong in the registry.

use argus_store::StoreError;

/// A registry operation that could not be done.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The database could not be opened or migrated.
    #[error(transparent)]
    Store { source: StoreError },
    /// A query failed.
    #[error("registry database error: {source}")]
    Database { source: StoreError },
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
    /// Two different contracts claim one address on one chain (or one
    /// artifact label): the registry would file one as a "new version" of
    /// the other, and a rule on the first would decode with the second's ABI.
    #[error(
        "{} conflict{} between sources; nothing was imported\n  {}",
        conflicts.len(),
        if conflicts.len() == 1 { "" } else { "s" },
        conflicts.join("\n  ")
    )]
    SourceConflict { conflicts: Vec<String> },
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

/// Whether `c` is a Unicode bidi control (it reorders what a terminal shows).
pub(crate) fn is_bidi_control(c: char) -> bool {
    matches!(
        c,
        '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
            | '\u{2028}' | '\u{2029}'
    )
}

/// Text from a file (a label, a file name) as a message shows it: control
/// and bidi characters written as Rust escapes (`\n`, `\u{1b}`), so the
/// message stays one line and names the text exactly. The CLI escapes its
/// output again; this keeps a message readable wherever else it goes.
pub(crate) fn shown(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() || is_bidi_control(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

impl From<StoreError> for RegistryError {
    /// A failed query is a `Database` error; opening, migrating, locking and
    /// the store's other refusals keep their own message (`Store`).
    fn from(source: StoreError) -> Self {
        match source {
            StoreError::Sqlite { .. }
            | StoreError::Postgres { .. }
            | StoreError::NoRows
            | StoreError::Conversion { .. } => RegistryError::Database { source },
            other => RegistryError::Store { source: other },
        }
    }
}
