//! Audit-log throughput: durable appends (group commit, one fsync per batch;
//! and from 8 threads through the writer) against a baseline of plain
//! `write + fdatasync` of the same bytes, and verification of 1,000,000
//! entries.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::fs::OpenOptions;
use std::io::Write as _;
use std::time::{Duration, Instant};

use argus_audit::{
    AuditLog, CheckpointVerifier, Clock, GroupCommitWriter, NewEntry, RetentionClass, verify,
};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn entry(i: u64) -> NewEntry {
    NewEntry::new(RetentionClass::Security, "guardian-bot", "key.sign")
        .at("prod-1", "vault")
        .because("containment transaction")
        .reference(format!("INC-{}", i % 1000))
        .details(serde_json::json!({"key": "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "n": i}))
}

fn appends(c: &mut Criterion) {
    let mut group = c.benchmark_group("append");
    group.sample_size(10);
    for batch_size in [1_000u64, 10_000] {
        group.throughput(Throughput::Elements(batch_size));
        let dir = tempfile::tempdir().unwrap();
        let mut log = AuditLog::open(dir.path(), Clock::system()).unwrap();
        let batch: Vec<NewEntry> = (0..batch_size).map(entry).collect();
        group.bench_function(format!("batch_{batch_size}_per_fsync"), |b| {
            b.iter(|| log.append_batch(&batch).unwrap());
        });
        drop(log);
        // Baseline: the same bytes with one write + fdatasync, nothing else.
        let per_batch = vec![0u8; 230 * batch_size as usize];
        let file_path = dir.path().join("baseline");
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&file_path)
            .unwrap();
        group.bench_function(format!("baseline_write_fdatasync_{batch_size}"), |b| {
            b.iter(|| {
                file.write_all(&per_batch).unwrap();
                file.sync_data().unwrap();
            });
        });
    }
    group.finish();

    // Sixteen threads appending batches of 100 through the shared writer,
    // each waiting until its batch is durable.
    let mut group = c.benchmark_group("append_threads");
    const THREADS: u64 = 16;
    const PER_THREAD: u64 = 2_000;
    group.throughput(Throughput::Elements(THREADS * PER_THREAD));
    group.sample_size(10);
    let dir = tempfile::tempdir().unwrap();
    let writer =
        GroupCommitWriter::spawn(AuditLog::open(dir.path(), Clock::system()).unwrap()).unwrap();
    group.bench_function("16_threads_batches_of_100", |b| {
        b.iter(|| {
            std::thread::scope(|s| {
                for t in 0..THREADS {
                    let writer = &writer;
                    s.spawn(move || {
                        for i in 0..PER_THREAD / 100 {
                            let batch = (0..100)
                                .map(|j| entry(t * PER_THREAD + i * 100 + j))
                                .collect();
                            writer.append_batch(batch).unwrap();
                        }
                    });
                }
            });
        });
    });
    group.finish();
}

fn verification(c: &mut Criterion) {
    const ENTRIES: u64 = 1_000_000;
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let mut log = AuditLog::open(dir.path(), Clock::system()).unwrap();
    let batch: Vec<NewEntry> = (0..10_000).map(entry).collect();
    for _ in 0..ENTRIES / 10_000 {
        log.append_batch(&batch).unwrap();
    }
    let paths = log.paths().clone();
    drop(log);
    eprintln!(
        "wrote {ENTRIES} entries ({} MB) in {:.2?}",
        std::fs::metadata(&paths.log).unwrap().len() / 1_000_000,
        started.elapsed()
    );
    let verifier = CheckpointVerifier::load(&paths.public_key).unwrap();
    let mut group = c.benchmark_group("verify");
    group.throughput(Throughput::Elements(ENTRIES));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(15));
    group.bench_function("1M_entries", |b| {
        b.iter(|| assert_eq!(verify(&paths, &verifier).unwrap().entries, ENTRIES));
    });
    group.finish();
}

criterion_group!(benches, appends, verification);
criterion_main!(benches);
