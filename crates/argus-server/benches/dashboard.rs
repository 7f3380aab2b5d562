//! The dashboard's first paint, in a real browser: how soon a responder
//! sees something, and how soon the overview shows the data.
//!
//! The store holds `ARGUS_BENCH_ALERTS` alerts (10,000 by default),
//! spread over the last 24 hours (so the overview's chart and its 1,000
//! newest are all real work) over 20 rules and 5 severities. The API
//! serves it over a loopback socket (`argus_server::serve`, `argus
//! serve`'s case). Each of `ARGUS_BENCH_RUNS` runs (7 by default) starts
//! a fresh headless chromium (an empty profile: a cold cache, as a phone
//! opening the link from a page at 3 a.m.), puts a viewer's token in the tab's
//! session storage, loads `/dashboard/#/overview` and reads from the page:
//!
//! - `first-contentful-paint` (the Paint Timing entry);
//! - `overview ready`: the `argus:overview-ready` mark the overview sets
//!   once its five API reads are drawn.
//!
//! Medians (and the spread) are printed. Not criterion: a browser's
//! timings are milliseconds with a browser's noise, measured by the
//! browser itself, so each run is one sample.
//!
//! Run: `cargo bench -p argus-server --bench dashboard` (needs Debian's
//! `chromium` and `chromium-driver`).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::time::Duration;

use alloy_primitives::B256;
use argus_alerting::{Routing, outbox};
use argus_core::{BlockRef, ChainId, ChainOrigin, Finding, Severity, finding_id};
use argus_server::AppState;
use argus_store::Store;
use argus_testkit::Browser;
use serde_json::Value;

const SEVERITIES: [Severity; 5] = [
    Severity::Critical,
    Severity::High,
    Severity::Medium,
    Severity::Low,
    Severity::Info,
];

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn fill(store: &Store, alerts: u64) {
    let now = jiff::Timestamp::now().as_millisecond();
    let step = 86_000_000 / i64::try_from(alerts.max(1)).unwrap();
    let mut conn = store.connect().unwrap();
    let routing = Routing::to_all(&["hook"], 600_000);
    let tx = conn.transaction().unwrap();
    for n in 0..alerts {
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
        let at_ms = now - i64::try_from(n).unwrap() * step;
        let finding = Finding {
            id,
            rule_id: rule,
            severity: SEVERITIES[(n % 5) as usize],
            title: format!("bench alert {n}"),
            dedup_key: format!("{id:#x}"),
            origin: Some(origin),
            at_ms,
            fields: serde_json::json!({"amount": "5"}).into(),
        };
        outbox::record(&tx, &finding, &routing, at_ms).unwrap();
    }
    tx.commit().unwrap();
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        f64::midpoint(values[mid - 1], values[mid])
    }
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --all-targets` does not,
    // and starts no browser.
    if !std::env::args().any(|a| a == "--bench") {
        eprintln!(
            "dashboard first paint: run with `cargo bench -p argus-server --bench dashboard`"
        );
        return;
    }
    let alerts = env_number("ARGUS_BENCH_ALERTS", 10_000);
    let runs = env_number("ARGUS_BENCH_RUNS", 7).max(1);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_in_dir(dir.path()).unwrap();
    fill(&store, alerts);
    let token = {
        use argus_server::auth::tokens::{NewToken, create};
        let conn = store.connect().unwrap();
        let new = NewToken {
            name: "bench",
            role: argus_server::Role::Viewer,
            created_by: "bench",
            expires_at_ms: None,
            totp_key: None,
        };
        create(&conn, new, jiff::Timestamp::now().as_millisecond())
            .unwrap()
            .token
            .as_str()
            .to_owned()
    };
    let state = AppState::new(store, dir.path());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let listener = runtime
        .block_on(argus_server::bind(
            "127.0.0.1:0".parse().unwrap(),
            None,
            false,
        ))
        .unwrap();
    let base = format!("http://{}", listener.local_addr());
    let server = runtime.spawn(argus_server::serve(listener, state, async move {
        let _ = stop_rx.await;
    }));

    let mut paints = Vec::new();
    let mut ready = Vec::new();
    for run in 0..runs {
        let browser = Browser::start();
        browser.set_window_size(390, 844);
        browser.goto(&format!("{base}/healthz"));
        browser.execute(
            "sessionStorage.setItem('argus.token', arguments[0]); return true;",
            &[Value::from(token.as_str())],
        );
        browser.goto(&format!("{base}/dashboard/#/overview"));
        browser.wait_for_element("#alerts-chart svg", Duration::from_secs(60));
        let figures = argus_testkit::wait_for(
            "the paint and the overview mark",
            Duration::from_secs(30),
            || {
                let got = browser.execute(
                    "const p = performance.getEntriesByName('first-contentful-paint')[0];
                     const r = performance.getEntriesByName('argus:overview-ready')[0];
                     return p && r ? [p.startTime, r.startTime] : null;",
                    &[],
                );
                let pair = got.as_array()?;
                Some((pair.first()?.as_f64()?, pair.get(1)?.as_f64()?))
            },
        );
        eprintln!(
            "run {}: first contentful paint {:.0} ms, overview ready {:.0} ms",
            run + 1,
            figures.0,
            figures.1
        );
        paints.push(figures.0);
        ready.push(figures.1);
    }
    let spread = |v: &[f64]| {
        let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = v.iter().copied().fold(0.0, f64::max);
        format!("{lo:.0}–{hi:.0}")
    };
    let (paint_spread, ready_spread) = (spread(&paints), spread(&ready));
    println!(
        "dashboard, {alerts} alerts stored, {runs} cold loads (phone-sized window): \
         first contentful paint median {:.0} ms ({paint_spread}), overview ready median {:.0} ms ({ready_spread})",
        median(&mut paints),
        median(&mut ready),
    );
    let _ = stop_tx.send(());
    let _ = runtime.block_on(server);
}
