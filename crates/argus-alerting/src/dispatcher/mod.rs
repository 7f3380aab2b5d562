//! The dispatcher: sends what the outbox holds, retries what failed.
//!
//! It owns its own connection to the database. Each pass is one transaction
//! that writes the outcomes of every send finished since the last pass
//! (`outcome`) and claims the due deliveries there are slots for (`slots`: a
//! bound per notifier, `max_in_flight`, and one across all,
//! `retry.max_in_flight`); a claim's lease moves its next attempt forward, so
//! nothing is sent twice at once. Sends run concurrently; each outcome is
//! `delivered` only after the sink accepted; a retry at `now + backoff`
//! (`retry`: exponential, with jitter derived from the idempotency key so a
//! burst spreads out) or at the sink's `Retry-After`; `failed` for a
//! permanent refusal.
//!
//! Why batches: one SQLite commit per delivery (plus one per claim) held a
//! burst to a few hundred deliveries a second on one connection; a pass now
//! writes whatever finished while the previous pass was being written, so
//! the commits per delivery fall as the load rises.
//!
//! Latency: the daemon calls [`DispatchHandle::wake`] right after committing
//! a transaction that queued deliveries, so a new alert is sent at once, not
//! after a poll interval. Timers only wake the loop for retries that become
//! due; what is due is always decided by the injected [`Clock`].
//!
//! Exactly once per idempotency key: a kill between the sink's acceptance and
//! the committed `delivered` mark re-sends the same delivery, with the same
//! key, once its lease has run out. A slot is held until the outcome is
//! committed, so at most `max_in_flight` deliveries per notifier can be sent
//! twice that way. A retraction is queued only once its fire has been
//! delivered, so per alert and notifier a retraction never overtakes its
//! fire.

mod duties;
mod outcome;
mod retry;
mod slots;

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use argus_store::{Connection, Store};
use tokio::sync::Notify;
use tokio::task::{JoinError, JoinSet};

use crate::config::{AlertingConfig, NotifierConfig};
use crate::error::AlertError;
use crate::notify::{Notifier, Outgoing, SendError};
use crate::outbox::{self, AlertRecord, Delivery};
use argus_core::Clock;
use duties::{Duties, Held, Scope};
use outcome::{Outcome, Verdict};
use slots::Slots;

pub use duties::Duty;
pub use retry::RetryPolicy;

/// A send's task answers with its delivery and what the sink said.
type Sent = (Delivery, Result<(), SendError>);

/// The deliveries a pass claimed, each with its alert.
type Claimed = Vec<(Delivery, AlertRecord)>;

/// What a pass may claim: per notifier with free slots, how many; how many
/// deliveries to notifiers no longer configured; and the free slots of the
/// total, spent as claims are actually found (see [`claim`]).
type Wants = (Vec<(String, usize)>, usize, usize);

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

/// The longest a pass waits for more sends to end ([`Dispatcher::gather`]).
const GATHER: Duration = Duration::from_millis(2);

