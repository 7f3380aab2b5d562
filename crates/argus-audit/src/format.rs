//! The on-disk format: a header, then records, each `tag (1 byte) · body
//! length (u32 LE) · body`. Nothing in the file is free: every byte is part of
//! the framing, of a hashed field, or of a signature, so changing any one of
//! them is caught by reading or by verifying.
//!
//! ```text
//! header      "ARGUSAUD" · version u16 LE (1)
//! entry 'E'   seq u64 · prev [32] · time_len u8 · time (RFC 3339, offset) ·
//!             class u8 · form u8 · (form 0: payload bytes to the end |
//!                                    form 1: payload hash [32], payload pruned)
//! checkpoint 'C'
//!             first_seq u64 · last_seq u64 · merkle root [32] · chain head [32] ·
//!             previous checkpoint hash [32] · time_len u8 · time · signature [64]
//! payload     actor · action · host · component · reason (each u32 LE length ·
//!             UTF-8) · reference · details (each u8 0 | 1 · string; details is
//!             compact JSON with sorted keys)
//! ```
//!
//! Hashes (SHA-256, one domain byte each so no hash can stand for another):
//! payload hash = H(0x02 · payload); entry hash = H(0x00 · seq · prev ·
//! time_len · time · class · payload hash); Merkle node = H(0x01 · left ·
//! right); checkpoint hash = H(0x03 · checkpoint body without the signature),
//! which is also the message the ed25519 signature covers.

use jiff::ZonedDateTime;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::AuditError;
pub use crate::rfc3339::{TimeParseError, format_time, parse_time};

/// A SHA-256 digest.
pub type Hash = [u8; 32];

/// The file's first bytes.
pub const MAGIC: &[u8; 8] = b"ARGUSAUD";
/// The format version this crate writes and reads.
pub const VERSION: u16 = 1;
/// Length of the header (magic and version).
pub const HEADER_LEN: usize = 10;
pub(crate) const TAG_ENTRY: u8 = b'E';
pub(crate) const TAG_CHECKPOINT: u8 = b'C';
const FORM_PAYLOAD: u8 = 0;
const FORM_PRUNED: u8 = 1;
const DOMAIN_ENTRY: u8 = 0x00;
pub(crate) const DOMAIN_NODE: u8 = 0x01;
const DOMAIN_PAYLOAD: u8 = 0x02;
const DOMAIN_CHECKPOINT: u8 = 0x03;
/// Fixed part of a checkpoint body, without the time string.
const CHECKPOINT_FIXED: usize = 8 + 8 + 32 * 3 + 1 + 64;

/// How long an entry's payload is kept (see [`crate::RetentionPolicy`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RetentionClass {
    /// Key access and use, authentication: 7 years by default.
    Security,
    /// Configuration changes and other audit events: 5 years by default.
    Audit,
    /// Transaction submissions: 3 years by default.
    Transaction,
    /// Starts, stops, errors: 1 year by default.
    System,
}

impl RetentionClass {
    /// Every class, in code order.
    pub const ALL: [Self; 4] = [Self::Security, Self::Audit, Self::Transaction, Self::System];

    pub(crate) fn code(self) -> u8 {
        match self {
            Self::Security => 0,
            Self::Audit => 1,
            Self::Transaction => 2,
            Self::System => 3,
        }
    }

    fn from_code(code: u8) -> Option<Self> {
        Self::ALL.get(usize::from(code)).copied()
    }

    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Security => "security",
            Self::Audit => "audit",
            Self::Transaction => "transaction",
            Self::System => "system",
        }
    }
}

impl std::fmt::Display for RetentionClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for RetentionClass {
    type Err = AuditError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| AuditError::InvalidEntry {
                reason: format!(
                    "unknown retention class `{s}`; use security, audit, transaction or system"
                ),
            })
    }
}

