//! The public status page shows what `server.public` marks public and the
//! incident's public line, and nothing else: no rule id, RPC URL, notifier,
//! incident title or unmarked address.

use argus_server::app;
use axum::http::StatusCode;

use crate::fixture::{self, DRAIN_RULE, HIDDEN, NOTIFIER, RPC_URL, TRANSFER_RULE, get, prepare};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_public_status_page_shows_only_what_is_marked_public() {
    let fx = prepare();
    let app = app(fx.state.clone());
    let json = get(&app, "/status.json").await;
    assert_eq!(json.status, StatusCode::OK);
    let doc = &json.json;
    assert_eq!(doc["title"], "Acme status");
    assert_eq!(doc["status"], "incident");
    assert_eq!(doc["systems"][0]["name"], "Acme token");
    assert_eq!(doc["systems"][0]["health"], "ok", "{doc}");
    assert_eq!(
        doc["systems"][0]["contracts"][0]["address"],
        fx.token.to_checksum(None)
    );
    assert_eq!(doc["incidents"][0]["severity"], "P0");
    assert_eq!(doc["incidents"][0]["status"], fixture::PUBLIC_LINE);
    assert!(
        doc["incidents"][0]["opened_at"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );

    let html = get(&app, "/status").await;
    assert_eq!(html.status, StatusCode::OK);
    assert!(
        html.content_type.starts_with("text/html"),
        "{}",
        html.content_type
    );
    assert!(html.text.contains("Acme token"));
    assert!(html.text.contains(&fx.token.to_checksum(None)));
    assert!(
        html.text
            .contains("paused while we investigate &lt;b&gt;now&lt;/b&gt;"),
        "the public line is shown, escaped: {}",
        html.text
    );
    assert!(
        !html.text.contains("<b>now"),
        "markup from the store is never live"
    );
    assert!(!html.text.contains("<script"), "the page runs no script");

    let conn = fx.store.connect().unwrap();
    let incident = argus_incident::db::incident(&conn, fx.incident).unwrap();
    for (name, body) in [
        ("json", json.text.to_lowercase()),
        ("html", html.text.to_lowercase()),
    ] {
        for secret in [
            DRAIN_RULE.to_owned(),
            TRANSFER_RULE.to_owned(),
            NOTIFIER.to_owned(),
            RPC_URL.to_owned(),
            "8545".to_owned(),
            format!("{HIDDEN:#x}"),
            format!("{:#x}", fx.vault),
            incident.title.to_lowercase(),
            incident.kind.clone(),
            fx.dir.path().display().to_string().to_lowercase(),
        ] {
            assert!(!body.contains(&secret), "{name} shows `{secret}`: {body}");
        }
    }

    // Nothing marked public: no system, and still no detail of the incident.
    let bare = app_with_default_public(&fx);
    let doc = get(&bare, "/status.json").await.json;
    assert!(doc["systems"].as_array().unwrap().is_empty());
    assert_eq!(doc["incidents"].as_array().unwrap().len(), 1);
    assert!(!doc.to_string().contains(DRAIN_RULE));
}

fn app_with_default_public(fx: &fixture::Fixture) -> axum::Router {
    app(argus_server::AppState::new(fx.store.clone(), fx.dir.path()))
}
