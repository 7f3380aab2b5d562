//! Encrypted backups of an Argus data directory.
//!
//! A backup is one consistent snapshot of what a node needs to start where
//! it was: the database (`VACUUM INTO`, which reads in one transaction, so a
//! running daemon neither blocks it nor tears it), the vault (`CURRENT` and
//! the generation it names, under the vault's lock, so a master-key
//! rotation cannot switch generations half way through the copy), the
//! audit log (every segment, the active file, `head` and `checkpoint.pub`,
//! under the log's writer lock, so no commit lands half way; the copy is
//! verified before it is packed) and the config and rule files named.
//!
//! # Format
//! A tar archive (ustar) in the [age](https://age-encryption.org/v1)
//! format, so the standard `age` tool opens it too:
//!
//! ```text
//! age -d -i identity.txt argus-backup-20261201T050000Z-host.tar.age | tar -x
//! manifest.json            format, version, time, host, schema version,
//!                          audit head, and every member's size and SHA-256
//! data/argus.db            the database
//! data/keystore/…          CURRENT and its generation
//! data/audit/…             segments, audit.log, head, checkpoint.pub
//! config/0-argus.yaml      the config and rule files, numbered in order
//! ```
//!
//! Encrypted to one or more X25519 recipients (`age1…`), or to a
//! passphrase (age's scrypt recipient); never both, which age forbids.
//! [`verify`] and [`restore`] decrypt, check every member against the
//! manifest, and refuse anything unnamed, duplicated, outside `data/` and
//! `config/`, or missing.
//!
//! # Secrets
//! Identities and passphrases live in zeroizing buffers, never appear in an
//! error, a `Debug` or a log. The vault's files in a backup are what they
//! are on disk: keystores encrypted under the master key.

mod archive;
mod destination;
mod error;
mod manifest;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use argus_audit::AuditPaths;
use jiff::Timestamp;
use serde::Serialize;
use zeroize::Zeroizing;

pub use archive::{Unlock, open_backup};
pub use destination::{
    BackupFile, Destination, PREFIX, Retention, SUFFIX, apply_retention, backup_name, list,
};
pub use error::BackupError;
/// The duration type retention is given in.
pub use jiff::SignedDuration;
pub use manifest::{AuditState, FORMAT, MANIFEST_NAME, Manifest, ManifestFile, VERSION};

/// Who a backup is encrypted to.
pub enum Encryption {
    /// X25519 recipients (`age1…`): whoever holds one of their identities
    /// opens it.
    Recipients(Vec<age::x25519::Recipient>),
    /// A passphrase (age's scrypt recipient).
    Passphrase(Zeroizing<String>),
}

impl std::fmt::Debug for Encryption {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Recipients(r) => f
                .debug_tuple("Recipients")
                .field(&r.iter().map(ToString::to_string).collect::<Vec<_>>())
                .finish(),
            Self::Passphrase(_) => f.write_str("Passphrase(<redacted>)"),
        }
    }
}

/// Checks one recipient: an age X25519 public key (`age1…`).
pub fn check_recipient(text: &str) -> Result<(), String> {
    text.trim()
        .parse::<age::x25519::Recipient>()
        .map(drop)
        .map_err(|why| {
            format!(
                "`{}` is not an age X25519 public key (`age1…`, from `age-keygen`): {why}",
                text.trim()
            )
        })
}

impl Encryption {
    /// Parses `age1…` recipients; names the one that is not.
    pub fn recipients<S: AsRef<str>>(texts: &[S]) -> Result<Self, BackupError> {
        let mut out = Vec::new();
        for (i, text) in texts.iter().enumerate() {
            let text = text.as_ref().trim();
            let recipient = text.parse().map_err(|why| BackupError::Settings {
                reason: format!(
                    "recipient {i} ({text}) is not an age X25519 public key (`age1…`, from \
                     `age-keygen`): {why}"
                ),
            })?;
            out.push(recipient);
        }
        if out.is_empty() {
            return Err(BackupError::Settings {
                reason: "no recipient; give at least one `age1…` public key or a passphrase".into(),
            });
        }
        Ok(Self::Recipients(out))
    }
}

/// What to back up: the data directory and the config and rule files.
#[derive(Debug, Clone)]
pub struct Source {
    /// The node's data directory.
    pub data_dir: PathBuf,
    /// The config and rule files, in order.
    pub config_files: Vec<PathBuf>,
}

