//! `/api/events` without a node: the stream polls the store and delivers
//! what was recorded after it opened, and nothing from before.

use std::time::Duration;

use argus_core::Severity;
use argus_incident::state::{self, Act};
use argus_server::app;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt as _;
use tower::ServiceExt as _;

use crate::fixture::{DRAIN_RULE, finding, now_ms, prepare, record};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_stream_delivers_an_alert_and_an_incident_change_recorded_after_subscribing() {
    let fx = prepare();
    let app = app(fx.state.clone());
    let response = app
        .oneshot(
            crate::fixture::authorized(Request::get("/api/events"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers().get(header::CONTENT_TYPE).unwrap(),
        "text/event-stream"
    );

    // Recorded after the stream opened: an alert that joins the incident,
    // then an operator's act on it.
    let (alert_id, joined) = record(
        &fx.store,
        &fx.policy,
        &finding(DRAIN_RULE, Severity::Critical, 9, now_ms()),
    );
    assert_eq!(joined, Some(fx.incident));
    let conn = fx.store.connect().unwrap();
    state::note(
        &conn,
        fx.incident,
        "watching the vault",
        Act {
            actor: "carol",
            reason: None,
            now_ms: now_ms(),
        },
    )
    .unwrap();

    let mut body = response.into_body();
    let mut text = String::new();
    let read = tokio::time::timeout(Duration::from_secs(20), async {
        while !(text.contains(&alert_id) && text.contains("watching the vault")) {
            let Some(frame) = body.frame().await else {
                break;
            };
            if let Ok(data) = frame.unwrap().into_data() {
                text.push_str(&String::from_utf8_lossy(&data));
            }
        }
    })
    .await;
    assert!(read.is_ok(), "the stream did not deliver in time: {text}");
    let first_alert = text
        .split("\n\n")
        .find(|event| event.starts_with("event: alert"))
        .unwrap();
    assert!(
        first_alert.contains(&alert_id),
        "the first alert sent is the new one, not one from before: {first_alert}"
    );
    for old in &fx.alerts {
        assert!(
            !text.contains(old.as_str()),
            "an alert from before the stream was sent: {text}"
        );
    }
    let note = text
        .split("\n\n")
        .find(|event| event.contains("watching the vault"))
        .unwrap();
    assert!(note.starts_with("event: incident"), "{note}");
    assert!(note.contains("\"actor\":\"carol\""), "{note}");
}
