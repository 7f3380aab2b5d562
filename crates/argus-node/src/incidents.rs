//! The incident runner: the node's task that works the incidents' durable
//! queue — playbook steps whose time came, escalation timers that ran out.
//!
//! Everything it acts on is in the store (`argus_incident::state`): a step
//! is claimed with a lease and an attempt counted before it runs, and its
//! outcome is written in its own transaction afterwards. A node holds its
//! data directory's run lock, so at start no other runner can be mid-step:
//! steps left `running` by a killed node are taken again at once rather
//! than after their lease. Taking a step again is safe because responders
//! are idempotent (a signed transaction is recorded before it is sent, and
//! a paused contract is not paused again).
//!
//! Steps run concurrently (a pause and a bot stop of the same playbook at
//! the same moment); the order a playbook asks for (`after`) is kept by the
//! queue, which releases a step only when its predecessors succeeded.

use std::sync::Arc;
use std::time::Duration;

use argus_alerting::{DispatchHandle, outbox};
use argus_core::{ChainId, Clock};
use argus_incident::evidence::{self, EvidenceSources};
use argus_incident::intake::{self, IncidentNotice};
use argus_incident::policy::{Audience, IncidentsConfig, StepAction, StepConfig};
use argus_incident::respond::{Responders, StepFailure, StepJob};
use argus_incident::state::{self, AttemptOutcome};
use argus_incident::{IncidentError, db};
use argus_store::Store;
use serde_json::json;
use tokio::sync::{Notify, broadcast, watch};
use tokio::task::JoinSet;

use crate::{NodeError, NodeEvent};

/// How long a claimed step is ours before another runner may take it.
const STEP_LEASE_MS: i64 = 5 * 60_000;
/// The longest the runner sleeps without looking at the queue (operators
/// approve steps from other processes).
const IDLE_POLL: Duration = Duration::from_secs(1);
/// Steps claimed at once.
const CLAIM_LIMIT: usize = 16;

/// What the runner needs.
#[derive(Clone)]
pub(crate) struct IncidentRunner {
    pub(crate) store: Store,
    pub(crate) policy: Arc<IncidentsConfig>,
    pub(crate) responders: Arc<Responders>,
    pub(crate) evidence: Arc<EvidenceSources>,
    pub(crate) clock: Clock,
    pub(crate) events: broadcast::Sender<NodeEvent>,
    pub(crate) wake: Arc<Notify>,
    pub(crate) dispatch: DispatchHandle,
    /// The `incidents` lease's fence, checked first in each transaction
    /// (open on a store of one instance).
    pub(crate) fence: crate::leases::Fence,
}

impl IncidentRunner {
    pub(crate) async fn run(self, mut stop: watch::Receiver<bool>) -> Result<(), NodeError> {
        let this = Arc::new(self);
        {
            let conn = this.store.connect()?;
            state::recover_running(&conn, this.clock.now_ms())?;
        }
        let mut running: JoinSet<()> = JoinSet::new();
        loop {
            this.escalate_due()?;
            let claimed = {
                let mut conn = this.store.connect()?;
                let tx = conn.transaction()?;
                this.fence.check(&tx)?;
                let claimed =
                    state::claim_due_steps(&tx, this.clock.now_ms(), STEP_LEASE_MS, CLAIM_LIMIT)?;
                tx.commit()?;
                claimed
            };
            for step in claimed {
                let runner = this.clone();
                running.spawn(async move { runner.run_step(step).await });
            }
            let wait = this.idle_wait()?;
            tokio::select! {
                _ = stop.wait_for(|s| *s) => break,
                () = this.wake.notified() => {}
                () = tokio::time::sleep(wait) => {}
                Some(_) = running.join_next(), if !running.is_empty() => {}
            }
        }
        // A step cut short here is taken again at the next start.
        running.shutdown().await;
        Ok(())
    }

    /// Until the next timer or step is due, at most [`IDLE_POLL`].
    fn idle_wait(&self) -> Result<Duration, NodeError> {
        let conn = self.store.connect()?;
        let now = self.clock.now_ms();
        Ok(match state::next_due_at(&conn)? {
            Some(at) if at <= now => Duration::ZERO,
            Some(at) => Duration::from_millis(u64::try_from(at - now).unwrap_or(0)).min(IDLE_POLL),
            None => IDLE_POLL,
        })
    }

    fn escalate_due(&self) -> Result<(), NodeError> {
        let now = self.clock.now_ms();
        let mut conn = self.store.connect()?;
        let tx = conn.transaction()?;
        self.fence.check(&tx)?;
        let due = state::escalations_due(&tx, now)?;
        for id in &due {
            state::escalate(
                &tx,
                &self.policy,
                *id,
                "not acknowledged within its response time",
                now,
            )?;
        }
        tx.commit()?;
        for id in due {
            self.changed(id);
        }
        Ok(())
    }

    fn changed(&self, id: i64) {
        self.dispatch.wake();
        let _ = self.events.send(NodeEvent::Incident { id, opened: false });
    }

