//! Evidence: what the chain, the host and Argus itself said at detection,
//! kept as hashed files that a later reader can check were not changed.
//!
//! [`capture`] writes one *bundle* per incident under
//! `<data_dir>/evidence/<incident id>/`: the raw RPC answers about every
//! chain event its alerts came from ([`chain`]: block header, transaction,
//! receipt, the block's logs, a call trace where the node gives one, balances
//! at that block, the bots' wallets' recent transactions), the hashes of the
//! config and rule files, Argus's own record of the last hour (alerts and the
//! incident's timeline; Argus writes no log file, so that *is* its log), and
//! with `system_state` the host's processes and sockets read from `/proc`,
//! the bots' journals and the tails of configured log files ([`system`]).
//! `manifest.json` lists every file with its size, SHA-256 and what it is;
//! the bundle's **root** is the SHA-256 of the manifest's bytes, stored with
//! the file rows (`db::record_evidence`) and in the incident's timeline
//! (`evidence.captured`, which the audit trail copies into the signed log).
//! [`verify`] re-hashes everything against the manifest and the store.
//!
//! Design choices, argued:
//!
//! - **Raw answers.** The chain files hold the JSON the node returned
//!   (through `RpcPool::request`, re-serialised without reinterpretation),
//!   not Argus's parsed types: evidence must show what the source said, so a
//!   parser bug cannot rewrite it. An answer larger than
//!   [`MAX_FILE_BYTES`] is cut and marked `truncated` in the manifest.
//! - **Partial beats nothing.** A node that is down, a method refused
//!   (`debug_traceTransaction` on most providers), a missing `journalctl`, a
//!   process that exits while its `/proc` entry is read: each is a *note* in
//!   the manifest, never a failed capture. Only the evidence directory
//!   itself (unsafe, unwritable) or the store fails it.
//! - **Write once, atomically, never through a link.** Files are written
//!   into a fresh staging directory (mode 0700, files 0600, `O_EXCL` and
//!   `O_NOFOLLOW`, each fsynced), which is renamed to `<id>/` only when
//!   complete. A bundle is never overwritten: a second capture of the same
//!   incident fails with [`EvidenceError::AlreadyCaptured`] naming the
//!   existing root, so nobody can "refresh" evidence after the fact; an
//!   operator who really wants a new capture moves the old one aside (which
//!   `verify` then reports). A crash before the rename leaves only a
//!   `.capture-*` staging directory behind; a crash between the rename and
//!   the store's commit leaves a bundle whose root the store lacks, which
//!   `verify` reports (the manifest still proves its files).
//! - **Untrusted input everywhere.** RPC answers, `/proc`, journal output
//!   and log files are capped and kept as bytes or text; file names are made
//!   from sanitised parts only; nothing here panics on what it reads.

mod chain;
mod system;
mod verify;

use std::collections::BTreeMap;
use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Write as _};
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

use argus_alerting::outbox::{self, AlertFilter};
use argus_core::{ChainId, Clock};
use argus_store::Store;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::db;
use crate::error::IncidentError;
use crate::policy::{BotConfig, EvidenceConfig};

pub use verify::{ChangedFile, VerifyReport, verify};

/// The manifest's name inside a bundle.
pub const MANIFEST: &str = "manifest.json";
/// The bundles' parent directory inside the data directory.
pub const EVIDENCE_DIR: &str = "evidence";
/// The largest file a capture writes; larger answers are cut and marked.
pub const MAX_FILE_BYTES: usize = 32 << 20;
/// The manifest's format tag.
pub const FORMAT: &str = "argus-evidence/1";
/// How much of Argus's own record is kept: the last hour.
const LAST_HOUR_MS: i64 = 3_600_000;

/// What a capture reads from: the data directory, the chains' nodes, the
/// policy's evidence section and bots, the config files to hash, the clock.
#[derive(Debug, Clone)]
pub struct EvidenceSources {
    pub data_dir: PathBuf,
    pub chains: BTreeMap<ChainId, argus_chain::RpcPool>,
    pub config: EvidenceConfig,
    pub bots: BTreeMap<String, BotConfig>,
    /// `argus.yaml` and the rule files: their SHA-256 goes in the bundle.
    pub config_files: Vec<PathBuf>,
    pub clock: Clock,
}

