//! `/metrics` over the prepared store: every line follows the text
//! exposition grammar, every family is there with the counts the fixture
//! recorded, label values are escaped and the signal series are capped.

use std::collections::BTreeMap;

use argus_alerting::outbox;
use argus_core::Signal;
use argus_server::{MAX_SIGNAL_SERIES, app};
use axum::http::StatusCode;

use crate::fixture::{DRAIN_RULE, NOTIFIER, TRANSFER_RULE, get, prepare};

/// One sample line: its name, labels (unescaped) and value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Sample {
    pub(crate) name: String,
    pub(crate) labels: BTreeMap<String, String>,
    pub(crate) value: f64,
}

fn is_name(s: &str, colons: bool) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || (colons && c == ':'))
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || (colons && c == ':'))
}

fn parse_value(s: &str) -> Option<f64> {
    match s {
        "+Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        other => other.parse().ok(),
    }
}

/// Parses the text format (0.0.4), panicking at the first line that does
/// not follow its grammar; checks each sample's family was declared.
pub(crate) fn parse(text: &str) -> Vec<Sample> {
    let mut declared: BTreeMap<String, String> = BTreeMap::new();
    let mut samples = Vec::new();
    for line in text.lines() {
        if let Some(comment) = line.strip_prefix('#') {
            let words: Vec<&str> = comment.trim_start().splitn(3, ' ').collect();
            match words.first() {
                Some(&"HELP") => assert!(words.len() >= 2 && is_name(words[1], true), "{line}"),
                Some(&"TYPE") => {
                    assert!(is_name(words[1], true), "{line}");
                    let kind = words.get(2).copied().unwrap_or("");
                    assert!(
                        ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                        "{line}"
                    );
                    assert!(
                        declared
                            .insert(words[1].to_owned(), kind.to_owned())
                            .is_none(),
                        "a family declared twice: {line}"
                    );
                }
                _ => {}
            }
            continue;
        }
        assert!(!line.trim().is_empty(), "an empty line in {text}");
        let name_end = line.find(['{', ' ']).unwrap_or(line.len());
        let name = &line[..name_end];
        assert!(is_name(name, true), "bad metric name: {line}");
        let mut rest = &line[name_end..];
        let mut labels = BTreeMap::new();
        if let Some(inner) = rest.strip_prefix('{') {
            let mut chars = inner.char_indices().peekable();
            loop {
                // label name
                let start = chars.peek().map(|(i, _)| *i).unwrap();
                let mut end = start;
                while let Some(&(i, c)) = chars.peek() {
                    if c == '=' {
                        end = i;
                        break;
                    }
                    chars.next();
                }
                let key = &inner[start..end];
                assert!(is_name(key, false), "bad label name `{key}`: {line}");
                assert_eq!(chars.next().map(|(_, c)| c), Some('='), "{line}");
                assert_eq!(chars.next().map(|(_, c)| c), Some('"'), "{line}");
                let mut value = String::new();
                loop {
                    match chars.next().map(|(_, c)| c) {
                        Some('\\') => match chars.next().map(|(_, c)| c) {
                            Some('\\') => value.push('\\'),
                            Some('"') => value.push('"'),
                            Some('n') => value.push('\n'),
                            other => panic!("bad escape {other:?}: {line}"),
                        },
                        Some('"') => break,
                        Some('\n') | None => panic!("unterminated label value: {line}"),
                        Some(c) => value.push(c),
                    }
                }
                assert!(
                    labels.insert(key.to_owned(), value).is_none(),
                    "a label twice: {line}"
                );
                match chars.next() {
                    Some((_, ',')) => continue,
                    Some((i, '}')) => {
                        rest = &inner[i + 1..];
                        break;
                    }
                    other => panic!("unexpected {other:?}: {line}"),
                }
            }
        }
        let value = rest.strip_prefix(' ').expect("a space before the value");
        let value = parse_value(value).unwrap_or_else(|| panic!("bad value: {line}"));
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|suffix| {
                name.strip_suffix(suffix)
                    .filter(|base| declared.get(*base).is_some_and(|k| k == "histogram"))
            })
            .unwrap_or(name);
        assert!(
            declared.contains_key(family),
            "sample before its TYPE: {line}"
        );
        samples.push(Sample {
            name: name.to_owned(),
            labels,
            value,
        });
    }
    samples
}