/// Who did what, where and why: the part of an entry that retention may
/// remove (its hash stays).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Payload {
    /// Who: a user, an API token's name, or an Argus component acting alone.
    pub actor: String,
    /// What: a dotted action name (`key.sign`, `config.change`, `bot.stop`).
    pub action: String,
    /// Where: the host name.
    pub host: String,
    /// Where: the component (`vault`, `cli`, `responder`…).
    pub component: String,
    /// Why, in words.
    pub reason: String,
    /// Why, as a reference: the alert or incident id, if any.
    pub reference: Option<String>,
    /// Details of what was done, as JSON.
    pub details: Option<serde_json::Value>,
}

/// An entry to append; the log adds the sequence number, the time and the
/// hashes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEntry {
    /// How long the payload is kept.
    pub class: RetentionClass,
    /// Who, what, where, why.
    pub payload: Payload,
}

impl NewEntry {
    /// An entry with an actor and an action; set the rest with the builders.
    pub fn new(class: RetentionClass, actor: impl Into<String>, action: impl Into<String>) -> Self {
        Self {
            class,
            payload: Payload {
                actor: actor.into(),
                action: action.into(),
                ..Payload::default()
            },
        }
    }

    /// Where: host and component.
    pub fn at(mut self, host: impl Into<String>, component: impl Into<String>) -> Self {
        self.payload.host = host.into();
        self.payload.component = component.into();
        self
    }

    /// Why, in words.
    pub fn because(mut self, reason: impl Into<String>) -> Self {
        self.payload.reason = reason.into();
        self
    }

    /// Why, as an alert or incident id.
    pub fn reference(mut self, reference: impl Into<String>) -> Self {
        self.payload.reference = Some(reference.into());
        self
    }

    /// Details of the action.
    pub fn details(mut self, details: serde_json::Value) -> Self {
        self.payload.details = Some(details);
        self
    }
}

/// An entry read back from the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// Position in the log, from 0, without gaps.
    pub seq: u64,
    /// When, as written (RFC 3339 with the offset).
    pub time: String,
    /// Retention class.
    pub class: RetentionClass,
    /// Who, what, where, why; `None` once pruned.
    #[serde(flatten)]
    pub payload: Option<Payload>,
    /// Whether retention removed the payload.
    pub pruned: bool,
    /// Hash of the previous entry (zeros for the first).
    #[serde(with = "hex_hash")]
    pub prev: Hash,
    /// Hash of the payload.
    #[serde(with = "hex_hash")]
    pub payload_hash: Hash,
    /// This entry's hash.
    #[serde(with = "hex_hash")]
    pub hash: Hash,
}

impl Entry {
    /// The time, parsed (in the offset it was written with).
    pub fn timestamp(&self) -> Option<ZonedDateTime> {
        parse_time(&self.time).ok()
    }
}

/// A signed checkpoint read back from the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Checkpoint {
    /// First entry covered.
    pub first_seq: u64,
    /// Last entry covered.
    pub last_seq: u64,
    /// Merkle root of the covered entries' hashes.
    #[serde(with = "hex_hash")]
    pub root: Hash,
    /// Hash of the last covered entry.
    #[serde(with = "hex_hash")]
    pub head: Hash,
    /// Hash of the previous checkpoint (zeros for the first).
    #[serde(with = "hex_hash")]
    pub prev_checkpoint: Hash,
    /// When it was signed.
    pub time: String,
    /// This checkpoint's hash (what the signature covers).
    #[serde(with = "hex_hash")]
    pub hash: Hash,
    /// The ed25519 signature, hex.
    #[serde(serialize_with = "hex_sig")]
    pub signature: [u8; 64],
}

mod hex_hash {
    pub(super) fn serialize<S: serde::Serializer>(h: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(h))
    }
}

fn hex_sig<S: serde::Serializer>(sig: &[u8; 64], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&hex::encode(sig))
}

/// The file header.
pub(crate) fn header() -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[..8].copy_from_slice(MAGIC);
    h[8..].copy_from_slice(&VERSION.to_le_bytes());
    h
}

pub(crate) fn payload_hash(payload: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([DOMAIN_PAYLOAD]);
    h.update(payload);
    h.finalize().into()
}

