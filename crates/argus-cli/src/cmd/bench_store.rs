//! `argus bench store`: the store's throughput through the daemon's own
//! write paths, on SQLite or PostgreSQL, so the two can be compared on one
//! machine (`docs/scaling.md` does the arithmetic).
//!
//! - **blocks/s**: one transaction per block, as a chain task commits it:
//!   the chain's checkpoint and block row (`argus_chain::db::apply`), one
//!   alert recorded with its delivery (`argus_alerting::record`);
//! - **alerts/s**: 100 alerts recorded per transaction (a busy block);
//! - **deliveries/s**: the dispatcher's bookkeeping for the alerts recorded:
//!   claim up to 64, then mark each delivered, one transaction per batch.
//!
//! Every run writes under a chain id of its own, so a scratch database can
//! be measured more than once; do not point it at a production database.

use std::time::{Duration, Instant};

use alloy_primitives::B256;
use anyhow::Context as _;
use argus_alerting::{Routing, outbox, record};
use argus_core::{Block, BlockRef, ChainId, ChainOrigin, Finding, Severity, finding_id};
use argus_store::Store;
use serde::Serialize;

use crate::output;

#[derive(Debug, clap::Args)]
pub(crate) struct StoreBenchArgs {
    /// The store: `sqlite` (a new file in a scratch directory, the
    /// default) or `postgres://user@host:port/database` (a scratch
    /// database; the password from ARGUS_STORE_PASSWORD).
    #[arg(long, default_value = "sqlite")]
    store: String,
    /// Blocks committed, one transaction each.
    #[arg(long, default_value_t = 2_000)]
    blocks: u32,
    /// Alerts recorded, 100 per transaction.
    #[arg(long, default_value_t = 20_000)]
    alerts: u32,
    /// Print the figures as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Serialize)]
struct StoreFigures {
    store: String,
    blocks: u32,
    blocks_per_second: f64,
    block_commit_p50_ms: f64,
    block_commit_p99_ms: f64,
    alerts: u32,
    alerts_per_second: f64,
    deliveries: u64,
    deliveries_per_second: f64,
}

fn finding(chain: ChainId, n: u64, rule: &str) -> Finding {
    let origin = ChainOrigin {
        chain,
        block: BlockRef {
            number: n,
            hash: B256::left_padding_from(&n.to_be_bytes()),
            parent_hash: B256::ZERO,
            timestamp: 1_800_000_000,
        },
        tx_hash: Some(B256::left_padding_from(&n.to_be_bytes())),
        log_index: Some(0),
    };
    let id = finding_id(rule, Some(&origin), &[]);
    Finding {
        id,
        rule_id: rule.to_owned(),
        severity: Severity::High,
        title: "bench".to_owned(),
        dedup_key: format!("{id:#x}"),
        origin: Some(origin),
        at_ms: 1_800_000_000_000,
        fields: serde_json::json!({"address": "0x00000000000000000000000000000000000000aa", "amount": "5"}).into(),
    }
}

fn block(chain: ChainId, number: u64) -> Block {
    let hash = |n: u64| {
        let mut bytes = [0u8; 32];
        bytes[..8].copy_from_slice(&chain.0.to_be_bytes());
        bytes[24..].copy_from_slice(&n.to_be_bytes());
        B256::from(bytes)
    };
    Block {
        chain,
        header: BlockRef {
            number,
            hash: hash(number),
            parent_hash: if number == 0 {
                B256::ZERO
            } else {
                hash(number - 1)
            },
            timestamp: 1_800_000_000 + number,
        },
        base_fee_per_gas: None,
        gas_used: 0,
        gas_limit: 30_000_000,
        logs: Vec::new(),
        transactions: Vec::new(),
    }
}

fn open(store: &str) -> anyhow::Result<(Store, Option<tempfile::TempDir>)> {
    if store == "sqlite" {
        let dir = tempfile::tempdir().context("a scratch directory")?;
        return Ok((Store::open(&dir.path().join("argus.db"))?, Some(dir)));
    }
    let store =
        crate::stores::open_postgres(store, "--store", argus_node::config::STORE_PASSWORD_ENV)?;
    Ok((store, None))
}

#[allow(clippy::cast_precision_loss)]
pub(crate) fn store_bench(args: &StoreBenchArgs) -> anyhow::Result<std::process::ExitCode> {
    let (store, _scratch) = open(&args.store)?;
    let mut conn = store.connect()?;
    // A chain id of this run's own (the high bits of the clock).
    let run = u64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis()),
    )
    .unwrap_or(0);
    let chain = ChainId(1_000_000_000 + run % 1_000_000_000);
    let routing = Routing::to_all(&["hook"], 0);
    let now = argus_core::Clock::system().now_ms();
    sh_eprintln!(
        "{}: {} blocks, one transaction each…",
        store.describe(),
        args.blocks
    );
    let mut commits = Vec::with_capacity(args.blocks as usize);
    let started = Instant::now();
    for n in 0..u64::from(args.blocks) {
        let t = Instant::now();
        let tx = conn.transaction()?;
        let event = argus_chain::ChainEvent::Committed(vec![block(chain, n)]);
        argus_chain::db::apply(&tx, chain, &event, 64)?;
        record(&tx, &finding(chain, n, "bench.block"), &routing, now)?;
        tx.commit()?;
        commits.push(t.elapsed());
    }
    let blocks_elapsed = started.elapsed();
    sh_eprintln!("{} alerts, 100 per transaction…", args.alerts);
    let started = Instant::now();
    let mut n = 0u64;
    while n < u64::from(args.alerts) {
        let tx = conn.transaction()?;
        // As the daemon records a chain event's findings.
        let mut recording = outbox::Recording::new(&routing, now);
        for _ in 0..100 {
            if n >= u64::from(args.alerts) {
                break;
            }
            recording.record(&tx, &finding(chain, 1_000_000 + n, "bench.alerts"))?;
            n += 1;
        }
        tx.commit()?;
    }
    let alerts_elapsed = started.elapsed();
    sh_eprintln!("deliveries: claim 64, mark each delivered…");
    let started = Instant::now();
    let mut delivered = 0u64;
    loop {
        let tx = conn.transaction()?;
        // As the dispatcher claims: per notifier.
        let claimed = outbox::claim_due_for(&tx, "hook", now + 1, 64, 60_000)?;
        tx.commit()?;
        if claimed.is_empty() {
            break;
        }
        let tx = conn.transaction()?;
        for (delivery, _) in &claimed {
            outbox::mark_delivered(&tx, delivery.id, now + 1)?;
        }
        tx.commit()?;
        delivered += claimed.len() as u64;
    }
    let deliveries_elapsed = started.elapsed();
    commits.sort();
    let at = |q: f64| -> f64 {
        let i = ((commits.len() as f64 - 1.0) * q).round() as usize;
        commits
            .get(i)
            .copied()
            .unwrap_or(Duration::ZERO)
            .as_secs_f64()
            * 1000.0
    };
    let figures = StoreFigures {
        store: if args.store == "sqlite" {
            "sqlite".to_owned()
        } else {
            "postgres".to_owned()
        },
        blocks: args.blocks,
        blocks_per_second: f64::from(args.blocks) / blocks_elapsed.as_secs_f64().max(1e-9),
        block_commit_p50_ms: at(0.5),
        block_commit_p99_ms: at(0.99),
        alerts: args.alerts,
        alerts_per_second: f64::from(args.alerts) / alerts_elapsed.as_secs_f64().max(1e-9),
        deliveries: delivered,
        deliveries_per_second: delivered as f64 / deliveries_elapsed.as_secs_f64().max(1e-9),
    };
    if args.json {
        output::json_pretty(&figures)?;
    } else {
        sh_println!(
            "{}: {:.0} blocks/s (commit p50 {:.2} ms, p99 {:.2} ms), {:.0} alerts/s, {:.0} deliveries/s",
            figures.store,
            figures.blocks_per_second,
            figures.block_commit_p50_ms,
            figures.block_commit_p99_ms,
            figures.alerts_per_second,
            figures.deliveries_per_second
        )?;
    }
    Ok(std::process::ExitCode::SUCCESS)
}
