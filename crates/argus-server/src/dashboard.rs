//! The dashboard: a single page for responders, served from the binary.
//!
//! The files under `crates/argus-server/dashboard/` (HTML, CSS and plain
//! ES modules, written by hand) are compiled in with `include_bytes!`, so
//! the binary is the whole deployment: no build step, no CDN, no node
//! modules at run time, and the page a responder loads is the page that
//! was reviewed with the code. The assets hold no data (every figure comes
//! from the token-checked `/api/*` routes), so they are public routes.
//!
//! Why the headers:
//!
//! - **A strict Content-Security-Policy** (`default-src 'self'`, no inline
//!   script or style, no frames, no forms posting elsewhere): the page
//!   shows text an attacker chose (alert titles carry token names and
//!   addresses from chain data), so an injection must have nothing to run.
//!   The JavaScript builds every element with `textContent`, never HTML.
//! - **`nosniff` and exact content types**, so a module is never read as
//!   something else.
//! - **`Cache-Control: no-cache` with an ETag**: the file names carry no
//!   version, so a browser revalidates every load (a 304 when unchanged)
//!   and an upgraded binary's page never runs with yesterday's modules.
//!
//! `/` and `/dashboard` redirect to `/dashboard/`, where the page lives,
//! so its relative module paths resolve under it.

use std::sync::OnceLock;

use axum::extract::Path;
use axum::extract::rejection::PathRejection;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};

/// The page's policy: its own files and its own API, nothing else.
pub(crate) const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; \
     base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// One embedded file.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

macro_rules! asset {
    ($name:literal, $type:expr) => {
        Asset {
            name: $name,
            content_type: $type,
            body: include_bytes!(concat!("../dashboard/", $name)),
        }
    };
}

const JS: &str = "text/javascript; charset=utf-8";

static ASSETS: &[Asset] = &[
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("style.css", "text/css; charset=utf-8"),
    asset!("favicon.svg", "image/svg+xml"),
    asset!("app.js", JS),
    asset!("api.js", JS),
    asset!("dom.js", JS),
    asset!("chart.js", JS),
    asset!("overview.js", JS),
    asset!("alerts.js", JS),
    asset!("incident.js", JS),
    asset!("registry.js", JS),
];

/// Each asset's ETag, computed once: FNV-1a over its bytes (a cache key,
/// not a security check).
fn etags() -> &'static [String] {
    static ETAGS: OnceLock<Vec<String>> = OnceLock::new();
    ETAGS.get_or_init(|| {
        ASSETS
            .iter()
            .map(|asset| {
                let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
                for byte in asset.body {
                    hash ^= u64::from(*byte);
                    hash = hash.wrapping_mul(0x0100_0000_01b3);
                }
                format!("\"{hash:016x}\"")
            })
            .collect()
    })
}

/// `GET /` and `GET /dashboard`.
pub(crate) async fn redirect() -> Redirect {
    Redirect::to("/dashboard/")
}

/// `GET /dashboard/`.
pub(crate) async fn index(headers: HeaderMap) -> Response {
    serve("index.html", &headers)
}

/// `GET /dashboard/{file}`.
pub(crate) async fn file(
    headers: HeaderMap,
    name: Result<Path<String>, PathRejection>,
) -> Response {
    match name {
        Ok(Path(name)) => serve(&name, &headers),
        Err(_) => not_found(),
    }
}

fn serve(name: &str, request: &HeaderMap) -> Response {
    let Some(index) = ASSETS.iter().position(|asset| asset.name == name) else {
        return not_found();
    };
    let asset = &ASSETS[index];
    let etag = &etags()[index];
    let fresh = request
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|tags| tags.split(',').any(|tag| tag.trim() == etag));
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        asset.body.into_response()
    };
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    if let Ok(value) = HeaderValue::from_str(etag) {
        headers.insert(header::ETAG, value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    secure(headers);
    response
}

/// The headers every dashboard answer carries.
fn secure(headers: &mut HeaderMap) {
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
}

fn not_found() -> Response {
    let mut response = (
        StatusCode::NOT_FOUND,
        axum::Json(serde_json::json!({
            "error": "no_route",
            "detail": "no such dashboard file; open /dashboard/",
        })),
    )
        .into_response();
    secure(response.headers_mut());
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_is_listed_once_and_not_empty() {
        for (i, asset) in ASSETS.iter().enumerate() {
            assert!(!asset.body.is_empty(), "{} is empty", asset.name);
            assert!(
                ASSETS[i + 1..].iter().all(|other| other.name != asset.name),
                "{} twice",
                asset.name
            );
        }
    }

    #[test]
    fn the_page_has_no_inline_script_or_style() {
        let html = std::str::from_utf8(ASSETS[0].body).unwrap_or_default();
        assert!(html.contains("<script type=\"module\" src=\"app.js\"></script>"));
        assert_eq!(html.matches("<script").count(), 1, "{html}");
        assert!(!html.contains("<style"), "{html}");
        assert!(!html.contains(" style="), "{html}");
        let handler = html.split(" on").skip(1).any(|rest| {
            let name: String = rest.chars().take_while(char::is_ascii_lowercase).collect();
            !name.is_empty() && rest[name.len()..].starts_with('=')
        });
        assert!(!handler, "no inline event handlers: {html}");
    }

    #[test]
    fn every_module_the_page_imports_is_served() {
        for asset in ASSETS.iter().filter(|a| a.name.ends_with(".js")) {
            let text = std::str::from_utf8(asset.body).unwrap_or_default();
            for line in text.lines().filter(|l| l.starts_with("import ")) {
                let Some(path) = line.split('\'').nth(1) else {
                    continue;
                };
                let name = path.trim_start_matches("./");
                assert!(
                    ASSETS.iter().any(|a| a.name == name),
                    "{} imports {path}, which is not embedded",
                    asset.name
                );
            }
        }
    }
}
