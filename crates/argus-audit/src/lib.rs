//! The tamper-evident audit log.
//!
//! Every privileged act and state change in Argus becomes one [`Entry`]: who
//! (actor), what (action and optional JSON details), when (RFC 3339 with the
//! offset, from one injectable [`Clock`]), where (host and component), why
//! (free text and an optional alert or incident id), and a [`RetentionClass`].
//!
//! # How tampering is detected
//! - **Edits**: each entry carries the SHA-256 of the previous entry over a
//!   canonical binary encoding, so changing any entry breaks the link from the
//!   next one.
//! - **Deletion, reordering, truncation**: entries carry consecutive sequence
//!   numbers, and every commit ends with a signed [`Checkpoint`]: the Merkle
//!   root of the entries since the previous checkpoint, the chain head, and the
//!   hash of the previous checkpoint, signed with ed25519. The latest
//!   checkpoint is also kept outside the log, in `head`, so cutting the log
//!   back to an earlier checkpoint is caught.
//! - **Rollback of both**: `head` is the last checkpoint byte for byte, so
//!   cutting the log after an earlier checkpoint and copying that record
//!   into `head` passes every local check. Only a head kept elsewhere (a
//!   witness: `argus audit head --json` published, or the daemon's witness
//!   files) catches it: [`check_extends`] says whether the log still
//!   extends such a head.
//!
//! # Why SHA-256
//! SHA-256 rather than keccak: this machine (and most servers) computes it in
//! hardware (SHA-NI), which is what makes verifying a million entries take a
//! fraction of a second; it is what RFC 6962 Merkle trees and every auditor's
//! toolbox (`sha256sum`, `openssl dgst`) use; keccak buys nothing here since
//! no entry is ever checked on chain.
//!
//! # Why a file of its own, not the SQLite store
//! The log is one append-only file (`<data_dir>/audit/audit.log`) in a small
//! binary format of its own ([`format`]), not a table in `argus.db`: an
//! append is one `write` and one `fdatasync` for a whole group of entries (the
//! group commit behind the ≥100,000 appends/s figure), verification reads the
//! bytes that were hashed rather than values a database re-encodes, every byte
//! of the file is covered by a hash, a signature or the framing (a one-byte
//! change anywhere is caught), and the log survives a store migration or a
//! move to PostgreSQL untouched. Queries over it are scans; the log is read
//! rarely and in full.
//!
//! # The checkpoint key
//! Checkpoints are signed by a [`CheckpointKey`], an ed25519 key. Argus keeps
//! it sealed in the vault under the master key and hands its bytes over with
//! [`CheckpointKey::from_bytes`]; its public half sits beside the log in
//! `checkpoint.pub` for verifiers without secrets. [`AuditLog::open`] keeps
//! the key in a 0600 file beside the log instead, for tools and tests that
//! have no vault.
//!
//! # Torn tails
//! A crash in the middle of a commit leaves entries that were never
//! acknowledged at the end of the log; [`recover`] cuts exactly such a tail
//! off (keeping the bytes as evidence) and refuses anything else.
//!
//! # Retention
//! [`prune`] replaces the payload of entries older than their class's
//! retention with the payload's hash. The entry hash is computed over the
//! payload *hash*, so pruned entries still link and every checkpoint still
//! verifies.

mod error;
pub mod format;
mod key;
mod log;
mod merkle;
mod read;
mod recover;
mod retention;
mod rfc3339;
pub mod segment;
mod verify;
mod witness;
mod writer;

pub use argus_core::Clock;
pub use error::AuditError;
pub use format::{Checkpoint, Entry, Hash, NewEntry, Payload, RetentionClass};
/// The date and time crate entries are stamped with, for callers that build
/// queries.
pub use jiff;
pub use key::{CheckpointKey, CheckpointVerifier};
pub use log::{AuditLog, AuditPaths, DEFAULT_GROUP_SIZE};
pub use merkle::merkle_root;
pub use read::{AuditRecord, ParsedLog, Query, parse_log, read_log};
pub use recover::{RecoverReport, plan_recovery, recover};
pub use retention::{PruneReport, Retention, RetentionPolicy, prune};
pub use rfc3339::{TimeParseError, format_time, parse_time};
pub use segment::{SegmentFile, SegmentPolicy, log_files, read_log_bytes, snapshot};
pub use verify::{VerifyReport, verify, verify_bytes};
pub use witness::{
    Extension, MAX_WITNESS_BYTES, WitnessError, WitnessedHead, append_witness, check_extends,
    parse_witness, read_head, read_witness,
};
pub use writer::GroupCommitWriter;
