//! Tokens, roles, TOTP, rate limits and what a failed authentication
//! leaves behind, through the router.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use argus_server::auth::totp;
use argus_server::{AuditRecord, AuditSink, AuthConfig, RateLimit, app};
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode, header};
use serde_json::{Value, json};

use crate::fixture::{
    Answer, GATED_STEP, TOTP_KEY, authorized, get, now_ms, post, prepare, send, viewer_token,
};

/// Every authenticated GET route, with a valid path.
fn read_uris(incident: i64, alert: &str) -> Vec<String> {
    vec![
        "/api/session".into(),
        "/api/registry".into(),
        "/api/registry/export".into(),
        "/api/registry/changes".into(),
        "/api/registry/Token".into(),
        "/api/alerts".into(),
        format!("/api/alerts/{alert}"),
        "/api/silences".into(),
        "/api/incidents".into(),
        format!("/api/incidents/{incident}"),
        format!("/api/incidents/{incident}/report"),
        "/api/metrics/response".into(),
        "/api/rules".into(),
        "/api/chains".into(),
        "/api/outbox".into(),
        "/api/audit".into(),
        "/api/audit/head".into(),
        "/api/events".into(),
        "/metrics".into(),
    ]
}

/// Every write route, with a body it accepts.
fn writes(incident: i64) -> Vec<(String, Value)> {
    vec![
        (
            format!("/api/incidents/{incident}/ack"),
            json!({ "reason": "on it" }),
        ),
        (
            format!("/api/incidents/{incident}/notes"),
            json!({ "text": "looking" }),
        ),
        (
            format!("/api/incidents/{incident}/steps/{GATED_STEP}/approve"),
            json!({}),
        ),
        (
            "/api/silences".into(),
            json!({ "rule": "large-transfer", "for": "1h", "reason": "noisy" }),
        ),
        ("/api/silences/1/end".into(), json!({ "reason": "done" })),
    ]
}

fn code(secret: &[u8]) -> String {
    totp::code_at(secret, u64::try_from(now_ms() / 1000).unwrap())
}

async fn get_with(app: &axum::Router, uri: &str, token: Option<&str>) -> Answer {
    let mut request = Request::get(uri);
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, token);
    }
    send(app, request.body(Body::empty()).unwrap()).await
}

#[tokio::test]
async fn every_route_but_the_public_ones_needs_a_token_and_says_nothing_more() {
    let fx = prepare();
    let app = app(fx.state.clone());
    let mut bodies = Vec::new();
    let bad_tokens = [
        None,
        Some("Bearer".to_owned()),
        Some("Basic dXNlcjpwYXNz".to_owned()),
        Some("Bearer argus_nothex".to_owned()),
        Some(format!(
            "Bearer argus_{}_{}",
            "0".repeat(12),
            "0".repeat(64)
        )),
        // The viewer's id with another secret.
        Some(format!(
            "Bearer argus_{}_{}",
            viewer_token().1,
            "0".repeat(64)
        )),
    ];
    for uri in read_uris(fx.incident, &fx.alerts[0]) {
        for token in &bad_tokens {
            let answer = get_with(&app, &uri, token.as_deref()).await;
            assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{uri} {token:?}");
            assert_eq!(answer.json["error"], "unauthorized");
            bodies.push(answer.text);
        }
        if uri == "/api/events" {
            continue; // a stream: events.rs reads it
        }
        // The viewer reads it.
        let answer = get(&app, &uri).await;
        assert_ne!(answer.status, StatusCode::UNAUTHORIZED, "{uri}");
        assert_ne!(answer.status, StatusCode::FORBIDDEN, "{uri}");
    }
    for (uri, body) in writes(fx.incident) {
        for token in &bad_tokens {
            let token = token.as_deref().and_then(|t| t.strip_prefix("Bearer "));
            let answer = post(&app, &uri, token, None, body.clone()).await;
            assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{uri}");
            bodies.push(answer.text);
        }
    }
    bodies.dedup();
    assert_eq!(bodies.len(), 1, "one body for every failure: {bodies:?}");

    for uri in [
        "/healthz",
        "/status",
        "/status.json",
        "/openapi.json",
        "/killswitch/arb-1",
    ] {
        let answer = get_with(&app, uri, None).await;
        assert_ne!(answer.status, StatusCode::UNAUTHORIZED, "{uri}");
    }
}

