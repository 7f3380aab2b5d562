//! `submissions`: what a bot says it sent. A bot appends one JSON object per
//! line to a file of its own for each transaction it submits:
//!
//! ```text
//! {"tx_hash": "0x5c50…e1", "from": "0x7099…79c8", "nonce": 17, "chain": "mainnet"}
//! ```
//!
//! `tx_hash` (32 bytes, hex) and `from` (an address) are required; `nonce`
//! (a number) and `chain` (a name or id, kept as written) are optional and
//! only shown; unknown keys are ignored so a bot may log more. The node's
//! chain task reads each bot's file (a [`LineTail`] from its start the
//! first time, then from the position it stored) *before* it judges a
//! block, so a report written before the block was committed is always
//! seen; the same report can also arrive over the HTTP API. A line that is
//! not such an object is skipped and reported by line, never fatal: the
//! file is the bot's, not ours.

use alloy_primitives::{Address, B256};
use serde::Deserialize;

pub use crate::logs::LineTail;

/// One transaction a bot says it submitted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submission {
    pub tx_hash: B256,
    pub from: Address,
    pub nonce: Option<u64>,
    pub chain: Option<String>,
}

#[derive(Deserialize)]
struct Line {
    tx_hash: String,
    from: String,
    #[serde(default)]
    nonce: Option<u64>,
    #[serde(default)]
    chain: Option<serde_json::Value>,
}

/// The longest `chain` kept (it is only shown).
const MAX_CHAIN_CHARS: usize = 64;

/// Reads one report (a JSON object); the error says which field is wrong.
pub fn parse_submission(text: &str) -> Result<Submission, String> {
    let line: Line = serde_json::from_str(text).map_err(|e| format!("not a report: {e}"))?;
    submission(line)
}

/// Reads a report already parsed as JSON (the HTTP body's items).
pub fn submission_from_json(value: serde_json::Value) -> Result<Submission, String> {
    let line: Line = serde_json::from_value(value).map_err(|e| format!("not a report: {e}"))?;
    submission(line)
}

fn submission(line: Line) -> Result<Submission, String> {
    let tx_hash = parse_hash(&line.tx_hash)?;
    let from = argus_core::parse_address(line.from.trim())
        .map_err(|e| format!("`from` is not an address: {e}"))?;
    let chain = match line.chain {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(name)) => Some(name),
        Some(serde_json::Value::Number(id)) => Some(id.to_string()),
        Some(_) => return Err("`chain` must be a name or a number".to_owned()),
    };
    if chain
        .as_ref()
        .is_some_and(|c| c.chars().count() > MAX_CHAIN_CHARS || c.chars().any(char::is_control))
    {
        return Err(format!(
            "`chain` must be at most {MAX_CHAIN_CHARS} printable characters"
        ));
    }
    Ok(Submission {
        tx_hash,
        from,
        nonce: line.nonce,
        chain,
    })
}

fn parse_hash(text: &str) -> Result<B256, String> {
    let hex = text
        .strip_prefix("0x")
        .or_else(|| text.strip_prefix("0X"))
        .ok_or("`tx_hash` must start with 0x")?;
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err("`tx_hash` must be 0x and 64 hex digits".to_owned());
    }
    text.parse::<B256>()
        .map_err(|e| format!("`tx_hash` is not a hash: {e}"))
}

/// A bot's file of reports, read as it grows.
#[derive(Debug)]
pub struct SubmissionsFile {
    tail: LineTail,
    warned: bool,
}

/// What one read of a bot's file gave.
#[derive(Debug, Default)]
pub struct ReadReports {
    pub submissions: Vec<Submission>,
    /// Lines that were not reports (the first few, with why).
    pub skipped: Vec<String>,
}

impl SubmissionsFile {
    /// Resumes at `saved`, or reads the file from its start the first time
    /// (reports from before Argus first looked still count).
    pub fn new(path: std::path::PathBuf, saved: Option<crate::LogPosition>) -> Self {
        Self {
            tail: LineTail::new(path, saved, true),
            warned: false,
        }
    }

    /// The key its position is stored under in `signal_log_positions`.
    pub fn key(&self) -> String {
        format!("submissions:{}", self.tail.path().display())
    }

