//! What can go wrong with a backup, and what to do about it. No error holds
//! an identity or a passphrase.

use std::path::PathBuf;

/// A backup error.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// A file or folder could not be read or written.
    #[error("cannot {action} {}: {source}; check the path and its permissions", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The database could not be copied.
    #[error("cannot copy the database: {0}")]
    Store(#[from] argus_store::StoreError),
    /// The vault could not be copied.
    #[error("cannot copy the vault: {0}")]
    Vault(#[from] argus_vault::VaultError),
    /// The audit log could not be copied or does not verify.
    #[error("audit log: {0}")]
    Audit(#[from] argus_audit::AuditError),
    /// The backup settings cannot be used.
    #[error("backup settings: {reason}")]
    Settings {
        /// What is wrong and what to do.
        reason: String,
    },
    /// Encrypting failed.
    #[error("cannot encrypt the backup: {reason}")]
    Encrypt {
        /// The cause.
        reason: String,
    },
    /// The identity or passphrase given does not open the backup, or the
    /// file is not an age file.
    #[error("cannot decrypt {}: {reason}", path.display())]
    Decrypt {
        /// The backup file.
        path: PathBuf,
        /// What was wrong and what to do.
        reason: String,
    },
    /// The backup decrypts but its contents do not match its manifest, or
    /// are not an Argus backup.
    #[error(
        "the backup {} is damaged or was altered: {reason}; use another copy (another \
         destination)",
        path.display()
    )]
    Damaged {
        /// The backup file.
        path: PathBuf,
        /// What did not match.
        reason: String,
    },
    /// `restore` was pointed at a folder that holds something.
    #[error(
        "{} is not empty: restore only into a new or empty data directory (it never overwrites); \
         give another --into",
        dir.display()
    )]
    NotEmpty {
        /// The folder.
        dir: PathBuf,
    },
    /// No backup was found where one was looked for.
    #[error("no backup in {}: run `argus backup create`", dir.display())]
    NoBackup {
        /// The folder looked in.
        dir: PathBuf,
    },
    /// A copy could not be delivered to a destination.
    #[error("destination {destination}: {reason}")]
    Destination {
        /// The destination as configured (a folder, or a command's program).
        destination: String,
        /// What went wrong.
        reason: String,
    },
}

impl BackupError {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io {
            action,
            path,
            source,
        }
    }
}
