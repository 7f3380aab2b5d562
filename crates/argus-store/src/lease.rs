//! Leases with fencing: which instance does a piece of work (follows a
//! chain, drives a notifier's deliveries) when several share a database.
//!
//! A lease is a row: its name (`follow:1`, `dispatch:ops-webhook`), its
//! holder (an instance id), an epoch that grows by one every time the
//! holder changes, and an expiry in the database's clock (so the
//! instances' clocks do not matter). An instance takes a free or expired
//! lease ([`acquire`]), keeps it by renewing it well inside its time
//! ([`renew`]), and lets it go when it stops ([`release`]).
//!
//! Holding a lease is not enough to write: an instance paused past its
//! lease (SIGSTOP, a stalled VM, a partition) still believes it holds it
//! when it wakes. So every write transaction of a lease holder starts with
//! [`fence`], which reads the lease row inside the transaction and refuses
//! ([`StoreError::Fenced`]) unless the row still names this holder, this
//! epoch, and has not expired. Write transactions queue on the store's
//! write lock (SQLite's file lock; PostgreSQL's advisory lock), and taking
//! a lease over is itself such a transaction, so no takeover can slip in
//! between a fence and its commit: a stale holder's writes are refused by
//! the database, whatever the holder believes.

use std::time::Duration;

use crate::sql::{OptionalExtension as _, params};
use crate::{Connection, Dialect, StoreError, Transaction};

/// The default time a lease lasts without renewal: with renewals every
/// third of it and waiting instances looking every tenth, a dead holder's
/// work moves within 10 s.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(9);

/// A lease this instance holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// What it is for (`follow:1`, `dispatch:ops-webhook`).
    pub name: String,
    /// The holder: this instance's id.
    pub holder: String,
    /// The epoch it was taken at; a write with another epoch is refused.
    pub epoch: i64,
}

/// A lease as stored, for `argus status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseRow {
    pub name: String,
    pub holder: String,
    pub epoch: i64,
    /// Milliseconds until it expires (negative: expired), by the
    /// database's clock.
    pub expires_in_ms: i64,
    pub acquired_at_ms: i64,
}

/// The database's clock, in milliseconds since the Unix epoch.
fn now_sql(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Sqlite => "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)",
        Dialect::Postgres => "CAST(extract(epoch FROM clock_timestamp()) * 1000 AS BIGINT)",
    }
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// The database's clock now, in milliseconds.
pub fn db_now_ms(conn: &Connection) -> Result<i64, StoreError> {
    conn.query_row(&format!("SELECT {}", now_sql(conn.dialect())), [], |row| {
        row.get(0)
    })
}

/// Takes `name` for `holder` when it is free, already `holder`'s and live,
/// or expired; `None` otherwise. A `grace` lets the instance that should
/// run the work take it first (see `argus-node`'s leases: the others wait
/// a look each): it applies to a lease given back ([`release`]) and to
/// `holder`'s own expired lease (it was paused; the others go first), not
/// to a lease that expired in another holder's hands, so a dead holder's
/// work moves as soon as anyone looks. The epoch grows with every new
/// term: when the holder changes, and when a lease that had expired is
/// taken again, even by its last holder.
pub fn acquire(
    conn: &mut Connection,
    name: &str,
    holder: &str,
    ttl: Duration,
    grace: Duration,
) -> Result<Option<Lease>, StoreError> {
    let grace = millis(grace);
    // Most attempts find the lease held by a live instance: say so from a
    // plain read, without queueing on the write lock. A released lease is
    // marked by its renewal time equal to its expiry.
    let held_elsewhere: Option<i64> = conn
        .query_row(
            &format!(
                "SELECT 1 FROM leases WHERE name = ?1 AND holder != ?2 \
                 AND expires_at_ms + CASE WHEN renewed_at_ms >= expires_at_ms THEN ?3 ELSE 0 END > {}",
                now_sql(conn.dialect())
            ),
            params![name, holder, grace],
            |row| row.get(0),
        )
        .optional()?;
    if held_elsewhere.is_some() {
        return Ok(None);
    }
    let tx = conn.transaction()?;
    let now = db_now_ms(&tx)?;
    let current: Option<(String, i64, i64, i64)> = tx
        .query_row(
            "SELECT holder, epoch, expires_at_ms, renewed_at_ms FROM leases WHERE name = ?1",
            [name],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)),
        )
        .optional()?;
    let expires = now.saturating_add(millis(ttl));
    let epoch = match current {
        None => {
            tx.execute(
                "INSERT INTO leases (name, holder, epoch, expires_at_ms, acquired_at_ms, renewed_at_ms) \
                 VALUES (?1, ?2, 1, ?3, ?4, ?4)",
                params![name, holder, expires, now],
            )?;
            1
        }
        Some((current, epoch, expires_at, _)) if current == holder && expires_at > now => {
            tx.execute(
                "UPDATE leases SET expires_at_ms = ?2, renewed_at_ms = ?3 WHERE name = ?1",
                params![name, expires, now],
            )?;
            epoch
        }
        Some((current, epoch, expires_at, renewed_at)) => {
            let released = renewed_at >= expires_at;
            let wait = if released || current == holder {
                grace
            } else {
                0
            };
            if expires_at.saturating_add(wait) > now {
                return Ok(None);
            }
            tx.execute(
                "UPDATE leases SET holder = ?2, epoch = ?3, expires_at_ms = ?4, \
                 acquired_at_ms = ?5, renewed_at_ms = ?5 WHERE name = ?1",
                params![name, holder, epoch + 1, expires, now],
            )?;
            epoch + 1
        }
    };
    tx.commit()?;
    Ok(Some(Lease {
        name: name.to_owned(),
        holder: holder.to_owned(),
        epoch,
    }))
}

