//! `POST /api/bots/{bot}/submissions`: a responder's token files a bot's
//! reports where the daemon's key-use check reads them; a viewer cannot, an
//! unknown bot is 404, and a report from an address that is not the bot's
//! is refused whole, naming the item.

use argus_server::app;
use axum::http::StatusCode;
use serde_json::json;

use crate::fixture::{self, prepare};

const HASH: &str = "0x5c504ed432cb51138bcf09aa5e8a410dd4a1e204ef84bfed1be16dfba1b22060";
const OTHER: &str = "0x1111111111111111111111111111111111111111111111111111111111111111";
const ALICE: &str = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bot_reports_its_submissions() {
    let fx = prepare();
    let app = app(fx.state.clone());
    let responder = Some(fx.tokens.responder.as_str());
    let body = json!({ "submissions": [{ "tx_hash": HASH, "from": ALICE, "nonce": 1 }] });

    let answer = fixture::post(
        &app,
        "/api/bots/arb/submissions",
        responder,
        None,
        body.clone(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.json["new"], 1);
    // Again: kept once.
    let answer = fixture::post(
        &app,
        "/api/bots/arb/submissions",
        responder,
        None,
        body.clone(),
    )
    .await;
    assert_eq!(answer.json["received"], 1);
    assert_eq!(answer.json["new"], 0);
    let conn = fx.store.connect().unwrap();
    let known =
        argus_sources::db::reported_hashes(&conn, &[HASH.parse().unwrap(), OTHER.parse().unwrap()])
            .unwrap();
    assert_eq!(known.len(), 1);
    assert!(known.contains(&HASH.parse::<alloy_primitives::B256>().unwrap()));

    // A viewer's token: forbidden.
    let viewer = fixture::viewer_token().0.clone();
    let answer = fixture::post(
        &app,
        "/api/bots/arb/submissions",
        Some(&viewer),
        None,
        body.clone(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}", answer.text);
    // No such bot.
    let answer = fixture::post(&app, "/api/bots/nobody/submissions", responder, None, body).await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND, "{}", answer.text);
    // Another address, second of two: nothing filed, the item named.
    let answer = fixture::post(
        &app,
        "/api/bots/arb/submissions",
        responder,
        None,
        json!({ "submissions": [
            { "tx_hash": OTHER, "from": ALICE },
            { "tx_hash": OTHER, "from": "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC" },
        ] }),
    )
    .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.text);
    assert!(
        answer.text.contains("submissions[1].from"),
        "{}",
        answer.text
    );
    let known = argus_sources::db::reported_hashes(&conn, &[OTHER.parse().unwrap()]).unwrap();
    assert!(known.is_empty(), "refused whole");
    // A malformed hash: named.
    let answer = fixture::post(
        &app,
        "/api/bots/arb/submissions",
        responder,
        None,
        json!({ "submissions": [{ "tx_hash": "0x12", "from": ALICE }] }),
    )
    .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(answer.text.contains("submissions[0]"), "{}", answer.text);
}
