//! A schema-driven fuzz of the API: `/openapi.json` is read from the router
//! and every documented route and method gets a spread of hostile inputs —
//! bad, huge, unicode, negative and overflowing path parameters; unknown,
//! repeated, over-long and wrongly typed query parameters; broken JSON
//! bodies and wrong content types where a route takes a body; methods it
//! does not have — through the router without a socket.
//!
//! What must hold for every one: no 5xx, no panic (a panic in a handler
//! fails the `oneshot`), every error is JSON `{error, detail}` and short
//! (an echoed megabyte of input would be a way to amplify), an unrouted
//! method is 405 and an unrouted path 404. Deterministic: the values come
//! from fixed lists and a seeded generator, so a failure names the request
//! that reproduces it; bounded: a few thousand requests.

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt as _;
use serde_json::Value;
use tower::ServiceExt as _;

use crate::fixture::{ok, prepare};

/// The seed of every choice below.
const SEED: u64 = 0x5eed_a7605;
/// Random combinations per route, besides the value-by-value sweep.
const COMBINATIONS: usize = 24;
/// An error body longer than this echoes too much of the input.
const MAX_ERROR_BODY: usize = 2048;

/// splitmix64: enough to pick from lists reproducibly, no dependency.
struct Seeded(u64);

impl Seeded {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn index(&mut self, len: usize) -> usize {
        usize::try_from(self.next() % len as u64).unwrap_or(0)
    }

    fn pick<'a>(&mut self, items: &'a [String]) -> &'a str {
        &items[self.index(items.len())]
    }
}

/// Hostile values, unencoded; [`encode`] makes them fit a URI.
fn hostile_values() -> Vec<String> {
    let mut values: Vec<String> = [
        "",
        " ",
        "0",
        "-1",
        "-9223372036854775808",
        "9223372036854775807",
        "9223372036854775808",
        "18446744073709551616",
        "340282366920938463463374607431768211456",
        "1e309",
        "NaN",
        "-0",
        "0x",
        "0xffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
        "0x5FbDB2315678afecb367f032d93F642f64180aa3",
        "null",
        "[]",
        "{}",
        "true",
        "' OR 1=1 --",
        "\"; DROP TABLE alerts; --",
        "../../../../etc/passwd",
        "..",
        ".",
        "/",
        "%",
        "%zz",
        "\0",
        "\u{202e}evil",
        "😀🔥",
        "ünïcödé",
        "<script>alert(1)</script>",
        "2026-13-45T99:99:99Z",
        "99999999999d",
        "-5m",
        "anvil",
        "mainnet",
        "critical",
        "P0",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    values.push("a".repeat(257));
    values.push("9".repeat(400));
    values.push("é".repeat(300));
    values.push("x".repeat(16 * 1024));
    values
}

/// Percent-encodes everything but unreserved characters.
fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len() * 3);
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Already-encoded oddities that [`encode`] would never make.
const RAW_SEGMENTS: &[&str] = &[
    "%FF%FE",
    "%C0%AF",
    "%ED%A0%80",
    "%00",
    "%",
    "%2",
    "%2F..%2F",
    "a%2Fb",
    ";jsessionid=1",
    "~",
];

/// The one place requests are built. Every one carries an admin's token,
/// so the checks behind authentication (parameters, bodies, roles of the
/// write routes) are what the values reach; the public routes ignore it.
fn request(
    token: &str,
    method: &Method,
    uri: &str,
    content_type: Option<&str>,
    body: Body,
) -> Request<Body> {
    let mut builder = Request::builder()
        .method(method.clone())
        .uri(uri)
        .header(header::AUTHORIZATION, format!("Bearer {token}"));
    if let Some(content_type) = content_type {
        builder = builder.header(header::CONTENT_TYPE, content_type);
    }
    builder.body(body).unwrap()
}

/// What the fuzz saw, for the assertions at the end.
#[derive(Default)]
struct Tally {
    sent: usize,
    by_status: std::collections::BTreeMap<u16, usize>,
}

