//! Several instances on one database: who does which work.
//!
//! On PostgreSQL several `argus run` share one database. Each chain's
//! follower (`follow:<chain id>`), the dispatcher (`dispatch`) and each
//! singleton task (`incidents`, `checks`, `cross-chain`, `registry-feed`)
//! runs in one instance at a time: the one holding its lease
//! (`argus_store::lease`). Every instance tries to take every lease; the
//! first one wins, so the work spreads over the instances as they start,
//! and a dead instance's leases move to the others once they expire: at
//! most the lease time (9 s by default) after its last renewal, plus a
//! tenth of it for the next look of a waiting instance (≤ 10 s in all).
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

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use argus_store::lease::{self, Lease};
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

    /// Records this instance in `instances` (and refreshes its `seen_at`).
    pub fn announce(&self, host: &str, started_at_ms: i64) -> Result<(), StoreError> {
        let conn = self.store.connect()?;
        lease::announce(
            &conn,
            &self.id,
            host,
            env!("CARGO_PKG_VERSION"),
            started_at_ms,
        )
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
/// and a stop signal that turns true when the term ends (lease lost, or
/// the node stopping); it should return soon after.
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
    // A waiting instance looks every tenth of the lease time, so a dead
    // holder's lease is taken at most that long after it expires.
    let step = instance.ttl / 10;
    loop {
        if *stopping.borrow() {
            return Ok(());
        }
        let acquired = {
            let instance = instance.clone();
            let name = name.clone();
            tokio::task::spawn_blocking(move || {
                let mut conn = instance.store.connect()?;
                lease::acquire(&mut conn, &name, &instance.id, instance.ttl)
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
            outcome = &mut run => Some(outcome),
            () = &mut renewer => None,
        };
        match outcome {
            Some(result) => {
                // The work ended by itself (an error, or the node stopping).
                let _ = end_term.send(true);
                release(&instance, &held).await;
                if let Ok(mut guard) = term.lock() {
                    *guard = None;
                }
                result?;
                if *stopping.borrow() {
                    return Ok(());
                }
            }
            None => {
                // Lost (or the node stopping): end the term, let the work
                // wind down briefly, drop it otherwise.
                let _ = end_term.send(true);
                if let Ok(mut guard) = term.lock() {
                    *guard = None;
                }
                let _ = tokio::time::timeout(Duration::from_secs(5), &mut run).await;
                if *stopping.borrow() {
                    release(&instance, &held).await;
                    return Ok(());
                }
                tracing::warn!(lease = %name, "lease lost: another instance runs it now");
            }
        }
    }
}

/// Renews `lease` every third of its time; returns when it is lost or the
/// node stops.
async fn renew_until_lost(
    instance: Instance,
    held: Lease,
    term: Arc<Mutex<Option<Lease>>>,
    mut stopping: watch::Receiver<bool>,
) {
    let step = instance.ttl / 3;
    let mut last_renewed = tokio::time::Instant::now();
    loop {
        tokio::select! {
            _ = stopping.wait_for(|s| *s) => return,
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
            Ok(Ok(true)) => last_renewed = tokio::time::Instant::now(),
            Ok(Ok(false)) => {
                tracing::warn!(lease = %held.name, "the lease was taken over");
                break;
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
            break;
        }
    }
    if let Ok(mut guard) = term.lock() {
        *guard = None;
    }
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