#[tokio::test]
async fn a_viewer_cannot_write_and_a_responder_cannot_approve() {
    let fx = prepare();
    let app = app(fx.state.clone());
    let viewer = viewer_token().0.clone();
    for (uri, body) in writes(fx.incident) {
        let answer = post(&app, &uri, Some(&viewer), None, body).await;
        assert_eq!(
            answer.status,
            StatusCode::FORBIDDEN,
            "{uri}: {}",
            answer.text
        );
        assert_eq!(answer.json["error"], "forbidden");
        let detail = answer.json["detail"].as_str().unwrap();
        assert!(
            detail.contains("responder") || detail.contains("admin"),
            "{detail}"
        );
    }
    let approve = format!("/api/incidents/{}/steps/{GATED_STEP}/approve", fx.incident);
    let answer = post(&app, &approve, Some(&fx.tokens.responder), None, json!({})).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}", answer.text);
    assert!(answer.json["detail"].as_str().unwrap().contains("admin"));
    // TOTP does not raise a role.
    let answer = post(
        &app,
        &approve,
        Some(&fx.tokens.responder_totp),
        None,
        json!({}),
    )
    .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}", answer.text);
}

#[tokio::test]
async fn the_session_says_who_the_token_is() {
    let fx = prepare();
    let app = app(fx.state.clone());
    let viewer = get(&app, "/api/session").await;
    assert_eq!(
        viewer.json,
        json!({ "name": "victor", "role": "viewer", "totp": false })
    );
    let admin = get_with(
        &app,
        "/api/session",
        Some(&format!("Bearer {}", fx.tokens.admin)),
    )
    .await;
    assert_eq!(
        admin.json,
        json!({ "name": "ada", "role": "admin", "totp": true })
    );
}

#[tokio::test]
async fn a_responder_acknowledges_notes_and_the_timeline_names_the_owner() {
    let fx = prepare();
    let app = app(fx.state.clone());
    let token = Some(fx.tokens.responder.as_str());
    let ack = format!("/api/incidents/{}/ack", fx.incident);
    let answer = post(&app, &ack, token, None, json!({ "reason": "paged" })).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let shown = get(&app, &format!("/api/incidents/{}", fx.incident)).await;
    assert_eq!(answer.json, shown.json, "the same document as GET");
    assert_eq!(
        answer.json["incident"]["state"], "acknowledged",
        "{}",
        answer.text
    );
    let timeline = answer.json["timeline"].as_array().unwrap();
    let acked = timeline
        .iter()
        .find(|e| e["action"] == "incident.acknowledge")
        .expect("an acknowledgement in the timeline");
    assert_eq!(acked["actor"], "rita");
    assert_eq!(acked["reason"], "paged");

    // Twice is a conflict, not a 500.
    let again = post(&app, &ack, token, None, json!({})).await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.text);

    let notes = format!("/api/incidents/{}/notes", fx.incident);
    let answer = post(
        &app,
        &notes,
        token,
        None,
        json!({ "text": "the bridge is paused" }),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert!(answer.text.contains("the bridge is paused"));
    let missing = post(
        &app,
        "/api/incidents/999/notes",
        token,
        None,
        json!({ "text": "x" }),
    )
    .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn bodies_are_json_small_and_strict() {
    let fx = prepare();
    let app = app(fx.state.clone());
    let notes = format!("/api/incidents/{}/notes", fx.incident);
    let token = Some(fx.tokens.responder.as_str());
    let unknown = post(
        &app,
        &notes,
        token,
        None,
        json!({ "text": "x", "txet": "y" }),
    )
    .await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    assert!(unknown.text.contains("txet"), "{}", unknown.text);
    let empty = post(&app, &notes, token, None, json!({ "text": "  " })).await;
    assert_eq!(empty.status, StatusCode::BAD_REQUEST);
    let big = post(
        &app,
        &notes,
        token,
        None,
        json!({ "text": "x".repeat(20_000) }),
    )
    .await;
    assert_eq!(big.status, StatusCode::BAD_REQUEST, "{}", big.text);
    let form = send(
        &app,
        Request::post(&notes)
            .header(
                header::AUTHORIZATION,
                format!("Bearer {}", fx.tokens.responder),
            )
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from("text=x"))
            .unwrap(),
    )
    .await;
    assert_eq!(form.status, StatusCode::BAD_REQUEST);
    assert!(form.text.contains("application/json"), "{}", form.text);
}