/// Where copies go and how many are kept.
#[derive(Debug, Clone, Default)]
pub struct Targets {
    /// One or more destinations.
    pub destinations: Vec<Destination>,
    /// Retention in the folder destinations.
    pub retention: Retention,
}

/// One destination's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct Delivery {
    /// The destination as configured.
    pub destination: String,
    /// Where the copy went, when it did.
    pub delivered: Option<String>,
    /// Why it did not.
    pub error: Option<String>,
    /// Old backups removed there by retention.
    pub removed: Vec<PathBuf>,
}

/// What [`create`] did.
#[derive(Debug, Clone, Serialize)]
pub struct CreateReport {
    /// The backup's file name.
    pub name: String,
    /// Its size, encrypted.
    pub bytes: u64,
    /// The SHA-256 of the encrypted file, hex (to compare copies).
    pub sha256: String,
    /// What it holds.
    pub manifest: Manifest,
    /// Each destination's outcome, in order.
    pub deliveries: Vec<Delivery>,
}

impl CreateReport {
    /// Whether every destination got its copy.
    pub fn all_delivered(&self) -> bool {
        self.deliveries.iter().all(|d| d.error.is_none())
    }
}

/// This host's name, for the manifest and the file name.
pub fn host_name() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown-host".into())
}

/// Takes one snapshot of `source`, encrypts it and delivers it to every
/// destination, then applies retention in the folders that got it. A
/// destination that fails does not stop the others: see
/// [`CreateReport::all_delivered`].
pub fn create(
    source: &Source,
    encryption: &Encryption,
    targets: &Targets,
    host: &str,
    now: Timestamp,
) -> Result<CreateReport, BackupError> {
    if targets.destinations.is_empty() {
        return Err(BackupError::Settings {
            reason: "no destination; give at least one (`dir: PATH` or `command: …`)".into(),
        });
    }
    let staging = staging_dir(&source.data_dir)?;
    let root = staging.path().join("snapshot");
    let manifest = snapshot(source, &root, host, now)?;
    let name = backup_name(now, host);
    let file = staging.path().join(&name);
    archive::write(&file, &root, &manifest, encryption)?;
    let bytes = fs::metadata(&file)
        .map_err(BackupError::io("read", &file))?
        .len();
    let sha256 = archive::file_sha256(&file)?;
    let mut deliveries = Vec::new();
    for destination in &targets.destinations {
        let mut delivery = Delivery {
            destination: destination.describe(),
            delivered: None,
            error: None,
            removed: Vec::new(),
        };
        match destination::deliver(destination, &file, &name) {
            Ok(to) => {
                delivery.delivered = Some(to);
                if let Destination::Dir(dir) = destination {
                    match apply_retention(dir, &targets.retention, now) {
                        Ok(removed) => delivery.removed = removed,
                        Err(e) => delivery.error = Some(format!("retention: {e}")),
                    }
                }
            }
            Err(e) => delivery.error = Some(e.to_string()),
        }
        deliveries.push(delivery);
    }
    Ok(CreateReport {
        name,
        bytes,
        sha256,
        manifest,
        deliveries,
    })
}

/// A backup copies the embedded SQLite database file; a PostgreSQL store
/// is backed up with PostgreSQL's own tools, so it is refused by name.
fn refuse_postgres(store: &argus_store::Store) -> Result<(), BackupError> {
    match store.dialect() {
        argus_store::Dialect::Sqlite => Ok(()),
        argus_store::Dialect::Postgres => Err(BackupError::Settings {
            reason: format!(
                "the store is the PostgreSQL database {}; argus backup copies only the embedded \
                 SQLite store: back PostgreSQL up with its own tools (pg_dump, or the server's \
                 base backups and WAL archive)",
                store.describe()
            ),
        }),
    }
}

/// A private folder beside the data (same file system), removed on drop.
fn staging_dir(data_dir: &Path) -> Result<tempfile::TempDir, BackupError> {
    tempfile::Builder::new()
        .prefix(".argus-backup-")
        .tempdir_in(data_dir)
        .map_err(BackupError::io("create a staging folder in", data_dir))
}

