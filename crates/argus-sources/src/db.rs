//! What the signal stage keeps in the store, in the node's transactions:
//! the samples that windowed rules read (`signal_samples`, kept for the
//! longest window so a restart refills the windows) and where each log
//! source read up to (`signal_log_positions`).

use std::collections::BTreeMap;

use argus_core::Signal;
use argus_store::sql::params;
use argus_store::{Connection, Dialect, Transaction};

use crate::LogPosition;

/// A query of the signal stage failed.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("cannot read or write the signal stage's tables: {source}")]
    Store {
        #[from]
        source: argus_store::StoreError,
    },
    #[error("cannot encode a signal's labels: {source}")]
    Labels {
        #[from]
        source: serde_json::Error,
    },
}

/// The positions of every log source, as the last commit left them.
pub fn log_positions(conn: &Connection) -> Result<BTreeMap<String, LogPosition>, DbError> {
    let mut stmt =
        conn.prepare_cached(r#"SELECT source, inode, "offset" FROM signal_log_positions"#)?;
    let rows = stmt.query_map([], |row| {
        Ok((
            row.get::<_, String>(0)?,
            row.get::<_, i64>(1)?,
            row.get::<_, i64>(2)?,
        ))
    })?;
    let mut out = BTreeMap::new();
    for row in rows {
        let (source, inode, offset) = row?;
        // Stored as the same 64 bits: an inode above i64::MAX survives.
        out.insert(
            source,
            LogPosition {
                inode: inode as u64,
                offset: u64::try_from(offset).unwrap_or(0),
            },
        );
    }
    Ok(out)
}

/// Moves a log source's position, in the transaction that stores what its
/// lines made: a crash before the commit reads those lines again.
pub fn save_log_position(
    tx: &Transaction<'_>,
    source: &str,
    position: LogPosition,
) -> Result<(), DbError> {
    tx.execute(
        r#"INSERT INTO signal_log_positions (source, inode, "offset") VALUES (?1, ?2, ?3)
         ON CONFLICT (source) DO UPDATE SET inode = excluded.inode, "offset" = excluded."offset""#,
        params![
            source,
            position.inode as i64,
            i64::try_from(position.offset).unwrap_or(i64::MAX),
        ],
    )?;
    Ok(())
}

/// Stores `samples` and forgets those older than `forget_before_ms`.
pub fn store_samples(
    tx: &Transaction<'_>,
    samples: &[&Signal],
    forget_before_ms: i64,
) -> Result<(), DbError> {
    let mut insert = tx.prepare_cached(
        "INSERT INTO signal_samples (name, value, labels, at_ms) VALUES (?1, ?2, ?3, ?4)",
    )?;
    for sample in samples {
        let labels = serde_json::to_string(&sample.labels)?;
        insert.execute(params![sample.name, sample.value, labels, sample.at_ms])?;
    }
    tx.execute(
        "DELETE FROM signal_samples WHERE at_ms < ?1",
        [forget_before_ms],
    )?;
    Ok(())
}

/// The stored samples from `since_ms` on, oldest first. A row this build
/// cannot read is skipped, not fatal: it only makes a window start a little
/// emptier.
pub fn samples_since(conn: &Connection, since_ms: i64) -> Result<Vec<Signal>, DbError> {
    let mut stmt = conn.prepare_cached(
        "SELECT name, value, labels, at_ms FROM signal_samples WHERE at_ms >= ?1 ORDER BY id",
    )?;
    let rows = stmt.query_map([since_ms], |row| {
        Ok((
            row.get::<_, String>(0)?,
            row.get::<_, f64>(1)?,
            row.get::<_, String>(2)?,
            row.get::<_, i64>(3)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (name, value, labels, at_ms) = row?;
        let Ok(labels) = serde_json::from_str(&labels) else {
            continue;
        };
        out.push(Signal {
            name,
            value,
            labels,
            at_ms,
        });
    }
    Ok(out)
}

/// The newest stored sample of each signal series (name and labels), at
/// most `cap` of them in name and labels order, and how many series were
/// left out by the cap.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LatestSamples {
    pub samples: Vec<Signal>,
    pub dropped: usize,
}

/// The newest sample of each series in the store (one grouped query; a row
/// whose labels do not read is skipped, as in [`samples_since`]).
pub fn latest_samples(conn: &Connection, cap: usize) -> Result<LatestSamples, DbError> {
    let sql = match conn.dialect() {
        // SQLite takes the bare columns of a `max()` query from the row
        // holding the maximum: each group's value is its newest sample's.
        Dialect::Sqlite => {
            "SELECT name, labels, value, max(at_ms) FROM signal_samples
             GROUP BY name, labels ORDER BY name, labels"
        }
        // PostgreSQL has no bare columns: the first row of each group in
        // newest-first order is the same sample.
        Dialect::Postgres => {
            "SELECT DISTINCT ON (name, labels) name, labels, value, at_ms FROM signal_samples
             ORDER BY name, labels, at_ms DESC, id"
        }
    };
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map([], |row| {
        Ok((
            row.get::<_, String>(0)?,
            row.get::<_, String>(1)?,
            row.get::<_, f64>(2)?,
            row.get::<_, i64>(3)?,
        ))
    })?;
    let mut out = LatestSamples::default();
    for row in rows {
        let (name, labels, value, at_ms) = row?;
        if out.samples.len() >= cap {
            out.dropped += 1;
            continue;
        }
        let Ok(labels) = serde_json::from_str(&labels) else {
            continue;
        };
        out.samples.push(Signal {
            name,
            value,
            labels,
            at_ms,
        });
    }
    Ok(out)
}

/// How a bot's report reached Argus.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubmissionVia {
    /// The bot's JSON-lines file.
    File,
    /// `POST /api/bots/{bot}/submissions`.
    Api,
}

impl SubmissionVia {
    fn as_str(self) -> &'static str {
        match self {
            Self::File => "file",
            Self::Api => "api",
        }
    }
}

/// Files `bot`'s reports (`bot_submissions`); a hash reported before keeps
/// its first row. Returns how many were new.
pub fn record_submissions(
    conn: &Connection,
    bot: &str,
    via: SubmissionVia,
    submissions: &[crate::submissions::Submission],
    now_ms: i64,
) -> Result<usize, DbError> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO bot_submissions (tx_hash, bot, sender, nonce, chain, via, received_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (tx_hash) DO NOTHING",
    )?;
    let mut new = 0;
    for submission in submissions {
        new += stmt.execute(params![
            format!("{:#x}", submission.tx_hash),
            bot,
            format!("{:#x}", submission.from),
            submission
                .nonce
                .map(|n| i64::try_from(n).unwrap_or(i64::MAX)),
            submission.chain.as_deref(),
            via.as_str(),
            now_ms,
        ])?;
    }
    Ok(new)
}