#[derive(Default)]
struct Collected(Mutex<Vec<AuditRecord>>);

impl AuditSink for Collected {
    fn record(&self, record: &AuditRecord) -> Result<(), String> {
        self.0.lock().unwrap().push(record.clone());
        Ok(())
    }
}

#[tokio::test]
async fn silences_are_made_and_ended_by_responders_and_audited() {
    let fx = prepare();
    let sink = Arc::new(Collected::default());
    let state = fx.state.clone().with_auth(AuthConfig {
        audit: Some(sink.clone()),
        ..AuthConfig::default()
    });
    let app = app(state);
    let token = Some(fx.tokens.responder.as_str());
    let made = post(
        &app,
        "/api/silences",
        token,
        None,
        json!({ "rule": "drain-*", "chain": 31337, "for": "2h", "reason": "a drill" }),
    )
    .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.text);
    assert_eq!(made.json["created_by"], "rita");
    let id = made.json["id"].as_i64().unwrap();
    let listed = get(&app, "/api/silences?active=true").await;
    assert!(
        listed.json["silences"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["id"] == id)
    );

    let everything = post(
        &app,
        "/api/silences",
        token,
        None,
        json!({ "rule": "*", "for": "1h", "reason": "x" }),
    )
    .await;
    assert_eq!(
        everything.status,
        StatusCode::BAD_REQUEST,
        "{}",
        everything.text
    );
    let no_reason = post(
        &app,
        "/api/silences",
        token,
        None,
        json!({ "rule": "a", "for": "1h" }),
    )
    .await;
    assert_eq!(no_reason.status, StatusCode::BAD_REQUEST);

    let ended = post(
        &app,
        &format!("/api/silences/{id}/end"),
        token,
        None,
        json!({}),
    )
    .await;
    assert_eq!(ended.status, StatusCode::OK, "{}", ended.text);
    assert_eq!(ended.json["active"], false);
    let unknown = post(&app, "/api/silences/9999/end", token, None, json!({})).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);

    let records = sink.0.lock().unwrap().clone();
    let actions: Vec<(&str, &str)> = records
        .iter()
        .map(|r| (r.actor.as_str(), r.action.as_str()))
        .collect();
    assert_eq!(actions, [("rita", "silence.add"), ("rita", "silence.end")]);
    assert_eq!(records[0].reason, "a drill");
}

