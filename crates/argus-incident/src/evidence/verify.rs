//! Checking a bundle: every file re-hashed against the manifest, the
//! manifest against the root and the file rows the store kept.
//!
//! Three witnesses must agree: the files, `manifest.json`, and the store
//! (`incident_evidence` rows and `incidents.evidence_root`, whose root the
//! audit log also holds). Someone who edits a file and its manifest entry
//! changes the manifest's hash, which no longer matches the stored root;
//! someone who also rewrites the store is caught by the audit log's copy.
//! Files are opened without following links and must be regular files.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, OpenOptions};
use std::io::{self, Read as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use argus_store::Connection;
use serde::Serialize;
use sha2::{Digest as _, Sha256};

use super::{EvidenceError, MANIFEST, Manifest, bundle_dir, sha256_hex};
use crate::db;

/// The largest manifest read.
const MAX_MANIFEST_BYTES: u64 = 16 << 20;

/// A file whose bytes no longer hash to what was recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChangedFile {
    pub name: String,
    pub expected_sha256: String,
    /// `None` when the file could not be read (a link, a directory, …).
    pub found_sha256: Option<String>,
    pub detail: Option<String>,
}

/// What [`verify`] found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    pub incident_id: i64,
    pub dir: PathBuf,
    /// The root the store holds.
    pub recorded_root: Option<String>,
    /// The SHA-256 of `manifest.json` as it is now.
    pub manifest_root: Option<String>,
    /// Files whose hash matched.
    pub intact: Vec<String>,
    pub changed: Vec<ChangedFile>,
    /// Listed (in the manifest or the store) but not in the directory.
    pub missing: Vec<String>,
    /// In the directory but listed nowhere.
    pub extra: Vec<String>,
    /// Disagreements between the manifest and the store, and manifest
    /// problems.
    pub problems: Vec<String>,
}

impl VerifyReport {
    /// Nothing missing, changed, extra or disagreeing.
    pub fn is_intact(&self) -> bool {
        self.changed.is_empty()
            && self.missing.is_empty()
            && self.extra.is_empty()
            && self.problems.is_empty()
    }
}