pub(crate) fn entry_hash(
    seq: u64,
    prev: &Hash,
    time: &[u8],
    class: u8,
    payload_hash: &Hash,
) -> Hash {
    let mut buf = [0u8; 1 + 8 + 32 + 1 + 255 + 1 + 32];
    let mut n = 0;
    let mut put = |bytes: &[u8]| {
        buf[n..n + bytes.len()].copy_from_slice(bytes);
        n += bytes.len();
    };
    put(&[DOMAIN_ENTRY]);
    put(&seq.to_le_bytes());
    put(prev);
    // The time is at most 255 bytes: the format stores its length in one byte.
    put(&[time.len() as u8]);
    put(time);
    put(&[class]);
    put(payload_hash);
    Sha256::digest(&buf[..n]).into()
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u32).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn put_opt(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => {
            out.push(1);
            put_str(out, s);
        }
        None => out.push(0),
    }
}

impl Payload {
    /// The canonical encoding (what is hashed).
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), AuditError> {
        for (name, s) in [
            ("actor", &self.actor),
            ("action", &self.action),
            ("host", &self.host),
            ("component", &self.component),
            ("reason", &self.reason),
        ] {
            if s.len() > u32::MAX as usize / 4 {
                return Err(AuditError::InvalidEntry {
                    reason: format!("the {name} is too long ({} bytes)", s.len()),
                });
            }
        }
        if self.actor.is_empty() || self.action.is_empty() {
            return Err(AuditError::InvalidEntry {
                reason: "an entry needs an actor and an action".into(),
            });
        }
        put_str(out, &self.actor);
        put_str(out, &self.action);
        put_str(out, &self.host);
        put_str(out, &self.component);
        put_str(out, &self.reason);
        put_opt(out, self.reference.as_deref());
        let details = self.details.as_ref().map(|d| d.to_string());
        put_opt(out, details.as_deref());
        Ok(())
    }

    /// Reads the canonical encoding back, refusing anything not canonical.
    pub fn decode(bytes: &[u8]) -> Result<Self, String> {
        let mut r = Cursor { bytes, pos: 0 };
        let actor = r.string()?;
        let action = r.string()?;
        let host = r.string()?;
        let component = r.string()?;
        let reason = r.string()?;
        let reference = r.opt_string()?;
        let details = match r.opt_string()? {
            None => None,
            Some(text) => {
                let value: serde_json::Value = serde_json::from_str(&text)
                    .map_err(|e| format!("the details are not JSON: {e}"))?;
                let canonical = value.to_string();
                if canonical != text {
                    return Err("the details are not in canonical JSON".into());
                }
                Some(value)
            }
        };
        if r.pos != bytes.len() {
            return Err(format!(
                "{} stray bytes after the payload",
                bytes.len() - r.pos
            ));
        }
        Ok(Self {
            actor,
            action,
            host,
            component,
            reason,
            reference,
            details,
        })
    }
}

struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len());
        match end {
            Some(end) => {
                let s = &self.bytes[self.pos..end];
                self.pos = end;
                Ok(s)
            }
            None => Err(format!(
                "needs {n} bytes at {}, the payload ends first",
                self.pos
            )),
        }
    }

    fn u32(&mut self) -> Result<u32, String> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn string(&mut self) -> Result<String, String> {
        let len = self.u32()? as usize;
        let b = self.take(len)?;
        String::from_utf8(b.to_vec()).map_err(|_| "a text field is not UTF-8".to_string())
    }

    fn opt_string(&mut self) -> Result<Option<String>, String> {
        match self.take(1)?[0] {
            0 => Ok(None),
            1 => self.string().map(Some),
            other => Err(format!("bad optional-field marker {other}")),
        }
    }
}

/// How an entry's payload is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Form<'a> {
    Payload(&'a [u8]),
    Pruned(&'a Hash),
}

/// An entry record, framed but not hashed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RawEntry<'a> {
    pub(crate) offset: usize,
    /// The whole record, tag and length included.
    pub(crate) record: &'a [u8],
    pub(crate) seq: u64,
    pub(crate) prev: &'a Hash,
    pub(crate) time: &'a [u8],
    pub(crate) class: u8,
    pub(crate) form: Form<'a>,
}