#[tokio::test]
async fn approval_needs_an_admin_and_a_fresh_totp_code() {
    let fx = prepare();
    let app = app(fx.state.clone());
    let approve = format!("/api/incidents/{}/steps/{GATED_STEP}/approve", fx.incident);
    let admin = Some(fx.tokens.admin.as_str());

    let without = post(&app, &approve, admin, None, json!({})).await;
    assert_eq!(without.status, StatusCode::UNAUTHORIZED, "{}", without.text);
    assert_eq!(without.json["error"], "totp_required");
    let wrong = post(&app, &approve, admin, Some("000000"), json!({})).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.json["error"], "totp_invalid");
    // Another's secret makes another's code.
    let theirs = code(&fx.tokens.admin2_totp);
    let crossed = post(&app, &approve, admin, Some(&theirs), json!({})).await;
    assert_eq!(crossed.json["error"], "totp_invalid", "{}", crossed.text);

    let good = code(&fx.tokens.admin_totp);
    let first = post(
        &app,
        &approve,
        admin,
        Some(&good),
        json!({ "reason": "seen" }),
    )
    .await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    assert_eq!(
        first.json["approval"],
        json!({ "approvals": 1, "needed": 2, "released": false })
    );
    let approved = first.json["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "step.approve")
        .unwrap()
        .clone();
    assert_eq!(approved["actor"], "ada");

    // The same code again: refused before anything else is looked at.
    let replay = post(&app, &approve, admin, Some(&good), json!({})).await;
    assert_eq!(replay.status, StatusCode::UNAUTHORIZED, "{}", replay.text);
    assert_eq!(replay.json["error"], "totp_invalid");

    let second = post(
        &app,
        &approve,
        Some(&fx.tokens.admin2),
        Some(&code(&fx.tokens.admin2_totp)),
        json!({}),
    )
    .await;
    assert_eq!(second.status, StatusCode::OK, "{}", second.text);
    assert_eq!(second.json["approval"]["released"], true);
    let _ = TOTP_KEY;
}

/// One person, two ways in: ada approved from a shell (the CLI's actor is
/// `$USER`), then tries again with her token. The second counts nothing.
#[tokio::test]
async fn an_approval_from_the_cli_and_one_from_the_same_persons_token_count_once() {
    let fx = prepare();
    let app = app(fx.state.clone());
    let conn = fx.store.connect().unwrap();
    let by_shell = argus_incident::state::approve(
        &conn,
        fx.incident,
        GATED_STEP,
        argus_incident::state::Act {
            actor: "ada",
            reason: Some("from the shell"),
            now_ms: now_ms(),
        },
    )
    .unwrap();
    assert_eq!(by_shell.approvals, 1);
    drop(conn);

    let approve = format!("/api/incidents/{}/steps/{GATED_STEP}/approve", fx.incident);
    let again = post(
        &app,
        &approve,
        Some(&fx.tokens.admin),
        Some(&code(&fx.tokens.admin_totp)),
        json!({}),
    )
    .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.text);
    assert!(
        again.text.contains("ada approved it already"),
        "{}",
        again.text
    );

    // Another admin's approval is the second, and releases the step.
    let other = post(
        &app,
        &approve,
        Some(&fx.tokens.admin2),
        Some(&code(&fx.tokens.admin2_totp)),
        json!({}),
    )
    .await;
    assert_eq!(other.status, StatusCode::OK, "{}", other.text);
    assert_eq!(
        other.json["approval"],
        json!({ "approvals": 2, "needed": 2, "released": true })
    );
}

#[tokio::test]
async fn without_the_totp_key_a_code_cannot_be_checked() {
    let fx = prepare();
    let app = app(fx.state.clone().with_auth(AuthConfig::default()));
    let approve = format!("/api/incidents/{}/steps/{GATED_STEP}/approve", fx.incident);
    let answer = post(
        &app,
        &approve,
        Some(&fx.tokens.admin),
        Some(&code(&fx.tokens.admin_totp)),
        json!({}),
    )
    .await;
    assert_eq!(
        answer.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        answer.text
    );
    assert_eq!(answer.json["error"], "totp_unavailable");
}

#[tokio::test]
async fn a_revoked_token_is_refused_on_the_next_request() {
    let fx = prepare();
    let app = app(fx.state.clone());
    let bearer = format!("Bearer {}", fx.tokens.responder);
    assert_eq!(
        get_with(&app, "/api/session", Some(&bearer)).await.status,
        StatusCode::OK
    );
    let conn = fx.store.connect().unwrap();
    argus_server::auth::tokens::revoke(&conn, "rita", now_ms()).unwrap();
    drop(conn);
    // Verified a moment ago (cached), refused all the same.
    let answer = get_with(&app, "/api/session", Some(&bearer)).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{}", answer.text);
}

fn from(ip: [u8; 4], request: axum::http::request::Builder) -> axum::http::request::Builder {
    request.extension(ConnectInfo(SocketAddr::from((ip, 40_000))))
}

