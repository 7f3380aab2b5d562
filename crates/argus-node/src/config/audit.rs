//! The `audit:` section: where the daemon publishes the audit log's signed
//! heads, so a rollback of the log *and* its head file is caught.
//!
//! ```yaml
//! audit:
//!   witnesses:
//!     - file: /mnt/witness/argus-heads.jsonl   # checked at every start
//!     - notifier: audit-hook                   # an alerting notifier: a webhook, a chat, email
//! ```
//!
//! Two kinds of witness, because they answer two halves of the threat:
//!
//! - a **file** on another mount is one the daemon can read back, so the
//!   first file witness is the one `argus run` checks the log against at
//!   start (refusing a log that does not extend it);
//! - a **notifier** (any of `alerting.notifiers`: a signed webhook to a
//!   service on another host, a chat channel, email) puts each head where
//!   the daemon's host cannot take it back. The daemon cannot read those
//!   back, so they do not gate the start; whoever keeps them checks a log
//!   with `argus audit verify --head` (the head is the message's
//!   `alert.fields`, exactly what `argus audit head --json` prints). Heads
//!   go through the alert outbox, so each is delivered once, retried across
//!   sink outages and restarts.
//!
//! A witness inside the data directory is refused: whoever can roll the log
//! back can roll such a file back with it.
//!
//! ```yaml
//! audit:
//!   segments: { max_bytes: 64MiB, max_age: 30d }   # the defaults
//! ```
//!
//! The daemon seals the active log into a segment when it reaches either
//! limit. Commands that write the log without the config (`keys`, `tokens`,
//! `audit record`) seal by the defaults.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use argus_alerting::notify::NotifierConfig;
use argus_audit::SegmentPolicy;
use argus_audit::jiff::SignedDuration;
use serde::Deserialize;
use serde_saphyr::Spanned;

use super::{Collector, ConfigDocument};

/// The typed `audit:` section.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditConfig {
    /// The witnesses, in the order given; the first file is the one the
    /// daemon checks the log against at start.
    pub witnesses: Vec<Witness>,
    /// When the daemon seals the active log into a segment.
    pub segments: SegmentPolicy,
}

impl AuditConfig {
    /// The witness files, in order.
    pub fn files(&self) -> Vec<PathBuf> {
        self.witnesses
            .iter()
            .filter_map(|w| w.file().map(Path::to_path_buf))
            .collect()
    }

    /// The notifiers that witness heads, in order.
    pub fn notifiers(&self) -> Vec<String> {
        self.witnesses
            .iter()
            .filter_map(|w| match w {
                Witness::Notifier(name) => Some(name.clone()),
                Witness::File(_) => None,
            })
            .collect()
    }
}

/// One place a signed head is published to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Witness {
    /// An append-only file of JSON lines, best on another mount or host
    /// than the data directory (resolved against the config's folder).
    File(PathBuf),
    /// An alerting notifier (by name) each new head is sent through.
    Notifier(String),
}

impl Witness {
    /// The witness file, for the witnesses that are files.
    pub fn file(&self) -> Option<&Path> {
        match self {
            Self::File(path) => Some(path),
            Self::Notifier(_) => None,
        }
    }
}

impl fmt::Display for Witness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File(path) => write!(f, "witness file {}", path.display()),
            Self::Notifier(name) => write!(f, "witness notifier {name}"),
        }
    }
}

/// The `audit:` section as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditSection {
    #[serde(default)]
    witnesses: Vec<WitnessSection>,
    #[serde(default)]
    segments: Option<SegmentsSection>,
}

/// `audit.segments` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SegmentsSection {
    #[serde(default)]
    max_bytes: Option<serde_json::Value>,
    #[serde(default, deserialize_with = "argus_core::duration::deserialize_option")]
    max_age: Option<std::time::Duration>,
}

/// The smallest `audit.segments.max_bytes` taken.
const MIN_SEGMENT_BYTES: u64 = 64 * 1024;

/// `65536`, `512KiB`, `64MiB`, `1GiB`.
fn parse_bytes(value: &serde_json::Value) -> Result<u64, String> {
    let text = match value {
        serde_json::Value::Number(n) => {
            return n
                .as_u64()
                .ok_or_else(|| format!("{n} is not a whole number of bytes"));
        }
        serde_json::Value::String(s) => s.trim(),
        other => return Err(format!("{other} is not a size; write e.g. 64MiB")),
    };
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let number: u64 = digits
        .parse()
        .map_err(|_| format!("`{text}` is not a size; write e.g. 64MiB"))?;
    let factor: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        other => return Err(format!("unknown unit `{other}`; use B, KiB, MiB or GiB")),
    };
    number
        .checked_mul(factor)
        .ok_or_else(|| format!("`{text}` is too large"))
}

