//! `logs`: the bots' log files, read as they grow. Each line that matches a
//! pattern is a signal of value 1 named by the pattern (the procedure's
//! "authentication failures > 3 in 1 minute" reads a bot's log).
//!
//! A reader keeps where it stopped (`LogPosition`: the inode and the start
//! of the line not yet ended); the node stores that position in the
//! transaction that stores what the lines made, so a crash reads again
//! exactly the lines whose signals were not stored, lines written while the
//! daemon was down are read when it starts, and a rotated or truncated file
//! is read from its start.

use std::collections::BTreeMap;
use std::io::{Read as _, Seek as _, SeekFrom};
use std::os::unix::fs::MetadataExt as _;
use std::path::PathBuf;
use std::time::Duration;

use argus_core::{Clock, Signal};
use serde::Deserialize;

use crate::{Sample, Source, SourceContext, signal};

/// `{ path: /var/log/mev-bot.log, patterns: { authentication_failures: "WARN.*auth" } }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSource {
    pub path: PathBuf,
    /// Signal name → regular expression; a line may match several.
    pub patterns: BTreeMap<String, String>,
    /// Labels added to every signal of this file.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// How often the file is checked for new lines.
    #[serde(
        default = "half_s",
        deserialize_with = "argus_core::duration::deserialize"
    )]
    pub every: Duration,
}

fn half_s() -> Duration {
    Duration::from_millis(500)
}

impl LogSource {
    /// The source's key where its position is stored: the path as
    /// configured.
    pub fn key(&self) -> String {
        self.path.display().to_string()
    }

    /// Reads the new lines every `every`, resuming at `saved` (or at the
    /// file's end when it was never read: what came before is history).
    pub fn build(&self, saved: Option<LogPosition>, context: &SourceContext) -> Source {
        let mut reader = LogReader::new(self, saved, context.clock.clone());
        let mut sent = reader.position();
        Source::samples(format!("log {}", self.key()), self.every, move || {
            let mut out: Vec<Sample> = reader.read_new().into_iter().map(Sample::Signal).collect();
            if let Some(position) = reader.position()
                && sent != Some(position)
            {
                sent = Some(position);
                out.push(Sample::LogRead {
                    source: reader.key(),
                    position,
                });
            }
            std::future::ready(out)
        })
    }
}

/// Where a log source stopped reading: the file (by inode) and the offset
/// of the first byte not yet part of a whole line.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct LogPosition {
    /// The file's inode: another inode is a rotated file, read from its start.
    pub inode: u64,
    /// The first byte not yet part of a whole line.
    pub offset: u64,
}

/// Reads the lines appended to a log file since the last call.
#[derive(Debug)]
struct LogReader {
    tail: LineTail,
    patterns: Vec<(String, regex::Regex)>,
    labels: BTreeMap<String, String>,
    warned: bool,
    clock: Clock,
}

/// The whole lines appended to a file since the last read, with the
/// position a restart resumes from (the start of the line not yet ended).
/// The log sources and the bots' submission files (`crate::submissions`)
/// share it.
#[derive(Debug)]
pub struct LineTail {
    path: PathBuf,
    /// Where the next read starts.
    read: Option<LogPosition>,
    /// The start of the line not yet ended (what a restart resumes from).
    durable: Option<LogPosition>,
    partial: Vec<u8>,
    /// Bytes since the last newline (`partial` keeps at most `MAX_LINE`).
    partial_len: u64,
    /// Where a file never read starts: its start, or its end.
    never_read_from_start: bool,
}

/// The longest line kept whole; longer ones are matched on their first part.
const MAX_LINE: usize = 64 * 1024;

impl LogReader {
    /// A reader that resumes at `saved`, or starts at the file's end.
    fn new(source: &LogSource, saved: Option<LogPosition>, clock: Clock) -> Self {
        let patterns = source
            .patterns
            .iter()
            .filter_map(|(name, p)| Some((name.clone(), regex::Regex::new(p).ok()?)))
            .collect();
        let mut labels = source.labels.clone();
        labels
            .entry("file".to_owned())
            .or_insert_with(|| source.path.display().to_string());
        Self {
            tail: LineTail::new(source.path.clone(), saved, false),
            patterns,
            labels,
            warned: false,
            clock,
        }
    }