/// Sends one request and checks the answer; returns its status.
async fn check(app: &Router, tally: &mut Tally, req: Request<Body>) -> StatusCode {
    let method = req.method().clone();
    let uri = req.uri().to_string();
    let shown: String = uri.chars().take(200).collect();
    let response = app
        .clone()
        .oneshot(req)
        .await
        .unwrap_or_else(|e| panic!("{method} {shown}: {e}"));
    let status = response.status();
    tally.sent += 1;
    *tally.by_status.entry(status.as_u16()).or_default() += 1;
    assert!(
        !status.is_server_error(),
        "{method} {shown}: answered {status}"
    );
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    if content_type.starts_with("text/event-stream") {
        // A live stream never ends; that it started is the answer.
        assert_eq!(status, StatusCode::OK, "{method} {shown}");
        return status;
    }
    let bytes = response
        .into_body()
        .collect()
        .await
        .unwrap_or_else(|e| panic!("{method} {shown}: body: {e}"))
        .to_bytes();
    if status.is_client_error() && method != Method::HEAD {
        assert!(
            content_type.starts_with("application/json"),
            "{method} {shown}: {status} as {content_type:?}"
        );
        let body: Value = serde_json::from_slice(&bytes).unwrap_or_else(|_| {
            panic!(
                "{method} {shown}: {status} body is not JSON: {}",
                String::from_utf8_lossy(&bytes)
            )
        });
        assert!(
            body["error"].is_string() && body["detail"].is_string(),
            "{method} {shown}: {body}"
        );
        assert!(
            bytes.len() <= MAX_ERROR_BODY,
            "{method} {shown}: a {}-byte error body",
            bytes.len()
        );
    }
    status
}