/// Copies everything into `root/data/` and `root/config/` and makes the
/// manifest.
fn snapshot(
    source: &Source,
    root: &Path,
    host: &str,
    now: Timestamp,
) -> Result<Manifest, BackupError> {
    let out = &root.join("data");
    private_dir(out)?;
    let store = argus_store::Store::open_read_only_in_dir(&source.data_dir)?;
    refuse_postgres(&store)?;
    let conn = store.connect()?;
    let schema_version = conn.schema_version()?;
    conn.snapshot_into(&out.join(argus_store::DATABASE_FILE))?;
    drop(conn);

    let keystore = source.data_dir.join("keystore");
    if argus_vault::Vault::exists(&keystore) {
        let files = retry_busy(|| match argus_vault::snapshot(&keystore) {
            Err(argus_vault::VaultError::Busy { .. }) => Ok(None),
            other => other.map(Some).map_err(BackupError::from),
        })?;
        for (relative, bytes) in files {
            write_private(&out.join("keystore").join(relative), bytes.as_slice())?;
        }
    }

    let audit_paths = AuditPaths::new(&source.data_dir);
    let mut audit = None;
    if audit_paths.exists() {
        let files = retry_busy(|| match argus_audit::snapshot(&audit_paths) {
            Err(argus_audit::AuditError::Locked { .. }) => Ok(None),
            other => other.map(Some).map_err(BackupError::from),
        })?;
        for (relative, bytes) in files {
            write_private(&out.join("audit").join(relative), bytes.as_slice())?;
        }
        let copy = AuditPaths::new(out);
        let verifier = argus_audit::CheckpointVerifier::load(&copy.public_key)?;
        let report = argus_audit::verify(&copy, &verifier)?;
        audit = Some(AuditState {
            entries: report.entries,
            segments: report.segments,
            chain_head: hex::encode(report.chain_head),
            last_checkpoint: hex::encode(report.last_checkpoint),
        });
    }

    for (i, path) in source.config_files.iter().enumerate() {
        let bytes = argus_core::file::read_capped(
            path,
            argus_core::file::MAX_CONFIG_BYTES * 2,
            "config file",
        )
        .map_err(|e| BackupError::Settings {
            reason: format!("cannot read {}: {}", path.display(), e.reason()),
        })?;
        let base = path
            .file_name()
            .map_or_else(|| "config".into(), |n| n.to_string_lossy().into_owned());
        write_private(&root.join("config").join(format!("{i}-{base}")), &bytes)?;
    }

    let mut files = archive::list_members(root)?;
    for file in &mut files {
        if let Some(i) = file
            .path
            .strip_prefix("config/")
            .and_then(|rest| rest.split_once('-'))
            .and_then(|(i, _)| i.parse::<usize>().ok())
        {
            file.source = source.config_files.get(i).map(|p| p.display().to_string());
        }
    }
    Ok(Manifest {
        format: FORMAT.into(),
        version: VERSION,
        created: now.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        host: host.into(),
        argus_version: env!("CARGO_PKG_VERSION").into(),
        schema_version,
        audit,
        files,
    })
}

/// Runs `f` until it stops answering `None` (the lock is held by a writer
/// for one commit), up to 10 s.
fn retry_busy<T>(mut f: impl FnMut() -> Result<Option<T>, BackupError>) -> Result<T, BackupError>
where
{
    for _ in 0..200 {
        if let Some(value) = f()? {
            return Ok(value);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(BackupError::Settings {
        reason: "the vault or the audit log stayed locked for 10 s; another argus process holds \
                 it (a `keys` command, `audit prune`); try again when it is done"
            .into(),
    })
}

pub(crate) fn private_dir(dir: &Path) -> Result<(), BackupError> {
    use std::os::unix::fs::DirBuilderExt as _;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(BackupError::io("create", dir))
}

pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> Result<(), BackupError> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    if let Some(parent) = path.parent() {
        private_dir(parent)?;
    }
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(BackupError::io("create", path))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(BackupError::io("write", path))
}

/// What [`verify`] found: the backup decrypts and every member matches.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    /// The file.
    pub path: PathBuf,
    /// What it holds.
    pub manifest: Manifest,
    /// Bytes of content checked.
    pub bytes: u64,
}

/// Decrypts `path` and checks every member against the manifest, writing
/// nothing.
pub fn verify(path: &Path, unlock: &Unlock) -> Result<VerifyReport, BackupError> {
    let (manifest, bytes) = open_backup(path, unlock, None)?;
    Ok(VerifyReport {
        path: path.to_path_buf(),
        manifest,
        bytes,
    })
}

