//! Witnessed heads: the answer to a rollback of the log *and* its head file.
//!
//! `head` is byte for byte the log's last checkpoint record, so whoever can
//! write the log's directory can cut the log back to any earlier checkpoint
//! and copy that checkpoint into `head`: every local check passes, and no
//! key is needed. Local files alone cannot catch that. What does is a head
//! kept somewhere the attacker cannot rewrite — a witness: a file on another
//! mount, a ticket, a chat message — and a check that the log still
//! *extends* it: it holds at least the head's entries, and the entries up to
//! the head's last one are the ones the head signed.
//!
//! [`check_extends`] is that check, pure (bytes in, answer out). It needs the
//! head's chain head (the hash of its last entry) and Merkle root: the chain
//! head pins every entry up to the head's last one (each entry hashes its
//! predecessor's hash), the root pins the head's own group. The head's
//! signature is checked with the log's public key, so a witness cannot be
//! fed a head the log's key never signed.
//!
//! A witness file ([`append_witness`], [`read_witness`]) is JSON lines, each
//! what `argus audit head --json` prints. Reading takes the head with the
//! highest last entry, not merely the last line: an attacker who can append
//! to the witness (but not rewrite it) cannot lower the bar by appending an
//! older head.

use std::fs::OpenOptions;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::format::{
    Hash, RawRecord, checkpoint_hash, checkpoint_signed_body, parse_record, parse_records,
};
use crate::{AuditError, AuditPaths, Checkpoint, CheckpointVerifier, merkle_root};

/// The largest witness file read (a head line is under 1 KiB: some 100,000
/// heads).
pub const MAX_WITNESS_BYTES: u64 = 64 * 1024 * 1024;

/// Why a log does not extend a witnessed head, or the check could not run.
#[derive(Debug, thiserror::Error)]
pub enum WitnessError {
    /// The log has fewer entries than the head vouches for.
    #[error(
        "the log is behind the witnessed head ({log_entries} entries, the head has \
         {head_entries}): it was rolled back or truncated; keep audit.log, its head file and the \
         witness as evidence, open an incident, and do not run argus on this log until it is \
         restored from a backup that extends the head"
    )]
    Behind {
        /// Entries in the log.
        log_entries: u64,
        /// Entries the head vouches for.
        head_entries: u64,
    },
    /// The log has the head's entries, but not the ones the head signed.
    #[error(
        "the log diverges from the witnessed head at or before entry {seq} (its entries up to \
         {seq} are not the ones the head signed): it was rewritten or rolled back and appended \
         to; keep audit.log, its head file and the witness as evidence and open an incident"
    )]
    Diverges {
        /// The last entry the head vouches for.
        seq: u64,
    },
    /// The head was not signed by the log's checkpoint key.
    #[error(
        "the head is not signed by this log's key: {reason}; check that the head was published \
         from this log (`argus audit head --json`) and that --public-key or checkpoint.pub is \
         this log's key"
    )]
    NotSigned {
        /// What did not match.
        reason: String,
    },
    /// The text is not a head.
    #[error("{origin} does not hold a head: {reason}; give what `argus audit head --json` printed")]
    InvalidHead {
        /// Where the text came from (a file, "line 3 of FILE").
        origin: String,
        /// What is wrong.
        reason: String,
    },
    /// A witness file could not be read or written.
    #[error("cannot {action} the witness file {}: {reason}; check the path, its mount and its permissions", path.display())]
    Io {
        /// "read", "append to"…
        action: &'static str,
        /// The witness file.
        path: PathBuf,
        /// The cause.
        reason: String,
    },
    /// The log itself cannot be read or does not verify.
    #[error(transparent)]
    Log(#[from] AuditError),
}

/// A head as published: a signed checkpoint and, when known, the public key
/// it claims to be signed with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WitnessedHead {
    /// The checkpoint.
    pub checkpoint: Checkpoint,
    /// The public key (hex) named beside it, if any.
    pub public_key: Option<String>,
}

