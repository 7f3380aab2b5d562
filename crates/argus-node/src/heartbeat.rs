//! The heartbeat: a dead-man's switch for Argus itself.
//!
//! A monitor that stops says nothing; whoever watches it from outside must
//! hear from it. With `heartbeat:` configured the node POSTs its health to
//! each URL on an interval — each chain's newest block and its lag, the
//! outbox's backlog — and an outside watcher (a dead-man's-switch service,
//! another Argus, a cron that pages) notices when the pings stop or say
//! `degraded`. A ping that fails is logged and tried again at the next
//! interval: the heartbeat never stops the node.
//!
//! ```yaml
//! heartbeat:
//!   urls: ["https://hc-ping.example/3f2c…"]
//!   every: 1m        # default 1 minute, at least 1 s
//!   timeout: 10s     # per ping
//!   max_lag: 5m      # a chain (or the oldest pending delivery) older than this is `degraded`
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use argus_core::{BlockRef, ChainId, Clock};
use argus_store::Store;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::Live;

/// The `heartbeat:` section.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeartbeatConfig {
    /// Where the pings go (http or https).
    pub urls: Vec<String>,
    #[serde(
        default = "default_every",
        deserialize_with = "argus_core::duration::deserialize"
    )]
    pub every: Duration,
    #[serde(
        default = "default_timeout",
        deserialize_with = "argus_core::duration::deserialize"
    )]
    pub timeout: Duration,
    #[serde(
        default = "default_max_lag",
        deserialize_with = "argus_core::duration::deserialize"
    )]
    pub max_lag: Duration,
}

fn default_every() -> Duration {
    Duration::from_secs(60)
}

fn default_timeout() -> Duration {
    Duration::from_secs(10)
}

fn default_max_lag() -> Duration {
    Duration::from_secs(300)
}

impl HeartbeatConfig {
    /// What is wrong with the section, one line each (`heartbeat.…: …`).
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.urls.is_empty() {
            problems.push(
                "heartbeat.urls is empty; list the URLs to ping, or remove the section".to_owned(),
            );
        }
        for (i, url) in self.urls.iter().enumerate() {
            match reqwest::Url::parse(url) {
                Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => {}
                Ok(parsed) => problems.push(format!(
                    "heartbeat.urls[{i}]: the scheme `{}` is not http or https",
                    parsed.scheme()
                )),
                Err(error) => problems.push(format!("heartbeat.urls[{i}]: not a URL: {error}")),
            }
        }
        if self.every < Duration::from_secs(1) {
            problems.push("heartbeat.every must be at least 1s".to_owned());
        }
        if self.timeout.is_zero() || self.timeout > self.every.max(Duration::from_secs(1)) {
            problems
                .push("heartbeat.timeout must be longer than zero and at most `every`".to_owned());
        }
        problems
    }
}

/// Pings every URL each `every` until `stop`.
pub(crate) async fn run(
    config: HeartbeatConfig,
    store: Store,
    live: Arc<Live>,
    clock: Clock,
    mut stop: watch::Receiver<bool>,
) {
    let client = match argus_core::tls::client_config() {
        Ok(tls) => argus_core::tls::http_client_builder(&tls)
            .timeout(config.timeout)
            .build(),
        Err(error) => {
            tracing::error!("heartbeat: no TLS setup ({error}); no pings are sent");
            return;
        }
    };
    let client = match client {
        Ok(client) => client,
        Err(error) => {
            tracing::error!("heartbeat: cannot build the HTTP client ({error}); no pings are sent");
            return;
        }
    };
    let mut tick = tokio::time::interval(config.every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            _ = tick.tick() => {}
        }
        let body = health(&store, &live, &clock, config.max_lag);
        for (i, url) in config.urls.iter().enumerate() {
            let sent = client.post(url).json(&body).send().await;
            match sent.map(|r| r.status()) {
                Ok(status) if status.is_success() => {}
                // The URL may hold a token: say which, never print it.
                Ok(status) => tracing::warn!("heartbeat: urls[{i}] answered {status}"),
                Err(error) => tracing::warn!(
                    "heartbeat: urls[{i}] could not be reached: {}",
                    error.without_url()
                ),
            }
        }
    }
}

/// The node's health as one JSON document.
pub(crate) fn health(store: &Store, live: &Live, clock: &Clock, max_lag: Duration) -> Value {
    let now = clock.now_ms();
    let max_lag_ms = i64::try_from(max_lag.as_millis()).unwrap_or(i64::MAX);
    let tips: BTreeMap<ChainId, Option<BlockRef>> = live.tips();
    let mut degraded = Vec::new();
    let chains: Vec<Value> = tips
        .iter()
        .map(|(chain, tip)| {
            let lag_ms = tip.map(|t| t.age_ms(now));
            if lag_ms.is_none_or(|lag| lag > max_lag_ms) {
                degraded.push(format!("chain {} lags", chain.name()));
            }
            json!({
                "chain": chain.0,
                "name": chain.name(),
                "block": tip.map(|t| t.number),
                "lag_ms": lag_ms,
            })
        })
        .collect();
    let outbox = store.connect().ok().and_then(|conn| {
        let by_notifier = argus_alerting::stats::deliveries_by_notifier(&conn).ok()?;
        let oldest = argus_alerting::stats::oldest_pending_at_ms(&conn).ok()?;
        Some((by_notifier, oldest))
    });
    let outbox = match outbox {
        Some((by_notifier, oldest)) => {
            let pending: u64 = by_notifier
                .iter()
                .map(|n| n.counts.of(argus_alerting::DeliveryStatus::Pending))
                .sum();
            let oldest_age = oldest.map(|at| now.saturating_sub(at).max(0));
            if oldest_age.is_some_and(|age| age > max_lag_ms) {
                degraded.push("deliveries wait".to_owned());
            }
            json!({ "pending": pending, "oldest_pending_age_ms": oldest_age })
        }
        None => {
            degraded.push("the store does not answer".to_owned());
            Value::Null
        }
    };
    json!({
        "status": if degraded.is_empty() { "ok" } else { "degraded" },
        "problems": degraded,
        "at_ms": now,
        "version": env!("CARGO_PKG_VERSION"),
        "chains": chains,
        "outbox": outbox,
    })
}