/// Which of `hashes` a bot reported (looked up by the table's key).
pub fn reported_hashes(
    conn: &Connection,
    hashes: &[alloy_primitives::B256],
) -> Result<std::collections::HashSet<alloy_primitives::B256>, DbError> {
    let mut stmt = conn.prepare_cached("SELECT 1 FROM bot_submissions WHERE tx_hash = ?1")?;
    let mut known = std::collections::HashSet::new();
    for hash in hashes {
        if stmt.exists([format!("{hash:#x}")])? {
            known.insert(*hash);
        }
    }
    Ok(known)
}

/// Forgets reports received before `before_ms` (the retention).
pub fn prune_submissions(conn: &Connection, before_ms: i64) -> Result<usize, DbError> {
    Ok(conn.execute(
        "DELETE FROM bot_submissions WHERE received_ms < ?1",
        [before_ms],
    )?)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::submissions::Submission;
    use alloy_primitives::{Address, B256};

    fn signal(name: &str, bot: &str, value: f64, at_ms: i64) -> Signal {
        Signal {
            name: name.to_owned(),
            value,
            labels: [("bot".to_owned(), bot.to_owned())].into(),
            at_ms,
        }
    }

    #[test]
    fn log_positions_are_upserted_and_keep_all_sixty_four_bits_of_the_inode() {
        let store = argus_store::testing::store().unwrap();
        let mut conn = store.connect().unwrap();
        assert!(log_positions(&conn).unwrap().is_empty());
        let first = LogPosition {
            inode: u64::MAX - 1,
            offset: 10,
        };
        let moved = LogPosition {
            inode: 7,
            offset: 250,
        };
        let tx = conn.transaction().unwrap();
        save_log_position(&tx, "/var/log/a.log", first).unwrap();
        save_log_position(&tx, "/var/log/b.log", first).unwrap();
        save_log_position(&tx, "/var/log/b.log", moved).unwrap();
        tx.commit().unwrap();
        let positions = log_positions(&conn).unwrap();
        assert_eq!(positions.len(), 2);
        assert_eq!(positions["/var/log/a.log"], first);
        assert_eq!(positions["/var/log/b.log"], moved);
    }

    #[test]
    fn samples_are_kept_from_the_horizon_and_the_newest_of_each_series_is_read() {
        let store = argus_store::testing::store().unwrap();
        let mut conn = store.connect().unwrap();
        let old = signal("memory_usage", "arb-1", 10.0, 1_000);
        let a1 = signal("memory_usage", "arb-1", 20.0, 2_000);
        let a2 = signal("memory_usage", "arb-1", 30.0, 3_000);
        let b1 = signal("memory_usage", "arb-2", 40.0, 2_500);
        let c1 = signal("network_latency", "arb-1", 0.5, 2_200);
        let tx = conn.transaction().unwrap();
        store_samples(&tx, &[&old], 0).unwrap();
        store_samples(&tx, &[&a1, &a2, &b1, &c1], 1_500).unwrap();
        tx.commit().unwrap();

        assert_eq!(
            samples_since(&conn, 0).unwrap(),
            vec![a1.clone(), a2.clone(), b1.clone(), c1.clone()],
            "the sample before the horizon is forgotten; the rest in insertion order"
        );
        assert_eq!(
            samples_since(&conn, 2_400).unwrap(),
            vec![a2.clone(), b1.clone()]
        );

        let latest = latest_samples(&conn, 10).unwrap();
        assert_eq!(latest.samples, vec![a2.clone(), b1.clone(), c1]);
        assert_eq!(latest.dropped, 0);
        let capped = latest_samples(&conn, 2).unwrap();
        assert_eq!(capped.samples, vec![a2, b1]);
        assert_eq!(capped.dropped, 1);
    }

    #[test]
    fn a_reported_hash_keeps_its_first_row_and_old_reports_are_pruned() {
        let store = argus_store::testing::store().unwrap();
        let conn = store.connect().unwrap();
        let report = |byte: u8, nonce: Option<u64>| Submission {
            tx_hash: B256::repeat_byte(byte),
            from: Address::repeat_byte(0x11),
            nonce,
            chain: nonce.map(|_| "mainnet".to_owned()),
        };
        let first = [report(1, Some(4)), report(2, None)];
        assert_eq!(
            record_submissions(&conn, "arb-1", SubmissionVia::File, &first, 1_000).unwrap(),
            2
        );
        let again = [report(2, Some(9)), report(3, None)];
        assert_eq!(
            record_submissions(&conn, "arb-1", SubmissionVia::Api, &again, 2_000).unwrap(),
            1,
            "only the new hash is filed"
        );
        let asked = [
            B256::repeat_byte(1),
            B256::repeat_byte(3),
            B256::repeat_byte(4),
        ];
        assert_eq!(
            reported_hashes(&conn, &asked).unwrap(),
            [B256::repeat_byte(1), B256::repeat_byte(3)].into()
        );
        assert_eq!(prune_submissions(&conn, 1_500).unwrap(), 2);
        assert_eq!(
            reported_hashes(&conn, &asked).unwrap(),
            [B256::repeat_byte(3)].into()
        );
    }
}
