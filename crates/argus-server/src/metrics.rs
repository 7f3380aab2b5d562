//! `GET /metrics`: Prometheus's text exposition format (0.0.4), computed at
//! scrape time from the store and the node's live figures.
//!
//! **Why not the `metrics` facade.** The figures a dashboard wants — alerts
//! by rule, deliveries by status, incidents and their response times,
//! signal values, each chain's tip — are already rows of the store, written
//! in the node's transactions. Counting them a second time in process-local
//! counters would be a second bookkeeping that can disagree with the store
//! (`argus alerts list`, the API) and that starts from zero at every
//! restart, so a restart would look like a counter reset and a burst of
//! alerts before it would vanish from `increase()`. Reading the store at
//! scrape time gives the same numbers as the CLI, survives restarts, works
//! for `argus serve` over a copied data directory, and costs a handful of
//! grouped queries per scrape (one read transaction, so the families agree
//! with each other). What is not in the store — each chain's live tip and
//! each RPC endpoint's figures — comes from the [`NodeView`] inside the
//! daemon (the tip falls back to the stored checkpoint in `argus serve`).
//!
//! Families (all `argus_…`):
//!
//! - `argus_chain_tip_block`, `argus_chain_lag_seconds` `{chain}`;
//! - `argus_rpc_*` `{chain, endpoint}` (daemon only): requests, errors by
//!   kind, latency (moving average and bucket-bound quantiles), consecutive
//!   failures, benched — the endpoint's configured name, never its URL;
//! - `argus_alerts_total{rule, severity, state}`: every alert recorded,
//!   by its state now (an alert retracted later moves from `firing` to
//!   `retracted`, so one series may step down; the sum over states only
//!   grows);
//! - `argus_blocks_processed_total`, `argus_blocks_reverted_total`
//!   `{chain}` (daemon only): blocks each chain task recorded since the
//!   node started (the store keeps only recent blocks, so this one figure
//!   is a live counter);
//! - `argus_deliveries{notifier, status}`,
//!   `argus_delivery_attempts_total`, `argus_delivery_retries_total`,
//!   `argus_delivery_failures_total` `{notifier}` (attempts, attempts after
//!   a delivery's first, attempts that failed),
//!   `argus_delivery_oldest_pending_age_seconds`,
//!   `argus_delivery_latency_seconds` (histogram);
//! - `argus_incidents{severity, state}` and
//!   `argus_incident_time_to_{detect,acknowledge,contain,resolve}_seconds`
//!   (histograms);
//! - `argus_signal_value{name, …labels}`: the newest stored sample of each
//!   signal series, at most [`MAX_SIGNAL_SERIES`] (a comment line says how
//!   many were left out);
//! - `argus_build_info{version}`.
//!
//! **Histograms, not summaries**, for the durations: the buckets are fixed,
//! so `histogram_quantile()` can aggregate them over instances and time
//! ranges, which a summary's precomputed quantiles cannot; and each one is
//! a single `sum(d <= bound)` query, where exact quantiles would need every
//! row sorted at each scrape.
//!
//! Label values come from configs and the chain, so every one is escaped
//! (`\\`, `\"`, `\n`); signal label names are made valid names.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use argus_alerting::{DeliveryStatus, Histogram, RuleAlerts, stats};
use argus_chain::EndpointStats;
use argus_core::{ChainId, Signal};
use argus_incident::IncidentSeverity;
use argus_incident::IncidentState;
use argus_incident::metrics::IncidentCount;
use argus_node::BlockCounts;
use argus_sources::db::LatestSamples;
use axum::extract::{RawQuery, State};
use axum::http::header;
use axum::response::IntoResponse;

use crate::error::AppError;
use crate::health::{ChainLag, chain_lags};
use crate::params::Params;
use crate::state::AppState;

