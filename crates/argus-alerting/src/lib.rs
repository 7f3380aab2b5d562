//! The alert pipeline after the rules: store alerts, a durable outbox,
//! retractions on reorgs, dedup, silences, routing and the notifiers.
//!
//! The exactly-once guarantee of Argus lives here. The daemon opens one
//! SQLite transaction per chain event, calls [`outbox::record`] /
//! [`outbox::retract_block`] with it, updates the chain checkpoint in the
//! same transaction and commits; then it calls [`DispatchHandle::wake`]. The
//! [`Dispatcher`], on its own connection, sends what the outbox holds and
//! marks a delivery `delivered` only after the sink accepted it. Delivery is
//! therefore exactly once *per idempotency key*: a crash between acceptance
//! and the mark re-sends the same key, which receivers dedup on.
//!
//! Modules: [`config`] (the `alerting:` section and its validation),
//! [`routing`], [`grouping`] (per-route `group_by`, `group_wait`,
//! `group_interval`), [`limits`] (per-notifier rate limits), [`digest`]
//! (groups and backlogs folded into one notification),
//! [`silence`], [`outbox`] (the writes and the alerts' reads),
//! [`stats`] (figures for health checks), [`dispatcher`], [`notify`]
//! (webhook, Slack, Discord, Telegram, PagerDuty, email, script), [`secret`].
//! Every function that touches the database takes an
//! [`argus_store::Connection`] (a [`argus_store::Transaction`] derefs to one).

pub mod config;
pub mod digest;
pub mod dispatcher;
pub mod error;
pub mod grouping;
pub mod limits;
pub mod notify;
pub mod outbox;
pub mod routing;
pub mod secret;
pub mod silence;
pub mod stats;

/// The clock of every stage (`argus_core::Clock`), re-exported for callers.
pub use argus_core::Clock;
pub use config::AlertingConfig;
pub use dispatcher::{DispatchHandle, Dispatcher, Duty, FenceHook, Pass, RetryPolicy};
pub use error::AlertError;
pub use notify::{Notifier, Secrets, SendError, build_notifiers, build_notifiers_with};
pub use outbox::{
    AlertFilter, AlertRecord, AlertState, Delivery, DeliveryKind, DeliveryStatus, Recorded,
    Retracted, Suppression, record, retract_block,
};
pub use routing::Routing;
pub use secret::{Secret, SecretSource};
pub use silence::{
    NewSilence, Silence, SilenceMatcher, add_silence, expire_silence, list_silences,
};
pub use stats::{AlertCounts, DeliveryCounts, Histogram, NotifierDeliveries, RuleAlerts};
