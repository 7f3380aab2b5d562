//! Several instances on one database: who does which work.
//!
//! On PostgreSQL several `argus run` share one database. Each chain's
//! follower (`follow:<chain id>`), each notifier's dispatch
//! (`dispatch:<notifier>`, and `dispatch` for notifiers no instance has
//! configured) and each singleton task (`incidents`, `cross-chain`,
//! `checks`, `registry-feed`) runs in one instance at a time: the one holding its lease (`argus_store::lease`).
//!
//! **Sharing the work.** Each instance announces the leases it runs (its
//! *work*) and reads, every third of the lease time, who is alive and who
//! holds what ([`View`]). A lease given back goes first to the live
//! instance that runs it and holds the fewest leases (ties broken by a hash
//! of the lease and instance names, the same in every instance); the others
//! wait a tenth of the lease time per instance ranked before them
//! ([`rank`]). A lease that expired in its holder's hands (the holder died
//! or was paused) is taken by whichever instance looks first, so the
//! ranking never slows a failover; only its last holder, awake again,
//! waits its rank.
//! Instances that start together may still race for the first leases, so a
//! holder also hands a lease over ([`hand_over_to`]) when a peer that runs
//! it, has been up for a lease time, holds two fewer: it drains the work
//! (a dispatcher writes its sends' outcomes first) and releases the lease,
//! which the peer takes at its next look. One hand-over per instance per
//! lease time, and none in a term's first two lease times, so the spread
//! settles instead of swinging.
//!
//! **Failover.** A dead instance's leases move once they expire: at most the
//! lease time (9 s by default) after its last renewal, plus a tenth of it
//! for the next look of a waiting instance (≤ 10 s in all).
//!
//! A task runs for one *term*: from taking its lease to losing it (a
//! renewal refused or missed past the lease time) or the node stopping. Its
//! writes go through its [`Fence`], which refuses a transaction unless the
//! lease is still this instance's at the term's epoch; the database checks
//! it inside the same transaction, so an instance that was paused past its
//! lease cannot write when it wakes, whatever it believes.
//!
//! On SQLite there is one instance per data directory (the run lock), no
//! lease is taken and every fence is open.

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use argus_store::lease::{self, InstanceRow, Lease, LeaseRow};
use argus_store::{Dialect, Store, StoreError, Transaction};
use tokio::sync::watch;

/// The work of an instance, and how long its leases last.
#[derive(Debug, Clone)]
pub struct Instance {
    /// This instance's id in the `instances` and `leases` tables.
    pub id: String,
    store: Store,
    ttl: Duration,
    /// Whether leases are taken at all (several instances can share the
    /// store: PostgreSQL).
    shared: bool,
    /// The leases this instance runs (announced to the others).
    work: Arc<Mutex<BTreeSet<String>>>,
    /// What it last read of the instances and the leases.
    view: Arc<Mutex<View>>,
    /// When it last handed a lease over (one at a time).
    last_hand_over: Arc<Mutex<Option<tokio::time::Instant>>>,
}

