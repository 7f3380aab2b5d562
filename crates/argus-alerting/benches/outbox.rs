//! What the outbox adds to the daemon's per-event transaction.
//!
//! Baseline: one plain INSERT of a comparable row and a commit, on the same
//! database file. Measured: `record` of one finding (lookup, silence and
//! dedup checks, alert row, one delivery) and a commit; the same rolled back
//! (the statements alone: the rest is the commit writing the pages of the
//! tables and indexes touched); and the dispatcher's bookkeeping for one
//! delivery (claim in a transaction, then mark delivered).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use alloy_primitives::B256;
use argus_alerting::{Routing, outbox, record};
use argus_core::{BlockRef, ChainId, ChainOrigin, Finding, Severity, finding_id};
use argus_store::Store;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};

fn finding(n: u64) -> Finding {
    let origin = ChainOrigin {
        chain: ChainId::LOCAL,
        block: BlockRef {
            number: n,
            hash: B256::left_padding_from(&n.to_be_bytes()),
            parent_hash: B256::ZERO,
            timestamp: 1_800_000_000,
        },
        tx_hash: Some(B256::repeat_byte(0xee)),
        log_index: Some(0),
    };
    let id = finding_id("bench.rule", Some(&origin), &[]);
    Finding {
        id,
        rule_id: "bench.rule".to_owned(),
        severity: Severity::High,
        title: "bench".to_owned(),
        dedup_key: format!("{id:#x}"),
        origin: Some(origin),
        at_ms: 1_800_000_000_000,
        fields: serde_json::json!({"address": "0x00000000000000000000000000000000000000aa", "amount": "5"}).into(),
    }
}

fn outbox_bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("argus.db"))
        .unwrap()
        .connect()
        .unwrap();
    store
        .execute_batch(
            "CREATE TABLE baseline (id TEXT PRIMARY KEY, body TEXT NOT NULL, at INTEGER NOT NULL)",
        )
        .unwrap();
    let routing = Routing::to_all(&["hook"], 600_000);
    let mut group = c.benchmark_group("outbox");
    let mut n = 0u64;
    group.bench_function("baseline: insert one row + commit", |b| {
        b.iter(|| {
            n += 1;
            let tx = store.transaction().unwrap();
            tx.execute(
                "INSERT INTO baseline (id, body, at) VALUES (?1, ?2, ?3)",
                argus_store::sql::params![format!("{n:064x}"), "{\"amount\":\"5\"}", n as i64],
            )
            .unwrap();
            tx.commit().unwrap();
        });
    });
    let mut n = 0u64;
    group.bench_function("record one finding + commit", |b| {
        b.iter(|| {
            n += 1;
            let tx = store.transaction().unwrap();
            record(&tx, &finding(n), &routing, 1_800_000_000_000).unwrap();
            tx.commit().unwrap();
        });
    });
    group.bench_function("record one finding, rolled back", |b| {
        b.iter(|| {
            n += 1;
            let tx = store.transaction().unwrap();
            record(&tx, &finding(n), &routing, 1_800_000_000_000).unwrap();
            tx.rollback().unwrap();
        });
    });
    // Each measured claim finds exactly one due delivery, recorded in an
    // untimed setup step.
    let store = std::cell::RefCell::new(store);
    group.bench_function("claim + mark delivered", |b| {
        b.iter_batched(
            || {
                n += 1;
                let mut store = store.borrow_mut();
                let tx = store.transaction().unwrap();
                record(&tx, &finding(n), &routing, 1_800_000_000_000).unwrap();
                tx.commit().unwrap();
            },
            |()| {
                let mut store = store.borrow_mut();
                let tx = store.transaction().unwrap();
                let claimed = outbox::claim_due(&tx, i64::MAX / 2, 1, 15_000).unwrap();
                tx.commit().unwrap();
                assert_eq!(claimed.len(), 1);
                for (delivery, _) in claimed {
                    outbox::mark_delivered(&store, delivery.id, 1).unwrap();
                }
            },
            BatchSize::PerIteration,
        );
    });
    group.finish();
}

criterion_group!(benches, outbox_bench);
criterion_main!(benches);
