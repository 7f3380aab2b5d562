//! The store the server benchmarks read: 100,000 alerts recorded with
//! `outbox::record`, 1,000 per transaction, over 20 rules and 5
//! severities, each routed to two notifiers (200,000 deliveries, half of
//! them marked delivered). Shared by `benches/metrics.rs` (criterion,
//! through the router) and `examples/fill_store.rs` (a data directory for
//! `argus serve` and `wrk`), so both measure the same data.

use alloy_primitives::B256;
use argus_alerting::{Routing, outbox};
use argus_core::{BlockRef, ChainId, ChainOrigin, Finding, Severity, finding_id};
use argus_store::Store;

pub(crate) const ALERTS: u64 = 100_000;
const SEVERITIES: [Severity; 5] = [
    Severity::Critical,
    Severity::High,
    Severity::Medium,
    Severity::Low,
    Severity::Info,
];

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
    let rule = format!("bench.rule-{}", n % 20);
    let id = finding_id(&rule, Some(&origin), &[]);
    Finding {
        id,
        rule_id: rule,
        severity: SEVERITIES[(n % 5) as usize],
        title: "bench".to_owned(),
        dedup_key: format!("{id:#x}"),
        origin: Some(origin),
        at_ms: 1_800_000_000_000 + n as i64,
        fields: serde_json::json!({"amount": "5"}).into(),
    }
}

pub(crate) fn fill(store: &Store) {
    let mut conn = store.connect().unwrap();
    let routing = Routing::to_all(&["hook", "pager"], 600_000);
    for batch in 0..ALERTS / 1000 {
        let tx = conn.transaction().unwrap();
        for n in batch * 1000..(batch + 1) * 1000 {
            let f = finding(n);
            outbox::record(&tx, &f, &routing, f.at_ms).unwrap();
        }
        tx.commit().unwrap();
    }
    conn.execute_batch(
        "UPDATE alert_deliveries SET status = 'delivered',
                 delivered_at_ms = created_at_ms + (id % 5000)
             WHERE id % 2 = 0",
    )
    .unwrap();
}
