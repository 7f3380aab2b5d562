//! Segments: the log rotates into sealed files so no one file grows without
//! end, while the chain goes on across them.
//!
//! ```text
//! <data_dir>/audit/segments/00000000000000000000.log   entries 0..=N (sealed)
//! <data_dir>/audit/segments/0000000000000000000N+1.log entries N+1..=M (sealed)
//! <data_dir>/audit/audit.log                            entries M+1.. (active)
//! ```
//!
//! A segment is a file in the unchanged format ([`crate::format`]), named by
//! the sequence number of its first entry (20 digits, so names sort in
//! order). Every file after the first starts with the previous file's last
//! checkpoint, byte for byte (the *carry*): the next entry links to that
//! checkpoint's chain head and the next checkpoint to its hash, so the chain
//! and the checkpoint chain run on unbroken, and each file verifies on its
//! own. [`crate::verify`] checks every file and that each carry equals the
//! last checkpoint of the file before it: a segment edited, removed,
//! replaced or renamed is caught, and named.
//!
//! Rotation happens before a commit, when the active file has reached
//! [`SegmentPolicy::max_bytes`] or its first entry is older than
//! [`SegmentPolicy::max_age`]: the new active file (header and carry) is
//! written and synced as `audit.log.next`, `audit.log` is renamed into
//! `segments/`, then `audit.log.next` to `audit.log`. A crash between the
//! two renames leaves `audit.log.next` alone; the writer finishes the
//! rotation when it opens the log, and readers read it in its place.
//!
//! A log written before segments existed is one file with no carry: it
//! verifies as it always did, and rotates like any other at its next commit
//! past the limits.

use std::fs;
use std::path::PathBuf;

use jiff::SignedDuration;

use crate::format::{HEADER_LEN, RawRecord, header, parse_records};
use crate::{AuditError, AuditPaths};

/// When the active file is sealed into a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentPolicy {
    /// Seal the active file once it holds this many bytes (at least 1 KiB).
    pub max_bytes: u64,
    /// Seal the active file once its first entry is this old.
    pub max_age: Option<SignedDuration>,
}

impl SegmentPolicy {
    /// 64 MiB.
    pub const DEFAULT_MAX_BYTES: u64 = 64 * 1024 * 1024;
    /// 30 days.
    pub const DEFAULT_MAX_AGE: SignedDuration = SignedDuration::from_hours(30 * 24);
}

impl Default for SegmentPolicy {
    fn default() -> Self {
        Self {
            max_bytes: Self::DEFAULT_MAX_BYTES,
            max_age: Some(Self::DEFAULT_MAX_AGE),
        }
    }
}

/// One file of the log, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentFile {
    /// The file.
    pub path: PathBuf,
    /// The first entry's sequence number, from the name; `None` for the
    /// active file.
    pub first_seq: Option<u64>,
}

impl AuditPaths {
    /// Where sealed segments live: `<dir>/segments/`.
    pub fn segments_dir(&self) -> PathBuf {
        self.dir.join("segments")
    }

    /// The next active file while a rotation is under way.
    pub(crate) fn next_log(&self) -> PathBuf {
        self.dir.join("audit.log.next")
    }

    /// The active file as readers see it: `audit.log`, or `audit.log.next`
    /// when a rotation was cut short between its two renames.
    pub fn active_log(&self) -> PathBuf {
        let next = self.next_log();
        if !self.log.exists() && next.exists() {
            next
        } else {
            self.log.clone()
        }
    }
}