    /// The source's key in `signal_log_positions`.
    fn key(&self) -> String {
        self.tail.path.display().to_string()
    }

    /// Where a restart should resume.
    fn position(&self) -> Option<LogPosition> {
        self.tail.position()
    }

    fn read_lines(&mut self) -> std::io::Result<Vec<Vec<u8>>> {
        self.tail.read_lines()
    }

    fn read_new(&mut self) -> Vec<Signal> {
        match self.read_lines() {
            Ok(lines) => {
                self.warned = false;
                let mut out = Vec::new();
                for line in lines {
                    let text = String::from_utf8_lossy(&line);
                    for (name, pattern) in &self.patterns {
                        if pattern.is_match(&text) {
                            out.push(signal(&self.clock, name, 1.0, &self.labels));
                        }
                    }
                }
                out
            }
            Err(error) => {
                if !self.warned {
                    tracing::warn!("log source {}: {error}", self.tail.path.display());
                    self.warned = true;
                }
                Vec::new()
            }
        }
    }
}

impl LineTail {
    /// A tail that resumes at `saved`; a file never read starts at its
    /// start when `from_start`, else at its end (what came before is
    /// history).
    pub fn new(path: PathBuf, saved: Option<LogPosition>, from_start: bool) -> Self {
        Self {
            path,
            read: saved,
            durable: saved,
            partial: Vec::new(),
            partial_len: 0,
            never_read_from_start: from_start,
        }
    }

    /// The file read.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// Where a restart should resume (`None` before the first read).
    pub fn position(&self) -> Option<LogPosition> {
        self.durable
    }

