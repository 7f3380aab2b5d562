//! Waking dispatchers in other instances: PostgreSQL's `LISTEN`/`NOTIFY`.
//!
//! A transaction that queues a delivery calls [`outbox_changed`]; on
//! PostgreSQL that is `NOTIFY argus_outbox`, which the server delivers to
//! every listening session when (and only if) the transaction commits, once
//! however many deliveries it queued. The instance holding the dispatcher's
//! lease keeps a [`Listener`] and wakes its dispatcher on each notification,
//! so an alert recorded by another instance is sent without waiting for
//! the dispatcher's poll. On SQLite both are no-ops: the one instance wakes
//! its dispatcher itself.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use postgres::fallible_iterator::FallibleIterator as _;

use crate::{Connection, Dialect, Store, StoreError};

/// The channel of the outbox's notifications.
pub const OUTBOX_CHANNEL: &str = "argus_outbox";

/// Inside the transaction that queued a delivery: tells the other
/// instances when it commits (one notification per transaction, however
/// many deliveries it queued).
pub fn outbox_changed(conn: &Connection) -> Result<(), StoreError> {
    if conn.dialect() == Dialect::Postgres {
        conn.notify_once(OUTBOX_CHANNEL)?;
    }
    Ok(())
}

/// A session listening on the outbox's channel, on a thread of its own,
/// calling `wake` for each notification (and once after each reconnect,
/// since notifications sent while it was away are lost). Stops when
/// dropped.
#[derive(Debug)]
pub struct Listener {
    stop: Arc<AtomicBool>,
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

impl Store {
    /// Listens for the outbox's notifications (PostgreSQL); `None` on
    /// SQLite, where there is no one else to hear from.
    pub fn listen_outbox(
        &self,
        wake: impl Fn() + Send + 'static,
    ) -> Result<Option<Listener>, StoreError> {
        let Some(target) = self.postgres_target() else {
            return Ok(None);
        };
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        std::thread::Builder::new()
            .name("argus-pg-listen".to_owned())
            .spawn(move || listen(&target, &stopped, &wake))
            .map_err(|source| StoreError::Unavailable {
                detail: format!("cannot start the listener thread: {source}"),
            })?;
        Ok(Some(Listener { stop }))
    }
}

fn listen(target: &crate::pg::PgTarget, stop: &AtomicBool, wake: &dyn Fn()) {
    let mut pause = Duration::from_millis(200);
    while !stop.load(Ordering::Relaxed) {
        let mut client = match target.connect() {
            Ok(client) => client,
            Err(error) => {
                tracing::debug!("the outbox listener cannot connect: {error}");
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_secs(5));
                continue;
            }
        };
        if let Err(error) = client.batch_execute(&format!("LISTEN {OUTBOX_CHANNEL}")) {
            tracing::debug!("the outbox listener cannot listen: {error}");
            std::thread::sleep(pause);
            continue;
        }
        pause = Duration::from_millis(200);
        // Anything queued while no one listened.
        wake();
        while !stop.load(Ordering::Relaxed) {
            let heard = {
                let mut notifications = client.notifications();
                let mut waiting = notifications.timeout_iter(Duration::from_millis(500));
                waiting.next()
            };
            match heard {
                // One wake per notification: extra wakes cost one look at
                // the outbox each.
                Ok(Some(_)) => wake(),
                Ok(None) => {}
                Err(_) => break,
            }
            if client.is_closed() {
                break;
            }
        }
    }
}
