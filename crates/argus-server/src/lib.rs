//! The HTTP API of Argus: what the CLI shows, over HTTP, for dashboards,
//! other tools and the public.
//!
//! ```text
//!  argus run (NodeView: events, tips, endpoint figures)  ─┐
//!  argus serve (a data directory, read-only)             ─┴─► AppState ─► app(state): Router
//!      /healthz /readyz /status /status.json /openapi.json     (public: no auth, ever)
//!      /api/...  GET, JSON; /api/events (server-sent events)   (read: any token)
//!      /metrics  Prometheus text, computed from the store at scrape time
//!      /dashboard/  the responders' page, embedded (public files; its data from /api)
//!      POST ack, notes, silences (responder); approve (admin + TOTP)   (write)
//! ```
//!
//! [`app`] builds the router and nothing else, so tests drive it without a
//! socket (`tower::ServiceExt::oneshot`) and the binary serves it ([`serve`])
//! beside a node or over a data directory. Design choices:
//!
//! - **The stages' own reads.** Every route calls the read query of the
//!   stage that owns the table (`argus_alerting::outbox`, `argus_incident::db`,
//!   the registry, `argus_chain::db`, `argus_audit`): no SQL here, so the
//!   API cannot disagree with `argus alerts list` or `argus incidents show`.
//!   Reads run on tokio's blocking pool, each on a connection of its own
//!   from the shared [`Store`] (SQLite in WAL: readers never wait for the
//!   node's writer).
//! - **One error type, one status table** ([`AppError`]): bad input is a
//!   400 naming the parameter, an unknown id a 404, both JSON
//!   `{error, detail}`; never a 5xx for what a client sent.
//! - **Strict parameters** ([`params`]): unknown or repeated parameters are
//!   refused, every value is typed, limits are capped.
//! - **Groups and one token layer.** Routes are built in groups (`public`,
//!   `read`, `write`); the read and write groups sit behind
//!   [`auth::authenticate`] (tokens, rate limits, TOTP), and each write
//!   handler checks the role it needs. The public group never sees a token.
//! - **Public means allow-listed.** The status page is built from the
//!   config's `server.public` section alone (systems, chains, addresses
//!   named there) plus the open incidents' severity, time and operator-set
//!   public line; it never reads rules, endpoints or titles.

pub mod auth;
mod body;
mod dashboard;
pub mod error;
mod events;
mod health;
mod listener;
mod metrics;
mod openapi;
mod params;
mod routes;
mod serve;
mod state;
mod status;

use axum::Router;
use axum::http::{Method, StatusCode, Uri};
use axum::response::IntoResponse;

pub use argus_node::config::{PublicConfig, ServerConfig, TlsFiles};
pub use auth::{AuditRecord, AuditSink, AuthConfig, Caller, RateLimit, Role};
pub use error::{AppError, ServerError};
pub use listener::{ApiListener, ApiStream, HANDSHAKE_TIMEOUT, MAX_HANDSHAKES};
pub use metrics::{CONTENT_TYPE as METRICS_CONTENT_TYPE, MAX_SIGNAL_SERIES};
pub use serve::{bind, serve};
pub use state::{AppState, RuleSummary};

/// The whole API as a router over `state`.
pub fn app(state: AppState) -> Router {
    Router::new()
        .merge(public_routes())
        .merge(read_routes().merge(write_routes()).route_layer(
            axum::middleware::from_fn_with_state(state.clone(), auth::authenticate),
        ))
        .fallback(no_route)
        .method_not_allowed_fallback(no_method)
        .with_state(state)
}

/// Routes anyone may call, without a token: process health, the public
/// status page, the API's description, the bots' kill switch, the
/// dashboard's files (they hold no data: the page reads it from the API
/// with the user's token).
fn public_routes() -> Router<AppState> {
    use axum::routing::get;
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/status", get(status::page))
        .route("/status.json", get(status::json))
        .route("/openapi.json", get(openapi::document))
        .route("/killswitch/{bot}", get(routes::incidents::kill_switch))
        .route("/", get(dashboard::redirect))
        .route("/dashboard", get(dashboard::redirect))
        .route("/dashboard/", get(dashboard::index))
        .route("/dashboard/{file}", get(dashboard::file))
}

/// The read API: any valid token (a viewer's or more).
fn read_routes() -> Router<AppState> {
    use axum::routing::get;
    Router::new()
        .route("/api/session", get(auth::session))
        .route("/api/registry", get(routes::registry::list))
        .route("/api/registry/export", get(routes::registry::export))
        .route("/api/registry/changes", get(routes::registry::changes))
        .route("/api/registry/{target}", get(routes::registry::show))
        .route("/api/alerts", get(routes::alerts::list))
        .route("/api/alerts/{id}", get(routes::alerts::show))
        .route(
            "/api/silences",
            get(routes::alerts::silences).post(routes::writes::add_silence),
        )
        .route("/api/incidents", get(routes::incidents::list))
        .route("/api/incidents/{id}", get(routes::incidents::show))
        .route("/api/incidents/{id}/report", get(routes::incidents::report))
        .route("/api/metrics/response", get(routes::incidents::metrics))
        .route("/api/rules", get(routes::system::rules))
        .route("/api/chains", get(routes::system::chains))
        .route("/api/outbox", get(routes::system::outbox))
        .route("/api/audit", get(routes::system::audit))
        .route("/api/audit/head", get(routes::system::audit_head))
        .route("/api/events", get(events::stream))
        .route("/metrics", get(metrics::scrape))
}

/// The write API: each handler checks the role it needs (responder, or
/// admin with a TOTP code) against the caller the token layer found.
fn write_routes() -> Router<AppState> {
    use axum::routing::post;
    use routes::writes;
    Router::new()
        .route("/api/incidents/{id}/ack", post(writes::acknowledge))
        .route("/api/incidents/{id}/notes", post(writes::note))
        .route(
            "/api/incidents/{id}/steps/{step}/approve",
            post(writes::approve),
        )
        .route("/api/silences/{id}/end", post(writes::end_silence))
        .route(
            "/api/bots/{bot}/submissions",
            post(routes::bots::submissions),
        )
}

async fn no_route(uri: Uri) -> impl IntoResponse {
    (
        StatusCode::NOT_FOUND,
        axum::Json(serde_json::json!({
            "error": "no_route",
            "detail": format!(
                "no route {}; /openapi.json lists them",
                params::shorten(uri.path())
            ),
        })),
    )
}

/// A method the path does not have: 405 in the API's error shape (axum's
/// own is an empty body).
async fn no_method(method: Method, uri: Uri) -> impl IntoResponse {
    (
        StatusCode::METHOD_NOT_ALLOWED,
        axum::Json(serde_json::json!({
            "error": "method_not_allowed",
            "detail": format!(
                "{} is not a method of {}; /openapi.json lists each route's methods",
                params::shorten(method.as_str()),
                params::shorten(uri.path())
            ),
        })),
    )
}