impl RawEntry<'_> {
    pub(crate) fn payload_hash(&self) -> Hash {
        match self.form {
            Form::Payload(p) => payload_hash(p),
            Form::Pruned(h) => *h,
        }
    }

    pub(crate) fn hash(&self) -> Hash {
        entry_hash(
            self.seq,
            self.prev,
            self.time,
            self.class,
            &self.payload_hash(),
        )
    }

    pub(crate) fn class(&self) -> RetentionClass {
        RetentionClass::from_code(self.class).unwrap_or(RetentionClass::Security)
    }
}

/// A checkpoint record, framed but not checked.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RawCheckpoint<'a> {
    pub(crate) offset: usize,
    pub(crate) record: &'a [u8],
    pub(crate) first_seq: u64,
    pub(crate) last_seq: u64,
    pub(crate) root: &'a Hash,
    pub(crate) head: &'a Hash,
    pub(crate) prev_checkpoint: &'a Hash,
    pub(crate) time: &'a [u8],
    /// The body without the signature.
    pub(crate) signed: &'a [u8],
    pub(crate) signature: &'a [u8; 64],
}

impl RawCheckpoint<'_> {
    /// The checkpoint hash, which is the signed message.
    pub(crate) fn hash(&self) -> Hash {
        checkpoint_hash(self.signed)
    }

    pub(crate) fn into_checkpoint(self) -> Checkpoint {
        Checkpoint {
            first_seq: self.first_seq,
            last_seq: self.last_seq,
            root: *self.root,
            head: *self.head,
            prev_checkpoint: *self.prev_checkpoint,
            time: String::from_utf8_lossy(self.time).into_owned(),
            hash: self.hash(),
            signature: *self.signature,
        }
    }
}

pub(crate) fn checkpoint_hash(signed_body: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([DOMAIN_CHECKPOINT]);
    h.update(signed_body);
    h.finalize().into()
}