/// Checks incident `incident_id`'s bundle under `data_dir` against its
/// manifest and the store. Fails only when there is no bundle at all (no
/// directory and no stored root) or the store cannot be read.
pub fn verify(
    data_dir: &Path,
    conn: &Connection,
    incident_id: i64,
) -> Result<VerifyReport, EvidenceError> {
    let incident = db::incident(conn, incident_id)?;
    let stored: BTreeMap<String, db::EvidenceFile> = db::evidence_of(conn, incident_id)?
        .into_iter()
        .map(|f| (f.name.clone(), f))
        .collect();
    let dir = bundle_dir(data_dir, incident_id);
    let mut report = VerifyReport {
        incident_id,
        dir: dir.clone(),
        recorded_root: incident.evidence_root.clone(),
        manifest_root: None,
        intact: Vec::new(),
        changed: Vec::new(),
        missing: Vec::new(),
        extra: Vec::new(),
        problems: Vec::new(),
    };
    let listing = match fs::symlink_metadata(&dir) {
        Ok(meta) if meta.is_dir() => list_dir(&dir)?,
        Ok(_) => {
            report.problems.push(format!(
                "{} is not a directory (a link or a file stands in its place)",
                dir.display()
            ));
            BTreeSet::new()
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            if incident.evidence_root.is_none() && stored.is_empty() {
                return Err(EvidenceError::NoBundle { incident_id, dir });
            }
            report
                .problems
                .push(format!("the bundle directory {} is gone", dir.display()));
            BTreeSet::new()
        }
        Err(e) => return Err(EvidenceError::io("inspect", &dir)(e)),
    };

    // The manifest: its hash is the root.
    let manifest = if listing.contains(MANIFEST) {
        match read_file(&dir.join(MANIFEST), MAX_MANIFEST_BYTES) {
            Ok(bytes) => {
                let root = sha256_hex(&bytes);
                match &incident.evidence_root {
                    Some(recorded) if *recorded != root => report.problems.push(format!(
                        "manifest.json hashes to {root}, but the store recorded root {recorded}: \
                         the manifest was changed (or the store rewritten)"
                    )),
                    None => report.problems.push(
                        "the store holds no root for this bundle (the capture did not finish \
                         recording it, or the row was cleared)"
                            .to_owned(),
                    ),
                    Some(_) => {}
                }
                report.manifest_root = Some(root);
                match serde_json::from_slice::<Manifest>(&bytes) {
                    Ok(m) if m.incident_id == incident_id => Some(m),
                    Ok(m) => {
                        report.problems.push(format!(
                            "manifest.json is incident {}'s, not {incident_id}'s",
                            m.incident_id
                        ));
                        Some(m)
                    }
                    Err(e) => {
                        report
                            .problems
                            .push(format!("manifest.json is not a readable manifest: {e}"));
                        None
                    }
                }
            }
            Err(e) => {
                report
                    .problems
                    .push(format!("manifest.json could not be read: {e}"));
                None
            }
        }
    } else {
        report.missing.push(MANIFEST.to_owned());
        None
    };

    // What each file should hash to: the manifest's word, else the store's.
    let mut expected: BTreeMap<String, String> = BTreeMap::new();
    if let Some(manifest) = &manifest {
        for file in &manifest.files {
            match stored.get(&file.name) {
                Some(row) if row.sha256 != file.sha256 || row.bytes != file.bytes => {
                    report.problems.push(format!(
                        "{}: the manifest says {} ({} bytes), the store {} ({} bytes)",
                        file.name, file.sha256, file.bytes, row.sha256, row.bytes
                    ));
                }
                Some(_) => {}
                None => report.problems.push(format!(
                    "{}: in the manifest but not in the store's rows",
                    file.name
                )),
            }
            expected.insert(file.name.clone(), file.sha256.clone());
        }
        for name in stored.keys() {
            if !expected.contains_key(name) {
                report.problems.push(format!(
                    "{name}: in the store's rows but not in the manifest"
                ));
            }
        }
    }
    for (name, row) in &stored {
        expected
            .entry(name.clone())
            .or_insert_with(|| row.sha256.clone());
    }

    for (name, want) in &expected {
        if !listing.contains(name) {
            report.missing.push(name.clone());
            continue;
        }
        match hash_file(&dir.join(name)) {
            Ok(found) if found == *want => report.intact.push(name.clone()),
            Ok(found) => report.changed.push(ChangedFile {
                name: name.clone(),
                expected_sha256: want.clone(),
                found_sha256: Some(found),
                detail: None,
            }),
            Err(e) => report.changed.push(ChangedFile {
                name: name.clone(),
                expected_sha256: want.clone(),
                found_sha256: None,
                detail: Some(e.to_string()),
            }),
        }
    }
    report.extra = listing
        .into_iter()
        .filter(|name| name != MANIFEST && !expected.contains_key(name))
        .collect();
    Ok(report)
}

/// The names in `dir` (lossy for a non-UTF-8 name, which is then extra).
fn list_dir(dir: &Path) -> Result<BTreeSet<String>, EvidenceError> {
    let entries = fs::read_dir(dir).map_err(EvidenceError::io("list", dir))?;
    Ok(entries
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect())
}

/// Opens a regular file without following a link.
fn open_plain(path: &Path) -> io::Result<fs::File> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)?;
    if !file.metadata()?.is_file() {
        return Err(io::Error::other("not a regular file"));
    }
    Ok(file)
}

fn read_file(path: &Path, cap: u64) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    open_plain(path)?
        .take(cap.saturating_add(1))
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > cap {
        return Err(io::Error::other(format!("larger than {cap} bytes")));
    }
    Ok(bytes)
}

fn hash_file(path: &Path) -> io::Result<String> {
    let mut file = open_plain(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(buf.get(..n).unwrap_or_default());
    }
    Ok(alloy_primitives::hex::encode(hasher.finalize()))
}
