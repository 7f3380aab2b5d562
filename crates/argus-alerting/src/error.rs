//! What can go wrong in the alert pipeline.
//!
//! Messages never carry a secret: notifier errors name the notifier and the
//! field, never a URL (Slack, Discord and Telegram URLs hold their tokens).

use argus_core::Diagnostic;

/// Errors of the alert pipeline.
#[derive(Debug, thiserror::Error)]
pub enum AlertError {
    /// A query on the alert tables failed. Worth retrying when the database
    /// was busy; otherwise check the file and the disk.
    #[error(
        "alert store: {operation} failed: {source}; check that the database is writable and migrated (argus doctor)"
    )]
    Db {
        operation: &'static str,
        source: argus_store::StoreError,
    },
    /// The database could not be opened or a transaction started.
    #[error("alert store: {source}")]
    Store {
        #[from]
        source: argus_store::StoreError,
    },
    /// A row could not be read back (written by a newer Argus, or edited by hand).
    #[error(
        "alert store: row {id} of {table} is unreadable ({detail}); it was written by another version or edited by hand"
    )]
    CorruptRow {
        table: &'static str,
        id: String,
        detail: String,
    },
    /// The `alerting:` config has problems; every one is listed, each with
    /// the key path that holds it (`alerting.notifiers.ops.url`).
    #[error("the alerting config has {} problem(s):\n{}", problems.len(), problems.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
    Config { problems: Vec<Diagnostic> },
    /// A notifier's secret is not available.
    #[error(
        "notifier `{notifier}`: {field} is not set ({source_desc} is missing or empty); export it or fix the config"
    )]
    SecretMissing {
        notifier: String,
        field: &'static str,
        source_desc: String,
    },
    /// A notifier could not be built (TLS setup, bad address).
    #[error("notifier `{notifier}` cannot be built: {reason}")]
    NotifierBuild { notifier: String, reason: String },
    /// A silence asks for something impossible.
    #[error("silence refused: {reason}")]
    BadSilence { reason: String },
}

impl AlertError {
    pub(crate) fn db(
        operation: &'static str,
    ) -> impl FnOnce(argus_store::StoreError) -> AlertError {
        move |source| AlertError::Db { operation, source }
    }

    /// What is wrong with row `id` of `table`, for the row readers:
    /// `corrupt("unknown kind")`.
    pub(crate) fn corrupt_row(
        table: &'static str,
        id: impl ToString,
    ) -> impl Fn(&str) -> AlertError {
        let id = id.to_string();
        move |detail| AlertError::CorruptRow {
            table,
            id: id.clone(),
            detail: detail.to_owned(),
        }
    }

    /// Whether trying again later may succeed (a busy or locked database).
    pub fn is_retryable(&self) -> bool {
        match self {
            AlertError::Db { source, .. } => source.is_busy(),
            AlertError::Store { source } => source.is_busy(),
            _ => false,
        }
    }
}