/// One framed record.
#[derive(Debug, Clone, Copy)]
pub(crate) enum RawRecord<'a> {
    Entry(RawEntry<'a>),
    Checkpoint(RawCheckpoint<'a>),
}

fn array<const N: usize>(b: &[u8], pos: usize) -> Result<&[u8; N], AuditError> {
    b.try_into()
        .map_err(|_| AuditError::corrupt(pos, "a fixed-size field has the wrong length"))
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

/// Reads the header, then frames every record. Never panics on any input.
pub(crate) fn parse_records(bytes: &[u8]) -> Result<Vec<RawRecord<'_>>, AuditError> {
    if bytes.len() < HEADER_LEN || &bytes[..8] != MAGIC {
        return Err(AuditError::corrupt(0, "not an Argus audit log (bad magic)"));
    }
    let version = u16::from_le_bytes([bytes[8], bytes[9]]);
    if version != VERSION {
        return Err(AuditError::corrupt(
            8,
            format!("format version {version}, this argus reads version {VERSION}; upgrade argus"),
        ));
    }
    let mut records = Vec::with_capacity(bytes.len() / 128);
    let mut pos = HEADER_LEN;
    while pos < bytes.len() {
        let (record, next) = parse_record(bytes, pos)?;
        records.push(record);
        pos = next;
    }
    Ok(records)
}

/// Frames one record at `pos`; returns it and the position after it.
pub(crate) fn parse_record(bytes: &[u8], pos: usize) -> Result<(RawRecord<'_>, usize), AuditError> {
    let rest = &bytes[pos.min(bytes.len())..];
    if rest.len() < 5 {
        return Err(AuditError::corrupt(
            pos,
            "the log ends inside a record header (a torn write: `argus audit recover`; or truncation)",
        ));
    }
    let len = u32::from_le_bytes([rest[1], rest[2], rest[3], rest[4]]) as usize;
    if rest.len() - 5 < len {
        return Err(AuditError::corrupt(
            pos,
            format!(
                "a record of {len} bytes runs past the end of the log (a torn write: `argus audit recover`; or truncation)"
            ),
        ));
    }
    let record = &rest[..5 + len];
    let body = &record[5..];
    let bad = |what: &str| AuditError::corrupt(pos, what.to_string());
    let parsed = match rest[0] {
        TAG_ENTRY => {
            if body.len() < 8 + 32 + 1 {
                return Err(bad("an entry record is too short"));
            }
            let seq = u64_at(body, 0);
            let prev = array::<32>(&body[8..40], pos)?;
            let tlen = usize::from(body[40]);
            let after_time = 41 + tlen;
            if body.len() < after_time + 2 {
                return Err(bad("an entry record is too short for its time"));
            }
            let time = &body[41..after_time];
            let class = body[after_time];
            if RetentionClass::from_code(class).is_none() {
                return Err(bad("an entry has an unknown retention class"));
            }
            let form = match body[after_time + 1] {
                FORM_PAYLOAD => Form::Payload(&body[after_time + 2..]),
                FORM_PRUNED if body.len() == after_time + 2 + 32 => {
                    Form::Pruned(array::<32>(&body[after_time + 2..], pos)?)
                }
                FORM_PRUNED => return Err(bad("a pruned entry has the wrong length")),
                _ => return Err(bad("an entry has an unknown payload form")),
            };
            RawRecord::Entry(RawEntry {
                offset: pos,
                record,
                seq,
                prev,
                time,
                class,
                form,
            })
        }
        TAG_CHECKPOINT => {
            if body.len() < CHECKPOINT_FIXED {
                return Err(bad("a checkpoint record is too short"));
            }
            let tlen = usize::from(body[8 + 8 + 96]);
            if body.len() != CHECKPOINT_FIXED + tlen {
                return Err(bad("a checkpoint record has the wrong length"));
            }
            let signed_len = body.len() - 64;
            RawRecord::Checkpoint(RawCheckpoint {
                offset: pos,
                record,
                first_seq: u64_at(body, 0),
                last_seq: u64_at(body, 8),
                root: array::<32>(&body[16..48], pos)?,
                head: array::<32>(&body[48..80], pos)?,
                prev_checkpoint: array::<32>(&body[80..112], pos)?,
                time: &body[113..113 + tlen],
                signed: &body[..signed_len],
                signature: array::<64>(&body[signed_len..], pos)?,
            })
        }
        other => return Err(bad(&format!("unknown record type 0x{other:02x}"))),
    };
    Ok((parsed, pos + 5 + len))
}

/// Appends an entry record.
pub(crate) fn put_entry(
    out: &mut Vec<u8>,
    seq: u64,
    prev: &Hash,
    time: &[u8],
    class: RetentionClass,
    form: Form<'_>,
) {
    let body_len = 8
        + 32
        + 1
        + time.len()
        + 2
        + match form {
            Form::Payload(p) => p.len(),
            Form::Pruned(_) => 32,
        };
    out.push(TAG_ENTRY);
    out.extend_from_slice(&(body_len as u32).to_le_bytes());
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(prev);
    out.push(time.len() as u8);
    out.extend_from_slice(time);
    out.push(class.code());
    match form {
        Form::Payload(p) => {
            out.push(FORM_PAYLOAD);
            out.extend_from_slice(p);
        }
        Form::Pruned(h) => {
            out.push(FORM_PRUNED);
            out.extend_from_slice(h);
        }
    }
}

/// The signed part of a checkpoint body.
pub(crate) fn checkpoint_signed_body(
    first_seq: u64,
    last_seq: u64,
    root: &Hash,
    head: &Hash,
    prev_checkpoint: &Hash,
    time: &[u8],
) -> Vec<u8> {
    let mut b = Vec::with_capacity(CHECKPOINT_FIXED + time.len());
    b.extend_from_slice(&first_seq.to_le_bytes());
    b.extend_from_slice(&last_seq.to_le_bytes());
    b.extend_from_slice(root);
    b.extend_from_slice(head);
    b.extend_from_slice(prev_checkpoint);
    b.push(time.len() as u8);
    b.extend_from_slice(time);
    b
}

/// Appends a checkpoint record from its signed body and signature.
pub(crate) fn put_checkpoint(out: &mut Vec<u8>, signed: &[u8], signature: &[u8; 64]) {
    out.push(TAG_CHECKPOINT);
    out.extend_from_slice(&((signed.len() + 64) as u32).to_le_bytes());
    out.extend_from_slice(signed);
    out.extend_from_slice(signature);
}
