//! The scheduled checks' task: fires the `checks:` section's daily, weekly
//! and monthly schedules on the node's [`Clock`] and hands each firing to
//! the runner the binary injected (it holds what a check needs beyond the
//! node: the master key to open the vault, the audit log's writer).
//!
//! The task looks at the clock once a second, so a manual clock moved by a
//! test fires the schedule at once. Where each schedule last fired is kept
//! in the store (`check_schedule`): a node that was down over a firing
//! runs that checklist once when it starts again; a first start fires
//! nothing until the next scheduled time (counted from the node's start,
//! read before the task is spawned, so a clock moved right after the
//! start is seen as a move).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use argus_checks::{Cadence, Schedules, db};
use argus_core::Clock;
use argus_store::Store;
use tokio::sync::watch;

/// Runs one checklist (on a blocking thread): the binary's, holding the
/// vault and the audit log.
pub type CheckRunner =
    Arc<dyn Fn(Cadence) -> Result<argus_checks::RunReport, String> + Send + Sync>;

/// How often the task reads the clock.
const LOOK_EVERY: Duration = Duration::from_secs(1);

pub(crate) async fn run(
    schedules: Schedules,
    store: Store,
    clock: Clock,
    runner: CheckRunner,
    start_ms: i64,
    mut stop: watch::Receiver<bool>,
) {
    let mut last: BTreeMap<&'static str, i64> = BTreeMap::new();
    if let Ok(conn) = store.connect() {
        for cadence in Cadence::ALL {
            let fired = db::last_fired(&conn, cadence).ok().flatten();
            last.insert(cadence.as_str(), fired.unwrap_or(start_ms));
        }
    }
    let mut tick = tokio::time::interval(LOOK_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            _ = tick.tick() => {}
        }
        let now = clock.now().timestamp();
        for (cadence, expr) in &schedules.entries {
            let after_ms = last.get(cadence.as_str()).copied().unwrap_or(start_ms);
            let Ok(after) = jiff::Timestamp::from_millisecond(after_ms) else {
                continue;
            };
            let Some(due) = expr.next_after(after, &schedules.zone) else {
                continue;
            };
            if due.timestamp() > now {
                continue;
            }
            let now_ms = now.as_millisecond();
            last.insert(cadence.as_str(), now_ms);
            // Noted before the run: a run that crashes the process is not
            // repeated in a loop at every start.
            if let Err(error) = store
                .connect()
                .map_err(argus_checks::ChecksError::from)
                .and_then(|conn| db::set_fired(&conn, *cadence, now_ms))
            {
                tracing::warn!("checks: cannot note the {} run: {error}", cadence.as_str());
            }
            let runner = Arc::clone(&runner);
            let cadence = *cadence;
            match tokio::task::spawn_blocking(move || runner(cadence)).await {
                Ok(Ok(report)) if report.failed() => tracing::warn!(
                    "checks: {} run {}: {} failed, {} warn",
                    cadence.as_str(),
                    report.run_id,
                    report.count(argus_checks::Status::Fail),
                    report.count(argus_checks::Status::Warn)
                ),
                Ok(Ok(report)) => tracing::info!(
                    "checks: {} run {}: {} ok, {} warn, {} skipped",
                    cadence.as_str(),
                    report.run_id,
                    report.count(argus_checks::Status::Ok),
                    report.count(argus_checks::Status::Warn),
                    report.count(argus_checks::Status::Skipped)
                ),
                Ok(Err(error)) => {
                    tracing::error!("checks: the {} run failed: {error}", cadence.as_str())
                }
                Err(error) => {
                    tracing::error!("checks: the {} run panicked: {error}", cadence.as_str())
                }
            }
        }
    }
}
