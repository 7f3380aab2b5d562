//! `processes`: whether each bot runs (`process_up`) and how much of the
//! host's memory it holds (`process_memory`), found by its command line.

use std::collections::BTreeMap;
use std::time::Duration;

use argus_core::{Clock, Signal};
use serde::Deserialize;

use crate::host::meminfo;
use crate::{Source, SourceContext, signal, ten_s};

/// `{ name: arb-1, match: "mev-bot --strategy arb", every: 10s }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessProbe {
    /// The `process` label.
    pub name: String,
    /// A part of the command line that picks the process out.
    #[serde(rename = "match")]
    pub matches: String,
    #[serde(
        default = "ten_s",
        deserialize_with = "argus_core::duration::deserialize"
    )]
    pub every: Duration,
}

impl ProcessProbe {
    /// Looks for the process every `every`.
    pub fn build(&self, context: &SourceContext) -> Source {
        let probe = self.clone();
        let clock = context.clock.clone();
        Source::signals(format!("process {}", self.name), self.every, move || {
            std::future::ready(process_signals(&probe, &clock))
        })
    }
}

/// `process_up`, and `process_memory` for a process that runs.
fn process_signals(probe: &ProcessProbe, clock: &Clock) -> Vec<Signal> {
    let labels = BTreeMap::from([("process".to_owned(), probe.name.clone())]);
    let own = std::process::id();
    let found = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| *pid != own)
        .find(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|raw| {
                let line: Vec<u8> = raw
                    .iter()
                    .map(|b| if *b == 0 { b' ' } else { *b })
                    .collect();
                String::from_utf8_lossy(&line).contains(&probe.matches)
            })
        });
    let Some(pid) = found else {
        return vec![signal(clock, "process_up", 0.0, &labels)];
    };
    let mut out = vec![signal(clock, "process_up", 1.0, &labels)];
    let rss_kib = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
            line.split_whitespace().nth(1)?.parse::<u64>().ok()
        });
    if let (Some(rss), Some((total, _))) = (rss_kib, meminfo()) {
        out.push(signal(
            clock,
            "process_memory",
            100.0 * rss as f64 / total as f64,
            &labels,
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn names(signals: &[Signal]) -> Vec<&str> {
        signals.iter().map(|s| s.name.as_str()).collect()
    }

    #[test]
    fn a_process_is_found_by_its_command_line() {
        let mut child = std::process::Command::new("sleep")
            .arg("301.25")
            .spawn()
            .unwrap();
        let probe = ProcessProbe {
            name: "sleeper".into(),
            matches: "sleep 301.25".into(),
            every: ten_s(),
        };
        let clock = Clock::system();
        // Right after the exec the kernel may not report its memory yet.
        std::thread::sleep(Duration::from_millis(100));
        let up = process_signals(&probe, &clock);
        assert_eq!(names(&up), ["process_up", "process_memory"]);
        assert_eq!(up[0].value, 1.0);
        assert!(up[1].value > 0.0 && up[1].value < 100.0);
        child.kill().unwrap();
        child.wait().unwrap();
        let down = process_signals(&probe, &clock);
        assert_eq!(names(&down), ["process_up"]);
        assert_eq!(down[0].value, 0.0);
        assert_eq!(down[0].labels["process"], "sleeper");
    }
}
