//! The follower's state in a real store (SQLite, or PostgreSQL with
//! `ARGUS_TEST_POSTGRES`): events apply in order, once.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use alloy_primitives::B256;
use argus_chain::{ChainEvent, Cursor, DbError, db};
use argus_core::{Block, BlockRef, ChainId};
use argus_store::Connection;

fn chain_of(count: u64, fork: u8) -> Vec<Block> {
    let mut parent = B256::ZERO;
    (1..=count)
        .map(|number| {
            let mut hash = [fork; 32];
            hash[..8].copy_from_slice(&number.to_be_bytes());
            let header = BlockRef {
                number,
                hash: B256::from(hash),
                parent_hash: parent,
                timestamp: number * 12,
            };
            parent = header.hash;
            Block {
                chain: ChainId::LOCAL,
                header,
                base_fee_per_gas: None,
                gas_used: 0,
                gas_limit: 0,
                logs: Vec::new(),
                transactions: Vec::new(),
            }
        })
        .collect()
}

fn apply(store: &mut Connection, event: &ChainEvent, retain: u64) -> Result<(), DbError> {
    let tx = store.transaction().unwrap();
    db::apply(&tx, ChainId::LOCAL, event, retain)?;
    tx.commit().unwrap();
    Ok(())
}

#[test]
fn commits_reverts_prunes_and_refuses_replays() {
    let mut store = argus_store::testing::store().unwrap().connect().unwrap();
    assert_eq!(
        db::load_cursor(&store, ChainId::LOCAL).unwrap(),
        Cursor::new(ChainId::LOCAL)
    );
    let blocks = chain_of(30, 0xaa);
    let first = ChainEvent::Committed(blocks[..20].to_vec());
    apply(&mut store, &first, 8).unwrap();
    // The same event again is refused, not duplicated.
    assert!(matches!(
        apply(&mut store, &first, 8),
        Err(DbError::OutOfOrder { .. })
    ));
    apply(&mut store, &ChainEvent::Committed(blocks[20..].to_vec()), 8).unwrap();
    let cursor = db::load_cursor(&store, ChainId::LOCAL).unwrap();
    assert_eq!(cursor.next, Some(31));
    assert_eq!(
        cursor.recent.iter().map(|b| b.number).collect::<Vec<_>>(),
        (23..=30).collect::<Vec<_>>()
    );

    // Revert the top three; a revert of blocks we do not have is refused.
    let reverted: Vec<BlockRef> = blocks[27..].iter().rev().map(|b| b.header).collect();
    let mut in_memory = cursor.clone();
    let event = ChainEvent::Reverted(reverted);
    apply(&mut store, &event, 8).unwrap();
    in_memory.apply(&event, 8);
    let stored = db::load_cursor(&store, ChainId::LOCAL).unwrap();
    assert_eq!(
        stored, in_memory,
        "the store and the in-memory cursor agree"
    );
    assert_eq!(stored.next, Some(28));
    assert!(matches!(
        apply(&mut store, &event, 8),
        Err(DbError::OutOfOrder { .. })
    ));
    // A branch that does not extend the stored tip is refused.
    let fork = chain_of(30, 0xbb);
    assert!(matches!(
        apply(&mut store, &ChainEvent::Committed(fork[27..].to_vec()), 8),
        Err(DbError::OutOfOrder { .. })
    ));

    // A rolled-back transaction leaves nothing behind.
    {
        let tx = store.transaction().unwrap();
        db::apply(
            &tx,
            ChainId::LOCAL,
            &ChainEvent::Committed(blocks[27..].to_vec()),
            8,
        )
        .unwrap();
    }
    assert_eq!(db::load_cursor(&store, ChainId::LOCAL).unwrap(), stored);
}

#[test]
fn the_checkpointed_chains_are_listed_in_id_order() {
    let store = argus_store::testing::store().unwrap();
    let mut conn = store.connect().unwrap();
    assert!(db::checkpointed_chains(&conn).unwrap().is_empty());
    let blocks = chain_of(3, 0xaa);
    for chain in [ChainId(10), ChainId::LOCAL, ChainId(1)] {
        let tx = conn.transaction().unwrap();
        db::apply(&tx, chain, &ChainEvent::Committed(blocks.clone()), 8).unwrap();
        tx.commit().unwrap();
    }
    // Another connection of the same store sees them.
    let reader = store.connect().unwrap();
    assert_eq!(
        db::checkpointed_chains(&reader).unwrap(),
        vec![ChainId(1), ChainId(10), ChainId::LOCAL]
    );
    let tx = conn.transaction().unwrap();
    db::reset(&tx, ChainId(10)).unwrap();
    tx.commit().unwrap();
    assert_eq!(
        db::checkpointed_chains(&reader).unwrap(),
        vec![ChainId(1), ChainId::LOCAL]
    );
}