#[derive(Deserialize)]
struct CheckpointDoc {
    first_seq: u64,
    last_seq: u64,
    root: String,
    head: String,
    prev_checkpoint: String,
    time: String,
    signature: String,
    #[serde(default)]
    hash: Option<String>,
}

impl WitnessedHead {
    /// The head of a checkpoint signed with `verifier`'s key.
    pub fn new(checkpoint: Checkpoint, verifier: &CheckpointVerifier) -> Self {
        Self {
            checkpoint,
            public_key: Some(verifier.to_hex()),
        }
    }

    /// Reads what `argus audit head --json` prints
    /// (`{"checkpoint": {…}, "public_key": "…"}`), or a bare checkpoint
    /// object (a `checkpoint` record of `argus audit export --checkpoints`).
    /// `origin` names the text's source in errors.
    pub fn from_json(text: &str, origin: &str) -> Result<Self, WitnessError> {
        let invalid = |reason: String| WitnessError::InvalidHead {
            origin: origin.to_owned(),
            reason,
        };
        let trimmed = text.trim();
        if trimmed.starts_with("entries ") {
            return Err(invalid(
                "it is the human form of `argus audit head`, which carries no signature nor \
                 chain head"
                    .into(),
            ));
        }
        let value: serde_json::Value =
            serde_json::from_str(trimmed).map_err(|e| invalid(format!("it is not JSON ({e})")))?;
        let (checkpoint, public_key) = match value.get("checkpoint") {
            Some(checkpoint) => (
                checkpoint.clone(),
                match value.get("public_key") {
                    None | Some(serde_json::Value::Null) => None,
                    Some(serde_json::Value::String(key)) => Some(key.trim().to_ascii_lowercase()),
                    Some(_) => return Err(invalid("its public_key is not a string".into())),
                },
            ),
            None => (value, None),
        };
        let doc: CheckpointDoc = serde_json::from_value(checkpoint)
            .map_err(|e| invalid(format!("its checkpoint is incomplete ({e})")))?;
        let hash32 = |field: &str, text: &str| -> Result<Hash, WitnessError> {
            hex::decode(text)
                .ok()
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
                .ok_or_else(|| invalid(format!("its {field} is not 64 hex digits")))
        };
        let signature = hex::decode(&doc.signature)
            .ok()
            .and_then(|b| <[u8; 64]>::try_from(b).ok())
            .ok_or_else(|| invalid("its signature is not 128 hex digits".into()))?;
        if doc.first_seq > doc.last_seq {
            return Err(invalid(format!(
                "it covers entries {}..={}, which is no range",
                doc.first_seq, doc.last_seq
            )));
        }
        if doc.time.len() > 255 {
            return Err(invalid("its time is longer than any checkpoint's".into()));
        }
        let root = hash32("root", &doc.root)?;
        let head = hash32("head", &doc.head)?;
        let prev_checkpoint = hash32("prev_checkpoint", &doc.prev_checkpoint)?;
        let computed = checkpoint_hash(&checkpoint_signed_body(
            doc.first_seq,
            doc.last_seq,
            &root,
            &head,
            &prev_checkpoint,
            doc.time.as_bytes(),
        ));
        if let Some(given) = &doc.hash
            && hash32("hash", given)? != computed
        {
            return Err(WitnessError::NotSigned {
                reason: "its hash does not match its fields: the head was edited".into(),
            });
        }
        Ok(Self {
            checkpoint: Checkpoint {
                first_seq: doc.first_seq,
                last_seq: doc.last_seq,
                root,
                head,
                prev_checkpoint,
                time: doc.time,
                hash: computed,
                signature,
            },
            public_key,
        })
    }

