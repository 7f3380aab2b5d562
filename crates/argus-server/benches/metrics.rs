//! What a Prometheus scrape costs over a big store, and the alert list
//! beside it for comparison.
//!
//! The store holds 100,000 alerts (recorded with `outbox::record`, 1,000
//! per transaction, over 20 rules and 5 severities, each routed to two
//! notifiers: 200,000 deliveries, half of them marked delivered), one
//! chain checkpoint and no node (`argus serve`'s case). Measured: one
//! `GET /metrics`, and `GET /api/alerts` (its default page, a page of 50,
//! and filtered by rule and severity), through the router, without a
//! socket, on a tokio runtime. Over a socket, `scripts/bench-api` measures
//! requests per second with `wrk` against `argus serve` on the same store
//! (made by `examples/fill_store.rs`, which shares `support/fill.rs`).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use argus_server::{AppState, app};
use argus_store::Store;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use criterion::{Criterion, criterion_group, criterion_main};
use http_body_util::BodyExt as _;
use tower::ServiceExt as _;

#[path = "support/fill.rs"]
mod fill;

use fill::{ALERTS, fill};

fn scrape_bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_in_dir(dir.path()).unwrap();
    fill(&store);
    // A viewer's token, as Prometheus holds: every request checks it (the
    // row is read each time; argon2 runs once, then the verify cache).
    let bearer = {
        use argus_server::auth::tokens::{NewToken, create};
        let conn = store.connect().unwrap();
        let new = NewToken {
            name: "bench",
            role: argus_server::Role::Viewer,
            created_by: "bench",
            expires_at_ms: None,
            totp_key: None,
        };
        let made = create(&conn, new, jiff::Timestamp::now().as_millisecond()).unwrap();
        format!("Bearer {}", made.token.as_str())
    };
    let request = move |uri: &str| {
        Request::get(uri)
            .header(axum::http::header::AUTHORIZATION, bearer.as_str())
            .body(Body::empty())
            .unwrap()
    };
    let router = app(AppState::new(store, dir.path()));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let get = |uri: &'static str| {
        let router = router.clone();
        let req = request(uri);
        runtime.block_on(async move {
            let response = router.oneshot(req).await.unwrap();
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
        let req = request("/metrics");
        runtime.block_on(async move {
            let response = router.oneshot(req).await.unwrap();
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
    group.bench_function("GET /api/alerts?limit=50", |b| {
        b.iter(|| get("/api/alerts?limit=50"))
    });
    group.bench_function("GET /api/alerts?rule=bench.rule-7&min_severity=high", |b| {
        b.iter(|| get("/api/alerts?rule=bench.rule-7&min_severity=high"))
    });
    group.finish();
}

criterion_group!(benches, scrape_bench);
criterion_main!(benches);