/// One file of a bundle as the manifest lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestFile {
    pub name: String,
    pub bytes: u64,
    pub sha256: String,
    /// What the file is, for a human reader.
    pub what: String,
    /// The source gave more than [`MAX_FILE_BYTES`] (or a tail was kept):
    /// the file holds the first part only.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
}

/// `manifest.json`: the bundle's index. Its SHA-256 is the root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub incident_id: i64,
    pub captured_ms: i64,
    /// The same instant in RFC 3339 (UTC), for people.
    pub captured_at: String,
    pub files: Vec<ManifestFile>,
    /// What could not be captured, and why (a refused trace, no
    /// `journalctl`, a node that did not answer).
    pub notes: Vec<String>,
}

/// A balance read at an alert's block: the impact assessment's figures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BalanceAt {
    pub chain: u64,
    pub block: u64,
    pub address: String,
    /// "affected contract" or "wallet of bot NAME".
    pub role: String,
    /// Wei in decimal.
    pub wei: String,
}

/// A captured bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Bundle {
    pub incident_id: i64,
    pub dir: PathBuf,
    /// Hex SHA-256 of `manifest.json`: what the audit log records.
    pub root: String,
    pub files: Vec<ManifestFile>,
    pub notes: Vec<String>,
    pub balances: Vec<BalanceAt>,
}

/// Why evidence could not be captured or checked.
#[derive(Debug, thiserror::Error)]
pub enum EvidenceError {
    #[error(transparent)]
    Incident(#[from] IncidentError),
    #[error(transparent)]
    Store(#[from] argus_store::StoreError),
    #[error(transparent)]
    Alerting(#[from] argus_alerting::AlertError),
    #[error(
        "could not {action} {path}: {source}; check the data directory's permissions and free space"
    )]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// A path of the evidence tree is a symbolic link or not a directory.
    #[error(
        "{path} is {found}, not a directory; evidence is never written through a link: remove it \
         and capture again"
    )]
    Unsafe { path: PathBuf, found: &'static str },
    /// The incident has a bundle already; it is never overwritten.
    #[error(
        "incident {incident_id} already has evidence in {dir}{}; a bundle is never overwritten: \
         `argus incidents evidence verify {incident_id}` checks it, and to capture again move \
         that directory aside first",
        root.as_deref().map(|r| format!(" (root {r})")).unwrap_or_default()
    )]
    AlreadyCaptured {
        incident_id: i64,
        dir: PathBuf,
        root: Option<String>,
    },
    /// No bundle to verify.
    #[error(
        "incident {incident_id} has no evidence bundle in {dir}; evidence is captured when the \
         incident opens (or check --data-dir)"
    )]
    NoBundle { incident_id: i64, dir: PathBuf },
    /// A bundle's manifest could not be written.
    #[error("could not write the evidence manifest: {detail}")]
    Manifest { detail: String },
}

impl EvidenceError {
    fn io<'p>(action: &'static str, path: &'p Path) -> impl FnOnce(io::Error) -> Self + 'p {
        move |source| Self::Io {
            action,
            path: path.to_owned(),
            source,
        }
    }
}

/// The directory of an incident's bundle.
pub fn bundle_dir(data_dir: &Path, incident_id: i64) -> PathBuf {
    data_dir.join(EVIDENCE_DIR).join(incident_id.to_string())
}

