//! The dispatcher: sends what the outbox holds, retries what failed.
//!
//! It owns its own connection to the database. Each pass claims the due
//! deliveries (a lease moves their next attempt forward, so nothing is sent
//! twice at once), sends them concurrently through their notifiers (at most
//! `max_in_flight`), and writes each outcome: `delivered` only after the sink
//! accepted; a retry at `now + backoff` (exponential from `retry.initial`,
//! doubled per attempt, capped at `retry.max`, with jitter derived from the
//! idempotency key so a burst spreads out) or at the sink's `Retry-After`;
//! `failed` for a permanent refusal.
//!
//! Latency: the daemon calls [`DispatchHandle::wake`] right after committing
//! a transaction that queued deliveries, so a new alert is sent at once, not
//! after a poll interval. Timers only wake the loop for retries that become
//! due; what is due is always decided by the injected [`Clock`].
//!
//! Exactly once per idempotency key: a kill between the sink's acceptance and
//! the `delivered` mark re-sends the same delivery, with the same key, once
//! its lease has run out. A retraction is queued only once its fire has been
//! delivered, so per alert and notifier a retraction never overtakes its fire.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use argus_store::{Connection, Store};
use tokio::sync::Notify;
use tokio::task::JoinSet;

use crate::config::{AlertingConfig, NotifierConfig, RetryConfig};
use crate::error::AlertError;
use crate::notify::{Notifier, Outgoing, SendError};
use crate::outbox::{self, AlertRecord, Delivery};
use argus_core::Clock;

/// How long to wait before the next attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub initial_ms: i64,
    pub max_ms: i64,
}

impl RetryPolicy {
    /// From the config.
    pub fn from_config(config: &RetryConfig) -> Self {
        Self {
            initial_ms: config.initial.as_ms().max(1),
            max_ms: config.max.as_ms().max(1),
        }
    }

    /// The delay after the `attempts`-th failed attempt (1-based) of the
    /// delivery with `key`: half the capped exponential delay, plus a jitter
    /// of up to the other half derived from the key and attempt.
    pub fn delay_ms(&self, key: &str, attempts: u32) -> i64 {
        let shift = attempts.saturating_sub(1).min(40);
        let base = self
            .initial_ms
            .saturating_mul(1_i64 << shift)
            .min(self.max_ms)
            .max(1);
        let mut seed = Vec::with_capacity(key.len() + 4);
        seed.extend_from_slice(key.as_bytes());
        seed.extend_from_slice(&attempts.to_be_bytes());
        let hash = alloy_primitives::keccak256(&seed);
        let mut word = [0u8; 8];
        word.copy_from_slice(&hash[..8]);
        let half = base / 2;
        half + (u64::from_be_bytes(word) % (base - half + 1) as u64) as i64
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self::from_config(&RetryConfig::default())
    }
}

/// Wakes a running dispatcher; cheap to clone and call.
#[derive(Debug, Clone)]
pub struct DispatchHandle {
    wake: Arc<Notify>,
}

impl DispatchHandle {
    /// Call after committing a transaction that queued deliveries (or after
    /// moving a manual clock): the dispatcher looks at the outbox at once.
    pub fn wake(&self) {
        self.wake.notify_one();
    }
}

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pass {
    /// Accepted by their sinks.
    pub delivered: usize,
    /// Failed, retry scheduled.
    pub retried: usize,
    /// Refused for good.
    pub failed: usize,
}

impl Pass {
    /// Deliveries attempted.
    pub fn attempted(&self) -> usize {
        self.delivered + self.retried + self.failed
    }
}

/// The longest the running dispatcher sleeps with free slots.
const IDLE_POLL_MS: u64 = 1_000;

/// Sends the outbox.
#[derive(Debug)]
pub struct Dispatcher {
    conn: Arc<Mutex<Connection>>,
    notifiers: Arc<BTreeMap<String, Arc<Notifier>>>,
    clock: Clock,
    retry: RetryPolicy,
    max_in_flight: usize,
    send_timeout: Duration,
    wake: Arc<Notify>,
    /// Groups and backlogs to fold into digests at claim time.
    fold: Arc<crate::digest::FoldPlan>,
    /// Each notifier's rate limit.
    limits: Arc<Mutex<crate::limits::Limiter>>,
}

