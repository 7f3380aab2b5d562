//! The follower's state in the store (tables of `0002_chain.sql`).
//!
//! [`apply`] takes the caller's open transaction on purpose: the caller
//! stores a [`ChainEvent`] here in the same transaction as the alerts it made
//! from those blocks (or the retractions of a revert), and commits once. The
//! checkpoint and the alerts then move together or not at all, which is the
//! whole exactly-once guarantee. [`apply`] also refuses an event that does not
//! continue the stored chain (applied twice, or out of order), so a wiring
//! mistake fails loudly instead of duplicating or skipping alerts.

use alloy_primitives::B256;
use argus_core::{BlockRef, ChainId};
use argus_store::sql::{OptionalExtension as _, params};
use argus_store::{Connection, Transaction};

use crate::error::DbError;
use crate::follower::{ChainEvent, Cursor};

fn to_sql(n: u64) -> Result<i64, DbError> {
    i64::try_from(n).map_err(|_| DbError::Corrupt {
        detail: format!("block number {n} does not fit the database"),
    })
}

fn from_sql(n: i64, what: &str) -> Result<u64, DbError> {
    u64::try_from(n).map_err(|_| DbError::Corrupt {
        detail: format!("negative {what} {n}"),
    })
}

fn hash_of(text: &str) -> Result<B256, DbError> {
    text.parse().map_err(|_| DbError::Corrupt {
        detail: format!(
            "`{}` is not a block hash",
            text.chars().take(70).collect::<String>()
        ),
    })
}

/// The stored cursor of `chain` ([`Cursor::new`] when there is none). The
/// stored blocks must be contiguous and linked; anything else is
/// [`DbError::Corrupt`].
pub fn load_cursor(conn: &Connection, chain: ChainId) -> Result<Cursor, DbError> {
    let chain_id = to_sql(chain.0)?;
    let next: Option<i64> = conn
        .query_row(
            "SELECT next_block FROM chain_checkpoints WHERE chain_id = ?1",
            [chain_id],
            |row| row.get(0),
        )
        .optional()?;
    let mut statement = conn.prepare_cached(
        "SELECT number, hash, parent_hash, timestamp FROM chain_blocks
         WHERE chain_id = ?1 ORDER BY number",
    )?;
    let rows = statement.query_map([chain_id], |row| {
        Ok((
            row.get::<_, i64>(0)?,
            row.get::<_, String>(1)?,
            row.get::<_, String>(2)?,
            row.get::<_, i64>(3)?,
        ))
    })?;
    let mut recent: Vec<BlockRef> = Vec::new();
    for row in rows {
        let (number, hash, parent_hash, timestamp) = row?;
        let block = BlockRef {
            number: from_sql(number, "block number")?,
            hash: hash_of(&hash)?,
            parent_hash: hash_of(&parent_hash)?,
            timestamp: from_sql(timestamp, "timestamp")?,
        };
        if let Some(previous) = recent.last()
            && (previous.number + 1 != block.number || previous.hash != block.parent_hash)
        {
            return Err(DbError::Corrupt {
                detail: format!(
                    "stored block {} does not follow block {}",
                    block.number, previous.number
                ),
            });
        }
        recent.push(block);
    }
    let next = next.map(|n| from_sql(n, "checkpoint")).transpose()?;
    if let (Some(tip), Some(next)) = (recent.last(), next)
        && tip.number + 1 != next
    {
        return Err(DbError::Corrupt {
            detail: format!(
                "checkpoint {next} does not follow the newest stored block {}",
                tip.number
            ),
        });
    }
    Ok(Cursor {
        chain,
        next,
        recent,
    })
}