/// Captures the evidence of incident `incident_id` and records its files and
/// root in the store (with an `evidence.captured` timeline row). Returns the
/// bundle; its `root` is what the caller writes into the audit log.
///
/// Fails with [`EvidenceError::AlreadyCaptured`] when the incident has a
/// bundle: evidence is written once.
pub async fn capture(
    sources: &EvidenceSources,
    store: &Store,
    incident_id: i64,
) -> Result<Bundle, EvidenceError> {
    let now_ms = sources.clock.now_ms();
    let parent = evidence_root_dir(&sources.data_dir)?;
    let final_dir = parent.join(incident_id.to_string());
    refuse_existing(&final_dir, store, incident_id)?;

    // What the store says, read first so no connection is held across the
    // node calls below.
    let record = {
        let conn = store.connect()?;
        ArgusRecord::read(&conn, incident_id, now_ms)?
    };

    let mut writer = BundleWriter::create(&parent, incident_id, now_ms)?;
    let balances = chain::capture(sources, &record.alerts, &mut writer).await?;
    writer.add_json(
        "incident.json",
        "Argus's record of the incident: its row, its alerts as recorded, its timeline, \
         steps, approvals and signed transactions",
        &record.incident,
    )?;
    writer.add_json(
        "argus-alerts-last-hour.json",
        "every alert Argus recorded in the hour before the capture (Argus keeps no log file: \
         its alerts and the incident timeline are its record)",
        &record.last_hour,
    )?;
    system::config_hashes(&sources.config_files, &mut writer)?;
    if sources.config.system_state {
        system::capture(sources, &mut writer).await?;
    } else {
        writer.note("system state (processes, sockets, journals, log tails) not captured: evidence.system_state is off");
    }

    let (manifest_bytes, Manifest { files, notes, .. }) =
        writer.finish_manifest(incident_id, now_ms)?;
    let root = sha256_hex(&manifest_bytes);
    writer.publish(&final_dir, incident_id)?;

    let rows: Vec<db::EvidenceFile> = files
        .iter()
        .map(|f| db::EvidenceFile {
            name: f.name.clone(),
            sha256: f.sha256.clone(),
            bytes: f.bytes,
        })
        .collect();
    let mut conn = store.connect()?;
    let tx = conn.transaction()?;
    db::record_evidence(&tx, incident_id, &rows, &root)?;
    let total: u64 = files.iter().map(|f| f.bytes).sum();
    db::add_event(
        &tx,
        incident_id,
        sources.clock.now_ms(),
        "argus",
        "evidence.captured",
        None,
        &serde_json::json!({
            "root": root,
            "files": files.len(),
            "bytes": total,
            "notes": notes.len(),
            "balances": balances.iter().take(MAX_BALANCES_IN_TIMELINE).collect::<Vec<_>>(),
        }),
    )?;
    tx.commit()?;
    Ok(Bundle {
        incident_id,
        dir: final_dir,
        root,
        files,
        notes,
        balances,
    })
}

/// Balances copied into the timeline row (the report's impact section).
const MAX_BALANCES_IN_TIMELINE: usize = 200;

/// The store's part of a bundle.
struct ArgusRecord {
    alerts: Vec<argus_alerting::AlertRecord>,
    incident: serde_json::Value,
    last_hour: Vec<argus_alerting::AlertRecord>,
}

impl ArgusRecord {
    fn read(
        conn: &argus_store::Connection,
        incident_id: i64,
        now_ms: i64,
    ) -> Result<Self, EvidenceError> {
        let incident = db::incident(conn, incident_id)?;
        let mut alerts = Vec::new();
        let mut missing = Vec::new();
        for member in db::alerts_of(conn, incident_id)? {
            match outbox::get_alert(conn, &member.alert_id)? {
                Some(alert) => alerts.push(alert),
                None => missing.push(member.alert_id),
            }
        }
        let last_hour = outbox::list_alerts(
            conn,
            &AlertFilter {
                since_ms: Some(now_ms.saturating_sub(LAST_HOUR_MS)),
                limit: Some(10_000),
                ..AlertFilter::default()
            },
        )?;
        let doc = serde_json::json!({
            "incident": incident,
            "alerts": alerts,
            "alerts_not_in_outbox": missing,
            "timeline": db::events_of(conn, incident_id)?,
            "steps": db::steps_of(conn, incident_id)?,
            "approvals": db::approvals_of(conn, incident_id)?,
            "transactions": db::transactions_of(conn, incident_id)?,
        });
        Ok(Self {
            alerts,
            incident: doc,
            last_hour,
        })
    }
}

/// `<data_dir>/evidence`, made (0700) when missing; never a link.
fn evidence_root_dir(data_dir: &Path) -> Result<PathBuf, EvidenceError> {
    let parent = data_dir.join(EVIDENCE_DIR);
    match DirBuilder::new().mode(0o700).create(&parent) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(EvidenceError::io("create", &parent)(e)),
    }
    check_real_dir(&parent)?;
    Ok(parent)
}

fn check_real_dir(path: &Path) -> Result<(), EvidenceError> {
    let meta = fs::symlink_metadata(path).map_err(EvidenceError::io("inspect", path))?;
    if meta.file_type().is_symlink() {
        return Err(EvidenceError::Unsafe {
            path: path.to_owned(),
            found: "a symbolic link",
        });
    }
    if !meta.is_dir() {
        return Err(EvidenceError::Unsafe {
            path: path.to_owned(),
            found: "not a directory",
        });
    }
    Ok(())
}

