//! Appending: [`AuditLog`] owns the file, the chain state and the key; one
//! call to [`AuditLog::append_batch`] is one `write` and one `fdatasync`
//! however many entries it carries (group commit).

use std::fs::{self, File, OpenOptions};
use std::io::Write as _;
use std::ops::Range;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

use crate::format::{
    Form, HEADER_LEN, Hash, checkpoint_hash, checkpoint_signed_body, entry_hash, format_time,
    header, payload_hash, put_checkpoint, put_entry,
};
use crate::format::{RawRecord, parse_records, parse_time};
use crate::segment::{self, SegmentPolicy};
use crate::{AuditError, CheckpointKey, Clock, NewEntry, merkle_root, verify_bytes};

/// Entries under one checkpoint at most; a commit of more is split.
pub const DEFAULT_GROUP_SIZE: usize = 4096;

/// Where the log's files live: `<data_dir>/audit/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditPaths {
    /// The directory (0700).
    pub dir: PathBuf,
    /// The log itself.
    pub log: PathBuf,
    /// The last signed checkpoint, outside the log.
    pub head: PathBuf,
    /// The checkpoint signing key (0600).
    pub key: PathBuf,
    /// Its public half.
    pub public_key: PathBuf,
    /// Held by the writer.
    pub lock: PathBuf,
}

impl AuditPaths {
    /// The paths under a data directory.
    pub fn new(data_dir: &Path) -> Self {
        let dir = data_dir.join("audit");
        Self {
            log: dir.join("audit.log"),
            head: dir.join("head"),
            key: dir.join("checkpoint.key"),
            public_key: dir.join("checkpoint.pub"),
            lock: dir.join("lock"),
            dir,
        }
    }

    /// Whether a log exists here.
    pub fn exists(&self) -> bool {
        self.log.exists()
    }

    /// Takes the writer's lock, failing at once if another process holds it.
    pub(crate) fn lock_exclusive(&self) -> Result<File, AuditError> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&self.lock)
            .map_err(AuditError::io("open", &self.lock))?;
        match file.try_lock() {
            Ok(()) => Ok(file),
            Err(fs::TryLockError::WouldBlock) => Err(AuditError::Locked {
                path: self.lock.clone(),
            }),
            Err(fs::TryLockError::Error(e)) => Err(AuditError::io("lock", &self.lock)(e)),
        }
    }
}

/// The log, open for appending.
#[derive(Debug)]
pub struct AuditLog {
    paths: AuditPaths,
    file: File,
    _lock: File,
    key: CheckpointKey,
    clock: Clock,
    group_size: usize,
    next_seq: u64,
    chain_head: Hash,
    last_checkpoint: Hash,
    /// Set when a write failed half way: the file may end in a torn record.
    broken: bool,
    buf: Vec<u8>,
    payload: Vec<u8>,
    leaves: Vec<Hash>,
    /// When the active file is sealed into a segment.
    segments: SegmentPolicy,
    /// The active file's first entry (or the next one, when it has none).
    segment_first_seq: u64,
    /// The time of the active file's first entry.
    segment_started: Option<jiff::Timestamp>,
    /// The active file's length.
    segment_len: u64,
    /// The last checkpoint record, carried into the next segment.
    last_record: Vec<u8>,
}

impl AuditLog {
    /// Opens (or creates) the log under `data_dir`, with the checkpoint key
    /// kept beside it.
    pub fn open(data_dir: &Path, clock: Clock) -> Result<Self, AuditError> {
        let paths = AuditPaths::new(data_dir);
        create_dir(&paths.dir)?;
        let key = CheckpointKey::load_or_create(&paths.key, &paths.public_key)?;
        Self::open_with_key(paths, key, clock)
    }