/// The content type of the text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
/// At most this many `argus_signal_value` series per scrape.
pub const MAX_SIGNAL_SERIES: usize = 1000;
/// Buckets (ms) of the delivery latency: a webhook answers in well under a
/// second, a retried one in minutes.
const DELIVERY_BUCKETS_MS: [i64; 12] = [
    100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000, 60_000, 300_000, 900_000, 3_600_000,
];
/// Buckets (ms) of the incident response times: seconds to a week.
const RESPONSE_BUCKETS_MS: [i64; 13] = [
    10_000,
    30_000,
    60_000,
    300_000,
    900_000,
    1_800_000,
    3_600_000,
    7_200_000,
    14_400_000,
    43_200_000,
    86_400_000,
    259_200_000,
    604_800_000,
];
const FIGURES: [(&str, &str); 4] = [
    (
        "detect",
        "first malicious block's time to the first alert recorded",
    ),
    ("acknowledge", "incident opened to acknowledged"),
    ("contain", "incident opened to contained"),
    ("resolve", "incident opened to resolved"),
];

/// What one scrape reads from the store, in one read transaction.
struct Stored {
    alerts: Vec<RuleAlerts>,
    deliveries: Vec<argus_alerting::NotifierDeliveries>,
    oldest_pending_ms: Option<i64>,
    delivery_latency: Histogram,
    incidents: Vec<IncidentCount>,
    figures: [Histogram; 4],
    signals: LatestSamples,
}

/// `GET /metrics`.
pub(crate) async fn scrape(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<impl IntoResponse, AppError> {
    Params::parse(query.as_deref(), &[])?;
    let lags = chain_lags(&state).await?;
    let endpoints = state.node().map(argus_node::NodeView::endpoint_stats);
    let blocks = state.node().map(argus_node::NodeView::block_counts);
    let stored = state
        .read(|conn| {
            // One snapshot: the families of a scrape agree with each other.
            let conn = &*conn.read_snapshot()?;
            let stored = Stored {
                alerts: stats::alerts_by_rule(conn)?,
                deliveries: stats::deliveries_by_notifier(conn)?,
                oldest_pending_ms: stats::oldest_pending_at_ms(conn)?,
                delivery_latency: stats::delivery_latency(conn, &DELIVERY_BUCKETS_MS)?,
                incidents: argus_incident::metrics::incident_counts(conn)?,
                figures: argus_incident::metrics::figure_histograms(conn, &RESPONSE_BUCKETS_MS)?,
                signals: argus_sources::db::latest_samples(conn, MAX_SIGNAL_SERIES)?,
            };
            Ok(stored)
        })
        .await?;
    let live = Live {
        endpoints: endpoints.as_ref(),
        blocks: blocks.as_ref(),
    };
    let mut text = render(&lags, &live, &stored, state.now_ms());
    render_auth_failures(&mut text, state.auth().failures());
    Ok(([(header::CONTENT_TYPE, CONTENT_TYPE)], text))
}

/// What the node holds in memory (none in `argus serve`).
struct Live<'a> {
    endpoints: Option<&'a BTreeMap<ChainId, Vec<EndpointStats>>>,
    blocks: Option<&'a BTreeMap<ChainId, BlockCounts>>,
}

fn render(lags: &[ChainLag], live: &Live<'_>, stored: &Stored, now_ms: i64) -> String {
    let mut out = Exposition::default();
    out.family(
        "argus_build_info",
        "gauge",
        "The running Argus's version (always 1).",
    );
    out.sample(
        "argus_build_info",
        &[("version", env!("CARGO_PKG_VERSION"))],
        1.0,
    );

    out.family(
        "argus_chain_tip_block",
        "gauge",
        "Number of the newest block the monitor finished, per chain.",
    );
    for lag in lags {
        if let Some(tip) = &lag.tip {
            out.sample(
                "argus_chain_tip_block",
                &[("chain", &lag.chain)],
                tip.number as f64,
            );
        }
    }
    out.family(
        "argus_chain_lag_seconds",
        "gauge",
        "Age of the newest finished block (its timestamp against the clock), per chain.",
    );
    for lag in lags {
        if let Some(ms) = lag.lag_ms {
            out.sample(
                "argus_chain_lag_seconds",
                &[("chain", &lag.chain)],
                ms as f64 / 1000.0,
            );
        }
    }
    if let Some(blocks) = live.blocks {
        render_blocks(&mut out, blocks);
    }
    if let Some(endpoints) = live.endpoints {
        render_endpoints(&mut out, endpoints);
    }
    render_alerting(&mut out, stored, now_ms);
    render_incidents(&mut out, stored);
    render_signals(&mut out, &stored.signals);
    out.text
}

