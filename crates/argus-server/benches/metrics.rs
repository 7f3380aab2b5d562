//! What a Prometheus scrape costs over a big store, and the alert list
//! beside it for comparison.
//!
//! The store holds 100,000 alerts (recorded with `outbox::record`, 1,000
//! per transaction, over 20 rules and 5 severities, each routed to two
//! notifiers: 200,000 deliveries, half of them marked delivered), one
//! chain checkpoint and no node (`argus serve`'s case). Measured: one
//! `GET /metrics` and one `GET /api/alerts` (its default page) through the
//! router, without a socket, on a tokio runtime.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use alloy_primitives::B256;
use argus_alerting::{Routing, outbox};
use argus_core::{BlockRef, ChainId, ChainOrigin, Finding, Severity, finding_id};
use argus_server::{AppState, app};
use argus_store::Store;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use criterion::{Criterion, criterion_group, criterion_main};
use http_body_util::BodyExt as _;
use tower::ServiceExt as _;

const ALERTS: u64 = 100_000;
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
        fields: serde_json::json!({"amount": "5"}),
    }
}

fn fill(store: &Store) {
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
    conn.sqlite()
        .execute_batch(
            "UPDATE alert_deliveries SET status = 'delivered',
                 delivered_at_ms = created_at_ms + (id % 5000)
             WHERE id % 2 = 0",
        )
        .unwrap();
}

fn scrape_bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_in_dir(dir.path()).unwrap();
    fill(&store);
    let router = app(AppState::new(store, dir.path()));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let get = |uri: &'static str| {
        let router = router.clone();
        runtime.block_on(async move {
            let response = router
                .oneshot(Request::get(uri).body(Body::empty()).unwrap())
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            response
                .into_body()
                .collect()
                .await
                .unwrap()
                .to_bytes()
                .len()
        })
    };
    // The scrape sees every alert.
    let text = {
        let router = router.clone();
        runtime.block_on(async move {
            let response = router
                .oneshot(Request::get("/metrics").body(Body::empty()).unwrap())
                .await
                .unwrap();
            let bytes = response.into_body().collect().await.unwrap().to_bytes();
            String::from_utf8(bytes.to_vec()).unwrap()
        })
    };
    let total: f64 = text
        .lines()
        .filter(|l| l.starts_with("argus_alerts_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert_eq!(total, ALERTS as f64, "{text}");

    let mut group = c.benchmark_group("server, 100k alerts");
    group.sample_size(20);
    group.bench_function("GET /metrics", |b| b.iter(|| get("/metrics")));
    group.bench_function("GET /api/alerts", |b| b.iter(|| get("/api/alerts")));
    group.finish();
}

criterion_group!(benches, scrape_bench);
criterion_main!(benches);
