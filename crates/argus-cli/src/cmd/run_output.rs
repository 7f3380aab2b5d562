//! What `argus run` prints on stdout as alerts are recorded: one line per
//! alert for people, or one JSON document per line with `--json`. Titles,
//! rule ids and chain names can come from the chain or the config, so the
//! human line escapes them and every line goes through [`crate::output`].

use std::sync::Arc;

use argus_alerting::{Recorded, Retracted};
use argus_core::{BlockRef, ChainId, Finding};

use crate::output;

/// A finding as one JSON document (`argus run --json`, `argus replay --json`).
pub(crate) fn finding_json(finding: &Finding) -> serde_json::Value {
    serde_json::json!({
        "id": format!("{:#x}", finding.id),
        "rule": finding.rule_id,
        "severity": finding.severity,
        "title": finding.title,
        "dedup_key": finding.dedup_key,
        "chain": finding.origin.map(|o| o.chain.0),
        "block": finding.origin.map(|o| o.block.number),
        "block_hash": finding.origin.map(|o| format!("{:#x}", o.block.hash)),
        "tx": finding.origin.and_then(|o| o.tx_hash).map(|h| format!("{h:#x}")),
        "log_index": finding.origin.and_then(|o| o.log_index),
        "at_ms": finding.at_ms,
        "fields": finding.fields,
    })
}

/// Where recorded alerts are shown.
#[derive(Debug, Clone)]
pub(crate) struct AlertOutput {
    json: bool,
    quiet: bool,
    lock: Arc<std::sync::Mutex<()>>,
}

impl AlertOutput {
    pub(crate) fn new(json: bool, quiet: bool) -> Self {
        Self {
            json,
            quiet,
            lock: Arc::default(),
        }
    }

    pub(crate) fn fired(&self, finding: &Finding, recorded: &Recorded) {
        if self.quiet {
            return;
        }
        let state = match &recorded.suppressed_by {
            Some(_) => "suppressed",
            None if recorded.deliveries == 0 => "stored",
            None => "fired",
        };
        let line = if self.json {
            let mut doc = finding_json(finding);
            if let serde_json::Value::Object(map) = &mut doc {
                map.insert("event".into(), "alert".into());
                map.insert("state".into(), state.into());
                map.insert("deliveries".into(), recorded.deliveries.into());
            }
            doc.to_string()
        } else {
            let place = finding
                .origin
                .map(|o| {
                    format!(
                        " [{} block {}]",
                        output::escaped(o.chain.name()),
                        o.block.number
                    )
                })
                .unwrap_or_default();
            format!(
                "{:<8} {:<9} {}: {}{place}",
                finding.severity.as_str().to_uppercase(),
                state,
                output::escaped(&finding.rule_id),
                output::escaped(&finding.title)
            )
        };
        self.print(&line);
    }

    pub(crate) fn retracted(&self, chain: ChainId, block: &BlockRef, retracted: &Retracted) {
        if self.quiet || retracted.alerts == 0 {
            return;
        }
        let line = if self.json {
            serde_json::json!({
                "event": "retraction",
                "chain": chain.0,
                "block": block.number,
                "block_hash": format!("{:#x}", block.hash),
                "alerts": retracted.alerts,
            })
            .to_string()
        } else {
            format!(
                "RETRACT  {} alert(s) of {} block {} ({:#x}): the block left the canonical chain",
                retracted.alerts,
                output::escaped(chain.name()),
                block.number,
                block.hash
            )
        };
        self.print(&line);
    }

    /// Shows one event of the node.
    pub(crate) fn show(&self, event: &argus_node::NodeEvent) {
        match event {
            argus_node::NodeEvent::Alert { finding, recorded } => self.fired(finding, recorded),
            argus_node::NodeEvent::Retraction {
                chain,
                block,
                retracted,
            } => self.retracted(*chain, block, retracted),
            // Shown from the timeline (`incident_event`), which has the details.
            argus_node::NodeEvent::Incident { .. } => {}
        }
    }

    /// One row of an incident's timeline.
    pub(crate) fn incident_event(&self, event: &argus_incident::db::IncidentEvent) {
        if self.quiet {
            return;
        }
        let line = if self.json {
            serde_json::json!({
                "event": "incident",
                "incident": event.incident_id,
                "action": event.action,
                "actor": event.actor,
                "reason": event.reason,
                "at_ms": event.at_ms,
                "details": event.details,
            })
            .to_string()
        } else {
            let step = event
                .details
                .get("step")
                .and_then(|s| s.as_str())
                .map(|s| format!(" {}", output::escaped(s)))
                .unwrap_or_default();
            let reason = event
                .reason
                .as_deref()
                .map(|r| format!(": {}", output::escaped(r)))
                .unwrap_or_default();
            format!(
                "INCIDENT {} {}{step} by {}{reason}",
                event.incident_id,
                output::escaped(&event.action),
                output::escaped(&event.actor)
            )
        };
        self.print(&line);
    }

    /// One line on stdout through [`crate::output`]; a line that cannot be
    /// written does not stop the daemon (the alert is stored and delivered).
    fn print(&self, line: &str) {
        let _guard = self.lock.lock();
        let _ = if self.json {
            output::json_text(&format!("{line}\n"))
        } else {
            sh_println!("{line}")
        };
    }
}