/// A duty's lease fence, checked inside each of the dispatcher's
/// transactions when several instances share the store (see
/// [`Dispatcher::hold`]): a refusal ([`argus_store::StoreError::Fenced`])
/// leaves that duty out of the pass, so a stale instance neither claims,
/// folds nor marks for it.
pub type FenceHook =
    Arc<dyn Fn(&argus_store::Transaction<'_>) -> Result<(), argus_store::StoreError> + Send + Sync>;

/// Sends the outbox.
#[derive(Debug)]
pub struct Dispatcher {
    /// What it claims: everything, or the duties it holds (see `duties`).
    duties: Arc<Mutex<Duties>>,
    /// Per notifier, the deliveries claimed whose outcome is not written
    /// yet (what a drain waits for).
    busy: Arc<Mutex<BTreeMap<String, usize>>>,
    conn: Arc<Mutex<Connection>>,
    notifiers: Arc<BTreeMap<String, Arc<Notifier>>>,
    clock: Clock,
    retry: RetryPolicy,
    /// Per configured notifier, its `max_in_flight`.
    limits: BTreeMap<String, usize>,
    /// `retry.max_in_flight`: across notifiers.
    max_in_flight: usize,
    send_timeout: Duration,
    wake: Arc<Notify>,
    /// Groups and backlogs to fold into digests at claim time.
    fold: Arc<crate::digest::FoldPlan>,
    /// Each notifier's rate limit (and the pause a `Retry-After` asked for).
    rate: Arc<Mutex<crate::limits::Limiter>>,
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
        // Only the built notifiers get slots: a notifier left unbuilt (its
        // vault secret not unsealed) is sent to by no one, as before.
        let limits = config
            .notifiers
            .iter()
            .filter(|(name, _)| notifiers.contains_key(*name))
            .map(|(name, c)| (name.clone(), c.max_in_flight()))
            .collect();
        Ok(Self {
            duties: Arc::new(Mutex::new(Duties::All)),
            busy: Arc::new(Mutex::new(BTreeMap::new())),
            conn: Arc::new(Mutex::new(store.connect()?)),
            notifiers: Arc::new(
                notifiers
                    .into_iter()
                    .map(|(name, n)| (name, Arc::new(n)))
                    .collect(),
            ),
            clock,
            retry: RetryPolicy::from_config(retry),
            limits,
            max_in_flight: retry.max_in_flight.max(1),
            send_timeout: slowest + Duration::from_secs(1),
            wake: Arc::new(Notify::new()),
            fold: Arc::new(crate::digest::FoldPlan::from_config(config)),
            rate: Arc::new(Mutex::new(crate::limits::Limiter::new(
                config
                    .notifiers
                    .iter()
                    .map(|(name, n)| (name.clone(), crate::limits::effective(n))),
            ))),
        })
    }

    /// The notifiers it was built with (one duty each when sharing the
    /// store).
    pub fn notifiers(&self) -> Vec<String> {
        self.limits.keys().cloned().collect()
    }

    /// From now on claims only the duties it holds (none yet): the store is
    /// shared with other instances, which hold the others.
    pub fn share(&self) {
        *self.lock_duties() = Duties::Held(BTreeMap::new());
    }

    /// Takes `duty` on, every pass checking `fence` first; wakes the loop
    /// so its due deliveries go out at once. Ignored unless [`share`]d.
    ///
    /// [`share`]: Self::share
    pub fn hold(&self, duty: Duty, fence: FenceHook) {
        if let Duties::Held(held) = &mut *self.lock_duties() {
            held.insert(
                duty,
                Held {
                    fence,
                    draining: false,
                },
            );
        }
        self.wake.notify_one();
    }

    /// Gives `duty` up at once (its lease is lost): its sends still in
    /// flight finish, but their outcomes are not written (the new holder
    /// sends them again, same key).
    pub fn let_go(&self, duty: &Duty) {
        if let Duties::Held(held) = &mut *self.lock_duties() {
            held.remove(duty);
        }
    }

    /// Hands `duty` over cleanly (its lease still held): claims nothing new
    /// for it, waits up to `within` for the outcomes of its sends in flight
    /// to be written, then lets it go. The next holder then has nothing to
    /// send again.
    pub async fn drain(&self, duty: &Duty, within: Duration) {
        if let Duties::Held(held) = &mut *self.lock_duties()
            && let Some(held) = held.get_mut(duty)
        {
            held.draining = true;
        }
        self.wake.notify_one();
        let deadline = tokio::time::Instant::now() + within;
        while self.in_flight(duty) > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.let_go(duty);
    }

    /// Deliveries of `duty` claimed and not yet recorded.
    fn in_flight(&self, duty: &Duty) -> usize {
        let busy = match self.busy.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        match duty {
            Duty::Notifier(name) => busy.get(name).copied().unwrap_or(0),
            Duty::Unconfigured => busy
                .iter()
                .filter(|(name, _)| !self.limits.contains_key(*name))
                .map(|(_, n)| n)
                .sum(),
        }
    }

    /// Counts claims in (`claimed`) and written or abandoned outcomes out.
    fn count_busy(&self, claimed: &[(Delivery, AlertRecord)], settled: &[String]) {
        let mut busy = match self.busy.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        for notifier in settled {
            if let Some(n) = busy.get_mut(notifier) {
                *n = n.saturating_sub(1);
            }
        }
        for (delivery, _) in claimed {
            *busy.entry(delivery.notifier.clone()).or_insert(0) += 1;
        }
        busy.retain(|_, n| *n > 0);
    }

    fn lock_duties(&self) -> std::sync::MutexGuard<'_, Duties> {
        match self.duties.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
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

    fn slots(&self) -> Slots {
        Slots::new(self.limits.clone(), self.max_in_flight)
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

    /// One pass's database work, in one transaction: writes `outcomes`,
    /// claims what `wants` allows; then reads when the next delivery falls
    /// due to a notifier that still has free slots after the claims (the
    /// others wait for a send to end; deliveries to unknown notifiers wait
    /// for the idle poll).
    async fn settle_and_claim(
        &self,
        outcomes: Vec<Outcome>,
        wants: Wants,
    ) -> Result<(Claimed, Option<i64>), AlertError> {
        let now = self.clock.now_ms();
        let lease = self.lease_ms();
        let configured = self.notifiers();
        let (fold, rate) = (self.fold.clone(), self.rate.clone());
        let duties = self.lock_duties().clone();
        let settled: Vec<String> = outcomes.iter().map(|o| o.notifier.clone()).collect();
        let result = self.with_conn(move |conn| {
            let tx = conn.transaction()?;
            let scope = Scope::check(&duties, &tx, &configured)?;
            let (outcomes, dropped): (Vec<Outcome>, Vec<Outcome>) = outcomes
                .into_iter()
                .partition(|o| scope.records(&o.notifier));
            if !dropped.is_empty() {
                tracing::warn!(
                    outcomes = dropped.len(),
                    "outcomes of deliveries whose lease this instance lost are not written; the new holder sends them again after their claim"
                );
            }
            outcome::record(&tx, &outcomes)?;
            // Groups whose wait is over, and backlogs too long for their
            // notifier's rate, become digests before anything is claimed.
            crate::digest::fold_due(&tx, now, &fold, scope.foldable())?;
            let (mut per_notifier, unknown, total) = wants;
            per_notifier.retain(|(notifier, _)| scope.claims(notifier));
            let unknown = if scope.unconfigured() { unknown } else { 0 };
            let wants = (per_notifier, unknown, total);
            let known = scope.known(&configured);
            let (claimed, open) = claim(&tx, &wants, known, now, lease)?;
            // What the notifier's rate does not admit now is postponed
            // to when it does (its claim released).
            let claimed = crate::limits::admit_claimed(&tx, &rate, claimed, now)?;
            tx.commit()?;
            let mut next_due: Option<i64> = None;
            for notifier in &open {
                if let Some(at) = outbox::next_due_at_for(conn, notifier)? {
                    next_due = Some(next_due.map_or(at, |due| due.min(at)));
                }
            }
            Ok((claimed, next_due))
        })
        .await;
        // Written or not (then their claims bring them back), these
        // outcomes are no longer in flight.
        match &result {
            Ok((claimed, _)) => self.count_busy(claimed, &settled),
            Err(_) => self.count_busy(&[], &settled),
        }
        result
    }

    fn start(&self, tasks: &mut JoinSet<Sent>, delivery: Delivery, alert: AlertRecord) {
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

    /// A finished send's task: logs what the sink said, counts it in `pass`,
    /// and adds its outcome to `done` (written by the next pass).
    fn finish(&self, joined: Result<Sent, JoinError>, done: &mut Vec<Outcome>, pass: &mut Pass) {
        let (delivery, result) = match joined {
            Ok(sent) => sent,
            Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
            // Cancelled at shutdown; its lease brings it back.
            Err(_) => return,
        };
        let now_ms = self.clock.now_ms();
        // A sink's `Retry-After` holds back every delivery to that notifier,
        // not only the one it answered.
        if let Err(error) = &result
            && error.retryable
            && let Some(after) = error.retry_after
        {
            let until =
                now_ms.saturating_add(i64::try_from(after.as_millis()).unwrap_or(i64::MAX / 4));
            let mut rate = match self.rate.lock() {
                Ok(guard) => guard,
                Err(poisoned) => poisoned.into_inner(),
            };
            rate.pause_until(&delivery.notifier, until);
        }
        let outcome = Outcome::of(delivery, result, now_ms, self.retry);
        let id = outcome.delivery_id;
        let notifier = &outcome.notifier;
        match &outcome.verdict {
            Verdict::Delivered { .. } => {
                pass.delivered += 1;
                tracing::debug!(delivery = id, %notifier, "delivered");
            }
            Verdict::Retry { error, .. } => {
                pass.retried += 1;
                tracing::warn!(delivery = id, %notifier, %error, "delivery failed; will retry");
            }
            Verdict::Failed { error } => {
                pass.failed += 1;
                tracing::error!(delivery = id, %notifier, %error, "delivery refused for good; requeue it once the sink is fixed");
            }
        }
        done.push(outcome);
    }

    /// In a burst, the outcomes of the sends that end in the next moment
    /// (up to [`GATHER`], or until a quarter of those in flight ended):
    /// written in one pass instead of a pass per send. A pass costs its
    /// commit (the index pages it touched) and its reads of the queue
    /// whatever it carries, so fewer, fuller passes send more a second; a
    /// quiet dispatcher, with one send in flight, never waits here.
    async fn gather(&self, tasks: &mut JoinSet<Sent>, done: &mut Vec<Outcome>, pass: &mut Pass) {
        let enough = (done.len() + tasks.len()) / 4;
        let deadline = tokio::time::Instant::now() + GATHER;
        while done.len() < enough {
            match tokio::time::timeout_at(deadline, tasks.join_next()).await {
                Ok(Some(joined)) => self.finish(joined, done, pass),
                Ok(None) | Err(_) => break,
            }
        }
    }

    /// Sends every delivery due now (as many as there are slots), waits for
    /// all of them, and records the outcomes in one transaction. For tests,
    /// `argus alerts flush` and one-shot commands.
    pub async fn run_once(&self) -> Result<Pass, AlertError> {
        let mut pass = Pass::default();
        let slots = self.slots();
        let (claimed, _) = self.settle_and_claim(Vec::new(), slots.wants()).await?;
        let mut tasks = JoinSet::new();
        for (delivery, alert) in claimed {
            self.start(&mut tasks, delivery, alert);
        }
        let mut done = Vec::new();
        while let Some(joined) = tasks.join_next().await {
            self.finish(joined, &mut done, &mut pass);
        }
        self.settle_and_claim(done, (Vec::new(), 0, 0)).await?;
        Ok(pass)
    }

    /// Runs until `shutdown` completes: sends what is due, wakes on
    /// [`DispatchHandle::wake`], on a finished send, or when the next retry
    /// falls due. Sends still in flight at shutdown (and outcomes not yet
    /// written) are abandoned unmarked and are sent again (same key) after
    /// their lease on the next start.
    pub async fn run(&self, shutdown: impl Future<Output = ()>) -> Result<(), AlertError> {
        let mut tasks: JoinSet<Sent> = JoinSet::new();
        let mut slots = self.slots();
        let mut done: Vec<Outcome> = Vec::new();
        let mut totals = Pass::default();
        tokio::pin!(shutdown);
        loop {
            while let Some(joined) = tasks.try_join_next() {
                self.finish(joined, &mut done, &mut totals);
            }
            // The outcomes and the claims commit together, so the slots of
            // the outcomes can be handed out again in the same pass.
            let settled: Vec<String> = done.iter().map(|o| o.notifier.clone()).collect();
            for notifier in &settled {
                slots.give_back(notifier);
            }
            let wants = slots.wants();
            let outcomes = std::mem::take(&mut done);
            let written = outcomes.len();
            let next_due = match self.settle_and_claim(outcomes, wants).await {
                Ok((claimed, next_due)) => {
                    for (delivery, alert) in claimed {
                        slots.take(&delivery.notifier);
                        self.start(&mut tasks, delivery, alert);
                    }
                    next_due
                }
                // A busy database (another writer held the lock past the
                // busy timeout) is waited out: the claims' leases cover the
                // outcomes that could not be written, and those deliveries
                // are sent again, same key. Anything else stops the
                // dispatcher.
                Err(error) if error.is_retryable() => {
                    if written > 0 {
                        tracing::warn!(%error, outcomes = written, "could not record the outcomes of deliveries; they will be sent again after their lease");
                    } else {
                        tracing::warn!(%error, "the outbox is busy; looking again shortly");
                    }
                    Some(self.clock.now_ms().saturating_add(250))
                }
                Err(error) => return Err(error),
            };
            let now = self.clock.now_ms();
            // With free slots, wake when the next delivery they can take is
            // due, and at least every IDLE_POLL_MS: another process (`argus
            // keys`, a second daemon sharing the file) may have queued
            // deliveries without being able to wake us. With every slot
            // taken, only a finished send frees one.
            let sleep_for = (!slots.all_full()).then(|| match next_due {
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
                    self.finish(joined, &mut done, &mut totals);
                    self.gather(&mut tasks, &mut done, &mut totals).await;
                }
                () = tokio::time::sleep(sleep_for.unwrap_or(Duration::from_secs(3600))), if sleep_for.is_some() => {}
            }
        }
        tasks.abort_all();
        Ok(())
    }
}

/// Claims, inside the pass's transaction, what `wants` allows: per notifier
/// up to its free slots, oldest due first, then (when no notifier has a
/// backlog) deliveries to notifiers not in `known`. The total's free slots
/// are spent by what is found, not by what a notifier could take: a webhook
/// with nothing due must not keep a chat sink's digest waiting because its
/// own bound alone is as large as the total. Also names the notifiers
/// that got fewer than they could take: nothing more is due for them now,
/// so only their next due time should wake the dispatcher.
fn claim(
    conn: &Connection,
    (per_notifier, unknown, total): &Wants,
    known: &[String],
    now: i64,
    lease: i64,
) -> Result<(Claimed, Vec<String>), AlertError> {
    let mut claimed = Vec::new();
    let mut open = Vec::new();
    // A notifier that got all it asked for may have more waiting: then the
    // scan for unknown notifiers (past that backlog) waits for a calmer pass.
    let mut backlog = false;
    let mut left = *total;
    for (notifier, free) in per_notifier {
        let limit = (*free).min(left);
        if limit == 0 {
            backlog = true;
            continue;
        }
        let found = outbox::claim_due_for(conn, notifier, now, limit, lease)?;
        if found.len() < limit {
            open.push(notifier.clone());
        } else {
            backlog = true;
        }
        left -= found.len();
        claimed.extend(found);
    }
    let unknown = (*unknown).min(left);
    if unknown > 0 && !backlog {
        let known: Vec<&str> = known.iter().map(String::as_str).collect();
        claimed.extend(outbox::claim_due_unknown(
            conn, &known, now, unknown, lease,
        )?);
    }
    Ok((claimed, open))
}