    /// What `argus audit head --json` prints: `{"checkpoint", "public_key"}`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "checkpoint": self.checkpoint,
            "public_key": self.public_key,
        })
    }

    /// One JSON line (with its newline), the form `argus audit head --json`
    /// prints.
    pub fn to_json_line(&self) -> String {
        let mut line = self.to_json().to_string();
        line.push('\n');
        line
    }

    /// How many entries the head vouches for.
    pub fn entries(&self) -> u64 {
        self.checkpoint.last_seq.saturating_add(1)
    }
}

/// What a successful [`check_extends`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extension {
    /// Entries the head vouches for.
    pub head_entries: u64,
    /// Entries in the log (at least as many).
    pub log_entries: u64,
}

/// Whether `log` (the bytes of `audit.log`) extends `head`: the head is
/// signed with `verifier`'s key, the log holds at least the head's entries,
/// and its entries up to the head's last one hash to the head's chain head
/// and, for the head's group, to its Merkle root.
///
/// This checks the log only up to the head; [`crate::verify`] checks the
/// rest.
pub fn check_extends(
    log: &[u8],
    head: &WitnessedHead,
    verifier: &CheckpointVerifier,
) -> Result<Extension, WitnessError> {
    let cp = &head.checkpoint;
    if let Some(named) = &head.public_key
        && *named != verifier.to_hex()
    {
        return Err(WitnessError::NotSigned {
            reason: format!(
                "it names public key {named}, the log's key is {}",
                verifier.to_hex()
            ),
        });
    }
    let hash = checkpoint_hash(&checkpoint_signed_body(
        cp.first_seq,
        cp.last_seq,
        &cp.root,
        &cp.head,
        &cp.prev_checkpoint,
        cp.time.as_bytes(),
    ));
    if !verifier.verify(&hash, &cp.signature) {
        return Err(WitnessError::NotSigned {
            reason: format!(
                "its signature does not verify with public key {}",
                verifier.to_hex()
            ),
        });
    }
    let head_entries = head.entries();
    let records = parse_records(log)?;
    let mut log_entries = 0u64;
    let mut prev: Hash = [0; 32];
    let mut group: Vec<Hash> = Vec::new();
    for record in &records {
        let RawRecord::Entry(e) = record else {
            continue;
        };
        if log_entries < head_entries {
            if e.seq != log_entries || e.prev != &prev {
                return Err(AuditError::tampered(
                    e.offset,
                    Some(e.seq),
                    "its sequence number or its link to the previous entry is wrong; run \
                     `argus audit verify` for the details",
                )
                .into());
            }
            prev = e.hash();
            if e.seq >= cp.first_seq {
                group.push(prev);
            }
        }
        log_entries += 1;
    }
    if log_entries < head_entries {
        return Err(WitnessError::Behind {
            log_entries,
            head_entries,
        });
    }
    if prev != cp.head || merkle_root(&group) != cp.root {
        return Err(WitnessError::Diverges { seq: cp.last_seq });
    }
    Ok(Extension {
        head_entries,
        log_entries,
    })
}

/// The checkpoint in the log's `head` file, if there is one.
pub fn read_head(paths: &AuditPaths) -> Result<Option<Checkpoint>, AuditError> {
    let bytes = match std::fs::read(&paths.head) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(AuditError::io("read", &paths.head)(e)),
    };
    let damaged = |reason: &str| AuditError::Tampered {
        offset: 0,
        seq: None,
        reason: format!(
            "head file {}: {reason}; run `argus audit verify`",
            paths.head.display()
        ),
    };
    let (record, end) = parse_record(&bytes, 0).map_err(|_| damaged("it cannot be read"))?;
    match record {
        RawRecord::Checkpoint(c) if end == bytes.len() => Ok(Some(c.into_checkpoint())),
        _ => Err(damaged("it does not hold exactly one checkpoint")),
    }
}

