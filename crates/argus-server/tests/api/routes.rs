//! Every route answers with the content it should; bad parameters are 400
//! and unknown ids 404, both JSON `{error, detail}`.

use argus_server::{AppState, app};
use axum::http::StatusCode;
use serde_json::Value;

use crate::fixture::{self, DRAIN_RULE, NOTIFIER, TRANSFER_RULE, get, ok, prepare};

/// The documented routes with their path parameters filled from the
/// fixture.
fn fill(path: &str, fx: &fixture::Fixture) -> String {
    path.replace("{target}", "Token")
        .replace("/api/alerts/{id}", &format!("/api/alerts/{}", fx.alerts[0]))
        .replace("/api/silences/{id}", "/api/silences/1")
        .replace("{step}", fixture::GATED_STEP)
        .replace("{bot}", "arb")
        .replace("{id}", &fx.incident.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_route_answers_with_and_without_its_example_parameters() {
    let fx = prepare();
    let app = app(fx.state.clone());
    let doc = ok(&app, "/openapi.json").await;
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.len() >= 22, "{} paths", paths.len());
    let mut posted = 0;
    for (path, item) in paths {
        if let Some(post) = item.get("post") {
            // Posted as an admin (with a fresh TOTP code where needed): the
            // documented example body and status.
            let uri = fill(path, &fx);
            let status = post["responses"]
                .as_object()
                .unwrap()
                .keys()
                .find(|k| k.starts_with('2'))
                .unwrap()
                .clone();
            let totp = (post["x-argus-totp"] == true).then(|| {
                argus_server::auth::totp::code_at(
                    &fx.tokens.admin_totp,
                    u64::try_from(fixture::now_ms() / 1000).unwrap(),
                )
            });
            let example = post["requestBody"]["content"]["application/json"]["example"].clone();
            let answer =
                fixture::post(&app, &uri, Some(&fx.tokens.admin), totp.as_deref(), example).await;
            assert_eq!(
                answer.status.as_str(),
                status,
                "POST {uri}: {}",
                answer.text
            );
            assert_eq!(post["security"][0]["bearer"], serde_json::json!([]));
            posted += 1;
        }
        if item.get("get").is_none() || path == "/api/events" {
            continue; // a stream: see the events module
        }
        let uri = fill(path, &fx);
        let plain = get(&app, &uri).await;
        assert_eq!(plain.status, StatusCode::OK, "{uri}: {}", plain.text);
        let query: Vec<String> = item["get"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["in"] == "query")
            .map(|p| {
                format!(
                    "{}={}",
                    p["name"].as_str().unwrap(),
                    p["example"].as_str().unwrap()
                )
            })
            .collect();
        if query.is_empty() {
            continue;
        }
        let uri = format!("{uri}?{}", query.join("&"));
        let full = get(&app, &uri).await;
        assert_eq!(full.status, StatusCode::OK, "{uri}: {}", full.text);
    }
    assert_eq!(posted, 6, "every write route is documented");
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_registry_routes_show_the_imported_project() {
    let fx = prepare();
    let app = app(fx.state.clone());
    let list = ok(&app, "/api/registry?chain=anvil").await;
    let contracts = list["contracts"].as_array().unwrap();
    let token = contracts.iter().find(|c| c["label"] == "Token").unwrap();
    assert_eq!(token["address"], fx.token.to_checksum(None));
    assert_eq!(token["chain"], "anvil");
    assert!(contracts.iter().all(|c| c["chain_id"] == 31337));
    assert!(
        ok(&app, "/api/registry?chain=mainnet").await["contracts"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    let show = ok(&app, &format!("/api/registry/{}", fx.token)).await;
    assert_eq!(show["label"], "Token");
    let functions = show["functions"].as_array().unwrap();
    assert!(
        functions
            .iter()
            .any(|f| f["signature"] == "transfer(address,uint256)"),
        "{functions:?}"
    );
    assert!(
        show["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["signature"] == "Transfer(address,address,uint256)")
    );
    assert_eq!(show["versions"].as_array().unwrap().len(), 1);

    let export = ok(&app, "/api/registry/export").await;
    assert_eq!(
        export["contracts"].as_array().unwrap().len(),
        contracts.len()
            + ok(&app, "/api/registry").await["contracts"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|c| c["chain"].is_null())
                .count()
    );

    let changes = ok(&app, "/api/registry/changes?after=0").await;
    let rows = changes["changes"].as_array().unwrap();
    assert!(!rows.is_empty());
    assert!(rows.iter().all(|c| c["kind"] == "added"));
    let next = changes["next_after"].as_i64().unwrap();
    assert_eq!(next, rows.last().unwrap()["id"].as_i64().unwrap());
    let after = ok(&app, &format!("/api/registry/changes?after={next}")).await;
    assert!(after["changes"].as_array().unwrap().is_empty());
    assert_eq!(after["next_after"], next);
    let one = ok(&app, "/api/registry/changes?after=0&limit=1").await;
    assert_eq!(one["changes"].as_array().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_alert_routes_filter_and_show_deliveries() {
    let fx = prepare();
    let app = app(fx.state.clone());
    let all = ok(&app, "/api/alerts").await;
    let ids: Vec<&str> = all["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    let newest_first: Vec<&str> = fx.alerts.iter().rev().map(String::as_str).collect();
    assert_eq!(ids, newest_first);

    let critical = ok(&app, "/api/alerts?min_severity=critical").await;
    assert_eq!(critical["alerts"].as_array().unwrap().len(), 2);
    let by_rule = ok(&app, &format!("/api/alerts?rule={TRANSFER_RULE}")).await;
    assert_eq!(by_rule["alerts"][0]["id"], fx.alerts[2].as_str());
    assert_eq!(
        ok(&app, "/api/alerts?limit=1").await["alerts"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert!(
        ok(&app, "/api/alerts?state=retracted").await["alerts"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        ok(&app, "/api/alerts?since=5m").await["alerts"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    assert!(
        ok(&app, "/api/alerts?since=2000-01-01T00:00:00Z&rule=none").await["alerts"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    let shown = ok(
        &app,
        &format!(
            "/api/alerts/{}",
            fx.alerts[0].to_uppercase().replace("0X", "0x")
        ),
    )
    .await;
    assert_eq!(shown["alert"]["rule_id"], DRAIN_RULE);
    let deliveries = shown["deliveries"].as_array().unwrap();
    assert_eq!(deliveries.len(), 1);
    assert_eq!(deliveries[0]["notifier"], NOTIFIER);
    assert_eq!(deliveries[0]["status"], "pending");

    let silences = ok(&app, "/api/silences?active=true").await;
    let silences = silences["silences"].as_array().unwrap();
    assert_eq!(silences.len(), 1);
    assert_eq!(silences[0]["active"], true);
    assert_eq!(silences[0]["matcher"]["rule_id"], TRANSFER_RULE);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_incident_routes_serve_the_cli_document_the_report_and_the_metrics() {
    let fx = prepare();
    let app = app(fx.state.clone());
    let list = ok(&app, "/api/incidents?open=true&severity=p0").await;
    let incidents = list["incidents"].as_array().unwrap();
    assert_eq!(incidents.len(), 1);
    assert_eq!(incidents[0]["id"], fx.incident);
    assert_eq!(incidents[0]["kind"], "drain");
    assert!(
        ok(&app, "/api/incidents?state=resolved").await["incidents"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    let shown = ok(&app, &format!("/api/incidents/{}", fx.incident)).await;
    let conn = fx.store.connect().unwrap();
    let expected = argus_incident::document::incident_document(&conn, fx.incident).unwrap();
    assert_eq!(
        shown, expected,
        "the API serves the document `argus incidents show --json` prints"
    );
    assert_eq!(shown["alerts"].as_array().unwrap().len(), 2);
    assert_eq!(shown["incident"]["public_status"], fixture::PUBLIC_LINE);

    let report = ok(&app, &format!("/api/incidents/{}/report", fx.incident)).await;
    assert_eq!(report["incident"]["id"], fx.incident);
    assert_eq!(report["alerts"].as_array().unwrap().len(), 2);
    let markdown = get(
        &app,
        &format!("/api/incidents/{}/report?format=markdown", fx.incident),
    )
    .await;
    assert_eq!(markdown.status, StatusCode::OK);
    assert!(
        markdown.content_type.starts_with("text/markdown"),
        "{}",
        markdown.content_type
    );
    assert!(markdown.text.starts_with('#'), "{}", markdown.text);
    assert!(markdown.text.contains(DRAIN_RULE), "{}", markdown.text);

    let metrics = ok(&app, "/api/metrics/response?since=1d").await;
    assert_eq!(metrics["incidents"], 1);
    assert_eq!(metrics["resolved"], 0);
    let none = ok(&app, "/api/metrics/response?until=2000-01-01T00:00:00Z").await;
    assert_eq!(none["incidents"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_system_routes_show_rules_chains_outbox_and_audit_log() {
    let fx = prepare();
    let app = app(fx.state.clone());
    let rules = ok(&app, "/api/rules").await;
    let rules = rules["rules"].as_array().unwrap();
    let ids: Vec<&str> = rules.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [DRAIN_RULE, TRANSFER_RULE]);
    assert_eq!(rules[0]["kind"], "event");
    assert_eq!(rules[0]["severity"], "critical");
    assert_eq!(rules[0]["description"], "Tokens leave the vault");
    assert!(
        rules[0].get("condition").is_none(),
        "a rule's condition is never served"
    );

    let chains = ok(&app, "/api/chains").await;
    assert_eq!(chains["live"], false);
    let chain = &chains["chains"][0];
    assert_eq!(chain["chain"], "anvil");
    assert_eq!(chain["tip"]["number"], 5);
    assert_eq!(chain["ok"], true, "{chain}");
    assert!(chain["endpoints"].is_null());

    let outbox = ok(&app, "/api/outbox").await;
    let notifier = &outbox["notifiers"][0];
    assert_eq!(notifier["notifier"], NOTIFIER);
    // The low alert was recorded before its silence: all three fire.
    assert_eq!(notifier["pending"], 3, "{outbox}");
    assert_eq!(outbox["alerts_24h"]["firing"], 3, "{outbox}");

    let audit = ok(&app, "/api/audit").await;
    assert_eq!(audit["entries"].as_array().unwrap().len(), 2);
    let by_actor = ok(&app, "/api/audit?actor=bob").await;
    assert_eq!(by_actor["entries"].as_array().unwrap().len(), 1);
    assert_eq!(by_actor["entries"][0]["action"], "key.sign");
    let by_action = ok(&app, "/api/audit?action=incident.*&limit=1").await;
    assert_eq!(by_action["entries"][0]["actor"], "alice");
    let head = ok(&app, "/api/audit/head").await;
    assert_eq!(head["public_key"].as_str().unwrap().len(), 64);
    assert_eq!(head["checkpoint"]["last_seq"], 1, "entries 0 and 1: {head}");

    let health = ok(&app, "/healthz").await;
    assert_eq!(health["status"], "ok");
    let ready = ok(&app, "/readyz").await;
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["checks"][0]["check"], "store");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_parameters_are_400_json_naming_the_parameter() {
    let fx = prepare();
    let app = app(fx.state.clone());
    let cases: &[(&str, &str)] = &[
        ("/api/alerts?limit=0", "limit"),
        ("/api/alerts?limit=100000", "limit"),
        ("/api/alerts?limit=ten", "limit"),
        ("/api/alerts?limit=-1", "limit"),
        ("/api/alerts?state=burning", "state"),
        ("/api/alerts?min_severity=extreme", "min_severity"),
        ("/api/alerts?since=soon", "since"),
        ("/api/alerts?severty=high", "severty"),
        ("/api/alerts?limit=1&limit=2", "limit"),
        ("/api/alerts/0x12", "id"),
        ("/api/alerts/%00%ff", "id"),
        ("/api/incidents?severity=P9", "severity"),
        ("/api/incidents?open=maybe", "open"),
        ("/api/incidents?state=open&open=true", "open"),
        ("/api/incidents/abc", "id"),
        ("/api/incidents/-1", "id"),
        ("/api/incidents/99999999999999999999999", "id"),
        ("/api/incidents/1/report?format=pdf", "format"),
        ("/api/registry?chain=not-a-chain", "chain"),
        ("/api/registry/Token?chain=anvil&artifact=true", "artifact"),
        ("/api/registry/changes?after=-1", "after"),
        ("/api/registry/changes?after=1e3", "after"),
        ("/api/audit?since=yesterday", "since"),
        ("/api/metrics/response?since=1h&until=2h", "until"),
        ("/api/rules?verbose=1", "verbose"),
        ("/status?x=1", "x"),
        ("/api/events?from=0", "from"),
    ];
    for (uri, param) in cases {
        let answer = get(&app, uri).await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{uri}: {}",
            answer.text
        );
        assert_eq!(
            answer.json["error"], "bad_request",
            "{uri}: {}",
            answer.text
        );
        let detail = answer.json["detail"].as_str().unwrap();
        assert!(detail.contains(&format!("`{param}`")), "{uri}: {detail}");
    }
    let long = format!("/api/alerts?rule={}", "r".repeat(300));
    assert_eq!(get(&app, &long).await.status, StatusCode::BAD_REQUEST);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_ids_and_paths_are_404_json() {
    let fx = prepare();
    let app = app(fx.state.clone());
    let zeros = format!("/api/alerts/0x{}", "0".repeat(64));
    for uri in [
        "/api/incidents/999",
        "/api/incidents/999/report",
        zeros.as_str(),
        "/api/registry/NoSuchContract",
        "/api/nope",
        "/api/incidents/1/nope",
    ] {
        let answer = get(&app, uri).await;
        assert_eq!(
            answer.status,
            StatusCode::NOT_FOUND,
            "{uri}: {}",
            answer.text
        );
        let error = answer.json["error"].as_str().unwrap();
        assert!(
            error == "not_found" || error == "no_route",
            "{uri}: {}",
            answer.text
        );
        assert!(!answer.json["detail"].as_str().unwrap().is_empty());
    }

    // A server without a config has no rules; a data directory without an
    // audit log has no entries: both 404 with what to do.
    let empty = tempfile::tempdir().unwrap();
    let store = argus_store::Store::open_in_dir(empty.path()).unwrap();
    let bare = app_without_config(store, empty.path());
    for uri in ["/api/rules", "/api/audit", "/api/audit/head"] {
        let answer = get(&bare, uri).await;
        assert_eq!(
            answer.status,
            StatusCode::NOT_FOUND,
            "{uri}: {}",
            answer.text
        );
        assert_eq!(answer.json["error"], "not_found");
    }
    let rules = get(&bare, "/api/rules").await;
    assert!(
        rules.json["detail"]
            .as_str()
            .unwrap()
            .contains("argus serve -c"),
        "{}",
        rules.text
    );
    let status: Value = get(&bare, "/status.json").await.json;
    assert_eq!(status["status"], "operational");
}

fn app_without_config(store: argus_store::Store, dir: &std::path::Path) -> axum::Router {
    crate::fixture::grant_viewer(&store);
    app(AppState::new(store, dir))
}

#[tokio::test]
async fn a_bot_polling_the_kill_switch_is_told_to_stop_until_the_incident_is_resolved() {
    use argus_incident::policy::{RetryConfig, StepAction, StepConfig, StopBotStep};
    use argus_incident::state::{self, Act};
    let fx = prepare();
    let app = app(fx.state.clone());
    let before = ok(&app, "/killswitch/arb").await;
    assert_eq!(before, serde_json::json!({ "bot": "arb", "stop": false }));
    {
        let conn = fx.store.connect().unwrap();
        let act = Act {
            actor: "argus",
            reason: None,
            now_ms: 1,
        };
        let stop = StepConfig {
            id: "stop".into(),
            action: StepAction::StopBot(StopBotStep { bot: "arb".into() }),
            after: Some(vec![]),
            approvals: 0,
            retry: RetryConfig::default(),
            min_severity: None,
        };
        state::add_step(&conn, fx.incident, &stop, act).unwrap();
        state::claim_due_steps(&conn, i64::MAX / 2, 60_000, 16).unwrap();
        state::step_succeeded(&conn, fx.incident, "stop", &serde_json::json!({}), 42).unwrap();
    }
    let during = ok(&app, "/killswitch/arb").await;
    assert_eq!(during["stop"], true, "{during}");
    assert_eq!(during["incident"], fx.incident);
    assert_eq!(
        ok(&app, "/killswitch/other").await["stop"],
        false,
        "only the bot that was stopped"
    );
    {
        let conn = fx.store.connect().unwrap();
        state::resolve(
            &conn,
            fx.incident,
            Act {
                actor: "alice",
                reason: None,
                now_ms: 100,
            },
        )
        .unwrap();
    }
    assert_eq!(
        ok(&app, "/killswitch/arb").await["stop"],
        false,
        "resolved: it may run again"
    );
}