    /// Opens (or creates) the log at `paths`, signing with `key`. An existing
    /// log is verified first: a log that does not verify is never extended.
    pub fn open_with_key(
        paths: AuditPaths,
        key: CheckpointKey,
        clock: Clock,
    ) -> Result<Self, AuditError> {
        create_dir(&paths.dir)?;
        let lock = paths.lock_exclusive()?;
        segment::finish_rotation(&paths)?;
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .mode(0o600)
            .open(&paths.log)
            .map_err(AuditError::io("open", &paths.log))?;
        let len = file
            .metadata()
            .map_err(AuditError::io("read", &paths.log))?
            .len();
        if len == 0 && paths.head.exists() {
            return Err(AuditError::Tampered {
                offset: 0,
                seq: None,
                reason: format!(
                    "the log is empty but {} names a signed checkpoint: the log was truncated \
                     or replaced; keep both files as evidence and open an incident",
                    paths.head.display()
                ),
            });
        }
        let mut last_record = Vec::new();
        let mut segment_started = None;
        let mut segment_first_seq = 0;
        let (next_seq, chain_head, last_checkpoint) = if len == 0 {
            file.write_all(&header())
                .and_then(|()| file.sync_all())
                .map_err(AuditError::io("write", &paths.log))?;
            if let Ok(dir) = File::open(&paths.dir) {
                let _ = dir.sync_all();
            }
            (0, [0; 32], [0; 32])
        } else {
            let bytes = fs::read(&paths.log).map_err(AuditError::io("read", &paths.log))?;
            let head = match fs::read(&paths.head) {
                Ok(h) => Some(h),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => return Err(AuditError::io("read", &paths.head)(e)),
            };
            let report = verify_bytes(&bytes, head.as_deref(), &key.verifier())?;
            segment_first_seq = report.next_seq;
            for record in parse_records(&bytes)? {
                match record {
                    RawRecord::Checkpoint(c) => {
                        last_record.clear();
                        last_record.extend_from_slice(c.record);
                    }
                    RawRecord::Entry(e) if segment_started.is_none() => {
                        segment_first_seq = e.seq;
                        segment_started = std::str::from_utf8(e.time)
                            .ok()
                            .and_then(|t| parse_time(t).ok())
                            .map(|t| t.timestamp());
                    }
                    RawRecord::Entry(_) => {}
                }
            }
            (report.next_seq, report.chain_head, report.last_checkpoint)
        };
        Ok(Self {
            paths,
            file,
            _lock: lock,
            key,
            clock,
            group_size: DEFAULT_GROUP_SIZE,
            next_seq,
            chain_head,
            last_checkpoint,
            broken: false,
            buf: Vec::new(),
            payload: Vec::new(),
            leaves: Vec::new(),
            segments: SegmentPolicy::default(),
            segment_first_seq,
            segment_started,
            segment_len: len.max(HEADER_LEN as u64),
            last_record,
        })
    }

    /// When to seal the active file into a segment (default: 64 MiB or 30
    /// days).
    pub fn with_segments(mut self, policy: SegmentPolicy) -> Self {
        self.segments = SegmentPolicy {
            max_bytes: policy.max_bytes.max(1024),
            ..policy
        };
        self
    }

    /// Seals the active file when it is full or old enough and holds at
    /// least one entry; the next commit goes into a new one.
    fn rotate_if_due(&mut self, now: jiff::Timestamp) -> Result<(), AuditError> {
        if self.next_seq == self.segment_first_seq || self.last_record.is_empty() {
            return Ok(());
        }
        let full = self.segment_len >= self.segments.max_bytes;
        let old = match (self.segments.max_age, self.segment_started) {
            (Some(max), Some(started)) => now.duration_since(started) >= max,
            _ => false,
        };
        if !full && !old {
            return Ok(());
        }
        segment::rotate(&self.paths, self.segment_first_seq, &self.last_record)?;
        self.file = OpenOptions::new()
            .append(true)
            .open(&self.paths.log)
            .map_err(AuditError::io("open", &self.paths.log))?;
        self.segment_first_seq = self.next_seq;
        self.segment_started = None;
        self.segment_len = (HEADER_LEN + self.last_record.len()) as u64;
        Ok(())
    }

    /// Entries per checkpoint at most (at least 1).
    pub fn with_group_size(mut self, group_size: usize) -> Self {
        self.group_size = group_size.max(1);
        self
    }

    /// The files.
    pub fn paths(&self) -> &AuditPaths {
        &self.paths
    }