/// Records `event` for `chain` inside the caller's transaction, keeping the
/// newest `retain` blocks (use `FollowerConfig::retained_blocks`).
pub fn apply(
    tx: &Transaction<'_>,
    chain: ChainId,
    event: &ChainEvent,
    retain: u64,
) -> Result<(), DbError> {
    let chain_id = to_sql(chain.0)?;
    let stored_next: Option<i64> = tx
        .query_row(
            "SELECT next_block FROM chain_checkpoints WHERE chain_id = ?1",
            [chain_id],
            |row| row.get(0),
        )
        .optional()?;
    let next = match event {
        ChainEvent::Committed(blocks) => {
            let Some(first) = blocks.first() else {
                return Ok(());
            };
            if let Some(stored) = stored_next
                && stored != to_sql(first.header.number)?
            {
                return Err(DbError::OutOfOrder {
                    detail: format!(
                        "blocks from {} committed but the checkpoint is at {stored}",
                        first.header.number
                    ),
                });
            }
            let parent: Option<String> = match first.header.number.checked_sub(1) {
                None => None,
                Some(below) => tx
                    .query_row(
                        "SELECT hash FROM chain_blocks WHERE chain_id = ?1 AND number = ?2",
                        params![chain_id, to_sql(below)?],
                        |row| row.get(0),
                    )
                    .optional()?,
            };
            if let Some(parent) = parent
                && hash_of(&parent)? != first.header.parent_hash
            {
                return Err(DbError::OutOfOrder {
                    detail: format!(
                        "block {} does not extend the stored block {}",
                        first.header.number,
                        first.header.number - 1
                    ),
                });
            }
            let mut insert = tx.prepare_cached(
                "INSERT INTO chain_blocks (chain_id, number, hash, parent_hash, timestamp)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (chain_id, number) DO UPDATE SET hash = excluded.hash,
                 parent_hash = excluded.parent_hash, timestamp = excluded.timestamp",
            )?;
            for block in blocks {
                let header = &block.header;
                insert.execute(params![
                    chain_id,
                    to_sql(header.number)?,
                    header.hash.to_string(),
                    header.parent_hash.to_string(),
                    to_sql(header.timestamp)?,
                ])?;
            }
            blocks.last().map_or(0, |b| b.header.number + 1)
        }
        ChainEvent::Reverted(refs) => {
            let Some(oldest) = refs.last() else {
                return Ok(());
            };
            let mut delete = tx.prepare_cached(
                "DELETE FROM chain_blocks WHERE chain_id = ?1 AND number = ?2 AND hash = ?3",
            )?;
            for reverted in refs {
                let removed = delete.execute(params![
                    chain_id,
                    to_sql(reverted.number)?,
                    reverted.hash.to_string()
                ])?;
                if removed != 1 {
                    return Err(DbError::OutOfOrder {
                        detail: format!(
                            "reverted block {} ({}) is not a stored block",
                            reverted.number, reverted.hash
                        ),
                    });
                }
            }
            oldest.number
        }
    };
    let next_sql = to_sql(next)?;
    // Blocks at or above the new checkpoint cannot remain (a revert removes
    // them all; a commit wrote exactly up to it).
    tx.execute(
        "DELETE FROM chain_blocks WHERE chain_id = ?1 AND number >= ?2",
        params![chain_id, next_sql],
    )?;
    tx.execute(
        "INSERT INTO chain_checkpoints (chain_id, next_block) VALUES (?1, ?2)
         ON CONFLICT (chain_id) DO UPDATE SET next_block = excluded.next_block",
        params![chain_id, next_sql],
    )?;
    tx.execute(
        "DELETE FROM chain_blocks WHERE chain_id = ?1 AND number < ?2",
        params![chain_id, next_sql.saturating_sub(to_sql(retain)?)],
    )?;
    Ok(())
}

/// Forgets the state of `chain`: the follower starts again from `start`.
pub fn reset(tx: &Transaction<'_>, chain: ChainId) -> Result<(), DbError> {
    let chain_id = to_sql(chain.0)?;
    tx.execute("DELETE FROM chain_blocks WHERE chain_id = ?1", [chain_id])?;
    tx.execute(
        "DELETE FROM chain_checkpoints WHERE chain_id = ?1",
        [chain_id],
    )?;
    Ok(())
}

/// Every chain with a checkpoint in the store, in id order: the chains a
/// daemon on this store has followed.
pub fn checkpointed_chains(conn: &Connection) -> Result<Vec<ChainId>, DbError> {
    let mut statement =
        conn.prepare_cached("SELECT chain_id FROM chain_checkpoints ORDER BY chain_id")?;
    let ids = statement.query_map([], |row| row.get::<_, i64>(0))?;
    let mut out = Vec::new();
    for id in ids {
        // A negative id names no chain (Argus never writes one); it is
        // passed over rather than refused, as the checkpoints of the
        // other chains are still worth showing.
        if let Ok(id) = u64::try_from(id?) {
            out.push(ChainId(id));
        }
    }
    Ok(out)
}