/// Appends `head` as one JSON line to the witness file at `path` (created
/// if missing), with one `O_APPEND` write, synced before returning.
pub fn append_witness(path: &Path, head: &WitnessedHead) -> Result<(), WitnessError> {
    let io = |action: &'static str| {
        move |e: std::io::Error| WitnessError::Io {
            action,
            path: path.to_owned(),
            reason: e.to_string(),
        }
    };
    let mut file = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o644)
        .open(path)
        .map_err(io("open"))?;
    file.write_all(head.to_json_line().as_bytes())
        .and_then(|()| file.sync_data())
        .map_err(io("append to"))
}

/// The head with the highest last entry in the witness file at `path`;
/// `None` when the file does not exist or holds no head yet. See
/// [`parse_witness`].
pub fn read_witness(path: &Path) -> Result<Option<WitnessedHead>, WitnessError> {
    use argus_core::file::read_to_string_capped;
    let text = match read_to_string_capped(path, MAX_WITNESS_BYTES, "witness file") {
        Ok(text) => text,
        Err(e) if e.is_not_found() => return Ok(None),
        Err(e) => {
            return Err(WitnessError::Io {
                action: "read",
                path: path.to_owned(),
                reason: e.reason(),
            });
        }
    };
    parse_lines(&text, &format!("the witness file {}", path.display()))
}

/// The head with the highest last entry in the text of a witness file (JSON
/// lines; a last line without its newline, a write cut short, is skipped),
/// or in one JSON document (what `argus audit head --json` printed, even
/// pretty-printed). `origin` names the text's source in errors.
pub fn parse_witness(text: &str, origin: &str) -> Result<Option<WitnessedHead>, WitnessError> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Ok(None);
    }
    if !trimmed.contains('\n') || serde_json::from_str::<serde_json::Value>(trimmed).is_ok() {
        return WitnessedHead::from_json(trimmed, origin).map(Some);
    }
    parse_lines(text, origin)
}