/// Extends `lease` by `ttl` from now; `false` when it was lost (another
/// holder, another epoch, or it expired before this renewal).
pub fn renew(conn: &mut Connection, lease: &Lease, ttl: Duration) -> Result<bool, StoreError> {
    let tx = conn.transaction()?;
    let now = db_now_ms(&tx)?;
    let changed = tx.execute(
        "UPDATE leases SET expires_at_ms = ?4, renewed_at_ms = ?5 \
         WHERE name = ?1 AND holder = ?2 AND epoch = ?3 AND expires_at_ms > ?5",
        params![
            lease.name,
            lease.holder,
            lease.epoch,
            now.saturating_add(millis(ttl)),
            now
        ],
    )?;
    tx.commit()?;
    Ok(changed == 1)
}

/// Gives `lease` up: it expires now (and is marked released: renewed at
/// its expiry), so another instance takes it at its next look, the
/// best-placed first (the others after their grace).
pub fn release(conn: &Connection, lease: &Lease) -> Result<(), StoreError> {
    conn.execute(
        &format!(
            "UPDATE leases SET expires_at_ms = {now}, renewed_at_ms = {now} \
             WHERE name = ?1 AND holder = ?2 AND epoch = ?3",
            now = now_sql(conn.dialect())
        ),
        params![lease.name, lease.holder, lease.epoch],
    )?;
    Ok(())
}

/// Inside a write transaction: refuses it ([`StoreError::Fenced`]) unless
/// `lease` is still held, by this holder at this epoch, and not expired.
/// Call it first in every transaction whose writes the lease guards.
pub fn fence(tx: &Transaction<'_>, lease: &Lease) -> Result<(), StoreError> {
    // One round trip: the row and the database's clock together (this runs
    // in every write transaction of a lease holder).
    let row: Option<(String, i64, i64, i64)> = tx
        .query_row(
            &format!(
                "SELECT holder, epoch, expires_at_ms, {} FROM leases WHERE name = ?1",
                now_sql(tx.dialect())
            ),
            [&lease.name],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)),
        )
        .optional()?;
    match row {
        Some((holder, epoch, expires, now)) if holder == lease.holder && epoch == lease.epoch => {
            if expires > now {
                Ok(())
            } else {
                Err(StoreError::Fenced {
                    lease: lease.name.clone(),
                    detail: format!("it expired {} ms ago", now - expires),
                })
            }
        }
        Some((holder, epoch, _, _)) => Err(StoreError::Fenced {
            lease: lease.name.clone(),
            detail: format!(
                "{holder} holds it now, at epoch {epoch} (this holder had {})",
                lease.epoch
            ),
        }),
        None => Err(StoreError::Fenced {
            lease: lease.name.clone(),
            detail: "it is not held".to_owned(),
        }),
    }
}