    /// The sequence number the next entry will get.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// The clock entries are stamped with.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Appends one entry durably; returns its sequence number.
    pub fn append(&mut self, entry: &NewEntry) -> Result<u64, AuditError> {
        self.append_batch(std::slice::from_ref(entry))
            .map(|r| r.start)
    }

    /// Appends entries durably with one write and one fsync, then updates the
    /// head file. All entries of a batch get the same time (the commit's).
    /// Returns their sequence numbers.
    pub fn append_batch(&mut self, entries: &[NewEntry]) -> Result<Range<u64>, AuditError> {
        if self.broken {
            return Err(AuditError::WriterStopped {
                reason: "an earlier write failed and may have left a torn commit at the end of \
                         the log (its entries were never acknowledged); stop argus, run `argus \
                         audit recover` (it keeps the torn bytes in audit.log.torn-<time> and \
                         refuses anything that is not a torn tail), then restart"
                    .into(),
            });
        }
        let start = self.next_seq;
        if entries.is_empty() {
            return Ok(start..start);
        }
        let now = self.clock.now();
        self.rotate_if_due(now.timestamp())?;
        let time = format_time(&now);
        let time = time.as_bytes();
        self.buf.clear();
        self.leaves.clear();
        let mut seq = start;
        let mut head = self.chain_head;
        let mut last_checkpoint = self.last_checkpoint;
        let mut group_first = seq;
        let mut last_record = Vec::new();
        for (i, entry) in entries.iter().enumerate() {
            self.payload.clear();
            entry.payload.encode(&mut self.payload)?;
            let p_hash = payload_hash(&self.payload);
            put_entry(
                &mut self.buf,
                seq,
                &head,
                time,
                entry.class,
                Form::Payload(&self.payload),
            );
            head = entry_hash(seq, &head, time, entry.class.code(), &p_hash);
            self.leaves.push(head);
            seq += 1;
            if self.leaves.len() >= self.group_size || i + 1 == entries.len() {
                let root = merkle_root(&self.leaves);
                let signed = checkpoint_signed_body(
                    group_first,
                    seq - 1,
                    &root,
                    &head,
                    &last_checkpoint,
                    time,
                );
                let hash = checkpoint_hash(&signed);
                let signature = self.key.sign(&hash);
                let at = self.buf.len();
                put_checkpoint(&mut self.buf, &signed, &signature);
                last_record.clear();
                last_record.extend_from_slice(&self.buf[at..]);
                last_checkpoint = hash;
                group_first = seq;
                self.leaves.clear();
            }
        }
        let written = self
            .file
            .write_all(&self.buf)
            .and_then(|()| self.file.sync_data());
        if let Err(e) = written {
            self.broken = true;
            return Err(AuditError::io("write", &self.paths.log)(e));
        }
        self.next_seq = seq;
        self.chain_head = head;
        self.last_checkpoint = last_checkpoint;
        self.segment_len += self.buf.len() as u64;
        if self.segment_started.is_none() {
            self.segment_started = Some(now.timestamp());
        }
        write_head(&self.paths, &last_record)?;
        self.last_record = last_record;
        Ok(start..seq)
    }
}

/// Makes the directory with 0700 if missing.
pub(crate) fn create_dir(dir: &Path) -> Result<(), AuditError> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(AuditError::io("create", dir))
}

/// Replaces the head file atomically (write, fsync, rename).
pub(crate) fn write_head(paths: &AuditPaths, record: &[u8]) -> Result<(), AuditError> {
    replace_file(&paths.dir.join("head.tmp"), &paths.head, record)
}

/// Replaces `target` with `bytes` atomically: written to `tmp` (0600) and
/// synced, renamed over `target`, then the directory synced so the rename
/// survives a power loss.
pub(crate) fn replace_file(tmp: &Path, target: &Path, bytes: &[u8]) -> Result<(), AuditError> {
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(tmp)
        .map_err(AuditError::io("create", tmp))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(AuditError::io("write", tmp))?;
    fs::rename(tmp, target).map_err(AuditError::io("replace", target))?;
    if let Some(dir) = target.parent()
        && let Ok(dir) = fs::File::open(dir)
    {
        let _ = dir.sync_all();
    }
    Ok(())
}
