//! The registry's change feed as signals: every import, label, tag, link,
//! removal and enrolment becomes a `registry_change` signal that rules can
//! alert on ("a new contract joined the infrastructure"):
//!
//! ```yaml
//! - id: registry.new-contract
//!   match: { signal: registry_change }
//!   condition: labels.kind == "added"
//!   title: "{{labels.label}} joined the registry on {{labels.chain}} ({{labels.source}})"
//! ```
//!
//! Labels: `kind` (added, new_version, revived, relabeled, tagged,
//! untagged, linked, removed), `change` (the feed's id), `entry`, `label`,
//! `chain` (its name) and `chain_id`, `address` (EIP-55), `tags`
//! (comma-separated), `source` (the entry's source format: `on-chain` for
//! an enrolment, `planned` for a plan, else the import's format), and
//! `reason` (`reorg` for a removal a reorg made). The signal's time is the
//! change's.
//!
//! The feed is read every quarter second by its own task, which sends into
//! the signal task like any source. Where it read up to is stored with the
//! findings it made (as the position of the log source
//! `argus.registry-changes`), so a change is signalled once across
//! restarts; the first run starts at the feed's end (what happened before
//! Argus followed the feed is history, not news). The chain tasks' rules
//! rebind to the registry independently, at their next chain event.

use std::collections::BTreeMap;
use std::time::Duration;

use argus_core::Signal;
use argus_registry::{Change, Registry};
use argus_sources::{LogPosition, Sample};
use tokio::sync::{mpsc, watch};

/// The signal's name.
pub const SIGNAL: &str = "registry_change";

/// The name its read position is stored under.
pub const POSITION: &str = "argus.registry-changes";

const POLL: Duration = Duration::from_millis(250);

/// Sends a signal per change until `stop`.
pub(crate) async fn run(
    store: argus_store::Store,
    out: mpsc::Sender<Sample>,
    mut stop: watch::Receiver<bool>,
) {
    let mut registry = None;
    let mut after: Option<i64> = None;
    loop {
        if registry.is_none() {
            match Registry::open(&store) {
                Ok(opened) => registry = Some(opened),
                Err(error) => tracing::warn!("the registry feed cannot open the registry: {error}"),
            }
        }
        let samples = registry
            .as_ref()
            .map(|registry| read(&store, registry, &mut after))
            .unwrap_or_default();
        for sample in samples {
            if out.send(sample).await.is_err() {
                return;
            }
        }
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            () = tokio::time::sleep(POLL) => {}
        }
    }
}

/// The signals of the changes after `after` (moved past them), then their
/// read position.
fn read(store: &argus_store::Store, registry: &Registry, after: &mut Option<i64>) -> Vec<Sample> {
    if after.is_none() {
        *after = start(store, registry);
    }
    let Some(seen) = *after else {
        return Vec::new();
    };
    let changes = match registry.changes_since(seen) {
        Ok(changes) => changes,
        Err(error) => {
            tracing::warn!("cannot read the registry's change feed: {error}");
            return Vec::new();
        }
    };
    let mut samples: Vec<Sample> = changes
        .iter()
        .map(|change| Sample::Signal(signal_of(registry, change)))
        .collect();
    if let Some(last) = changes.last() {
        *after = Some(last.id);
        samples.push(Sample::LogRead {
            source: POSITION.to_owned(),
            position: LogPosition {
                inode: 0,
                offset: u64::try_from(last.id).unwrap_or(0),
            },
        });
    }
    samples
}

/// Where to start: the stored position, else the feed's end.
fn start(store: &argus_store::Store, registry: &Registry) -> Option<i64> {
    let stored = store
        .connect()
        .ok()
        .and_then(|conn| argus_sources::db::log_positions(&conn).ok())
        .and_then(|positions| positions.get(POSITION).copied());
    match stored {
        Some(position) => Some(i64::try_from(position.offset).unwrap_or(i64::MAX)),
        None => match registry.changes_since(0) {
            Ok(changes) => Some(changes.last().map_or(0, |c| c.id)),
            Err(error) => {
                tracing::warn!("cannot read the registry's change feed: {error}");
                None
            }
        },
    }
}

/// The signal of one change, with the entry's label, chain, address, tags
/// and source as they are now.
pub fn signal_of(registry: &Registry, change: &Change) -> Signal {
    let mut labels = BTreeMap::new();
    labels.insert("kind".to_owned(), change.kind.as_str().to_owned());
    labels.insert("change".to_owned(), change.id.to_string());
    labels.insert("entry".to_owned(), change.entry_id.to_string());
    if let Ok(entry) = registry.entry(change.entry_id) {
        labels.insert("label".to_owned(), entry.label.clone());
        if let Some(chain) = entry.chain {
            labels.insert("chain".to_owned(), chain.name());
            labels.insert("chain_id".to_owned(), chain.0.to_string());
        }
        if let Some(address) = entry.address {
            labels.insert("address".to_owned(), address.to_checksum(None));
        }
        labels.insert(
            "tags".to_owned(),
            entry.tags.iter().cloned().collect::<Vec<_>>().join(","),
        );
        labels.insert("source".to_owned(), entry.source.format.as_str().to_owned());
    }
    if let Some(reason) = change.details.get("reason").and_then(|r| r.as_str()) {
        labels.insert("reason".to_owned(), reason.to_owned());
    }
    let at_ms = change
        .time
        .parse::<jiff::Timestamp>()
        .map(|t| t.as_millisecond())
        .unwrap_or(0);
    Signal {
        name: SIGNAL.to_owned(),
        value: 1.0,
        labels,
        at_ms,
    }
}
