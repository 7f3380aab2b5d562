//! The incident report: everything the store knows of one incident, as a
//! document for the post-incident review (JSON, and Markdown for people).
//!
//! [`report`] only reads the store: the incident, its alerts (titles from
//! the outbox), timeline, playbook steps and the transactions they signed,
//! approvals, the evidence index and root, and the balances the evidence
//! capture read (from its `evidence.captured` timeline row, so no evidence
//! file has to be opened and a report can be written from a copy of the
//! database). It computes the response [`Figures`] and lists the
//! post-incident sections of the MEV-bot procedure (root cause, lessons
//! learned, preventive measures, …) for people to fill in: a report that
//! invented a root cause would be worse than one that asks for it.
//!
//! The Markdown (`markdown`, in [`markdown`]) escapes every field that
//! came from outside (titles and fields from the chain, reasons and names
//! typed by operators, error text from nodes): a title cannot close a table
//! cell, open a code span, or carry HTML into a renderer.

mod markdown;

use argus_alerting::outbox;
use argus_store::Connection;
use serde::Serialize;

pub use self::markdown::escape_markdown;
use crate::db::{self, Approval, EvidenceFile, Incident, IncidentEvent, SignedTransaction, Step};
use crate::error::IncidentError;
use crate::evidence::BalanceAt;

/// One incident, reported.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IncidentReport {
    pub incident: Incident,
    pub figures: Figures,
    pub alerts: Vec<ReportAlert>,
    pub timeline: Vec<IncidentEvent>,
    pub steps: Vec<Step>,
    pub transactions: Vec<SignedTransaction>,
    pub approvals: Vec<Approval>,
    pub evidence: EvidenceIndex,
    /// Balances at the alerts' blocks, as the evidence capture read them.
    pub impact: Vec<BalanceAt>,
    /// The procedure's post-incident sections, to be filled in.
    pub post_incident: Vec<PostIncidentSection>,
}

/// An alert of the incident, with what the outbox says of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReportAlert {
    pub alert_id: String,
    pub rule_id: String,
    /// `None` when the outbox no longer holds the alert.
    pub title: Option<String>,
    pub severity: Option<String>,
    pub state: Option<String>,
    pub chain_id: Option<u64>,
    pub block_number: Option<u64>,
    pub tx_hash: Option<String>,
    /// The event's time (block time).
    pub event_ms: i64,
    /// When it joined the incident.
    pub added_ms: i64,
}

/// The evidence bundle's index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EvidenceIndex {
    /// SHA-256 of the bundle's `manifest.json`.
    pub root: Option<String>,
    pub files: Vec<EvidenceFile>,
}

/// One response figure: the time between two instants of an incident.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Figure {
    /// What is measured from (a column of `incidents`).
    pub from: &'static str,
    pub to: &'static str,
    /// `None` until the incident reaches `to`. Never negative: a block time
    /// ahead of Argus's clock (skew) counts as 0.
    pub ms: Option<i64>,
}

/// The four response figures of an incident.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Figures {
    /// First malicious block's time → first alert recorded.
    pub time_to_detect: Figure,
    /// Incident opened → acknowledged.
    pub time_to_acknowledge: Figure,
    /// Incident opened → contained.
    pub time_to_contain: Figure,
    /// Incident opened → resolved.
    pub time_to_resolve: Figure,
}

/// Time to detect: from the first malicious block's time to the first alert.
pub const DETECT: (&str, &str) = ("first_event_ms", "first_alert_ms");
/// Time to acknowledge: from the incident's opening.
pub const ACKNOWLEDGE: (&str, &str) = ("opened_ms", "acknowledged_ms");
/// Time to contain: from the incident's opening.
pub const CONTAIN: (&str, &str) = ("opened_ms", "contained_ms");
/// Time to resolve: from the incident's opening.
pub const RESOLVE: (&str, &str) = ("opened_ms", "resolved_ms");

impl Figures {
    /// The figures of `incident`. Detection is measured from the chain's
    /// time of the first event (`first_event_ms`, a block timestamp) to
    /// Argus recording the first alert; the response figures from the
    /// incident's opening (`opened_ms`, Argus's clock), so they measure the
    /// response, not the detection again.
    pub fn of(incident: &Incident) -> Self {
        let figure =
            |(from, to): (&'static str, &'static str), start: i64, end: Option<i64>| Figure {
                from,
                to,
                ms: end.map(|end| end.saturating_sub(start).max(0)),
            };
        let opened = incident.opened_ms;
        Self {
            time_to_detect: figure(
                DETECT,
                incident.first_event_ms,
                Some(incident.first_alert_ms),
            ),
            time_to_acknowledge: figure(ACKNOWLEDGE, opened, incident.acknowledged_ms),
            time_to_contain: figure(CONTAIN, opened, incident.contained_ms),
            time_to_resolve: figure(RESOLVE, opened, incident.resolved_ms),
        }
    }