    /// Runs one claimed step and records its outcome. Errors of the store
    /// are logged: the step stays claimed and is taken again after its lease.
    async fn run_step(&self, step: db::Step) {
        let id = step.incident_id;
        let outcome = self.execute(&step).await;
        if let Err(error) = self.record(&step, outcome) {
            tracing::error!(
                "incident {id}, step {}: the outcome could not be recorded ({error}); the step is \
                 taken again after its lease",
                step.step_id
            );
        }
        self.changed(id);
    }

    async fn execute(&self, step: &db::Step) -> Result<serde_json::Value, StepFailure> {
        let store_failure = |error: IncidentError| StepFailure {
            message: error.to_string(),
            retryable: true,
        };
        if step.action == "capture_evidence" {
            return match evidence::capture(&self.evidence, &self.store, step.incident_id).await {
                Ok(bundle) => Ok(json!({ "root": bundle.root, "files": bundle.files.len() })),
                // Captured before a restart cut the step short: evidence is
                // written once, and that bundle is this step's result.
                Err(evidence::EvidenceError::AlreadyCaptured { .. }) => {
                    let conn = self.store.connect().map_err(|e| store_failure(e.into()))?;
                    let incident = db::incident(&conn, step.incident_id).map_err(store_failure)?;
                    Ok(json!({ "root": incident.evidence_root, "captured_before": true }))
                }
                Err(error) => Err(StepFailure {
                    message: error.to_string(),
                    retryable: true,
                }),
            };
        }
        let config: StepConfig =
            serde_json::from_value(step.spec.clone()).map_err(|error| StepFailure {
                message: format!("the stored step does not read back: {error}"),
                retryable: false,
            })?;
        let (incident, affected) = {
            let conn = self.store.connect().map_err(|e| store_failure(e.into()))?;
            let incident = db::incident(&conn, step.incident_id).map_err(store_failure)?;
            let affected = affected_contracts(&conn, step.incident_id).map_err(store_failure)?;
            (incident, affected)
        };
        if let StepAction::Notify(notify) = &config.action {
            return self.notify(&incident, &config.id, notify);
        }
        let job = StepJob {
            incident,
            step_id: step.step_id.clone(),
            action: config.action,
            affected,
            attempt: u32::try_from(step.attempts).unwrap_or(u32::MAX),
        };
        self.responders.execute(&job).await
    }

    /// A `notify` step: a notice through the outbox to its notifiers.
    fn notify(
        &self,
        incident: &db::Incident,
        step_id: &str,
        notify: &argus_incident::policy::NotifyStep,
    ) -> Result<serde_json::Value, StepFailure> {
        let failure = |error: IncidentError| StepFailure {
            message: error.to_string(),
            retryable: true,
        };
        let now = self.clock.now_ms();
        let mut conn = self.store.connect().map_err(|e| failure(e.into()))?;
        let message = match &notify.message {
            Some(message) => message.clone(),
            None if notify.audience == Audience::Management => {
                // The briefing carries the impact assessment and the figures
                // so far, from the same record the report is made of.
                let report = argus_incident::report::report(&conn, incident.id).map_err(failure)?;
                briefing(incident, &report)
            }
            None => summary(incident, notify.audience),
        };
        let tx = conn.transaction().map_err(|e| failure(e.into()))?;
        self.fence.check(&tx).map_err(|e| failure(e.into()))?;
        if notify.audience == Audience::Public {
            state::set_public_status(
                &tx,
                incident.id,
                &message,
                state::Act {
                    actor: intake::SYSTEM_ACTOR,
                    reason: Some("playbook step"),
                    now_ms: now,
                },
            )
            .map_err(failure)?;
        }
        let names: Vec<&str> = notify.notifiers.iter().map(String::as_str).collect();
        let new = if names.is_empty() {
            false
        } else {
            intake::notify_keyed(
                &tx,
                &names,
                &IncidentNotice {
                    incident_id: incident.id,
                    what: "notice",
                    severity: intake::alert_severity(incident.severity),
                    title: message.clone(),
                    fields: json!({
                        "incident": incident.id,
                        "audience": notify.audience,
                        "severity": incident.severity,
                        "state": incident.state,
                        "step": step_id,
                    }),
                },
                &format!("step-{step_id}"),
                now,
            )
            .map_err(failure)?
        };
        tx.commit().map_err(|e| failure(e.into()))?;
        Ok(json!({ "notifiers": notify.notifiers, "audience": notify.audience, "queued": new }))
    }