fn render_blocks(out: &mut Exposition, blocks: &BTreeMap<ChainId, BlockCounts>) {
    out.family(
        "argus_blocks_processed_total",
        "counter",
        "Blocks evaluated and recorded since the node started, per chain.",
    );
    for (chain, counts) in blocks {
        let chain = chain.name();
        out.sample(
            "argus_blocks_processed_total",
            &[("chain", &chain)],
            counts.committed as f64,
        );
    }
    out.family(
        "argus_blocks_reverted_total",
        "counter",
        "Blocks unwound by reorgs since the node started, per chain.",
    );
    for (chain, counts) in blocks {
        let chain = chain.name();
        out.sample(
            "argus_blocks_reverted_total",
            &[("chain", &chain)],
            counts.reverted as f64,
        );
    }
}

/// The API's failed authentications since the server started (a process
/// counter: under `argus serve` nothing else records them).
fn render_auth_failures(text: &mut String, failures: u64) {
    let mut out = Exposition {
        text: std::mem::take(text),
    };
    out.family(
        "argus_api_auth_failures_total",
        "counter",
        "Failed authentications of the HTTP API since the server started.",
    );
    out.sample("argus_api_auth_failures_total", &[], failures as f64);
    *text = out.text;
}

fn render_endpoints(out: &mut Exposition, endpoints: &BTreeMap<ChainId, Vec<EndpointStats>>) {
    let all = || {
        endpoints.iter().flat_map(|(chain, list)| {
            let chain = chain.name();
            list.iter().map(move |e| (chain.clone(), e))
        })
    };
    out.family(
        "argus_rpc_requests_total",
        "counter",
        "Requests sent to an RPC endpoint since the node started.",
    );
    for (chain, e) in all() {
        let labels = [("chain", chain.as_str()), ("endpoint", e.name.as_str())];
        out.sample("argus_rpc_requests_total", &labels, e.requests as f64);
    }
    out.family(
        "argus_rpc_errors_total",
        "counter",
        "Failed requests to an RPC endpoint since the node started, by kind.",
    );
    for (chain, e) in all() {
        for (kind, count) in [
            ("timeout", e.errors.timeout),
            ("connection", e.errors.connection),
            ("http_status", e.errors.http_status),
            ("malformed", e.errors.malformed),
            ("rpc", e.errors.rpc),
        ] {
            let labels = [
                ("chain", chain.as_str()),
                ("endpoint", e.name.as_str()),
                ("kind", kind),
            ];
            out.sample("argus_rpc_errors_total", &labels, count as f64);
        }
    }
    out.family(
        "argus_rpc_latency_ewma_seconds",
        "gauge",
        "Moving average of an RPC endpoint's answer time.",
    );
    for (chain, e) in all() {
        if let Some(ms) = e.latency_ewma_ms {
            let labels = [("chain", chain.as_str()), ("endpoint", e.name.as_str())];
            out.sample("argus_rpc_latency_ewma_seconds", &labels, ms / 1000.0);
        }
    }
    out.family(
        "argus_rpc_latency_quantile_seconds",
        "gauge",
        "Upper bound of the latency bucket holding the quantile, per RPC endpoint.",
    );
    for (chain, e) in all() {
        for (quantile, ms) in [("0.5", e.latency_p50_ms), ("0.99", e.latency_p99_ms)] {
            if let Some(ms) = ms {
                let labels = [
                    ("chain", chain.as_str()),
                    ("endpoint", e.name.as_str()),
                    ("quantile", quantile),
                ];
                out.sample("argus_rpc_latency_quantile_seconds", &labels, ms / 1000.0);
            }
        }
    }
    out.family(
        "argus_rpc_consecutive_failures",
        "gauge",
        "Failures in a row of an RPC endpoint.",
    );
    for (chain, e) in all() {
        let labels = [("chain", chain.as_str()), ("endpoint", e.name.as_str())];
        out.sample(
            "argus_rpc_consecutive_failures",
            &labels,
            f64::from(e.consecutive_failures),
        );
    }
    out.family(
        "argus_rpc_benched",
        "gauge",
        "1 while an RPC endpoint is benched (skipped after failures), else 0.",
    );
    for (chain, e) in all() {
        let labels = [("chain", chain.as_str()), ("endpoint", e.name.as_str())];
        let benched = e.benched_for_ms.is_some_and(|ms| ms > 0);
        out.sample("argus_rpc_benched", &labels, f64::from(u8::from(benched)));
    }
}