/// What [`restore`] did.
#[derive(Debug, Clone, Serialize)]
pub struct RestoreReport {
    /// The data directory written.
    pub into: PathBuf,
    /// What the backup held.
    pub manifest: Manifest,
    /// The restored audit log, verified (absent when the backup had none).
    pub audit: Option<argus_audit::VerifyReport>,
    /// The restored database's schema version, read back.
    pub schema_version: u32,
    /// Where the config and rule files went.
    pub config_dir: Option<PathBuf>,
}

/// Restores `path` into `into`, which must not exist or be empty: `data/`
/// becomes the data directory, `config/` goes to `<into>/restored-config/`.
/// The restored database is opened and the audit log verified before it
/// returns; on any failure what was written is removed again.
pub fn restore(path: &Path, unlock: &Unlock, into: &Path) -> Result<RestoreReport, BackupError> {
    match fs::read_dir(into) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(BackupError::NotEmpty {
                    dir: into.to_path_buf(),
                });
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => private_dir(into)?,
        Err(e) => return Err(BackupError::io("read", into)(e)),
    }
    let result = restore_inner(path, unlock, into);
    if result.is_err()
        && let Ok(entries) = fs::read_dir(into)
    {
        for entry in entries.flatten() {
            let p = entry.path();
            let _ = if p.is_dir() {
                fs::remove_dir_all(&p)
            } else {
                fs::remove_file(&p)
            };
        }
    }
    result
}

fn restore_inner(path: &Path, unlock: &Unlock, into: &Path) -> Result<RestoreReport, BackupError> {
    let (manifest, _) = open_backup(path, unlock, Some(into))?;
    let store = argus_store::Store::open_read_only_in_dir(into)?;
    let schema_version = store.connect()?.schema_version()?;
    let paths = AuditPaths::new(into);
    let audit = if paths.exists() {
        let verifier = argus_audit::CheckpointVerifier::load(&paths.public_key)?;
        Some(argus_audit::verify(&paths, &verifier)?)
    } else {
        None
    };
    let config_dir = into.join(archive::RESTORED_CONFIG);
    Ok(RestoreReport {
        into: into.to_path_buf(),
        manifest,
        audit,
        schema_version,
        config_dir: config_dir.exists().then_some(config_dir),
    })
}

/// The daily proof that the newest backup is usable: found in `dir` (a
/// folder destination), decrypted, every member checked, restored into a
/// scratch folder made under `scratch` (removed after), its database opened
/// and its audit log verified.
#[derive(Debug, Clone, Serialize)]
pub struct NewestBackupCheck {
    /// The newest backup.
    pub backup: BackupFile,
    /// How old it is, in seconds, at `now`.
    pub age_secs: i64,
    /// The restore's findings.
    pub restored: RestoreReport,
}

/// Checks the newest backup in `dir` (see [`NewestBackupCheck`]). Fails with
/// [`BackupError::NoBackup`] when there is none, and with the restore's
/// error when it does not decrypt, does not match its manifest, or does not
/// restore to a node whose audit log verifies.
pub fn verify_newest(
    dir: &Path,
    unlock: &Unlock,
    scratch: &Path,
    now: Timestamp,
) -> Result<NewestBackupCheck, BackupError> {
    let backup = list(dir)?.pop().ok_or_else(|| BackupError::NoBackup {
        dir: dir.to_path_buf(),
    })?;
    let work = tempfile::Builder::new()
        .prefix(".argus-restore-check-")
        .tempdir_in(scratch)
        .map_err(BackupError::io("create a scratch folder in", scratch))?;
    let restored = restore(&backup.path, unlock, &work.path().join("data"))?;
    Ok(NewestBackupCheck {
        age_secs: now.duration_since(backup.created).as_secs(),
        backup,
        restored,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn only_the_embedded_store_is_backed_up() {
        let store = argus_store::testing::store().unwrap();
        match store.dialect() {
            argus_store::Dialect::Sqlite => assert!(refuse_postgres(&store).is_ok()),
            argus_store::Dialect::Postgres => {
                let error = refuse_postgres(&store).unwrap_err().to_string();
                assert!(error.contains("PostgreSQL"), "{error}");
                assert!(error.contains("pg_dump"), "{error}");
                assert!(!error.contains("password"), "{error}");
            }
        }
    }
}