/// The samples of `name` whose labels include `labels`.
pub(crate) fn values(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Vec<f64> {
    samples
        .iter()
        .filter(|s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).is_some_and(|x| x == v))
        })
        .map(|s| s.value)
        .collect()
}

fn one(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    let found = values(samples, name, labels);
    assert_eq!(found.len(), 1, "{name}{labels:?}: {found:?}");
    found[0]
}

fn sum(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    values(samples, name, labels).iter().sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_over_the_fixture_have_every_family_with_the_recorded_counts() {
    let fx = prepare();
    // One delivery delivered 1.5 s after it was queued.
    let conn = fx.store.connect().unwrap();
    let pending = outbox::pending(&conn).unwrap();
    assert_eq!(pending.len(), 3, "{pending:?}");
    let first = &pending[0];
    outbox::mark_delivered(&conn, first.id, first.created_at_ms + 1_500).unwrap();
    // The second failed twice and waits for a third attempt; the third was
    // refused for good at its first.
    let second = &pending[1];
    outbox::mark_retry(&conn, second.id, second.created_at_ms + 1_000, "HTTP 502").unwrap();
    outbox::mark_retry(&conn, second.id, second.created_at_ms + 5_000, "HTTP 502").unwrap();
    outbox::mark_failed(&conn, pending[2].id, "HTTP 400").unwrap();
    drop(conn);

    let app = app(fx.state.clone());
    let answer = get(&app, "/metrics").await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert!(
        answer.content_type.starts_with("text/plain; version=0.0.4"),
        "{}",
        answer.content_type
    );
    let samples = parse(&answer.text);

    assert_eq!(
        one(&samples, "argus_build_info", &[]),
        1.0,
        "{}",
        answer.text
    );
    assert_eq!(
        one(&samples, "argus_chain_tip_block", &[("chain", "anvil")]),
        5.0
    );
    let lag = one(&samples, "argus_chain_lag_seconds", &[("chain", "anvil")]);
    assert!((0.0..600.0).contains(&lag), "{lag}");

    // Alerts: two of the drain rule (critical), one transfer (low).
    assert_eq!(sum(&samples, "argus_alerts_total", &[]), 3.0);
    assert_eq!(
        sum(
            &samples,
            "argus_alerts_total",
            &[("rule", DRAIN_RULE), ("severity", "critical")]
        ),
        2.0
    );
    assert_eq!(
        sum(
            &samples,
            "argus_alerts_total",
            &[("rule", TRANSFER_RULE), ("severity", "low")]
        ),
        1.0
    );

    // Deliveries: three to the one notifier, one of them delivered.
    let notifier = ("notifier", NOTIFIER);
    assert_eq!(sum(&samples, "argus_deliveries", &[notifier]), 3.0);
    assert_eq!(
        one(
            &samples,
            "argus_deliveries",
            &[notifier, ("status", "delivered")]
        ),
        1.0
    );
    assert_eq!(
        one(
            &samples,
            "argus_deliveries",
            &[notifier, ("status", "pending")]
        ),
        1.0
    );
    assert_eq!(
        one(
            &samples,
            "argus_deliveries",
            &[notifier, ("status", "failed")]
        ),
        1.0
    );
    // Attempts: 1 accepted + 2 failed + 1 refused; one of them a retry.
    assert_eq!(
        one(&samples, "argus_delivery_attempts_total", &[notifier]),
        4.0
    );
    assert_eq!(
        one(&samples, "argus_delivery_retries_total", &[notifier]),
        1.0
    );
    assert_eq!(
        one(&samples, "argus_delivery_failures_total", &[notifier]),
        3.0
    );
    // No node in this state: no live block counters.
    assert!(values(&samples, "argus_blocks_processed_total", &[]).is_empty());
    // The oldest still pending is the second alert's, queued 30 s ago.
    let age = one(&samples, "argus_delivery_oldest_pending_age_seconds", &[]);
    assert!((29.0..600.0).contains(&age), "{age}");
    let bucket = |le: &str| {
        one(
            &samples,
            "argus_delivery_latency_seconds_bucket",
            &[("le", le)],
        )
    };
    assert_eq!(bucket("1"), 0.0);
    assert_eq!(bucket("2.5"), 1.0);
    assert_eq!(bucket("+Inf"), 1.0);
    assert_eq!(
        one(&samples, "argus_delivery_latency_seconds_sum", &[]),
        1.5
    );
    assert_eq!(
        one(&samples, "argus_delivery_latency_seconds_count", &[]),
        1.0
    );

    // Incidents: the one P0, open; every other combination zero.
    assert_eq!(
        one(
            &samples,
            "argus_incidents",
            &[("severity", "P0"), ("state", "open")]
        ),
        1.0
    );
    assert_eq!(values(&samples, "argus_incidents", &[]).len(), 16);
    assert_eq!(sum(&samples, "argus_incidents", &[]), 1.0);
    assert_eq!(
        one(&samples, "argus_incident_time_to_detect_seconds_count", &[]),
        1.0
    );
    for figure in ["acknowledge", "contain", "resolve"] {
        let name = format!("argus_incident_time_to_{figure}_seconds_count");
        assert_eq!(one(&samples, &name, &[]), 0.0, "{name}");
    }

    // The notifier's name is a label; the RPC URL never appears.
    assert!(!answer.text.contains(crate::fixture::RPC_URL));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signal_values_are_escaped_renamed_and_capped() {
    let fx = prepare();
    let at_ms = crate::fixture::now_ms();
    let tricky = "a \"quoted\" \\ path\nnext line";
    let mut stored = vec![Signal {
        name: "memory_usage".into(),
        value: 71.5,
        labels: BTreeMap::from([
            ("bot".to_owned(), tricky.to_owned()),
            ("host.name".to_owned(), "box-1".to_owned()),
            ("name".to_owned(), "shadowed".to_owned()),
        ]),
        at_ms,
    }];
    // An older sample of the same series: only the newest is shown.
    stored.push(Signal {
        value: 12.0,
        at_ms: at_ms - 1_000,
        ..stored[0].clone()
    });
    for n in 0..MAX_SIGNAL_SERIES + 4 {
        stored.push(Signal {
            name: "zz_latency".into(),
            value: n as f64,
            labels: BTreeMap::from([("endpoint".to_owned(), format!("e{n:05}"))]),
            at_ms,
        });
    }
    let mut conn = fx.store.connect().unwrap();
    let tx = conn.transaction().unwrap();
    let refs: Vec<&Signal> = stored.iter().collect();
    argus_sources::db::store_samples(&tx, &refs, 0).unwrap();
    tx.commit().unwrap();
    drop(conn);

    let answer = get(&app(fx.state.clone()), "/metrics").await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert!(
        answer.text.contains(
            r#"argus_signal_value{name="memory_usage",bot="a \"quoted\" \\ path\nnext line",host_name="box-1",label_name="shadowed"} 71.5"#
        ),
        "{}",
        answer.text
    );
    let samples = parse(&answer.text);
    assert_eq!(
        one(
            &samples,
            "argus_signal_value",
            &[("name", "memory_usage"), ("bot", tricky)]
        ),
        71.5
    );
    // 1 + 1004 series, 1000 shown: the last five (in name, labels order) left out.
    assert_eq!(
        values(&samples, "argus_signal_value", &[]).len(),
        MAX_SIGNAL_SERIES
    );
    assert!(
        answer
            .text
            .contains("# 5 more signal series not shown (at most 1000 per scrape)"),
        "{}",
        answer.text
    );
    assert!(answer.text.contains("e00998"));
    assert!(!answer.text.contains("e00999"));
}