/// Refuses a capture when the incident already has a bundle.
fn refuse_existing(dir: &Path, store: &Store, incident_id: i64) -> Result<(), EvidenceError> {
    let recorded = {
        let conn = store.connect()?;
        db::incident(&conn, incident_id)?.evidence_root
    };
    let exists = match fs::symlink_metadata(dir) {
        Ok(_) => true,
        Err(e) if e.kind() == io::ErrorKind::NotFound => false,
        Err(e) => return Err(EvidenceError::io("inspect", dir)(e)),
    };
    if exists || recorded.is_some() {
        return Err(EvidenceError::AlreadyCaptured {
            incident_id,
            dir: dir.to_owned(),
            root: recorded,
        });
    }
    Ok(())
}

/// Lower-case hex SHA-256.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    alloy_primitives::hex::encode(Sha256::digest(bytes))
}

/// A file-name part made only of `[A-Za-z0-9._-]`, at most 96 characters,
/// never `.` or `..`.
pub(crate) fn safe_name(text: &str) -> String {
    let mut out: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .take(96)
        .collect();
    if out.is_empty() || out.chars().all(|c| c == '.') {
        out = "_".repeat(out.len().max(1));
    }
    out
}

/// Writes a bundle's files into a fresh staging directory, hashing each.
#[derive(Debug)]
pub(crate) struct BundleWriter {
    staging: PathBuf,
    files: Vec<ManifestFile>,
    notes: Vec<String>,
}

impl BundleWriter {
    fn create(parent: &Path, incident_id: i64, now_ms: i64) -> Result<Self, EvidenceError> {
        let staging = parent.join(format!(
            ".capture-{incident_id}-{}-{now_ms}",
            std::process::id()
        ));
        DirBuilder::new()
            .mode(0o700)
            .create(&staging)
            .map_err(EvidenceError::io("create", &staging))?;
        Ok(Self {
            staging,
            files: Vec::new(),
            notes: Vec::new(),
        })
    }

    /// Records something that could not be captured.
    pub(crate) fn note(&mut self, text: impl Into<String>) {
        self.notes.push(text.into());
    }

    /// Writes `bytes` as `name` (made unique and safe), cut at
    /// [`MAX_FILE_BYTES`].
    pub(crate) fn add(
        &mut self,
        name: &str,
        what: impl Into<String>,
        bytes: &[u8],
        truncated: bool,
    ) -> Result<(), EvidenceError> {
        let (bytes, cut) = match bytes.get(..MAX_FILE_BYTES) {
            Some(head) if bytes.len() > MAX_FILE_BYTES => (head, true),
            _ => (bytes, false),
        };
        let name = self.unique_name(name);
        let path = self.staging.join(&name);
        write_new_file(&path, bytes)?;
        self.files.push(ManifestFile {
            name,
            bytes: bytes.len() as u64,
            sha256: sha256_hex(bytes),
            what: what.into(),
            truncated: truncated || cut,
        });
        Ok(())
    }

    /// Writes a JSON document, pretty-printed.
    pub(crate) fn add_json(
        &mut self,
        name: &str,
        what: impl Into<String>,
        value: &impl Serialize,
    ) -> Result<(), EvidenceError> {
        let bytes = serde_json::to_vec_pretty(value).map_err(|e| EvidenceError::Manifest {
            detail: format!("{name} could not be serialised: {e}"),
        })?;
        self.add(name, what, &bytes, false)
    }

    fn unique_name(&self, wanted: &str) -> String {
        let base = safe_name(wanted);
        let taken = |n: &str| n == MANIFEST || self.files.iter().any(|f| f.name == n);
        if !taken(&base) {
            return base;
        }
        (2..)
            .map(|i| format!("{i}-{base}"))
            .find(|n| !taken(n))
            .unwrap_or(base)
    }