    /// Where a restart resumes.
    pub fn position(&self) -> Option<crate::LogPosition> {
        self.tail.position()
    }

    /// The reports appended since the last read. A file that cannot be read
    /// (missing, a FIFO) gives none and is warned about once until it can.
    pub fn read_new(&mut self) -> ReadReports {
        let lines = match self.tail.read_lines() {
            Ok(lines) => {
                self.warned = false;
                lines
            }
            Err(error) => {
                if !self.warned {
                    tracing::warn!(
                        "bot submissions file {}: {error}",
                        self.tail.path().display()
                    );
                    self.warned = true;
                }
                return ReadReports::default();
            }
        };
        let mut out = ReadReports::default();
        for line in lines {
            let text = String::from_utf8_lossy(&line);
            if text.trim().is_empty() {
                continue;
            }
            match parse_submission(&text) {
                Ok(submission) => out.submissions.push(submission),
                Err(why) if out.skipped.len() < 8 => out.skipped.push(why),
                Err(_) => {}
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const HASH: &str = "0x5c504ed432cb51138bcf09aa5e8a410dd4a1e204ef84bfed1be16dfba1b22060";

    #[test]
    fn a_report_is_read_and_a_bad_one_says_why() {
        let ok = parse_submission(&format!(
            r#"{{"tx_hash":"{HASH}","from":"0x70997970C51812dc3A010C7d01b50e0d17dc79C8","nonce":3,"chain":"anvil","extra":1}}"#
        ))
        .unwrap();
        assert_eq!(format!("{:#x}", ok.tx_hash), HASH);
        assert_eq!(ok.nonce, Some(3));
        assert_eq!(ok.chain.as_deref(), Some("anvil"));
        let numeric = parse_submission(&format!(
            r#"{{"tx_hash":"{HASH}","from":"0x70997970c51812dc3a010c7d01b50e0d17dc79c8","chain":31337}}"#
        ))
        .unwrap();
        assert_eq!(numeric.chain.as_deref(), Some("31337"));
        for (line, why) in [
            ("not json", "not a report"),
            (
                r#"{"from":"0x70997970c51812dc3a010c7d01b50e0d17dc79c8"}"#,
                "tx_hash",
            ),
            (
                r#"{"tx_hash":"0x12","from":"0x70997970c51812dc3a010c7d01b50e0d17dc79c8"}"#,
                "64 hex",
            ),
            (&format!(r#"{{"tx_hash":"{HASH}","from":"bob"}}"#), "`from`"),
            (
                &format!(
                    r#"{{"tx_hash":"{HASH}","from":"0x70997970c51812dc3a010c7d01b50e0d17dc79c8","nonce":-1}}"#
                ),
                "not a report",
            ),
            (
                &format!(
                    r#"{{"tx_hash":"{HASH}","from":"0x70997970c51812dc3a010c7d01b50e0d17dc79c8","chain":[1]}}"#
                ),
                "`chain`",
            ),
        ] {
            let error = parse_submission(line).unwrap_err();
            assert!(error.contains(why), "{line}: {error}");
        }
    }

    #[test]
    fn the_file_is_read_from_its_start_then_as_it_grows() {
        use std::io::Write as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("arb.jsonl");
        let line = format!(
            "{{\"tx_hash\":\"{HASH}\",\"from\":\"0x70997970c51812dc3a010c7d01b50e0d17dc79c8\"}}\n"
        );
        std::fs::write(&path, format!("{line}garbage\n")).unwrap();
        let mut file = SubmissionsFile::new(path.clone(), None);
        let first = file.read_new();
        assert_eq!(first.submissions.len(), 1, "history counts");
        assert_eq!(first.skipped.len(), 1);
        let mut append = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        // Half a line waits for its end.
        append.write_all(&line.as_bytes()[..20]).unwrap();
        assert!(file.read_new().submissions.is_empty());
        append.write_all(&line.as_bytes()[20..]).unwrap();
        assert_eq!(file.read_new().submissions.len(), 1);
        // A restart at the stored position reads nothing again.
        let mut again = SubmissionsFile::new(path, file.position());
        assert!(again.read_new().submissions.is_empty());
        assert!(file.key().starts_with("submissions:"));
    }
}
