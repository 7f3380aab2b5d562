//! The scorecard of a played drill, computed from the store after the run.
//!
//! Every figure comes from what the monitor stored, not from what the
//! player saw: *detected* means an incident of the expected kind was opened
//! (or, for a scenario that expects alerts only, an alert of the expected
//! rule was recorded); *MTTD* is the incident's `first_alert_ms -
//! first_event_ms` (for an alert, `created_at_ms - at_ms`): from the block's
//! time to the record; *time to containment* is `contained_ms -
//! first_event_ms`. Block times have a resolution of a second, so both
//! figures may be up to a second longer than the truth, and a `warp` before
//! the attack moves block time ahead of the clock (the figures shrink by
//! the warp). The card is plain data (`Serialize`/`Deserialize`), kept as
//! JSON in `drill_runs` for trends.

use argus_alerting::{AlertFilter, AlertState, outbox};
use argus_store::Connection;
use serde::{Deserialize, Serialize};

use super::play::{Deployed, StepOutcome, StepStatus};
use super::scenario::Scenario;
use crate::IncidentError;
use crate::db::{self, IncidentFilter};
use crate::policy::glob_match;

/// The result of one drill.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Scorecard {
    pub scenario: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub started_ms: i64,
    pub finished_ms: i64,
    /// Every step played and every expectation held.
    pub passed: bool,
    pub detected: bool,
    pub mttd_ms: Option<i64>,
    pub time_to_containment_ms: Option<i64>,
    pub chain_id: u64,
    /// Played on a fork of the configured chain.
    pub forked: bool,
    pub expectations_held: usize,
    pub expectations_failed: usize,
    pub deployed: Vec<DeployedCard>,
    pub steps: Vec<serde_json::Value>,
    pub incidents: Vec<IncidentCard>,
    pub alerts: Vec<AlertCard>,
    /// What went wrong, one line each.
    pub failures: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeployedCard {
    pub label: String,
    pub address: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IncidentCard {
    pub id: i64,
    pub kind: String,
    pub severity: String,
    pub state: String,
    pub mttd_ms: i64,
    pub time_to_containment_ms: Option<i64>,
    pub steps: Vec<PlaybookStepCard>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlaybookStepCard {
    pub step: String,
    pub action: String,
    pub state: String,
    pub attempts: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AlertCard {
    pub rule_id: String,
    pub severity: String,
    pub title: String,
    pub state: String,
    pub mttd_ms: i64,
}

/// What the run was, besides the store.
#[derive(Debug)]
pub struct Run<'a> {
    pub scenario: &'a Scenario,
    pub deployed: &'a [Deployed],
    pub steps: &'a [StepOutcome],
    pub started_ms: i64,
    pub finished_ms: i64,
    pub chain_id: u64,
    pub forked: bool,
}

impl Scorecard {
    /// The card of `run`, reading the alerts and incidents the monitor
    /// stored since the run started.
    pub fn compute(conn: &Connection, run: &Run<'_>) -> Result<Scorecard, IncidentError> {
        let incidents = db::list_incidents(
            conn,
            &IncidentFilter {
                since_ms: Some(run.started_ms),
                ..IncidentFilter::default()
            },
        )?;
        let mut incidents: Vec<_> = incidents.into_iter().rev().collect();
        incidents.sort_by_key(|i| i.id);
        let alerts = outbox::list_alerts(
            conn,
            &AlertFilter {
                since_ms: Some(run.started_ms),
                limit: Some(10_000),
                ..AlertFilter::default()
            },
        )?;
        let mut alerts: Vec<_> = alerts
            .into_iter()
            .filter(|a| a.state != AlertState::Retracted)
            .collect();
        alerts.sort_by_key(|a| (a.created_at_ms, a.at_ms));

        let kinds: Vec<&str> = run
            .scenario
            .expectations()
            .filter_map(|e| e.incident.as_ref().map(|i| i.kind.as_str()))
            .collect();
        let rules: Vec<&str> = run
            .scenario
            .expectations()
            .filter_map(|e| e.alert.as_ref().map(|a| a.rule.as_str()))
            .collect();
        let detecting_incident = incidents
            .iter()
            .find(|i| kinds.is_empty() || kinds.contains(&i.kind.as_str()));
        let detecting_alert = alerts
            .iter()
            .find(|a| rules.is_empty() || rules.iter().any(|r| glob_match(r, &a.rule_id)));
        let detected = if !kinds.is_empty() {
            kinds.iter().all(|k| incidents.iter().any(|i| i.kind == *k))
        } else if !rules.is_empty() {
            rules
                .iter()
                .all(|r| alerts.iter().any(|a| glob_match(r, &a.rule_id)))
        } else {
            !incidents.is_empty() || !alerts.is_empty()
        };
        let mttd_ms = match (detecting_incident, detecting_alert) {
            (Some(incident), _) => Some(incident.first_alert_ms - incident.first_event_ms),
            (None, Some(alert)) => Some(alert.created_at_ms - alert.at_ms),
            (None, None) => None,
        };
        let time_to_containment_ms =
            detecting_incident.and_then(|i| i.contained_ms.map(|c| c - i.first_event_ms));

        let mut failures = Vec::new();
        let (mut held, mut failed) = (0, 0);
        for step in run.steps {
            for check in &step.checks {
                if check.held {
                    held += 1;
                } else {
                    failed += 1;
                    failures.push(format!(
                        "step {} (line {}): expected {}: {}",
                        step.index, step.line, check.what, check.detail
                    ));
                }
            }
            if let Some(error) = &step.error {
                failures.push(format!(
                    "step {} (line {}) {}: {error}",
                    step.index, step.line, step.step
                ));
            }
        }
        let not_run = run
            .steps
            .iter()
            .filter(|s| s.status == StepStatus::NotRun)
            .count();
        if not_run > 0 {
            failures.push(format!("{not_run} step(s) not played after a failure"));
        }

        let mut incident_cards = Vec::new();
        for incident in &incidents {
            let steps = db::steps_of(conn, incident.id)?
                .into_iter()
                .map(|s| {
                    if s.state == crate::StepState::Failed {
                        failures.push(format!(
                            "incident {} playbook step {} failed: {}",
                            incident.id,
                            s.step_id,
                            s.last_error.as_deref().unwrap_or("no error recorded")
                        ));
                    }
                    PlaybookStepCard {
                        step: s.step_id,
                        action: s.action,
                        state: s.state.to_string(),
                        attempts: s.attempts,
                        error: s.last_error,
                    }
                })
                .collect();
            incident_cards.push(IncidentCard {
                id: incident.id,
                kind: incident.kind.clone(),
                severity: incident.severity.to_string(),
                state: incident.state.to_string(),
                mttd_ms: incident.first_alert_ms - incident.first_event_ms,
                time_to_containment_ms: incident.contained_ms.map(|c| c - incident.first_event_ms),
                steps,
            });
        }
        if !detected {
            failures.push(if kinds.is_empty() && rules.is_empty() {
                "nothing was detected: no alert and no incident".to_owned()
            } else {
                "not detected: an expected incident or alert never came".to_owned()
            });
        }
        let passed =
            detected && failed == 0 && run.steps.iter().all(|s| s.status == StepStatus::Passed);
        Ok(Scorecard {
            scenario: run.scenario.name.clone(),
            description: run.scenario.description.clone(),
            started_ms: run.started_ms,
            finished_ms: run.finished_ms,
            passed,
            detected,
            mttd_ms,
            time_to_containment_ms,
            chain_id: run.chain_id,
            forked: run.forked,
            expectations_held: held,
            expectations_failed: failed,
            deployed: run
                .deployed
                .iter()
                .map(|d| DeployedCard {
                    label: d.label.clone(),
                    address: d.address.to_checksum(None),
                })
                .collect(),
            steps: run
                .steps
                .iter()
                .map(|s| serde_json::to_value(s).unwrap_or(serde_json::Value::Null))
                .collect(),
            incidents: incident_cards,
            alerts: alerts
                .iter()
                .map(|a| AlertCard {
                    rule_id: a.rule_id.clone(),
                    severity: a.severity.to_string(),
                    title: a.title.clone(),
                    state: a.state.as_str().to_owned(),
                    mttd_ms: a.created_at_ms - a.at_ms,
                })
                .collect(),
            failures,
        })
    }

    /// Keeps the card in `drill_runs` (the caller's store: the operator's,
    /// so trends outlive the drill's scratch directory).
    pub fn record(&self, conn: &Connection) -> Result<i64, IncidentError> {
        let json = serde_json::to_value(self).map_err(|e| IncidentError::Corrupt {
            what: "drill scorecard",
            detail: e.to_string(),
        })?;
        db::record_drill_run(
            conn,
            &self.scenario,
            self.started_ms,
            self.finished_ms,
            self.passed,
            &json,
        )
    }
}