    /// Writes `manifest.json`; returns its bytes and itself.
    fn finish_manifest(
        &mut self,
        incident_id: i64,
        now_ms: i64,
    ) -> Result<(Vec<u8>, Manifest), EvidenceError> {
        let manifest = Manifest {
            format: FORMAT.to_owned(),
            incident_id,
            captured_ms: now_ms,
            captured_at: rfc3339(now_ms),
            files: self.files.clone(),
            notes: self.notes.clone(),
        };
        let bytes = serde_json::to_vec_pretty(&manifest).map_err(|e| EvidenceError::Manifest {
            detail: e.to_string(),
        })?;
        write_new_file(&self.staging.join(MANIFEST), &bytes)?;
        Ok((bytes, manifest))
    }

    /// Moves the complete staging directory to `dir`; fails when `dir`
    /// exists and holds anything (a concurrent capture won).
    fn publish(&self, dir: &Path, incident_id: i64) -> Result<(), EvidenceError> {
        sync_dir(&self.staging)?;
        match fs::rename(&self.staging, dir) {
            Ok(()) => {}
            Err(e)
                if e.kind() == io::ErrorKind::DirectoryNotEmpty
                    || e.kind() == io::ErrorKind::AlreadyExists
                    || e.kind() == io::ErrorKind::NotADirectory =>
            {
                let _ = fs::remove_dir_all(&self.staging);
                return Err(EvidenceError::AlreadyCaptured {
                    incident_id,
                    dir: dir.to_owned(),
                    root: None,
                });
            }
            Err(e) => return Err(EvidenceError::io("move the bundle to", dir)(e)),
        }
        if let Some(parent) = dir.parent() {
            sync_dir(parent)?;
        }
        Ok(())
    }
}

/// Creates `path` (0600, never through a link, never over a file), writes
/// and fsyncs it.
fn write_new_file(path: &Path, bytes: &[u8]) -> Result<(), EvidenceError> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
        .map_err(EvidenceError::io("create", path))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(EvidenceError::io("write", path))
}

fn sync_dir(path: &Path) -> Result<(), EvidenceError> {
    File::open(path)
        .and_then(|d| d.sync_all())
        .map_err(EvidenceError::io("sync", path))
}

/// RFC 3339 in UTC to the millisecond.
pub(crate) fn rfc3339(ms: i64) -> String {
    match jiff::Timestamp::from_millisecond(ms) {
        Ok(at) => at.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        Err(_) => format!("{ms} ms after the epoch"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safe_names_keep_only_plain_characters() {
        assert_eq!(safe_name("journal-arb.service"), "journal-arb.service");
        assert_eq!(safe_name("../../etc/passwd"), ".._.._etc_passwd");
        assert_eq!(safe_name(".."), "__");
        assert_eq!(safe_name(""), "_");
        assert_eq!(safe_name(&"x".repeat(200)).len(), 96);
        assert_eq!(safe_name("a/b\nc"), "a_b_c");
    }

    #[test]
    fn a_writer_never_writes_through_a_link_and_keeps_names_unique() {
        let tmp = tempfile::tempdir().unwrap();
        let mut writer = BundleWriter::create(tmp.path(), 1, 0).unwrap();
        writer.add("a.json", "first", b"1", false).unwrap();
        writer.add("a.json", "second", b"2", false).unwrap();
        writer
            .add("manifest.json", "not the manifest", b"3", false)
            .unwrap();
        let names: Vec<&str> = writer.files.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["a.json", "2-a.json", "2-manifest.json"]);
        // A link planted where a file will go is refused, not followed.
        let target = tmp.path().join("target");
        std::fs::write(&target, b"keep").unwrap();
        std::os::unix::fs::symlink(&target, writer.staging.join("b.json")).unwrap();
        assert!(writer.add("b.json", "linked", b"x", false).is_err());
        assert_eq!(std::fs::read(&target).unwrap(), b"keep");
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(writer.staging.join("a.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let dir_mode = std::fs::metadata(&writer.staging)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(dir_mode & 0o777, 0o700);
    }

    #[test]
    fn an_answer_past_the_cap_is_cut_and_marked() {
        let tmp = tempfile::tempdir().unwrap();
        let mut writer = BundleWriter::create(tmp.path(), 1, 0).unwrap();
        let big = vec![b'x'; MAX_FILE_BYTES + 10];
        writer.add("big.json", "big", &big, false).unwrap();
        assert!(writer.files[0].truncated);
        assert_eq!(writer.files[0].bytes, MAX_FILE_BYTES as u64);
    }
}