#[tokio::test]
async fn a_client_over_its_rate_gets_429_with_retry_after() {
    let fx = prepare();
    let state = fx.state.clone().with_auth(AuthConfig {
        rate_limit: RateLimit {
            per_second: 0.5,
            burst: 3.0,
        },
        ..AuthConfig::default()
    });
    let app = app(state);
    for _ in 0..3 {
        let request = from([10, 0, 0, 1], authorized(Request::get("/api/session")));
        let answer = send(&app, request.body(Body::empty()).unwrap()).await;
        assert_eq!(answer.status, StatusCode::OK);
    }
    let request = from([10, 0, 0, 1], authorized(Request::get("/api/session")));
    let response = tower::ServiceExt::oneshot(app.clone(), request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = response.headers()[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry), "{retry}");
    // Another client is not held back.
    let request = from([10, 0, 0, 2], authorized(Request::get("/api/session")));
    assert_eq!(
        send(&app, request.body(Body::empty()).unwrap())
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn failures_close_the_gate_are_counted_signalled_and_audited() {
    let fx = prepare();
    let sink = Arc::new(Collected::default());
    let (tx, mut rx) = tokio::sync::mpsc::channel(64);
    let state = fx.state.clone().with_auth(AuthConfig {
        audit: Some(sink.clone()),
        signals: Some(tx),
        ..AuthConfig::default()
    });
    let app = app(state);
    // Requests without any token are refused, not counted: no attempt.
    for _ in 0..8 {
        let request = from([10, 0, 0, 9], Request::get("/api/alerts"));
        let answer = send(&app, request.body(Body::empty()).unwrap()).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    }
    let guess = format!("Bearer argus_{}_{}", viewer_token().1, "1".repeat(64));
    for _ in 0..5 {
        let request =
            from([10, 0, 0, 9], Request::get("/api/alerts")).header(header::AUTHORIZATION, &guess);
        let answer = send(&app, request.body(Body::empty()).unwrap()).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    }
    // The sixth try, even with a good token, waits out the minute.
    let request = from([10, 0, 0, 9], authorized(Request::get("/api/alerts")));
    let answer = send(&app, request.body(Body::empty()).unwrap()).await;
    assert_eq!(
        answer.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        answer.text
    );
    assert_eq!(answer.json["error"], "rate_limited");

    let scraped = get(&app, "/metrics").await;
    assert!(
        scraped.text.contains("argus_api_auth_failures_total 5"),
        "{}",
        scraped.text
    );
    for _ in 0..5 {
        let Some(argus_sources::Sample::Signal(signal)) = rx.recv().await else {
            panic!("a signal per failure");
        };
        assert_eq!(signal.name, "authentication_failures");
        assert_eq!(signal.value, 1.0);
        assert_eq!(signal.labels["source"], "api");
        assert_eq!(signal.labels["client"], "10.0.0.9");
    }
    // The audit entries are written off the request path.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while sink.0.lock().unwrap().len() < 5 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let records = sink.0.lock().unwrap().clone();
    assert_eq!(records.len(), 5);
    for record in &records {
        assert_eq!(record.action, "auth.failure");
        assert_eq!(record.actor, "client:10.0.0.9");
        assert_eq!(record.reason, "wrong_secret");
        assert!(
            !record.details.to_string().contains("1111111111"),
            "never the token"
        );
    }
}

#[tokio::test]
async fn a_read_only_server_refuses_writes_with_what_to_do() {
    let fx = prepare();
    drop(fx.state);
    let store = argus_store::Store::open_read_only_in_dir(fx.dir.path()).unwrap();
    let app = app(argus_server::AppState::new(store, fx.dir.path()));
    let ack = format!("/api/incidents/{}/ack", fx.incident);
    let answer = post(&app, &ack, Some(&fx.tokens.responder), None, json!({})).await;
    assert_eq!(
        answer.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        answer.text
    );
    assert_eq!(answer.json["error"], "read_only");
    assert!(answer.text.contains("argus run"), "{}", answer.text);
}
