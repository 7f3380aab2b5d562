//! The manifest: the first member of every backup, naming every other
//! member with its size and SHA-256, so `verify` and `restore` check each
//! byte after decrypting.

use serde::{Deserialize, Serialize};

/// The manifest's format name.
pub const FORMAT: &str = "argus-backup";
/// The manifest's version this crate writes and reads.
pub const VERSION: u32 = 1;
/// The member the manifest is stored as.
pub const MANIFEST_NAME: &str = "manifest.json";
/// The largest manifest read back.
pub(crate) const MAX_MANIFEST_BYTES: u64 = 16 * 1024 * 1024;

/// What a backup holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Always `argus-backup`.
    pub format: String,
    /// The manifest version (1).
    pub version: u32,
    /// When the snapshot was taken (RFC 3339, UTC).
    pub created: String,
    /// The host it was taken on.
    pub host: String,
    /// The argus that wrote it.
    pub argus_version: String,
    /// The database's schema version.
    pub schema_version: u32,
    /// The audit log's state in the snapshot (absent without a log).
    pub audit: Option<AuditState>,
    /// Every other member, in archive order.
    pub files: Vec<ManifestFile>,
}

/// The audit log as it was backed up (it verified at that moment).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditState {
    /// Entries in the log.
    pub entries: u64,
    /// Sealed segments.
    pub segments: u64,
    /// The hash of the last entry, hex.
    pub chain_head: String,
    /// The hash of the last checkpoint (the head), hex.
    pub last_checkpoint: String,
}

/// One member of the archive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestFile {
    /// Its path in the archive: `data/…` (restored into the data directory)
    /// or `config/…` (restored into `<dir>/restored-config/`).
    pub path: String,
    /// Where it came from (config and rule files: the path given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Its size in bytes.
    pub size: u64,
    /// Its SHA-256, hex.
    pub sha256: String,
}