    /// The whole lines appended since the last read (at most 16 MiB of the
    /// file per call; lines over 64 KiB are cut to their first 64 KiB).
    pub fn read_lines(&mut self) -> std::io::Result<Vec<Vec<u8>>> {
        // Never a blocking open: a FIFO or a device named as a log is
        // refused (and warned about once) instead of stalling the source.
        let mut file = argus_core::file::open_regular(&self.path, "log source")
            .map_err(std::io::Error::other)?;
        let meta = file.metadata()?;
        let start = match self.read {
            // The same file, not truncated: carry on.
            Some(p) if p.inode == meta.ino() && p.offset <= meta.len() => p.offset,
            // Rotated or truncated: the new file from its start.
            Some(_) => {
                self.partial.clear();
                self.partial_len = 0;
                0
            }
            // Never read: from its end (what came before is history), or
            // its start for a file whose history counts.
            None if self.never_read_from_start => 0,
            None => meta.len(),
        };
        file.seek(SeekFrom::Start(start))?;
        let mut bytes = Vec::new();
        file.by_ref()
            .take(16 * 1024 * 1024)
            .read_to_end(&mut bytes)?;
        let end = start + bytes.len() as u64;
        let mut lines = Vec::new();
        let mut rest = &bytes[..];
        while let Some(at) = rest.iter().position(|b| *b == b'\n') {
            let mut line = std::mem::take(&mut self.partial);
            line.extend_from_slice(&rest[..at]);
            line.truncate(MAX_LINE);
            lines.push(line);
            self.partial_len = 0;
            rest = &rest[at + 1..];
        }
        if self.partial.len() < MAX_LINE {
            let room = MAX_LINE - self.partial.len();
            self.partial
                .extend_from_slice(&rest[..rest.len().min(room)]);
        }
        self.partial_len += rest.len() as u64;
        self.read = Some(LogPosition {
            inode: meta.ino(),
            offset: end,
        });
        self.durable = Some(LogPosition {
            inode: meta.ino(),
            offset: end - self.partial_len.min(end),
        });
        Ok(lines)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::path::Path;

    fn source(dir: &Path) -> LogSource {
        LogSource {
            path: dir.join("bot.log"),
            patterns: BTreeMap::from([
                (
                    "authentication_failures".to_owned(),
                    "WARN.*(?i)auth".to_owned(),
                ),
                ("bot_errors".to_owned(), "ERROR".to_owned()),
            ]),
            labels: BTreeMap::from([("bot".to_owned(), "arb-1".to_owned())]),
            every: half_s(),
        }
    }

    fn names(signals: &[Signal]) -> Vec<&str> {
        signals.iter().map(|s| s.name.as_str()).collect()
    }

    fn append(path: &Path, text: &str) {
        use std::io::Write as _;
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        file.write_all(text.as_bytes()).unwrap();
    }

    #[test]
    fn new_lines_partial_lines_rotation_and_restart() {
        let dir = tempfile::tempdir().unwrap();
        let log = source(dir.path());
        append(&log.path, "ERROR before argus ever looked\n");
        let mut reader = LogReader::new(&log, None, Clock::system());
        assert!(reader.read_new().is_empty(), "history is not replayed");
        append(
            &log.path,
            "INFO ok\nWARN Auth failed for key 3\nERROR x\nWARN auth",
        );
        let got = reader.read_new();
        assert_eq!(names(&got), ["authentication_failures", "bot_errors"]);
        assert_eq!(got[0].labels["bot"], "arb-1");
        assert!(got[0].labels["file"].ends_with("bot.log"));
        // The line finishes later: matched once, whole.
        append(&log.path, " again\n");
        assert_eq!(names(&reader.read_new()), ["authentication_failures"]);

        // A restart carries on where the last one stopped, from the start of
        // a line it had only begun.
        append(&log.path, "ERROR before the crash\nERR");
        assert_eq!(names(&reader.read_new()), ["bot_errors"]);
        let mut restarted = LogReader::new(&log, reader.position(), Clock::system());
        append(&log.path, "OR finished after the restart\n");
        // "ERR" + "OR…" is read whole again: it matches `ERROR`.
        assert_eq!(names(&restarted.read_new()), ["bot_errors"]);

        // Rotation: the old file moves away, a new one starts.
        std::fs::rename(&log.path, dir.path().join("bot.log.1")).unwrap();
        append(&log.path, "ERROR first line of the new file\n");
        assert_eq!(names(&restarted.read_new()), ["bot_errors"]);
        // Truncation in place.
        std::fs::write(&log.path, "").unwrap();
        append(&log.path, "ERROR after truncation\n");
        assert_eq!(names(&restarted.read_new()), ["bot_errors"]);
        // A FIFO in its place is refused at once, never waited on.
        std::fs::remove_file(&log.path).unwrap();
        let made = std::process::Command::new("mkfifo")
            .arg(&log.path)
            .status()
            .unwrap();
        assert!(made.success());
        assert!(
            restarted
                .read_lines()
                .is_err_and(|e| e.to_string().contains("FIFO"))
        );
        assert!(restarted.read_new().is_empty());
        std::fs::remove_file(&log.path).unwrap();
        std::fs::write(&log.path, "").unwrap();
        // A missing file is no signal and no panic.
        std::fs::remove_file(&log.path).unwrap();
        assert!(restarted.read_new().is_empty());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        /// However the writer's bytes are split between reads, every whole
        /// line is matched exactly once and a partial one waits for its end.
        #[test]
        fn any_split_of_the_bytes_reads_each_line_once(
            chunks in proptest::collection::vec(
                proptest::collection::vec(
                    proptest::sample::select(vec![b'E', b'R', b'O', b'x', b'\n', 0xff]),
                    0..40,
                ),
                1..12,
            )
        ) {
            let dir = tempfile::tempdir().unwrap();
            let log = LogSource {
                path: dir.path().join("bot.log"),
                patterns: BTreeMap::from([("hits".to_owned(), "ERR".to_owned())]),
                labels: BTreeMap::new(),
                every: half_s(),
            };
            std::fs::write(&log.path, b"").unwrap();
            let mut reader = LogReader::new(&log, None, Clock::system());
            assert!(reader.read_new().is_empty());
            let mut seen = 0;
            for chunk in &chunks {
                let mut file = std::fs::OpenOptions::new().append(true).open(&log.path).unwrap();
                std::io::Write::write_all(&mut file, chunk).unwrap();
                seen += reader.read_new().len();
            }
            let all: Vec<u8> = chunks.concat();
            let whole = match all.iter().rposition(|b| *b == b'\n') {
                Some(end) => &all[..end],
                None => &all[..0],
            };
            let expected = if all.contains(&b'\n') {
                whole
                    .split(|b| *b == b'\n')
                    .filter(|line| String::from_utf8_lossy(line).contains("ERR"))
                    .count()
            } else {
                0
            };
            proptest::prop_assert_eq!(seen, expected);
        }
    }
}
