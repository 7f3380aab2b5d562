//! What can go wrong with the audit log, and what to do about it.

use std::path::PathBuf;

/// An audit-log error.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// A file of the log could not be read or written.
    #[error("cannot {action} {}: {source}; check the path and its permissions", path.display())]
    Io {
        /// What was being done ("open", "write", "sync"…).
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Another process holds the log for writing.
    #[error(
        "the audit log {} is held by another argus process; stop it or wait for it to finish",
        path.display()
    )]
    Locked {
        /// The lock file.
        path: PathBuf,
    },
    /// The bytes are not an audit log, or are damaged: a record cannot be read.
    #[error(
        "the audit log is damaged at byte {offset}: {reason}; the log cannot be trusted past this \
         point — keep a copy of the file as evidence and compare it with your last exported \
         checkpoint (`argus audit head`)"
    )]
    Corrupt {
        /// Byte offset in the file where reading failed.
        offset: u64,
        /// What was wrong.
        reason: String,
    },
    /// The log reads but does not verify: a hash, a link, a sequence number,
    /// a Merkle root or a signature does not match.
    #[error(
        "the audit log does not verify at byte {offset}{}: {reason}; it was modified after it was \
         written — keep a copy of the file as evidence",
        seq.map(|s| format!(" (entry {s})")).unwrap_or_default()
    )]
    Tampered {
        /// Byte offset of the record that failed.
        offset: u64,
        /// The entry's sequence number, when the failure is about an entry.
        seq: Option<u64>,
        /// What did not match.
        reason: String,
    },
    /// The checkpoint key file cannot be used.
    #[error("the audit checkpoint key {} is unusable: {reason}", path.display())]
    Key {
        /// The key file.
        path: PathBuf,
        /// What is wrong and what to do.
        reason: String,
    },
    /// The system random source failed.
    #[error("the system random source failed: {reason}; retry, and check /dev/urandom")]
    Random {
        /// The cause.
        reason: String,
    },
    /// An entry cannot be written as given.
    #[error("invalid audit entry: {reason}")]
    InvalidEntry {
        /// What is wrong.
        reason: String,
    },
    /// A retention period or policy cannot be read.
    #[error("invalid retention `{text}`: {reason}")]
    Retention {
        /// The text given.
        text: String,
        /// What is wrong.
        reason: String,
    },
    /// The group-commit writer stopped (its thread ended after an error).
    #[error(
        "the audit writer has stopped: {reason}; restart argus — entries since are not recorded"
    )]
    WriterStopped {
        /// Why.
        reason: String,
    },
}

impl AuditError {
    /// The same error with its reason rewritten by `f`, when it is a
    /// damage (`Tampered`, `Corrupt`); any other error as it is.
    pub(crate) fn map_reason(self, f: impl FnOnce(String) -> String) -> Self {
        match self {
            Self::Tampered {
                offset,
                seq,
                reason,
            } => Self::Tampered {
                offset,
                seq,
                reason: f(reason),
            },
            Self::Corrupt { offset, reason } => Self::Corrupt {
                offset,
                reason: f(reason),
            },
            other => other,
        }
    }

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

    pub(crate) fn corrupt(offset: usize, reason: impl Into<String>) -> Self {
        Self::Corrupt {
            offset: offset as u64,
            reason: reason.into(),
        }
    }

    pub(crate) fn tampered(offset: usize, seq: Option<u64>, reason: impl Into<String>) -> Self {
        Self::Tampered {
            offset: offset as u64,
            seq,
            reason: reason.into(),
        }
    }
}