    /// Name, figure, in report order.
    pub fn named(&self) -> [(&'static str, &Figure); 4] {
        [
            ("time to detect", &self.time_to_detect),
            ("time to acknowledge", &self.time_to_acknowledge),
            ("time to contain", &self.time_to_contain),
            ("time to resolve", &self.time_to_resolve),
        ]
    }
}

/// A section of the post-incident review, with the procedure's prompts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PostIncidentSection {
    pub title: &'static str,
    pub prompts: Vec<&'static str>,
}

/// The post-incident sections of the MEV-bot security procedure (phases 3
/// and 4, the impact assessment of phase 2 and the communication plan).
pub fn post_incident_sections() -> Vec<PostIncidentSection> {
    let section = |title, prompts: &[&'static str]| PostIncidentSection {
        title,
        prompts: prompts.to_vec(),
    };
    vec![
        section(
            "Root cause analysis",
            &[
                "Review the audit logs thoroughly (`argus audit query`)",
                "Analyse the attack vectors used",
                "Identify the security gaps exploited",
            ],
        ),
        section(
            "Impact assessment",
            &[
                "Financial: account balances and recent transactions (see the figures above)",
                "Operational: how far systems were compromised",
                "Data: integrity of critical data",
                "Access: authentication logs reviewed for breaches",
            ],
        ),
        section(
            "System recovery",
            &[
                "Clean installation of compromised systems",
                "Security hardening applied",
                "System integrity verified before restart",
                "Operations resumed incrementally",
            ],
        ),
        section(
            "Lessons learned",
            &[
                "What went well, what did not",
                "Findings shared with the team",
            ],
        ),
        section(
            "Preventive measures",
            &[
                "Preventive measures implemented",
                "Security procedures updated",
            ],
        ),
        section(
            "Monitoring and detection improvements",
            &[
                "Monitoring systems updated (rules, thresholds)",
                "Detection capabilities enhanced",
                "Alerts judged (true positive, false positive, benign) for the false-positive rate",
            ],
        ),
        section(
            "Communication",
            &[
                "Stakeholders informed",
                "Customers informed if customer-facing impact",
                "Regulatory reporting if required by law or regulation",
                "Public disclosure following the responsible disclosure timeline",
            ],
        ),
        section("Follow-up", &["Security review scheduled"]),
    ]
}

/// Builds the report of incident `incident_id` from the store.
pub fn report(conn: &Connection, incident_id: i64) -> Result<IncidentReport, IncidentError> {
    let incident = db::incident(conn, incident_id)?;
    let mut alerts = Vec::new();
    for member in db::alerts_of(conn, incident_id)? {
        let record = outbox::get_alert(conn, &member.alert_id)?;
        alerts.push(ReportAlert {
            title: record.as_ref().map(|a| a.title.clone()),
            severity: record.as_ref().map(|a| a.severity.as_str().to_owned()),
            state: record.as_ref().map(|a| a.state.as_str().to_owned()),
            chain_id: record.as_ref().and_then(|a| a.chain_id),
            block_number: record.as_ref().and_then(|a| a.block_number),
            tx_hash: record.as_ref().and_then(|a| a.tx_hash.clone()),
            alert_id: member.alert_id,
            rule_id: member.rule_id,
            event_ms: member.event_ms,
            added_ms: member.added_ms,
        });
    }
    let timeline = db::events_of(conn, incident_id)?;
    let impact = timeline
        .iter()
        .rev()
        .find(|e| e.action == "evidence.captured")
        .and_then(|e| e.details.get("balances"))
        .and_then(|b| serde_json::from_value::<Vec<BalanceAt>>(b.clone()).ok())
        .unwrap_or_default();
    Ok(IncidentReport {
        figures: Figures::of(&incident),
        evidence: EvidenceIndex {
            root: incident.evidence_root.clone(),
            files: db::evidence_of(conn, incident_id)?,
        },
        steps: db::steps_of(conn, incident_id)?,
        transactions: db::transactions_of(conn, incident_id)?,
        approvals: db::approvals_of(conn, incident_id)?,
        incident,
        alerts,
        timeline,
        impact,
        post_incident: post_incident_sections(),
    })
}

/// A duration for people: `850ms`, `42s`, `3m 05s`, `2h 04m`, `3d 02h`.
pub fn human_ms(ms: i64) -> String {
    let s = ms / 1000;
    if ms < 1_000 {
        format!("{ms}ms")
    } else if ms < 60_000 {
        format!("{s}s")
    } else if ms < 3_600_000 {
        format!("{}m {:02}s", s / 60, s % 60)
    } else if ms < 86_400_000 {
        format!("{}h {:02}m", s / 3600, (s % 3600) / 60)
    } else {
        format!("{}d {:02}h", s / 86_400, (s % 86_400) / 3600)
    }
}

#[cfg(test)]
pub(crate) mod tests;
