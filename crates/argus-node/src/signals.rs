//! The signal task: evaluates the signal rules on what the sources send and
//! records the findings, a batch of samples per transaction, through the
//! same record step as the chain tasks. The samples windowed rules read are
//! stored in that transaction and fed to the engine again at the next start,
//! so a window counts across a restart; where each log source read up to
//! moves in it too, so a line counts once across crashes.

use std::collections::BTreeMap;

use argus_core::Signal;
use argus_rules::{ContractDirectory, Engine, Lookback, RuleSet};
use argus_sources::{LogPosition, Sample, db};
use tokio::sync::mpsc;

use crate::record::Recorder;
use crate::{NodeError, all_findings};

/// Runs until every source is gone (the channel closes).
pub(crate) async fn evaluate(
    store: argus_store::Store,
    rules: RuleSet,
    recorder: Recorder,
    mut rx: mpsc::Receiver<Sample>,
) -> Result<(), NodeError> {
    let mut engine = Engine::new(rules.clone(), &ContractDirectory::default());
    let mut conn = store.connect()?;
    let lookback = rules.lookback();
    let refilled = refill(&conn, &mut engine, &lookback, recorder.clock.now_ms())?;
    if refilled > 0 {
        tracing::info!(samples = refilled, "signal windows refilled from the store");
    }
    let mut batch = Vec::new();
    while rx.recv_many(&mut batch, 256).await > 0 {
        let mut findings = Vec::new();
        let mut positions: BTreeMap<&str, LogPosition> = BTreeMap::new();
        let mut signals = Vec::new();
        for sample in &batch {
            match sample {
                Sample::Signal(signal) => signals.push(signal),
                Sample::LogRead { source, position } => {
                    positions.insert(source, *position);
                }
            }
        }
        for signal in signals.iter().copied() {
            tracing::trace!(name = %signal.name, value = signal.value, "signal");
            findings.extend(all_findings(engine.on_signal(signal), "signals"));
        }
        let kept: Vec<&Signal> = signals
            .iter()
            .copied()
            .filter(|s| lookback.signals.contains(&s.name))
            .collect();
        if findings.is_empty() && kept.is_empty() && positions.is_empty() {
            batch.clear();
            continue;
        }
        let forget_before = recorder
            .clock
            .now_ms()
            .saturating_sub(i64::try_from(lookback.signal_ms).unwrap_or(i64::MAX));
        recorder.commit(
            &mut conn,
            findings,
            &[],
            |tx| {
                if !lookback.signals.is_empty() {
                    db::store_samples(tx, &kept, forget_before)?;
                }
                // Where each log was read up to moves with what its lines made:
                // a crash before this commit reads those lines again.
                for (source, position) in &positions {
                    db::save_log_position(tx, source, *position)?;
                }
                Ok::<(), db::DbError>(())
            },
            || {},
        )?;
        drop(kept);
        drop(signals);
        batch.clear();
    }
    Ok(())
}

/// Feeds the stored samples still inside the longest signal window to
/// `engine`; what they fire was recorded when they first came. Returns how
/// many.
fn refill(
    conn: &argus_store::Connection,
    engine: &mut Engine,
    lookback: &Lookback,
    now_ms: i64,
) -> Result<usize, NodeError> {
    if lookback.signals.is_empty() {
        return Ok(0);
    }
    let since = now_ms.saturating_sub(i64::try_from(lookback.signal_ms).unwrap_or(i64::MAX));
    let samples = db::samples_since(conn, since)?;
    for sample in &samples {
        let _already_recorded = engine.on_signal(sample);
    }
    Ok(samples.len())
}