/// Every lease, by name.
pub fn list(conn: &Connection) -> Result<Vec<LeaseRow>, StoreError> {
    let now = db_now_ms(conn)?;
    conn.query_map(
        "SELECT name, holder, epoch, expires_at_ms, acquired_at_ms FROM leases ORDER BY name",
        [],
        |row| {
            let expires: i64 = row.get(3)?;
            Ok(LeaseRow {
                name: row.get(0)?,
                holder: row.get(1)?,
                epoch: row.get(2)?,
                expires_in_ms: expires - now,
                acquired_at_ms: row.get(4)?,
            })
        },
    )
}

/// An instance sharing the store, as it last reported itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceRow {
    pub id: String,
    pub host: String,
    pub pid: i64,
    pub version: String,
    /// Milliseconds since it last reported, by the database's clock.
    pub seen_ms_ago: i64,
    /// Milliseconds since it started, by the database's clock.
    pub up_ms: i64,
    /// The leases it runs (competes for).
    pub work: Vec<String>,
}

/// Records instance `id` in `instances`, or refreshes its `seen_at` and
/// the leases it runs (`work`). `started_at_ms` is the process's start, by
/// its own clock; a new process under the same id restarts it.
pub fn announce(
    conn: &Connection,
    id: &str,
    host: &str,
    version: &str,
    started_at_ms: i64,
    work: &[String],
) -> Result<(), StoreError> {
    let now = db_now_ms(conn)?;
    conn.execute(
        "INSERT INTO instances (id, host, pid, version, started_at_ms, seen_at_ms, work) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
         ON CONFLICT (id) DO UPDATE SET seen_at_ms = excluded.seen_at_ms, \
             work = excluded.work, pid = excluded.pid, host = excluded.host, \
             version = excluded.version, started_at_ms = excluded.started_at_ms",
        params![
            id,
            host,
            std::process::id(),
            version,
            started_at_ms,
            now,
            work.join("\n")
        ],
    )?;
    Ok(())
}