impl Dispatcher {
    /// A dispatcher over `store`, on a connection of its own (not the
    /// daemon's writer's), with the notifiers built from `config`. A claim's
    /// lease outlasts the slowest send (request timeout or script timeout).
    pub fn new(
        store: &Store,
        notifiers: BTreeMap<String, Notifier>,
        config: &AlertingConfig,
        clock: Clock,
    ) -> Result<Self, AlertError> {
        let retry = &config.retry;
        let slowest = config
            .notifiers
            .values()
            .filter_map(|c| match c {
                NotifierConfig::Script(s) => Some(s.timeout.0),
                _ => None,
            })
            .fold(retry.request_timeout.0, Duration::max);
        Ok(Self {
            conn: Arc::new(Mutex::new(store.connect()?)),
            notifiers: Arc::new(
                notifiers
                    .into_iter()
                    .map(|(name, n)| (name, Arc::new(n)))
                    .collect(),
            ),
            clock,
            retry: RetryPolicy::from_config(retry),
            max_in_flight: retry.max_in_flight.max(1),
            send_timeout: slowest + Duration::from_secs(1),
            wake: Arc::new(Notify::new()),
            fold: Arc::new(crate::digest::FoldPlan::from_config(config)),
            limits: Arc::new(Mutex::new(crate::limits::Limiter::new(
                config
                    .notifiers
                    .iter()
                    .map(|(name, n)| (name.clone(), crate::limits::effective(n))),
            ))),
        })
    }

    /// A handle to wake the running dispatcher.
    pub fn handle(&self) -> DispatchHandle {
        DispatchHandle {
            wake: self.wake.clone(),
        }
    }

    fn lease_ms(&self) -> i64 {
        i64::try_from(self.send_timeout.as_millis()).unwrap_or(i64::MAX / 4) + 5_000
    }