    /// The critical signal a key's policy asks for when it signs outside
    /// its window: a critical notice to the severity's people, and a row of
    /// the timeline (so the audit log has it).
    fn key_used_outside_window(
        &self,
        tx: &argus_store::Transaction<'_>,
        step: &db::Step,
        now: i64,
    ) -> Result<(), NodeError> {
        let incident = db::incident(tx, step.incident_id)?;
        let severity = self.policy.severity(incident.severity);
        let mut names: Vec<&str> = severity
            .notify
            .iter()
            .chain(&severity.escalation)
            .map(String::as_str)
            .collect();
        names.sort_unstable();
        names.dedup();
        db::add_event(
            tx,
            incident.id,
            now,
            intake::SYSTEM_ACTOR,
            "key.outside_window",
            Some(
                "a containment key signed outside its time window, as its policy allows with a critical signal",
            ),
            &json!({ "step": step.step_id }),
        )?;
        if !names.is_empty() {
            intake::notify_keyed(
                tx,
                &names,
                &IncidentNotice {
                    incident_id: incident.id,
                    what: "key-outside-window",
                    severity: argus_core::Severity::Critical,
                    title: format!(
                        "Incident {}: step {} signed with a key outside its time window",
                        incident.id, step.step_id
                    ),
                    fields: json!({ "incident": incident.id, "step": step.step_id }),
                },
                &format!("key-window-{}", step.step_id),
                now,
            )?;
        }
        Ok(())
    }

    fn record(
        &self,
        step: &db::Step,
        outcome: Result<serde_json::Value, StepFailure>,
    ) -> Result<(), NodeError> {
        let now = self.clock.now_ms();
        let mut conn = self.store.connect()?;
        let tx = conn.transaction()?;
        self.fence.check(&tx)?;
        match outcome {
            Ok(result) => {
                if outside_key_window(&result) {
                    self.key_used_outside_window(&tx, step, now)?;
                }
                // A capture writes its own `evidence.captured` row (with
                // the root the audit log keeps).
                state::step_succeeded(&tx, step.incident_id, &step.step_id, &result, now)?;
            }
            Err(failure) => {
                let outcome = state::step_attempt_failed(
                    &tx,
                    &self.policy,
                    step,
                    &failure.message,
                    failure.retryable,
                    now,
                )?;
                if outcome == AttemptOutcome::Failed {
                    tracing::warn!(
                        "incident {}, step {} failed for good: {}",
                        step.incident_id,
                        step.step_id,
                        failure.message
                    );
                }
            }
        }
        tx.commit()?;
        Ok(())
    }
}

/// Whether a responder signed with a key outside its time window (its
/// policy allows that only together with a critical signal).
fn outside_key_window(result: &serde_json::Value) -> bool {
    fn walk(value: &serde_json::Value) -> bool {
        match value {
            serde_json::Value::Object(map) => map.iter().any(|(k, v)| {
                (k == "signed_outside_key_window" && v == &serde_json::Value::Bool(true)) || walk(v)
            }),
            serde_json::Value::Array(items) => items.iter().any(walk),
            _ => false,
        }
    }
    walk(result)
}

/// The contracts the incident's alerts came from, by chain.
fn affected_contracts(
    conn: &argus_store::Connection,
    id: i64,
) -> Result<Vec<(ChainId, alloy_primitives::Address)>, IncidentError> {
    let mut affected = Vec::new();
    for alert in db::alerts_of(conn, id)? {
        let Some(record) = outbox::get_alert(conn, &alert.alert_id)? else {
            continue;
        };
        let (Some(chain), Some(address)) = (
            record.chain_id,
            intake::affected_address(&record.fields).and_then(|a| a.parse().ok()),
        ) else {
            continue;
        };
        let entry = (ChainId(chain), address);
        if !affected.contains(&entry) {
            affected.push(entry);
        }
    }
    Ok(affected)
}

/// The default message of a notice, per audience.
fn summary(incident: &db::Incident, audience: Audience) -> String {
    match audience {
        Audience::Responders => format!(
            "Incident {} ({}, {}): {} — state {}",
            incident.id, incident.severity, incident.kind, incident.title, incident.state
        ),
        Audience::Management => format!(
            "Briefing — incident {} ({}): {}. State: {}. `argus incidents report {}` has the \
             timeline, the steps taken and the impact assessment.",
            incident.id, incident.severity, incident.title, incident.state, incident.id
        ),
        Audience::Public => format!(
            "We are investigating an incident ({}) and have taken protective measures.",
            incident.severity
        ),
    }
}

/// The management briefing: what happened, what was done, the impact.
fn briefing(incident: &db::Incident, report: &argus_incident::report::IncidentReport) -> String {
    let mut text = summary(incident, Audience::Management);
    let done: Vec<String> = report
        .steps
        .iter()
        .filter(|s| s.state == argus_incident::StepState::Succeeded)
        .map(|s| format!("{} ({})", s.step_id, s.action))
        .collect();
    if !done.is_empty() {
        text.push_str(&format!(" Done so far: {}.", done.join(", ")));
    }
    if !report.impact.is_empty() {
        let impact: Vec<String> = report
            .impact
            .iter()
            .map(|b| {
                format!(
                    "{} {} held {} wei at block {}",
                    b.role, b.address, b.wei, b.block
                )
            })
            .collect();
        text.push_str(&format!(" Impact assessment: {}.", impact.join("; ")));
    }
    if let Some(ms) = report.figures.time_to_detect.ms {
        text.push_str(&format!(
            " Detected {} after the first malicious block.",
            argus_incident::report::human_ms(ms)
        ));
    }
    text
}