/// One `audit.witnesses` item as written: a file or a notifier.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WitnessSection {
    #[serde(default)]
    file: Option<String>,
    #[serde(default)]
    notifier: Option<String>,
}

/// The `audit:` section: each witness file resolved and checked (its folder
/// exists; it is not inside the data directory, where a rollback would take
/// it along with the log), each notifier one `alerting.notifiers` defines.
/// `notifiers` is `None` when the alerting section itself did not load
/// (its problems are reported there).
pub(super) fn audit_config(
    out: &mut Collector,
    doc: &ConfigDocument,
    raw: &Spanned<serde_json::Value>,
    data_dir: Option<&Path>,
    notifiers: Option<&BTreeMap<String, NotifierConfig>>,
) -> AuditConfig {
    let Some(section) = out.item::<AuditSection>("audit", raw) else {
        return AuditConfig::default();
    };
    let mut witnesses = Vec::new();
    for (i, witness) in section.witnesses.iter().enumerate() {
        let item = match (&witness.file, &witness.notifier) {
            (Some(file), None) => file_witness(out, doc, raw, data_dir, i, file),
            (None, Some(name)) => notifier_witness(out, raw, notifiers, i, name),
            (Some(_), Some(_)) => {
                out.at(raw, format!("audit.witnesses[{i}] names both a file and a notifier; make them two witnesses"));
                None
            }
            (None, None) => {
                out.at(raw, format!("audit.witnesses[{i}] is empty; give `file: PATH` (on another mount) or `notifier: NAME` (one of alerting.notifiers)"));
                None
            }
        };
        let Some(item) = item else { continue };
        if witnesses.contains(&item) {
            out.at(
                raw,
                format!("audit.witnesses[{i}]: the {item} is listed twice"),
            );
            continue;
        }
        witnesses.push(item);
    }
    let mut segments = SegmentPolicy::default();
    if let Some(section) = &section.segments {
        if let Some(value) = &section.max_bytes {
            match parse_bytes(value) {
                Ok(bytes) if bytes >= MIN_SEGMENT_BYTES => segments.max_bytes = bytes,
                Ok(bytes) => out.at(raw, format!("audit.segments.max_bytes: {bytes} bytes is too small; give at least 64KiB (default 64MiB)")),
                Err(why) => out.at(raw, format!("audit.segments.max_bytes: {why}")),
            }
        }
        if let Some(age) = section.max_age {
            match SignedDuration::try_from(age) {
                Ok(age) if !age.is_zero() => segments.max_age = Some(age),
                _ => out.at(
                    raw,
                    "audit.segments.max_age must be a positive duration, e.g. 30d",
                ),
            }
        }
    }
    AuditConfig {
        witnesses,
        segments,
    }
}

fn file_witness(
    out: &mut Collector,
    doc: &ConfigDocument,
    raw: &Spanned<serde_json::Value>,
    data_dir: Option<&Path>,
    i: usize,
    file: &str,
) -> Option<Witness> {
    if file.trim().is_empty() {
        out.at(raw, format!("audit.witnesses[{i}].file is empty; name a file on another mount than the data directory, e.g. /mnt/witness/argus-heads.jsonl"));
        return None;
    }
    let path = doc.resolve(file);
    match path.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(parent) if !parent.is_dir() => out.at(
            raw,
            format!(
                "audit.witnesses[{i}].file: the folder {} does not exist; create it (or mount the witness volume) or fix the path",
                parent.display()
            ),
        ),
        _ => {}
    }
    if path.is_dir() {
        out.at(
            raw,
            format!(
                "audit.witnesses[{i}].file: {} is a folder; name a file in it, e.g. argus-heads.jsonl",
                path.display()
            ),
        );
    }
    if let Some(data_dir) = data_dir
        && path.starts_with(data_dir)
    {
        out.at(
            raw,
            format!(
                "audit.witnesses[{i}].file: {} is inside the data directory, so whoever can roll the audit log back can roll it back too; put it on another mount or host",
                path.display()
            ),
        );
    }
    Some(Witness::File(path))
}