/// The head with the highest last entry among JSON lines; a last line
/// without its newline is skipped.
fn parse_lines(text: &str, origin: &str) -> Result<Option<WitnessedHead>, WitnessError> {
    let complete = match text.rfind('\n') {
        Some(end) => &text[..end],
        None => "",
    };
    let mut best: Option<WitnessedHead> = None;
    for (i, line) in complete.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let origin = format!("line {} of {origin}", i + 1);
        let head = WitnessedHead::from_json(line, &origin)?;
        if best
            .as_ref()
            .is_none_or(|b| head.checkpoint.last_seq >= b.checkpoint.last_seq)
        {
            best = Some(head);
        }
    }
    Ok(best)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::{AuditLog, Clock, NewEntry, RetentionClass, read_log};

    fn log_with(dir: &Path, n: usize) -> (AuditPaths, CheckpointVerifier) {
        let mut log = AuditLog::open(dir, Clock::manual_ms(1_790_000_000_000)).unwrap();
        for i in 0..n {
            log.append(&NewEntry::new(
                RetentionClass::Audit,
                "alice",
                format!("act.{i}"),
            ))
            .unwrap();
        }
        let paths = log.paths().clone();
        drop(log);
        let verifier = CheckpointVerifier::load(&paths.public_key).unwrap();
        (paths, verifier)
    }

    fn last_head(paths: &AuditPaths, verifier: &CheckpointVerifier) -> WitnessedHead {
        WitnessedHead::new(read_head(paths).unwrap().unwrap(), verifier)
    }

    #[test]
    fn a_head_round_trips_through_its_json_line() {
        let dir = tempfile::tempdir().unwrap();
        let (paths, verifier) = log_with(dir.path(), 2);
        let head = last_head(&paths, &verifier);
        let line = head.to_json_line();
        assert!(line.ends_with('\n') && !line.trim_end().contains('\n'));
        assert_eq!(WitnessedHead::from_json(&line, "x").unwrap(), head);
        // The last checkpoint read from the log is the head file's.
        let log = read_log(&paths).unwrap();
        assert_eq!(log.last_checkpoint(), Some(&head.checkpoint));
    }

    #[test]
    fn the_log_extends_its_own_heads_old_and_new() {
        let dir = tempfile::tempdir().unwrap();
        let (paths, verifier) = log_with(dir.path(), 2);
        let old = last_head(&paths, &verifier);
        drop(log_with(dir.path(), 3));
        let bytes = std::fs::read(&paths.log).unwrap();
        let new = last_head(&paths, &verifier);
        assert_eq!(
            check_extends(&bytes, &old, &verifier).unwrap(),
            Extension {
                head_entries: 2,
                log_entries: 5
            }
        );
        assert_eq!(
            check_extends(&bytes, &new, &verifier).unwrap().head_entries,
            5
        );
    }

    #[test]
    fn a_head_signed_by_another_key_or_edited_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (paths, verifier) = log_with(dir.path(), 1);
        let head = last_head(&paths, &verifier);
        let bytes = std::fs::read(&paths.log).unwrap();
        let other = crate::CheckpointKey::generate().unwrap().verifier();
        let err = check_extends(&bytes, &head, &other).unwrap_err();
        assert!(matches!(err, WitnessError::NotSigned { .. }), "{err}");
        assert!(err.to_string().contains("not signed by this log's key"));
        // Without the key's name beside it, the signature itself fails.
        let bare = WitnessedHead {
            public_key: None,
            ..head.clone()
        };
        assert!(matches!(
            check_extends(&bytes, &bare, &other),
            Err(WitnessError::NotSigned { .. })
        ));
        // An edited field no longer matches the hash or the signature.
        let mut edited = bare.clone();
        edited.checkpoint.last_seq = 7;
        assert!(matches!(
            check_extends(&bytes, &edited, &verifier),
            Err(WitnessError::NotSigned { .. })
        ));
        let text = head
            .to_json_line()
            .replace("\"last_seq\":0", "\"last_seq\":7");
        assert!(matches!(
            WitnessedHead::from_json(&text, "x"),
            Err(WitnessError::NotSigned { .. }) | Err(WitnessError::InvalidHead { .. })
        ));
    }

    #[test]
    fn text_that_is_no_head_says_what_to_give() {
        for text in [
            "",
            "entries 0..=4 root ab signed 2026 by cd",
            "{\"checkpoint\": {}}",
            "[1,2]",
        ] {
            let err = WitnessedHead::from_json(text, "FILE").unwrap_err();
            assert!(matches!(err, WitnessError::InvalidHead { .. }), "{err}");
            let message = err.to_string();
            assert!(
                message.starts_with("FILE does not hold a head"),
                "{message}"
            );
            assert!(message.contains("argus audit head --json"), "{message}");
        }
    }

    #[test]
    fn a_witness_file_gives_its_highest_head_and_skips_a_torn_last_line() {
        let dir = tempfile::tempdir().unwrap();
        let (paths, verifier) = log_with(dir.path(), 1);
        let first = last_head(&paths, &verifier);
        drop(log_with(dir.path(), 2));
        let second = last_head(&paths, &verifier);
        let witness = dir.path().join("heads.jsonl");
        assert_eq!(read_witness(&witness).unwrap(), None);
        append_witness(&witness, &first).unwrap();
        append_witness(&witness, &second).unwrap();
        // An older head appended later does not lower the bar.
        append_witness(&witness, &first).unwrap();
        assert_eq!(read_witness(&witness).unwrap(), Some(second.clone()));
        // A torn last line is skipped.
        let mut file = OpenOptions::new().append(true).open(&witness).unwrap();
        file.write_all(b"{\"checkpoint\":{\"first").unwrap();
        assert_eq!(read_witness(&witness).unwrap(), Some(second));
        // A damaged complete line is an error naming the line.
        file.write_all(b"\n").unwrap();
        let err = read_witness(&witness).unwrap_err();
        assert!(
            err.to_string().contains("line 4 of the witness file"),
            "{err}"
        );
    }
}
