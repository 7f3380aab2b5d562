//! The one record step of every task that makes findings.
//!
//! A chain task and the signal task end each unit of work the same way:
//! the findings are recorded in the outbox (or the alerts of orphaned blocks
//! retracted) together with the task's own progress (a chain's checkpoint,
//! the signal samples and log positions) in **one** transaction; after the
//! commit the dispatcher is woken and what is new is announced to the
//! node's subscribers. Exactly-once lives here: a crash before the commit
//! leaves the progress behind, the work is done again and, finding ids being
//! deterministic, recorded once; a crash after it leaves nothing to redo.

use std::sync::Arc;

use argus_alerting::{DispatchHandle, Routing, outbox};
use argus_core::{BlockRef, ChainId, Clock, Finding};
use argus_incident::IncidentsConfig;
use argus_store::{Connection, Transaction};
use tokio::sync::broadcast;

use crate::{NodeError, NodeEvent};

/// Records, commits, wakes and announces. Cheap to clone: one per task.
#[derive(Debug, Clone)]
pub(crate) struct Recorder {
    pub(crate) routing: Arc<Routing>,
    pub(crate) wake: DispatchHandle,
    pub(crate) events: broadcast::Sender<NodeEvent>,
    pub(crate) clock: Clock,
    /// The incident policy alerts are grouped by (none: no incidents).
    pub(crate) incidents: Arc<IncidentsConfig>,
    /// Wakes the incident runner after a commit that opened or grew one.
    pub(crate) wake_incidents: Arc<tokio::sync::Notify>,
}

/// What one commit did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Committed {
    /// Findings that were new (already-recorded ones change nothing).
    pub(crate) new: usize,
    /// Alerts retracted.
    pub(crate) retracted: usize,
}

impl Recorder {
    /// In one transaction: records `findings`, retracts the alerts of
    /// `reverted` blocks, and runs `progress` (the task's own writes). Then
    /// runs `after_commit` (the task's live figures, so a subscriber woken
    /// by the announcement already reads them), wakes the dispatcher and
    /// announces what changed.
    ///
    /// `findings` is taken by value: the new ones move into their
    /// announcements. A burst's thousand findings (each with its `fields`
    /// object) were cloned here, so the commit held them twice; they were
    /// the largest part of the daemon's peak heap.
    pub(crate) fn commit<E>(
        &self,
        conn: &mut Connection,
        findings: Vec<Finding>,
        reverted: &[(ChainId, BlockRef)],
        progress: impl FnOnce(&Transaction<'_>) -> Result<(), E>,
        after_commit: impl FnOnce(),
    ) -> Result<Committed, NodeError>
    where
        NodeError: From<E>,
    {
        let now = self.clock.now_ms();
        let tx = conn.transaction()?;
        let mut announce = Vec::new();
        let mut incidents = Vec::new();
        let mut recording = outbox::Recording::new(&self.routing, now);
        for finding in findings {
            let recorded = recording.record(&tx, &finding)?;
            if recorded.new {
                // A silenced alert is one somebody decided not to act on.
                let silenced = matches!(
                    recorded.suppressed_by,
                    Some(argus_alerting::Suppression::Silenced { .. })
                );
                if !silenced
                    && !self.incidents.is_empty()
                    && let Some(taken) =
                        argus_incident::intake::take_alert(&tx, &self.incidents, &finding, now)?
                {
                    incidents.push(NodeEvent::Incident {
                        id: taken.incident_id,
                        opened: taken.opened,
                    });
                }
                announce.push(NodeEvent::Alert {
                    finding: Box::new(finding),
                    recorded,
                });
            }
        }
        let mut retracted_alerts = 0;
        for (chain, block) in reverted {
            let retracted = outbox::retract_block(&tx, *chain, block.hash, now)?;
            retracted_alerts += retracted.alerts;
            announce.push(NodeEvent::Retraction {
                chain: *chain,
                block: *block,
                retracted,
            });
        }
        progress(&tx)?;
        tx.commit()?;
        after_commit();
        let committed = Committed {
            new: announce
                .iter()
                .filter(|e| matches!(e, NodeEvent::Alert { .. }))
                .count(),
            retracted: retracted_alerts,
        };
        self.wake.wake();
        if !incidents.is_empty() {
            self.wake_incidents.notify_one();
        }
        for event in announce.into_iter().chain(incidents) {
            // Nobody listening is fine: the outbox holds everything.
            let _ = self.events.send(event);
        }
        Ok(committed)
    }
}