fn notifier_witness(
    out: &mut Collector,
    raw: &Spanned<serde_json::Value>,
    notifiers: Option<&BTreeMap<String, NotifierConfig>>,
    i: usize,
    name: &str,
) -> Option<Witness> {
    let Some(notifiers) = notifiers else {
        // The alerting section did not load; its own problems say why.
        return None;
    };
    if notifiers.contains_key(name) {
        return Some(Witness::Notifier(name.to_owned()));
    }
    let known: Vec<&str> = notifiers.keys().map(String::as_str).collect();
    out.at(
        raw,
        format!(
            "audit.witnesses[{i}].notifier: no notifier {:?} in alerting.notifiers ({}); define it there (a webhook to another host keeps heads best)",
            name.chars().take(64).collect::<String>(),
            if known.is_empty() {
                "there are none".to_owned()
            } else {
                format!("known: {}", known.join(", "))
            }
        ),
    );
    None
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used, clippy::unwrap_used)]
    use crate::config::load;

    use super::*;

    fn write(dir: &Path, text: &str) -> PathBuf {
        let path = dir.join("argus.yaml");
        std::fs::write(&path, text).unwrap();
        path
    }

    const CHAINS: &str = "chains: [{ chain: anvil, rpc: [ws://127.0.0.1:8545] }]\n";
    const HOOK: &str = "alerting:\n  notifiers:\n    audit-hook: { type: script, command: [/usr/local/bin/keep-head] }\n";

    #[test]
    fn witness_files_resolve_against_the_config() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("mnt")).unwrap();
        let path = write(
            dir.path(),
            &format!("{CHAINS}data_dir: data\naudit:\n  witnesses:\n    - file: mnt/heads.jsonl\n"),
        );
        let loaded = load(&path).expect("loads");
        assert_eq!(
            loaded.audit.witnesses,
            vec![Witness::File(dir.path().join("mnt/heads.jsonl"))]
        );
        let none = write(dir.path(), CHAINS);
        assert!(load(&none).expect("loads").audit.witnesses.is_empty());
        assert_eq!(
            load(&none).expect("loads").audit.segments,
            SegmentPolicy::default()
        );
    }

    #[test]
    fn segment_limits_are_read_and_bad_ones_reported() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            &format!("{CHAINS}audit:\n  segments: {{ max_bytes: 16MiB, max_age: 7d }}\n"),
        );
        let segments = load(&path).expect("loads").audit.segments;
        assert_eq!(segments.max_bytes, 16 << 20);
        assert_eq!(segments.max_age, Some(SignedDuration::from_hours(7 * 24)));
        let path = write(
            dir.path(),
            &format!("{CHAINS}audit:\n  segments: {{ max_bytes: 12, max_age: 0s }}\n"),
        );
        let text = load(&path).expect_err("refused").to_string();
        assert!(text.contains("12 bytes is too small"), "{text}");
        assert!(
            text.contains("max_age must be a positive duration"),
            "{text}"
        );
        let path = write(
            dir.path(),
            &format!("{CHAINS}audit:\n  segments: {{ max_bytes: 3TB }}\n"),
        );
        let text = load(&path).expect_err("refused").to_string();
        assert!(text.contains("unknown unit `TB`"), "{text}");
    }

    #[test]
    fn a_notifier_witnesses_beside_a_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("mnt")).unwrap();
        let path = write(
            dir.path(),
            &format!(
                "{CHAINS}{HOOK}data_dir: data\naudit:\n  witnesses:\n    - notifier: audit-hook\n    - file: mnt/heads.jsonl\n"
            ),
        );
        let audit = load(&path).expect("loads").audit;
        assert_eq!(audit.notifiers(), vec!["audit-hook".to_owned()]);
        assert_eq!(audit.files(), vec![dir.path().join("mnt/heads.jsonl")]);
    }

    #[test]
    fn bad_witnesses_are_all_reported_with_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            &format!(
                "{CHAINS}{HOOK}data_dir: data\naudit:\n  witnesses:\n    - file: nowhere/heads.jsonl\n    - file: data/audit/heads.jsonl\n    - file: ''\n    - notifier: nosuch\n    - {{ file: x.jsonl, notifier: audit-hook }}\n    - {{}}\n    - notifier: audit-hook\n    - notifier: audit-hook\n"
            ),
        );
        std::fs::create_dir_all(dir.path().join("data/audit")).unwrap();
        let error = load(&path).expect_err("refused");
        let text = error.to_string();
        assert_eq!(error.0.len(), 7, "{text}");
        assert!(text.contains("does not exist; create it"), "{text}");
        assert!(text.contains("inside the data directory"), "{text}");
        assert!(text.contains("is empty; name a file"), "{text}");
        assert!(
            text.contains("no notifier \"nosuch\" in alerting.notifiers (known: audit-hook)"),
            "{text}"
        );
        assert!(text.contains("both a file and a notifier"), "{text}");
        assert!(text.contains("witnesses[5] is empty; give"), "{text}");
        assert!(
            text.contains("the witness notifier audit-hook is listed twice"),
            "{text}"
        );
        assert!(error.0.iter().all(|d| d.line == 7), "{text}");

        let path = write(
            dir.path(),
            &format!("{CHAINS}audit:\n  witnesses:\n    - http: https://example.com\n"),
        );
        let text = load(&path).expect_err("refused").to_string();
        assert!(text.contains("unknown field `http`"), "{text}");
    }
}