    async fn with_conn<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Connection) -> Result<T, AlertError> + Send + 'static,
    ) -> Result<T, AlertError> {
        let conn = self.conn.clone();
        let joined = tokio::task::spawn_blocking(move || {
            let mut guard = match conn.lock() {
                Ok(guard) => guard,
                Err(poisoned) => poisoned.into_inner(),
            };
            work(&mut guard)
        })
        .await;
        match joined {
            Ok(result) => result,
            Err(error) => std::panic::resume_unwind(error.into_panic()),
        }
    }

    async fn claim(&self, limit: usize) -> Result<Vec<(Delivery, AlertRecord)>, AlertError> {
        let now = self.clock.now_ms();
        let lease = self.lease_ms();
        let (fold, limits) = (self.fold.clone(), self.limits.clone());
        self.with_conn(move |conn| {
            let tx = conn.transaction()?;
            crate::digest::fold_due(&tx, now, &fold)?;
            let claimed = outbox::claim_due(&tx, now, limit, lease)?;
            let claimed = crate::limits::admit_claimed(&tx, &limits, claimed, now)?;
            tx.commit()?;
            Ok(claimed)
        })
        .await
    }

    fn start(
        &self,
        tasks: &mut JoinSet<(Delivery, Result<(), SendError>)>,
        delivery: Delivery,
        alert: AlertRecord,
    ) {
        let notifier = self.notifiers.get(&delivery.notifier).cloned();
        let now_ms = self.clock.now_ms();
        let timeout = self.send_timeout;
        tasks.spawn(async move {
            let result = match notifier {
                None => Err(SendError::permanent(format!(
                    "no notifier named `{}` is configured; add it back and requeue, or leave it failed",
                    delivery.notifier
                ))),
                Some(notifier) => {
                    let out = Outgoing {
                        delivery: &delivery,
                        alert: &alert,
                        now_ms,
                    };
                    match tokio::time::timeout(timeout, notifier.send(&out)).await {
                        Ok(result) => result,
                        Err(_) => Err(SendError::retry("the send did not finish in time")),
                    }
                }
            };
            (delivery, result)
        });
    }

    async fn finish(
        &self,
        delivery: Delivery,
        result: Result<(), SendError>,
        pass: &mut Pass,
    ) -> Result<(), AlertError> {
        let now = self.clock.now_ms();
        match &result {
            Ok(()) => {
                pass.delivered += 1;
                tracing::debug!(delivery = delivery.id, notifier = %delivery.notifier, kind = delivery.kind.as_str(), "delivered");
            }
            Err(error) if error.retryable => {
                pass.retried += 1;
                tracing::warn!(delivery = delivery.id, notifier = %delivery.notifier, attempts = delivery.attempts + 1, error = %error.message, "delivery failed; will retry");
            }
            Err(error) => {
                pass.failed += 1;
                tracing::error!(delivery = delivery.id, notifier = %delivery.notifier, error = %error.message, "delivery refused for good; requeue it once the sink is fixed");
            }
        }
        let retry = self.retry;
        let limits = self.limits.clone();
        self.with_conn(move |conn| {
            let conn = &*conn;
            match result {
                Ok(()) => outbox::mark_delivered(conn, delivery.id, now),
                Err(error) if error.retryable => {
                    let backoff = retry.delay_ms(&delivery.idempotency_key, delivery.attempts + 1);
                    let wait = error
                        .retry_after
                        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 4))
                        .unwrap_or(backoff);
                    if error.retry_after.is_some() {
                        let mut limits = match limits.lock() {
                            Ok(guard) => guard,
                            Err(poisoned) => poisoned.into_inner(),
                        };
                        limits.pause_until(&delivery.notifier, now.saturating_add(wait));
                    }
                    outbox::mark_retry(conn, delivery.id, now.saturating_add(wait), &error.message)
                }
                Err(error) => outbox::mark_failed(conn, delivery.id, &error.message),
            }
        })
        .await
    }

    /// Sends every delivery due now (up to `max_in_flight`), waits for all of
    /// them, and records the outcomes. For tests, `argus alerts flush` and
    /// one-shot commands.
    pub async fn run_once(&self) -> Result<Pass, AlertError> {
        let mut pass = Pass::default();
        let mut tasks = JoinSet::new();
        for (delivery, alert) in self.claim(self.max_in_flight).await? {
            self.start(&mut tasks, delivery, alert);
        }
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok((delivery, result)) => self.finish(delivery, result, &mut pass).await?,
                Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
                Err(_) => {}
            }
        }
        Ok(pass)
    }

    /// Runs until `shutdown` completes: sends what is due, wakes on
    /// [`DispatchHandle::wake`], on a finished send, or when the next retry
    /// falls due. Sends still in flight at shutdown are abandoned unmarked
    /// and are sent again (same key) after their lease on the next start.
    pub async fn run(&self, shutdown: impl Future<Output = ()>) -> Result<(), AlertError> {
        let mut tasks: JoinSet<(Delivery, Result<(), SendError>)> = JoinSet::new();
        let mut totals = Pass::default();
        tokio::pin!(shutdown);
        loop {
            let free = self.max_in_flight.saturating_sub(tasks.len());
            let claimed = if free > 0 {
                self.claim(free).await
            } else {
                Ok(Vec::new())
            };
            let next_due = match claimed {
                Ok(claimed) => {
                    for (delivery, alert) in claimed {
                        self.start(&mut tasks, delivery, alert);
                    }
                    self.with_conn(|conn| outbox::next_due_at(conn)).await
                }
                Err(error) => Err(error),
            };
            // A busy database (another writer held the lock past the busy
            // timeout) is waited out; anything else stops the dispatcher.
            let next_due = match next_due {
                Ok(next_due) => next_due,
                Err(error) if error.is_retryable() => {
                    tracing::warn!(%error, "the outbox is busy; looking again shortly");
                    Some(self.clock.now_ms().saturating_add(250))
                }
                Err(error) => return Err(error),
            };
            let now = self.clock.now_ms();
            // With free slots, wake when the next retry is due, and at least
            // every IDLE_POLL_MS: another process (`argus keys`, a second
            // daemon sharing the file) may have queued deliveries without
            // being able to wake us. At capacity, only a finished send frees
            // a slot.
            let sleep_for = (tasks.len() < self.max_in_flight).then(|| match next_due {
                Some(at) => Duration::from_millis(
                    u64::try_from(at.saturating_sub(now))
                        .unwrap_or(0)
                        .clamp(1, IDLE_POLL_MS),
                ),
                None => Duration::from_millis(IDLE_POLL_MS),
            });
            tokio::select! {
                () = &mut shutdown => break,
                () = self.wake.notified() => {}
                Some(joined) = tasks.join_next(), if !tasks.is_empty() => {
                    match joined {
                        Ok((delivery, result)) => {
                            // The claim's lease covers a mark that could not be
                            // written: the delivery is sent again, same key.
                            if let Err(error) = self.finish(delivery, result, &mut totals).await {
                                if !error.is_retryable() {
                                    return Err(error);
                                }
                                tracing::warn!(%error, "could not record a delivery's outcome; it will be sent again after its lease");
                            }
                        }
                        Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
                        Err(_) => {}
                    }
                }
                () = tokio::time::sleep(sleep_for.unwrap_or(Duration::from_secs(3600))), if sleep_for.is_some() => {}
            }
        }
        tasks.abort_all();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        let policy = RetryPolicy {
            initial_ms: 1_000,
            max_ms: 300_000,
        };
        for attempt in 1..=20 {
            let base = (1_000_i64 << (attempt - 1).min(30)).min(300_000);
            let delay = policy.delay_ms("key", attempt);
            assert!(
                delay >= base / 2 && delay <= base,
                "attempt {attempt}: {delay}"
            );
        }
        assert_eq!(policy.delay_ms("key", 3), policy.delay_ms("key", 3));
        let spread: std::collections::BTreeSet<i64> = (0..20)
            .map(|i| policy.delay_ms(&format!("k{i}"), 5))
            .collect();
        assert!(spread.len() > 10, "jitter spreads deliveries");
    }
}