/// The instances and leases as this instance last read them.
#[derive(Debug, Clone, Default)]
pub struct View {
    pub instances: Vec<InstanceRow>,
    pub leases: Vec<LeaseRow>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    match mutex.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// FNV-1a over the lease's and the instance's names: the tie-break between
/// instances holding as many leases, the same in every instance and
/// version (std's hasher is not promised to be).
fn affinity(lease: &str, instance: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in lease.bytes().chain([0]).chain(instance.bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

impl View {
    /// Live leases held by `instance`.
    fn load(&self, instance: &str) -> usize {
        self.leases
            .iter()
            .filter(|l| l.holder == instance && l.expires_in_ms > 0)
            .count()
    }

    /// The live instances that run `lease`, best placed first: fewest
    /// leases held, then the higher affinity. The lease's own holder is
    /// left out (it is the one being replaced).
    fn candidates(&self, lease: &str, ttl_ms: i64) -> Vec<&InstanceRow> {
        let holder = self
            .leases
            .iter()
            .find(|l| l.name == lease)
            .map(|l| l.holder.as_str());
        let mut candidates: Vec<&InstanceRow> = self
            .instances
            .iter()
            .filter(|i| i.seen_ms_ago <= ttl_ms)
            .filter(|i| i.work.iter().any(|w| w == lease))
            .filter(|i| Some(i.id.as_str()) != holder)
            .collect();
        candidates.sort_by_key(|i| (self.load(&i.id), std::cmp::Reverse(affinity(lease, &i.id))));
        candidates
    }
}

/// How many live instances come before `me` for `lease`: `me` waits that
/// many looks before taking it when it was given back (or is `me`'s own,
/// expired: see `argus_store::lease::acquire`). The lease's last holder
/// ranks after every other candidate; an instance missing from the view
/// (it has not announced itself yet) ranks first.
pub fn rank(view: &View, lease: &str, me: &str, ttl: Duration) -> usize {
    let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
    let candidates = view.candidates(lease, ttl_ms);
    candidates
        .iter()
        .position(|i| i.id == me)
        .unwrap_or_else(|| {
            let holder = view
                .leases
                .iter()
                .any(|l| l.name == lease && l.holder == me);
            if holder { candidates.len() } else { 0 }
        })
}

/// The peer `me` should hand `lease` to, if any: a live instance that runs
/// it, has been up for at least the lease time, and holds at least two
/// leases fewer than `me`.
pub fn hand_over_to(view: &View, lease: &str, me: &str, ttl: Duration) -> Option<String> {
    let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
    let mine = view.load(me);
    view.candidates(lease, ttl_ms)
        .into_iter()
        .find(|i| i.id != me && i.up_ms >= ttl_ms && view.load(&i.id) + 2 <= mine)
        .map(|i| i.id.clone())
}

impl Instance {
    /// The instance of this process on `store`: leases are used on
    /// PostgreSQL only.
    pub fn new(store: Store, id: String, ttl: Duration) -> Self {
        let shared = store.dialect() == Dialect::Postgres;
        Self {
            id,
            store,
            ttl,
            shared,
            work: Arc::default(),
            view: Arc::default(),
            last_hand_over: Arc::default(),
        }
    }

    /// Whether this instance shares its store with others (leases taken).
    pub fn is_shared(&self) -> bool {
        self.shared
    }

    /// The lease time.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Records this instance in `instances` (its `seen_at` and the leases
    /// it runs), then reads the instances and the leases into its view.
    pub fn announce(&self, host: &str, started_at_ms: i64) -> Result<(), StoreError> {
        let conn = self.store.connect()?;
        let work: Vec<String> = lock(&self.work).iter().cloned().collect();
        lease::announce(
            &conn,
            &self.id,
            host,
            env!("CARGO_PKG_VERSION"),
            started_at_ms,
            &work,
        )?;
        let view = View {
            instances: lease::instances(&conn)?,
            leases: lease::list(&conn)?,
        };
        *lock(&self.view) = view;
        Ok(())
    }

    /// How long to leave a free `lease` to better-placed instances.
    fn grace(&self, name: &str) -> Duration {
        let rank = rank(&lock(&self.view), name, &self.id, self.ttl);
        (self.ttl / 10).saturating_mul(u32::try_from(rank).unwrap_or(u32::MAX))
    }

    /// Whether to hand `name` over now (the term is `term_age` old): to
    /// whom, at most once per lease time for the whole instance.
    fn hand_over(&self, name: &str, term_age: Duration) -> Option<String> {
        if term_age < self.ttl.saturating_mul(2) {
            return None;
        }
        let mut last = lock(&self.last_hand_over);
        if last.is_some_and(|at| at.elapsed() < self.ttl) {
            return None;
        }
        let to = hand_over_to(&lock(&self.view), name, &self.id, self.ttl)?;
        *last = Some(tokio::time::Instant::now());
        Some(to)
    }
}

/// A task's fence: open when no lease is used; otherwise the lease of the
/// task's current term, or closed between terms.
#[derive(Debug, Clone, Default)]
pub struct Fence {
    term: Option<Arc<Mutex<Option<Lease>>>>,
}

impl Fence {
    /// A fence that lets every write through (one instance per store).
    pub fn open() -> Self {
        Self { term: None }
    }

    /// Whether this task's term is still on (the lease not lost): a task
    /// told to stop while its term is on is handing its work over and may
    /// finish what it has in hand.
    pub fn is_live(&self) -> bool {
        self.term.as_ref().is_none_or(|term| lock(term).is_some())
    }

    /// Refuses `tx` unless this task's lease still holds, checked by the
    /// database inside `tx` (see `argus_store::lease::fence`).
    pub fn check(&self, tx: &Transaction<'_>) -> Result<(), StoreError> {
        let Some(term) = &self.term else {
            return Ok(());
        };
        let current = term.lock().ok().and_then(|guard| guard.clone());
        match current {
            Some(lease) => lease::fence(tx, &lease),
            None => Err(StoreError::Fenced {
                lease: "(none)".to_owned(),
                detail: "this task's term ended".to_owned(),
            }),
        }
    }
}

/// Runs `work` whenever this instance holds the lease `name`, for as long
/// as it holds it, until `stopping` turns true. On a store that is not
/// shared, runs `work` once with an open fence. `work` gets the term's fence
/// and a stop signal that turns true when the term ends (lease lost, handed
/// over, or the node stopping); it should wind down and return soon after
/// (on a hand-over its return is waited for before the lease is released).
pub async fn leased<F, Fut, E>(
    instance: Instance,
    name: String,
    mut stopping: watch::Receiver<bool>,
    mut work: F,
) -> Result<(), E>
where
    F: FnMut(Fence, watch::Receiver<bool>) -> Fut,
    Fut: Future<Output = Result<(), E>>,
{
    if !instance.shared {
        return work(Fence::open(), stopping).await;
    }
    lock(&instance.work).insert(name.clone());
    // A waiting instance looks every tenth of the lease time, so a dead
    // holder's lease is taken at most that long after it expires (the
    // ranking's grace applies to leases given back, see `rank`).
    let step = instance.ttl / 10;
    loop {
        if *stopping.borrow() {
            return Ok(());
        }
        let acquired = {
            let instance = instance.clone();
            let name = name.clone();
            let grace = instance.grace(&name);
            tokio::task::spawn_blocking(move || {
                let mut conn = instance.store.connect()?;
                lease::acquire(&mut conn, &name, &instance.id, instance.ttl, grace)
            })
            .await
        };
        let held = match acquired {
            Ok(Ok(held)) => held,
            Ok(Err(error)) => {
                tracing::warn!(lease = %name, "cannot take the lease: {error}");
                None
            }
            Err(error) => {
                tracing::warn!(lease = %name, "cannot take the lease: {error}");
                None
            }
        };
        let Some(held) = held else {
            tokio::select! {
                _ = stopping.wait_for(|s| *s) => return Ok(()),
                () = tokio::time::sleep(step) => continue,
            }
        };
        tracing::info!(lease = %name, epoch = held.epoch, "lease taken: this instance runs it");
        let term = Arc::new(Mutex::new(Some(held.clone())));
        let fence = Fence {
            term: Some(Arc::clone(&term)),
        };
        let (end_term, term_stop) = watch::channel(false);
        let renewer = renew_until_lost(
            instance.clone(),
            held.clone(),
            Arc::clone(&term),
            stopping.clone(),
        );
        let run = work(fence, term_stop);
        tokio::pin!(run);
        tokio::pin!(renewer);
        let outcome = tokio::select! {
            outcome = &mut run => Ok(outcome),
            end = &mut renewer => Err(end),
        };
        match outcome {
            Ok(result) => {
                // The work ended by itself (an error, or the node stopping).
                let _ = end_term.send(true);
                release(&instance, &held).await;
                *lock(&term) = None;
                result?;
                if *stopping.borrow() {
                    return Ok(());
                }
            }
            Err(TermEnd::HandOver(to)) => {
                // The lease is still ours: let the work finish what it has
                // in hand (its writes still pass the fence), then release.
                let _ = end_term.send(true);
                tokio::select! {
                    _ = tokio::time::timeout(DRAIN, &mut run) => {}
                    () = keep_renewed(&instance, &held) => {}
                }
                *lock(&term) = None;
                release(&instance, &held).await;
                tracing::info!(lease = %name, to = %to, "lease handed over to a less busy instance");
            }
            Err(end) => {
                // Lost (or the node stopping): end the term, let the work
                // wind down briefly, drop it otherwise.
                let _ = end_term.send(true);
                *lock(&term) = None;
                let _ = tokio::time::timeout(Duration::from_secs(5), &mut run).await;
                if *stopping.borrow() || end == TermEnd::Stopping {
                    release(&instance, &held).await;
                    return Ok(());
                }
                tracing::warn!(lease = %name, "lease lost: another instance runs it now");
            }
        }
    }
}

/// How long a term's work may take to finish before its lease is handed
/// over anyway (a dispatcher waits for its sends in flight, each bounded by
/// the notifiers' request timeout, 10 s by default). The lease is renewed
/// meanwhile.
pub const DRAIN: Duration = Duration::from_secs(30);

/// Why a term ended, seen from its renewals.
#[derive(Debug, Clone, PartialEq, Eq)]
enum TermEnd {
    /// Refused, or not renewed within the lease time.
    Lost,
    /// The node is stopping.
    Stopping,
    /// A less busy instance should run it (see [`hand_over_to`]).
    HandOver(String),
}

/// Renews `held` every third of the lease time while a handed-over term's
/// work finishes; returns only if a renewal is refused.
async fn keep_renewed(instance: &Instance, held: &Lease) {
    loop {
        tokio::time::sleep(instance.ttl / 3).await;
        let renewed = {
            let (instance, held) = (instance.clone(), held.clone());
            tokio::task::spawn_blocking(move || {
                let mut conn = instance.store.connect()?;
                lease::renew(&mut conn, &held, instance.ttl)
            })
            .await
        };
        if let Ok(Ok(false)) = renewed {
            return;
        }
    }
}

/// Renews `lease` every third of its time; returns when it is lost, when
/// it should be handed over, or when the node stops.
async fn renew_until_lost(
    instance: Instance,
    held: Lease,
    term: Arc<Mutex<Option<Lease>>>,
    mut stopping: watch::Receiver<bool>,
) -> TermEnd {
    let step = instance.ttl / 3;
    let started = tokio::time::Instant::now();
    let mut last_renewed = started;
    let end = loop {
        tokio::select! {
            _ = stopping.wait_for(|s| *s) => return TermEnd::Stopping,
            () = tokio::time::sleep(step) => {}
        }
        let renewed = {
            let instance = instance.clone();
            let held = held.clone();
            tokio::task::spawn_blocking(move || {
                let mut conn = instance.store.connect()?;
                lease::renew(&mut conn, &held, instance.ttl)
            })
            .await
        };
        match renewed {
            Ok(Ok(true)) => {
                last_renewed = tokio::time::Instant::now();
                if let Some(to) = instance.hand_over(&held.name, started.elapsed()) {
                    return TermEnd::HandOver(to);
                }
            }
            Ok(Ok(false)) => {
                tracing::warn!(lease = %held.name, "the lease was taken over");
                break TermEnd::Lost;
            }
            Ok(Err(error)) => {
                tracing::warn!(lease = %held.name, "cannot renew the lease: {error}");
            }
            Err(error) => {
                tracing::warn!(lease = %held.name, "cannot renew the lease: {error}");
            }
        }
        if last_renewed.elapsed() >= instance.ttl {
            tracing::warn!(lease = %held.name, "no renewal within the lease time: giving it up");
            break TermEnd::Lost;
        }
    };
    *lock(&term) = None;
    end
}

async fn release(instance: &Instance, held: &Lease) {
    let name = held.name.clone();
    let instance = instance.clone();
    let held = held.clone();
    let released = tokio::task::spawn_blocking(move || {
        let conn = instance.store.connect()?;
        lease::release(&conn, &held)
    })
    .await;
    if let Ok(Err(error)) = released {
        tracing::warn!(lease = %name, "cannot release the lease: {error}");
    }
}

/// Keeps this instance's row in `instances` fresh until `stopping`.
pub async fn announce_until_stopped(
    instance: Instance,
    host: String,
    started_at_ms: i64,
    mut stopping: watch::Receiver<bool>,
) {
    if !instance.shared {
        return;
    }
    let step = instance.ttl / 3;
    loop {
        let announced = {
            let instance = instance.clone();
            let host = host.clone();
            tokio::task::spawn_blocking(move || instance.announce(&host, started_at_ms)).await
        };
        if let Ok(Err(error)) = announced {
            tracing::warn!("cannot announce this instance: {error}");
        }
        tokio::select! {
            _ = stopping.wait_for(|s| *s) => return,
            () = tokio::time::sleep(step) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TTL: Duration = Duration::from_secs(9);

    fn instance(id: &str, work: &[&str]) -> InstanceRow {
        InstanceRow {
            id: id.to_owned(),
            host: "host".to_owned(),
            pid: 1,
            version: "test".to_owned(),
            seen_ms_ago: 1_000,
            up_ms: 60_000,
            work: work.iter().map(|w| (*w).to_owned()).collect(),
        }
    }

    fn lease(name: &str, holder: &str, expires_in_ms: i64) -> LeaseRow {
        LeaseRow {
            name: name.to_owned(),
            holder: holder.to_owned(),
            epoch: 1,
            expires_in_ms,
            acquired_at_ms: 0,
        }
    }

    const WORK: [&str; 4] = ["follow:1", "follow:10", "dispatch:hook", "incidents"];

    #[test]
    fn a_free_lease_goes_first_to_the_instance_holding_the_fewest() {
        let view = View {
            instances: ["a", "b", "c"]
                .iter()
                .map(|id| instance(id, &WORK))
                .collect(),
            leases: vec![
                lease("follow:1", "a", 5_000),
                lease("follow:10", "a", 5_000),
                lease("incidents", "b", 5_000),
            ],
        };
        // c holds nothing, b one, a two.
        assert_eq!(rank(&view, "dispatch:hook", "c", TTL), 0);
        assert_eq!(rank(&view, "dispatch:hook", "b", TTL), 1);
        assert_eq!(rank(&view, "dispatch:hook", "a", TTL), 2);
    }

    #[test]
    fn the_last_holder_of_an_expired_lease_ranks_last_and_the_dead_do_not_count() {
        let mut view = View {
            instances: ["a", "b", "c"]
                .iter()
                .map(|id| instance(id, &WORK))
                .collect(),
            leases: vec![lease("follow:1", "a", -2_000)],
        };
        view.instances[2].seen_ms_ago = 60_000; // c is gone
        assert_eq!(
            rank(&view, "follow:1", "b", TTL),
            0,
            "b is the only other live one"
        );
        assert_eq!(
            rank(&view, "follow:1", "a", TTL),
            1,
            "a was paused: after b"
        );
    }

    #[test]
    fn only_instances_that_run_the_work_compete_and_unknown_ones_go_first() {
        let view = View {
            instances: vec![instance("a", &["follow:1"]), instance("b", &["follow:10"])],
            leases: vec![lease("follow:1", "b", 5_000)],
        };
        // b does not run follow:10's peer work; a newcomer not yet in the
        // view takes what is free at once.
        assert_eq!(rank(&view, "follow:10", "b", TTL), 0);
        assert_eq!(rank(&view, "dispatch:hook", "new", TTL), 0);
    }

    #[test]
    fn ties_are_broken_the_same_way_everywhere() {
        let view = View {
            instances: ["a", "b"].iter().map(|id| instance(id, &WORK)).collect(),
            leases: Vec::new(),
        };
        let (ra, rb) = (
            rank(&view, "follow:1", "a", TTL),
            rank(&view, "follow:1", "b", TTL),
        );
        assert_eq!(ra + rb, 1, "one of them first, the other second");
        assert_eq!(affinity("follow:1", "a"), affinity("follow:1", "a"));
        assert_ne!(affinity("follow:1", "a"), affinity("follow:1", "b"));
    }

    #[test]
    fn a_holder_hands_over_to_a_settled_peer_holding_two_fewer() {
        let mut view = View {
            instances: ["a", "b"].iter().map(|id| instance(id, &WORK)).collect(),
            leases: vec![
                lease("follow:1", "a", 5_000),
                lease("follow:10", "a", 5_000),
                lease("dispatch:hook", "a", 5_000),
            ],
        };
        assert_eq!(
            hand_over_to(&view, "follow:1", "a", TTL).as_deref(),
            Some("b")
        );
        // Not to one that just started (it may not stay).
        view.instances[1].up_ms = 1_000;
        assert_eq!(hand_over_to(&view, "follow:1", "a", TTL), None);
        view.instances[1].up_ms = 60_000;
        // Not when the difference is one: it would only swing back.
        view.leases[2].holder = "b".to_owned();
        assert_eq!(hand_over_to(&view, "follow:1", "a", TTL), None);
        // Not to one that does not run it.
        view.leases[2].holder = "a".to_owned();
        view.instances[1].work = vec!["incidents".to_owned()];
        assert_eq!(hand_over_to(&view, "follow:1", "a", TTL), None);
    }
}
