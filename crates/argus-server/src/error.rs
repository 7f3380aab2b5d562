//! Every error the server can meet, and the one place each becomes an HTTP
//! status.
//!
//! A handler returns `Result<_, AppError>`; [`AppError`]'s `IntoResponse`
//! is the only code that picks a status, so a stage error is classified
//! once (a missing incident is 404 whichever route asked) and every error
//! body has the same shape: `{"error": "<code>", "detail": "<what was
//! wrong and what to do>"}`. A client's mistake is 4xx with a message
//! naming the parameter; the store being busy is 503 (worth retrying);
//! anything else is 500 with the stage's message, which names no secret
//! (the stages' errors never carry one).

use std::net::SocketAddr;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// What a request could not get.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// A query parameter or path segment that does not parse or is not
    /// allowed.
    #[error("{param}: {detail}")]
    BadRequest { param: String, detail: String },
    /// Nothing has this id, label or path.
    #[error("{detail}")]
    NotFound { detail: String },
    /// Several things match a name.
    #[error("{detail}")]
    Ambiguous { detail: String },
    #[error(transparent)]
    Store(#[from] argus_store::StoreError),
    #[error(transparent)]
    Registry(#[from] argus_registry::RegistryError),
    #[error(transparent)]
    Alerting(#[from] argus_alerting::AlertError),
    #[error(transparent)]
    Incident(#[from] argus_incident::IncidentError),
    #[error(transparent)]
    Chain(#[from] argus_chain::DbError),
    #[error(transparent)]
    Audit(#[from] argus_audit::AuditError),
    #[error(transparent)]
    Signals {
        #[from]
        source: argus_sources::db::DbError,
    },
    /// No token, or one that is malformed, unknown, revoked, expired or
    /// wrong: always the same answer.
    #[error(
        "give a valid API token: `Authorization: Bearer argus_…` (`argus tokens create` makes one; \
         `argus tokens list` shows which are active)"
    )]
    Unauthorized,
    /// The route needs a TOTP code and none was sent.
    #[error(
        "this action needs a TOTP code from the token owner's authenticator: send it in the `X-Argus-Totp` header"
    )]
    TotpRequired,
    /// The TOTP code sent is wrong, or was used already.
    #[error(
        "the TOTP code is wrong or was used already (a code works once); wait for the next one"
    )]
    TotpInvalid,
    /// The token has no TOTP enrolled and the route needs one.
    #[error(
        "this action needs a token with TOTP enrolled: `argus tokens create --totp` (admin tokens always have one)"
    )]
    TotpNotEnrolled,
    /// TOTP secrets cannot be opened: the server has no key for them.
    #[error(
        "TOTP codes cannot be checked: the server was started without the master key (ARGUS_MASTER_KEY), which opens the TOTP secrets"
    )]
    TotpUnavailable,
    /// The token's role is too low for the route.
    #[error(
        "this needs the {needed} role; the token is a {have}'s (`argus tokens create --role {needed}` makes one)"
    )]
    Forbidden {
        needed: crate::auth::Role,
        have: crate::auth::Role,
    },
    /// Too many requests, or too many failed authentications, from this
    /// client.
    #[error("too many requests from this client; retry after {retry_after} s")]
    RateLimited { retry_after: u64 },
    /// A write on a server over a read-only store.
    #[error(
        "this server only reads the data directory (`argus serve`); writes happen through \
         `argus run` with a `server:` section in its config"
    )]
    ReadOnly,
    /// The write cannot happen in the thing's current state.
    #[error("{detail}")]
    Conflict { detail: String },
    #[error(transparent)]
    Tokens(#[from] crate::auth::tokens::TokenError),
    /// A blocking read panicked or was cancelled.
    #[error("a read of the store stopped: {detail}")]
    Task { detail: String },
}

impl AppError {
    /// A bad parameter, its value shortened for the message.
    pub(crate) fn bad(param: &str, detail: impl Into<String>) -> Self {
        Self::BadRequest {
            param: param.to_owned(),
            detail: detail.into(),
        }
    }

    pub(crate) fn not_found(detail: impl Into<String>) -> Self {
        Self::NotFound {
            detail: detail.into(),
        }
    }

    /// The status and the short code of the body's `error`.
    pub fn status(&self) -> (StatusCode, &'static str) {
        use argus_incident::IncidentError as I;
        use argus_registry::RegistryError as R;
        match self {
            Self::BadRequest { .. } => (StatusCode::BAD_REQUEST, "bad_request"),
            Self::NotFound { .. }
            | Self::Registry(R::NotFound { .. })
            | Self::Incident(I::NotFound { .. } | I::NoStep { .. }) => {
                (StatusCode::NOT_FOUND, "not_found")
            }
            Self::Ambiguous { .. } | Self::Registry(R::Ambiguous { .. }) => {
                (StatusCode::CONFLICT, "ambiguous")
            }
            Self::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            Self::TotpRequired => (StatusCode::UNAUTHORIZED, "totp_required"),
            Self::TotpInvalid => (StatusCode::UNAUTHORIZED, "totp_invalid"),
            Self::TotpNotEnrolled | Self::Forbidden { .. } => (StatusCode::FORBIDDEN, "forbidden"),
            Self::TotpUnavailable => (StatusCode::SERVICE_UNAVAILABLE, "totp_unavailable"),
            Self::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            Self::ReadOnly => (StatusCode::SERVICE_UNAVAILABLE, "read_only"),
            Self::Conflict { .. } | Self::Incident(I::Transition { .. } | I::Approval { .. }) => {
                (StatusCode::CONFLICT, "conflict")
            }
            Self::Alerting(argus_alerting::AlertError::BadSilence { .. }) => {
                (StatusCode::BAD_REQUEST, "bad_request")
            }
            Self::Store(error) if error.is_busy() => {
                (StatusCode::SERVICE_UNAVAILABLE, "store_busy")
            }
            Self::Store(argus_store::StoreError::Missing { .. }) => {
                (StatusCode::SERVICE_UNAVAILABLE, "no_database")
            }
            _ => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, code) = self.status();
        if status.is_server_error() {
            tracing::warn!(status = status.as_u16(), "request failed: {self}");
        }
        let detail = match &self {
            Self::BadRequest { param, detail } => format!("`{param}`: {detail}"),
            other => other.to_string(),
        };
        let mut response =
            (status, Json(json!({ "error": code, "detail": detail }))).into_response();
        let headers = response.headers_mut();
        match &self {
            Self::RateLimited { retry_after } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after));
            }
            Self::Unauthorized | Self::TotpRequired | Self::TotpInvalid => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"argus\""),
                );
            }
            _ => {}
        }
        response
    }
}

/// Why the server could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The listen address is refused by policy (not loopback, no TLS).
    #[error("cannot listen on {listen}: {why}")]
    Refused { listen: SocketAddr, why: String },
    /// The socket could not be bound.
    #[error("cannot listen on {listen}: {source}; is another process using the port?")]
    Bind {
        listen: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    /// The certificate or key cannot be used.
    #[error("cannot serve TLS: {source}")]
    Tls {
        #[source]
        source: argus_core::tls::ServerTlsError,
    },
    /// Serving failed.
    #[error("the HTTP server stopped: {source}")]
    Serve {
        #[source]
        source: std::io::Error,
    },
}