/// The sealed segments in order, then the active file.
pub fn log_files(paths: &AuditPaths) -> Result<Vec<SegmentFile>, AuditError> {
    let dir = paths.segments_dir();
    let mut sealed = Vec::new();
    match fs::read_dir(&dir) {
        Ok(entries) => {
            for entry in entries {
                let entry = entry.map_err(AuditError::io("read", &dir))?;
                let name = entry.file_name();
                let Some(name) = name.to_str() else { continue };
                let Some(stem) = name.strip_suffix(".log") else {
                    continue;
                };
                let first_seq = stem
                    .parse::<u64>()
                    .ok()
                    .filter(|_| stem.len() == 20 && stem.bytes().all(|b| b.is_ascii_digit()))
                    .ok_or_else(|| AuditError::Tampered {
                        offset: 0,
                        seq: None,
                        reason: format!(
                            "{} is not a segment name (20 digits, `.log`): a file was added to \
                             the segments; move it out and verify again",
                            entry.path().display()
                        ),
                    })?;
                sealed.push(SegmentFile {
                    path: entry.path(),
                    first_seq: Some(first_seq),
                });
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(AuditError::io("read", &dir)(e)),
    }
    sealed.sort_by_key(|s| s.first_seq);
    sealed.push(SegmentFile {
        path: paths.active_log(),
        first_seq: None,
    });
    Ok(sealed)
}

/// The whole log as one file in the unchanged format: the header, then every
/// segment's records in order without the carried checkpoints. It reads and
/// verifies like a log never rotated (with the same head), so tail, query,
/// export and [`crate::check_extends`] work on it unchanged. It checks the
/// framing only; [`crate::verify`] checks the rest.
pub fn read_log_bytes(paths: &AuditPaths) -> Result<Vec<u8>, AuditError> {
    let files = log_files(paths)?;
    if files.len() == 1 {
        let active = paths.active_log();
        return fs::read(&active).map_err(AuditError::io("read", &active));
    }
    let mut out = header().to_vec();
    for file in &files {
        let bytes = fs::read(&file.path).map_err(AuditError::io("read", &file.path))?;
        let records = parse_records(&bytes).map_err(|e| crate::verify::within(e, &file.path))?;
        let skip = usize::from(matches!(records.first(), Some(RawRecord::Checkpoint(_))));
        let start = records
            .get(skip)
            .map_or(bytes.len(), |r| match r {
                RawRecord::Entry(e) => e.offset,
                RawRecord::Checkpoint(c) => c.offset,
            })
            .max(HEADER_LEN);
        out.extend_from_slice(bytes.get(start..).unwrap_or_default());
    }
    Ok(out)
}

/// The segment file a sealed active file moves to.
pub(crate) fn segment_path(paths: &AuditPaths, first_seq: u64) -> PathBuf {
    paths.segments_dir().join(format!("{first_seq:020}.log"))
}

/// Finishes a rotation cut short between its renames (see the module docs).
pub(crate) fn finish_rotation(paths: &AuditPaths) -> Result<(), AuditError> {
    let next = paths.next_log();
    if !paths.log.exists() && next.exists() {
        fs::rename(&next, &paths.log).map_err(AuditError::io("replace", &paths.log))?;
        sync_dir(&paths.dir);
    } else if next.exists() {
        // Written but never renamed: the active file was not moved yet.
        fs::remove_file(&next).map_err(AuditError::io("remove", &next))?;
    }
    Ok(())
}

/// Seals the active file as the segment starting at `first_seq` and starts a
/// new one carrying `carry` (the last checkpoint record).
pub(crate) fn rotate(paths: &AuditPaths, first_seq: u64, carry: &[u8]) -> Result<(), AuditError> {
    let dir = paths.segments_dir();
    crate::log::create_dir(&dir)?;
    let sealed = segment_path(paths, first_seq);
    if sealed.exists() {
        return Err(AuditError::Tampered {
            offset: 0,
            seq: Some(first_seq),
            reason: format!(
                "cannot seal the active log: {} already exists; verify the log (`argus audit \
                 verify`) and keep both files as evidence",
                sealed.display()
            ),
        });
    }
    let next = paths.next_log();
    let mut bytes = header().to_vec();
    bytes.extend_from_slice(carry);
    {
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&next)
            .map_err(AuditError::io("create", &next))?;
        file.write_all(&bytes)
            .and_then(|()| file.sync_all())
            .map_err(AuditError::io("write", &next))?;
    }
    fs::rename(&paths.log, &sealed).map_err(AuditError::io("seal", &sealed))?;
    sync_dir(&dir);
    fs::rename(&next, &paths.log).map_err(AuditError::io("replace", &paths.log))?;
    sync_dir(&paths.dir);
    Ok(())
}

fn sync_dir(dir: &std::path::Path) {
    if let Ok(dir) = fs::File::open(dir) {
        let _ = dir.sync_all();
    }
}

/// One consistent copy of the log's files, for a backup: every segment, the
/// active file, `head`, `checkpoint.pub` (and a legacy `checkpoint.key`
/// kept beside the log), read under the writer's lock so no commit lands
/// half way through. Paths are relative to the log's directory. Fails with
/// [`AuditError::Locked`] at once while a writer holds the log; a caller
/// retries (writers hold it for one commit).
pub fn snapshot(paths: &AuditPaths) -> Result<Vec<(PathBuf, Vec<u8>)>, AuditError> {
    let _lock = paths.lock_exclusive()?;
    let mut files = Vec::new();
    for file in log_files(paths)? {
        let bytes = fs::read(&file.path).map_err(AuditError::io("read", &file.path))?;
        let relative = match file.first_seq {
            Some(first) => PathBuf::from("segments").join(format!("{first:020}.log")),
            None => PathBuf::from("audit.log"),
        };
        files.push((relative, bytes));
    }
    for (name, path) in [
        ("head", &paths.head),
        ("checkpoint.pub", &paths.public_key),
        ("checkpoint.key", &paths.key),
    ] {
        match fs::read(path) {
            Ok(bytes) => files.push((PathBuf::from(name), bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(AuditError::io("read", path)(e)),
        }
    }
    Ok(files)
}