/// `path` with each `{param}` replaced by `value` (already encoded).
fn fill(path: &str, value: &str) -> String {
    let mut out = String::new();
    let mut rest = path;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let end = rest[start..]
            .find('}')
            .map_or(rest.len(), |e| start + e + 1);
        out.push_str(value);
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// A valid filling of the path (the fixture's ids, else the examples), for
/// query fuzzing.
fn example_path(path: &str, operation: &Value, fx: &crate::fixture::Fixture) -> String {
    let mut filled = path
        .replace("/api/alerts/{id}", &format!("/api/alerts/{}", fx.alerts[0]))
        .replace(
            "/api/incidents/{id}",
            &format!("/api/incidents/{}", fx.incident),
        )
        .replace("{target}", "Token");
    for param in operation["parameters"].as_array().into_iter().flatten() {
        if param["in"] == "path" {
            let name = param["name"].as_str().unwrap();
            let example = param["example"].as_str().unwrap_or("x");
            filled = filled.replace(&format!("{{{name}}}"), &encode(example));
        }
    }
    filled
}

/// Bodies a route that takes JSON must refuse with a 4xx.
fn hostile_bodies() -> Vec<(Option<&'static str>, Vec<u8>)> {
    let json = Some("application/json");
    vec![
        (json, b"".to_vec()),
        (json, b"{".to_vec()),
        (json, b"null".to_vec()),
        (json, b"[]".to_vec()),
        (json, b"{\"a\":".to_vec()),
        (json, b"\"\\ud800\"".to_vec()),
        (json, vec![0xff, 0xfe, 0x00]),
        (json, "[".repeat(100_000).into_bytes()),
        (
            json,
            format!("{{\"x\":\"{}\"}}", "a".repeat(3 << 20)).into_bytes(),
        ),
        (
            json,
            b"{\"reason\": 12, \"note\": [1,2], \"actor\": {}}".to_vec(),
        ),
        (Some("text/plain"), b"{}".to_vec()),
        (Some("application/x-www-form-urlencoded"), b"a=b".to_vec()),
        (Some("application/json; charset=latin1"), b"{}".to_vec()),
        (None, b"{}".to_vec()),
    ]
}

const METHODS: [&str; 9] = [
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "FUZZ",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_inputs_to_every_documented_route_get_4xx_json_never_5xx() {
    let fx = prepare();
    let app = argus_server::app(fx.state.clone());
    let token = fx.tokens.admin.as_str();
    let doc = ok(&app, "/openapi.json").await;
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.len() >= 20, "{} paths", paths.len());
    let values = hostile_values();
    let mut rng = Seeded(SEED);
    let mut tally = Tally::default();
    let mut failures = Vec::new();

    for (path, item) in paths {
        let item = item.as_object().unwrap();
        // Methods the path does not have: 405 (HEAD is GET's).
        for name in METHODS {
            let method = Method::from_bytes(name.as_bytes()).unwrap();
            let routed = item.contains_key(&name.to_ascii_lowercase())
                || (method == Method::HEAD && item.contains_key("get"));
            if routed {
                continue;
            }
            let uri = fill(path, "1");
            let status = check(
                &app,
                &mut tally,
                request(token, &method, &uri, None, Body::empty()),
            )
            .await;
            assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{name} {uri}");
        }

        for (method_name, operation) in item {
            let method = Method::from_bytes(method_name.to_ascii_uppercase().as_bytes()).unwrap();
            let params = operation["parameters"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let query: Vec<(String, String)> = params
                .iter()
                .filter(|p| p["in"] == "query")
                .map(|p| {
                    (
                        p["name"].as_str().unwrap().to_owned(),
                        p["example"].as_str().unwrap_or("").to_owned(),
                    )
                })
                .collect();
            let has_body = operation.get("requestBody").is_some();
            let base = example_path(path, operation, &fx);
            let send = |uri: String| request(token, &method, &uri, None, Body::empty());

            // Path parameters: every hostile value, encoded and raw.
            if path.contains('{') {
                for value in &values {
                    check(&app, &mut tally, send(fill(path, &encode(value)))).await;
                }
                for raw in RAW_SEGMENTS {
                    check(&app, &mut tally, send(fill(path, raw))).await;
                }
            }
            // Each query parameter alone with every hostile value.
            for (name, _) in &query {
                for value in &values {
                    let uri = format!("{base}?{}={}", encode(name), encode(value));
                    check(&app, &mut tally, send(uri)).await;
                }
                // Repeated, and a key without a value.
                let uri = format!("{base}?{name}=1&{name}=2");
                let status = check(&app, &mut tally, send(uri)).await;
                assert_eq!(status, StatusCode::BAD_REQUEST, "{base}: {name} twice");
                check(&app, &mut tally, send(format!("{base}?{name}"))).await;
            }
            // Unknown parameters, odd query strings, and huge ones.
            for odd in [
                "unknown=1".to_owned(),
                "=x".to_owned(),
                "&&&".to_owned(),
                "%zz=%zz".to_owned(),
                "%FF%FE=1".to_owned(),
                format!("{}=1", "k".repeat(5000)),
                (0..500)
                    .map(|i| format!("p{i}=1"))
                    .collect::<Vec<_>>()
                    .join("&"),
            ] {
                let status = check(&app, &mut tally, send(format!("{base}?{odd}"))).await;
                // The API refuses what it does not know; the public probes
                // and pages ignore query strings (cache-busters, probes'
                // own markers), never erring on them.
                let strict = path.starts_with("/api/") || path == "/metrics";
                if odd != "&&&" && strict && status != StatusCode::BAD_REQUEST {
                    failures.push(format!("{status} {base}?{odd:.80}"));
                }
            }
            // Seeded combinations of every parameter at once.
            for _ in 0..COMBINATIONS {
                let mut uri = if path.contains('{') && rng.next().is_multiple_of(2) {
                    fill(path, &encode(rng.pick(&values)))
                } else {
                    base.clone()
                };
                let mut pairs: Vec<String> = Vec::new();
                for (name, example) in &query {
                    if rng.next().is_multiple_of(3) {
                        continue;
                    }
                    let value = if rng.next().is_multiple_of(3) {
                        example.clone()
                    } else {
                        rng.pick(&values).to_owned()
                    };
                    pairs.push(format!("{}={}", encode(name), encode(&value)));
                }
                if !pairs.is_empty() {
                    uri.push('?');
                    uri.push_str(&pairs.join("&"));
                }
                check(&app, &mut tally, send(uri)).await;
            }
            // Bodies, where the route takes one.
            if has_body {
                for (content_type, body) in hostile_bodies() {
                    let req = request(token, &method, &base, content_type, Body::from(body));
                    let status = check(&app, &mut tally, req).await;
                    assert!(status.is_client_error(), "{method} {base}: {status}");
                }
            }
        }
    }

    // What is not routed at all.
    for _ in 0..64 {
        let segments: Vec<String> = (0..=rng.next() % 4)
            .map(|_| encode(rng.pick(&values)))
            .collect();
        let uri = format!("/api/nothing-here/{}", segments.join("/"));
        let uri: String = uri.chars().take(8000).collect();
        let method = Method::from_bytes(METHODS[rng.index(METHODS.len())].as_bytes()).unwrap();
        let status = check(
            &app,
            &mut tally,
            request(token, &method, &uri, None, Body::empty()),
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {uri:.120}");
    }

    assert!(failures.is_empty(), "{failures:#?}");
    eprintln!(
        "fuzz: {} requests; by status {:?}",
        tally.sent, tally.by_status
    );
    assert!(tally.sent > 1_000, "only {} requests", tally.sent);
    // The spread reached both the handlers' success and their refusals.
    assert!(
        tally.by_status.get(&200).copied().unwrap_or(0) > 10,
        "{:?}",
        tally.by_status
    );
    assert!(
        tally.by_status.get(&400).copied().unwrap_or(0) > 100,
        "{:?}",
        tally.by_status
    );
    assert!(tally.by_status.contains_key(&404), "{:?}", tally.by_status);
    assert!(tally.by_status.contains_key(&405), "{:?}", tally.by_status);
}