fn render_alerting(out: &mut Exposition, stored: &Stored, now_ms: i64) {
    out.family(
        "argus_alerts_total",
        "counter",
        "Alerts recorded, by rule, severity and their state now.",
    );
    for a in &stored.alerts {
        let labels = [
            ("rule", a.rule_id.as_str()),
            ("severity", a.severity.as_str()),
            ("state", a.state.as_str()),
        ];
        out.sample("argus_alerts_total", &labels, a.count as f64);
    }
    out.family(
        "argus_deliveries",
        "gauge",
        "Deliveries in the outbox, by notifier and status.",
    );
    for n in &stored.deliveries {
        for status in [
            DeliveryStatus::Pending,
            DeliveryStatus::Delivered,
            DeliveryStatus::Cancelled,
            DeliveryStatus::Failed,
            DeliveryStatus::Digested,
        ] {
            let labels = [
                ("notifier", n.notifier.as_str()),
                ("status", status.as_str()),
            ];
            out.sample("argus_deliveries", &labels, n.counts.of(status) as f64);
        }
    }
    for (name, help, figure) in [
        (
            "argus_delivery_attempts_total",
            "Delivery attempts made, by notifier.",
            (|n: &argus_alerting::NotifierDeliveries| n.attempts) as fn(&_) -> u64,
        ),
        (
            "argus_delivery_retries_total",
            "Delivery attempts after a delivery's first (retries), by notifier.",
            |n| n.retries,
        ),
        (
            "argus_delivery_failures_total",
            "Delivery attempts that failed (retried or given up), by notifier.",
            |n| n.failed_attempts,
        ),
    ] {
        out.family(name, "counter", help);
        for n in &stored.deliveries {
            out.sample(name, &[("notifier", n.notifier.as_str())], figure(n) as f64);
        }
    }
    out.family(
        "argus_delivery_oldest_pending_age_seconds",
        "gauge",
        "How long the oldest pending delivery has waited (0 when none waits).",
    );
    let age_ms = stored
        .oldest_pending_ms
        .map_or(0, |at| now_ms.saturating_sub(at).max(0));
    out.sample(
        "argus_delivery_oldest_pending_age_seconds",
        &[],
        age_ms as f64 / 1000.0,
    );
    out.histogram(
        "argus_delivery_latency_seconds",
        "Queued to accepted, of delivered deliveries.",
        &[],
        &stored.delivery_latency,
    );
}

fn render_incidents(out: &mut Exposition, stored: &Stored) {
    out.family(
        "argus_incidents",
        "gauge",
        "Incidents by severity and state (every combination, zeros included).",
    );
    for severity in IncidentSeverity::ALL {
        for state in [
            IncidentState::Open,
            IncidentState::Acknowledged,
            IncidentState::Contained,
            IncidentState::Resolved,
        ] {
            let count: u64 = stored
                .incidents
                .iter()
                .filter(|c| c.severity == severity && c.state == state)
                .map(|c| c.count)
                .sum();
            let labels = [("severity", severity.as_str()), ("state", state.as_str())];
            out.sample("argus_incidents", &labels, count as f64);
        }
    }
    for ((figure, help), histogram) in FIGURES.iter().zip(&stored.figures) {
        out.histogram(
            &format!("argus_incident_time_to_{figure}_seconds"),
            &format!("Time to {figure}: {help}, over the incidents that reached it."),
            &[],
            histogram,
        );
    }
}

