//! `/api/events`: a server-sent-events stream of new alerts, retractions
//! and incident changes.
//!
//! The store is the source of truth for what the stream sends, in both
//! modes, so a client sees the same events whichever process serves it:
//!
//! - each new alert is read back from the outbox in the order it was
//!   stored (`outbox::alerts_after`, from the newest at the time the
//!   stream opened), as event `alert` with the stored alert as data;
//! - each new incident timeline row (`argus_incident::db::events_after`)
//!   is event `incident` with the row as data: opened, joined, stepped,
//!   acknowledged, escalated, a public line set;
//! - inside the daemon each [`NodeEvent::Retraction`] is event
//!   `retraction` (chain, block, what was retracted).
//!
//! Inside the daemon the node's events wake the stream at once (an alert
//! or incident event is a cue to read the store, not a payload), and a
//! one-second tick picks up what other processes wrote (`argus incidents
//! ack` from a shell, `argus keys sign`'s alert). Without a node (`argus
//! serve`) the tick alone drives it. A subscriber that falls behind the
//! node's buffer is told (`lagged`) and loses nothing: the store still
//! holds every alert. The stream ends when the server stops.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;

use argus_alerting::outbox;
use argus_node::NodeEvent;
use axum::extract::{RawQuery, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use serde_json::json;
use tokio::sync::{broadcast, watch};

use crate::error::AppError;
use crate::params::Params;
use crate::state::AppState;

/// Rows read per kind per poll; more are read at once after these are sent.
const BATCH: usize = 200;

/// How often the store is read for what no node event announced.
const POLL: Duration = Duration::from_secs(1);

/// `GET /api/events`.
pub(crate) async fn stream(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, AppError> {
    Params::parse(query.as_deref(), &[])?;
    // Subscribe before reading the cursors: an event committed in between
    // is then both after the cursor and announced, never lost.
    let node_events = state.node().map(argus_node::NodeView::subscribe);
    let (alert_seq, timeline_id) = state
        .read(|conn| {
            Ok((
                outbox::last_alert_seq(conn)?,
                argus_incident::db::last_event_id(conn)?,
            ))
        })
        .await?;
    let mut tick = tokio::time::interval(POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let source = Source {
        stopping: state.stopping(),
        state,
        node_events,
        alert_seq,
        timeline_id,
        queue: VecDeque::new(),
        more: false,
        tick,
    };
    let events = futures_util::stream::unfold(source, |mut source| async move {
        source.next().await.map(|event| (Ok(event), source))
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}

/// One subscriber's position in the store and the node's events.
struct Source {
    state: AppState,
    stopping: watch::Receiver<bool>,
    node_events: Option<broadcast::Receiver<NodeEvent>>,
    /// The newest alert sent (its position in the outbox).
    alert_seq: i64,
    /// The newest timeline row sent.
    timeline_id: i64,
    queue: VecDeque<Event>,
    /// The last read filled a batch: read again before waiting.
    more: bool,
    tick: tokio::time::Interval,
}

impl Source {
    /// The next event to send; `None` once the server stops.
    async fn next(&mut self) -> Option<Event> {
        loop {
            if *self.stopping.borrow() {
                return None;
            }
            if let Some(event) = self.queue.pop_front() {
                return Some(event);
            }
            if self.more {
                self.poll().await;
                continue;
            }
            tokio::select! {
                changed = self.stopping.changed() => {
                    if changed.is_err() {
                        return None;
                    }
                }
                received = next_node_event(&mut self.node_events) => match received {
                    Ok(NodeEvent::Retraction { chain, block, retracted }) => {
                        self.queue.push_back(event("retraction", &json!({
                            "chain_id": chain.0,
                            "chain": chain.name(),
                            "block": block,
                            "retracted": retracted,
                        })));
                        self.poll().await;
                    }
                    Ok(NodeEvent::Alert { .. } | NodeEvent::Incident { .. }) => self.poll().await,
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        self.queue.push_back(event("lagged", &json!({ "missed": missed })));
                        self.poll().await;
                    }
                    Err(broadcast::error::RecvError::Closed) => {
                        // The node stopped; the store may still change.
                        self.node_events = None;
                    }
                },
                _ = self.tick.tick() => self.poll().await,
            }
        }
    }

    /// Reads the alerts and timeline rows after the cursors into the queue.
    async fn poll(&mut self) {
        let (alert_seq, timeline_id) = (self.alert_seq, self.timeline_id);
        let read = self
            .state
            .read(move |conn| {
                Ok((
                    outbox::alerts_after(conn, alert_seq, BATCH)?,
                    argus_incident::db::events_after(conn, timeline_id, BATCH)?,
                ))
            })
            .await;
        match read {
            Ok((alerts, rows)) => {
                self.more = alerts.len() == BATCH || rows.len() == BATCH;
                for (seq, alert) in alerts {
                    self.alert_seq = seq;
                    self.queue.push_back(event("alert", &alert));
                }
                for row in rows {
                    self.timeline_id = row.id;
                    self.queue.push_back(event("incident", &row));
                }
            }
            Err(error) => {
                // Tried again at the next tick; the cursors did not move.
                self.more = false;
                tracing::warn!("the event stream could not read the store: {error}");
            }
        }
    }
}

/// The node's next event; never, without a node.
async fn next_node_event(
    events: &mut Option<broadcast::Receiver<NodeEvent>>,
) -> Result<NodeEvent, broadcast::error::RecvError> {
    match events {
        Some(events) => events.recv().await,
        None => std::future::pending().await,
    }
}

fn event(name: &str, data: &impl serde::Serialize) -> Event {
    let data = serde_json::to_string(data).unwrap_or_else(|_| "null".to_owned());
    Event::default().event(name).data(data)
}