/// Every instance that has reported, by id.
pub fn instances(conn: &Connection) -> Result<Vec<InstanceRow>, StoreError> {
    let now = db_now_ms(conn)?;
    conn.query_map(
        "SELECT id, host, pid, version, seen_at_ms, started_at_ms, work FROM instances ORDER BY id",
        [],
        |row| {
            let seen: i64 = row.get(4)?;
            let started: i64 = row.get(5)?;
            let work: String = row.get(6)?;
            Ok(InstanceRow {
                id: row.get(0)?,
                host: row.get(1)?,
                pid: row.get(2)?,
                version: row.get(3)?,
                seen_ms_ago: now - seen,
                up_ms: now.saturating_sub(started),
                work: work
                    .lines()
                    .filter(|l| !l.is_empty())
                    .map(str::to_owned)
                    .collect(),
            })
        },
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn store() -> crate::Store {
        crate::testing::store().unwrap()
    }

    /// [`acquire`] with no grace.
    fn take(conn: &mut Connection, name: &str, holder: &str, ttl: Duration) -> Option<Lease> {
        acquire(conn, name, holder, ttl, Duration::ZERO).unwrap()
    }

    #[test]
    fn one_holder_at_a_time_and_the_epoch_grows_on_takeover() {
        let store = store();
        let mut conn = store.connect().unwrap();
        let a = take(&mut conn, "follow:1", "a", Duration::from_millis(300)).unwrap();
        assert_eq!(a.epoch, 1);
        assert_eq!(take(&mut conn, "follow:1", "b", DEFAULT_LEASE), None);
        // The holder takes it again without a new epoch.
        let again = take(&mut conn, "follow:1", "a", Duration::from_millis(300)).unwrap();
        assert_eq!(again.epoch, 1);
        assert!(renew(&mut conn, &a, Duration::from_millis(300)).unwrap());
        std::thread::sleep(Duration::from_millis(400));
        let b = take(&mut conn, "follow:1", "b", DEFAULT_LEASE).unwrap();
        assert_eq!(b.epoch, 2);
        assert!(!renew(&mut conn, &a, DEFAULT_LEASE).unwrap());
        let rows = list(&conn).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!((rows[0].holder.as_str(), rows[0].epoch), ("b", 2));
        assert!(rows[0].expires_in_ms > 0);
    }

    #[test]
    fn a_stale_holders_write_is_refused_and_rolled_back() {
        let store = store();
        let mut conn = store.connect().unwrap();
        let a = take(&mut conn, "follow:1", "a", Duration::from_millis(200)).unwrap();
        let tx = conn.transaction().unwrap();
        fence(&tx, &a).unwrap();
        tx.execute(
            "INSERT INTO chain_checkpoints (chain_id, next_block) VALUES (1, 1)",
            [],
        )
        .unwrap();
        tx.commit().unwrap();
        // Paused past the lease: refused even before anyone takes it over.
        std::thread::sleep(Duration::from_millis(300));
        let tx = conn.transaction().unwrap();
        let error = fence(&tx, &a).unwrap_err();
        assert!(matches!(error, StoreError::Fenced { .. }), "{error}");
        drop(tx);
        let mut other = store.connect().unwrap();
        let b = take(&mut other, "follow:1", "b", DEFAULT_LEASE).unwrap();
        let tx = conn.transaction().unwrap();
        let error = fence(&tx, &a).unwrap_err();
        assert!(error.to_string().contains("b holds it now"), "{error}");
        drop(tx);
        let tx = other.transaction().unwrap();
        fence(&tx, &b).unwrap();
        tx.execute(
            "UPDATE chain_checkpoints SET next_block = 2 WHERE chain_id = 1",
            [],
        )
        .unwrap();
        tx.commit().unwrap();
        release(&other, &b).unwrap();
        let c = take(&mut conn, "follow:1", "a", DEFAULT_LEASE).unwrap();
        assert_eq!(c.epoch, 3, "a released lease is taken at once");
    }

    #[test]
    fn a_grace_leaves_an_expired_or_released_lease_to_the_others_for_that_long() {
        let store = store();
        let mut conn = store.connect().unwrap();
        let a = take(&mut conn, "dispatch:x", "a", DEFAULT_LEASE).unwrap();
        release(&conn, &a).unwrap();
        let grace = Duration::from_millis(400);
        assert_eq!(
            acquire(&mut conn, "dispatch:x", "b", DEFAULT_LEASE, grace).unwrap(),
            None,
            "released just now: within b's grace"
        );
        std::thread::sleep(grace + Duration::from_millis(100));
        let b = acquire(&mut conn, "dispatch:x", "b", DEFAULT_LEASE, grace)
            .unwrap()
            .unwrap();
        assert_eq!(b.epoch, 2);
        // Expired in b's hands (b died): taken at once, whatever the grace,
        // except by b itself (it was paused: the others go first).
        let short = take(&mut conn, "follow:9", "b", Duration::from_millis(50)).unwrap();
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(
            acquire(&mut conn, "follow:9", "b", DEFAULT_LEASE, grace).unwrap(),
            None,
            "its own expired lease waits out b's grace"
        );
        let c = acquire(&mut conn, "follow:9", "c", DEFAULT_LEASE, grace)
            .unwrap()
            .unwrap();
        assert_eq!(c.epoch, short.epoch + 1);
    }

    #[test]
    fn an_instance_reports_the_work_it_runs() {
        let store = store();
        let conn = store.connect().unwrap();
        let work = ["follow:1".to_owned(), "dispatch:hook".to_owned()];
        announce(
            &conn,
            "a",
            "host-a",
            "1.0",
            db_now_ms(&conn).unwrap() - 5_000,
            &work,
        )
        .unwrap();
        announce(&conn, "b", "host-b", "1.0", db_now_ms(&conn).unwrap(), &[]).unwrap();
        let rows = instances(&conn).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].work, work);
        assert!(rows[0].up_ms >= 5_000, "{rows:?}");
        assert!(rows[1].work.is_empty());
        // Announcing again replaces the work.
        announce(&conn, "a", "host-a", "1.0", 0, &work[..1]).unwrap();
        assert_eq!(instances(&conn).unwrap()[0].work, work[..1]);
    }
}
