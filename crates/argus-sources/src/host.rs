//! `host`: this machine's memory and CPU, read from `/proc` (the
//! procedure's "memory > 90% for 1 minute").

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use crate::{Source, SourceContext, signal, ten_s};

/// `host: { every: 10s }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostProbe {
    #[serde(
        default = "ten_s",
        deserialize_with = "argus_core::duration::deserialize"
    )]
    pub every: Duration,
}

impl HostProbe {
    /// `memory_usage` and `cpu_usage`, percent, labelled with the host.
    pub fn build(&self, context: &SourceContext) -> Source {
        let mut cpu = CpuSampler::default();
        let labels = BTreeMap::from([("host".to_owned(), context.host.clone())]);
        let clock = context.clock.clone();
        Source::signals("host", self.every, move || {
            let mut out = Vec::new();
            if let Some(memory) = memory_usage() {
                out.push(signal(&clock, "memory_usage", memory, &labels));
            }
            if let Some(busy) = cpu.sample() {
                out.push(signal(&clock, "cpu_usage", busy, &labels));
            }
            std::future::ready(out)
        })
    }
}

/// Percent of the host's memory in use: `1 - MemAvailable / MemTotal`.
pub(crate) fn memory_usage() -> Option<f64> {
    let (total, available) = meminfo()?;
    Some(100.0 * (total.saturating_sub(available)) as f64 / total as f64)
}

/// `MemTotal` and `MemAvailable` in KiB.
pub(crate) fn meminfo() -> Option<(u64, u64)> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let field = |name: &str| -> Option<u64> {
        let line = text.lines().find(|l| l.starts_with(name))?;
        line.split_whitespace().nth(1)?.parse().ok()
    };
    let total = field("MemTotal:").filter(|t| *t > 0)?;
    Some((total, field("MemAvailable:")?))
}

/// CPU busy percent between two reads of `/proc/stat`.
#[derive(Debug, Default)]
struct CpuSampler {
    last: Option<(u64, u64)>,
}

impl CpuSampler {
    fn sample(&mut self) -> Option<f64> {
        let text = std::fs::read_to_string("/proc/stat").ok()?;
        let line = text.lines().find(|l| l.starts_with("cpu "))?;
        let fields: Vec<u64> = line
            .split_whitespace()
            .skip(1)
            .filter_map(|f| f.parse().ok())
            .collect();
        let total: u64 = fields.iter().sum();
        // idle + iowait
        let idle = fields.get(3).copied().unwrap_or(0) + fields.get(4).copied().unwrap_or(0);
        let previous = self.last.replace((total, idle));
        let (last_total, last_idle) = previous?;
        let dt = total.checked_sub(last_total).filter(|d| *d > 0)?;
        let di = idle.saturating_sub(last_idle).min(dt);
        Some(100.0 * (dt - di) as f64 / dt as f64)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn host_figures_are_percentages() {
        let memory = memory_usage().unwrap();
        assert!((0.0..=100.0).contains(&memory), "{memory}");
        let mut cpu = CpuSampler::default();
        assert!(cpu.sample().is_none(), "one read is no rate");
        std::thread::sleep(Duration::from_millis(50));
        if let Some(busy) = cpu.sample() {
            assert!((0.0..=100.0).contains(&busy), "{busy}");
        }
    }
}