fn render_signals(out: &mut Exposition, signals: &LatestSamples) {
    out.family(
        "argus_signal_value",
        "gauge",
        "The newest stored sample of each signal series (name and labels).",
    );
    if signals.dropped > 0 {
        let _ = writeln!(
            out.text,
            "# {} more signal series not shown (at most {MAX_SIGNAL_SERIES} per scrape)",
            signals.dropped
        );
    }
    for Signal {
        name,
        value,
        labels,
        ..
    } in &signals.samples
    {
        let mut names: Vec<(String, &str)> = vec![("name".to_owned(), name.as_str())];
        for (key, value) in labels {
            let key = label_name(key);
            if names.iter().all(|(taken, _)| *taken != key) {
                names.push((key, value.as_str()));
            }
        }
        let labels: Vec<(&str, &str)> = names.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        out.sample("argus_signal_value", &labels, *value);
    }
}

/// A valid label name for a signal's label key: invalid characters become
/// `_`, a leading digit or `__` (reserved) gets a `label_` prefix, and
/// `name` (the signal's own) becomes `label_name`.
fn label_name(key: &str) -> String {
    let mut name: String = key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if name.is_empty()
        || name.starts_with(|c: char| c.is_ascii_digit())
        || name.starts_with("__")
        || name == "name"
    {
        name.insert_str(0, "label_");
    }
    name
}

/// `value` as a label value: backslash, double quote and line feed escaped.
pub(crate) fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            other => out.push(other),
        }
    }
    out
}

fn number(value: f64) -> String {
    if value.is_nan() {
        "NaN".to_owned()
    } else if value.is_infinite() {
        if value > 0.0 { "+Inf" } else { "-Inf" }.to_owned()
    } else {
        format!("{value}")
    }
}

/// The text being written.
#[derive(Default)]
struct Exposition {
    text: String,
}

impl Exposition {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.text, "# HELP {name} {help}");
        let _ = writeln!(self.text, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.text.push_str(name);
        if !labels.is_empty() {
            self.text.push('{');
            for (index, (key, value)) in labels.iter().enumerate() {
                if index > 0 {
                    self.text.push(',');
                }
                let _ = write!(self.text, "{key}=\"{}\"", escape(value));
            }
            self.text.push('}');
        }
        let _ = writeln!(self.text, " {}", number(value));
    }

    fn histogram(&mut self, name: &str, help: &str, labels: &[(&str, &str)], h: &Histogram) {
        self.family(name, "histogram", help);
        let bucket = format!("{name}_bucket");
        for (bound, count) in h.bounds_ms.iter().zip(&h.cumulative) {
            let le = number(*bound as f64 / 1000.0);
            let mut with_le = labels.to_vec();
            with_le.push(("le", &le));
            self.sample(&bucket, &with_le, *count as f64);
        }
        let mut with_le = labels.to_vec();
        with_le.push(("le", "+Inf"));
        self.sample(&bucket, &with_le, h.count as f64);
        self.sample(&format!("{name}_sum"), labels, h.sum_ms as f64 / 1000.0);
        self.sample(&format!("{name}_count"), labels, h.count as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
        assert_eq!(escape("plain"), "plain");
    }

    #[test]
    fn signal_label_keys_become_valid_names() {
        assert_eq!(label_name("bot"), "bot");
        assert_eq!(label_name("host.name"), "host_name");
        assert_eq!(label_name("1st"), "label_1st");
        assert_eq!(label_name("__x"), "label___x");
        assert_eq!(label_name("name"), "label_name");
        assert_eq!(label_name(""), "label_");
    }

    #[test]
    fn numbers_use_the_formats_spelling() {
        assert_eq!(number(f64::INFINITY), "+Inf");
        assert_eq!(number(f64::NEG_INFINITY), "-Inf");
        assert_eq!(number(f64::NAN), "NaN");
        assert_eq!(number(0.25), "0.25");
        assert_eq!(number(5.0), "5");
    }
}
