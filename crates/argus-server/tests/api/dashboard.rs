//! The dashboard's files through the router: where they live, the headers
//! that keep an injected script from running (CSP without inline code,
//! `nosniff`), revalidation by ETag, and nothing served outside the
//! embedded list.

use argus_server::app;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt as _;
use tower::ServiceExt as _;

use crate::fixture::{DRAIN_RULE, ok, prepare};

async fn fetch(
    router: &axum::Router,
    uri: &str,
    if_none_match: Option<&str>,
) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    let mut request = Request::get(uri);
    if let Some(tag) = if_none_match {
        request = request.header(header::IF_NONE_MATCH, tag);
    }
    let response = router
        .clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, headers, body.to_vec())
}

fn header_of(headers: &axum::http::HeaderMap, name: header::HeaderName) -> &str {
    headers
        .get(&name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("no {name} in {headers:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_is_served_with_strict_headers() {
    let fx = prepare();
    let router = app(fx.state.clone());

    for from in ["/", "/dashboard"] {
        let (status, headers, _) = fetch(&router, from, None).await;
        assert!(status.is_redirection(), "{from}: {status}");
        assert_eq!(header_of(&headers, header::LOCATION), "/dashboard/");
    }

    let (status, headers, body) = fetch(&router, "/dashboard/", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        header_of(&headers, header::CONTENT_TYPE),
        "text/html; charset=utf-8"
    );
    let csp = header_of(&headers, header::CONTENT_SECURITY_POLICY);
    assert!(csp.starts_with("default-src 'self'"), "{csp}");
    assert!(csp.contains("script-src 'self';"), "{csp}");
    assert!(!csp.contains("unsafe"), "no inline code allowed: {csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(
        header_of(&headers, header::X_CONTENT_TYPE_OPTIONS),
        "nosniff"
    );
    assert_eq!(header_of(&headers, header::CACHE_CONTROL), "no-cache");
    let html = String::from_utf8(body).unwrap();
    assert!(
        html.contains("<script type=\"module\" src=\"app.js\">"),
        "{html}"
    );

    // Each module has its type; an unchanged one revalidates to a 304.
    let (status, headers, body) = fetch(&router, "/dashboard/app.js", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        header_of(&headers, header::CONTENT_TYPE),
        "text/javascript; charset=utf-8"
    );
    assert!(String::from_utf8(body).unwrap().contains("import "));
    let etag = header_of(&headers, header::ETAG).to_owned();
    let (status, headers, body) = fetch(&router, "/dashboard/app.js", Some(&etag)).await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);
    assert!(body.is_empty());
    assert_eq!(header_of(&headers, header::ETAG), etag);
    let (status, _, _) = fetch(&router, "/dashboard/app.js", Some("\"other\"")).await;
    assert_eq!(status, StatusCode::OK);
    let (_, headers, _) = fetch(&router, "/dashboard/style.css", None).await;
    assert_eq!(
        header_of(&headers, header::CONTENT_TYPE),
        "text/css; charset=utf-8"
    );

    // Nothing but the embedded files.
    for uri in [
        "/dashboard/nope.js",
        "/dashboard/..%2FCargo.toml",
        "/dashboard/%2e%2e",
        "/dashboard/APP.JS",
    ] {
        let (status, headers, body) = fetch(&router, uri, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{uri}");
        assert_eq!(
            header_of(&headers, header::X_CONTENT_TYPE_OPTIONS),
            "nosniff"
        );
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json["error"], "no_route", "{uri}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_rule_says_which_contracts_it_watches() {
    let fx = prepare();
    let router = app(fx.state.clone());
    let rules = ok(&router, "/api/rules").await;
    let drain = rules["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == DRAIN_RULE)
        .unwrap_or_else(|| panic!("{rules}"));
    assert_eq!(drain["watches"], serde_json::json!(["Token"]), "{drain}");
}
